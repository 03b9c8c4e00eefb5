"""Fixtures for the upstream tests: a real FHIR R4 engine, mosquitto, and faulty links in front of them.

    def test_x(fhir_engine, flaky_http):          # emptied for this test; .url http://127.0.0.1:P/fhir/R4
        link = flaky_http(p_reset=0.2, seed=1)    # in front of fhir_engine unless target= is given
    def test_y(mqtt_broker, flaky_tcp, mqtt_collector):
        link = flaky_tcp(cut_after=(0.2, 1.0))    # in front of mqtt_broker unless a target is given
        sink = mqtt_collector("edge/#")           # subscribed (directly to the broker unless port= is given)

The engine process is shared by the whole session (spawning it takes 1-3 s) and emptied (`/_admin/reset`)
before every test that uses it; if a test killed it, the next test gets a new one. mosquitto starts in a few
milliseconds and is per test.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import procs, root  # noqa: F401 (the same real-process fixtures)
from tests.e2e.upstream.flaky import FlakyHttpProxy, FlakyTcpProxy
from tests.e2e.upstream.servers import (
    Broker,
    FhirEngine,
    MqttCollector,
    SelfSignedCert,
    make_self_signed_cert,
    start_fhir_engine,
    start_mosquitto,
)


class _EngineHolder:
    def __init__(self, factory: Callable[[], FhirEngine]) -> None:
        self.factory = factory
        self.engine: FhirEngine | None = None

    def get(self) -> FhirEngine:
        if self.engine is None or not self.engine.alive():
            if self.engine is not None:
                self.engine.stop()
            self.engine = self.factory()
        else:
            self.engine.reset()
        return self.engine

    def stop(self) -> None:
        if self.engine is not None:
            self.engine.stop()


@pytest.fixture(scope="session")
def upstream_cert(tmp_path_factory: pytest.TempPathFactory) -> SelfSignedCert:
    """A self-signed certificate for 127.0.0.1; `.sha256` is the DER SHA-256 hex, for pinning."""
    return make_self_signed_cert(tmp_path_factory.mktemp("upstream-tls"))


@pytest.fixture(scope="session")
def _fhir_engine_holder(tmp_path_factory: pytest.TempPathFactory) -> Iterator[_EngineHolder]:
    d = tmp_path_factory.mktemp("fhir-engine")
    holder = _EngineHolder(lambda: start_fhir_engine(d))
    yield holder
    holder.stop()


@pytest.fixture(scope="session")
def _fhir_engine_tls_holder(tmp_path_factory: pytest.TempPathFactory,
                            upstream_cert: SelfSignedCert) -> Iterator[_EngineHolder]:
    d = tmp_path_factory.mktemp("fhir-engine-tls")
    holder = _EngineHolder(lambda: start_fhir_engine(d, tls=upstream_cert))
    yield holder
    holder.stop()


@pytest.fixture
def fhir_engine(_fhir_engine_holder: _EngineHolder) -> FhirEngine:
    """The session's FHIR engine, emptied for this test. `.url` is the FHIR base."""
    return _fhir_engine_holder.get()


@pytest.fixture
def fhir_engine_tls(_fhir_engine_tls_holder: _EngineHolder) -> FhirEngine:
    """An https FHIR engine (certificate: the `upstream_cert` fixture), emptied for this test."""
    return _fhir_engine_tls_holder.get()


@pytest.fixture
def flaky_http(request: pytest.FixtureRequest) -> Iterator[Callable[..., FlakyHttpProxy]]:
    """Factory: flaky_http(target=None, *, seed=0, p_503=.., p_timeout=.., p_reset=.., p_lost=.., hold=None).
    target defaults to the `fhir_engine` fixture's base URL. Closed at teardown."""
    proxies: list[FlakyHttpProxy] = []

    def make(target: str | None = None, **kw: Any) -> FlakyHttpProxy:
        if target is None:
            target = request.getfixturevalue("fhir_engine").url
        proxy = FlakyHttpProxy(target, **kw)
        proxies.append(proxy)
        return proxy

    yield make
    for p in proxies:
        p.close()


@pytest.fixture
def mqtt_broker(tmp_path: Path) -> Iterator[Broker]:
    """A mosquitto for this test on 127.0.0.1:<free port> (persistence on; `.restart()` keeps the db)."""
    broker = start_mosquitto(tmp_path / "mosquitto")
    yield broker
    broker.stop()


@pytest.fixture
def mqtt_broker_tls(tmp_path: Path, upstream_cert: SelfSignedCert) -> Iterator[Broker]:
    """mosquitto with a plain listener (`.port`) and a TLS one (`.tls_port`, certificate `upstream_cert`)."""
    broker = start_mosquitto(tmp_path / "mosquitto-tls", tls=upstream_cert)
    yield broker
    broker.stop()


@pytest.fixture
def flaky_tcp(request: pytest.FixtureRequest) -> Iterator[Callable[..., FlakyTcpProxy]]:
    """Factory: flaky_tcp(host=None, port=None, *, seed=0, cut_after=None) in front of `mqtt_broker` by
    default. Closed at teardown."""
    proxies: list[FlakyTcpProxy] = []

    def make(host: str | None = None, port: int | None = None, **kw: Any) -> FlakyTcpProxy:
        if port is None:
            broker = request.getfixturevalue("mqtt_broker")
            host, port = broker.host, broker.port
        proxy = FlakyTcpProxy(host or "127.0.0.1", port, **kw)
        proxies.append(proxy)
        return proxy

    yield make
    for p in proxies:
        p.close()


@pytest.fixture
def mqtt_collector(request: pytest.FixtureRequest) -> Iterator[Callable[..., MqttCollector]]:
    """Factory: mqtt_collector(topic_filter, *, broker=None, port=None, client_id=None) -> a subscribed
    MqttCollector (QoS 1, persistent session) on `mqtt_broker` by default. Closed at teardown."""
    collectors: list[MqttCollector] = []

    def make(topic_filter: str, *, broker: Broker | None = None, **kw: Any) -> MqttCollector:
        broker = broker or request.getfixturevalue("mqtt_broker")
        c = MqttCollector(broker, topic_filter, **kw)
        collectors.append(c)
        return c.wait_subscribed()

    yield make
    for c in collectors:
        c.close()
