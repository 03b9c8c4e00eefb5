"""schemathesis against the live OpenAPI of a real daemon: all checks, 50 examples per operation.

Asserted: schemathesis finds nothing: no server error, no response that breaks the schema (or its status
codes, content types, headers), no schema-valid request refused, except the 422s listed in SEMANTIC_422
(rules JSON Schema cannot state), each allowed only on the operations that make it.
Excluded: the event stream (never ends; tested in test_hostile_inputs) and token revocation (the run
would revoke its own token; tested in test_tablets).
"""
from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tests.e2e.harness import Daemon, Proc, write_config

# Semantic refusals JSON Schema cannot state, each on the operations where the API makes it, as 422 naming
# the field: a time more than 24 h back or minutes ahead of the box's clock, or on a day that does not
# exist (31 February); a value whose kind depends on the metric (a number for spo2, a letter for
# consciousness); an NHS number whose check digit fails, a date of birth in the future. Any other
# refusal of schema-valid data, anywhere, fails the test.
SEMANTIC_422 = [
    ("POST", r"^/api/v1/encounters/\{encounter_id\}/(gcs|interventions|medications|notes|observations)$"),
    ("POST", r"^/api/v1/encounters/\{encounter_id\}/times/\{which\}$"),
    ("PATCH", r"^/api/v1/encounters/\{encounter_id\}$"),
]
EXPECTED = ["2xx", "3xx", "401", "403", "404", "409", "429", "5xx"]  # schemathesis's own default


def config_file(root: Path) -> Path:
    lines = []
    for method, regex in SEMANTIC_422:
        lines += ["[[operations]]", f"include-method = {json.dumps(method)}",
                  f"include-path-regex = {json.dumps(regex)}",
                  f"checks.positive_data_acceptance.expected-statuses = {json.dumps([*EXPECTED, '422'])}", ""]
    path = root / "schemathesis.toml"
    path.write_text("\n".join(lines))
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.timeout(400)
def test_schemathesis_all_checks(root: Path, procs: list[Proc]) -> None:
    port = free_port()
    d = Daemon(write_config(root, extra=f'listen = "127.0.0.1:{port}"'), root)
    procs.append(d)
    d.wait_ready()
    with d.client() as local:
        code = local.post("/api/v1/pairing-codes", json={"scope": "technician"}).json()["code"]
        token = local.post("/api/v1/pair", json={"code": code, "name": "schemathesis"}).json()["token"]
    st = shutil.which("schemathesis", path=str(Path(sys.executable).parent)) or "schemathesis"
    report = root / "junit.xml"
    r = subprocess.run([st, "--config-file", str(config_file(root)), "run",
                        f"http://127.0.0.1:{port}/schema/openapi.json", "--checks", "all",
                        "--max-examples", "50", "--seed", "1", "--no-color", "-H", f"Authorization: Bearer {token}",
                        "--exclude-path", "/api/v1/stream", "--exclude-path-regex", "^/api/v1/tokens/",
                        "--report", "junit", "--report-junit-path", str(report)],
                       capture_output=True, text=True, timeout=480, cwd=root)  # its cache goes in tmp
    assert report.exists(), r.stdout[-3000:] + r.stderr[-2000:]
    suite = ET.parse(report).getroot()
    tested = [tc.get("name") for tc in suite.iter("testcase")]
    assert len(tested) >= 20, tested
    found: dict[str, list[str]] = {}
    for tc in suite.iter("testcase"):
        for failure in [*tc.iter("failure"), *tc.iter("error")]:
            for code in set(re.findall(r"- (ST\d+)", failure.text or "")) or {failure.get("message", "?")}:
                found.setdefault(code, []).append(str(tc.get("name")))
    assert not found, f"{found}\n{r.stdout[-4000:]}"
    print(f"\nschemathesis: {len(tested)} operations, nothing found")
