"""The sync Client against a real server: every method, and errors with hints."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image
from tests.support.server import LanfaxServer

from lanfax import __version__
from lanfax.client import Client, ConfigError, Conflict, InvalidInput, NotFound, Unavailable
from lanfax.model import JobParams, LogLevel, PortOpenMode, QueueStatus
from lanfax.model.errors import FaxError

from .conftest import acting_user


def test_health_and_server_info(client: Client) -> None:
    assert client.health() == {"status": "ok", "version": __version__}
    info = client.server_info()
    assert info.version == __version__
    assert info.devices == 2
    assert info.started_at is not None


def test_config_round_trip_with_both_names(client: Client) -> None:
    before = client.get_config()
    new = client.set_config(retries=before.retries + 1, RetryDelay=7)
    assert (new.retries, new.retry_delay) == (before.retries + 1, 7)
    assert client.get_config() == new
    client.set_config(retries=before.retries, retry_delay=before.retry_delay)


def test_config_errors_carry_hints(client: Client) -> None:
    with pytest.raises(ConfigError) as bad_key:
        client.set_config(no_such_setting=1)
    assert "no_such_setting" in bad_key.value.message
    assert bad_key.value.hint and "retries" in bad_key.value.hint
    with pytest.raises(ConfigError) as bad_value:
        client.set_config(retries=-4)
    assert bad_value.value.hint
    assert bad_value.value.exit_code == 2


def test_logging_set_by_mapping_and_keyword(client: Client) -> None:
    cats = client.set_logging({"outbound": "max"}, inbound=LogLevel.NONE)
    by = {c.category.name.lower(): c.level for c in cats}
    assert by["outbound"] == LogLevel.MAX and by["inbound"] == LogLevel.NONE
    assert client.get_logging() == cats
    with pytest.raises(InvalidInput) as err:
        client.set_logging({"nonsense": "max"})
    assert err.value.hint and "outbound" in err.value.hint


def test_ports_port_status(client: Client) -> None:
    ports = client.ports()
    assert [p.number for p in ports] == ["200", "201"]
    one = client.port(ports[0].device_id)
    assert one == ports[0]
    status = client.device_status(one.device_id)
    assert status.device_id == one.device_id
    with pytest.raises(NotFound) as err:
        client.port(9999)
    assert err.value.exit_code == 3


def test_port_handles_modify_is_exclusive(client: Client) -> None:
    dev = client.ports()[1].device_id
    with client.open_port(dev, "modify") as h:
        assert h.mode is PortOpenMode.MODIFY
        with pytest.raises(Conflict):
            client.open_port(dev, PortOpenMode.MODIFY)
        old = client.port(dev).rings
        info = client.set_port(h, rings=old + 2, tsid="+1 555 0100")
        assert (info.rings, info.tsid) == (old + 2, "+1 555 0100")
        assert client.port(dev).rings == old + 2
    assert h.closed
    with pytest.raises(InvalidInput):
        client.set_port(h, rings=1)  # closed handle
    with client.open_port(dev, "query") as q, pytest.raises(FaxError):
        client.set_port(q, rings=1)
    with client.open_port(dev, "modify") as again:  # the first one was released
        client.set_port(again, rings=old)
    with pytest.raises(InvalidInput):
        client.set_port(again, colour="red")


def test_send_and_job_fields(paused: Client, doc: Path) -> None:
    jobs = paused.send(doc, to=["555", JobParams("556", recipient_name="Bob")], sender_name="Al")
    assert [j.recipient_number for j in jobs] == ["555", "556"]
    assert jobs[1].recipient_name == "Bob"
    assert {j.sender_name for j in jobs} == {"Al"}
    assert {j.user_name for j in jobs} == {acting_user(paused.base_url, "tester")}
    assert len({j.broadcast_id for j in jobs}) == 1
    got = paused.job(jobs[0].job_id)
    assert got.job_id == jobs[0].job_id and got.queue_status == QueueStatus.PENDING
    for j in jobs:
        paused.cancel(j.job_id)


def test_broadcast_callback_replaces_and_stops(paused: Client, doc: Path) -> None:
    seen: list[int] = []

    def each(number: int, params: JobParams) -> JobParams | bool | None:
        seen.append(number)
        if number == 2:
            return JobParams(params.recipient_number, recipient_name="Second")
        return number < 3  # True for 1 (keep), False at 3 (stop: 3 and 4 are left out)

    recips = [JobParams(n) for n in ("601", "602", "603", "604")]
    result = paused.broadcast(doc, recips, on_recipient=each, billing_code="B7")
    assert seen == [1, 2, 3]
    assert [j.recipient_number for j in result.jobs] == ["601", "602"]
    assert result.jobs[1].recipient_name == "Second"
    assert {j.billing_code for j in result.jobs} == {"B7"}
    page = paused.jobs(broadcast=result.broadcast_id)
    assert sorted(j.job_id for j in page.jobs) == sorted(j.job_id for j in result.jobs)
    for j in result.jobs:
        paused.cancel(j.job_id)


def test_paging_and_filters(paused: Client, doc: Path) -> None:
    result = paused.broadcast(doc, [JobParams(f"7{i:02d}") for i in range(7)])
    ids = [j.job_id for j in result.jobs]
    page = paused.jobs(broadcast=result.broadcast_id, limit=3)
    assert [j.job_id for j in page.jobs] == ids[:3] and page.next == ids[2]
    walked = [j.job_id for j in paused.iter_jobs(broadcast=result.broadcast_id, page_size=2)]
    assert walked == ids
    back = paused.jobs(broadcast=result.broadcast_id, before=ids[-1] + 1, limit=2)
    assert [j.job_id for j in back.jobs] == [ids[-1], ids[-2]]
    paused.cancel(ids[0])
    canceled = paused.jobs(broadcast=result.broadcast_id, status=["canceled", "canceling"])
    assert [j.job_id for j in canceled.jobs] == [ids[0]]
    with pytest.raises(InvalidInput):
        paused.jobs(limit=0)
    for i in ids[1:]:
        paused.cancel(i)


def test_job_control(paused: Client, doc: Path) -> None:
    [job] = paused.send(doc, to="801")
    assert paused.pause(job.job_id).queue_status == QueueStatus.PAUSED
    assert paused.resume(job.job_id).queue_status == QueueStatus.PENDING
    with pytest.raises(Conflict) as not_paused:
        paused.resume(job.job_id)
    assert not_paused.value.hint and not_paused.value.exit_code == 4
    with pytest.raises(Conflict):
        paused.delete(job.job_id)  # not finished
    canceled = paused.cancel(job.job_id)
    assert canceled.queue_status in (QueueStatus.CANCELED, QueueStatus.CANCELING)
    final = paused.wait([job.job_id], timeout=30)
    assert final[0].queue_status == QueueStatus.CANCELED
    paused.delete(job.job_id)
    with pytest.raises(NotFound):
        paused.job(job.job_id)


def test_wait_completed_failed_and_restart(client: Client, doc: Path) -> None:
    ok, bad = client.send(doc, to=["5551234", "9003"])
    changes: list[QueueStatus] = []
    final = client.wait(
        [ok.job_id, bad.job_id], timeout=60, on_change=lambda j: changes.append(j.queue_status)
    )
    assert [j.queue_status for j in final] == [QueueStatus.COMPLETED, QueueStatus.FAILED]
    assert QueueStatus.COMPLETED in changes
    again = client.restart(bad.job_id)
    assert again.queue_status not in (QueueStatus.FAILED,)
    [end] = client.wait([bad.job_id], timeout=60)
    assert end.queue_status == QueueStatus.FAILED
    assert end.completed_at is not None and final[1].completed_at is not None
    assert end.completed_at > final[1].completed_at  # a second call was made and failed


def test_page_data_is_a_tiff_of_the_stated_size(paused: Client, doc: Path) -> None:
    [job] = paused.send(doc, to="901")
    data, width, height = paused.page_data(job.job_id)
    with Image.open(io.BytesIO(data)) as img:
        assert img.format == "TIFF"
        assert img.size == (width, height)
    assert width == 1728
    assert paused.document(job.job_id)[:2] in (b"II", b"MM")
    paused.cancel(job.job_id)


def test_access_check(client: Client) -> None:
    assert client.access_check("job_submit", "port_set") is True
    from lanfax.model import AccessRight

    assert client.access_check(AccessRight.JOB_QUERY | AccessRight.CONFIG_SET) is True
    with pytest.raises(InvalidInput):
        client.access_check("fly_to_the_moon")


def test_send_errors(client: Client, tmp_path: Path) -> None:
    with pytest.raises(InvalidInput) as err:
        client.send(tmp_path / "missing.pdf", to="1")
    assert err.value.hint
    with pytest.raises(InvalidInput):
        client.send(b"%PDF", to="")
    with pytest.raises(InvalidInput) as unknown:
        client.send(b"x", to="1", colour="red")
    assert "colour" in unknown.value.message


def test_connection_refused_is_unavailable_with_hint(unused_port: int) -> None:
    url = f"http://127.0.0.1:{unused_port}"
    with Client(url) as c, pytest.raises(Unavailable) as err:
        c.health()
    assert "connection refused" in err.value.message
    assert err.value.hint and url in err.value.hint and "LANFAX_SERVER" in err.value.hint
    assert err.value.exit_code == 7


def test_server_url_from_environment(server: LanfaxServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LANFAX_SERVER", server.url)
    monkeypatch.setenv("LANFAX_USER", "envuser")
    with Client() as c:
        assert c.base_url == server.url and c.user == "envuser"
        assert c.health()["status"] == "ok"
    with pytest.raises(InvalidInput):
        Client("ftp://example")
