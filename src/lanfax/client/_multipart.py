"""Submission bodies without the model: reading the documents and the multipart encoder.

``lanfax send`` builds its request from these alone (see ``lanfax.cli._send``); the clients
reach them through ``lanfax.client._submit``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence

from lanfax.model.errors import InvalidInput

TYPE_CHECKING = False  # typing costs `lanfax send` ~1 ms to import; mypy reads these
if TYPE_CHECKING:
    from typing import Any

FileArg = str | os.PathLike[str] | bytes | tuple[str, bytes]

_CONTENT_TYPES = {
    ".tif": "image/tiff",
    ".tiff": "image/tiff",
    ".pdf": "application/pdf",
    ".ps": "application/postscript",
    ".txt": "text/plain",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
}


def read_files(files: FileArg | Sequence[FileArg]) -> list[tuple[str, bytes]]:
    """``(name, content)`` for each file argument; a missing file raises InvalidInput."""
    if isinstance(files, str | bytes | os.PathLike | tuple):
        files = [files]  # type: ignore[list-item]
    out: list[tuple[str, bytes]] = []
    for item in files:  # type: ignore[union-attr]
        if isinstance(item, tuple):
            out.append((str(item[0]), bytes(item[1])))
        elif isinstance(item, bytes):
            out.append((f"document-{len(out) + 1}", item))
        else:
            path = os.fspath(item)
            try:
                with open(path, "rb") as fh:
                    out.append((os.path.basename(path), fh.read()))
            except OSError as exc:
                raise InvalidInput(
                    f"cannot read {path}: {exc.strerror or exc}",
                    hint="check the file name and that you may read it",
                ) from None
    if not out:
        raise InvalidInput("no document to send", hint="give at least one file")
    return out


def multipart(params: Mapping[str, Any], files: Sequence[tuple[str, bytes]]) -> tuple[bytes, str]:
    """A ``multipart/form-data`` body: the ``params`` JSON part, then one ``file`` part each."""
    boundary = "lanfax-" + os.urandom(12).hex()
    chunks: list[bytes] = []
    b = boundary.encode()
    chunks.append(
        b"--" + b + b'\r\nContent-Disposition: form-data; name="params"\r\n'
        b"Content-Type: application/json\r\n\r\n"
        + json.dumps(params, separators=(",", ":")).encode()
        + b"\r\n"
    )
    for name, content in files:
        safe = name.replace("\\", "_").replace('"', "_").replace("\r", "_").replace("\n", "_")
        ctype = _CONTENT_TYPES.get(os.path.splitext(safe)[1].lower(), "application/octet-stream")
        chunks.append(
            b"--"
            + b
            + b'\r\nContent-Disposition: form-data; name="file"; filename="'
            + safe.encode("utf-8")
            + b'"\r\nContent-Type: '
            + ctype.encode()
            + b"\r\n\r\n"
            + content
            + b"\r\n"
        )
    chunks.append(b"--" + b + b"--\r\n")
    return b"".join(chunks), f"multipart/form-data; boundary={boundary}"
