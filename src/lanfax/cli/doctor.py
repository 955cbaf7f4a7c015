"""``lanfax doctor``: check what the fax service needs on this machine, one line per check.

Takes the options of ``lanfax serve`` that decide what is checked (``--config``, ``--data``,
``--listen``; the others are accepted and ignored, so ``./serve`` can hand its whole command
line over). Exit status 0 only when every check passes, else 1. ``--quiet`` prints only what
failed (what ``./serve`` does before it starts the service).
"""

from __future__ import annotations

import argparse
import json
import sys


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="lanfax doctor",
        description="Check what the lanfax service needs here: the fax engine (spandsp), "
        "libtiff, Ghostscript, fonts, LibreOffice (with --office), the data directory, the API "
        "port and the configured devices. One line per check; exit status 0 when all pass.",
    )
    p.add_argument("--config", metavar="FILE", help="settings file (TOML), as for lanfax serve")
    p.add_argument("--data", metavar="DIR", help="data directory, as for lanfax serve")
    p.add_argument("--listen", metavar="HOST:PORT", help="API address, as for lanfax serve")
    p.add_argument(
        "--office", action="store_true", help="office documents will be sent: check LibreOffice"
    )
    p.add_argument(
        "--min-free-mb", type=int, default=None, metavar="MB", help="free space wanted (200)"
    )
    p.add_argument("--no-devices", action="store_true", help="do not start the providers")
    p.add_argument("--quiet", "-q", action="store_true", help="print only the failed checks")
    p.add_argument("--json", action="store_true", help="the checks as JSON")
    return p


def main(argv: list[str]) -> int:
    args, _ignored = build_parser().parse_known_args(argv)
    from lanfax.service import doctor

    checks = doctor.run_checks(
        args.config,
        args.data,
        args.listen,
        office=args.office,
        min_free_mb=doctor.MIN_FREE_MB if args.min_free_mb is None else args.min_free_mb,
        devices=not args.no_devices,
    )
    failed = [c for c in checks if not c.ok]
    if args.json:
        rows = [
            {"check": c.name, "status": c.status, "detail": c.detail, "fix": c.fix} for c in checks
        ]
        print(json.dumps({"ok": not failed, "checks": rows}, indent=2))
    else:
        for check in failed if args.quiet else checks:
            print(("lanfax doctor: " if args.quiet else "") + check.line(), file=sys.stdout)
        if not args.quiet:
            print(
                f"{len(failed)} of {len(checks)} checks failed" if failed else "all checks passed"
            )
    return 1 if failed else 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main(sys.argv[1:]))
