"""Cover page templates (docs/http-api.md, "Cover pages"), for :class:`Client` and
:class:`AsyncClient`: the Ops, and one mixin per client that runs them.

=======================================  ===============================================
HTTP                                     client
=======================================  ===============================================
GET /covers                              ``covers() -> list[CoverTemplate]``
PUT /covers/{scope}/{name}               ``add_cover(name, data, scope=) -> CoverTemplate``
DELETE /covers/{scope}/{name}            ``remove_cover(name, scope=)``
GET /covers/{scope}/{name}/preview       ``cover_preview(name, scope=) -> bytes`` (PDF)
=======================================  ===============================================

``scope`` is ``"personal"`` (your own templates, the default) or ``"server"`` (the server's,
changed by administrators: right manage_config).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

from lanfax.client._core import API, Op, Response
from lanfax.model.errors import InvalidInput

T = TypeVar("T")
SCOPES = ("personal", "server")


@dataclass(frozen=True, slots=True)
class CoverTemplate:
    """A cover page template on the server: ``kind`` is ``pdf``, ``txt`` or ``builtin``."""

    name: str
    scope: str
    kind: str


def _one(item: dict[str, str]) -> CoverTemplate:
    return CoverTemplate(str(item["name"]), str(item["scope"]), str(item["kind"]))


def _path(name: str, scope: str) -> str:
    from urllib.parse import quote

    if scope not in SCOPES:
        raise InvalidInput(f"unknown cover page scope {scope!r}", hint="use personal or server")
    if not name:
        raise InvalidInput("a cover page template needs a name", hint="e.g. memo")
    return f"{API}/covers/{scope}/{quote(name, safe='')}"


def covers() -> Op[list[CoverTemplate]]:
    return Op("GET", f"{API}/covers", lambda r: [_one(t) for t in r.json()["templates"]])


def add_cover(name: str, data: bytes, scope: str = "personal") -> Op[CoverTemplate]:
    kind = "application/pdf" if data.startswith(b"%PDF") else "text/plain; charset=utf-8"
    return Op("PUT", _path(name, scope), lambda r: _one(r.json()), body=data, content_type=kind)


def _nothing(r: Response) -> None:
    return None


def remove_cover(name: str, scope: str = "personal") -> Op[None]:
    return Op("DELETE", _path(name, scope), _nothing)


def cover_preview(name: str, scope: str = "server") -> Op[bytes]:
    return Op("GET", _path(name, scope) + "/preview", lambda r: r.body)


class CoverMixin:
    """The cover page template calls of the blocking :class:`~lanfax.client.Client`."""

    def _run(self, op: Op[T]) -> T:  # pragma: no cover - provided by the client
        raise NotImplementedError

    def covers(self) -> list[CoverTemplate]:
        """The server's templates (with the built-in ``default``), then your personal ones."""
        return self._run(covers())

    def add_cover(self, name: str, data: bytes, *, scope: str = "personal") -> CoverTemplate:
        """Upload a template (a PDF form or UTF-8 text with ``{placeholders}``), replacing
        one of the same name; the server renders it with sample data first (DocumentError)."""
        return self._run(add_cover(name, data, scope))

    def remove_cover(self, name: str, *, scope: str = "personal") -> None:
        self._run(remove_cover(name, scope))

    def cover_preview(self, name: str, *, scope: str = "server") -> bytes:
        """The template filled with sample data, as PDF bytes."""
        return self._run(cover_preview(name, scope))


class AsyncCoverMixin:
    """The cover page template calls of :class:`~lanfax.client.AsyncClient`."""

    async def _run(self, op: Op[T]) -> T:  # pragma: no cover - provided by the client
        raise NotImplementedError

    async def covers(self) -> list[CoverTemplate]:
        return await self._run(covers())

    async def add_cover(self, name: str, data: bytes, *, scope: str = "personal") -> CoverTemplate:
        return await self._run(add_cover(name, data, scope))

    async def remove_cover(self, name: str, *, scope: str = "personal") -> None:
        await self._run(remove_cover(name, scope))

    async def cover_preview(self, name: str, *, scope: str = "server") -> bytes:
        return await self._run(cover_preview(name, scope))
