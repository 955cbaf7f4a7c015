"""What every faxcomex object shares: the enumerations under their Windows names, the error
convention, collections, and the conversions from lanfax's model.

Errors: a member that fails raises a :class:`~lanfax.model.errors.FaxError` subclass (its
message and hint say what to do) carrying ``winerror`` (the Windows error number) and
``hresult`` (``HRESULT_FROM_WIN32(winerror)``, what VBScript's ``Err.Number`` shows). A
member lanfax cannot do raises :class:`~lanfax.model.errors.Unavailable` with
ERROR_NOT_SUPPORTED (hresult 0x80070032) and says why; docs/faxcomex.md lists them.
"""

from __future__ import annotations

import enum
import functools
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Generic, TypeVar

from lanfax.client.winfax import winerror_of
from lanfax.client.winfax_types import ERROR_NOT_SUPPORTED
from lanfax.model.codes import DeviceStatus, QueueStatus
from lanfax.model.errors import FaxError, InvalidInput, Unavailable

T = TypeVar("T")
C = TypeVar("C", bound=type)


def hresult_from_win32(winerror: int) -> int:
    """HRESULT_FROM_WIN32: 0x8007xxxx for a Windows error number (0 stays 0, S_OK)."""
    if winerror <= 0:
        return winerror
    return (0x80070000 | (winerror & 0xFFFF)) & 0xFFFFFFFF


def _attach(exc: FaxError) -> FaxError:
    winerror = winerror_of(exc)
    exc.winerror = winerror  # type: ignore[attr-defined]
    exc.hresult = hresult_from_win32(winerror)  # type: ignore[attr-defined]
    return exc


def com_method(fn: Callable[..., T]) -> Callable[..., T]:
    if getattr(fn, "__com__", False):
        return fn

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> T:
        try:
            return fn(*args, **kwargs)
        except FaxError as exc:
            raise _attach(exc) from exc.__cause__

    wrapper.__com__ = True  # type: ignore[attr-defined]
    return wrapper


def com_object(cls: C) -> C:
    """Give every public method and property accessor of ``cls`` (its own and those it
    inherits from lanfax's base classes) the error convention."""
    members: dict[str, Any] = {}
    for klass in reversed(cls.__mro__):
        if klass.__module__.startswith("lanfax."):
            members.update(vars(klass))
    for name, value in members.items():
        if name.startswith("_"):
            continue
        if isinstance(value, property):
            setattr(
                cls,
                name,
                property(
                    com_method(value.fget) if value.fget else None,
                    com_method(value.fset) if value.fset else None,
                    None,
                    value.__doc__,
                ),
            )
        elif callable(value) and not isinstance(value, type):
            setattr(cls, name, com_method(value))
    return cls


def not_supported(member: str, why: str) -> Unavailable:
    """The error of a member lanfax cannot do (ERROR_NOT_SUPPORTED, listed in the docs)."""
    exc = Unavailable(f"{member} is not supported by lanfax: {why}", hint="see docs/faxcomex.md")
    exc.detail["unsupported"] = True
    exc.winerror = ERROR_NOT_SUPPORTED  # type: ignore[attr-defined]
    exc.hresult = hresult_from_win32(ERROR_NOT_SUPPORTED)  # type: ignore[attr-defined]
    return exc


# -- enumerations (faxcomex.h) -------------------------------------------------------------


class FAX_PRIORITY_TYPE_ENUM(enum.IntEnum):
    fptLOW = 0
    fptNORMAL = 1
    fptHIGH = 2


class FAX_SCHEDULE_TYPE_ENUM(enum.IntEnum):
    fstNOW = 0
    fstSPECIFIC_TIME = 1
    fstDISCOUNT_PERIOD = 2


class FAX_RECEIPT_TYPE_ENUM(enum.IntFlag):
    frtNONE = 0
    frtMAIL = 1
    frtMSGBOX = 4


class FAX_COVERPAGE_TYPE_ENUM(enum.IntEnum):
    fcptNONE = 0
    fcptLOCAL = 1
    fcptSERVER = 2


class FAX_JOB_STATUS_ENUM(enum.IntFlag):
    fjsPENDING = 0x1
    fjsINPROGRESS = 0x2
    fjsFAILED = 0x8
    fjsPAUSED = 0x10
    fjsNOLINE = 0x20
    fjsRETRYING = 0x40
    fjsRETRIES_EXCEEDED = 0x80
    fjsCOMPLETED = 0x100
    fjsCANCELED = 0x200
    fjsCANCELING = 0x400
    fjsROUTING = 0x800


class FAX_JOB_EXTENDED_STATUS_ENUM(enum.IntEnum):
    fjesNONE = 0
    fjesDISCONNECTED = 1
    fjesINITIALIZING = 2
    fjesDIALING = 3
    fjesTRANSMITTING = 4
    fjesANSWERED = 5
    fjesRECEIVING = 6
    fjesLINE_UNAVAILABLE = 7
    fjesBUSY = 8
    fjesNO_ANSWER = 9
    fjesBAD_ADDRESS = 10
    fjesNO_DIAL_TONE = 11
    fjesFATAL_ERROR = 12
    fjesCALL_DELAYED = 13
    fjesCALL_BLACKLISTED = 14
    fjesNOT_FAX_CALL = 15
    fjesPARTIALLY_RECEIVED = 16
    fjesHANDLED = 17
    fjesCALL_COMPLETED = 18
    fjesCALL_ABORTED = 19
    fjesPROPRIETARY = 0x1000000


class FAX_JOB_OPERATIONS_ENUM(enum.IntFlag):
    fjoVIEW = 0x1
    fjoPAUSE = 0x2
    fjoRESUME = 0x4
    fjoRESTART = 0x8
    fjoDELETE = 0x10
    fjoRECIPIENT_INFO = 0x20
    fjoSENDER_INFO = 0x40


class FAX_JOB_TYPE_ENUM(enum.IntEnum):
    fjtSEND = 0
    fjtRECEIVE = 1
    fjtROUTING = 2


class FAX_ACCESS_RIGHTS_ENUM(enum.IntFlag):
    farSUBMIT_LOW = 0x1
    farSUBMIT_NORMAL = 0x2
    farSUBMIT_HIGH = 0x4
    farQUERY_JOBS = 0x8
    farMANAGE_JOBS = 0x10
    farQUERY_CONFIG = 0x20
    farMANAGE_CONFIG = 0x40
    farQUERY_IN_ARCHIVE = 0x80
    farMANAGE_IN_ARCHIVE = 0x100
    farQUERY_OUT_ARCHIVE = 0x200
    farMANAGE_OUT_ARCHIVE = 0x400


class FAX_SERVER_EVENTS_TYPE_ENUM(enum.IntFlag):
    fsetNONE = 0
    fsetIN_QUEUE = 0x1
    fsetOUT_QUEUE = 0x2
    fsetCONFIG = 0x4
    fsetACTIVITY = 0x8
    fsetQUEUE_STATE = 0x10
    fsetIN_ARCHIVE = 0x20
    fsetOUT_ARCHIVE = 0x40
    fsetFXSSVC_ENDED = 0x80
    fsetDEVICE_STATUS = 0x100
    fsetINCOMING_CALL = 0x200


class FAX_DEVICE_RECEIVE_MODE_ENUM(enum.IntEnum):
    fdrmNO_ANSWER = 0
    fdrmAUTO_ANSWER = 1
    fdrmMANUAL_ANSWER = 2


class FAX_PROVIDER_STATUS_ENUM(enum.IntEnum):
    fpsSUCCESS = 0
    fpsSERVER_ERROR = 1
    fpsBAD_GUID = 2
    fpsBAD_VERSION = 3
    fpsCANT_LOAD = 4
    fpsCANT_LINK = 5
    fpsCANT_INIT = 6


class FAX_LOG_LEVEL_ENUM(enum.IntEnum):
    fllNONE = 0
    fllMIN = 1
    fllMED = 2
    fllMAX = 3


ENUMS: tuple[type[enum.Enum], ...] = (
    FAX_PRIORITY_TYPE_ENUM,
    FAX_SCHEDULE_TYPE_ENUM,
    FAX_RECEIPT_TYPE_ENUM,
    FAX_COVERPAGE_TYPE_ENUM,
    FAX_JOB_STATUS_ENUM,
    FAX_JOB_EXTENDED_STATUS_ENUM,
    FAX_JOB_OPERATIONS_ENUM,
    FAX_JOB_TYPE_ENUM,
    FAX_ACCESS_RIGHTS_ENUM,
    FAX_SERVER_EVENTS_TYPE_ENUM,
    FAX_DEVICE_RECEIVE_MODE_ENUM,
    FAX_PROVIDER_STATUS_ENUM,
    FAX_LOG_LEVEL_ENUM,
)


# -- from lanfax's model -------------------------------------------------------------------

_STATUS = {
    QueueStatus.PENDING: FAX_JOB_STATUS_ENUM.fjsPENDING,
    QueueStatus.IN_PROGRESS: FAX_JOB_STATUS_ENUM.fjsINPROGRESS,
    QueueStatus.FAILED: FAX_JOB_STATUS_ENUM.fjsFAILED,
    QueueStatus.PAUSED: FAX_JOB_STATUS_ENUM.fjsPENDING | FAX_JOB_STATUS_ENUM.fjsPAUSED,
    QueueStatus.NO_LINE: FAX_JOB_STATUS_ENUM.fjsPENDING | FAX_JOB_STATUS_ENUM.fjsNOLINE,
    QueueStatus.RETRYING: FAX_JOB_STATUS_ENUM.fjsRETRYING,
    QueueStatus.RETRIES_EXCEEDED: FAX_JOB_STATUS_ENUM.fjsRETRIES_EXCEEDED,
    QueueStatus.COMPLETED: FAX_JOB_STATUS_ENUM.fjsCOMPLETED,
    QueueStatus.CANCELED: FAX_JOB_STATUS_ENUM.fjsCANCELED,
    QueueStatus.CANCELING: FAX_JOB_STATUS_ENUM.fjsCANCELING,
    QueueStatus.ROUTING: FAX_JOB_STATUS_ENUM.fjsROUTING,
}


def job_status(status: QueueStatus) -> FAX_JOB_STATUS_ENUM:
    """FAX_JOB_STATUS_ENUM of a queue state (paused and no-line are modifiers of pending)."""
    return _STATUS.get(status, FAX_JOB_STATUS_ENUM.fjsPENDING)


_E = FAX_JOB_EXTENDED_STATUS_ENUM
_EXTENDED = {
    "DIALING": _E.fjesDIALING,
    "SENDING": _E.fjesTRANSMITTING,
    "RECEIVING": _E.fjesRECEIVING,
    "COMPLETED": _E.fjesCALL_COMPLETED,
    "HANDLED": _E.fjesHANDLED,
    "UNAVAILABLE": _E.fjesLINE_UNAVAILABLE,
    "BUSY": _E.fjesBUSY,
    "NO_ANSWER": _E.fjesNO_ANSWER,
    "BAD_ADDRESS": _E.fjesBAD_ADDRESS,
    "NO_DIAL_TONE": _E.fjesNO_DIAL_TONE,
    "DISCONNECTED": _E.fjesDISCONNECTED,
    "FATAL_ERROR": _E.fjesFATAL_ERROR,
    "NOT_FAX_CALL": _E.fjesNOT_FAX_CALL,
    "CALL_DELAYED": _E.fjesCALL_DELAYED,
    "CALL_BLACKLISTED": _E.fjesCALL_BLACKLISTED,
    "INITIALIZING": _E.fjesINITIALIZING,
    "ABORTING": _E.fjesCALL_ABORTED,
    "ANSWERED": _E.fjesANSWERED,
}


def extended_status(status: DeviceStatus | int) -> FAX_JOB_EXTENDED_STATUS_ENUM:
    """FAX_JOB_EXTENDED_STATUS_ENUM of a device status (FPS_*); fjesNONE when idle."""
    try:
        name = DeviceStatus(status).name or ""
    except ValueError:
        return _E.fjesNONE
    return _EXTENDED.get(name, _E.fjesNONE)


def one_based(index: Any, count: int, what: str) -> int:
    """A collection index as VBScript gives it (1 to Count) -> a Python index."""
    if isinstance(index, bool) or not isinstance(index, int) or not 1 <= index <= count:
        raise InvalidInput(
            f"{what} has no item {index!r}", hint=f"collections count from 1 to {count}"
        )
    return index - 1


class Collection(Generic[T]):
    """A COM collection: ``Count``, ``Item(i)`` (1-based, also ``c(i)``), and ``For Each``."""

    _what = "the collection"

    def __init__(self, items: Sequence[T]) -> None:
        self._items = list(items)

    @property
    def Count(self) -> int:
        return len(self._items)

    def Item(self, vIndex: int) -> T:
        return self._items[one_based(vIndex, len(self._items), self._what)]

    def __call__(self, vIndex: int) -> T:
        return self.Item(vIndex)

    def __iter__(self) -> Iterator[T]:
        return iter(list(self._items))

    def __len__(self) -> int:
        return len(self._items)
