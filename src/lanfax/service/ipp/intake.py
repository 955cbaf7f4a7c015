"""Taking in a printed document: raster streams decoded to a TIFF the converter reads, a
draft's document committed to ``spool/drafts``, and what Create-Job asked kept as JSON until
Send-Document brings the document."""

from __future__ import annotations

from pathlib import Path

from lanfax.service.ipp.codec import Status
from lanfax.service.ipp.model import Destination, FaxRequest, IppError


def commit_draft_file(path: Path, folder: Path, name: str) -> None:
    from lanfax.service.spool import fsync_dir

    folder.mkdir(parents=True, exist_ok=True)
    path.replace(folder / name)
    fsync_dir(folder)


def raster_to_tiff(data: bytes, fmt: str, out: Path) -> None:
    """Decode a PWG/Apple raster stream into a greyscale TIFF the converter takes."""
    from lanfax.documents.ippraster import RasterError, decode_to_tiff

    try:
        decode_to_tiff(data, fmt, out)
    except RasterError as exc:
        raise IppError(Status.DOCUMENT_FORMAT_ERROR, str(exc)) from None


def fax_to_json(fax: FaxRequest) -> dict[str, object]:
    from lanfax.model.wire import to_wire

    return {
        "destinations": [
            {"number": d.number, "uri": d.uri, "to_name": d.to_name} for d in fax.destinations
        ],
        "cover": to_wire(fax.cover) if fax.cover is not None else None,
        "retries": fax.retries,
        "retry_delay_min": fax.retry_delay_min,
    }


def fax_from_json(data: dict[str, object]) -> FaxRequest:
    from lanfax.model.jobs import CoverPageInfo
    from lanfax.model.wire import from_wire

    raw = data.get("destinations")
    items = raw if isinstance(raw, list) else []
    dests = tuple(
        Destination(str(d["number"]), str(d["uri"]), str(d.get("to_name", "")))
        for d in items
        if isinstance(d, dict)
    )
    cover = data.get("cover")
    retries, delay = data.get("retries"), data.get("retry_delay_min")
    return FaxRequest(
        dests,
        from_wire(CoverPageInfo, cover) if isinstance(cover, dict) else None,
        retries if isinstance(retries, int) else None,
        delay if isinstance(delay, int) else None,
    )
