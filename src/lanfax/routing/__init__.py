"""lanfax.routing: the routing-extension API (faxroute.h) and the built-in inbound routes.

The service uses:

- :class:`RoutingManager` (``lanfax.routing.manager``): load extensions, the global method
  order, per-device enable and routing info, :meth:`RoutingManager.route_fax`, and the pure
  :func:`next_retry` backoff for routing jobs;
- :class:`BuiltinRoutes` (``lanfax.routing.builtin``): folder, e-mail, print, web hook;
- :class:`FileSetCallbacks`, :class:`JsonFileStateStore`: ready-made callbacks and state;
- :mod:`lanfax.routing.policy`: block list and page limit for inbound faxes.

Importing this package is cheap; the built-in methods import what they need when used.
"""

from lanfax.routing.api import (
    REDACTED,
    FaxRoute,
    RouteCallbacks,
    RouteResult,
    RoutingConfig,
    RoutingExtension,
    RoutingMethodInfo,
    RoutingStateStore,
    ext_namespace,
    normalize_guid,
)
from lanfax.routing.files import FileSetCallbacks
from lanfax.routing.manager import (
    ENTRY_POINT_GROUP,
    MethodOutcome,
    RoutingManager,
    RoutingOutcome,
    next_retry,
)
from lanfax.routing.policy import BlockList, InboundPolicy, is_blocked, within_page_limit
from lanfax.routing.state import JsonFileStateStore, MemoryStateStore

__all__ = [
    "ENTRY_POINT_GROUP",
    "REDACTED",
    "BlockList",
    "FaxRoute",
    "FileSetCallbacks",
    "InboundPolicy",
    "JsonFileStateStore",
    "MemoryStateStore",
    "MethodOutcome",
    "RouteCallbacks",
    "RouteResult",
    "RoutingConfig",
    "RoutingExtension",
    "RoutingManager",
    "RoutingMethodInfo",
    "RoutingOutcome",
    "RoutingStateStore",
    "ext_namespace",
    "is_blocked",
    "next_retry",
    "normalize_guid",
    "within_page_limit",
]
