"""tls.py: the client context both targets use, checked against real TLS servers (stdlib ssl, in threads).

Also home of the certificate helpers the target tests import (a CA, certificates it issues, self-signed
certificates with their DER SHA-256).
"""
from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import ipaddress
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from edge_app.config import UpstreamConfig
from edge_app.uplink.targets.tls import PinMismatch, TlsSetupError, client_tls, find_pin_mismatch, sha256_der

# ------------------------------------------------------------------------------------------- certificates


@dataclass(frozen=True)
class Cert:
    cert: Path
    key: Path
    sha256: str  # of the DER certificate, as pin_sha256 is written


@dataclass(frozen=True)
class CA:
    cert: Path
    _key: Any
    _name: x509.Name

    def issue(self, directory: Path, name: str, *, client: bool = False,
              hosts: tuple[str, ...] = ("127.0.0.1", "localhost")) -> Cert:
        return _make(directory, name, hosts, client=client, issuer=(self._key, self._name))


def _write(directory: Path, name: str, cert: x509.Certificate, key: Any) -> Cert:
    directory.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = directory / f"{name}.crt", directory / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return Cert(cert_path, key_path, hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest())


def _make(directory: Path, name: str, hosts: tuple[str, ...], *, client: bool = False,
          issuer: tuple[Any, x509.Name] | None = None) -> Cert:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    sign_key, issuer_name = issuer or (key, subject)
    now = dt.datetime.now(dt.UTC)
    alt: list[x509.GeneralName] = []
    for h in hosts:
        try:
            alt.append(x509.IPAddress(ipaddress.ip_address(h)))
        except ValueError:
            alt.append(x509.DNSName(h))
    usage = ExtendedKeyUsageOID.CLIENT_AUTH if client else ExtendedKeyUsageOID.SERVER_AUTH
    builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer_name).public_key(key.public_key())
               .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
               .not_valid_after(now + dt.timedelta(days=2))
               .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
               .add_extension(x509.ExtendedKeyUsage([usage]), critical=False))
    if alt:
        builder = builder.add_extension(x509.SubjectAlternativeName(alt), critical=False)
    return _write(directory, name, builder.sign(sign_key, hashes.SHA256()), key)


def self_signed(directory: Path, name: str = "server", hosts: tuple[str, ...] = ("127.0.0.1", "localhost")) -> Cert:
    """A server certificate signed by its own key (the usual pinned upstream)."""
    return _make(directory, name, hosts)


def make_ca(directory: Path, name: str = "test-ca") -> CA:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=2))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                         content_commitment=False, key_encipherment=False, data_encipherment=False,
                                         key_agreement=False, encipher_only=False, decipher_only=False),
                           critical=True)
            .sign(key, hashes.SHA256()))
    written = _write(directory, name, cert, key)
    return CA(written.cert, key, subject)


def server_context(cert: Cert, *, client_ca: Path | None = None) -> ssl.SSLContext:
    """A server context; with client_ca it requires a client certificate issued by that CA (mTLS)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert.cert, cert.key)
    if client_ca is not None:
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.load_verify_locations(cafile=client_ca)
    return ctx


def upstream(url: str = "https://127.0.0.1:1/fhir", **kw: Any) -> UpstreamConfig:
    target = "mqtt" if url.startswith("mqtt") else "fhir"
    return UpstreamConfig(target=target, url=url, **{k: (str(v) if isinstance(v, Path) else v) for k, v in kw.items()})


# ------------------------------------------------------------------------------------------- a TLS server


class TlsServer:
    """Accepts TLS connections in a thread, answers b"hello" and records what happened."""

    def __init__(self, ctx: ssl.SSLContext) -> None:
        self.ctx = ctx
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.handshakes = 0
        self.received: list[bytes] = []
        self.errors: list[str] = []
        self.done = 0  # connections finished, either way
        self._stop = False
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self._stop:
            try:
                raw, _ = self.sock.accept()
            except OSError:
                return
            raw.settimeout(3)
            try:
                with self.ctx.wrap_socket(raw, server_side=True) as conn:
                    self.handshakes += 1
                    conn.sendall(b"hello")
                    data = conn.recv(100)
                    if data:
                        self.received.append(data)
            except OSError as exc:
                self.errors.append(f"{type(exc).__name__}: {exc}")
            finally:
                raw.close()
                self.done += 1

    def wait_done(self, n: int, timeout: float = 3.0) -> None:
        deadline = time.monotonic() + timeout
        while self.done < n and time.monotonic() < deadline:
            time.sleep(0.01)

    def close(self) -> None:
        self._stop = True
        self.sock.close()


@pytest.fixture
def certs(tmp_path: Path) -> dict[str, Any]:
    ca = make_ca(tmp_path)
    return {"ca": ca, "self": self_signed(tmp_path), "by_ca": ca.issue(tmp_path, "by-ca"),
            "other_host": ca.issue(tmp_path, "other-host", hosts=("upstream.example",)),
            "client": ca.issue(tmp_path, "vehicle", client=True)}


def _connect(ctx: ssl.SSLContext, port: int) -> bytes:
    with socket.create_connection(("127.0.0.1", port), 3) as raw, \
            ctx.wrap_socket(raw, server_hostname="127.0.0.1") as conn:
        got = conn.recv(100)
        conn.sendall(b"data")
        return got


# ------------------------------------------------------------------------------------------- tests


def test_pin_match_replaces_ca_validation_and_mismatch_aborts_before_any_data(certs: dict[str, Any]) -> None:
    server = TlsServer(server_context(certs["self"]))
    try:
        good = client_tls(upstream(pin_sha256=certs["self"].sha256))
        assert good.pinned and _connect(good.context, server.port) == b"hello"  # self-signed: no CA would pass
        assert good.watch.handshakes == 1 and good.watch.mismatch is None

        wrong = "ab" * 32
        bad = client_tls(upstream(pin_sha256=wrong))
        with pytest.raises(PinMismatch) as info:
            _connect(bad.context, server.port)
        assert str(info.value) == f"the target's certificate SHA-256 is {certs['self'].sha256}, pinned {wrong}"
        assert isinstance(info.value, ssl.SSLCertVerificationError)  # every library sees a failed handshake
        assert bad.watch.mismatch is info.value and bad.watch.handshakes == 0
        server.wait_done(2)
        assert server.received == [b"data"]  # only the pinned client's data ever arrived
    finally:
        server.close()


def test_pin_ignores_the_hostname_but_ca_validation_checks_it(certs: dict[str, Any]) -> None:
    server = TlsServer(server_context(certs["other_host"]))  # issued for upstream.example, served at 127.0.0.1
    try:
        pinned = client_tls(upstream(pin_sha256=certs["other_host"].sha256))
        assert _connect(pinned.context, server.port) == b"hello"
        by_ca = client_tls(upstream(ca_file=certs["ca"].cert))
        with pytest.raises(ssl.SSLCertVerificationError) as info:
            _connect(by_ca.context, server.port)
        assert not isinstance(info.value, PinMismatch) and "match" in str(info.value).lower()
        assert by_ca.watch.last_error and "TLS handshake failed" in by_ca.watch.last_error
    finally:
        server.close()


def test_ca_file_or_system_store_without_pin(certs: dict[str, Any]) -> None:
    server = TlsServer(server_context(certs["by_ca"]))
    try:
        assert _connect(client_tls(upstream(ca_file=certs["ca"].cert)).context, server.port) == b"hello"
        with pytest.raises(ssl.SSLCertVerificationError, match="certificate verify failed"):
            _connect(client_tls(upstream()).context, server.port)  # the system store knows no test CA
        # use_pin=False: the same trust rules without the pin (a separate OAuth2 token host)
        unpinned = client_tls(upstream(pin_sha256="00" * 32, ca_file=certs["ca"].cert), use_pin=False)
        assert not unpinned.pinned and _connect(unpinned.context, server.port) == b"hello"
    finally:
        server.close()


def test_client_certificate_for_mtls(certs: dict[str, Any]) -> None:
    server = TlsServer(server_context(certs["self"], client_ca=certs["ca"].cert))
    try:
        with_cert = client_tls(upstream(pin_sha256=certs["self"].sha256, client_cert=certs["client"].cert,
                                        client_key=certs["client"].key))
        assert _connect(with_cert.context, server.port) == b"hello"
        without = client_tls(upstream(pin_sha256=certs["self"].sha256))
        with pytest.raises(OSError):  # TLS 1.3: the refusal arrives on the first read
            _connect(without.context, server.port)
    finally:
        server.close()
    with pytest.raises(TlsSetupError, match="client_cert /nonexistent/vehicle.crt: No such file"):
        client_tls(upstream(client_cert="/nonexistent/vehicle.crt"))
    with pytest.raises(TlsSetupError, match=r"ca_file .*vehicle.key"):
        client_tls(upstream(ca_file=certs["client"].key))  # a key is no CA bundle


async def test_asyncio_streams_take_the_same_check(certs: dict[str, Any]) -> None:
    """The wrap_bio path (asyncio's own TLS, and anyio under httpx) is checked as well as wrap_socket."""
    server = TlsServer(server_context(certs["self"]))
    try:
        good = client_tls(upstream(pin_sha256=certs["self"].sha256))
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port, ssl=good.context,
                                                       server_hostname="127.0.0.1")
        assert await reader.readexactly(5) == b"hello"
        writer.close()
        bad = client_tls(upstream(pin_sha256="cd" * 32))
        with pytest.raises(ssl.SSLError) as info:
            await asyncio.open_connection("127.0.0.1", server.port, ssl=bad.context, server_hostname="127.0.0.1")
        assert find_pin_mismatch(info.value) is not None
    finally:
        server.close()


def test_find_pin_mismatch_follows_the_cause_chain() -> None:
    inner = PinMismatch(sha256_der(b"x"), "00" * 32)
    try:
        try:
            raise inner
        except PinMismatch as exc:
            raise ConnectionError("wrapped") from exc
    except ConnectionError as outer:
        assert find_pin_mismatch(outer) is inner
    assert find_pin_mismatch(ValueError("no")) is None
    assert "was not presented" in str(PinMismatch(None, "00" * 32))
