"""Test corpus generators, written independently of lanfax.documents (a raw PDF writer,
Pillow for images) so the tests do not check the code against itself."""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

A4 = (595.276, 841.89)
LETTER = (612.0, 792.0)
LEGAL = (612.0, 1008.0)


@dataclass
class RawPage:
    """One PDF page: size in points and a content stream (PDF operators, y up)."""

    width: float
    height: float
    content: str = ""
    rotate: int = 0


def rect_op(x: float, top: float, w: float, h: float, page_h: float, grey: float = 0.0) -> str:
    """A filled rectangle given from the top-left corner (points)."""
    return f"{grey:.3f} g {x:.2f} {page_h - top - h:.2f} {w:.2f} {h:.2f} re f\n"


def text_op(x: float, top_baseline: float, text: str, size: float, page_h: float) -> str:
    esc = text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
    return f"BT /F1 {size} Tf 0 g {x:.2f} {page_h - top_baseline:.2f} Td ({esc}) Tj ET\n"


def write_pdf(path: Path, pages: list[RawPage]) -> Path:
    """A minimal, valid PDF 1.4 with a Helvetica font (base-14) and one stream per page."""
    objs: list[bytes] = []
    n = len(pages)
    # 1 catalog, 2 pages, 3 font, then per page: page obj, content obj
    kids = " ".join(f"{4 + 2 * i} 0 R" for i in range(n))
    objs.append(b"<< /Type /Catalog /Pages 2 0 R >>")
    objs.append(f"<< /Type /Pages /Kids [{kids}] /Count {n} >>".encode())
    objs.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    for i, p in enumerate(pages):
        rot = f" /Rotate {p.rotate}" if p.rotate else ""
        objs.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {p.width} {p.height}]{rot} "
            f"/Resources << /Font << /F1 3 0 R >> >> /Contents {5 + 2 * i} 0 R >>".encode()
        )
        data = p.content.encode("latin-1")
        objs.append(b"<< /Length %d >>\nstream\n" % len(data) + data + b"\nendstream")
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for k, body in enumerate(objs, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % k + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1)
    for off in offsets:
        out += b"%010d 00000 n \n" % off
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objs) + 1, xref)
    path.write_bytes(bytes(out))
    return path


def text_page(size: tuple[float, float], lines: list[str], font_size: float = 10.0) -> RawPage:
    w, h = size
    content = "".join(
        text_op(54, 72 + i * font_size * 1.3, line, font_size, h) for i, line in enumerate(lines)
    )
    return RawPage(w, h, content)


def photo(width: int, height: int, mode: str = "L", seed: int = 0) -> Image.Image:
    """A synthetic photo: smooth gradients plus blobs and noise (continuous tone)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    g = 128 + 90 * np.sin(x / max(width, 1) * 6.0) * np.cos(y / max(height, 1) * 4.0)
    g += rng.normal(0, 8, size=g.shape)
    grey = np.clip(g, 0, 255).astype(np.uint8)
    img = Image.fromarray(grey, "L")
    if mode == "L":
        return img
    rgb = Image.merge("RGB", (img, img.transpose(Image.Transpose.FLIP_LEFT_RIGHT), img))
    return rgb.convert(mode) if mode != "RGB" else rgb


# -- reading fax TIFFs back, independently of lanfax (tiffinfo + Pillow) -------------------
@dataclass
class Dir:
    width: int
    length: int
    bits: int | None
    compression: str
    photometric: str
    xres: float
    yres: float
    unit: str
    page: tuple[int, int] | None
    g3opts: int | None
    rows_per_strip: int | None


def tiffinfo(path: Path) -> list[Dir]:
    out = subprocess.run(
        ["tiffinfo", str(path)], capture_output=True, text=True, check=True, timeout=30
    ).stdout
    dirs = []
    for block in out.split("=== TIFF directory")[1:]:
        m = re.search(r"Image Width: (\d+) Image Length: (\d+)", block)
        assert m, block
        res = re.search(r"Resolution: ([\d.]+), ([\d.]+) (\S+)", block)
        bits = re.search(r"Bits/Sample: (\d+)", block)
        comp = re.search(r"Compression Scheme: (.+)", block)
        photo_m = re.search(r"Photometric Interpretation: (.+)", block)
        page = re.search(r"Page Number: (\d+)-(\d+)", block)
        g3 = re.search(r"Group 3 Options: .*\((\d+) =", block)
        rps = re.search(r"Rows/Strip: (\d+)", block)
        dirs.append(
            Dir(
                width=int(m.group(1)),
                length=int(m.group(2)),
                bits=int(bits.group(1)) if bits else None,
                compression=comp.group(1).strip() if comp else "",
                photometric=photo_m.group(1).strip() if photo_m else "",
                xres=float(res.group(1)) if res else 0.0,
                yres=float(res.group(2)) if res else 0.0,
                unit=res.group(3) if res else "",
                page=(int(page.group(1)), int(page.group(2))) if page else None,
                g3opts=int(g3.group(1)) if g3 else None,
                rows_per_strip=int(rps.group(1)) if rps else None,
            )
        )
    return dirs


EXPECTED_COMPRESSION = {"mh": "CCITT Group 3", "mr": "CCITT Group 3", "mmr": "CCITT Group 4"}


def assert_class_f(path: Path, pages: int, resolution: str, compression: str) -> list[np.ndarray]:
    """Check every page is valid Class F as asked; return the decoded pages (True = black)."""
    dirs = tiffinfo(path)
    assert len(dirs) == pages
    ydpi = 196.0 if resolution == "fine" else 98.0
    for i, d in enumerate(dirs):
        assert d.width == 1728
        assert d.bits == 1
        assert d.compression == EXPECTED_COMPRESSION[compression]
        assert d.photometric == "min-is-white"
        assert (d.xres, d.yres, d.unit) == (204.0, ydpi, "pixels/inch")
        assert d.page == (i, pages)
        assert d.rows_per_strip == d.length  # one strip per page
        if compression == "mr":
            assert d.g3opts is not None and d.g3opts & 1
        if compression == "mh":
            assert d.g3opts is not None and not d.g3opts & 1
    decoded = []
    with Image.open(path) as img:
        for i in range(pages):
            img.seek(i)
            img.load()
            assert img.mode == "1"
            assert img.size == (1728, dirs[i].length)
            decoded.append(~np.asarray(img, dtype=bool))
    return decoded


def bbox(black: np.ndarray) -> tuple[int, int, int, int]:
    """(top, bottom, left, right) of black pixels, inclusive."""
    ys, xs = np.nonzero(black)
    assert ys.size, "page is blank"
    return int(ys.min()), int(ys.max()), int(xs.min()), int(xs.max())


def write_acroform_pdf(path: Path, fields: dict[str, tuple[float, float, float, float]]) -> Path:
    """An A4 PDF form with a label and an empty text field per entry: name -> (x, y, w, h),
    PDF coordinates (y up). Fields have appearance streams, as real forms do."""
    objs: list[bytes] = []
    names = list(fields)
    n_fields = len(names)
    # 1 catalog, 2 pages, 3 page, 4 content, 5 font, then per field: widget, appearance
    field_refs = " ".join(f"{6 + 2 * i} 0 R" for i in range(n_fields))
    acroform = (
        f"<< /Fields [{field_refs}] /DA (/Helv 0 Tf 0 g) /DR << /Font << /Helv 5 0 R >> >> >>"
    )
    objs.append(f"<< /Type /Catalog /Pages 2 0 R /AcroForm {acroform} >>".encode())
    objs.append(b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>")
    objs.append(
        f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 5 0 R"
        f" >> >> /Contents 4 0 R /Annots [{field_refs}] >>".encode()
    )
    labels = "".join(
        f"BT /F1 9 Tf 0 g {x:.1f} {y + h + 3:.1f} Td ({name}) Tj ET\n"
        for name, (x, y, w, h) in fields.items()
    ).encode()
    objs.append(b"<< /Length %d >>\nstream\n" % len(labels) + labels + b"\nendstream")
    objs.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    for i, name in enumerate(names):
        x, y, w, h = fields[name]
        objs.append(
            f"<< /Type /Annot /Subtype /Widget /FT /Tx /T ({name}) /Rect [{x} {y} {x + w} {y + h}]"
            f" /F 4 /P 3 0 R /DA (/Helv 10 Tf 0 g) /AP << /N {7 + 2 * i} 0 R >> >>".encode()
        )
        ap = b"/Tx BMC EMC"
        objs.append(
            f"<< /Type /XObject /Subtype /Form /BBox [0 0 {w} {h}] /Length {len(ap)} >>".encode()
            + b"\nstream\n"
            + ap
            + b"\nendstream"
        )
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for k, body in enumerate(objs, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % k + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1)
    for off in offsets:
        out += b"%010d 00000 n \n" % off
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objs) + 1, xref)
    path.write_bytes(bytes(out))
    return path
