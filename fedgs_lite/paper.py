"""The FedGS paper's experimental settings and reported numbers, as data.

Wang et al., "FedGS: Federated Graph-based Sampling with Arbitrary Client Availability", AAAI 2023,
arXiv 2211.13975; code: github.com/WwZzz/FedGS (commit 55cc89d0, the version stored for this kit).

Every value names its source, with file and line. Sources, in order of authority:
- "paper": the paper text (only its abstract was reachable while this file was written: "three datasets
  under a comprehensive set of seven client availability modes");
- "fedgs:<file>:<line>": the authors' repository. Its `utils/*.yml` analysis configs name the fedtasks
  the authors ran (`<benchmark>_cnum<N>_dist<D>_skew<S>_seed0`) and filter runs by R (rounds), K (local
  steps: see ../shared/reference/fedgs_reference.md; the record-name rules of
  `utils/result_analysis.py:1-15` list E as local epochs and P as the proportion of clients), E, LR
  and NET (availability mode); `utils/fflow.py` holds the defaults;
- "easyfl:<file>@<commit>": the authors' framework their tasks are generated with (the FedGS copy
  stores no `benchmark/toolkits.py` nor synthetic generator): dist 1 = each client holds
  max(1, int((1 - skew) * C)) labels (2 for skew 0.79, C = 10), dist 4 = Dirichlet label skew with
  lognormal sizes (`fedgs_lite.partitions_dist4`), dist 10 = Synthetic(skew, skew);
- "assumed: not found in sources": our choice, with the reason.

Learning rate: the authors' default `lr_scheduler = -1` keeps it constant (fflow.py:34,
fedbase.py:164-165); their 0.998 (`learning_rate_decay`, fflow.py:33) applies only with
`--lr_scheduler 0` (fedbase.py:166-170). So lr_decay is 1.0 everywhere below.

The paper's numeric results table could NOT be found in any source reachable here (the stored copies
of the paper stop at its introduction). PAPER_RESULTS is therefore empty and every comparison says
"not reported"; no number here is invented. The one set of result numbers the repository holds (test
losses of five methods against label heterogeneity, `niid_degree_plot.py`) is HETEROGENEITY below.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from fedgs_lite.partitions_dist4 import dirichlet_alpha_from_skew

PAPER = "Wang et al., FedGS, AAAI 2023 (arXiv 2211.13975)"
SOURCE_REPO = "github.com/WwZzz/FedGS@55cc89d0"

# The seven availability modes evaluated (paper abstract: "seven client availability modes"; the set
# IDL..SLN is the one the authors' simulator and FLGo share, see shared/reference/fedgs_reference.md).
MODE_KEYS = ("IDL", "MDF", "LDF", "YMF", "YFF", "LN", "SLN")

# beta per mode, as the authors' analysis configs name them.
MODE_SPECS: dict[str, str] = {
    "IDL": "IDL",        # fedgs:utils/fashion.yml:17 (NET: ideal)
    "MDF": "MDF-0.9",    # fedgs:utils/cifarnet.yml:8 (NET: MoreDataFirst-0.9, commented-out filter)
    "LDF": "LDF-0.9",    # fedgs:utils/fashion_niid.yml:17 (NET: LessDataFirst-0.9)
    "YMF": "YMF-0.9",    # fedgs:utils/fashion.yml:13 (NET: YMaxFirst-0.9, commented; plot title "YMF-0.9")
    "YFF": "YFF-0.9",    # assumed: not found in sources; 0.9 like the other label/size modes above
    "LN": "LN-0.5",      # fedgs:utils/cifarnet.yml:7 (NET: LogNormal-0.5)
    "SLN": "SLN-0.5",    # fedgs:utils/cifarnet.yml:7 (NET: SinLogNormal-0.5)
}

# Methods compared: the authors' algorithm/ folder holds uniform_sample, mdsample, powerofchoice,
# fedprox (with MD sampling; the kit's sampler "fedprox", mu FEDPROX_MU below) and the FedGS variants;
# fedgs:niid_degree_plot.py:5-11 compares exactly these five.
SAMPLERS = ("uniform", "md", "poc", "fedprox", "fedgs")
SAMPLER_LABELS = {"uniform": "UniformSample", "md": "MDSample", "poc": "Power-of-Choice",
                  "fedprox": "FedProx", "fedgs": "FedGS"}

# Seeds per cell: assumed, not found in sources (no analysis config filters S, e.g.
# fedgs:utils/syn_analyze.yml:12 `#  S: '0'`); 5, as issue 10 asks. Their mean +- std is over seeds.
SEEDS = 5

# FedProx: MD sampling among the available clients (fedgs:algorithm/fedprox.py:15-19) plus the proximal
# term 0.5 * mu * ||w - w_global||^2 (fedprox.py:38-41). The Fashion-MNIST analysis runs are
# `nfedprox_mu0.01` (fedgs:utils/fashion_niid.yml:11); the code default is mu = 0.1 (fedprox.py:11).
FEDPROX_MU = 0.01

# Image tasks: each client holds out 20% of its samples for validation (`local_hld_rate = 0.2`, the
# easyFL task generator FedGS uses: shuffle each client's samples, the first int(0.8 n) train, the
# rest validate; easyfl:benchmark/enzymes_graph_classification/core.py@81a3442f:15 passes
# local_hld_rate=0.2, the older easyfl:benchmark/toolkits.py@b869a5eb calls local_holdout(rate=0.8,
# shuffle=True)); the server holds the official test set. Synthetic: 75/15/10 per client instead.
IMAGE_HOLDOUT = 0.2


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
    # What each task needs beyond the above (grid.build_config passes them to the config's fields).
    holdout: float = 0.0           # per-client validation fraction (config holdout)
    synthetic_options: dict | None = None  # make_synthetic options, data.SYNTHETIC_PAPER (synthetic_setting)
    graph_features: str = "oracle"  # graph.oracle_features (label histograms on image tasks)
    sources: dict[str, str] = field(default_factory=dict)

    @property
    def clients_per_round(self) -> int:
        # int(), not round(): the authors' server computes max(int(proportion * N), 1) (fedbase.py:34)
        return max(1, int(self.proportion * self.num_clients))


_FFLOW = "fedgs:utils/fflow.py"
_LR_DECAY = (_FFLOW + ":34 lr_scheduler=-1 (default) keeps lr constant (fedgs:algorithm/fedbase.py:164-165); "
             "the 0.998 of fflow.py:33 applies only with --lr_scheduler 0 (fedbase.py:166-170)")
_PROPORTION = _FFLOW + ":32 default proportion=0.2 (no analysis config filters P): "
_ORACLE = "fedgs:algorithm/oracle_fedgs.py:24 ftr='oracle'"
_DIST1_LABELS = "easyfl:benchmark/toolkits.py@b869a5eb dist 1: max(1, int((1 - 0.79) * 10)) = 2"


def _synthetic_paper_options() -> dict:
    from fedgs_lite.data import SYNTHETIC_PAPER

    return dict(SYNTHETIC_PAPER)


SETTINGS: dict[str, DatasetSetting] = {
    "synthetic": DatasetSetting(
        dataset="synthetic", num_clients=30, partition="natural", classes_per_client=None,
        model="multinomial logistic regression", rounds=300, local_epochs=None, local_steps=10,
        batch_size=64, lr=0.1, lr_decay=1.0, proportion=0.2, fedgs_alpha=1.0,
        synthetic_alpha=0.5, synthetic_beta=0.5, synthetic_options=_synthetic_paper_options(),
        sources={
            "num_clients": "fedgs:utils/syn_analyze.yml:2 task "
                           "synthetic_regression_cnum30_dist10_skew0.5_seed0",
            "partition": "fedgs:utils/syn_analyze.yml:2 dist10 = FedProx Synthetic, one client per device "
                         "(easyfl:benchmark/synthetic_regression/core.py@591d5e7:162-169)",
            "synthetic_alpha": "fedgs:utils/syn_analyze.yml:2 skew0.5 with dist10: alpha = beta = skew "
                               "(easyfl:benchmark/synthetic_regression/core.py@591d5e7:164-167); "
                               "fedgs:utils/syn_hypara.yml:22 title 'synthetic(0.5,0.5)'",
            "synthetic_beta": "as synthetic_alpha",
            "synthetic_options": "easyfl:benchmark/synthetic_regression/core.py@591d5e7:169 sizes "
                                 "lognormal(4, 2) + 50 uncapped; :73-78 each client cut at int(0.75 n) and "
                                 "int(0.9 n) into train/valid/test, test parts pooled (:80-85)",
            "model": "easyfl:benchmark/synthetic_regression/model/lr.py@5505f97 (Linear 60 -> 10)",
            "rounds": "fedgs:utils/syn_analyze.yml:9 filter R: '300' (syn.yml:13 has R: '200' for an older "
                      "method set)",
            "local_steps": "fedgs:utils/syn_analyze.yml:10 filter K: '10' (K = local steps)",
            "batch_size": _FFLOW + ":39 default batch_size=64",
            "lr": "fedgs:utils/syn_analyze.yml:11 filter LR: '0.1' (= fflow.py:38 default)",
            "lr_decay": _LR_DECAY,
            "proportion": _PROPORTION + "6 of 30 clients",
            "fedgs_alpha": "assumed: not found in sources; syn_analyze.yml:6 header 'dagbs' matches any "
                           "alpha; 1.0 as the Fashion-MNIST runs (code default 0.1, oracle_fedgs.py:22)",
            "graph_features": _ORACLE + "; on synthetic the local optima W_k, b_k (oracle_fedgs.py:95-98)",
        }),
    "fashion_mnist": DatasetSetting(
        dataset="fashion_mnist", num_clients=100, partition="label_skew", classes_per_client=2,
        model="CNN (FedAvg: conv32-conv64-fc512)", rounds=200, local_epochs=None, local_steps=10,
        batch_size=64, lr=0.1, lr_decay=1.0, proportion=0.2, fedgs_alpha=1.0, holdout=IMAGE_HOLDOUT,
        sources={
            "num_clients": "fedgs:utils/fashion.yml:2 task "
                           "fashion_classification_cnum100_dist1_skew0.79_seed0",
            "partition": "fedgs:utils/fashion.yml:2 dist1 (easyfl:benchmark/toolkits.py@b869a5eb: a fixed "
                         "number of labels per client, each label split evenly among its holders)",
            "classes_per_client": _DIST1_LABELS,
            "model": _FFLOW + ":25 default --model cnn (the FedGS copy stores no model file for this task)",
            "rounds": "assumed: not found in sources (fashion.yml filters no R); 200",
            "local_steps": "fedgs:utils/fashion.yml:12 and fashion_niid.yml:13 filter K: '10' "
                           "(K = local steps)",
            "batch_size": _FFLOW + ":39 default batch_size=64",
            "lr": _FFLOW + ":38 default learning_rate=0.1 (fashion.yml filters no LR)",
            "lr_decay": _LR_DECAY,
            "proportion": _PROPORTION + "M = 20 of 100 clients",
            "fedgs_alpha": "fedgs:utils/fashion_niid.yml:10 header fedgs_alpha1.0 (code default 0.1, "
                           "oracle_fedgs.py:22)",
            "holdout": "easyfl local_hld_rate=0.2 (see IMAGE_HOLDOUT)",
            "graph_features": _ORACLE + "; label distributions on image tasks (oracle_fedgs.py:99-112)",
        }),
    "cifar10": DatasetSetting(
        dataset="cifar10", num_clients=100, partition="label_skew", classes_per_client=2,
        model="CNN (conv64-conv64-fc384-fc192)", rounds=1000, local_epochs=5, local_steps=None,
        batch_size=64, lr=0.03, lr_decay=1.0, proportion=0.2, fedgs_alpha=1.0, holdout=IMAGE_HOLDOUT,
        sources={
            "num_clients": "fedgs:utils/cifar10_d1.yml:3 task cifar10_classification_cnum100_dist1_skew0.79"
                           "_seed0 (utils/cifar.yml:3 uses cnum20; cifarnet.yml:2 cnum100_dist4_skew0.75)",
            "partition": "fedgs:utils/cifar10_d1.yml:3 dist1 (easyfl: fixed number of labels per client)",
            "classes_per_client": _DIST1_LABELS,
            "model": _FFLOW + ":25 default --model cnn (FLGo cifar10 CNN)",
            "rounds": "fedgs:utils/cifar10_d1.yml:9 filter R: '1000'",
            "local_epochs": "fedgs:utils/cifar10_d1.yml:12 filter E: '5' (E = local epochs, "
                            "result_analysis.py:6); no CIFAR config filters K. Its headers graph_sp/fedavg "
                            "(cifar10_d1.yml:5-6) name no FedGS run, so the CIFAR values are weak evidence",
            "batch_size": _FFLOW + ":39 default batch_size=64",
            "lr": "fedgs:utils/cifar10_d1.yml:11 filter LR: '0.03'",
            "lr_decay": _LR_DECAY,
            "proportion": _PROPORTION + "M = 20 of 100 clients",
            "fedgs_alpha": "assumed: not found in sources; 1.0 as fashion_niid.yml:10",
            "holdout": "easyfl local_hld_rate=0.2 (see IMAGE_HOLDOUT)",
            "graph_features": _ORACLE + "; label distributions on image tasks (oracle_fedgs.py:99-112)",
        }),
}

# When only the CIFAR-10 benchmark subset (4000 train images) is present, 100 clients would hold 40
# images each; the authors' other CIFAR task (fedgs:utils/cifar.yml, cnum20) fits it better.
CIFAR_SUBSET_NUM_CLIENTS = 20  # fedgs:utils/cifar.yml:3 task cifar10_classification_cnum20_dist1_skew0.79
CIFAR_SUBSET_PROPORTION = 0.2  # fedgs:utils/fflow.py:32 default proportion (cifar.yml sets no K): M = 4

# Size-based modes (MDF, LDF) on the authors' tasks run on `dist 4` (Dirichlet label skew with
# lognormal sizes): on dist 1 every client has the same size, so MDF and LDF are IDL there (and YFF
# is HOMO); availability.degenerate_reason says so for any mode and federation. The dist-4 tasks the
# configs name: Fashion-MNIST skew 0.7 (fedgs:utils/fashion_niid.yml:3, the active task; 0.1/0.8/0.9
# commented at :2,4,5) and CIFAR-10 skew 0.75 (fedgs:utils/cifarnet.yml:2, with MoreDataFirst-0.9 and
# LessDataFirst-0.9 at :8, commented). Which skew the main grid's MDF/LDF cells used is not recorded.
SIZE_MODES = ("MDF", "LDF")
SIZE_MODE_PARTITIONS: dict[str, dict] = {
    "fashion_mnist": dict(partition="dirichlet_lognormal", skew=0.7, holdout=IMAGE_HOLDOUT),
    "cifar10": dict(partition="dirichlet_lognormal", skew=0.75, holdout=IMAGE_HOLDOUT),
}


@dataclass(frozen=True)
class HeterogeneityStudy:
    """The authors' one recorded result: test loss of five methods against label heterogeneity."""

    dataset: str
    num_clients: int
    partition: str
    skews: tuple[float, ...]
    mode: str
    local_steps: int
    proportion: float
    fedgs_alpha: float
    prox_mu: float
    holdout: float
    test_loss: dict[str, tuple[float, ...]]  # kit sampler name -> one loss per skew
    method_names: dict[str, str]            # kit sampler name -> the authors' name
    sources: dict[str, str]

    @property
    def dirichlet_alphas(self) -> tuple[float, ...]:
        return tuple(dirichlet_alpha_from_skew(s) for s in self.skews)


HETEROGENEITY = HeterogeneityStudy(
    dataset="fashion_mnist", num_clients=100, partition="dirichlet_lognormal", skews=(0.1, 0.7, 0.8, 0.9),
    mode="LDF-0.9", local_steps=10, proportion=0.2, fedgs_alpha=1.0, prox_mu=FEDPROX_MU,
    holdout=IMAGE_HOLDOUT,
    test_loss={
        "uniform": (0.2534, 0.2654, 0.2922, 0.3259),
        "md": (0.2511, 0.2625, 0.2884, 0.3281),
        "poc": (0.3260, 0.3293, 0.3566, 0.3810),
        "fedprox": (0.2498, 0.2627, 0.2901, 0.3288),
        "fedgs": (0.2431, 0.2520, 0.2813, 0.3184),
    },
    method_names={"uniform": "uniform", "md": "mdsample", "poc": "powerofchoice", "fedprox": "fedprox",
                  "fedgs": "fedgs"},
    sources={
        "test_loss": "fedgs:niid_degree_plot.py:5-11 (hard-coded; whether each is the minimum test loss or "
                     "the loss at the best-validation round is not recorded)",
        "skews": "fedgs:niid_degree_plot.py:3; alpha = (-4 ln(skew + 1e-7))^4 at :4, ticks Dirichlet(inf), "
                 "(4.14), (0.63), (0.03) at :19",
        "dataset": "fedgs:niid_degree_plot.py:23 title 'FashionMNIST on 100 Clients / LessDataFirst-0.9'",
        "partition": "fedgs:utils/fashion_niid.yml:2-5 tasks fashion_classification_cnum100_dist4_skew{0.1,"
                     "0.7,0.8,0.9}_seed0",
        "mode": "fedgs:utils/fashion_niid.yml:17 NET: LessDataFirst-0.9",
        "local_steps": "fedgs:utils/fashion_niid.yml:13 K: '10'",
        "fedgs_alpha": "fedgs:utils/fashion_niid.yml:10 fedgs_alpha1.0",
        "prox_mu": "fedgs:utils/fashion_niid.yml:11 nfedprox_mu0.01",
        "proportion": _PROPORTION + "M = 20 of 100",
        "model": "not recorded: the default --model cnn (fflow.py:25); the FedGS copy ships no Fashion-MNIST "
                 "model file. easyFL's logistic regression for this benchmark (easyfl:benchmark/"
                 "fashion_classification/model/lr.py@dbaa923: Linear(784, dim_out), bias zeroed) is the "
                 "CPU stand-in, models.make_model('fashion_mnist_lr', ...)",
        "rounds": "not recorded (fashion_niid.yml filters no R)",
    },
)

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
