"""Drafts (docs/http-api.md, "Drafts"; issue #11), for :class:`Client` and
:class:`AsyncClient`: documents printed to the fax printer with no fax number, kept for
their owner until they are sent, removed or expire.

=======================================  ===============================================
HTTP                                     client
=======================================  ===============================================
GET /drafts                              ``drafts(all=False) -> list[Draft]``
GET /drafts/{id}                         ``draft(id) -> Draft``
GET /drafts/{id}/document                ``draft_document(id) -> bytes``
POST /drafts/{id}/send                   ``send_draft(id, to, **params) -> Broadcast``
DELETE /drafts/{id}                      ``remove_draft(id)``
=======================================  ===============================================
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

from lanfax.client import _submit
from lanfax.client._core import API, Broadcast, Op, Response, _broadcast
from lanfax.model.drafts import Draft
from lanfax.model.jobs import JobParams
from lanfax.model.wire import from_wire

T = TypeVar("T")
Recipients = str | JobParams | Sequence[str | JobParams]


def _draft(item: Mapping[str, Any]) -> Draft:
    return from_wire(Draft, item)


def drafts(everyone: bool = False) -> Op[list[Draft]]:
    query = {"all": "true"} if everyone else {}
    return Op("GET", f"{API}/drafts", lambda r: [_draft(d) for d in r.json()["drafts"]], query)


def draft(draft_id: int) -> Op[Draft]:
    return Op("GET", f"{API}/drafts/{int(draft_id)}", lambda r: _draft(r.json()))


def draft_document(draft_id: int) -> Op[bytes]:
    return Op("GET", f"{API}/drafts/{int(draft_id)}/document", lambda r: r.body)


def send_draft(draft_id: int, to: Recipients, common: Mapping[str, Any]) -> Op[Broadcast]:
    recipients = [to] if isinstance(to, str | JobParams) else list(to)
    body = json.dumps(_submit.build_params(recipients, common)).encode()
    return Op(
        "POST",
        f"{API}/drafts/{int(draft_id)}/send",
        _broadcast,
        body=body,
        content_type="application/json",
    )


def _nothing(r: Response) -> None:
    return None


def remove_draft(draft_id: int) -> Op[None]:
    return Op("DELETE", f"{API}/drafts/{int(draft_id)}", _nothing)


class DraftMixin:
    """The draft calls of the blocking :class:`~lanfax.client.Client`."""

    def _run(self, op: Op[T]) -> T:  # pragma: no cover - provided by the client
        raise NotImplementedError

    def drafts(self, *, all: bool = False) -> list[Draft]:
        """Your drafts, newest first (``all=True``: everyone's, with the right query_jobs)."""
        return self._run(drafts(all))

    def draft(self, draft_id: int) -> Draft:
        return self._run(draft(draft_id))

    def draft_document(self, draft_id: int) -> bytes:
        """The draft's document as it was printed (PDF, PostScript, ...)."""
        return self._run(draft_document(draft_id))

    def send_draft(self, draft_id: int, to: Recipients, **params: Any) -> Broadcast:
        """Fax the draft to ``to`` (one number, JobParams, or several: a broadcast) with the
        common ``params`` of :meth:`send`; the draft is gone once the jobs are queued."""
        return self._run(send_draft(draft_id, to, params))

    def remove_draft(self, draft_id: int) -> None:
        self._run(remove_draft(draft_id))


class AsyncDraftMixin:
    """The draft calls of :class:`~lanfax.client.AsyncClient`."""

    async def _run(self, op: Op[T]) -> T:  # pragma: no cover - provided by the client
        raise NotImplementedError

    async def drafts(self, *, all: bool = False) -> list[Draft]:
        return await self._run(drafts(all))

    async def draft(self, draft_id: int) -> Draft:
        return await self._run(draft(draft_id))

    async def draft_document(self, draft_id: int) -> bytes:
        return await self._run(draft_document(draft_id))

    async def send_draft(self, draft_id: int, to: Recipients, **params: Any) -> Broadcast:
        return await self._run(send_draft(draft_id, to, params))

    async def remove_draft(self, draft_id: int) -> None:
        await self._run(remove_draft(draft_id))
