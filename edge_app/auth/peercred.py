"""The Unix socket's peer, by SO_PEERCRED: the kernel's word for who connected, passed to the app as
scope["client"] = ("unix", uid). The socket's mode (0660) already limits who can connect at all."""
from __future__ import annotations

import socket
import struct
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

_CREDS = struct.Struct("3i")


def peer_uid(sock: socket.socket) -> int | None:
    """The uid of the process at the other end of a Unix socket."""
    try:
        _pid, uid, _gid = _CREDS.unpack(sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _CREDS.size))
    except OSError:
        return None
    return uid


class PeerCredH11Protocol(H11Protocol):
    """uvicorn's h11 protocol, with the Unix-socket peer's uid as the request's client."""

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family == socket.AF_UNIX:
            uid = peer_uid(sock)
            if uid is not None:
                self.client = ("unix", uid)
