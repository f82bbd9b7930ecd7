"""Learned 3DG features: round-0 updates and logits, as one round of local training gives them."""

import numpy as np
import torch
from fakes import SIZES, training_setup

from fedgs_lite.config import LocalTraining
from fedgs_lite.features import logit_features, update_features
from fedgs_lite.models import flatten_params
from fedgs_lite.training import local_train


def test_update_and_logit_features_shapes():
    model, data, g0 = training_setup("digits", (1, 8, 8), SIZES)
    cfg = LocalTraining(steps=None, epochs=1, batch_size=16)
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
