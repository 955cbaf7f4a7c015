"""What a ``lanfax`` process loads: start-up time is part of every ``lanfax send``.

Behaviour, not timing: which modules a command imports (``PYTHONPROFILEIMPORTTIME`` lists them
on stderr). ``test_cli.py`` keeps httpx, fastapi, sqlalchemy, ssl and email out of the CLI;
these keep the parts of lanfax a command does not use out of it too.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from tests.cli.conftest import Run

#: Model modules ``lanfax send`` (and its answer) has no use for.
NOT_FOR_SEND = (
    "lanfax.model.config",
    "lanfax.model.devices",
    "lanfax.model.events",
    "lanfax.model.routing",
    "lanfax.model.receipts",
    "lanfax.model.clock",
    "lanfax.client._sse",
    "lanfax.client._follow",
)


#: What ``lanfax send`` without --wait loads none of (issue #20: start-up per job).
NOT_FOR_PLAIN_SEND = (
    "lanfax.model.jobs",
    "lanfax.model.codes",
    "lanfax.model.wire",
    "lanfax.client._core",
    "lanfax.client._sync",
    "lanfax.cli._output",
    "lanfax.cli._verbs",
    "dataclasses",
    "inspect",
    "typing",
    "shutil",
    "datetime",
)


def _imported(stderr: str) -> set[str]:
    return {
        line.rsplit("|", 1)[-1].strip()
        for line in stderr.splitlines()
        if line.startswith("import time:") and "|" in line
    }


def test_the_model_package_loads_a_submodule_only_when_a_name_of_it_is_used() -> None:
    code = (
        "import sys, lanfax.model as m\n"
        "print(sorted(k for k in sys.modules if k.startswith('lanfax.model.')))\n"
        "from lanfax.model import JobParams\n"
        "print('lanfax.model.config' in sys.modules)\n"
        "print(all(getattr(m, n) is not None for n in m.__all__), set(m.__all__) <= set(dir(m)))\n"
    )
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert p.stdout.splitlines() == ["[]", "False", "True True"]


def test_every_public_name_of_the_model_is_the_submodules_own() -> None:
    import importlib

    import lanfax.model as m

    for name in m.__all__:
        value = getattr(m, name)
        owner = importlib.import_module(m._WHERE[name])
        assert getattr(owner, name) is value
    with pytest.raises(AttributeError, match="no attribute 'Nonesuch'"):
        m.Nonesuch  # noqa: B018
    from lanfax.model import codes  # a submodule still imports as one

    assert codes.QueueStatus is m.QueueStatus


def test_version_builds_no_parser_and_loads_no_client() -> None:
    code = "import sys; from lanfax.cli.main import main; sys.exit(main(['--version']))"
    p = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code], capture_output=True, text=True
    )
    assert p.returncode == 0 and p.stdout.startswith("lanfax ")
    loaded = _imported(p.stderr)
    assert "lanfax.cli.main" in loaded  # the measurement saw the CLI itself
    assert not {m for m in loaded if m.startswith(("lanfax.client", "lanfax.model"))}


def test_the_parser_alone_loads_neither_client_nor_model() -> None:
    code = "from lanfax.cli.main import build_parser; build_parser(); build_parser('send')"
    p = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code], capture_output=True, text=True
    )
    assert p.returncode == 0, p.stderr
    loaded = _imported(p.stderr)
    assert "lanfax.cli._security" in loaded and "lanfax.cli._routing" in loaded
    assert not {m for m in loaded if m.startswith(("lanfax.client", "lanfax.model"))}


def test_send_loads_only_what_a_submission_needs(lanfax: Run, fax: Path) -> None:
    assert lanfax("config", "set", "pause_server_queue", "true").returncode == 0
    try:
        p = lanfax("send", str(fax), "--to", "1200", env={"PYTHONPROFILEIMPORTTIME": "1"})
        assert p.returncode == 0, p.stderr
        assert p.stdout.startswith("queued job ")
        loaded = _imported(p.stderr)
        assert "lanfax.client._http" in loaded and "lanfax.cli._send" in loaded
        assert not loaded & set(NOT_FOR_SEND), sorted(loaded & set(NOT_FOR_SEND))
        # A submission is built in its wire form: none of the model's dataclasses and enums,
        # the client core, the output module, nor what they cost (dataclasses -> inspect).
        heavy = loaded & set(NOT_FOR_PLAIN_SEND)
        assert not heavy, sorted(heavy)
        job_id = p.stdout.split()[2]
        assert lanfax("job", "cancel", job_id).returncode == 0
    finally:
        lanfax("config", "set", "pause_server_queue", "false")


def test_each_verb_still_parses(lanfax: Run) -> None:
    """Only the verb being run gets its parser: every verb must still find its own."""
    verbs = {
        "send": ["send", "--help"],
        "jobs": ["jobs", "--help"],
        "port": ["port", "set", "--help"],
        "config": ["config", "show", "--help"],
        "routing": ["routing", "methods", "--help"],
        "report": ["report", "--help"],
        "user": ["user", "add", "--help"],
        "token": ["token", "create", "--help"],
        "audit": ["audit", "--help"],
        "whoami": ["whoami", "--help"],
        "access": ["access", "--help"],
    }
    for verb, args in verbs.items():
        p = lanfax(*args)
        assert p.returncode == 0 and p.stdout.startswith(f"usage: lanfax {verb}"), p.stderr
    p = lanfax("nonesuch")
    assert p.returncode == 2 and "invalid choice: 'nonesuch'" in p.stderr
    assert "'send'" in p.stderr and "'whoami'" in p.stderr  # the error lists every verb
