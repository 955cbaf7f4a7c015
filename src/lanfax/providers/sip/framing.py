"""SIP message framing on a byte stream (TCP), as pure code (RFC 3261 §18.3).

A datagram is one message; a stream is not. :class:`StreamFramer` takes whatever bytes the
connection delivers, in any chunks, and returns each complete message's bytes once its
headers and its Content-Length worth of body have arrived. The framer only finds message
boundaries; :func:`~.message.parse_message` still parses each frame (a frame that does not
parse is one bad message, the stream stays in step).

What breaks the framing is a :class:`FramingError`, after which the stream cannot be trusted
and the caller closes the connection: a message without Content-Length (mandatory on a
stream, §20.14), a malformed or repeated-and-different one, headers larger than
``max_header`` bytes without an end, a body larger than ``max_body``, or a first line that is
not a SIP start line. Empty lines between messages are ignored (§7.5), which includes the
CRLF keep-alives of RFC 5626 §4.4.1.
"""

from __future__ import annotations

import re

from lanfax.providers.sip.message import SipParseError

__all__ = ["MAX_BODY", "MAX_HEADER", "FramingError", "StreamFramer"]

#: Header block bound (start line + headers + the empty line). A fax call's INVITE with
#: Record-Route and digest headers is 1-2 kB; 16 kB leaves room and bounds a hostile peer.
MAX_HEADER = 16384
#: Body bound: SDP with T.38 is well under 1 kB. Together with MAX_HEADER this stays below
#: ``message.MAX_MESSAGE``, so every frame is a size parse_message accepts.
MAX_BODY = 49152

_CONTENT_LENGTH = re.compile(rb"^(?:content-length|l)[ \t]*:[ \t]*(.*?)[ \t]*$", re.IGNORECASE)
_START = re.compile(rb"^(?:SIP/2\.0 [1-6][0-9]{2}(?: .*)?|[!-~]+ \S+ SIP/2\.0)$")


class FramingError(SipParseError):
    """The byte stream is not (any more) a sequence of SIP messages: close the connection."""

    code = "sip-framing-error"

    def __init__(self, message: str) -> None:
        super().__init__(
            message,
            hint="the peer's byte stream cannot be split into SIP messages; the connection "
            "is closed (RFC 3261 §18.3)",
        )
        #: The messages completed before the error in the same :meth:`StreamFramer.feed`:
        #: whole and in order, they are delivered before the connection is closed, so that
        #: what is delivered does not depend on how the stream was cut into reads.
        self.frames: list[bytes] = []


class StreamFramer:
    """Split a SIP byte stream into messages (see the module docstring).

    ``feed`` returns the frames completed by the new bytes, in order; it raises
    :class:`FramingError` on the first framing error and again on every later call. Frames
    are the message bytes from the start line to the end of the body (leading empty lines
    dropped); the result does not depend on how the stream was chunked.
    """

    def __init__(self, *, max_header: int = MAX_HEADER, max_body: int = MAX_BODY) -> None:
        self.max_header = max_header
        self.max_body = max_body
        self._buf = bytearray()
        self._scan = 0  # where to resume looking for the end of the headers
        self._error: FramingError | None = None
        self.keepalives = 0  # empty lines skipped between messages

    @property
    def pending(self) -> int:
        """Bytes of an incomplete message held (non-zero at EOF means a truncated message)."""
        return len(self._buf)

    @property
    def failed(self) -> bool:
        return self._error is not None

    def feed(self, data: bytes) -> list[bytes]:
        if self._error is not None:
            self._error.frames = []
            raise self._error
        self._buf += data
        frames: list[bytes] = []
        try:
            while True:
                frame = self._next()
                if frame is None:
                    return frames
                frames.append(frame)
        except FramingError as exc:
            self._error = exc
            self._buf.clear()
            exc.frames = frames
            raise

    def _next(self) -> bytes | None:
        buf = self._buf
        # §7.5: CRLFs before a start line are ignored; RFC 5626 keep-alives are exactly that.
        skip = 0
        while skip < len(buf) and buf[skip] in (0x0D, 0x0A):
            skip += 1
        if skip:
            self.keepalives += buf[:skip].count(b"\n")
            del buf[:skip]
            self._scan = 0
        if not buf:
            return None
        first_end = buf.find(b"\n")
        if first_end < 0:
            if len(buf) > self.max_header:
                raise FramingError(f"no line end in the first {self.max_header} bytes")
            return None
        start = bytes(buf[:first_end]).rstrip(b"\r")
        if not _START.match(start):
            raise FramingError(f"not a SIP start line: {start[:60]!r}")
        head_end, body_start = self._end_of_headers()
        if head_end < 0:
            if len(buf) > self.max_header:
                raise FramingError(f"SIP headers longer than {self.max_header} bytes")
            return None
        if body_start > self.max_header:
            raise FramingError(f"SIP headers longer than {self.max_header} bytes")
        length = self._content_length(bytes(buf[:head_end]))
        if length > self.max_body:
            raise FramingError(f"Content-Length {length} is larger than {self.max_body}")
        end = body_start + length
        if len(buf) < end:
            return None
        frame = bytes(buf[:end])
        del buf[:end]
        self._scan = 0
        return frame

    def _end_of_headers(self) -> tuple[int, int]:
        """(end of the header block, start of the body), or (-1, -1) if not there yet.

        The empty line is CRLF CRLF, or a bare LF LF from a sloppy peer (parse_message takes
        both); the earliest one wins, which does not depend on the chunking."""
        buf = self._buf
        crlf = buf.find(b"\r\n\r\n", self._scan)
        lf = buf.find(b"\n\n", self._scan)
        found = [(i, i + 4) for i in (crlf,) if i >= 0] + [(i, i + 2) for i in (lf,) if i >= 0]
        if not found:
            # Resume a few bytes back: the terminator may straddle this chunk and the next.
            self._scan = max(0, len(buf) - 3)
            return -1, -1
        return min(found, key=lambda f: f[1])

    def _content_length(self, head: bytes) -> int:
        values: set[bytes] = set()
        for line in re.split(rb"\r?\n", head)[1:]:
            m = _CONTENT_LENGTH.match(line)
            if m is not None:
                values.add(m.group(1))
        if not values:
            raise FramingError("a SIP message on a stream without Content-Length (§20.14)")
        if len(values) > 1:
            raise FramingError("conflicting Content-Length headers")
        (text,) = values
        if not text.isdigit() or len(text) > 9:
            raise FramingError(f"bad Content-Length: {text[:20]!r}")
        return int(text)
