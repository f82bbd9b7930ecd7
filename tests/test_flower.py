"""fedgs_lite.flower: the Flower strategy against an in-process Grid test double (fast), and one slow
test on Flower's real local simulation engine (`flwr run` on examples/flower)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from importlib.util import find_spec
from pathlib import Path

import numpy as np
import pytest
from processes import new_marker, processes_with, wait_until

from fedgs_lite import ExperimentConfig, History, comparison_table, run_experiment

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "flower"
needs_flwr = pytest.mark.skipif(find_spec("flwr") is None,
                                reason="Flower is not installed: pip install 'fedgs_lite[flower]'")


def test_import_fedgs_lite_does_not_import_flower():
    code = "import sys, fedgs_lite; fedgs_lite.History; print('flwr' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_missing_flower_is_one_clear_line():
    code = ("import sys; sys.modules['flwr'] = None\n"
            "try:\n    import fedgs_lite.flower\nexcept ImportError as e:\n    print(e)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "fedgs_lite.flower needs Flower: pip install 'fedgs_lite[flower]'"


def test_a_flower_simulation_without_flower_is_one_clear_line():
    code = ("import sys; sys.modules['flwr'] = None\n"
            "from fedgs_lite import ExperimentConfig, run_flower_simulation\n"
            "try:\n    run_flower_simulation(ExperimentConfig(num_clients=4, rounds=1))\n"
            "except ImportError as e:\n    print(e)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "fedgs_lite.flower needs Flower: pip install 'fedgs_lite[flower]'"


# --------------------------------------------------------------------------- the Grid test double

@pytest.fixture
def task_identity():
    """Message() reads the process's TaskIdentity, which Flower's runtimes set (internal in 1.42)."""
    try:
        from flwr.supercore.task_identity import TaskIdentity
    except ImportError:
        pytest.skip("flwr.supercore.task_identity.TaskIdentity moved: update the Grid test double")
    TaskIdentity.run_id, TaskIdentity.node_id, TaskIdentity.task_id = 1, 1, 1
    yield
    TaskIdentity._run_id = TaskIdentity._node_id = TaskIdentity._task_id = None


def local_grid(app, num_nodes: int, seed: int = 0):
    """A Grid whose messages go straight to `app` in this process. Node ids are random 64-bit ints (as
    Flower's); `offline` nodes are not connected, `failing` ones reply with an Error, `silent` ones
    never reply (a timeout)."""
    from flwr.app import Context, Error, Message, RecordDict
    from flwr.serverapp import Grid

    class LocalGrid(Grid):
        def __init__(self):
            self.contexts, self.offline, self.failing, self.silent = {}, set(), set(), set()
            self.sent: list[tuple[int, str]] = []  # (node id, message type)
            self.rng = np.random.default_rng(seed)
            for pid in range(num_nodes):
                self.add_node(pid)

        def add_node(self, partition_id: int) -> int:
            node_id = int(self.rng.integers(2, 2**62))
            self.contexts[node_id] = Context(run_id=1, node_id=node_id, state=RecordDict(), run_config={},
                                             node_config={"partition-id": partition_id})
            return node_id

        def set_run(self, run):
            self._run = run

        @property
        def run(self):
            return self._run

        def create_message(self, content, message_type, dst_node_id, group_id, ttl=None):
            return Message(content, dst_node_id, message_type, ttl=ttl, group_id=group_id)

        def get_node_ids(self):
            return [n for n in self.contexts if n not in self.offline]

        def push_messages(self, messages):
            raise NotImplementedError("the strategy uses send_and_receive")

        def pull_messages(self, message_ids):
            raise NotImplementedError("the strategy uses send_and_receive")

        def send_and_receive(self, messages, *, timeout=None):
            replies = []
            for msg in messages:
                node_id = msg.metadata.dst_node_id
                self.sent.append((node_id, msg.metadata.message_type))
                if node_id in self.offline or node_id in self.silent:
                    continue
                if node_id in self.failing:
                    replies.append(Message(Error(code=1, reason="emulated node failure"), reply_to=msg))
                    continue
                replies.append(app(msg, self.contexts[node_id]))
            return replies

    return LocalGrid()


def kit_client_app(config: ExperimentConfig):
    """A ClientApp whose node with partition id i holds the kit's client i of `config`'s federation."""
    from flwr.clientapp import ClientApp

    from fedgs_lite.flower import NodeData, add_fedgs_handlers, kit_parts
    from fedgs_lite.models import make_model

    parts = kit_parts(config)
    fed, ds = parts.fed, parts.fed.dataset

    def load_data(context):
        return NodeData.of_client(fed, int(context.node_config["partition-id"]))

    app = add_fedgs_handlers(ClientApp(), load_data,
                             lambda context: make_model(config.dataset, ds.input_shape, ds.num_classes))
    return app, parts


def flower_run(config: ExperimentConfig, grid=None, rounds: int | None = None, **strategy_options):
    """Run config through FedGSStrategy on a LocalGrid; returns (strategy, grid, history)."""
    from flwr.app import ArrayRecord

    from fedgs_lite.flower import FedGSStrategy, central_evaluation

    app, parts = kit_client_app(config)
    grid = grid(app) if callable(grid) else local_grid(app, config.num_clients)
    ds = parts.fed.dataset
    strategy = FedGSStrategy.from_config(config, **strategy_options)
    strategy.start(grid, ArrayRecord(torch_state_dict=parts.params), num_rounds=rounds or config.rounds,
                   timeout=5.0, evaluate_fn=central_evaluation(parts.model, ds.x_test, ds.y_test))
    return strategy, grid, strategy.history()


def small_config(**kw) -> ExperimentConfig:
    base = dict(dataset="synthetic", num_clients=12, clients_per_round=3, mode="YMF-0.9", rounds=5,
                epochs=None, steps=3, batch_size=10, lr=0.1, eval_every=5, checkpoint_every=0, device="cpu",
                seed=3)
    return ExperimentConfig(**{**base, **kw})


# --------------------------------------------------------------------------- parity with run_experiment

@needs_flwr
@pytest.mark.parametrize("sampler", ["fedgs", "uniform", "md"])
def test_selections_equal_run_experiment(sampler, task_identity, one_torch_thread):
    config = small_config(sampler=sampler)
    kit_history = run_experiment(config, progress=False)
    strategy, grid, history = flower_run(config)
    assert history.available == kit_history.available
    assert history.selected == kit_history.selected
    assert any(len(a) < config.num_clients for a in history.available)  # the mode did remove clients
    # the kit's client ids are the partition ids, and the initial model is the kit's
    assert strategy.roster.partition_ids == list(range(config.num_clients))
    assert history.test_accuracy[0] == kit_history.test_accuracy[0]
    assert history.eval_rounds == list(range(config.rounds + 1))
    assert history.finished and history.rounds_done == config.rounds and not any(strategy.failed)
    assert np.isfinite(history.train_loss).all()
    assert history.test_accuracy[-1] > history.test_accuracy[0]  # the nodes' training did train
    if sampler == "md":  # repeats in the selection, one train message per distinct node
        assert any(len(set(s)) < len(s) for s in history.selected)
        trains = [t for _, t in grid.sent if t == "train"]
        assert len(trains) == sum(len(set(s)) for s in history.selected)


@needs_flwr
def test_history_works_with_the_kit_tables_and_round_trips(task_identity, one_torch_thread):
    _, _, history = flower_run(small_config(sampler="fedgs", rounds=3))
    again = History.from_json(history.to_json())
    assert again.selected == history.selected and again.config["runtime"] == "flower"
    assert history.counts.sum() == sum(len(s) for s in history.selected)
    table = comparison_table({"flower": history})
    assert "flower" in table and "done" in table


# --------------------------------------------------------------------------- robustness

def before_each_round(monkeypatch, hook) -> None:
    """Call hook(server_round, grid) at the start of every round, before the strategy looks at the grid."""
    from fedgs_lite.flower import FedGSStrategy

    original = FedGSStrategy.configure_train

    def configure_train(self, server_round, arrays, config, grid):
        hook(server_round, grid)
        return original(self, server_round, arrays, config, grid)

    monkeypatch.setattr(FedGSStrategy, "configure_train", configure_train)


@needs_flwr
def test_disconnected_nodes_are_never_selected(monkeypatch, task_identity, one_torch_thread):
    config = small_config(sampler="uniform", mode="IDL", clients_per_round=4, rounds=4)
    gone_nodes = []

    def disconnect_five(server_round, grid):
        if server_round == 2:
            gone_nodes.extend(list(grid.contexts)[:5])
            grid.offline.update(gone_nodes)

    before_each_round(monkeypatch, disconnect_five)
    strategy, _, history = flower_run(config)
    gone = {strategy.roster.node_ids.index(n) for n in gone_nodes}
    assert len(gone) == 5 and len(strategy.roster.node_ids) == config.num_clients
    assert gone <= set(history.available[0])  # there in round 1 (IDL: everyone connected is available)
    for available, selected in zip(history.available[1:], history.selected[1:], strict=True):
        assert not gone & set(available) and not gone & set(selected)
        assert len(available) == config.num_clients - 5


@needs_flwr
def test_failing_and_silent_nodes_are_tolerated(monkeypatch, task_identity, one_torch_thread):
    config = small_config(sampler="uniform", mode="IDL", clients_per_round=6, rounds=3)
    broken_nodes = set()

    def break_five(server_round, grid):  # profiled in round 1, then three fail and two never answer
        if server_round == 2:
            ids = list(grid.contexts)
            grid.failing, grid.silent = set(ids[:3]), set(ids[3:5])
            broken_nodes.update(ids[:5])

    before_each_round(monkeypatch, break_five)
    strategy, _, history = flower_run(config)
    broken = {strategy.roster.node_ids.index(n) for n in broken_nodes}
    assert strategy.failed[0] == []
    for selected, failed in zip(history.selected[1:], strategy.failed[1:], strict=True):
        assert set(failed) == broken & set(selected)
    assert any(strategy.failed) and history.finished and len(strategy.roster.node_ids) == config.num_clients
    assert np.isfinite(history.test_accuracy).all() and history.test_accuracy[-1] > history.test_accuracy[0]


@needs_flwr
def test_a_node_that_fails_its_profile_is_asked_again_and_joins_when_it_answers(monkeypatch, task_identity,
                                                                               one_torch_thread):
    config = small_config(sampler="uniform", mode="IDL", clients_per_round=11, rounds=3)
    flaky = []

    def fail_until_round_3(server_round, grid):
        if server_round == 1:
            flaky.append(list(grid.contexts)[4])
        grid.failing = set(flaky) if server_round < 3 else set()

    before_each_round(monkeypatch, fail_until_round_3)
    strategy, grid, history = flower_run(config)
    asked = [n for n, t in grid.sent if t == "query.fedgs_profile" and n == flaky[0]]
    assert len(asked) == 3 and strategy.roster.node_ids[-1] == flaky[0]  # asked in rounds 1-3; joined last
    assert [len(a) for a in history.available] == [11, 11, 12] and not any(strategy.failed)


@needs_flwr
def test_late_joiners_are_profiled_and_can_be_selected(monkeypatch, task_identity, one_torch_thread):
    config = small_config(sampler="fedgs", mode="IDL", num_clients=12, clients_per_round=4, rounds=4)
    joined = []

    def two_join(server_round, grid):
        if server_round == 2:  # partitions 10 and 11 connect after round 1
            joined.extend(grid.add_node(pid) for pid in (10, 11))

    before_each_round(monkeypatch, two_join)
    strategy, grid, history = flower_run(config, grid=lambda app: local_grid(app, 10), min_available_nodes=10)
    assert strategy.roster.node_ids[10:] == joined and strategy.roster.partition_ids[10:] == [10, 11]
    profiled = [n for n, t in grid.sent if t == "query.fedgs_profile"]
    assert len(profiled) == 12 and sorted(profiled[10:]) == sorted(joined)  # each node profiled once
    assert strategy.sampler.distances.shape == (12, 12) and history.num_clients == 12
    assert all(c < 10 for c in history.selected[0])
    assert {10, 11} & {c for s in history.selected[1:] for c in s}  # unsampled so far: counts favour them
    assert strategy.sampler.counts.sum() == sum(len(s) for s in history.selected)  # counts carried over


# --------------------------------------------------------------------------- other samplers and features

@needs_flwr
def test_power_of_choice_asks_the_candidates_for_their_losses(task_identity, one_torch_thread):
    config = small_config(sampler="poc", poc_d=6, rounds=2)
    kit_history = run_experiment(config, progress=False)
    strategy, grid, history = flower_run(config)
    losses = [n for n, t in grid.sent if t == "query.fedgs_loss"]
    assert len(losses) == sum(min(6, len(a)) for a in history.available)  # d candidates, or all available
    # round 1 starts from the same model, so the node-side losses pick the kit's clients
    assert history.selected[0] == kit_history.selected[0]
    assert history.available == kit_history.available


@needs_flwr
@pytest.mark.parametrize("features", ["update", "logit"])
def test_update_and_logit_features_come_from_a_round0_query(features, task_identity, one_torch_thread):
    config = small_config(sampler="fedgs", graph_features=features, rounds=2)
    strategy, grid, history = flower_run(config)
    queries = [t for _, t in grid.sent if t == "query.fedgs_features"]
    assert len(queries) == config.num_clients
    width = 60 * 10 + 10 if features == "update" else 10  # synthetic: 60 inputs, 10 classes
    assert np.stack(strategy.roster.features).shape == (config.num_clients, width)
    assert np.isfinite(strategy.sampler.distances).all() and history.rounds_done == 2
    label_only = flower_run(small_config(sampler="fedgs", rounds=2))[0]
    assert not np.allclose(strategy.sampler.distances, label_only.sampler.distances)


@needs_flwr
def test_a_registered_user_sampler_drives_the_strategy(task_identity, one_torch_thread):
    from fedgs_lite.samplers import register_sampler, unregister_sampler

    class LowestIds:
        name = "lowest"

        def __init__(self, distances):
            self.k = distances.shape[0]

        def select(self, available, m, round_idx, rng):
            return np.flatnonzero(available)[:m]

    register_sampler("lowest_ids", lambda context: LowestIds(context.require("distances", "lowest_ids")))
    try:
        config = small_config(sampler="lowest_ids", rounds=2)
        kit_history = run_experiment(config, progress=False)
        _, _, history = flower_run(config)
    finally:
        unregister_sampler("lowest_ids")
    assert history.selected == kit_history.selected


# --------------------------------------------------------------------------- the real simulation engine

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_superlink(env: dict, home: Path, port: str, control_port: str) -> subprocess.Popen:
    """The SuperLink `flwr run ... local` would start (flwr/cli/local_superlink.py), started here so the
    test owns its pid and waits for it without the CLI's fixed 15 s start-up limit (a loaded CPU)."""
    (home / "local-superlink").mkdir(parents=True)
    command = [shutil.which("flower-superlink", path=env["PATH"]), "--insecure", "--simulation",
               "--isolation", "subprocess", "--control-api-address", f"127.0.0.1:{control_port}",
               "--host", "127.0.0.1", "--port", port,
               "--database", str(home / "local-superlink" / "state.db")]
    with open(home / "local-superlink" / "superlink.log", "wb") as log:  # the child keeps its own handle
        proc = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as reply:
                if reply.status == 200:
                    return proc
        except OSError:
            time.sleep(0.5)
    proc.kill()
    raise AssertionError(f"no SuperLink:\n{(home / 'local-superlink' / 'superlink.log').read_text()}")


@needs_flwr
@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc").is_dir(), reason="the process check reads /proc (Linux)")
def test_flwr_run_on_the_example_app_matches_run_experiment(tmp_path):
    """`flwr run examples/flower local` offline: 4 nodes, 2 rounds, selections equal run_experiment's.
    The run leaves only the SuperLink (and its SuperExec) behind, no simulation or Ray process, and
    stopping the SuperLink leaves nothing."""
    marker = new_marker("flower")
    out, home = tmp_path / "out", tmp_path / "flwr_home"
    port, control_port = str(_free_port()), str(_free_port())
    ray_tmp = tempfile.mkdtemp(prefix="ray", dir="/tmp")  # short: Ray's socket paths must stay < 108 chars
    # Flower's CLI and the SuperLink start further Flower executables by name: put this Python's first.
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    env = {**os.environ, "PATH": path, "FLWR_HOME": str(home), "FLWR_TELEMETRY_ENABLED": "0",
           "FLWR_DISABLE_UPDATE_CHECK": "1", "RAY_TMPDIR": ray_tmp, marker: "1",
           "FLWR_LOCAL_SUPERLINK_HTTP_API_PORT": port, "FLWR_LOCAL_CONTROL_API_PORT": control_port}
    run_config = (f"num-nodes=4 clients-per-round=2 rounds=2 sampler='fedgs' mode='YMF-0.9' seed=5 "
                  f"out-dir='{out}'")
    command = [shutil.which("flwr", path=path), "run", str(EXAMPLE), "local", "--stream",
               "--run-config", run_config, "--federation-config", "num-supernodes=4"]
    superlink = _start_superlink(env, home, port, control_port)
    try:
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=540, cwd=tmp_path)
        said = (done.stdout + done.stderr)[-4000:]
        assert (out / "history.json").exists(), f"no history.json; flwr run said:\n{said}"

        def run_leftovers() -> dict[int, str]:  # anything but the SuperLink and its SuperExec
            return {p: c for p, c in processes_with(marker).items()
                    if "flower-superlink" not in c and "flower-superexec" not in c}

        wait_until(lambda: not run_leftovers(), 60)  # the simulation shuts Ray down after its last reply
        assert run_leftovers() == {}
    finally:
        superlink.terminate()
        try:
            superlink.wait(timeout=30)
        except subprocess.TimeoutExpired:
            superlink.kill()
        wait_until(lambda: not processes_with(marker), 30)  # its SuperExec exits after it
        strays = processes_with(marker)
        for pid in strays:  # don't leave them running even when the test fails
            os.kill(pid, signal.SIGKILL)
        shutil.rmtree(ray_tmp, ignore_errors=True)
    assert strays == {}, f"still running after the SuperLink stopped: {strays}"
    history = History.from_json((out / "history.json").read_text())
    config = ExperimentConfig.from_dict(json.loads((out / "config.json").read_text()))
    assert (config.num_clients, config.rounds, config.clients_per_round, config.seed) == (4, 2, 2, 5)
    kit_history = run_experiment(config, progress=False)
    assert history.selected == kit_history.selected and history.available == kit_history.available
    assert history.rounds_done == 2 and history.finished
    assert history.test_accuracy[0] == kit_history.test_accuracy[0]
