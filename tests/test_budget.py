"""The compute budget: FLOPs of a planned run by hand, per dataset, and the rate the 30-minute goal needs."""

import math

from fedgs_lite.budget import GOAL_SECONDS, IMAGE_SHAPES, data_shape, format_budget, grid_budget, run_flops
from fedgs_lite.data import load_dataset
from fedgs_lite.grid import PlannedRun, grid_cells, plan_grid


def test_image_shapes_match_the_data_files(data_root):
    for key, name in [("fashion_mnist", "fashion_mnist"), ("cifar10-subset", "cifar10_subset")]:
        ds = load_dataset(name, data_root, download=False)
        assert IMAGE_SHAPES[key] == (len(ds.y_train), len(ds.y_test), ds.input_shape), key


def test_run_flops_by_hand():
    (cell,) = grid_cells(["synthetic"], ["IDL"], ["poc"], (0,))
    (plan,) = plan_grid([cell], tiny=True, device="cpu")
    c = plan.config
    n_data, n_test, shape = data_shape(plan)
    n_valid = n_data * 0.15 / 0.9  # the authors' synthetic split: 75/15/10 train/valid/test
    n_train = n_data - n_valid
    fwd = 2 * shape[0] * 10  # multinomial logistic regression: one dim x classes matrix product
    f = run_flops(plan)
    assert f["train"] == c.rounds * c.m * c.steps * c.batch_size * 3 * fwd
    # Power-of-Choice evaluates the candidates on their validation parts; every evaluation covers the test
    # set and every client's validation part
    assert math.isclose(f["poc"], c.rounds * c.num_clients * (n_valid / c.num_clients) * fwd)
    assert f["graph"] == 0 and math.isclose(f["eval"], (c.rounds + 1) * (n_test + n_valid) * fwd)

    uniform = PlannedRun(cell, c.replace(sampler="uniform", epochs=2, steps=None, eval_every=2),
                            plan.dataset_label, plan.grid)
    f = run_flops(uniform)
    assert math.isclose(f["train"], c.rounds * c.m * 2 * n_train / c.num_clients * 3 * fwd)
    evals = c.rounds // 2 + 2  # rounds=3: after 2, 3, and at 0
    assert f["poc"] == 0 and math.isclose(f["eval"], evals * (n_test + n_valid) * fwd)
    update = PlannedRun(cell, c.replace(sampler="fedgs", graph_features="update"), plan.dataset_label,
                           plan.grid)
    assert run_flops(update)["graph"] == c.num_clients * c.steps * c.batch_size * 3 * fwd


def test_budget_sums_runs_and_states_the_rate_the_goal_needs():
    plans = plan_grid(grid_cells(["synthetic"], ["IDL", "LN"], ["uniform", "poc"], (0,)), tiny=True,
                         device="cpu")
    (row,) = grid_budget(plans)
    assert row["runs"] == 4
    assert math.isclose(row["total"], sum(sum(run_flops(p).values()) for p in plans))
    text = format_budget([row], tflops=2.0)
    need = row["total"] / GOAL_SECONDS / 1e12
    assert f">= {need:.1f} TFLOP/s" in text and "at 2 TFLOP/s" in text
