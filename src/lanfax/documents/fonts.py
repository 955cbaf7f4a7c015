"""Which installed font draws which character: the fallback chain for text in any script, and
the characters no font of it has (named in a warning on the job, never dropped silently).

The chain is the one text documents and HTML are drawn with (CSS ``font-family``, so Pango
takes the first font of the list that has each character): DejaVu Sans Mono first (Latin,
Greek, Cyrillic in the classic fax look), then the Noto set the bootstrap installs (Debian
``fonts-noto-core``, ``fonts-noto-cjk``). Coverage is read from each font's cmap with fontTools,
lazily and once per process, and only as far down the chain as a character needs: Latin text
never opens the 20 MB CJK font.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from functools import cache
from pathlib import Path

_TT = Path("/usr/share/fonts/truetype")
_OT = Path("/usr/share/fonts/opentype")

#: (CSS family name, font file) in fallback order.
CHAIN: tuple[tuple[str, Path], ...] = (
    ("DejaVu Sans Mono", _TT / "dejavu/DejaVuSansMono.ttf"),
    ("Noto Sans Mono", _TT / "noto/NotoSansMono-Regular.ttf"),
    ("DejaVu Sans", _TT / "dejavu/DejaVuSans.ttf"),
    ("Noto Sans", _TT / "noto/NotoSans-Regular.ttf"),
    ("Noto Sans Arabic", _TT / "noto/NotoSansArabic-Regular.ttf"),
    ("Noto Sans Hebrew", _TT / "noto/NotoSansHebrew-Regular.ttf"),
    ("Noto Sans CJK SC", _OT / "noto/NotoSansCJK-Regular.ttc"),
    ("Noto Sans Symbols", _TT / "noto/NotoSansSymbols-Regular.ttf"),
    ("Noto Sans Symbols2", _TT / "noto/NotoSansSymbols2-Regular.ttf"),
    ("Noto Sans Math", _TT / "noto/NotoSansMath-Regular.ttf"),
)


def css_families() -> str:
    """The chain as a CSS ``font-family`` value (installed fonts only), ending in monospace."""
    names = [f'"{name}"' for name, path in CHAIN if path.is_file()]
    return ", ".join([*names, "monospace"])


@cache
def coverage(path: Path) -> frozenset[int]:
    """The code points ``path`` (TrueType/OpenType, first font of a collection) has glyphs for;
    empty when the file is missing or unreadable."""
    if not path.is_file():
        return frozenset()
    from fontTools.ttLib import TTFont

    try:
        font = TTFont(str(path), fontNumber=0, lazy=True)
        try:
            cmap = font.getBestCmap() or {}
            return frozenset(cmap)
        finally:
            font.close()
    except Exception:  # a damaged font file covers nothing; the others still count
        return frozenset()


def _drawable(cp: int) -> bool:
    """False for characters that need no glyph (controls, spaces, format and joiner marks)."""
    cat = unicodedata.category(chr(cp))
    return not (cat.startswith("C") and cat != "Co") and cat not in ("Zs", "Zl", "Zp")


#: Code point ranges of scripts that need bidi ordering or shaping: Hebrew to Mongolian
#: (Arabic, Syriac, Indic, Thai, Tibetan, Myanmar, Khmer...), Hebrew and Arabic presentation
#: forms, and the historic right-to-left and Brahmic blocks of plane 1.
_COMPLEX = ((0x0590, 0x1DFF), (0xFB1D, 0xFEFC), (0x10800, 0x11FFF))


def _complex(cp: int) -> bool:
    return any(lo <= cp <= hi for lo, hi in _COMPLEX) or unicodedata.category(chr(cp)) == "Mn"


def needs_layout(text: str) -> bool:
    """Whether ``text`` needs more than one font drawing one glyph per character left to
    right: a character the first font (DejaVu Sans Mono) lacks, a right-to-left or shaped
    script (Hebrew, Arabic, Indic...), or a combining mark. Such text goes through Pango."""
    cps = {ord(ch) for ch in text if ord(ch) >= 0x80}
    if not cps:
        return False
    if any(_complex(c) for c in cps):
        return True
    return not cps <= coverage(CHAIN[0][1])


def missing(text: Iterable[str]) -> list[str]:
    """The characters of ``text`` that no font of the chain has, in order of first use."""
    order: dict[int, None] = {}
    for ch in text:
        cp = ord(ch)
        if cp >= 0x80 and cp not in order and _drawable(cp):
            order[cp] = None
    left = set(order)
    for _, path in CHAIN:
        if not left:
            break
        left -= coverage(path)
    return [chr(cp) for cp in order if cp in left]


def describe(chars: list[str], limit: int = 8) -> str:
    """``U+E000 (private use), U+1F600 GRINNING FACE ...`` for a warning."""
    parts = []
    for ch in chars[:limit]:
        name = unicodedata.name(ch, "")
        if not name:
            name = "private use" if unicodedata.category(ch) == "Co" else "unassigned"
            parts.append(f"U+{ord(ch):04X} ({name})")
        else:
            parts.append(f"U+{ord(ch):04X} {name}")
    more = f" and {len(chars) - limit} more" if len(chars) > limit else ""
    return ", ".join(parts) + more


def missing_warning(text: str, label: str) -> str | None:
    """The warning for ``text``'s characters no installed font draws, or None."""
    chars = missing(text)
    if not chars:
        return None
    return (
        f"{label}: no installed font has {describe(chars)}; "
        f"{'it is' if len(chars) == 1 else 'they are'} drawn as an empty box"
    )
