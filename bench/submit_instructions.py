"""The server's user-space instructions per submitted job, counted by callgrind (#19).

CPU time per job moves with the machine's load (cache, preemption, idle wake-ups); the
instruction count does not, so two versions can be compared on a busy machine. Starts
``lanfax serve`` under ``valgrind --tool=callgrind`` (temporary data directory, free loopback
port, queue paused), sends a few warm-up jobs, zeroes the counters, submits ``--jobs``
one-page fax-ready TIFFs from ``--threads`` client threads (one ``Client`` each, as
``bench/submit.py``'s 8-thread row) and prints the instructions per job. Kernel time (fsync,
context switches, page faults) is not counted: ``bench/submit.py`` prints CPU per job.

    .venv/bin/python bench/submit_instructions.py --jobs 200 --threads 8

Compare runs of the same --jobs (fewer jobs carry more of the fixed costs: 40 jobs gave 9.3 M).

Measured on the loaded 2-core machine (2026-12-05), 200 jobs, 8 threads: main before the
second shift 8.79 M and 8.84 M; with FastAPI's telemetry off and the kept strip buffer
8.32 M, 8.16 M and 8.29 M.
"""

from __future__ import annotations

import argparse
import glob
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import submit as bench  # bench/submit.py, beside this file

from lanfax.client import Client


def totals(out: str) -> int:
    """The instructions of callgrind's explicit dump (``callgrind_control -d``)."""
    for name in glob.glob(out + ".*"):
        text = Path(name).read_text(errors="replace")
        if "Trigger: dump" in text:
            for line in text.splitlines():
                if line.startswith("totals:"):
                    return int(line.split()[1])
    raise SystemExit(f"no dump from callgrind in {out}.*")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--jobs", type=int, default=200)
    ap.add_argument("--threads", type=int, default=8)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="lanfax-callgrind-") as tmp_name:
        tmp = Path(tmp_name)
        doc = bench.make_tiff(tmp / "page.tif")
        data = doc.read_bytes()
        port = bench.free_port()
        url = f"http://127.0.0.1:{port}"
        os.environ["LANFAX_CREDENTIALS"] = str(tmp / "credentials")
        (tmp / "bench.toml").write_text("[security]\nrate_limit = 0\n")
        out = str(tmp / "callgrind.out")
        serve = [bench.LANFAX, "serve", "--data", str(tmp / "data")]
        serve += ["--listen", f"127.0.0.1:{port}", "--config", str(tmp / "bench.toml")]
        with (tmp / "serve.log").open("wb") as log:
            proc = subprocess.Popen(
                ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", *serve],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        try:
            deadline = time.monotonic() + 600
            while True:
                try:
                    with Client(url, timeout=5) as c:
                        c.health()
                    break
                except Exception:
                    if time.monotonic() > deadline or proc.poll() is not None:
                        raise SystemExit("lanfax serve did not start under valgrind") from None
                    time.sleep(1)
            with Client(url, timeout=120) as c:
                c.set_config(pause_server_queue=True)

            def worker(k: int, count: int) -> None:
                with Client(url, timeout=300) as c:
                    for i in range(count):
                        c.send([("page.tif", data)], to=f"82{k:02d}{i:05d}")

            def run(total: int) -> None:
                each = total // args.threads
                threads = [
                    threading.Thread(target=worker, args=(k, each)) for k in range(args.threads)
                ]
                for t in threads:
                    t.start()
                for t in threads:
                    t.join()

            run(args.threads * 4)  # warm-up: imports, first connections, caches
            subprocess.run(
                ["callgrind_control", "-z", str(proc.pid)], check=True, capture_output=True
            )
            run(args.jobs)
            subprocess.run(
                ["callgrind_control", "-d", str(proc.pid)], check=True, capture_output=True
            )
        finally:
            proc.terminate()
            proc.wait(60)
        jobs = args.jobs // args.threads * args.threads
        per_job = totals(out) / jobs
        print(
            f"server user-space instructions per job: {per_job / 1e6:.2f} M "
            f"({jobs} jobs, {args.threads} client threads; main before #19's second shift: "
            "8.79-8.84 M, measured 2026-12-05)"
        )


if __name__ == "__main__":
    main()
