"""The tablet listener's identity: its URL and TLS certificate, set up at start and renewed in place."""
from __future__ import annotations

import logging
import socket
from typing import Any

from edge_app.config import Config, is_loopback
from edge_app.daemon.tls import CertInfo, ensure_certificate
from edge_app.services.pairing import TabletListener

_LOGGER = logging.getLogger(__name__)


def set_up(config: Config, listener: TabletListener) -> CertInfo | None:
    """For a listener off loopback: the certificate (made or renewed as needed); the URL tablets use."""
    if config.listen is None:
        return None
    host, port = config.listen
    shown = socket.gethostname() if host in ("0.0.0.0", "::") else host
    if is_loopback(host):
        listener.url = f"http://{shown}:{port}"
        return None
    info, _made = ensure_certificate(config.db_path.parent / "tls", host)
    listener.url = f"https://{shown}:{port}"
    listener.fingerprint = info.fingerprint
    return info


def renew(config: Config, listener: TabletListener, ssl_context: Any) -> None:
    """A certificate near its end is replaced, and new connections get it without a restart."""
    if config.listen is None or is_loopback(config.listen[0]) or ssl_context is None:
        return
    try:
        info, made = ensure_certificate(config.db_path.parent / "tls", config.listen[0])
        if made:
            ssl_context.load_cert_chain(str(info.cert), str(info.key))
            listener.fingerprint = info.fingerprint
    except Exception as exc:
        _LOGGER.error("tablet TLS certificate renewal failed: %s", exc)
