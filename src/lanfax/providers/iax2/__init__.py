"""The IAX2 provider: fax lines on an IAX2 peer (an Asterisk PBX, or iaxmodem/HylaFAX).

``frames`` (wire codec), ``call`` and ``endpoint`` (sans-IO state machines) and
``callsetup`` (the sans-IO dial and ring decisions until the answer) have no I/O;
``transport`` and ``provider`` are the asyncio adapters and the device provider. See
docs/iax2.md.
"""

from lanfax.providers.iax2.provider import Iax2Provider

__all__ = ["Iax2Provider"]
