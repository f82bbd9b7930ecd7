import pytest
import torch

from fedgs_lite.data import DATASETS
from fedgs_lite.models import count_flops, make_model

SHAPES = {"synthetic": (60,), "digits": (1, 8, 8), "mnist": (1, 28, 28), "fashion_mnist": (1, 28, 28),
          "cifar10": (3, 32, 32), "fashion_mnist_lr": (1, 28, 28)}


@pytest.mark.parametrize("name", DATASETS)
def test_output_shape_and_no_batchnorm(name):
    model = make_model(name, SHAPES[name], 10)
    out = model(torch.zeros(3, *SHAPES[name]))
    assert out.shape == (3, 10)
    assert not any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in model.modules())
    assert len(list(model.buffers())) == 0


def test_synthetic_is_logistic_regression():
    model = make_model("synthetic", (60,), 10)
    linears = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(60, 10)]


def test_fedavg_cnn_layout():
    model = make_model("fashion_mnist", (1, 28, 28), 10)
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    linears = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    assert [(c.out_channels, c.kernel_size) for c in convs] == [(32, (5, 5)), (64, (5, 5))]
    assert [(m.in_features, m.out_features) for m in linears] == [(64 * 7 * 7, 512), (512, 10)]


def test_cifar_cnn_layout():
    model = make_model("cifar10", (3, 32, 32), 10)
    linears = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(1600, 384), (384, 192), (192, 10)]


def test_name_aliases():
    assert make_model("Fashion-MNIST", (1, 28, 28), 10)(torch.zeros(1, 1, 28, 28)).shape == (1, 10)
    assert make_model("cifar10_subset", (3, 32, 32), 10)(torch.zeros(1, 3, 32, 32)).shape == (1, 10)


def test_unknown_and_bad_shapes():
    with pytest.raises(ValueError, match="unknown dataset"):
        make_model("imagenet", (3, 32, 32), 10)
    with pytest.raises(ValueError, match="input_shape"):
        make_model("mnist", (784,), 10)


def test_generator_makes_init_reproducible():
    a = make_model("digits", (1, 8, 8), 10, generator=torch.Generator().manual_seed(3))
    b = make_model("digits", (1, 8, 8), 10, generator=torch.Generator().manual_seed(3))
    c = make_model("digits", (1, 8, 8), 10, generator=torch.Generator().manual_seed(4))
    for pa, pb, pc in zip(a.parameters(), b.parameters(), c.parameters(), strict=True):
        assert torch.equal(pa, pb)
        assert not torch.equal(pa, pc)
        bound = 1 / pa[0].numel() ** 0.5 if pa.dim() > 1 else None
        if bound is not None:
            assert pa.abs().max() <= bound


def test_count_flops_matches_hand_count():
    lr = make_model("synthetic", (60,), 10)
    assert count_flops(lr, (60,)) == 2 * 60 * 10
    cnn = make_model("mnist", (1, 28, 28), 10)
    expected = (2 * 25 * 32 * 28 * 28 + 2 * 32 * 25 * 64 * 14 * 14 + 2 * 3136 * 512 + 2 * 512 * 10)
    assert count_flops(cnn, (1, 28, 28)) == expected
