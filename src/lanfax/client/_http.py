"""Blocking HTTP/1.1 for the sync client, over a plain socket.

Why not ``http.client``: importing it pulls in ``email`` and ``ssl`` (about 10 ms, a fifth of a
``lanfax send``), and a timed-out read on it cannot be resumed, which the event reader needs.
This module speaks just what the lanfax API uses: one request at a time on a keep-alive
connection, ``Content-Length`` or chunked bodies, ``TCP_NODELAY`` and each request written in
one ``sendall`` (headers and body together), so a call costs one round trip and never waits on
Nagle/delayed-ACK (RFC 9112 for the message syntax).
"""

from __future__ import annotations

import contextlib
import select
import socket
import time
from collections.abc import Callable, Mapping

from lanfax.client._base import Response, retry_delay, unreachable
from lanfax.model.errors import FaxError


class StreamClosed(Exception):
    """The connection ended (EOF, reset) or the answer was not HTTP."""


def parse_url(url: str) -> tuple[str, str, int, str]:
    """``(scheme, host, port, path prefix)`` of an http(s) URL already checked by the client."""
    scheme, _, rest = url.partition("://")
    hostport, slash, path = rest.partition("/")
    hostport = hostport.rpartition("@")[2]
    if hostport.startswith("["):
        host, _, port_text = hostport[1:].partition("]")
        port_text = port_text.lstrip(":")
    else:
        host, _, port_text = hostport.partition(":")
    port = int(port_text) if port_text else (443 if scheme == "https" else 80)
    return scheme, host, port, ("/" + path).rstrip("/") if slash else ""


def _reason(exc: BaseException) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, socket.gaierror):
        return f"unknown host ({exc.strerror})"
    return str(exc) or type(exc).__name__


class _Wire:
    """One connected socket and the answer being read from it."""

    def __init__(
        self, scheme: str, host: str, port: int, timeout: float | None, ca_file: str | None
    ) -> None:
        # An ASCII host goes as bytes: a str is IDNA-encoded first, which imports the idna
        # codec and stringprep (about 1 ms of every `lanfax` command).
        address = host.encode("ascii") if host.isascii() else host
        self.sock = socket.create_connection((address, port), timeout=timeout)  # type: ignore[arg-type]
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if scheme == "https":
            import ssl  # only for https servers: it costs start-up time

            # ca_file: a private CA's certificate (or a self-signed server's own); None: the
            # system's CAs. The caller resolved it (argument or LANFAX_CA_FILE).
            context = ssl.create_default_context(cafile=ca_file)
            self.sock = context.wrap_socket(self.sock, server_hostname=host)
        self.buf = b""
        self.chunked = False
        self.remaining: int | None = None  # bytes left in this chunk / this body
        self.until_close = False
        self.eof = False
        self.got_bytes = False

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()

    def recv(self, timeout: float | None) -> bytes | None:
        """Bytes from the socket; None on timeout; StreamClosed at EOF or on an error."""
        try:
            pending = getattr(self.sock, "pending", None)
            if not (pending and pending()):
                ready, _, _ = select.select([self.sock], [], [], timeout)
                if not ready:
                    return None
            data = self.sock.recv(65536)
        except OSError as exc:
            raise StreamClosed(_reason(exc)) from None
        if not data:
            raise StreamClosed("connection closed by the server")
        self.got_bytes = True
        return data

    def read_head(self, timeout: float | None) -> tuple[int, dict[str, str]]:
        while True:
            end = self.buf.find(b"\r\n\r\n")
            if end >= 0:
                break
            data = self.recv(timeout)
            if data is None:
                raise TimeoutError("no answer from the server")
            self.buf += data
        head, self.buf = self.buf[:end], self.buf[end + 4 :]
        status_line, *lines = head.decode("latin-1").split("\r\n")
        try:
            status = int(status_line.split(None, 2)[1])
        except (IndexError, ValueError):
            raise StreamClosed(f"not an HTTP answer: {status_line[:60]!r}") from None
        headers: dict[str, str] = {}
        for line in lines:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        self.chunked = "chunked" in headers.get("transfer-encoding", "").lower()
        self.remaining = None
        self.until_close = False
        self.eof = False
        if not self.chunked:
            if "content-length" in headers:
                self.remaining = int(headers["content-length"])
                self.eof = self.remaining == 0
            elif status in (204, 304) or 100 <= status < 200:
                self.eof = True
            else:
                self.until_close = True
        return status, headers

    def read_some(self, timeout: float | None) -> bytes | None:
        """Decoded body bytes (b"" at the end of the body); None on timeout."""
        while True:
            out = self._decode()
            if out or self.eof:
                return out
            try:
                data = self.recv(timeout)
            except StreamClosed:
                if self.until_close:
                    self.eof = True
                    return b""
                raise
            if data is None:
                return None
            self.buf += data

    def read_body(self, timeout: float | None) -> bytes:
        parts: list[bytes] = []
        while True:
            data = self.read_some(timeout)
            if data is None:
                raise TimeoutError("the server stopped sending")
            if not data:
                return b"".join(parts)
            parts.append(data)

    def _decode(self) -> bytes:
        if not self.chunked:
            out, self.buf = self.buf, b""
            if self.remaining is not None:
                out, self.buf = out[: self.remaining], out[self.remaining :]
                self.remaining -= len(out)
                self.eof = self.remaining <= 0
            return out
        parts: list[bytes] = []
        while not self.eof:
            if not self.remaining:
                if self.remaining == 0:  # a chunk's data is followed by CRLF
                    if len(self.buf) < 2:
                        break
                    self.buf = self.buf[2:]
                    self.remaining = None
                idx = self.buf.find(b"\r\n")
                if idx < 0:
                    break
                size_text = self.buf[:idx].split(b";", 1)[0].strip()
                self.buf = self.buf[idx + 2 :]
                try:
                    size = int(size_text, 16)
                except ValueError:
                    raise StreamClosed(f"bad chunk size {size_text!r}") from None
                if size == 0:
                    # Trailers (none from our server) end with an empty line.
                    end = self.buf.find(b"\r\n")
                    self.buf = self.buf[end + 2 :] if end >= 0 else b""
                    self.eof = True
                    break
                self.remaining = size
            take = self.buf[: self.remaining]
            if not take:
                break
            self.buf = self.buf[len(take) :]
            self.remaining -= len(take)
            parts.append(take)
        return b"".join(parts)


def _head(method: str, target: str, host: str, headers: Mapping[str, str], length: int) -> bytes:
    lines = [f"{method} {target} HTTP/1.1", f"Host: {host}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    if length or method in ("POST", "PUT", "PATCH"):
        lines.append(f"Content-Length: {length}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8")


class Connection:
    """One persistent connection to ``base_url``; reconnects when the server dropped it."""

    def __init__(self, base_url: str, timeout: float | None, ca_file: str | None = None) -> None:
        self.base_url = base_url
        self.scheme, self.host, self.port, self.prefix = parse_url(base_url)
        self.host_header = f"{self.host}:{self.port}"
        self.timeout = timeout
        self.ca_file = ca_file
        self._wire: _Wire | None = None

    def close(self) -> None:
        if self._wire is not None:
            self._wire.close()
            self._wire = None

    def request(
        self, method: str, target: str, body: bytes | None, headers: Mapping[str, str]
    ) -> Response:
        """Send one request and read the whole answer.

        If a reused keep-alive connection turns out to be closed by the server (its idle
        timeout) before any answer byte arrives, the server never read the request, so it is
        sent once more on a new connection. Connection failures raise Unavailable with a hint.
        """
        payload = _head(method, self.prefix + target, self.host_header, headers, len(body or b""))
        payload += body or b""
        for attempt in (0, 1):
            reused = self._wire is not None
            try:
                if self._wire is None:
                    self._wire = _Wire(
                        self.scheme, self.host, self.port, self.timeout, self.ca_file
                    )
                wire = self._wire
                wire.got_bytes = False
                wire.sock.sendall(payload)
                status, resp_headers = wire.read_head(self.timeout)
                data = wire.read_body(self.timeout)
            except (StreamClosed, OSError) as exc:
                got = self._wire.got_bytes if self._wire is not None else False
                self.close()
                if reused and attempt == 0 and not got and not isinstance(exc, TimeoutError):
                    continue
                raise unreachable(self.base_url, exc, _reason(exc), self.ca_file) from None
            if resp_headers.get("connection", "").lower() == "close" or wire.until_close:
                self.close()
            return Response(status, resp_headers, data)
        raise AssertionError("unreachable")


def request_patiently(
    conn: Connection,
    method: str,
    target: str,
    body: bytes | None,
    headers: Mapping[str, str],
    rate_limit_wait: float,
    on_wait: Callable[[float], None] | None = None,
) -> Response:
    """:meth:`Connection.request`, sending the request again after the wait a 429 answer's
    ``Retry-After`` names, for at most ``rate_limit_wait`` seconds in all (see
    :func:`lanfax.client._base.retry_delay`); the last answer is returned. ``on_wait`` hears
    each wait before it starts (the CLI says it on stderr)."""
    resp = conn.request(method, target, body, headers)
    attempt, waited = 0, 0.0
    while (delay := retry_delay(resp, attempt, waited, rate_limit_wait)) is not None:
        if on_wait is not None:
            on_wait(delay)
        time.sleep(delay)  # the server said when to come back
        attempt, waited = attempt + 1, waited + delay
        resp = conn.request(method, target, body, headers)
    return resp


class Stream:
    """A streaming GET: :meth:`read` returns body bytes as they arrive.

    Raises Unavailable if no connection can be made and :class:`StreamClosed` when the body
    ends or the connection breaks; ``status``/``headers`` are the answer's.
    """

    def __init__(
        self,
        base_url: str,
        target: str,
        headers: Mapping[str, str],
        connect_timeout: float,
        ca_file: str | None = None,
    ) -> None:
        scheme, host, port, prefix = parse_url(base_url)
        try:
            self._wire = _Wire(scheme, host, port, connect_timeout, ca_file)
        except OSError as exc:
            raise unreachable(base_url, exc, _reason(exc), ca_file) from None
        try:
            self._wire.sock.sendall(_head("GET", prefix + target, f"{host}:{port}", headers, 0))
            self.status, self.headers = self._wire.read_head(connect_timeout)
        except (OSError, StreamClosed) as exc:
            self.close()
            raise StreamClosed(_reason(exc)) from None

    def close(self) -> None:
        self._wire.close()

    def read(self, timeout: float | None) -> bytes | None:
        """Body bytes; None if nothing came within ``timeout`` seconds."""
        data = self._wire.read_some(timeout)
        if data == b"":
            raise StreamClosed("end of stream")
        return data

    def response(self, timeout: float = 10.0) -> Response:
        """The whole answer (for turning a non-200 answer into a FaxError)."""
        try:
            body = self._wire.read_body(timeout)
        except (OSError, StreamClosed):
            body = b""
        return Response(self.status, self.headers, body)


__all__ = [
    "Connection",
    "FaxError",
    "Stream",
    "StreamClosed",
    "parse_url",
    "request_patiently",
]
