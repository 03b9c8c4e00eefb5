"""The services of one daemon, built together by the composition root (edge_app.daemon.root)."""
from __future__ import annotations

from dataclasses import dataclass

from edge_app.auth.tokens import TokenRegistry
from edge_app.config import Config
from edge_app.services.devices import DeviceBoard
from edge_app.services.encounters import EncounterService
from edge_app.services.handover import HandoverService
from edge_app.services.hub import Hub
from edge_app.services.observations import ObservationService
from edge_app.services.pairing import PairingService, TabletListener
from edge_app.services.status import StatusService
from edge_app.services.stream import StreamService
from edge_app.services.upstream import UpstreamService
from edge_app.services.vitals import VitalsService
from edge_app.store.access import Store


@dataclass(frozen=True, slots=True)
class Services:
    config: Config
    store: Store
    hub: Hub
    tokens: TokenRegistry
    devices: DeviceBoard
    listener: TabletListener
    encounters: EncounterService
    observations: ObservationService
    vitals: VitalsService
    handover: HandoverService
    upstream: UpstreamService
    pairing: PairingService
    status: StatusService
    stream: StreamService


def build_services(config: Config, store: Store, *, started_ms: int) -> Services:
    """Every service over one store, wired to each other (no I/O: the root opens and starts things)."""
    hub = Hub()
    registry = TokenRegistry()
    devices = DeviceBoard()
    listener = TabletListener()
    vitals = VitalsService(store, hub, config, devices)
    handover = HandoverService(store, config, vitals)
    upstream = UpstreamService(store, hub, config, handover)
    return Services(config=config, store=store, hub=hub, tokens=registry, devices=devices, listener=listener,
                    encounters=EncounterService(store, hub, config, vitals, upstream),
                    observations=ObservationService(store, hub, vitals, upstream), vitals=vitals, handover=handover,
                    upstream=upstream, pairing=PairingService(store, registry, listener),
                    status=StatusService(store, config, devices, upstream, started_ms),
                    stream=StreamService(store, hub, devices))
