"""SDP (RFC 4566) and the offer/answer model (RFC 3264) for fax: G.711 audio and T.38.

A fax call has exactly one live media stream: ``m=audio`` with PCMU/PCMA, or ``m=image`` with
``udptl t38``. The T.38 attributes follow ITU-T T.38 Annex D / RFC 3362 (``T38FaxVersion``,
``T38MaxBitRate``, ``T38FaxRateManagement``, ``T38FaxMaxDatagram``, ``T38FaxUdpEC``...).

:func:`answer` is the answerer's decision, pure: given an offer and what we accept it returns
the answer SDP and the negotiated :class:`Media`, or raises :class:`NotAcceptable`, which the
caller turns into ``488 Not Acceptable Here``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from lanfax.providers.sip.message import SipParseError

__all__ = [
    "Media",
    "MediaDescription",
    "NotAcceptable",
    "Offerer",
    "SessionDescription",
    "T38Params",
    "answer",
    "audio_offer",
    "negotiated_from_answer",
    "parse_sdp",
    "t38_offer",
]

#: Static RTP payload types (RFC 3551) of the codecs a fax can survive.
PAYLOAD_TYPES = {0: "ulaw", 8: "alaw"}
CODEC_PT = {"ulaw": 0, "alaw": 8}
_RTPMAP = {"ulaw": "PCMU/8000", "alaw": "PCMA/8000"}
#: T.38 error-correction schemes, weakest first (an answerer may only go down the list).
EC_ORDER = ("none", "t38UDPRedundancy", "t38UDPFEC")


class NotAcceptable(SipParseError):
    """An offer we cannot answer (no common codec, no usable T.38): answer 488."""

    code = "sip-not-acceptable"


@dataclass(frozen=True, slots=True)
class T38Params:
    """The T.38 session attributes we offer, accept, or agreed on."""

    version: int = 0
    max_bit_rate: int = 14400
    rate_management: str = "transferredTCF"
    max_buffer: int = 2000
    max_datagram: int = 400
    error_correction: str = "t38UDPRedundancy"
    fill_bit_removal: bool = False
    transcoding_mmr: bool = False
    transcoding_jbig: bool = False

    def attributes(self) -> list[str]:
        attrs = [
            f"T38FaxVersion:{self.version}",
            f"T38MaxBitRate:{self.max_bit_rate}",
            f"T38FaxRateManagement:{self.rate_management}",
            f"T38FaxMaxBuffer:{self.max_buffer}",
            f"T38FaxMaxDatagram:{self.max_datagram}",
        ]
        if self.error_correction != "none":
            attrs.append(f"T38FaxUdpEC:{self.error_correction}")
        if self.fill_bit_removal:
            attrs.append("T38FaxFillBitRemoval")
        if self.transcoding_mmr:
            attrs.append("T38FaxTranscodingMMR")
        if self.transcoding_jbig:
            attrs.append("T38FaxTranscodingJBIG")
        return attrs

    @classmethod
    def from_attributes(cls, attrs: list[tuple[str, str]]) -> T38Params:
        """Read the T.38 attributes of an ``m=image`` section; absent ones take the
        defaults T.38 Annex D gives (version 0, no error correction...)."""
        values: dict[str, str] = {}
        flags: set[str] = set()
        for name, value in attrs:
            key = name.lower()
            if value:
                values[key] = value
            else:
                flags.add(key)
            # "T38FaxFillBitRemoval:1" is also seen in the wild.
            if value in ("1", "true"):
                flags.add(key)

        def num(key: str, default: int) -> int:
            text = values.get(key.lower())
            if text is None:
                return default
            if not text.isdigit() or len(text) > 9:
                raise NotAcceptable(f"bad T.38 attribute {key}:{text[:20]}")
            return int(text)

        ec = values.get("t38faxudpec", "none")
        if ec not in EC_ORDER:
            ec = "none"
        return cls(
            version=num("T38FaxVersion", 0),
            max_bit_rate=num("T38MaxBitRate", 14400),
            rate_management=values.get("t38faxratemanagement", "transferredTCF"),
            max_buffer=num("T38FaxMaxBuffer", 2000),
            max_datagram=num("T38FaxMaxDatagram", 400),
            error_correction=ec,
            fill_bit_removal="t38faxfillbitremoval" in flags,
            transcoding_mmr="t38faxtranscodingmmr" in flags,
            transcoding_jbig="t38faxtranscodingjbig" in flags,
        )


@dataclass(frozen=True, slots=True)
class MediaDescription:
    kind: str  # "audio" | "image" | anything else (rejected with port 0)
    port: int
    proto: str
    formats: tuple[str, ...]
    connection: str | None = None
    attributes: tuple[tuple[str, str], ...] = ()

    def attr(self, name: str) -> str | None:
        for k, v in self.attributes:
            if k.lower() == name.lower():
                return v
        return None

    def lines(self) -> list[str]:
        out = [f"m={self.kind} {self.port} {self.proto} {' '.join(self.formats)}"]
        if self.connection is not None:
            out.append(f"c=IN IP4 {self.connection}")
        out += [f"a={k}:{v}" if v else f"a={k}" for k, v in self.attributes]
        return out


@dataclass(frozen=True, slots=True)
class SessionDescription:
    origin_user: str = "lanfax"
    session_id: int = 0
    version: int = 0
    address: str = "127.0.0.1"
    connection: str | None = None
    media: tuple[MediaDescription, ...] = ()
    session_name: str = "lanfax"

    def serialize(self) -> bytes:
        lines = [
            "v=0",
            f"o={self.origin_user} {self.session_id} {self.version} IN IP4 {self.address}",
            f"s={self.session_name or '-'}",
        ]
        if self.connection is not None:
            lines.append(f"c=IN IP4 {self.connection}")
        lines.append("t=0 0")
        for m in self.media:
            lines += m.lines()
        return ("\r\n".join(lines) + "\r\n").encode()

    def bump(self, media: tuple[MediaDescription, ...]) -> SessionDescription:
        """The next version of our session (RFC 3264 §8: o= version + 1 on every change)."""
        return replace(self, version=self.version + 1, media=media)


@dataclass
class _Draft:
    kind: str
    port: int
    proto: str
    formats: tuple[str, ...]
    connection: str | None = None
    attributes: list[tuple[str, str]] = field(default_factory=list)

    def build(self) -> MediaDescription:
        return MediaDescription(
            self.kind, self.port, self.proto, self.formats, self.connection, tuple(self.attributes)
        )


def parse_sdp(data: bytes) -> SessionDescription:
    """Parse an SDP body, or raise :class:`SipParseError` (a subclass of InvalidInput)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise SipParseError("SDP is not UTF-8") from None
    origin = ("-", 0, 0, "0.0.0.0")
    name = ""
    connection: str | None = None
    media: list[MediaDescription] = []
    current: _Draft | None = None
    seen_v = False
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        if len(line) < 2 or line[1] != "=":
            raise SipParseError(f"bad SDP line: {line[:60]!r}")
        kind, value = line[0], line[2:].strip()
        if kind == "v":
            if value != "0":
                raise SipParseError(f"unsupported SDP version {value[:10]!r}")
            seen_v = True
        elif kind == "o":
            parts = value.split()
            if len(parts) != 6 or not parts[1].isdigit() or not parts[2].isdigit():
                raise SipParseError(f"bad SDP origin: {value[:60]!r}")
            origin = (parts[0], int(parts[1]) % 2**63, int(parts[2]) % 2**63, parts[5])
        elif kind == "s":
            name = value
        elif kind == "c":
            parts = value.split()
            if len(parts) != 3 or parts[0] != "IN" or parts[1] not in ("IP4", "IP6"):
                raise SipParseError(f"bad SDP connection: {value[:60]!r}")
            address = parts[2].split("/")[0]
            if current is None:
                connection = address
            else:
                current.connection = address
        elif kind == "m":
            if current is not None:
                media.append(current.build())
            parts = value.split()
            if len(parts) < 3:
                raise SipParseError(f"bad SDP media line: {value[:60]!r}")
            port_text = parts[1].split("/")[0]
            if not port_text.isdigit() or int(port_text) > 65535:
                raise SipParseError(f"bad SDP media port: {value[:60]!r}")
            current = _Draft(parts[0], int(port_text), parts[2], tuple(parts[3:]))
        elif kind == "a" and current is not None:
            attr_name, _, attr_value = value.partition(":")
            current.attributes.append((attr_name.strip(), attr_value.strip()))
    if current is not None:
        media.append(current.build())
    if not seen_v:
        raise SipParseError("SDP without v=0")
    return SessionDescription(
        origin[0], origin[1], origin[2], origin[3], connection, tuple(media), name
    )


@dataclass(frozen=True, slots=True)
class Media:
    """What was agreed for the one live stream of a call."""

    kind: str  # "audio" | "t38"
    address: str
    port: int
    codec: str = "ulaw"  # audio: "ulaw" | "alaw"
    payload_type: int = 0
    t38: T38Params | None = None
    ptime: int = 20


def audio_media(address: str, port: int, codecs: tuple[str, ...]) -> MediaDescription:
    pts = [str(CODEC_PT[c]) for c in codecs]
    attrs = [("rtpmap", f"{CODEC_PT[c]} {_RTPMAP[c]}") for c in codecs]
    attrs += [("ptime", "20"), ("sendrecv", "")]
    return MediaDescription("audio", port, "RTP/AVP", tuple(pts), address, tuple(attrs))


def t38_media(address: str, port: int, params: T38Params) -> MediaDescription:
    attrs = tuple((a.partition(":")[0], a.partition(":")[2]) for a in params.attributes())
    return MediaDescription("image", port, "udptl", ("t38",), address, attrs)


@dataclass(frozen=True, slots=True)
class Offerer:
    """Our side of a session: it keeps ``o=`` stable and bumps its version (RFC 3264 §8)."""

    address: str
    session_id: int
    sdp: SessionDescription | None = field(default=None)

    def make(self, *media: MediaDescription) -> SessionDescription:
        """Our next SDP with these media lines (version 0 first, then +1 each time)."""
        if self.sdp is None:
            return SessionDescription(
                "lanfax", self.session_id, 0, self.address, self.address, media
            )
        return self.sdp.bump(media)

    def sent(self, sdp: SessionDescription) -> Offerer:
        return replace(self, sdp=sdp)


def audio_offer(ours: Offerer, port: int, codecs: tuple[str, ...]) -> SessionDescription:
    return ours.make(audio_media(ours.address, port, codecs))


def t38_offer(ours: Offerer, port: int, params: T38Params) -> SessionDescription:
    return ours.make(t38_media(ours.address, port, params))


def _rejected(m: MediaDescription) -> MediaDescription:
    return MediaDescription(m.kind, 0, m.proto, m.formats)


def _address(sdp: SessionDescription, m: MediaDescription) -> str:
    address = m.connection or sdp.connection
    if address is None:
        raise NotAcceptable("SDP media without a connection address")
    return address


def negotiate_t38(offered: T38Params, ours: T38Params) -> T38Params:
    """The answerer's T.38 choice (T.38 Annex D.2.3): the lower version and bit rate, the
    offered rate management, our datagram limit, and error correction no stronger than
    offered or than we do."""
    ec_index = min(EC_ORDER.index(offered.error_correction), EC_ORDER.index(ours.error_correction))
    # We implement redundancy, not FEC: FEC is answered with redundancy.
    ec_index = min(ec_index, EC_ORDER.index("t38UDPRedundancy"))
    return T38Params(
        version=min(offered.version, ours.version),
        max_bit_rate=min(offered.max_bit_rate, ours.max_bit_rate),
        rate_management=offered.rate_management,
        max_buffer=ours.max_buffer,
        max_datagram=ours.max_datagram,
        error_correction=EC_ORDER[ec_index],
        fill_bit_removal=False,
        transcoding_mmr=False,
        transcoding_jbig=False,
    )


def answer(
    offer: SessionDescription,
    ours: Offerer,
    *,
    rtp_port: int,
    udptl_port: int,
    codecs: tuple[str, ...],
    t38: T38Params | None,
) -> tuple[SessionDescription, Media]:
    """Answer ``offer``: accept the first acceptable stream, reject the others (port 0, same
    order, §6). Raises :class:`NotAcceptable` when nothing is acceptable."""
    chosen: Media | None = None
    lines: list[MediaDescription] = []
    for m in offer.media:
        if chosen is not None or m.port == 0:
            lines.append(_rejected(m))
            continue
        if m.kind == "image" and m.proto.lower() == "udptl" and "t38" in m.formats:
            if t38 is None:
                lines.append(_rejected(m))
                continue
            offered = T38Params.from_attributes(list(m.attributes))
            if offered.rate_management.lower() != "transferredtcf":
                # localTCF is for TCP; over UDP the TCF must travel (T.38 §9.2).
                lines.append(_rejected(m))
                continue
            agreed = negotiate_t38(offered, t38)
            chosen = Media("t38", _address(offer, m), m.port, t38=agreed)
            lines.append(t38_media(ours.address, udptl_port, agreed))
        elif m.kind == "audio" and m.proto.upper().startswith("RTP/AVP"):
            common = [
                PAYLOAD_TYPES[int(f)]
                for f in m.formats
                if f.isdigit() and int(f) in PAYLOAD_TYPES and PAYLOAD_TYPES[int(f)] in codecs
            ]
            if not common:
                lines.append(_rejected(m))
                continue
            codec = common[0]
            ptime = m.attr("ptime")
            chosen = Media(
                "audio",
                _address(offer, m),
                m.port,
                codec=codec,
                payload_type=CODEC_PT[codec],
                ptime=int(ptime) if ptime and ptime.isdigit() and 10 <= int(ptime) <= 60 else 20,
            )
            lines.append(audio_media(ours.address, rtp_port, (codec,)))
        else:
            lines.append(_rejected(m))
    if chosen is None:
        kinds = ", ".join(f"{m.kind}/{m.proto}" for m in offer.media) or "none"
        raise NotAcceptable(
            f"no acceptable media in the offer ({kinds})",
            hint="lanfax takes G.711 (PCMU/PCMA) audio or T.38 over UDPTL",
        )
    return ours.make(*lines), chosen


def negotiated_from_answer(offer: SessionDescription, ans: SessionDescription) -> Media:
    """The offerer's reading of an answer: the one accepted stream (non-zero port)."""
    if len(ans.media) != len(offer.media):
        raise NotAcceptable(
            f"the answer has {len(ans.media)} media lines for an offer of {len(offer.media)}"
        )
    for o, a in zip(offer.media, ans.media, strict=True):
        if a.port == 0:
            continue
        if a.kind == "image" and "t38" in a.formats:
            return Media(
                "t38", _address(ans, a), a.port, t38=T38Params.from_attributes(list(a.attributes))
            )
        if a.kind == "audio":
            for f in a.formats:
                if f.isdigit() and int(f) in PAYLOAD_TYPES and f in o.formats:
                    codec = PAYLOAD_TYPES[int(f)]
                    return Media("audio", _address(ans, a), a.port, codec, int(f))
            raise NotAcceptable("the answer chose a codec we did not offer")
    raise NotAcceptable("the answer rejected every media stream")
