"""Page geometry and binarisation: from a grey raster to the 1-bit rows of a fax page.

Geometry (:func:`layout`): every page is 1728 pixels wide. A page whose width *fits the
line* keeps its true size (204 dpi across, no shrinking): that is any page up to 1 % wider than
1728 pixels (8.55 in), so A4 (8.27 in = 1687 px, centred with 20 px of white each side) and
US Letter (8.5 in = 1734 px, 3 px of its side margins cut off each side) are both sent at
their true size; a wider page is scaled down to 1728. A page up to A4 length is centred in an
A4-length box (what ``gs -g1728x2292`` does); a page clearly longer than A4 in proportion (US
Legal, long receipts) keeps its length up to the ISO B4 length, and beyond that is scaled down
to fit. Landscape pages are turned to portrait. Nothing else is ever cropped.

Binarisation (:func:`binarize`): text and line art arrive un-smoothed (the PDF renderer draws
them without anti-aliasing, hinted at the target resolution, as Ghostscript does) and are
thresholded; areas of continuous tone (photos, gradients, grey fills) are found per 32x32 block
and dithered (levels curve, then Floyd-Steinberg error diffusion), so photos keep their tones
while text next to them stays crisp.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

from lanfax.documents.types import A4_LENGTH, FAX_WIDTH, FAX_XDPI, FAX_YDPI, MAX_LENGTH

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt
    from PIL import ImageFont

    Grey = npt.NDArray[np.uint8]
    Bits = npt.NDArray[np.bool_]

FONT_DIR = "/usr/share/fonts/truetype/dejavu"
MONO_FONT = f"{FONT_DIR}/DejaVuSansMono.ttf"
SANS_FONT = f"{FONT_DIR}/DejaVuSans.ttf"
SANS_BOLD_FONT = f"{FONT_DIR}/DejaVuSans-Bold.ttf"

#: Height of the branding header band in rows (fine; standard uses half).
HEADER_ROWS_FINE = 40
#: An A4-proportioned page may be this much longer than the A4 box and still be fitted in it.
_A4_SLACK = 1.03
#: A page up to this much wider than the 1728-pixel line keeps its true size (the excess, at
#: most 8 px a side, is cut from the side margins, where no printer prints anyway).
WIDTH_TOLERANCE = 1.01
_BLOCK = 32  # tonal_blocks samples 1 pixel in 4 each way: 8 samples a block row, one uint64
_TONE_LO, _TONE_HI = 40, 200


@dataclass(frozen=True)
class Layout:
    """Where a source page lands on its fax page.

    ``length`` is the fax page's height in rows; the content is drawn as a ``cw`` x ``ch``
    pixel rectangle at ``(x0, y0)`` (``cw`` may exceed 1728 by up to 1 %, ``x0`` then being
    negative: the side margins are cut); ``rotate`` says the source is landscape and is turned a
    quarter counter-clockwise (its top edge goes to the left); ``resolution`` is the mode.
    """

    length: int
    x0: int
    y0: int
    cw: int
    ch: int
    rotate: bool
    resolution: str = "fine"


def header_rows(resolution: str) -> int:
    return HEADER_ROWS_FINE if resolution == "fine" else HEADER_ROWS_FINE // 2


def layout(width_in: float, height_in: float, resolution: str) -> Layout:
    """Fit a source page of ``width_in`` x ``height_in`` inches onto a fax page."""
    rotate = width_in > height_in
    if rotate:
        width_in, height_in = height_in, width_in
    ydpi = FAX_YDPI[resolution]
    pw, ph = max(width_in * FAX_XDPI, 1e-6), max(height_in * ydpi, 1e-6)
    a4 = A4_LENGTH[resolution]
    longest = MAX_LENGTH[resolution]
    # A page that fits the line is never shrunk for its width (smaller pages grow to it).
    s_w = max(1.0, FAX_WIDTH / pw) if pw <= FAX_WIDTH * WIDTH_TOLERANCE else FAX_WIDTH / pw
    if ph * s_w <= a4 * _A4_SLACK:
        # A4, Letter and anything shorter: the A4 box, like gs does.
        scale, box = min(s_w, a4 / ph), a4
    elif ph * s_w <= longest:
        scale = s_w
        box = math.ceil(ph * s_w)
    else:
        scale, box = longest / ph, longest
    cw = max(1, round(pw * scale))
    ch = max(1, min(box, round(ph * scale)))
    return Layout(
        length=box,
        x0=(FAX_WIDTH - cw) // 2,
        y0=(box - ch) // 2,
        cw=cw,
        ch=ch,
        rotate=rotate,
        resolution=resolution,
    )


@lru_cache(maxsize=1)
def _levels_lut() -> list[int]:
    # Paper grey and near-white go to white, near-black to black, the rest is stretched:
    # a scanned letter on grey paper then keeps a clean background instead of a dot screen.
    return [0 if v <= 40 else 255 if v >= 215 else round((v - 40) * 255 / 175) for v in range(256)]


def _dither(grey: Grey) -> Bits:
    """Floyd-Steinberg after the levels curve; True = black."""
    import numpy as np
    from PIL import Image

    img = Image.fromarray(grey, "L").point(_levels_lut()).convert("1")
    return ~np.asarray(img, dtype=bool)


def _probe(grey: Grey) -> Bits:
    """True where a sampled pixel (1 in 16) is mid-grey (``_TONE_LO < v < _TONE_HI``).

    One uint8 subtraction wraps every value outside the range above it, so one comparison
    tests both ends: about eight times cheaper than a table lookup (fancy indexing) on an A4
    page, which mattered because every page is probed."""
    sub = grey[2::4, 2::4]
    result: Bits = (sub - (_TONE_LO + 1)) < (_TONE_HI - _TONE_LO - 1)
    return result


def tonal_blocks(grey: Grey, probe: Bits | None = None) -> Bits:
    """Per 32x32 block: True where the page holds continuous tone (photo, gradient, grey
    fill) rather than text or line art. Anti-aliased text edges are grey too, but cover well
    under half of a block; tone covers most of it."""
    import numpy as np

    h, w = grey.shape
    sub = _probe(grey) if probe is None else probe
    bh, bw = math.ceil(h / _BLOCK), math.ceil(w / _BLOCK)
    step = _BLOCK // 4
    tone = np.zeros((bh * step, bw * step), dtype=np.uint8)
    tone[: sub.shape[0], : sub.shape[1]] = sub
    # A block row's 8 samples (0 or 1) are 8 bytes: as one uint64 times 0x0101...01 their sum
    # lands in the top byte (at most 8, so nothing carries out). Several times cheaper than
    # numpy's strided sum over two axes, and every smoothed text page comes this way.
    across = (tone.view(np.uint64) * np.uint64(0x0101010101010101)) >> np.uint64(56)
    count = across.reshape(bh, step, bw).sum(axis=1, dtype=np.uint16)
    full = step * step
    core = count > full // 2
    # Grow into neighbouring blocks that are partly tonal, so a photo's edge is not cut
    # into a thresholded seam.
    grown = core.copy()
    grown[1:] |= core[:-1]
    grown[:-1] |= core[1:]
    grown[:, 1:] |= core[:, :-1]
    grown[:, :-1] |= core[:, 1:]
    result: Bits = core | (grown & (count > full // 10))
    return result


def binarize(
    grey: Grey,
    resolution: str,
    *,
    bilevel: bool = False,
    threshold: int | None = None,
    out: Bits | None = None,
) -> Bits:
    """Black pixels (True) of a grey page. ``bilevel`` says the source was already 1-bit
    (a scan or a fax): then it is only thresholded, never dithered. ``threshold`` (grey levels
    below it are black) defaults to 128 at fine and 192 at standard, where a thin stroke of a
    smoothed image is spread over grey rows. ``out``, a bool array of ``grey``'s shape, is
    written and returned instead of a new array (a page-sized allocation is mostly page
    faults: reusing one buffer for every page is measurably cheaper)."""
    import numpy as np

    if threshold is None:
        threshold = 128 if resolution == "fine" else 192
    black: Bits = np.less(grey, threshold, out=out)
    if bilevel:
        return black
    probe = _probe(grey)
    if np.count_nonzero(probe) < 0.005 * probe.size:
        return black  # no grey at all: line art, the fastest case
    blocks = tonal_blocks(grey, probe)
    if not blocks.any():
        return black  # text: its anti-aliased edges are grey, but no block is mostly grey
    rows = np.flatnonzero(blocks.any(axis=1))
    cols = np.flatnonzero(blocks.any(axis=0))
    r0, r1 = rows[0] * _BLOCK, min(grey.shape[0], (rows[-1] + 1) * _BLOCK)
    c0, c1 = cols[0] * _BLOCK, min(grey.shape[1], (cols[-1] + 1) * _BLOCK)
    dithered = _dither(np.ascontiguousarray(grey[r0:r1, c0:c1]))
    mask = np.repeat(np.repeat(blocks, _BLOCK, axis=0), _BLOCK, axis=1)[r0:r1, c0:c1]
    region = black[r0:r1, c0:c1]
    region[mask] = dithered[mask]
    return black


@lru_cache(maxsize=4)
def font(path: str, size: int) -> ImageFont.FreeTypeFont:
    from PIL import ImageFont

    return ImageFont.truetype(path, size)


def header_band(text: str, page: int, pages: int, resolution: str) -> Bits:
    """The branding band for one page: ``text`` on the left, "Page n of m" on the right,
    drawn without anti-aliasing so it stays crisp after binarisation. ``page`` is 1-based."""
    import numpy as np
    from PIL import Image, ImageDraw

    rows = HEADER_ROWS_FINE
    img = Image.new("L", (FAX_WIDTH, rows), 255)
    draw = ImageDraw.Draw(img)
    draw.fontmode = "1"
    f = font(MONO_FONT, 26)
    right = f"Page {page} of {pages}"
    margin = 40
    right_w = draw.textlength(right, font=f)
    room = FAX_WIDTH - 2 * margin - right_w - 30
    left = text
    while left and draw.textlength(left, font=f) > room:
        left = left[:-1]
    draw.text((margin, 6), left, font=f, fill=0)
    draw.text((FAX_WIDTH - margin - right_w, 6), right, font=f, fill=0)
    draw.line([(margin, rows - 3), (FAX_WIDTH - margin, rows - 3)], fill=0, width=2)
    black = np.asarray(img) < 128
    if resolution != "fine":
        # Half the rows: OR pairs of rows so no stroke is lost.
        black = black[0::2] | black[1::2]
    result: Bits = black
    return result
