"""fedgs_lite: learn and study FedGS client sampling under arbitrary client availability.

Public names are loaded on first use so that `import fedgs_lite` stays fast and optional heavy
dependencies (cvxpy, ipywidgets) are only imported by the functions that need them.
The partition function is `fedgs_lite.partition.partition`: a package attribute of that name would be
replaced by the submodule as soon as it is imported.
"""

from importlib import import_module

__version__ = "0.1.0"

_EXPORTS = {
    "Dataset": "data", "load_dataset": "data", "make_synthetic": "data", "DATASETS": "data",
    "resolve_data_roots": "data",
    "FederatedDataset": "partition", "plot_partition": "partition",
    "describe": "partition", "SCHEMES": "partition",
    "Availability": "availability", "ClientStats": "availability", "make_availability": "availability",
    "register_mode": "availability", "unregister_mode": "availability", "parse_mode": "availability",
    "MODES": "availability", "describe_mode": "availability", "available_modes": "availability",
    "FEDGS_DEFAULT_BETAS": "availability", "FLGO_DEFAULT_BETAS": "availability",
    "availability_summary": "availability", "plot_availability_heatmap": "availability",
    "plot_availability_probs": "availability",
    "Graph3DG": "graph", "build_3dg": "graph", "label_features": "graph", "edge_scores": "graph",
    "plot_3dg": "graph",
    "solve_selection": "solvers", "SelectionResult": "solvers", "compare_solvers": "solvers",
    "count_penalty": "objective", "fedgs_objective": "objective", "relative_gap": "objective",
    "make_sampler": "samplers", "SAMPLERS": "samplers", "register_sampler": "samplers",
    "available_samplers": "samplers", "UniformSampler": "samplers",
    "MDSampler": "samplers", "PowerOfChoiceSampler": "samplers", "FedGSSampler": "samplers",
    "simulate_sampling": "simulate", "compare_samplers": "simulate", "SimulationResult": "simulate",
    "ExperimentConfig": "experiment", "run_experiment": "experiment", "History": "experiment",
    "compare": "experiment", "comparison_table": "experiment", "plot_learning_curves": "experiment",
}


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(import_module(f"fedgs_lite.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'fedgs_lite' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(list(globals()) + list(_EXPORTS))
