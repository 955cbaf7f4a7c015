"""``/metrics`` for the intake workers (#19, :mod:`lanfax.api.intake`): ``lanfax_intake_*``."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from lanfax.api.intake_wire import HOPS

if TYPE_CHECKING:
    from lanfax.api.intake import Intake


class IntakeCollector(Collector):
    """``lanfax_intake_*``: the workers running (and configured), what they did, restarts."""

    def __init__(self, intake: Intake) -> None:
        self._intake = intake

    def collect(self) -> Iterable[Metric]:
        intake = self._intake
        running = GaugeMetricFamily(
            "lanfax_intake_workers",
            "Intake worker processes ([server] intake_workers) running, and configured",
            labels=["state"],
        )
        running.add_metric(["running"], len(intake.pids()))
        running.add_metric(["configured"], intake.count)
        yield running
        alone = GaugeMetricFamily(
            "lanfax_intake_main_alone",
            "1 when no intake worker can run and the main process serves every request",
        )
        alone.add_metric([], 1 if intake.alone else 0)
        yield alone
        restarts = CounterMetricFamily(
            "lanfax_intake_worker_restarts", "Intake workers that ended and were replaced"
        )
        restarts.add_metric([], intake.restarts)
        yield restarts
        taken = CounterMetricFamily(
            "lanfax_intake_requests",
            "What the intake workers did: submissions prepared (document written and checked"
            " there), requests relayed as they came, connections handed to the main process",
            labels=["kind"],
        )
        for kind, value in (
            ("prepared", intake.prepared),
            ("relayed", intake.relayed),
            ("handed", intake.handed),
        ):
            taken.add_metric([kind], value)
        yield taken
        lean = CounterMetricFamily(
            "lanfax_intake_lean_submissions",
            "Prepared submissions the main process answered through its lean path (the same"
            " middlewares, route and handlers without the framework's routing; #19)",
        )
        lean.add_metric([], intake.lean)
        yield lean
        hung = CounterMetricFamily(
            "lanfax_intake_worker_hangs",
            "Intake workers killed because they stopped answering ([server] intake_hang_s)",
        )
        hung.add_metric([], intake.hung)
        yield hung
        pongs = CounterMetricFamily(
            "lanfax_intake_heartbeats",
            "Pings of the main process its intake workers answered (every third of"
            " [server] intake_hang_s)",
        )
        pongs.add_metric([], intake.pongs)
        yield pongs
        hops = CounterMetricFamily(
            "lanfax_intake_hop_seconds",
            "Seconds the prepared submissions answered 201 spent in each hop (#19): the worker"
            " reading the body and staging the document, the frame to main, main's route, the"
            " wait for a trip to the pool, the trip (renames, group commit), the answer",
            labels=["hop"],
        )
        for hop, seconds in zip(HOPS, intake.hop_sums, strict=True):
            hops.add_metric([hop], seconds)
        yield hops
        hopped = CounterMetricFamily(
            "lanfax_intake_hopped_submissions",
            "Prepared submissions answered 201 whose hops lanfax_intake_hop_seconds counts",
        )
        hopped.add_metric([], intake.hopped)
        yield hopped
