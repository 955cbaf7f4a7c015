"""The archives and the activity log (docs/http-api.md "Archives and the activity log") for
:class:`Client` and :class:`AsyncClient`: the Ops and one mixin per client.

=======================================  ===============================================
HTTP                                     client
=======================================  ===============================================
GET /archive/{direction}                 ``archive(direction, ...) -> ArchivePage``
GET /archive/{direction}/{id}            ``archived(direction, id) -> ArchiveEntry``
GET /archive/{direction}/{id}/document   ``archived_document(direction, id, format=) -> bytes``
DELETE /archive/{direction}/{id}         ``delete_archived(direction, id)``
GET/PATCH /archive/config                ``archive_config()``, ``set_archive_config(changes)``
GET /activity.csv                        ``activity_csv(since=, until=) -> str``
=======================================  ===============================================

``direction`` is ``"incoming"`` or ``"outgoing"``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from lanfax.client._core import API, Op, Response, json_body
from lanfax.model.archive import ArchiveEntry
from lanfax.model.errors import InvalidInput
from lanfax.model.wire import datetime_to_wire, from_wire

T = TypeVar("T")
DIRECTIONS = ("incoming", "outgoing")


@dataclass(frozen=True, slots=True)
class ArchivePage:
    """One page of a search, newest first, and the cursor of the next (None at the end)."""

    entries: list[ArchiveEntry]
    next: str | None


def _base(direction: str) -> str:
    if direction not in DIRECTIONS:
        raise InvalidInput(f"unknown archive {direction!r}", hint="use incoming or outgoing")
    return f"{API}/archive/{direction}"


def archive_page(r: Response) -> ArchivePage:
    """An archive page (``/archive/{direction}``, ``/accounts/{name}/archive``)."""
    data = r.json()
    return ArchivePage([from_wire(ArchiveEntry, e) for e in data["entries"]], data.get("next"))


def archive(
    direction: str,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    number: str = "",
    ident: str = "",
    user: str = "",
    limit: int = 50,
    cursor: str = "",
) -> Op[ArchivePage]:
    query = {"limit": str(limit)}
    for key, value in (("number", number), ("ident", ident), ("user", user), ("cursor", cursor)):
        if value:
            query[key] = value
    if since is not None:
        query["since"] = datetime_to_wire(since)
    if until is not None:
        query["until"] = datetime_to_wire(until)
    return Op("GET", _base(direction), archive_page, query=query)


def archived(direction: str, archive_id: int) -> Op[ArchiveEntry]:
    return Op(
        "GET", f"{_base(direction)}/{int(archive_id)}", lambda r: from_wire(ArchiveEntry, r.json())
    )


def archived_document(direction: str, archive_id: int, fmt: str) -> Op[bytes]:
    return Op(
        "GET",
        f"{_base(direction)}/{int(archive_id)}/document",
        lambda r: r.body,
        query={"format": fmt},
    )


def delete_archived(direction: str, archive_id: int) -> Op[None]:
    return Op("DELETE", f"{_base(direction)}/{int(archive_id)}", lambda r: None)


def archive_config() -> Op[dict[str, Any]]:
    return Op("GET", f"{API}/archive/config", lambda r: dict(r.json()))


def set_archive_config(changes: Mapping[str, Any]) -> Op[dict[str, Any]]:
    body, ctype = json_body(dict(changes))
    return Op(
        "PATCH", f"{API}/archive/config", lambda r: dict(r.json()), body=body, content_type=ctype
    )


def activity_csv(since: datetime | None, until: datetime | None) -> Op[str]:
    query = {}
    if since is not None:
        query["since"] = datetime_to_wire(since)
    if until is not None:
        query["until"] = datetime_to_wire(until)
    return Op("GET", f"{API}/activity.csv", lambda r: r.body.decode("utf-8"), query=query)


class ArchiveMixin:
    """The archive calls of the blocking :class:`~lanfax.client.Client`."""

    def _run(self, op: Op[T]) -> T:  # pragma: no cover - provided by the client
        raise NotImplementedError

    def archive(self, direction: str, **query: Any) -> ArchivePage:
        """One page of the ``incoming`` or ``outgoing`` archive, newest first; ``query``:
        since, until, number (prefix), ident (prefix), user, limit, cursor."""
        return self._run(archive(direction, **query))

    def archived(self, direction: str, archive_id: int) -> ArchiveEntry:
        return self._run(archived(direction, archive_id))

    def archived_document(self, direction: str, archive_id: int, *, fmt: str = "tiff") -> bytes:
        return self._run(archived_document(direction, archive_id, fmt))

    def delete_archived(self, direction: str, archive_id: int) -> None:
        self._run(delete_archived(direction, archive_id))

    def archive_config(self) -> dict[str, Any]:
        return self._run(archive_config())

    def set_archive_config(self, changes: Mapping[str, Any]) -> dict[str, Any]:
        return self._run(set_archive_config(changes))

    def activity_csv(self, *, since: datetime | None = None, until: datetime | None = None) -> str:
        return self._run(activity_csv(since, until))


class AsyncArchiveMixin:
    """The archive calls of :class:`~lanfax.client.AsyncClient`."""

    async def _run(self, op: Op[T]) -> T:  # pragma: no cover - provided by the client
        raise NotImplementedError

    async def archive(self, direction: str, **query: Any) -> ArchivePage:
        return await self._run(archive(direction, **query))

    async def archived(self, direction: str, archive_id: int) -> ArchiveEntry:
        return await self._run(archived(direction, archive_id))

    async def archived_document(
        self, direction: str, archive_id: int, *, fmt: str = "tiff"
    ) -> bytes:
        return await self._run(archived_document(direction, archive_id, fmt))

    async def delete_archived(self, direction: str, archive_id: int) -> None:
        await self._run(delete_archived(direction, archive_id))

    async def archive_config(self) -> dict[str, Any]:
        return await self._run(archive_config())

    async def set_archive_config(self, changes: Mapping[str, Any]) -> dict[str, Any]:
        return await self._run(set_archive_config(changes))

    async def activity_csv(
        self, *, since: datetime | None = None, until: datetime | None = None
    ) -> str:
        return await self._run(activity_csv(since, until))
