"""A small IPP client for tests, over lanfax's own codec and httpx (the CUPS tools are
exercised separately in tests/ipp/test_cups.py)."""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from typing import Any

import httpx

from lanfax.service.ipp.codec import (
    Attribute,
    Group,
    GroupTag,
    Message,
    Tag,
    Value,
    attr,
    collection,
    decode,
    encode,
)
from lanfax.service.ipp.model import Op

_ids = itertools.count(1)


def tel(*numbers: str, pre: str = "") -> Attribute:
    """destination-uris for ``numbers``."""
    values = []
    for n in numbers:
        members = [attr("destination-uri", Tag.URI, f"tel:{n}")]
        if pre:
            members.append(attr("pre-dial-string", Tag.TEXT, pre))
        values.append(collection(*members))
    return Attribute("destination-uris", tuple(values))


def cover(**fields: str) -> Attribute:
    return Attribute(
        "cover-sheet-info",
        (collection(*(attr(k.replace("_", "-"), Tag.TEXT, v) for k, v in fields.items())),),
    )


def request(
    op: Op,
    printer_uri: str,
    operation: Iterable[Attribute] = (),
    job: Iterable[Attribute] = (),
    data: bytes = b"",
    user: str = "tester",
) -> Message:
    ops = [
        attr("attributes-charset", Tag.CHARSET, "utf-8"),
        attr("attributes-natural-language", Tag.LANGUAGE, "en"),
        attr("printer-uri", Tag.URI, printer_uri),
        attr("requesting-user-name", Tag.NAME, user),
        *operation,
    ]
    groups = [Group(GroupTag.OPERATION, tuple(ops))]
    job_attrs = tuple(job)
    if job_attrs:
        groups.append(Group(GroupTag.JOB, job_attrs))
    return Message((2, 0), int(op), next(_ids), tuple(groups), data)


class IppClient:
    """POSTs IPP requests to ``url`` (``http://HOST:PORT/ipp/faxout``)."""

    def __init__(self, url: str, headers: dict[str, str] | None = None) -> None:
        self.url = url
        self.printer_uri = url.replace("http://", "ipp://").replace("https://", "ipps://")
        self.headers = headers or {}

    def post(self, msg: Message | bytes, **kw: Any) -> httpx.Response:
        body = encode(msg) if isinstance(msg, Message) else msg
        return httpx.post(
            self.url,
            content=body,
            headers={"Content-Type": "application/ipp", **self.headers},
            timeout=kw.pop("timeout", 60),
            **kw,
        )

    def call(
        self,
        op: Op,
        operation: Iterable[Attribute] = (),
        job: Iterable[Attribute] = (),
        data: bytes = b"",
    ) -> Message:
        r = self.post(request(op, self.printer_uri, operation, job, data))
        assert r.status_code == 200, (r.status_code, r.text)
        assert r.headers["content-type"] == "application/ipp"
        return decode(r.content)


def value(msg: Message, tag: int, name: str) -> Any:
    for g in msg.groups:
        if g.tag == tag and (a := g.get(name)) is not None:
            return a.values[0].value
    raise KeyError(name)


def values(msg: Message, tag: int, name: str) -> list[Any]:
    for g in msg.groups:
        if g.tag == tag and (a := g.get(name)) is not None:
            return [v.value for v in a.values]
    raise KeyError(name)


def status_message(msg: Message) -> str:
    return str(value(msg, GroupTag.OPERATION, "status-message"))


__all__ = ["IppClient", "Value", "cover", "request", "status_message", "tel", "value", "values"]
