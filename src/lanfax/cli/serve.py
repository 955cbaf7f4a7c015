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
from typing import TYPE_CHECKING, Any

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
    p.add_argument(
        "--log-format",
        default="text",
        choices=["text", "json"],
        help="stderr log lines as text, or as JSON objects (one per line)",
    )
    p.add_argument("--tls-cert", metavar="PEM", help="serve HTTPS: certificate (chain) file")
    p.add_argument("--tls-key", metavar="PEM", help="serve HTTPS: private key file")
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
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        import errno

        if exc.errno != errno.EADDRINUSE:
            raise
        from lanfax.model.errors import Unavailable

        other = port + 1 if 0 < port < 65535 else 8471
        raise Unavailable(
            f"{host}:{port} is in use (another lanfax serve, or another program)",
            hint=f"stop it, or listen elsewhere: --listen {host}:{other} (and point the "
            f"lanfax command there: LANFAX_SERVER=http://{host}:{other})",
        ) from None
    sock.listen(1024)
    sock.set_inheritable(True)
    return sock


async def run(settings: ServiceSettings, log_level: str = "info", settle_heap: bool = False) -> int:
    """Start the service and the API on this loop; return when told to stop. ``settle_heap``
    (the ``serve`` verb's process, not a test's): freeze the start-up heap out of the cyclic
    collector once started (issue #19, :mod:`lanfax.service.heap`)."""
    import uvicorn

    from lanfax.api.app import create_app
    from lanfax.service.core import FaxService
    from lanfax.service.security import Security

    service = FaxService(settings)
    security = Security(service)
    gateway: Any = None
    intake: Any = None
    sock = _bind(settings.host, settings.port)
    host, port = sock.getsockname()[:2]
    # #18: the node's API address, recorded in the nodes table (and named when refused).
    scheme_ = "https" if settings.security.tls else "http"
    service.node_url = f"{scheme_}://{f'[{host}]' if ':' in host else host}:{port}"
    try:
        await service.start()
    except BaseException:
        sock.close()
        raise
    advertiser = None
    try:
        app = create_app(service, security)
        from lanfax.web import install_console

        install_console(app)  # the console at / (lanfax.web; static files over the API)
        tls = settings.security
        config = uvicorn.Config(
            app,
            log_level=log_level if log_level != "info" else "warning",
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=3,
            ws="websockets-sansio",
            http=_http_protocol(),  # issue #19
            ssl_certfile=str(tls.tls_cert) if tls.tls_cert else None,
            ssl_keyfile=str(tls.tls_key) if tls.tls_key else None,
        )
        server = uvicorn.Server(config)
        intake = await _start_intake(service, settings, sock, server, log_level)  # issue #19
        shown = f"[{host}]" if ":" in host else host
        scheme = "https" if tls.tls else "http"
        print(f"lanfax: listening on {scheme}://{shown}:{port}", flush=True)
        await _first_start(security, settings, f"{scheme}://{shown}:{port}")
        gateway = await _start_mail_gateway(service, security, settings)
        if settle_heap:  # issue #19: before calls arrive (lanfax.service.heap)
            from lanfax.service.heap import settle

            settle()
        print(f"lanfax: data directory {settings.data_dir}", flush=True)
        for p in service.ports():
            flags = ",".join(f.name.lower() for f in type(p.flags) if f and f in p.flags and f.name)
            print(
                f"lanfax: device {p.device_id} {p.device_name!r} number {p.number or '-'} "
                f"({p.provider}; {flags})",
                flush=True,
            )
        from lanfax import __version__ as lanfax_version
        from lanfax.service.ipp import dnssd  # issue #11: announce the fax printer

        advertiser = await dnssd.announce(
            mode=settings.dnssd,
            listen_host=host,
            port=port,
            tls=tls.tls,
            uuid=await app.state.faxout.printer_uuid(),
            version=lanfax_version,
        )
        if advertiser is not None:
            print("lanfax: fax printer announced by DNS-SD (_ipp._tcp, rfo=ipp/faxout)", flush=True)
        # uvicorn handles SIGINT/SIGTERM during serve(), then restores the handlers it found
        # and raises the signal again. Finding these, that second delivery is a no-op and the
        # shutdown below runs to the end (exit status 0).
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, _note_signal)
        await server.serve(sockets=[sock] if intake is None else [])
    finally:
        print("lanfax: stopping", flush=True)
        if intake is not None:  # issue #19: before the service, which still answers them
            await intake.stop()
        if gateway is not None:
            await gateway.stop()
        if advertiser is not None:
            await advertiser.stop()
        await security.stop()  # the refusals counted since the last audit row (issue #14)
        await service.stop()
        sock.close()
    return 0


def _http_protocol() -> str:
    """uvicorn's HTTP/1.1 implementation: httptools (llhttp, in C) when it imports, else h11.

    Issue #19: h11 parses every request in Python (~11 % of the server's GIL-held time per
    submission; callgrind: 8.22 M -> 7.75 M user instructions per submitted job with
    httptools). httptools is a dependency of the server; h11 stays the fallback for a
    platform without its wheel, with the same answers (tests/api/test_http_stack.py)."""
    import importlib.util

    return "httptools" if importlib.util.find_spec("httptools") is not None else "h11"


async def _start_intake(
    service: Any, settings: ServiceSettings, sock: socket.socket, server: Any, log_level: str
) -> Any:
    """Issue #19: ``[server] intake_workers`` processes taking submissions beside this one
    (lanfax.api.intake), started on ``sock`` once ``server`` serves; None when there are
    none. The main process then accepts no connection itself (``server`` is given no
    socket); a stop signal reaches the workers at once."""
    if not settings.intake_workers:
        return None
    from lanfax.api.intake import Intake

    server.config.load()
    intake = Intake(
        settings.intake_workers,
        sock,
        tmp=service.spool.tmp,
        max_upload_bytes=settings.max_upload_bytes,
        max_json_bytes=settings.max_json_bytes,
        max_pages=service.submitter.limits.max_pages,
        run=service.ctx.run,
        authentication=settings.security.authentication,
        log_level=log_level if log_level != "info" else "warning",
        hang_s=settings.intake_hang_s,  # issue #19 wave 7
    )
    intake.attach(server)
    service.metrics.registry.register(intake.collector())  # lanfax_intake_* in /metrics
    handle_exit = server.handle_exit

    def stop_too(sig: int, frame: Any) -> None:
        intake.begin_stop()
        handle_exit(sig, frame)

    server.handle_exit = stop_too
    intake.start_when_serving()
    return intake


def _check_intake(settings: ServiceSettings) -> None:
    """Issue #19: intake workers need plain HTTP (a TLS session cannot be handed from one
    process to another) and httptools (their protocol is uvicorn's httptools one)."""
    if not settings.intake_workers:
        return
    from lanfax.service.intake import refusal  # (also what lanfax doctor reports)

    error = refusal(settings)
    if error is not None:
        raise error


async def _start_mail_gateway(service: Any, security: Any, settings: ServiceSettings) -> Any:
    """E-mail to fax (``[smtp] listen``): its listener, or None when it is off."""
    if not settings.smtp.enabled:
        return None
    from lanfax.service.smtp.listener import MailGateway

    gateway = MailGateway(service, security, settings.smtp)
    await gateway.start()
    host, port = gateway.address
    shown = f"[{host}]" if ":" in host else host
    tls = " (implicit TLS)" if settings.smtp.implicit_tls else ""
    tls = tls or (" (STARTTLS)" if settings.smtp.tls else "")
    print(
        f"lanfax: e-mail to fax on smtp://{shown}:{port}{tls} for NUMBER@{settings.smtp.domain}",
        flush=True,
    )
    if not settings.receipts.mail_enabled:
        print(
            "lanfax: warning: [receipts] has no mail server: the senders of mail to fax "
            "will get no replies and no receipts (set smtp_host and sender)",
            flush=True,
        )
    return gateway


def _secure(settings: ServiceSettings, cert: str | None, key: str | None) -> ServiceSettings:
    """Apply --tls-cert/--tls-key, check the files, and refuse to listen beyond this machine
    without authentication."""
    import ipaddress
    from dataclasses import replace
    from pathlib import Path

    from lanfax.model.errors import ConfigError

    sec = settings.security
    if cert is not None or key is not None:
        if cert is None or key is None:
            raise ConfigError("--tls-cert and --tls-key go together", hint="give both files")
        sec = replace(sec, tls_cert=Path(cert), tls_key=Path(key))
    for what, path in (("certificate", sec.tls_cert), ("key", sec.tls_key)):
        if path is not None and not path.is_file():
            raise ConfigError(
                f"the TLS {what} {path} is not a readable file",
                hint="give PEM files to --tls-cert/--tls-key or security.tls_cert/tls_key",
            )
    try:
        loopback = ipaddress.ip_address(settings.host).is_loopback
    except ValueError:
        loopback = settings.host == "localhost"
    if not loopback and not sec.authentication:
        raise ConfigError(
            f"refusing to listen on {settings.host} without authentication",
            hint="anyone on the network could send faxes and read them: remove "
            "security.authentication = false, or listen on 127.0.0.1",
        )
    if not loopback and not sec.tls:
        # issue #14: passwords and tokens would cross the network in clear text.
        if not sec.allow_cleartext:
            raise ConfigError(
                f"refusing to serve plain HTTP on {settings.host}: passwords and tokens would"
                " cross the network readable by anyone on it",
                hint="give --tls-cert/--tls-key (or security.tls_cert/tls_key), listen on"
                " 127.0.0.1 behind a TLS proxy, or set security.allow_cleartext = true",
            )
        print(
            f"lanfax: WARNING: serving plain HTTP on {settings.host} (security.allow_cleartext):"
            " passwords and tokens cross the network in clear text; use TLS",
            file=sys.stderr,
            flush=True,
        )
    return replace(settings, security=sec)


async def _first_start(security: Any, settings: ServiceSettings, url: str) -> None:
    """On the very first start, create the administrator and say once how to log in."""
    import os

    created = await security.bootstrap(os.environ)
    if created is None:
        return
    user, token = created
    from lanfax.client import credentials

    urls = [url]
    host = settings.host
    if host in ("0.0.0.0", "::", "localhost") or host.startswith("127."):
        urls.append(url.replace(f"//{host}", "//127.0.0.1", 1).replace("[::]", "127.0.0.1"))
    entry = {"token": token, "user": user}
    path = credentials.store(urls, entry, settings.security.credentials_file)
    print(f"lanfax: first start: created the administrator {user!r}", flush=True)
    print(
        f"lanfax: its API token is in {path} (mode 0600); `lanfax` on this machine uses it. "
        "Elsewhere: LANFAX_TOKEN=<token>, or `lanfax token create` for more users.",
        flush=True,
    )


def main(argv: list[str]) -> int:
    """The ``serve`` verb (``argv`` excludes the program and verb names)."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=getattr(logging, args.log_level.upper()),
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if args.log_format == "json":
        from lanfax.service.logfmt import JsonFormatter

        for handler in logging.getLogger().handlers:
            handler.setFormatter(JsonFormatter())
    # The store's migrations narrate every step at INFO; only their problems matter here.
    logging.getLogger("alembic").setLevel(logging.WARNING)
    from lanfax.model.errors import FaxError
    from lanfax.service.settings import load_settings

    try:
        settings = load_settings(args.config, data_dir=args.data, listen=args.listen)
        settings = _secure(settings, args.tls_cert, args.tls_key)
        _check_intake(settings)  # issue #19
        return asyncio.run(run(settings, args.log_level, settle_heap=True))
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
