"""The tabu walk's inner loop, compiled by numba: one swap per step, from one restart to the next.

tabu.py holds the search around it (settings, restarts, the rng); this file holds the steps, written as
plain loops so numba compiles them (1-5 us a step at N = 100-1000, against 19-35 us as numpy calls).
Without numba the same functions run as plain Python: the same walk, only much slower.

g[c] = u[c] + the sum of c's weights to the current set, so swapping the member in slot a for the
outsider j changes the objective by g[j] - w[mem[a], j] - g[mem[a]]. Each step takes the best allowed
swap, even a worsening one; ties go to the lowest slot, then the lowest client (numpy's argmax order,
as in the numpy walk this replaced, move for move).
A step reads only the outsiders that can win some slot's best swap: since w >= 0, g[j] - w[i, j] <=
g[j], and every slot's best is at least top - w[i, jtop] (jtop the free outsider with the largest g),
so an outsider whose g is below the smallest of these can win no slot.
"""

from __future__ import annotations

import numpy as np

try:
    import numba
except ImportError:  # pragma: no cover - numba is a dependency; this keeps a broken install working
    numba = None


def compiled(fn):
    """fn compiled by numba, cached on disk where a folder is writable; without numba, fn itself."""
    if numba is None:
        return fn
    try:
        return numba.njit(cache=True)(fn)
    except RuntimeError:  # no writable cache folder: compile again in each process
        return numba.njit(fn)


TOL = 1e-12
INSIDE = np.iinfo(np.int64).max  # until_in of a member: never "free to come in"


@compiled
def free_top(g, until_in, it):
    """The largest g among the outsiders free to come in at step `it`, and its client (-1: none)."""
    top, jtop = -np.inf, -1
    for c in range(g.size):
        if until_in[c] < it and g[c] > top:
            top, jtop = g[c], c
    return top, jtop


@compiled
def contenders(w, mem, g, until_in, it, top, jtop, cand):
    """List in cand (index order) the free outsiders that can win some slot's best swap; their number."""
    floor = np.inf  # every slot's best swap brings in at least top - w[mem[a], jtop]
    for a in range(mem.size):
        floor = min(floor, top - w[mem[a], jtop])
    k = 0
    for j in range(g.size):
        if until_in[j] < it and g[j] >= floor:
            cand[k] = j
            k += 1
    return k


@compiled
def best_move(w, mem, g, until_out, it, value, best_value, cand, k):
    """(slot, gain, client coming in) of the best allowed swap at step `it` among the k contenders;
    client -1: none. A slot whose newcomer is still tabu may leave only for a new best (aspiration)."""
    slot, delta, into = 0, -np.inf, -1            # the best swap out of a free slot
    top_slot, top_gain, top_into = 0, -np.inf, -1  # the best swap out of any slot
    for a in range(mem.size):
        i = mem[a]
        row, j_row = -np.inf, -1
        for c in range(k):
            v = g[cand[c]] - w[i, cand[c]]
            if v > row:
                row, j_row = v, cand[c]
        gain = row - g[i]
        if gain > top_gain:
            top_slot, top_gain, top_into = a, gain, j_row
        if until_out[a] < it and gain > delta:
            slot, delta, into = a, gain, j_row
    if value + top_gain > best_value + TOL and top_gain > delta:
        return top_slot, top_gain, top_into
    return slot, delta, into


@compiled
def next_swap(w, mem, g, until_in, until_out, it, value, best_value, cand):
    """(slot, gain, client coming in) of step `it`: the best allowed swap, read among the contenders
    (cand: scratch space for them); client -1: no move."""
    top, jtop = free_top(g, until_in, it)
    k = contenders(w, mem, g, until_in, it, top, jtop, cand) if jtop >= 0 else 0
    return best_move(w, mem, g, until_out, it, value, best_value, cand, k)


@compiled
def walk_until_stall(w, mem, g, until_in, until_out, value, best, best_value, it, last_best, iters,
                     jitter, tenure_in, tenure_out, stall_limit, quit, target):
    """Walk from step `it`; mem, g, until_in, until_out and best (the best set, slot order) change in
    place. Returns (step, value, best_value, last_best step, stalled): stalled when `stall_limit` steps
    passed without a new best (the caller restarts); otherwise the walk is over (`iters` steps, `quit`
    steps without a new best, `target` reached or no move left)."""
    cand = np.empty(g.size, dtype=np.int64)
    stall = 0
    while it < iters:
        if best_value >= target - TOL or it - last_best > quit:
            break
        a, delta, j = next_swap(w, mem, g, until_in, until_out, it, value, best_value, cand)
        if j < 0:
            break
        i = mem[a]
        mem[a] = j
        for c in range(g.size):
            g[c] += w[j, c] - w[i, c]
        value += delta
        until_in[i] = it + tenure_in + jitter[it]
        until_in[j] = INSIDE
        until_out[a] = it + tenure_out
        stall += 1
        if value > best_value + TOL:
            best[:] = mem
            best_value, stall, last_best = value, 0, it
        it += 1
        if stall >= stall_limit:
            return it, value, best_value, last_best, True
    return it, value, best_value, last_best, False
