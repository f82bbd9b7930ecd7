"""The Flower strategy's roster of clients: which Flower node is which kit client id, and its profile.

Nodes get client ids 0..K-1 in the order they are first profiled. Within one batch of new nodes the
order is by partition id when each reports a distinct one (a simulation, where the partition id is the
kit's client id, which gives run_experiment's ids), else by Flower node id. A node's profile is what
it answered to the profile query (`flower_node.profile_record`): its number of examples, label
histogram and input mean / mean square. No Flower import here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from fedgs_lite.graph import label_features

Profile = Mapping[str, Any]  # a node's profile reply (a Flower MetricRecord reads like a mapping)


@dataclass
class Roster:
    """The profiled clients, by client id: Flower node id, partition id, data size, label histogram,
    and (graph_features "update"/"logit") the round-0 3DG feature."""

    node_ids: list[int] = field(default_factory=list)
    partition_ids: list[int | None] = field(default_factory=list)
    sizes: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    histograms: np.ndarray = field(default_factory=lambda: np.zeros((0, 1), dtype=np.int64))
    features: list[np.ndarray] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.node_ids)

    def unknown(self, connected: set[int]) -> list[int]:
        """Connected nodes without a client id yet, sorted."""
        return sorted(connected - set(self.node_ids))

    def add(self, order: list[int], profiles: Mapping[int, Profile],
            features: Mapping[int, np.ndarray] | None = None) -> int:
        """Give the nodes in `order` the next client ids; returns how many clients there were before."""
        first = len(self.node_ids)
        hist = [np.asarray(profiles[n]["label-histogram"], dtype=np.int64) for n in order]
        width = max([self.histograms.shape[1], *(h.size for h in hist)])
        old = np.pad(self.histograms, ((0, 0), (0, width - self.histograms.shape[1])))
        self.histograms = np.vstack([old, *(np.pad(h, (0, width - h.size)) for h in hist)]).astype(np.int64)
        self.sizes = np.concatenate([self.sizes, [int(profiles[n]["num-examples"]) for n in order]])
        self.sizes = self.sizes.astype(np.int64)
        self.node_ids += order
        self.partition_ids += [partition_id(profiles[n]) for n in order]
        if features is not None:
            self.features += [np.asarray(features[n]) for n in order]
        return first

    def online(self, connected: set[int]) -> np.ndarray:
        """Bool (K,): which clients' nodes are connected now."""
        return np.array([n in connected for n in self.node_ids], dtype=bool)

    def feature_matrix(self) -> np.ndarray:
        """The 3DG features: the round-0 features when there are any, else the label distributions."""
        return np.stack(self.features) if self.features else label_features(self.histograms)


def partition_id(profile: Profile) -> int | None:
    value = profile.get("partition-id")
    return None if value is None else int(value)


def client_order(profiles: Mapping[int, Profile]) -> list[int]:
    """New nodes in the order they become clients: by partition id when each has a distinct one, else
    by node id."""
    pids = {n: partition_id(p) for n, p in profiles.items()}
    by_pid = all(v is not None for v in pids.values()) and len(set(pids.values())) == len(pids)
    return sorted(profiles, key=lambda n: pids[n] if by_pid else n)


def pooled_input_stats(profiles: Mapping[int, Profile]) -> tuple[float, float]:
    """(mean, std) of every node's inputs pooled, from their profiles: the logit features' noise scale."""
    n = np.array([p["num-examples"] for p in profiles.values()], dtype=float)
    total = max(n.sum(), 1.0)
    mean = float(n @ np.array([p["x-mean"] for p in profiles.values()], dtype=float) / total)
    sq = float(n @ np.array([p["x-sq-mean"] for p in profiles.values()], dtype=float) / total)
    return mean, float(np.sqrt(max(sq - mean * mean, 0.0))) or 1.0
