"""The FaxOut printer's attributes (RFC 8011 section 5.4, PWG 5100.15, and what CUPS's
``-m everywhere`` needs to build a queue): a pure function of a :class:`PrinterFacts`.

The fax attributes say what the service does: ``ipp-features-supported`` = ``faxout``, ``tel``
destinations, several per job (a broadcast), one ``printer-fax-modem-*`` entry per line that
can send, retry defaults from the server's Retries/RetryDelay, and the longest cover-sheet
texts. The raster attributes (media, resolutions, PWG/Apple raster types) describe the fax
page itself: monochrome A4/Letter at 204x196 dpi ("fine"), which is what a desktop should
render for a fax.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from lanfax.service.ipp.codec import Attribute, Tag, Value, attr, collection
from lanfax.service.ipp.model import (
    DOCUMENT_FORMATS,
    MAX_DESTINATIONS,
    MAX_MESSAGE,
    MAX_NAME,
    MAX_RETRIES,
    MAX_RETRY_INTERVAL,
    MAX_SUBJECT,
    Op,
)

#: Resource of the FaxOut printer object (PWG 5100.15 section 4.1; CUPS resolves a missing
#: ``rfo`` TXT key to it).
RESOURCE = "/ipp/faxout"

#: Job template and operation attributes a client may send at job creation.
JOB_CREATION_ATTRIBUTES = (
    "confirmation-sheet-print",
    "cover-sheet-info",
    "destination-uris",
    "job-name",
    "number-of-retries",
    "retry-interval",
)

MEDIA = ("iso_a4_210x297mm", "na_letter_8.5x11in")
#: Media sizes in hundredths of millimetres (media-size member of media-col).
_MEDIA_SIZE = {"iso_a4_210x297mm": (21000, 29700), "na_letter_8.5x11in": (21590, 27940)}


@dataclass(frozen=True, slots=True)
class Modem:
    name: str
    number: str
    info: str


@dataclass(frozen=True, slots=True)
class PrinterFacts:
    """What the attributes are made of (all read by the caller, none computed here)."""

    uris: Sequence[tuple[str, str]]  # (printer uri, uri-security: "none" or "tls")
    uuid: str
    name: str
    info: str
    location: str
    make_and_model: str
    version: str
    modems: Sequence[Modem]
    retries: int
    retry_delay_min: int
    up_time: int
    now: datetime
    processing: bool
    queued: int
    accepting: bool = True
    authentication: str = "basic"


def _kw(name: str, *values: str) -> Attribute:
    return attr(name, Tag.KEYWORD, *values)


def _media_col(name: str) -> Value:
    x, y = _MEDIA_SIZE[name]
    size = collection(attr("x-dimension", Tag.INTEGER, x), attr("y-dimension", Tag.INTEGER, y))
    return collection(
        Attribute("media-size", (size,)),
        attr("media-size-name", Tag.KEYWORD, name),
        *(
            attr(f"media-{side}-margin", Tag.INTEGER, 0)
            for side in ("bottom", "left", "right", "top")
        ),
        attr("media-source", Tag.KEYWORD, "auto"),
        attr("media-type", Tag.KEYWORD, "stationery"),
    )


def printer_attributes(f: PrinterFacts) -> list[Attribute]:
    """Every attribute of the printer, in a stable order."""
    ops = sorted(int(o) for o in Op)
    uris = [u for u, _ in f.uris]
    fax_uri = uris[0].rsplit("/ipp/", 1)[0] + "/api/v1/jobs" if uris else ""
    fax_uri = fax_uri.replace("ipps://", "https://").replace("ipp://", "http://")
    state = 4 if f.processing else 3
    modems = list(f.modems) or [Modem("none", "", "no line can send")]
    out: list[Attribute] = [
        # -- RFC 8011 printer description --
        attr("printer-uri-supported", Tag.URI, *uris),
        _kw("uri-security-supported", *(s for _, s in f.uris)),
        _kw("uri-authentication-supported", *(f.authentication for _ in f.uris)),
        attr("printer-name", Tag.NAME, f.name),
        attr("printer-info", Tag.TEXT, f.info),
        attr("printer-location", Tag.TEXT, f.location),
        attr("printer-make-and-model", Tag.TEXT, f.make_and_model),
        attr("printer-more-info", Tag.URI, fax_uri.rsplit("/jobs", 1)[0] + "/docs"),
        attr("printer-state", Tag.ENUM, state),
        _kw("printer-state-reasons", "none"),
        attr(
            "printer-state-message",
            Tag.TEXT,
            "faxing" if f.processing else "idle",
        ),
        _kw("ipp-versions-supported", "1.1", "2.0"),
        attr("operations-supported", Tag.ENUM, *ops),
        attr("multiple-document-jobs-supported", Tag.BOOLEAN, False),
        attr("charset-configured", Tag.CHARSET, "utf-8"),
        attr("charset-supported", Tag.CHARSET, "us-ascii", "utf-8"),
        attr("natural-language-configured", Tag.LANGUAGE, "en"),
        attr("generated-natural-language-supported", Tag.LANGUAGE, "en"),
        attr("document-format-default", Tag.MIME_TYPE, "application/octet-stream"),
        attr("document-format-supported", Tag.MIME_TYPE, *DOCUMENT_FORMATS),
        attr("printer-is-accepting-jobs", Tag.BOOLEAN, f.accepting),
        attr("queued-job-count", Tag.INTEGER, f.queued),
        _kw("pdl-override-supported", "attempted"),
        attr("printer-up-time", Tag.INTEGER, max(1, f.up_time)),
        attr("printer-current-time", Tag.DATE_TIME, f.now),
        _kw("compression-supported", "none"),
        attr("printer-uuid", Tag.URI, f"urn:uuid:{f.uuid}"),
        attr("printer-firmware-string-version", Tag.TEXT, f.version),
        attr("job-ids-supported", Tag.BOOLEAN, True),
        _kw("which-jobs-supported", "completed", "not-completed", "all"),
        attr("multiple-operation-time-out", Tag.INTEGER, 60),
        _kw("multiple-operation-time-out-action", "abort-job"),
        _kw("job-creation-attributes-supported", *JOB_CREATION_ATTRIBUTES),
        attr("printer-kind", Tag.KEYWORD, "document"),
        _kw("identify-actions-default", "display"),
        _kw("identify-actions-supported", "display"),
        # -- PWG 5100.15 FaxOut --
        _kw("ipp-features-supported", "faxout"),
        attr("destination-uri-schemes-supported", Tag.URI_SCHEME, "tel"),
        _kw("destination-uris-supported", "destination-uri", "post-dial-string", "pre-dial-string"),
        attr("multiple-destination-uris-supported", Tag.BOOLEAN, True),
        attr("max-destination-uris-supported", Tag.INTEGER, MAX_DESTINATIONS),
        attr("printer-fax-log-uri", Tag.URI, fax_uri),
        attr("printer-fax-modem-info", Tag.TEXT, *(m.info for m in modems)),
        attr("printer-fax-modem-name", Tag.NAME, *(m.name for m in modems)),
        attr(
            "printer-fax-modem-number",
            Tag.URI,
            *(f"tel:{m.number}" if m.number else "tel:unknown" for m in modems),
        ),
        _kw(
            "cover-sheet-info-supported",
            "from-name",
            "message",
            "organization-name",
            "subject",
            "to-name",
        ),
        attr("from-name-supported", Tag.INTEGER, MAX_NAME),
        attr("to-name-supported", Tag.INTEGER, MAX_NAME),
        attr("subject-supported", Tag.INTEGER, MAX_SUBJECT),
        attr("message-supported", Tag.INTEGER, MAX_MESSAGE),
        attr("number-of-retries-default", Tag.INTEGER, f.retries),
        attr("number-of-retries-supported", Tag.RANGE, (0, MAX_RETRIES)),
        attr("retry-interval-default", Tag.INTEGER, f.retry_delay_min * 60),
        attr("retry-interval-supported", Tag.RANGE, (60, MAX_RETRY_INTERVAL)),
        attr("retry-time-out-default", Tag.INTEGER, 60),
        attr("retry-time-out-supported", Tag.RANGE, (30, 300)),
        attr("confirmation-sheet-print-default", Tag.BOOLEAN, False),
        attr("confirmation-sheet-print-supported", Tag.BOOLEAN, False),
        # -- the page (IPP Everywhere, what CUPS builds a queue from) --
        attr("copies-default", Tag.INTEGER, 1),
        attr("copies-supported", Tag.RANGE, (1, 1)),
        _kw("media-default", MEDIA[0]),
        _kw("media-supported", *MEDIA),
        _kw("media-ready", *MEDIA),
        Attribute("media-col-default", (_media_col(MEDIA[0]),)),
        Attribute("media-col-database", tuple(_media_col(m) for m in MEDIA)),
        Attribute("media-col-ready", tuple(_media_col(m) for m in MEDIA)),
        _kw("media-col-supported", "media-size", "media-size-name", "media-source", "media-type"),
        _kw("media-source-supported", "auto"),
        _kw("media-type-supported", "stationery"),
        *(
            attr(f"media-{side}-margin-supported", Tag.INTEGER, 0)
            for side in ("bottom", "left", "right", "top")
        ),
        _kw("print-color-mode-default", "monochrome"),
        _kw("print-color-mode-supported", "monochrome", "auto-monochrome"),
        attr("print-quality-default", Tag.ENUM, 4),
        attr("print-quality-supported", Tag.ENUM, 3, 4, 5),
        attr("printer-resolution-default", Tag.RESOLUTION, (204, 196, 3)),
        attr("printer-resolution-supported", Tag.RESOLUTION, (204, 98, 3), (204, 196, 3)),
        _kw("sides-default", "one-sided"),
        _kw("sides-supported", "one-sided"),
        _kw("output-bin-default", "face-up"),
        _kw("output-bin-supported", "face-up"),
        attr("orientation-requested-default", Tag.ENUM, 3),
        attr("orientation-requested-supported", Tag.ENUM, 3, 4),
        attr("pwg-raster-document-resolution-supported", Tag.RESOLUTION, (200, 200, 3)),
        _kw("pwg-raster-document-type-supported", "black_1", "sgray_8"),
        _kw("pwg-raster-document-sheet-back", "normal"),
        _kw("urf-supported", "V1.4", "CP1", "W8", "RS200", "DM1"),
        _kw("job-sheets-default", "none"),
        _kw("job-sheets-supported", "none"),
        _kw("printer-get-attributes-supported", "document-format"),
    ]
    return out


#: The attribute groups a client may name in ``requested-attributes`` (RFC 8011 4.2.5.1).
_GROUP_NAMES = {"all", "printer-description", "job-template"}


def select(attributes: Iterable[Attribute], requested: Sequence[str] | None) -> list[Attribute]:
    """The attributes ``requested`` names (all of them for None, "all" or a group name)."""
    items = list(attributes)
    if requested is None or _GROUP_NAMES & set(requested):
        return items
    wanted = set(requested)
    return [a for a in items if a.name in wanted]
