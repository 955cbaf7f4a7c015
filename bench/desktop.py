"""Print-job submission latency: a 1-page PDF printed to the fax printer (IPP Print-Job, and
Create-Job + Send-Document) beside the same document through the HTTP API, same run.

Starts its own ``lanfax serve`` (temporary data directory, free loopback port, queue paused
so jobs stay queued, rate limit off), makes a one-page PDF with lanfax's PDF writer, and
times, for each way, from the request's first byte to the answer that says the fax is
queued (the document converted and the jobs on disk):

1. ``POST /api/v1/jobs`` through the sync Python client (Bearer token);
2. IPP Print-Job (Bearer token), one HTTP request;
3. IPP Print-Job with HTTP Basic (a user's password: what a desktop sends; the printer
   remembers a checked password for a minute, so this is the steady state);
4. IPP Create-Job then Send-Document (what CUPS's ipp backend does), two requests.

The ways take turns, so a slow moment of the machine hurts them alike.

    .venv/bin/python bench/desktop.py            # 20 rounds
    .venv/bin/python bench/desktop.py --rounds 50
"""

from __future__ import annotations

import argparse
import base64
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from lanfax.client import Client
from lanfax.documents.pdfgen import text_document
from lanfax.service.ipp.codec import (
    Attribute,
    Group,
    GroupTag,
    Message,
    Status,
    Tag,
    attr,
    collection,
    decode,
    encode,
)
from lanfax.service.ipp.model import Op

sys.path.insert(0, str(Path(__file__).resolve().parent))
from submit import free_port  # bench/submit.py, same directory

LANFAX = str(Path(sys.executable).with_name("lanfax"))
PASSWORD = "bench-pa55word"


def make_pdf(path: Path) -> Path:
    lines = "\n".join(f"lanfax desktop benchmark, line {i}" for i in range(40))
    text_document(lines).save(path)
    return path


class Server:
    def __init__(self, tmp: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = (tmp / "serve.log").open("wb")
        os.environ["LANFAX_CREDENTIALS"] = str(tmp / "credentials")
        (tmp / "bench.toml").write_text("[security]\nrate_limit = 0\n")
        args = [LANFAX, "serve", "--data", str(tmp / "data"), "--listen", f"127.0.0.1:{self.port}"]
        args += ["--config", str(tmp / "bench.toml")]
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        with Client(self.url, timeout=2) as c:
            while True:
                try:
                    c.health()
                    break
                except Exception:
                    if time.monotonic() > deadline or self.proc.poll() is not None:
                        raise SystemExit(
                            f"lanfax serve did not start; see {self.log.name}"
                        ) from None
                    time.sleep(0.1)  # poll interval while the server starts
        with Client(self.url) as c:
            c.set_config(pause_server_queue=True)
        from lanfax.client import credentials

        self.token = str(credentials.lookup(self.url)["token"])
        r = httpx.post(
            f"{self.url}/api/v1/users",
            json={"name": "desk", "role": "user", "password": PASSWORD},
            headers={"Authorization": f"Bearer {self.token}"},
        )
        r.raise_for_status()

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def _ipp(op: Op, uri: str, extra: list[Attribute], job: list[Attribute], data: bytes) -> bytes:
    ops = [
        attr("attributes-charset", Tag.CHARSET, "utf-8"),
        attr("attributes-natural-language", Tag.LANGUAGE, "en"),
        attr("printer-uri", Tag.URI, uri),
        *extra,
    ]
    groups = [Group(GroupTag.OPERATION, tuple(ops))]
    if job:
        groups.append(Group(GroupTag.JOB, tuple(job)))
    return encode(Message((2, 0), int(op), 1, tuple(groups), data))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=20)
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="lanfax-bench-desktop-") as tmpdir:
        tmp = Path(tmpdir)
        pdf = make_pdf(tmp / "page.pdf").read_bytes()
        srv = Server(tmp)
        try:
            printer = f"{srv.url}/ipp/faxout"
            uri = f"ipp://127.0.0.1:{srv.port}/ipp/faxout"
            dest = Attribute(
                "destination-uris", (collection(attr("destination-uri", Tag.URI, "tel:101")),)
            )
            fmt = attr("document-format", Tag.MIME_TYPE, "application/pdf")
            bearer = {"Authorization": f"Bearer {srv.token}", "Content-Type": "application/ipp"}
            basic_value = base64.b64encode(f"desk:{PASSWORD}".encode()).decode()
            basic = {"Authorization": f"Basic {basic_value}", "Content-Type": "application/ipp"}
            http = httpx.Client(timeout=120)
            client = Client(srv.url, timeout=120)

            def ok(r: httpx.Response) -> Message:
                r.raise_for_status()
                msg = decode(r.content)
                if msg.code != Status.OK:
                    raise SystemExit(f"IPP answer 0x{msg.code:04x}: {msg.groups}")
                return msg

            def api() -> None:
                client.send([("page.pdf", pdf)], "101")

            def print_job(headers: dict[str, str]) -> Callable[[], None]:
                body = _ipp(Op.PRINT_JOB, uri, [fmt], [dest], pdf)
                return lambda: ok(http.post(printer, content=body, headers=headers)) and None

            def create_send() -> None:
                created = ok(
                    http.post(
                        printer, content=_ipp(Op.CREATE_JOB, uri, [], [dest], b""), headers=bearer
                    )
                )
                group = created.group(GroupTag.JOB)
                assert group is not None
                job_id = group.get("job-id")
                assert job_id is not None
                extra = [
                    attr("job-id", Tag.INTEGER, job_id.values[0].value),
                    attr("last-document", Tag.BOOLEAN, True),
                    fmt,
                ]
                ok(
                    http.post(
                        printer, content=_ipp(Op.SEND_DOCUMENT, uri, extra, [], pdf), headers=bearer
                    )
                )

            ways: list[tuple[str, Callable[[], None]]] = [
                ("HTTP API POST /api/v1/jobs (client)", api),
                ("IPP Print-Job, Bearer token", print_job(bearer)),
                ("IPP Print-Job, Basic password", print_job(basic)),
                ("IPP Create-Job + Send-Document", create_send),
            ]
            for _, fn in ways:  # warm-up: converter workers, imports, the Basic login
                fn()
            samples: dict[str, list[float]] = {name: [] for name, _ in ways}
            for _ in range(args.rounds):
                for name, fn in ways:
                    t = time.perf_counter()
                    fn()
                    samples[name].append(time.perf_counter() - t)
            http.close()
            client.close()
        finally:
            srv.stop()
    print(f"1-page PDF ({len(pdf)} bytes) to one number, queue paused; {args.rounds} rounds")
    print(f"{'way':<40} {'p50 ms':>8} {'p90 ms':>8} {'mean ms':>8}")
    for name, values in samples.items():
        s = sorted(values)
        p90 = s[min(len(s) - 1, int(len(s) * 0.9))]
        print(
            f"{name:<40} {statistics.median(s) * 1000:8.1f} {p90 * 1000:8.1f} "
            f"{statistics.fmean(s) * 1000:8.1f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
