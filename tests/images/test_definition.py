"""The appliance image's definition (images/), checked without building it (images/build takes minutes).

What is checked: every file the build script and the image's units reference exists; the presets enable
the daemon (and not the uplink, nor anything that makes the boot wait for a network); the journald and
watchdog drop-ins say what they must; fstab puts the state where the units keep it; the partition layout
agrees between the build script, image.conf and repart.d; the scripts pass `bash -n`/`sh -n` and
shellcheck; the package list; and the wheel the image installs really builds and holds both packages.
"""
from __future__ import annotations

import configparser
import os
import re
import shutil
import subprocess
import tomllib
import zipfile
from pathlib import Path

import pytest

from tests.sysdeps import require_program

REPO = Path(__file__).resolve().parents[2]
IMAGES = REPO / "images"
ROOTFS = IMAGES / "rootfs"
BUILD = IMAGES / "build"
SYSTEMD_DIR = REPO / "systemd"
UNIT_DIR = ROOTFS / "usr/lib/systemd/system"
SCRIPTS = [BUILD, IMAGES / "boot-test"]
SH_SCRIPTS = sorted((ROOTFS / "usr/libexec/edge-image").iterdir())


def run(*args: str | Path, **kw) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(a) for a in args], check=False, capture_output=True, text=True, timeout=60, **kw)


def image_conf() -> dict[str, str]:
    """image.conf is sourced by bash: read it the same way."""
    r = run("bash", "-c", 'set -a; . "$1"; env -0', "_", IMAGES / "image.conf", env={"PATH": os.environ["PATH"]})
    assert r.returncode == 0, r.stderr
    return dict(kv.split("=", 1) for kv in r.stdout.split("\0") if "=" in kv)


def packages() -> list[str]:
    lines = (IMAGES / "packages.txt").read_text().splitlines()
    return [ln.split("#", 1)[0].strip() for ln in lines if ln.split("#", 1)[0].strip()]


class _CaseKeepingParser(configparser.ConfigParser):
    def optionxform(self, optionstr: str) -> str:  # systemd's keys are case-sensitive
        return optionstr


def ini(path: Path) -> configparser.ConfigParser:
    cp = _CaseKeepingParser(strict=False, interpolation=None)
    cp.read_string(path.read_text())
    return cp


def presets() -> dict[str, str]:
    """unit -> enable/disable, over the app's preset and the image's (first match wins, by file name)."""
    out: dict[str, str] = {}
    files = sorted([SYSTEMD_DIR / "system-preset/90-edge-app.preset",
                    *(ROOTFS / "usr/lib/systemd/system-preset").glob("*.preset")], key=lambda p: p.name)
    for f in files:
        for ln in f.read_text().splitlines():
            if ln.strip() and not ln.startswith("#"):
                verb, unit = ln.split()[:2]
                out.setdefault(unit, verb)
    return out


# --- files referenced -----------------------------------------------------------------------------------

def test_every_file_the_build_names_exists() -> None:
    text = BUILD.read_text()
    refs = re.findall(r'"\$(HERE|S|REPO)/([^"$]+)"', text)
    assert len(refs) >= 6, refs
    base = {"HERE": IMAGES, "S": SYSTEMD_DIR, "REPO": REPO}
    for var, rel in refs:
        matches = list(base[var].glob(rel)) if "*" in rel else [base[var] / rel]
        assert matches and all(m.exists() for m in matches), f"${var}/{rel} in images/build"
    # Every unit and OS file in systemd/ is installed by the build.
    for f in SYSTEMD_DIR.rglob("*"):
        if f.is_file() and f.suffix not in (".service", ".timer"):
            assert f"$S/{f.relative_to(SYSTEMD_DIR)}" in text, f"images/build does not install {f}"


def test_image_units_verify_against_the_image_tree(tmp_path: Path) -> None:
    """systemd-analyze verify in a scratch root holding the image's files: keys, ExecStart= programs."""
    analyze = require_program("systemd-analyze", "systemd")
    root = tmp_path / "root"
    units = root / "usr/lib/systemd/system"
    shutil.copytree(Path("/usr/lib/systemd/system"), units, symlinks=True)  # targets the units order against
    shutil.copytree(ROOTFS, root, dirs_exist_ok=True, symlinks=True)
    for f in SYSTEMD_DIR.glob("*.service"):
        shutil.copy(f, units)
    (root / "usr/bin").mkdir(parents=True, exist_ok=True)
    for program in ("edge-app", "udevadm"):  # the build's symlink into /opt/edge-app; the udev package's
        (root / "usr/bin" / program).write_text("#!/bin/sh\n")
        (root / "usr/bin" / program).chmod(0o755)
    names = sorted(p.name for p in UNIT_DIR.glob("*.service"))
    assert names
    r = run(analyze, f"--root={root}", "verify", *names, cwd="/")
    assert r.returncode == 0 and not r.stderr.strip(), r.stderr


def test_helper_scripts_are_executable_and_referenced() -> None:
    text = "".join(p.read_text() for p in UNIT_DIR.glob("*.service"))
    for script in SH_SCRIPTS:
        assert os.access(script, os.X_OK), f"{script} is not executable"
        assert f"/usr/libexec/edge-image/{script.name}" in text, f"no unit runs {script.name}"


# --- presets ----------------------------------------------------------------------------------------------

def test_presets_enable_the_daemon_and_the_image_units_and_nothing_waits_for_network(tmp_path: Path) -> None:
    p = presets()
    for unit in ("edge-app.service", "edge-app-tui.service", "edge-app-backup.timer",
                 "edge-image-machine-id.service", "edge-image-console-status.service",
                 "edge-image-udev-local.service"):
        assert p.get(unit) == "enable", unit
    assert p.get("edge-app-uplink.service") == "disable"
    # edge-app.service is After=network-online.target: no wait-online may hold the boot up.
    assert p.get("systemd-networkd-wait-online.service") == "disable"
    # The build applies the presets to exactly the units they name.
    m = re.search(r"UNITS=\(([^)]*)\)", BUILD.read_text())
    assert m and set(m.group(1).split()) == set(p), "images/build's UNITS=(...) must list every preset unit"


def test_systemctl_preset_in_a_scratch_root_enables_them(tmp_path: Path) -> None:
    systemctl = require_program("systemctl", "systemd")
    units = tmp_path / "usr/lib/systemd/system"
    units.mkdir(parents=True)
    (tmp_path / "etc/systemd/system").mkdir(parents=True)
    for f in [*SYSTEMD_DIR.glob("*.service"), *SYSTEMD_DIR.glob("*.timer"), *UNIT_DIR.glob("*.service")]:
        shutil.copy(f, units)
    shutil.copytree(ROOTFS / "usr/lib/systemd/system-preset", tmp_path / "usr/lib/systemd/system-preset")
    shutil.copy(SYSTEMD_DIR / "system-preset/90-edge-app.preset", tmp_path / "usr/lib/systemd/system-preset")
    r = run(systemctl, f"--root={tmp_path}", "preset-all")
    assert r.returncode == 0, r.stderr
    enabled = {p.name for p in (tmp_path / "etc/systemd/system").rglob("*") if p.is_symlink()}
    assert {"edge-app.service", "edge-app-tui.service", "edge-app-backup.timer", "edge-image-machine-id.service",
            "edge-image-console-status.service", "edge-image-udev-local.service"} <= enabled
    assert "edge-app-uplink.service" not in enabled


def test_every_preset_unit_comes_from_the_image_or_a_listed_package() -> None:
    provided_by = {"systemd-networkd.service": "systemd", "systemd-networkd-wait-online.service": "systemd",
                   "systemd-timesyncd.service": "systemd-timesyncd", "bluetooth.service": "bluez"}
    ours = {p.name for p in UNIT_DIR.iterdir()} | {p.name for p in SYSTEMD_DIR.iterdir()}
    for unit in presets():
        assert unit in ours or provided_by.get(unit) in packages(), f"{unit}: no file or package provides it"


# --- OS configuration -------------------------------------------------------------------------------------

_SIZE = re.compile(r"^\d+(\.\d+)?[KMGT]?$")
_TIMESPAN = re.compile(r"^(\d+(\.\d+)?\s*(us|ms|s|sec|min|m|h|d|w)?\s*)+$")


def test_journald_dropin_is_persistent_and_capped() -> None:
    f = ROOTFS / "etc/systemd/journald.conf.d/50-edge-image.conf"
    j = ini(f)["Journal"]
    assert j["Storage"] == "persistent"
    assert _SIZE.match(j["SystemMaxUse"]), j["SystemMaxUse"]
    known = {"Storage", "Compress", "Seal", "SplitMode", "SystemMaxUse", "SystemKeepFree", "SystemMaxFileSize",
             "SystemMaxFiles", "RuntimeMaxUse", "RuntimeKeepFree", "RuntimeMaxFileSize", "RuntimeMaxFiles",
             "MaxRetentionSec", "MaxFileSec", "ForwardToSyslog", "ForwardToKMsg", "ForwardToConsole",
             "ForwardToWall", "MaxLevelStore", "MaxLevelConsole", "RateLimitIntervalSec", "RateLimitBurst"}
    assert set(j) <= known, set(j) - known


def test_watchdog_dropin_turns_the_hardware_watchdog_on() -> None:
    m = ini(ROOTFS / "etc/systemd/system.conf.d/50-edge-image.conf")["Manager"]
    assert _TIMESPAN.match(m["RuntimeWatchdogSec"]) and m["RuntimeWatchdogSec"] not in ("0", "off")
    assert set(m) <= {"RuntimeWatchdogSec", "RebootWatchdogSec", "KExecWatchdogSec", "WatchdogDevice"}


def test_dropins_are_read_by_systemd_analyze_cat_config() -> None:
    analyze = require_program("systemd-analyze", "systemd")
    for name, key in (("systemd/journald.conf", "SystemMaxUse="), ("systemd/system.conf", "RuntimeWatchdogSec=")):
        r = run(analyze, f"--root={ROOTFS}", "cat-config", name)
        assert r.returncode == 0 and key in r.stdout, r.stdout + r.stderr


def fstab() -> dict[str, list[str]]:
    rows = [ln.split() for ln in (ROOTFS / "etc/fstab").read_text().splitlines()
            if ln.strip() and not ln.startswith("#")]
    assert all(len(r) == 6 for r in rows), rows
    return {r[1]: r for r in rows}


def test_fstab_puts_state_and_journal_on_the_state_partition_and_keeps_root_read_only() -> None:
    mounts = fstab()
    assert "/" not in mounts, "root comes from the kernel command line (ro), per slot"
    assert mounts["/state"][0] == "PARTLABEL=edge-state"
    # Where edge-app.service keeps its state (StateDirectory=edge-app), the journal, the technician's config
    # and udev rules (docs/technician.md names monitors in /etc/udev/rules.d; / and /etc are read-only).
    for target in ("/var/lib/edge-app", "/var/log/journal", "/etc/edge-app", "/etc/udev/rules.d"):
        assert mounts[target][0].startswith("/state/") and "bind" in mounts[target][3], target
    # PrivateTmp= needs a writable /var/tmp and /tmp.
    assert mounts["/var/tmp"][2] == "tmpfs" and mounts["/tmp"][2] == "tmpfs"
    assert " ro " in f" {image_conf()['KERNEL_CMDLINE']} "
    unit = ini(SYSTEMD_DIR / "edge-app.service")["Service"]
    assert unit["StateDirectory"] == "edge-app" and unit["ConfigurationDirectory"] == "edge-app"


def test_fstab_generator_makes_the_mounts(tmp_path: Path) -> None:
    gen = Path("/usr/lib/systemd/system-generators/systemd-fstab-generator")
    if not gen.exists():
        require_program("systemd-fstab-generator-missing", "systemd")
    out = tmp_path / "gen"
    out.mkdir()  # the generator writes into an existing directory
    env = {**os.environ, "SYSTEMD_FSTAB": str(ROOTFS / "etc/fstab"), "SYSTEMD_PROC_CMDLINE": "ro",
           "SYSTEMD_IN_INITRD": "0"}
    r = run(gen, out, out, out, env=env)
    assert r.returncode == 0, r.stderr
    state = (out / r"var-lib-edge\x2dapp.mount").read_text()
    assert "What=/state/edge-app" in state and "edge-image-state.service" in state
    assert (out / "state.mount").exists()  # the name the repart drop-in orders itself before
    # The unit that loads the technician's rules at boot waits for exactly this mount (RequiresMountsFor=).
    rules = (out / "etc-udev-rules.d.mount").read_text()
    assert "What=/state/udev-rules" in rules and "edge-image-state.service" in rules
    unit = ini(UNIT_DIR / "edge-image-udev-local.service")
    assert unit["Unit"]["RequiresMountsFor"] == "/etc/udev/rules.d"
    assert "systemd-udev-trigger.service" in unit["Unit"]["After"]
    assert "udev-rules" in (ROOTFS / "usr/libexec/edge-image/state-init").read_text()
    assert (out / "state.mount.wants/systemd-growfs@state.service").exists()  # x-systemd.growfs


def test_default_config_has_no_devices_and_the_unit_paths() -> None:
    from edge_app import config

    path = ROOTFS / "usr/share/edge-app/config.toml"
    raw = tomllib.loads(path.read_text())
    assert raw["storage"]["path"] == "/var/lib/edge-app/edge.db"
    assert raw["api"]["socket"] == "/run/edge-app/api.sock"  # RuntimeDirectory=edge-app
    assert not raw.get("devices")
    cfg = config.load(path)  # the app's own parser accepts it
    assert cfg.devices == () and not cfg.warnings
    assert cfg.db_path == Path("/var/lib/edge-app/edge.db") and cfg.socket_path == Path("/run/edge-app/api.sock")


# --- partitions -------------------------------------------------------------------------------------------

def test_partition_layout_agrees_between_build_conf_and_repart() -> None:
    conf = image_conf()
    assert conf["SUITE"] == "bookworm"
    build = BUILD.read_text()
    labels = re.findall(r"name=(edge-[a-z-]+)", build)
    assert labels == ["edge-esp", "edge-root-a", "edge-root-b", "edge-state"]
    repart = sorted((ROOTFS / "usr/lib/repart.d").glob("*.conf"))
    parts = [ini(f)["Partition"] for f in repart]
    assert [p["Label"] for p in parts] == labels
    assert [p["Type"] for p in parts] == ["esp", "root", "root", "linux-generic"]
    assert parts[0]["SizeMaxBytes"] == f"{conf['ESP_MB']}M"
    assert parts[1]["SizeMaxBytes"] == parts[2]["SizeMaxBytes"] == f"{conf['ROOT_MB']}M"
    assert "SizeMaxBytes" not in parts[3], "the state partition grows to fill the disk"


# --- scripts ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_bash_scripts_parse(script: Path) -> None:
    assert os.access(script, os.X_OK)
    r = run("bash", "-n", script)
    assert r.returncode == 0, r.stderr


@pytest.mark.parametrize("script", SH_SCRIPTS, ids=lambda p: p.name)
def test_image_sh_scripts_parse(script: Path) -> None:
    r = run("sh", "-n", script)
    assert r.returncode == 0, r.stderr


def test_shellcheck() -> None:
    shellcheck = require_program("shellcheck", "shellcheck")
    r = run(shellcheck, "-x", *SCRIPTS, *SH_SCRIPTS, cwd=IMAGES)
    assert r.returncode == 0, r.stdout + r.stderr


# --- packages ---------------------------------------------------------------------------------------------

def test_package_list() -> None:
    pkgs = packages()
    assert len(pkgs) == len(set(pkgs))
    for needed in ("python3", "python3-venv", "systemd", "systemd-sysv", "udev", "linux-image-amd64",
                   "initramfs-tools", "systemd-boot-efi", "dbus"):
        assert needed in pkgs, needed
    # Nothing that contradicts the units: a second network manager (its wait-online would hold up
    # edge-app.service, which is After=network-online.target), a syslog daemon (journald is the log),
    # or a getty/display manager fighting edge-app-tui.service for tty1.
    for bad in ("ifupdown", "network-manager", "connman", "rsyslog", "syslog-ng", "gdm3", "lightdm", "sddm",
                "xserver-xorg", "python3-pip"):
        assert bad not in pkgs, bad
    # Debian 12's python3 is 3.11: the project must accept it.
    requires = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["requires-python"]
    assert requires in (">=3.11", ">=3.10", ">=3.9"), requires


# --- the wheel the image installs ---------------------------------------------------------------------------

def uv() -> Path:
    path = REPO / ".tools/bin/uv"
    if not path.exists():
        pytest.fail("this test needs the pinned uv: run ./dev once to bootstrap .tools/bin/uv")
    return path


def test_wheel_builds_with_both_packages_and_the_console_script(tmp_path: Path) -> None:
    env = {**os.environ, "UV_PYTHON_DOWNLOADS": "never", "UV_NO_PROGRESS": "1"}
    r = run(uv(), "build", "--quiet", "--wheel", "--out-dir", tmp_path, cwd=REPO, env=env)
    assert r.returncode == 0, r.stderr
    wheels = list(tmp_path.glob("edge_app-*.whl"))
    assert len(wheels) == 1, list(tmp_path.iterdir())
    with zipfile.ZipFile(wheels[0]) as z:
        names = z.namelist()
        assert "firmware_bridge/__init__.py" in names and "edge_app/__init__.py" in names
        assert "edge_app/cli/main.py" in names
        assert not any(n.startswith("tests/") for n in names)
        ep = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
        assert re.search(r"^edge-app\s*=\s*edge_app\.cli\.main:main$", z.read(ep).decode(), re.M)


def test_locked_requirements_export_has_hashes_and_no_dev_dependencies(tmp_path: Path) -> None:
    env = {**os.environ, "UV_PYTHON_DOWNLOADS": "never", "UV_NO_PROGRESS": "1"}
    r = run(uv(), "export", "--quiet", "--frozen", "--no-dev", "--no-emit-project", "--format",
            "requirements-txt", cwd=REPO, env=env)
    assert r.returncode == 0, r.stderr
    reqs = r.stdout
    assert "--hash=sha256:" in reqs
    names = {m.lower() for m in re.findall(r"^([A-Za-z0-9_.-]+)==", reqs, re.M)}
    assert {"litestar", "textual", "pyserial", "uvicorn"} <= names
    assert not names & {"pytest", "hypothesis", "pytest-asyncio"}
    assert "edge-app" not in names  # the project itself comes from the wheel
