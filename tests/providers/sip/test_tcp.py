"""SIP over TCP with real sockets: through a real Kamailio listening on UDP and TCP (it
bridges a TCP account and a UDP one), and against a scripted TCP far end that drops the
connection or talks garbage in the middle of a transaction."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from pathlib import Path

from tests.providers.harness import Harness
from tests.providers.helpers import run
from tests.providers.sip.kamailio import Kamailio
from tests.providers.sip.test_calls import fax, ids, providers, same_pages
from tests.providers.sip.util import sip_config
from tests.support.ports import reserve_media_ports

from lanfax.model.codes import ProviderStatus
from lanfax.model.errors import ProviderError
from lanfax.providers.sip import SipProvider
from lanfax.providers.sip.framing import StreamFramer
from lanfax.providers.sip.message import Request, parse_message
from lanfax.providers.sip.tcp import TcpEndpoint


def test_tcp_account_faxes_a_udp_account_both_ways(
    kamailio: Kamailio, tmp_path: Path, sip_docs: dict[str, Path]
) -> None:
    """200 registers over TCP (digest), 201 over UDP. At the same time: 200 -> 201, where
    201 switches the call to T.38 (its re-INVITE reaches 200 over TCP, on a connection
    Kamailio opens to 200's Contact), and 201 -> 200 on G.711 (200 only accepts T.38). One
    light page each, pixel-identical."""

    async def scenario() -> None:
        h = Harness(tmp_path)
        p = await providers(
            h, kamailio, u200={"transport": "tcp", "t38": "accept"}, u201={"t38": "offer"}
        )
        tcp, udp = p["200"], p["201"]
        try:
            ep = tcp.endpoint
            assert isinstance(ep, TcpEndpoint)
            # Registered over TCP: the one connection is to Kamailio, and it is reused.
            assert tcp.registrations >= 1
            assert ep.connections() == [("127.0.0.1", kamailio.port)]
            doc = sip_docs["one"]
            (sent, got), (sent2, got2) = await asyncio.gather(
                fax(h, tcp, udp, doc, "201", 0), fax(h, udp, tcp, doc, "200", 1)
            )
            for s, g, media in ((sent, got, "t38"), (sent2, got2, "audio")):
                assert s.status.status_id is ProviderStatus.COMPLETED, s
                assert g.result.status.status_id is ProviderStatus.COMPLETED, g.result
                assert s.pages == 1 and g.result.pages == 1
                assert s.extra["media"] == media, s.extra
                assert same_pages(doc, g.file)
            # Outgoing requests reused the proxy connection; Kamailio's requests to our
            # Contact came on a connection it opened.
            assert ep.connections_opened == 1
            assert ep.connections_accepted >= 1
            assert ep.malformed == 0 and ep.framing_errors == 0
        finally:
            for prov in p.values():
                await prov.shutdown()

    run(scenario(), timeout=90)


def test_tcp_registration_with_a_wrong_password_is_refused(
    kamailio: Kamailio, tmp_path: Path
) -> None:
    async def scenario() -> None:
        h = Harness(tmp_path)
        prov = SipProvider()
        try:
            await h.add(prov, sip_config(kamailio, "202", transport="tcp", password="wrong"))
        except ProviderError as exc:
            assert "refused" in exc.message, exc.message
        else:
            await prov.shutdown()
            raise AssertionError("registration over TCP with a wrong password succeeded")

    run(scenario(), timeout=30)


class ScriptedTcpProxy:
    """A TCP 'proxy' that answers each INVITE with 100 Trying and then does ``action``:
    ``"close"`` drops the connection, ``"garbage"`` writes bytes that are not SIP."""

    def __init__(self, action: str) -> None:
        self.action = action
        self.connections = 0
        self.invites: list[Request] = []
        self.closed_by_peer = asyncio.Event()
        self._server: asyncio.Server | None = None

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return int(self._server.sockets[0].getsockname()[1])

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        framer = StreamFramer()
        try:
            while True:
                data = await reader.read(4096)
                if not data:
                    self.closed_by_peer.set()
                    return
                for frame in framer.feed(data):
                    msg = parse_message(frame)
                    if not isinstance(msg, Request) or msg.method != "INVITE":
                        continue
                    self.invites.append(msg)
                    via = "\r\n".join(f"Via: {v}" for v in msg.get_all("Via"))
                    writer.write(
                        (
                            f"SIP/2.0 100 Trying\r\n{via}\r\nFrom: {msg['From']}\r\n"
                            f"To: {msg['To']}\r\nCall-ID: {msg.call_id}\r\n"
                            f"CSeq: {msg['CSeq']}\r\nContent-Length: 0\r\n\r\n"
                        ).encode()
                    )
                    if self.action == "close":
                        writer.close()
                        return
                    writer.write(b"HTTP/1.1 400 Bad Request\r\n\r\n")
        finally:
            with contextlib.suppress(Exception):
                writer.close()

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()


def test_a_connection_that_dies_mid_invite_fails_it_and_the_next_call_reconnects(
    tmp_path: Path, sip_docs: dict[str, Path]
) -> None:
    """The far end takes the INVITE (100 Trying: no more Timer B), then closes the
    connection, or breaks the framing: the send fails at once with LINE_UNAVAILABLE naming
    the closed connection (a 503, §8.1.3.1), and the next send opens a new connection."""

    async def scenario() -> None:
        h = Harness(tmp_path)
        results = {}
        for action in ("close", "garbage"):
            proxy = ScriptedTcpProxy(action)
            port = await proxy.start()
            prov = SipProvider()
            cfg = {
                "type": "sip",
                "registrar": f"127.0.0.1:{port}",
                "domain": "lanfax.test",
                "user": "200",
                "transport": "tcp",
                "register": False,
                "media_ports": reserve_media_ports(100),
                "answer_timeout": 30.0,
            }
            await h.add(prov, cfg)
            try:
                first, _ = await h.send(prov, ids(prov)[0], sip_docs["one"], "201")
                second, _ = await h.send(prov, ids(prov)[0], sip_docs["one"], "201")
                ep = prov.endpoint
                assert isinstance(ep, TcpEndpoint)
                results[action] = (first, second, ep.connections_opened, proxy.connections)
                invite = proxy.invites[0]
                assert invite.top_via.transport == "TCP"
                assert invite.top_via.port == ep.local[1]  # sent-by: our listening port
                assert invite.uri == "sip:201@lanfax.test;transport=tcp"
                assert ";transport=tcp>" in invite["Contact"]
                if action == "garbage":
                    assert ep.framing_errors == 2
                    await asyncio.wait_for(proxy.closed_by_peer.wait(), 5)
            finally:
                await prov.shutdown()
                await proxy.stop()
        for action, (first, second, opened, accepted) in results.items():
            for r in (first, second):
                assert r.status.status_id is ProviderStatus.LINE_UNAVAILABLE, (action, r)
                assert "503" in r.status.string_id, r.status.string_id
            assert "closed" in first.status.string_id, first.status.string_id
            assert opened == 2 and accepted == 2, (action, opened, accepted)

    run(scenario(), timeout=60)


def test_an_unreachable_tcp_registrar_is_retried_not_fatal(tmp_path: Path) -> None:
    """Nothing listens on the registrar's TCP port: the connection is refused at once (a
    503 for the REGISTER), the provider still starts and keeps trying in the background."""

    async def scenario() -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]  # closed again: nothing listens there
        h = Harness(tmp_path)
        prov = SipProvider()
        cfg = {
            "type": "sip",
            "registrar": f"127.0.0.1:{port}",
            "user": "200",
            "transport": "tcp",
            "media_ports": reserve_media_ports(100),
        }
        await h.add(prov, cfg)
        try:
            assert not prov.registered_event.is_set()
            messages = [m for _, _, m in h.logs]
            assert any("cannot be reached" in m for m in messages), messages
            assert any("503" in m and "connection refused" in m for m in messages), messages
            ep = prov.endpoint
            assert isinstance(ep, TcpEndpoint) and ep.connections() == []
        finally:
            await prov.shutdown()

    run(scenario(), timeout=30)
