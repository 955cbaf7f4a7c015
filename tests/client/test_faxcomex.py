"""``lanfax.faxcomex`` against a real server whose default virtual lines (100 and 101) carry
the fax: a script written as one would in VBScript sends a fax, follows it through the
server events and lists the outgoing archive (issue #13)."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest
from tests.support.faxes import make_fax_tiff
from tests.support.server import LanfaxServer

from lanfax import faxcomex
from lanfax.client import Client
from lanfax.faxcomex import (
    FaxDocument,
    FaxServer,
    fjsCOMPLETED,
    fptHIGH,
    frtNONE,
    fsetOUT_QUEUE,
    fstNOW,
)
from lanfax.routing.builtin import USER_GUID


def test_a_vbscript_style_script_sends_and_lists_the_outgoing_archive(
    lanfax_server: LanfaxServer, tmp_path: Path
) -> None:
    body = make_fax_tiff(tmp_path / "doc", pages=2)
    changes: list[tuple[str, int]] = []
    done = threading.Event()

    # Set objFaxServer = CreateObject("FaxComEx.FaxServer") : objFaxServer.Connect ""
    server = FaxServer()
    server.Connect(lanfax_server.url)
    archive = server.Folders.OutgoingArchive
    archive.UseArchive = True
    archive.Save()

    def on_changed(srv: FaxServer, job_id: str, status: Any) -> None:
        changes.append((job_id, int(status.Status)))
        if status.Status & fjsCOMPLETED:
            done.set()

    server.OnOutgoingJobChanged = on_changed
    server.ListenToServerEvents(fsetOUT_QUEUE)
    # What line 101 receives goes to our own account (the routing method "Route to a user").
    me = server.CurrentAccount.AccountName
    with Client(lanfax_server.url) as admin:
        line_101_id = next(p.device_id for p in admin.ports() if p.number == "101")
        admin.set_routing_info(line_101_id, USER_GUID, {"user": me})
        admin.enable_routing_method(line_101_id, USER_GUID, True)
    assert USER_GUID in server.GetDevices().ItemById(line_101_id).UsedRoutingMethods

    doc = FaxDocument()
    doc.Body = str(body)
    doc.DocumentName = "My First Fax"
    doc.Priority = fptHIGH
    doc.ScheduleType = fstNOW
    doc.ReceiptType = frtNONE
    doc.Recipients.Add("101", "Bud")
    doc.Sender.Name = "Tess Ting"
    doc.Sender.Company = "Acme"
    assert doc.Recipients.Count == 1 and doc.Recipients(1).Name == "Bud"
    job_ids = doc.ConnectedSubmit(server)
    assert len(job_ids) == 1 and isinstance(job_ids[0], str)

    job = server.Folders.OutgoingQueue.GetJob(job_ids[0])
    assert job.Recipient.FaxNumber == "101" and job.Sender.Name == "Tess Ting"
    assert job.Priority == fptHIGH and job.DocumentName == "My First Fax"
    assert done.wait(180), changes
    job.Refresh()
    assert job.Status == fjsCOMPLETED and job.CurrentPage == 2
    assert job.TransmissionEnd is not None and job.CSID.strip() != ""
    assert any(j == job_ids[0] for j, _ in changes)
    server.ListenToServerEvents(0)

    # The outgoing archive, as a VBScript loop over the iterator would read it.
    deadline = time.monotonic() + 60
    found: list[Any] = []
    while not found:
        it = server.Folders.OutgoingArchive.GetMessages(10)
        it.MoveFirst()
        while not it.AtEOF:
            if it.Message.Recipient.FaxNumber == "101":
                found.append(it.Message)
            it.MoveNext()
        if not found:
            assert time.monotonic() < deadline, "the sent fax never reached the archive"
            time.sleep(0.2)  # the archiver files it just after the job completes
    (msg,) = found
    assert msg.Pages == 2 and msg.DocumentName == "My First Fax"
    assert msg.Recipient.Name == "Bud" and msg.Sender.Name == "Tess Ting"
    assert msg.SubmissionId == job_ids[0]
    copy = tmp_path / "copy.tif"
    msg.CopyTiff(str(copy))
    assert copy.read_bytes()[:4] in (b"II*\x00", b"MM\x00*")
    assert server.Folders.OutgoingArchive.GetMessage(msg.Id).Pages == 2
    assert server.CurrentAccount.Folders.OutgoingArchive.GetMessage(msg.Id).Pages == 2

    # ... and the fax line 101 received is in our personal inbox (FaxAccount folders).
    inbox: list[Any] = []
    while not inbox:
        it = server.CurrentAccount.Folders.IncomingArchive.GetMessages(5)
        while not it.AtEOF:
            inbox.append(it.Message)
            it.MoveNext()
        if not inbox:
            assert time.monotonic() < deadline + 60, "the received fax never reached the inbox"
            time.sleep(0.2)  # routing and archiving follow the call
    (received,) = inbox
    assert received.Pages == 2 and received.TSID.strip() != ""
    assert server.CurrentAccount.Folders.IncomingQueue.GetJobs().Count == 0
    server.Disconnect()


def test_members_lanfax_cannot_do_raise_the_windows_error(lanfax_server: LanfaxServer) -> None:
    server = FaxServer()
    server.Connect(lanfax_server.url)
    with pytest.raises(faxcomex.Unavailable) as err:
        server.CurrentAccount.ListenToAccountEvents(faxcomex.fsetOUT_QUEUE)
    assert err.value.winerror == 50 and err.value.hresult == 0x80070032  # type: ignore[attr-defined]
    account = server.CurrentAccount
    assert account.AccountName in [a.AccountName for a in server.FaxAccountSet.GetAccounts()]
    assert account.Folders.OutgoingQueue.GetJobs().Count == 0
    assert account.Folders.IncomingQueue.GetJobs().Count == 0
    # Outgoing routing: groups and rules.
    routing = server.OutboundRouting
    groups = routing.GetGroups()
    assert groups.Item(1).Name == "All devices" and groups.Item(1).DeviceIds.Count == 2
    front = groups.Add("Front desk")
    first = server.GetDevices().Item(1).Id
    front.DeviceIds.Add(first)
    assert [d for d in routing.GetGroups().Item("front desk").DeviceIds] == [first]
    rules = routing.GetRules()
    rule = rules.Add(49, 30, False, "Front desk")
    assert (rule.CountryCode, rule.AreaCode, rule.GroupName) == (49, 30, "Front desk")
    assert rule.Status == faxcomex.frsVALID
    rule.UseDevice, rule.DeviceId = True, first
    rule.Save()
    again = routing.GetRules().ItemByCountryAndArea(49, 30)
    assert again.UseDevice and again.DeviceId == first
    default = routing.GetRules().ItemByCountryAndArea(0, 0)
    with pytest.raises(faxcomex.FaxError) as refused:
        routing.GetRules().RemoveByCountryAndArea(0, 0)
    assert refused.value.winerror == 4317  # type: ignore[attr-defined]  # the default rule stays
    assert default.Default
    routing.GetRules().RemoveByCountryAndArea(49, 30)
    routing.GetGroups().Remove("Front desk")
    assert [g.Name for g in routing.GetGroups()] == ["All devices"]
    with pytest.raises(faxcomex.Unavailable):
        server.Security.Descriptor  # noqa: B018
    assert server.Security.GrantedRights & faxcomex.farMANAGE_CONFIG
    doc = FaxDocument()
    doc.Recipients.Add("101")
    doc.Body = "/nonexistent/file.pdf"
    with pytest.raises(faxcomex.InvalidInput) as bad:
        doc.ConnectedSubmit(server)
    assert bad.value.winerror == 87  # type: ignore[attr-defined]  # ERROR_INVALID_PARAMETER
    with pytest.raises(faxcomex.InvalidInput):
        doc.Recipients.Item(2)
    # Devices and their configuration round-trip.
    devices = server.GetDevices()
    assert devices.Count == 2
    dev = devices.Item(1)
    assert server.GetDevices().ItemById(dev.Id).DeviceName == dev.DeviceName
    dev.RingsBeforeAnswer = 4
    dev.Save()
    dev.Refresh()
    assert dev.RingsBeforeAnswer == 4
    dev.SetExtensionProperty("{11111111-2222-3333-4444-555555555555}", {"level": 2})
    assert dev.GetExtensionProperty("{11111111-2222-3333-4444-555555555555}") == {"level": 2}
    # The queue's settings.
    queue = server.Folders.OutgoingQueue
    queue.Retries = 5
    queue.Save()
    queue.Refresh()
    assert queue.Retries == 5
    methods = server.InboundRouting.GetMethods()
    assert methods.Count >= 1 and methods.Item(1).Priority == 1
    providers = server.GetDeviceProviders()
    assert "virtual" in [p.UniqueName for p in providers]
    logging = server.LoggingOptions.EventLogging
    logging.OutboundEventsLevel = faxcomex.fllMAX
    logging.Save()
    assert server.LoggingOptions.EventLogging.OutboundEventsLevel == faxcomex.fllMAX
    server.Disconnect()
    with pytest.raises(faxcomex.Unavailable):
        server.Folders  # noqa: B018 - not connected


def test_incoming_events_reach_a_connected_sink(
    lanfax_server: LanfaxServer, tmp_path: Path
) -> None:
    """WScript.ConnectObject-style: an object's On* methods get the incoming queue's events
    of a fax received on line 101, and nothing of event types not asked for."""

    class Sink:
        def __init__(self) -> None:
            self.calls: list[tuple[str, str]] = []
            self.done = threading.Event()

        def OnIncomingJobAdded(self, server: FaxServer, job_id: str) -> None:
            self.calls.append(("added", job_id))

        def OnIncomingJobChanged(self, server: FaxServer, job_id: str, status: Any) -> None:
            self.calls.append(("changed", job_id))
            if status.Status & (fjsCOMPLETED | faxcomex.fjsROUTING):
                self.done.set()

        def OnOutgoingJobChanged(self, server: FaxServer, job_id: str, status: Any) -> None:
            self.calls.append(("outgoing", job_id))  # not asked for: must not come

    sink = Sink()
    server = FaxServer()
    server.Connect(lanfax_server.url)
    server.ConnectObject(sink)
    server.ListenToServerEvents(faxcomex.fsetIN_QUEUE)
    assert server.RegisteredEvents == faxcomex.fsetIN_QUEUE
    doc = FaxDocument()
    doc.Body = str(make_fax_tiff(tmp_path / "doc", pages=1))
    doc.Recipients.Add("101")
    (job_id,) = doc.ConnectedSubmit(server)
    assert sink.done.wait(180), sink.calls
    server.Disconnect()
    assert sink.calls and all(kind in ("added", "changed") for kind, _ in sink.calls), sink.calls
    assert job_id not in {j for _, j in sink.calls}  # the send job is not an incoming job


def test_the_outgoing_queue_settings_round_trip(lanfax_server: LanfaxServer) -> None:
    """Every FaxOutgoingQueue setting reads the server's value, and Save writes what was set
    (each a read-write property under the COM error convention)."""
    from datetime import datetime

    server = FaxServer()
    server.Connect(lanfax_server.url)
    queue = server.Folders.OutgoingQueue
    with Client(lanfax_server.url) as admin:
        before = admin.get_config()
        try:
            assert queue.Retries == before.retries and queue.RetryDelay == before.retry_delay
            assert queue.AllowPersonalCoverPages is (not before.server_cp)
            queue.Paused = True
            queue.RetryDelay = 7
            queue.AgeLimit = 3
            queue.Branding = not before.branding
            queue.UseDeviceTSID = not before.use_device_tsid
            queue.AllowPersonalCoverPages = before.server_cp  # the opposite of now
            queue.DiscountRateStart = datetime(1899, 12, 30, 21, 30)
            queue.DiscountRateEnd = datetime(1899, 12, 30, 6, 5)
            assert admin.get_config() == before  # nothing is written before Save
            queue.Save()
            after = admin.get_config()
            assert after.pause_server_queue and after.retry_delay == 7 and after.dirty_days == 3
            assert after.branding is (not before.branding)
            assert after.use_device_tsid is (not before.use_device_tsid)
            assert after.server_cp is (not before.server_cp)
            assert after.cheap_start == (21, 30) and after.cheap_stop == (6, 5)
            queue.Refresh()
            assert queue.DiscountRateStart == datetime(1899, 12, 30, 21, 30)
            assert queue.DiscountRateEnd.hour == 6 and queue.DiscountRateEnd.minute == 5
            assert queue.Paused is True and queue.AgeLimit == 3
            # The queues' jobs (paused: the job stays in the outgoing queue).
            body = make_fax_tiff(lanfax_server.tmp_path / "queue-doc")
            [job] = admin.send(body, to="101")
            out, inc = server.Folders.OutgoingQueue, server.Folders.IncomingQueue
            assert str(job.job_id) in [j.Id for j in out.GetJobs()]
            assert out.GetJob(str(job.job_id)).Recipient.FaxNumber == "101"
            assert str(job.job_id) not in [j.Id for j in inc.GetJobs()]
            with pytest.raises(faxcomex.InvalidInput, match="is not an incoming job"):
                inc.GetJob(str(job.job_id))
            for q, name in ((out, "FaxOutgoingQueue"), (inc, "FaxIncomingQueue")):
                assert q.Blocked is False
                with pytest.raises(faxcomex.Unavailable, match=f"{name}.Blocked"):
                    q.Blocked = True
            admin.cancel(job.job_id)
        finally:
            admin.set_config(
                pause_server_queue=before.pause_server_queue,
                retry_delay=before.retry_delay,
                dirty_days=before.dirty_days,
                branding=before.branding,
                use_device_tsid=before.use_device_tsid,
                server_cp=before.server_cp,
                start_cheap_time=f"{before.cheap_start[0]:02d}:{before.cheap_start[1]:02d}",
                stop_cheap_time=f"{before.cheap_stop[0]:02d}:{before.cheap_stop[1]:02d}",
            )
    fresh = server.Folders.OutgoingQueue  # reads the settings when first asked
    server.Disconnect()
    with pytest.raises(faxcomex.Unavailable) as info:
        fresh.Retries  # noqa: B018 - a property, under the COM error convention
    assert getattr(info.value, "winerror", None) is not None
