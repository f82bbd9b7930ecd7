"""Federated local training on one device: all selected clients train together, batched with vmap.

Both engines consume the same minibatch plan (`make_schedule`), so the batched engine can be
checked against the plain per-client loop to float tolerance. Every client in a round draws its
own minibatches from its own data; a client whose plan is shorter than the longest one is masked
(its parameters stop changing) and a minibatch smaller than `batch_size` is padded and the padding
masked out of the mean loss.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, grad_and_value, vmap

from fedgs_lite.config import ENGINES, LocalTraining
from fedgs_lite.models import Params, get_params, set_params

ABSURD_LOSS = 1e6  # a mean local loss at least this large is divergence too (see check_finite)


def resolve_engine(engine: str, model: nn.Module, device: torch.device) -> str:
    """`auto` -> batched on a GPU or for models without convolutions, else sequential.

    On CPU, vmap turns each convolution into a grouped convolution whose backward pass is slower
    than a plain per-client loop (benchmarks/RESULTS.md); both engines give the same parameters.
    """
    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r}; allowed: {', '.join(ENGINES)}")
    if engine != "auto":
        return engine
    has_conv = any(isinstance(m, nn.modules.conv._ConvNd) for m in model.modules())
    return "batched" if torch.device(device).type == "cuda" or not has_conv else "sequential"


def default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


class DivergenceError(ValueError):
    """Training produced a non-finite or absurd loss, or non-finite parameters (learning rate too large?):
    the one error a run stops on by itself, its results so far kept. `what` says what went wrong."""

    def __init__(self, round_idx: int, clients: Sequence[int] = (), what: str | None = None):
        self.round_idx = int(round_idx)
        self.clients = [int(c) for c in clients]
        what = what or f"non-finite values or a loss >= {ABSURD_LOSS:g} for clients {self.clients}"
        super().__init__(f"training diverged in round {self.round_idx}: {what}; lower the learning rate")


@dataclass
class DeviceData:
    """The federated train set and the test set as tensors resident on one device."""

    x: torch.Tensor
    y: torch.Tensor
    client_indices: list[torch.Tensor]
    x_test: torch.Tensor
    y_test: torch.Tensor
    sizes: np.ndarray

    @classmethod
    def from_federated(cls, fed, device: torch.device | str | None = None) -> DeviceData:
        device = torch.device(device) if device is not None else default_device()
        ds = fed.dataset

        def put(a: np.ndarray, dtype: torch.dtype) -> torch.Tensor:
            return torch.as_tensor(np.ascontiguousarray(a)).to(device=device, dtype=dtype)

        return cls(x=put(ds.x_train, torch.float32), y=put(ds.y_train, torch.int64),
                   client_indices=[put(ix, torch.int64) for ix in fed.client_indices],
                   x_test=put(ds.x_test, torch.float32), y_test=put(ds.y_test, torch.int64),
                   sizes=np.array([len(ix) for ix in fed.client_indices], dtype=np.int64))

    @property
    def num_clients(self) -> int:
        return len(self.client_indices)

    @property
    def device(self) -> torch.device:
        return self.x.device


# ---------------------------------------------------------------- minibatch plan

@dataclass(frozen=True)
class Schedule:
    """Minibatch plan for K clients: positions into each client's own index list.

    positions (K, S, B) int64 and sample_mask (K, S, B) bool live on the generator's device;
    num_steps (K,) is how many of the S steps each client really takes.
    """

    positions: torch.Tensor
    sample_mask: torch.Tensor
    num_steps: np.ndarray


def make_schedule(sizes: Sequence[int], cfg: LocalTraining, generator: torch.Generator) -> Schedule:
    """Each client's minibatches: a fresh shuffle per epoch, ceil(n/batch) batches per epoch (the
    last one partial), `epochs` epochs or exactly `steps` steps (continuing into new epochs).

    Clients are drawn in order from `generator`, so the plan is the same on every device.
    """
    sizes = [int(n) for n in sizes]
    if not sizes:
        raise ValueError("no clients to schedule")
    if min(sizes) < 1:
        raise ValueError(f"every client needs at least one training sample; sizes {sizes}")
    # Always batch_size wide (a partial batch is masked): a client's arithmetic then does not depend on
    # which other clients train beside it, so cohorts reproduce separate runs bit for bit on CPU.
    width = cfg.batch_size
    dev = generator.device
    plans = []
    for n in sizes:
        per_epoch = math.ceil(n / cfg.batch_size)
        steps = cfg.steps if cfg.steps is not None else cfg.epochs * per_epoch
        rounds = math.ceil(steps / per_epoch)
        pos = torch.full((rounds, per_epoch * cfg.batch_size), -1, dtype=torch.int64, device=dev)
        for e in range(rounds):
            pos[e, :n] = torch.randperm(n, generator=generator, device=dev)
        plans.append(pos.reshape(rounds * per_epoch, cfg.batch_size)[:steps, :width])
    longest = max(p.shape[0] for p in plans)
    positions = torch.full((len(sizes), longest, width), -1, dtype=torch.int64, device=dev)
    for i, p in enumerate(plans):
        positions[i, : p.shape[0]] = p
    mask = positions >= 0
    return Schedule(positions=positions.clamp_min(0), sample_mask=mask,
                    num_steps=np.array([p.shape[0] for p in plans], dtype=np.int64))


def _global_indices(data: DeviceData, clients: Sequence[int], sched: Schedule) -> torch.Tensor:
    pos = sched.positions.to(data.device)
    return torch.stack([data.client_indices[c][pos[k]] for k, c in enumerate(clients)])


# ---------------------------------------------------------------- local training

def check_finite(losses: np.ndarray, params: Params, clients: Sequence[int], round_idx: int) -> None:
    """Raise DivergenceError when a client's loss or parameters are not finite, or its mean loss is at least
    ABSURD_LOSS: a uniform guess over 10 classes scores ln 10 = 2.3 and cross-entropy grows like the
    logits, so such a loss means parameters that blew up, though still finite (3.5e30 was seen)."""
    clients = [int(c) for c in np.asarray(clients).reshape(-1)]
    ok = np.isfinite(losses) & (np.abs(losses) < ABSURD_LOSS)
    finite = torch.stack([torch.isfinite(v).reshape(v.shape[0], -1).all(dim=1) for v in params.values()])
    ok &= finite.all(dim=0).cpu().numpy()
    if not ok.all():
        raise DivergenceError(round_idx, [c for c, good in zip(clients, ok, strict=True) if not good])


def _train_batched(model: nn.Module, starts: Params, data: DeviceData, clients: Sequence[int],
                   sched: Schedule, cfg: LocalTraining, lr: float) -> tuple[Params, torch.Tensor]:
    """`starts`: each client's starting parameters, stacked (K, ...)."""
    k = len(clients)
    gidx = _global_indices(data, clients, sched)                      # (K, S, B)
    smask = sched.sample_mask.to(data.device)
    active_steps = smask.any(dim=2)                                   # (K, S)
    params = {n: v.detach() for n, v in starts.items()}               # replaced each step, never in place
    anchor = dict(params)                                             # FedProx's reference point
    bufs = {n: torch.zeros_like(v) for n, v in params.items()} if cfg.momentum > 0 else None
    loss_sum = torch.zeros(k, dtype=torch.float32, device=data.device)

    def minibatch_loss(p: Params, x: torch.Tensor, y: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
        per_sample = F.cross_entropy(functional_call(model, p, (x,)), y, reduction="none")
        return (per_sample * m).sum() / m.sum().clamp_min(1.0)

    step_fn = vmap(grad_and_value(minibatch_loss))
    for s in range(gidx.shape[1]):
        idx = gidx[:, s]
        m = smask[:, s].to(data.x.dtype)
        grads, losses = step_fn(params, data.x[idx], data.y[idx], m)
        active = active_steps[:, s]
        loss_sum += torch.where(active, losses, torch.zeros_like(losses))
        for n, p in params.items():
            d = grads[n]
            if cfg.prox_mu > 0:
                d = d + cfg.prox_mu * (p - anchor[n])
            if cfg.weight_decay > 0:
                d = d + cfg.weight_decay * p
            view = active.view(k, *([1] * (p.dim() - 1)))
            if bufs is not None:
                bufs[n] = torch.where(view, cfg.momentum * bufs[n] + d, bufs[n])
                d = bufs[n]
            params[n] = torch.where(view, p - lr * d, p)
    return params, loss_sum


def _train_sequential(model: nn.Module, starts: Params, data: DeviceData, clients: Sequence[int],
                      sched: Schedule, cfg: LocalTraining, lr: float) -> tuple[Params, torch.Tensor]:
    gidx = _global_indices(data, clients, sched)
    smask = sched.sample_mask.to(data.device)
    local = copy.deepcopy(model).to(data.device)
    out: dict[str, list[torch.Tensor]] = {n: [] for n in starts}
    loss_sum = torch.zeros(len(clients), dtype=torch.float32, device=data.device)
    for k in range(len(clients)):
        start = {n: v[k] for n, v in starts.items()}
        set_params(local, start)
        opt = torch.optim.SGD(local.parameters(), lr=lr, momentum=cfg.momentum,
                              weight_decay=cfg.weight_decay)
        for s in range(int(sched.num_steps[k])):
            idx = gidx[k, s][smask[k, s]]
            loss = F.cross_entropy(local(data.x[idx]), data.y[idx])
            total = loss
            if cfg.prox_mu > 0:
                total = total + 0.5 * cfg.prox_mu * sum(
                    ((p - start[n]) ** 2).sum() for n, p in local.named_parameters())
            opt.zero_grad(set_to_none=True)
            total.backward()
            opt.step()
            loss_sum[k] += loss.detach()
        for n, v in get_params(local).items():
            out[n].append(v)
    return {n: torch.stack(v) for n, v in out.items()}, loss_sum


def _check_clients(data: DeviceData, clients: Sequence[int]) -> list[int]:
    clients = [int(c) for c in np.asarray(clients).reshape(-1)]
    if not clients:
        raise ValueError("local_train needs at least one client")
    bad = [c for c in clients if not 0 <= c < data.num_clients]
    if bad:
        raise ValueError(f"client ids {bad} out of range 0..{data.num_clients - 1}")
    return clients


def _merge_schedules(scheds: Sequence[Schedule]) -> Schedule:
    """One plan for all clients of several schedules (all batch_size wide), padded to the longest with
    masked-out steps, which leave a client's parameters and loss exactly as they are."""
    if len(scheds) == 1:
        return scheds[0]
    steps = max(sc.positions.shape[1] for sc in scheds)

    def pad(t: torch.Tensor, value) -> torch.Tensor:
        return F.pad(t, (0, 0, 0, steps - t.shape[1]), value=value)

    return Schedule(positions=torch.cat([pad(sc.positions, 0) for sc in scheds]),
                    sample_mask=torch.cat([pad(sc.sample_mask, False) for sc in scheds]),
                    num_steps=np.concatenate([sc.num_steps for sc in scheds]))


def local_train_many(model: nn.Module, global_params: Sequence[Params], data: DeviceData,
                     clients: Sequence[Sequence[int]], cfg: LocalTraining, round_idx: int,
                     generators: Sequence[torch.Generator], engine: str = "batched", *,
                     chunk_size: int | None = None) -> list[tuple[Params, np.ndarray]]:
    """Local training of several runs' clients in one computation: run j trains `clients[j]` from
    `global_params[j]` with its minibatch plan drawn from `generators[j]` (exactly as `local_train`
    would draw it), on the same data and model. Returns per run (stacked params, mean losses).

    Each run's result is its own: the runs share nothing but the batched computation. It is not
    checked here for divergence (see `check_finite`), so one diverging run does not stop the others.
    """
    engine = resolve_engine(engine, model, data.x.device)
    if not (len(global_params) == len(clients) == len(generators)) or not clients:
        raise ValueError("need one global model, client list and generator per run, and at least one run")
    clients = [_check_clients(data, c) for c in clients]
    scheds = [make_schedule([int(data.sizes[c]) for c in cs], cfg, g) for cs, g in zip(clients, generators,
                                                                                       strict=True)]
    sched = _merge_schedules(scheds)
    flat = [c for cs in clients for c in cs]
    runs = list(zip(global_params, clients, strict=True))
    starts = {n: torch.cat([gp[n].detach().unsqueeze(0).expand(len(cs), *gp[n].shape) for gp, cs in runs])
              for n in global_params[0]}
    lr = cfg.lr_at(round_idx)
    train = _train_batched if engine == "batched" else _train_sequential
    chunk = len(flat) if chunk_size is None else max(1, int(chunk_size))
    parts, sums = [], []
    for a in range(0, len(flat), chunk):
        sub = Schedule(sched.positions[a:a + chunk], sched.sample_mask[a:a + chunk],
                       sched.num_steps[a:a + chunk])
        p, ls = train(model, {n: v[a:a + chunk] for n, v in starts.items()}, data, flat[a:a + chunk], sub,
                      cfg, lr)
        parts.append(p)
        sums.append(ls)
    params = parts[0] if len(parts) == 1 else {n: torch.cat([p[n] for p in parts]) for n in parts[0]}
    losses = torch.cat(sums).double().cpu().numpy() / sched.num_steps
    ends = np.cumsum([len(cs) for cs in clients])
    return [({n: v[e - len(cs):e] for n, v in params.items()}, losses[e - len(cs):e])
            for cs, e in zip(clients, ends, strict=True)]


def local_train(model: nn.Module, global_params: Params, data: DeviceData, clients: Sequence[int],
                cfg: LocalTraining, round_idx: int, generator: torch.Generator,
                engine: str = "batched", *, chunk_size: int | None = None) -> tuple[Params, np.ndarray]:
    """Train `clients` from `global_params`; returns stacked params (K, ...) and mean train losses (K,).

    `chunk_size` bounds how many clients the batched engine holds at once (memory); the plan is
    drawn for all clients first, so chunking does not change the result.
    Raises DivergenceError when a client's loss or parameters become non-finite (or its loss absurd).
    """
    ((params, losses),) = local_train_many(model, [global_params], data, [clients], cfg, round_idx,
                                           [generator], engine, chunk_size=chunk_size)
    check_finite(losses, params, clients, round_idx)
    return params, losses
