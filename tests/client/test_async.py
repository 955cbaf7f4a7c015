"""The AsyncClient against a real server: the same methods, models and errors."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

import pytest
from PIL import Image
from tests.support.server import LanfaxServer

from lanfax import __version__
from lanfax.client import AsyncClient, Conflict, NotFound, Unavailable
from lanfax.model import EventId, JobParams, QueueStatus
from lanfax.model.errors import ConfigError

from .conftest import acting_user


def test_async_client_end_to_end(server: LanfaxServer, doc: Path) -> None:
    async def run() -> None:
        async with AsyncClient(server.url, user="async-user", timeout=10) as c:
            assert (await c.health())["version"] == __version__
            assert (await c.server_info()).devices == 2
            cfg = await c.set_config(pause_server_queue=True, Retries=4)
            assert cfg.pause_server_queue and cfg.retries == 4
            assert await c.get_config() == cfg
            with pytest.raises(ConfigError):
                await c.set_config(bogus=1)
            cats = await c.set_logging(outbound="med")
            assert cats == await c.get_logging()
            ports = await c.ports()
            assert await c.port(ports[0].device_id) == ports[0]
            assert (await c.device_status(ports[0].device_id)).device_id == ports[0].device_id
            async with await c.open_port(ports[0].device_id, "modify") as h:
                with pytest.raises(Conflict):
                    await c.open_port(ports[0].device_id, "modify")
                info = await c.set_port(h, priority=5)
                assert info.priority == 5
            assert await c.access_check("job_manage")

            seen: list[int] = []
            result = await c.broadcast(
                doc,
                [JobParams("401"), JobParams("402"), JobParams("403")],
                on_recipient=lambda n, p: seen.append(n) or n < 2,
            )
            assert seen == [1, 2] and [j.recipient_number for j in result.jobs] == ["401"]
            [job] = result.jobs
            assert job.user_name == acting_user(server.url, "async-user")
            assert (await c.job(job.job_id)).queue_status == QueueStatus.PENDING
            page = await c.jobs(broadcast=result.broadcast_id)
            assert [j.job_id for j in page.jobs] == [job.job_id]
            walked = [j.job_id async for j in c.iter_jobs(broadcast=result.broadcast_id)]
            assert walked == [job.job_id]
            assert (await c.pause(job.job_id)).queue_status == QueueStatus.PAUSED
            assert (await c.resume(job.job_id)).queue_status == QueueStatus.PENDING
            data, w, h_ = await c.page_data(job.job_id)
            with Image.open(io.BytesIO(data)) as img:
                assert img.size == (w, h_)

            events = c.events(after=0)
            async for ev in events:
                if ev.job_id == job.job_id and ev.event_id == EventId.JOB_QUEUED:
                    break
            await events.aclose()  # type: ignore[attr-defined]

            await c.cancel(job.job_id)
            [final] = await c.wait([job.job_id], timeout=30)
            assert final.queue_status == QueueStatus.CANCELED
            await c.delete(job.job_id)
            with pytest.raises(NotFound):
                await c.job(job.job_id)

            await c.set_config(pause_server_queue=False, retries=3)
            ok, bad = await c.send(doc, to=["5550001", "9003"])
            finals = await c.wait([ok.job_id, bad.job_id], timeout=60)
            assert finals[0].queue_status == QueueStatus.COMPLETED
            assert finals[1].queue_status in (QueueStatus.FAILED, QueueStatus.RETRIES_EXCEEDED)

    asyncio.run(run())


def test_async_connection_refused(unused_port: int) -> None:
    async def run() -> None:
        async with AsyncClient(f"http://127.0.0.1:{unused_port}") as c:
            with pytest.raises(Unavailable) as err:
                await c.health()
            assert err.value.hint and "LANFAX_SERVER" in err.value.hint

    asyncio.run(run())
