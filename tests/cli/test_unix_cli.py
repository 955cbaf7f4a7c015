"""The command line as a Unix user expects it: global options before the verb, and a job
list that says why a job waits, cut to the terminal's width."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from tests.cli.conftest import Run

from lanfax.cli._output import cut, jobs_table, table
from lanfax.cli.main import hoist_globals
from lanfax.model.codes import JobType, QueueStatus
from lanfax.model.jobs import Job


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--server", "U", "--json", "jobs"], ["jobs", "--server", "U", "--json"]),
        (["--server=U", "jobs", "--all"], ["jobs", "--all", "--server=U"]),
        (["--json", "port", "show", "3"], ["port", "show", "3", "--json"]),
        (["--server", "A", "jobs", "--server", "B"], ["jobs", "--server", "B"]),
        (["--user", "ann", "send", "--", "-odd.pdf"], ["send", "--user", "ann", "--", "-odd.pdf"]),
        (["jobs", "--json"], ["jobs", "--json"]),
        (["--version"], ["--version"]),
        (["--json", "--help"], ["--help", "--json"]),
    ],
)
def test_global_options_before_the_verb_move_behind_it(
    argv: list[str], expected: list[str]
) -> None:
    assert hoist_globals(argv)[0] == expected


def test_global_options_before_the_verb_work_like_after_it(lanfax: Run, fax: Path) -> None:
    sent = lanfax("send", str(fax), "--to", "555", "--at", "2099-01-01T00:00Z", "--json")
    assert sent.returncode == 0, sent.stderr
    job_id = json.loads(sent.stdout)["jobs"][0]["job_id"]
    after = lanfax("jobs", "--json")
    before = lanfax("--json", "jobs")
    assert before.returncode == 0 and after.returncode == 0, before.stderr
    assert json.loads(before.stdout) == json.loads(after.stdout)
    assert job_id in [j["job_id"] for j in json.loads(before.stdout)["jobs"]]
    shown = lanfax("--json", "job", "show", str(job_id))
    assert shown.returncode == 0 and json.loads(shown.stdout)["job_id"] == job_id
    lanfax("job", "cancel", str(job_id))


def test_a_server_option_before_the_verb_is_used(lanfax: Run) -> None:
    # A dead server named before the verb wins over LANFAX_SERVER (the fixture's live one).
    p = lanfax("--server", "http://127.0.0.1:9", "--json", "jobs")
    assert p.returncode == 7, p.stderr
    assert "http://127.0.0.1:9" in p.stderr and "Traceback" not in p.stderr
    p = lanfax("--server", "http://127.0.0.1:9", "jobs", "--server", "http://127.0.0.1:7")
    assert p.returncode == 7 and "127.0.0.1:7" in p.stderr  # the verb's own option wins
    p = lanfax("--server")
    assert p.returncode == 2 and "--server needs a value" in p.stderr
    p = lanfax("--json", "serve")
    assert p.returncode == 2 and "does not apply to `lanfax serve`" in p.stderr


def _job(job_id: int, status_text: str) -> Job:
    return Job(
        job_id=job_id,
        job_type=JobType.RECEIVE if job_id == 2 else JobType.SEND,
        queue_status=QueueStatus.ROUTING if job_id == 2 else QueueStatus.PENDING,
        recipient_number="101",
        user_name="admin",
        status_text=status_text,
        submitted_at=datetime(2026, 12, 4, 12, 0, tzinfo=UTC),
    )


LONG = (
    "routing failed: Store in a folder: folder: 'lanfax-data/inbox' is not an absolute path "
    "(it would mean '/home/ann/lanfax/lanfax-data/inbox')"
)


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True

    def fileno(self) -> int:
        raise OSError("no real terminal")


def test_the_status_text_column_is_cut_to_the_terminal_width(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    jobs = [_job(1, ""), _job(2, LONG)]
    monkeypatch.setenv("COLUMNS", "100")
    buf = io.StringIO()
    jobs_table(jobs, buf)
    lines = buf.getvalue().splitlines()
    assert lines[0].split()[-1] == "DETAIL"
    assert all(len(line) <= 100 for line in lines), lines
    assert lines[2].endswith("...") and "routing failed: Store in a folder" in lines[2]
    assert lines[1].endswith("-")
    # Not a terminal and no COLUMNS: a pipe or a file gets the whole text.
    monkeypatch.delenv("COLUMNS")
    buf = io.StringIO()
    jobs_table(jobs, buf)
    assert buf.getvalue().splitlines()[2].endswith(LONG)
    # A terminal too narrow for the other columns still shows the start of the reason.
    monkeypatch.setenv("COLUMNS", "20")
    buf = io.StringIO()
    jobs_table(jobs, buf)
    assert buf.getvalue().splitlines()[2].endswith("rou...")


def test_cut_and_an_unfitted_table() -> None:
    assert cut("abcdef", 6) == "abcdef"
    assert cut("abcdefg", 6) == "abc..."
    assert cut("abcdefg", 2) == "ab"
    out = _Tty()
    table(("A", "B"), [("1", "x" * 500)], out)  # fit=False: never cut
    assert out.getvalue().splitlines()[1].endswith("x" * 500)


def test_lanfax_jobs_shows_why_a_job_failed(lanfax: Run, fax: Path) -> None:
    failed = lanfax("send", str(fax), "--to", "9003555", "--wait", "--timeout", "60")
    assert failed.returncode == 10, failed.stdout + failed.stderr
    listing = lanfax("jobs", "--all", "--status", "failed", env={"COLUMNS": "90"})
    assert listing.returncode == 0, listing.stderr
    lines = listing.stdout.splitlines()
    assert lines[0].split()[-1] == "DETAIL"
    assert all(len(line) <= 90 for line in lines), lines
    row = next(line for line in lines[1:] if "9003555" in line)
    assert row.split()[-1] != "-"  # the reason is there, whatever its words
    wide = lanfax("jobs", "--all", "--status", "failed", env={"COLUMNS": "400"})
    full = json.loads(lanfax("jobs", "--all", "--status", "failed", "--json").stdout)
    text = next(j["status_text"] for j in full["jobs"] if j["recipient_number"] == "9003555")
    assert text and " ".join(text.split()) in wide.stdout


def test_send_options_reach_the_server_as_the_full_client_sends_them(
    lanfax: Run, fax: Path
) -> None:
    """``lanfax send`` builds its submission without the model: every option must arrive
    as the Client's own submission would carry it."""
    args = ["--at", "2099-06-01T12:30:00Z", "--name", "Ann", "--tsid", "+49 30 1"]
    args += ["--sender", "Bob", "--company", "ACME", "--billing", "B-7", "--priority", "high"]
    args += ["--document-name", "offer", "--subject", "Q3"]
    p = lanfax("send", str(fax), "--to", "555", "--to", "556", *args, "--json")
    assert p.returncode == 0, p.stderr
    answer = json.loads(p.stdout)
    assert answer["broadcast_id"] and len(answer["jobs"]) == 2
    for job in answer["jobs"]:
        assert job["recipient_name"] == "Ann" and job["tsid"] == "+49 30 1"
        assert (job["sender_name"], job["sender_company"]) == ("Bob", "ACME")
        assert (job["billing_code"], job["priority"]) == ("B-7", "high")
        assert job["schedule_action"] == "specific_time"
        assert job["schedule_time"] == "2099-06-01T12:30:00Z"
        assert job["document_name"] == "offer"
        lanfax("job", "cancel", str(job["job_id"]))
    bad = lanfax(
        "send", str(fax), "--to", "555", "--name", "A", "--name", "B", "--to", "7", "--to", "8"
    )
    assert bad.returncode == 2 and "2 --name for 3 --to" in bad.stderr
    missing = lanfax("send", "/nonexistent/file.pdf", "--to", "555")
    assert missing.returncode == 2 and "cannot read /nonexistent/file.pdf" in missing.stderr
    refused = lanfax("send", str(fax), "--to", "555", "--cover", "nonesuch")
    assert refused.returncode == 2 and "nonesuch" in refused.stderr
    assert "Traceback" not in refused.stderr
