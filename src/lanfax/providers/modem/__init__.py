"""The modem provider: Class 1 fax modems on serial ttys (see docs/modem.md)."""

from lanfax.providers.modem.provider import ModemProvider

__all__ = ["ModemProvider"]
