"""What a caller may see of other people's calls (issue #14, item 14: leaks past the
own-jobs rule)."""

from __future__ import annotations

import dataclasses

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
