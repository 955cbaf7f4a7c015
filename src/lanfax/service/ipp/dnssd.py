"""DNS-SD (Bonjour) advertisement of the fax printer, through python-zeroconf.

The printer is announced as ``_ipp._tcp`` (``_ipps._tcp`` when served over TLS) with the
``_print`` subtype and the TXT keys desktops read (Bonjour Printing Specification 1.2,
PWG 5100.15 section 4.1): ``rp``/``rfo`` the resource (``ipp/faxout``: CUPS and macOS look
for a FaxOut service there), ``pdl`` the document formats, ``UUID``, ``ty`` the make and
model, ``note``, ``adminurl``, ``air`` (the desktop must ask for a user name and password),
``Fax=T``, ``Color=F``, ``Duplex=F``, ``TLS`` for ipps.

When: ``[server] dnssd`` is ``"auto"`` (the default: announced only when the service
listens beyond loopback, since a printer on 127.0.0.1 is of no use to another desktop),
``"on"`` or ``"off"``. The TXT record and that decision are pure functions
(:func:`txt_record`, :func:`should_advertise`); :class:`Advertiser` is the thin adapter.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
from collections.abc import Sequence
from typing import Any

from lanfax.model.errors import ConfigError
from lanfax.service.ipp.model import DOCUMENT_FORMATS

log = logging.getLogger("lanfax.ipp")

MODES = ("auto", "on", "off")
#: A TXT string is at most 255 bytes (RFC 6763 section 6.1).
_MAX_TXT = 255


def parse_mode(value: object, where: str = "server.dnssd") -> str:
    """``auto``/``on``/``off`` (``true``/``false`` accepted)."""
    if value is True:
        return "on"
    if value is False:
        return "off"
    if isinstance(value, str) and value.strip().lower() in MODES:
        return value.strip().lower()
    raise ConfigError(
        f"{where}: {value!r} is not allowed",
        hint='use "auto" (announce when listening beyond loopback), "on" or "off"',
    )


def is_loopback(host: str) -> bool:
    if host in ("localhost", ""):
        return host == "localhost"
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def should_advertise(mode: str, listen_host: str) -> bool:
    """Whether to announce the printer: ``on``, or ``auto`` and not only on loopback."""
    if mode == "on":
        return True
    if mode == "off":
        return False
    return not is_loopback(listen_host)


def txt_record(
    *, uuid: str, tls: bool, admin_url: str, name: str = "lanfax", version: str = ""
) -> dict[str, str]:
    """The TXT keys of the printer's DNS-SD service (each string within 255 bytes)."""
    pdl = ",".join(f for f in DOCUMENT_FORMATS if f != "application/octet-stream")
    txt = {
        "txtvers": "1",
        "qtotal": "1",
        "rp": "ipp/faxout",
        "rfo": "ipp/faxout",
        "ty": f"lanfax {version} FaxOut".replace("  ", " ").strip(),
        "product": "(lanfax)",
        "note": name,
        "adminurl": admin_url,
        "pdl": pdl,
        "UUID": uuid,
        "URF": "V1.4,CP1,W8,RS200,DM1",
        "kind": "document",
        "air": "username,password",
        "Fax": "T",
        "Color": "F",
        "Duplex": "F",
        "priority": "50",
    }
    if tls:
        txt["TLS"] = "1.2"
    for key, value in txt.items():
        if len(key.encode()) + 1 + len(value.encode()) > _MAX_TXT:
            raise ValueError(f"TXT {key} is longer than {_MAX_TXT} bytes")
    return txt


def service_type(tls: bool) -> str:
    return "_ipps._tcp.local." if tls else "_ipp._tcp.local."


def addresses_for(listen_host: str) -> list[str]:
    """The addresses to announce: the listening address, or this host's when it listens
    on every address."""
    if listen_host not in ("0.0.0.0", "::", ""):
        return [listen_host.strip("[]")]
    found: set[str] = set()
    try:
        for info in socket.getaddrinfo(socket.gethostname(), None):
            addr = str(info[4][0])
            if not ipaddress.ip_address(addr.split("%")[0]).is_loopback:
                found.add(addr)
    except OSError:
        pass
    return sorted(found)


class Advertiser:
    """Announces the printer while the service runs (python-zeroconf, asyncio)."""

    def __init__(self) -> None:
        self._zc: Any = None
        self._info: Any = None

    async def start(
        self,
        *,
        name: str,
        port: int,
        tls: bool,
        txt: dict[str, str],
        addresses: Sequence[str],
        interfaces: Sequence[str] | None = None,
        host_name: str | None = None,
    ) -> None:
        from zeroconf import IPVersion
        from zeroconf.asyncio import AsyncServiceInfo, AsyncZeroconf

        base = service_type(tls)
        server = (host_name or socket.gethostname().split(".")[0] or "lanfax") + ".local."
        info = AsyncServiceInfo(
            "_print._sub." + base,  # the _print subtype; zeroconf announces the base type too
            f"{name}.{base}",
            port=port,
            properties=txt,
            server=server,
            parsed_addresses=list(addresses),
        )
        v4 = all(":" not in a for a in addresses)
        zc = AsyncZeroconf(
            interfaces=list(interfaces) if interfaces else "all",  # type: ignore[arg-type]
            ip_version=IPVersion.V4Only if v4 else IPVersion.All,
        )
        await zc.async_register_service(info, allow_name_change=True)
        self._zc, self._info = zc, info
        log.info("printer announced by DNS-SD as %r (%s) on %s", info.name, base, addresses)

    async def stop(self) -> None:
        if self._zc is not None:
            try:
                await self._zc.async_unregister_service(self._info)
            finally:
                await self._zc.async_close()
            self._zc = self._info = None


async def announce(
    *, mode: str, listen_host: str, port: int, tls: bool, uuid: str, version: str
) -> Advertiser | None:
    """Announce the printer if ``mode`` says so; never fails the service (a network without
    multicast is logged and the printer still works by its URI)."""
    if not should_advertise(mode, listen_host):
        return None
    addresses = addresses_for(listen_host)
    if not addresses:
        log.warning("DNS-SD: no address to announce the printer on; not announced")
        return None
    scheme = "https" if tls else "http"
    shown = f"[{addresses[0]}]" if ":" in addresses[0] else addresses[0]
    advertiser = Advertiser()
    try:
        await advertiser.start(
            name="lanfax fax printer",
            port=port,
            tls=tls,
            txt=txt_record(
                uuid=uuid,
                tls=tls,
                admin_url=f"{scheme}://{shown}:{port}/api/v1/docs",
                version=version,
            ),
            addresses=addresses,
            interfaces=None if listen_host in ("0.0.0.0", "::", "") else [listen_host],
        )
    except Exception as exc:  # zeroconf raises OSError and its own errors alike
        log.warning("DNS-SD: the printer could not be announced: %s", exc)
        return None
    return advertiser
