"""The live stream: every event has an id; a client that reconnects with Last-Event-ID gets what it missed,
with no gap and no repeat (within the retained window)."""
from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from edge_app.client import sse_events
from tests.e2e.harness import Daemon, Proc, Simulator, write_config


async def collect(sock: Path, n: int, last_event_id: int | None = None) -> list[tuple[int, str]]:
    got: list[tuple[int, str]] = []
    async with httpx.AsyncClient(transport=httpx.AsyncHTTPTransport(uds=str(sock)), base_url="http://x") as c:
        async for kind, _data, eid in sse_events(c, last_event_id=last_event_id):
            if eid is None:
                continue  # the opening snapshot of each device carries no id: it is state, not history
            got.append((eid, kind))
            if len(got) >= n:
                break
    return got


def test_reconnect_with_last_event_id_has_no_gap_and_no_repeat(root: Path, procs: list[Proc]) -> None:
    link = root / "tty0"
    procs.append(Simulator("masimo-ascii", link, root / "sim.log", rate=20))
    d = Daemon(write_config(root, [("ox", "masimo-ascii", link)]), root)
    procs.append(d)
    d.wait_ready()
    first = asyncio.run(asyncio.wait_for(collect(d.socket, 30), 20))
    ids = [i for i, _ in first]
    assert ids == list(range(ids[0], ids[0] + len(ids))), "ids are consecutive"
    assert {"reading"} <= {k for _, k in first}
    asyncio.run(asyncio.sleep(1.0))  # away for a second: about 60 readings happen meanwhile
    second = asyncio.run(asyncio.wait_for(collect(d.socket, 100, last_event_id=ids[-1]), 20))
    again = [i for i, _ in second]
    assert again[0] == ids[-1] + 1, "the first event after the last one seen: no gap"
    assert again == list(range(again[0], again[0] + len(again))), "then no gap and no repeat"
