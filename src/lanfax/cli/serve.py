"""``lanfax serve``: run the fax service and its HTTP API until SIGINT/SIGTERM.

The server rooms are imported inside :func:`main`, so the rest of the CLI stays light.
Exit codes: 0 after a clean shutdown, a FaxError's ``exit_code`` when it cannot start (bad
configuration: 2), 1 for anything else.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import socket
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lanfax.service.settings import ServiceSettings


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="lanfax serve",
        description="Run the lanfax fax service and its HTTP API.",
    )
    p.add_argument("--config", metavar="FILE", help="settings file (TOML)")
    p.add_argument("--data", metavar="DIR", help="data directory (overrides server.data)")
    p.add_argument(
        "--listen", metavar="HOST:PORT", help="address of the HTTP API (port 0: pick one)"
    )
    p.add_argument(
        "--log-level",
        default="info",
        choices=["debug", "info", "warning", "error"],
        help="log level of the service (stderr)",
    )
    return p


def _note_signal(sig: int, frame: object) -> None:
    logging.getLogger("lanfax.init").info("signal %d: stopping", sig)


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto must say TCP: asyncio sets TCP_NODELAY only on sockets that do, and without it
    # every response written in two parts waits for the client's delayed ACK (~40 ms).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    # A restarted server (after a crash) must get its port back at once.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(1024)
    sock.set_inheritable(True)
    return sock


async def run(settings: ServiceSettings, log_level: str = "info") -> int:
    """Start the service and the API on this loop; return when told to stop."""
    import uvicorn

    from lanfax.api.app import create_app
    from lanfax.service.core import FaxService

    service = FaxService(settings)
    sock = _bind(settings.host, settings.port)
    host, port = sock.getsockname()[:2]
    try:
        await service.start()
    except BaseException:
        sock.close()
        raise
    try:
        app = create_app(service)
        config = uvicorn.Config(
            app,
            log_level=log_level if log_level != "info" else "warning",
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=3,
            ws="websockets-sansio",
        )
        server = uvicorn.Server(config)
        shown = f"[{host}]" if ":" in host else host
        print(f"lanfax: listening on http://{shown}:{port}", flush=True)
        print(f"lanfax: data directory {settings.data_dir.resolve()}", flush=True)
        for p in service.ports():
            flags = ",".join(f.name.lower() for f in type(p.flags) if f and f in p.flags and f.name)
            print(
                f"lanfax: device {p.device_id} {p.device_name!r} number {p.number or '-'} "
                f"({p.provider}; {flags})",
                flush=True,
            )
        # uvicorn handles SIGINT/SIGTERM during serve(), then restores the handlers it found
        # and raises the signal again. Finding these, that second delivery is a no-op and the
        # shutdown below runs to the end (exit status 0).
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, _note_signal)
        await server.serve(sockets=[sock])
    finally:
        print("lanfax: stopping", flush=True)
        await service.stop()
        sock.close()
    return 0


def main(argv: list[str]) -> int:
    """The ``serve`` verb (``argv`` excludes the program and verb names)."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=getattr(logging, args.log_level.upper()),
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # The store's migrations narrate every step at INFO; only their problems matter here.
    logging.getLogger("alembic").setLevel(logging.WARNING)
    from lanfax.model.errors import FaxError
    from lanfax.service.settings import load_settings

    try:
        settings = load_settings(args.config, data_dir=args.data, listen=args.listen)
        return asyncio.run(run(settings, args.log_level))
    except FaxError as exc:
        print(f"lanfax serve: {exc.message}", file=sys.stderr)
        if exc.hint:
            print(f"  hint: {exc.hint}", file=sys.stderr)
        return exc.exit_code
    except OSError as exc:
        print(f"lanfax serve: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
