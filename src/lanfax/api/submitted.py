"""The body of a submission's 201 answer, written straight to JSON (#19 wave 8).

``POST /api/v1/jobs`` answers ``{"broadcast_id": ..., "jobs": [...]}``, which
:func:`lanfax.api.encode.json_response` makes in two passes: every job to a dict of wire
values (:func:`lanfax.model.wire.to_wire`), then the whole through :func:`json.dumps`. That
was 8.5 % of the main process's loop under 8 submitting clients (py-spy ``--gil``), on the
one process every submission passes through. :func:`submitted_body` writes the same bytes in
one pass over each job's fields: a string through the json module's own C escaper (the one
``json.dumps`` uses with ``ensure_ascii``), an int as ``json.dumps`` writes it, an enum's or
a datetime's wire string quoted once per value, and any other value (a dict, a cover page,
a float) through ``json.dumps(to_wire(value))`` as before. ``tests/api/test_submitted.py``
compares its bytes with ``json_response``'s for many jobs and with the route's own answer.
"""

from __future__ import annotations

import dataclasses
import enum
import json
from collections.abc import Callable, Sequence
from datetime import datetime
from json.encoder import encode_basestring_ascii
from typing import Any

from starlette.responses import Response

from lanfax.model.jobs import Job
from lanfax.model.wire import datetime_to_wire, to_wire

_quote: Callable[[str], str] = encode_basestring_ascii
#: Each field's key as it starts its member (``"name":``), in the dataclass's order (the
#: order to_wire and json.dumps give).
_KEYS = tuple((f.name, _quote(f.name) + ":") for f in dataclasses.fields(Job))
#: An enum member's JSON, by its type and itself (two IntEnums' members of one value are
#: equal: the type tells them apart), filled as members are first seen.
_ENUMS: dict[tuple[type, enum.Enum], str] = {}


def _other(value: Any) -> str:
    """A value that is not a str, an int, a bool or None: as json_response writes it."""
    if isinstance(value, enum.Enum):
        key = (type(value), value)
        try:
            return _ENUMS[key]
        except KeyError:
            text = _ENUMS[key] = json.dumps(to_wire(value), separators=(",", ":"))
            return text
    if type(value) is datetime:
        return _quote(datetime_to_wire(value))
    return json.dumps(to_wire(value), separators=(",", ":"))


def job_json(job: Job) -> str:
    """``job`` as ``json.dumps(to_wire(job), separators=(",", ":"))`` writes it."""
    parts = []
    for name, key in _KEYS:
        value = getattr(job, name)
        kind = type(value)
        if kind is str:
            parts.append(key + _quote(value))
        elif kind is int:
            parts.append(key + int.__repr__(value))
        elif value is None:
            parts.append(key + "null")
        elif kind is bool:
            parts.append(key + ("true" if value else "false"))
        else:
            parts.append(key + _other(value))
    return "{" + ",".join(parts) + "}"


def submitted_body(broadcast_id: str, jobs: Sequence[Job]) -> str:
    """The 201's JSON: what ``json_response({"broadcast_id": ..., "jobs": jobs})`` writes."""
    inner = ",".join(job_json(job) for job in jobs)
    return '{"broadcast_id":' + _quote(broadcast_id) + ',"jobs":[' + inner + "]}"


def submitted(broadcast_id: str, jobs: Sequence[Job]) -> Response:
    """The submission's 201 answer (the response json_response makes of the same value)."""
    return Response(
        submitted_body(broadcast_id, jobs), status_code=201, media_type="application/json"
    )
