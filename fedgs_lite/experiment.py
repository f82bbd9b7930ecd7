"""One federated run as a pure function of its config: `ExperimentConfig` -> `run_experiment` -> `History`.

A run directory holds config.json, history.json, metrics.csv (rewritten atomically after
evaluations, at most every LIVE_SAVE_SECONDS between checkpoints) and checkpoint.pt (every
`checkpoint_every` rounds), so an interrupted run resumes where it stopped and a finished one is read
back instead of recomputed. `compare`, `comparison_table` and `plot_learning_curves` put several runs
side by side (the `run` command and the notebooks use them).
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
import json
import math
import pickle
import time
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from fedgs_lite._io import atomic_write, atomic_write_text
from fedgs_lite.graph import EPSILON, SIGMA

ENGINES = ("auto", "batched", "sequential")  # as training.ENGINES; torch is imported lazily
DEVICES = ("auto", "cpu", "cuda")
AGGREGATIONS = ("auto", "size", "uniform")
GRAPH_FEATURES = ("label", "update", "logit")


# Fields that do not change what a run computes: left out of run_id, free to change on resume.
_RESULT_NEUTRAL = ("name", "data_root", "checkpoint_every")

# Paper-like settings (client counts, M, local training from the paper and the authors' defaults);
# rounds are shortened for a CPU. Not a claim of reproducing the paper's exact numbers.
PRESETS: dict[str, dict[str, Any]] = {
    "synthetic": dict(dataset="synthetic", num_clients=30, partition="natural", proportion=0.2,
                      rounds=200, epochs=None, steps=10, batch_size=10, lr=0.1),
    "mnist": dict(dataset="mnist", num_clients=100, partition="label_skew", classes_per_client=2,
                  proportion=0.1, rounds=200, epochs=None, steps=20, batch_size=64, lr=0.05),
    "fashion_mnist": dict(dataset="fashion_mnist", num_clients=100, partition="label_skew",
                          classes_per_client=2, proportion=0.1, rounds=200, epochs=None, steps=20,
                          batch_size=64, lr=0.05),
    "cifar10": dict(dataset="cifar10", num_clients=100, partition="dirichlet", dirichlet_alpha=0.5,
                    proportion=0.1, rounds=200, epochs=None, steps=20, batch_size=64, lr=0.05),
    "digits": dict(dataset="digits", num_clients=30, partition="label_skew", classes_per_client=2,
                   proportion=0.2, rounds=100, epochs=None, steps=10, batch_size=32, lr=0.1),
}


# --------------------------------------------------------------------------- config

@dataclass(frozen=True)
class ExperimentConfig:
    """Everything one run depends on. Validated on construction; `run_id` hashes the result-relevant
    fields. `partition="auto"` means the natural clients for synthetic, label_skew otherwise;
    `aggregation="auto"` means data-size weights, except a plain average for MD (the authors')."""

    dataset: str = "synthetic"
    data_root: str | None = None
    num_clients: int = 30
    partition: str = "auto"
    classes_per_client: int = 2
    dirichlet_alpha: float = 0.5
    size_sigma: float = 1.0
    synthetic_alpha: float = 0.5
    synthetic_beta: float = 0.5
    mode: str = "IDL"
    sampler: str = "uniform"
    alpha: float = 0.1            # FedGS trade-off between diversity and fair counts
    solver: str = "fast"
    graph_features: str = "label"
    epsilon: float = EPSILON      # 3DG edge threshold and length scale: the values the authors' code
    sigma: float = SIGMA          # ran (see fedgs_lite/graph.py)
    poc_d: int | None = None      # Power-of-Choice candidate-set size (None: all available)
    clients_per_round: int | None = None
    proportion: float = 0.2       # used when clients_per_round is None
    rounds: int = 100
    epochs: int | None = 5
    steps: int | None = None      # fixed local steps; wins over epochs when set
    batch_size: int = 64
    lr: float = 0.1
    lr_decay: float = 0.998
    momentum: float = 0.0
    weight_decay: float = 0.0
    prox_mu: float = 0.0
    aggregation: str = "auto"
    eval_every: int = 1
    checkpoint_every: int = 10    # 0: never
    seed: int = 0
    device: str = "auto"
    engine: str = "auto"
    name: str = ""                # display label; defaults to the sampler name

    def __post_init__(self) -> None:
        from fedgs_lite.availability import parse_mode
        from fedgs_lite.data import DATASETS
        from fedgs_lite.partition import SCHEMES
        from fedgs_lite.samplers import available_samplers
        from fedgs_lite.solvers import METHODS as SOLVERS

        dataset = self.dataset.lower().replace("-", "_")
        _check(dataset in DATASETS, f"unknown dataset {self.dataset!r}; choose one of {', '.join(DATASETS)}")
        object.__setattr__(self, "dataset", dataset)
        _check(self.partition == "auto" or self.partition in SCHEMES,
               f"unknown partition {self.partition!r}; choose 'auto' or one of {', '.join(SCHEMES)}")
        try:
            parse_mode(self.mode)
        except (ValueError, TypeError) as err:
            raise ValueError(f"bad availability mode {self.mode!r}: {err}") from None
        _check(self.sampler in available_samplers(),
               f"unknown sampler {self.sampler!r}; choose one of {', '.join(available_samplers())}"
               " (add your own with fedgs_lite.samplers.register_sampler)")
        _check(self.solver in SOLVERS, f"unknown solver {self.solver!r}; choose one of {', '.join(SOLVERS)}")
        _check(self.graph_features in GRAPH_FEATURES,
               f"graph_features must be one of {', '.join(GRAPH_FEATURES)}, got {self.graph_features!r}")
        _check(self.aggregation in AGGREGATIONS,
               f"aggregation must be one of {', '.join(AGGREGATIONS)}, got {self.aggregation!r}")
        _check(self.engine in ENGINES, f"engine must be one of {', '.join(ENGINES)}, got {self.engine!r}")
        _check(self.device in DEVICES, f"device must be one of {', '.join(DEVICES)}, got {self.device!r}")
        _check(_is_int(self.num_clients) and self.num_clients >= 1,
               f"num_clients must be a positive int, got {self.num_clients!r}")
        _check(_is_int(self.rounds) and self.rounds >= 1,
               f"rounds must be a positive int, got {self.rounds!r}")
        if self.clients_per_round is not None:
            _check(_is_int(self.clients_per_round) and self.clients_per_round >= 1,
                   f"clients_per_round (M) must be a positive int, got {self.clients_per_round!r}")
            _check(self.clients_per_round <= self.num_clients,
                   f"clients_per_round={self.clients_per_round} exceeds num_clients={self.num_clients}")
        _check(0 < self.proportion <= 1, f"proportion must be in (0, 1], got {self.proportion!r}")
        _check(self.epochs is not None or self.steps is not None, "set epochs or steps (local training)")
        for key in ("epochs", "steps", "poc_d"):
            value = getattr(self, key)
            _check(value is None or (_is_int(value) and value >= 1),
                   f"{key} must be a positive int or None, got {value!r}")
        _check(_is_int(self.batch_size) and self.batch_size >= 1,
               f"batch_size must be a positive int, got {self.batch_size!r}")
        _check(_finite(self.lr) and self.lr > 0, f"lr must be > 0, got {self.lr!r}")
        _check(_finite(self.lr_decay) and 0 < self.lr_decay <= 1,
               f"lr_decay must be in (0, 1], got {self.lr_decay!r}")
        for key in ("momentum", "weight_decay", "prox_mu", "alpha", "dirichlet_alpha", "size_sigma",
                    "synthetic_alpha", "synthetic_beta", "epsilon"):
            value = getattr(self, key)
            _check(_finite(value) and value >= 0, f"{key} must be >= 0, got {value!r}")
        _check(self.momentum < 1, f"momentum must be < 1, got {self.momentum!r}")
        _check(_finite(self.sigma) and self.sigma > 0, f"sigma must be > 0, got {self.sigma!r}")
        _check(self.dirichlet_alpha > 0, f"dirichlet_alpha must be > 0, got {self.dirichlet_alpha!r}")
        _check(_is_int(self.classes_per_client) and self.classes_per_client >= 1,
               f"classes_per_client must be a positive int, got {self.classes_per_client!r}")
        _check(_is_int(self.eval_every) and self.eval_every >= 1,
               f"eval_every must be a positive int, got {self.eval_every!r}")
        _check(_is_int(self.checkpoint_every) and self.checkpoint_every >= 0,
               f"checkpoint_every must be an int >= 0 (0: never), got {self.checkpoint_every!r}")
        _check(_is_int(self.seed) and self.seed >= 0, f"seed must be an int >= 0, got {self.seed!r}")
        _check(self.poc_d is None or self.poc_d >= self.m,
               f"poc_d (Power-of-Choice candidates) must be >= clients per round M={self.m}, "
               f"got {self.poc_d}")
        _check(self.partition != "natural" or dataset == "synthetic",
               "partition 'natural' needs the synthetic dataset (the only one with natural clients)")

    # -- derived values
    @property
    def m(self) -> int:
        """Clients per round: clients_per_round, or int(proportion * N) (at least 1) as the authors."""
        if self.clients_per_round is not None:
            return int(self.clients_per_round)
        return max(int(self.proportion * self.num_clients), 1)

    @property
    def partition_scheme(self) -> str:
        if self.partition != "auto":
            return self.partition
        return "natural" if self.dataset == "synthetic" else "label_skew"

    @property
    def aggregation_rule(self) -> str:
        if self.aggregation != "auto":
            return self.aggregation
        return "uniform" if self.sampler == "md" else "size"

    @property
    def label(self) -> str:
        return _run_label(self.name, self.sampler, self.graph_features)

    @property
    def run_id(self) -> str:
        """Short stable hash of the fields that change results (not name, data_root, checkpoint_every)."""
        d = {k: v for k, v in self.to_dict().items() if k not in _RESULT_NEUTRAL}
        return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:10]

    # -- serialisation
    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ExperimentConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"unknown ExperimentConfig fields {unknown}; known: {', '.join(sorted(known))}")
        return cls(**d)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> ExperimentConfig:
        return cls.from_dict(json.loads(text))

    def replace(self, **changes: Any) -> ExperimentConfig:
        return dataclasses.replace(self, **changes)

    @classmethod
    def preset(cls, name: str, **overrides: Any) -> ExperimentConfig:
        """Paper-like settings for a dataset (see PRESETS), with `overrides` applied on top."""
        if name not in PRESETS:
            raise ValueError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}")
        return cls(**{**PRESETS[name], **overrides})


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise ValueError(message)


def _is_int(x: Any) -> bool:
    return isinstance(x, int | np.integer) and not isinstance(x, bool)


def _finite(x: Any) -> bool:
    return isinstance(x, int | float | np.integer | np.floating) and math.isfinite(x)


def _run_label(name: str, sampler: str, graph_features: str) -> str:
    """The display label of a run: its name, else the sampler (with the 3DG features when not labels)."""
    if name:
        return name
    return f"fedgs-{graph_features}" if sampler == "fedgs" and graph_features != "label" else sampler


# --------------------------------------------------------------------------- history

@dataclass
class History:
    """What a run recorded. Evaluation round r means "after r completed rounds" (0: initial model)."""

    config: dict[str, Any]
    num_clients: int
    available: list[list[int]] = field(default_factory=list)   # per round
    selected: list[list[int]] = field(default_factory=list)    # per round, MD may repeat ids
    train_loss: list[float] = field(default_factory=list)      # per round, weighted over selected
    lr: list[float] = field(default_factory=list)              # per round
    round_seconds: list[float] = field(default_factory=list)   # per round
    eval_rounds: list[int] = field(default_factory=list)
    test_loss: list[float] = field(default_factory=list)
    test_accuracy: list[float] = field(default_factory=list)
    wall_time: float = 0.0
    finished: bool = False
    stopped_reason: str | None = None
    # Final global parameters of the run (not serialised; run_dir keeps them in final_model.pt).
    final_params: dict | None = field(default=None, repr=False, compare=False)

    @property
    def label(self) -> str:
        c = self.config
        return _run_label(c.get("name") or "", c.get("sampler", "?"), c.get("graph_features", "label"))

    @property
    def rounds_done(self) -> int:
        return len(self.selected)

    @property
    def counts(self) -> np.ndarray:
        """How often each client was selected (MD repetitions count), int64 (N,)."""
        from fedgs_lite.metrics import per_round_counts

        return per_round_counts(self.selected, self.num_clients).sum(axis=0)

    def counts_over_rounds(self) -> np.ndarray:
        """Cumulative selection counts after each round, int64 (rounds_done, N)."""
        from fedgs_lite.metrics import per_round_counts

        return np.cumsum(per_round_counts(self.selected, self.num_clients), axis=0)

    def count_variance(self) -> float:
        from fedgs_lite.metrics import count_variance

        return float(count_variance(self.counts))

    def count_variance_curve(self) -> np.ndarray:
        """Variance of the cumulative selection counts after each round, (rounds_done,)."""
        from fedgs_lite.metrics import count_variance

        return np.asarray(count_variance(self.counts_over_rounds())) if self.rounds_done else np.zeros(0)

    def jain_index(self) -> float:
        """Jain's fairness index of the counts: 1 when every client was picked equally often."""
        from fedgs_lite.metrics import jain_index

        return float(jain_index(self.counts))

    def final_accuracy(self) -> float:
        return self.test_accuracy[-1] if self.test_accuracy else float("nan")

    def best_accuracy(self) -> float:
        finite = [a for a in self.test_accuracy if math.isfinite(a)]
        return max(finite) if finite else float("nan")

    def final_loss(self) -> float:
        return self.test_loss[-1] if self.test_loss else float("nan")

    # -- serialisation (NaN is written as null so the JSON stays standard)
    def to_dict(self) -> dict[str, Any]:
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "final_params"}
        d = json.loads(json.dumps(d, allow_nan=True))  # deep copy into plain JSON types
        for key in ("train_loss", "lr", "round_seconds", "test_loss", "test_accuracy"):
            d[key] = [None if not math.isfinite(v) else float(v) for v in d[key]]
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> History:
        d = dict(d)
        for key in ("train_loss", "lr", "round_seconds", "test_loss", "test_accuracy"):
            d[key] = [float("nan") if v is None else float(v) for v in d.get(key, [])]
        return cls(**d)

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    @classmethod
    def from_json(cls, text: str) -> History:
        return cls.from_dict(json.loads(text))

    def to_csv_rows(self) -> list[dict[str, Any]]:
        """One row per round (the evaluation columns blank where the round was not evaluated), plus
        a row for round 0 when the initial model was evaluated."""
        evals = dict(zip(self.eval_rounds, zip(self.test_loss, self.test_accuracy, strict=True), strict=True))
        rows = []
        for r in range(0, self.rounds_done + 1):
            if r == 0 and 0 not in evals:
                continue
            row: dict[str, Any] = {"round": r, "available": "", "selected": "", "train_loss": "",
                                   "lr": "", "test_loss": "", "test_accuracy": ""}
            if r > 0:
                row.update(available=len(self.available[r - 1]),
                           selected=" ".join(map(str, self.selected[r - 1])),
                           train_loss=self.train_loss[r - 1], lr=self.lr[r - 1])
            if r in evals:
                row["test_loss"], row["test_accuracy"] = evals[r]
            rows.append(row)
        return rows


# --------------------------------------------------------------------------- file helpers

CONFIG_FILE, HISTORY_FILE, METRICS_FILE, CHECKPOINT_FILE, MODEL_FILE = (
    "config.json", "history.json", "metrics.csv", "checkpoint.pt", "final_model.pt")


def _csv_text(history: History) -> str:
    buf = io.StringIO()
    cols = ["round", "available", "selected", "train_loss", "lr", "test_loss", "test_accuracy"]
    writer = csv.DictWriter(buf, fieldnames=cols, lineterminator="\n")
    writer.writeheader()
    writer.writerows(history.to_csv_rows())
    return buf.getvalue()


def _write_results(run_dir: Path | None, history: History) -> None:
    if run_dir is None:
        return
    atomic_write_text(run_dir / HISTORY_FILE, history.to_json())
    atomic_write_text(run_dir / METRICS_FILE, _csv_text(history))


def load_history(run_dir: str | Path) -> History:
    """The History stored in a run directory (finished or partial)."""
    return History.from_json((Path(run_dir) / HISTORY_FILE).read_text())


# --------------------------------------------------------------------------- setup

@dataclass
class _Setup:
    fed: Any
    data: Any
    model: Any
    params: dict
    sampler: Any
    availability: Any
    local: Any
    device: Any
    rng_avail: np.random.Generator
    rng_sampler: np.random.Generator
    torch_gen: Any
    current: dict                 # {"params": ...}: the global model the PoC loss_fn reads


def _resolve_device(name: str):
    import torch

    from fedgs_lite.training import default_device

    if name == "auto":
        return default_device()
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("device='cuda' but CUDA is not available here; use device='auto' or 'cpu'")
    return torch.device(name)


def _seed_int(seq: np.random.SeedSequence) -> int:
    return int(seq.generate_state(1, dtype=np.uint64)[0] >> np.uint64(1))


def _setup(config: ExperimentConfig, shared: _Setup | None = None) -> _Setup:
    """Everything a run needs. `shared`: a setup of a run with the same data, partition and seed (a
    cohort's first run), whose federation and device copy of the data are reused, not rebuilt."""
    import torch

    from fedgs_lite.availability import ClientStats, make_availability
    from fedgs_lite.data import load_dataset
    from fedgs_lite.models import make_model
    from fedgs_lite.partition import partition
    from fedgs_lite.samplers import make_sampler
    from fedgs_lite.seeds import run_seeds
    from fedgs_lite.training import DeviceData, LocalTraining, get_params

    # Separate streams, so e.g. every sampler sees the same availability trace for one seed.
    s_data, s_avail_build, s_avail_draw, s_sampler, s_torch = run_seeds(config.seed)
    device = _resolve_device(config.device)
    if shared is not None:
        fed, data = shared.fed, shared.data
    else:
        options = {}
        if config.dataset == "synthetic":
            options = dict(num_clients=config.num_clients, alpha=config.synthetic_alpha,
                           beta=config.synthetic_beta)
        dataset = load_dataset(config.dataset, config.data_root, seed=_seed_int(s_data), **options)
        fed = partition(dataset, config.num_clients, config.partition_scheme,
                        rng=np.random.default_rng(s_data), classes_per_client=config.classes_per_client,
                        dirichlet_alpha=config.dirichlet_alpha, size_sigma=config.size_sigma)
        data = DeviceData.from_federated(fed, device)
    dataset = fed.dataset
    availability = make_availability(config.mode, ClientStats.from_federated(fed),
                                     np.random.default_rng(s_avail_build))

    torch_gen = torch.Generator(device="cpu")
    torch_gen.manual_seed(_seed_int(s_torch))
    model = make_model(config.dataset, dataset.input_shape, dataset.num_classes, generator=torch_gen)
    model = model.to(device)
    params = {k: v.detach().clone() for k, v in get_params(model).items()}
    local = LocalTraining(epochs=config.epochs, steps=config.steps, batch_size=config.batch_size,
                          lr=config.lr, lr_decay=config.lr_decay, momentum=config.momentum,
                          weight_decay=config.weight_decay, prox_mu=config.prox_mu)
    current = {"params": params}
    sampler = _make_sampler(config, make_sampler, fed, data, model, params, local, torch_gen, current)
    return _Setup(fed=fed, data=data, model=model, params=params, sampler=sampler,
                  availability=availability, local=local, device=device,
                  rng_avail=np.random.default_rng(s_avail_draw), rng_sampler=np.random.default_rng(s_sampler),
                  torch_gen=torch_gen, current=current)


def _make_sampler(config, make_sampler, fed, data, model, params, local, torch_gen, current):
    from fedgs_lite.graph import build_3dg, label_features
    from fedgs_lite.samplers import SAMPLERS
    from fedgs_lite.training import client_losses

    sizes = np.asarray(fed.sizes)

    def loss_fn(clients) -> np.ndarray:
        return np.asarray(client_losses(model, current["params"], data, clients))

    if config.sampler == "fedgs":
        from fedgs_lite.training import logit_features, update_features

        if config.graph_features == "label":  # the oracle: label distributions
            features = label_features(fed)
        else:  # round-0 pass: every client trains once from the initial model
            extract = update_features if config.graph_features == "update" else logit_features
            features = extract(model, params, data, local, torch_gen, engine=config.engine)
        distances = build_3dg(np.asarray(features), epsilon=config.epsilon, sigma=config.sigma).distances
        return make_sampler("fedgs", sizes=sizes, distances=distances, alpha=config.alpha,
                            solver=config.solver, num_clients=config.num_clients)
    if config.sampler == "poc":
        return make_sampler("poc", sizes=sizes, loss_fn=loss_fn, d=config.poc_d)
    if config.sampler in SAMPLERS:
        return make_sampler(config.sampler, sizes=sizes)
    # a registered user sampler gets everything the built-ins use
    distances = build_3dg(label_features(fed), epsilon=config.epsilon, sigma=config.sigma).distances
    return make_sampler(config.sampler, sizes=sizes, distances=distances, loss_fn=loss_fn)


# --------------------------------------------------------------------------- checkpoints

def _sampler_state(sampler) -> dict[str, Any]:
    """The sampler's mutable state (e.g. FedGS counts): its state_dict() if it has one, else a deep copy
    of its picklable, non-callable attributes (callables such as PoC's loss_fn are rebuilt by setup)."""
    if hasattr(sampler, "state_dict"):
        return {"state_dict": sampler.state_dict()}
    attrs = {}
    for k, v in vars(sampler).items():
        if callable(v):
            continue
        try:
            attrs[k] = pickle.loads(pickle.dumps(v))
        except Exception:  # unpicklable helpers are part of the setup, not of the state
            continue
    return {"attrs": attrs}


def _load_sampler_state(sampler, state: dict[str, Any]) -> None:
    if "state_dict" in state:
        sampler.load_state_dict(state["state_dict"])
        return
    for k, v in state["attrs"].items():
        object.__setattr__(sampler, k, v)


def _save_checkpoint(run_dir: Path, config: ExperimentConfig, s: _Setup, history: History) -> None:
    import torch

    state = {
        "run_id": config.run_id,
        "round": history.rounds_done,
        "params": {k: v.detach().cpu() for k, v in s.params.items()},
        "rng_avail": s.rng_avail.bit_generator.state,
        "rng_sampler": s.rng_sampler.bit_generator.state,
        "torch_gen": s.torch_gen.get_state(),
        "sampler": _sampler_state(s.sampler),
        "history": history.to_dict(),
    }
    atomic_write(run_dir / CHECKPOINT_FILE, lambda f: torch.save(state, f), binary=True)


def _load_checkpoint(path: Path, config: ExperimentConfig, s: _Setup) -> History:
    import torch

    # weights_only=False: the file holds numpy rng states and history dicts we wrote ourselves.
    state = torch.load(path, map_location="cpu", weights_only=False)
    if state.get("run_id") != config.run_id:
        raise ValueError(f"{path} belongs to run {state.get('run_id')}, not {config.run_id}")
    s.params = {k: v.to(s.device) for k, v in state["params"].items()}
    s.current["params"] = s.params
    s.rng_avail.bit_generator.state = state["rng_avail"]
    s.rng_sampler.bit_generator.state = state["rng_sampler"]
    s.torch_gen.set_state(state["torch_gen"])
    _load_sampler_state(s.sampler, state["sampler"])
    return History.from_dict(state["history"])


def _prepare_run_dir(run_dir: Path, config: ExperimentConfig, resume: bool) -> History | None:
    """Create run_dir; return the stored History when the same run already finished there."""
    run_dir.mkdir(parents=True, exist_ok=True)
    cfg_path = run_dir / CONFIG_FILE
    if cfg_path.exists() and resume:
        stored = ExperimentConfig.from_json(cfg_path.read_text())
        if stored.run_id != config.run_id:
            raise ValueError(f"{run_dir} holds a different run ({stored.run_id}, this config is "
                             f"{config.run_id}); use another run_dir or resume=False to overwrite")
        if (run_dir / HISTORY_FILE).exists():
            history = load_history(run_dir)
            if history.finished:
                return history
    if not resume:
        # A fresh start: results of an earlier run here must not be read back as this run's
        # (e.g. its finished history.json if this one is interrupted before its first save).
        for name in (CHECKPOINT_FILE, HISTORY_FILE, METRICS_FILE, MODEL_FILE):
            (run_dir / name).unlink(missing_ok=True)
    atomic_write_text(cfg_path, config.to_json())
    return None


# --------------------------------------------------------------------------- the loop

# Between checkpoints, history.json/metrics.csv are rewritten after an evaluation only when this many
# seconds have passed since the last write: each write is O(rounds), so writing every round would
# cost O(rounds^2) (about 13 ms a round at 1000 rounds x 100 clients, comparable to a GPU round).
# Checkpoints, stop_after, the end of the run, divergence and interrupts always write.
LIVE_SAVE_SECONDS = 2.0

class _Diverged(Exception):
    pass


class _Run:
    """One run's state between rounds: the loop body of `run_experiment`, split at local training so
    `run_cohort` can train the clients of several runs in one batched computation."""

    def __init__(self, config: ExperimentConfig, run_dir: Path | None, *, progress: bool, resume: bool,
                 stop_after: int | None, shared: _Setup | None = None):
        from tqdm.auto import tqdm

        self.config, self.rd = config, run_dir
        self.clock = time.perf_counter()
        self.s = _setup(config, shared)
        self.history = History(config=config.to_dict(), num_clients=config.num_clients)
        if run_dir is not None and resume and (run_dir / CHECKPOINT_FILE).exists():
            self.history = _load_checkpoint(run_dir / CHECKPOINT_FILE, config, self.s)
        self.sizes = np.asarray(self.s.fed.sizes, dtype=np.float64)
        self.last_round = config.rounds if stop_after is None else min(config.rounds, stop_after)
        self.last_write = time.perf_counter()
        self.model_saved = True  # False only while the final model is being written
        self.stopped = False
        self.bar = tqdm(total=config.rounds, initial=self.history.rounds_done, disable=not progress,
                        desc=config.label, leave=False, dynamic_ncols=True)

    @property
    def next_round(self) -> int | None:
        """The round this run trains next, or None when it has nothing left to do in this call."""
        t = self.history.rounds_done
        return None if self.stopped or t >= self.last_round else t

    def start(self) -> None:
        if not self.history.eval_rounds:
            self._evaluate(0)

    def _evaluate(self, r: int) -> None:
        from fedgs_lite.training import evaluate

        s, h = self.s, self.history
        loss, acc = evaluate(s.model, s.params, s.data.x_test, s.data.y_test)
        h.eval_rounds.append(r)
        h.test_loss.append(float(loss))
        h.test_accuracy.append(float(acc))
        if not math.isfinite(loss):
            raise _Diverged(f"diverged: the test loss is {loss} after round {r}")

    def save(self) -> None:
        now = time.perf_counter()
        self.history.wall_time += now - self.clock
        self.clock = now
        _write_results(self.rd, self.history)
        self.last_write = time.perf_counter()

    def select(self, t: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Round t's availability and selection: (available, selected, distinct clients, multiplicity)."""
        s, c = self.s, self.config
        self.round_start = time.perf_counter()
        available = np.asarray(s.availability.draw(t, s.rng_avail), dtype=bool)
        selected = np.asarray(s.sampler.select(available, c.m, t, s.rng_sampler), dtype=np.int64)
        # MD may repeat a client: train each once and weight it by its multiplicity.
        clients, mult = np.unique(selected, return_counts=True)
        return available, selected, clients, mult

    def finish_round(self, t: int, available: np.ndarray, selected: np.ndarray, clients: np.ndarray,
                     mult: np.ndarray, client_params: dict, losses: np.ndarray) -> None:
        """Aggregate round t's local models, record the round, evaluate and write what is due."""
        from fedgs_lite.training import aggregate

        s, c, h, rd = self.s, self.config, self.history, self.rd
        weights = (self.sizes[clients] if c.aggregation_rule == "size" else np.ones(len(clients))) * mult
        s.params = aggregate(client_params, weights)
        s.current["params"] = s.params
        if hasattr(s.sampler, "update"):
            s.sampler.update(selected, t)
        losses = np.asarray(losses, dtype=np.float64)
        # One round is recorded in one go so an interrupted history stays consistent.
        h.available.append(np.flatnonzero(available).tolist())
        h.selected.append(selected.tolist())
        h.train_loss.append(float(np.dot(weights, losses) / weights.sum()))
        h.lr.append(c.lr * c.lr_decay ** t)
        h.round_seconds.append(time.perf_counter() - self.round_start)
        if not np.all(np.isfinite(losses)):
            raise _Diverged(f"diverged: a local training loss is not finite in round {t}")
        r = t + 1
        evaluated = r % c.eval_every == 0 or r == c.rounds
        if evaluated:
            self._evaluate(r)
        self.bar.update(1)
        self.bar.set_postfix(acc=f"{h.test_accuracy[-1]:.3f}", loss=f"{h.train_loss[-1]:.3f}")
        self.model_saved = r != c.rounds
        h.finished = r == c.rounds
        if rd is None:
            return
        if h.finished:
            _save_model(rd, s.params)
            self.model_saved = True
            self.save()
        elif r == self.last_round or (c.checkpoint_every and r % c.checkpoint_every == 0):
            self.save()
            _save_checkpoint(rd, c, s, h)
        elif evaluated and time.perf_counter() - self.last_write >= LIVE_SAVE_SECONDS:
            self.save()

    def pause(self) -> None:
        """Stop after the round just finished, with results and a checkpoint written to resume from."""
        if self.stopped or self.history.finished:
            return
        self.stopped = True
        if self.rd is not None:
            self.save()
            _save_checkpoint(self.rd, self.config, self.s, self.history)

    def diverged(self, err: Exception) -> None:
        c, h = self.config, self.history
        h.stopped_reason = (f"{err} (lr={c.lr:g}). The run stopped; results up to there are kept. "
                            "Try a smaller lr.")
        h.finished = True  # rerunning the same config would diverge the same way
        self.stopped = True
        warnings.warn(f"[{c.label}] {h.stopped_reason}", RuntimeWarning, stacklevel=3)
        self.save()

    def interrupted(self) -> None:
        if self.history.finished and not self.model_saved:
            self.history.finished = False  # the final model was not written: resume redoes the tail
        self.save()  # partial results; the last checkpoint stays the resume point

    def close(self) -> History:
        self.bar.close()
        h = self.history
        if self.rd is None:
            h.wall_time += time.perf_counter() - self.clock
        elif h.finished:
            (self.rd / CHECKPOINT_FILE).unlink(missing_ok=True)
        h.final_params = {k: v.detach().cpu() for k, v in self.s.params.items()}
        return h


def _open_run(config: ExperimentConfig, run_dir: str | Path | None, *, progress: bool, resume: bool,
              stop_after: int | None, shared: _Setup | None = None) -> _Run | History:
    """A _Run ready to train, or the stored History when the same run already finished in run_dir."""
    if not isinstance(config, ExperimentConfig):
        raise TypeError(f"config must be an ExperimentConfig, got {type(config).__name__}")
    if stop_after is not None and not (_is_int(stop_after) and stop_after >= 1):
        raise ValueError(f"stop_after must be a positive int or None, got {stop_after!r}")
    rd = Path(run_dir) if run_dir is not None else None
    if rd is not None:
        done = _prepare_run_dir(rd, config, resume)
        if done is not None:
            if (rd / MODEL_FILE).exists():
                done.final_params = final_params(rd)
            return done
    return _Run(config, rd, progress=progress, resume=resume, stop_after=stop_after, shared=shared)


def run_experiment(config: ExperimentConfig, run_dir: str | Path | None = None, *, progress: bool = True,
                   resume: bool = True, stop_after: int | None = None,
                   deadline: float | None = None) -> History:
    """Train `config.rounds` rounds of federated learning; return the History.

    run_dir: where config/history/metrics, checkpoints and the final model go. With resume=True a
    finished run there is returned without recomputation and an interrupted one continues from its
    last checkpoint, giving the same result as an uninterrupted run. stop_after: stop (with a
    checkpoint) once that many rounds are done in total, e.g. to split a long run over several calls.
    deadline: a time.monotonic() value; the run stops (with a checkpoint) after the round in which it
    passes, e.g. to end cleanly before a machine's time limit.
    A diverging run (non-finite loss) stops early with `history.stopped_reason` set and a warning.
    """
    from fedgs_lite.training import DivergenceError, local_train

    run = _open_run(config, run_dir, progress=progress, resume=resume, stop_after=stop_after)
    if isinstance(run, History):
        return run
    s = run.s
    try:
        run.start()
        while (t := run.next_round) is not None:
            available, selected, clients, mult = run.select(t)
            try:
                client_params, losses = local_train(s.model, s.params, s.data, clients.tolist(), s.local, t,
                                                    s.torch_gen, engine=config.engine)
            except DivergenceError as err:
                raise _Diverged(str(err)) from None
            run.finish_round(t, available, selected, clients, mult, client_params, losses)
            if deadline is not None and time.monotonic() >= deadline:
                run.pause()
    except _Diverged as err:
        run.diverged(err)
    except KeyboardInterrupt:
        run.interrupted()
        raise
    finally:
        run.bar.close()
    return run.close()


def _save_model(run_dir: Path, params: dict) -> None:
    import torch

    cpu = {k: v.detach().cpu() for k, v in params.items()}
    atomic_write(run_dir / MODEL_FILE, lambda f: torch.save(cpu, f), binary=True)


def final_params(run_dir: str | Path) -> dict:
    """The final global parameters a finished run saved in run_dir (CPU tensors)."""
    import torch

    return torch.load(Path(run_dir) / MODEL_FILE, map_location="cpu", weights_only=True)


# --------------------------------------------------------------------------- comparisons

def compare(configs: Iterable[ExperimentConfig], out_dir: str | Path | None = None, *, progress: bool = True,
            resume: bool = True) -> dict[str, History]:
    """Run each config (in out_dir/<label> when out_dir is given); return {label: History}."""
    histories: dict[str, History] = {}
    for cfg in configs:
        label = cfg.label if cfg.label not in histories else f"{cfg.label}-{cfg.run_id}"
        rd = Path(out_dir) / label if out_dir is not None else None
        histories[label] = run_experiment(cfg, rd, progress=progress, resume=resume)
    return histories


def comparison_rows(histories: Mapping[str, History]) -> list[dict[str, Any]]:
    rows = []
    for label, h in histories.items():
        rows.append({"sampler": label, "final_acc": h.final_accuracy(), "best_acc": h.best_accuracy(),
                     "final_loss": h.final_loss(), "count_var": h.count_variance(), "jain": h.jain_index(),
                     "seconds": h.wall_time, "rounds": h.rounds_done,
                     "status": "diverged" if h.stopped_reason else ("done" if h.finished else "partial")})
    return rows


def comparison_table(histories: Mapping[str, History]) -> str:
    """A plain-text table: final/best accuracy, final test loss, count variance, Jain index, seconds."""
    head = ["sampler", "final acc", "best acc", "final loss", "count var", "Jain", "seconds", "rounds",
            "status"]
    body = []
    for r in comparison_rows(histories):
        body.append([r["sampler"], f"{r['final_acc']:.4f}", f"{r['best_acc']:.4f}", f"{r['final_loss']:.4f}",
                     f"{r['count_var']:.2f}", f"{r['jain']:.3f}", f"{r['seconds']:.1f}", str(r["rounds"]),
                     r["status"]])
    widths = [max(len(row[i]) for row in [head, *body]) for i in range(len(head))]

    def fmt(row: list[str]) -> str:
        cells = zip(row, widths, strict=True)
        return "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(cells))

    return "\n".join([fmt(head), "  ".join("-" * w for w in widths), *map(fmt, body)])


def plot_learning_curves(histories: Mapping[str, History], title: str | None = None):
    """Test accuracy vs round and sampling-count variance vs round, one line per run."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(11, 4), layout="constrained")
    ax_acc, ax_var = fig.subplots(1, 2)
    for label, h in histories.items():
        (line,) = ax_acc.plot(h.eval_rounds, h.test_accuracy, label=label)
        ax_var.plot(np.arange(1, h.rounds_done + 1), h.count_variance_curve(), color=line.get_color(),
                    label=label)
    ax_acc.set(xlabel="round", ylabel="test accuracy", title="accuracy")
    ax_var.set(xlabel="round", ylabel="variance of selection counts", title="sampling fairness")
    for ax in (ax_acc, ax_var):
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small")
    if title:
        fig.suptitle(title)
    return fig
