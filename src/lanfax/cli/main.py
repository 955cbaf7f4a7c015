"""The ``lanfax`` command: argument parsing and dispatch.

Start-up time is part of every ``lanfax send``, so this module imports only argparse; each verb
imports what it needs when it runs (``lanfax.cli._verbs`` and the sync client, which never
loads httpx). ``serve`` and ``convert`` hand the rest of the command line to
``lanfax.cli.serve:main`` and ``lanfax.documents.cli:main``, imported only then.

Errors: a :class:`~lanfax.model.errors.FaxError` prints ``error: <message>`` and
``hint: <hint>`` on stderr and exits with its ``exit_code``; nothing prints a traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Callable, Sequence

TYPE_CHECKING = False  # typing costs `lanfax send` ~1 ms to import; mypy reads these
if TYPE_CHECKING:
    from typing import Any

#: Verbs whose arguments belong to another program: (module, description).
_DISPATCH = {
    "serve": ("lanfax.cli.serve", "run the fax service (see `lanfax serve --help`)"),
    "convert": ("lanfax.documents.cli", "turn documents into fax-ready TIFF, offline"),
    "doctor": ("lanfax.cli.doctor", "check what the service needs on this machine"),
}
#: Global options a dispatch verb takes too (``lanfax --json doctor``).
_DISPATCH_GLOBALS = {"doctor": ("--json",)}

_EPILOG = """\
global options (before or after the verb): --server URL, --user NAME, --token TOKEN,
--ca-file PEM, --json; e.g. lanfax --server http://fax:8470 --json jobs.
environment: LANFAX_SERVER (server URL, default http://127.0.0.1:8470), LANFAX_USER (user name),
LANFAX_TOKEN (API token), LANFAX_CA_FILE (CA certificate for an https server).
exit codes: 0 ok, 1 error, 2 bad input, 3 not found, 4 conflict, 5 access denied,
7 server unavailable, 10 a job failed, 11 a job was canceled, 12 timed out waiting.
"""


#: Options every verb that talks to a server takes; they may also stand before the verb.
_GLOBAL_VALUE = ("--server", "--user", "--token", "--ca-file")
_GLOBAL_FLAG = ("--json",)


def hoist_globals(argv: Sequence[str]) -> tuple[list[str], list[str]]:
    """``(args, moved)``: the global options that stand before the verb (``lanfax --server
    URL --json jobs``, as with git or kubectl) moved behind the verb's own arguments (before a
    ``--``), where each verb's parser takes them. The same option given after the verb wins.
    Anything else before the verb (``--version``, ``--help``) stays where it is."""
    args = list(argv)
    moved: list[str] = []
    i = 0
    while i < len(args) and args[i].startswith("--") and args[i] != "--":
        name, eq, _ = args[i].partition("=")
        if name in _GLOBAL_FLAG and not eq:
            moved.append(args[i])
            i += 1
        elif name in _GLOBAL_VALUE:
            if eq:
                moved.append(args[i])
                i += 1
            elif i + 1 < len(args):
                moved += [args[i], args[i + 1]]
                i += 2
            else:
                from lanfax.model.errors import InvalidInput

                raise InvalidInput(f"{name} needs a value", hint=f"e.g. lanfax {name} VALUE jobs")
        else:
            break
    rest = args[i:]
    if not moved:
        return rest, []
    end = rest.index("--") if "--" in rest else len(rest)
    given_after = {a.partition("=")[0] for a in rest[:end]}
    kept: list[str] = []
    j = 0
    while j < len(moved):  # drop what the verb's own arguments say again
        name = moved[j].partition("=")[0]
        width = 2 if name in _GLOBAL_VALUE and "=" not in moved[j] else 1
        if name not in given_after:
            kept += moved[j : j + width]
        j += width
    return rest[:end] + kept + rest[end:], moved


def _common() -> argparse.ArgumentParser:
    p = _Parser(add_help=False)
    g = p.add_argument_group("connection and output")
    g.add_argument(
        "--server",
        metavar="URL",
        default=os.environ.get("LANFAX_SERVER"),
        help="the lanfax server (env LANFAX_SERVER; default http://127.0.0.1:8470)",
    )
    g.add_argument("--user", metavar="NAME", help="act as this user (env LANFAX_USER)")
    g.add_argument("--token", metavar="TOKEN", help="API token (env LANFAX_TOKEN)")
    g.add_argument(
        "--ca-file",
        metavar="PEM",
        help="trust this CA (or self-signed server) certificate for https (env LANFAX_CA_FILE)",
    )
    g.add_argument("--json", action="store_true", help="machine output: the API's JSON")
    return p


def _width() -> int:
    """The help text's width: ``COLUMNS``, else the terminal's, else 80 (what argparse does,
    without importing shutil for it: argparse makes a formatter for every argument added)."""
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit():
        return int(columns)
    try:
        return os.get_terminal_size(sys.__stdout__.fileno() if sys.__stdout__ else 1).columns
    except (OSError, ValueError):
        return 80


class _Help(argparse.HelpFormatter):
    def __init__(
        self,
        prog: str,
        indent_increment: int = 2,
        max_help_position: int = 24,
        width: int | None = None,
    ) -> None:
        width = _width() - 2 if width is None else width
        super().__init__(prog, indent_increment, max_help_position, width)


class _RawHelp(_Help, argparse.RawDescriptionHelpFormatter):
    pass


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser (and its verbs' parsers) with :class:`_Help` by default."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", _Help)
        super().__init__(*args, **kwargs)


class _OnlyVerb:
    """Stands for the verbs' subparsers action while building the parser of one verb: that
    verb's parser is built, every other ``add_parser`` (and what is added to it) is a no-op.
    Building all ~45 parsers costs more than the rest of a ``lanfax send``."""

    def __init__(self, sub: Any, verb: str) -> None:
        self._sub = sub
        self._verb = verb
        self.found = False

    def add_parser(self, name: str, **kwargs: Any) -> Any:
        if name != self._verb:
            return _IGNORED
        self.found = True
        return self._sub.add_parser(name, **kwargs)


class _Ignored:
    """Accepts any parser-building call and builds nothing."""

    def __getattr__(self, name: str) -> Callable[..., _Ignored]:
        return lambda *args, **kwargs: self


_IGNORED = _Ignored()


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The whole command line (for help and parsing; dispatch verbs are listed only).

    With ``only``, just that verb is known (quicker, for running it); when there is no such
    verb the whole parser is built, so that the error lists the verbs."""
    if only is not None:
        parser = _build(only)
        if parser is not None:
            return parser
    result = _build(None)
    assert result is not None
    return result


def _build(only: str | None) -> argparse.ArgumentParser | None:
    from lanfax import __version__

    parser = _Parser(
        prog="lanfax",
        description="Send faxes and run the lanfax fax service on your network.",
        epilog=_EPILOG,
        formatter_class=_RawHelp,
    )
    parser.add_argument("--version", action="version", version=f"lanfax {__version__}")
    sub: Any = parser.add_subparsers(dest="verb", metavar="VERB")
    if only is not None:
        sub = _OnlyVerb(sub, only)
    common = [_common()]

    for verb, (_module, text) in _DISPATCH.items():
        sub.add_parser(verb, help=text, add_help=False)

    p = sub.add_parser("send", parents=common, help="queue a fax", description="Queue a fax.")
    p.add_argument("files", nargs="+", metavar="FILE", help="documents, sent one after another")
    p.add_argument(
        "--to",
        action="append",
        required=True,
        metavar="NUMBER",
        help="a fax number, or @NAME of a contact or list (repeat)",
    )
    p.add_argument(
        "--name", action="append", metavar="NAME", help="recipient name (one, or one per --to)"
    )
    p.add_argument("--cover", metavar="NAME", help="cover page template")
    p.add_argument("--subject", metavar="TEXT", help="cover page subject")
    p.add_argument("--note", metavar="TEXT", help="cover page note")
    p.add_argument("--priority", choices=("low", "normal", "high"), default=None)
    when = p.add_mutually_exclusive_group()
    when.add_argument(
        "--at", metavar="TIME", help="send at TIME: ISO 8601, or HH:MM (next such local time)"
    )
    when.add_argument("--discount", action="store_true", help="send in the discount period")
    p.add_argument("--tsid", metavar="ID", help="transmitting station id")
    p.add_argument("--sender", metavar="NAME", help="sender name")
    p.add_argument("--company", metavar="NAME", help="sender company")
    p.add_argument("--billing", metavar="CODE", help="billing code")
    p.add_argument("--document-name", metavar="NAME", help="name shown in the queue")
    p.add_argument("--wait", action="store_true", help="show progress until every job ends")
    p.add_argument("--timeout", type=float, metavar="SECONDS", help="with --wait: give up after")

    p = sub.add_parser("jobs", parents=common, help="list the queue", description="List jobs.")
    p.add_argument("--all", action="store_true", help="include finished jobs")
    p.add_argument("--status", metavar="S[,S...]", help="only these queue states")
    p.add_argument("--user-filter", dest="user_filter", metavar="NAME", help="only this user's")
    p.add_argument("--limit", type=int, default=100, help="at most N jobs (0: all); default 100")
    p.add_argument("--after", type=int, metavar="ID", help="start after this job id")

    p = sub.add_parser("job", parents=common, help="show or control one job")
    p.add_argument("action", choices=("show", "pause", "resume", "cancel", "restart", "delete"))
    p.add_argument("job_id", type=int, metavar="ID")

    sub.add_parser("ports", parents=common, help="list fax devices")
    p = sub.add_parser("port", help="show or change one device")
    psub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    q = psub.add_parser("show", parents=common, help="show a device")
    q.add_argument("device_id", type=int, metavar="ID")
    q.add_argument("--status", action="store_true", help="the live device status instead")
    q = psub.add_parser("set", parents=common, help="change a device setting")
    q.add_argument("device_id", type=int, metavar="ID")
    q.add_argument("key", help="device_name, flags, rings, priority, tsid or csid")
    q.add_argument("value")

    p = sub.add_parser("config", help="server configuration")
    csub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    csub.add_parser("show", parents=common, help="show every setting")
    q = csub.add_parser("set", parents=common, help="change one setting")
    q.add_argument("key", help="a setting (lanfax or Windows name)")
    q.add_argument("value")

    p = sub.add_parser("logging", help="logging categories")
    lsub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    lsub.add_parser("show", parents=common, help="show the categories and levels")
    q = lsub.add_parser("set", parents=common, help="set a category's level")
    q.add_argument("category", help="init, outbound, inbound or unknown")
    q.add_argument("level", help="none, min, med or max")

    p = sub.add_parser("events", parents=common, help="follow the server's events")
    p.add_argument("--after", type=int, metavar="SEQ", help="start after this event (replay)")
    p.add_argument("--count", type=int, metavar="N", help="stop after N events")

    p = sub.add_parser("pagedata", parents=common, help="save a job's first page as TIFF")
    p.add_argument("job_id", type=int, metavar="JOB")
    p.add_argument("-o", "--output", required=True, metavar="FILE.tif")

    if isinstance(sub, _OnlyVerb) and sub.found:
        return parser  # the verb is one of the above: its neighbours' modules are not needed

    from lanfax.cli import _routing

    _routing.add_parser(sub, common)

    from lanfax.cli import _report

    _report.add_parsers(sub, common)

    from lanfax.cli import _cover

    _cover.add_parsers(sub, common)

    from lanfax.cli import _security

    _security.add_parsers(sub, common)

    from lanfax.cli import _drafts  # issue #11

    _drafts.add_parsers(sub, common)
    from lanfax.cli import _outbound  # #13 outgoing routing

    _outbound.add_parsers(sub, common)

    from lanfax.cli import _accounts  # #13 accounts and personal inboxes

    _accounts.add_parsers(sub, common)
    from lanfax.cli import _contacts

    _contacts.add_parsers(sub, common)

    from lanfax.cli import _extensions

    _extensions.add_parsers(sub, common)

    p = sub.add_parser("access", parents=common, help="check your access rights")
    p.add_argument("rights", nargs="+", metavar="RIGHT", help="e.g. job_submit config_set")
    if isinstance(sub, _OnlyVerb) and not sub.found:
        return None
    return parser


def _dispatch(verb: str, argv: Sequence[str]) -> int:
    import importlib

    module_name = _DISPATCH[verb][0]
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        from lanfax.model.errors import Unavailable

        raise Unavailable(
            f"`lanfax {verb}` is not available here: {exc}",
            hint="install the server parts: pip install 'lanfax[server]'",
        ) from None
    entry: Callable[[list[str]], int | None] = module.main
    # convert's program also serves other verbs; it gets its own verb first.
    args = list(argv) if verb in ("serve", "doctor") else [verb, *argv]
    return int(entry(args) or 0)


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``lanfax``; returns the exit status (also used by the console script)."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    try:
        args_list, moved = hoist_globals(args_list)
        if args_list and args_list[0] in _DISPATCH:
            takes = _DISPATCH_GLOBALS.get(args_list[0], ())
            args_list += [a for a in moved if a in takes]
            moved = [a for a in moved if a not in takes]
            if moved:
                from lanfax.model.errors import InvalidInput

                raise InvalidInput(
                    f"{moved[0].partition('=')[0]} does not apply to `lanfax {args_list[0]}`",
                    hint=f"see `lanfax {args_list[0]} --help` for its options",
                )
            return _dispatch(args_list[0], args_list[1:])
        if args_list == ["--version"]:  # what argparse would print, without building it
            from lanfax import __version__

            print(f"lanfax {__version__}")
            return 0
        verb = args_list[0] if args_list and not args_list[0].startswith("-") else None
        parser = build_parser(verb)
        args = parser.parse_args(args_list)
        if not args.verb:
            parser.print_help(sys.stderr)
            return 2
        handler: Callable[[Any], int]
        if args.verb == "send":  # its own light module: start-up is part of every fax sent
            from lanfax.cli._send import verb_send as handler
        else:
            from lanfax.cli import _verbs

            handler = getattr(_verbs, "verb_" + args.verb)
        return handler(args)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (`lanfax events | head`): not an error of ours.
        with contextlib.suppress(OSError):
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - silences the interpreter's flush
        return 0
    except Exception as exc:
        from lanfax.model.errors import FaxError

        if not isinstance(exc, FaxError):
            raise
        print(f"error: {exc.message}", file=sys.stderr)
        if exc.hint:
            print(f"hint: {exc.hint}", file=sys.stderr)
        return exc.exit_code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
