"""System programs some tests need: installed from Debian when run as root (CI), else a clear failure."""
from __future__ import annotations

import os
import shutil
import subprocess

import pytest

_apt_updated = False


def require_program(program: str, package: str) -> str:
    """Path of `program`; as root, apt-get installs `package` if missing; otherwise the test fails naming it."""
    global _apt_updated
    path = shutil.which(program)
    if path:
        return path
    if os.geteuid() == 0 and shutil.which("apt-get"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        if not _apt_updated:
            subprocess.run(["apt-get", "update", "-qq"], check=False, env=env, capture_output=True)
            _apt_updated = True
        r = subprocess.run(["apt-get", "install", "-y", "-qq", "-o", "DPkg::Lock::Timeout=120", "--no-install-recommends", package], env=env,
                           capture_output=True, text=True)
        path = shutil.which(program)
        if path:
            return path
        pytest.fail(f"could not install Debian package {package!r} for {program}: {r.stderr.strip()[-300:]}")
    pytest.fail(f"this test needs {program}: install the Debian package {package!r} (apt-get install {package})")
