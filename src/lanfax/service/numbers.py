"""Phone numbers as the scheduler compares them.

The scheduler promises never to place two calls to the same number at once. "The same number"
is decided on a canonical form that drops the punctuation people type (spaces, dashes, dots,
brackets, slashes) and keeps what a line actually dials: digits, ``*`` and ``#``, and a
leading ``+``. It does not apply dialling rules (``+49 30 ...`` and ``030 ...`` stay different):
that needs the site's location, which the scheduler does not have.
"""

from __future__ import annotations

from lanfax.model.errors import InvalidInput

# Characters people write inside a number that a line never dials.
_FORMATTING = frozenset(" \t-./()[]")
_DIALLED = frozenset("0123456789*#")


def canonical_number(number: str) -> str:
    """``"+49 (30) 123-45"`` -> ``"+493012345"``.

    Keeps digits, ``*`` and ``#``, and a ``+`` if it is the first significant character.
    Raises :class:`~lanfax.model.errors.InvalidInput` when the number contains anything else
    (letters, a ``+`` in the middle) or no digit at all, so a submission with an undiallable
    number is refused up front instead of failing at dial time.
    """
    out: list[str] = []
    for ch in number.strip():
        if ch in _DIALLED or (ch == "+" and not out):
            out.append(ch)
        elif ch in _FORMATTING:
            continue
        else:
            raise InvalidInput(
                f"fax number {number!r} contains {ch!r}, which cannot be dialled",
                hint="use digits, an optional leading +, and spaces, dashes or brackets",
                number=number,
            )
    if not any(ch.isdigit() for ch in out):
        raise InvalidInput(
            f"fax number {number!r} has no digits",
            hint="give the recipient's fax number, e.g. +49 30 1234567",
            number=number,
        )
    return "".join(out)


def number_key(number: str) -> str:
    """The key under which the scheduler serialises calls: the canonical number, or, for a
    number that cannot be canonicalised (it will fail at dial time), the stripped text itself,
    so that such a job still never runs twice at once to the same string. Never raises."""
    try:
        return canonical_number(number)
    except InvalidInput:
        return "raw:" + number.strip()
