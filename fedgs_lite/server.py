"""The server side of a round: FedAvg aggregation, evaluation of the global model, its per-client losses.

`aggregation_weights` is the one rule for how the distinct trained clients of a round are weighted
("size": by data size, "uniform": equally; a client the sampler picked twice, as MD may, counts twice).
`client_losses` is what Power-of-Choice ranks clients by (on their validation parts, as the authors);
`validation_loss` is the authors' model-selection signal, the clients' validation losses weighted by
their training sizes. `resolve_device` turns a config's device name into a torch.device.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from fedgs_lite.models import Params
from fedgs_lite.samplers import AGGREGATIONS
from fedgs_lite.training import DeviceData, default_device


def resolve_device(name: str) -> torch.device:
    """"auto" -> cuda when available, else cpu; "cuda" without CUDA raises a ValueError saying so."""
    if name == "auto":
        return default_device()
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("device='cuda' but CUDA is not available here; use device='auto' or 'cpu'")
    return torch.device(name)


def aggregation_weights(rule: str, sizes: np.ndarray, clients: np.ndarray,
                        multiplicity: np.ndarray) -> np.ndarray:
    """FedAvg weights of a round's distinct trained `clients`: their data sizes ("size") or 1 ("uniform"),
    times how often the sampler picked each (`multiplicity`)."""
    if rule not in AGGREGATIONS:
        raise ValueError(f"aggregation must be one of {', '.join(AGGREGATIONS)}, got {rule!r}")
    base = np.asarray(sizes, dtype=np.float64)[clients] if rule == "size" else np.ones(len(clients))
    return base * multiplicity


def aggregate(client_params: Params, weights: np.ndarray) -> Params:
    """Weighted average over the leading (client) dimension; weights are renormalised to sum to 1.

    Duplicated clients (MD sampling) are just repeated rows, each with its own weight.
    """
    w = np.asarray(weights, dtype=np.float64).reshape(-1)
    k = next(iter(client_params.values())).shape[0]
    if w.shape[0] != k:
        raise ValueError(f"got {w.shape[0]} weights for {k} client models")
    if not np.all(np.isfinite(w)) or np.any(w < 0) or w.sum() <= 0:
        raise ValueError("weights must be finite, non-negative and not all zero")
    w = w / w.sum()
    out = {}
    for name, v in client_params.items():
        wt = torch.as_tensor(w, dtype=v.dtype, device=v.device)
        out[name] = torch.tensordot(wt, v, dims=1)
    return out


@torch.no_grad()
def _per_sample(model: nn.Module, params: Params, x: torch.Tensor, y: torch.Tensor,
                batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    losses, correct = [], []
    for a in range(0, x.shape[0], batch_size):
        out = functional_call(model, params, (x[a:a + batch_size],))
        yb = y[a:a + batch_size]
        losses.append(F.cross_entropy(out, yb, reduction="none"))
        correct.append(out.argmax(dim=1) == yb)
    return torch.cat(losses), torch.cat(correct)


def evaluate(model: nn.Module, params: Params, x: torch.Tensor, y: torch.Tensor,
             batch_size: int = 512) -> tuple[float, float]:
    """Mean cross-entropy loss and accuracy of `params` on (x, y)."""
    if x.shape[0] == 0:
        raise ValueError("evaluate needs at least one sample")
    losses, correct = _per_sample(model, params, x, y, batch_size)
    stats = torch.stack([losses.double().mean(), correct.double().mean()]).cpu()
    return float(stats[0]), float(stats[1])


def client_losses(model: nn.Module, params: Params, data: DeviceData, clients: Sequence[int],
                  batch_size: int = 2048, *, parts: Sequence[torch.Tensor] | None = None) -> np.ndarray:
    """Mean loss of the (global) `params` on each listed client's samples, in one pass: its training
    data, or `parts[c]` (indices into data.x, e.g. its validation part). A client without samples gets 0."""
    clients = [int(c) for c in np.asarray(clients).reshape(-1)]
    parts = data.client_indices if parts is None else parts
    counts = np.array([len(parts[c]) for c in clients], dtype=np.int64)
    if not clients or counts.sum() == 0:
        return np.zeros(len(clients))
    idx = torch.cat([parts[c] for c in clients])
    seg = torch.repeat_interleave(torch.arange(len(clients), device=data.device),
                                  torch.as_tensor(counts, device=data.device))
    losses, _ = _per_sample(model, params, data.x[idx], data.y[idx], batch_size)
    sums = torch.zeros(len(clients), dtype=torch.float64, device=data.device)
    sums.index_add_(0, seg, losses.double())
    return sums.cpu().numpy() / np.maximum(counts, 1)


def validation_loss(model: nn.Module, params: Params, data: DeviceData,
                    valid_parts: Sequence[torch.Tensor]) -> float:
    """The authors' `valid_loss`: each client's mean loss on its validation part, weighted by its
    training size (easyfl:utils/logger/basic_logger.py@39de7ce `log_per_round`); clients without
    validation samples are left out."""
    clients = np.arange(len(valid_parts))
    losses = client_losses(model, params, data, clients, parts=valid_parts)
    weights = np.asarray(data.sizes, dtype=np.float64) * (np.array([len(p) for p in valid_parts]) > 0)
    if weights.sum() <= 0:
        raise ValueError("validation_loss needs at least one client with validation samples")
    return float(np.dot(weights, losses) / weights.sum())
