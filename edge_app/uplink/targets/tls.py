"""TLS for the upstream targets: the client SSLContext both targets use, and certificate pinning.

The rules (the same for the FHIR and the MQTT target):
- No pin: the chain is validated against ``ca_file`` when given (instead of the system's CAs), else the
  system store (OpenSSL's default paths, so SSL_CERT_FILE/SSL_CERT_DIR apply); the hostname is checked.
- ``pin_sha256``: the leaf certificate's DER SHA-256 must equal the pin, and that REPLACES chain and
  hostname validation: upstream servers reached by vehicles are often self-signed, and a pin names
  exactly one certificate, which is stronger than "any CA in the bundle vouches for this name".
- ``client_cert``/``client_key``: mutual TLS. TLS 1.2 is the minimum.

How the pin is checked, and why this way: the context's ``sslobject_class`` and ``sslsocket_class`` are
replaced by subclasses whose ``do_handshake`` compares the peer certificate as soon as the handshake
completes, before the caller gets the connection back. Every TLS user in the process goes through one
of the two: httpx/httpcore (anyio's TLSStream calls ``wrap_bio`` -> SSLObject), paho-mqtt
(``wrap_socket`` + ``do_handshake`` -> SSLSocket), the stdlib's asyncio streams (``wrap_bio``). So the
check runs on every new connection (keep-alive reconnects and proxy CONNECT tunnels included) and
nothing - no request line, no bearer token, no record - is written to a server that fails it. A
mismatch is raised as :class:`PinMismatch`, an ``ssl.SSLCertVerificationError``, so every library
treats it as the handshake failure it is (httpx raises ConnectError with it as the cause; paho's
network thread treats it as a failed connect and retries). Alternatives rejected: httpcore's "trace"
extension (``connection.start_tls.complete``) works but is an httpcore internal and does nothing for
paho; a pre-flight handshake with the stdlib before each request costs a second connection and checks
a different connection from the one the data goes over; reading ``network_stream`` from the response
is too late, the body has been sent by then.

Each context also carries a :class:`HandshakeWatch` that remembers the last handshake's outcome: the
MQTT target learns of a pin mismatch (or why TLS failed) that happened inside paho's thread from it.
"""
from __future__ import annotations

import hashlib
import hmac
import ssl
import threading
from dataclasses import dataclass
from typing import Any

from edge_app.config import UpstreamConfig


class PinMismatch(ssl.SSLCertVerificationError):
    """The target's certificate is not the pinned one."""

    def __init__(self, actual: str | None, pinned: str) -> None:
        self.actual, self.pinned = actual, pinned
        what = f"is {actual}" if actual else "was not presented"
        super().__init__(f"the target's certificate SHA-256 {what}, pinned {pinned}")
        self.verify_message = str(self)
        self.verify_code = 0

    def __str__(self) -> str:
        return str(self.args[0])


class TlsSetupError(ValueError):
    """A configured certificate, key or CA file cannot be used (the message names it)."""


def _reason(exc: BaseException) -> str:
    if isinstance(exc, ssl.SSLError) and exc.reason:
        return f"{exc.reason} ({exc.library or 'ssl'})"
    return getattr(exc, "strerror", None) or str(exc) or type(exc).__name__


def sha256_der(der: bytes) -> str:
    """A certificate's fingerprint as the config writes pins: lowercase hex, no colons."""
    return hashlib.sha256(der).hexdigest()


class HandshakeWatch:
    """The last TLS handshake's outcome on one context, written from whichever thread did it."""

    def __init__(self, pin: str | None) -> None:
        self.pin = pin
        self._lock = threading.Lock()
        self.mismatch: PinMismatch | None = None  # set by a failed pin check, cleared by a good handshake
        self.last_error: str | None = None  # the last handshake failure, cleared by a good handshake
        self.handshakes = 0  # completed handshakes that passed (tests count connections with this)

    def check(self, der: bytes | None) -> None:
        """Called right after a handshake completed; raises PinMismatch to abort the connection."""
        if self.pin is not None:
            actual = sha256_der(der) if der else None
            if actual is None or not hmac.compare_digest(actual, self.pin):
                exc = PinMismatch(actual, self.pin)
                with self._lock:
                    self.mismatch, self.last_error = exc, str(exc)
                raise exc
        with self._lock:
            self.mismatch, self.last_error = None, None
            self.handshakes += 1

    def failed(self, exc: BaseException) -> None:
        with self._lock:
            self.last_error = f"TLS handshake failed: {type(exc).__name__}: {exc}"


class _WatchedSSLObject(ssl.SSLObject):
    _edge_watch: HandshakeWatch

    def do_handshake(self) -> None:
        try:
            super().do_handshake()
        except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
            raise
        except OSError as exc:
            self._edge_watch.failed(exc)
            raise
        self._edge_watch.check(self.getpeercert(binary_form=True))


class _WatchedSSLSocket(ssl.SSLSocket):
    _edge_watch: HandshakeWatch

    def do_handshake(self, block: bool = False) -> None:
        try:
            super().do_handshake(block)
        except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
            raise
        except OSError as exc:
            self._edge_watch.failed(exc)
            raise
        try:
            self._edge_watch.check(self.getpeercert(binary_form=True))
        except PinMismatch:
            self.close()  # nothing more goes over this connection; the caller gets the error
            raise


@dataclass(frozen=True, slots=True)
class ClientTls:
    context: ssl.SSLContext
    watch: HandshakeWatch
    pinned: bool


def client_tls(up: UpstreamConfig, *, use_pin: bool = True) -> ClientTls:
    """The client context for the target (``use_pin=False``: the same trust rules without the pin, for
    another host such as a separate OAuth2 token endpoint). Raises TlsSetupError when a configured
    file cannot be loaded."""
    pin = up.pin_sha256 if use_pin else None
    if pin is not None:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False  # must come before CERT_NONE
        ctx.verify_mode = ssl.CERT_NONE  # the pin replaces chain validation; the peer still sends its cert
    else:
        try:
            ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=up.ca_file)
        except (OSError, ValueError) as exc:
            raise TlsSetupError(f"ca_file {up.ca_file}: {_reason(exc)}") from exc
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    if up.client_cert:
        try:
            ctx.load_cert_chain(up.client_cert, up.client_key)
        except (OSError, ValueError) as exc:
            files = up.client_cert + (f" / client_key {up.client_key}" if up.client_key else "")
            raise TlsSetupError(f"client_cert {files}: {_reason(exc)}") from exc
    watch = HandshakeWatch(pin)
    attrs: dict[str, Any] = {"_edge_watch": watch}
    ctx.sslobject_class = type("PinnedSSLObject", (_WatchedSSLObject,), attrs)
    ctx.sslsocket_class = type("PinnedSSLSocket", (_WatchedSSLSocket,), attrs)
    return ClientTls(ctx, watch, pin is not None)


def find_pin_mismatch(exc: BaseException | None) -> PinMismatch | None:
    """The PinMismatch behind an exception (httpx wraps it in ConnectError, httpcore in its own)."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, PinMismatch):
            return exc
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return None


def find_ssl_error(exc: BaseException | None) -> ssl.SSLError | None:
    """The ssl.SSLError behind an exception, for a readable detail ("certificate verify failed: ...")."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, ssl.SSLError):
            return exc
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return None
