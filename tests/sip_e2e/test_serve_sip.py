"""Two real ``lanfax serve`` processes fax each other through their ``sip`` providers via a
real Kamailio (registrar and proxy with digest auth).

Server A has SIP accounts 200 (``t38 = "offer"``, 3 channels) and 202 (``t38 = "off"``,
receive only); server B has 201 and 203 likewise. A fax to 201/200 therefore switches to
T.38 (the answering side re-INVITEs, the sending account accepts), and a fax to 203/202
stays on G.711. The four calls (G.711 and T.38, both directions, 2 light pages each) run at
once. Every received fax must be pixel-identical to the document the sender sent.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tests.providers.helpers import tiff_pixels
from tests.providers.sip.kamailio import Kamailio, start_kamailio
from tests.support.authhttp import httpx
from tests.support.ports import reserve_port_range
from tests.support.server import LanfaxServer, start_lanfax_server

from lanfax.service import docs

USERS = {"200": "pw-200", "201": "pw-201", "202": "pw-202", "203": "pw-203"}
FINAL = {"completed", "failed", "retries_exceeded", "canceled"}
#: The provider logs how each call ended (with its medium) at INFO.
INFO = ["--log-level", "info"]


@pytest.fixture(scope="module")
def kamailio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kamailio]:
    with start_kamailio(tmp_path_factory.mktemp("kamailio"), USERS) as k:
        yield k


def _toml(k: Kamailio, t38_user: str, g711_user: str) -> str:
    """The two accounts' media ports: a range of this server's own, picked at run time."""
    media_low = reserve_port_range(200)[0]
    common = (
        f'registrar = "{k.address}"\ndomain = "lanfax.test"\nring_interval = 0.5\n'
        "answer_timeout = 20.0\n"
    )
    return f"""
[settings]
branding = false
retries = 0

[[providers]]
type = "sip"
id = "sip-t38"
user = "{t38_user}"
password = "{USERS[t38_user]}"
t38 = "offer"
channels = 3
media_ports = "{media_low}-{media_low + 99}"
{common}
[[providers]]
type = "sip"
id = "sip-g711"
user = "{g711_user}"
password = "{USERS[g711_user]}"
t38 = "off"
channels = 1
media_ports = "{media_low + 100}-{media_low + 199}"
{common}"""


def _ports(server: LanfaxServer) -> list[dict[str, Any]]:
    ports: list[dict[str, Any]] = httpx.get(f"{server.api}/ports", timeout=10).json()
    return ports


def _receive_only(server: LanfaxServer, number: str) -> None:
    """Take SEND off the G.711 account's line, so outgoing jobs leave on the T.38 account
    (which accepts a far end's T.38 offer): the receiving account alone picks the medium."""
    for port in _ports(server):
        if port["number"] != number:
            continue
        api = f"{server.api}/ports/{port['device_id']}"
        r = httpx.post(f"{api}/handles", json={"mode": "modify"}, timeout=10)
        assert r.status_code in (200, 201), r.text
        handle = r.json()["handle"]
        r = httpx.patch(
            api, json={"flags": ["receive"]}, headers={"X-Lanfax-Port-Handle": handle}, timeout=10
        )
        assert r.status_code == 200, r.text


def _submit(server: LanfaxServer, doc: Path, number: str) -> int:
    params = {"recipients": [{"recipient_number": number}], "resolution": "standard"}
    r = httpx.post(
        f"{server.api}/jobs",
        data={"params": json.dumps(params)},
        files=[("file", ("doc.tif", doc.read_bytes(), "image/tiff"))],
        timeout=30,
    )
    assert r.status_code == 201, r.text
    job_id: int = r.json()["jobs"][0]["job_id"]
    return job_id


def _job(server: LanfaxServer, job_id: int) -> dict[str, Any]:
    job: dict[str, Any] = httpx.get(f"{server.api}/jobs/{job_id}", timeout=10).json()
    return job


def _received(server: LanfaxServer) -> list[dict[str, Any]]:
    r = httpx.get(f"{server.api}/jobs", params={"type": "receive,fail_receive"}, timeout=10)
    jobs: list[dict[str, Any]] = r.json()["jobs"]
    return jobs


def _light_doc(directory: Path) -> Path:
    """Two text pages, converted by lanfax itself to a fax-ready TIFF at standard
    resolution (mostly white: quick on the line), so the server sends it as it is."""
    directory.mkdir()
    texts = []
    for n in (1, 2):
        texts.append(directory / f"page{n}.txt")
        texts[-1].write_text(f"lanfax SIP end-to-end test, page {n} of 2\n")
    out = directory / "two.tif"
    assert docs.convert(texts, out, resolution="standard").pages == 2
    assert docs.is_fax_ready(out) is not None
    return out


def _pages(path: Path) -> list[np.ndarray[Any, Any]]:
    return tiff_pixels(path)


def _same(a: list[np.ndarray[Any, Any]], b: list[np.ndarray[Any, Any]]) -> bool:
    return len(a) == len(b) and all(
        x.shape == y.shape and bool(np.array_equal(x, y)) for x, y in zip(a, b, strict=True)
    )


def test_two_servers_fax_each_other_g711_and_t38(kamailio: Kamailio, tmp_path: Path) -> None:
    for d in ("a", "b"):
        (tmp_path / d).mkdir()
    a = start_lanfax_server(tmp_path / "a", _toml(kamailio, "200", "202"), extra_args=INFO)
    try:
        b = start_lanfax_server(tmp_path / "b", _toml(kamailio, "201", "203"), extra_args=INFO)
    except BaseException:
        a.close()
        raise
    with a, b:
        for server in (a, b):
            # Provider log lines go to FAXLOG's "Unknown" category: raise it to INFO.
            r = httpx.put(
                f"{server.api}/logging",
                json=[{"name": "Unknown", "category": "unknown", "level": "med"}],
                timeout=10,
            )
            assert r.status_code == 200, r.text
        _receive_only(a, "202")
        _receive_only(b, "203")
        doc = _light_doc(tmp_path / "doc")
        # (sender, receiver, number, medium the receiving account chooses)
        plan = [
            (a, b, "201", "t38"),
            (a, b, "203", "audio"),
            (b, a, "200", "t38"),
            (b, a, "202", "audio"),
        ]
        sent = [
            (src, dst, number, media, _submit(src, doc, number)) for src, dst, number, media in plan
        ]

        def done() -> bool:
            sends = [_job(src, job_id) for src, _, _, _, job_id in sent]
            if any(s["queue_status"] in FINAL - {"completed"} for s in sends):
                return True  # a failed send: stop waiting, the asserts below say which
            rx = _received(a) + _received(b)
            return (
                all(s["queue_status"] in FINAL for s in sends)
                and len(rx) == 4
                and all(j["queue_status"] in FINAL for j in rx)
            )

        deadline = time.monotonic() + 150
        with httpx.stream(
            "GET", f"{a.api}/events", params={"after": 0}, timeout=httpx.Timeout(150)
        ) as stream:
            # Server A's events mark progress; B's jobs are polled at each of them, and the
            # read timeout of the stream bounds the wait if A goes quiet before B is done.
            for line in stream.iter_lines():
                if line.startswith("data: ") and done():
                    break
                assert time.monotonic() < deadline, "the four faxes did not finish in time"
        for src, dst, number, media, job_id in sent:
            job = _job(src, job_id)
            assert job["queue_status"] == "completed", (number, job)
            assert job["pages_done"] == 2, job
            assert job["bit_rate"] in (9600, 12000, 14400), job
            assert isinstance(job["ecm"], bool) and job["compression"], job
            ports = {p["device_id"]: p["number"] for p in _ports(dst)}
            (rx,) = [j for j in _received(dst) if ports[j["device_id"]] == number]
            assert rx["job_type"] == "receive" and rx["queue_status"] == "completed", rx
            assert rx["page_count"] == 2, rx
            src_ports = {p["number"]: p for p in _ports(src)}
            sender_line = "200" if src is a else "201"
            assert rx["remote_ident"].strip() == src_ports[sender_line]["tsid"], rx
            # What arrived is exactly what the sender put on the line (its spool copy of
            # the converted upload), decoded and compared pixel by pixel.
            sent_doc = next((src.data_dir / "spool" / "docs").glob("*.tif"))
            got = dst.data_dir / "spool" / "received" / f"{rx['job_id']}.tif"
            if not got.exists():
                got = Path(httpx.get(f"{dst.api}/jobs/{rx['job_id']}", timeout=10).json()["path"])
            assert _same(_pages(sent_doc), _pages(got)), (number, got)
            assert _same(tiff_pixels(doc), _pages(got)), "not what was uploaded"
            # The medium, from the provider's own line in the receiving server's log.
            log = dst.stderr_path.read_text(errors="replace")
            ended = re.findall(r"call from \S+ ended: COMPLETED, 2 page\(s\), (\w+)", log)
            assert media in ended, (number, ended, dst.log_tail())
