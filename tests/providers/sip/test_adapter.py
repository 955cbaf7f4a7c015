"""The SIP call adapters over real loopback UDP against the scripted far end of :mod:`.peer`:
what the cores decide reaches the wire and the service (#17: the call's signalling moved into
sans-IO cores; these are the paths the Kamailio calls do not take)."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest
from tests.providers.harness import Harness
from tests.providers.helpers import run
from tests.providers.sip.peer import AUDIO_SDP, Peer, is_request, is_response
from tests.providers.sip.test_signalling import callee

from lanfax.model.codes import ProviderStatus
from lanfax.providers.api import CallResult, FaxSend, JobHandle
from lanfax.providers.sip import SipProvider
from lanfax.providers.sip.message import Request


def test_abort_while_dialing_cancels_and_reports_user_abort(
    tmp_path: Path, sip_docs: dict[str, Path]
) -> None:
    async def scenario() -> None:
        h = Harness(tmp_path)
        peer = Peer()
        await peer.open()
        try:
            p = await callee(h, peer, "off", 47070)
            job, send, invite = await dialing(h, peer, p, sip_docs["one"])
            await p.abort(job)
            cancel = await peer.next(lambda m: is_request(m, "CANCEL"))
            assert isinstance(cancel, Request)
            assert cancel.cseq == (invite.cseq[0], "CANCEL")
            assert cancel.top_via.branch == invite.top_via.branch  # §9.1
            peer.answer(cancel, 200, "OK")
            peer.answer(invite, 487, "Request Terminated")
            result = await asyncio.wait_for(send, 10)
            assert result.status.status_id is ProviderStatus.USER_ABORT, result
            await p.end_job(job)
            await p.shutdown()
        finally:
            peer.close()

    run(scenario(), timeout=30)


async def dialing(
    h: Harness, peer: Peer, p: SipProvider, document: Path
) -> tuple[JobHandle, asyncio.Task[CallResult], Request]:
    """Start a send on ``p``'s first channel to the scripted far end, which rings (180):
    the job, the send's task and its INVITE, once the service heard "ringing"."""
    local_id = p.channels[0].local_id
    job = await p.start_job(local_id)
    send = asyncio.create_task(p.send(job, FaxSend(document, "555"), lambda: None))
    invite = await peer.next(lambda m: is_request(m, "INVITE"))
    assert isinstance(invite, Request)
    peer.answer(invite, 180, "Ringing")
    await h_status(h, local_id, "ringing")
    return job, send, invite


async def h_status(h: Harness, local_id: str, text: str) -> None:
    async with asyncio.timeout(10):
        while not any(s.string_id == text for s in h.statuses[local_id]):
            await asyncio.sleep(0.02)


def test_shutdown_while_dialing_ends_the_send_at_once(
    tmp_path: Path, sip_docs: dict[str, Path], caplog: pytest.LogCaptureFixture
) -> None:
    async def scenario() -> None:
        h = Harness(tmp_path)
        peer = Peer()
        await peer.open()
        try:
            p = await callee(h, peer, "off", 47080)
            job = await p.start_job(p.channels[0].local_id)
            send = asyncio.create_task(p.send(job, FaxSend(sip_docs["one"], "555"), lambda: None))
            invite = await peer.next(lambda m: is_request(m, "INVITE"))
            assert isinstance(invite, Request)
            peer.answer(invite, 180, "Ringing")
            await asyncio.sleep(0.1)
            started = asyncio.get_running_loop().time()
            await p.shutdown()  # the far end never answers our CANCEL
            done, _ = await asyncio.wait({send}, timeout=5)
            assert done, "the send outlived the shutdown"
            assert asyncio.get_running_loop().time() - started < 5
            assert send.cancelled()  # as before #17: the endpoint closed under the INVITE
            await asyncio.sleep(0.1)  # callbacks that would run after the close
        finally:
            peer.close()

    with caplog.at_level(logging.ERROR):
        run(scenario(), timeout=30)
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []


def test_their_cancel_while_ringing_ends_the_call_once(tmp_path: Path) -> None:
    async def scenario() -> None:
        h = Harness(tmp_path)
        peer = Peer()
        await peer.open()
        try:
            p = await callee(h, peer, "off", 47090)
            local_id = p.channels[0].local_id
            h.answer_after.pop(local_id)  # let it ring
            text = peer.request("INVITE", body=AUDIO_SDP.format(port=peer.media_port))
            await peer.next(lambda m: is_response(m, 180, "INVITE"))
            async with asyncio.timeout(10):
                while len(h.rings[local_id]) < 2:  # ring_interval 0.2 s
                    await asyncio.sleep(0.05)
            branch = text.split("branch=")[1].split("\r\n")[0]
            peer.request("CANCEL", cseq=1, branch=branch)
            await peer.next(lambda m: is_response(m, 200, "CANCEL"))
            await peer.next(lambda m: is_response(m, 487, "INVITE"))
            rings = len(h.rings[local_id])
            await asyncio.sleep(0.6)  # three ring intervals: no more rings
            assert len(h.rings[local_id]) == rings
            assert [lid for lid, _ in h.ended] == [local_id]
            assert p.calls == {}
            await p.shutdown()
        finally:
            peer.close()

    run(scenario(), timeout=30)
