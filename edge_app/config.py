"""The TOML config (DESIGN.md contract): located, parsed and validated once, the same for every command."""
from __future__ import annotations

import ipaddress
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from firmware_bridge.protocols import DeviceOption, ProtocolSpec, TransportKind, find_spec, protocol_names

from edge_app.config_clinical import ClinicalConfig, parse_clinical
from edge_app.errors import ConfigError

DEFAULT_PATH = Path("/etc/edge-app/config.toml")
ENV_VAR = "EDGE_APP_CONFIG"

_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")
_PARITY = ("N", "E", "O", "M", "S")
_MAC_RE = re.compile(r"^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}$")


@dataclass(frozen=True, slots=True)
class DeviceConfig:
    name: str
    protocol: str
    port: str | None = None
    baudrate: int = 9600
    address: str | None = None
    listen: tuple[str, int] | None = None  # hl7-oru over TCP: monitors connect to us
    set_format: bool = False  # nonin: send the select-format command on connect
    set_clock: bool = False  # nonin: set the monitor's clock on connect
    priority: int = 0  # among devices measuring the same metric, the higher wins (ties: configured order)


@dataclass(frozen=True, slots=True)
class UpstreamConfig:
    """Where records go and how (DESIGN.md [upstream], extended). Paths are absolute after parsing."""

    target: str  # "fhir" or "mqtt"
    url: str
    require_approval: bool = False
    trust_keys: tuple[str, ...] = ()
    live_observations: bool = False  # also forward each observation as it is stored, not only at handover
    raw_series: bool = False  # also send the monitors' full-rate series (FHIR SampledData) with the record
    pin_sha256: str | None = None  # the target's certificate (DER) SHA-256, lowercase hex without colons
    ca_file: str | None = None  # trust this CA bundle for the target instead of the system's
    client_cert: str | None = None  # mTLS: PEM certificate (and key, unless client_key is given)
    client_key: str | None = None
    oauth_token_url: str | None = None  # FHIR: OAuth2 client credentials
    oauth_client_id: str | None = None
    oauth_secret_file: str | None = None
    oauth_scope: str | None = None
    topic: str = "edge-app/{vehicle}"  # MQTT: the vehicle's topic prefix
    # MQTT: where the fleet's signed suspend orders arrive ({vehicle} filled in); none: orders only by file
    control_topics: tuple[str, ...] = ()
    batch_size: int = 200  # FHIR: entries per transaction Bundle
    in_flight: int = 4  # records sent at once
    timeout_s: float = 15.0  # one request or publish


@dataclass(frozen=True, slots=True)
class Config:
    """Everything the commands need; `source` is the file it came from (None: built-in defaults)."""

    db_path: Path
    socket_path: Path
    listen: tuple[str, int] | None = None
    devices: tuple[DeviceConfig, ...] = ()
    upstream: UpstreamConfig | None = None
    vehicle_id: str = ""
    log_level: str = "info"
    timezone: str | None = None  # IANA zone for times shown to people; None: the box's own
    retention_days: int = 30
    clinical: ClinicalConfig = field(default_factory=ClinicalConfig)
    source: Path | None = None
    warnings: tuple[str, ...] = field(default=())


def locate(explicit: str | os.PathLike[str] | None = None) -> tuple[Path, bool]:
    """Where the config is: --config, else $EDGE_APP_CONFIG, else the default; and whether it was asked for."""
    if explicit:
        return Path(explicit), True
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env), True
    return DEFAULT_PATH, False


def load(explicit: str | os.PathLike[str] | None = None) -> Config:
    """Load and validate the config; ConfigError names the file and the key on any problem."""
    path, asked = locate(explicit)
    try:
        path.stat()
        present = True
    except FileNotFoundError:
        present = False
    except OSError as exc:
        # e.g. /etc/edge-app made 0750 root before its group was set: not the same as "no config at all".
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if not present:
        if asked:
            raise ConfigError(f"{path}: config file not found")
        # A box with no config file yet still runs (manual records, no monitors): say so, don't fail.
        return parse({}, None, warnings=(f"no config at {path}; running with defaults and no monitors",))
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    return parse(data, path)


class _Table:
    """A TOML table being validated: every key read is ticked off, leftovers are unknown keys."""

    def __init__(self, data: Any, where: str, src: str) -> None:
        if not isinstance(data, dict):
            raise ConfigError(f"{src}: {where}: expected a table, got {_kind(data)}")
        self.data, self.where, self.src, self.seen = data, where, src, set[str]()

    def key(self, name: str) -> str:
        return f"{self.where}.{name}" if self.where else name

    def err(self, name: str, msg: str) -> ConfigError:
        return ConfigError(f"{self.src}: {self.key(name)}: {msg}")

    def get(self, name: str, typ: type | tuple[type, ...], default: Any = None, *, required: bool = False) -> Any:
        self.seen.add(name)
        if name not in self.data:
            if required:
                raise self.err(name, "required key is missing")
            return default
        value = self.data[name]
        if isinstance(value, str) and "\x00" in value:
            raise self.err(name, "contains a NUL character")
        ok = isinstance(value, typ) and not (typ in (int, float) and isinstance(value, bool))
        if not ok:
            want = typ.__name__ if isinstance(typ, type) else " or ".join(t.__name__ for t in typ)
            raise self.err(name, f"expected {_TYPE_WORDS.get(want, want)}, got {_kind(value)}")
        return value

    def done(self) -> None:
        extra = sorted(set(self.data) - self.seen)
        if extra:
            raise self.err(extra[0], f"unknown key (known: {', '.join(sorted(self.seen))})")


_TYPE_WORDS = {"str": "a string", "int": "an integer", "bool": "true or false", "list": "a list",
               "dict": "a table", "float": "a number", "int or float": "a number"}


def _kind(value: Any) -> str:
    return {str: "a string", int: "an integer", float: "a number", bool: "a boolean", list: "a list",
            dict: "a table"}.get(type(value), type(value).__name__)


SYSTEM_STATE = Path("/var/lib/edge-app")
SYSTEM_RUNTIME = Path("/run/edge-app")


def _default_db(system: bool) -> Path:
    state = os.environ.get("STATE_DIRECTORY")
    if state:
        return Path(state.split(":")[0]) / "edge.db"
    # A technician's shell reading the installed config must find what the service (StateDirectory=) uses.
    return SYSTEM_STATE / "edge.db" if system else Path(".edge-app") / "edge.db"


def _default_socket(db_path: Path, system: bool) -> Path:
    runtime = os.environ.get("RUNTIME_DIRECTORY")
    if runtime:
        return Path(runtime.split(":")[0]) / "api.sock"
    return SYSTEM_RUNTIME / "api.sock" if system else db_path.parent / "api.sock"


def _host_port(t: _Table, key: str) -> tuple[str, int] | None:
    raw = t.get(key, str)
    if raw is None:
        return None
    host, sep, port_s = raw.rpartition(":")
    host = host.strip("[]")
    if not sep or not (port_s.isascii() and port_s.isdigit()) or not 0 < int(port_s) < 65536:
        raise t.err(key, f"expected HOST:PORT, got {raw!r}")
    try:
        ipaddress.ip_address(host)
    except ValueError:
        if host != "localhost":
            raise t.err(key, f"{host!r} is not an IP address") from None
    return host, int(port_s)


def _parse_listen(t: _Table) -> tuple[str, int] | None:
    addr = _host_port(t, "listen")
    if addr is None:
        return None
    return addr


def is_loopback(host: str) -> bool:
    """Plain HTTP only here; any other address gets TLS."""
    return host == "localhost" or ipaddress.ip_address(host).is_loopback


def _flag(t: _Table, spec: ProtocolSpec, key: DeviceOption) -> bool:
    """A true/false option; False, and the key unknown, for a protocol that does not take it."""
    return bool(t.get(str(key), bool, spec.default(key, False))) if spec.takes(key) else False


def _parse_device(raw: Any, i: int, src: str, names: set[str]) -> DeviceConfig:
    t = _Table(raw, f"devices[{i}]", src)
    name = t.get("name", str, required=True)
    if not _NAME_RE.match(name):
        raise t.err("name", f"{name!r}: use 1-32 lowercase letters, digits, '-' or '_'")
    if name in names:
        raise t.err("name", f"{name!r} is used by another device")
    names.add(name)
    protocol = t.get("protocol", str, required=True)
    spec = find_spec(protocol)
    if spec is None:
        raise t.err("protocol", f"unknown protocol {protocol!r} (known: {', '.join(protocol_names())})")
    # port and address are read for every protocol, so one given to the wrong kind of device gets a
    # pointer to the right key; baudrate too, as always (over BLE it is unused).
    port = t.get("port", str)
    baudrate = t.get("baudrate", int, spec.default(DeviceOption.BAUDRATE, 9600))
    address = t.get("address", str)
    listen = _host_port(t, "listen") if spec.takes(DeviceOption.LISTEN) else None
    set_format = _flag(t, spec, DeviceOption.SET_FORMAT)
    set_clock = _flag(t, spec, DeviceOption.SET_CLOCK)
    priority = t.get("priority", int, 0)
    if not -100 <= priority <= 100:
        raise t.err("priority", f"expected -100 to 100 (higher wins), got {priority}")
    ble = spec.transport is TransportKind.BLE
    if not ble:
        if port and listen:
            raise t.err("listen", "give either port (serial, or tcp://HOST:PORT to connect out) or listen, not both")
        if not port and not listen:
            connect_in = " (or listen = \"HOST:PORT\" for monitors that connect in)" if spec.takes(
                DeviceOption.LISTEN) else ""
            raise t.err("port", f"required for protocol {protocol}{connect_in}")
        if baudrate not in (1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200):
            raise t.err("baudrate", f"{baudrate} is not a standard serial rate")
        if port and port.startswith("tcp://"):
            if spec.transport is not TransportKind.SERIAL_OR_TCP:
                tcp = ", ".join(protocol_names(TransportKind.SERIAL_OR_TCP))
                raise t.err("port", f"tcp:// is for {tcp}; serial monitors behind a terminal server use "
                                    "socket://HOST:PORT")
            host, sep, num = port.removeprefix("tcp://").rstrip("/").rpartition(":")
            if not sep or not host or not (num.isascii() and num.isdigit()) or not 0 < int(num) < 65536:
                raise t.err("port", f"expected tcp://HOST:PORT, got {port!r}")
    if ble:
        if port:
            raise t.err("port", f"{protocol} is Bluetooth LE: give address = \"AA:BB:CC:DD:EE:FF\" (or none, to "
                                "take the first device advertising the service), not a port")
        if address is not None and not _MAC_RE.match(address):
            raise t.err("address", f"expected a Bluetooth address like AA:BB:CC:DD:EE:FF, got {address!r}")
    elif address is not None:
        raise t.err("address", f"only Bluetooth LE devices have an address; {protocol} uses port")
    t.done()
    return DeviceConfig(name=name, protocol=protocol, port=port, baudrate=baudrate, address=address, listen=listen,
                        set_format=set_format, set_clock=set_clock, priority=priority)


def _parse_upstream(raw: Any, src: str, base: Path) -> UpstreamConfig:
    t = _Table(raw, "upstream", src)
    target = t.get("target", str, required=True)
    if target not in ("fhir", "mqtt"):
        raise t.err("target", f"expected \"fhir\" or \"mqtt\", got {target!r}")
    url = t.get("url", str, required=True)
    _check_upstream_url(t, target, url)
    approval = t.get("require_approval", bool, False)
    keys = t.get("trust_keys", list, [])
    if not all(isinstance(k, str) and k for k in keys):
        raise t.err("trust_keys", "expected a list of file paths")
    if approval and not keys:
        raise t.err("trust_keys", "require_approval = true needs at least one trust key (the authority's public key)")

    def path(name: str) -> str | None:
        value = t.get(name, str)
        return None if value is None else str(base / value)

    pin = t.get("pin_sha256", str)
    if pin is not None:
        pin = pin.replace(":", "").lower()
        if not re.fullmatch(r"[0-9a-f]{64}", pin):
            raise t.err("pin_sha256", "expected the certificate's SHA-256 as 64 hex digits (colons allowed)")
    topic = t.get("topic", str, "edge-app/{vehicle}")
    if not topic or any(c in topic for c in "#+\x00") or topic.startswith("/"):
        raise t.err("topic", f"{topic!r}: an MQTT topic prefix without wildcards, e.g. \"edge-app/{{vehicle}}\"")
    controls = t.get("control_topics", list, [f"{topic}/control", "edge-app/fleet/control"] if target == "mqtt" else [])
    for c in controls:
        if not isinstance(c, str) or not c or any(ch in c for ch in "#+\x00") or c.startswith("/"):
            raise t.err("control_topics", f"{c!r}: expected MQTT topics without wildcards, e.g. "
                                          "[\"edge-app/{vehicle}/control\", \"edge-app/fleet/control\"]")
    if controls and target != "mqtt":
        raise t.err("control_topics", "apply to the mqtt target only (with fhir, apply orders with "
                                      "`edge-app upstream suspend --order FILE`)")
    batch = t.get("batch_size", int, 200)
    if not 1 <= batch <= 5000:
        raise t.err("batch_size", f"expected 1 to 5000 entries per transaction, got {batch}")
    window = t.get("in_flight", int, 4)
    if not 1 <= window <= 64:
        raise t.err("in_flight", f"expected 1 to 64, got {window}")
    timeout = t.get("timeout_s", (int, float), 15.0)
    if not 0.1 <= timeout <= 600:
        raise t.err("timeout_s", f"expected 0.1 to 600 seconds, got {timeout}")
    oauth = {k: t.get(k, str) for k in ("oauth_token_url", "oauth_client_id", "oauth_scope")}
    secret = path("oauth_secret_file")
    if (oauth["oauth_token_url"] is None) != (oauth["oauth_client_id"] is None) or \
            (secret is not None and oauth["oauth_token_url"] is None):
        raise t.err("oauth_token_url", "OAuth2 needs oauth_token_url, oauth_client_id and oauth_secret_file together")
    if oauth["oauth_token_url"] is not None:
        if secret is None:
            raise t.err("oauth_secret_file", "required with oauth_token_url")
        if target != "fhir":
            raise t.err("oauth_token_url", "OAuth2 client credentials apply to the fhir target only")
    client_cert, client_key = path("client_cert"), path("client_key")
    if client_key is not None and client_cert is None:
        raise t.err("client_key", "given without client_cert")
    cfg = UpstreamConfig(target=target, url=url, require_approval=approval,
                         trust_keys=tuple(str(base / k) for k in keys),
                         live_observations=t.get("live_observations", bool, False),
                         raw_series=t.get("raw_series", bool, False), pin_sha256=pin,
                         ca_file=path("ca_file"), client_cert=client_cert, client_key=client_key,
                         oauth_token_url=oauth["oauth_token_url"], oauth_client_id=oauth["oauth_client_id"],
                         oauth_secret_file=secret, oauth_scope=oauth["oauth_scope"], topic=topic,
                         control_topics=tuple(controls),
                         batch_size=batch, in_flight=window, timeout_s=float(timeout))
    t.done()
    return cfg


def _check_upstream_url(t: _Table, target: str, url: str) -> None:
    parts = urlsplit(url)
    secure, plain = ("https", "http") if target == "fhir" else ("mqtts", "mqtt")
    if parts.scheme not in (secure, plain) or not parts.hostname:
        raise t.err("url", f"expected {secure}://host[:port]/... for the {target} target, got {url!r}")
    try:
        loopback = is_loopback(parts.hostname)
    except ValueError:
        loopback = False
    if parts.scheme == plain and not loopback:
        raise t.err("url", f"{plain}:// is only allowed to loopback; use {secure}:// for {parts.hostname}")
    try:
        _ = parts.port  # urlsplit checks the port only when asked
    except ValueError:
        raise t.err("url", f"bad port in {url!r}") from None


def parse(data: dict[str, Any], path: Path | None, *, warnings: tuple[str, ...] = ()) -> Config:
    """Validate a decoded TOML document."""
    src = str(path) if path else "<defaults>"
    root = _Table(data, "", src)
    storage = _Table(root.get("storage", dict, {}), "storage", src)
    db = storage.get("path", str)
    retention = storage.get("retention_days", int, 30)
    if not 1 <= retention <= 3650:
        raise storage.err("retention_days", f"expected 1 to 3650 days, got {retention}")
    storage.done()
    # Relative paths in a config file are relative to that file, not to wherever a command was run.
    base = path.parent if path else Path(".")
    system = path is not None and path == DEFAULT_PATH
    db_path = base / db if db else _default_db(system)
    api = _Table(root.get("api", dict, {}), "api", src)
    sock = api.get("socket", str)
    listen = _parse_listen(api)
    api.done()
    names: set[str] = set()
    devices = tuple(_parse_device(d, i, src, names) for i, d in enumerate(root.get("devices", list, [])))
    up_raw = root.get("upstream", dict)
    upstream = _parse_upstream(up_raw, src, base) if up_raw is not None else None
    clinical = parse_clinical(_Table(root.get("clinical", dict, {}), "clinical", src))
    app = _Table(root.get("appliance", dict, {}), "appliance", src)
    vehicle = app.get("vehicle_id", str, "")
    level = app.get("log_level", str, "info")
    if level not in ("debug", "info", "warning", "error"):
        raise app.err("log_level", f"expected debug, info, warning or error, got {level!r}")
    timezone = app.get("timezone", str)
    if timezone is not None:
        try:
            ZoneInfo(timezone)
        except (ValueError, ZoneInfoNotFoundError):
            raise app.err("timezone", f"{timezone!r} is not a time zone (use an IANA name, e.g. \"Europe/London\")"
                          ) from None
    app.done()
    root.done()
    if upstream is not None and not vehicle:
        raise app.err("vehicle_id", "required with [upstream]: approvals, topics and bundles name the vehicle")
    if vehicle and not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}", vehicle):
        raise app.err("vehicle_id", f"{vehicle!r}: use up to 64 letters, digits, '.', '_' or '-'")
    socket_path = base / sock if sock else _default_socket(db_path, system)
    if socket_path in (db_path, db_path.with_name(db_path.name + "-wal"), db_path.with_name(db_path.name + "-shm")):
        raise api.err("socket", "must not be the database file")
    return Config(db_path=db_path, socket_path=socket_path, listen=listen,
                  devices=devices, upstream=upstream, vehicle_id=vehicle, log_level=level, timezone=timezone, retention_days=retention,
                  clinical=clinical, source=path,
                  warnings=warnings)
