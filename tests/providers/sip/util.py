"""Helpers for SIP provider tests: provider configs and a two-instance setup."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.providers.harness import Harness
from tests.providers.sip.conftest import USERS
from tests.providers.sip.kamailio import Kamailio
from tests.support.ports import reserve_media_ports

from lanfax.providers.sip import SipProvider


def sip_config(k: Kamailio, user: str, **kw: Any) -> dict[str, Any]:
    """An account of ``user`` at Kamailio ``k``; ``kw`` overrides. Its ``media_ports`` (unless
    given) are a range of this test's own, picked at run time: 20 ports per channel."""
    channels = int(kw.get("channels", 2))
    cfg: dict[str, Any] = {
        "type": "sip",
        "registrar": k.address,
        "domain": "lanfax.test",
        "user": user,
        "password": USERS.get(user, "nope"),
        "channels": 2,
        "ring_interval": 0.2,
        "answer_timeout": 8.0,
    }
    cfg.update(kw)
    if "media_ports" not in cfg:
        cfg["media_ports"] = reserve_media_ports(20 * channels)
    return cfg


async def pair(
    k: Kamailio, rx_dir: Path, a: dict[str, Any] | None = None, b: dict[str, Any] | None = None
) -> tuple[Harness, SipProvider, SipProvider]:
    """Provider A (200) and B (201) registered at Kamailio; B answers after one ring."""
    h = Harness(rx_dir)
    pa = SipProvider()
    pb = SipProvider()
    await h.add(pa, sip_config(k, "200", **(a or {})))
    await h.add(pb, sip_config(k, "201", **(b or {})))
    for dev in pb.virtual_devices():
        h.answer_after[dev.local_id] = 1
    return h, pa, pb
