"""The provider against a scripted IAX2 peer on a loopback UDP socket (signalling outcomes),
and configuration errors."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from tests.providers.harness import Harness
from tests.providers.helpers import light_pages, run, save_tiff

from lanfax.model.codes import ProviderStatus
from lanfax.model.errors import ConfigError
from lanfax.providers.iax2 import Iax2Provider
from lanfax.providers.iax2.config import parse_config
from lanfax.providers.iax2.frames import (
    AuthMethod,
    FrameType,
    FullFrame,
    IaxCommand,
    Ie,
    Ies,
    decode,
    encode,
)


class ScriptedPeer(asyncio.DatagramProtocol):
    """Answers our NEW with ``reply`` (an IAX command and its IEs), or never when None."""

    def __init__(self, reply: tuple[int, Ies] | None) -> None:
        self.reply = reply
        self.seen: list[FullFrame] = []
        self.transport: Any = None

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: Any) -> None:
        f = decode(data)
        if not isinstance(f, FullFrame):
            return
        self.seen.append(f)
        if f.is_command(IaxCommand.NEW) and self.reply is not None and not f.retransmitted:
            cmd, ies = self.reply
            for sub, i in ((IaxCommand.ACK, Ies()), (cmd, ies)):
                out = FullFrame(42, f.source_call, f.timestamp, 0, 1, FrameType.IAX, sub, ies=i)
                self.transport.sendto(encode(out), addr)


async def _dial(tmp_path: Path, reply: tuple[int, Ies] | None, **cfg: Any) -> Any:
    loop = asyncio.get_running_loop()
    peer = ScriptedPeer(reply)
    transport, _ = await loop.create_datagram_endpoint(lambda: peer, local_addr=("127.0.0.1", 0))
    port = transport.get_extra_info("sockname")[1]
    doc = save_tiff(tmp_path / "d.tif", light_pages(1, height=100), "group4")
    h = Harness(tmp_path)
    p = Iax2Provider()
    await h.add(p, {"peer": f"127.0.0.1:{port}", **cfg})
    try:
        result, in_progress = await h.send(p, p.virtual_devices()[0].local_id, doc, "555")
    finally:
        await p.shutdown()
        transport.close()
    assert in_progress == 0
    return result, peer


@pytest.mark.parametrize(
    ("code", "text", "status"),
    [
        (17, "User busy", ProviderStatus.BUSY),
        (1, "Unallocated", ProviderStatus.BAD_ADDRESS),
        (19, "No answer", ProviderStatus.NO_ANSWER),
        (34, "No circuit", ProviderStatus.LINE_UNAVAILABLE),
    ],
)
def test_reject_causes_map_to_statuses(
    tmp_path: Path, code: int, text: str, status: ProviderStatus
) -> None:
    reply = (IaxCommand.REJECT, Ies.build((Ie.CAUSE, text), (Ie.CAUSECODE, code)))
    result, peer = run(_dial(tmp_path, reply))
    assert result.status.status_id == status
    assert f"cause {code}" in result.status.string_id
    new = peer.seen[0]
    assert new.ies.text(Ie.CALLED_NUMBER) == "555"


def test_authreq_without_secret_is_a_fatal_error(tmp_path: Path) -> None:
    reply = (
        IaxCommand.AUTHREQ,
        Ies.build((Ie.AUTHMETHODS, int(AuthMethod.MD5)), (Ie.CHALLENGE, "99")),
    )
    result, _ = run(_dial(tmp_path, reply, username="fax"))
    assert result.status.status_id == ProviderStatus.FATAL_ERROR
    assert "no secret" in result.status.string_id


def test_no_answer_within_answer_timeout(tmp_path: Path) -> None:
    reply = (IaxCommand.ACCEPT, Ies.build((Ie.FORMAT, 0x40)))
    result, peer = run(_dial(tmp_path, reply, answer_timeout=1.0))
    assert result.status.status_id == ProviderStatus.NO_ANSWER
    hangups = [f for f in peer.seen if f.is_command(IaxCommand.HANGUP)]
    assert hangups and hangups[0].ies.number(Ie.CAUSECODE) == 19


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({}, "peer is required"),
        ({"peer": "pbx.example:4569"}, "not an IP address"),
        ({"peer": "127.0.0.1:4569", "codec": "gsm"}, "not one of"),
        ({"peer": "127.0.0.1:4569", "channels": 0}, "channels"),
        ({"peer": "127.0.0.1:4569", "answer_timeout": -1}, "out of range"),
        ({"peer": "127.0.0.1:4569", "number": "12a"}, "telephone number"),
        ({"peer": "127.0.0.1:4569", "colour": 1}, "unknown setting"),
    ],
)
def test_config_errors(raw: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        parse_config(raw)
    assert info.value.hint


def test_config_defaults() -> None:
    cfg = parse_config({"peer": "127.0.0.1"})
    assert cfg.peer == ("127.0.0.1", 4569) and cfg.bind == ("127.0.0.1", 0)
    assert cfg.media_format == 0x40 and cfg.channels == 1
