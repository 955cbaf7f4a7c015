"""The address book through both clients against a real server: the same calls, one set of
Ops, and paging (a request flow both clients drive) past the server's page of 1000."""

from __future__ import annotations

import asyncio

from tests.support.server import LanfaxServer

from lanfax.client import AsyncClient, Client
from lanfax.client._contacts import _PAGE, CONTACTS
from lanfax.model.contacts import Contact


def _vcards(prefix: str, n: int) -> bytes:
    cards = (
        f"BEGIN:VCARD\r\nVERSION:4.0\r\nFN:{prefix} {i:04d}\r\nN:{prefix};{i:04d};;;\r\n"
        f"TEL;TYPE=fax:+1555{i:06d}\r\nEND:VCARD\r\n"
        for i in range(n)
    )
    return "".join(cards).encode()


def test_paging_is_one_flow() -> None:
    """Pages are asked for at offsets 0, 1000, 2000 ... until a short one (no server)."""
    flow = CONTACTS.every("all", "ab")
    op = next(flow)
    offsets = []
    sizes = [_PAGE, _PAGE, 5]
    result: list[Contact] = []
    try:
        for size in sizes:
            assert op.query["q"] == "ab" and op.query["limit"] == str(_PAGE)
            offsets.append(int(op.query["offset"]))
            op = flow.send(
                [Contact(len(offsets) * 10_000 + i, "personal", "u", "x") for i in range(size)]
            )
    except StopIteration as stop:
        result = stop.value
    assert offsets == [0, 1000, 2000] and len(result) == 2005


def test_both_clients_page_past_a_thousand(server: LanfaxServer) -> None:
    with Client(server.url, timeout=60) as c:
        done = c.import_vcards(_vcards("Paged", _PAGE + 2))
        assert done.imported == _PAGE + 2
        names = [x.name for x in c.contacts(prefix="Paged")]
        assert len(names) == _PAGE + 2 and names == sorted(names)

    async def run() -> None:
        async with AsyncClient(server.url, timeout=60) as a:
            got = await a.contacts(prefix="Paged")
            assert [x.name for x in got] == names
            one = await a.add_contact("Async Desk", "201", company="HQ")
            assert (await a.contact(one.contact_id)).company == "HQ"
            assert (await a.update_contact(one.contact_id, company="Lab")).company == "Lab"
            lst = await a.add_contact_list("async pair", ["Async Desk", {"fax_number": "202"}])
            assert [m.fax_number for m in lst.members] == ["201", "202"]
            lst = await a.update_contact_list(lst.list_id, notes="two", members=["Async Desk"])
            assert lst.notes == "two" and [m.name for m in lst.members] == ["Async Desk"]
            assert [x.list_id for x in await a.contact_lists(prefix="async")] == [lst.list_id]
            await a.remove_contact_list(lst.list_id)
            await a.remove_contact(one.contact_id)
            assert await a.contacts(prefix="Async Desk") == []

    asyncio.run(run())
