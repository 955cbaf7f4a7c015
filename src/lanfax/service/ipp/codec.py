"""The IPP encoding (RFC 8010), sans-IO: bytes in, a :class:`Message` out, and back.

A message is an 8-byte header (version major and minor, operation-id or status-code,
request-id), attribute groups each introduced by a delimiter tag (0x01 operation, 0x02 job,
0x04 printer, ...), the end-of-attributes tag 0x03, then the document data, if any
(RFC 8010 section 3.1). Each attribute is a value tag, a 2-byte name length and name, a
2-byte value length and value; an attribute with an empty name is one more value of the
attribute before it (a 1setOf). A collection (RFC 8010 section 3.1.6) is a begCollection
value (0x34) followed by members, each introduced by a memberAttrName (0x4A) whose value is
the member's name, and closed by endCollection (0x37); collections nest.

The parser is strict and bounded: a hostile length never makes it read past the buffer,
allocate beyond :class:`Limits`, or recurse without end. Anything it cannot accept raises
:class:`IppParseError` carrying the IPP status the answer must have (RFC 8011 section
13.1.4: ``client-error-bad-request`` for a malformed message,
``client-error-request-entity-too-large`` for one beyond the limits) and a message a
person can read. Nothing else ever escapes :func:`decode` (a Hypothesis test feeds it random
bytes).
"""

from __future__ import annotations

import enum
import struct
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone

__all__ = [
    "Attribute",
    "Group",
    "GroupTag",
    "IppParseError",
    "Limits",
    "Message",
    "Status",
    "Tag",
    "Value",
    "decode",
    "encode",
]


class GroupTag(enum.IntEnum):
    """Delimiter tags (RFC 8010 section 3.5.1, IANA ipp registrations)."""

    OPERATION = 0x01
    JOB = 0x02
    END = 0x03
    PRINTER = 0x04
    UNSUPPORTED = 0x05
    SUBSCRIPTION = 0x06
    EVENT_NOTIFICATION = 0x07
    RESOURCE = 0x08
    DOCUMENT = 0x09
    SYSTEM = 0x0A


class Tag(enum.IntEnum):
    """Value tags (RFC 8010 section 3.5.2)."""

    UNSUPPORTED = 0x10
    UNKNOWN = 0x12
    NO_VALUE = 0x13
    NOT_SETTABLE = 0x15
    DELETE_ATTRIBUTE = 0x16
    ADMIN_DEFINE = 0x17
    INTEGER = 0x21
    BOOLEAN = 0x22
    ENUM = 0x23
    OCTET_STRING = 0x30
    DATE_TIME = 0x31
    RESOLUTION = 0x32
    RANGE = 0x33
    BEGIN_COLLECTION = 0x34
    TEXT_LANG = 0x35
    NAME_LANG = 0x36
    END_COLLECTION = 0x37
    TEXT = 0x41
    NAME = 0x42
    KEYWORD = 0x44
    URI = 0x45
    URI_SCHEME = 0x46
    CHARSET = 0x47
    LANGUAGE = 0x48
    MIME_TYPE = 0x49
    MEMBER_NAME = 0x4A
    EXTENSION = 0x7F


class Status(enum.IntEnum):
    """The status codes this server answers with (RFC 8011 section 13.1, PWG 5100.x)."""

    OK = 0x0000
    OK_IGNORED_OR_SUBSTITUTED = 0x0001
    OK_CONFLICTING = 0x0002
    BAD_REQUEST = 0x0400
    FORBIDDEN = 0x0401
    NOT_AUTHENTICATED = 0x0402
    NOT_AUTHORIZED = 0x0403
    NOT_POSSIBLE = 0x0404
    TIMEOUT = 0x0405
    NOT_FOUND = 0x0406
    GONE = 0x0407
    REQUEST_ENTITY_TOO_LARGE = 0x0408
    REQUEST_VALUE_TOO_LONG = 0x0409
    DOCUMENT_FORMAT_NOT_SUPPORTED = 0x040A
    ATTRIBUTES_OR_VALUES_NOT_SUPPORTED = 0x040B
    URI_SCHEME_NOT_SUPPORTED = 0x040C
    CHARSET_NOT_SUPPORTED = 0x040D
    CONFLICTING_ATTRIBUTES = 0x040E
    COMPRESSION_NOT_SUPPORTED = 0x040F
    COMPRESSION_ERROR = 0x0410
    DOCUMENT_FORMAT_ERROR = 0x0411
    DOCUMENT_ACCESS_ERROR = 0x0412
    INTERNAL_ERROR = 0x0500
    OPERATION_NOT_SUPPORTED = 0x0501
    SERVICE_UNAVAILABLE = 0x0502
    VERSION_NOT_SUPPORTED = 0x0503
    DEVICE_ERROR = 0x0504
    TEMPORARY_ERROR = 0x0505
    NOT_ACCEPTING_JOBS = 0x0506
    BUSY = 0x0507
    JOB_CANCELED = 0x0508
    MULTIPLE_DOCUMENT_JOBS_NOT_SUPPORTED = 0x0509


class IppParseError(Exception):
    """A message this parser refuses; ``status`` is the IPP status to answer with."""

    def __init__(self, message: str, status: Status = Status.BAD_REQUEST, request_id: int = 0):
        super().__init__(message)
        self.message = message
        self.status = status
        self.request_id = request_id


@dataclass(frozen=True, slots=True)
class Limits:
    """Bounds on what one request may make the parser hold (the document is not counted)."""

    #: Bytes of the header and attribute groups (CUPS requests are a few KB).
    max_attribute_bytes: int = 256 * 1024
    #: Values in the whole message, collection members and their values included.
    max_values: int = 4096
    #: Collections inside collections.
    max_depth: int = 8


#: The Python type each value tag's value has (see :class:`Value`).
ValueData = (
    int
    | bool
    | str
    | bytes
    | datetime
    | tuple[int, int]
    | tuple[int, int, int]
    | tuple[str, str]
    | tuple["Attribute", ...]
    | None
)


@dataclass(frozen=True, slots=True)
class Value:
    """One value and its tag. ``value`` is: ``int`` (integer, enum), ``bool``, ``str``
    (text, name, keyword, uri, uriScheme, charset, naturalLanguage, mimeMediaType),
    ``(text, language)`` for textWithLanguage/nameWithLanguage, ``bytes`` (octetString and
    any tag this parser does not know), ``datetime`` (dateTime, aware), ``(x, y, units)``
    (resolution), ``(lower, upper)`` (rangeOfInteger), a tuple of :class:`Attribute`
    (a collection's members) or ``None`` (out-of-band: unsupported, unknown, no-value...)."""

    tag: int
    value: ValueData = None


@dataclass(frozen=True, slots=True)
class Attribute:
    """A named attribute with one or more values (more than one: a 1setOf)."""

    name: str
    values: tuple[Value, ...]

    @property
    def first(self) -> Value:
        return self.values[0]


@dataclass(frozen=True, slots=True)
class Group:
    tag: int
    attributes: tuple[Attribute, ...]

    def get(self, name: str) -> Attribute | None:
        for a in self.attributes:
            if a.name == name:
                return a
        return None


@dataclass(frozen=True, slots=True)
class Message:
    """A request (``code`` is the operation-id) or a response (``code`` is the status)."""

    version: tuple[int, int]
    code: int
    request_id: int
    groups: tuple[Group, ...] = ()
    data: bytes = field(default=b"", repr=False)

    def group(self, tag: int) -> Group | None:
        for g in self.groups:
            if g.tag == tag:
                return g
        return None

    def groups_of(self, tag: int) -> Iterator[Group]:
        return (g for g in self.groups if g.tag == tag)


_STRING_TAGS = frozenset(
    {
        Tag.TEXT,
        Tag.NAME,
        Tag.KEYWORD,
        Tag.URI,
        Tag.URI_SCHEME,
        Tag.CHARSET,
        Tag.LANGUAGE,
        Tag.MIME_TYPE,
        Tag.MEMBER_NAME,
    }
)
#: Text and name are UTF-8 (with the charset "utf-8" that this server alone accepts);
#: the other string syntaxes are US-ASCII (RFC 8011 section 5.1).
_UTF8_TAGS = frozenset({Tag.TEXT, Tag.NAME, Tag.TEXT_LANG, Tag.NAME_LANG})
_OUT_OF_BAND = range(0x10, 0x20)


# -- decoding ------------------------------------------------------------------------------------


class _Reader:
    def __init__(self, data: bytes, limits: Limits, request_id: int) -> None:
        self.data = data
        self.pos = 0
        self.limits = limits
        self.values = 0
        self.request_id = request_id

    def fail(self, message: str, status: Status = Status.BAD_REQUEST) -> IppParseError:
        return IppParseError(message, status, self.request_id)

    def take(self, n: int, what: str) -> bytes:
        end = self.pos + n
        if end > len(self.data):
            if end > self.limits.max_attribute_bytes:
                raise self.fail(
                    f"the request's attributes are larger than "
                    f"{self.limits.max_attribute_bytes} bytes",
                    Status.REQUEST_ENTITY_TOO_LARGE,
                )
            raise self.fail(f"the request ends in the middle of {what}")
        out = self.data[self.pos : end]
        self.pos = end
        return out

    def u8(self, what: str) -> int:
        return self.take(1, what)[0]

    def u16(self, what: str) -> int:
        return int.from_bytes(self.take(2, what), "big")

    def peek(self) -> int | None:
        return self.data[self.pos] if self.pos < len(self.data) else None

    def count_value(self) -> None:
        self.values += 1
        if self.values > self.limits.max_values:
            raise self.fail(
                f"the request has more than {self.limits.max_values} attribute values",
                Status.REQUEST_ENTITY_TOO_LARGE,
            )


def _text(raw: bytes, tag: int, r: _Reader, name: str) -> str:
    try:
        return raw.decode("utf-8") if tag in _UTF8_TAGS else raw.decode("ascii")
    except UnicodeDecodeError:
        kind = "UTF-8" if tag in _UTF8_TAGS else "US-ASCII"
        raise r.fail(f"attribute {name!r}: a value is not {kind} text") from None


def _date(raw: bytes, r: _Reader, name: str) -> datetime:
    # RFC 2579 DateAndTime, 11 octets: year(2) month day hour minutes seconds deci-seconds
    # direction-from-UTC ('+'/'-') hours-from-UTC minutes-from-UTC.
    year, month, day, hour, minute, sec, deci, sign, oh, om = struct.unpack(">HBBBBBBcBB", raw)
    if sign not in (b"+", b"-") or oh > 13 or om > 59 or deci > 9:
        raise r.fail(f"attribute {name!r}: a dateTime value is not valid")
    offset = timedelta(hours=oh, minutes=om) * (1 if sign == b"+" else -1)
    try:
        return datetime(
            year, month, day, hour, minute, sec, deci * 100_000, tzinfo=timezone(offset)
        )
    except ValueError:
        raise r.fail(f"attribute {name!r}: a dateTime value is not a real date") from None


def _value(r: _Reader, tag: int, raw: bytes, name: str) -> ValueData:
    n = len(raw)
    if tag in _OUT_OF_BAND:
        return None  # RFC 8010 3.8: the value is ignored (its length should be 0)
    if tag in (Tag.INTEGER, Tag.ENUM):
        if n != 4:
            raise r.fail(f"attribute {name!r}: an integer value is {n} bytes, not 4")
        return int.from_bytes(raw, "big", signed=True)
    if tag == Tag.BOOLEAN:
        if n != 1 or raw[0] > 1:
            raise r.fail(f"attribute {name!r}: a boolean value is not one byte 0 or 1")
        return raw[0] == 1
    if tag == Tag.DATE_TIME:
        if n != 11:
            raise r.fail(f"attribute {name!r}: a dateTime value is {n} bytes, not 11")
        return _date(raw, r, name)
    if tag == Tag.RESOLUTION:
        if n != 9:
            raise r.fail(f"attribute {name!r}: a resolution value is {n} bytes, not 9")
        x, y, units = struct.unpack(">iib", raw)
        return (x, y, units)
    if tag == Tag.RANGE:
        if n != 8:
            raise r.fail(f"attribute {name!r}: a rangeOfInteger value is {n} bytes, not 8")
        lo, hi = struct.unpack(">ii", raw)
        return (lo, hi)
    if tag in (Tag.TEXT_LANG, Tag.NAME_LANG):
        if n < 4:
            raise r.fail(f"attribute {name!r}: a value with language is too short")
        ln = int.from_bytes(raw[:2], "big")
        if 2 + ln + 2 > n:
            raise r.fail(f"attribute {name!r}: a value with language has a bad length")
        lang = raw[2 : 2 + ln]
        tn = int.from_bytes(raw[2 + ln : 4 + ln], "big")
        if 4 + ln + tn != n:
            raise r.fail(f"attribute {name!r}: a value with language has a bad length")
        return (_text(raw[4 + ln :], tag, r, name), _text(lang, Tag.LANGUAGE, r, name))
    if tag in _STRING_TAGS:
        return _text(raw, tag, r, name)
    return bytes(raw)  # octetString, and any tag this parser does not interpret


def _read_collection(r: _Reader, name: str, depth: int) -> tuple[Attribute, ...]:
    if depth > r.limits.max_depth:
        raise r.fail(
            f"attribute {name!r}: collections nested more than {r.limits.max_depth} deep",
            Status.REQUEST_ENTITY_TOO_LARGE,
        )
    members: list[Attribute] = []
    member: str | None = None
    values: list[Value] = []

    def close_member() -> None:
        if member is not None:
            if not values:
                raise r.fail(f"collection {name!r}: member {member!r} has no value")
            members.append(Attribute(member, tuple(values)))

    while True:
        tag = r.u8(f"collection {name!r}")
        if tag < 0x10:
            raise r.fail(f"collection {name!r} is not closed by an endCollection")
        nlen = r.u16(f"collection {name!r}")
        if nlen:
            raise r.fail(f"collection {name!r}: a member value has a name ({nlen} bytes)")
        vlen = r.u16(f"collection {name!r}")
        if tag == Tag.END_COLLECTION:
            r.take(vlen, f"collection {name!r}")
            close_member()
            return tuple(members)
        if tag == Tag.MEMBER_NAME:
            close_member()
            raw = r.take(vlen, f"collection {name!r}")
            if not raw:
                raise r.fail(f"collection {name!r}: a member has an empty name")
            member = _text(raw, Tag.MEMBER_NAME, r, name)
            values = []
            continue
        if member is None:
            raise r.fail(f"collection {name!r}: a value comes before any member name")
        r.count_value()
        if tag == Tag.BEGIN_COLLECTION:
            r.take(vlen, f"collection {name!r}")
            values.append(Value(tag, _read_collection(r, f"{name}.{member}", depth + 1)))
        else:
            raw = r.take(vlen, f"collection {name!r}")
            values.append(Value(tag, _value(r, tag, raw, f"{name}.{member}")))


def decode(data: bytes, limits: Limits | None = None) -> Message:
    """Parse one IPP message; the bytes after the end-of-attributes tag are its ``data``.

    Raises :class:`IppParseError` (and nothing else) for anything malformed or too large."""
    limits = limits or Limits()
    if len(data) < 8:
        raise IppParseError("the request is shorter than an IPP header (8 bytes)")
    major, minor, code = data[0], data[1], int.from_bytes(data[2:4], "big")
    request_id = int.from_bytes(data[4:8], "big")
    r = _Reader(data, limits, request_id)
    r.pos = 8
    groups: list[Group] = []
    current: int | None = None
    attrs: list[Attribute] = []
    name: str | None = None
    values: list[Value] = []

    def close_attribute() -> None:
        if name is not None:
            attrs.append(Attribute(name, tuple(values)))

    def close_group() -> None:
        close_attribute()
        if current is not None:
            groups.append(Group(current, tuple(attrs)))

    while True:
        if r.pos > limits.max_attribute_bytes:
            raise r.fail(
                f"the request's attributes are larger than {limits.max_attribute_bytes} bytes",
                Status.REQUEST_ENTITY_TOO_LARGE,
            )
        tag = r.u8("the attributes (no end-of-attributes tag)")
        if tag == GroupTag.END:
            close_group()
            break
        if tag < 0x10:
            if tag == 0:
                raise r.fail("the request uses the reserved delimiter tag 0x00")
            close_group()
            current, attrs, name, values = tag, [], None, []
            continue
        if current is None:
            raise r.fail("an attribute comes before any attribute group")
        nlen = r.u16("an attribute")
        raw_name = r.take(nlen, "an attribute name")
        vlen = r.u16("an attribute")
        if tag == Tag.EXTENSION:
            raise r.fail("the extension value tag 0x7F is not supported")
        if tag in (Tag.END_COLLECTION, Tag.MEMBER_NAME):
            raise r.fail(f"value tag 0x{tag:02X} outside of a collection")
        if nlen:
            close_attribute()
            name = _text(raw_name, Tag.KEYWORD, r, "(name)")
            values = []
        elif name is None:
            raise r.fail("an additional value comes before any attribute")
        r.count_value()
        raw = r.take(vlen, f"attribute {name!r}")
        if tag == Tag.BEGIN_COLLECTION:
            values.append(Value(tag, _read_collection(r, name, 1)))
        else:
            values.append(Value(tag, _value(r, tag, raw, name)))
    return Message((major, minor), code, request_id, tuple(groups), data[r.pos :])


# -- encoding ------------------------------------------------------------------------------------


def _u16(n: int, what: str) -> bytes:
    if not 0 <= n <= 0xFFFF:
        raise ValueError(f"{what} is longer than 65535 bytes")
    return n.to_bytes(2, "big")


def _encode_date(d: datetime) -> bytes:
    off = d.utcoffset() or timedelta(0)
    sign = b"+" if off >= timedelta(0) else b"-"
    minutes = abs(int(off.total_seconds())) // 60
    return struct.pack(
        ">HBBBBBBcBB",
        d.year,
        d.month,
        d.day,
        d.hour,
        d.minute,
        d.second,
        d.microsecond // 100_000,
        sign,
        minutes // 60,
        minutes % 60,
    )


def _encode_value(v: Value) -> bytes:
    tag, x = v.tag, v.value
    if tag in _OUT_OF_BAND or x is None:
        return b""
    if tag in (Tag.INTEGER, Tag.ENUM):
        assert isinstance(x, int)
        return int(x).to_bytes(4, "big", signed=True)
    if tag == Tag.BOOLEAN:
        return b"\x01" if x else b"\x00"
    if tag == Tag.DATE_TIME:
        assert isinstance(x, datetime)
        return _encode_date(x if x.tzinfo else x.replace(tzinfo=UTC))
    if tag == Tag.RESOLUTION:
        assert isinstance(x, tuple) and len(x) == 3
        return struct.pack(">iib", *x)
    if tag == Tag.RANGE:
        assert isinstance(x, tuple) and len(x) == 2
        return struct.pack(">ii", *x)
    if tag in (Tag.TEXT_LANG, Tag.NAME_LANG):
        assert isinstance(x, tuple) and len(x) == 2
        text, lang = str(x[0]).encode(), str(x[1]).encode("ascii")
        return _u16(len(lang), "a language") + lang + _u16(len(text), "a text") + text
    if isinstance(x, str):
        return x.encode("utf-8" if tag in _UTF8_TAGS else "ascii")
    if isinstance(x, bytes):
        return x
    raise ValueError(f"cannot encode {x!r} with tag 0x{tag:02X}")


def _encode_attribute(out: bytearray, name: str, values: Sequence[Value]) -> None:
    if not values:
        raise ValueError(f"attribute {name!r} has no value")
    for i, v in enumerate(values):
        nm = name.encode("ascii") if i == 0 else b""
        out += bytes([v.tag]) + _u16(len(nm), "a name") + nm
        if v.tag == Tag.BEGIN_COLLECTION:
            out += b"\x00\x00"
            assert isinstance(v.value, tuple)
            for member in v.value:
                assert isinstance(member, Attribute)
                mn = member.name.encode("ascii")
                out += bytes([Tag.MEMBER_NAME]) + b"\x00\x00" + _u16(len(mn), "a name") + mn
                _encode_attribute(out, "", member.values)
            out += bytes([Tag.END_COLLECTION]) + b"\x00\x00\x00\x00"
        else:
            raw = _encode_value(v)
            out += _u16(len(raw), f"a value of {name!r}") + raw


def encode(msg: Message) -> bytes:
    """The bytes of ``msg`` (header, groups, end tag, data). ValueError for what cannot be
    encoded (a value longer than 65535 bytes, an attribute without values)."""
    out = bytearray()
    out += bytes([msg.version[0], msg.version[1]])
    out += msg.code.to_bytes(2, "big") + msg.request_id.to_bytes(4, "big")
    for g in msg.groups:
        out.append(g.tag)
        for a in g.attributes:
            _encode_attribute(out, a.name, a.values)
    out.append(GroupTag.END)
    return bytes(out) + msg.data


# -- building helpers ----------------------------------------------------------------------------


def attr(name: str, tag: int, *values: ValueData) -> Attribute:
    """``attr("copies", Tag.INTEGER, 1)``: an attribute whose values share one tag."""
    return Attribute(name, tuple(Value(tag, v) for v in values))


def collection(*members: Attribute) -> Value:
    return Value(Tag.BEGIN_COLLECTION, tuple(members))


def group(tag: int, attributes: Iterable[Attribute]) -> Group:
    return Group(tag, tuple(attributes))
