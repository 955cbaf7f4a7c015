"""Calls the SIP provider must not lose (#19 mends): every INVITE it rings for gets a final
response even when answering it fails, and a shutdown while dialing CANCELs the INVITE.

Over real loopback UDP against the scripted far end of :mod:`.peer`. Each failure is a real
one: the media ports of the account are held by the test, so answering finds none free.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import socket
import weakref
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.providers.harness import Harness
from tests.providers.helpers import run
from tests.providers.sip.peer import AUDIO_SDP, Peer, is_request
from tests.providers.sip.test_adapter import dialing
from tests.support.ports import reserve_media_ports

from lanfax.model.codes import ProviderStatus
from lanfax.providers.sip import SipProvider, provider
from lanfax.providers.sip.message import Request, Response


@contextlib.contextmanager
def held_media_ports() -> Iterator[tuple[int, int]]:
    """Two UDP ports (an even one and the next) bound on 127.0.0.1 for the whole block: a
    ``media_ports`` range with nothing free in it."""
    for _ in range(200):
        a = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        a.bind(("127.0.0.1", 0))
        port = a.getsockname()[1]
        if port % 2:
            a.close()
            continue
        b = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            b.bind(("127.0.0.1", port + 1))
        except OSError:
            a.close()
            b.close()
            continue
        try:
            yield port, port + 1
        finally:
            a.close()
            b.close()
        return
    raise RuntimeError("no pair of free UDP ports on 127.0.0.1")


async def account(h: Harness, peer: Peer, media_ports: str) -> SipProvider:
    """A provider (no registration) whose every request goes to ``peer``."""
    p = SipProvider()
    await h.add(
        p,
        {
            "type": "sip",
            "registrar": f"127.0.0.1:{peer.port}",
            "register": False,
            "user": "390",
            "domain": "127.0.0.1",
            "t38": "off",
            "ring_interval": 0.2,
            "media_ports": media_ports,
        },
    )
    peer.target = ("127.0.0.1", p.endpoint.local[1])
    return p


def test_an_answer_that_fails_still_ends_the_invite_with_a_final_response(
    tmp_path: Path,
) -> None:
    """The service answers, receive() raises (no free media port): the caller hears 503
    rather than ringing until its own timer gives up, and the line stops ringing."""

    async def scenario() -> tuple[Response, BaseException, int, int]:
        h = Harness(tmp_path)
        peer = Peer()
        await peer.open()
        try:
            with held_media_ports() as (low, high):
                p = await account(h, peer, f"{low}-{high}")
                local_id = p.channels[0].local_id
                h.answer_after[local_id] = 1
                got = h.expect(local_id)
                peer.request("INVITE", body=AUDIO_SDP.format(port=peer.media_port))
                final = await peer.next(
                    lambda m: isinstance(m, Response) and m.cseq[1] == "INVITE" and m.status >= 200,
                    timeout=10,
                )
                assert isinstance(final, Response)
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(got, 10)
                error = got.exception()
                assert error is not None
                rings = len(h.rings[local_id])
                await asyncio.sleep(0.6)  # three ring intervals: a ring would show here
                more = len(h.rings[local_id]) - rings
                left = len(p.calls)
                await p.shutdown()
                return final, error, more, left
        finally:
            peer.close()

    final, error, more_rings, calls_left = run(scenario(), timeout=40)
    assert (final.status, final.reason) == (503, "Service Unavailable")
    assert "no free media ports" in str(error)
    assert more_rings == 0
    assert calls_left == 0


def test_an_answer_that_fails_on_a_bug_of_ours_is_answered_500(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Our own error while answering (made by a FaxMedia that raises: no real input reaches
    that path) is a 500, not a 503 that would send the caller elsewhere to try again."""

    def broken(*args: object, **kwargs: object) -> object:
        raise RuntimeError("a bug of ours")

    monkeypatch.setattr(provider, "FaxMedia", broken)

    async def scenario() -> Response:
        h = Harness(tmp_path)
        peer = Peer()
        await peer.open()
        try:
            p = await account(h, peer, reserve_media_ports(10))
            h.answer_after[p.channels[0].local_id] = 1
            peer.request("INVITE", body=AUDIO_SDP.format(port=peer.media_port))
            final = await peer.next(
                lambda m: isinstance(m, Response) and m.cseq[1] == "INVITE" and m.status >= 200,
                timeout=10,
            )
            assert isinstance(final, Response)
            await p.shutdown()
            return final
        finally:
            peer.close()

    final = run(scenario(), timeout=40)
    assert (final.status, final.reason) == (500, "Server Internal Error")


def test_a_shutdown_while_dialing_cancels_the_invite(
    tmp_path: Path, sip_docs: dict[str, Path]
) -> None:
    """§9.1: the INVITE a shutdown interrupts is CANCELled (same branch), not left ringing
    at the far end; the send reports the shutdown, not "no answer"."""

    async def scenario() -> tuple[Request, Request, ProviderStatus]:
        h = Harness(tmp_path)
        peer = Peer()
        await peer.open()
        try:
            p = await account(h, peer, reserve_media_ports(10))
            _job, send, invite = await dialing(h, peer, p, sip_docs["one"])
            closing = asyncio.create_task(p.shutdown())
            cancel = await peer.next(lambda m: is_request(m, "CANCEL"), timeout=10)
            assert isinstance(cancel, Request)
            peer.answer(cancel, 200, "OK")
            peer.answer(invite, 487, "Request Terminated")
            await peer.next(lambda m: is_request(m, "ACK"), timeout=10)  # of the 487
            await asyncio.wait_for(closing, 15)
            result = await asyncio.wait_for(send, 10)
            return invite, cancel, result.status.status_id
        finally:
            peer.close()

    invite, cancel, status = run(scenario(), timeout=40)
    assert cancel.cseq == (invite.cseq[0], "CANCEL")
    assert cancel.top_via.branch == invite.top_via.branch
    assert status is ProviderStatus.DISCONNECTED


def test_a_send_cancelled_while_dialing_cancels_the_invite(
    tmp_path: Path, sip_docs: dict[str, Path]
) -> None:
    """The send's task is cancelled (not aborted through the provider) while the far end
    rings: the INVITE is CANCELled all the same."""

    async def scenario() -> tuple[Request, Request]:
        h = Harness(tmp_path)
        peer = Peer()
        await peer.open()
        try:
            p = await account(h, peer, reserve_media_ports(10))
            _job, send, invite = await dialing(h, peer, p, sip_docs["one"])
            send.cancel()
            cancel = await peer.next(lambda m: is_request(m, "CANCEL"), timeout=10)
            assert isinstance(cancel, Request)
            peer.answer(cancel, 200, "OK")
            peer.answer(invite, 487, "Request Terminated")
            await peer.next(lambda m: is_request(m, "ACK"), timeout=10)  # of the 487
            await asyncio.wait([send], timeout=10)
            assert send.cancelled()
            await p.shutdown()
            return invite, cancel
        finally:
            peer.close()

    invite, cancel = run(scenario(), timeout=40)
    assert cancel.top_via.branch == invite.top_via.branch


def test_a_send_that_fails_after_the_answer_hangs_the_call_up(
    tmp_path: Path, sip_docs: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Our own error once the far end answered (made by an SDP reader that raises): the
    call is ended with a BYE, not left up at the far end."""

    def broken(*args: object, **kwargs: object) -> object:
        raise RuntimeError("a bug of ours")

    monkeypatch.setattr(provider, "negotiated_from_answer", broken)

    async def scenario() -> tuple[Request, BaseException | None]:
        h = Harness(tmp_path)
        peer = Peer()
        await peer.open()
        try:
            p = await account(h, peer, reserve_media_ports(10))
            _job, send, invite = await dialing(h, peer, p, sip_docs["one"])
            peer.answer(invite, 200, "OK", AUDIO_SDP.format(port=peer.media_port))
            await peer.next(lambda m: is_request(m, "ACK"), timeout=10)
            bye = await peer.next(lambda m: is_request(m, "BYE"), timeout=10)
            assert isinstance(bye, Request)
            peer.answer(bye, 200, "OK")
            await asyncio.wait([send], timeout=10)
            error = send.exception()
            await p.shutdown()
            return bye, error
        finally:
            peer.close()

    bye, error = run(scenario(), timeout=40)
    assert bye.call_id and "a bug of ours" in str(error)


def test_an_outgoing_call_is_freed_by_reference_counting(
    tmp_path: Path, sip_docs: dict[str, Path]
) -> None:
    """#19: an outgoing call's INVITE closures (feed and send, which refer to each other)
    let go of each other when the call closes: once the provider is done with the call,
    reference counting frees it, its media and what they hold, with no reference cycle left
    for a full collection (one such collection held the GIL 114 ms at 300 + 300 calls)."""

    async def scenario() -> list[object]:
        h = Harness(tmp_path)
        peer = Peer()
        await peer.open()
        try:
            p = await account(h, peer, reserve_media_ports(10))
            gc.disable()  # nothing but reference counting from here
            job, send, invite = await dialing(h, peer, p, sip_docs["one"])
            call = p.calls[invite.call_id]
            probes = [weakref.ref(call), weakref.ref(call.media)]
            del call
            peer.answer(invite, 200, "OK", AUDIO_SDP.format(port=peer.media_port))
            await peer.next(lambda m: is_request(m, "ACK"), timeout=10)
            await p.abort(job)
            bye = await peer.next(lambda m: is_request(m, "BYE"), timeout=10)
            assert isinstance(bye, Request)
            peer.answer(bye, 200, "OK")
            await asyncio.wait([send], timeout=30)
            assert send.done()
            await p.shutdown()
            del send, invite, job, bye
            await asyncio.sleep(0.1)
            return [probe() for probe in probes]
        finally:
            gc.enable()
            peer.close()

    assert run(scenario(), timeout=60) == [None, None]


@pytest.mark.parametrize("status", [486, 404])
def test_an_outgoing_call_that_fails_before_media_is_freed_by_reference_counting(
    status: int, tmp_path: Path, sip_docs: dict[str, Path]
) -> None:
    """#19: a send refused by the far end (busy, not found) never reaches the media, so the
    call never closes: its INVITE closures (feed and send, which refer to each other, send
    to the call) let go of each other once the INVITE has its final answer, and reference
    counting frees the call and its media when the provider is done with them."""

    async def scenario() -> list[object]:
        h = Harness(tmp_path)
        peer = Peer()
        await peer.open()
        try:
            p = await account(h, peer, reserve_media_ports(10))
            gc.disable()  # nothing but reference counting from here
            job, send, invite = await dialing(h, peer, p, sip_docs["one"])
            call = p.calls[invite.call_id]
            probes = [weakref.ref(call), weakref.ref(call.media)]
            del call
            peer.answer(invite, status, "Refused")
            await peer.next(lambda m: is_request(m, "ACK"), timeout=10)
            await asyncio.wait([send], timeout=30)
            assert send.done() and not send.result().ok
            await p.shutdown()
            del send, invite, job
            await asyncio.sleep(0.1)
            return [probe() for probe in probes]
        finally:
            gc.enable()
            peer.close()

    assert run(scenario(), timeout=60) == [None, None]
