"""``lanfax outbound ...`` (the real console script) against a real ``lanfax serve`` with the
test provider's lines 200 and 201."""

from __future__ import annotations

import json

from tests.cli.conftest import Run


def test_outbound_verbs(lanfax: Run) -> None:
    ports = json.loads(lanfax("ports", "--json").stdout)
    ids = {p["number"]: p["device_id"] for p in ports}
    a, b = ids["200"], ids["201"]

    r = lanfax("outbound", "group-add", "Trunk", str(b), str(a))
    assert r.returncode == 0, r.stderr
    assert "Trunk" in r.stdout and f"{b} {a}" in r.stdout
    r = lanfax("outbound", "rule-add", "49", "30", "--group", "Trunk")
    assert r.returncode == 0, r.stderr
    r = lanfax("outbound", "rule-add", "1", "--device", str(a))
    assert r.returncode == 0, r.stderr

    r = lanfax("outbound", "rules")
    lines = r.stdout.splitlines()
    assert lines[0].split() == ["COUNTRY", "AREA", "SENDS", "TO", "STATUS"]
    assert [ln.split()[:2] for ln in lines[1:]] == [["49", "30"], ["1", "*"], ["*", "*"]]

    r = lanfax("outbound", "route", "+49 30 1234567", "--json")
    route = json.loads(r.stdout)
    assert route["devices"] == [b, a] and route["rule"]["group"] == "Trunk"
    r = lanfax("outbound", "route", "101")
    assert "all countries" in r.stdout

    # Bad input: exit 2 with the field named; a conflict: exit 4.
    r = lanfax("outbound", "rule-add", "49", "30", "--device", str(a))
    assert r.returncode == 2 and "area_code" in r.stderr
    r = lanfax("outbound", "rule-add", "4x", "--device", str(a))
    assert r.returncode == 2 and "country_code" in r.stderr
    r = lanfax("outbound", "group-remove", "Trunk")
    assert r.returncode == 4 and "used by 1 rule" in r.stderr
    r = lanfax("outbound", "rule-remove", "*")
    assert r.returncode == 4 and "default rule" in r.stderr

    assert lanfax("outbound", "rule-remove", "49", "30").returncode == 0
    assert lanfax("outbound", "rule-remove", "1").returncode == 0
    assert lanfax("outbound", "group-remove", "Trunk").returncode == 0
    groups = json.loads(lanfax("outbound", "groups", "--json").stdout)
    assert [g["name"] for g in groups] == ["All devices"]
