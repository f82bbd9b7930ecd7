"""fedgs_lite: learn and study FedGS client sampling under arbitrary client availability.

Every public name is available at the top level (`from fedgs_lite import run_experiment`), which is
how the notebooks import them, so moving a function between modules never breaks a notebook. Names
are loaded on first use, so `import fedgs_lite` stays fast and optional heavy dependencies (torch,
highspy, gurobipy, ipywidgets, Flower, Ray) are imported only by what needs them. `EXPORTS` says which
module holds each name; docs/api.md lists them with their signatures.
"""

from importlib import import_module

__version__ = "0.1.0"

_BY_MODULE = {
    "data": ("Dataset", "load_dataset", "make_synthetic", "DATASETS"),
    "readers": ("resolve_data_roots",),
    "partitions": ("FederatedDataset", "partition", "federate", "describe", "label_distributions", "SCHEMES"),
    "partitions_dist4": ("dirichlet_alpha_from_skew", "dirichlet_lognormal_parts", "lognormal_client_sizes"),
    "masks": ("Availability", "ClientStats", "availability_summary"),
    "availability": ("make_availability", "register_mode", "unregister_mode", "parse_mode", "MODES",
                     "describe_mode", "available_modes", "FEDGS_DEFAULT_BETAS", "FLGO_DEFAULT_BETAS"),
    "degenerate": ("degenerate_reason",),
    "graph": ("Graph3DG", "build_3dg", "label_features", "label_3dg", "edge_scores", "cosine_similarity",
              "edge_lengths", "normalise_distances", "floyd_warshall_python", "oracle_features",
              "memory_bytes"),
    "features": ("update_feature_matrix",),
    "objective": ("count_penalty", "fedgs_objective", "relative_gap"),
    "solvers": ("solve_selection", "SelectionResult", "compare_solvers", "greedy_swap"),
    "instances": ("make_instance", "planted_trap", "SelectionInstance"),
    "sampler_context": ("Sampler", "SamplerContext"),
    "samplers": ("make_sampler", "SAMPLERS", "register_sampler", "unregister_sampler", "available_samplers",
                 "UniformSampler", "MDSampler", "PowerOfChoiceSampler", "FedGSSampler"),
    "simulate": ("simulate_sampling", "compare_samplers", "SimulationResult", "round_problem",
                 "label_prior_losses"),
    "config": ("ExperimentConfig", "LocalTraining"),
    "history": ("History",),
    "rundir": ("load_history", "final_params", "RunFolderError"),
    "files": ("lock_folder", "FolderBusyError"),
    "training": ("default_device",),
    "loop": ("run_experiment", "run_cohort", "group_cohorts"),
    "report": ("compare", "comparison_rows", "comparison_table", "plot_learning_curves"),
    "grid": ("grid_cells", "plan_grid", "run_grid"),
    "ray_grid": ("run_grid_ray",),
    "shards": ("shard_plans",),
    "flower_simulation": ("run_flower_simulation",),
    "heterogeneity": ("study_cells", "heterogeneity_rows", "heterogeneity_figure", "write_heterogeneity"),
    "budget": ("grid_budget", "format_budget"),
    "summary": ("load_runs", "summarise", "read_summary", "format_summary", "compare_rankings"),
    "summary_files": ("write_summary", "accuracy_figure", "counts_figure"),
    "tables": ("format_table", "write_csv"),
    "plots": ("plot_partition", "plot_availability_heatmap", "plot_availability_probs", "plot_3dg",
              "plot_counts", "plot_variance", "plot_selection_heatmap", "plot_curves"),
    "explorers": ("demo_federation", "explore_availability", "explore_graph", "explore_sampler"),
    "widgets": ("availability_explorer", "graph_explorer", "sampler_explorer"),
    "notebook_utils": ("record", "load_record", "badges_markdown", "COLAB_INSTALL"),
}
EXPORTS = {name: module for module, names in _BY_MODULE.items() for name in names}
MODULES = ("paper",)  # modules exported as they are: the paper's settings, each value with its source
__all__ = sorted([*EXPORTS, *MODULES])


def __getattr__(name: str):
    if name in EXPORTS:
        return getattr(import_module(f"fedgs_lite.{EXPORTS[name]}"), name)
    if name in MODULES:
        return import_module(f"fedgs_lite.{name}")
    raise AttributeError(f"module 'fedgs_lite' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(list(globals()) + __all__)
