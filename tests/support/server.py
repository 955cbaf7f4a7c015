"""Start a real ``lanfax serve`` process for a test, and kill or restart it.

``start_lanfax_server(tmp_path, toml_text=...)`` writes the TOML (default: the service's own
defaults), starts ``python -m lanfax.cli.serve`` with the repository root on ``PYTHONPATH``
(so ``tests.support.testprovider:TestProvider`` can be named in the TOML), waits until
``GET /api/v1/health`` answers (polling with a deadline, never a bare sleep) and returns a
:class:`LanfaxServer`. The first start picks a free port; restarts reuse it, so a client
keeps its URL across a kill -9.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import ssl
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType

REPO_ROOT = Path(__file__).resolve().parents[2]

#: A TOML with two lines of the test provider (numbers 200 and 201), for tests that need
#: calls to complete or fail on command.
TEST_PROVIDER_TOML = """
[[providers]]
type = "tests.support.testprovider:TestProvider"
lines = [{number = "200"}, {number = "201"}]
"""


class ServerFailed(RuntimeError):
    pass


class LanfaxServer:
    """A running ``lanfax serve`` process (see :func:`start_lanfax_server`)."""

    def __init__(self, tmp_path: Path, toml_text: str | None, extra_args: list[str]) -> None:
        self.tmp_path = tmp_path
        self.data_dir = tmp_path / "lanfax-data"
        self.config_path: Path | None = None
        if toml_text is not None:
            self.config_path = tmp_path / "lanfax.toml"
            self.config_path.write_text(toml_text)
        self.extra_args = extra_args
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self.stdout_lines: list[str] = []
        self.stderr_path = tmp_path / "lanfax-serve.log"
        self._listening = threading.Event()
        self.starts = 0
        #: The administrator's token: given to the server on its first start
        #: (LANFAX_ADMIN_TOKEN), which also writes it to the credentials file.
        self.token = "lfx_" + secrets.token_hex(6) + "_" + secrets.token_urlsafe(32)
        self.scheme = "http"

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    @property
    def api(self) -> str:
        return f"{self.url}/api/v1"

    def start(self, timeout: float = 30.0) -> LanfaxServer:
        if self.proc is not None and self.proc.poll() is None:
            raise ServerFailed("the server is already running")
        args = [sys.executable, "-m", "lanfax.cli.serve", "--data", str(self.data_dir)]
        args += ["--listen", f"127.0.0.1:{self.port}"]
        if self.config_path is not None:
            args += ["--config", str(self.config_path)]
        args += self.extra_args
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            [str(REPO_ROOT), *([env["PYTHONPATH"]] if env.get("PYTHONPATH") else [])]
        )
        env["PYTHONUNBUFFERED"] = "1"
        env.setdefault("LANFAX_ADMIN_TOKEN", self.token)
        self._listening.clear()
        self.stdout_lines = []
        stderr = self.stderr_path.open("ab")
        self.proc = subprocess.Popen(
            args, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=stderr
        )
        stderr.close()
        self.starts += 1
        threading.Thread(target=self._read_stdout, args=(self.proc,), daemon=True).start()
        deadline = time.monotonic() + timeout
        if not self._listening.wait(timeout):
            self.kill()
            raise ServerFailed(f"lanfax serve did not start:\n{self.log_tail()}")
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise ServerFailed(
                    f"lanfax serve exited {self.proc.returncode}:\n{self.log_tail()}"
                )
            if self.healthy():
                return self
            self._listening.wait(0.05)  # poll interval while waiting for the health check
        self.kill()
        raise ServerFailed(f"lanfax serve never became healthy:\n{self.log_tail()}")

    def _read_stdout(self, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stdout is not None
        for raw in proc.stdout:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            self.stdout_lines.append(line)
            if "listening on http" in line and not self._listening.is_set():
                self.scheme = line.split("listening on ", 1)[1].split("://", 1)[0]
                self.port = int(line.rsplit(":", 1)[1])
                self._listening.set()

    def healthy(self) -> bool:
        try:
            # A readiness probe only: a TLS test checks the certificate with its own client.
            ctx = ssl._create_unverified_context() if self.scheme == "https" else None
            with urllib.request.urlopen(f"{self.api}/health", timeout=2, context=ctx) as resp:
                return bool(json.load(resp).get("status") == "ok")
        except (OSError, ValueError):
            return False

    def log_tail(self, n: int = 40) -> str:
        try:
            lines = self.stderr_path.read_text(errors="replace").splitlines()
        except OSError:
            lines = []
        return "\n".join(self.stdout_lines[-10:] + lines[-n:])

    def kill(self) -> None:
        """SIGKILL: the crash of the machine, as far as the service can tell."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20.0) -> int:
        """A clean stop; returns the exit status."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
                raise ServerFailed(
                    f"lanfax serve ignored signal {sig}:\n{self.log_tail()}"
                ) from None
        return int(self.proc.returncode)

    def restart(self, timeout: float = 30.0) -> LanfaxServer:
        self.kill()
        return self.start(timeout)

    def close(self) -> None:
        self.kill()

    def __enter__(self) -> LanfaxServer:
        return self

    def __exit__(
        self, t: type[BaseException] | None, v: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def start_lanfax_server(
    tmp_path: Path,
    toml_text: str | None = None,
    *,
    extra_args: list[str] | None = None,
    timeout: float = 30.0,
) -> LanfaxServer:
    """Start ``lanfax serve`` for a test; the caller must ``close()`` it (or use ``with``)."""
    return LanfaxServer(tmp_path, toml_text, list(extra_args or [])).start(timeout)


def with_intake_workers(
    tmp_path: Path, workers: int, toml_text: str = TEST_PROVIDER_TOML
) -> Iterator[LanfaxServer]:
    """#19: a server with ``[server] intake_workers = workers`` (``toml_text`` may not have a
    ``[server]`` table of its own), for a module fixture parametrised over 0 and 1."""
    with start_lanfax_server(
        tmp_path, f"[server]\nintake_workers = {workers}\n" + toml_text
    ) as server:
        yield server
