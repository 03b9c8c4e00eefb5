"""edge-app: the ambulance patient-record appliance (daemon, CLI, API, TUI)."""
__version__ = "0.1.0"
