"""Inbound policy helpers (pure): a block list of caller ids / TSIDs with wildcards, and a
maximum page count. The service asks these before accepting and before routing a fax."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from lanfax.model.errors import ConfigError

#: Characters a block-list pattern may use: what phone numbers and TSIDs are made of, plus
#: the wildcards ``*`` (any run, also empty) and ``?`` (one character).
_NOT_DIGIT = re.compile(r"[^0-9+*?#]")
MAX_PATTERN = 64


def _normalize_number(s: str) -> str:
    """``+1 (555) 010-0000`` -> ``+15550100000``: spaces, dashes, dots, parentheses go."""
    return _NOT_DIGIT.sub("", s)


def _compile(pattern: str) -> re.Pattern[str]:
    parts = []
    for c in pattern:
        parts.append(".*" if c == "*" else "." if c == "?" else re.escape(c))
    return re.compile("".join(parts), re.IGNORECASE | re.DOTALL)


def check_pattern(pattern: Any) -> str:
    """Validate one block-list pattern; returns it stripped. ConfigError with a hint."""
    hint = "e.g. +1555*, 0900*, *SPAM*, or an exact number; * matches any run, ? one character"
    if not isinstance(pattern, str):
        raise ConfigError(f"{pattern!r} is not a pattern", hint=hint)
    p = pattern.strip()
    if not p or (p.strip("*?") == "" and "*" in p):
        raise ConfigError(f"{pattern!r} would block every fax", hint=hint)
    if len(p) > MAX_PATTERN:
        raise ConfigError(f"the pattern {p[:20]!r}... is too long", hint=f"at most {MAX_PATTERN}")
    if not all((c.isalnum() and c.isascii()) or c in " +#().,_@/-*?" for c in p):
        raise ConfigError(f"{pattern!r} contains characters no number or TSID has", hint=hint)
    return p


@dataclass(frozen=True, slots=True)
class BlockList:
    """Caller ids and TSIDs that are refused.

    A pattern matches the whole value, case-insensitively, either as written or with both
    sides reduced to digits, ``+``, ``#`` and wildcards when the pattern has no letters (so
    ``+1 555 *`` blocks ``+1-555-0100``). An empty value (no caller id, no TSID) is never
    blocked by a pattern.
    """

    patterns: tuple[str, ...] = ()

    @classmethod
    def from_patterns(cls, patterns: Iterable[str]) -> BlockList:
        if isinstance(patterns, str):
            raise ConfigError("the block list must be a list", hint='e.g. ["0900*", "*SPAM*"]')
        checked: list[str] = []
        for i, p in enumerate(patterns):
            try:
                checked.append(check_pattern(p))
            except ConfigError as exc:
                raise ConfigError(
                    f"block list entry {i + 1}: {exc.message}", hint=exc.hint
                ) from None
        return cls(tuple(dict.fromkeys(checked)))

    def match(self, caller_id: str, tsid: str) -> str | None:
        """The first pattern that blocks this caller id or TSID, or None."""
        for p in self.patterns:
            rx = _compile(p)
            digits = _normalize_number(p)
            # Only a pattern that is a number is compared as digits: "ACME 5*" must not
            # block every number starting with 5.
            is_number = not any(c.isalpha() for c in p) and digits.strip("*?")
            rx_digits = _compile(digits) if is_number else None
            for value in (caller_id, tsid):
                v = (value or "").strip()
                if not v:
                    continue
                if rx.fullmatch(v):
                    return p
                nv = _normalize_number(v)
                if rx_digits is not None and nv and rx_digits.fullmatch(nv):
                    return p
        return None

    def is_blocked(self, caller_id: str, tsid: str) -> bool:
        return self.match(caller_id, tsid) is not None


def is_blocked(caller_id: str, tsid: str, patterns: Iterable[str]) -> bool:
    """Whether ``caller_id`` or ``tsid`` matches one of ``patterns`` (see :class:`BlockList`)."""
    return BlockList.from_patterns(patterns).is_blocked(caller_id, tsid)


def within_page_limit(page_count: int, max_pages: int | None) -> bool:
    """Whether a fax of ``page_count`` pages is acceptable (``max_pages`` None or 0 = no limit)."""
    if page_count < 0:
        raise ValueError("page_count cannot be negative")
    return not max_pages or page_count <= max_pages


@dataclass(frozen=True, slots=True)
class InboundPolicy:
    """The inbound policy as configured: ``{"block": [...], "max_pages": N}``."""

    block: BlockList = BlockList()
    max_pages: int | None = None

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> InboundPolicy:
        unknown = sorted(set(values) - {"block", "max_pages"})
        if unknown:
            raise ConfigError(
                f"unknown inbound policy settings: {', '.join(unknown)}",
                hint="known settings: block, max_pages",
            )
        mp = values.get("max_pages")
        if mp is not None and (isinstance(mp, bool) or not isinstance(mp, int) or mp < 0):
            raise ConfigError(
                f"max_pages {mp!r} is not a page count", hint="use a whole number, 0 for no limit"
            )
        return cls(BlockList.from_patterns(values.get("block", [])), mp or None)

    def refusal(self, caller_id: str, tsid: str, page_count: int | None = None) -> str | None:
        """Why a fax is refused (blocked, too long), or None when it is acceptable."""
        hit = self.block.match(caller_id, tsid)
        if hit is not None:
            return f"caller {caller_id or tsid!r} matches the block list entry {hit!r}"
        if page_count is not None and not within_page_limit(page_count, self.max_pages):
            return f"{page_count} pages is more than the limit of {self.max_pages}"
        return None
