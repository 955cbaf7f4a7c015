"""Real receivers on loopback for routing tests: a web-hook HTTP server and an SMTP server.

:class:`WebhookReceiver` is a ``ThreadingHTTPServer`` on a fixed or free port. ``mode`` says
how it answers: ``"ok"`` (200, de-duplicating by Idempotency-Key as a real receiver should),
``"fail"`` (503) or ``"hang"`` (reads the request and never answers until closed). It can be
stopped and started again on the same port, so a test can make a route fail, then fix it.

:class:`SmtpReceiver` is an aiosmtpd ``Controller`` (plain SMTP, no auth) keeping every
message it accepts.
"""

from __future__ import annotations

import email
import socket
import threading
from dataclasses import dataclass, field
from email.message import Message
from email.policy import HTTP
from email.policy import default as default_policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Delivery:
    headers: dict[str, str]
    body: bytes

    def parts(self) -> Message:
        raw = f"Content-Type: {self.headers['content-type']}\r\n\r\n".encode() + self.body
        return email.message_from_bytes(raw, policy=HTTP)

    def part(self, name: str) -> bytes:
        for p in self.parts().walk():
            if p.get_param("name", header="content-disposition") == name:
                payload = p.get_payload(decode=True)
                assert isinstance(payload, bytes)
                return payload
        raise KeyError(name)


@dataclass
class WebhookReceiver:
    port: int = 0
    mode: str = "ok"
    requests: list[Delivery] = field(default_factory=list)
    delivered: dict[str, Delivery] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    got_request: threading.Event = field(default_factory=threading.Event)
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None
    _release: threading.Event = field(default_factory=threading.Event)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/fax"

    def start(self) -> WebhookReceiver:
        rec = self
        self._release.clear()

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                d = Delivery({k.lower(): v for k, v in self.headers.items()}, body)
                with rec.lock:
                    rec.requests.append(d)
                    mode = rec.mode
                    if mode == "ok":
                        rec.delivered.setdefault(self.headers["Idempotency-Key"], d)
                rec.got_request.set()
                if mode == "hang":
                    rec._release.wait(60)
                    return
                status = 200 if mode == "ok" else 503
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok" if status == 200 else b"no")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        ThreadingHTTPServer.allow_reuse_address = True
        server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        server.daemon_threads = True
        self.port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._release.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join()
        self._server = self._thread = None


@dataclass
class _Mailbox:
    messages: list[tuple[str, list[str], bytes]] = field(default_factory=list)
    arrived: threading.Event = field(default_factory=threading.Event)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        self.arrived.set()
        return "250 OK"


class SmtpReceiver:
    """A real SMTP server (aiosmtpd) on loopback; ``messages`` parsed on demand."""

    def __init__(self, port: int = 0) -> None:
        self.port = port or free_port()
        self.box = _Mailbox()
        self._controller: Controller | None = None

    def start(self) -> SmtpReceiver:
        self._controller = Controller(self.box, hostname="127.0.0.1", port=self.port)
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def messages(self) -> list[email.message.EmailMessage]:
        out = []
        for _, _, raw in self.box.messages:
            msg = email.message_from_bytes(raw, policy=default_policy)
            assert isinstance(msg, email.message.EmailMessage)
            out.append(msg)
        return out

    @staticmethod
    def attachments(msg: email.message.EmailMessage) -> list[tuple[str, str, bytes]]:
        out = []
        for part in msg.iter_attachments():
            payload = part.get_payload(decode=True)
            assert isinstance(payload, bytes)
            out.append((part.get_filename() or "", part.get_content_type(), payload))
        return out
