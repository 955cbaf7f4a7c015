"""The compiled helper (cffi API mode, ``_accel``) and the ABI fallback give the same fax.

Both paths run the same spandsp calls; the helper only moves the callbacks into C and runs
the steps between events without returning to Python. A call run both ways must end the
same: same pages, same line time to the sample, same packets, same events.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from lanfax.engine import AudioFaxSession, SessionOptions, T38FaxSession, _accel, run_loopback
from lanfax.engine._binding import load, load_abi

from .conftest import Doc, read_pages


def _run(kind: str, doc: Path, rx: Path, ecm: bool) -> tuple[object, ...]:
    cls = AudioFaxSession if kind == "audio" else T38FaxSession
    a = cls(True, SessionOptions(local_ident="A", ecm=ecm), tx_file=doc)
    b = cls(False, SessionOptions(local_ident="B", ecm=ecm), rx_file=rx)
    try:
        res = run_loopback(a, b)
    finally:
        a.close()
        b.close()
    assert res.sender.ok and res.receiver.ok
    return (
        res.receiver.pages_rx,
        res.steps,
        res.packets,
        res.sender.modem,
        res.sender.compression,
        [type(e).__name__ + str(getattr(e, "page", "")) for e in res.receiver_events],
        [e.line_seconds for e in res.sender_events],
    )


@pytest.mark.skipif(
    bool(os.environ.get("LANFAX_ENGINE_ABI")), reason="the ABI binding was asked for"
)
def test_the_helper_is_built_here() -> None:
    """The bootstrap installs the compiler and headers: the engine runs compiled."""
    assert load().compiled
    compiled, detail = _accel.status()
    assert compiled and "compiled helper" in detail
    assert not load_abi().compiled


@pytest.mark.parametrize(("kind", "ecm"), [("audio", True), ("t38", True), ("t38", False)])
def test_compiled_and_abi_runs_are_the_same_call(
    kind: str, ecm: bool, docs: dict[str, Doc], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    doc = docs["light_g4"].path
    fast = _run(kind, doc, tmp_path / "compiled.tif", ecm)
    from lanfax.engine import session

    monkeypatch.setattr(session, "load", load_abi)
    slow = _run(kind, doc, tmp_path / "abi.tif", ecm)
    assert fast == slow
    assert fast[0] == len(docs["light_g4"].pages)
    for got, want in zip(
        read_pages(tmp_path / "compiled.tif"), read_pages(tmp_path / "abi.tif"), strict=True
    ):
        assert (got == want).all()


def test_t38_packets_through_the_public_api_carry_consecutive_seqs(
    docs: dict[str, Doc], tmp_path: Path
) -> None:
    """tick()/receive()/take_packets() on the helper's C packet queue: one seq counter per
    direction, from 0, and the call completes when the packets are handed over."""
    a = T38FaxSession(True, tx_file=docs["light_g4"].path)
    b = T38FaxSession(False, rx_file=tmp_path / "rx.tif")
    seen: list[int] = []
    try:
        for _ in range(20000):
            if a.done and b.done:
                break
            to_b = a.tick(160)
            to_a = b.tick(160)
            seen += [seq for seq, _ in to_b]
            for seq, pkt in to_b:
                b.receive(seq, pkt)
            for seq, pkt in to_a:
                a.receive(seq, pkt)
            # answers produced while receiving wait in the queue for the next tick
        assert a.result is not None and a.result.ok
        assert b.result is not None and b.result.pages_rx == len(docs["light_g4"].pages)
        assert seen == list(range(len(seen)))
    finally:
        a.close()
        b.close()


def test_without_a_compiler_the_engine_falls_back_to_the_abi_binding(
    docs: dict[str, Doc], tmp_path: Path
) -> None:
    """A machine where the helper cannot be built (here: an empty cache and a "compiler"
    that fails) still sends faxes, through the ABI binding, and says why."""
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "from lanfax.engine import AudioFaxSession, _accel, run_loopback\n"
        "from lanfax.engine._binding import load\n"
        "a = AudioFaxSession(True, tx_file=Path(sys.argv[1]))\n"
        "b = AudioFaxSession(False, rx_file=Path(sys.argv[2]))\n"
        "r = run_loopback(a, b)\n"
        "print(load().compiled, r.receiver.ok, r.receiver.pages_rx)\n"
        "print(_accel.status()[1])\n"
    )
    env = {
        **os.environ,
        "LANFAX_ENGINE_CACHE": str(tmp_path / "cache"),
        "CC": "false",
        "LDSHARED": "false",
    }
    env.pop("LANFAX_ENGINE_ABI", None)
    proc = subprocess.run(
        [sys.executable, "-c", code, str(docs["light_g4"].path), str(tmp_path / "rx.tif")],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    first, second = proc.stdout.splitlines()[:2]
    assert first == f"False True {len(docs['light_g4'].pages)}"
    assert second.startswith("ABI fallback with Python callbacks (")
    assert "slower ABI binding" in proc.stderr  # the warning logged once
