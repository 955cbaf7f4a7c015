"""A submission's multipart body read in one pass, when it has the plain shape clients send (#19).

``POST /jobs`` bodies are small and nearly always shaped the same: a ``params`` part and one
or a few ``file`` parts, each with a ``Content-Disposition: form-data; name="..."`` (and a
``filename="..."`` for files) and maybe a ``Content-Type``. starlette's general parser reads
them through python-multipart's byte-by-byte callbacks and spools each file into a
``SpooledTemporaryFile``: about 60 us of the event loop's time per submission, a tenth of it.

:func:`simple_form` splits such a body on its boundary with ``bytes.find`` and returns the
same items starlette's parser would (field values as text, files as in-memory
:class:`UploadFile`s, in the body's order). It accepts only what it is sure of: anything
else (a preamble, another header, escaped or ``filename*`` parameters, a charset, a field
that is not UTF-8, more parts or larger fields than allowed, a missing close) returns
``None``, and the caller gives the same bytes to starlette's parser, which reads it as
before and names its errors as before. So the answers to a bad body cannot change: only a
body that starlette would read exactly the same way takes this path
(``tests/api/test_simpleform.py`` checks both parsers on the same bodies).
"""

from __future__ import annotations

import io
import re

from starlette.datastructures import FormData, Headers, UploadFile

#: The largest body read this way: starlette holds a file up to 1 MB in memory too.
SIMPLE_MAX = 1024 * 1024

# RFC 2046 5.1.1: a boundary is 1-70 characters of this set (a space not last); taken here
# only without quotes and without a space, the form every client sends.
_BOUNDARY = re.compile(r"multipart/form-data; ?boundary=([0-9A-Za-z'()+_,\-./:=?]{1,70})")
# form-data; name="..."[; filename="..."], each value quoted, with no quote, backslash,
# CR or LF inside (python-multipart unescapes and strips paths from such values).
_DISPOSITION = re.compile(rb'form-data; name="([^"\\\r\n]*)"(?:; filename="([^"\\\r\n]*)")?')


class InMemoryUpload(UploadFile):
    """An uploaded file already in memory: reading it needs no thread (starlette sends a
    read of a file it cannot prove is in memory to its thread pool)."""

    async def read(self, size: int = -1) -> bytes:
        return self.file.read(size)

    async def close(self) -> None:
        self.file.close()


def simple_form(
    body: bytes, content_type: str, *, max_fields: int, max_files: int, max_field_size: int
) -> FormData | None:
    """The form in ``body`` as starlette's parser would return it, or None when the body is
    not in the plain shape (see the module docstring) or breaks a limit: the caller then
    parses it with starlette, which refuses it or reads it as it always did."""
    m = _BOUNDARY.fullmatch(content_type)
    if m is None or len(body) > SIMPLE_MAX:
        return None
    boundary = m.group(1).encode("ascii")
    first = b"--" + boundary + b"\r\n"
    if not body.startswith(first):
        return None  # a preamble, or not this boundary
    delimiter = b"\r\n--" + boundary
    items: list[tuple[str, str | UploadFile]] = []
    fields = files = 0
    pos = len(first)
    while True:
        end = body.find(delimiter, pos)
        if end < 0:
            return None  # no closing delimiter
        part = _part(body, pos, end)
        if part is None:
            return None
        name, filename, raw, data = part
        if filename is None:
            fields += 1
            if fields > max_fields or len(data) > max_field_size:
                return None
            try:
                items.append((name, data.decode("utf-8")))
            except UnicodeDecodeError:
                return None  # starlette falls back to latin-1: let it
        else:
            files += 1
            if files > max_files:
                return None
            items.append(
                (
                    name,
                    InMemoryUpload(
                        io.BytesIO(data),
                        size=len(data),
                        filename=filename,
                        headers=Headers(raw=raw),
                    ),
                )
            )
        after = end + len(delimiter)
        tail = body[after : after + 2]
        if tail == b"--":
            # The close delimiter; starlette ignores what follows it (the epilogue), but
            # only the usual CRLF (or nothing) is taken here.
            return FormData(items) if body[after + 2 :] in (b"", b"\r\n") else None
        if tail != b"\r\n":
            return None
        pos = after + 2


def _part(
    body: bytes, start: int, end: int
) -> tuple[str, str | None, list[tuple[bytes, bytes]], bytes] | None:
    """``(name, filename, headers, data)`` of the part in ``body[start:end]``."""
    head_end = body.find(b"\r\n\r\n", start, end)
    if head_end < 0:
        return None
    disposition = ctype = None
    raw: list[tuple[bytes, bytes]] = []
    for line in body[start:head_end].split(b"\r\n"):
        key, sep, value = line.partition(b":")
        key = key.lower()
        value = value.lstrip(b" ")  # python-multipart skips the spaces after the colon
        if not sep or not value or value[:1] == b"\t" or value[-1:] in (b" ", b"\t"):
            return None
        if key == b"content-disposition" and disposition is None:
            disposition = value
        elif key == b"content-type" and ctype is None:
            ctype = value
        else:
            return None  # another header, or one given twice
        raw.append((key, value))
    if disposition is None:
        return None
    m = _DISPOSITION.fullmatch(disposition)
    if m is None:
        return None
    try:
        name = m.group(1).decode("utf-8")
        filename = m.group(2).decode("utf-8") if m.group(2) is not None else None
    except UnicodeDecodeError:
        return None
    if not name:
        return None
    return name, filename, raw, body[head_end + 4 : end]
