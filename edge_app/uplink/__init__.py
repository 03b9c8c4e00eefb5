"""The uplink process: drains the daemon's outbox to the upstream target (FHIR server or MQTT broker)."""
