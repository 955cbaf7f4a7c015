"""The server's user-space instructions per submitted job, counted by callgrind (#19).

CPU time per job moves with the machine's load (cache, preemption, idle wake-ups); the
instruction count does not, so two versions can be compared on a busy machine. Starts
``lanfax serve`` under ``valgrind --tool=callgrind`` (temporary data directory, free loopback
port, queue paused), sends a few warm-up jobs, zeroes the counters, submits ``--jobs``
one-page fax-ready TIFFs from ``--threads`` client threads (one ``Client`` each, as
``bench/submit.py``'s 8-thread row) and prints the instructions per job. Kernel time (fsync,
context switches, page faults) is not counted: ``--cpu`` runs the server without callgrind
and prints its user and kernel CPU time per job and the jobs per group commit (with
``--py-spy FILE``, the measured run recorded by py-spy, GIL holders only, raw format).

    .venv/bin/python bench/submit_instructions.py --jobs 200 --threads 8
    .venv/bin/python bench/submit_instructions.py --cpu --jobs 1600

Compare runs of the same --jobs (fewer jobs carry more of the fixed costs: 40 jobs gave 9.3 M).

Measured on the loaded 2-core machine (2026-12-05), 200 jobs, 8 threads: main before the
second shift 8.79 M and 8.84 M; with FastAPI's telemetry off and the kept strip buffer
8.32 M, 8.16 M and 8.29 M.

Wave 5 (durable's cuts, 2026-12-05, load average 2-4): before 8.26 M, 3.20 ms CPU/job (user
2.20, kernel 1.00, 1.7 jobs per commit); one-pass TIFF check 7.70 M; + docs fsync per group,
plain-file stage, dispatcher's small plan 7.54 M, 2.64 ms (kernel 0.64); + kept SQLite
connection, pooled names 7.36 M, 2.48-2.56 ms (user 1.81, kernel 0.67-0.74). Same hour, A/B
(main's 449373b through PYTHONPATH vs w5/durable): 8.17/8.30 M vs 7.51/7.53 M; 2.96/3.16 ms
vs 2.30/2.34 ms CPU per job; with w5/http merged in: 5.48/5.51 M, 1.85-2.12 ms.

The every-page check through the engine's no-op G3/G4 fill (t38, 2026-12-05, w5/t38 with
w5/durable merged, A/B by LANFAX_FAXCHECK_FILL=1 in the same hour): 7.26/7.52 M with libtiff's
fill, 6.68/6.65 M without.

Wave 6 (jobcpu, 2026-12-05, loaded, same hour, main's ff839cf through PYTHONPATH vs w6/jobcpu):
8 threads 4.64 M -> 4.30 M, sequential 4.95 M -> 4.66 M; --cpu, 8 threads, user 1.14-1.25 ->
1.03-1.04 ms per job, all 1.70-2.08 -> 1.60-1.76 ms; the kernel's share follows what a file
creation costs at the time (printed by --cpu: see create_cost).
"""

from __future__ import annotations

import argparse
import glob
import os
import resource
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import submit as bench  # bench/submit.py, beside this file

from lanfax.client import Client


def totals(out: str, keep: Path | None = None) -> int:
    """The instructions of callgrind's explicit dump (``callgrind_control -d``), which is
    copied to ``keep`` when given."""
    for name in glob.glob(out + ".*"):
        text = Path(name).read_text(errors="replace")
        if "Trigger: dump" in text:
            if keep is not None:
                keep.write_text(text)
            for line in text.splitlines():
                if line.startswith("totals:"):
                    return int(line.split()[1])
    raise SystemExit(f"no dump from callgrind in {out}.*")


def cpu_split(pid: int) -> tuple[float, float]:
    """(user, kernel) CPU seconds process ``pid`` used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tick, int(fields[12]) / tick


def create_cost(where: Path, count: int = 1000) -> float:
    """Kernel CPU microseconds per file created in ``where`` now (this thread's own time).
    A submission creates one file (its staged upload, then its document): on ext4 without
    a journal, as on this machine, each create skips every free inode of the directory's
    group that was deleted in the last 5 s (300 s while its inode table is unwritten), so
    this cost, and the server's CPU per job with it, grows with what anything on the disk
    deleted recently: 5-10 us after a quiet while, 150-250 us after a test run."""
    before = resource.getrusage(resource.RUSAGE_THREAD).ru_stime
    for i in range(count):
        name = where / f"bench-create-cost-{i:04d}"
        os.close(os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    return (resource.getrusage(resource.RUSAGE_THREAD).ru_stime - before) / count * 1e6


def thread_cpu(pid: int) -> dict[str, tuple[float, float]]:
    """(user, kernel) CPU seconds per thread group of process ``pid`` so far: the event loop
    (the main thread), the store's pool (``lanfax-store``), and the rest by name."""
    tick = os.sysconf("SC_CLK_TCK")
    out: dict[str, tuple[float, float]] = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            head, rest = (task / "stat").read_text().rsplit(")", 1)
        except OSError:
            continue  # the thread ended meanwhile
        name = head.split("(", 1)[1]
        name = "event loop" if task.name == str(pid) else name.rstrip("_0123456789") or name
        fields = rest.split()
        user, kernel = out.get(name, (0.0, 0.0))
        out[name] = (user + int(fields[11]) / tick, kernel + int(fields[12]) / tick)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--jobs", type=int, default=200)
    ap.add_argument("--threads", type=int, default=8)
    ap.add_argument(
        "--keep",
        type=Path,
        help="copy callgrind's dump here (for callgrind_annotate --inclusive=yes)",
    )
    ap.add_argument(
        "--cpu",
        action="store_true",
        help="no callgrind: the server's user and kernel CPU time per job and jobs per commit"
        " (use more jobs, e.g. --jobs 2000: CPU time moves with the machine's load)",
    )
    ap.add_argument(
        "--py-spy",
        type=Path,
        help="with --cpu: record the measured run with py-spy (--format raw) into this file",
    )
    ap.add_argument(
        "--intake-workers",
        type=int,
        default=0,
        metavar="N",
        help="#19: the server with [server] intake_workers = N (--cpu: the workers' CPU per job"
        " printed too; --py-spy records the main process)",
    )
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="lanfax-callgrind-") as tmp_name:
        tmp = Path(tmp_name)
        doc = bench.make_tiff(tmp / "page.tif")
        data = doc.read_bytes()
        port = bench.free_port()
        url = f"http://127.0.0.1:{port}"
        os.environ["LANFAX_CREDENTIALS"] = str(tmp / "credentials")
        workers = f"[server]\nintake_workers = {args.intake_workers}\n"
        (tmp / "bench.toml").write_text(
            (workers if args.intake_workers else "") + "[security]\nrate_limit = 0\n"
        )
        out = str(tmp / "callgrind.out")
        serve = [bench.LANFAX, "serve", "--data", str(tmp / "data")]
        serve += ["--listen", f"127.0.0.1:{port}", "--config", str(tmp / "bench.toml")]
        if not args.cpu:
            serve = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", *serve]
        with (tmp / "serve.log").open("wb") as log:
            proc = subprocess.Popen(serve, stdout=log, stderr=subprocess.STDOUT)
        spy: subprocess.Popen[bytes] | None = None
        try:
            deadline = time.monotonic() + 600
            while True:
                try:
                    with Client(url, timeout=5) as c:
                        c.health()
                    break
                except Exception:
                    if time.monotonic() > deadline or proc.poll() is not None:
                        raise SystemExit("lanfax serve did not start") from None
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
            if args.cpu:
                if args.py_spy is not None:
                    spy_bin = str(Path(sys.executable).with_name("py-spy"))
                    record = [spy_bin, "record", "-p", str(proc.pid), "--threads", "--gil"]
                    record += ["--format", "raw", "-o", str(args.py_spy), "-r", "200"]
                    spy = subprocess.Popen(record, stdout=subprocess.DEVNULL)
                    time.sleep(1.0)
                # Where the server stages uploads (left there, removed with the data dir).
                create_us = create_cost(tmp / "data" / "spool" / "tmp")
                user0, kernel0 = cpu_split(proc.pid)
                split0 = thread_cpu(proc.pid)
                kids0 = sum(bench.process_cpu(c) for c in bench.children(proc.pid))
                commits0, _held0 = bench.group_commits(url)
                began = time.perf_counter()
                run(args.jobs)
                wall = time.perf_counter() - began
                user1, kernel1 = cpu_split(proc.pid)
                split1 = thread_cpu(proc.pid)
                kids1 = sum(bench.process_cpu(c) for c in bench.children(proc.pid))
                commits1, _held1 = bench.group_commits(url)
            else:
                subprocess.run(
                    ["callgrind_control", "-z", str(proc.pid)], check=True, capture_output=True
                )
                run(args.jobs)
                subprocess.run(
                    ["callgrind_control", "-d", str(proc.pid)], check=True, capture_output=True
                )
        finally:
            if spy is not None:
                spy.send_signal(signal.SIGINT)
                spy.wait(60)
            proc.terminate()
            proc.wait(60)
        jobs = args.jobs // args.threads * args.threads
        if args.cpu:
            user, kernel = (user1 - user0) / jobs * 1000, (kernel1 - kernel0) / jobs * 1000
            # Jobs (each a one-recipient submission) per commit of the store: #19 wave 7, the
            # intake's committer gives the store several submissions as one.
            shared = jobs / (commits1 - commits0) if commits1 > commits0 else 0.0
            print(
                f"server CPU per job: {user + kernel:.2f} ms (user {user:.2f}, kernel"
                f" {kernel:.2f}); {shared:.1f} jobs per group commit; {jobs / wall:.1f} jobs/s"
                f" ({jobs} jobs, {args.threads} client threads, load average"
                f" {os.getloadavg()[0]:.1f}; last quiet run before wave 5: 3.40 ms, 2.0 jobs"
                " per commit)"
            )
            print(
                f"  (a file created in spool/tmp cost {create_us:.0f} us of kernel CPU just"
                " before: one is created per job; see create_cost)"
            )
            for name, (u1, k1) in sorted(split1.items()):
                u0, k0 = split0.get(name, (0.0, 0.0))
                u, k = (u1 - u0) / jobs * 1000, (k1 - k0) / jobs * 1000
                if u + k >= 0.005:
                    print(f"  {name:<20} {u + k:.2f} ms (user {u:.2f}, kernel {k:.2f})")
            if args.intake_workers:
                kids = (kids1 - kids0) / jobs * 1000
                print(
                    f"  intake workers       {kids:.2f} ms (all processes"
                    f" {user + kernel + kids:.2f})"
                )
            return
        per_job = totals(out, args.keep) / jobs
        print(
            f"server user-space instructions per job: {per_job / 1e6:.2f} M "
            f"({jobs} jobs, {args.threads} client threads; main before #19's second shift: "
            "8.79-8.84 M; at wave 6's start 4.64 M with 8 threads, 4.95 M sequential)"
        )


if __name__ == "__main__":
    main()
