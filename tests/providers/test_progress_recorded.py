"""A simulated call waits for the service to record each page the far end confirmed before it
goes on (``ServiceCallbacks.progress_recorded``): the virtual lines run a call in milliseconds,
and without the wait a service killed just after the far end stored the whole fax could find
none of its pages recorded and send it all again (the chaos campaign saw it: a fax received
twice)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path

from tests.providers.harness import Harness
from tests.providers.helpers import network_name, run

from lanfax.model.codes import ProviderStatus
from lanfax.providers.virtual import VirtualProvider

S = ProviderStatus


@dataclass
class SlowRecords(Harness):
    """A service whose page records take 0.2 s each (a slow disk): it notes what the lines
    reported while each record was being made."""

    #: (caller's confirmed pages, callee's statuses so far) at the start and end of each wait.
    waits: list[tuple[tuple[int, int], tuple[int, int]]] = field(default_factory=list)
    caller: str = ""
    callee: str = ""

    def _seen(self) -> tuple[int, int]:
        sent = [s.pages_done for s in self.statuses[self.caller]]
        return (max(sent, default=0), len(self.statuses[self.callee]))

    async def progress_recorded(self, local_id: str) -> None:
        await super().progress_recorded(local_id)
        assert local_id == self.caller  # only the sending side asks
        before = self._seen()
        await asyncio.sleep(0.2)
        self.waits.append((before, self._seen()))


def test_each_confirmed_page_is_recorded_before_the_call_goes_on(
    tmp_path: Path, docs: dict[str, Path]
) -> None:
    async def scenario() -> None:
        h = SlowRecords(tmp_path)
        net = network_name()
        prov = VirtualProvider()
        lines = [{"number": n} for n in ("100", "101")]
        await h.add(prov, {"network": net, "lines": lines, "timing": "fast"})
        h.caller, h.callee = f"{net}:100", f"{net}:101"
        h.answer_after[h.callee] = 1
        got = h.expect(h.callee)
        result, _ = await h.send(prov, h.caller, docs["dense"], "101")
        rx = await got
        await prov.shutdown()

        assert result.ok and result.pages == 4 and rx.result.pages == 4
        # One wait per confirmed page, in order, each after the page was reported ...
        assert [w[0][0] for w in h.waits] == [1, 2, 3, 4]
        assert h.progress_waits[h.caller] == 4
        # ... and nothing happened on the line while the record was being made: no further
        # page confirmed, nothing new from the far end (which ends only after the last).
        for before, after in h.waits:
            assert before == after, h.waits
        callee_done = [i for i, s in enumerate(h.statuses[h.callee]) if s.status_id == S.COMPLETED]
        assert callee_done and callee_done[0] >= h.waits[-1][1][1]

    run(scenario())
