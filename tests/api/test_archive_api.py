"""The archives and the activity log over HTTP, on a real ``lanfax serve`` with the default
virtual lines: a fax from 100 to 101 is found in both archives, downloaded as TIFF and PDF,
deleted; the retention policy is read and changed; the activity log comes as CSV."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

from tests.support.authhttp import httpx
from tests.support.faxes import make_fax_tiff
from tests.support.http import receive_jobs, send_to_101, wait_for
from tests.support.server import start_lanfax_server

TOML = """
[settings]
archive_outgoing_faxes = true
"""


def _search(api: str, direction: str, **params: Any) -> dict[str, Any]:
    r = httpx.get(f"{api}/archive/{direction}", params=params)
    assert r.status_code == 200, r.text
    out: dict[str, Any] = r.json()
    return out


def test_archives_over_http(tmp_path: Path) -> None:
    tiff = make_fax_tiff(tmp_path / "doc", pages=2)
    with start_lanfax_server(tmp_path, TOML) as server:
        api = server.api
        tx = send_to_101(api, tiff)
        wait_for(
            api,
            "the fax in both archives",
            lambda: _search(api, "incoming")["entries"] and _search(api, "outgoing")["entries"],
        )
        (out,) = _search(api, "outgoing", number="10")["entries"]
        assert out["job_id"] == tx and out["number"] == "101" and out["pages"] == 2
        assert out["result"] == "completed" and out["path"].startswith(str(server.data_dir))
        assert _search(api, "outgoing", number="99")["entries"] == []
        (inc,) = _search(api, "incoming", since=out["submitted_at"])["entries"]
        (rx,) = receive_jobs(api)
        assert inc["job_id"] == rx["job_id"]

        doc = httpx.get(f"{api}/archive/incoming/{inc['archive_id']}/document")
        assert doc.headers["content-type"] == "image/tiff"
        assert doc.content == httpx.get(f"{api}/jobs/{rx['job_id']}/document").content
        pdf = httpx.get(
            f"{api}/archive/outgoing/{out['archive_id']}/document", params={"format": "pdf"}
        )
        assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
        bad = httpx.get(
            f"{api}/archive/outgoing/{out['archive_id']}/document", params={"format": "gif"}
        )
        assert bad.status_code == 422 and bad.json()["hint"]
        # An outgoing id is not an incoming entry.
        assert httpx.get(f"{api}/archive/incoming/{out['archive_id'] + 1000}").status_code == 404

        policy = httpx.get(f"{api}/archive/config").json()
        assert policy["archive_outgoing_faxes"] is True
        assert policy["directory"] == str(server.data_dir / "archive")
        r = httpx.patch(f"{api}/archive/config", json={"incoming": {"max_age_days": 30}})
        assert r.status_code == 200 and r.json()["incoming"]["max_age_days"] == 30
        r = httpx.patch(f"{api}/archive/config", json={"incoming": {"max_age_days": "x"}})
        assert r.status_code == 422

        r = httpx.get(f"{api}/activity.csv")
        assert r.headers["content-type"].startswith("text/csv")
        rows = list(csv.DictReader(io.StringIO(r.text)))
        assert sorted(row["direction"] for row in rows) == ["incoming", "outgoing"]

        r = httpx.delete(f"{api}/archive/outgoing/{out['archive_id']}")
        assert r.status_code == 204
        assert _search(api, "outgoing")["entries"] == []
        assert not Path(out["path"]).exists()
        assert json.loads(httpx.get(f"{api}/archive/outgoing").text)["next"] is None
