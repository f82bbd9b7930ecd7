"""The server side: FedAvg aggregation and its weights, evaluation, per-client losses."""

import numpy as np
import pytest
import torch
from fakes import SIZES, max_diff, training_setup

from fedgs_lite.config import LocalTraining
from fedgs_lite.models import set_params
from fedgs_lite.server import aggregate, aggregation_weights, client_losses, evaluate, resolve_device
from fedgs_lite.training import local_train


def test_aggregate_identity_and_renormalised_weights():
    model, _, g0 = training_setup("digits", (1, 8, 8), SIZES)
    same = {k: v.unsqueeze(0).repeat(3, *([1] * v.dim())) for k, v in g0.items()}
    agg = aggregate(same, np.array([5.0, 1.0, 2.0]))
    assert max_diff(agg, g0) < 1e-6
    two = {"w": torch.tensor([[0.0, 2.0], [4.0, 6.0]])}
    # weights 1 and 3 are renormalised to 0.25 / 0.75
    assert torch.allclose(aggregate(two, np.array([1.0, 3.0]))["w"], torch.tensor([3.0, 5.0]))
    # a duplicated row counts twice
    three = {"w": torch.tensor([[0.0], [0.0], [4.0]])}
    assert torch.allclose(aggregate(three, np.ones(3))["w"], torch.tensor([4.0 / 3]))
    with pytest.raises(ValueError, match="weights"):
        aggregate(two, np.array([1.0]))
    with pytest.raises(ValueError, match="non-negative"):
        aggregate(two, np.array([0.0, 0.0]))


def test_one_round_on_synthetic_reduces_loss():
    model, data, g0 = training_setup("synthetic", (60,), (60, 45, 80, 30), separable=True)
    before = client_losses(model, g0, data, range(4))
    cfg = LocalTraining(steps=None, epochs=2, batch_size=16, lr=0.1)
    local, _ = local_train(model, g0, data, range(4), cfg, 0, torch.Generator().manual_seed(0))
    new = aggregate(local, data.sizes)
    after = client_losses(model, new, data, range(4))
    assert np.average(after, weights=data.sizes) < 0.8 * np.average(before, weights=data.sizes)
    test_before, _ = evaluate(model, g0, data.x, data.y)
    test_after, acc = evaluate(model, new, data.x, data.y)
    assert test_after < test_before and acc > 0.2


def test_client_losses_and_evaluate_match_direct_computation():
    model, data, g0 = training_setup("digits", (1, 8, 8), SIZES)
    got = client_losses(model, g0, data, [2, 0, 1], batch_size=32)
    set_params(model, g0)
    with torch.no_grad():
        for c, v in zip([2, 0, 1], got, strict=True):
            idx = data.client_indices[c]
            ref = torch.nn.functional.cross_entropy(model(data.x[idx]), data.y[idx]).item()
            assert v == pytest.approx(ref, rel=1e-5)
        out = model(data.x_test)
        ref_loss = torch.nn.functional.cross_entropy(out, data.y_test).item()
        ref_acc = (out.argmax(1) == data.y_test).float().mean().item()
    loss, acc = evaluate(model, g0, data.x_test, data.y_test, batch_size=7)
    assert loss == pytest.approx(ref_loss, rel=1e-5)
    assert acc == pytest.approx(ref_acc)


def test_aggregation_weights_by_size_or_equal_times_multiplicity():
    sizes = np.array([10.0, 20.0, 30.0, 40.0])
    clients, mult = np.array([0, 2, 3]), np.array([1, 2, 1])  # MD picked client 2 twice
    np.testing.assert_array_equal(aggregation_weights("size", sizes, clients, mult), [10.0, 60.0, 40.0])
    np.testing.assert_array_equal(aggregation_weights("uniform", sizes, clients, mult), [1.0, 2.0, 1.0])
    with pytest.raises(ValueError, match="aggregation"):
        aggregation_weights("median", sizes, clients, mult)


def test_resolve_device():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type in ("cpu", "cuda")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            resolve_device("cuda")
