"""The FedGS paper's experimental settings and reported numbers, as data.

Wang et al., "FedGS: Federated Graph-based Sampling with Arbitrary Client Availability", AAAI 2023,
arXiv 2211.13975; code: github.com/WwZzz/FedGS (commit 55cc89d0, the only stored version).

Every value names its source. Sources, in order of authority:
- "paper": the paper text (only its abstract was reachable while this file was written: "three datasets
  under a comprehensive set of seven client availability modes");
- "fedgs:<file>": the authors' repository. Its `utils/*.yml` analysis configs name the fedtasks the
  authors ran (`<benchmark>_cnum<N>_dist<D>_skew<S>_seed0`) and filter runs by R (rounds), K (clients
  per round), E (local epochs), LR and NET (availability mode); `utils/fflow.py` holds the defaults;
- "easyfl": the authors' framework the fedtask names come from (dist 1 = each client holds a fixed
  number of labels, max(1, int((1 - skew) * C)), i.e. 2 labels for skew 0.79 and C = 10);
- "assumed: not found in sources": our choice, with the reason.

The paper's numeric results table could NOT be found in any source reachable here (the stored copies
of the paper stop at its introduction; the repository holds no result files). PAPER_RESULTS is
therefore empty and every comparison says "not reported"; no number here is invented.
"""

from __future__ import annotations

from dataclasses import dataclass, field

PAPER = "Wang et al., FedGS, AAAI 2023 (arXiv 2211.13975)"
SOURCE_REPO = "github.com/WwZzz/FedGS@55cc89d0"

# The seven availability modes evaluated (paper abstract: "seven client availability modes"; the set
# IDL..SLN is the one the authors' simulator and FLGo share, see shared/reference/fedgs_reference.md).
MODE_KEYS = ("IDL", "MDF", "LDF", "YMF", "YFF", "LN", "SLN")

# beta per mode, as the authors' analysis configs name them.
MODE_SPECS: dict[str, str] = {
    "IDL": "IDL",        # fedgs:utils/fashion.yml (NET: ideal)
    "MDF": "MDF-0.9",    # fedgs:utils/cifarnet.yml (NET: MoreDataFirst-0.9, commented-out filter)
    "LDF": "LDF-0.9",    # fedgs:utils/fashion_niid.yml (NET: LessDataFirst-0.9)
    "YMF": "YMF-0.9",    # fedgs:utils/fashion.yml (NET: YMaxFirst-0.9; plot title "YMF-0.9 on FashionMNIST")
    "YFF": "YFF-0.9",    # assumed: not found in sources; 0.9 like the other label/size modes above
    "LN": "LN-0.5",      # fedgs:utils/cifarnet.yml (NET: LogNormal-0.5)
    "SLN": "SLN-0.5",    # fedgs:utils/cifarnet.yml (NET: SinLogNormal-0.5)
}

# Methods compared: the authors' algorithm/ folder holds uniform_sample, mdsample, powerofchoice,
# fedprox (with MD sampling) and the FedGS variants. FedProx is not part of this kit's grid.
SAMPLERS = ("uniform", "md", "poc", "fedgs")
SAMPLER_LABELS = {"uniform": "UniformSample", "md": "MDSample", "poc": "Power-of-Choice", "fedgs": "FedGS"}


@dataclass(frozen=True)
class DatasetSetting:
    """One dataset's federated task and training options, each field sourced in SOURCES."""

    dataset: str
    num_clients: int
    partition: str                 # a fedgs_lite.partitions scheme
    classes_per_client: int | None
    model: str
    rounds: int
    local_epochs: int | None
    local_steps: int | None
    batch_size: int
    lr: float
    lr_decay: float
    proportion: float              # fraction of all clients sampled per round
    fedgs_alpha: float
    synthetic_alpha: float | None = None
    synthetic_beta: float | None = None
    sources: dict[str, str] = field(default_factory=dict)

    @property
    def clients_per_round(self) -> int:
        # int(), not round(): the authors' server computes max(int(proportion * N), 1)
        return max(1, int(self.proportion * self.num_clients))


_DEFAULTS = "fedgs:utils/fflow.py defaults"

SETTINGS: dict[str, DatasetSetting] = {
    "synthetic": DatasetSetting(
        dataset="synthetic", num_clients=30, partition="natural", classes_per_client=None,
        model="multinomial logistic regression", rounds=200, local_epochs=5, local_steps=None,
        batch_size=64, lr=0.1, lr_decay=0.998, proportion=0.2, fedgs_alpha=1.0,
        synthetic_alpha=0.5, synthetic_beta=0.5,
        sources={
            "num_clients": "fedgs:utils/syn.yml task synthetic_regression_cnum30_dist10_skew0.5_seed0",
            "partition": "fedgs:utils/syn.yml (dist10 = FedProx Synthetic, one client per device)",
            "synthetic_alpha": "fedgs:utils/syn_hypara.yml title 'synthetic(0.5,0.5)'",
            "synthetic_beta": "fedgs:utils/syn_hypara.yml title 'synthetic(0.5,0.5)'",
            "model": "assumed: not found in sources; FedProx's Synthetic uses logistic regression",
            "rounds": "fedgs:utils/syn.yml filter R: '200' (syn_hypara.yml tuned with R: '300')",
            "local_epochs": _DEFAULTS + " (num_epochs=5)",
            "batch_size": _DEFAULTS + " (batch_size=64)",
            "lr": _DEFAULTS + " (learning_rate=0.1); the tuned value is not recorded",
            "lr_decay": _DEFAULTS + " (learning_rate_decay=0.998)",
            "proportion": _DEFAULTS + " (proportion=0.2): 6 of 30 clients",
            "fedgs_alpha": "fedgs:utils/fashion_niid.yml header fedgs_alpha1.0 (code default 0.1)",
        }),
    "fashion_mnist": DatasetSetting(
        dataset="fashion_mnist", num_clients=100, partition="label_skew", classes_per_client=2,
        model="CNN (FedAvg: conv32-conv64-fc512)", rounds=200, local_epochs=5, local_steps=None,
        batch_size=64, lr=0.1, lr_decay=0.998, proportion=0.1, fedgs_alpha=1.0,
        sources={
            "num_clients": "fedgs:utils/fashion.yml task fashion_classification_cnum100_dist1_skew0.79_seed0",
            "partition": "fedgs:utils/fashion.yml dist1 (easyfl: fixed number of labels per client)",
            "classes_per_client": "easyfl: max(1, int((1 - 0.79) * 10)) = 2",
            "model": "fedgs:utils/fflow.py default --model cnn",
            "rounds": "assumed: not found in sources; 200 like the synthetic task",
            "local_epochs": _DEFAULTS + " (num_epochs=5)",
            "batch_size": _DEFAULTS + " (batch_size=64)",
            "lr": _DEFAULTS + " (learning_rate=0.1)",
            "lr_decay": _DEFAULTS + " (learning_rate_decay=0.998)",
            "proportion": "fedgs:utils/fashion.yml filter K: '10' -> 10 of 100 clients",
            "fedgs_alpha": "fedgs:utils/fashion_niid.yml header fedgs_alpha1.0",
        }),
    "cifar10": DatasetSetting(
        dataset="cifar10", num_clients=100, partition="label_skew", classes_per_client=2,
        model="CNN (conv64-conv64-fc384-fc192)", rounds=1000, local_epochs=5, local_steps=None,
        batch_size=64, lr=0.03, lr_decay=0.998, proportion=0.1, fedgs_alpha=1.0,
        sources={
            "num_clients": "fedgs:utils/cifar10_d1.yml task cifar10_classification_cnum100_dist1_skew0.79"
                           "_seed0 (utils/cifar.yml uses cnum20; cifarnet.yml cnum100_dist4_skew0.75)",
            "partition": "fedgs:utils/cifar10_d1.yml dist1 (easyfl: fixed number of labels per client)",
            "classes_per_client": "easyfl: max(1, int((1 - 0.79) * 10)) = 2",
            "model": "fedgs:utils/fflow.py default --model cnn (FLGo cifar10 CNN)",
            "rounds": "fedgs:utils/cifar10_d1.yml filter R: '1000'",
            "local_epochs": "fedgs:utils/cifar10_d1.yml filter E: '5'",
            "batch_size": _DEFAULTS + " (batch_size=64)",
            "lr": "fedgs:utils/cifar10_d1.yml filter LR: '0.03'",
            "lr_decay": _DEFAULTS + " (learning_rate_decay=0.998)",
            "proportion": "assumed: not found in sources; K=10 of 100 as in the FashionMNIST configs",
            "fedgs_alpha": "fedgs:utils/fashion_niid.yml header fedgs_alpha1.0",
        }),
}

# When only the shipped CIFAR-10 subset (4000 train images) is present, 100 clients would hold 40
# images each; the authors' other CIFAR task (fedgs:utils/cifar.yml, cnum20) fits it better.
CIFAR_SUBSET_NUM_CLIENTS = 20  # fedgs:utils/cifar.yml task cifar10_classification_cnum20_dist1_skew0.79
CIFAR_SUBSET_PROPORTION = 0.2  # fedgs:utils/fflow.py default proportion (cifar.yml sets no K): M = 4

# The paper's reported test accuracy, keyed (dataset, mode key, sampler) -> accuracy in [0, 1].
# Empty: the results table was not reachable in any source available here (see module docstring).
PAPER_RESULTS: dict[tuple[str, str, str], float] = {}
PAPER_RESULTS_SOURCE = ("not found: the paper's results table was not in any source reachable here "
                        "(stored paper copies stop at the introduction; the repository has no result files)")


def paper_accuracy(dataset: str, mode: str, sampler: str) -> float | None:
    """The paper's reported test accuracy for one cell, or None when it is not reported here."""
    return PAPER_RESULTS.get((dataset, mode, sampler))


def setting(dataset: str) -> DatasetSetting:
    """The paper's setting for `dataset` (synthetic, fashion_mnist or cifar10)."""
    try:
        return SETTINGS[dataset]
    except KeyError:
        allowed = ", ".join(SETTINGS)
        raise ValueError(f"no paper setting for dataset {dataset!r}; allowed: {allowed}") from None
