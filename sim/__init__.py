"""Afghanistan 2021: an agent-based model of territorial control (Mesa).

The Python API (sim/api.py; the README's "Using it from Python"):

    import sim
    res = sim.run("baseline", runs=200, seed=1)      # -> sim.Results: .falls, .daily, .scores, .save()
    res = sim.read_results("results/baseline")       # a stored run folder, checked
    model = sim.TerritoryModel(cascade_neighbour=0.1, seed=3)   # one run as a Mesa model (mesa.batch_run works)
    sim.Params.spec()                                # every parameter: default, unit, bounds, source

The names are imported on first use, so `import sim` (and the command line, which starts here) stays fast: Mesa
alone takes seconds to import.
"""

from __future__ import annotations

import importlib

_EXPORTS = {"run": "api", "read_results": "api", "Results": "api", "TerritoryModel": "model", "Params": "params"}
__all__ = list(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
        globals()[name] = value  # imported once
        return value
    raise AttributeError(f"module 'sim' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
