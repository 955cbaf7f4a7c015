"""The UNO side of :mod:`lanfax.documents.office`: a tiny server run by the *system* Python
(the one with Debian's ``python3-uno``; lanfax's own virtual environment cannot import
``uno``), connected to one running LibreOffice over a private pipe.

It only uses the standard library and ``uno``, and never imports lanfax. Protocol, one JSON
object per line: it prints ``{"ready": true}`` once connected, then answers each request
``{"in": PATH, "out": PATH}`` on stdin with ``{"ok": true}`` or ``{"error": TEXT, "dead":
BOOL}`` (``dead``: the connection to LibreOffice is gone, LibreOffice must be restarted).

Documents are opened hidden, read-only, with macros never run and links never updated (a
document cannot make the server fetch a URL or run code), and exported with the PDF filter of
their own kind (Writer, Calc, Impress, Draw).

Usage: ``python3 office_bridge.py PIPE_NAME CONNECT_SECONDS``.
"""

import json
import sys
import time
from typing import Any

import uno  # type: ignore[import-not-found]
from com.sun.star.beans import PropertyValue  # type: ignore[import-not-found]
from com.sun.star.connection import NoConnectException  # type: ignore[import-not-found]

FILTERS = (
    ("com.sun.star.text.WebDocument", "writer_web_pdf_Export"),
    ("com.sun.star.text.GlobalDocument", "writer_globaldocument_pdf_Export"),
    ("com.sun.star.text.TextDocument", "writer_pdf_Export"),
    ("com.sun.star.sheet.SpreadsheetDocument", "calc_pdf_Export"),
    ("com.sun.star.presentation.PresentationDocument", "impress_pdf_Export"),
    ("com.sun.star.drawing.DrawingDocument", "draw_pdf_Export"),
)
NEVER_EXECUTE = 0  # com.sun.star.document.MacroExecMode.NEVER_EXECUTE
NO_UPDATE = 0  # com.sun.star.document.UpdateDocMode.NO_UPDATE


def prop(name: str, value: object) -> Any:
    p = PropertyValue()
    p.Name = name
    p.Value = value
    return p


def connect(pipe: str, seconds: float) -> Any:
    local = uno.getComponentContext()
    resolver = local.ServiceManager.createInstanceWithContext(
        "com.sun.star.bridge.UnoUrlResolver", local
    )
    end = time.monotonic() + seconds
    while True:
        try:
            ctx = resolver.resolve(f"uno:pipe,name={pipe};urp;StarOffice.ComponentContext")
            break
        except NoConnectException:
            if time.monotonic() > end:
                raise
            time.sleep(0.05)
    return ctx.ServiceManager.createInstanceWithContext("com.sun.star.frame.Desktop", ctx)


def reply(obj: dict[str, object]) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def is_dead(exc: BaseException) -> bool:
    """The connection to LibreOffice is gone (it died or restarted), as opposed to a document
    it could not open. pyuno names its exception classes by their full UNO names."""
    text = f"{type(exc).__name__} {exc}"
    return "DisposedException" in text or "Binary URP bridge" in text or "disposed" in text


def convert(desktop: Any, src: str, out: str) -> None:
    args = (
        prop("Hidden", True),
        prop("ReadOnly", True),
        prop("MacroExecutionMode", NEVER_EXECUTE),
        prop("UpdateDocMode", NO_UPDATE),
    )
    doc = desktop.loadComponentFromURL(uno.systemPathToFileUrl(src), "_blank", 0, args)
    if doc is None:
        raise ValueError("LibreOffice cannot open it")
    try:
        for service, name in FILTERS:  # noqa: B007 - name is used after the loop
            if doc.supportsService(service):
                break
        else:
            raise ValueError("LibreOffice opened it, but not as a document it can print")
        doc.storeToURL(uno.systemPathToFileUrl(out), (prop("FilterName", name),))
    finally:
        doc.close(True)


def main() -> int:
    pipe, seconds = sys.argv[1], float(sys.argv[2])
    try:
        desktop = connect(pipe, seconds)
    except Exception as exc:
        reply({"error": f"cannot connect to LibreOffice: {type(exc).__name__}", "dead": True})
        return 1
    reply({"ready": True})
    for line in sys.stdin:
        req = json.loads(line)
        try:
            convert(desktop, req["in"], req["out"])
        except Exception as exc:
            text = getattr(exc, "Message", "") or str(exc) or type(exc).__name__
            reply({"error": text.strip().splitlines()[0][:300], "dead": is_dead(exc)})
            if is_dead(exc):
                return 1
        else:
            reply({"ok": True})
    return 0


if __name__ == "__main__":
    sys.exit(main())
