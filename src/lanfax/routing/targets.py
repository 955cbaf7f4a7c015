"""Which network addresses a routing method may reach (issue #14, item 11: SSRF).

A web hook URL or a mail server is typed by a person with port rights; without a rule, the
service would POST received faxes (and echo what answers) to anything it can reach: its own
loopback services, the cloud's metadata endpoint (169.254.169.254), the LAN's private
servers. :class:`TargetPolicy` refuses every address that is not a public unicast one
(loopback, link-local, private, unique-local, carrier-grade NAT, multicast, reserved,
unspecified) unless an administrator allowed its network (``[routing.builtin]
allow_networks``, CIDR strings such as ``"10.20.0.0/16"``).

The decision is a pure function of the address (:meth:`TargetPolicy.refusal`);
:meth:`TargetPolicy.check_host` resolves a host name and checks every address it has, before
anything is sent, for a clear message; and :meth:`TargetPolicy.check_peer` checks the address
the connection actually reached, before a byte of the request is written (the web hook's
httpx trace, the mail route's socket), so a DNS server that answers differently between the
check and the connection (DNS rebinding) gains nothing.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass

from lanfax.model.errors import AccessDenied, ConfigError

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

#: The setting that allows networks, as messages name it.
SETTING = "[routing.builtin] allow_networks"

_CGNAT = ipaddress.ip_network("100.64.0.0/10")


def _kind(ip: Address) -> str | None:
    """What makes ``ip`` non-public, or None for a public unicast address."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return _kind(ip.ipv4_mapped)
    if ip.is_loopback:
        return "a loopback address"
    if ip.is_link_local:
        return "a link-local address (cloud metadata lives there)"
    if ip.is_unspecified:
        return "the unspecified address"
    if ip.is_multicast:
        return "a multicast address"
    if isinstance(ip, ipaddress.IPv4Address) and ip in _CGNAT:
        return "a shared (carrier-grade NAT) address"
    if ip.is_private:
        return "a private address"
    if ip.is_reserved:
        return "a reserved address"
    return None


def parse_networks(values: Iterable[object], *, where: str = SETTING) -> tuple[Network, ...]:
    out: list[Network] = []
    for value in values:
        try:
            out.append(ipaddress.ip_network(str(value), strict=False))
        except ValueError:
            raise ConfigError(
                f"{where}: {value!r} is not a network",
                hint='write CIDR networks, e.g. ["127.0.0.0/8", "10.0.0.0/8"]',
            ) from None
    return tuple(out)


@dataclass(frozen=True, slots=True)
class TargetPolicy:
    """The networks allowed beyond the public Internet."""

    allowed: tuple[Network, ...] = ()

    def refusal(self, ip: Address) -> str | None:
        """Why ``ip`` may not be reached, or None."""
        kind = _kind(ip)
        if kind is None or any(ip in net for net in self.allowed if net.version == ip.version):
            return None
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            mapped = ip.ipv4_mapped
            if any(mapped in net for net in self.allowed if net.version == 4):
                return None
        return f"{ip} is {kind}"

    def check_peer(self, host: str, peer: object) -> None:
        """AccessDenied when a connection to ``host`` reached an address this policy refuses
        (``peer`` is the socket's peer address: a tuple whose first item is the IP)."""
        try:
            raw = peer[0] if isinstance(peer, tuple) else peer
            ip = ipaddress.ip_address(str(raw).split("%")[0])
        except ValueError:
            raise AccessDenied(
                f"{host}: the connection's address {peer!r} cannot be checked",
                hint="routing targets must be reached over IP",
            ) from None
        why = self.refusal(ip)
        if why is not None:
            raise AccessDenied(
                f"{host} is refused as a routing target: it connected to {why}",
                hint=f"an administrator may allow its network with {SETTING}",
            )

    async def check_host(self, host: str, port: int) -> None:
        """AccessDenied naming the address and the setting when ``host`` is, or resolves to,
        an address this policy refuses. Names that do not resolve pass (the connection
        fails on its own, with its own message)."""
        host = host.strip("[]")
        try:
            addresses = [ipaddress.ip_address(host)]
        except ValueError:
            try:
                infos = await asyncio.get_running_loop().getaddrinfo(
                    host, port, type=socket.SOCK_STREAM
                )
            except OSError:
                return
            addresses = [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]
        for ip in addresses:
            why = self.refusal(ip)
            if why is not None:
                raise AccessDenied(
                    f"{host} is refused as a routing target: {why}",
                    hint=f"an administrator may allow its network with {SETTING}",
                )
