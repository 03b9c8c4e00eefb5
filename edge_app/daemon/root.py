"""The composition root: the one place that builds the daemon (config, store, services, devices, API)
and starts and stops it, each part a context manager entered in order and left in reverse.

    sockets bound            (a second daemon on the box stops here, before it touches the store)
    store opened             (the writer thread, the readers)
    services built, tokens loaded, devices registered
    READY=1                  (the store is open and the sockets listen: clients wait in the backlog)
    monitors started
    uplink token written, tablet certificate made
    API serving              (Litestar and uvicorn imported only now: most of the start-up time)
    timed work running       (watchdog, device tick, retention)

If any step fails, everything already started is stopped and closed, newest first: a failure after the
writer started closes the writer and the sockets. Shutdown is the same walk back: timed work cancelled,
the stream ended and the servers stopped, monitors stopped, the writer flushed and closed, the sockets
closed and the socket file removed.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edge_app.auth.tokens import issue_local
from edge_app.clock import now_ms
from edge_app.config import Config
from edge_app.daemon import background, listener
from edge_app.daemon.devices import DeviceSupervisor
from edge_app.daemon.sockets import bind_tcp, bind_unix
from edge_app.services.container import Services, build_services
from edge_app.store.access import Store
from edge_app.store.devices import upsert_device
from edge_app.store.queries import Reader
from edge_app.store.writer import Writer

if TYPE_CHECKING:
    import uvicorn

_LOGGER = logging.getLogger(__name__)
SHUTDOWN_BUDGET_S = 1.5


class ApiStartFailed(RuntimeError):
    """An API server ended before it had started (its own error is logged with it)."""


UPLINK_TOKEN_FILE = "uplink.token"


@dataclass
class Root:
    """The running daemon's parts, for the process that runs it and for tests."""

    config: Config
    services: Services
    sockets: list[socket.socket]
    supervisors: list[DeviceSupervisor] = field(default_factory=list)
    servers: list[uvicorn.Server] = field(default_factory=list)
    status: background.StatusLine | None = None


@contextlib.contextmanager
def listening(config: Config) -> Iterator[list[socket.socket]]:
    """The API's sockets, bound before anything else; closed (and the socket file removed) on the way out."""
    socks = [bind_unix(config.socket_path)]
    try:
        if config.listen:
            socks.append(bind_tcp(*config.listen))
        yield socks
    finally:
        for s in socks:
            s.close()
        with contextlib.suppress(OSError):
            config.socket_path.unlink()


@contextlib.asynccontextmanager
async def opened_store(config: Config) -> AsyncIterator[Store]:
    """The writer (migrations run as it opens) and the readers; the writer flushes what is queued as it closes."""
    loop = asyncio.get_running_loop()
    writer = await loop.run_in_executor(None, Writer, config.db_path)
    reader = Reader(config.db_path)
    try:
        yield Store(writer, reader)
    finally:
        await loop.run_in_executor(None, writer.close)
        reader.close()


@contextlib.asynccontextmanager
async def running(supervisors: list[DeviceSupervisor]) -> AsyncIterator[None]:
    """The monitors' drivers, started; stopped on the way out."""
    for sup in supervisors:
        sup.start()
    try:
        yield
    finally:
        await asyncio.gather(*(sup.stop() for sup in supervisors))


@contextlib.asynccontextmanager
async def serving(services: Services, socks: list[socket.socket], make: Callable[[], list[uvicorn.Server]]
                  ) -> AsyncIterator[list[uvicorn.Server]]:
    """The API servers on the bound sockets, once each has started; on the way out the live stream ends
    (its clients would hold the servers open) and the servers get SHUTDOWN_BUDGET_S to finish."""
    loop = asyncio.get_running_loop()
    # Built off the loop so signals and the monitors are served while the framework loads.
    servers = await loop.run_in_executor(None, make)
    tasks = [loop.create_task(srv.serve(sockets=[sock]), name=f"api-{i}")
             for i, (srv, sock) in enumerate(zip(servers, socks, strict=True))]
    try:
        while not all(srv.started for srv in servers):
            for task in tasks:
                if task.done():
                    await task  # its exception, if it has one
                    raise ApiStartFailed("API server failed to start")
            await asyncio.sleep(0.005)
        yield servers
    finally:
        services.hub.close()
        for srv in servers:
            srv.should_exit = True
        try:
            await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), SHUTDOWN_BUDGET_S)
        except TimeoutError:
            _LOGGER.warning("API did not stop in time; closing anyway")


@contextlib.asynccontextmanager
async def tasks_running(*coros: Any) -> AsyncIterator[None]:
    """Timed work for as long as the daemon runs; cancelled on the way out."""
    loop = asyncio.get_running_loop()
    tasks = [loop.create_task(c, name=c.__qualname__) for c in coros]
    try:
        yield
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def _make_servers(services: Services, tls: Any) -> Callable[[], list[uvicorn.Server]]:
    def make() -> list[uvicorn.Server]:
        from edge_app.daemon.servers import make_servers  # lazy: after READY (cold start), see above

        return make_servers(services, tls)
    return make


@contextlib.asynccontextmanager
async def composed(config: Config, *, on_ready: Callable[[str], None] = lambda line: None) -> AsyncIterator[Root]:
    """The whole daemon, running, until the block ends (or any step fails): see the module's docstring."""
    loop = asyncio.get_running_loop()
    async with AsyncExitStack() as stack:
        socks = stack.enter_context(listening(config))
        store = await stack.enter_async_context(opened_store(config))
        services = build_services(config, store, started_ms=now_ms())
        root = Root(config=config, services=services, sockets=socks)
        status = root.status = background.StatusLine(services)
        for dev in config.devices:
            await store.write(upsert_device(dev.name, dev.protocol, dev.port, dev.address, now_ms()))
            sup = DeviceSupervisor(dev, store.writer, services.hub, on_change=status.soon)
            root.supervisors.append(sup)
            services.devices.add(dev.name, sup)
        await loop.run_in_executor(None, lambda: services.tokens.load(store.reader.db, now_ms()))
        status.line = await loop.run_in_executor(None, services.status.summary_line)
        on_ready(status.line)
        await stack.enter_async_context(running(root.supervisors))
        if config.upstream is not None:
            await write_uplink_token(services)
        tls = await loop.run_in_executor(None, listener.set_up, config, services.listener)
        root.servers = await stack.enter_async_context(serving(services, socks, _make_servers(services, tls)))

        def renew_tls() -> None:
            if len(root.servers) > 1:
                listener.renew(config, services.listener, root.servers[1].config.ssl)

        await stack.enter_async_context(tasks_running(
            background.heartbeat(services), background.device_ticker(services, root.supervisors, status),
            background.vitals_ticker(services, root.supervisors),
            background.retention(services, renew_tls)))
        yield root


async def write_uplink_token(services: Services) -> None:
    """The uplink's credentials: a token with the uplink scope only, new at each start, in a 0600 file
    beside the socket (the uplink runs as the same user; anything else there could use the socket anyway)."""
    t = await services.store.write(issue_local("uplink", "uplink", now_ms()))
    services.tokens.remove("uplink")
    services.tokens.add(t["hash"], "uplink", "uplink", t["expires_at"])
    path = uplink_token_path(services.config)
    tmp = path.with_name(path.name + ".tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(t["token"] + "\n")
    os.replace(tmp, path)


def uplink_token_path(cfg: Config) -> Path:
    return cfg.socket_path.with_name(UPLINK_TOKEN_FILE)
