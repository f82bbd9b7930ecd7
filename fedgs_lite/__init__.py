"""fedgs_lite: learn and study FedGS client sampling under arbitrary client availability.

Public names are loaded on first use so that `import fedgs_lite` stays fast and optional heavy
dependencies (cvxpy, ipywidgets) are only imported by the functions that need them.
"""

from importlib import import_module

__version__ = "0.1.0"

_EXPORTS = {
    "Dataset": "data", "load_dataset": "data", "make_synthetic": "data", "DATASETS": "data",
    "FederatedDataset": "partition", "partition": "partition", "plot_partition": "partition",
    "Availability": "availability", "ClientStats": "availability", "make_availability": "availability",
    "register_mode": "availability", "parse_mode": "availability", "MODES": "availability",
    "Graph3DG": "graph", "build_3dg": "graph", "label_features": "graph", "edge_scores": "graph",
    "solve_selection": "selection", "SelectionResult": "selection", "count_penalty": "selection",
    "make_sampler": "samplers", "SAMPLERS": "samplers",
    "simulate_sampling": "simulate",
    "ExperimentConfig": "experiment", "run_experiment": "experiment",
}


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(import_module(f"fedgs_lite.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'fedgs_lite' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(list(globals()) + list(_EXPORTS))
