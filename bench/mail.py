"""E-mail to fax: how long a mail takes to be acknowledged (250) and to be queued as a job,
beside the same document through the HTTP API, in the same run.

Starts its own ``lanfax serve`` (temporary data directory, free loopback ports, an SMTP
listener on loopback, the queue paused so jobs stay queued, no rate limit) and sends a
one-page fax-ready TIFF (no subject, no text: no cover page, no conversion) N times:

1. over SMTP with Python's smtplib, one connection, AUTH with the administrator's token:
   the time to the ``250`` (the mail is on disk), then to its job being in the queue
   (``GET /jobs?broadcast=<id>`` answering it);
2. through the Python client (``Client.send``): the time to the ``201`` (the job is queued).

    .venv/bin/python bench/mail.py [--count 30]
"""

from __future__ import annotations

import argparse
import email.policy
import os
import secrets
import smtplib
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from email.message import EmailMessage
from pathlib import Path

from lanfax.client import Client

LANFAX = str(Path(sys.executable).with_name("lanfax"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def make_tiff(path: Path) -> bytes:
    from PIL import Image, ImageDraw

    from lanfax import documents

    img = Image.new("1", (1728, 2292), 1)
    draw = ImageDraw.Draw(img)
    for y in range(200, 2100, 60):
        draw.text((150, y), f"lanfax e-mail benchmark, line {y // 60}", fill=0)
    drawn = path.with_name("drawn.tif")
    img.save(drawn, compression="group4", dpi=(204, 196))
    documents.convert([drawn], path, resolution="fine", compression="mmr")
    return path.read_bytes()


def stats(samples: list[float]) -> str:
    s = sorted(samples)
    p90 = s[min(len(s) - 1, int(len(s) * 0.9))]
    return f"median {statistics.median(s) * 1000:7.1f} ms   p90 {p90 * 1000:7.1f} ms"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=30)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="lanfax-bench-mail-"))
    http, smtp_port = free_port(), free_port()
    token = "lfx_" + secrets.token_hex(6) + "_" + secrets.token_urlsafe(32)
    os.environ["LANFAX_CREDENTIALS"] = str(tmp / "credentials")
    (tmp / "bench.toml").write_text(
        "[security]\nrate_limit = 0\n"
        f'[smtp]\nlisten = "127.0.0.1:{smtp_port}"\ndomain = "fax.example.org"\n'
    )
    env = {**os.environ, "LANFAX_ADMIN_TOKEN": token}
    log = (tmp / "serve.log").open("wb")
    proc = subprocess.Popen(
        [
            *(LANFAX, "serve", "--data", str(tmp / "data")),
            *("--listen", f"127.0.0.1:{http}", "--config", str(tmp / "bench.toml")),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
    )
    url = f"http://127.0.0.1:{http}"
    try:
        deadline = time.monotonic() + 60
        with Client(url, token=token, timeout=2) as c:
            while True:
                try:
                    c.health()
                    break
                except Exception:
                    if time.monotonic() > deadline or proc.poll() is not None:
                        raise SystemExit(f"lanfax serve did not start; see {log.name}") from None
                    time.sleep(0.1)
            c.set_config(pause_server_queue=True)
        data = make_tiff(tmp / "page.tif")
        acked, queued, api = [], [], []
        with Client(url, token=token) as c, smtplib.SMTP("127.0.0.1", smtp_port) as s:
            s.login("admin", token)
            c.send([("page.tif", data)], to="101")  # warm both paths once
            for i in range(args.count + 1):
                msg = EmailMessage()
                msg["From"] = "bench@example.org"
                msg["To"] = "101@fax.example.org"
                msg.add_attachment(data, maintype="image", subtype="tiff", filename="p.tif")
                raw = msg.as_bytes(policy=email.policy.SMTP)
                t = time.perf_counter()
                s.mail("bench@example.org")
                s.rcpt("101@fax.example.org")
                code, text = s.data(raw)
                t_ack = time.perf_counter() - t
                if code != 250:
                    raise SystemExit(f"the mail was refused: {code} {text!r}")
                # "250 2.0.0 queued as <id>; ...": the id is the broadcast's
                mail_id = text.decode().split("queued as ", 1)[1].split(";", 1)[0]
                while not c.jobs(broadcast=mail_id, limit=1).jobs:
                    time.sleep(0.002)  # polling the API: the figure includes its cost
                t_queued = time.perf_counter() - t
                if i:  # the first one warms the conversion pool
                    acked.append(t_ack)
                    queued.append(t_queued)
            for _ in range(args.count):
                t = time.perf_counter()
                c.send([("page.tif", data)], to="101")
                api.append(time.perf_counter() - t)
        print(f"e-mail to fax, {args.count} mails of one fax-ready page (machine shared)")
        print(f"  SMTP: mail to 250 (on disk)      {stats(acked)}")
        print(f"  SMTP: mail to job queued         {stats(queued)}")
        print(f"  HTTP API: submission to 201      {stats(api)}")
    finally:
        proc.terminate()
        proc.wait(20)


if __name__ == "__main__":
    main()
