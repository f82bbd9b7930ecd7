"""The exact FedGS selection solver: the linearised MILP solved by HiGHS (highspy).

y_ij stands for x_i x_j, with sum_{j != i} y_ij = (M - 1) x_i and y_ij <= x_i, y_ij <= x_j, which makes
the linearisation exact for any sign of D. It runs on the conditioned problem (conditioning.py), started
from the "fast" answer; solvers.py turns what it returns into an honest status.
"""

from __future__ import annotations

import numpy as np

from fedgs_lite.conditioning import OPTIMAL_TOL, Conditioned
from fedgs_lite.quiet_fd import quiet_stdout_fd


def constraint_rows(n: int, m: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(row starts, column indices, values) of the rows, row-wise, with x in columns 0..n-1 and the
    pairs i < j (np.triu_indices order) after them: sum x = m | n rows sum_{pairs with i} y - (m-1) x_i = 0
    | y_p - x_i <= 0 and y_p - x_j <= 0 for each pair."""
    iu, ju = np.triu_indices(n, k=1)
    npairs = iu.size
    ycol = n + np.arange(npairs)
    inc_rows = np.concatenate([iu, ju])
    order = np.argsort(inc_rows, kind="stable")
    inc_cols = np.concatenate([ycol, ycol])[order]
    per_row = np.bincount(inc_rows, minlength=n)  # n - 1 pairs per client
    idx, val, starts = [np.arange(n)], [np.ones(n)], [0, n]
    row_y = np.split(inc_cols, np.cumsum(per_row)[:-1])
    for i in range(n):
        idx.append(np.concatenate([row_y[i], [i]]))
        val.append(np.concatenate([np.ones(per_row[i]), [-(m - 1.0)]]))
        starts.append(starts[-1] + per_row[i] + 1)
    idx.append(np.stack([np.concatenate([ycol, ycol]), np.concatenate([iu, ju])], axis=1).ravel())
    val.append(np.tile([1.0, -1.0], 2 * npairs))
    starts = np.concatenate([starts, starts[-1] + 2 * np.arange(1, 2 * npairs + 1)])
    return np.asarray(starts, dtype=np.int32), np.concatenate(idx).astype(np.int32), np.concatenate(val)


def linearised_lp(highspy, p: Conditioned):
    """The MILP as a highspy.HighsLp (maximise u'x + sum_p w_p y_p)."""
    n, m = p.u.size, p.m
    iu, ju = np.triu_indices(n, k=1)
    ncol, npairs = n + iu.size, iu.size
    nrow = 1 + n + 2 * npairs
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = ncol, nrow
    lp.sense_ = highspy.ObjSense.kMaximize
    lp.col_cost_ = np.concatenate([p.u, p.w[iu, ju]])
    lp.col_lower_, lp.col_upper_ = np.zeros(ncol), np.ones(ncol)
    lp.row_lower_ = np.concatenate([[m], np.zeros(n), np.full(2 * npairs, -highspy.kHighsInf)])
    lp.row_upper_ = np.concatenate([[m], np.zeros(n), np.zeros(2 * npairs)])
    lp.a_matrix_.format_ = highspy.MatrixFormat.kRowwise
    lp.a_matrix_.num_col_, lp.a_matrix_.num_row_ = ncol, nrow
    lp.a_matrix_.start_, lp.a_matrix_.index_, lp.a_matrix_.value_ = constraint_rows(n, m)
    lp.integrality_ = [highspy.HighsVarType.kInteger] * n + [highspy.HighsVarType.kContinuous] * npairs
    return lp


def solver_for(highspy, lp, time_limit: float, start: np.ndarray, n: int):
    """A quiet single-thread Highs with tight tolerances, the model passed and `start` as incumbent."""
    with quiet_stdout_fd():
        h = highspy.Highs()
    for key, value in (("output_flag", False), ("threads", 1), ("time_limit", float(time_limit)),
                       ("mip_rel_gap", OPTIMAL_TOL / 10), ("mip_abs_gap", 1e-13),
                       ("mip_feasibility_tolerance", 1e-9), ("primal_feasibility_tolerance", 1e-9),
                       ("dual_feasibility_tolerance", 1e-9)):
        h.setOptionValue(key, value)
    h.passModel(lp)
    iu, ju = np.triu_indices(n, k=1)
    x0 = np.zeros(n)
    x0[start] = 1.0
    sol = highspy.HighsSolution()
    sol.col_value = np.concatenate([x0, x0[iu] * x0[ju]])
    sol.value_valid = True
    h.setSolution(sol)
    return h


def milp_highs(p: Conditioned, time_limit: float, start: np.ndarray):
    """The MILP on the conditioned problem, started from `start`.

    Returns (selection or None, dual bound or None, finished: HiGHS stopped on its gap, not a limit).
    """
    try:
        import highspy
    except ImportError as exc:
        raise ImportError("method='exact' needs HiGHS: pip install highspy "
                          "(or pip install 'fedgs_lite[exact]')") from exc
    n = p.u.size
    h = solver_for(highspy, linearised_lp(highspy, p), time_limit, start, n)
    with quiet_stdout_fd():
        h.run()
    info = h.getInfo()
    bound = float(info.mip_dual_bound) if np.isfinite(info.mip_dual_bound) else None
    finished = h.getModelStatus() == highspy.HighsModelStatus.kOptimal
    if info.primal_solution_status != highspy.kSolutionStatusFeasible:
        return None, bound, finished
    xv = np.asarray(h.getSolution().col_value[:n], dtype=float)
    return np.sort(np.argsort(-xv, kind="stable")[:p.m]), bound, finished  # the m largest: no client lost
