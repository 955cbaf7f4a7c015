"""Registering a device provider or a routing extension on the server from a client
(``FaxRegisterServiceProvider``, ``FaxRegisterRoutingExtension``; split out of
``client/winfax.py``, which re-exports both)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from lanfax.client import _core as c
from lanfax.client._sync import Client
from lanfax.client.winfax_base import _api, _server
from lanfax.model.errors import FaxError, Unavailable

__all__ = [
    "FAX_ROUTING_INSTALLATION_CALLBACK",
    "FaxRegisterRoutingExtension",
    "FaxRegisterServiceProvider",
]

FAX_ROUTING_INSTALLATION_CALLBACK = Callable[[Any, Any], "tuple[str, str, str, str] | None"]


@_api
def FaxRegisterServiceProvider(
    DeviceProvider: str, FriendlyName: str, ImageName: str, TspName: str = ""
) -> bool:
    """Ask the server (LANFAX_SERVER) to register a device provider
    (``POST /api/v1/providers``, administrators only). ``ImageName`` names a provider class
    installed on the server, ``"module.path:ClassName"`` or an entry-point name (nothing is
    uploaded); ``DeviceProvider`` becomes a provider type the server's TOML may name. A
    server too old to register fails with ERROR_NOT_SUPPORTED and a hint to install an
    entry point instead."""
    body = {
        "name": DeviceProvider,
        "friendly_name": FriendlyName,
        "image_name": ImageName,
        "tsp_name": TspName,
    }
    op = c.Op(
        "POST",
        f"{c.API}/providers",
        c._none,
        body=c.json_body(body)[0],
        content_type="application/json",
        on_error=_register_unsupported(
            f'[project.entry-points."lanfax.providers"] {DeviceProvider} = "{ImageName}"'
        ),
    )
    with Client() as client:
        client._run(op)
    return True


@_api
def FaxRegisterRoutingExtension(
    FaxHandle: Any,
    ExtensionName: str,
    FriendlyName: str,
    ImageName: str,
    CallBack: FAX_ROUTING_INSTALLATION_CALLBACK,
    Context: Any = None,
) -> bool:
    """Collect the extension's methods by calling ``CallBack(FaxHandle, Context)`` until it
    returns None/False (each call returns ``(MethodName, FriendlyName, FunctionName, Guid)``),
    then register them (``POST /api/v1/routing/extensions``, administrators only).
    ``ImageName`` is the ``"module.path:ClassName"`` of a RoutingExtension installed on the
    server and ``ExtensionName`` its name; the methods given must be the class's own. The
    extension is loaded and initialised at once. A server too old to register fails with
    ERROR_NOT_SUPPORTED."""
    server = _server(FaxHandle)
    methods = []
    while True:
        got = CallBack(FaxHandle, Context)
        if not got:
            break
        method_name, friendly, function, guid = got
        methods.append(
            {
                "method_name": method_name,
                "friendly_name": friendly,
                "function_name": function,
                "guid": guid,
            }
        )
    body = {
        "name": ExtensionName,
        "friendly_name": FriendlyName,
        "image_name": ImageName,
        "methods": methods,
    }
    op = c.routing_op("POST", "/extensions", c._none, body=body)
    server.client._run(op)
    return True


def _register_unsupported(entry_point: str) -> Callable[[FaxError, c.Response], FaxError]:
    def better(err: FaxError, resp: c.Response) -> FaxError:
        if resp.status in (404, 405):
            return Unavailable(
                "this lanfax server cannot register providers at run time",
                hint=f"install the provider as a Python package with the entry point "
                f"{entry_point} and name it in the server's TOML",
                unsupported=True,
            )
        return err

    return better
