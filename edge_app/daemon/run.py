"""`edge-app run`: the daemon. Store open and API sockets bound before READY=1; SIGTERM flushes and exits 0.

Cold start: READY=1 is sent once the store is open and the sockets listen; the web framework (most of
the start-up time) is imported after that. A client that connects meanwhile waits in the socket's
backlog and is answered as soon as the app is up, so nothing is refused and nothing waits on imports.
What is built and in which order is edge_app.daemon.root's business; this is the process around it.
"""
from __future__ import annotations

import asyncio
import logging
import os
import signal
import time

from edge_app.config import Config
from edge_app.daemon.notify import sd_notify
from edge_app.daemon.root import ApiStartFailed, composed

_LOGGER = logging.getLogger(__name__)


class Daemon:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.stop_event = asyncio.Event()

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stop_event.set)
        cfg = self.config
        t0 = 0.0
        try:
            async with composed(cfg, on_ready=_ready) as root:
                assert root.status is not None
                _LOGGER.info("%s; api on %s%s", root.status.line, cfg.socket_path,
                             f" and {cfg.listen[0]}:{cfg.listen[1]}" if cfg.listen else "")
                await self.stop_event.wait()
                t0 = time.monotonic()
                sd_notify("STOPPING=1", "STATUS=stopping")
                writer = root.services.store.writer
        except ApiStartFailed as exc:
            _LOGGER.error("%s", exc)
            return 1
        _LOGGER.info("stopped in %.2f s; %d ops committed in %d transactions", time.monotonic() - t0, writer.ops,
                     writer.batches)
        return 0


def _ready(status_line: str) -> None:
    sd_notify("READY=1", f"STATUS={status_line}")


def run(config: Config) -> int:
    """Run the daemon until SIGTERM/SIGINT; the exit code."""
    # Patient data: files 0640 and directories 0750 at most, whatever umask we were started with.
    os.umask(os.umask(0o027) | 0o027)
    return asyncio.run(Daemon(config).run())
