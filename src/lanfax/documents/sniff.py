"""What a file is, judged by its first bytes (never by its name)."""

from __future__ import annotations

import zipfile
from pathlib import Path

from lanfax.model.errors import DocumentError

KINDS = ("pdf", "postscript", "tiff", "png", "jpeg", "gif", "bmp", "webp", "text", "html", "office")
_SUPPORTED = (
    "send a PDF, PostScript/EPS, TIFF, PNG, JPEG, GIF, BMP, WebP, plain UTF-8 text "
    "or an office document (DOCX, ODT, RTF, XLSX...)"
)
_BMP_HEADER_SIZES = {12, 40, 52, 56, 64, 108, 124}
_OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


def _is_office_zip(path: Path) -> bool:
    try:
        with zipfile.ZipFile(path) as z:
            names = set(z.namelist())
            if "[Content_Types].xml" in names:  # OOXML: docx, xlsx, pptx
                return True
            if "mimetype" in names:  # ODF: odt, ods, odp
                return z.read("mimetype").startswith(b"application/vnd.oasis.opendocument")
    except (zipfile.BadZipFile, OSError, KeyError, EOFError):
        return False
    return False


def _looks_like_text(data: bytes, complete: bool) -> tuple[bool, bool]:
    """``(is_text, is_utf8)`` for a file's first bytes; ``complete`` when ``data`` is all."""
    if b"\x00" in data:
        return False, False
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        # A multi-byte character cut by our read window is not an error.
        if not complete and exc.start >= len(data) - 3:
            text = data[: exc.start].decode("utf-8")
        else:
            printable = sum(1 for b in data if b >= 0x20 or b in b"\t\r\n\f")
            return printable >= 0.95 * len(data), False
    bad = sum(1 for ch in text if ord(ch) < 0x20 and ch not in "\t\r\n\f\x1b")
    return bad <= 0.01 * max(len(text), 1), True


_HTML_STARTS = (b"<!doctype html", b"<html", b"<head", b"<body", b"<meta", b"<!--", b"<?xml")


def _looks_like_html(head: bytes) -> bool:
    """An HTML page or e-mail body: it starts (after white space) with a doctype or one of the
    document's own tags; a comment or an XML declaration (XHTML) counts only when an ``<html``
    or ``<body`` tag follows."""
    start = head.lstrip()[:1024].lower()
    if b"\x00" in start or not start.startswith(_HTML_STARTS):
        return False
    if start.startswith((b"<!--", b"<?xml")):  # a comment, or XHTML's XML declaration
        return b"<html" in start or b"<body" in start
    return True


def identify(path: Path) -> str:
    """See :func:`lanfax.documents.identify`."""
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            head = f.read(8192)
    except FileNotFoundError:
        raise DocumentError(
            f"{path.name}: no such file", hint="check the path of the document"
        ) from None
    except IsADirectoryError:
        raise DocumentError(f"{path.name} is a directory", hint="give a file") from None
    except OSError as exc:
        raise DocumentError(
            f"{path.name}: cannot be read ({exc.strerror})", hint="check the file's permissions"
        ) from None
    if size == 0 or not head:
        raise DocumentError(f"{path.name} is empty (0 bytes)", hint="send a document with pages")
    if b"%PDF-" in head[:1024]:
        return "pdf"
    if head.startswith((b"%!", b"\x04%!", b"\xc5\xd0\xd3\xc6")):
        return "postscript"
    if head.startswith((b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")):
        return "tiff"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    if (
        head.startswith(b"BM")
        and len(head) >= 18
        and int.from_bytes(head[14:18], "little") in _BMP_HEADER_SIZES
    ):
        return "bmp"
    if head.startswith(b"{\\rtf") or head.startswith(_OLE2):
        return "office"
    if head.startswith(b"PK\x03\x04"):
        if _is_office_zip(path):
            return "office"
        raise DocumentError(
            f"{path.name} is a ZIP archive, not a document",
            hint="unpack it and send the documents inside",
        )
    body = head[3:] if head.startswith(b"\xef\xbb\xbf") else head
    if _looks_like_html(body):
        return "html"
    is_text, utf8 = _looks_like_text(body, complete=size <= len(head))
    if is_text and utf8:
        return "text"
    if is_text:
        raise DocumentError(
            f"{path.name} looks like text but is not UTF-8",
            hint="save it as UTF-8 text (e.g. iconv -f latin1 -t utf-8) and send it again",
        )
    raise DocumentError(
        f"{path.name}: unknown document type (starts with {head[:8].hex(' ')})", hint=_SUPPORTED
    )
