"""Offline commands: ``lanfax convert`` and ``lanfax cover preview``.

The ``lanfax`` CLI dispatches these verbs here: ``main(["convert", ...])`` or
``main(["cover", "preview", ...])``; ``convert_main``/``cover_main`` take the argv after the
verb. Errors print their message and hint to stderr and return FaxError.exit_code.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from lanfax.model.errors import FaxError


def _report(exc: FaxError) -> int:
    print(f"lanfax: error: {exc.message}", file=sys.stderr)
    if exc.hint:
        print(f"lanfax: hint: {exc.hint}", file=sys.stderr)
    return exc.exit_code


def _one_blas_thread() -> None:
    """Ask numpy's OpenBLAS for one thread, before numpy is first imported.

    Conversion never calls BLAS, yet OpenBLAS starts a thread per core when numpy is
    imported, and those threads spin: a third of numpy's import CPU (0.104 s against 0.070 s
    with one thread, mean of 5 on the development VM), a visible part of a whole ``lanfax
    convert`` process. A value the user set is kept."""
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")


def convert_main(argv: list[str]) -> int:
    """``lanfax convert INPUT... -o OUT.tif [--fine|--standard] [--mmr|--mr|--mh]``"""
    ap = argparse.ArgumentParser(
        prog="lanfax convert",
        description="Convert documents (PDF, PostScript, TIFF, images, text, office) into "
        "one TIFF Class F fax file, as lanfax would send it.",
    )
    ap.add_argument("inputs", nargs="+", type=Path, metavar="INPUT")
    ap.add_argument("-o", "--output", required=True, type=Path, metavar="OUT.tif")
    res = ap.add_mutually_exclusive_group()
    res.add_argument("--fine", dest="resolution", action="store_const", const="fine")
    res.add_argument("--standard", dest="resolution", action="store_const", const="standard")
    comp = ap.add_mutually_exclusive_group()
    for name, help_ in (("mmr", "G4"), ("mr", "G3 2-D, the default"), ("mh", "G3 1-D")):
        comp.add_argument(f"--{name}", dest="compression", action="store_const", const=name,
                          help=help_)  # fmt: skip
    ap.add_argument("--header", help="branding header text drawn at the top of every page")
    ap.set_defaults(resolution="fine", compression="mr")
    args = ap.parse_args(argv)
    _one_blas_thread()
    from lanfax.documents import convert

    try:
        r = convert(
            args.inputs,
            args.output,
            resolution=args.resolution,
            compression=args.compression,
            header=args.header,
        )
    except FaxError as exc:
        return _report(exc)
    for warning in r.warnings:
        print(f"lanfax: warning: {warning}", file=sys.stderr)
    print(f"{r.path}: {r.pages} page(s), {r.width}x{r.height}, {r.resolution}, "
          f"{r.compression.upper()}, {r.size} bytes")  # fmt: skip
    return 0


def cover_main(argv: list[str]) -> int:
    """``lanfax cover preview NAME -o FILE.pdf|FILE.tif [--templates DIR] [--user U]``"""
    ap = argparse.ArgumentParser(prog="lanfax cover", description="Cover page templates.")
    sub = ap.add_subparsers(dest="action", required=True)
    pv = sub.add_parser("preview", help="render a template with sample data")
    pv.add_argument("name", metavar="NAME", help="template name, 'default', or a template file")
    pv.add_argument("-o", "--output", required=True, type=Path, metavar="FILE.pdf")
    pv.add_argument(
        "--templates",
        type=Path,
        default=Path(os.environ.get("LANFAX_COVER_DIR", "/var/lib/lanfax/coverpages")),
        help="server templates directory (default: $LANFAX_COVER_DIR)",
    )
    pv.add_argument("--personal", type=Path, help="personal templates root")
    pv.add_argument("--user", help="look in this user's personal templates too")
    pv.add_argument("--standard", action="store_true", help="standard resolution (TIFF output)")
    args = ap.parse_args(argv)
    _one_blas_thread()
    from lanfax.documents.cover import TemplateStore, preview

    try:
        candidate = Path(args.name)
        if candidate.suffix.lower() in (".pdf", ".txt") and candidate.is_file():
            template: Path | None = candidate
        else:
            template = TemplateStore(args.templates, args.personal).find(args.name, args.user).path
        r = preview(template, args.output, "standard" if args.standard else "fine")
    except FaxError as exc:
        return _report(exc)
    for warning in r.warnings:
        print(f"lanfax: warning: {warning}", file=sys.stderr)
    print(f"{r.path}: {r.pages} page(s), {r.size} bytes")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Dispatch ``convert ...`` or ``cover ...``."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] == "convert":
        return convert_main(args[1:])
    if args and args[0] == "cover":
        return cover_main(args[1:])
    print("usage: lanfax {convert,cover} ...", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
