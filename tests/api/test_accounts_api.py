"""Accounts and personal inboxes against a real ``lanfax serve`` (virtual lines 100 and 101,
spandsp): faxes received on 101 are routed to users by the "Route to a user" method, appear
in their owner's inbox and in nobody else's, unowned faxes stay in the server inbox, and
reassigning needs manage_receive_folder (plus manage_in_archive for someone else's fax).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx as plain_httpx
import pytest
from tests.support.authhttp import httpx
from tests.support.faxes import make_fax_tiff
from tests.support.server import LanfaxServer, start_lanfax_server

from lanfax.client import AccessDenied, Client, InvalidInput, NotFound
from lanfax.client._accounts import SERVER_INBOX
from lanfax.model.codes import NO_JOB, EventId, JobType
from lanfax.routing.builtin import USER_GUID

PASSWORDS = {"alice": "alice-password-1", "bob": "bob-password-22", "dave": "dave-password-333"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LanfaxServer]:
    srv = start_lanfax_server(tmp_path_factory.mktemp("accounts"))
    try:
        yield srv
    finally:
        srv.close()


def add_user(api: str, name: str) -> None:
    r = httpx.post(f"{api}/users", json={"name": name, "role": "user", "password": PASSWORDS[name]})
    assert r.status_code == 201, r.text


def until(what: str, cond: Callable[[], Any], timeout: float = 90.0) -> Any:
    """Re-check ``cond`` until it is truthy, with a deadline. Archiving a fax emits no
    event (it happens after the job's last one), so this polls instead of waiting on the
    event stream."""
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} never happened")
        pause.wait(0.1)


TOKENS: dict[tuple[str, str], str] = {}


def token_of(server: LanfaxServer, name: str) -> str:
    """The user's own API token (made once with its password: logins are rate limited)."""
    key = (server.url, name)
    if key not in TOKENS:
        r = plain_httpx.post(
            f"{server.api}/tokens", json={"label": "test"}, auth=(name, PASSWORDS[name])
        )
        assert r.status_code == 201, r.text
        TOKENS[key] = r.json()["token"]
    return TOKENS[key]


def as_user(server: LanfaxServer, name: str) -> Client:
    return Client(server.url, token=token_of(server, name))


def receive(server: LanfaxServer, admin: Client, tiff: Path, tsid: str) -> int:
    """Fax ``tiff`` from line 100 to 101 with sender ident ``tsid``; returns the id of the
    receive job once it is archived."""
    before = {j.job_id for j in admin.jobs(type="receive").jobs}
    (job,) = admin.send(tiff, to="101", tsid=tsid)
    (sent,) = admin.wait([job.job_id], timeout=120)
    assert sent.queue_status.name == "COMPLETED", sent.status_text

    def archived() -> Any:
        new = [j for j in admin.jobs(type="receive").jobs if j.job_id not in before]
        done = [j for j in new if j.queue_status.name == "COMPLETED"]
        if not done:
            return None
        page = admin.account_archive(SERVER_INBOX, limit=1000).entries
        owned = [
            e for name in ("alice", "bob") for e in admin.account_archive(name, limit=1000).entries
        ]
        if any(e.job_id == done[0].job_id for e in [*page, *owned]):
            return done[0].job_id
        return None

    job_id: int = until(f"the fax from {tsid!r} received and archived", archived)
    return job_id


def archive_jobs(client: Client, name: str = "me") -> set[int]:
    return {e.job_id for e in client.account_archive(name, limit=1000).entries}


def test_faxes_routed_to_users_appear_only_in_their_inbox(
    server: LanfaxServer, tmp_path: Path
) -> None:
    api = server.api
    tiff = make_fax_tiff(tmp_path, pages=1)
    add_user(api, "alice")
    add_user(api, "bob")
    with (
        Client(server.url) as admin,
        as_user(server, "alice") as alice,
        as_user(server, "bob") as bob,
    ):
        # First connection: the account exists (the server setting's default).
        assert alice.account().name == "alice" and alice.account().created_by == "auto"
        assert bob.account("me").name == "bob"
        assert {"alice", "bob"} <= {a.name for a in admin.accounts()}

        admin.set_config(use_device_tsid=False)  # the job's TSID reaches the far end
        line = next(p.device_id for p in admin.ports() if p.number == "101")
        admin.set_routing_info(
            line, USER_GUID, {"user": "alice", "by_tsid": {"Head Office": "bob"}}
        )
        admin.enable_routing_method(line, USER_GUID, True)

        to_bob = receive(server, admin, tiff, "HEAD OFFICE")  # by TSID
        # Alice follows her event stream: the routing of her fax reaches it, although the
        # fax had no owner yet when its first events (answered, receiving) went by.
        seen: list[Any] = []
        start = alice.latest_event_seq()

        def follow() -> None:
            with as_user(server, "alice") as stream:
                for ev in stream.events(after=start):
                    seen.append(ev)
                    if ev.event_id is EventId.JOB_CHANGED and "routed" in ev.detail:
                        return

        follower = threading.Thread(target=follow, daemon=True)
        follower.start()
        to_alice = receive(server, admin, tiff, "BRANCH 7")  # the line's user
        follower.join(60)
        assert not follower.is_alive(), [(e.event_id, e.job_id) for e in seen]
        assert seen[-1].job_id == to_alice
        # Nothing of bob's or the sender's: only hers and the devices' (no job: 0 or NO_JOB).
        assert all(e.job_id in (0, NO_JOB, to_alice) for e in seen)
        admin.enable_routing_method(line, USER_GUID, False)
        nobody = receive(server, admin, tiff, "HEAD OFFICE")  # not routed: server inbox

        assert admin.job(to_bob).user_name == "bob"
        assert admin.job(to_alice).user_name == "alice"
        assert admin.job(nobody).user_name == ""
        assert "user bob (by TSID HEAD OFFICE)" in admin.job(to_bob).status_text

        # Each sees its own fax, and only its own: personal archive, own-jobs rule on /jobs
        # and on /archive/incoming (none of them holds query_jobs or query_in_archive).
        assert archive_jobs(alice) == {to_alice}
        assert archive_jobs(bob) == {to_bob}
        received = {j.job_id for j in alice.jobs(type="receive").jobs}
        assert received == {to_alice}
        assert {j.job_id for j in bob.jobs(type="receive").jobs} == {to_bob}
        r = plain_httpx.get(
            f"{api}/archive/incoming",
            headers={"Authorization": f"Bearer {token_of(server, 'alice')}"},
        )
        assert r.status_code == 200, r.text
        assert {e["job_id"] for e in r.json()["entries"]} == {to_alice}
        mine = alice.account_archive().entries[0]
        assert alice.archived_fax(mine.archive_id).startswith((b"II*\0", b"MM\0*"))
        # one page type and one document method (archived_fax: its older name)
        assert type(alice.account_archive()) is type(alice.archive("incoming"))
        doc = alice.archived_document("incoming", mine.archive_id)
        assert doc == alice.archived_fax(mine.archive_id)
        assert alice.job(to_alice).job_type is JobType.RECEIVE

        alice_auth = {"Authorization": f"Bearer {token_of(server, 'alice')}"}
        png = plain_httpx.get(
            f"{api}/archive/incoming/{mine.archive_id}/pages/1.png", headers=alice_auth
        )
        assert png.status_code == 200 and png.content.startswith(b"\x89PNG")

        # ... and not another user's.
        bobs = bob.account_archive().entries[0]
        png = plain_httpx.get(
            f"{api}/archive/incoming/{bobs.archive_id}/pages/1.png", headers=alice_auth
        )
        assert png.status_code == 403
        with pytest.raises(AccessDenied):
            alice.archived_fax(bobs.archive_id)
        with pytest.raises(AccessDenied):
            alice.job(to_bob)
        with pytest.raises(AccessDenied):
            alice.account_archive("bob")
        with pytest.raises(AccessDenied):
            alice.account_archive(SERVER_INBOX)

        # The server inbox holds the fax nobody owns; an administrator sees everything.
        assert archive_jobs(admin, SERVER_INBOX) == {nobody}
        assert archive_jobs(admin, "alice") == {to_alice}

        # Reassigning needs manage_receive_folder ...
        with pytest.raises(AccessDenied):
            alice.reassign_fax(nobody, "alice")
        r = httpx.patch(f"{api}/users/alice", json={"grant": ["manage_receive_folder"]})
        assert r.status_code == 200, r.text
        # ... which shows the server inbox and lets alice take an unassigned fax ...
        assert archive_jobs(alice, SERVER_INBOX) == {nobody}
        assert alice.reassign_fax(nobody, "alice").user_name == "alice"
        assert archive_jobs(alice) == {to_alice, nobody}
        assert archive_jobs(admin, SERVER_INBOX) == set()
        # ... but not someone else's fax (that needs manage_in_archive too).
        with pytest.raises(AccessDenied):
            alice.reassign_fax(to_bob, "alice")
        assert archive_jobs(bob) == {to_bob}
        # An administrator may: bob's fax moves to alice, out of bob's inbox.
        assert admin.reassign_fax(to_bob, "alice").user_name == "alice"
        assert archive_jobs(alice) == {to_alice, nobody, to_bob}
        assert archive_jobs(bob) == set()
        with pytest.raises(AccessDenied):
            bob.job(to_bob)
        # Back to the server inbox.
        admin.reassign_fax(nobody, "")
        assert archive_jobs(admin, SERVER_INBOX) == {nobody}

        # Bad input names the field.
        with pytest.raises(InvalidInput) as info:
            admin.reassign_fax(to_alice, "nosuchuser")
        assert info.value.detail["field"] == "to"
        sent_job = admin.jobs(type="send").jobs[0].job_id
        with pytest.raises(InvalidInput) as info:
            admin.reassign_fax(sent_job, "alice")
        assert info.value.detail["field"] == "job_id"
        with pytest.raises(NotFound):
            admin.reassign_fax(999999, "alice")

    # The owner survives a restart (it is the job's and the archive entry's user_name).
    server.restart()
    with as_user(server, "alice") as alice:
        assert archive_jobs(alice) == {to_alice, to_bob}


def test_accounts_by_the_administrator_when_not_created_on_connect(
    server: LanfaxServer,
) -> None:
    add_user(server.api, "dave")
    with Client(server.url) as admin:
        admin.set_config(auto_create_account_on_connect=False)
        try:
            with as_user(server, "dave") as dave:
                with pytest.raises(NotFound) as info:
                    dave.account()
                assert "administrator" in (info.value.hint or "")
                assert admin.add_account("dave").created_by != "auto"
                assert dave.account().name == "dave"
                with pytest.raises(AccessDenied):
                    dave.add_account("eve")
            admin.remove_account("dave")
            with pytest.raises(NotFound):
                admin.account("dave")
        finally:
            admin.set_config(auto_create_account_on_connect=True)
