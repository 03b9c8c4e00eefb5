"""The API servers: one app over the services, plain on the Unix socket (and a loopback port), TLS for tablets.

Imported after READY=1: Litestar and uvicorn are most of the start-up time (see edge_app.daemon.root).
"""
from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator
from typing import Any

import uvicorn

from edge_app.api.app import asgi_app
from edge_app.auth.peercred import PeerCredH11Protocol
from edge_app.daemon.tls import CertInfo
from edge_app.services.container import Services


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


def make_servers(services: Services, tls: CertInfo | None) -> list[uvicorn.Server]:
    """One server per listening socket, in the order the root bound them (Unix socket first)."""
    app = asgi_app(services)

    def server(ssl_certfile: str | None = None, ssl_keyfile: str | None = None) -> uvicorn.Server:
        # proxy_headers off: no proxy stands in front of the daemon, and uvicorn would otherwise take
        # X-Forwarded-For from any loopback client, "unix" included: the Unix-socket peer, a technician.
        return _Server(uvicorn.Config(app, lifespan="off", log_config=None, access_log=False,
                                      timeout_graceful_shutdown=1, timeout_keep_alive=30, http=_Protocol,
                                      proxy_headers=False, ssl_certfile=ssl_certfile, ssl_keyfile=ssl_keyfile))

    servers = [server()]
    if services.config.listen:
        servers.append(server(ssl_certfile=str(tls.cert), ssl_keyfile=str(tls.key)) if tls else server())
    return servers
