"""The chaos campaign (issue #14): faxes through a real ``lanfax serve`` while it is killed
and its disk fills, then the invariants (see tests/support/chaos.py for what is checked).

    .venv/bin/python bench/chaos.py                    # 200 jobs, 10 SIGKILLs, disk full once
    .venv/bin/python bench/chaos.py --jobs 50 --kills 3 --seed 7
    .venv/bin/python bench/chaos.py --postgres        # a private PostgreSQL, stopped once

The disk-full fault needs root (a 64 MB tmpfs is mounted for the data directory); without it
the campaign runs on the ordinary disk and says so. Prints a table; exits 1 if an invariant
does not hold.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.chaos import ChaosConfig, run_campaign
from tests.support.pg import PgServer, pg_unavailable
from tests.support.smallfs import SmallFs


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--jobs", type=int, default=200)
    p.add_argument("--kills", type=int, default=10)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--no-disk-full", action="store_true")
    p.add_argument("--timeout", type=float, default=1800.0)
    p.add_argument(
        "--postgres",
        action="store_true",
        help="run against a private PostgreSQL cluster (root), stopped once for 3-6 s",
    )
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="lanfax-chaos-") as tmp:
        work = Path(tmp)
        fs: SmallFs | None = None
        with contextlib.ExitStack() as stack:
            if not args.no_disk_full:
                fs = stack.enter_context(_mounted(work / "lanfax-data"))
            pg: PgServer | None = None
            if args.postgres:
                why = pg_unavailable()
                if why is not None:
                    print(f"--postgres: {why}", file=sys.stderr)
                    return 2
                pg = PgServer()
                stack.callback(pg.close)
            cfg = ChaosConfig(
                work,
                jobs=args.jobs,
                kills=args.kills,
                seed=args.seed,
                fill_disk=fs is not None,
                smallfs=fs,
                timeout=args.timeout,
                pg=pg,
            )
            report = run_campaign(cfg)
    print(report.table())
    if report.not_final:
        print("stuck:", report.not_final[:5])
    if report.whole_duplicates:
        print("received twice:", report.whole_duplicates)
    if report.missing_pages:
        print("missing pages:", report.missing_pages[:10])
    if report.not_routed:
        print("not routed:", report.not_routed)
    print("ALL INVARIANTS HOLD" if report.ok else "AN INVARIANT DOES NOT HOLD")
    return 0 if report.ok else 1


@contextlib.contextmanager
def _mounted(directory: Path):  # type: ignore[no-untyped-def]
    import subprocess

    directory.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", str(directory)],
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        print("(no root: the disk-full fault is left out)", file=sys.stderr)
        yield None
        return
    try:
        yield SmallFs(directory)
    finally:
        subprocess.run(["umount", "-l", str(directory)], check=False)


if __name__ == "__main__":
    sys.exit(main())
