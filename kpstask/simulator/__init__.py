"""A local KPS simulator: `Simulator(default_scenario()).start()` gives a base URL."""

from kpstask.simulator.keyless import KeylessSpec
from kpstask.simulator.scenario import (
    DEFAULT_PROJECT,
    DEFAULT_TOKEN,
    Fault,
    Scenario,
    SimTask,
    default_scenario,
    load_scenario,
)
from kpstask.simulator.server import Simulator

__all__ = [
    "DEFAULT_PROJECT",
    "DEFAULT_TOKEN",
    "Fault",
    "KeylessSpec",
    "Scenario",
    "SimTask",
    "Simulator",
    "default_scenario",
    "load_scenario",
]
