"""The pairing screen against a real daemon with a TLS tablet listener: code, URL, fingerprint, QR; the code works."""
from __future__ import annotations

import json
import re
import socket
from collections.abc import Iterator

import httpx
import pytest
from textual.widgets import Static

from edge_app.tui.app import VitalsApp
from edge_app.model.system import PairingCode
from edge_app.tui.screens.pairing import PairingScreen, pairing_payload, qr_text
from tests.e2e.harness import Daemon, write_config


@pytest.fixture
def tls_daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Daemon, int]]:
    root = tmp_path_factory.mktemp("pair")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    d = Daemon(write_config(root, extra=f'listen = "0.0.0.0:{port}"'), root)
    try:
        yield d.wait_ready(), port
    finally:
        d.terminate()


def test_qr_payload_carries_url_code_and_fingerprint() -> None:
    doc = PairingCode(url="https://amb-42:8443", code="ABCDE12345", fingerprint="AA:BB", expires_at=0, scope="crew")
    assert json.loads(pairing_payload(doc)) == {"edge-app": 1, "url": "https://amb-42:8443", "code": "ABCDE12345",
                                                "sha256": "AA:BB"}
    art = qr_text(pairing_payload(doc))
    assert len(art.splitlines()) > 10 and set(art) <= set(" █▀▄\n")


async def test_pairing_screen_shows_a_code_that_pairs_a_tablet(tls_daemon: tuple[Daemon, int]) -> None:
    d, port = tls_daemon
    app = VitalsApp(d.socket)
    async with app.run_test(size=(100, 40)) as pilot:
        await pilot.press("t")
        shown = ""
        for _ in range(100):
            await pilot.pause(0.05)
            if isinstance(app.screen, PairingScreen):
                shown = str(app.screen.query_one("#pair-text", Static).content)
                if "code " in shown:
                    break
        assert re.search(r"code\s+[0-9A-Z]{5}-[0-9A-Z]{5}", shown), shown
        assert f":{port}" in shown and "certificate SHA-256" in shown
        assert str(app.screen.query_one("#pair-qr", Static).content).count("█") > 50
        code = re.search(r"code\s+([0-9A-Z]{5})-([0-9A-Z]{5})", shown)
        assert code is not None
        await pilot.press("escape")
        assert not isinstance(app.screen, PairingScreen)
    with httpx.Client(base_url=f"https://127.0.0.1:{port}", verify=False) as tablet:
        r = tablet.post("/api/v1/pair", json={"code": code.group(1) + code.group(2), "name": "tablet-front"})
        assert r.status_code == 201, r.text
