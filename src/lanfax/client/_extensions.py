"""Registration and extension data (docs/http-api.md "Registration and extension data") for
:class:`Client` and :class:`AsyncClient`: the Ops and one mixin per client.

=======================================  ===============================================
HTTP                                     client
=======================================  ===============================================
GET/POST /providers, DELETE /{name}      ``providers()``, ``register_provider(...)``,
                                         ``unregister_provider(name)``
GET/POST /routing/extensions, DELETE     ``routing_extensions()``,
                                         ``register_routing_extension(...)``, ``unregister_...``
GET/PUT /extension-data/{guid}           ``extension_data(guid, device_id=0) -> dict``,
                                         ``set_extension_data(guid, data, device_id=0)``
=======================================  ===============================================
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TypeVar
from urllib.parse import quote

from lanfax.client._core import API, Op, json_body

T = TypeVar("T")


def _post(path: str, body: Mapping[str, Any]) -> Op[dict[str, Any]]:
    data, ctype = json_body(dict(body))
    return Op("POST", path, lambda r: dict(r.json()), body=data, content_type=ctype)


def providers() -> Op[list[dict[str, Any]]]:
    return Op("GET", f"{API}/providers", lambda r: list(r.json()["providers"]))


def register_provider(body: Mapping[str, Any]) -> Op[dict[str, Any]]:
    return _post(f"{API}/providers", body)


def unregister_provider(name: str) -> Op[None]:
    return Op("DELETE", f"{API}/providers/{quote(name, safe='')}", lambda r: None)


def routing_extensions() -> Op[list[dict[str, Any]]]:
    return Op("GET", f"{API}/routing/extensions", lambda r: list(r.json()["extensions"]))


def register_routing_extension(body: Mapping[str, Any]) -> Op[dict[str, Any]]:
    return _post(f"{API}/routing/extensions", body)


def unregister_routing_extension(name: str) -> Op[None]:
    return Op("DELETE", f"{API}/routing/extensions/{quote(name, safe='')}", lambda r: None)


def extension_data(guid: str, device_id: int) -> Op[dict[str, Any]]:
    return Op(
        "GET",
        f"{API}/extension-data/{quote(guid, safe='')}",
        lambda r: dict(r.json()["data"]),
        query={"device_id": str(int(device_id))},
    )


def set_extension_data(guid: str, data: Mapping[str, Any], device_id: int) -> Op[dict[str, Any]]:
    body, ctype = json_body(dict(data))
    return Op(
        "PUT",
        f"{API}/extension-data/{quote(guid, safe='')}",
        lambda r: dict(r.json()),
        query={"device_id": str(int(device_id))},
        body=body,
        content_type=ctype,
    )


def _provider_body(
    name: str, image_name: str, friendly_name: str, config: Mapping[str, Any] | None
) -> dict[str, Any]:
    body: dict[str, Any] = {"name": name, "image_name": image_name}
    if friendly_name:
        body["friendly_name"] = friendly_name
    if config is not None:
        body["config"] = dict(config)
    return body


def _extension_body(
    image_name: str, name: str, friendly_name: str, methods: Sequence[str]
) -> dict[str, Any]:
    body: dict[str, Any] = {"image_name": image_name}
    if name:
        body["name"] = name
    if friendly_name:
        body["friendly_name"] = friendly_name
    if methods:
        body["methods"] = [{"guid": g} for g in methods]
    return body


class ExtensionsMixin:
    """Registration and extension data calls of the blocking :class:`~lanfax.client.Client`."""

    def _run(self, op: Op[T]) -> T:  # pragma: no cover - provided by the client
        raise NotImplementedError

    def providers(self) -> list[dict[str, Any]]:
        """Every provider (installed and registered) with its ``state`` and ``devices``."""
        return self._run(providers())

    def register_provider(
        self,
        name: str,
        image_name: str,
        *,
        friendly_name: str = "",
        config: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Register a provider installed on the server (administrators); with ``config`` it
        starts at once."""
        return self._run(register_provider(_provider_body(name, image_name, friendly_name, config)))

    def unregister_provider(self, name: str) -> None:
        self._run(unregister_provider(name))

    def routing_extensions(self) -> list[dict[str, Any]]:
        return self._run(routing_extensions())

    def register_routing_extension(
        self,
        image_name: str,
        *,
        name: str = "",
        friendly_name: str = "",
        methods: Sequence[str] = (),
    ) -> dict[str, Any]:
        """Register a routing extension installed on the server (administrators); it is
        loaded and initialised at once."""
        return self._run(
            register_routing_extension(_extension_body(image_name, name, friendly_name, methods))
        )

    def unregister_routing_extension(self, name: str) -> None:
        self._run(unregister_routing_extension(name))

    def extension_data(self, guid: str, *, device_id: int = 0) -> dict[str, Any]:
        """FaxExtGetData: the data kept under ``guid`` for a device (0: none)."""
        return self._run(extension_data(guid, device_id))

    def set_extension_data(
        self, guid: str, data: Mapping[str, Any], *, device_id: int = 0
    ) -> dict[str, Any]:
        """FaxExtSetData: replace it; the running extensions are told at once. Returns the
        server's answer (``notified``: who took the change in, ``failed``)."""
        return self._run(set_extension_data(guid, data, device_id))


class AsyncExtensionsMixin:
    """Registration and extension data calls of :class:`~lanfax.client.AsyncClient`."""

    async def _run(self, op: Op[T]) -> T:  # pragma: no cover - provided by the client
        raise NotImplementedError

    async def providers(self) -> list[dict[str, Any]]:
        return await self._run(providers())

    async def register_provider(
        self,
        name: str,
        image_name: str,
        *,
        friendly_name: str = "",
        config: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        return await self._run(
            register_provider(_provider_body(name, image_name, friendly_name, config))
        )

    async def unregister_provider(self, name: str) -> None:
        await self._run(unregister_provider(name))

    async def routing_extensions(self) -> list[dict[str, Any]]:
        return await self._run(routing_extensions())

    async def register_routing_extension(
        self,
        image_name: str,
        *,
        name: str = "",
        friendly_name: str = "",
        methods: Sequence[str] = (),
    ) -> dict[str, Any]:
        return await self._run(
            register_routing_extension(_extension_body(image_name, name, friendly_name, methods))
        )

    async def unregister_routing_extension(self, name: str) -> None:
        await self._run(unregister_routing_extension(name))

    async def extension_data(self, guid: str, *, device_id: int = 0) -> dict[str, Any]:
        return await self._run(extension_data(guid, device_id))

    async def set_extension_data(
        self, guid: str, data: Mapping[str, Any], *, device_id: int = 0
    ) -> dict[str, Any]:
        return await self._run(set_extension_data(guid, data, device_id))
