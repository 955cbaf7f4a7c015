"""What a caller may see of other people's calls (issue #14, item 14: leaks past the
own-jobs rule)."""

from __future__ import annotations

import dataclasses
from typing import Any
from urllib.parse import urlsplit

from lanfax.model.codes import AccessRightEx
from lanfax.model.devices import DeviceStatusInfo
from lanfax.service.rights import Caller


def private_status(info: DeviceStatusInfo, caller: Caller) -> DeviceStatusInfo:
    """A device's live status as ``caller`` may see it (issue #14, item 14): the numbers,
    names and user of the call on it are shown to a caller who may see every job
    (query_jobs), or whose own job it is; others see the device's state and page count."""
    if caller.holds(AccessRightEx.QUERY_JOBS) or (info.user_name and info.user_name == caller.user):
        return info
    return dataclasses.replace(
        info,
        caller_id="",
        document_name="",
        phone_number="",
        routing_string="",
        sender_name="",
        recipient_name="",
        tsid="",
        user_name="",
    )


#: As the routing room redacts secrets (lanfax.routing.api.REDACTED).
REDACTED = "********"
#: Routing info fields that say who receives the faxes or how to log in.
_ROUTING_PRIVATE = ("username", "to", "from")


def routing_view(info: dict[str, Any]) -> dict[str, Any]:
    """Routing info as a caller who may only query ports sees it: a web hook's URL without
    its user info, path and query (which often carry a token), the mail route's addresses
    and user name redacted. (Secrets are redacted for everyone already.)"""
    out = dict(info)
    url = out.get("url")
    if isinstance(url, str) and url:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
        out["url"] = f"{parts.scheme}://{host}{port}/{REDACTED}"
    for key in _ROUTING_PRIVATE:
        if out.get(key):
            out[key] = REDACTED
    return out
