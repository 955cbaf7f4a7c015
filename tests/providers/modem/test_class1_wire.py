"""The modem's bytes as the Class 1 dialogue takes them (``providers/modem/class1_wire.py``,
split out of ``class1.py``): result lines and DLE-transparent data blocks (T.31 8.3.1),
whatever way the reads cut them."""

from __future__ import annotations

from lanfax.providers.modem.class1_wire import ModemInput


def _lines(inp: ModemInput) -> list[str]:
    out = []
    while (line := inp.line()) is not None:
        out.append(line)
    return out


def test_result_lines_whatever_the_reads() -> None:
    inp = ModemInput()
    inp.feed(b"\r\nO")
    assert _lines(inp) == []
    inp.feed(b"K\r\n\r\nCONNECT\r")
    assert _lines(inp) == ["OK", "CONNECT"]
    inp.feed(b"\nNO CARRIER\n")
    assert _lines(inp) == ["NO CARRIER"]


def test_noise_without_line_ends_is_dropped_past_4_kib() -> None:
    inp = ModemInput()
    inp.feed(b"x" * 5000)
    assert inp.line() is None and not inp.buf
    inp.feed(b"OK\r\n")
    assert inp.line() == "OK"


def test_a_data_block_is_unstuffed_until_dle_etx() -> None:
    inp = ModemInput()
    inp.feed(b"CONNECT\r")
    assert inp.line() == "CONNECT"
    # The LF of the CONNECT's CR LF comes with the data: it is not data.
    inp.feed(b"\n\x01\x10\x10\x02\x10")
    assert inp.take_data() is False
    assert bytes(inp.data) == b"\x01\x10\x02"  # the lone DLE waits for its partner
    inp.feed(b"\x1a\x03\x10\x03OK\r\n")
    assert inp.take_data() is True
    assert bytes(inp.data) == b"\x01\x10\x02\x10\x10\x03"  # <DLE><SUB>: two DLEs
    assert inp.line() == "OK"


def test_clear_forgets_what_was_not_taken() -> None:
    inp = ModemInput()
    inp.feed(b"RING\r\nRI")
    inp.clear()
    inp.feed(b"OK\r\n")
    assert _lines(inp) == ["OK"]
