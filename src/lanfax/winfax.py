"""The Windows 2000 fax client API under its Windows names: see :mod:`lanfax.client.winfax`."""

from lanfax.client.faxserver import FaxDocument, FaxJob, FaxPort, FaxServer
from lanfax.client.winfax import *  # noqa: F403
from lanfax.client.winfax import GetLastError
from lanfax.client.winfax import __all__ as _winfax_all

__all__ = [*_winfax_all, "FaxDocument", "FaxJob", "FaxPort", "FaxServer", "GetLastError"]
