"""The fax printer over HTTPS (``ipps://``): the printer says so in its URIs, and a print job
sent over TLS arrives on line 101."""

from __future__ import annotations

import ssl
import time
from pathlib import Path

import httpx
from tests.support.ipp import request, tel
from tests.support.server import start_lanfax_server
from tests.support.tls import self_signed_certificate

from lanfax.service.ipp.codec import GroupTag, Status, Tag, attr, decode, encode
from lanfax.service.ipp.model import Op


def test_print_over_tls(tmp_path: Path) -> None:
    cert, key = self_signed_certificate(tmp_path)
    args = ["--tls-cert", str(cert), "--tls-key", str(key)]
    with start_lanfax_server(tmp_path, extra_args=args) as srv:
        verify = ssl.create_default_context(cafile=str(cert))
        headers = {"Authorization": f"Bearer {srv.token}", "Content-Type": "application/ipp"}
        uri = f"ipps://127.0.0.1:{srv.port}/ipp/faxout"
        with httpx.Client(verify=verify, headers=headers, timeout=60) as http:
            r = http.post(
                f"{srv.url}/ipp/faxout", content=encode(request(Op.GET_PRINTER_ATTRIBUTES, uri))
            )
            printer = decode(r.content).group(GroupTag.PRINTER)
            assert printer is not None
            uris = printer.get("printer-uri-supported")
            security = printer.get("uri-security-supported")
            assert uris is not None and security is not None
            assert [v.value for v in uris.values] == [uri]
            assert [v.value for v in security.values] == ["tls"]
            text = b"Sent over TLS.\n"
            fmt = attr("document-format", Tag.MIME_TYPE, "text/plain")
            msg = decode(
                http.post(
                    f"{srv.url}/ipp/faxout",
                    content=encode(request(Op.PRINT_JOB, uri, [fmt], [tel("101")], text)),
                ).content
            )
            assert msg.code == Status.OK
            job = msg.group(GroupTag.JOB)
            assert job is not None and job.get("job-uri") is not None
            assert str(job.get("job-uri").values[0].value).startswith(uri)  # type: ignore[union-attr]

            def received() -> bool:
                jobs = http.get(f"{srv.api}/jobs", params={"type": "receive"}).json()["jobs"]
                return any(j["queue_status"] == "completed" for j in jobs)

            # Re-check after every event of the server, within a deadline.
            deadline = time.monotonic() + 120
            with http.stream("GET", f"{srv.api}/events", params={"after": 0}) as events:
                for line in events.iter_lines():
                    if line.startswith("data: ") and received():
                        break
                    assert time.monotonic() < deadline, "no fax on line 101 over TLS"
            assert received()
