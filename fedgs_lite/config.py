"""What a run depends on: `ExperimentConfig`, every setting with its default and its allowed values.

The defaults are the kit's demo (the `python -m fedgs_lite run` main job: 30 synthetic clients under
YMF-0.9, 6 picked per round, 60 rounds of 10 local steps on the CPU); the paper's settings are in
paper.py. Fields come in groups (data, availability, sampler, local training, runtime); the local-
training group is its own small dataclass, `LocalTraining`, which the training engine reads and
ExperimentConfig extends, so its fields, defaults and checks are written once. Every field is checked
when a config is built (a ValueError names the field); `run_id` hashes the fields that change results.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from fedgs_lite.availability import parse_mode
from fedgs_lite.checks import canonical_name, check, is_finite, is_int
from fedgs_lite.data import DATASETS, SYNTHETIC_DEMO, SYNTHETIC_PAPER
from fedgs_lite.graph import EPSILON, SIGMA
from fedgs_lite.partitions import SCHEMES, resolve_scheme
from fedgs_lite.samplers import AGGREGATIONS, available_samplers, config_defaults, default_aggregation
from fedgs_lite.solvers import METHODS

ENGINES = ("auto", "batched", "sequential")
DEVICES = ("auto", "cpu", "cuda")
# oracle: the authors' `oracle` feature (graph.oracle_features): the generating models on synthetic
# data, label distributions otherwise. label: label distributions everywhere.
GRAPH_FEATURES = ("label", "oracle", "update", "logit")
# The synthetic data's sizes and split (data.py): the kit's milder demo, or the authors' task.
SYNTHETIC_SETTINGS = {"demo": SYNTHETIC_DEMO, "paper": SYNTHETIC_PAPER}
# Model names: "auto" is the dataset's own model (models.make_model); the rest are models.MODEL_NAMES
# (written out here so that building a config does not import torch; a test keeps the two equal).
MODELS = ("auto", *DATASETS, "fashion_mnist_lr")


def setting(default: Any, help: str) -> Any:
    """A config field with its one-line help (the `run` command's --help shows it)."""
    return field(default=default, metadata={"help": help})


# What each numeric field may be: (test, what the message says it must be).
RULES = {
    "positive int": (lambda v: is_int(v) and v >= 1, "a positive int"),
    "positive int or None": (lambda v: v is None or (is_int(v) and v >= 1), "a positive int or None"),
    "int >= 0": (lambda v: is_int(v) and v >= 0, "an int >= 0"),
    "> 0": (lambda v: is_finite(v) and v > 0, "> 0"),
    ">= 0": (lambda v: is_finite(v) and v >= 0, ">= 0"),
    "(0, 1]": (lambda v: is_finite(v) and 0 < v <= 1, "in (0, 1]"),
    "[0, 1)": (lambda v: is_finite(v) and 0 <= v < 1, "in [0, 1)"),
    "[0, 1] or None": (lambda v: v is None or (is_finite(v) and 0 <= v <= 1), "in [0, 1] or None"),
}


def check_fields(obj: Any, rules: Mapping[str, str]) -> None:
    """Check each field named in `rules` against its RULES entry."""
    for name, rule in rules.items():
        ok, must = RULES[rule]
        value = getattr(obj, name)
        check(ok(value), f"{name} must be {must}, got {value!r}")


@dataclass(frozen=True)
class LocalTraining:
    """How each selected client trains in a round: SGD on its own data, `epochs` or `steps` of it."""

    epochs: int | None = setting(None, "local epochs per round (then set steps to none)")
    steps: int | None = setting(10, "local minibatch steps per round (when epochs is none)")
    batch_size: int = setting(10, "minibatch size")
    lr: float = setting(0.1, "learning rate in round 0")
    lr_decay: float = setting(1.0, "lr of round t = lr * lr_decay**t; 1: constant, the authors' default "
                                   "(their optional decay is 0.998)")
    momentum: float = setting(0.0, "SGD momentum")
    weight_decay: float = setting(0.0, "SGD weight decay")
    prox_mu: float = setting(0.0, "FedProx proximal term mu (0: FedAvg)")

    def __post_init__(self) -> None:
        check((self.epochs is None) != (self.steps is None),
              f"set exactly one of epochs or steps (local training), got epochs={self.epochs!r} and "
              f"steps={self.steps!r}; e.g. epochs=5, steps=None")
        check_fields(self, {"epochs": "positive int or None", "steps": "positive int or None",
                            "batch_size": "positive int", "lr": "> 0", "lr_decay": "(0, 1]",
                            "momentum": "[0, 1)", "weight_decay": ">= 0", "prox_mu": ">= 0"})

    def lr_at(self, round_idx: int) -> float:
        return self.lr * self.lr_decay ** round_idx

    def local_training(self) -> LocalTraining:
        """Just the local-training fields (what the training engine needs)."""
        return LocalTraining(**{f.name: getattr(self, f.name) for f in dataclasses.fields(LocalTraining)})


DATA_FIELDS = ("dataset", "data_root", "num_clients", "partition", "classes_per_client", "dirichlet_alpha",
               "skew", "size_sigma", "holdout", "synthetic_setting", "synthetic_alpha", "synthetic_beta")
LOCAL_FIELDS = tuple(f.name for f in dataclasses.fields(LocalTraining))
# Runs with equal values here share data, model and local training: they can train as one cohort.
COHORT_FIELDS = DATA_FIELDS + ("model", "seed") + LOCAL_FIELDS + ("device", "engine")
# Fields that do not change what a run computes: left out of run_id, free to change on resume.
RESULT_NEUTRAL = ("name", "data_root", "checkpoint_every")


@dataclass(frozen=True)
class ExperimentConfig(LocalTraining):
    """Everything one run depends on (LocalTraining's fields included). Checked when built."""

    # data
    dataset: str = setting("synthetic", f"dataset: {', '.join(DATASETS)}")
    data_root: str | None = setting(None, "folder holding downloaded datasets")
    num_clients: int = setting(30, "clients N")
    partition: str = setting("auto", "partition scheme; auto: natural for synthetic, label_skew otherwise")
    classes_per_client: int = setting(2, "label_skew: classes per client")
    dirichlet_alpha: float = setting(0.5, "dirichlet(_lognormal): concentration (smaller, more skew)")
    skew: float | None = setting(None, "dirichlet_lognormal (the authors' dist 4): skewness in [0, 1], "
                                       "alpha = (-4 ln skew)^4 (none: use dirichlet_alpha)")
    size_sigma: float = setting(1.0, "size_imbalance, dirichlet_lognormal: spread of the lognormal sizes")
    holdout: float = setting(0.0, "share of each client's samples held out for validation (the authors: 0.2)")
    synthetic_setting: str = setting("demo", "synthetic data: demo (sizes lognormal(4, 1) + 50, capped at "
                                             "1000, a fifth for test) or paper (the authors' lognormal(4, "
                                             "2) + 50 uncapped, each client 75/15/10 train/valid/test)")
    synthetic_alpha: float = setting(0.5, "Synthetic(alpha, beta): how much the local models differ")
    synthetic_beta: float = setting(0.5, "Synthetic(alpha, beta): how much the local inputs differ")
    model: str = setting("auto", "model: auto (the dataset's own) or fashion_mnist_lr (the authors' "
                                 "logistic regression)")
    # availability
    mode: str = setting("YMF-0.9", "availability mode, e.g. IDL, LN-0.5, YMF-0.9, MDF-1e-4")
    # sampler
    sampler: str = setting("uniform", "client sampler (fedprox: MD sampling with prox_mu 0.01 unless set)")
    fedgs_alpha: float = setting(0.1, "FedGS trade-off between 3DG diversity and fair counts")
    solver: str = setting("fast", f"FedGS per-round solver: {', '.join(METHODS)}")
    graph_features: str = setting("label", f"FedGS 3DG built from: {', '.join(GRAPH_FEATURES)}")
    epsilon: float = setting(EPSILON, "3DG edge threshold (what the authors' code ran, see graph.py)")
    sigma: float = setting(SIGMA, "3DG edge length scale (what the authors' code ran)")
    poc_d: int | None = setting(None, "Power-of-Choice candidates d (none: all available)")
    clients_per_round: int | None = setting(None, "clients per round M (none: proportion * N)")
    proportion: float = setting(0.2, "share of clients per round when clients_per_round is none")
    aggregation: str = setting("auto", "FedAvg weights: size, uniform; auto: the sampler's (MD: uniform)")
    # runtime
    rounds: int = setting(60, "rounds")
    eval_every: int = setting(1, "evaluate the global model every k rounds (and after the last)")
    checkpoint_every: int = setting(10, "checkpoint every k rounds (0: never)")
    seed: int = setting(0, "seed of every random stream of the run")
    device: str = setting("cpu", "cpu, cuda, or auto (cuda when available)")
    engine: str = setting("auto", "local training engine; auto: batched on a GPU or without convolutions")
    name: str = setting("", "display label (default: the sampler)")

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "dataset", canonical_name(self.dataset))
        self._check_choices()
        self._apply_sampler_defaults()
        check_fields(self, {
            "num_clients": "positive int", "rounds": "positive int", "classes_per_client": "positive int",
            "eval_every": "positive int", "clients_per_round": "positive int or None",
            "poc_d": "positive int or None", "checkpoint_every": "int >= 0", "seed": "int >= 0",
            "proportion": "(0, 1]", "sigma": "> 0", "dirichlet_alpha": "> 0", "fedgs_alpha": ">= 0",
            "size_sigma": ">= 0", "synthetic_alpha": ">= 0", "synthetic_beta": ">= 0", "epsilon": ">= 0",
            "holdout": "[0, 1)", "skew": "[0, 1] or None"})
        check(self.clients_per_round is None or self.clients_per_round <= self.num_clients,
              f"clients_per_round={self.clients_per_round} exceeds num_clients={self.num_clients}")
        check(self.poc_d is None or self.poc_d >= self.m,
              f"poc_d (Power-of-Choice candidates) must be >= clients per round M={self.m}, got {self.poc_d}")
        check(self.partition != "natural" or self.dataset == "synthetic",
              "partition 'natural' needs the synthetic dataset (the only one with natural clients)")
        self._check_data()

    def _check_data(self) -> None:
        check(self.skew is None or self.partition == "dirichlet_lognormal",
              f"skew={self.skew} applies to partition 'dirichlet_lognormal' (the authors' dist 4), "
              f"not {self.partition!r}")
        check(self.synthetic_setting == "demo" or self.dataset == "synthetic",
              f"synthetic_setting={self.synthetic_setting!r} applies to the synthetic dataset only")
        natural_valid = self.partition_scheme == "natural" and self.synthetic_setting == "paper"
        check(not (natural_valid and self.holdout),
              "synthetic_setting 'paper' brings its own validation split (15% per client); leave holdout 0")

    def _check_choices(self) -> None:
        choices = {"dataset": DATASETS, "partition": ("auto", *SCHEMES), "solver": METHODS, "model": MODELS,
                   "synthetic_setting": tuple(SYNTHETIC_SETTINGS),
                   "graph_features": GRAPH_FEATURES, "aggregation": ("auto", *AGGREGATIONS),
                   "engine": ENGINES, "device": DEVICES, "sampler": available_samplers()}
        for name, allowed in choices.items():
            value = getattr(self, name)
            check(value in allowed, f"unknown {name} {value!r}; choose one of {', '.join(allowed)}"
                  + (" (add your own with fedgs_lite.register_sampler)" if name == "sampler" else ""))
        try:
            parse_mode(self.mode)
        except (ValueError, TypeError) as err:
            raise ValueError(f"bad availability mode {self.mode!r}: {err}") from None

    def _apply_sampler_defaults(self) -> None:
        """Fields a sampler's registration sets when the config leaves them at their defaults (FedProx:
        MD sampling plus the proximal term, prox_mu 0.01 unless given)."""
        defaults = {f.name: f.default for f in dataclasses.fields(self)}
        for name, value in config_defaults(self.sampler).items():
            if getattr(self, name) == defaults[name]:
                object.__setattr__(self, name, value)

    # -- derived values
    @property
    def model_name(self) -> str:
        """The model make_model builds: `model`, or for "auto" the dataset's own."""
        return self.dataset if self.model == "auto" else self.model

    @property
    def synthetic_options(self) -> dict[str, Any]:
        """make_synthetic's size and split options of `synthetic_setting` (data.SYNTHETIC_DEMO/PAPER)."""
        return dict(SYNTHETIC_SETTINGS[self.synthetic_setting])

    @property
    def m(self) -> int:
        """Clients per round: clients_per_round, or int(proportion * N) (at least 1) as the authors."""
        if self.clients_per_round is not None:
            return int(self.clients_per_round)
        return max(int(self.proportion * self.num_clients), 1)

    @property
    def partition_scheme(self) -> str:
        return resolve_scheme(self.partition, self.dataset)

    @property
    def aggregation_rule(self) -> str:
        """"size" or "uniform": the config's, or for "auto" the one the sampler was registered with."""
        return default_aggregation(self.sampler) if self.aggregation == "auto" else self.aggregation

    @property
    def label(self) -> str:
        return run_label(self.name, self.sampler, self.graph_features)

    @property
    def run_id(self) -> str:
        """Short stable hash of the fields that change results (not name, data_root, checkpoint_every)."""
        d = {k: v for k, v in self.to_dict().items() if k not in RESULT_NEUTRAL}
        return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:10]

    def cohort_key(self) -> tuple:
        """Configs with equal keys can train together in one cohort (loop.run_cohort)."""
        return tuple((f, getattr(self, f)) for f in COHORT_FIELDS)

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


def run_label(name: str, sampler: str, graph_features: str) -> str:
    """The display label of a run: its name, else the sampler (with FedGS's 3DG features when learned)."""
    if name:
        return name
    plain = sampler != "fedgs" or graph_features in ("label", "oracle")  # oracle = labels on image data
    return sampler if plain else f"fedgs-{graph_features}"
