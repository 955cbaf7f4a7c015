"""Retry recipes: how the next call to a number is carried after a failed fax to it.

A fax that fails over VoIP often fails for a reason of the path (a gateway that mangles
T.38, a lossy G.711 leg, a far machine that chokes on V.17 or on ECM), and the same call
again fails again. So after a failure *after the far end answered* (or a 488: no common
media) the next attempt to that number changes the recipe, in a cycle:

1. ``default``: the account's settings;
2. ``media-swapped``: the other medium than the failed attempt used: no T.38 after a T.38
   failure; after a G.711 failure the caller offers T.38 itself once the call is up;
3. ``slow-ecm-toggled``: top speed 9600 bit/s (no V.17, ``T38MaxBitRate`` 9600) and ECM
   flipped;

then ``default`` again. A success resets the number. Busy, no answer or a bad number say
nothing about the fax path and leave the recipe as it is. Pure code, no I/O.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

__all__ = ["RECIPE_NAMES", "Recipe", "RecipeBook", "recipe_for"]

RECIPE_NAMES = ("default", "media-swapped", "slow-ecm-toggled")
#: Numbers remembered (least recently failed forgotten first): a bound, not a policy.
MAX_NUMBERS = 10_000


@dataclass(frozen=True, slots=True)
class Recipe:
    name: str
    #: "config": as the account says; "never": refuse T.38 (answer 488 to a T.38 offer);
    #: "offer": the caller offers T.38 by re-INVITE after the ACK.
    t38: str = "config"
    max_bit_rate: int | None = None
    toggle_ecm: bool = False


DEFAULT = Recipe("default")


def recipe_for(failures: int, last_media: str) -> Recipe:
    """The recipe after ``failures`` failed faxes in a row, the last one on ``last_media``
    ("t38", "audio" or "none")."""
    name = RECIPE_NAMES[failures % len(RECIPE_NAMES)]
    if name == "media-swapped":
        return Recipe(name, t38="never" if last_media == "t38" else "offer")
    if name == "slow-ecm-toggled":
        return Recipe(name, max_bit_rate=9600, toggle_ecm=True)
    return DEFAULT


class RecipeBook:
    """Failed attempts per number, and the recipe of the next call to it."""

    def __init__(self) -> None:
        self._failures: OrderedDict[str, tuple[int, str]] = OrderedDict()

    def next_for(self, number: str) -> Recipe:
        failures, media = self._failures.get(number, (0, "none"))
        return recipe_for(failures, media)

    def failed(self, number: str, media: str) -> None:
        failures, _ = self._failures.pop(number, (0, "none"))
        self._failures[number] = (failures + 1, media)
        while len(self._failures) > MAX_NUMBERS:
            self._failures.popitem(last=False)

    def succeeded(self, number: str) -> None:
        self._failures.pop(number, None)
