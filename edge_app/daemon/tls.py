"""The tablet listener's TLS identity: made on first start, kept, renewed before it expires.

Self-signed on purpose: there is no CA in a vehicle. Tablets pin the SHA-256 fingerprint they are
shown when paired (the pairing screen's QR code carries it), which is stronger than a CA chain here.
"""
from __future__ import annotations

import datetime as dt
import ipaddress
import logging
import os
import socket
from dataclasses import dataclass
from pathlib import Path

_LOGGER = logging.getLogger(__name__)
VALID_DAYS = 397
RENEW_DAYS = 30


@dataclass(frozen=True, slots=True)
class CertInfo:
    cert: Path
    key: Path
    fingerprint: str  # SHA-256 of the DER certificate, colon-separated hex
    not_after: dt.datetime


def _info(cert_path: Path, key_path: Path) -> CertInfo:
    # lazy: cryptography's x509 only with a tablet listener (daemon start-up time)
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes

    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    fp = cert.fingerprint(hashes.SHA256()).hex(":").upper()
    return CertInfo(cert_path, key_path, fp, cert.not_valid_after_utc)


def _generate(cert_path: Path, key_path: Path, hosts: list[str], now: dt.datetime) -> None:
    # lazy: cryptography's x509 only with a tablet listener (daemon start-up time)
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"edge-app {socket.gethostname()}"[:64])])
    alt: list[x509.GeneralName] = []
    for h in hosts:
        try:
            alt.append(x509.IPAddress(ipaddress.ip_address(h)))
        except ValueError:
            alt.append(x509.DNSName(h))
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=VALID_DAYS))
            .add_extension(x509.SubjectAlternativeName(alt), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    cert_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    for path, data, mode in ((key_path, key_pem, 0o600), (cert_path, cert.public_bytes(serialization.Encoding.PEM),
                                                          0o644)):
        tmp = path.with_suffix(".new")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)


def ensure_certificate(directory: Path, listen_host: str, now: dt.datetime | None = None) -> tuple[CertInfo, bool]:
    """The certificate to serve, and whether it was (re)made now."""
    now = now or dt.datetime.now(dt.UTC)
    cert_path, key_path = directory / "tablet.crt", directory / "tablet.key"
    if cert_path.exists() and key_path.exists():
        try:
            info = _info(cert_path, key_path)
            if info.not_after - now > dt.timedelta(days=RENEW_DAYS):
                return info, False
            _LOGGER.warning("tablet TLS certificate expires %s; renewing", info.not_after.date())
        except (ValueError, OSError) as exc:
            _LOGGER.warning("tablet TLS certificate unreadable (%s); making a new one", exc)
    hosts = [socket.gethostname(), "localhost"]
    if listen_host not in ("0.0.0.0", "::"):
        hosts.append(listen_host)
    _generate(cert_path, key_path, hosts, now)
    info = _info(cert_path, key_path)
    _LOGGER.info("made tablet TLS certificate, SHA-256 %s, valid to %s", info.fingerprint, info.not_after.date())
    return info, True
