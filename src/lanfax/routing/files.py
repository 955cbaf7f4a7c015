""":class:`FileSetCallbacks`: the faxroute.h callbacks over a per-fax list of files.

In memory by default; given a ``root`` directory it keeps one small JSON manifest per fax
(``<root>/job-<id>.json``, atomically replaced), so a fax kept as a routing job still has its
file list and routing data after a restart. The files themselves stay where they are.
"""

from __future__ import annotations

import asyncio
import copy
import json
import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lanfax.model.errors import InvalidInput, NotFound, StoreError
from lanfax.routing.api import normalize_guid


@dataclass(slots=True)
class _FaxFiles:
    files: list[str] = field(default_factory=list)
    #: Which method added each file ("" for the files the service registered).
    added_by: list[str] = field(default_factory=list)
    routing_data: dict[str, dict[str, Any]] = field(default_factory=dict)


class FileSetCallbacks:
    """A :class:`~lanfax.routing.api.RouteCallbacks` the service (and tests) can use as is."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = Path(root) if root is not None else None
        self._jobs: dict[int, _FaxFiles] = {}
        self._saving = asyncio.Lock()
        self._loading = asyncio.Lock()
        if self.root is not None:
            self.root.mkdir(parents=True, exist_ok=True)

    # -- persistence -----------------------------------------------------------------

    def _manifest(self, job_id: int) -> Path | None:
        return None if self.root is None else self.root / f"job-{int(job_id)}.json"

    def _job(self, job_id: int, *, create: bool = False) -> _FaxFiles:
        job = self._jobs.get(job_id)
        if job is None:
            manifest = self._manifest(job_id)
            if manifest is not None and manifest.exists():
                try:
                    raw = json.loads(manifest.read_text(encoding="utf-8"))
                    job = _FaxFiles(
                        files=[str(p) for p in raw["files"]],
                        added_by=[str(g) for g in raw["added_by"]],
                        routing_data={str(k): dict(v) for k, v in raw["routing_data"].items()},
                    )
                except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
                    raise StoreError(
                        f"the routing manifest {manifest} cannot be read: {exc}",
                        hint="remove it and route the fax again from its TIFF",
                    ) from None
            elif create:
                job = _FaxFiles()
            else:
                raise NotFound(
                    f"fax {job_id} has no files registered for routing",
                    hint="RoutingManager.route_fax registers them; call it first",
                )
            self._jobs[job_id] = job
        return job

    async def _job_async(self, job_id: int, *, create: bool = False) -> _FaxFiles:
        """:meth:`_job`, reading a manifest (a file) off the event loop (issue #14, item 7)."""
        job = self._jobs.get(job_id)
        if job is not None:
            return job
        async with self._loading:  # one load at a time: two would make two copies of a fax
            job = self._jobs.get(job_id)
            if job is None:
                job = await asyncio.to_thread(self._job, job_id, create=create)
            return job

    async def _save_async(self, job_id: int) -> None:
        """Write the fax's manifest durably, the write and its fsync off the event loop
        (issue #14, item 7). One save at a time, its content taken when its turn comes: the
        last write holds the newest content."""
        manifest = self._manifest(job_id)
        if manifest is None:
            return
        async with self._saving:
            await asyncio.to_thread(self._write, manifest, self._body(job_id))

    def _body(self, job_id: int) -> dict[str, Any]:
        job = self._jobs[job_id]
        body = {"files": job.files, "added_by": job.added_by, "routing_data": job.routing_data}
        return copy.deepcopy(body)

    @staticmethod
    def _write(manifest: Path, body: dict[str, Any]) -> None:
        fd, tmp = tempfile.mkstemp(dir=manifest.parent, prefix=f".{manifest.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(body, f)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, manifest)
        except OSError as exc:
            Path(tmp).unlink(missing_ok=True)
            raise StoreError(
                f"cannot write the routing manifest {manifest}: {exc.strerror}",
                hint="check free space and permissions",
            ) from None

    def forget(self, job_id: int) -> None:
        """Drop everything known about a fax (when its routing is finished)."""
        self._jobs.pop(job_id, None)
        manifest = self._manifest(job_id)
        if manifest is not None:
            manifest.unlink(missing_ok=True)

    # -- RouteCallbacks ----------------------------------------------------------------

    async def register_files(self, job_id: int, files: Sequence[Path]) -> None:
        if not files:
            raise InvalidInput(
                f"fax {job_id} has no files", hint="pass the received TIFF as the first file"
            )
        job = await self._job_async(job_id, create=True)
        changed = False
        for p in files:
            path = str(Path(p).absolute())
            if path not in job.files:
                job.files.append(path)
                job.added_by.append("")
                changed = True
        if changed:
            await self._save_async(job_id)

    async def add_file(self, job_id: int, path: Path, guid: str) -> int:
        job = await self._job_async(job_id)
        p = Path(path).absolute()
        if not p.is_file():
            raise InvalidInput(
                f"{p} is not a file", hint="write the file before attaching it to the fax"
            )
        if str(p) in job.files:
            return job.files.index(str(p))
        job.files.append(str(p))
        job.added_by.append(normalize_guid(guid))
        await self._save_async(job_id)
        return len(job.files) - 1

    async def delete_file(self, job_id: int, path: Path) -> None:
        job = await self._job_async(job_id)
        p = str(Path(path).absolute())
        if p not in job.files:
            raise NotFound(f"{p} is not a file of fax {job_id}", hint="see enum_files")
        index = job.files.index(p)
        if index == 0:
            raise InvalidInput(
                "the received fax itself cannot be detached from its routing job",
                hint="detach only files that routing methods added",
            )
        del job.files[index]
        del job.added_by[index]
        await self._save_async(job_id)

    async def get_file(self, job_id: int, index: int) -> Path:
        job = await self._job_async(job_id)
        if not 0 <= index < len(job.files):
            raise NotFound(
                f"fax {job_id} has no file number {index}",
                hint=f"it has {len(job.files)} file(s), numbered from 0 (the received fax)",
            )
        return Path(job.files[index])

    async def enum_files(self, job_id: int) -> list[Path]:
        return [Path(p) for p in (await self._job_async(job_id)).files]

    async def modify_routing_data(self, job_id: int, guid: str, data: Mapping[str, Any]) -> None:
        job = await self._job_async(job_id)
        try:
            clean = json.loads(json.dumps(dict(data)))
        except (TypeError, ValueError) as exc:
            raise InvalidInput(
                f"routing data is not JSON-able: {exc}", hint="use plain JSON values"
            ) from None
        job.routing_data[normalize_guid(guid)] = clean
        await self._save_async(job_id)

    async def get_routing_data(self, job_id: int, guid: str) -> dict[str, Any]:
        job = await self._job_async(job_id)
        return copy.deepcopy(job.routing_data.get(normalize_guid(guid), {}))
