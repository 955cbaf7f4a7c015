"""The Fax Service Extended COM API (``faxcomex.h``, FAXCOMEXLib) under its Windows names,
over the blocking client: see docs/faxcomex.md and :mod:`lanfax.faxcomex`.

A script reads as it would in VBScript::

    from lanfax.faxcomex import FaxDocument, FaxServer

    server = FaxServer()
    server.Connect("")                      # LANFAX_SERVER, else the local default
    doc = FaxDocument()
    doc.Body = "offer.pdf"
    doc.Recipients.Add("12225550100", "Bud")
    job_ids = doc.ConnectedSubmit(server)    # one id per recipient
    it = server.Folders.OutgoingArchive.GetMessages()
    while not it.AtEOF:
        print(it.Message.Id, it.Message.Recipient.FaxNumber)
        it.MoveNext()

A member lanfax cannot do raises with ERROR_NOT_SUPPORTED (``exc.winerror`` 50,
``exc.hresult`` 0x80070032); every error carries ``winerror`` and ``hresult``.
"""

# ruff: noqa: F401 - the names are re-exported (__all__ is built below)
from __future__ import annotations

import enum

from lanfax.client.faxcomex._account import (
    FaxAccount,
    FaxAccountFolders,
    FaxAccountIncomingArchive,
    FaxAccountIncomingQueue,
    FaxAccountOutgoingArchive,
    FaxAccountOutgoingQueue,
    FaxAccounts,
    FaxAccountSet,
)
from lanfax.client.faxcomex._archives import (
    FaxIncomingArchive,
    FaxIncomingMessage,
    FaxIncomingMessageIterator,
    FaxOutgoingArchive,
    FaxOutgoingMessage,
    FaxOutgoingMessageIterator,
)
from lanfax.client.faxcomex._common import (
    ENUMS,
    FAX_ACCESS_RIGHTS_ENUM,
    FAX_COVERPAGE_TYPE_ENUM,
    FAX_DEVICE_RECEIVE_MODE_ENUM,
    FAX_JOB_EXTENDED_STATUS_ENUM,
    FAX_JOB_OPERATIONS_ENUM,
    FAX_JOB_STATUS_ENUM,
    FAX_JOB_TYPE_ENUM,
    FAX_LOG_LEVEL_ENUM,
    FAX_PRIORITY_TYPE_ENUM,
    FAX_PROVIDER_STATUS_ENUM,
    FAX_RECEIPT_TYPE_ENUM,
    FAX_SCHEDULE_TYPE_ENUM,
    FAX_SERVER_EVENTS_TYPE_ENUM,
    hresult_from_win32,
)
from lanfax.client.faxcomex._config import (
    FaxActivity,
    FaxActivityLogging,
    FaxDevice,
    FaxDeviceProvider,
    FaxDeviceProviders,
    FaxDevices,
    FaxEventLogging,
    FaxInboundRouting,
    FaxInboundRoutingExtension,
    FaxInboundRoutingExtensions,
    FaxInboundRoutingMethod,
    FaxInboundRoutingMethods,
    FaxLoggingOptions,
    FaxReceiptOptions,
    FaxSecurity,
)
from lanfax.client.faxcomex._document import FaxDocument, FaxRecipient, FaxRecipients, FaxSender
from lanfax.client.faxcomex._folders import FaxFolders
from lanfax.client.faxcomex._jobs import (
    FaxIncomingJob,
    FaxIncomingJobs,
    FaxIncomingQueue,
    FaxOutgoingJob,
    FaxOutgoingJobs,
    FaxOutgoingQueue,
)
from lanfax.client.faxcomex._outbound import (
    FAX_GROUP_STATUS_ENUM,
    FAX_ROUTING_RULE_CODE_ENUM,
    FAX_RULE_STATUS_ENUM,
    FaxDeviceIds,
    FaxOutboundRouting,
    FaxOutboundRoutingGroup,
    FaxOutboundRoutingGroups,
    FaxOutboundRoutingRule,
    FaxOutboundRoutingRules,
)
from lanfax.client.faxcomex._server import FaxJobStatus, FaxServer
from lanfax.model.errors import (
    AccessDenied,
    Conflict,
    FaxError,
    InvalidInput,
    NotFound,
    Unavailable,
)

# The enumeration members as module constants, as VBScript scripts define them
# (fptHIGH, fjsCOMPLETED, fsetOUT_QUEUE, ...).
_ALL_ENUMS: tuple[type[enum.Enum], ...] = (
    *ENUMS,
    FAX_GROUP_STATUS_ENUM,
    FAX_RULE_STATUS_ENUM,
    FAX_ROUTING_RULE_CODE_ENUM,
)
globals().update({name: m for e in _ALL_ENUMS for name, m in e.__members__.items()})

__all__ = sorted(
    {
        "AccessDenied",
        "Conflict",
        "FaxError",
        "InvalidInput",
        "NotFound",
        "Unavailable",
        "hresult_from_win32",
        *(e.__name__ for e in _ALL_ENUMS),
        *(name for e in _ALL_ENUMS for name in e.__members__),
        *(n for n in dir() if n.startswith("Fax")),
    }
)
