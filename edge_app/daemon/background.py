"""The daemon's timed work: the watchdog ping, the device tick (live state, retries, STATUS=), the vitals
tick (vitals and NEWS2 on the stream, the record's chart interval), and retention (with the tablet
certificate's renewal)."""
from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from edge_app.clock import now_ms
from edge_app.daemon.devices import DeviceSupervisor
from edge_app.daemon.notify import sd_notify, watchdog_interval
from edge_app.services.container import Services
from edge_app.store.encounters import purge_expired

_LOGGER = logging.getLogger(__name__)
DEVICE_TICK_S = 1.0
STATUS_EVERY_TICKS = 5
VITALS_TICK_S = 0.25
VITALS_RECHECK_S = 2.0
RETENTION_EVERY_S = 3600.0


class StatusLine:
    """systemd's STATUS=: the summary line, sent again whenever it changes (read off the event loop)."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self.line = ""

    def set(self, line: str) -> None:
        if line != self.line:
            self.line = line
            sd_notify(f"STATUS={line}")

    def refresh(self) -> None:
        """Recompute soon, on a reader thread (the summary reads the store); call on the event loop."""
        fut = asyncio.get_running_loop().run_in_executor(None, self.services.status.summary_line)

        def done(f: asyncio.Future[str]) -> None:
            if f.exception() is None:
                self.set(f.result())

        fut.add_done_callback(done)

    def soon(self) -> None:
        """From a device's status callback: refresh on the next turn of the loop."""
        asyncio.get_running_loop().call_soon(self.refresh)


async def device_ticker(services: Services, supervisors: list[DeviceSupervisor], status: StatusLine) -> None:
    """Once a second: readings whose commit failed go again, device counters reach the stream, and the
    uplink hears of stored observations."""
    ticks = 0
    committed = 0
    while True:
        await asyncio.sleep(DEVICE_TICK_S)
        ticks += 1
        if ticks % STATUS_EVERY_TICKS == 0:
            status.refresh()  # STATUS= follows the store and counts, not only device changes
        for sup in supervisors:
            sup.retry_unstored()
            sup.publish_if_changed()
        now_committed = sum(sup.committed for sup in supervisors)
        if now_committed != committed:  # at most once a tick: entries of a second's readings, not one each
            committed = now_committed
            services.upstream.observations_stored()


async def vitals_ticker(services: Services, supervisors: list[DeviceSupervisor]) -> None:
    """The active encounter's vitals and NEWS2 follow its readings within VITALS_TICK_S of their commit
    (the cab screen's tiles and score update from this), and are looked at again every VITALS_RECHECK_S
    without new readings: a value turning stale, a device's status changing, are news too."""
    committed = -1
    last = 0.0
    while True:
        await asyncio.sleep(VITALS_TICK_S)
        now_committed = sum(sup.committed for sup in supervisors)
        if now_committed == committed and time.monotonic() - last < VITALS_RECHECK_S:
            continue
        committed, last = now_committed, time.monotonic()
        try:
            await services.vitals.publish_news2()
            if await services.vitals.chart_if_due():  # the record's observation set every chart interval
                services.upstream.observations_stored()
        except Exception as exc:
            _LOGGER.warning("vitals update failed: %s", exc)


async def retention(services: Services, renew_tls: Callable[[], None]) -> None:
    """Purge what retention allows: at start, then hourly; the tablet certificate is checked as often."""
    days = services.config.retention_days
    while True:
        try:
            purged = await services.store.write(purge_expired(now_ms(), days))
            if purged:
                _LOGGER.info("retention: purged %d encounters closed and acknowledged upstream over %d days ago",
                             len(purged), days)
        except Exception as exc:
            _LOGGER.error("retention purge failed: %s", exc)
        await asyncio.get_running_loop().run_in_executor(None, renew_tls)
        await asyncio.sleep(RETENTION_EVERY_S)


async def heartbeat(services: Services) -> None:
    """WATCHDOG=1 only while the loop runs (this task) and the writer answers within the interval."""
    interval = watchdog_interval()
    if interval is None:
        return
    writer = services.store.writer
    while True:
        t0 = time.monotonic()
        try:
            await asyncio.wait_for(asyncio.wrap_future(writer.submit(lambda db: None)), interval)
            healthy = writer.alive()
        except Exception as exc:
            healthy = False
            _LOGGER.error("store writer not answering (%s); withholding watchdog ping", exc)
        if healthy:
            sd_notify("WATCHDOG=1")
        await asyncio.sleep(max(0.0, interval - (time.monotonic() - t0)))
