"""The JSON shape of model objects, defined once for the server and the client.

Rules (see ``docs/http-api.md``): enums are their lower-case names, flags a list of lower-case
names, datetimes ISO 8601 UTC with ``Z``, frozensets sorted lists, nested dataclasses objects.
:func:`from_wire` accepts names or numeric values for enums and rejects what it cannot read with
:class:`~lanfax.model.errors.InvalidInput` naming the field.
"""

from __future__ import annotations

import dataclasses
import enum
import types
import typing
from collections.abc import Mapping
from datetime import UTC, datetime
from functools import cache
from typing import Any, TypeVar

from lanfax.model.errors import InvalidInput

T = TypeVar("T")


def enum_to_wire(value: enum.Enum) -> Any:
    if isinstance(value, enum.IntFlag):
        return [m.name.lower() for m in type(value) if m.value and m in value and m.name]
    return value.name.lower()


def enum_from_wire(cls: type[enum.Enum], value: Any, field: str = "value") -> Any:
    """Decode an enum from its name (any case) or its numeric value."""
    if isinstance(value, cls):
        return value
    if issubclass(cls, enum.IntFlag):
        if isinstance(value, int) and not isinstance(value, bool):
            return cls(value)
        if isinstance(value, str):
            value = [v for v in value.split(",") if v.strip()]
        if isinstance(value, list | tuple):
            out = cls(0)
            for item in value:
                out |= _member(cls, item, field)
            return out
    return _member(cls, value, field)


def _member(cls: type[enum.Enum], value: Any, field: str) -> Any:
    if isinstance(value, str):
        key = value.strip().upper().replace("-", "_").replace(" ", "_")
        if key in cls.__members__:
            return cls.__members__[key]
        for member in cls:
            if isinstance(member.value, str) and member.value == value:
                return member
    elif isinstance(value, int) and not isinstance(value, bool):
        try:
            return cls(value)
        except ValueError:
            pass
    names = ", ".join(m.lower() for m in cls.__members__)
    raise InvalidInput(f"{field}: {value!r} is not valid", hint=f"use one of: {names}")


def datetime_to_wire(value: datetime) -> str:
    if value.tzinfo is None:
        raise ValueError("naive datetimes are not allowed on the wire")
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def datetime_from_wire(value: Any, field: str = "value") -> datetime:
    if isinstance(value, datetime):
        out = value
    elif isinstance(value, str):
        try:
            out = datetime.fromisoformat(
                value.strip().replace("Z", "+00:00").replace("z", "+00:00")
            )
        except ValueError:
            raise InvalidInput(
                f"{field}: {value!r} is not a date and time",
                hint="use ISO 8601, e.g. 2026-11-21T18:30:00Z or 2026-11-21T19:30:00+01:00",
            ) from None
    else:
        raise InvalidInput(f"{field}: {value!r} is not a date and time", hint="use ISO 8601")
    if out.tzinfo is None:
        raise InvalidInput(
            f"{field}: {value!r} has no time zone",
            hint="add Z for UTC or an offset such as +01:00",
        )
    return out.astimezone(UTC)


#: Types that are their own wire form (exactly these: an IntEnum is an int, but not plain).
_PLAIN = frozenset({str, int, float, bool, type(None)})


@cache
def _field_names(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(cls))


def to_wire(obj: Any) -> Any:
    """A JSON-able value for a model dataclass (or any value made of them)."""
    if type(obj) in _PLAIN:  # most fields of a job: the quick answer first
        return obj
    enc = _ENCODERS.get(type(obj))
    if enc is not None:
        return enc(obj)
    return _to_wire_slow(obj)


def _to_wire_slow(obj: Any) -> Any:
    if isinstance(obj, enum.Enum):
        return _enum_encoder(type(obj))(obj)
    if obj is None or isinstance(obj, bool | int | float | str):
        return obj
    if isinstance(obj, datetime):
        return datetime_to_wire(obj)
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return _dataclass_encoder(type(obj))(obj)
    if isinstance(obj, Mapping):
        return {str(k): to_wire(v) for k, v in obj.items()}
    if isinstance(obj, frozenset | set):
        return sorted(to_wire(v) for v in obj)
    if isinstance(obj, list | tuple):
        return [to_wire(v) for v in obj]
    if hasattr(obj, "__fspath__"):
        return str(obj)
    raise TypeError(f"cannot put {type(obj).__name__} on the wire")


#: Encoders compiled once per type (a listing encodes thousands of jobs: each field's
#: general dispatch in to_wire was most of the time of a page of jobs).
_ENCODERS: dict[type, Any] = {datetime: datetime_to_wire}


def _enum_encoder(cls: type[enum.Enum]) -> Any:
    names = {m: enum_to_wire(m) for m in cls}

    def enc(value: enum.Enum) -> Any:
        try:
            return names[value]
        except KeyError:  # a flag combination: computed
            return enum_to_wire(value)

    _ENCODERS[cls] = enc
    return enc


def _dataclass_encoder(cls: type) -> Any:
    names = _field_names(cls)

    def enc(obj: Any) -> dict[str, Any]:
        out = {}
        for name in names:
            v = getattr(obj, name)
            out[name] = v if type(v) in _PLAIN else to_wire(v)
        return out

    _ENCODERS[cls] = enc
    return enc


@cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _decode(tp: Any, value: Any, field: str) -> Any:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if value is None:
            if len(args) != len(typing.get_args(tp)):
                return None
            raise InvalidInput(f"{field}: a value is required", hint="give a value, not null")
        return _decode(args[0], value, field)
    if tp is Any:
        return value
    if origin in (dict, Mapping) or tp is dict:
        if not isinstance(value, Mapping):
            raise InvalidInput(f"{field}: expected an object", hint="send a JSON object")
        return dict(value)
    if origin in (frozenset, set, list, tuple):
        if not isinstance(value, list | tuple):
            raise InvalidInput(f"{field}: expected a list", hint="send a JSON array")
        (arg, *_) = typing.get_args(tp) or (Any,)
        items = [_decode(arg, v, f"{field}[{i}]") for i, v in enumerate(value)]
        return origin(items) if origin is not list else items
    if isinstance(tp, type):
        if issubclass(tp, enum.Enum):
            return enum_from_wire(tp, value, field)
        if tp is datetime:
            return datetime_from_wire(value, field)
        if dataclasses.is_dataclass(tp):
            if not isinstance(value, Mapping):
                raise InvalidInput(f"{field}: expected an object", hint="send a JSON object")
            return from_wire(tp, value, prefix=f"{field}.")
        if tp is bool:
            if isinstance(value, bool):
                return value
            raise InvalidInput(f"{field}: {value!r} is not true or false", hint="use true/false")
        if tp is int:
            if isinstance(value, int) and not isinstance(value, bool):
                return value
            raise InvalidInput(f"{field}: {value!r} is not a whole number", hint="use digits")
        if tp is float:
            if isinstance(value, int | float) and not isinstance(value, bool):
                return float(value)
            raise InvalidInput(f"{field}: {value!r} is not a number", hint="use a number")
        if tp is str:
            if isinstance(value, str):
                return value
            raise InvalidInput(f"{field}: {value!r} is not text", hint="send a JSON string")
    return value


def from_wire(
    cls: type[T], data: Mapping[str, Any], *, strict: bool = False, prefix: str = ""
) -> T:
    """Build dataclass ``cls`` from its wire form.

    ``strict`` rejects unknown fields (for input from users); otherwise they are ignored, so an
    older client can read a newer server's answers.
    """
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"{cls!r} is not a dataclass")
    if not isinstance(data, Mapping):
        raise InvalidInput(f"{prefix or 'body'}: expected an object", hint="send a JSON object")
    fields = _decoders(cls)
    if strict:
        unknown = sorted(set(data) - set(fields))
        if unknown:
            raise InvalidInput(
                f"unknown field(s) {', '.join(prefix + u for u in unknown)}",
                hint=f"known fields: {', '.join(fields)}",
            )
    kwargs: dict[str, Any] = {}
    for name, (decode, required) in fields.items():
        if name in data:
            kwargs[name] = decode(data[name], prefix + name)
        elif required:
            raise InvalidInput(f"{prefix}{name} is required", hint=f"add the field {name!r}")
    return cls(**kwargs)


@cache
def _decoders(cls: type) -> dict[str, tuple[Any, bool]]:
    """Each field's decoder (compiled once from its type) and whether it is required."""
    hints = _hints(cls)
    out: dict[str, tuple[Any, bool]] = {}
    for f in dataclasses.fields(cls):
        required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING  # type: ignore[misc]
        out[f.name] = (_compile(hints[f.name]), required)
    return out


def _compile(tp: Any) -> Any:
    """A decoder ``(value, field) -> value`` for type ``tp``, doing what :func:`_decode` does
    with the type's dispatch done once, here."""

    def general(value: Any, field: str) -> Any:
        return _decode(tp, value, field)

    if tp is str:

        def text(value: Any, field: str) -> Any:
            if type(value) is str:
                return value
            return _decode(tp, value, field)

        return text
    if tp is int:

        def whole(value: Any, field: str) -> Any:
            if type(value) is int:
                return value
            return _decode(tp, value, field)

        return whole
    if isinstance(tp, type) and issubclass(tp, enum.Enum) and not issubclass(tp, enum.IntFlag):
        by_name = {name.lower(): m for name, m in tp.__members__.items()}

        def member(value: Any, field: str) -> Any:
            if type(value) is str:
                hit = by_name.get(value)
                if hit is not None:
                    return hit
            return enum_from_wire(tp, value, field)

        return member
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        inner = [a for a in args if a is not type(None)]
        if len(inner) == 1 and len(inner) != len(args):
            one = _compile(inner[0])

            def optional(value: Any, field: str) -> Any:
                return None if value is None else one(value, field)

            return optional
    return general
