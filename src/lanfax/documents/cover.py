"""Cover pages: the built-in default, text templates with ``{placeholders}``, PDF AcroForm
templates filled by field name, a template store (server and personal) and the ServerCp check.

Placeholders and AcroForm field names are the :class:`~lanfax.model.jobs.CoverPageInfo`
field names (``rec_name``, ``sdr_company``, ``subject``, ``note``, ``time_sent``,
``page_count``...). A PDF template's text fields are filled by drawing the value into each
field's rectangle and removing the field widget, so every viewer and fax shows the same thing.
"""

from __future__ import annotations

import dataclasses
import string
import tempfile
import textwrap
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from lanfax.documents.pdfgen import A4_PT, PdfBuilder, text_document, text_width
from lanfax.documents.types import ConversionLimits, ConversionResult
from lanfax.model.config import ServerConfig
from lanfax.model.errors import AccessDenied, DocumentError, NotFound
from lanfax.model.jobs import CoverPageInfo

FIELDS: tuple[str, ...] = tuple(
    f.name
    for f in dataclasses.fields(CoverPageInfo)
    if f.name not in ("cover_page_name", "use_server_cover_page")
)
DEFAULT_NAME = "default"
TEMPLATE_SUFFIXES = (".pdf", ".txt")

SAMPLE = CoverPageInfo(
    rec_name="Dana Recipient",
    rec_fax_number="+49 30 1234567",
    rec_company="Example Logistics GmbH",
    rec_street_address="Hauptstraße 1",
    rec_city="Berlin",
    rec_zip="10115",
    rec_country="Germany",
    rec_department="Purchasing",
    rec_office_phone="+49 30 1234500",
    sdr_name="Sam Sender",
    sdr_fax_number="+1 555 0100",
    sdr_company="ACME Corporation",
    sdr_address="1 Main Street, Springfield",
    sdr_title="Office Manager",
    sdr_department="Accounts",
    sdr_office_phone="+1 555 0199",
    subject="Order 4711: delivery schedule",
    note="Please find attached the delivery schedule for order 4711.\n"
    "Call me if anything is unclear.",
    time_sent=datetime(2026, 1, 15, 9, 30),
    page_count=3,
)


def field_values(info: CoverPageInfo) -> dict[str, str]:
    """Every template field of ``info`` as display text."""
    out: dict[str, str] = {}
    for name in FIELDS:
        value = getattr(info, name)
        if isinstance(value, datetime):
            out[name] = value.strftime("%Y-%m-%d %H:%M")
        elif value is None:
            out[name] = ""
        else:
            out[name] = str(value)
    return out


# -- the built-in default --------------------------------------------------------------------
def _default_pdf(info: CoverPageInfo) -> PdfBuilder:
    v = field_values(info)
    b = PdfBuilder()
    w, h = A4_PT
    m = 56.0
    b.new_page(w, h)
    b.text(m, 100, "FAX", 44, "sans-bold")
    company = v["sdr_company"] or v["sdr_name"]
    if company:
        b.text(w - m - text_width(company, 14, "sans-bold"), 80, company, 14, "sans-bold")
    if v["sdr_address"]:
        b.text(w - m - text_width(v["sdr_address"], 9), 96, v["sdr_address"], 9)
    b.rect(m, 116, w - 2 * m, 3, fill=0)

    def block(x: float, title: str, rows: list[tuple[str, str]]) -> None:
        b.text(x, 150, title, 11, "sans-bold")
        y = 172.0
        for label, value in rows:
            b.text(x, y, label, 8.5)
            b.text(x + 62, y, value[:38], 10.5, "sans-bold" if label == "Name" else "sans")
            y += 17

    rec_city = " ".join(p for p in (v["rec_zip"], v["rec_city"]) if p)
    block(m, "TO", [
        ("Name", v["rec_name"]), ("Company", v["rec_company"]),
        ("Department", v["rec_department"]), ("Fax", v["rec_fax_number"]),
        ("Phone", v["rec_office_phone"]), ("City", rec_city),
    ])  # fmt: skip
    block(w / 2 + 6, "FROM", [
        ("Name", v["sdr_name"]), ("Title", v["sdr_title"]),
        ("Department", v["sdr_department"]), ("Fax", v["sdr_fax_number"]),
        ("Phone", v["sdr_office_phone"]),
    ])  # fmt: skip
    b.line(w / 2 - 6, 140, w / 2 - 6, 272, 0.6)
    y = 292.0
    b.rect(m, y, w - 2 * m, 46, fill=228)  # a light band: dithered by the fax pipeline
    b.text(m + 10, y + 18, "Date", 8.5)
    b.text(m + 72, y + 18, v["time_sent"] or datetime.now().strftime("%Y-%m-%d %H:%M"), 10.5)
    b.text(w / 2 + 6, y + 18, "Pages", 8.5)
    b.text(w / 2 + 68, y + 18, v["page_count"] if info.page_count else "", 10.5)
    b.text(m + 10, y + 37, "Subject", 8.5)
    b.text(m + 72, y + 37, v["subject"][:70], 10.5, "sans-bold")
    y = 372.0
    b.text(m, y, "MESSAGE", 11, "sans-bold")
    b.line(m, y + 6, w - m, y + 6, 0.6)
    y += 26
    for para in v["note"].splitlines() or [""]:
        for line in textwrap.wrap(para, 80) or [""]:
            if y > h - 110:
                break
            b.text(m, y, line, 11)
            y += 15
    b.line(m, h - 80, w - m, h - 80, 0.6)
    pages = (
        f"This fax has {info.page_count} pages including this cover page. "
        if info.page_count
        else ""
    )
    b.text(m, h - 64, pages + "If a page is missing or unreadable, please call the sender.", 8)
    b.text(
        m,
        h - 52,
        "The information in this fax is confidential and meant only for the recipient.",
        8,
    )
    b.finish()
    return b


# -- templates -------------------------------------------------------------------------------
def _text_template(template: Path, info: CoverPageInfo) -> PdfBuilder:
    try:
        raw = template.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DocumentError(
            f"cover page template {template.name} cannot be read ({exc})",
            hint="a text template is a UTF-8 file",
        ) from None
    values = field_values(info)
    out = []
    for literal, name, spec, conv in string.Formatter().parse(raw):
        out.append(literal)
        if name is None:
            continue
        if name not in values:
            raise DocumentError(
                f"cover page template {template.name} uses an unknown field {{{name}}}",
                hint="fields are: " + ", ".join(FIELDS),
            )
        del spec, conv  # formats are not supported: values are already text
        out.append(values[name])
    return text_document("".join(out))


def _widget_name(pdf: Any, annot: Any) -> str:
    import ctypes

    import pypdfium2.raw as c

    buf = (ctypes.c_ushort * 256)()
    n = c.FPDFAnnot_GetFormFieldName(pdf.formenv.raw, annot, buf, ctypes.sizeof(buf))
    if n <= 2:
        return ""
    return bytes(buf)[: n - 2].decode("utf-16-le")


def _fill_acroform(template: Path, info: CoverPageInfo) -> PdfBuilder:
    """Draw each text field's value into its rectangle; remove the widgets."""
    import ctypes

    import pypdfium2.raw as c

    from lanfax.documents.pdf import open_pdf

    pdf = open_pdf(template, f"cover page template {template.name}")
    pdf.init_forms()
    values = field_values(info)
    b = PdfBuilder(pdf)
    filled = 0
    for index in range(len(pdf)):
        b.use_page(index)
        page = b._page
        i = c.FPDFPage_GetAnnotCount(page.raw) - 1
        while i >= 0:
            annot = c.FPDFPage_GetAnnot(page.raw, i)
            try:
                if c.FPDFAnnot_GetSubtype(annot) != c.FPDF_ANNOT_WIDGET:
                    continue
                name = _widget_name(pdf, annot).rsplit(".", 1)[-1]
                if name not in values:
                    continue
                rect = c.FS_RECTF()
                c.FPDFAnnot_GetRect(annot, ctypes.byref(rect))
                top, bottom = max(rect.top, rect.bottom), min(rect.top, rect.bottom)
                left, right = min(rect.left, rect.right), max(rect.left, rect.right)
                height = top - bottom
                lines = values[name].splitlines() or [""]
                multiline = height > 30 and len(lines) >= 1
                size = min(11.0, max(6.0, height * 0.7)) if not multiline else 10.0
                cols = max(10, int((right - left) / (size * 0.55)))
                if multiline:
                    lines = [w for ln in lines for w in (textwrap.wrap(ln, cols) or [""])]
                else:
                    lines = [" ".join(lines)]
                y_top = b._height - top
                for k, line in enumerate(lines):
                    baseline = (
                        y_top + size * 1.1 + k * size * 1.25
                        if multiline
                        else (b._height - bottom - (height - size * 0.75) / 2)
                    )
                    if baseline > b._height - bottom + 0.5:
                        break  # never draw outside the field
                    while line and text_width(line, size) > right - left - 4:
                        line = line[:-1]
                    b.text(left + 2, baseline, line, size)
                c.FPDFPage_RemoveAnnot(page.raw, i)
                filled += 1
            finally:
                c.FPDFPage_CloseAnnot(annot)
                i -= 1
    b.finish()
    if filled == 0:
        raise DocumentError(
            f"cover page template {template.name} has no form fields named after cover page fields",
            hint="name the PDF's text fields e.g. rec_name, sdr_name, subject, note",
        )
    return b


def cover_document(info: CoverPageInfo, template: Path | None) -> PdfBuilder:
    """The filled cover page as an in-memory PDF (builder owning it)."""
    if template is None:
        return _default_pdf(info)
    from lanfax.documents.sniff import identify

    kind = identify(template)
    if kind == "pdf":
        return _fill_acroform(template, info)
    if kind == "text":
        return _text_template(template, info)
    raise DocumentError(
        f"cover page template {template.name} is a {kind} file",
        hint="a template is a PDF form (.pdf) or a UTF-8 text file with {placeholders} (.txt)",
    )


def render_cover(
    info: CoverPageInfo,
    template: Path | None,
    out: Path,
    resolution: str = "fine",
    compression: str = "mr",
) -> ConversionResult:
    """FaxPrintCoverPage: the filled cover page as TIFF Class F at ``out`` (or, when ``out``
    ends in ``.pdf``, as a PDF; the result then describes the PDF's page count and size)."""
    from lanfax.documents.pipeline import convert

    builder = cover_document(info, template)
    out = Path(out)
    if out.suffix.lower() == ".pdf":
        builder.save(out)
        return ConversionResult(out, len(builder.pdf), 0, 0, resolution, "pdf", out.stat().st_size)
    with tempfile.TemporaryDirectory(prefix="lanfax-cover-") as work:
        pdf = Path(work) / "cover.pdf"
        builder.save(pdf)
        return convert(
            [pdf],
            out,
            resolution=resolution,
            compression=compression,
            limits=ConversionLimits(),
            header=None,
        )


def preview(template: Path | None, out: Path, resolution: str = "fine") -> ConversionResult:
    """The template filled with :data:`SAMPLE` data, as PDF or TIFF by ``out``'s suffix."""
    return render_cover(SAMPLE, template, out, resolution)


# -- template store --------------------------------------------------------------------------
@dataclass(frozen=True)
class Template:
    """A cover page template: ``scope`` is ``"server"`` or ``"personal"``; ``path`` is None
    for the built-in default."""

    name: str
    scope: str
    path: Path | None


def _check_name(name: str) -> str:
    ok = name and name not in (".", "..") and all(ch not in name for ch in "/\\\x00")
    if not ok or name.startswith("."):
        raise DocumentError(
            f"{name!r} is not a valid cover page name", hint="use letters, digits, - and _"
        )
    return name


class TemplateStore:
    """Server templates in ``server_dir``; personal templates in ``personal_root/<user>``.

    A template is ``<name>.pdf`` or ``<name>.txt``; the built-in ``default`` is a server
    template that is always there (a file of that name replaces it).
    """

    def __init__(self, server_dir: Path, personal_root: Path | None = None) -> None:
        self.server_dir = Path(server_dir)
        self.personal_root = Path(personal_root) if personal_root else None

    def _dir(self, scope: str, user: str | None) -> Path:
        if scope == "server":
            return self.server_dir
        if self.personal_root is None or not user:
            raise DocumentError("personal templates need a user", hint="name the user")
        return self.personal_root / _check_name(user)

    @staticmethod
    def _scan(directory: Path, scope: str) -> list[Template]:
        if not directory.is_dir():
            return []
        return [
            Template(p.stem, scope, p)
            for p in sorted(directory.iterdir())
            if p.suffix.lower() in TEMPLATE_SUFFIXES and p.is_file() and not p.name.startswith(".")
        ]

    def list(self, user: str | None = None) -> list[Template]:
        """Server templates (with the built-in default), then ``user``'s personal ones."""
        server = self._scan(self.server_dir, "server")
        if all(t.name != DEFAULT_NAME for t in server):
            server.insert(0, Template(DEFAULT_NAME, "server", None))
        personal = (
            self._scan(self._dir("personal", user), "personal")
            if user and self.personal_root
            else []
        )
        return server + personal

    def find(self, name: str, user: str | None = None, *, server_only: bool = False) -> Template:
        """The template called ``name``: a personal one first (unless ``server_only``)."""
        _check_name(name)
        for t in reversed(self.list(None if server_only else user)):
            if t.name == name:
                return t
        raise NotFound(
            f"no cover page template named {name!r}",
            hint="list the templates; personal templates are not used when only server "
            "cover pages are allowed"
            if server_only
            else "list the templates",
        )

    def add(
        self, name: str, data: bytes, kind: str, scope: str, user: str | None = None
    ) -> Template:
        """Store a template (``kind`` "pdf" or "txt"), replacing one of the same name. The
        content is checked by rendering it with sample data first."""
        if kind not in ("pdf", "txt"):
            raise DocumentError(f"unknown template kind {kind!r}", hint="use pdf or txt")
        directory = self._dir(scope, user)
        directory.mkdir(parents=True, exist_ok=True)
        final = directory / f"{_check_name(name)}.{kind}"
        tmp = directory / f".{name}.{kind}.tmp"
        tmp.write_bytes(data)
        try:
            with tempfile.TemporaryDirectory() as work:
                render_cover(SAMPLE, tmp, Path(work) / "check.pdf")
            for other in TEMPLATE_SUFFIXES:
                (directory / f"{name}{other}").unlink(missing_ok=True)
            tmp.replace(final)
        finally:
            tmp.unlink(missing_ok=True)
        return Template(name, scope, final)

    def delete(self, name: str, scope: str, user: str | None = None) -> None:
        directory = self._dir(scope, user)
        hits = [directory / f"{_check_name(name)}{s}" for s in TEMPLATE_SUFFIXES]
        if not any(p.exists() for p in hits):
            raise NotFound(f"no {scope} cover page template named {name!r}", hint="list them")
        for p in hits:
            p.unlink(missing_ok=True)


def check_server_cp(info: CoverPageInfo, config: ServerConfig) -> None:
    """The ServerCp (ServerCoverpage) rule: when it is on, only server templates may be
    used. Raises AccessDenied for a personal cover page under that setting."""
    if config.server_cp and info.cover_page_name and not info.use_server_cover_page:
        raise AccessDenied(
            "only server cover pages may be used on this server (ServerCoverpage is on)",
            hint="choose one of the server's cover page templates",
        )
