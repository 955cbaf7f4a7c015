"""``lanfax extensions``: registered providers and routing extensions, and extension data
(FaxExtGetData / FaxExtSetData; a change reaches the running extensions at once).

Only argparse is imported at module level: this is on the start-up path of every command.
"""

from __future__ import annotations

import argparse
import json
from typing import Any


def add_parsers(sub: Any, common: list[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "extensions",
        parents=common,
        help="providers and routing extensions: list, register, configure",
        description="Providers and routing extensions installed on the server: list them, "
        "register one by module:Class (administrators), read and change extension data.",
    )
    esub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    esub.add_parser("list", parents=common, help="every provider and routing extension")
    q = esub.add_parser("register", parents=common, help="register installed code")
    q.add_argument("kind", choices=("provider", "routing"))
    q.add_argument("image", metavar="MODULE:CLASS", help="or an entry point (providers)")
    q.add_argument("--name", help="the registration's name (providers: required)")
    q.add_argument("--config", metavar="JSON", help="provider: start it now with this config")
    q = esub.add_parser("unregister", parents=common, help="forget a registration")
    q.add_argument("kind", choices=("provider", "routing"))
    q.add_argument("name")
    q = esub.add_parser("get", parents=common, help="show extension data (FaxExtGetData)")
    q.add_argument("guid", metavar="GUID")
    q.add_argument("--device", type=int, default=0, metavar="ID", help="0: no device")
    q = esub.add_parser("set", parents=common, help="replace extension data (FaxExtSetData)")
    q.add_argument("guid", metavar="GUID")
    q.add_argument("data", metavar="JSON", help="a JSON object, e.g. '{\"threshold\": 3}'")
    q.add_argument("--device", type=int, default=0, metavar="ID", help="0: no device")


def _json_object(text: str, what: str) -> dict[str, Any]:
    from lanfax.model.errors import InvalidInput

    try:
        value = json.loads(text)
    except ValueError as exc:
        raise InvalidInput(f"{what} is not JSON: {exc}", hint="e.g. '{\"threshold\": 3}'") from None
    if not isinstance(value, dict):
        raise InvalidInput(f"{what} must be a JSON object", hint="e.g. '{\"threshold\": 3}'")
    return value


def verb_extensions(args: argparse.Namespace) -> int:
    from lanfax.cli import _output as out
    from lanfax.cli._verbs import _client
    from lanfax.model.errors import InvalidInput

    with _client(args) as client:
        if args.action == "list":
            providers = client.providers()
            routing = client.routing_extensions()
            if args.json:
                out.print_json({"providers": providers, "routing_extensions": routing})
                return 0
            rows = [
                [
                    "provider",
                    p["name"],
                    p["source"],
                    p["state"],
                    p["image_name"],
                    p.get("error", ""),
                ]
                for p in providers
            ]
            rows += [
                ["routing", e["name"], e["source"], e["state"], e["image_name"], e.get("error", "")]
                for e in routing
            ]
            out.table(["KIND", "NAME", "SOURCE", "STATE", "IMAGE", "ERROR"], rows)
            return 0
        if args.action == "register":
            if args.kind == "provider":
                if not args.name:
                    raise InvalidInput("a provider registration needs --name", hint="--name acme")
                config = _json_object(args.config, "--config") if args.config else None
                entry = client.register_provider(args.name, args.image, config=config)
            else:
                if args.config:
                    raise InvalidInput("--config is for providers", hint="leave it out")
                entry = client.register_routing_extension(args.image, name=args.name or "")
            if args.json:
                out.print_json(entry)
            else:
                print(f"registered {args.kind} {entry['name']} ({entry['state']})")
            return 0
        if args.action == "unregister":
            if args.kind == "provider":
                client.unregister_provider(args.name)
            else:
                client.unregister_routing_extension(args.name)
            print(f"unregistered {args.kind} {args.name} (gone at the next start)")
            return 0
        if args.action == "get":
            out.print_json(client.extension_data(args.guid, device_id=args.device))
            return 0
        if args.action == "set":
            data = _json_object(args.data, "the data")
            answer = client.set_extension_data(args.guid, data, device_id=args.device)
            if args.json:
                out.print_json(answer)
            else:
                told = ", ".join(answer["notified"]) or "no running extension"
                print(f"saved {answer['guid']} for device {answer['device_id']}; told: {told}")
                for failure in answer["failed"]:
                    print(f"  {failure['extension']} failed: {failure['error']}")
            return 0 if not answer["failed"] else 1
    raise InvalidInput(f"unknown action {args.action!r}", hint="lanfax extensions --help")
