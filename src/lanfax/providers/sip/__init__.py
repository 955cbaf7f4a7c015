"""The ``sip`` provider: fax over a SIP trunk or PBX, as T.38 (UDPTL) or G.711 audio.

Sans-IO core: :mod:`.message` (parse/serialise), :mod:`.transaction` (RFC 3261 §17),
:mod:`.dialog`, :mod:`.auth` (digest), :mod:`.sdp` (offer/answer with T.38), :mod:`.udptl`
and :mod:`.rtp`. The asyncio side: :mod:`.transport`, :mod:`.media`, :mod:`.provider`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lanfax.providers.sip.provider import SipProvider

__all__ = ["SipProvider"]


def __getattr__(name: str) -> Any:
    # The provider pulls in asyncio and the engine; the sans-IO core should not need to.
    if name == "SipProvider":
        from lanfax.providers.sip.provider import SipProvider

        return SipProvider
    raise AttributeError(name)
