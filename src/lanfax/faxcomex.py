"""The Fax Service Extended COM API under its Windows names: see
:mod:`lanfax.client.faxcomex` and docs/faxcomex.md."""

from lanfax.client.faxcomex import *  # noqa: F403
from lanfax.client.faxcomex import __all__ as __all__
