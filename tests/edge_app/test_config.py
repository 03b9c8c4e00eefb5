"""Config validation: every mistake is one line naming the file and the key."""
from __future__ import annotations

from pathlib import Path

import pytest

from edge_app import config
from edge_app.cli.main import main
from edge_app.errors import ConfigError

GOOD = """
[storage]
path = "{root}/edge.db"

[api]
socket = "{root}/api.sock"
listen = "127.0.0.1:8080"

[appliance]
vehicle_id = "AMB-042"

[[devices]]
name = "oximeter"
protocol = "masimo-ascii"
port = "/dev/serial/by-id/usb-FTDI-if00"
baudrate = 9600

[upstream]
target = "fhir"
url = "https://fhir.trust.example/R4"
require_approval = true
trust_keys = ["/etc/edge-app/trust/authority.pub"]
"""


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "config.toml"
    p.write_text(text.format(root=tmp_path))
    return p


def test_good_config_loads(tmp_path: Path) -> None:
    cfg = config.load(write(tmp_path, GOOD))
    assert cfg.db_path == tmp_path / "edge.db"
    assert cfg.socket_path == tmp_path / "api.sock"
    assert cfg.listen == ("127.0.0.1", 8080)
    assert cfg.vehicle_id == "AMB-042"
    assert [(d.name, d.protocol, d.port, d.baudrate) for d in cfg.devices] == [
        ("oximeter", "masimo-ascii", "/dev/serial/by-id/usb-FTDI-if00", 9600)]
    assert cfg.upstream is not None and cfg.upstream.require_approval
    assert cfg.upstream.trust_keys == ("/etc/edge-app/trust/authority.pub",)


@pytest.mark.parametrize(("mutate", "message"), [
    (lambda t: t.replace("baudrate = 9600", "baudrate = 9600\nspeed = 1"), "devices[0].speed: unknown key"),
    (lambda t: t.replace("baudrate = 9600", 'baudrate = "fast"'), "devices[0].baudrate: expected an integer, got a string"),
    (lambda t: t.replace('port = "/dev/serial/by-id/usb-FTDI-if00"\n', ""), "devices[0].port: required for protocol masimo-ascii"),
    (lambda t: t.replace('protocol = "masimo-ascii"', 'protocol = "masimo-ascii2"'), "devices[0].protocol: unknown protocol 'masimo-ascii2'"),
    (lambda t: t.replace('[api]', '[api]\nsockett = "x"'), "api.sockett: unknown key"),
    (lambda t: t.replace('[storage]', '[storag]'), "storag: unknown key"),
    (lambda t: t.replace('127.0.0.1:8080', 'localhost'), "api.listen: expected HOST:PORT"),
    (lambda t: t.replace('target = "fhir"', 'target = "ftp"'), "upstream.target"),
    (lambda t: t.replace('require_approval = true', 'require_approval = "yes"'), "upstream.require_approval: expected true or false"),
    (lambda t: t.replace('name = "oximeter"', 'name = "Oxi Meter"'), "devices[0].name"),
    (lambda t: t + '\n[[devices]]\nname = "oximeter"\nprotocol = "masimo-ascii"\nport = "/dev/x"\n', "is used by another device"),
    (lambda t: t.replace("[storage]", "storage = 3\n[storagex]"), "storage: expected a table"),
    (lambda t: t + "\n[[devices]\n", "not valid TOML"),
    (lambda t: t.replace("baudrate = 9600", "baudrate = 12345"), "devices[0].baudrate: 12345 is not a standard"),
    (lambda t: t.replace("https://fhir.trust.example/R4", "http://fhir.trust.example/R4"),
     "upstream.url: http:// is only allowed to loopback"),
    (lambda t: t.replace("https://fhir.trust.example/R4", "mqtts://broker:8883"), "upstream.url: expected https://"),
    (lambda t: t.replace('target = "fhir"', 'target = "mqtt"').replace("https://fhir.trust.example/R4", "mqtt://10.0.0.1"),
     "upstream.url: mqtt:// is only allowed to loopback"),
    (lambda t: t.replace('trust_keys = ["/etc/edge-app/trust/authority.pub"]', "trust_keys = []"),
     "upstream.trust_keys: require_approval = true needs at least one trust key"),
    (lambda t: t.replace('vehicle_id = "AMB-042"', ""), "appliance.vehicle_id: required with [upstream]"),
    (lambda t: t + 'pin_sha256 = "abc"\n', "upstream.pin_sha256: expected the certificate's SHA-256"),
    (lambda t: t + 'topic = "edge/#"\n', "upstream.topic"),
    (lambda t: t + "batch_size = 0\n", "upstream.batch_size: expected 1 to 5000"),
    (lambda t: t + 'control_topics = ["x/control"]\n', "upstream.control_topics: apply to the mqtt target only"),
    (lambda t: t.replace('target = "fhir"', 'target = "mqtt"').replace("https://fhir.trust.example/R4", "mqtts://b")
     + 'control_topics = ["fleet/+/control"]\n', "upstream.control_topics: 'fleet/+/control': expected MQTT topics"),
    (lambda t: t + "in_flight = 100\n", "upstream.in_flight"),
    (lambda t: t + 'oauth_token_url = "https://idp/token"\n', "upstream.oauth_token_url: OAuth2 needs"),
    (lambda t: t + 'client_key = "k.pem"\n', "upstream.client_key: given without client_cert"),
])
def test_bad_config_names_file_and_key(tmp_path: Path, mutate, message: str) -> None:
    path = write(tmp_path, mutate(GOOD))
    with pytest.raises(ConfigError) as err:
        config.load(path)
    text = str(err.value)
    assert text.startswith(str(path) + ": "), text
    assert message in text
    assert "\n" not in text


def test_explicit_missing_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        config.load(tmp_path / "nope.toml")


def test_env_var_is_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EDGE_APP_CONFIG", str(write(tmp_path, GOOD)))
    assert config.load().vehicle_id == "AMB-042"


def test_defaults_follow_systemd_directories(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("STATE_DIRECTORY", str(tmp_path / "state"))
    monkeypatch.setenv("RUNTIME_DIRECTORY", str(tmp_path / "run"))
    cfg = config.parse({}, None)
    assert cfg.db_path == tmp_path / "state" / "edge.db"
    assert cfg.socket_path == tmp_path / "run" / "api.sock"


def test_run_exits_2_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, GOOD.replace("baudrate = 9600", "baudrate = 9600\nparity = 7"))
    assert main(["run", "--config", str(path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"edge-app: {path}: devices[0].parity: unknown key (known: address, baudrate, name, port, priority, protocol)"]


def test_protocol_specific_keys(tmp_path: Path) -> None:
    base = '[[devices]]\nname = "m"\nprotocol = "{p}"\n{extra}\n'

    def load(p: str, extra: str) -> config.Config:
        return config.load(write(tmp_path, base.replace("{p}", p).replace("{extra}", extra)))

    with pytest.raises(ConfigError, match=r"devices\[0\].listen: unknown key"):
        load("masimo-ascii", 'port = "/dev/x"\nlisten = "0.0.0.0:2575"')
    with pytest.raises(ConfigError, match=r"devices\[0\].set_format: unknown key"):
        load("masimo-ascii", 'port = "/dev/x"\nset_format = true')
    with pytest.raises(ConfigError, match=r"devices\[0\].port: tcp:// is for hl7-oru"):
        load("masimo-ascii", 'port = "tcp://10.0.0.5:4001"')


def test_nul_bytes_and_socket_on_the_database_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"storage.path: contains a NUL character"):
        config.load(write(tmp_path, '[storage]\npath = "/tmp/a\\u0000b"\n'))
    with pytest.raises(ConfigError, match=r"api.socket: must not be the database file"):
        config.load(write(tmp_path, '[storage]\npath = "/tmp/x/edge.db"\n[api]\nsocket = "/tmp/x/edge.db"\n'))


def test_relative_paths_are_relative_to_the_config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir("/")
    cfg = config.load(write(tmp_path, '[storage]\npath = "data/edge.db"\n[api]\nsocket = "run/api.sock"\n'))
    assert cfg.db_path == tmp_path / "data" / "edge.db" and cfg.socket_path == tmp_path / "run" / "api.sock"


def test_bluetooth_devices_take_an_address_not_a_port(tmp_path: Path) -> None:
    base = '[[devices]]\nname = "strap"\nprotocol = "gatt-heart-rate"\n'
    assert config.load(write(tmp_path, base + 'address = "C0:FF:EE:00:00:11"\n')).devices[0].address == \
        "C0:FF:EE:00:00:11"
    assert config.load(write(tmp_path, base)).devices[0].address is None  # scan for the service
    with pytest.raises(ConfigError, match=r"devices\[0\].port: gatt-heart-rate is Bluetooth LE"):
        config.load(write(tmp_path, base + 'port = "/dev/ttyUSB0"\n'))
    with pytest.raises(ConfigError, match=r"devices\[0\].address: expected a Bluetooth address"):
        config.load(write(tmp_path, base + 'address = "C0:FF:EE"\n'))
    with pytest.raises(ConfigError, match=r"devices\[0\].address: only Bluetooth LE"):
        config.load(write(tmp_path, '[[devices]]\nname = "m"\nprotocol = "masimo-ascii"\nport = "/dev/x"\n'
                                    'address = "C0:FF:EE:00:00:11"\n'))


def test_upstream_options_parse(tmp_path: Path) -> None:
    text = GOOD + ('pin_sha256 = "' + ":".join(["AB"] * 32) + '"\nclient_cert = "tls/c.pem"\nlive_observations = true\n'
                   'oauth_token_url = "https://idp/token"\noauth_client_id = "amb"\noauth_secret_file = "secret"\n')
    cfg = config.load(write(tmp_path, text))
    up = cfg.upstream
    assert up is not None and up.pin_sha256 == "ab" * 32 and up.live_observations
    assert up.client_cert == str(tmp_path / "tls/c.pem") and up.oauth_secret_file == str(tmp_path / "secret")
    assert (up.batch_size, up.in_flight, up.timeout_s, up.topic) == (200, 4, 15.0, "edge-app/{vehicle}")
    assert up.control_topics == (), "orders arrive over MQTT only; with fhir, by file"
    mqtt = GOOD.replace('target = "fhir"', 'target = "mqtt"').replace("https://fhir.trust.example/R4", "mqtts://b")
    up = config.load(write(tmp_path, mqtt + 'topic = "trust/{{vehicle}}"\n')).upstream
    assert up is not None and up.control_topics == ("trust/{vehicle}/control", "edge-app/fleet/control")
    up = config.load(write(tmp_path, mqtt + "control_topics = []\n")).upstream
    assert up is not None and up.control_topics == ()
