"""`edge-app run`: the daemon. Store open and API sockets bound before READY=1; SIGTERM flushes and exits 0.

Cold start: READY=1 is sent once the store is open and the sockets listen; the web framework (most of
the start-up time) is imported after that. A client that connects meanwhile waits in the socket's
backlog and is answered as soon as the app is up, so nothing is refused and nothing waits on imports.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from edge_app.api.context import AppContext
from edge_app.config import Config, is_loopback
from edge_app.daemon.devices import DeviceSupervisor, now_ms
from edge_app.daemon.hub import Hub
from edge_app.daemon.notify import sd_notify, watchdog_interval
from edge_app.daemon.sockets import bind_tcp, bind_unix
from edge_app.daemon.summary import summary_line
from edge_app.daemon.tls import CertInfo, ensure_certificate
from edge_app.store.queries import Reader
from edge_app.store.records import upsert_device
from edge_app.store.writer import Writer

_LOGGER = logging.getLogger(__name__)
SHUTDOWN_BUDGET_S = 1.5
DEVICE_TICK_S = 1.0
RETENTION_EVERY_S = 3600.0


if TYPE_CHECKING:
    from pathlib import Path

    import uvicorn


def _servers(ctx: AppContext, tls: CertInfo | None) -> list[uvicorn.Server]:
    """The API servers, one app: plain on the Unix socket (and a loopback port), TLS on a tablet listener.
    Imported here, after READY: Litestar and uvicorn are most of the start-up time."""
    import uvicorn

    from edge_app.api.app import asgi_app
    from edge_app.auth.peercred import PeerCredH11Protocol

    class _Server(uvicorn.Server):
        """uvicorn without its own signal handling: the daemon owns SIGTERM/SIGINT."""

        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            yield

    class _Protocol(PeerCredH11Protocol):
        """TCP_NODELAY on TCP connections. asyncio sets it only on sockets made with proto=IPPROTO_TCP, and
        ours come from a listener bound before READY (daemon.sockets.bind_tcp, proto 0): without it the
        last segment of each answer waits for the client's delayed ACK, about 40 ms a request over TLS."""

        def connection_made(self, transport: Any) -> None:
            sock = transport.get_extra_info("socket")
            if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            super().connection_made(transport)

    app = asgi_app(ctx)

    def server(ssl_certfile: str | None = None, ssl_keyfile: str | None = None) -> uvicorn.Server:
        # proxy_headers off: no proxy stands in front of the daemon, and uvicorn would otherwise take
        # X-Forwarded-For from any loopback client, "unix" included: the Unix-socket peer, a technician.
        return _Server(uvicorn.Config(app, lifespan="off", log_config=None, access_log=False,
                                      timeout_graceful_shutdown=1, timeout_keep_alive=30, http=_Protocol,
                                      proxy_headers=False, ssl_certfile=ssl_certfile, ssl_keyfile=ssl_keyfile))

    servers = [server()]
    if ctx.config.listen:
        servers.append(server(ssl_certfile=str(tls.cert), ssl_keyfile=str(tls.key)) if tls else server())
    return servers


class Daemon:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.stop_event = asyncio.Event()
        self.ctx: AppContext | None = None
        self._servers: list[uvicorn.Server] = []
        self._status_line = ""

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stop_event.set)
        cfg = self.config
        # Sockets first: a second daemon on the same box stops here, before it touches the store.
        socks = [bind_unix(cfg.socket_path)]
        if cfg.listen:
            socks.append(bind_tcp(*cfg.listen))
        try:
            writer = await loop.run_in_executor(None, Writer, cfg.db_path)
        except Exception:
            for s in socks:
                s.close()
            cfg.socket_path.unlink(missing_ok=True)
            raise
        reader = Reader(cfg.db_path)
        hub = Hub()
        ctx = self.ctx = AppContext(config=cfg, writer=writer, reader=reader, hub=hub)
        for dev in cfg.devices:
            await ctx.write(upsert_device(dev.name, dev.protocol, dev.port, dev.address, now_ms()))
            ctx.devices[dev.name] = DeviceSupervisor(dev, writer, hub, on_change=self._update_status)
        await loop.run_in_executor(None, lambda: ctx.tokens.load(reader.db, now_ms()))
        self._status_line = await loop.run_in_executor(None, self._summary)
        sd_notify("READY=1", f"STATUS={self._status_line}")
        for sup in ctx.devices.values():
            sup.start()
        if cfg.upstream is not None:
            await self._uplink_token()
        tls = await loop.run_in_executor(None, self._tls)
        # Built off the loop so signals and the monitors are served while the framework loads.
        servers = self._servers = await loop.run_in_executor(None, _servers, ctx, tls)
        tasks = [loop.create_task(srv.serve(sockets=[sock]), name=f"api-{i}")
                 for i, (srv, sock) in enumerate(zip(servers, socks, strict=True))]
        while not all(srv.started for srv in servers):
            for task in tasks:
                if task.done():
                    await task
                    _LOGGER.error("API server failed to start")
                    return 1
            await asyncio.sleep(0.005)
        _LOGGER.info("%s; api on %s%s", self._status_line, cfg.socket_path,
                     f" and {cfg.listen[0]}:{cfg.listen[1]}" if cfg.listen else "")
        heartbeat = loop.create_task(self._heartbeat(), name="heartbeat")
        ticker = loop.create_task(self._device_ticker(), name="device-ticker")
        retention = loop.create_task(self._retention(), name="retention")
        await self.stop_event.wait()
        t0 = time.monotonic()
        sd_notify("STOPPING=1", "STATUS=stopping")
        heartbeat.cancel()
        ticker.cancel()
        retention.cancel()
        hub.close()
        for srv in servers:
            srv.should_exit = True
        await asyncio.gather(*(sup.stop() for sup in ctx.devices.values()))
        try:
            await asyncio.wait_for(asyncio.gather(*tasks), SHUTDOWN_BUDGET_S)
        except (asyncio.TimeoutError, Exception):
            _LOGGER.warning("API did not stop in time; closing anyway")
        await loop.run_in_executor(None, writer.close)
        reader.close()
        for s in socks:
            s.close()
        with contextlib.suppress(OSError):
            cfg.socket_path.unlink()
        _LOGGER.info("stopped in %.2f s; %d ops committed in %d transactions", time.monotonic() - t0, writer.ops,
                     writer.batches)
        return 0

    def _tls(self) -> CertInfo | None:
        """For a listener off loopback: the certificate (made or renewed as needed) and the tablet URL."""
        assert self.ctx is not None
        listen = self.config.listen
        if listen is None:
            return None
        host, port = listen
        shown = socket.gethostname() if host in ("0.0.0.0", "::") else host
        if is_loopback(host):
            self.ctx.tablet_url = f"http://{shown}:{port}"
            return None
        info, _made = ensure_certificate(self.config.db_path.parent / "tls", host)
        self.ctx.tablet_url = f"https://{shown}:{port}"
        self.ctx.tls_fingerprint = info.fingerprint
        return info

    def _renew_tls(self) -> None:
        """Hourly: a certificate near its end is replaced, and new connections get it without a restart."""
        if self.config.listen is None or is_loopback(self.config.listen[0]) or len(self._servers) < 2:
            return
        try:
            info, made = ensure_certificate(self.config.db_path.parent / "tls", self.config.listen[0])
            if made:
                ssl_ctx = self._servers[1].config.ssl
                if ssl_ctx is not None:
                    ssl_ctx.load_cert_chain(str(info.cert), str(info.key))
                assert self.ctx is not None
                self.ctx.tls_fingerprint = info.fingerprint
        except Exception as exc:
            _LOGGER.error("tablet TLS certificate renewal failed: %s", exc)

    def _summary(self) -> str:
        assert self.ctx is not None
        return summary_line(self.ctx, self.ctx.reader.counts())

    def _update_status(self) -> None:
        # Device state changed: refresh STATUS= soon, off the event loop (it reads the DB).
        if self.ctx is not None:
            asyncio.get_running_loop().call_soon(self._schedule_status)

    def _schedule_status(self) -> None:
        loop = asyncio.get_running_loop()
        fut = loop.run_in_executor(None, self._summary)

        def done(f: asyncio.Future[str]) -> None:
            if f.exception() is None:
                self._set_status(f.result())

        fut.add_done_callback(done)

    def _set_status(self, line: str) -> None:
        if line != self._status_line:
            self._status_line = line
            sd_notify(f"STATUS={line}")

    async def _retention(self) -> None:
        """Purge what retention allows: at start, then hourly."""
        from edge_app.store.encounters import purge_expired

        assert self.ctx is not None
        while True:
            try:
                purged = await self.ctx.write(purge_expired(now_ms(), self.config.retention_days))
                if purged:
                    _LOGGER.info("retention: purged %d encounters closed and acknowledged upstream over %d days ago",
                                 len(purged), self.config.retention_days)
            except Exception as exc:
                _LOGGER.error("retention purge failed: %s", exc)
            await asyncio.get_running_loop().run_in_executor(None, self._renew_tls)
            await asyncio.sleep(RETENTION_EVERY_S)

    async def _device_ticker(self) -> None:
        assert self.ctx is not None
        ticks = 0
        committed = 0
        while True:
            await asyncio.sleep(DEVICE_TICK_S)
            ticks += 1
            if ticks % 5 == 0:
                self._schedule_status()  # STATUS= follows the store and counts, not only device changes
            for sup in self.ctx.devices.values():
                sup.retry_unstored()
                sup.publish_if_changed()
            now_committed = sum(sup.committed for sup in self.ctx.devices.values())
            if now_committed != committed:  # at most once a tick: entries of a second's readings, not one each
                committed = now_committed
                self.ctx.observations_stored()
            if self.ctx.devices:
                try:
                    await self.ctx.publish_news2()  # device readings move the active encounter's score
                except Exception as exc:
                    _LOGGER.warning("NEWS2 update failed: %s", exc)

    async def _uplink_token(self) -> None:
        """The uplink's credentials: a token with the uplink scope only, new at each start, in a 0600 file
        beside the socket (the uplink runs as the same user; anything else there could use the socket anyway)."""
        from edge_app.auth.tokens import issue_local

        assert self.ctx is not None
        ctx = self.ctx
        t = await ctx.write(issue_local("uplink", "uplink", now_ms()))
        ctx.tokens.remove("uplink")
        ctx.tokens.add(t["hash"], "uplink", "uplink", t["expires_at"])
        path = uplink_token_path(ctx.config)
        tmp = path.with_name(path.name + ".tmp")
        tmp.unlink(missing_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(t["token"] + "\n")
        os.replace(tmp, path)

    async def _heartbeat(self) -> None:
        """WATCHDOG=1 only while the loop runs (this task) and the writer answers within the interval."""
        interval = watchdog_interval()
        if interval is None:
            return
        assert self.ctx is not None
        writer = self.ctx.writer
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


def run(config: Config) -> int:
    """Run the daemon until SIGTERM/SIGINT; the exit code."""
    # Patient data: files 0640 and directories 0750 at most, whatever umask we were started with.
    os.umask(os.umask(0o027) | 0o027)
    return asyncio.run(Daemon(config).run())


def uplink_token_path(cfg: Config) -> Path:
    return cfg.socket_path.with_name("uplink.token")
