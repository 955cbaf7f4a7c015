"""The IAX2 provider over real UDP on loopback: two providers calling each other (real time),
signalling outcomes against a scripted peer, and configuration errors."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import numpy as np
import pytest
from tests.providers.harness import Harness
from tests.providers.helpers import light_pages, run, save_tiff, tiff_pixels

from lanfax.model.codes import ProviderStatus
from lanfax.providers.api import SendOptions
from lanfax.providers.iax2 import Iax2Provider


@pytest.fixture(scope="module")
def one_page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("iax2docs")
    return save_tiff(d / "one.tif", light_pages(1, height=300), "group4")


class _Collect(logging.Handler):
    """Keeps the messages logged to the logger it is attached to."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def _frame_names(messages: list[str]) -> set[str]:
    """The T.30 frame names spandsp logged as sent or received ("Tx: ... DCS", "Rx: ... MCF")."""
    return {name for name in ("DIS", "DCS", "CFR", "MCF") if any(name in m for m in messages)}


def test_two_providers_fax_each_other_in_real_time(tmp_path: Path, one_page: Path) -> None:
    # The T.30 trace of each end goes to the logger the job named (as the service does at the
    # "max" logging level); both ends see the same frames, one side as Tx, the other as Rx.
    traces = {"tx": _Collect(), "rx": _Collect()}
    for side, handler in traces.items():
        logger = logging.getLogger(f"tests.iax2.trace.{side}")
        logger.setLevel(logging.DEBUG)
        logger.addHandler(handler)

    async def scenario() -> None:
        h = Harness(tmp_path)
        callee = Iax2Provider()
        await h.add(callee, {"peer": "127.0.0.1:9", "number": "200", "ring_interval": 0.2})
        host, port = callee.address
        caller = Iax2Provider()
        await h.add(
            caller,
            {"peer": f"{host}:{port}", "number": "100", "codec": "ulaw", "name": "Front desk"},
        )
        [rx_dev] = callee.virtual_devices()
        [tx_dev] = caller.virtual_devices()
        h.answer_after[rx_dev.local_id] = 2
        h.receive_options[rx_dev.local_id] = SendOptions(
            trace_level=logging.DEBUG, trace_logger="tests.iax2.trace.rx"
        )
        got = h.expect(rx_dev.local_id)
        try:
            options = SendOptions(
                ecm=False, trace_level=logging.DEBUG, trace_logger="tests.iax2.trace.tx"
            )
            result, in_progress = await h.send(
                caller, tx_dev.local_id, one_page, "200", options=options
            )
            received = await asyncio.wait_for(got, 30)
        finally:
            await caller.shutdown()
            await callee.shutdown()
        assert result.ok, result
        assert in_progress == 1
        assert result.pages == 1 and result.bit_rate == 14400 and not result.ecm
        assert result.extra["codec"] == "ulaw"
        assert result.extra["frames_sent"] > 100
        assert "late_frames" in result.extra
        assert received.result.ok and received.result.pages == 1
        assert received.call.caller_id == "100" and received.call.called_number == "200"
        assert [r.ring_count for r in h.rings[rx_dev.local_id]] == [1, 2]
        # The caller's name (CALLING_NAME: the caller's configured name) reaches the service.
        assert {r.caller_name for r in h.rings[rx_dev.local_id]} == {"Front desk"}
        sent, got_px = tiff_pixels(one_page)[0], tiff_pixels(received.file)[0]
        assert sent.shape == got_px.shape
        assert np.count_nonzero(sent != got_px) == 0
        statuses = [s.status_id for s in h.statuses[tx_dev.local_id]]
        assert statuses[0] == ProviderStatus.DIALING and statuses[-1] == ProviderStatus.COMPLETED

    try:
        run(scenario(), timeout=90)
    finally:
        for side, handler in traces.items():
            logging.getLogger(f"tests.iax2.trace.{side}").removeHandler(handler)
    for side, handler in traces.items():
        assert _frame_names(handler.messages) == {"DIS", "DCS", "CFR", "MCF"}, (
            side,
            handler.messages[:20],
        )


def test_a_send_starts_at_its_first_page(tmp_path: Path) -> None:
    """SendOptions.first_page (a retry after the far end confirmed pages 1-2): only page 3
    goes over the line, and the progress counts in the document's numbering (issue #14)."""
    doc = save_tiff(tmp_path / "three.tif", light_pages(3, height=300), "group4")

    async def scenario() -> None:
        h = Harness(tmp_path)
        callee = Iax2Provider()
        await h.add(callee, {"peer": "127.0.0.1:9", "number": "200", "ring_interval": 0.2})
        host, port = callee.address
        caller = Iax2Provider()
        await h.add(caller, {"peer": f"{host}:{port}", "number": "100"})
        [rx_dev] = callee.virtual_devices()
        [tx_dev] = caller.virtual_devices()
        h.answer_after[rx_dev.local_id] = 1
        got = h.expect(rx_dev.local_id)
        try:
            result, _ = await h.send(
                caller, tx_dev.local_id, doc, "200", options=SendOptions(first_page=3)
            )
            received = await asyncio.wait_for(got, 30)
        finally:
            await caller.shutdown()
            await callee.shutdown()
        assert result.ok and result.pages == 1, result
        assert received.result.pages == 1
        (page,) = tiff_pixels(received.file)
        assert np.array_equal(page, tiff_pixels(doc)[2])
        done = [s.pages_done for s in h.statuses[tx_dev.local_id] if s.pages_done]
        assert done and done[-1] == 3 and min(done) >= 2, done

    run(scenario(), timeout=90)
