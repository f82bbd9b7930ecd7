"""A run's seed streams: which independent random stream feeds which part of a run.

`run_seeds(seed)` splits a run's seed with numpy's SeedSequence into five streams, one per concern, so
that changing one part (say the sampler) leaves the draws of the others alone: every sampler sees the
same federation and the same availability trace for one seed. `run_experiment` takes its streams from
here, and so does anything that must reproduce a run's draws elsewhere (the Flower strategy).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class RunSeeds(NamedTuple):
    """The five streams of one run, in the order `SeedSequence(seed).spawn(5)` gives them."""

    data: np.random.SeedSequence                # the dataset (synthetic generator) and the partition
    availability_build: np.random.SeedSequence  # a mode's construction-time draws (LN, SLN)
    availability_draw: np.random.SeedSequence   # the per-round availability masks
    sampler: np.random.SeedSequence             # the sampler's per-round choices
    torch: np.random.SeedSequence               # model initialisation and local minibatch plans


def run_seeds(seed: int) -> RunSeeds:
    """The seed streams of a run with this seed."""
    return RunSeeds(*np.random.SeedSequence(seed).spawn(5))


def seed_int(seq: np.random.SeedSequence) -> int:
    """A non-negative 63-bit integer from a stream, for APIs that take an int seed (torch, loaders)."""
    return int(seq.generate_state(1, dtype=np.uint64)[0] >> np.uint64(1))
