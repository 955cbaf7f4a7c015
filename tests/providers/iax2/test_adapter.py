"""The provider as the asyncio adapter of the dial and ring cores, over real UDP on loopback
(real time, waiting on events): a ringing line freed when the caller leaves, a failing ring
callback, an abort while dialing, a shutdown while a line rings."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from tests.providers.harness import Harness
from tests.providers.helpers import light_pages, run, save_tiff
from tests.providers.iax2.test_outcomes import ScriptedPeer

from lanfax.model.codes import ProviderStatus
from lanfax.providers.api import FaxSend, IncomingCall
from lanfax.providers.iax2 import Iax2Provider
from lanfax.providers.iax2.frames import FullFrame, IaxCommand, Ie, Ies

WAIT = 20.0  # generous: the machine may be loaded


@dataclass
class Watching(Harness):
    """A Harness that signals each ring and each ended call."""

    rang: asyncio.Event = field(default_factory=asyncio.Event)
    call_over: asyncio.Event = field(default_factory=asyncio.Event)
    ring_fails: bool = False

    def ring(self, local_id: str, call: IncomingCall) -> None:
        super().ring(local_id, call)
        self.rang.set()
        if self.ring_fails:
            raise RuntimeError("the service's ring handler broke")

    def call_ended(self, local_id: str, call_id: str) -> None:
        super().call_ended(local_id, call_id)
        self.call_over.set()


async def _pair(tmp_path: Path, h: Harness, **caller_cfg: Any) -> tuple[Iax2Provider, Iax2Provider]:
    callee = Iax2Provider()
    await h.add(callee, {"peer": "127.0.0.1:9", "number": "200", "ring_interval": 0.2})
    host, port = callee.address
    caller = Iax2Provider()
    await h.add(caller, {"peer": f"{host}:{port}", "number": "100", **caller_cfg})
    return callee, caller


def _doc(tmp_path: Path) -> Path:
    return save_tiff(tmp_path / "d.tif", light_pages(1, height=100), "group4")


def test_the_caller_giving_up_frees_the_ringing_line(tmp_path: Path) -> None:
    async def scenario() -> None:
        h = Watching(tmp_path)
        callee, caller = await _pair(tmp_path, h, answer_timeout=1.0)
        [rx] = callee.virtual_devices()
        [tx] = caller.virtual_devices()
        try:
            result, in_progress = await h.send(caller, tx.local_id, _doc(tmp_path), "200")
            await asyncio.wait_for(h.call_over.wait(), WAIT)
            rings = [r.ring_count for r in h.rings[rx.local_id]]
            # The line is free again: another call can ring it.
            assert callee._lines[rx.local_id].ringing is None
            h.rang.clear()
            second = asyncio.ensure_future(h.send(caller, tx.local_id, _doc(tmp_path), "200"))
            await asyncio.wait_for(h.rang.wait(), WAIT)
            await asyncio.wait_for(second, WAIT)
        finally:
            await caller.shutdown()
            await callee.shutdown()
        assert result.status.status_id is ProviderStatus.NO_ANSWER and in_progress == 0
        assert result.status.string_id == "no answer in 1 s"
        assert rings == list(range(1, len(rings) + 1)) and len(rings) >= 2
        call_ids = {r.call_id for r in h.rings[rx.local_id]}
        assert len(call_ids) == 2  # two calls, each reported ended once
        assert sorted(h.ended) == sorted((rx.local_id, c) for c in call_ids)

    run(scenario(), timeout=90)


def test_a_failing_ring_callback_is_logged_and_the_call_refused(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async def scenario() -> Any:
        h = Watching(tmp_path, ring_fails=True)
        callee, caller = await _pair(tmp_path, h)
        [rx] = callee.virtual_devices()
        [tx] = caller.virtual_devices()
        try:
            result, _ = await h.send(caller, tx.local_id, _doc(tmp_path), "200")
            await asyncio.wait_for(h.call_over.wait(), WAIT)
        finally:
            await caller.shutdown()
            await callee.shutdown()
        assert [r.ring_count for r in h.rings[rx.local_id]] == [1]
        assert callee._lines[rx.local_id].ringing is None
        return result

    with caplog.at_level(logging.ERROR, logger="lanfax.providers.iax2"):
        result = run(scenario(), timeout=90)
    # The callee hung up with cause 19, which the caller reports as no answer.
    assert result.status.status_id is ProviderStatus.NO_ANSWER
    assert "cause 19" in result.status.string_id
    [record] = [r for r in caplog.records if "ring callback failed" in r.getMessage()]
    assert record.exc_info is not None and "ring handler broke" in str(record.exc_info[1])


class HangupWatcher(ScriptedPeer):
    """The scripted peer, signalling when our ACK of its reply and our HANGUP arrive."""

    def __init__(self, reply: tuple[int, Ies]) -> None:
        super().__init__(reply)
        self.acked = asyncio.Event()
        self.hung_up = asyncio.Event()

    def datagram_received(self, data: bytes, addr: Any) -> None:
        super().datagram_received(data, addr)
        last = self.seen[-1] if self.seen else None
        if isinstance(last, FullFrame) and last.is_command(IaxCommand.ACK):
            self.acked.set()
        if isinstance(last, FullFrame) and last.is_command(IaxCommand.HANGUP):
            self.hung_up.set()


def test_abort_while_dialing_hangs_up_with_cause_16(tmp_path: Path) -> None:
    async def scenario() -> tuple[Any, HangupWatcher]:
        loop = asyncio.get_running_loop()
        peer = HangupWatcher((IaxCommand.ACCEPT, Ies.build((Ie.FORMAT, 0x40))))
        transport, _ = await loop.create_datagram_endpoint(
            lambda: peer, local_addr=("127.0.0.1", 0)
        )
        port = transport.get_extra_info("sockname")[1]
        h = Harness(tmp_path)
        p = Iax2Provider()
        await h.add(p, {"peer": f"127.0.0.1:{port}", "answer_timeout": 600})
        job = await p.start_job(p.virtual_devices()[0].local_id)
        try:
            sending = asyncio.ensure_future(
                p.send(job, FaxSend(_doc(tmp_path), "555"), lambda: None)
            )
            await asyncio.wait_for(peer.acked.wait(), WAIT)  # the call is accepted: ringing
            await p.abort(job)
            result = await asyncio.wait_for(sending, WAIT)
            await asyncio.wait_for(peer.hung_up.wait(), WAIT)
        finally:
            await p.end_job(job)
            await p.shutdown()
            transport.close()
        return result, peer

    result, peer = run(scenario(), timeout=90)
    assert result.status.status_id is ProviderStatus.USER_ABORT
    assert result.status.string_id == "aborted while dialing"
    hangups = [f for f in peer.seen if f.is_command(IaxCommand.HANGUP)]
    assert hangups[0].ies.number(Ie.CAUSECODE) == 16


def test_shutdown_while_a_line_rings_ends_the_call(tmp_path: Path) -> None:
    async def scenario() -> None:
        h = Watching(tmp_path)
        callee, caller = await _pair(tmp_path, h)
        [rx] = callee.virtual_devices()
        [tx] = caller.virtual_devices()
        try:
            sending = asyncio.ensure_future(h.send(caller, tx.local_id, _doc(tmp_path), "200"))
            await asyncio.wait_for(h.rang.wait(), WAIT)
            await callee.shutdown()
            assert h.call_over.is_set()  # reported by the shutdown itself
            result, _ = await asyncio.wait_for(sending, WAIT)
        finally:
            await caller.shutdown()
            await callee.shutdown()
        assert [local for local, _c in h.ended] == [rx.local_id]
        # The caller hears the callee's HANGUP (cause 16) before any answer.
        assert result.status.status_id is ProviderStatus.DISCONNECTED
        assert "cause 16" in result.status.string_id

    run(scenario(), timeout=90)
