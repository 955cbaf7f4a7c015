"""The built-in routing extension: store in a folder, e-mail, print, web hook.

``BuiltinRoutes(data_dir, allowed_roots, clock)`` is what the service builds (or the
``lanfax.routing`` entry point ``builtin`` builds from a :class:`RoutingConfig`). Until someone
configures a device, "store in a folder" is on for it and stores TIFFs in ``<data_dir>/inbox``;
the other three are off and must be given routing info before they can be enabled.
"""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import tzinfo
from pathlib import Path
from typing import Any, ClassVar, Self

import httpx

from lanfax.model.clock import Clock, SystemClock
from lanfax.model.errors import AccessDenied, ConfigError, FaxError
from lanfax.routing.api import (
    FaxRoute,
    RouteResult,
    RoutingConfig,
    RoutingExtension,
    RoutingMethodInfo,
    normalize_guid,
)
from lanfax.routing.builtin import folder, mail, owner, printer, webhook
from lanfax.routing.targets import SETTING, TargetPolicy, parse_networks

FOLDER_GUID = "{bd2da2a9-d079-4b39-a5a2-224a4b89eef6}"
EMAIL_GUID = "{a3b92ecf-daeb-4eac-a06d-66ab2159e96d}"
PRINT_GUID = "{a07e10a5-318b-4ab9-8468-531eee62fec6}"
WEBHOOK_GUID = "{85273ed7-d9e4-4e33-9136-3792d97f723e}"
#: Route to a user (#13): the fax gets an owner (lanfax.routing.builtin.owner).
USER_GUID = "{6f1c4f3e-2b7a-4c1e-9a53-0d6f3c2b9e71}"

Sleep = Callable[[float], Awaitable[None]]


class BuiltinRoutes(RoutingExtension):
    """The four built-in methods, one extension.

    ``allowed_roots`` are the folders (and their subfolders) the folder route may write in;
    ``<data_dir>/inbox`` is always one of them. ``tz`` is the time zone of file-name and mail
    templates (None = the machine's). ``lp_command`` is the CUPS client used to print.
    ``sleep`` is awaited between web-hook attempts (tests pass one that returns at once).
    ``file_mode`` is the permission of stored files.
    """

    name: ClassVar[str] = "builtin"
    friendly_name: ClassVar[str] = "lanfax built-in routing"

    def __init__(
        self,
        data_dir: Path,
        allowed_roots: Sequence[Path] = (),
        clock: Clock | None = None,
        *,
        tz: tzinfo | None = None,
        lp_command: str = "lp",
        sleep: Sleep = asyncio.sleep,
        file_mode: int = 0o640,
        webhook_attempts: int = 3,
        webhook_backoff: float = 1.0,
        allow_networks: Sequence[str] = (),
    ) -> None:
        super().__init__()
        self.data_dir = Path(data_dir)
        self.inbox = self.data_dir / "inbox"
        roots = [Path(r) for r in allowed_roots]
        for r in roots:
            if not r.is_absolute():
                raise ConfigError(f"allowed root {r} is not absolute", hint="use absolute paths")
        self.allowed_roots: tuple[Path, ...] = (self.inbox, *roots)
        self.clock: Clock = clock or SystemClock()
        self.tz = tz
        self.lp_command = lp_command
        self.sleep = sleep
        self.file_mode = file_mode
        if not 1 <= webhook_attempts <= 10:
            raise ConfigError("webhook_attempts is out of range", hint="use 1 to 10")
        self.webhook_attempts = webhook_attempts
        self.webhook_backoff = webhook_backoff
        #: Web hooks and mail servers may only be public addresses, or in these networks.
        self.targets = TargetPolicy(parse_networks(allow_networks))

    @classmethod
    def from_config(cls, config: RoutingConfig) -> Self:
        """Options (``[routing.builtin]``): ``lp_command``, ``file_mode`` (octal text or a
        number), ``webhook_attempts``, ``webhook_backoff`` (seconds)."""
        opts = dict(config.options)
        known = {"lp_command", "file_mode", "webhook_attempts", "webhook_backoff", "allow_networks"}
        unknown = sorted(set(opts) - known)
        if unknown:
            raise ConfigError(
                f"unknown built-in routing options: {', '.join(unknown)}",
                hint=f"known options: {', '.join(sorted(known))}",
            )
        mode = opts.get("file_mode", 0o640)
        try:
            mode = int(mode, 8) if isinstance(mode, str) else int(mode)
        except ValueError:
            raise ConfigError(f"file_mode {mode!r} is not octal", hint='e.g. "640"') from None
        return cls(
            config.data_dir,
            config.allowed_roots,
            config.clock,
            lp_command=str(opts.get("lp_command", "lp")),
            file_mode=mode,
            webhook_attempts=int(opts.get("webhook_attempts", 3)),
            webhook_backoff=float(opts.get("webhook_backoff", 1.0)),
            allow_networks=_networks_option(opts.get("allow_networks", [])),
        )

    def methods(self) -> list[RoutingMethodInfo]:
        return [
            RoutingMethodInfo(FOLDER_GUID, "Store in a folder", "route_to_folder"),
            RoutingMethodInfo(
                EMAIL_GUID, "Route through e-mail", "route_to_email", frozenset({"password"})
            ),
            RoutingMethodInfo(PRINT_GUID, "Print", "route_to_printer"),
            RoutingMethodInfo(
                WEBHOOK_GUID, "Post to a web hook", "route_to_webhook", frozenset({"secret"})
            ),
            RoutingMethodInfo(USER_GUID, "Route to a user", "route_to_user"),
        ]

    # -- defaults and validation -------------------------------------------------------

    def default_enabled(self, method_guid: str, device_id: int) -> bool:
        return normalize_guid(method_guid) == FOLDER_GUID

    def default_routing_info(self, method_guid: str, device_id: int) -> dict[str, Any]:
        if normalize_guid(method_guid) == FOLDER_GUID:
            return self.validate_routing_info(FOLDER_GUID, {})
        return {}

    def validate_routing_info(self, method_guid: str, info: Mapping[str, Any]) -> dict[str, Any]:
        guid = self.method(method_guid).guid
        if guid == FOLDER_GUID:
            return folder.check(info, self.allowed_roots, self.inbox)
        if guid == EMAIL_GUID:
            checked = mail.check(info)
            self._literal_target(checked["smtp_host"])
            return checked
        if guid == PRINT_GUID:
            return printer.check(info)
        if guid == USER_GUID:
            return owner.check(info)
        checked = webhook.check(info)
        self._literal_target(httpx.URL(checked["url"]).host)
        return checked

    def _literal_target(self, host: str) -> None:
        """ConfigError at once for an address (or localhost) the target policy refuses;
        names are resolved and checked at delivery."""
        candidate = "127.0.0.1" if host.lower() in ("localhost", "localhost.") else host
        try:
            ip = ipaddress.ip_address(candidate.strip("[]"))
        except ValueError:
            return
        why = self.targets.refusal(ip)
        if why is not None:
            raise ConfigError(
                f"{host} is refused as a routing target: {why}",
                hint=f"an administrator may allow its network with {SETTING}",
            )

    def device_enable(self, method_guid: str, device_id: int, enable: bool | None) -> bool:
        """As the base class; enabling a method that has no routing info yet is refused."""
        if enable and not self.get_routing_info(method_guid, device_id):
            m = self.method(method_guid)
            raise ConfigError(
                f"{m.friendly_name!r} has no routing info on device {device_id}",
                hint="set its routing info first (see docs/routing.md), then enable it",
            )
        return super().device_enable(method_guid, device_id, enable)

    # -- routing -----------------------------------------------------------------------

    async def route(self, method_guid: str, fax: FaxRoute) -> RouteResult:
        m = self.method(method_guid)
        saved = self.get_routing_info(m.guid, fax.device_id)
        if not saved:
            return RouteResult.failure(
                f"{m.friendly_name} has no routing info on device {fax.device_id}",
                retryable=False,
            )
        try:
            # Validated again: the allowed roots or the schema may have changed since.
            info = self.validate_routing_info(m.guid, saved)
            if m.guid == FOLDER_GUID:
                return await folder.route(
                    fax,
                    info,
                    callbacks=self.callbacks,
                    roots=self.allowed_roots,
                    tz=self.tz,
                    mode=self.file_mode,
                )
            if m.guid in (EMAIL_GUID, WEBHOOK_GUID):
                await self._check_target(m.guid, info)
            if m.guid == EMAIL_GUID:
                return await mail.route(
                    fax,
                    info,
                    callbacks=self.callbacks,
                    tz=self.tz,
                    clock=self.clock,
                    policy=self.targets,
                )
            if m.guid == PRINT_GUID:
                return await printer.route(
                    fax, info, callbacks=self.callbacks, lp_command=self.lp_command
                )
            if m.guid == USER_GUID:
                return owner.route(fax, info)
            return await webhook.route(
                fax,
                info,
                guid=m.guid,
                callbacks=self.callbacks,
                clock=self.clock,
                sleep=self.sleep,
                attempts=self.webhook_attempts,
                backoff=self.webhook_backoff,
                policy=self.targets,
            )
        except (ConfigError, AccessDenied) as exc:
            return RouteResult.failure(str(exc), retryable=False)
        except FaxError as exc:
            # Unavailable (no PDF converter yet), a missing file, ...: may pass later.
            return RouteResult.failure(str(exc), retryable=exc.http_status >= 500)

    async def _check_target(self, guid: str, info: Mapping[str, Any]) -> None:
        """AccessDenied when the web hook's or mail server's host is (or resolves to) an
        address the target policy refuses (loopback, link-local, private...)."""
        if guid == EMAIL_GUID:
            host, port = str(info["smtp_host"]), int(info["smtp_port"] or 25)
        else:
            url = httpx.URL(str(info["url"]))
            host, port = url.host, url.port or (443 if url.scheme == "https" else 80)
        if host.lower() in ("localhost", "localhost."):
            host = "127.0.0.1"
        await self.targets.check_host(host, port)


def _networks_option(value: Any) -> list[str]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        raise ConfigError(
            f"{SETTING} must be a list of networks",
            hint='e.g. allow_networks = ["127.0.0.0/8"]',
        )
    return [str(v) for v in value]


__all__ = [
    "EMAIL_GUID",
    "FOLDER_GUID",
    "PRINT_GUID",
    "USER_GUID",
    "WEBHOOK_GUID",
    "BuiltinRoutes",
]
