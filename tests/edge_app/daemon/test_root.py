"""The composition root: everything starts in order, serves, and stops; a failing step rolls back what
already started (the writer closed, the sockets closed and the socket file gone)."""
from __future__ import annotations

import socket
import threading
from pathlib import Path

import httpx
import pytest

from edge_app import config as config_mod
from edge_app.daemon import listener, root
from edge_app.daemon.root import composed


def _config(tmp_path: Path, **extra: object) -> config_mod.Config:
    return config_mod.parse({"storage": {"path": str(tmp_path / "edge.db")},
                             "api": {"socket": str(tmp_path / "api.sock")}, **extra}, None)


def _writers() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "store-writer" and t.is_alive()]


def _can_bind(path: Path) -> bool:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.bind(str(path))
        return True
    except OSError:
        return False
    finally:
        s.close()
        path.unlink(missing_ok=True)


async def test_starts_serves_and_stops_everything(tmp_path: Path) -> None:
    cfg = _config(tmp_path)
    before = len(_writers())
    ready: list[str] = []
    async with composed(cfg, on_ready=ready.append) as r:
        assert ready and ready[0].startswith("ready: 0 devices")
        assert len(_writers()) == before + 1
        async with httpx.AsyncClient(transport=httpx.AsyncHTTPTransport(uds=str(cfg.socket_path)),
                                     base_url="http://edge-app") as client:
            created = await client.post("/api/v1/encounters", json={"incident_ref": "INC-1"})
            assert created.status_code == 201
            got = await client.get(f"/api/v1/encounters/{created.json()['id']}")
            assert got.json()["incident_ref"] == "INC-1" and got.headers["etag"] == '"1"'
        assert r.servers and all(s.started for s in r.servers)
    assert len(_writers()) == before
    assert not cfg.socket_path.exists()
    assert r.services.store.writer.ops >= 1


@pytest.mark.parametrize("step", ["tls", "servers", "devices"])
async def test_a_failing_step_closes_what_started_before_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                            step: str) -> None:
    cfg = _config(tmp_path)
    before = len(_writers())

    def boom(*_a: object, **_k: object) -> None:
        raise OSError(28, "No space left on device")

    if step == "tls":
        monkeypatch.setattr(listener, "set_up", boom)
    elif step == "servers":
        monkeypatch.setattr(root, "_make_servers", lambda services, tls: boom)
    else:
        monkeypatch.setattr(root.DeviceSupervisor, "start", boom)
        cfg = _config(tmp_path, devices=[{"name": "oximeter", "protocol": "masimo-ascii", "port": "/dev/null"}])
    with pytest.raises(OSError, match="No space left"):
        async with composed(cfg):
            raise AssertionError("must not get here")
    assert len(_writers()) == before, "the writer must be closed"
    assert not cfg.socket_path.exists(), "the socket file must be removed"
    assert _can_bind(cfg.socket_path), "the socket must be closed"


async def test_a_second_daemon_stops_before_it_touches_the_store(tmp_path: Path) -> None:
    cfg = _config(tmp_path)
    async with composed(cfg):
        writers = len(_writers())
        with pytest.raises(Exception, match="another edge-app daemon"):
            async with composed(cfg):
                pass
        assert len(_writers()) == writers
        assert cfg.socket_path.exists(), "the first daemon's socket must survive the second's failure"
