"""The IAX2 provider: fax lines on an IAX2 peer (an Asterisk PBX, or iaxmodem/HylaFAX).

``frames`` (wire codec), ``call`` and ``endpoint`` (sans-IO state machines) have no I/O;
``provider`` is the asyncio adapter and the device provider. See docs/iax2.md.
"""

from lanfax.providers.iax2.provider import Iax2Provider

__all__ = ["Iax2Provider"]
