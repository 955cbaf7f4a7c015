"""``lanfax routing ...``: the inbound routing methods, per device, and routing jobs.

A METHOD is named by its GUID, its function name (``route_to_email``) or the start of that
name without ``route_to_`` (``folder``, ``email``, ``print``, ``webhook``). Only argparse is
imported at module level: this is on the start-up path of every ``lanfax`` command.
"""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pathlib import Path

    from lanfax.client import Client


def add_parser(sub: Any, common: list[argparse.ArgumentParser]) -> None:
    """Register ``lanfax routing`` on the verbs' subparsers."""
    p = sub.add_parser("routing", help="inbound routing methods and routing jobs")
    rsub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    rsub.add_parser("methods", parents=common, help="every method in priority order")
    q = rsub.add_parser("priority", parents=common, help="move a method to a priority")
    q.add_argument("method", metavar="METHOD")
    q.add_argument("priority", type=int, metavar="N", help="1 = first")
    q = rsub.add_parser("device", parents=common, help="the methods of a device")
    q.add_argument("device_id", type=int, metavar="DEVICE")
    for action, text in (("enable", "enable a method on a device"), ("disable", "disable it")):
        q = rsub.add_parser(action, parents=common, help=text)
        q.add_argument("device_id", type=int, metavar="DEVICE")
        q.add_argument("method", metavar="METHOD")
    q = rsub.add_parser("info", parents=common, help="show a method's routing info")
    q.add_argument("device_id", type=int, metavar="DEVICE")
    q.add_argument("method", metavar="METHOD")
    q = rsub.add_parser(
        "set",
        parents=common,
        help="change a method's routing info",
        description="Change routing info: KEY=VALUE pairs are merged into the current info "
        '(a VALUE that is JSON is read as JSON: 587, true, ["a","b"]); --file replaces it.',
    )
    q.add_argument("device_id", type=int, metavar="DEVICE")
    q.add_argument("method", metavar="METHOD")
    q.add_argument("pairs", nargs="*", metavar="KEY=VALUE")
    q.add_argument("--file", type=_path, metavar="INFO.json", help="the whole info as JSON")
    q = rsub.add_parser("retry", parents=common, help="route a routing job again now")
    q.add_argument("job_id", type=int, metavar="JOB")


def resolve_method(client: Client, name: str) -> str:
    """A method's GUID from a GUID, a function name or its short form."""
    from lanfax.model.errors import NotFound

    methods = client.routing_methods()
    key = name.strip().lower().strip("{}")
    for m in methods:
        if m.guid.strip("{}") == key or m.function_name.lower() == key:
            return m.guid
    hits = [m for m in methods if m.function_name.lower().removeprefix("route_to_").startswith(key)]
    if key and len(hits) == 1:
        return hits[0].guid
    names = ", ".join(m.function_name.removeprefix("route_to_") for m in methods)
    raise NotFound(
        f"{name!r} names no single routing method",
        hint=f"use a GUID or one of: {names} (see `lanfax routing methods`)",
    )


def parse_pairs(pairs: list[str]) -> dict[str, Any]:
    from lanfax.model.errors import InvalidInput

    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key.strip():
            raise InvalidInput(f"{pair!r} is not KEY=VALUE", hint="e.g. smtp_host=mail.lan")
        try:
            value: Any = json.loads(raw)
        except ValueError:
            value = raw
        out[key.strip()] = value
    return out


def _path(text: str) -> Path:
    from pathlib import Path  # only when a file is named: pathlib costs start-up time

    return Path(text)


def _read_info(path: Path) -> dict[str, Any]:
    from lanfax.model.errors import InvalidInput

    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InvalidInput(f"cannot read {path}: {exc.strerror}", hint="check the path") from None
    except ValueError as exc:
        raise InvalidInput(f"{path} is not JSON: {exc}", hint="fix the JSON") from None
    if not isinstance(info, dict):
        raise InvalidInput(f"{path} must hold a JSON object", hint='e.g. {"folder": "/srv"}')
    return info


def verb_routing(args: argparse.Namespace) -> int:
    from lanfax.cli import _output as out
    from lanfax.cli._verbs import _client

    with _client(args) as client:
        action = args.action
        if action in ("methods", "priority"):
            if action == "priority":
                order = client.set_routing_priority(
                    resolve_method(client, args.method), args.priority
                )
            else:
                order = client.routing_methods()
            if args.json:
                out.print_json(order)
                return 0
            out.table(
                ["PRIO", "GUID", "NAME", "FUNCTION", "EXTENSION"],
                [
                    [m.priority, m.guid, m.friendly_name, m.function_name, m.extension_image_name]
                    for m in order
                ],
            )
            return 0
        if action == "device":
            methods = client.device_routing_methods(args.device_id)
            if args.json:
                out.print_json(methods)
                return 0
            out.table(
                ["ENABLED", "GUID", "NAME", "FUNCTION"],
                [
                    ["yes" if m.enabled else "no", m.guid, m.friendly_name, m.function_name]
                    for m in methods
                ],
            )
            return 0
        if action == "retry":
            job = client.retry_routing(args.job_id)
            if args.json:
                out.print_json(job)
            else:
                print(out.job_line(job))
            return 0
        guid = resolve_method(client, args.method)
        if action in ("enable", "disable"):
            method = client.enable_routing_method(args.device_id, guid, action == "enable")
            if args.json:
                out.print_json(method)
            else:
                state = "enabled" if method.enabled else "disabled"
                print(f"{method.friendly_name} is {state} on device {method.device_id}")
            return 0
        if action == "set":
            if args.file is not None:
                info = _read_info(args.file)
                info.update(parse_pairs(args.pairs))
            else:
                # Secrets come back redacted; sent back as such, the server keeps them.
                info = dict(client.get_routing_info(args.device_id, guid))
                info.update(parse_pairs(args.pairs))
            saved = client.set_routing_info(args.device_id, guid, info)
        else:
            saved = client.get_routing_info(args.device_id, guid)
        out.print_json(saved)
        return 0
