"""sysusers.d, tmpfiles.d, the preset and the udev rule, applied offline to a scratch root (no PID 1)."""
from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from tests.sysdeps import require_program

SYSTEMD_DIR = Path(__file__).resolve().parents[2] / "systemd"
RULES = SYSTEMD_DIR / "udev" / "60-edge-app-monitors.rules"


@pytest.fixture
def fake_root(tmp_path: Path) -> Path:
    """A root with just enough of /etc for systemd-sysusers: root, and Debian's dialout group."""
    etc = tmp_path / "etc"
    etc.mkdir()
    (etc / "passwd").write_text("root:x:0:0:root:/root:/bin/bash\n")
    (etc / "group").write_text("root:x:0:\ndialout:x:20:\n")
    return tmp_path


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), check=False, capture_output=True, text=True, timeout=60)


def sysusers(root: Path) -> None:
    r = run(require_program("systemd-sysusers", "systemd"), f"--root={root}",
            str(SYSTEMD_DIR / "sysusers.d" / "edge-app.conf"))
    assert r.returncode == 0, r.stderr


def test_sysusers_makes_a_system_user_in_dialout(fake_root: Path) -> None:
    sysusers(fake_root)
    user = next(ln.split(":") for ln in (fake_root / "etc/passwd").read_text().splitlines()
                if ln.startswith("edge-app:"))
    assert int(user[2]) < 1000, "a system uid"
    assert user[5] == "/var/lib/edge-app" and user[6].endswith("nologin")
    groups = {ln.split(":")[0]: ln.split(":")[3] for ln in (fake_root / "etc/group").read_text().splitlines()}
    assert "edge-app" in groups and groups["dialout"] == "edge-app"


def test_tmpfiles_makes_config_and_backup_dirs(fake_root: Path) -> None:
    sysusers(fake_root)  # tmpfiles resolves edge-app in the same root
    r = run(require_program("systemd-tmpfiles", "systemd"), f"--root={fake_root}", "--create",
            str(SYSTEMD_DIR / "tmpfiles.d" / "edge-app.conf"))
    assert r.returncode == 0 and not r.stderr, r.stderr
    uid = int(next(ln.split(":")[2] for ln in (fake_root / "etc/passwd").read_text().splitlines()
                   if ln.startswith("edge-app:")))
    conf = (fake_root / "etc/edge-app").stat()
    assert conf.st_uid == 0 and conf.st_gid == uid and conf.st_mode & 0o777 == 0o750
    backups = (fake_root / "var/lib/edge-app/backups").stat()
    assert backups.st_uid == uid and backups.st_mode & 0o007 == 0


def test_preset_enables_daemon_tui_and_timer_not_uplink(tmp_path: Path) -> None:
    units = tmp_path / "usr/lib/systemd/system"
    presets = tmp_path / "usr/lib/systemd/system-preset"
    units.mkdir(parents=True)
    presets.mkdir(parents=True)
    (tmp_path / "etc/systemd/system").mkdir(parents=True)
    for p in SYSTEMD_DIR.iterdir():
        if p.suffix in (".service", ".timer"):
            (units / p.name).write_text(p.read_text())
    preset = SYSTEMD_DIR / "system-preset" / "90-edge-app.preset"
    (presets / preset.name).write_text(preset.read_text())
    r = run(require_program("systemctl", "systemd"), f"--root={tmp_path}", "preset-all")
    assert r.returncode == 0, r.stderr
    enabled = {p.name for p in (tmp_path / "etc/systemd/system").rglob("*") if p.is_symlink()}
    assert enabled == {"edge-app.service", "edge-app-tui.service", "edge-app-backup.timer"}


# --- udev: no udevadm verify in systemd 252 and no devices here, so the rule is checked by its grammar.
_TOKEN = re.compile(r'\s*([A-Z_]+)(?:\{([^}]*)\})?\s*(==|!=|\+=|-=|:=|=)\s*"([^"]*)"\s*(,|$)')
_MATCH_KEYS = {"ACTION", "SUBSYSTEM", "SUBSYSTEMS", "KERNEL", "KERNELS", "ATTR", "ATTRS", "ENV", "DRIVERS",
               "TAG"}
_ASSIGN_KEYS = {"ENV", "GROUP", "MODE", "OWNER", "SYMLINK", "IMPORT", "GOTO", "LABEL", "TAG", "RUN"}


def rules() -> list[list[tuple[str, str | None, str, str]]]:
    """Each rule line as (key, attribute, operator, value) tokens; AssertionError on anything unparsable."""
    out = []
    for n, line in enumerate(RULES.read_text().splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        tokens, pos = [], 0
        while pos < len(line):
            m = _TOKEN.match(line, pos)
            assert m, f"{RULES.name}:{n}: cannot parse at {line[pos:]!r}"
            key, attr, op, value, _ = m.groups()
            is_match = op in ("==", "!=")
            known = _MATCH_KEYS if is_match else _ASSIGN_KEYS
            assert key in known, f"{RULES.name}:{n}: {key}{op} is not a udev key"
            tokens.append((key, attr, op, value))
            pos = m.end()
        out.append(tokens)
    return out


def test_udev_rule_parses_and_its_gotos_land() -> None:
    parsed = rules()
    labels = {v for r in parsed for k, _, _, v in r if k == "LABEL"}
    gotos = {v for r in parsed for k, _, _, v in r if k == "GOTO"}
    assert gotos and gotos <= labels


def test_udev_rule_names_the_monitor_adapters() -> None:
    chips = {}
    for r in rules():
        attrs = {(a or k): v for k, a, op, v in r if op == "=="}
        env = {a: v for k, a, op, v in r if k == "ENV" and op == "="}
        if "idVendor" in attrs:
            chips[(attrs["idVendor"], attrs["idProduct"])] = env["EDGE_APP_CHIP"]
    assert chips == {("0403", "6001"): "ftdi", ("067b", "2303"): "pl2303", ("10c4", "ea60"): "cp210x"}
    flat = [(k, op, v) for r in rules() for k, _, op, v in r]
    assert ("GROUP", "=", "dialout") in flat and ("MODE", "=", "0660") in flat
    links = [v for k, op, v in flat if k == "SYMLINK"]
    assert links and all(v.startswith("edge/") for v in links)


def test_the_documented_local_rule_parses_too() -> None:
    # The example in the rule's header is what technicians copy; it must be valid too.
    example = next(ln.lstrip("# ").strip() for ln in RULES.read_text().splitlines()
                   if 'SYMLINK+="edge/oximeter"' in ln)
    m = [mt.groups() for mt in _TOKEN.finditer(example)]
    assert [g[0] for g in m] == ["SUBSYSTEM", "ENV", "ENV", "SYMLINK"]
