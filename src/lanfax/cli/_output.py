"""What the CLI prints: tables, one-line summaries, JSON, and the live ``--wait`` display."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, TextIO

from lanfax.model.codes import NO_JOB, DeviceStatus, QueueStatus
from lanfax.model.jobs import Job
from lanfax.model.wire import to_wire

if TYPE_CHECKING:  # annotations only: `lanfax send` need not load them
    from lanfax.model.config import LoggingCategory, ServerConfig
    from lanfax.model.devices import DeviceStatusInfo, PortInfo
    from lanfax.model.events import Event


def print_json(obj: Any, *, compact: bool = False, out: TextIO | None = None) -> None:
    """``obj`` in its wire form (``lanfax.model.wire.to_wire``), as the HTTP API sends it."""
    text = json.dumps(to_wire(obj), separators=(",", ":")) if compact else None
    stream = out or sys.stdout
    stream.write((text or json.dumps(to_wire(obj), indent=2)) + "\n")
    stream.flush()


def when(value: datetime | None) -> str:
    """A local, minute-precision time for people ("-" when unset)."""
    if value is None:
        return "-"
    return value.astimezone().strftime("%Y-%m-%d %H:%M")


def name(value: Any) -> str:
    """An enum as the API names it (``no_answer``); flags joined with ``+``."""
    wire = to_wire(value)
    if isinstance(wire, list):
        return "+".join(wire) or "none"
    return str(wire)


def terminal_width(stream: TextIO) -> int | None:
    """The width to cut lines to: ``COLUMNS`` if set, else the terminal's when ``stream`` is
    one; None (no cut) when output goes to a file or a pipe, where whole lines are wanted."""
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) > 0:
        return int(columns)
    try:
        if stream.isatty():
            return os.get_terminal_size(stream.fileno()).columns
    except (AttributeError, OSError, ValueError):
        pass
    return None


def cut(text: str, width: int) -> str:
    """``text`` in at most ``width`` characters, ``...`` marking a cut."""
    if len(text) <= width:
        return text
    return text[: max(0, width - 3)] + "..." if width >= 3 else text[:width]


def table(
    headers: Sequence[str],
    rows: Sequence[Sequence[Any]],
    out: TextIO | None = None,
    *,
    fit: bool = False,
) -> None:
    """A plain text table with columns as wide as their widest cell. With ``fit``, the last
    column is cut so that lines fit the terminal (see :func:`terminal_width`)."""
    cells = [[str(c) for c in headers]] + [[str(c) for c in row] for row in rows]
    stream = out or sys.stdout
    width = terminal_width(stream) if fit and headers else None
    if width is not None:
        others = [max(len(r[i]) for r in cells) for i in range(len(headers) - 1)]
        # However little room the other columns leave, the last keeps its header's width.
        room = max(len(str(headers[-1])), width - sum(others) - 2 * len(others))
        for r in cells:
            r[-1] = cut(r[-1], room)
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    for row in cells:
        stream.write("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
        stream.write("\n")


def job_state(job: Job) -> str:
    """``retrying (busy)``, ``in_progress: sending p2/3``, ``completed``..."""
    text = name(job.queue_status)
    if job.queue_status == QueueStatus.IN_PROGRESS and job.device_status != DeviceStatus.NONE:
        text += f": {name(job.device_status)}"
        if job.page_count:
            text += f" p{job.pages_done}/{job.page_count}"
    elif job.last_failure is not None and job.queue_status != QueueStatus.COMPLETED:
        text += f" ({job.last_failure.value})"
    return text


def job_line(job: Job) -> str:
    """One line about a job, for people."""
    to = job.recipient_number + (f" ({job.recipient_name})" if job.recipient_name else "")
    line = f"job {job.job_id} to {to}: {job_state(job)}"
    if job.attempts:
        line += f", attempt {job.attempts}"
    if job.status_text:
        line += f" - {job.status_text}"
    return line


def jobs_table(jobs: Sequence[Job], out: TextIO | None = None) -> None:
    rows = [
        (
            j.job_id,
            name(j.job_type),
            job_state(j),
            j.recipient_number or j.caller_id or "-",
            j.page_count,
            j.attempts,
            j.user_name or "-",
            when(j.next_attempt_at if not j.is_final else j.completed_at),
            " ".join(j.status_text.split()) or "-",
        )
        for j in jobs
    ]
    headers = ("ID", "TYPE", "STATUS", "NUMBER", "PAGES", "TRIES", "USER", "NEXT/DONE", "DETAIL")
    table(headers, rows, out, fit=True)


def ports_table(ports: Sequence[PortInfo]) -> None:
    rows = [
        (
            p.device_id,
            p.device_name,
            name(p.state),
            name(p.flags),
            p.rings,
            p.priority,
            p.tsid or "-",
            p.csid or "-",
            p.provider or "-",
        )
        for p in ports
    ]
    table(("ID", "NAME", "STATE", "FLAGS", "RINGS", "PRIO", "TSID", "CSID", "PROVIDER"), rows)


def fields(obj: Any) -> None:
    """Every field of a model object as ``name: value`` lines."""
    wire = to_wire(obj)
    width = max((len(k) for k in wire), default=0)
    for key, value in wire.items():
        if isinstance(value, list):
            shown = ", ".join(map(str, value)) or "-"
        elif isinstance(value, dict):
            shown = json.dumps(value) if value else "-"
        elif value is None or value == "":
            shown = "-"
        else:
            shown = str(value)
        sys.stdout.write(f"{key.ljust(width)}  {shown}\n")


def config_lines(config: ServerConfig) -> None:
    from lanfax.model.config import SETTINGS

    rows = [(s.name, s.windows_name, to_wire(getattr(config, s.name))) for s in SETTINGS]
    table(("SETTING", "WINDOWS NAME", "VALUE"), rows)


def logging_lines(categories: Sequence[LoggingCategory]) -> None:
    table(
        ("CATEGORY", "NAME", "LEVEL"),
        [(name(c.category), c.name, name(c.level)) for c in categories],
    )


def status_lines(status: DeviceStatusInfo) -> None:
    fields(status)


def event_wire(event: Event) -> dict[str, Any]:
    """An event as the API sends it: ``event`` is the name, ``event_id`` the FEI_ number."""
    out: dict[str, Any] = to_wire(event)
    out["event"] = event.event_id.name.lower()
    out["event_id"] = int(event.event_id)
    return out


def event_line(event: Event) -> str:
    parts = [f"{event.seq}", when(event.timestamp), name(event.event_id)]
    if event.device_id:
        parts.append(f"device {event.device_id}")
    if event.job_id != NO_JOB:
        parts.append(f"job {event.job_id}")
    if event.detail:
        parts.append(" ".join(f"{k}={v}" for k, v in sorted(event.detail.items())))
    return "  ".join(parts)


class Progress:
    """The ``send --wait`` display: one line per job.

    On a terminal the lines are redrawn in place (ANSI cursor-up and erase-line); otherwise a
    line is printed each time a job's line changes, so logs read as a history.
    """

    def __init__(self, jobs: Sequence[Job], out: TextIO | None = None) -> None:
        self.out = out or sys.stdout
        self.tty = self.out.isatty()
        self.order = [j.job_id for j in jobs]
        self.lines = {j.job_id: job_line(j) for j in jobs}
        self.drawn = 0
        if self.tty:
            self._draw()
        else:
            for job_id in self.order:
                self.out.write(self.lines[job_id] + "\n")
            self.out.flush()

    def update(self, job: Job) -> None:
        line = job_line(job)
        if self.lines.get(job.job_id) == line:
            return
        self.lines[job.job_id] = line
        if self.tty:
            self._draw()
        else:
            self.out.write(line + "\n")
            self.out.flush()

    def _draw(self) -> None:
        buf = f"\x1b[{self.drawn}F" if self.drawn else ""
        for job_id in self.order:
            buf += "\x1b[2K" + self.lines[job_id] + "\n"
        self.drawn = len(self.order)
        self.out.write(buf)
        self.out.flush()
