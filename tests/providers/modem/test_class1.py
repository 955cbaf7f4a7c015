"""The Class 1 dialogue against scripted modems: whole calls between two lanfax dialogues
(spandsp's real T.30 on both sides, simulated time), and every odd modem reply."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.interop.test_hylafax import fax_tiff
from tests.providers.helpers import tiff_pixels
from tests.providers.modem.fakemodem import FakeModem, Wire, run_pair

from lanfax.engine.frontend import FrontEndFaxSession
from lanfax.engine.options import SessionOptions
from lanfax.providers.modem.class1 import Class1Dialogue, dle_stuff, mod_code


def _pair(
    tmp_path: Path, pages: int = 2, fine: bool = False, ecm: bool = False
) -> tuple[Class1Dialogue, FakeModem, Class1Dialogue, FakeModem, Path, Path]:
    doc = fax_tiff(tmp_path / "doc.tif", pages, fine)
    rx = tmp_path / "rx.tif"
    wire = Wire()
    tx_session = FrontEndFaxSession(
        True, SessionOptions(local_ident="SENDER", ecm=ecm), tx_file=doc
    )
    rx_session = FrontEndFaxSession(
        False, SessionOptions(local_ident="RECEIVER", ecm=ecm), rx_file=rx
    )
    a = Class1Dialogue(tx_session, dial="T1000")
    b = Class1Dialogue(rx_session, dial=None)
    return a, FakeModem(wire, 0), b, FakeModem(wire, 1), doc, rx


def test_dle_stuffing_and_modulation_codes() -> None:
    assert dle_stuff(b"\x01\x10\x02") == b"\x01\x10\x10\x02"
    from lanfax.engine import frontend as fe

    assert mod_code(fe.MODEM_V17, 14400, False) == 145
    assert mod_code(fe.MODEM_V17, 14400, True) == 146
    assert mod_code(fe.MODEM_V29, 9600, False) == 96
    assert mod_code(fe.MODEM_V27TER, 4800, True) == 48


@pytest.mark.parametrize(("pages", "fine"), [(2, False), (1, True)])
def test_a_whole_call_between_two_class1_dialogues(tmp_path: Path, pages: int, fine: bool) -> None:
    a, ma, b, mb, doc, rx = _pair(tmp_path, pages, fine)
    seconds = run_pair(a, ma, b, mb)
    ra, rb = a.session.result, b.session.result
    assert ra is not None and rb is not None
    assert ra.ok and rb.ok, (ra.text, rb.text, a.trace.lines[-20:])
    assert (ra.pages_tx, rb.pages_rx) == (pages, pages)
    assert ra.remote_ident == "RECEIVER" and rb.remote_ident == "SENDER"
    assert (ra.bit_rate, ra.modem, ra.ecm) == (14400, "v17", False)
    assert a.outcome is not None and a.outcome.kind == "t30"
    # The T.31 conversation HylaFAX would also have: TCF at V.17 long training, pages at
    # short training, a gap (+FRS/+FTS) before every transmission.
    assert "AT+FTM=145" in ma.commands and "AT+FTM=146" in ma.commands
    assert "AT+FRM=145" in mb.commands and "AT+FRM=146" in mb.commands
    assert ma.commands[0] == "ATDT1000" and mb.commands[0] == "ATA"
    assert ma.commands[-1] == "ATH0" and mb.commands[-1] == "ATH0"
    # Pages decode to what was sent.
    for s, g in zip(tiff_pixels(doc), tiff_pixels(rx), strict=True):
        assert s.shape == g.shape and (s == g).all()
    assert seconds < 120


@pytest.mark.parametrize(
    ("reply", "kind"),
    [
        ("BUSY", "busy"),
        ("NO DIALTONE", "no-dialtone"),
        ("NO CARRIER", "no-carrier"),
        ("NO ANSWER", "no-answer"),
        ("ERROR", "modem"),
    ],
)
def test_dial_failures(tmp_path: Path, reply: str, kind: str) -> None:
    a, ma, _b, mb, _doc, _rx = _pair(tmp_path)
    ma.replies["ATD"] = reply
    run_pair(a, ma, None, mb)
    assert a.outcome is not None and a.outcome.kind == kind
    assert not a.connected
    assert ma.commands[-1] == "ATH0"
    res = a.session.result
    assert res is not None and res.pages_tx == 0


def test_a_modem_that_stops_answering(tmp_path: Path) -> None:
    a, ma, b, mb, _doc, _rx = _pair(tmp_path)
    ma.mute_after = 4  # answers ATD, the frames... then nothing, not even to ATH0
    run_pair(a, ma, b, mb)
    assert a.outcome is not None and a.outcome.kind == "modem"
    assert "did not answer" in a.outcome.text
    res = a.session.result
    assert res is not None and not res.ok


def test_fcerror_on_frm_catches_the_repeated_frame(tmp_path: Path) -> None:
    """The receiver listens for TCF but the first TCF is lost: the sender times out and
    repeats TSI + DCS. +FRM answers +FCERROR (V.21 where the image carrier was expected) and
    the receiver catches the repeated frames with +FRH instead of waiting forever. spandsp's
    T.30 treats a DCS repeated during training as unexpected and ends with DCN: both sides
    end by T.30's rules, hang up, and nothing hangs."""
    a, ma, b, mb, _doc, _rx = _pair(tmp_path, pages=1)
    original = ma._sent_block
    lost = {"done": False}

    def lose_first_tcf(raw: bytes) -> None:
        if ma._state == "txd" and not lost["done"]:
            lost["done"] = True
            ma._state = "cmd"
            ma._say("OK")  # the modem sent it, the line lost it
            return
        original(raw)

    ma._sent_block = lose_first_tcf  # type: ignore[method-assign]
    run_pair(a, ma, b, mb)
    ra, rb = a.session.result, b.session.result
    assert ra is not None and rb is not None
    assert mb.commands.count("AT+FRH=3") >= 4  # DIS answer, then the repeated TSI + DCS
    fcerror_then_frh = [
        i
        for i, c in enumerate(mb.commands[:-1])
        if c == "AT+FRM=145" and mb.commands[i + 1] == "AT+FRH=3"
    ]
    assert fcerror_then_frh
    assert a.outcome is not None and a.outcome.kind == "t30"
    assert b.outcome is not None and b.outcome.kind == "t30"
    assert ma.commands[-1] == "ATH0" and mb.commands[-1] == "ATH0"


def test_no_carrier_in_the_middle_of_a_page(tmp_path: Path) -> None:
    """The page's carrier drops half-way: the receiver still answers the post-page message
    (RTN or MCF with bad rows); the sender gets an answer and the call ends cleanly."""
    a, ma, b, mb, _doc, _rx = _pair(tmp_path, pages=1)
    mb.cut_image = {2}  # 1 = TCF, 2 = the page
    run_pair(a, ma, b, mb)
    ra, rb = a.session.result, b.session.result
    assert ra is not None and rb is not None
    assert a.outcome is not None and a.outcome.kind == "t30"
    assert b.outcome is not None and b.outcome.kind == "t30"
    assert mb.commands[-1] == "ATH0"


def test_fcs_errors_are_retried_by_t30(tmp_path: Path) -> None:
    """A frame heard with a bad FCS (the modem says ERROR) is ignored; T.30 repeats."""
    a, ma, b, mb, _doc, _rx = _pair(tmp_path, pages=1)
    mb.fcs_errors = {2}  # the DCS
    run_pair(a, ma, b, mb)
    ra, rb = a.session.result, b.session.result
    assert ra is not None and rb is not None
    assert ra.ok and rb.ok, (ra.text, rb.text)


def test_abort_hangs_up(tmp_path: Path) -> None:
    a, ma, _b, _mb, _doc, _rx = _pair(tmp_path)
    from lanfax.providers.modem.class1 import Outcome

    a.start(0.0)
    ma.write(a.output())
    a.abort(0.1, Outcome("aborted", "by the user"))
    ma.write(a.output())
    a.feed(bytes(ma.to_dte), 0.2)  # OK to the abort: ATH0 follows
    ma.to_dte.clear()
    ma.write(a.output())
    a.feed(bytes(ma.to_dte), 0.3)
    assert a.finished
    assert a.outcome is not None and a.outcome.kind == "aborted"
    assert ma.commands[-1] == "ATH0"


def test_the_far_end_hanging_up_on_our_dcn_is_a_normal_end(tmp_path: Path) -> None:
    """Some far ends drop the line as soon as they hear DCN: the modem answers our DCN
    frame NO CARRIER instead of OK. The call still ends as T.30 says (completed)."""
    a, ma, b, mb, _doc, _rx = _pair(tmp_path, pages=1)
    original = ma._sent_block

    def dcn_no_carrier(raw: bytes) -> None:
        if ma._state == "txh" and len(raw) >= 3 and (raw[2] & 0xFE) == 0xFA:
            ma._outgoing.append(("v21", 3, raw))
            ma._state = "cmd"
            ma._say("NO CARRIER")
            return
        original(raw)

    ma._sent_block = dcn_no_carrier  # type: ignore[method-assign]
    run_pair(a, ma, b, mb)
    ra = a.session.result
    assert ra is not None and ra.ok, ra
    assert a.outcome is not None and a.outcome.kind == "t30"


@pytest.mark.parametrize("pages", [1, 3])
def test_an_ecm_call_frames_the_image_carrier_on_the_host(tmp_path: Path, pages: int) -> None:
    """ECM: FCD/RCP frames HDLC-framed by the dialogue on +FTM, deframed on +FRM; PPS/MCF
    on V.21; MMR coding is then allowed."""
    a, ma, b, mb, doc, rx = _pair(tmp_path, pages, ecm=True)
    run_pair(a, ma, b, mb)
    ra, rb = a.session.result, b.session.result
    assert ra is not None and rb is not None
    assert ra.ok and rb.ok, (ra.text, rb.text, a.trace.lines[-20:])
    assert ra.ecm and rb.ecm
    assert ra.compression == rb.compression == "mmr"
    assert (ra.pages_tx, rb.pages_rx) == (pages, pages)
    for s, g in zip(tiff_pixels(doc), tiff_pixels(rx), strict=True):
        assert s.shape == g.shape and (s == g).all()


def test_ecm_retransmits_frames_heard_with_a_bad_fcs(tmp_path: Path) -> None:
    """Bits flipped on the image carrier: the receiver's PPR asks for the bad frames again
    and the page arrives intact."""
    a, ma, b, mb, doc, rx = _pair(tmp_path, 1, ecm=True)
    original = ma._sent_block
    hit = {"n": 0}

    def corrupt_first_image(raw: bytes) -> None:
        if ma._state == "txd" and hit["n"] < 2:
            hit["n"] += 1
            if hit["n"] == 2:  # the first page's frames (1 = TCF)
                mid = len(raw) // 2
                raw = raw[:mid] + bytes(b ^ 0x55 for b in raw[mid : mid + 40]) + raw[mid + 40 :]
        original(raw)

    ma._sent_block = corrupt_first_image  # type: ignore[method-assign]
    run_pair(a, ma, b, mb)
    ra, rb = a.session.result, b.session.result
    assert ra is not None and rb is not None
    assert ra.ok and rb.ok, (ra.text, rb.text)
    assert ra.ecm_retries >= 0 and rb.pages_rx == 1
    assert mb.commands.count("AT+FRM=146") >= 2  # the page, then the retransmission
    for s, g in zip(tiff_pixels(doc), tiff_pixels(rx), strict=True):
        assert (s == g).all()
