"""The compiled tabu steps (fedgs_lite/tabu_walk.py): every step is the best allowed swap of the whole
neighbourhood, the pruning of outsiders loses none, and plain Python (no numba) walks the same way."""

import os
import subprocess
import sys

import numpy as np
import pytest

from fedgs_lite import instances
from fedgs_lite.conditioning import condition
from fedgs_lite.tabu_walk import INSIDE, TOL, next_swap, walk_until_stall


def every_swap(w, mem, g, until_in, until_out, it, value, best_value):
    """The best allowed swap by evaluating all m x n of them (numpy, no pruning): (slot, gain, client)."""
    d1 = np.where(until_in >= it, -np.inf, g) - w[mem]      # d1[a, j] = g[j] - w[mem[a], j]
    gains = d1.max(axis=1) - g[mem]
    allowed = np.where(until_out >= it, -np.inf, gains)
    a = int(np.argmax(allowed))
    delta = float(allowed[a])
    j = int(np.argmax(d1[a])) if delta > -np.inf else -1
    if value + float(gains.max()) > best_value + TOL:       # aspiration: a tabu slot may leave
        ta = int(np.argmax(gains))
        if gains[ta] > delta:
            a, delta, j = ta, float(gains[ta]), int(np.argmax(d1[ta]))
    return a, delta, j


def kernel_move(w, mem, g, until_in, until_out, it, value, best_value):
    """The step walk_until_stall takes (next_swap), with fresh scratch space."""
    return next_swap(w, mem, g, until_in, until_out, it, value, best_value, np.empty(g.size, dtype=np.int64))


def random_state(rng, p, it):
    n, m = p.u.size, p.m
    mem = rng.choice(n, m, replace=False).astype(np.int64)
    g = p.u + p.w[mem].sum(axis=0)
    until_in = np.where(rng.random(n) < 0.3, it + 3, -1).astype(np.int64)  # some outsiders tabu
    until_in[mem] = INSIDE
    until_out = np.where(rng.random(m) < 0.4, it + 2, -1).astype(np.int64)  # some slots tabu
    value = float(p.u[mem].sum() + 0.5 * (g[mem] - p.u[mem]).sum())
    return mem, g, until_in, until_out, value


@pytest.mark.parametrize("family", instances.FAMILIES)
def test_each_step_is_the_best_swap_of_the_whole_neighbourhood(family):
    """Including realistic 3DGs (many distances at 1, so many ties) and near-ties, with tabu marks and
    with and without aspiration: the same slot, gain and client as the exhaustive search."""
    rng = np.random.default_rng(5)
    checked = 0
    for n, m in ((30, 4), (120, 10), (400, 20)):
        p = condition(*instances.make_instance(family, rng, n, m).args())
        for _ in range(25):
            mem, g, until_in, until_out, value = random_state(rng, p, it=7)
            for best_value in (value + 1.0, value - 1.0):  # aspiration off / on
                want = every_swap(p.w, mem, g, until_in, until_out, 7, value, best_value)
                got = kernel_move(p.w, mem, g, until_in, until_out, 7, value, best_value)
                assert (got[0], got[2]) == (want[0], want[2]) and got[1] == want[1]
                checked += 1
    assert checked == 150


def test_ties_go_to_the_lowest_slot_then_the_lowest_client():
    w = np.ones((6, 6)) - np.eye(6)  # every swap gains exactly 0
    mem = np.array([4, 1], dtype=np.int64)
    g = w[mem].sum(axis=0)
    until_in = np.full(6, -1, dtype=np.int64)
    until_in[mem] = INSIDE
    a, delta, j = kernel_move(w, mem, g, until_in, np.full(2, -1, dtype=np.int64), 0, 1.0, 2.0)
    assert (a, delta, j) == (0, 0.0, 0)


def test_no_free_outsider_means_no_move():
    w = np.ones((4, 4)) - np.eye(4)
    mem = np.array([0, 1], dtype=np.int64)
    until_in = np.array([INSIDE, INSIDE, 9, 9], dtype=np.int64)  # both outsiders tabu until step 9
    a, delta, j = kernel_move(w, mem, w[mem].sum(axis=0), until_in, np.full(2, -1, dtype=np.int64), 3,
                              1.0, 0.0)
    assert j == -1 and delta == -np.inf


def test_the_steps_are_compiled_when_numba_is_installed():
    """The fast solver really runs the numba-compiled walk (not a silent plain-Python fallback)."""
    pytest.importorskip("numba")
    from fedgs_lite.solvers import solve_selection

    solve_selection(*instances.non_metric(np.random.default_rng(0), 30, 5).args())
    assert len(walk_until_stall.signatures) >= 1


def test_plain_python_walks_exactly_like_the_compiled_steps():
    """NUMBA_DISABLE_JIT runs tabu_walk.py as plain Python (as on a machine without numba): the fast
    solver picks the same clients with the same objective, bit for bit."""
    code = ("import numpy as np; from fedgs_lite import instances; from fedgs_lite.solvers import "
            "solve_selection; "
            "r = [solve_selection(*instances.make_instance(f, np.random.default_rng(s), 40, 5).args(), "
            "rng=np.random.default_rng(s)) for f in ('realistic', 'non_metric') for s in range(2)]; "
            "print([(x.selected.tolist(), x.objective.hex()) for x in r])")
    env = dict(os.environ, NUMBA_DISABLE_JIT="1")
    plain = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    fast = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert plain.stdout == fast.stdout and plain.stdout.count("[") == 5
