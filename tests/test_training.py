"""Local training: the batched engine against the per-client reference loop, plans, chunks, divergence."""

import numpy as np
import pytest
import torch
from fakes import SIZES, max_diff, training_setup

from fedgs_lite.config import LocalTraining
from fedgs_lite.models import make_model
from fedgs_lite.training import (
    DivergenceError,
    check_finite,
    default_device,
    local_train,
    make_schedule,
    resolve_engine,
)


@pytest.mark.parametrize("name,shape", [("synthetic", (60,)), ("digits", (1, 8, 8))])


@pytest.mark.parametrize("cfg", [
    LocalTraining(steps=None, epochs=2, batch_size=16, lr=0.1),
    LocalTraining(steps=6, batch_size=16, lr=0.05, momentum=0.9, weight_decay=1e-3, prox_mu=0.1),
], ids=["epochs", "steps_momentum_prox"])


def test_batched_matches_sequential(name, shape, cfg):
    model, data, g0 = training_setup(name, shape, SIZES)
    clients = [0, 1, 2, 3, 2]  # a duplicate, as MD sampling gives
    pb, lb = local_train(model, g0, data, clients, cfg, 2, torch.Generator().manual_seed(7), "batched")
    ps, ls = local_train(model, g0, data, clients, cfg, 2, torch.Generator().manual_seed(7), "sequential")
    assert pb["0.weight" if name == "digits" else "1.weight"].shape[0] == len(clients)
    assert max_diff(pb, ps) < 1e-5
    np.testing.assert_allclose(lb, ls, rtol=1e-5, atol=1e-6)
    assert max_diff(pb, {k: v.unsqueeze(0) for k, v in g0.items()}) > 1e-3  # it did train


def test_chunking_does_not_change_result():
    model, data, g0 = training_setup("synthetic", (60,), SIZES)
    cfg = LocalTraining(steps=None, epochs=1, batch_size=16)
    a, la = local_train(model, g0, data, [0, 1, 2, 3], cfg, 0, torch.Generator().manual_seed(1))
    b, lb = local_train(model, g0, data, [0, 1, 2, 3], cfg, 0, torch.Generator().manual_seed(1),
                        chunk_size=3)
    assert max_diff(a, b) < 1e-6
    np.testing.assert_allclose(la, lb, rtol=1e-6)


def test_schedule_epochs_steps_and_padding():
    cfg = LocalTraining(steps=None, epochs=2, batch_size=16)
    s = make_schedule([40, 7, 16], cfg, torch.Generator().manual_seed(0))
    assert s.num_steps.tolist() == [6, 2, 2]  # ceil(n/16) per epoch
    assert s.positions.shape == (3, 6, 16)
    step_mask = s.sample_mask.any(dim=2)
    assert step_mask.sum(1).tolist() == [6, 2, 2]
    # client 0: each epoch visits each of its 40 samples exactly once (batches 16, 16, 8)
    for e in range(2):
        rows = slice(3 * e, 3 * e + 3)
        got = s.positions[0, rows][s.sample_mask[0, rows]]
        assert sorted(got.tolist()) == list(range(40))
    assert s.sample_mask[0, 2].sum() == 8
    # client 1 (7 < batch): its whole data every step, padding masked
    assert s.sample_mask[1, :2].sum(1).tolist() == [7, 7]
    assert sorted(s.positions[1, 0][s.sample_mask[1, 0]].tolist()) == list(range(7))
    fixed = make_schedule([40, 7], LocalTraining(steps=5, batch_size=16), torch.Generator().manual_seed(0))
    assert fixed.num_steps.tolist() == [5, 5]
    with pytest.raises(ValueError, match="at least one"):
        make_schedule([3, 0], cfg, torch.Generator())


def test_masked_client_keeps_params_after_its_steps():
    # client 1 has 1 step per epoch, client 2 has 6: after its last step client 1 must not move,
    # so training it alone gives the same params as training it next to the long client
    model, data, g0 = training_setup("synthetic", (60,), SIZES)
    cfg = LocalTraining(steps=None, epochs=1, batch_size=16, momentum=0.9, weight_decay=0.01, prox_mu=0.1)
    together, _ = local_train(model, g0, data, [1, 2], cfg, 0, torch.Generator().manual_seed(3))
    gen = torch.Generator().manual_seed(3)
    alone, _ = local_train(model, g0, data, [1], cfg, 0, gen)
    assert max_diff({k: v[:1] for k, v in together.items()}, alone) < 1e-7
    assert max_diff({k: v[1:] for k, v in together.items()}, alone) > 1e-3


def test_determinism_same_seed():
    model, data, g0 = training_setup("digits", (1, 8, 8), SIZES)
    cfg = LocalTraining(steps=None, epochs=1, batch_size=16)
    a, la = local_train(model, g0, data, [0, 2], cfg, 0, torch.Generator().manual_seed(5))
    b, lb = local_train(model, g0, data, [0, 2], cfg, 0, torch.Generator().manual_seed(5))
    c, _ = local_train(model, g0, data, [0, 2], cfg, 0, torch.Generator().manual_seed(6))
    assert all(torch.equal(a[k], b[k]) for k in a)
    np.testing.assert_array_equal(la, lb)
    assert max_diff(a, c) > 0


@pytest.mark.parametrize("engine", ["batched", "sequential"])


def test_huge_learning_rate_raises_divergence_error(engine):
    # a CNN: logistic regression's loss grows only linearly in lr and stays finite
    model, data, g0 = training_setup("digits", (1, 8, 8), SIZES)
    cfg = LocalTraining(steps=None, epochs=3, batch_size=16, lr=1e6)
    with pytest.raises(DivergenceError, match="round 4") as info:
        local_train(model, g0, data, [0, 2], cfg, 4, torch.Generator().manual_seed(0), engine)
    assert isinstance(info.value, ValueError)
    assert set(info.value.clients) <= {0, 2} and info.value.clients


def test_bad_inputs():
    model, data, g0 = training_setup("synthetic", (60,), SIZES)
    cfg = LocalTraining(steps=None, epochs=1)
    with pytest.raises(ValueError, match="engine"):
        local_train(model, g0, data, [0], cfg, 0, torch.Generator(), engine="fast")
    with pytest.raises(ValueError, match="out of range"):
        local_train(model, g0, data, [9], cfg, 0, torch.Generator())
    with pytest.raises(ValueError, match="epochs or steps"):
        LocalTraining(epochs=None, steps=None)
    assert default_device().type in ("cpu", "cuda")


def test_auto_engine_picks_batched_on_gpu_or_without_convolutions():

    cnn = make_model("mnist", (1, 28, 28), 10)
    linear = make_model("synthetic", (60,), 10)
    assert resolve_engine("auto", cnn, torch.device("cpu")) == "sequential"
    assert resolve_engine("auto", cnn, torch.device("cuda")) == "batched"
    assert resolve_engine("auto", linear, torch.device("cpu")) == "batched"
    assert resolve_engine("sequential", linear, torch.device("cuda")) == "sequential"
    with pytest.raises(ValueError, match="unknown engine"):
        resolve_engine("fastest", linear, torch.device("cpu"))


def test_an_absurd_but_finite_loss_is_divergence():
    params = {"w": torch.zeros(3, 2)}
    with pytest.raises(DivergenceError, match=r"loss >= 1e\+06 for clients \[7\]"):
        check_finite(np.array([0.5, 3.5e30, 2.0]), params, [4, 7, 9], 3)  # a loss seen in a real run
    check_finite(np.array([0.5, 9e5, 2.0]), params, [4, 7, 9], 3)  # large, but below the threshold
