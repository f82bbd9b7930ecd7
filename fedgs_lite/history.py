"""What a run recorded, round by round: `History`, its fairness and accuracy numbers, JSON and CSV rows.

A trainer builds it with `History.start(config)` (or `History(config=..., num_clients=N)`), then
records each round in one call, `record_round(available, selected, train_loss, lr, seconds)`, and each
evaluation with `record_eval(r, loss, accuracy, valid_loss)`, where evaluation round r means "after r
completed rounds" (0: the initial model). One call per round keeps an interrupted history consistent.

The authors' headline number is the test metric at the evaluation with the lowest (training-size
weighted) validation loss (fedgs:utils/result_analysis.py:517-530, `group_testing_optimal_value`):
`best_valid_accuracy()` and `best_valid_loss()`. `max_test_accuracy()` picks its round on the test
set itself, which is optimistic: it is kept for curiosity, not reported as a result.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from fedgs_lite.config import ExperimentConfig, run_label
from fedgs_lite.metrics import count_variance, jain_index, per_round_counts

FLOAT_LISTS = ("train_loss", "lr", "round_seconds", "test_loss", "test_accuracy", "valid_loss")
CSV_COLUMNS = ("round", "available", "selected", "train_loss", "lr", "valid_loss", "test_loss",
               "test_accuracy")


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
    valid_loss: list[float] = field(default_factory=list)      # per evaluation; NaN without a hold-out
    wall_time: float = 0.0
    finished: bool = False
    stopped_reason: str | None = None
    degenerate: str | None = None  # why the run's mode gave every client the same p (None: it did not)
    # Final global parameters of the run (not serialised; run_dir keeps them in final_model.pt).
    final_params: dict | None = field(default=None, repr=False, compare=False)

    @classmethod
    def start(cls, config: ExperimentConfig, *, degenerate: str | None = None) -> History:
        """An empty History of a run of `config` (`degenerate`: degenerate_reason of its mode, if any)."""
        return cls(config=config.to_dict(), num_clients=config.num_clients, degenerate=degenerate)

    # -- recording
    def record_round(self, available: np.ndarray | Sequence[int], selected: Sequence[int], train_loss: float,
                     lr: float, seconds: float) -> None:
        """One completed round: who was available (a boolean mask or ids), who was selected (ids, in the
        sampler's order, repeats kept), the mean local training loss, the lr and the round's seconds."""
        a = np.asarray(available)
        self.available.append((np.flatnonzero(a) if a.dtype == bool else a).astype(int).tolist())
        self.selected.append(np.asarray(selected, dtype=np.int64).tolist())
        self.train_loss.append(float(train_loss))
        self.lr.append(float(lr))
        self.round_seconds.append(float(seconds))

    def record_eval(self, round_done: int, loss: float, accuracy: float,
                    valid_loss: float | None = None) -> None:
        """The global model's test loss and accuracy after `round_done` completed rounds, and its
        weighted validation loss over the clients' hold-out parts (None: there is no hold-out)."""
        self.eval_rounds.append(int(round_done))
        self.test_loss.append(float(loss))
        self.test_accuracy.append(float(accuracy))
        self.valid_loss.append(float("nan") if valid_loss is None else float(valid_loss))

    # -- what it says
    @property
    def label(self) -> str:
        c = self.config
        return run_label(c.get("name") or "", c.get("sampler", "?"), c.get("graph_features", "label"))

    @property
    def rounds_done(self) -> int:
        return len(self.selected)

    @property
    def counts(self) -> np.ndarray:
        """How often each client was selected (MD repetitions count), int64 (N,)."""
        return per_round_counts(self.selected, self.num_clients).sum(axis=0)

    def counts_over_rounds(self) -> np.ndarray:
        """Cumulative selection counts after each round, int64 (rounds_done, N)."""
        return np.cumsum(per_round_counts(self.selected, self.num_clients), axis=0)

    def count_variance(self) -> float:
        return float(count_variance(self.counts))

    def count_variance_curve(self) -> np.ndarray:
        """Variance of the cumulative selection counts after each round, (rounds_done,)."""
        return np.asarray(count_variance(self.counts_over_rounds())) if self.rounds_done else np.zeros(0)

    def jain_index(self) -> float:
        """Jain's fairness index of the counts: 1 when every client was picked equally often."""
        return float(jain_index(self.counts))

    def final_accuracy(self) -> float:
        return self.test_accuracy[-1] if self.test_accuracy else float("nan")

    def final_loss(self) -> float:
        return self.test_loss[-1] if self.test_loss else float("nan")

    def best_valid_index(self) -> int | None:
        """Position (in eval_rounds) of the lowest validation loss, the first if tied as np.argmin;
        None without validation losses."""
        valid = np.asarray(self.valid_loss, dtype=np.float64)
        if not np.isfinite(valid).any():
            return None
        return int(np.argmin(np.where(np.isfinite(valid), valid, np.inf)))

    def best_valid_round(self) -> int | None:
        i = self.best_valid_index()
        return None if i is None else self.eval_rounds[i]

    def best_valid_accuracy(self) -> float:
        """Test accuracy at the evaluation of lowest validation loss (the authors' headline metric)."""
        i = self.best_valid_index()
        return float("nan") if i is None else self.test_accuracy[i]

    def best_valid_loss(self) -> float:
        """Test loss at the evaluation of lowest validation loss."""
        i = self.best_valid_index()
        return float("nan") if i is None else self.test_loss[i]

    def min_test_loss(self) -> float:
        """The lowest test loss of any evaluation (`group_mean_of_min_value`; picked on the test set)."""
        finite = [v for v in self.test_loss if math.isfinite(v)]
        return min(finite) if finite else float("nan")

    def max_test_accuracy(self) -> float:
        """The highest test accuracy of any evaluation: its round is picked on the test set itself, so it
        is optimistic (not the authors' metric; see best_valid_accuracy)."""
        finite = [a for a in self.test_accuracy if math.isfinite(a)]
        return max(finite) if finite else float("nan")

    # -- serialisation (NaN is written as null so the JSON stays standard)
    def to_dict(self) -> dict[str, Any]:
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "final_params"}
        d = json.loads(json.dumps(d, allow_nan=True))  # deep copy into plain JSON types
        for key in FLOAT_LISTS:
            d[key] = [None if not math.isfinite(v) else float(v) for v in d[key]]
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> History:
        d = dict(d)
        for key in FLOAT_LISTS:
            d[key] = [float("nan") if v is None else float(v) for v in d.get(key, [])]
        if len(d["valid_loss"]) < len(d.get("eval_rounds", [])):  # written before validation existed
            d["valid_loss"] = [float("nan")] * len(d["eval_rounds"])
        return cls(**d)

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    @classmethod
    def from_json(cls, text: str) -> History:
        return cls.from_dict(json.loads(text))

    def to_csv_rows(self) -> list[dict[str, Any]]:
        """One row per round (the evaluation columns blank where the round was not evaluated), plus
        a row for round 0 when the initial model was evaluated."""
        measured = zip(self.valid_loss, self.test_loss, self.test_accuracy, strict=True)
        evals = dict(zip(self.eval_rounds, measured, strict=True))
        rows = []
        for r in range(0, self.rounds_done + 1):
            if r == 0 and 0 not in evals:
                continue
            row: dict[str, Any] = dict.fromkeys(CSV_COLUMNS, "")
            row["round"] = r
            if r > 0:
                row.update(available=len(self.available[r - 1]),
                           selected=" ".join(map(str, self.selected[r - 1])),
                           train_loss=self.train_loss[r - 1], lr=self.lr[r - 1])
            if r in evals:
                valid, row["test_loss"], row["test_accuracy"] = evals[r]
                row["valid_loss"] = valid if math.isfinite(valid) else ""
            rows.append(row)
        return rows
