"""The systemd units: lint-clean under `systemd-analyze verify`, hardened to the DESIGN.md exposure bars."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.sysdeps import require_program

UNITS_DIR = Path(__file__).resolve().parents[2] / "systemd"
UNITS = sorted(p.name for p in UNITS_DIR.iterdir() if p.suffix in (".service", ".timer"))
INSTALLED_BINARY = "/usr/bin/edge-app"
# DESIGN.md quality bars for the daemon (systemd-hostnamed scores 1.5) and the uplink; the others are
# held at what they score now so a loosened line shows up here.
EXPOSURE_LIMITS = {"edge-app.service": 1.5, "edge-app-uplink.service": 1.0, "edge-app-tui.service": 1.0,
                   "edge-app-backup.service": 0.5}
_EXPOSURE = re.compile(r"Overall exposure level for \S+: (\d+\.\d)")


def analyze() -> str:
    return require_program("systemd-analyze", "systemd")


def venv_edge_app() -> str:
    """The console script of this checkout's environment, standing in for /usr/bin/edge-app."""
    script = Path(sys.executable).parent / "edge-app"
    if not script.is_file():
        pytest.fail(f"{script} is missing: install the project into its environment (./dev sync or uv sync)")
    return str(script)


def verify(units: dict[str, str], tmp: Path, only: str | None = None) -> str:
    """`systemd-analyze verify` on unit texts written to tmp; everything it printed (empty when clean).

    verify fails hard when an ExecStart binary does not exist, and /usr/bin/edge-app exists only on an
    installed box. So the units are copied with ExecStart pointing at this checkout's own edge-app
    script: same command line, same checks, nothing installed. The copies sit together in one
    directory, which verify searches first, so Wants=/After= between them resolve to these copies.
    verify only warns (rc 0) on unknown keys and bad values, so any output at all is a failure.
    """
    tmp.mkdir(parents=True, exist_ok=True)
    for name, text in units.items():
        (tmp / name).write_text(text.replace(f"={INSTALLED_BINARY} ", f"={venv_edge_app()} "))
    names = [only] if only else list(units)
    cmd = [analyze(), "verify", *(str(tmp / n) for n in names)]
    r = subprocess.run(cmd, check=False, capture_output=True, text=True, cwd=tmp, timeout=60)
    return (r.stdout + r.stderr).strip() + (f"\n(exit {r.returncode})" if r.returncode else "")


def unit_text(name: str) -> str:
    return (UNITS_DIR / name).read_text()


def directives(name: str) -> dict[str, list[str]]:
    """Key -> values over the unit's sections (repeated keys accumulate, as systemd reads them)."""
    out: dict[str, list[str]] = {}
    for line in unit_text(name).splitlines():
        line = line.strip()
        if line and not line.startswith(("#", ";", "[")):
            key, _, value = line.partition("=")
            out.setdefault(key, []).append(value)
    return out


def test_there_are_units_to_check() -> None:
    assert set(UNITS) >= {"edge-app.service", "edge-app-uplink.service", "edge-app-tui.service",
                          "edge-app-backup.service", "edge-app-backup.timer"}


@pytest.mark.parametrize("name", UNITS)
def test_verify_prints_nothing(name: str, tmp_path: Path) -> None:
    out = verify({n: unit_text(n) for n in UNITS}, tmp_path, only=name)
    assert out == "", out


@pytest.mark.parametrize(("typo", "expected"), [
    (("Restart=always", "Restrat=always"), "Unknown key 'Restrat'"),
    (("Type=notify", "Type=notifyy"), "notifyy"),
    (("ExecStart=/usr/bin/edge-app run", "ExecStart=edge-app-nope run"), "edge-app-nope"),
])
def test_verify_helper_catches_mistakes(typo: tuple[str, str], expected: str, tmp_path: Path) -> None:
    text = unit_text("edge-app.service")
    assert typo[0] in text
    out = verify({"edge-app.service": text.replace(typo[0], typo[1])}, tmp_path)
    assert expected in out, out


def exposure(path: Path) -> float:
    r = subprocess.run([analyze(), "security", "--offline=yes", str(path)], check=False, capture_output=True,
                       text=True, timeout=60)
    m = _EXPOSURE.search(r.stdout + r.stderr)
    assert m, r.stdout + r.stderr
    return float(m.group(1))


@pytest.mark.parametrize(("name", "limit"), sorted(EXPOSURE_LIMITS.items()))
def test_security_exposure(name: str, limit: float, tmp_path: Path) -> None:
    score = exposure(UNITS_DIR / name)
    print(f"\n{name}: exposure {score}")
    assert score <= limit, f"{name}: exposure {score} > {limit}; see `systemd-analyze security --offline=yes`"
    # --threshold is on the 0-100 scale (exposure x 10): the same bar as the exit code a CI job would use.
    r = subprocess.run([analyze(), "security", "--offline=yes", f"--threshold={round(limit * 10)}",
                        str(UNITS_DIR / name)], check=False, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout[-2000:]


def test_uplink_with_the_documented_upstream_dropin_stays_within_1_0(tmp_path: Path) -> None:
    # docs/technician.md: enabling the uplink adds the upstream's addresses to IPAddressAllow=.
    text = unit_text("edge-app-uplink.service").replace(
        "IPAddressAllow=localhost\n", "IPAddressAllow=localhost\nIPAddressAllow=192.0.2.0/24 10.20.0.53\n")
    unit = tmp_path / "edge-app-uplink.service"
    unit.write_text(text)
    assert exposure(unit) <= 1.0


def test_daemon_unit_shape() -> None:
    d = directives("edge-app.service")
    assert d["Type"] == ["notify"] and d["NotifyAccess"] == ["main"] and d["Restart"] == ["always"]
    assert d["ExecStart"] == [f"{INSTALLED_BINARY} run"] and d["WatchdogSec"]
    assert d["User"] == ["edge-app"] and "DynamicUser" not in d
    for key in ("StateDirectory", "RuntimeDirectory", "ConfigurationDirectory"):
        assert d[key] == ["edge-app"], key
    assert set(d["RestrictAddressFamilies"][0].split()) == {"AF_UNIX", "AF_INET", "AF_INET6"}
    assert {v.split()[0] for v in d["DeviceAllow"]} == {"char-ttyUSB", "char-ttyACM", "char-ttyS"}
    assert d["DevicePolicy"] == ["closed"] and d["CapabilityBoundingSet"] == [""]


def test_uplink_reaches_no_data_and_no_devices() -> None:
    d = directives("edge-app-uplink.service")
    assert d["ExecStart"] == [f"{INSTALLED_BINARY} uplink"]
    assert "StateDirectory" not in d and "DeviceAllow" not in d and d["PrivateDevices"] == ["yes"]
    assert "-/var/lib/edge-app" in d["InaccessiblePaths"]
    assert set(d["RestrictAddressFamilies"][0].split()) == {"AF_UNIX", "AF_INET", "AF_INET6"}
    assert d["IPAddressDeny"] == ["any"]


def test_tui_takes_tty1_from_the_getty() -> None:
    d = directives("edge-app-tui.service")
    assert d["ExecStart"] == [f"{INSTALLED_BINARY} tui"] and d["User"] == ["edge-app"]
    assert d["StandardInput"] == ["tty"] and d["TTYPath"] == ["/dev/tty1"]
    assert d["Conflicts"] == ["getty@tty1.service"]


def test_backup_timer_runs_the_backup_service_with_retention() -> None:
    t = directives("edge-app-backup.timer")
    assert t["OnCalendar"] == ["daily"] and t["Persistent"] == ["true"]
    target = t.get("Unit", ["edge-app-backup.service"])[0]
    assert target in UNITS, "verify does not check that a timer's unit exists"
    cmd = directives(target)["ExecStart"][0].split()
    assert cmd[:4] == [INSTALLED_BINARY, "db", "backup", "/var/lib/edge-app/backups/"] and "--keep" in cmd


def test_exec_start_commands_exist_in_the_cli() -> None:
    # Every ExecStart names a real `edge-app` subcommand (except the uplink, which is not built yet).
    help_text = subprocess.run([venv_edge_app(), "--help"], check=False, capture_output=True, text=True,
                               timeout=60).stdout
    for name in UNITS:
        for cmd in directives(name).get("ExecStart", []):
            sub = cmd.split()[1]
            if sub != "uplink":
                assert re.search(rf"\b{sub}\b", help_text), (name, sub)
