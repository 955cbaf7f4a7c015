"""What a dialed number reaches on the virtual network: a pure function of the digits.

Numbers that start with the *special prefix* (``*`` by default) are service codes that reach
simulated far ends or impair the line; every other number must be a line's number. The
grammar, after the prefix::

    10            busy                           -> BUSY
    11            rings, never answered          -> NO_ANSWER (after answer_timeout)
    12            no dial tone                   -> NO_DIAL_TONE
    13            invalid number                 -> BAD_ADDRESS
    20            a voice answers                -> NOT_FAX_CALL (T.30 times out)
    30            fax robot (answers, receives)  -> COMPLETED
    31<N>         line drops after page N        -> DISCONNECTED, the receiver keeps N pages
    32<SS>        noisy line at SS dB SNR        -> whatever T.30 makes of it
    33            far end with V.27ter only      -> COMPLETED at 4800/2400 bit/s
    34            far end with MH only, no ECM   -> COMPLETED, compression mh, ecm off

``31<N>`` and ``32<SS>`` may end in ``#<line number>`` to impair a call to a real line
instead of the robot (``*311#101``: call line 101, drop after page 1).

Separators people type in numbers (spaces, ``-``, ``.``, ``(``, ``)``) are ignored. A line
number is 1 to 20 digits with an optional leading ``+``.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

__all__ = [
    "CODES",
    "Dialed",
    "FarEnd",
    "Impairments",
    "Kind",
    "classify",
    "is_line_number",
    "normalize",
    "special_number",
]

_SEPARATORS = re.compile(r"[\s\-.()]")
_LINE = re.compile(r"^\+?\d{1,20}$")
#: SNR is given in whole dB; outside this range the code is not a valid number.
SNR_RANGE = (0, 99)
#: Pages after which a line can be made to drop.
DROP_RANGE = (1, 999)


class Kind(enum.Enum):
    """What answers (or does not) when a number is dialed."""

    LINE = "line"
    BUSY = "busy"
    NO_ANSWER = "no_answer"
    NO_DIAL_TONE = "no_dial_tone"
    INVALID = "invalid"
    VOICE = "voice"
    ROBOT = "robot"


@dataclass(frozen=True, slots=True)
class Impairments:
    """What the line does to a call: drop after a page, add noise."""

    drop_after_page: int | None = None
    snr_db: float | None = None

    @property
    def any(self) -> bool:
        return self.drop_after_page is not None or self.snr_db is not None


@dataclass(frozen=True, slots=True)
class FarEnd:
    """The capabilities of a robot far end (empty sets mean "everything")."""

    modems: frozenset[str] = frozenset()
    compressions: frozenset[str] = frozenset()
    ecm: bool = True


@dataclass(frozen=True, slots=True)
class Dialed:
    """The classification of one dialed string.

    ``line`` is the line number to ring (``Kind.LINE`` only); ``reason`` says why an
    ``INVALID`` number is invalid, for the call's status text.
    """

    kind: Kind
    line: str = ""
    impairments: Impairments = Impairments()
    far_end: FarEnd = FarEnd()
    reason: str = ""


#: The service codes and what they mean, for documentation and listings.
CODES: dict[str, str] = {
    "10": "busy",
    "11": "rings, never answered",
    "12": "no dial tone",
    "13": "invalid number",
    "20": "a voice answers (not a fax)",
    "30": "fax robot",
    "31<N>": "line drops after page N",
    "32<SS>": "noisy line at SS dB SNR",
    "33": "far end with V.27ter only",
    "34": "far end with MH only and no ECM",
}

_FIXED = {
    "10": Kind.BUSY,
    "11": Kind.NO_ANSWER,
    "12": Kind.NO_DIAL_TONE,
    "13": Kind.INVALID,
    "20": Kind.VOICE,
}


def normalize(number: str) -> str:
    """``number`` without the separators people type (spaces, dashes, dots, parentheses)."""
    return _SEPARATORS.sub("", number)


def is_line_number(number: str) -> bool:
    """True if ``number`` (already normalized) is acceptable as a line's own number."""
    return bool(_LINE.match(number))


def _invalid(reason: str) -> Dialed:
    return Dialed(Kind.INVALID, reason=reason)


def _bounded(digits: str, lo: int, hi: int) -> int | None:
    if not digits.isdigit() or len(digits) > 3:
        return None
    value = int(digits)
    return value if lo <= value <= hi else None


def classify(number: str, prefix: str = "*") -> Dialed:
    """Classify a dialed string. Never raises: anything unusable is ``Kind.INVALID``.

    ``prefix`` is the special-code prefix; an empty prefix turns special codes off, so every
    number is then a line number or invalid.
    """
    dialed = normalize(number)
    if not dialed:
        return _invalid("no number was dialed")
    if prefix and dialed.startswith(prefix):
        return _classify_special(dialed[len(prefix) :])
    if is_line_number(dialed):
        return Dialed(Kind.LINE, line=dialed)
    return _invalid(f"{number!r} is not a telephone number")


def _classify_special(code: str) -> Dialed:
    body, hash_, target = code.partition("#")
    if hash_ and not is_line_number(target):
        return _invalid(f"'#{target}' does not name a line")
    if body in _FIXED:
        if hash_:
            return _invalid(f"service code {body} takes no line")
        kind = _FIXED[body]
        return Dialed(kind, reason="number unobtainable" if kind is Kind.INVALID else "")
    impairments = Impairments()
    far_end = FarEnd()
    if body == "30":
        pass
    elif body == "33":
        far_end = FarEnd(modems=frozenset({"v27ter"}))
    elif body == "34":
        far_end = FarEnd(compressions=frozenset({"mh"}), ecm=False)
    elif body.startswith("31") and (n := _bounded(body[2:], *DROP_RANGE)) is not None:
        impairments = Impairments(drop_after_page=n)
    elif body.startswith("32") and (snr := _bounded(body[2:], *SNR_RANGE)) is not None:
        impairments = Impairments(snr_db=float(snr))
    else:
        return _invalid(f"no service code {body!r}")
    if hash_:
        if not impairments.any:
            return _invalid(f"service code {body} takes no line")
        return Dialed(Kind.LINE, line=target, impairments=impairments)
    return Dialed(Kind.ROBOT, impairments=impairments, far_end=far_end)


def special_number(
    code: str, *, prefix: str = "*", arg: int | None = None, line: str | None = None
) -> str:
    """Build a special number: ``special_number("31", arg=1, line="101") == "*311#101"``."""
    out = f"{prefix}{code}{'' if arg is None else arg}"
    return f"{out}#{line}" if line is not None else out
