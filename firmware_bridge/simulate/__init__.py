"""Simulated monitors that speak the real protocols: for bench tests, demos and the test suite."""
from __future__ import annotations

from firmware_bridge.simulate.runner import run_simulator, simulate_main, simulator_for

__all__ = ["run_simulator", "simulate_main", "simulator_for"]
