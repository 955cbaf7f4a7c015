"""The ``sip`` provider's configuration: one ``[[providers]]`` table per SIP account.

Example::

    [[providers]]
    type = "sip"
    registrar = "pbx.example.org:5060"   # host[:port]; REGISTER goes here
    proxy = ""                           # outbound proxy host[:port] ("" = the registrar)
    domain = ""                          # the account's domain ("" = the registrar's host)
    user = "201"                         # the account (and the number of its devices)
    auth_user = ""                       # digest user name ("" = user)
    password = "secret"
    transport = "udp"                    # "udp" | "tcp" (signalling; media is always UDP)
    local_address = "127.0.0.1"          # the address we bind for SIP and put in Contact
    media_address = ""                   # where RTP/UDPTL bind ("" = local_address)
    sdp_address = ""                     # the media address put in SDP, e.g. behind NAT
                                         # or a media relay ("" = media_address)
    sip_port = 0                         # 0 = any free port
    media_ports = "20000-20999"          # RTP and UDPTL ports for calls
    channels = 2                         # concurrent calls = devices
    register = true
    register_expires = 300               # refreshed at half-time
    uri_template = "sip:{number}@{domain}"
    codecs = ["ulaw", "alaw"]            # offered in this order
    t38 = "offer"                        # "offer" | "accept" | "off"
    t38_redundancy = 3                   # earlier IFPs repeated in each UDPTL datagram
    max_bit_rate = 14400
    ring_interval = 6.0                  # seconds between ring callbacks for a call in
    answer_timeout = 60.0                # seconds we let a far end ring
    session_expires = 1800               # RFC 4028 session interval (refresh at half)
    jitter_frames = 3                    # G.711 playout delay, in 20 ms frames
    max_call_seconds = 7200
    ident = ""                           # our TSID/CSID ("" = the user)
    realtime = true                      # media thread + event loop SCHED_FIFO while
                                         # calls are in media, where permitted
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from lanfax.model.errors import ConfigError

__all__ = ["SipConfig", "parse_config"]

_DEFAULTS: dict[str, Any] = {
    "registrar": "",
    "proxy": "",
    "domain": "",
    "user": "",
    "auth_user": "",
    "password": "",
    "transport": "udp",
    "local_address": "127.0.0.1",
    "media_address": "",
    "sdp_address": "",
    "sip_port": 0,
    "media_ports": "20000-29999",
    "channels": 1,
    "register": True,
    "register_expires": 300,
    "uri_template": "sip:{number}@{domain}",
    "codecs": ["ulaw", "alaw"],
    "t38": "offer",
    "t38_redundancy": 3,
    "max_bit_rate": 14400,
    "ring_interval": 6.0,
    "answer_timeout": 60.0,
    "session_expires": 1800,
    "jitter_frames": 3,
    "max_call_seconds": 7200.0,
    "ident": "",
    "name": "",
    "realtime": True,
}
T38_MODES = ("offer", "accept", "off")
TRANSPORTS = ("udp", "tcp")


@dataclass(frozen=True, slots=True)
class SipConfig:
    registrar: tuple[str, int]
    proxy: tuple[str, int]
    domain: str
    user: str
    auth_user: str
    password: str
    transport: str
    local_address: str
    media_address: str
    sdp_address: str
    sip_port: int
    media_ports: tuple[int, int]
    channels: int
    register: bool
    register_expires: int
    uri_template: str
    codecs: tuple[str, ...]
    t38: str
    t38_redundancy: int
    max_bit_rate: int
    ring_interval: float
    answer_timeout: float
    session_expires: int
    jitter_frames: int
    max_call_seconds: float
    ident: str
    name: str
    #: #19: the media thread and the event loop under SCHED_FIFO while calls are in media,
    #: where the process may (lanfax.engine.realtime).
    realtime: bool = True

    def target_uri(self, number: str) -> str:
        """The Request-URI for a dialled number (``uri_template``); over TCP it says
        ``;transport=tcp`` unless the template names a transport itself."""
        uri = self.uri_template.format(number=number, domain=self.domain, user=self.user)
        if self.transport != "udp" and "transport=" not in uri.lower():
            head, q, headers = uri.partition("?")
            uri = f"{head};transport={self.transport}{q}{headers}"
        return uri


def _hostport(value: Any, key: str) -> tuple[str, int]:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"sip: {key} must be 'host[:port]'", hint=f'e.g. {key} = "pbx:5060"')
    host, _, port = value.strip().rpartition(":")
    if not host:
        host, port = port, "5060"
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"sip: bad port in {key} = {value!r}", hint="a port is 1-65535")
    return host, int(port)


def _int(raw: Mapping[str, Any], key: str, low: int, high: int) -> int:
    value = raw[key]
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ConfigError(
            f"sip: {key} must be an integer from {low} to {high}, got {value!r}",
            hint=f"default: {_DEFAULTS[key]}",
        )
    return value


def _float(raw: Mapping[str, Any], key: str, low: float, high: float) -> float:
    value = raw[key]
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise ConfigError(
            f"sip: {key} must be a number of seconds from {low} to {high}, got {value!r}",
            hint=f"default: {_DEFAULTS[key]}",
        )
    return float(value)


def parse_config(config: Mapping[str, Any]) -> SipConfig:
    """Validate one ``[[providers]]`` table (ConfigError with a hint on the first problem)."""
    unknown = set(config) - set(_DEFAULTS) - {"type"}
    if unknown:
        raise ConfigError(
            f"sip: unknown setting(s) {', '.join(sorted(unknown))}",
            hint=f"known: {', '.join(sorted(_DEFAULTS))}",
        )
    raw = {**_DEFAULTS, **config}
    if not raw["registrar"]:
        raise ConfigError("sip: registrar is required", hint='registrar = "pbx.example.org:5060"')
    registrar = _hostport(raw["registrar"], "registrar")
    proxy = _hostport(raw["proxy"], "proxy") if raw["proxy"] else registrar
    user = raw["user"]
    if not isinstance(user, str) or not user or any(c in user for c in " @:;<>\"'"):
        raise ConfigError("sip: user must be a SIP user name", hint='user = "201"')
    if not isinstance(raw["password"], str):
        raise ConfigError("sip: password must be a string")
    transport = raw["transport"]
    if not isinstance(transport, str) or transport.lower() not in TRANSPORTS:
        raise ConfigError(
            f"sip: transport must be one of {', '.join(TRANSPORTS)}, got {transport!r}",
            hint='transport = "tcp" (TLS is not implemented; media is always UDP)',
        )
    transport = transport.lower()
    media = raw["media_ports"]
    low_t, _, high_t = str(media).partition("-")
    if not (low_t.isdigit() and high_t.isdigit()) or not (1024 <= int(low_t) < int(high_t) < 65536):
        raise ConfigError(
            f"sip: media_ports must be 'low-high' within 1024-65535, got {media!r}",
            hint='media_ports = "20000-20999"',
        )
    channels = _int(raw, "channels", 1, 1000)
    if (int(high_t) - int(low_t) + 1) < 2 * channels:
        raise ConfigError(
            f"sip: media_ports {media} is too small for {channels} channels",
            hint="each call needs two ports (RTP and UDPTL)",
        )
    codecs = raw["codecs"]
    if not isinstance(codecs, list) or not codecs or any(c not in ("ulaw", "alaw") for c in codecs):
        raise ConfigError(
            f"sip: codecs must be a non-empty list of 'ulaw'/'alaw', got {codecs!r}",
            hint='codecs = ["ulaw", "alaw"]',
        )
    if raw["t38"] not in T38_MODES:
        raise ConfigError(
            f"sip: t38 must be one of {', '.join(T38_MODES)}, got {raw['t38']!r}",
            hint='"offer" switches by re-INVITE; "accept" only follows the far end',
        )
    template = str(raw["uri_template"])
    if "{number}" not in template:
        raise ConfigError(
            "sip: uri_template must contain {number}", hint='uri_template = "sip:{number}@{domain}"'
        )
    ident = str(raw["ident"] or user)[:20]
    if not isinstance(raw["realtime"], bool):
        raise ConfigError(
            f"sip: realtime must be true or false, got {raw['realtime']!r}",
            hint="realtime = false keeps the media thread at the normal scheduling priority",
        )
    return SipConfig(
        registrar=registrar,
        proxy=proxy,
        domain=str(raw["domain"] or registrar[0]),
        user=user,
        auth_user=str(raw["auth_user"] or user),
        password=raw["password"],
        transport=transport,
        local_address=str(raw["local_address"]),
        media_address=str(raw["media_address"] or raw["local_address"]),
        sdp_address=str(raw["sdp_address"] or raw["media_address"] or raw["local_address"]),
        sip_port=_int(raw, "sip_port", 0, 65535),
        media_ports=(int(low_t), int(high_t)),
        channels=channels,
        register=bool(raw["register"]),
        # Below 60 s only for tests; registrars usually refuse less.
        register_expires=_int(raw, "register_expires", 5, 86400),
        uri_template=template,
        codecs=tuple(codecs),
        t38=raw["t38"],
        t38_redundancy=_int(raw, "t38_redundancy", 0, 7),
        max_bit_rate=_int(raw, "max_bit_rate", 2400, 14400),
        ring_interval=_float(raw, "ring_interval", 0.05, 60),
        answer_timeout=_float(raw, "answer_timeout", 0.5, 600),
        # RFC 4028 says at least 90 s; smaller values are accepted for tests.
        session_expires=_int(raw, "session_expires", 4, 86400),
        jitter_frames=_int(raw, "jitter_frames", 1, 50),
        max_call_seconds=_float(raw, "max_call_seconds", 10, 86400),
        ident=ident,
        name=str(raw["name"] or f"SIP {user}"),
        realtime=raw["realtime"],
    )
