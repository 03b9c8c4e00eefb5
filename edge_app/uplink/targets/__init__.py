"""The upstream targets the uplink loop sends records to: a FHIR R4 server or an MQTT broker."""
from __future__ import annotations

from edge_app.config import Config
from edge_app.uplink.targets.base import Record, Result, Target

__all__ = ["Record", "Result", "Target", "make_target"]


def make_target(cfg: Config) -> Target:
    """The target named by ``[upstream] target``; nothing is connected until start()/send()."""
    if cfg.upstream is None:
        raise ValueError("the config has no [upstream] section")
    if cfg.upstream.target == "fhir":
        # lazy: the configured target's library only
        from edge_app.uplink.targets.fhir import FhirTarget

        return FhirTarget(cfg)
    if cfg.upstream.target == "mqtt":
        # lazy: the configured target's library only
        from edge_app.uplink.targets.mqtt import MqttTarget

        return MqttTarget(cfg)
    raise ValueError(f"unknown upstream target {cfg.upstream.target!r}")
