"""Job submission and queue listing speed: lanfax beside HylaFAX, in the same run.

Starts its own ``lanfax serve`` (temporary data directory, free loopback port, queue paused so
jobs stay queued), makes a one-page fax-ready TIFF (a page drawn with Pillow, made TIFF Class F
by lanfax's converter: 1-bit 1728x2292, 204x196 dpi, Group 4, min-is-white; the server sends it
as it is, no conversion) and measures:

1. ``lanfax send`` as a new process per job (what a script or a print hook does), with
   compiled bytecode as an installed lanfax has it (PYTHONDONTWRITEBYTECODE is dropped and
   the .pyc files go to a private PYTHONPYCACHEPREFIX, written by one untimed run first);
2. the Python sync client, sequential and 8 threads (one Client each);
3. ``lanfax jobs`` and ``Client.jobs(limit=100)`` with 1,000 and 100,000 jobs queued (the
   queue is filled with broadcasts of many recipients).

When HylaFAX's ``sendfax`` is installed, it starts HylaFAX with no modem through
``/work/shared/peers/hylafax/peer.sh up none`` (private spool, a free port) and measures
``sendfax`` one process per job and ``faxstat -s``; otherwise it prints the figures from
``/work/shared/notes/hylafax-peer.md``, marked as such.

    .venv/bin/python bench/submit.py                 # default: a few minutes
    .venv/bin/python bench/submit.py --cli-jobs 20 --client-jobs 200 --big-queue 10000
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from lanfax.client import Client
from lanfax.model import JobParams

ROOT = Path(__file__).resolve().parents[1]
LANFAX = str(Path(sys.executable).with_name("lanfax"))
PEER = Path(__file__).resolve().parents[1].parent / "shared" / "peers" / "hylafax" / "peer.sh"
if not PEER.exists():
    PEER = Path("/work/shared/peers/hylafax/peer.sh")
#: From /work/shared/notes/hylafax-peer.md section 2 (measured on this machine).
HYLAFAX_NOTES = {
    "sendfax, one process per job": "19.1 jobs/s, ~52 ms per job",
    "faxstat -s, 1000 jobs queued": "0.092-0.100 s",
    "faxstat -s, 5000 jobs queued": "0.110-0.120 s",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def make_tiff(path: Path) -> Path:
    """A one-page TIFF Class F at ``path``. Pillow alone cannot write one: its 1-bit TIFFs
    are min-is-black, which the server (rightly) converts before sending."""
    from PIL import Image, ImageDraw

    from lanfax import documents

    img = Image.new("1", (1728, 2292), 1)
    draw = ImageDraw.Draw(img)
    for y in range(200, 2100, 60):
        draw.text((150, y), f"lanfax submission benchmark, line {y // 60}", fill=0)
    drawn = path.with_name(path.stem + "-drawn.tif")
    img.save(drawn, compression="group4", dpi=(204, 196))
    documents.convert([drawn], path, resolution="fine", compression="mmr")
    drawn.unlink()
    if documents.is_fax_ready(path) is None:
        raise SystemExit(f"{path} is not fax-ready: the benchmark would measure a conversion")
    return path


def stats(samples: list[float], wall: float) -> tuple[float, float, float]:
    """(jobs/s, p50 ms, p99 ms)."""
    s = sorted(samples)
    p99 = s[min(len(s) - 1, int(len(s) * 0.99))]
    return len(s) / wall, statistics.median(s) * 1000, p99 * 1000


def timed(fn: Callable[[], object]) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def timed_run(cmd: list[str], env: dict[str, str] | None = None) -> float:
    """Wall time of one process, which must succeed."""
    t = time.perf_counter()
    subprocess.run(cmd, env=env, check=True, capture_output=True)
    return time.perf_counter() - t


class Server:
    def __init__(self, tmp: Path, intake_workers: int = 0) -> None:
        self.intake_workers = intake_workers
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = (tmp / "serve.log").open("wb")
        # The server writes its administrator's token here; the clients read it from here.
        os.environ["LANFAX_CREDENTIALS"] = str(tmp / "credentials")
        args = [LANFAX, "serve", "--data", str(tmp / "data"), "--listen", f"127.0.0.1:{self.port}"]
        if importlib.util.find_spec("lanfax.service.security_settings") is not None:
            # A benchmark measures the service, not the per-user rate limit.
            # #19: intake workers (lanfax.api.intake) when asked for.
            toml = f"[server]\nintake_workers = {intake_workers}\n" if intake_workers else ""
            (tmp / "bench.toml").write_text(toml + "[security]\nrate_limit = 0\n")
            args += ["--config", str(tmp / "bench.toml")]
            args[args.index("--data") + 1] = str(tmp / f"data{intake_workers or ''}")
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
                    time.sleep(0.1)
        with Client(self.url) as c:  # now: the token exists once the server is up
            c.set_config(pause_server_queue=True)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def bench_cli(url: str, doc: Path, n: int, pycache: Path) -> tuple[float, float, float]:
    env = dict(os.environ, LANFAX_SERVER=url, PYTHONPYCACHEPREFIX=str(pycache))
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    timed_run([LANFAX, "send", str(doc), "--to", "80000000"], env)  # writes the .pyc files
    samples = []
    t0 = time.perf_counter()
    for i in range(n):
        cmd = [LANFAX, "send", str(doc), "--to", f"81{i:06d}"]
        samples.append(timed_run(cmd, env))
    return stats(samples, time.perf_counter() - t0)


def bench_client(url: str, doc: Path, n: int, threads: int) -> tuple[float, float, float]:
    data = doc.read_bytes()
    samples: list[float] = []
    lock = threading.Lock()

    def worker(k: int, count: int) -> None:
        mine = []
        with Client(url) as c:
            for i in range(count):
                t = time.perf_counter()
                c.send([("page.tif", data)], to=f"82{k:02d}{i:05d}")
                mine.append(time.perf_counter() - t)
        with lock:
            samples.extend(mine)

    t0 = time.perf_counter()
    workers = [threading.Thread(target=worker, args=(k, n // threads)) for k in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return stats(samples, time.perf_counter() - t0)


def process_cpu(pid: int) -> float:
    """CPU seconds (user + system) process ``pid`` used so far (Linux /proc; 0 elsewhere).
    #19: on a shared, loaded machine the server's CPU per job is the figure to compare, as
    its wall-clock rate mostly measures the other processes."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children(pid: int) -> list[int]:
    """The child processes of ``pid`` (Linux /proc; [] elsewhere): #19, the server's intake
    workers, whose CPU is the server's too."""
    found: list[int] = []
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return found
    for task in tasks:
        try:
            found += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
    return found


def server_cpu(pid: int) -> tuple[float, float]:
    """CPU seconds so far of the server process ``pid`` and of its children (the intake
    workers; and the conversion pool, idle here: the benchmark's document is fax-ready)."""
    return process_cpu(pid), sum(process_cpu(c) for c in children(pid))


def thread_cpu(pid: int) -> tuple[float, float]:
    """CPU seconds (user + system) so far of process ``pid``'s main thread (the event loop:
    HTTP, the API, the service's coroutines) and of all its other threads (the thread pools:
    staging, TIFF checks, fsyncs, commits), from /proc/<pid>/task (#19: which half of the
    submission path bounds a GIL-bound process). Threads that ended are not counted; (0, 0)
    where /proc is missing."""
    loop = other = 0.0
    tck = os.sysconf("SC_CLK_TCK")
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return 0.0, 0.0
    for task in tasks:
        try:
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # the thread ended meanwhile
        cpu = (int(fields[11]) + int(fields[12])) / tck
        if task.name == str(pid):
            loop += cpu
        else:
            other += cpu
    return loop, other


def group_commits(url: str) -> tuple[float, float]:
    """(commits, submissions) of the server's group commit so far, from its /metrics (#19);
    (0, 0) when the server does not count them."""
    import urllib.request

    from lanfax.client import credentials

    token = credentials.lookup(url).get("token", "")
    req = urllib.request.Request(f"{url}/metrics", headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        text = resp.read().decode()
    found = dict.fromkeys(("commits", "submissions"), 0.0)
    for line in text.splitlines():
        for key in found:
            if line.startswith(f"lanfax_store_group_{key}_total "):
                found[key] = float(line.split()[1])
    return found["commits"], found["submissions"]


def intake_hops(url: str) -> tuple[dict[str, float], float]:
    """(seconds per hop so far, submissions counted) of the server's intake workers, from
    /metrics (#19 wave 7: lanfax_intake_hop_seconds); ({}, 0) without them."""
    import re
    import urllib.request

    from lanfax.client import credentials

    token = credentials.lookup(url).get("token", "")
    req = urllib.request.Request(f"{url}/metrics", headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        text = resp.read().decode()
    hops: dict[str, float] = {}
    count = 0.0
    for line in text.splitlines():
        m = re.match(r'lanfax_intake_hop_seconds_total\{hop="(\w+)"\} (\S+)', line)
        if m:
            hops[m.group(1)] = float(m.group(2))
        elif line.startswith("lanfax_intake_hopped_submissions_total "):
            count = float(line.split()[1])
    return hops, count


def hops_row(server: Server, doc: Path, n: int, threads: int) -> list[tuple[str, str, str]]:
    """The client row of ``threads`` threads against a server with intake workers, and where
    one job's time went, hop by hop (means over the run, ms): what 8 synchronous clients'
    rate is made of (rate = clients / latency)."""
    before, count0 = intake_hops(server.url)
    name = f"  with {server.intake_workers} intake worker(s), {threads} threads"
    row = client_row(server, doc, n, threads, name)
    after, count1 = intake_hops(server.url)
    counted = count1 - count0
    if not counted:
        return [row]
    means = {hop: (after[hop] - before.get(hop, 0.0)) / counted * 1000 for hop in after}
    total = sum(means.values())
    detail = ", ".join(f"{hop} {ms:.2f}" for hop, ms in means.items())
    return [
        row,
        (
            "    one job's hops in the server (ms)",
            f"{total:.2f} ms",
            f"means: {detail} (the rest of p50 is the client, its kernel and the reply)",
        ),
    ]


#: CPU ms per job in all processes, by (intake workers, client threads), as client_row measured.
CPU_PER_JOB: dict[tuple[int, int], float] = {}


def cores_at_target(workers: int, threads: int) -> str:
    """How many of this machine's cores one job's CPU (all processes) takes at 1,000 jobs/s
    (#19 wave 8): whether the CPU or the latency of 8 synchronous clients is the limit."""
    cpu = CPU_PER_JOB.get((workers, threads))
    if cpu is None:
        return ""
    return (
        f"; CPU per job in all processes (server, workers, clients) {cpu:.2f} ms:"
        f" {cpu:.2f} of {os.cpu_count()} cores busy at 1,000 jobs/s"
    )


def client_row(server: Server, doc: Path, n: int, threads: int, name: str) -> tuple[str, str, str]:
    """Rate and latency, the server's CPU per job and this process's (the clients': #19, on
    a machine where both share the cores, which of the two bounds the rate), and how many
    submissions shared each commit (one fsync)."""
    (cpu0, kids0), mine0 = server_cpu(server.proc.pid), time.process_time()
    loop0, other0 = thread_cpu(server.proc.pid)
    commits0, _held0 = group_commits(server.url)
    r, p50, p99 = bench_client(server.url, doc, n, threads)
    cpu1, kids1 = server_cpu(server.proc.pid)
    cpu = (cpu1 - cpu0) / n * 1000
    kids = (kids1 - kids0) / n * 1000
    loop1, other1 = thread_cpu(server.proc.pid)
    loop, other = (loop1 - loop0) / n * 1000, (other1 - other0) / n * 1000
    mine = (time.process_time() - mine0) / n * 1000
    commits, _held = group_commits(server.url)
    # Jobs (one-recipient submissions) per commit of the store: #19 wave 7, the intake's
    # committer gives the store several submissions as one.
    shared = n / (commits - commits0) if commits > commits0 else 0.0
    # #19 wave 8: one job's CPU in every process (the server's, its workers', the clients'),
    # for the line that says how much of the machine 1,000 jobs/s would take.
    CPU_PER_JOB[(server.intake_workers, threads)] = cpu + kids + mine
    workers = ""
    if server.intake_workers:  # #19: main's own figures above, the workers' here
        workers = f", intake workers {kids:.2f} ms (all processes {cpu + kids:.2f})"
    return (
        name,
        f"{r:.1f} jobs/s",
        f"p50 {p50:.1f} ms, p99 {p99:.1f} ms, CPU/job server {cpu:.2f} ms (event loop"
        f" {loop:.2f}, other threads {other:.2f}){workers}, client {mine:.2f} ms,"
        f" {shared:.1f} jobs/commit",
    )


def fill(url: str, doc: Path, target: int) -> None:
    """Bring the queue to ``target`` jobs with broadcasts of up to 1000 recipients."""
    data = doc.read_bytes()
    with Client(url, timeout=600) as c:
        have = sum(1 for _ in c.iter_jobs())
        while have < target:
            n = min(1000, target - have)
            c.broadcast([("page.tif", data)], [JobParams(f"83{have + i:07d}") for i in range(n)])
            have += n


def bench_listing(url: str, pid: int, n: int = 30) -> tuple[float, float, float, float]:
    """(``lanfax jobs`` p50 ms, client first page p50 ms, client middle page p50 ms, the
    server's CPU ms per page: #19, the figure a loaded machine does not inflate)."""
    env = dict(os.environ, LANFAX_SERVER=url)
    cli = [
        timed(lambda: subprocess.run([LANFAX, "jobs"], env=env, check=True, capture_output=True))
        for _ in range(min(n, 10))
    ]
    with Client(url) as c:
        cpu0 = process_cpu(pid)
        first = [timed(lambda: c.jobs(limit=100)) for _ in range(n)]
        ids = c.jobs(limit=1, before=2**62).jobs
        middle_id = ids[0].job_id // 2 if ids else 0
        middle = [timed(lambda: c.jobs(limit=100, after=middle_id)) for _ in range(n)]
        cpu = (process_cpu(pid) - cpu0) / (2 * n + 1) * 1000
    return (
        statistics.median(cli) * 1000,
        statistics.median(first) * 1000,
        statistics.median(middle) * 1000,
        cpu,
    )


def hylafax(doc: Path, n: int, tmp: Path) -> dict[str, str] | None:
    if n <= 0 or not shutil.which("sendfax") or not PEER.exists():
        return None
    port = free_port()
    env = dict(os.environ, PEER_DIR=str(tmp / "hylafax"), HFAXD_PORT=str(port))
    up = subprocess.run([str(PEER), "up", "none"], env=env, capture_output=True, text=True)
    host = f"127.0.0.1:{port}"
    try:
        if up.returncode != 0:
            print(f"HylaFAX: peer.sh up none failed: {up.stderr.strip()[-300:]}")
            return None
        samples = []
        t0 = time.perf_counter()
        for i in range(n):
            cmd = ["sendfax", "-h", host, "-n", "-N", "-d", f"81{i:06d}", str(doc)]
            samples.append(timed_run(cmd))
        rate, p50, p99 = stats(samples, time.perf_counter() - t0)
        stat = [
            timed(lambda: subprocess.run(["faxstat", "-h", host, "-s"], capture_output=True))
            for _ in range(5)
        ]
        return {
            "sendfax p50 ms": f"{p50:.1f}",
            "sendfax": f"{rate:.1f} jobs/s, p50 {p50:.1f} ms, p99 {p99:.1f} ms",
            f"faxstat -s ({n} queued)": f"{statistics.median(stat) * 1000:.1f} ms",
        }
    finally:
        subprocess.run([str(PEER), "down"], env=env, capture_output=True)


def _intake_rows(tmp: Path, doc: Path, args: argparse.Namespace) -> list[tuple[str, str, str]]:
    """The client rows again, against a second server with ``intake_workers`` (#19)."""
    n = args.intake_workers
    server = Server(tmp, intake_workers=n)
    try:
        return [
            client_row(
                server, doc, args.client_jobs, 1, f"  with {n} intake worker(s), sequential"
            ),
            *hops_row(server, doc, args.client_jobs, args.threads),
        ]
    finally:
        server.stop()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cli-jobs", type=int, default=50, help="lanfax send processes")
    ap.add_argument("--client-jobs", type=int, default=800, help="jobs through the client")
    ap.add_argument("--threads", type=int, default=8)
    ap.add_argument("--small-queue", type=int, default=1000)
    ap.add_argument("--big-queue", type=int, default=100_000, help="0 to skip")
    ap.add_argument(
        "--hylafax-jobs",
        type=int,
        default=50,
        help="sendfax processes; 0: do not start HylaFAX (its figures come from the notes)",
    )
    ap.add_argument(
        "--intake-workers",
        type=int,
        default=0,
        metavar="N",
        help="#19: also run the client rows against a server with [server] intake_workers = N"
        " and print them beside the rows without",
    )
    args = ap.parse_args()
    if args.client_jobs < 1 or args.threads < 1:
        # The client rows are what this benchmark is for: no run has no rate or percentile.
        ap.error("--client-jobs and --threads must be at least 1")
    rows: list[tuple[str, str, str]] = []
    with tempfile.TemporaryDirectory(prefix="lanfax-bench-") as tmp_name:
        tmp = Path(tmp_name)
        tmp.chmod(0o755)  # HylaFAX's daemons (user uucp) must reach their spool in here
        doc = make_tiff(tmp / "page.tif")
        hyla = hylafax(doc, args.hylafax_jobs, tmp)
        server = Server(tmp)
        send_p50 = client_rate = threads_rate = intake_rate = 0.0
        try:
            if args.cli_jobs > 0:  # 0: skipped (there is no median of no run)
                r, p50, p99 = bench_cli(server.url, doc, args.cli_jobs, tmp / "pycache")
                send_p50 = p50
                rows.append(
                    (
                        "lanfax send, one process per job",
                        f"{r:.1f} jobs/s",
                        f"p50 {p50:.1f} ms, p99 {p99:.1f} ms",
                    )
                )
            rows.append(client_row(server, doc, args.client_jobs, 1, "Client.send, sequential"))
            client_rate = float(rows[-1][1].split()[0])
            rows.append(
                client_row(
                    server,
                    doc,
                    args.client_jobs,
                    args.threads,
                    f"Client.send, {args.threads} threads",
                )
            )
            threads_rate = float(rows[-1][1].split()[0])
            if args.intake_workers > 0:  # #19: the same rows with intake workers
                intake_rows = _intake_rows(tmp, doc, args)
                rows += intake_rows
                threaded = [r for r in intake_rows if r[0].endswith(f"{args.threads} threads")]
                intake_rate = float(threaded[-1][1].split()[0])
            for size in (args.small_queue, args.big_queue):
                if not size:
                    continue
                fill_s = timed(lambda size=size: fill(server.url, doc, size))  # type: ignore[misc]
                cli, first, middle, cpu = bench_listing(server.url, server.proc.pid)
                rows.append((f"queue of {size:,} (filled in {fill_s:.0f} s)", "", ""))
                rows.append(("  lanfax jobs (process)", f"{cli:.1f} ms", "p50"))
                rows.append(("  Client.jobs(limit=100), first page", f"{first:.2f} ms", "p50"))
                rows.append(
                    (
                        "  Client.jobs(limit=100), middle page",
                        f"{middle:.2f} ms",
                        f"p50; server CPU {cpu:.2f} ms per page (both kinds)",
                    )
                )
        finally:
            server.stop()
    width = max([len(r[0]) for r in rows] + [len(k) + 2 for k in HYLAFAX_NOTES]) + 2
    print(f"\n{'lanfax':<{width}}{'rate / time':<16}detail")
    for name, a, b in rows:
        print(f"{name:<{width}}{a:<16}{b}")
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"(load average at the end: {load} on {os.cpu_count()} CPUs)")
    print(
        f"Client.send, {args.threads} threads: {threads_rate:.1f} jobs/s beside the target of"
        f" 1,000 jobs/s (#19): {threads_rate / 1000:.2f}x"
    )
    if args.intake_workers > 0:
        print(
            f"Client.send, {args.threads} threads, {args.intake_workers} intake worker(s):"
            f" {intake_rate:.1f} jobs/s beside the target of 1,000 jobs/s (#19):"
            f" {intake_rate / 1000:.2f}x (without them: {threads_rate:.1f})"
            + cores_at_target(args.intake_workers, args.threads)
        )
    print()
    if hyla is None:
        why = "not run (--hylafax-jobs 0)" if args.hylafax_jobs <= 0 else "not installed"
        print(f"HylaFAX: {why}; figures from the notes:")
        for k, v in HYLAFAX_NOTES.items():
            print(f"  {k:<{width - 2}}{v}  (notes, not this run)")
        if args.cli_jobs > 0:
            print(
                f"\nlanfax send p50 {send_p50:.1f} ms (this run) beside sendfax ~52 ms "
                "(the notes, not this run)"
            )
        print(
            f"Client.send sequential {client_rate:.1f} jobs/s = {client_rate / 19.1:.1f}x"
            " sendfax's 19.1 jobs/s (the notes, not this run)"
        )
    else:
        print("HylaFAX (this run, no modem, jobs stay queued):")
        for k, v in hyla.items():
            if k != "sendfax p50 ms":
                print(f"  {k:<{width - 2}}{v}")
        print("  (notes: faxstat -s with 1000 queued 0.092-0.100 s, 5000 queued 0.110-0.120 s)")
        if args.cli_jobs > 0:
            print(
                f"\nlanfax send p50 {send_p50:.1f} ms beside sendfax p50 "
                f"{hyla['sendfax p50 ms']} ms, one process per job, this run"
            )
        sendfax_rate = float(hyla["sendfax"].split()[0])
        print(
            f"Client.send sequential {client_rate:.1f} jobs/s = "
            f"{client_rate / sendfax_rate:.1f}x sendfax's {sendfax_rate:.1f} jobs/s, this run"
        )


if __name__ == "__main__":
    main()
