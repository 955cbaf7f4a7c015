"""``lanfax cover list|add|remove|preview``: cover page templates on the server, and an
offline preview of a template file. Only argparse is imported at module level: this is on
the start-up path of every ``lanfax`` command.

The rule for ``preview NAME``: a NAME that is a template file (``.pdf``/``.txt``), or
``--offline``/``--templates``/``--personal``, renders locally (``lanfax.documents``, no
server). Otherwise the server's template is previewed (your personal one of that name first,
unless ``--scope server``); only when no server answers does it fall back to the local
templates directory (``$LANFAX_COVER_DIR``), saying so on stderr.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any


def add_parsers(sub: Any, common: list[argparse.ArgumentParser]) -> None:
    """Register ``lanfax cover`` on the verbs' subparsers."""
    p = sub.add_parser(
        "cover",
        parents=common,
        help="cover page templates: list, add, remove, preview",
        description="Cover page templates: the server's (administrators) and your own.",
    )
    csub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    csub.add_parser("list", parents=common, help="the server's templates and your own")
    q = csub.add_parser("add", parents=common, help="upload a template (PDF form or text)")
    q.add_argument("name", metavar="NAME")
    q.add_argument("file", type=Path, metavar="FILE", help="a PDF with form fields, or .txt")
    q.add_argument("--scope", choices=("personal", "server"), default="personal")
    q = csub.add_parser("remove", parents=common, help="remove a template")
    q.add_argument("name", metavar="NAME")
    q.add_argument("--scope", choices=("personal", "server"), default="personal")
    q = csub.add_parser("preview", parents=common, help="a template with sample data")
    q.add_argument("name", metavar="NAME", help="template name, 'default', or a template file")
    q.add_argument("-o", "--output", required=True, type=Path, metavar="FILE.pdf")
    q.add_argument("--scope", choices=("personal", "server"), help="which template of NAME")
    q.add_argument("--offline", action="store_true", help="never ask the server")
    q.add_argument("--templates", type=Path, metavar="DIR", help="local templates (offline)")
    q.add_argument("--personal", type=Path, metavar="DIR", help="local personal root (offline)")
    q.add_argument("--standard", action="store_true", help="standard resolution (offline TIFF)")


def _client(args: argparse.Namespace) -> Any:
    from lanfax.cli._verbs import _client as client

    return client(args)


def verb_cover(args: argparse.Namespace) -> int:
    from lanfax.cli import _output as out
    from lanfax.model.errors import InvalidInput

    if args.action == "preview":
        return _preview(args)
    with _client(args) as client:
        if args.action == "list":
            items = client.covers()
            if args.json:
                out.print_json(items)
            else:
                out.table(["NAME", "SCOPE", "KIND"], [[t.name, t.scope, t.kind] for t in items])
            return 0
        if args.action == "add":
            try:
                data = args.file.read_bytes()
            except OSError as exc:
                raise InvalidInput(
                    f"cannot read {args.file}: {exc.strerror or exc}",
                    hint="give a PDF form or a UTF-8 text template",
                ) from None
            added = client.add_cover(args.name, data, scope=args.scope)
            if args.json:
                out.print_json(added)
            else:
                print(f"added {added.scope} cover page template {added.name} ({added.kind})")
            return 0
        client.remove_cover(args.name, scope=args.scope)
        if not args.json:
            print(f"removed {args.scope} cover page template {args.name}")
        return 0


def _offline(args: argparse.Namespace) -> int:
    import importlib

    from lanfax.model.errors import Unavailable

    try:
        module = importlib.import_module("lanfax.documents.cli")
    except ImportError as exc:
        raise Unavailable(
            f"an offline cover page preview is not available here: {exc}",
            hint="install the server parts (pip install 'lanfax[server]'), or preview a "
            "template of a reachable server",
        ) from None
    argv = ["preview", str(args.name), "-o", str(args.output)]
    if args.templates:
        argv += ["--templates", str(args.templates)]
    if args.personal:
        argv += ["--personal", str(args.personal)]
        if args.user:
            argv += ["--user", args.user]
    if args.standard:
        argv.append("--standard")
    return int(module.cover_main(argv) or 0)


def _preview(args: argparse.Namespace) -> int:
    from lanfax.model.errors import InvalidInput, NotFound, Unavailable

    name = str(args.name)
    as_file = Path(name)
    if (
        args.offline
        or args.templates
        or args.personal
        or (as_file.suffix.lower() in (".pdf", ".txt") and as_file.is_file())
    ):
        return _offline(args)
    if args.output.suffix.lower() != ".pdf" or args.standard:
        raise InvalidInput(
            "the server's preview is a PDF",
            hint="write -o FILE.pdf (or --offline for a local template as TIFF)",
        )
    try:
        with _client(args) as client:
            templates = [t for t in client.covers() if t.name == name]
            if args.scope:
                templates = [t for t in templates if t.scope == args.scope]
            if not templates:
                raise NotFound(
                    f"the server has no cover page template named {name!r}",
                    hint="see `lanfax cover list`; preview a template file by its path",
                )
            chosen = templates[-1]  # a personal template shadows a server one (list order)
            data = client.cover_preview(chosen.name, scope=chosen.scope)
    except Unavailable as exc:
        print(f"lanfax: no server ({exc.message}); previewing local templates", file=sys.stderr)
        return _offline(args)
    try:
        args.output.write_bytes(data)
    except OSError as exc:
        raise InvalidInput(
            f"cannot write {args.output}: {exc.strerror or exc}",
            hint="choose a file in a folder you may write to",
        ) from None
    if not args.json:
        print(f"wrote {args.output}: {chosen.scope} template {chosen.name} with sample data")
    return 0
