"""What the SIP provider answers when an INVITE cannot be handled (#17 item 6): the far
end's bad SDP is its error (400, or 488 for SDP we cannot take); an exception of our own is
logged with its traceback and answered 500, never passed off as the far end's "Bad SDP".

Over real loopback UDP against the scripted far end of :mod:`.peer`. Our own bug is made by
replacing one function with one that raises: no real input reaches that path."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from tests.providers.harness import Harness
from tests.providers.helpers import run
from tests.providers.sip.peer import AUDIO_SDP, Peer, is_response
from tests.providers.sip.test_signalling import callee

from lanfax.providers.sip import callcore, useragent
from lanfax.providers.sip.message import Response

NO_CONNECTION = "v=0\r\no=peer 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n"


async def first_final(peer: Peer, method: str = "INVITE") -> Response:
    msg = await peer.next(
        lambda m: isinstance(m, Response) and m.cseq[1] == method and m.status >= 200
    )
    assert isinstance(msg, Response)
    return msg


async def invite_with(tmp_path: Path, body: str, user: int) -> Response:
    h = Harness(tmp_path)
    peer = Peer()
    await peer.open()
    try:
        p = await callee(h, peer, "off", user)
        peer.request("INVITE", body=body)
        answer = await first_final(peer)
        await p.shutdown()
        return answer
    finally:
        peer.close()


def test_bad_sdp_is_400_and_sdp_we_cannot_take_is_488(tmp_path: Path) -> None:
    bad = run(invite_with(tmp_path, "v=7\r\nnonsense\r\n", 303))
    assert (bad.status, bad.reason) == (400, "Bad SDP")
    refused = run(invite_with(tmp_path, NO_CONNECTION, 304))
    assert refused.status == 488


def test_our_own_bug_reading_an_invite_is_logged_and_answered_500(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(data: bytes) -> object:
        raise RuntimeError("a bug of ours")

    monkeypatch.setattr(useragent, "parse_sdp", broken)
    with caplog.at_level(logging.ERROR, logger="lanfax.providers.sip"):
        answer = run(invite_with(tmp_path, AUDIO_SDP.format(port=4000), 305))
    assert answer.status == 500
    (record,) = [r for r in caplog.records if r.exc_info is not None]
    assert "a bug of ours" in str(record.exc_info[1])  # type: ignore[index]


def test_our_own_bug_in_a_reinvite_is_logged_and_answered_500(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    async def scenario() -> Response:
        h = Harness(tmp_path)
        peer = Peer()
        await peer.open()
        try:
            p = await callee(h, peer, "off", 306)
            await peer.call()

            def broken(data: bytes) -> object:
                raise RuntimeError("a bug of ours")

            monkeypatch.setattr(callcore, "parse_sdp", broken)
            peer.request("INVITE", body=AUDIO_SDP.format(port=peer.media_port))
            answer = await first_final(peer)
            peer.request("BYE")
            await peer.next(lambda m: is_response(m, 200, "BYE"))
            await p.shutdown()
            return answer
        finally:
            peer.close()

    with caplog.at_level(logging.ERROR, logger="lanfax.providers.sip"):
        answer = run(scenario())
    assert answer.status == 500
    (record,) = [r for r in caplog.records if r.exc_info is not None]
    assert "a bug of ours" in str(record.exc_info[1])  # type: ignore[index]
