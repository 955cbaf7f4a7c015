"""lanfax.winfax: the Windows names and semantics, against a real server."""

from __future__ import annotations

import io
import json
import queue
from pathlib import Path

import pytest
from PIL import Image
from tests.support.server import LanfaxServer

from lanfax import winfax as w
from lanfax.model import Conflict, InvalidInput, NotFound
from lanfax.model.codes import DeviceStatus, EventId, QueueStatus


@pytest.fixture
def h(server: LanfaxServer) -> w.FaxServerHandle:
    handle = w.FaxConnectFaxServer(server.url)
    cfg = w.FaxGetConfiguration(handle)
    cfg.PauseServerQueue = True
    w.FaxSetConfiguration(handle, cfg)
    yield handle
    if not handle.closed:
        cfg.PauseServerQueue = False
        w.FaxSetConfiguration(handle, cfg)
        w.FaxClose(handle)


def test_configuration_round_trip_with_windows_fields(h: w.FaxServerHandle) -> None:
    cfg = w.FaxGetConfiguration(h)
    cfg.Retries, cfg.RetryDelay, cfg.StartCheapTime = 6, 4, w.FAX_TIME(21, 15)
    assert w.FaxSetConfiguration(h, cfg) is True
    again = w.FaxGetConfiguration(h)
    assert (again.Retries, again.RetryDelay) == (6, 4)
    assert (again.StartCheapTime.Hour, again.StartCheapTime.Minute) == (21, 15)
    assert w.GetLastError() == 0
    cfg.Retries = -1
    with pytest.raises(InvalidInput):
        w.FaxSetConfiguration(h, cfg)
    assert w.GetLastError() == w.ERROR_INVALID_PARAMETER == 87


def test_logging_categories(h: w.FaxServerHandle) -> None:
    cats = w.FaxGetLoggingCategories(h)
    assert {c.Category for c in cats} == {1, 2, 3, 4}
    cats[1].Level = w.FAXLOG_LEVEL_MAX
    w.FaxSetLoggingCategories(h, cats)
    assert w.FaxGetLoggingCategories(h)[1].Level == 3


def test_close_invalidates_server_and_port_handles(server: LanfaxServer) -> None:
    h = w.FaxConnectFaxServer(server.url)
    dev = w.FaxEnumPorts(h)[0].DeviceId
    port = w.FaxOpenPort(h, dev, w.PORT_OPEN_MODIFY)
    assert w.FaxClose(h)
    with pytest.raises(InvalidInput) as err:
        w.FaxEnumPorts(h)
    assert err.value.winerror == w.ERROR_INVALID_HANDLE == w.GetLastError() == 6  # type: ignore[attr-defined]
    with pytest.raises(InvalidInput):
        w.FaxGetPort(port)
    h2 = w.FaxConnectFaxServer(server.url)  # FaxClose released the modify handle
    w.FaxClose(w.FaxOpenPort(h2, dev, w.PORT_OPEN_MODIFY))
    with pytest.raises(InvalidInput):
        w.FaxClose(h)  # twice
    w.FaxClose(h2)


def test_ports_open_modify_twice_get_set_status(h: w.FaxServerHandle) -> None:
    ports = w.FaxEnumPorts(h)
    assert [p.DeviceName for p in ports] and all(isinstance(p.Flags, int) for p in ports)
    dev = ports[1].DeviceId
    mod = w.FaxOpenPort(h, dev, w.PORT_OPEN_MODIFY)
    with pytest.raises(Conflict):
        w.FaxOpenPort(h, dev, w.PORT_OPEN_MODIFY)
    assert w.GetLastError() == w.ERROR_INVALID_HANDLE
    info = w.FaxGetPort(mod)
    info.Rings, info.Csid = info.Rings + 1, "LANFAX TEST"
    w.FaxSetPort(mod, info)
    q = w.FaxOpenPort(h, dev, w.PORT_OPEN_QUERY)
    got = w.FaxGetPort(q)
    assert (got.Rings, got.Csid) == (info.Rings, "LANFAX TEST")
    with pytest.raises(w.AccessDenied):  # type: ignore[attr-defined]
        w.FaxSetPort(q, got)
    assert w.GetLastError() == w.ERROR_ACCESS_DENIED
    status = w.FaxGetDeviceStatus(q)
    assert status.DeviceId == dev and status.Status in {int(s) for s in DeviceStatus}
    w.FaxClose(q)
    w.FaxClose(mod)


def test_send_get_set_job_and_abort(h: w.FaxServerHandle, doc: Path) -> None:
    jp, cp = w.FaxCompleteJobParams()
    assert jp.SenderName and cp.SdrName == jp.SenderName
    jp.RecipientNumber, jp.RecipientName = "1001", "Ann"
    job_id = w.FaxSendDocument(h, str(doc), jp, cp)
    entry = w.FaxGetJob(h, job_id)
    assert (entry.RecipientNumber, entry.RecipientName) == ("1001", "Ann")
    assert entry.QueueStatus == w.JS_PENDING and entry.JobType == w.JT_SEND
    assert job_id in {e.JobId for e in w.FaxEnumJobs(h)}
    w.FaxSetJob(h, job_id, w.JC_PAUSE)
    assert w.FaxGetJob(h, job_id).QueueStatus == w.JS_PAUSED
    w.FaxSetJob(h, job_id, w.JC_RESUME)
    assert w.FaxGetJob(h, job_id).QueueStatus == w.JS_PENDING
    data, width, height = w.FaxGetPageData(h, job_id)
    with Image.open(io.BytesIO(data)) as img:
        assert img.size == (width, height)
    w.FaxAbort(h, job_id)
    assert w.FaxGetJob(h, job_id).QueueStatus in (QueueStatus.CANCELED, QueueStatus.CANCELING)
    h.client.wait([job_id], timeout=30)
    w.FaxSetJob(h, job_id, w.JC_DELETE)  # finished: removed
    with pytest.raises(NotFound):
        w.FaxGetJob(h, job_id)
    assert w.GetLastError() == w.ERROR_NOT_FOUND
    with pytest.raises(InvalidInput):
        w.FaxSetJob(h, job_id, 99)
    with pytest.raises(InvalidInput):
        w.FaxSendDocument(h, str(doc), w.FAX_JOB_PARAM())  # no number


def test_broadcast_callback_stops_at_false(h: w.FaxServerHandle, doc: Path) -> None:
    calls: list[int] = []

    def recipient(
        handle: object, number: int, ctx: object, jp: w.FAX_JOB_PARAM, cp: w.FAX_COVERPAGE_INFO
    ) -> bool:
        calls.append(number)
        assert handle is h and ctx == "ctx"
        if number > 3:
            return False
        jp.RecipientNumber = f"2{number:03d}"
        return True

    first = w.FaxSendDocumentForBroadcast(h, str(doc), recipient, "ctx")
    assert calls == [1, 2, 3, 4]
    job = h.client.job(first)
    mates = h.client.jobs(broadcast=job.broadcast_id).jobs
    assert [j.recipient_number for j in mates] == ["2001", "2002", "2003"]
    for j in mates:
        w.FaxAbort(h, j.job_id)


def test_event_queue_delivers_fax_events(h: w.FaxServerHandle, doc: Path) -> None:
    q: queue.Queue[tuple[object, w.FAX_EVENT]] = queue.Queue()
    w.FaxInitializeEventQueue(h, q, "key")
    jp = w.FAX_JOB_PARAM(RecipientNumber="3001")
    job_id = w.FaxSendDocument(h, str(doc), jp)
    while True:
        key, ev = q.get(timeout=30)
        assert key == "key" and ev.EventId < 0x100
        if ev.JobId == job_id and ev.EventId == EventId.JOB_QUEUED:
            break
    with pytest.raises(InvalidInput):
        w.FaxInitializeEventQueue(h, q, 0, hWnd=1234)
    w.FaxAbort(h, job_id)


def test_access_check_free_buffer_print_job(
    h: w.FaxServerHandle, doc: Path, tmp_path: Path
) -> None:
    assert w.FaxAccessCheck(h, w.FAX_JOB_SUBMIT | w.FAX_PORT_SET) is True
    with pytest.raises(InvalidInput):
        w.FaxAccessCheck(h, 0x10000)
    w.FaxFreeBuffer(b"x")
    with pytest.raises(InvalidInput):
        w.FaxFreeBuffer(None)
    out = tmp_path / "printed.tif"
    ctx = w.FaxStartPrintJob(h.client.base_url, w.FAX_PRINT_INFO(OutputFileName=str(out)))
    ctx.hDC.add_file(doc)
    assert ctx.hDC.EndDoc() == 0 and out.read_bytes() == doc.read_bytes()
    ctx = w.FaxStartPrintJob(
        h.client.base_url, w.FAX_PRINT_INFO(RecipientNumber="4001", DocName="printed")
    )
    ctx.hDC.add_file(doc)
    job_id = ctx.hDC.EndDoc()
    assert h.client.job(job_id).document_name == "printed"
    w.FaxAbort(h, job_id)


def test_routing_calls(h: w.FaxServerHandle) -> None:
    methods = w.FaxEnumGlobalRoutingInfo(h)
    assert methods and [m.Priority for m in methods] == sorted(m.Priority for m in methods)
    last = methods[-1]
    last.Priority = 1
    w.FaxSetGlobalRoutingInfo(h, last)
    assert w.FaxEnumGlobalRoutingInfo(h)[0].Guid == last.Guid
    dev = w.FaxEnumPorts(h)[0].DeviceId
    q = w.FaxOpenPort(h, dev, w.PORT_OPEN_QUERY)
    per_device = w.FaxEnumRoutingMethods(q)
    assert {m.Guid for m in per_device} == {m.Guid for m in methods}
    info = json.loads(w.FaxGetRoutingInfo(q, per_device[0].Guid))
    assert isinstance(info, dict)
    with pytest.raises(w.AccessDenied):  # type: ignore[attr-defined]
        w.FaxEnableRoutingMethod(q, per_device[0].Guid, False)
    w.FaxClose(q)


def test_register_calls_are_honest(
    h: w.FaxServerHandle, server: LanfaxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The server registers only code installed on it (issue #13): a module it cannot import
    is refused, naming it (ERROR_INVALID_PARAMETER). Working registrations: tests/api/
    test_extensions.py."""
    monkeypatch.setenv("LANFAX_SERVER", server.url)
    with pytest.raises(w.InvalidInput) as err:  # type: ignore[attr-defined]
        w.FaxRegisterServiceProvider("mine", "My provider", "mypkg.fax:Provider")
    assert "mypkg" in err.value.message
    assert w.GetLastError() == w.ERROR_INVALID_PARAMETER
    methods = iter([("m1", "Method one", "route_one", "{00000000-0000-0000-0000-000000000001}")])
    with pytest.raises(w.InvalidInput):  # type: ignore[attr-defined]
        w.FaxRegisterRoutingExtension(
            h, "ext", "Ext", "mypkg.route", lambda _h, _c: next(methods, None)
        )
    assert w.GetLastError() == w.ERROR_INVALID_PARAMETER


def test_faxserver_properties_round_trip(server: LanfaxServer, doc: Path) -> None:
    fs = w.FaxServer()
    fs.Connect(server.url)
    fs.Retries = 7
    fs.DiscountRateStartHour = 22
    fs.DiscountRateEndMinute = 30
    fs.Branding = False
    fs.ArchiveDirectory = "/tmp/archive"
    fs.PauseServerQueue = True
    assert (fs.Retries, fs.DiscountRateStartHour, fs.DiscountRateEndMinute) == (7, 22, 30)
    assert fs.Branding is False and fs.ArchiveDirectory == "/tmp/archive"
    assert h_config_matches(server, retries=7, start_cheap_time="22:00", branding=False)
    d = fs.CreateDocument(str(doc))
    d.FaxNumber, d.RecipientName = "5001", "Zed"
    job_id = d.Send()
    jobs = {j.JobId: j for j in fs.GetJobs()}
    assert jobs[job_id].RecipientName == "Zed"
    jobs[job_id].SetStatus(w.JC_DELETE)
    assert jobs[job_id].QueueStatus in ("canceled", "canceling")
    port = fs.GetPorts()[0]
    port.Rings = 5
    assert port.Rings == 5 and isinstance(port.Send, bool)
    fs.PauseServerQueue = False
    fs.Branding = True
    fs.Disconnect()
    with pytest.raises(InvalidInput):
        _ = fs.Retries


def h_config_matches(server: LanfaxServer, **expected: object) -> bool:
    from lanfax.client import Client

    with Client(server.url) as c:
        cfg = c.get_config()
    return all(getattr(cfg, k) == v for k, v in expected.items())
