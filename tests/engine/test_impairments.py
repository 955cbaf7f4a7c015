"""Bad lines: noise, drops, hangs. Every call must still end with phase E on both sides."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lanfax.engine import (
    AudioFaxSession,
    PhaseE,
    SessionOptions,
    T38FaxSession,
    Watchdog,
    add_noise,
    run_loopback,
)
from lanfax.engine.line import noise_rms
from lanfax.model.codes import FailureClass, ProviderStatus

from .conftest import Doc, read_pages


def test_noisy_line_at_high_snr_delivers_identical_pages(
    docs: dict[str, Doc], tmp_path: Path
) -> None:
    doc = docs["std2_g3"]
    rx = tmp_path / "rx.tif"
    with (
        AudioFaxSession(True, tx_file=doc.path) as a,
        AudioFaxSession(False, rx_file=rx) as b,
    ):
        res = run_loopback(a, b, loss_db=10, snr_db=30, codec="alaw", seed=7)
    assert res.sender.ok and res.receiver.ok
    got = read_pages(rx)
    assert len(got) == 2
    assert all(np.array_equal(s, r) for s, r in zip(doc.pages, got, strict=True))


def test_very_noisy_line_fails_cleanly(docs: dict[str, Doc], tmp_path: Path) -> None:
    with (
        AudioFaxSession(True, tx_file=docs["light_g4"].path) as a,
        AudioFaxSession(False, rx_file=tmp_path / "rx.tif") as b,
    ):
        res = run_loopback(a, b, loss_db=10, snr_db=0, max_line_seconds=90, seed=3)
    for r, events in ((res.sender, res.sender_events), (res.receiver, res.receiver_events)):
        assert not r.ok
        assert r.provider_status is not ProviderStatus.COMPLETED
        assert r.failure is not None
        assert isinstance(events[-1], PhaseE)
        assert r.line_seconds <= 90 + 1
    assert res.sender.pages_tx == 0


def test_line_dropped_after_page_one_keeps_page_one(docs: dict[str, Doc], tmp_path: Path) -> None:
    doc = docs["std2_g3"]
    rx = tmp_path / "rx.tif"
    with (
        AudioFaxSession(True, tx_file=doc.path) as a,
        AudioFaxSession(False, rx_file=rx) as b,
    ):
        res = run_loopback(a, b, drop_after_pages=1)
    assert res.dropped_at is not None
    assert res.receiver.pages_rx == 1
    for r in (res.sender, res.receiver):
        assert not r.ok
        assert r.provider_status is ProviderStatus.DISCONNECTED
        assert r.failure is FailureClass.DISCONNECTED
    got = read_pages(rx)
    assert len(got) == 1
    assert np.array_equal(got[0], doc.pages[0])


def test_t38_line_dropped_after_page_one(docs: dict[str, Doc], tmp_path: Path) -> None:
    doc = docs["fine3_g4"]
    rx = tmp_path / "rx.tif"
    with (
        T38FaxSession(True, tx_file=doc.path) as a,
        T38FaxSession(False, rx_file=rx) as b,
    ):
        res = run_loopback(a, b, drop_after_pages=1)
    assert res.receiver.pages_rx == 1
    assert res.receiver.provider_status is ProviderStatus.DISCONNECTED
    assert res.sender.provider_status is ProviderStatus.DISCONNECTED
    got = read_pages(rx)
    assert len(got) == 1 and np.array_equal(got[0], doc.pages[0])


def test_watchdog_ends_a_sender_nobody_answers(docs: dict[str, Doc]) -> None:
    dog = Watchdog(max_line_seconds=8)
    silence = np.zeros(160, np.int16)
    with AudioFaxSession(True, tx_file=docs["light_g4"].path) as a:
        while not a.done:
            a.tx(160)
            a.rx(silence)
            dog.check(a)
            assert a.line_seconds < 60, "watchdog did not fire"
        events = a.events()
        assert a.result is not None
        assert a.result.terminated and not a.result.ok
        assert a.result.provider_status is ProviderStatus.DISCONNECTED
        assert a.line_seconds == pytest.approx(8, abs=0.05)
    assert dog.fired is not None and "8" in dog.fired
    assert isinstance(events[-1], PhaseE) and events[-1].code == a.result.code


def test_idle_watchdog_ends_a_receiver_fed_silence(tmp_path: Path) -> None:
    dog = Watchdog(max_idle_seconds=3)
    with T38FaxSession(False, rx_file=tmp_path / "rx.tif") as b:
        while not b.done:
            b.tick(160)
            dog.check(b)
        assert b.result is not None and b.result.terminated
        assert b.line_seconds == pytest.approx(3, abs=0.05)
    assert dog.fired is not None and "no progress" in dog.fired


def test_without_watchdog_t30_timers_end_an_unanswered_call(docs: dict[str, Doc]) -> None:
    silence = np.zeros(160, np.int16)
    with AudioFaxSession(True, tx_file=docs["light_g4"].path) as a:
        while not a.done and a.line_seconds < 120:
            a.tx(160)
            a.rx(silence)
        assert a.result is not None and not a.result.terminated
        # T1 expired: nobody answered as a fax, a transient failure.
        assert a.result.provider_status is ProviderStatus.NO_ANSWER
        assert a.result.failure is FailureClass.NO_ANSWER


def test_terminate_and_close_are_idempotent(docs: dict[str, Doc]) -> None:
    a = AudioFaxSession(True, SessionOptions(), tx_file=docs["light_g4"].path)
    a.terminate()
    first = a.result
    a.terminate()
    assert a.result is first and first is not None and first.terminated
    a.close()
    a.close()
    assert a.closed
    a.terminate()  # no-op on a closed session


@pytest.mark.parametrize("snr_db", [0.0, 10.0, 30.0])
def test_add_noise_has_the_requested_power(snr_db: float) -> None:
    rng = np.random.default_rng(5)
    silence = np.zeros(80_000, np.int16)
    noisy = add_noise(silence, snr_db, rng)
    measured = float(np.sqrt(np.mean(noisy.astype(np.float64) ** 2)))
    assert measured == pytest.approx(noise_rms(snr_db), rel=0.03)
    assert np.count_nonzero(silence) == 0  # input untouched


def test_add_noise_is_deterministic_for_a_seed() -> None:
    x = np.arange(-500, 500, dtype=np.int16)
    one = add_noise(x, 20, np.random.default_rng(11))
    two = add_noise(x, 20, np.random.default_rng(11))
    assert np.array_equal(one, two) and not np.array_equal(one, x)
