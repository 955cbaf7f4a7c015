"""The address book on a real server: own vs shared visibility, prefix search, names, vCard
round trip, and ``@name`` recipients resolved at submission (issue #13)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import vobject
from tests.support.authhttp import httpx, login_as
from tests.support.server import LanfaxServer

from lanfax.client import Client
from lanfax.model.jobs import JobParams

raw_httpx = httpx  # the shim adds the administrator's token only when none is given


def _names(api: str, headers: dict[str, str] | None = None, **params: Any) -> list[str]:
    r = httpx.get(f"{api}/contacts", params=params, headers=headers or {})
    assert r.status_code == 200, r.text
    return [c["name"] for c in r.json()["contacts"]]


def test_own_contacts_are_private_and_shared_ones_need_rights(server: LanfaxServer) -> None:
    api = server.api
    alice = login_as(api, "vis-alice", role="user")
    bob = login_as(api, "vis-bob", role="user")
    r = httpx.post(f"{api}/contacts", json={"name": "Carol", "fax_number": "201"}, headers=alice)
    assert r.status_code == 201, r.text
    carol = r.json()
    assert carol["scope"] == "personal" and carol["owner"] == "vis-alice"
    # A plain user may not write the shared book; an administrator may.
    r = httpx.post(f"{api}/contacts", json={"scope": "shared", "name": "Dispatch"}, headers=alice)
    assert r.status_code == 403, r.text
    r = httpx.post(
        f"{api}/contacts", json={"scope": "shared", "name": "Dispatch", "fax_number": "200"}
    )
    assert r.status_code == 201, r.text
    dispatch = r.json()
    assert dispatch["scope"] == "shared" and dispatch["owner"] == ""

    assert _names(api, alice) == ["Carol", "Dispatch"]
    assert _names(api, alice, scope="personal") == ["Carol"]
    assert _names(api, bob) == ["Dispatch"]
    # Someone else's personal contact does not exist for bob, whatever he tries.
    for method in ("GET", "PATCH", "DELETE"):
        r = httpx.request(
            method,
            f"{api}/contacts/{carol['contact_id']}",
            headers=bob,
            **({"json": {"city": "x"}} if method == "PATCH" else {}),
        )
        assert r.status_code == 404, (method, r.text)
    assert httpx.get(f"{api}/contacts/{carol['contact_id']}", headers=alice).status_code == 200
    # Shared ones: readable by a submitter, not changeable.
    assert httpx.get(f"{api}/contacts/{dispatch['contact_id']}", headers=bob).status_code == 200
    r = httpx.delete(f"{api}/contacts/{dispatch['contact_id']}", headers=bob)
    assert r.status_code == 403
    r = httpx.patch(f"{api}/contacts/{dispatch['contact_id']}", json={"city": "Paris"}, headers=bob)
    assert r.status_code == 403
    # Without job_submit the shared book is closed; the own one stays open.
    assert httpx.patch(f"{api}/users/vis-bob", json={"revoke": ["job_submit"]}).status_code == 200
    assert httpx.get(f"{api}/contacts", params={"scope": "shared"}, headers=bob).status_code == 403
    assert _names(api, bob) == []
    r = httpx.post(f"{api}/contacts", json={"name": "Mine", "fax_number": "1"}, headers=bob)
    assert r.status_code == 201
    assert _names(api, bob) == ["Mine"]
    # The owner changes and removes its own.
    r = httpx.patch(f"{api}/contacts/{carol['contact_id']}", json={"city": "Lyon"}, headers=alice)
    assert r.status_code == 200 and r.json()["city"] == "Lyon"
    r = httpx.delete(f"{api}/contacts/{carol['contact_id']}", headers=alice)
    assert r.status_code == 204
    assert _names(api, alice) == ["Dispatch"]


def test_prefix_search(server: LanfaxServer) -> None:
    api = server.api
    me = login_as(api, "search-user", role="user")
    for body in (
        {"name": "Alice Martin", "fax_number": "+49 30 1111", "company": "Zeta"},
        {"name": "alicia Keys", "fax_number": "+33 1 2222", "email": "keys@example.org"},
        {"name": "Bob Stone", "fax_number": "0800 3333", "company": "Alpha Corp"},
        {"name": "Élodie", "fax_number": "+33 1 4444"},
    ):
        assert httpx.post(f"{api}/contacts", json=body, headers=me).status_code == 201
    mine = {"scope": "personal"}
    assert _names(api, me, q="ali", **mine) == ["Alice Martin", "alicia Keys"]
    assert _names(api, me, q="ALICE", **mine) == ["Alice Martin"]
    assert _names(api, me, q="alp", **mine) == ["Bob Stone"]  # the company
    assert _names(api, me, q="keys@", **mine) == ["alicia Keys"]  # the e-mail address
    assert _names(api, me, q="+33", **mine) == ["alicia Keys", "Élodie"]  # the number
    assert _names(api, me, q="élo", **mine) == ["Élodie"]
    assert _names(api, me, q="%", **mine) == []  # no LIKE wildcard leaks through
    assert _names(api, me, q="zz", **mine) == []
    # Pages.
    r = httpx.get(f"{api}/contacts", params={**mine, "limit": 2}, headers=me).json()
    assert [c["name"] for c in r["contacts"]] == ["Alice Martin", "alicia Keys"]
    assert r["next"] == 2
    r = httpx.get(f"{api}/contacts", params={**mine, "limit": 2, "offset": 2}, headers=me).json()
    assert [c["name"] for c in r["contacts"]] == ["Bob Stone", "Élodie"]


def test_names_and_bad_input(server: LanfaxServer) -> None:
    api = server.api
    me = login_as(api, "names-user", role="user")
    assert httpx.post(f"{api}/contacts", json={"name": "Zed", "fax_number": "1"}, headers=me)
    r = httpx.post(f"{api}/contacts", json={"name": " zED ", "fax_number": "2"}, headers=me)
    assert r.status_code == 409, r.text
    assert "named 'zED' already exists" in r.json()["detail"]
    r = httpx.post(f"{api}/contact-lists", json={"name": "ZED", "members": []}, headers=me)
    assert r.status_code == 409, r.text
    # Another user may use the same name; so may the shared book.
    other = login_as(api, "names-other", role="user")
    assert httpx.post(f"{api}/contacts", json={"name": "Zed"}, headers=other).status_code == 201
    cases = [
        ({"name": "x", "fax": "1"}, "fax"),
        ({"name": "@x"}, "name"),
        ({"name": ""}, "name"),
        ({"name": "x", "city": 3}, "city"),
        ({"name": "x", "scope": "everyone"}, "scope"),
        ({"fax_number": "1"}, "name"),
    ]
    for body, field in cases:
        r = httpx.post(f"{api}/contacts", json=body, headers=me)
        assert r.status_code == 422, (body, r.text)
        assert field in r.json()["detail"], (body, r.json())
    r = httpx.post(f"{api}/contact-lists", json={"name": "bad", "members": ["nobody"]}, headers=me)
    assert r.status_code == 422 and "nobody" in r.json()["detail"]
    # A shared list may not hold anyone's personal contact.
    mine = httpx.get(f"{api}/contacts", params={"scope": "personal"}, headers=me).json()
    zed_id = mine["contacts"][0]["contact_id"]
    r = httpx.post(
        f"{api}/contact-lists",
        json={"scope": "shared", "name": "leak", "members": [{"contact_id": zed_id}]},
    )
    assert r.status_code == 422, r.text
    assert httpx.get(f"{api}/contact-lists", params={"q": "leak"}).json()["lists"] == []


VCARDS = (
    "BEGIN:VCARD\r\n"
    "VERSION:3.0\r\n"
    "FN:Zoë Dupont\r\n"
    "N:Dupont;Zoë;;;\r\n"
    "ORG:Acme\\, Inc.;Ventes\r\n"
    "TITLE:Directrice\r\n"
    "TEL;TYPE=WORK,FAX:+33 1 23 45 67 89\r\n"
    "TEL;TYPE=WORK,VOICE:+33 1 23 45 67 00\r\n"
    "TEL;TYPE=HOME:+33 6 00 00 00 00\r\n"
    "EMAIL;TYPE=INTERNET:zoe@example.fr\r\n"
    "ADR;TYPE=WORK:;Bât. B;12 rue de la Paix;Paris;IDF;75002;France\r\n"
    "NOTE:Appeler avant\\; le matin\\nseulement\r\n"
    "END:VCARD\r\n"
    "BEGIN:VCARD\r\n"
    "VERSION:4.0\r\n"
    "FN:Bernd Müller\r\n"
    'TEL;VALUE=uri;TYPE="fax,work":tel:+49-30-1234567\r\n'
    "EMAIL:bernd@example.de\r\n"
    "END:VCARD\r\n"
)


def _fields(c: dict[str, Any]) -> dict[str, Any]:
    skip = {"contact_id", "owner", "scope", "created_at", "updated_at"}
    return {k: v for k, v in c.items() if k not in skip}


def test_vcard_round_trip(server: LanfaxServer) -> None:
    api = server.api
    src = login_as(api, "vcf-src", role="user")
    dst = login_as(api, "vcf-dst", role="user")
    r = httpx.post(
        f"{api}/contacts/import",
        content=VCARDS.encode(),
        headers={**src, "Content-Type": "text/vcard"},
    )
    assert r.status_code == 200, r.text
    assert (r.json()["imported"], r.json()["updated"]) == (2, 0)
    zoe = next(c for c in r.json()["contacts"] if c["name"] == "Zoë Dupont")
    assert zoe["fax_number"] == "+33 1 23 45 67 89"
    assert zoe["office_phone"] == "+33 1 23 45 67 00"
    assert zoe["home_phone"] == "+33 6 00 00 00 00"
    assert (zoe["company"], zoe["department"], zoe["title"]) == (
        "Acme, Inc.",
        "Ventes",
        "Directrice",
    )
    assert (zoe["street_address"], zoe["city"], zoe["state"]) == (
        "12 rue de la Paix",
        "Paris",
        "IDF",
    )
    assert (zoe["zip"], zoe["country"], zoe["office_location"]) == ("75002", "France", "Bât. B")
    assert zoe["notes"] == "Appeler avant; le matin\nseulement"
    bernd = next(c for c in r.json()["contacts"] if c["name"] == "Bernd Müller")
    assert bernd["fax_number"] == "+49-30-1234567"  # the tel: URI, as a number
    # Importing the same file again updates, adds nothing.
    r = httpx.post(
        f"{api}/contacts/import",
        content=VCARDS.encode(),
        headers={**src, "Content-Type": "text/vcard"},
    )
    assert (r.json()["imported"], r.json()["updated"]) == (0, 2)
    before = {
        c["name"]: _fields(c)
        for c in httpx.get(f"{api}/contacts", params={"scope": "personal"}, headers=src).json()[
            "contacts"
        ]
    }
    assert len(before) == 2
    for version in ("4.0", "3.0"):
        r = httpx.get(
            f"{api}/contacts/export", params={"scope": "personal", "version": version}, headers=src
        )
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/vcard")
        cards = list(vobject.readComponents(r.text))  # readable by another vCard reader
        assert [c.version.value for c in cards] == [version, version]
        # Into another user's (empty) book: the same contacts, field for field.
        for c in httpx.get(f"{api}/contacts", params={"scope": "personal"}, headers=dst).json()[
            "contacts"
        ]:
            httpx.delete(f"{api}/contacts/{c['contact_id']}", headers=dst)
        r = httpx.post(
            f"{api}/contacts/import",
            content=r.content,
            headers={**dst, "Content-Type": "text/vcard"},
        )
        assert r.status_code == 200, r.text
        after = {c["name"]: _fields(c) for c in r.json()["contacts"]}
        assert after == before, version


def test_a_bad_vcard_file_imports_nothing(server: LanfaxServer) -> None:
    api = server.api
    me = login_as(api, "vcf-bad", role="user")
    bad_second = VCARDS + "BEGIN:VCARD\r\nVERSION:4.0\r\nEMAIL:x@y\r\nEND:VCARD\r\n"
    for data, words in (
        (bad_second, "vCard 3 has no name"),
        (b"hello, not a vcard", "not a valid vCard"),
        (VCARDS[:-12].encode(), "not a valid vCard"),
        (b"\xff\xfe\x00", "not UTF-8"),
        (b"BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n", "VCALENDAR"),
    ):
        body = data.encode() if isinstance(data, str) else data
        r = httpx.post(
            f"{api}/contacts/import", content=body, headers={**me, "Content-Type": "text/vcard"}
        )
        assert r.status_code == 422, r.text
        assert words in r.json()["detail"], r.json()
    assert _names(api, me, scope="personal") == []


def test_unknown_at_name_is_a_422_naming_it(server: LanfaxServer, fax_tiff: Path) -> None:
    api = server.api
    me = login_as(api, "at-user", role="user")
    assert (
        httpx.post(
            f"{api}/contacts", json={"name": "Known", "fax_number": "200"}, headers=me
        ).status_code
        == 201
    )
    before = httpx.get(f"{api}/jobs", params={"limit": 1000}).json()["jobs"]
    params = {"recipients": [{"recipient_number": "@known"}, {"recipient_number": "@ghost"}]}
    r = httpx.post(
        f"{api}/jobs",
        data={"params": json.dumps(params)},
        files=[("file", ("doc.tif", fax_tiff.read_bytes(), "image/tiff"))],
        headers=me,
    )
    assert r.status_code == 422, r.text
    assert "recipients[1]" in r.json()["detail"] and "'ghost'" in r.json()["detail"]
    # A contact without a number, and an empty list, are named too.
    assert httpx.post(f"{api}/contacts", json={"name": "Nonum"}, headers=me).status_code == 201
    assert httpx.post(f"{api}/contact-lists", json={"name": "Empty"}, headers=me).status_code == 201
    for name, words in (("@nonum", "no fax number"), ("@empty", "no members")):
        r = httpx.post(
            f"{api}/jobs",
            data={"params": json.dumps({"recipients": [{"recipient_number": name}]})},
            files=[("file", ("doc.tif", fax_tiff.read_bytes(), "image/tiff"))],
            headers=me,
        )
        assert r.status_code == 422 and words in r.json()["detail"], r.text
    assert httpx.get(f"{api}/jobs", params={"limit": 1000}).json()["jobs"] == before


def test_clients_resolve_personal_before_shared(server: LanfaxServer, fax_tiff: Path) -> None:
    """Sync client calls; ``@name`` prefers the caller's own entry over a shared one."""
    api = server.api
    login_as(api, "prefer-user", role="user")
    token = login_as(api, "prefer-user", role="user")["Authorization"].split()[1]
    with Client(server.url) as admin:
        admin.add_contact("Desk", "201", scope="shared", company="HQ")
    with Client(server.url, token=token) as me:
        me.add_contact("Desk", "200")
        assert [(c.name, c.scope) for c in me.contacts(prefix="desk")] == [
            ("Desk", "personal"),
            ("Desk", "shared"),
        ]
        lst = me.add_contact_list("pair", ["Desk", {"fax_number": "201", "name": "Other"}])
        assert [(m.name, m.fax_number) for m in lst.members] == [("Desk", "200"), ("Other", "201")]
        result = me.broadcast(
            [str(fax_tiff)],
            [JobParams("@desk"), JobParams("@PAIR", recipient_name="X")],
        )
        got = [(j.recipient_number, j.recipient_name) for j in result.jobs]
        assert got == [("200", "Desk"), ("200", "X"), ("201", "X")]
        for job in result.jobs:
            me.cancel(job.job_id)
        # Removing a contact takes it off the lists it was on.
        desk = next(c for c in me.contacts(scope="personal") if c.name == "Desk")
        me.remove_contact(desk.contact_id)
        assert [m.name for m in me.contact_list(lst.list_id).members] == ["Other"]


def test_a_contact_fills_the_recipient_part_of_the_cover_page(
    server: LanfaxServer, fax_tiff: Path, tmp_path: Path
) -> None:
    """The address book gives each recipient of a list its own cover page fields (company,
    city, ...) where the submission's cover page leaves them empty; tesseract reads them."""
    import subprocess

    import numpy as np
    from PIL import Image

    api = server.api
    me = login_as(api, "cover-user", role="user")
    r = httpx.post(
        f"{api}/contacts",
        json={"name": "Cora Page", "fax_number": "201", "company": "Globex Corporation"},
        headers=me,
    )
    assert r.status_code == 201, r.text
    r = httpx.post(
        f"{api}/contact-lists",
        json={"name": "covers", "members": ["Cora Page", {"fax_number": "201", "name": "Plain"}]},
        headers=me,
    )
    assert r.status_code == 201, r.text
    params = {
        "recipients": [{"recipient_number": "@covers"}],
        "cover_page": {"subject": "Quarterly figures"},
    }
    r = httpx.post(
        f"{api}/jobs",
        data={"params": json.dumps(params)},
        files=[("file", ("doc.tif", fax_tiff.read_bytes(), "image/tiff"))],
        headers=me,
        timeout=60,
    )
    assert r.status_code == 201, r.text
    texts = []
    for job in r.json()["jobs"]:
        doc = httpx.get(f"{api}/jobs/{job['job_id']}/document", headers=me, timeout=30)
        assert doc.status_code == 200
        path = tmp_path / f"{job['job_id']}.tif"
        path.write_bytes(doc.content)
        with Image.open(path) as im:
            page = np.asarray(im.convert("L")) < 128
        png = tmp_path / "cover.png"
        Image.fromarray(np.where(page, 0, 255).astype(np.uint8)).save(png)
        ocr = subprocess.run(
            ["tesseract", str(png), "-", "--psm", "3"], capture_output=True, text=True, check=True
        )
        texts.append(ocr.stdout)
    assert "Globex" in texts[0] and "Cora" in texts[0], texts
    assert "Globex" not in texts[1] and "Plain" in texts[1], texts
