"""ExperimentConfig: checks with a clear message, derived values, JSON and run_id, the one set of defaults."""

import dataclasses

import pytest

from fedgs_lite import paper
from fedgs_lite.config import COHORT_FIELDS, LOCAL_FIELDS, ExperimentConfig, LocalTraining
from fedgs_lite.grid import Cell, build_config


def tiny(**kw) -> ExperimentConfig:
    base = dict(num_clients=10, clients_per_round=3, rounds=4, steps=2, batch_size=8, mode="LN-0.5",
                checkpoint_every=0)
    return ExperimentConfig(**{**base, **kw})


@pytest.mark.parametrize("kw, match", [
    (dict(dataset="imagenet"), "unknown dataset"),
    (dict(mode="NOPE-0.1"), "availability mode"),
    (dict(sampler="random"), "unknown sampler"),
    (dict(solver="cplex"), "unknown solver"),
    (dict(clients_per_round=0), "clients_per_round"),
    (dict(clients_per_round=31), "exceeds num_clients"),
    (dict(rounds=0), "rounds"),
    (dict(lr=0.0), "lr must be > 0"),
    (dict(lr=float("nan")), "lr must be > 0"),
    (dict(fedgs_alpha=-0.1), "fedgs_alpha must be >= 0"),
    (dict(proportion=0.0), "proportion"),
    (dict(proportion=1.5), "proportion"),
    (dict(epochs=None, steps=None), "epochs or steps"),
    (dict(epochs=5), "exactly one of epochs or steps"),
    (dict(batch_size=0), "batch_size"),
    (dict(aggregation="median"), "aggregation"),
    (dict(engine="jit"), "engine"),
    (dict(device="tpu"), "device"),
    (dict(graph_features="pixels"), "graph_features"),
    (dict(partition="natural", dataset="mnist"), "natural"),
    (dict(partition="stripes"), "unknown partition"),
    (dict(eval_every=0), "eval_every"),
    (dict(checkpoint_every=-1), "checkpoint_every"),
    (dict(momentum=1.0), "momentum"),
    (dict(lr_decay=1.5), "lr_decay"),
    (dict(poc_d=2, clients_per_round=3), "poc_d"),
    (dict(seed=True), "seed"),
    (dict(holdout=1.0), "holdout"),
    (dict(holdout=-0.1), "holdout"),
    (dict(skew=0.7), "skew=0.7 applies to partition 'dirichlet_lognormal'"),
    (dict(partition="dirichlet_lognormal", skew=1.5), "skew"),
    (dict(synthetic_setting="authors"), "unknown synthetic_setting"),
    (dict(dataset="mnist", synthetic_setting="paper"), "synthetic dataset only"),
    (dict(synthetic_setting="paper", holdout=0.2), "own validation split"),
    (dict(model="resnet"), "unknown model"),
    (dict(graph_features="oracles"), "graph_features"),
])
def test_config_rejects_bad_values(kw, match):
    with pytest.raises(ValueError, match=match):
        ExperimentConfig(**kw)


def test_config_derived_values():
    c = ExperimentConfig(num_clients=30, proportion=0.2)
    assert c.m == 6
    assert ExperimentConfig(num_clients=3, proportion=0.1).m == 1  # at least one client
    assert ExperimentConfig(clients_per_round=4).m == 4
    assert c.partition_scheme == "natural"
    assert ExperimentConfig(dataset="mnist", num_clients=100).partition_scheme == "label_skew"
    assert ExperimentConfig(sampler="md").aggregation_rule == "uniform"  # as registered by samplers.py
    assert ExperimentConfig(sampler="fedgs").aggregation_rule == "size"
    assert ExperimentConfig(sampler="md", aggregation="size").aggregation_rule == "size"
    assert ExperimentConfig(sampler="fedgs", graph_features="update").label == "fedgs-update"
    assert ExperimentConfig(dataset="Fashion-MNIST").dataset == "fashion_mnist"
    assert c.lr_at(2) == pytest.approx(c.lr * c.lr_decay ** 2)


def test_config_json_round_trip_and_run_id():
    c = tiny(sampler="fedgs", fedgs_alpha=0.3, poc_d=None, name="mine", data_root="/somewhere")
    back = ExperimentConfig.from_json(c.to_json())
    assert back == c
    assert back.run_id == c.run_id
    # cosmetic fields do not change the id, result-relevant ones do
    assert c.replace(name="other", data_root=None, checkpoint_every=5).run_id == c.run_id
    assert c.replace(seed=1).run_id != c.run_id
    assert c.replace(mode="IDL").run_id != c.run_id
    with pytest.raises(ValueError, match="unknown ExperimentConfig fields"):
        ExperimentConfig.from_dict({**c.to_dict(), "colour": "red"})


def test_local_training_is_the_configs_own_group_of_fields():
    c = tiny(momentum=0.5, prox_mu=0.01)
    local = c.local_training()
    assert type(local) is LocalTraining and isinstance(c, LocalTraining)
    assert {f.name for f in dataclasses.fields(LocalTraining)} == set(LOCAL_FIELDS)
    assert dataclasses.asdict(local) == {k: getattr(c, k) for k in LOCAL_FIELDS}
    assert set(LOCAL_FIELDS) <= set(COHORT_FIELDS) and "seed" in COHORT_FIELDS and "mode" not in COHORT_FIELDS
    assert c.cohort_key() == c.replace(sampler="md", mode="IDL", fedgs_alpha=2.0).cohort_key()
    assert c.cohort_key() != c.replace(lr=0.05).cohort_key()
    with pytest.raises(ValueError, match="epochs or steps"):
        LocalTraining(epochs=2)  # the default 10 steps as well: say which


def test_every_field_has_a_default_and_a_help_line():
    for f in dataclasses.fields(ExperimentConfig):
        assert f.default is not dataclasses.MISSING, f.name
        assert f.metadata.get("help"), f.name


def test_the_defaults_are_the_demo_and_the_paper_settings_come_from_paper_py():
    c = ExperimentConfig()
    assert (c.dataset, c.num_clients, c.m, c.mode, c.rounds, c.steps, c.batch_size, c.device) == (
        "synthetic", 30, 6, "YMF-0.9", 60, 10, 10, "cpu")
    st = paper.setting("synthetic")
    g = build_config(Cell("synthetic", "LN", "fedgs", 0))
    assert (g.rounds, g.epochs, g.steps, g.batch_size, g.lr, g.fedgs_alpha) == (
        st.rounds, st.local_epochs, st.local_steps, st.batch_size, st.lr, st.fedgs_alpha)


def test_the_new_fields_reach_the_run_and_its_id():
    c = tiny(dataset="fashion_mnist", partition="dirichlet_lognormal", skew=0.7, holdout=0.2,
             model="fashion_mnist_lr", sampler="fedprox")
    assert c.model_name == "fashion_mnist_lr" and ExperimentConfig().model_name == "synthetic"
    assert c.prox_mu == 0.01 and c.aggregation_rule == "uniform"  # FedProx: MD + mu 0.01, averaged uniformly
    assert c.replace(prox_mu=0.1).prox_mu == 0.1  # an explicit mu stays
    assert ExperimentConfig(sampler="fedprox", prox_mu=0.5).prox_mu == 0.5
    for field in ("skew", "holdout", "model", "synthetic_setting"):
        assert field in COHORT_FIELDS
    assert c.replace(skew=0.9).run_id != c.run_id and c.replace(holdout=0.1).run_id != c.run_id
    assert ExperimentConfig(synthetic_setting="paper").synthetic_options["max_samples"] is None
    assert ExperimentConfig(sampler="fedgs", graph_features="oracle").label == "fedgs"


def test_config_models_name_the_models_module():
    from fedgs_lite.config import MODELS
    from fedgs_lite.models import MODEL_NAMES

    assert MODELS == ("auto", *MODEL_NAMES)
