"""Virtual fax lines: an in-process telephone network with real T.30 (spandsp) on it.

The ``lanfax.providers`` entry point ``virtual`` names :class:`VirtualProvider`. See
``docs/providers.md`` for configuration and the special numbers.
"""

from lanfax.providers.virtual.provider import VirtualJob, VirtualLine, VirtualProvider

__all__ = ["VirtualJob", "VirtualLine", "VirtualProvider"]
