"""The ``sip`` provider: fax over a SIP trunk or PBX, as T.38 (UDPTL) or G.711 audio.

Sans-IO core: :mod:`.message` (parse/serialise), :mod:`.transaction` (RFC 3261 §17),
:mod:`.dialog`, :mod:`.auth` (digest), :mod:`.sdp` (offer/answer with T.38), :mod:`.udptl`
and :mod:`.rtp`; a call's signalling in :mod:`.invite` (our INVITE: digest, answer deadline,
CANCEL) and :mod:`.callcore` (T.38 switch and glare, RFC 4028 timers, in-dialog requests,
CANCEL, hang-up), with their :mod:`.actions`. The asyncio side: :mod:`.transport`,
:mod:`.media`, :mod:`.call` and :mod:`.useragent` (the calls' adapters), :mod:`.provider`.
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
