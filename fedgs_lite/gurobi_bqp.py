"""The authors' selection solver as an option: their binary quadratic program through gurobipy.

Binary x, maximise x'Hx with u on the diagonal (x_i^2 = x_i), sum x = M, TimeLimit like theirs (5 s), on
the conditioned coefficients (conditioning.py). Imported lazily (`pip install 'fedgs_lite[gurobi]'`).
The pip wheel's size-limited licence covers at most 200 candidates (a quadratic model over 200 variables
fails with GurobiError 10010); beyond it `GurobiLicenceError` says so in one line.
"""

from __future__ import annotations

import numpy as np

from fedgs_lite.conditioning import OPTIMAL_TOL, Conditioned
from fedgs_lite.quiet_fd import quiet_stdout_fd

GUROBI_LICENCE_ERROR = 10010  # gurobipy's "Model too large for size-limited license"
_ENV = []  # the one quiet gurobipy Env of this process, made on first use


class GurobiLicenceError(RuntimeError):
    """The installed Gurobi licence cannot solve a model this large."""


def quiet_env(gp):
    """One gurobipy Env per process, started with no output (not even the licence banner)."""
    if not _ENV:
        env = gp.Env(empty=True)
        env.setParam("OutputFlag", 0)  # before start(): no licence banner either
        with quiet_stdout_fd():
            env.start()
        _ENV.append(env)
    return _ENV[0]


def set_tolerances(model) -> None:
    """The authors ran Gurobi's defaults (MIPGap 1e-4, MIPGapAbs 1e-10, IntFeasTol 1e-5); tightened so
    that Gurobi's bound can back an "optimal" claim at OPTIMAL_TOL, as HiGHS's does."""
    model.Params.MIPGap = OPTIMAL_TOL / 10
    model.Params.MIPGapAbs = 1e-13  # the default 1e-10 lets Gurobi report a bound below a known set
    model.Params.IntFeasTol = 1e-9
    model.Params.FeasibilityTol = 1e-9
    model.Params.OptimalityTol = 1e-9


def optimize(gp, model, n: int) -> None:
    try:
        model.optimize()
    except gp.GurobiError as err:
        if getattr(err, "errno", None) == GUROBI_LICENCE_ERROR:
            raise GurobiLicenceError(
                f"method='gurobi': this Gurobi licence is too small for {n} candidates (the pip "
                f"licence allows at most 200 with a quadratic objective; GurobiError "
                f"{GUROBI_LICENCE_ERROR}); use method='fast' or 'exact', or a full Gurobi licence"
            ) from None
        raise


def bqp_gurobi(p: Conditioned, time_limit: float):
    """The authors' binary quadratic program. Returns (selection or None, bound or None, finished)."""
    try:
        import gurobipy as gp
    except ImportError as exc:
        raise ImportError("method='gurobi' needs gurobipy: pip install gurobipy "
                          "(or pip install 'fedgs_lite[gurobi]')") from exc
    n = p.u.size
    q = np.triu(p.w, 1)
    q[np.diag_indices(n)] = p.u  # x_i^2 = x_i: the diagonal carries the linear term, as in the authors' code
    model = gp.Model("fedgs", env=quiet_env(gp))
    try:
        model.Params.TimeLimit = float(time_limit)
        set_tolerances(model)
        x = model.addMVar(n, vtype=gp.GRB.BINARY)
        model.addConstr(x.sum() == p.m)
        model.setObjective(x @ q @ x, gp.GRB.MAXIMIZE)
        optimize(gp, model, n)
        bound = float(model.ObjBound) if np.isfinite(model.ObjBound) else None
        finished = model.Status == gp.GRB.OPTIMAL
        if model.SolCount == 0:
            return None, bound, finished
        xv = np.asarray(x.X, dtype=float)
    finally:
        model.dispose()
    return np.sort(np.argsort(-xv, kind="stable")[:p.m]), bound, finished
