from dataclasses import dataclass

import numpy as np
import pytest
import torch

from fedgs_lite.models import make_model
from fedgs_lite.training import (
    DeviceData,
    DivergenceError,
    LocalTraining,
    aggregate,
    client_losses,
    default_device,
    evaluate,
    flatten_params,
    get_params,
    local_train,
    logit_features,
    make_schedule,
    set_params,
    update_features,
)


@dataclass(frozen=True)
class _DS:  # stand-in for data.Dataset: only the fields DeviceData reads
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


@dataclass(frozen=True)
class _Fed:  # stand-in for partition.FederatedDataset
    dataset: _DS
    client_indices: tuple


def _fed(shape, sizes, seed=0, classes=10, separable=False):
    rng = np.random.default_rng(seed)
    n = sum(sizes) + 5  # a few samples belong to nobody
    y = rng.integers(0, classes, n)
    x = rng.normal(size=(n, *shape)).astype(np.float32)
    if separable:  # class signal in the first features so that a few SGD steps lower the loss
        x.reshape(n, -1)[np.arange(n), y] += 3.0
    perm = rng.permutation(n)
    idx = tuple(np.sort(p) for p in np.split(perm[: sum(sizes)], np.cumsum(sizes)[:-1]))
    return _Fed(_DS(x, y, x[:30].copy(), y[:30].copy()), idx)


def _setup(name, shape, sizes, seed=0, **kw):
    data = DeviceData.from_federated(_fed(shape, sizes, seed, **kw), "cpu")
    model = make_model(name, shape, 10, generator=torch.Generator().manual_seed(seed))
    return model, data, get_params(model)


def _max_diff(a, b):
    return max((a[k] - b[k]).abs().max().item() for k in a)


SIZES = (40, 7, 90, 23)  # unequal; client 1 smaller than a batch


@pytest.mark.parametrize("name,shape", [("synthetic", (60,)), ("digits", (1, 8, 8))])
@pytest.mark.parametrize("cfg", [
    LocalTraining(epochs=2, batch_size=16, lr=0.1),
    LocalTraining(steps=6, batch_size=16, lr=0.05, momentum=0.9, weight_decay=1e-3, prox_mu=0.1),
], ids=["epochs", "steps_momentum_prox"])
def test_batched_matches_sequential(name, shape, cfg):
    model, data, g0 = _setup(name, shape, SIZES)
    clients = [0, 1, 2, 3, 2]  # a duplicate, as MD sampling gives
    pb, lb = local_train(model, g0, data, clients, cfg, 2, torch.Generator().manual_seed(7), "batched")
    ps, ls = local_train(model, g0, data, clients, cfg, 2, torch.Generator().manual_seed(7), "sequential")
    assert pb["0.weight" if name == "digits" else "1.weight"].shape[0] == len(clients)
    assert _max_diff(pb, ps) < 1e-5
    np.testing.assert_allclose(lb, ls, rtol=1e-5, atol=1e-6)
    assert _max_diff(pb, {k: v.unsqueeze(0) for k, v in g0.items()}) > 1e-3  # it did train


def test_chunking_does_not_change_result():
    model, data, g0 = _setup("synthetic", (60,), SIZES)
    cfg = LocalTraining(epochs=1, batch_size=16)
    a, la = local_train(model, g0, data, [0, 1, 2, 3], cfg, 0, torch.Generator().manual_seed(1))
    b, lb = local_train(model, g0, data, [0, 1, 2, 3], cfg, 0, torch.Generator().manual_seed(1),
                        chunk_size=3)
    assert _max_diff(a, b) < 1e-6
    np.testing.assert_allclose(la, lb, rtol=1e-6)


def test_schedule_epochs_steps_and_padding():
    cfg = LocalTraining(epochs=2, batch_size=16)
    s = make_schedule([40, 7, 16], cfg, torch.Generator().manual_seed(0))
    assert s.num_steps.tolist() == [6, 2, 2]  # ceil(n/16) per epoch
    assert s.positions.shape == (3, 6, 16)
    step_mask = s.step_mask
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
    model, data, g0 = _setup("synthetic", (60,), SIZES)
    cfg = LocalTraining(epochs=1, batch_size=16, momentum=0.9, weight_decay=0.01, prox_mu=0.1)
    together, _ = local_train(model, g0, data, [1, 2], cfg, 0, torch.Generator().manual_seed(3))
    gen = torch.Generator().manual_seed(3)
    alone, _ = local_train(model, g0, data, [1], cfg, 0, gen)
    assert _max_diff({k: v[:1] for k, v in together.items()}, alone) < 1e-7
    assert _max_diff({k: v[1:] for k, v in together.items()}, alone) > 1e-3


def test_determinism_same_seed():
    model, data, g0 = _setup("digits", (1, 8, 8), SIZES)
    cfg = LocalTraining(epochs=1, batch_size=16)
    a, la = local_train(model, g0, data, [0, 2], cfg, 0, torch.Generator().manual_seed(5))
    b, lb = local_train(model, g0, data, [0, 2], cfg, 0, torch.Generator().manual_seed(5))
    c, _ = local_train(model, g0, data, [0, 2], cfg, 0, torch.Generator().manual_seed(6))
    assert all(torch.equal(a[k], b[k]) for k in a)
    np.testing.assert_array_equal(la, lb)
    assert _max_diff(a, c) > 0


def test_aggregate_identity_and_renormalised_weights():
    model, _, g0 = _setup("digits", (1, 8, 8), SIZES)
    same = {k: v.unsqueeze(0).repeat(3, *([1] * v.dim())) for k, v in g0.items()}
    agg = aggregate(same, np.array([5.0, 1.0, 2.0]))
    assert _max_diff(agg, g0) < 1e-6
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
    model, data, g0 = _setup("synthetic", (60,), (60, 45, 80, 30), separable=True)
    before = client_losses(model, g0, data, range(4))
    cfg = LocalTraining(epochs=2, batch_size=16, lr=0.1)
    local, _ = local_train(model, g0, data, range(4), cfg, 0, torch.Generator().manual_seed(0))
    new = aggregate(local, data.sizes)
    after = client_losses(model, new, data, range(4))
    assert np.average(after, weights=data.sizes) < 0.8 * np.average(before, weights=data.sizes)
    test_before, _ = evaluate(model, g0, data.x, data.y)
    test_after, acc = evaluate(model, new, data.x, data.y)
    assert test_after < test_before and acc > 0.2


def test_client_losses_and_evaluate_match_direct_computation():
    model, data, g0 = _setup("digits", (1, 8, 8), SIZES)
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


@pytest.mark.parametrize("engine", ["batched", "sequential"])
def test_huge_learning_rate_raises_divergence_error(engine):
    # a CNN: logistic regression's loss grows only linearly in lr and stays finite
    model, data, g0 = _setup("digits", (1, 8, 8), SIZES)
    cfg = LocalTraining(epochs=3, batch_size=16, lr=1e6)
    with pytest.raises(DivergenceError, match="round 4") as info:
        local_train(model, g0, data, [0, 2], cfg, 4, torch.Generator().manual_seed(0), engine)
    assert isinstance(info.value, ValueError)
    assert set(info.value.clients) <= {0, 2} and info.value.clients


def test_update_and_logit_features_shapes():
    model, data, g0 = _setup("digits", (1, 8, 8), SIZES)
    cfg = LocalTraining(epochs=1, batch_size=16)
    feats = update_features(model, g0, data, cfg, torch.Generator().manual_seed(0), chunk_size=3)
    p = flatten_params(g0).numel()
    assert feats.shape == (4, p) and feats.dtype == np.float64
    assert np.all(np.abs(feats).sum(1) > 0)
    # the same as training every client by hand, minus the global model
    local, _ = local_train(model, g0, data, range(4), cfg, 0, torch.Generator().manual_seed(0))
    ref = (flatten_params(local, stacked=True) - flatten_params(g0)).double().numpy()
    np.testing.assert_allclose(feats, ref, atol=1e-7)
    logits = logit_features(model, g0, data, cfg, torch.Generator().manual_seed(0))
    assert logits.shape == (4, 10) and np.all(np.isfinite(logits))


def test_bad_inputs():
    model, data, g0 = _setup("synthetic", (60,), SIZES)
    cfg = LocalTraining(epochs=1)
    with pytest.raises(ValueError, match="engine"):
        local_train(model, g0, data, [0], cfg, 0, torch.Generator(), engine="fast")
    with pytest.raises(ValueError, match="out of range"):
        local_train(model, g0, data, [9], cfg, 0, torch.Generator())
    with pytest.raises(ValueError, match="epochs or steps"):
        LocalTraining(epochs=None, steps=None)
    assert default_device().type in ("cpu", "cuda")


def test_auto_engine_picks_batched_on_gpu_or_without_convolutions():
    from fedgs_lite.models import make_model
    from fedgs_lite.training import resolve_engine

    cnn = make_model("mnist", (1, 28, 28), 10)
    linear = make_model("synthetic", (60,), 10)
    assert resolve_engine("auto", cnn, torch.device("cpu")) == "sequential"
    assert resolve_engine("auto", cnn, torch.device("cuda")) == "batched"
    assert resolve_engine("auto", linear, torch.device("cpu")) == "batched"
    assert resolve_engine("sequential", linear, torch.device("cuda")) == "sequential"
    with pytest.raises(ValueError, match="unknown engine"):
        resolve_engine("fastest", linear, torch.device("cpu"))
