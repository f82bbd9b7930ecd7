"""The models the paper trains, one per dataset, their parameters as plain dicts, and a FLOP count.

- synthetic: multinomial logistic regression (Linear 60 -> 10);
- mnist / fashion_mnist: the FedAvg CNN of McMahan et al. (conv5x5 32, pool, conv5x5 64, pool, fc 512);
- cifar10: the CNN of FLGo / the FedGS code (conv5x5 64, pool, conv5x5 64, pool, fc 384, fc 192);
- digits (8x8): a small CNN (conv3x3 16, pool, conv3x3 32, pool, fc 64);
- fashion_mnist_lr: the logistic regression of the authors' framework for Fashion-MNIST (easyFL
  benchmark/fashion_classification/model/lr.py: one Linear layer, bias zeroed), a CPU stand-in for the
  CNN in the heterogeneity study; 10 outputs where easyFL's file has 3 (FedGS's task has 10 classes).

No BatchNorm anywhere: the paper's models have none and the batched training engine vmaps over
clients, where running statistics would be a per-client buffer.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from fedgs_lite.checks import canonical_name
from fedgs_lite.data import DATASETS

MODEL_NAMES = (*DATASETS, "fashion_mnist_lr")
Params = dict[str, torch.Tensor]  # a model's parameters by name, as plain tensors


def _cnn(input_shape: tuple[int, ...], features: list[nn.Module], hidden: list[int],
         num_classes: int) -> nn.Sequential:
    body = nn.Sequential(*features, nn.Flatten())
    with torch.no_grad():
        flat = body(torch.zeros(1, *input_shape)).shape[1]
    layers: list[nn.Module] = list(body)
    width = flat
    for h in hidden:
        layers += [nn.Linear(width, h), nn.ReLU()]
        width = h
    layers.append(nn.Linear(width, num_classes))
    return nn.Sequential(*layers)


def make_model(dataset_name: str, input_shape: tuple[int, ...], num_classes: int, *,
               generator: torch.Generator | None = None) -> nn.Module:
    """The paper's model for `dataset_name`; `generator` makes the initial weights reproducible."""
    input_shape = tuple(int(s) for s in input_shape)
    dataset_name = canonical_name(dataset_name)
    if dataset_name == "cifar10_subset":  # the name data.load_dataset gives the offline subset
        dataset_name = "cifar10"
    if num_classes < 2:
        raise ValueError(f"num_classes must be >= 2, got {num_classes}")
    if dataset_name in ("synthetic", "fashion_mnist_lr"):
        model: nn.Module = nn.Sequential(nn.Flatten(), nn.Linear(math.prod(input_shape), num_classes))
    elif dataset_name in ("mnist", "fashion_mnist", "cifar10", "digits"):
        if len(input_shape) != 3:
            raise ValueError(f"{dataset_name} needs an image input_shape (channels, height, width), "
                             f"got {input_shape}")
        c = input_shape[0]
        if dataset_name in ("mnist", "fashion_mnist"):
            feats = [nn.Conv2d(c, 32, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
                     nn.Conv2d(32, 64, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2)]
            model = _cnn(input_shape, feats, [512], num_classes)
        elif dataset_name == "cifar10":
            feats = [nn.Conv2d(c, 64, 5), nn.ReLU(), nn.MaxPool2d(2),
                     nn.Conv2d(64, 64, 5), nn.ReLU(), nn.MaxPool2d(2)]
            model = _cnn(input_shape, feats, [384, 192], num_classes)
        else:
            feats = [nn.Conv2d(c, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                     nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2)]
            model = _cnn(input_shape, feats, [64], num_classes)
    else:
        raise ValueError(f"unknown dataset {dataset_name!r}; allowed: {', '.join(MODEL_NAMES)}")
    if generator is not None:
        init_params(model, generator)
    if dataset_name == "fashion_mnist_lr":
        with torch.no_grad():
            model[1].bias.zero_()  # as easyFL's lr.py
    return model


@torch.no_grad()
def init_params(model: nn.Module, generator: torch.Generator) -> nn.Module:
    """Redraw weights and biases from PyTorch's default U(-1/sqrt(fan_in), 1/sqrt(fan_in)) with `generator`.

    Same distribution as nn.Linear / nn.Conv2d's own reset (kaiming_uniform with a=sqrt(5)), but
    reproducible without touching the global seed.
    """
    for m in model.modules():
        if isinstance(m, nn.Linear | nn.Conv2d):
            bound = 1.0 / math.sqrt(m.weight[0].numel())
            # drawn on the generator's device (a CUDA generator cannot fill a CPU tensor), then copied
            m.weight.copy_(torch.rand(m.weight.shape, generator=generator, device=generator.device)
                           * 2 * bound - bound)
            if m.bias is not None:
                m.bias.copy_(torch.rand(m.bias.shape, generator=generator, device=generator.device)
                             * 2 * bound - bound)
    return model


def count_flops(model: nn.Module, input_shape: tuple[int, ...]) -> int:
    """Forward FLOPs for one sample (multiply and add counted as 2), conv and linear layers only.

    Training costs about 3x this per sample (forward + backward for inputs and weights).
    """
    total = 0

    def hook(m: nn.Module, _inp, out: torch.Tensor) -> None:
        nonlocal total
        if isinstance(m, nn.Linear):
            total += 2 * m.in_features * m.out_features
        elif isinstance(m, nn.Conv2d):
            per_output = m.weight[0].numel()  # (in/groups) * kh * kw
            total += 2 * per_output * out[0].numel()

    handles = [m.register_forward_hook(hook) for m in model.modules()
               if isinstance(m, nn.Linear | nn.Conv2d)]
    try:
        with torch.no_grad():
            p = next(model.parameters())
            model(torch.zeros(1, *input_shape, dtype=p.dtype, device=p.device))
    finally:
        for h in handles:
            h.remove()
    return total


# ---------------------------------------------------------------- parameters as plain dicts

def get_params(model: nn.Module) -> Params:
    return {k: v.detach().clone() for k, v in model.named_parameters()}


@torch.no_grad()
def set_params(model: nn.Module, params: Params) -> nn.Module:
    for k, p in model.named_parameters():
        p.copy_(params[k])
    return model


def flatten_params(params: Params, stacked: bool = False) -> torch.Tensor:
    """Concatenate parameters in name order: (P,), or (K, P) for stacked client params."""
    if stacked:
        return torch.cat([v.reshape(v.shape[0], -1) for v in params.values()], dim=1)
    return torch.cat([v.reshape(-1) for v in params.values()])
