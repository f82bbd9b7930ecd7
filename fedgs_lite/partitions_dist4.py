"""The authors' `dist 4` partition: Dirichlet label skew over clients of lognormal sizes.

easyFL's DefaultTaskGen, which FedGS builds its tasks with (read in
easyfl:benchmark/enzymes_graph_classification/core.py@81a3442f:153-245, the same branch as the task
generator of that period), in four steps:
1. client sizes s_i ~ lognormal(ln(n / N) - sigma^2 / 2, sigma), floored and pushed to sum to n
   (`lognormal_client_sizes`);
2. each client draws a label mix q_i ~ Dirichlet(alpha * p), p the global label distribution, with
   alpha = max((-4 ln(skew + 1e-7))^4, 0.01) (`dirichlet_alpha_from_skew`);
3. the mixes are redrawn until the size-weighted mean mix is within a squared error of 1e-2 / C of p
   (`balanced_mixes`);
4. each class is cut among the clients in proportion to q_i[c] * s_i (`cut_classes`).
`dirichlet_lognormal_parts` runs the four; `partitions.partition(ds, N, "dirichlet_lognormal",
skew=...)` is the usual way in. The deviations from their code are listed in docs/fidelity.md.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

SKEW_EPSILON = 1e-7           # their `10e-8`
MIN_DIRICHLET_ALPHA = 0.01    # their MIN_ALPHA
REBALANCE_TOLERANCE = 1e-2    # divided by the number of classes


def dirichlet_alpha_from_skew(skew: float) -> float:
    """The Dirichlet concentration of the authors' `dist 4` task of skewness `skew` in [0, 1].

    alpha = (-4 ln(skew + 1e-7))^4, at least 0.01: skew 0.1, 0.7, 0.8, 0.9 give about 7196, 4.14,
    0.63, 0.03 (the x axis of their heterogeneity figure). Larger skew, smaller alpha, more label skew.
    """
    if isinstance(skew, bool) or not isinstance(skew, int | float | np.floating) or not 0 <= skew <= 1:
        raise ValueError(f"skew must be a number in [0, 1], got {skew!r}")
    return max((-4.0 * math.log(float(skew) + SKEW_EPSILON)) ** 4, MIN_DIRICHLET_ALPHA)


def lognormal_client_sizes(total: int, num_clients: int, rng: np.random.Generator,
                           sigma: float = 1.0) -> np.ndarray:
    """Client sizes as the authors' `dist 4` draws them: lognormal(ln(total / N) - sigma^2 / 2, sigma),
    floored, then pushed to sum exactly to `total` by their rules, which also trim both tails.

    Their rules, with big = 10% and step = 1% of the total: while the sizes overshoot by >= big, the
    largest client is replaced by the smallest of N fresh draws (their code picks the draw that
    minimises the new total); by >= step, the largest loses step; by less, the largest loses the
    rest. While they fall short by >= step, the smallest gains step; by less, the smallest gains the
    rest. Deviations: big and step are at least 1 (theirs loop forever on totals under 100) and
    every client keeps at least one sample.
    """
    if not sigma >= 0:
        raise ValueError(f"size_sigma must be >= 0, got {sigma!r}")
    if num_clients > total:
        raise ValueError(f"cannot give {num_clients} clients at least one sample each from {total}")
    mu = math.log(total / num_clients) - sigma**2 / 2.0  # mean size total / N
    sizes = rng.lognormal(mu, sigma, num_clients).astype(np.int64)
    big = max(int(0.1 * total), 1)
    step = max(int(0.1 * big), 1)
    while (excess := int(sizes.sum()) - total) != 0:
        if excess >= big:
            sizes[np.argmax(sizes)] = int(rng.lognormal(mu, sigma, num_clients).min())
        elif excess > 0:
            sizes[np.argmax(sizes)] -= min(step, excess)
        else:
            sizes[np.argmin(sizes)] += min(step, -excess)
    while sizes.min() < 1:  # not in theirs: a floored draw of 0 would leave a client empty
        sizes[np.argmin(sizes)] += 1
        sizes[np.argmax(sizes)] -= 1
    return sizes


def draw_mixes(concentration: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """k label mixes ~ Dirichlet(concentration), (k, C); a row that underflows to all zeros (or NaN)
    under a tiny concentration is redrawn."""
    q = rng.dirichlet(concentration, size=k)
    for _ in range(100):
        bad = ~np.isfinite(q).all(axis=1) | (q.sum(axis=1) <= 0)
        if not bad.any():
            return q
        q[bad] = rng.dirichlet(concentration, size=int(bad.sum()))
    raise ValueError(f"Dirichlet(alpha * p = {concentration.sum():g} in total) keeps giving degenerate "
                     "draws; use a larger alpha")


def mix_error(weighted: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Squared distance between p and the label mix(es) of size-weighted label counts (last axis)."""
    mix = weighted / weighted.sum(axis=-1, keepdims=True)
    return ((mix - p) ** 2).sum(axis=-1)


def balanced_mixes(sizes: np.ndarray, p: np.ndarray, draw: Callable[[int], np.ndarray],
                   limit: int) -> np.ndarray:
    """Step 3: one client after another (smallest first) swaps its mix for the best of N fresh draws
    (`draw(N)`) until sum_i s_i q_i / n is within REBALANCE_TOLERANCE / C of p, at most `limit` swaps.
    A swap is taken even when it is worse, as theirs; the best mixes seen are returned."""
    n = len(sizes)
    q = draw(n)
    weighted = sizes @ q
    tolerance = REBALANCE_TOLERANCE / len(p)
    best_q, best_err = q.copy(), float(mix_error(weighted, p))
    order = np.argsort(sizes, kind="stable")
    for swap in range(limit):
        if best_err <= tolerance:
            break
        i = order[swap % n]
        candidates = draw(n)
        rest = weighted - sizes[i] * q[i]
        errs = mix_error(rest[None, :] + sizes[i] * candidates, p)
        j = int(np.argmin(errs))
        q[i] = candidates[j]
        weighted = rest + sizes[i] * candidates[j]
        if errs[j] < best_err:
            best_q, best_err = q.copy(), float(errs[j])
    return best_q


def cut_classes(labels: np.ndarray, classes: np.ndarray, mixes: np.ndarray, sizes: np.ndarray,
                rng: np.random.Generator) -> list[np.ndarray]:
    """Step 4: each class's samples (shuffled) cut among the clients in proportion to mix * size, the
    cut points floored; every sample goes to exactly one client."""
    parts: list[list[np.ndarray]] = [[] for _ in range(len(sizes))]
    for c, label in enumerate(classes):
        idx = rng.permutation(np.flatnonzero(labels == label))
        share = mixes[:, c] * sizes
        share = share / share.sum() if share.sum() > 0 else sizes / sizes.sum()
        cuts = (np.cumsum(share) * len(idx)).astype(np.int64)[:-1]
        for i, chunk in enumerate(np.split(idx, cuts)):
            parts[i].append(chunk)
    return [np.concatenate(part) for part in parts]


def fill_empty(parts: list[np.ndarray], rng: np.random.Generator) -> list[np.ndarray]:
    """Give every empty client one sample, taken at random from the currently largest client."""
    for i in range(len(parts)):
        if len(parts[i]) == 0:
            donor = int(np.argmax([len(p) for p in parts]))
            take = int(rng.integers(len(parts[donor])))
            parts[i] = parts[donor][take:take + 1]
            parts[donor] = np.delete(parts[donor], take)
    return parts


def dirichlet_lognormal_parts(labels: np.ndarray, num_clients: int, alpha: float, rng: np.random.Generator,
                              *, size_sigma: float = 1.0, max_rebalance: int | None = None
                              ) -> list[np.ndarray]:
    """The authors' `dist 4` partition of samples with these `labels`: per-client indices (steps 1-4
    of the module docstring, sizes of spread `size_sigma`).

    Deviations from their code: samples of a class are shuffled before the cut (theirs cut in dataset
    order); step 3 stops after `max_rebalance` swaps (default 100 N) keeping the best mix seen, where
    theirs may loop forever (few clients, tiny alpha); a client left empty gets one sample from the
    largest.
    """
    labels = np.asarray(labels)
    if not (np.isfinite(alpha) and alpha > 0):
        raise ValueError(f"dirichlet_alpha must be > 0, got {alpha!r}")
    classes, counts = np.unique(labels, return_counts=True)
    p = counts / len(labels)
    sizes = lognormal_client_sizes(len(labels), num_clients, rng, sigma=size_sigma).astype(np.float64)
    limit = 100 * num_clients if max_rebalance is None else max_rebalance
    mixes = balanced_mixes(sizes, p, lambda k: draw_mixes(alpha * p, k, rng), limit)
    return fill_empty(cut_classes(labels, classes, mixes, sizes, rng), rng)
