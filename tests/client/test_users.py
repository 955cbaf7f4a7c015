"""Users, tokens, the audit trail and whoami through both clients, against a real server
(its administrator's token comes from the credentials file the server wrote)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from tests.support.authhttp import httpx
from tests.support.server import LanfaxServer

from lanfax.client import AccessDenied, AsyncClient, Client, InvalidInput, NotFound
from lanfax.client._users import AuditPage
from lanfax.model.errors import Unauthenticated


def _audit_soon(client: Client, **query: Any) -> AuditPage:
    """The server writes a request's audit entry once its answer is sent: look until the
    entry is there (or 30 s have passed)."""
    deadline = time.monotonic() + 30
    while not (page := client.audit(**query)).entries and time.monotonic() < deadline:
        time.sleep(0.05)
    return page


def test_users_tokens_and_audit(server: LanfaxServer) -> None:
    with Client(server.url, timeout=10) as admin:
        me = admin.whoami()
        assert me.role == "administrator" and "manage_config" in me.rights

        added = admin.add_user("dora", role="user", password="a long password")
        assert (added.name, added.role, added.has_password) == ("dora", "user", True)
        assert "dora" in [u.name for u in admin.users()]
        assert admin.get_user("dora") == added
        granted = admin.grant_rights("dora", ["manage_jobs"])
        assert granted.granted == ("manage_jobs",) and "manage_jobs" in granted.rights
        revoked = admin.revoke_rights("dora", "manage_jobs")
        assert "manage_jobs" not in revoked.rights
        with pytest.raises(InvalidInput, match="a role is not revoked"):
            admin.revoke_rights("dora", "operator")
        assert admin.set_password("dora", "another long one").has_password

        made = admin.create_token(user="dora", label="desk", days=30)
        assert made.user == "dora" and made.label == "desk" and made.expires_at
        assert made.token.split("_")[1] == made.token_id
        listed = admin.tokens(user="dora")
        assert [t.token_id for t in listed] == [made.token_id]
        assert made.token not in repr(listed)  # never the secret
        assert made.token_id in [t.token_id for t in admin.tokens(all=True)]

        with Client(server.url, token=made.token, timeout=10) as dora:
            who = dora.whoami()
            assert (who.user, who.role, who.via) == ("dora", "user", "token")
            assert [t.token_id for t in dora.tokens()] == [made.token_id]
            with pytest.raises(AccessDenied):
                dora.users()
            with pytest.raises(AccessDenied):
                dora.audit()
            admin.revoke_token(made.token_id)
            with pytest.raises(Unauthenticated):
                dora.whoami()

        page = _audit_soon(admin, action="revoke_token", limit=5)
        assert page.entries and page.entries[0].action == "revoke_token"
        assert page.entries[0].user_name == me.user and page.entries[0].at.tzinfo is not None
        assert all(e.action.startswith("revoke_token") for e in page.entries)
        # to_wire() is what the server sent (the CLI's --json prints it)
        raw = httpx.get(f"{server.url}/api/v1/audit", params={"action": "revoke_token", "limit": 5})
        assert page.to_wire() == raw.json()
        raw_users = httpx.get(f"{server.url}/api/v1/users").json()
        assert [u.to_wire() for u in admin.users()] == raw_users

        admin.remove_user("dora")
        with pytest.raises(NotFound):
            admin.get_user("dora")


def test_async_users_tokens_and_audit(server: LanfaxServer) -> None:
    async def run() -> None:
        async with AsyncClient(server.url, timeout=10) as admin:
            assert (await admin.whoami()).role == "administrator"
            eve = await admin.add_user("eve", role="operator")
            assert not eve.has_password and eve == await admin.get_user("eve")
            assert "manage_config" in (await admin.grant_rights("eve", "manage_config")).rights
            taken = await admin.revoke_rights("eve", ["manage_config"])
            assert "manage_config" not in taken.rights
            token = await admin.create_token(user="eve")
            assert [t.token_id for t in await admin.tokens(user="eve")] == [token.token_id]
            async with AsyncClient(server.url, token=token.token, timeout=10) as eve_client:
                assert (await eve_client.whoami()).user == "eve"
            await admin.revoke_token(token.token_id)
            assert await admin.tokens(user="eve") == []
            page = await admin.audit(user=(await admin.whoami()).user, limit=3)
            assert 0 < len(page.entries) <= 3
            assert page.next == (page.entries[-1].audit_id if len(page.entries) == 3 else None)
            await admin.remove_user("eve")
            assert "eve" not in [u.name for u in await admin.users()]

    asyncio.run(run())
