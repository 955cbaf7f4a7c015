"""``lanfax outbound ...``: outgoing routing groups and rules (docs/routing.md).

::

    lanfax outbound groups                          every group and its devices
    lanfax outbound group-add NAME [DEVICE ...]     a group; devices in dialing order
    lanfax outbound group-set NAME DEVICE ...       replace a group's devices
    lanfax outbound group-remove NAME
    lanfax outbound rules                           every rule, most specific first
    lanfax outbound rule-add COUNTRY [AREA] (--device ID | --group NAME)
    lanfax outbound rule-set COUNTRY [AREA] (--device ID | --group NAME)
    lanfax outbound rule-remove COUNTRY [AREA]
    lanfax outbound route NUMBER                    which rule and lines NUMBER would use

COUNTRY and AREA are codes without prefixes (``49 30``); ``*`` (quote it in a shell) or
``all`` means every country / every area; AREA defaults to every area. Only argparse is
imported at module level: this is on the start-up path of every ``lanfax`` command.
"""

from __future__ import annotations

import argparse
from typing import Any


def add_parsers(sub: Any, common: list[argparse.ArgumentParser]) -> None:
    """Register ``lanfax outbound`` on the verbs' subparsers."""
    p = sub.add_parser(
        "outbound",
        parents=common,
        help="outgoing routing: device groups and rules",
        description="Outgoing routing: which lines dial which numbers (see docs/routing.md).",
    )
    osub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    osub.add_parser("groups", parents=common, help="every group and its devices")
    q = osub.add_parser("group-add", parents=common, help="add a group (devices in order)")
    q.add_argument("name", metavar="NAME")
    q.add_argument("devices", type=int, nargs="*", metavar="DEVICE")
    q = osub.add_parser("group-set", parents=common, help="replace a group's devices")
    q.add_argument("name", metavar="NAME")
    q.add_argument("devices", type=int, nargs="+", metavar="DEVICE")
    q = osub.add_parser("group-remove", parents=common, help="remove a group")
    q.add_argument("name", metavar="NAME")
    osub.add_parser("rules", parents=common, help="every rule, most specific first")
    for action, text in (("rule-add", "add a rule"), ("rule-set", "point a rule elsewhere")):
        q = osub.add_parser(action, parents=common, help=text)
        q.add_argument("country", metavar="COUNTRY", help="country code, or '*' for all")
        q.add_argument("area", metavar="AREA", nargs="?", default="*", help="default: all")
        to = q.add_mutually_exclusive_group(required=True)
        to.add_argument("--device", type=int, metavar="ID", help="send on this device")
        to.add_argument("--group", metavar="NAME", help="send on this group's devices")
    q = osub.add_parser("rule-remove", parents=common, help="remove a rule")
    q.add_argument("country", metavar="COUNTRY")
    q.add_argument("area", metavar="AREA", nargs="?", default="*")
    q = osub.add_parser("route", parents=common, help="which rule and lines a number uses")
    q.add_argument("number", metavar="NUMBER")


def _groups_table(items: list[Any]) -> None:
    from lanfax.cli import _output as out

    out.table(
        ["GROUP", "DEVICES", "STATUS"],
        [
            [
                g.name + (" (built in)" if g.builtin else ""),
                " ".join(map(str, g.devices)) or "-",
                g.status,
            ]
            for g in items
        ],
    )


def _rules_table(items: list[Any]) -> None:
    from lanfax.cli import _output as out

    rows = []
    for r in items:
        to = f"device {r.device}" if r.device is not None else f"group {r.group}"
        state = r.status if r.active else f"{r.status} (inactive)"
        rows.append([r.country_code, r.area_code, to, state + (", default" if r.default else "")])
    out.table(["COUNTRY", "AREA", "SENDS TO", "STATUS"], rows)


def verb_outbound(args: argparse.Namespace) -> int:
    from lanfax.cli import _output as out
    from lanfax.cli._verbs import _client

    with _client(args) as client:
        action = args.action
        result: Any = None
        if action == "groups":
            result = client.outbound_groups()
            if not args.json:
                _groups_table(result)
                return 0
        elif action == "group-add":
            result = client.add_outbound_group(args.name, args.devices)
        elif action == "group-set":
            result = client.set_outbound_group(args.name, args.devices)
        elif action == "group-remove":
            client.remove_outbound_group(args.name)
            if not args.json:
                print(f"removed group {args.name}")
            return 0
        elif action == "rules":
            result = client.outbound_rules()
            if not args.json:
                _rules_table(result)
                return 0
        elif action in ("rule-add", "rule-set"):
            call = client.add_outbound_rule if action == "rule-add" else client.set_outbound_rule
            result = call(args.country, args.area, device=args.device, group=args.group)
        elif action == "rule-remove":
            client.remove_outbound_rule(args.country, args.area)
            if not args.json:
                print(f"removed the rule for country {args.country}, area {args.area}")
            return 0
        else:  # route
            result = client.outbound_route(args.number)
            if not args.json:
                print(f"{args.number}: rule {result.rule.description}")
                print(f"devices, in dialing order: {' '.join(map(str, result.devices)) or 'none'}")
                return 0
        if args.json:
            out.print_json(result)
        elif action.startswith("group"):
            _groups_table([result])
        else:
            _rules_table([result])
    return 0
