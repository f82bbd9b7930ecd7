"""Write the tutorial notebooks (00-07) from this script: `python notebooks/build_notebooks.py`.

Notebooks are generated, not hand-edited, so they stay small, output-free and consistent (title,
Binder/Colab badges, guarded Colab install, a `parameters` cell papermill can override, `record` calls
the tests read). Notebook 06 (the paper grid) is written separately; a placeholder is created only
when it is missing.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
from fedgs_lite.notebook_utils import REPO_SLUG, badges_markdown  # noqa: E402

SETUP = "%matplotlib inline\n"


def md(text: str):
    return new_markdown_cell(text.strip("\n"))


def code(text: str, tags: tuple[str, ...] = ()):
    cell = new_code_cell(text.strip("\n"))
    if tags:
        cell.metadata["tags"] = list(tags)
    return cell


def header(filename: str, title: str, intro: str, parameters: str) -> list:
    install = f"""
# On Google Colab, install fedgs_lite first (locally and on Binder it is already installed).
import subprocess
import sys

if "google.colab" in sys.modules:
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "git+https://github.com/{REPO_SLUG}"],
                   check=True)
"""
    params = ("# Parameters (papermill overrides this cell; the tests use smaller values).\n"
              + parameters.strip("\n")
              + "\nrecord_path = None  # a JSON file to record key values in, or None\n")
    return [md(f"# {title}\n\n{badges_markdown(filename)}\n\n{intro.strip()}"), code(install),
            code(params, tags=("parameters",))]


def write(filename: str, cells: list) -> Path:
    nb = new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)",
                                 "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    for i, cell in enumerate(nb.cells):  # stable ids keep diffs quiet between rebuilds
        cell["id"] = f"{Path(filename).stem[:2]}-{i:02d}"
    nbformat.validate(nb)
    path = HERE / filename
    nbformat.write(nb, path)
    return path


# ----------------------------------------------------------------------------------------------- 00

def nb00():
    f = "00_quickstart.ipynb"
    return f, [
        *header(f, "00. FedGS in five minutes", """
A federated-learning server trains one model on data that stays on many clients. Each round it can
only use the clients that happen to be **available**, and it picks a few of them (**client sampling**).
FedGS (Wang et al., AAAI 2023) picks them with a graph of how similar the clients' data are (the
**3DG**), so that the selected clients are diverse and every client gets picked about equally often,
whatever the availability pattern.

This notebook runs the whole story on a small synthetic federation, in five steps:
data, availability, the 3DG, sampling, and a short training comparison. Each later notebook
zooms into one step.
""", """
num_clients = 30        # synthetic clients
mode = "LN-0.5"         # availability mode (notebook 02)
m = 6                   # clients per round
sim_rounds = 150        # rounds of the sampling-only simulation
train_rounds = 30       # federated training rounds per sampler
samplers = ["uniform", "md", "poc", "fedgs"]
seed = 0
"""),
        code(SETUP + """
import numpy as np

from fedgs_lite.availability import ClientStats, make_availability, plot_availability_heatmap
from fedgs_lite.data import make_synthetic
from fedgs_lite.experiment import (
    ExperimentConfig,
    compare,
    comparison_rows,
    comparison_table,
    plot_learning_curves,
)
from fedgs_lite.graph import build_3dg, label_features, plot_3dg
from fedgs_lite.notebook_utils import record
from fedgs_lite.partition import partition, plot_partition
from fedgs_lite.simulate import compare_samplers, plot_variance
"""),
        md("""
## 1. Federated data
FedProx's *Synthetic(0.5, 0.5)*: every client has its own input distribution and its own labelling
model, so clients differ both in **how much** data they hold and in **which labels**. Each bar below is
a client; colours are classes.
"""),
        code("""
dataset = make_synthetic(num_clients, rng=np.random.default_rng(seed))
fed = partition(dataset, num_clients, "natural", rng=np.random.default_rng(seed))
plot_partition(fed)
"""),
        md("""
## 2. Who is available?
An availability mode gives each client a probability of being reachable in each round. Under
log-normal availability (`LN`) a few clients are almost always there and many rarely are.
Green = available; each row is a client, each column a round.
"""),
        code("""
stats = ClientStats.from_federated(fed)
availability = make_availability(mode, stats, np.random.default_rng(seed))
trace = availability.trace(60, np.random.default_rng(seed))
print(f"{availability.spec}: on average {trace.sum(axis=0).mean():.1f} of {num_clients} clients available")
plot_availability_heatmap(trace)
"""),
        md("""
## 3. The 3DG: which clients hold similar data
Clients become nodes; two clients are joined when their label distributions are similar (cosine
similarity above epsilon). Shortest paths give a distance matrix D: **far apart on the graph means
different data**. Each node is a pie of its client's labels.
"""),
        code("""
graph = build_3dg(label_features(fed))
print(f"{graph.graph.number_of_edges()} edges; D is {graph.distances.shape}")
plot_3dg(graph, label_distributions=fed.label_distributions)
"""),
        md("""
## 4. Sampling without training
Before training anything, let each sampler pick `m` clients per round under the same availability
trace and count how often each client was picked. *Uniform* picks at random among the available
clients, so always-available clients are over-represented; *MD* also prefers big clients;
*Power-of-Choice* prefers clients with a high loss. **FedGS** adds a penalty for clients it already
picked often, so its sampling counts stay even: their variance is the fairness number the paper
reports.
"""),
        code("""
sims = compare_samplers(samplers, mode, stats, graph.distances, sim_rounds, m, seed)
for name, r in sims.items():
    print(f"{name:8s} count variance {r.final_variance:7.2f}   Jain index {r.jain:.3f}")
plot_variance(sims)
"""),
        md("""
## 5. A short training comparison
Now real federated training (multinomial logistic regression, FedAvg aggregation) with each sampler,
same data, same availability, same seed. Expect noisy curves at this size: the point is the pipeline
and the sampling-count variance beside accuracy. Notebook 05 runs longer comparisons.
"""),
        code("""
base = ExperimentConfig(dataset="synthetic", num_clients=num_clients, mode=mode, clients_per_round=m,
                        rounds=train_rounds, epochs=None, steps=10, batch_size=10, lr=0.1, seed=seed,
                        checkpoint_every=0)
histories = compare([base.replace(sampler=s) for s in samplers], progress=False)
print(comparison_table(histories))
plot_learning_curves(histories, title=f"synthetic, {mode}, M={m}")
"""),
        code("""
rows = {r["sampler"]: r for r in comparison_rows(histories)}
record(record_path, num_clients=fed.num_clients, samplers=list(sims),
       sim_count_variance={k: r.final_variance for k, r in sims.items()},
       final_accuracy={k: r["final_acc"] for k, r in rows.items()},
       train_count_variance={k: r["count_var"] for k, r in rows.items()},
       rounds_done={k: r["rounds"] for k, r in rows.items()})
"""),
        md("""
**Where next:** 01 data and partitions, 02 availability modes, 03 the 3DG, 04 samplers and the FedGS
selection problem, 05 longer training runs, 06 the paper's grid, 07 your own sampler or availability mode.
"""),
    ]


# ----------------------------------------------------------------------------------------------- 01

def nb01():
    f = "01_federated_data.ipynb"
    return f, [
        *header(f, "01. Federated data: partitions and label distributions", """
In federated learning every client keeps its own data, and clients are **not alike**: some hold much
more data than others, and most hold only a few of the classes. How the data is split (the
**partition**) decides how hard federated training is, and FedGS's graph is built from exactly these
per-client label distributions. This notebook loads a dataset and compares the usual partitions.
""", """
dataset = "synthetic"   # or "digits"; "fashion_mnist"/"mnist" when a data root is configured
data_root = None        # folder with the datasets (else data/ or $FEDGS_DATA)
num_clients = 30
classes_per_client = 2  # label_skew: classes per client
dirichlet_alpha = 0.3   # dirichlet: smaller means more skew
size_sigma = 1.0        # size_imbalance: spread of client sizes
seed = 0
"""),
        code(SETUP + """
import numpy as np

from fedgs_lite.data import load_dataset
from fedgs_lite.notebook_utils import record
from fedgs_lite.partition import describe, partition, plot_partition
"""),
        md("""
## 1. The dataset
Everything is held as numpy arrays; images are already normalised. Nothing is downloaded here:
`synthetic` is generated, `digits` ships with the repository data folder, the image datasets are read
from a configured data root.
"""),
        code("""
options = {"num_clients": num_clients} if dataset == "synthetic" else {}
ds = load_dataset(dataset, data_root, download=False, seed=seed, **options)
print(ds)
print("class counts in the training set:", np.bincount(ds.y_train, minlength=ds.num_classes))
"""),
        md("""
## 2. Four ways to split the data
* **iid**: shuffle and deal out evenly; every client looks like the whole dataset (the easy case).
* **label_skew**: each client holds exactly `classes_per_client` classes (the paper's MNIST setting).
* **dirichlet**: per-class proportions drawn from Dirichlet(alpha); skew of every degree at once.
* **size_imbalance**: IID labels but lognormal client sizes.

Look at the bar heights (how much data) and the colours (which labels). The same seed always gives
the same split.
"""),
        code("""
schemes = ["iid", "label_skew", "dirichlet", "size_imbalance"]
options = dict(classes_per_client=classes_per_client, dirichlet_alpha=dirichlet_alpha, size_sigma=size_sigma)
feds = {s: partition(ds, num_clients, s, rng=np.random.default_rng(seed), **options) for s in schemes}
if ds.natural_clients is not None:  # synthetic data comes with its own clients
    feds["natural"] = partition(ds, num_clients, "natural", rng=np.random.default_rng(seed))
for fed in feds.values():
    print(describe(fed), end="\\n\\n")
"""),
        code("""
for fed in feds.values():
    display(plot_partition(fed))
"""),
        md("""
## 3. Label distributions are what FedGS sees
Normalising each client's label counts gives its **label distribution** (rows sum to 1). Under
label_skew two clients either share a class or have nothing in common: that is the structure the 3DG
(notebook 03) turns into a graph.
"""),
        code("""
plot_partition(feds["label_skew"], normalize=True)
"""),
        code("""
labels_per_client = {s: (f.label_histograms > 0).sum(axis=1) for s, f in feds.items()}
record(record_path, dataset=ds.name, num_classes=ds.num_classes, n_train=len(ds.y_train),
       num_clients={s: f.num_clients for s, f in feds.items()},
       assigned={s: int(f.sizes.sum()) for s, f in feds.items()},
       labels_per_client_max={s: int(v.max()) for s, v in labels_per_client.items()},
       labels_per_client_min={s: int(v.min()) for s, v in labels_per_client.items()},
       size_cv={s: float(f.sizes.std() / f.sizes.mean()) for s, f in feds.items()})
"""),
    ]


# ----------------------------------------------------------------------------------------------- 02

def nb02():
    f = "02_availability.ipynb"
    return f, [
        *header(f, "02. Client availability modes", """
Real clients come and go: phones are charging or not, on Wi-Fi or not, in a time zone where it is
night. FedGS's point is that the server should sample well under **arbitrary** availability. The
paper studies modes in which availability depends on the clients' data (more data first, fewer labels
first, ...), because that is when naive sampling biases the model. Each mode gives client i a
probability p_i(t) of being available in round t; availability is then drawn independently.
""", """
num_clients = 30
rounds = 48             # rounds drawn by the explorer and the tour
seed = 0
"""),
        code(SETUP + """
from fedgs_lite.availability import MODES, describe_mode
from fedgs_lite.explorers import demo_federation, explore_availability
from fedgs_lite.notebook_utils import record
from fedgs_lite.widgets import availability_explorer

fed = demo_federation(num_clients, seed)  # synthetic clients of different sizes and label sets
"""),
        md("""
## 1. Explore
Pick a **mode**, its **beta** (how strong the bias is), the number of **rounds** and the **seed**.
Left: who is available in each round, clients sorted by data size (bottom = smallest). Middle: each
client's probability (bars, darker = more labels) and how often it was actually available (dots).
Right: how many clients are available per round. The title says what the mode favours, measured as
the rank correlation between the probabilities and each client trait.

Try: `MDF` vs `LDF` (a gradient in opposite directions), `SLN` (a daily wave), `HOMO` (flat), `YC`
(the available data drifts as the active label cycles).
"""),
        code("""
explorer = availability_explorer(fed, mode="LN", beta=0.1, rounds=rounds, seed=seed)
explorer
"""),
        md("""
## 2. A tour of every mode at its default beta
The same numbers the explorer shows, for all modes at once: mean availability, and the rank
correlation of each client's probability with its data size and its number of labels.
"""),
        code("""
tour = {mode: explore_availability(mode, None, rounds, seed, fed=fed) for mode in MODES}
print(f"{'spec':10s} {'available':>9s} {'~size':>6s} {'~labels':>8s}  favours")
for v in tour.values():
    c = v.correlations
    size, labels = c["data size"], c["number of labels"]
    print(f"{v.spec:10s} {v.rates.mean():9.2f} {size:+6.2f} {labels:+8.2f}  {v.favours}")
"""),
        md("""
What each rule says, in the authors' words (beta is the number after the dash):
"""),
        code("""
for mode in MODES:
    print(f"{mode}: {describe_mode(mode)}\\n")
"""),
        md("""
## 3. Time-varying availability
`SLN` multiplies log-normal probabilities by a 24-round wave: the number of available clients rises
and falls like day and night. A sampler that only looks at the current round cannot balance this;
FedGS's count penalty remembers who was picked before.
"""),
        code("""
explore_availability("SLN", 0.5, 3 * 24, seed, fed=fed).figure
"""),
        code("""
record(record_path, num_clients=fed.num_clients, rounds=rounds,
       mean_availability={v.spec: float(v.rates.mean()) for v in tour.values()},
       size_correlation={v.spec: v.correlations["data size"] for v in tour.values()},
       labels_correlation={v.spec: v.correlations["number of labels"] for v in tour.values()},
       time_varying={v.spec: v.time_varying for v in tour.values()},
       explorer_spec=explorer.last_result.spec)
"""),
    ]


# ----------------------------------------------------------------------------------------------- 03

def nb03():
    f = "03_build_3dg.ipynb"
    return f, [
        *header(f, "03. Building the 3DG (data-distribution-dependency graph)", """
FedGS wants each round's clients to be **diverse**: together they should look like the whole
federation. It measures diversity on a graph built once, in round 0:
1. describe each client by a feature vector (its label distribution, or, without peeking at labels,
   its model update after one round of local training);
2. compute cosine similarities and min-max normalise them to [0, 1];
3. join two clients when their similarity exceeds **epsilon**; the edge length exp(-s^2 / **sigma**)
   is short for similar clients;
4. all-pairs shortest paths, divided by the largest finite one, give the distance matrix **D**.

A detail worth knowing: the authors' servers set epsilon = 0.1 and sigma = 0.01 (the values usually
quoted) but never pass them on, so their graphs were built with epsilon = 0.01 and sigma = 0.1. Those
are the kit's defaults; try the quoted pair in section 3 and compare the graphs.
""", """
num_clients = 30
epsilon = 0.01          # edge threshold on normalised similarity (what the authors' code ran)
sigma = 0.1             # edge length scale (what the authors' code ran)
update_epochs = 1       # local epochs of the round-0 pass that gives the update features
seed = 0
"""),
        code(SETUP + """
import numpy as np

from fedgs_lite.explorers import demo_federation, explore_graph, update_feature_matrix
from fedgs_lite.graph import (
    build_3dg,
    cosine_similarity,
    edge_lengths,
    floyd_warshall_python,
    label_features,
    normalise_distances,
    plot_3dg,
)
from fedgs_lite.notebook_utils import record
from fedgs_lite.widgets import graph_explorer

fed = demo_federation(num_clients, seed)
"""),
        md("""
## 1. From label distributions to a graph (the oracle 3DG)
The label-distribution graph is the **oracle**: a server would not normally know its clients' labels.
Each node is drawn as a pie of its labels; joined clients share labels.
"""),
        code("""
features = label_features(fed)
similarity = cosine_similarity(features)
oracle = build_3dg(features, epsilon, sigma)
print(f"{oracle.graph.number_of_edges()} edges among {fed.num_clients} clients; "
      f"D in [{oracle.distances.min():.2f}, {oracle.distances.max():.2f}]")
plot_3dg(oracle, label_distributions=fed.label_distributions, seed=seed)
"""),
        md("""
The similarity and distance matrices side by side: similar clients (bright on the left) are close
(dark on the right). Clients that share no edge path get the largest distance.
"""),
        code("""
from matplotlib.figure import Figure

fig = Figure(figsize=(10, 4), layout="constrained")
for ax, mat, title in zip(fig.subplots(1, 2), [similarity, oracle.distances], ["similarity", "distance D"],
                          strict=True):
    fig.colorbar(ax.imshow(mat, cmap="viridis"), ax=ax, shrink=0.8)
    ax.set_title(title)
fig
"""),
        md("""
The authors computed D with a Python triple loop (Floyd-Warshall). `build_3dg` uses a compiled
shortest-path routine; both give the same matrix:
"""),
        code("""
lengths = edge_lengths(similarity, epsilon, sigma)
same_as_authors = bool(np.allclose(normalise_distances(floyd_warshall_python(lengths)), oracle.distances))
print("authors' Floyd-Warshall gives the same D:", same_as_authors)
"""),
        md("""
## 2. Without the labels: model updates as features
Every client trains once from the same initial model; its update (local minus global parameters)
leans towards its own labels. How close does the resulting graph come to the oracle? Precision =
share of its edges that the oracle also has; recall = share of the oracle's edges it finds.
"""),
        code("""
updates = update_feature_matrix(fed, seed=seed, epochs=update_epochs)
view = explore_graph(epsilon, sigma, "update", fed=fed, feature_matrix=updates, seed=seed)
print(f"update 3DG: {view.num_edges} edges; precision {view.scores['precision']:.2f}, "
      f"recall {view.scores['recall']:.2f}, F1 {view.scores['f1']:.2f}")
view.figure
"""),
        md("""
## 3. Explore epsilon and sigma
Raise **epsilon** and the graph thins out (fewer, more certain edges); **sigma** changes edge lengths,
hence D, but not which edges exist. Switch **features** between the oracle and the updates.
"""),
        code("""
graph_explorer(fed, epsilon=epsilon, sigma=sigma, feature_matrix=updates, seed=seed)
"""),
        code("""
record(record_path, num_clients=fed.num_clients, oracle_edges=oracle.graph.number_of_edges(),
       distance_max=float(oracle.distances.max()),
       distance_diag_max=float(np.abs(np.diag(oracle.distances)).max()),
       floyd_warshall_matches=same_as_authors, update_edges=view.num_edges, update_scores=view.scores,
       sweep_f1={str(e): s["f1"] for e, s in view.sweep.items()})
"""),
    ]


# ----------------------------------------------------------------------------------------------- 04

def nb04():
    f = "04_samplers.ipynb"
    return f, [
        *header(f, "04. Samplers under availability, and the FedGS selection problem", """
Each round the server sees the set A of available clients and picks M of them. This notebook compares
four samplers without any training, so that only **who gets picked** is measured:
* **uniform**: M at random among A;
* **MD**: M draws with replacement, proportional to data size;
* **Power-of-Choice**: the M clients with the largest loss (here a stand-in loss from label skew);
* **FedGS**: maximise `alpha * (mean 3DG distance among the picked) + sum of u_i`, where
  u_i is larger for clients picked less often so far. The first term asks for diversity, the second
  for equal sampling counts.
""", """
num_clients = 30
m = 6                   # clients per round (M)
rounds = 150
mode = "LN-0.5"         # availability mode
alpha = 0.1             # FedGS: weight of diversity against count fairness
alphas = [0.0, 0.1, 1.0, 10.0]
exact_rounds = 4        # rounds whose FedGS problem is also solved exactly
seed = 0
"""),
        code(SETUP + """
import importlib.util

import numpy as np

from fedgs_lite.availability import ClientStats
from fedgs_lite.explorers import demo_federation, round_problem
from fedgs_lite.graph import build_3dg, label_features
from fedgs_lite.notebook_utils import record
from fedgs_lite.simulate import compare_samplers, plot_counts, plot_selection_heatmap, plot_variance
from fedgs_lite.solvers import compare_solvers
from fedgs_lite.widgets import sampler_explorer

fed = demo_federation(num_clients, seed)
stats = ClientStats.from_federated(fed)
graph = build_3dg(label_features(fed))
"""),
        md("""
## 1. Four samplers on one availability trace
All samplers see the same availability. The count variance measures fairness (0 = every client
picked equally often); label coverage is the share of all classes present among each round's picks;
pairwise distance is the mean 3DG distance among the picks (higher = more diverse).
"""),
        code("""
results = compare_samplers(["uniform", "md", "poc", "fedgs"], mode, stats, graph.distances, rounds, m, seed,
                           alpha=alpha)
print(f"{'sampler':8s} {'count var':>9s} {'Jain':>6s} {'label cov':>9s} {'pairwise D':>10s}")
for name, r in results.items():
    s = r.summary()
    print(f"{name:8s} {s['count_variance']:9.2f} {s['jain']:6.3f} {s['label_coverage']:9.3f} "
          f"{s['pairwise_distance']:10.3f}")
plot_variance(results)
"""),
        md("""
Who was picked when: uniform follows availability (clients that are often there are picked often);
FedGS reaches for rarely available clients whenever they show up.
"""),
        code("""
display(plot_counts(results["uniform"]))
display(plot_counts(results["fedgs"]))
plot_selection_heatmap(results["fedgs"], max_rounds=60)
"""),
        md("""
## 2. Explore
Change the **sampler**, FedGS's **alpha**, **M**, the availability **mode**, the number of **rounds**, and
slide **round** to replay the run: left, availability (light) and picks (blue) up to that round;
middle, the sampling counts so far; right, that round's picks ringed on the 3DG. Tick **exact** to
solve that round's FedGS problem exactly as well and see the fast solver's optimality gap.
"""),
        code("""
sampler_explorer(fed, graph=graph, alpha=alpha, m=m, mode=mode, rounds=min(rounds, 100), seed=seed)
"""),
        md("""
## 3. Diversity against fairness: alpha
alpha = 0 ignores the graph (pure count balancing); a large alpha chases diversity and lets counts
drift apart. The paper's default is 0.1.
"""),
        code("""
sweep = {a: compare_samplers(["fedgs"], mode, stats, graph.distances, rounds, m, seed, alpha=a)["fedgs"]
         for a in alphas}
for a, r in sweep.items():
    print(f"alpha {a:6g}: count variance {r.final_variance:6.2f}, "
          f"mean pairwise distance {np.mean(r.pairwise):.3f}")
"""),
        md("""
## 4. Exact vs fast solver
The per-round problem is a binary quadratic program (max-sum diversification). The authors solved it
with Gurobi; here the exact route is a mixed-integer program solved by HiGHS through cvxpy (slow
beyond ~50 available clients), and the default is a greedy + local-search heuristic. On the rounds
below both solve the same problem; the gap is the heuristic's distance to the proven optimum.
"""),
        code("""
exact_method = "exact" if importlib.util.find_spec("cvxpy") else "brute"
fedgs_run = results["fedgs"]
gaps = []
for t in np.linspace(1, rounds - 1, exact_rounds).astype(int):
    ids, d_sub, u, m_t = round_problem(fedgs_run, graph.distances, int(t))
    if m_t >= ids.size:
        continue  # everyone available is picked: nothing to solve
    c = compare_solvers(d_sub, u, alpha, m_t, exact_method=exact_method, seed=seed)
    gaps.append(c.gap)
    print(f"round {t:3d}: {ids.size:2d} available, fast {1e3 * c.fast.seconds:6.1f} ms, {exact_method} "
          f"{c.exact.seconds:6.2f} s ({c.exact.status}), gap {100 * c.gap:.3f}%")
"""),
        code("""
record(record_path, num_clients=fed.num_clients, m=m, rounds=rounds,
       count_variance={k: r.final_variance for k, r in results.items()},
       jain={k: r.jain for k, r in results.items()},
       picks={k: int(r.counts.sum()) for k, r in results.items()},
       alpha_count_variance={str(a): r.final_variance for a, r in sweep.items()},
       alpha_pairwise={str(a): float(np.mean(r.pairwise)) for a, r in sweep.items()},
       solver_gaps=gaps, exact_method=exact_method)
"""),
    ]


# ----------------------------------------------------------------------------------------------- 05

def nb05():
    f = "05_training.ipynb"
    return f, [
        *header(f, "05. End-to-end federated training: FedGS vs baselines under availability", """
Sampling only matters if it changes the model. Here every sampler trains the same model on the same
clients under the same availability trace, for several availability modes, and we compare test
accuracy and sampling-count variance. Training is batched on one device: a GPU when there is one
(then larger settings are used), else the CPU with smaller settings.
""", """
dataset = "synthetic"   # "synthetic", "digits" (offline); image datasets need a data root
data_root = None
num_clients = 30
modes = ["IDL", "LN-0.5", "LDF-0.7"]
samplers = ["uniform", "md", "poc", "fedgs"]
rounds = None           # None: 150 on a GPU, 40 on a CPU
steps = 10              # local SGD steps per round
batch_size = 10
lr = 0.1
proportion = 0.2        # share of clients selected per round
seed = 0
out_dir = None          # a folder to keep runs in (rerunning then resumes instead of retraining)
"""),
        code(SETUP + """
from fedgs_lite.experiment import (
    ExperimentConfig,
    compare,
    comparison_rows,
    comparison_table,
    plot_learning_curves,
)
from fedgs_lite.notebook_utils import record
from fedgs_lite.training import default_device

device = default_device()
if rounds is None:
    rounds = 150 if device.type == "cuda" else 40
print(f"training on {device}, {rounds} rounds per run")
"""),
        md("""
## 1. One configuration, many runs
`ExperimentConfig` holds everything a run depends on; `replace` changes one field. A run is a pure
function of its config: rerun it and you get the same numbers (on a CPU).
"""),
        code("""
base = ExperimentConfig(dataset=dataset, data_root=data_root, num_clients=num_clients, rounds=rounds,
                        epochs=None, steps=steps, batch_size=batch_size, lr=lr, proportion=proportion,
                        seed=seed, checkpoint_every=0)
print(base.to_json())
"""),
        md("""
## 2. Train every sampler under every mode
For each mode: learning curves (left: test accuracy; right: how unequal the sampling counts are)
and a table. Under `IDL` everybody is always available and samplers differ only in their own
preferences; under skewed modes uniform sampling inherits the availability bias, and FedGS's count
penalty works against it.
"""),
        code("""
all_rows = {}
for mode in modes:
    configs = [base.replace(mode=mode, sampler=s) for s in samplers]
    histories = compare(configs, None if out_dir is None else f"{out_dir}/{mode}", progress=False)
    print(f"--- {mode}\\n{comparison_table(histories)}\\n")
    display(plot_learning_curves(histories, title=f"{dataset}, {mode}"))
    all_rows[mode] = {r["sampler"]: r for r in comparison_rows(histories)}
"""),
        md("""
## 3. Summary: final accuracy and count variance by mode
Read across a row to see whether a sampler's accuracy holds up when availability gets skewed. Short
CPU runs are noisy: rerun with more rounds, or another seed, before concluding anything. The paper's
full grid is in notebook 06.
"""),
        code("""
print(f"{'mode':10s}" + "".join(f"{s:>18s}" for s in samplers))
for mode, rows in all_rows.items():
    cells = "".join(f"{rows[s]['final_acc']:>10.3f} ({rows[s]['count_var']:5.1f})" for s in samplers)
    print(f"{mode:10s}{cells}")
print("(final accuracy, and in brackets the variance of the sampling counts)")
"""),
        code("""
record(record_path, device=device.type, rounds=rounds, modes=modes, samplers=samplers, m=base.m,
       num_clients=num_clients,
       final_accuracy={mode: {s: r["final_acc"] for s, r in rows.items()} for mode, rows in all_rows.items()},
       count_variance={mode: {s: r["count_var"] for s, r in rows.items()} for mode, rows in all_rows.items()},
       rounds_done={mode: {s: r["rounds"] for s, r in rows.items()} for mode, rows in all_rows.items()})
"""),
    ]


# ----------------------------------------------------------------------------------------------- 07

def nb07():
    f = "07_bring_your_own.ipynb"
    return f, [
        *header(f, "07. Bring your own sampler or availability mode", """
fedgs_lite is built from small parts joined by plain protocols, so you can swap one part and keep the
rest. Two extension points:
* an **availability mode** is a factory `factory(stats, beta, rng) -> probs(t)` registered under a
  key with `register_mode`; it then works everywhere a mode string does (`"KEY-beta"`);
* a **sampler** is any object with a `name` and `select(available, m, round_idx, rng) -> ids`,
  optionally `update(selected, round_idx)`. No subclassing.
""", """
num_clients = 30
m = 5
rounds = 120
beta = 0.6              # strength of the custom mode's bias
train_rounds = 20       # rounds of real training with the custom sampler and mode (section 4)
seed = 0
"""),
        code(SETUP + """
from dataclasses import dataclass, field

import numpy as np

from fedgs_lite.availability import ClientStats, make_availability, register_mode
from fedgs_lite.explorers import demo_federation, explore_availability
from fedgs_lite.graph import build_3dg, label_features
from fedgs_lite.notebook_utils import record
from fedgs_lite.simulate import compare_samplers, plot_counts, plot_variance

fed = demo_federation(num_clients, seed)
stats = ClientStats.from_federated(fed)
graph = build_3dg(label_features(fed))
"""),
        md("""
## 1. A new availability mode: "BATTERY"
Suppose each client's battery follows its own daily cycle (a random phase), and a client is reachable
with probability `1 - beta` plus up to `beta` more when its battery is full. The factory draws the
phases once (with the rng it is given, so runs are reproducible) and returns `probs(t)`.
"""),
        code("""
def battery(stats, beta, rng):
    phase = rng.uniform(0, 2 * np.pi, len(stats.sizes))

    def probs(t):
        return (1 - beta) + beta * 0.5 * (1 + np.sin(2 * np.pi * t / 24 + phase))

    return probs


register_mode("BATTERY", battery, default_beta=0.5, overwrite=True,  # overwrite: the cell can be rerun
              doc="Battery: a per-client daily cycle with a random phase.")
view = explore_availability("BATTERY", beta, 48, seed, fed=fed)
print(view.spec, "->", view.favours)
view.figure
"""),
        md("""
## 2. A new sampler: least-picked first
A fairness-only baseline: among the available clients take the M picked least often so far (ties at
random). It keeps its counts in `update`, which the simulator (and the trainer) call after each round.
"""),
        code("""
@dataclass
class LeastPickedSampler:
    num_clients: int
    name: str = "least-picked"
    counts: np.ndarray = field(init=False)

    def __post_init__(self):
        self.counts = np.zeros(self.num_clients, dtype=np.int64)

    def select(self, available, m, round_idx, rng):
        ids = np.flatnonzero(available) if np.asarray(available).dtype == bool else np.asarray(available)
        order = np.lexsort((rng.random(ids.size), self.counts[ids]))  # fewest picks first, random ties
        return np.sort(ids[order[:m]])

    def update(self, selected, round_idx):
        np.add.at(self.counts, selected, 1)

    def fresh(self):  # lets the simulator rerun it from zero counts
        return LeastPickedSampler(self.num_clients)
"""),
        md("""
## 3. Plug both in
The custom sampler runs beside the built-in ones, on the custom mode's availability trace.
"""),
        code("""
spec = f"BATTERY-{beta:g}"
results = compare_samplers(["uniform", "fedgs", LeastPickedSampler(fed.num_clients)], spec, stats,
                           graph.distances, rounds, m, seed)
for name, r in results.items():
    print(f"{name:13s} count variance {r.final_variance:6.2f}, "
          f"mean pairwise distance {np.mean(r.pairwise):.3f}")
display(plot_counts(results["least-picked"]))
plot_variance(results)
"""),
        md("""
Read both numbers: count variance (fairness) and mean pairwise 3DG distance (diversity of each
round's picks). At the paper's alpha = 0.1 FedGS is mostly a count balancer, so a plain least-picked
rule comes close to it; the alpha sweep in notebook 04 shows FedGS trading fairness for diversity as
alpha grows.

## 4. Train with them
`register_sampler` gives the sampler a name that `ExperimentConfig`, `compare` and the CLI accept,
exactly like `"fedgs"`; the factory receives the clients' data sizes, the 3DG distances and a loss
callback and may ignore them. The mode string works in `ExperimentConfig(mode=spec)` too. Both stay
registered for this kernel only.
"""),
        code("""
from fedgs_lite.experiment import ExperimentConfig, compare, comparison_rows, comparison_table
from fedgs_lite.samplers import register_sampler

register_sampler("least_picked", lambda *, sizes, **_: LeastPickedSampler(len(sizes)), overwrite=True)
base = ExperimentConfig(dataset="synthetic", num_clients=num_clients, mode=spec, clients_per_round=m,
                        rounds=train_rounds, epochs=None, steps=10, batch_size=10, seed=seed,
                        checkpoint_every=0)
trained = compare([base.replace(sampler=s) for s in ("uniform", "fedgs", "least_picked")], progress=False)
print(comparison_table(trained))
"""),
        code("""
avail = make_availability(spec, stats, np.random.default_rng(seed))
record(record_path, num_clients=fed.num_clients, custom_spec=view.spec, custom_time_varying=view.time_varying,
       custom_mean_availability=float(view.rates.mean()),
       custom_probs_range=[float(view.probs.min()), float(view.probs.max())],
       count_variance={k: r.final_variance for k, r in results.items()},
       picks={k: int(r.counts.sum()) for k, r in results.items()}, rounds=rounds, m=m,
       availability_spec=avail.spec,
       trained={r["sampler"]: {"final_acc": r["final_acc"], "count_var": r["count_var"]}
                for r in comparison_rows(trained)})
"""),
    ]


# ----------------------------------------------------------------------------------------------- 06

def nb06():
    f = "06_reproduce_paper.ipynb"
    return f, [
        *header(f, "06. Reproducing the paper's grid", """
The paper compares client samplers (uniform, MD, Power-of-Choice, FedGS) on three datasets under seven
client-availability modes. `python -m fedgs_lite reproduce` runs that grid (dataset x mode x sampler x
seed) with the settings recorded in `fedgs_lite/paper.py`, one resumable run directory per cell, and
writes `results/summary.csv`, `results/summary.md` and the figures.

This notebook only **reads** those results and shows them. When no results exist yet it can run the
`--tiny` grid (a few rounds on the synthetic data, on the CPU, about half a minute) into a temporary
folder, which checks the pipeline but is **not** a result.

The full grid on a GPU:
```
python -m fedgs_lite reproduce --dry-run                # the cells and their compute budget first
python -m fedgs_lite reproduce --out results            # all datasets, 7 modes, 4 samplers, 3 seeds
python -m fedgs_lite reproduce --time-limit 480         # stop cleanly; the same command continues
python -m fedgs_lite reproduce --datasets synthetic     # the part a CPU can do (about 90 s)
```
The runs of one dataset and seed (every mode and sampler) train together, all their selected
clients in one batched computation per round (`fedgs_lite/cohort.py`); each run's numbers are those
it would have on its own.
""", """
results_dir = ""             # folder written by `reproduce` (empty: the results folder of this repository)
run_tiny_if_missing = True   # no results there: run the tiny CPU grid into a temp folder instead
tiny_modes = "IDL,LN"        # modes and samplers of that tiny grid
tiny_samplers = "uniform,md,poc,fedgs"
"""),
        code("""
import tempfile
from pathlib import Path

from IPython.display import Image, display

from fedgs_lite import paper
from fedgs_lite import reproduce as rp
from fedgs_lite.notebook_utils import record
"""),
        md("""
## 1. The paper's settings
Each value in `fedgs_lite/paper.py` names its source: the paper, the authors' repository (their
analysis configs name the tasks, rounds, clients per round and learning rates they ran), or
"assumed" where no source gave it. The paper's own results table was **not** found in the sources
available when this kit was written, so the `paper` column below stays empty rather than invented.
"""),
        code("""
for name, s in paper.SETTINGS.items():
    print(f"{name}: N={s.num_clients} clients, partition={s.partition}, M={s.clients_per_round} per round, "
          f"{s.rounds} rounds, {s.local_epochs} local epochs, batch {s.batch_size}, lr {s.lr}, "
          f"FedGS alpha {s.fedgs_alpha}")
    for key in ("num_clients", "rounds", "lr", "proportion"):
        print(f"    {key:12s} <- {s.sources[key]}")
print("modes:", ", ".join(paper.MODE_SPECS.values()))
print("paper's numbers:", paper.PAPER_RESULTS_SOURCE if not paper.PAPER_RESULTS else "available")
"""),
        md("""
How much arithmetic is that? The analytic FLOPs of every run (local training at 3x the forward pass,
Power-of-Choice's loss passes over the candidates, the test evaluations) show why the image datasets
need a GPU, and which rate a GPU would have to sustain to finish the grid in 30 minutes.
"""),
        code("""
budget_plans = rp.plan_grid(rp.grid_cells(["synthetic", "fashion_mnist"]), device="cpu")
print(rp.format_budget(rp.grid_budget(budget_plans)))
"""),
        md("""
## 2. Load the results
From the run directories when they are here (`results/runs/`, git-ignored), else from the committed
`summary.csv`; with neither, the tiny grid runs now.
"""),
        code("""
def find_results(path):
    if path:
        return Path(path)
    for candidate in (Path.cwd() / "results", Path.cwd().parent / "results"):
        if candidate.is_dir():
            return candidate
    return Path("results")


out = find_results(results_dir)
runs = rp.load_runs(out)
if runs:
    source, rows = "runs", rp.summarise(out)
elif (out / "summary.csv").exists():
    source, rows = "summary.csv", rp.read_summary(out / "summary.csv")
elif run_tiny_if_missing:
    out = Path(tempfile.mkdtemp(prefix="fedgs_tiny_grid_"))
    cells = rp.grid_cells(["synthetic"], tiny_modes.split(","), tiny_samplers.split(","), [0])
    report = rp.run_grid(rp.plan_grid(cells, tiny=True, device="cpu"), out, progress=False)
    runs = rp.load_runs(out, report.run_dirs)
    source, rows = "tiny", rp.summarise(out, report.run_dirs)
    print(f"ran the tiny grid ({report.ran} runs, {report.wall_time:.1f} s): a pipeline check, not a result")
else:
    raise FileNotFoundError(f"no results in {out}: run `python -m fedgs_lite reproduce` or set "
                            "run_tiny_if_missing = True")
print(f"{len(rows)} table rows from {source} in {out}")
"""),
        md("""
## 3. The table
Mean +- standard deviation over seeds of the final and the best test accuracy, and of the variance of
how often each client was selected (lower is fairer).
"""),
        code("""
print(rp.format_table(rows))
"""),
        md("""
## 4. Does FedGS rank where the paper puts it?
For each dataset and mode: the samplers ordered by mean final accuracy, and FedGS's place. With the
paper's numbers missing, the comparison is with its qualitative claim (FedGS improves accuracy); a
margin within one standard deviation means these seeds cannot tell the samplers apart.
"""),
        code("""
rankings = rp.compare_rankings(rows)
for c in rankings:
    print(f"{c['dataset']} / {c['mode']}: {' > '.join(c['ours'])}\\n    {c['verdict']}")
"""),
        md("""
## 5. Figures
Learning curves (one panel per mode, one line per sampler) and the selection counts per client
(clients sorted from most to least selected: a flat line is a fair sampler).
"""),
        code("""
if runs:
    for grid, label in sorted({(r.grid, r.dataset_label) for r in runs}):
        display(rp.plot_learning_curves(runs, grid, label))
        display(rp.plot_count_distributions(runs, grid, label))
else:
    for png in sorted(out.glob("*.png")):
        print(png.name)
        display(Image(filename=str(png)))
"""),
        code("""
record(record_path, source=source, num_rows=len(rows), num_runs=len(runs),
       samplers=sorted({r["sampler"] for r in rows}), modes=sorted({r["mode"] for r in rows}),
       final_acc={f"{r['dataset']}/{r['mode']}/{r['sampler']}": r["final_acc_mean"] for r in rows},
       fedgs_rank={f"{c['dataset']}/{c['mode']}": c["fedgs_rank"] for c in rankings},
       paper_numbers_available=bool(paper.PAPER_RESULTS))
"""),
    ]


BUILDERS = (nb00, nb01, nb02, nb03, nb04, nb05, nb06, nb07)


def main() -> None:
    for build in BUILDERS:
        name, cells = build()
        print("wrote", write(name, cells).relative_to(HERE.parent))


if __name__ == "__main__":
    main()
