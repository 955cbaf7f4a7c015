"""The service reaches the whole store through its interface (#17, item 4).

Archive, receipts, audit, address book and printed jobs were SQL classes built over
``ctx.store`` (with an isinstance check that silently dropped audit writes, and refused the
address book, for any store that was not a SqlStore). Here the service runs on a store of
another class: a real SQLite store behind an object that is not a SqlStore, as an in-memory
store would be. And the uploads the HTTP API used to stage itself are staged by the service.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any, cast

import pytest
from tests.support.inproc import run, running_service, toml_settings

from lanfax.model.audit import AuditQuery
from lanfax.model.errors import InvalidInput
from lanfax.service.core import FaxService
from lanfax.service.rights import ROLE_RIGHTS, Caller, Role
from lanfax.service.security import Security
from lanfax.service.uploads import stage_uploads
from lanfax.store import open_store
from lanfax.store.api import Store
from lanfax.store.sql import SqlStore


class OtherStore:
    """A store that is not a SqlStore: every name is the inner store's. It counts which parts
    of the store (archive, receipts, audit, contacts, ipp) the service asked for."""

    def __init__(self, inner: SqlStore) -> None:
        self._inner = inner
        self.parts: set[str] = set()

    def __getattr__(self, name: str) -> Any:
        if name in ("archive", "receipts", "audit", "contacts", "ipp"):
            self.parts.add(name)
        return getattr(self._inner, name)


def _other_store(tmp_path: Path) -> OtherStore:
    (tmp_path / "db").mkdir()
    return OtherStore(open_store(f"sqlite:///{tmp_path / 'db' / 'lanfax.db'}"))


def test_audit_entries_are_written_to_a_store_that_is_not_sql(tmp_path: Path) -> None:
    store = _other_store(tmp_path)
    assert not isinstance(store, SqlStore)

    async def body() -> None:
        svc = FaxService(toml_settings(tmp_path), store=cast(Store, store))
        await svc.start()
        try:
            security = Security(svc)
            caller = Caller("ann", Role.ADMINISTRATOR, *ROLE_RIGHTS[Role.ADMINISTRATOR])
            await security.record(caller, "user.add", "bob", detail={"role": "user"})
            (entry,) = await security.audit(AuditQuery(action="user."))
            assert (entry.user_name, entry.action, entry.target) == ("ann", "user.add", "bob")
            assert entry.detail == {"role": "user"}
            # Retention prunes it through the same interface (it returned 0 for such a store).
            later = svc.clock.now() + timedelta(days=1)
            assert await svc.ctx.run(svc.ctx.store.audit.prune, later) == 1
            assert await security.audit(AuditQuery()) == []
            # The address book too (it was refused: "this store keeps no address book").
            added = await svc.contacts.add_contact(caller, {"name": "Bob", "fax_number": "+4930"})
            assert (await svc.contacts.get_contact(caller, added.contact_id)).name == "Bob"
            assert {"audit", "contacts"} <= store.parts
        finally:
            await svc.stop()

    run(body(), timeout=120)


def test_uploads_are_staged_by_the_service_in_order_and_durably(tmp_path: Path) -> None:
    async def body() -> None:
        async with running_service(tmp_path) as svc:
            contents = [b"first", b"second"]

            def reader(data: bytes) -> Any:
                async def read() -> bytes:
                    return data

                return read

            stage, files = await stage_uploads(
                svc.ctx, [(f"file part {i + 1}", reader(d)) for i, d in enumerate(contents)]
            )
            assert stage.parent == svc.spool.tmp
            assert [f.name for f in files] == ["000", "001"]
            assert [f.read_bytes() for f in files] == contents

            # An empty upload: InvalidInput naming it, and the new stage is gone again.
            before = set(svc.spool.tmp.iterdir())
            with pytest.raises(InvalidInput, match=r"file part 2 \(b.pdf\) is empty"):
                await stage_uploads(
                    svc.ctx,
                    [("file part 1 (a.pdf)", reader(b"x")), ("file part 2 (b.pdf)", reader(b""))],
                )
            assert set(svc.spool.tmp.iterdir()) == before

            # Into a stage of the caller's (a preview's work directory): it stays.
            with pytest.raises(InvalidInput, match="is empty"):
                await stage_uploads(svc.ctx, [("file part 1", reader(b""))], into=stage)
            assert stage.is_dir()

    run(body(), timeout=120)
