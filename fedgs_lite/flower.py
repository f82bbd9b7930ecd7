"""FedGS, or any fedgs_lite sampler, as a Flower strategy (Message API): `FedGSStrategy`.

Optional: `pip install 'fedgs_lite[flower]'`. Each round the strategy
1. profiles nodes it has not seen (a `query.fedgs_profile` message: data size and label histogram; with
   graph_features "update"/"logit" also a round-0 `query.fedgs_features` message), gives them client
   ids (flower_roster.py: by partition id in simulation, which makes them the kit's client ids), and
   (re)builds the sampler through the kit's registry and, when `mode` is given, the emulated availability;
2. takes the connected nodes, intersected with that round's availability draw (simulation; mode=None
   in a deployment, where "available" means "connected"), lets the sampler choose M of them
   (Power-of-Choice first asks its candidates for their losses, `query.fedgs_loss`), and sends each
   chosen node one train message;
3. averages the replies with the kit's weights (`server.aggregation_weights`: data size or uniform,
   times how often the sampler picked a node), skipping nodes that failed or timed out (listed per
   round in `failed`), and records the round in a fedgs_lite History (`strategy.history()`), so the
   kit's tables and plots work on a Flower run.
With the same seed, mode and sampler, availability and selections equal `run_experiment`'s. The nodes
answer with fedgs_lite.flower_node's handlers (`add_fedgs_handlers`), re-exported here.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from logging import INFO, WARNING
from typing import Any

import numpy as np

from fedgs_lite import flower_kit as kit
from fedgs_lite import flower_node as node
from fedgs_lite.config import ExperimentConfig, LocalTraining
from fedgs_lite.flower_node import NodeData, add_fedgs_handlers, profile_record
from fedgs_lite.flower_roster import Roster, client_order, pooled_input_stats
from fedgs_lite.graph import EPSILON, SIGMA
from fedgs_lite.history import History

try:
    from flwr.app import ArrayRecord, ConfigRecord, Message, MessageType, MetricRecord, RecordDict
    from flwr.common.logger import log
    from flwr.serverapp import Grid
    from flwr.serverapp.strategy import Strategy
except ImportError as err:
    raise kit.missing_flower(err) from None

__all__ = ["FedGSStrategy", "NodeData", "add_fedgs_handlers", "central_evaluation", "kit_parts",
           "profile_record"]

kit_parts = kit.kit_parts  # a kit run's federation and initial model, for simulations that emulate one


class FedGSStrategy(Strategy):
    """Selects each round's nodes with a fedgs_lite sampler; see the module docstring.

    clients_per_round is M; sampler any name `make_sampler` knows (registered user samplers too);
    mode an availability spec to emulate (None: every connected node is available); alpha, solver and
    poc_d the samplers' options (ExperimentConfig's fedgs_alpha, solver, poc_d); local the kit's local
    training, sent to the nodes each round; min_available_nodes how many nodes to wait for (up to
    wait_timeout seconds) before the first profile.
    """

    def __init__(self, clients_per_round: int, *, sampler: str = "fedgs", mode: str | None = None,
                 seed: int = 0, alpha: float = 0.1, solver: str = "fast", graph_features: str = "label",
                 epsilon: float = EPSILON, sigma: float = SIGMA, poc_d: int | None = None,
                 aggregation: str = "auto", local: LocalTraining | None = None,
                 sampler_options: dict[str, Any] | None = None, min_available_nodes: int = 1,
                 wait_timeout: float = 600.0, name: str = "", extra_config: dict[str, Any] | None = None):
        kit.check_settings(sampler, mode, graph_features, aggregation, clients_per_round)
        self.m, self.sampler_name, self.mode, self.seed = int(clients_per_round), sampler, mode, int(seed)
        self.settings = {"fedgs_alpha": alpha, "solver": solver, "poc_d": poc_d}  # config field names
        self.graph_features, self.epsilon, self.sigma = graph_features, epsilon, sigma
        self.sampler_options = dict(sampler_options or {})
        self.aggregation = kit.aggregation_rule(sampler, aggregation)
        self.local = local or LocalTraining()
        self.min_available_nodes, self.wait_timeout, self.timeout = min_available_nodes, wait_timeout, 3600.0
        self.seeds = kit.run_seeds(self.seed)
        self.rng_avail = np.random.default_rng(self.seeds.availability_draw)
        self.rng_sampler = np.random.default_rng(self.seeds.sampler)
        self.roster = Roster()
        self.failed: list[list[int]] = []          # per round: chosen clients without a usable reply
        self.sampler = self.availability = None
        self._noise: tuple[float, float] | None = None
        self._grid: Grid | None = None
        self._arrays = self._initial = None
        self._round: dict[str, Any] = {}
        config = {**(extra_config or {}), "runtime": "flower", "sampler": sampler, "mode": mode,
                  "seed": self.seed, **self.settings, "graph_features": graph_features, "epsilon": epsilon,
                  "sigma": sigma, "clients_per_round": self.m, "aggregation": aggregation, "name": name,
                  **vars(self.local)}
        self._history = History(config=config, num_clients=0)

    @classmethod
    def from_config(cls, config: ExperimentConfig, **overrides: Any) -> FedGSStrategy:
        """The strategy for an ExperimentConfig (sampler, mode, seed, M, local training, ...), so a
        simulated Flower run reproduces run_experiment(config)'s availability and selections."""
        kw = dict(sampler=config.sampler, mode=config.mode, seed=config.seed, alpha=config.fedgs_alpha,
                  solver=config.solver, graph_features=config.graph_features, epsilon=config.epsilon,
                  sigma=config.sigma, poc_d=config.poc_d, aggregation=config.aggregation,
                  local=config.local_training(), min_available_nodes=config.num_clients, name=config.name,
                  extra_config=config.to_dict())
        return cls(config.m, **{**kw, **overrides})

    # ------------------------------------------------------------------ Flower's hooks
    def start(self, grid: Grid, initial_arrays: ArrayRecord, num_rounds: int = 3, timeout: float = 3600.0,
              train_config: ConfigRecord | None = None, evaluate_config: ConfigRecord | None = None,
              evaluate_fn: Callable[[int, ArrayRecord], MetricRecord | None] | None = None):
        """Flower's round loop, recording central evaluations ("loss", "accuracy") into the History."""
        self.timeout, clock = timeout, time.perf_counter()

        def recording(server_round: int, arrays: ArrayRecord) -> MetricRecord | None:
            result = evaluate_fn(server_round, arrays)
            if result is not None and "loss" in result and "accuracy" in result:
                self._history.record_eval(server_round, result["loss"], result["accuracy"])
            return result

        try:
            return super().start(grid, initial_arrays, num_rounds, timeout, train_config, evaluate_config,
                                 recording if evaluate_fn is not None else None)
        finally:
            h = self._history
            h.num_clients, h.wall_time = len(self.roster), time.perf_counter() - clock
            h.finished = h.rounds_done == num_rounds

    def configure_train(self, server_round: int, arrays: ArrayRecord, config: ConfigRecord,
                        grid: Grid) -> Iterable[Message]:
        t, began = server_round - 1, time.perf_counter()
        self._grid, self._arrays = grid, arrays
        if self._initial is None:
            self._initial = arrays
            self._wait_for_nodes(grid)
        connected = {int(n) for n in grid.get_node_ids()}
        new = self.roster.unknown(connected)
        if new:
            self._profile(new)
        if not len(self.roster):
            raise RuntimeError("no node answered the fedgs_lite profile query; register the handlers on the "
                               "ClientApp with fedgs_lite.flower.add_fedgs_handlers")
        available = self._available(t, connected)
        selected = np.zeros(0, dtype=np.int64)
        if available.any():
            selected = np.asarray(self.sampler.select(available, self.m, t, self.rng_sampler), dtype=np.int64)
        else:
            log(WARNING, "round %d: no connected node is available; nobody trains", server_round)
        clients, mult = np.unique(selected, return_counts=True)  # MD may repeat a client
        self._round = dict(t=t, available=available, selected=selected, clients=clients, mult=mult,
                           began=began)

        def content(c: int) -> RecordDict:
            return RecordDict({node.ARRAYS: arrays, node.CONFIG: ConfigRecord(
                {**config, **self._settings(t, c), "server-round": server_round, "round-index": t})})

        return [self._message(MessageType.TRAIN, self.roster.node_ids[c], content(c), server_round)
                for c in clients.tolist()]

    def aggregate_train(self, server_round: int,
                        replies: Iterable[Message]) -> tuple[ArrayRecord | None, MetricRecord | None]:
        r = self._round
        by_node, keys = self._valid(replies, node.ARRAYS), set(self._arrays.keys())
        reply_of = {c: by_node.get(self.roster.node_ids[c]) for c in r["clients"].tolist()}
        ok = np.array([v is not None and set(v[node.ARRAYS].keys()) == keys for v in reply_of.values()], bool)
        clients, failed = r["clients"][ok], r["clients"][~ok].tolist()
        weights = kit.aggregation_weights(self.aggregation, self.roster.sizes, clients, r["mult"][ok])
        replied = [reply_of[c] for c in clients.tolist()]
        losses = [float(next(iter(c.metric_records.values()), {}).get("train-loss", np.nan)) for c in replied]
        if failed:
            log(WARNING, "round %d: no usable reply from clients %s", server_round, failed)
        if hasattr(self.sampler, "update"):
            self.sampler.update(r["selected"], r["t"])
        loss = float(np.dot(weights, losses) / np.sum(weights)) if replied else float("nan")
        self._history.record_round(r["available"], r["selected"], loss, self.local.lr_at(r["t"]),
                                   time.perf_counter() - r["began"])
        self.failed.append(failed)
        if not replied:
            return None, None
        merged = kit.aggregate_params([c[node.ARRAYS].to_torch_state_dict() for c in replied], weights)
        return (ArrayRecord(torch_state_dict=merged),
                MetricRecord({"train-loss": loss, "trained": len(replied), "failed": len(failed)}))

    def configure_evaluate(self, server_round: int, arrays: ArrayRecord, config: ConfigRecord,
                           grid: Grid) -> Iterable[Message]:
        return []  # evaluation is central (evaluate_fn), as in the kit

    def aggregate_evaluate(self, server_round: int, replies: Iterable[Message]) -> MetricRecord | None:
        return None

    def summary(self) -> None:
        log(INFO, "\t├──> fedgs_lite sampler %r, M=%d, mode %s, seed %d, 3DG features %s", self.sampler_name,
            self.m, self.mode or "none (connected nodes)", self.seed, self.graph_features)
        log(INFO, "\t└──> aggregation %s, local training %s", self.aggregation, self.local)

    def history(self) -> History:
        """The run so far as a fedgs_lite History (client ids index `node_ids`)."""
        self._history.num_clients = len(self.roster)
        return self._history

    # ------------------------------------------------------------------ nodes and messages
    @staticmethod
    def _message(message_type: str, node_id: int, content: RecordDict, server_round: int = 0) -> Message:
        return Message(content, dst_node_id=int(node_id), message_type=message_type,
                       group_id=str(server_round))

    def _valid(self, replies: Iterable[Message], record: str) -> dict[int, RecordDict]:
        """Replies without an error that carry `record`, by sender node id."""
        out = {}
        for msg in replies:
            if msg.has_error():
                log(WARNING, "node %d replied with an error: %s", msg.metadata.src_node_id, msg.error.reason)
            elif record in msg.content:
                out[int(msg.metadata.src_node_id)] = msg.content
        return out

    def _ask(self, message_type: str, nodes: list[int], content: Callable[[int], RecordDict],
             record: str) -> dict[int, RecordDict]:
        messages = [self._message(message_type, n, content(n)) for n in nodes]
        return self._valid(self._grid.send_and_receive(messages, timeout=self.timeout), record)

    def _wait_for_nodes(self, grid: Grid) -> None:
        # The ServerApp starts before simulated nodes register (Flower #4247): wait as FedAvg does.
        deadline = time.monotonic() + self.wait_timeout
        while len(list(grid.get_node_ids())) < self.min_available_nodes and time.monotonic() < deadline:
            log(INFO, "waiting for nodes: %d connected of %d", len(list(grid.get_node_ids())),
                self.min_available_nodes)
            time.sleep(1.0)

    def _settings(self, t: int, client: int) -> dict[str, Any]:
        return {**node.settings_record(self.local), "seed": kit.node_seed(self.seeds, t, client)}

    def _profile(self, nodes: list[int]) -> None:
        """Profile new nodes, give them the next client ids and rebuild the sampler (and availability).
        A node that does not answer stays unknown and is asked again next round."""
        replies = self._ask(node.PROFILE, nodes, lambda n: RecordDict(), node.METRICS)
        profiles = {n: c[node.METRICS] for n, c in replies.items()}
        order, features = client_order(profiles), None
        if order and self.sampler_name == "fedgs" and self.graph_features != "label":
            features = self._round0_features(order, profiles)
            order = [n for n in order if n in features]
        if not order:
            return
        first = self.roster.add(order, profiles, features)
        log(INFO, "profiled %d new node(s); %d client(s) in all", len(order), len(self.roster))
        self._rebuild(first)

    def _round0_features(self, order: list[int], profiles: dict) -> dict[int, np.ndarray]:
        """The 3DG's update/logit features: each new node trains once from the initial model."""
        if self._noise is None:  # fixed at the first profile, so late joiners see the same noise
            self._noise = pooled_input_stats(profiles)
        client_of = {n: len(self.roster) + i for i, n in enumerate(order)}

        def content(node_id: int) -> RecordDict:
            return RecordDict({node.ARRAYS: self._initial, node.CONFIG: ConfigRecord({
                **self._settings(0, client_of[node_id]), "kind": self.graph_features,
                "noise-seed": kit.noise_seed(self.seeds), "noise-batch": self.local.batch_size,
                "noise-mean": self._noise[0], "noise-std": self._noise[1]})})

        replies = self._ask(node.FEATURES, order, content, node.ARRAYS)
        return {n: r[node.ARRAYS].to_numpy_ndarrays()[0] for n, r in replies.items()}

    def _rebuild(self, num_old: int) -> None:
        roster = self.roster
        new = kit.make_run_sampler(self.sampler_name, sizes=roster.sizes, features=roster.feature_matrix(),
                                   loss_fn=self._losses, settings=self.settings, epsilon=self.epsilon,
                                   sigma=self.sigma, options=self.sampler_options)
        if self.sampler is not None:
            kit.carry_sampler_state(self.sampler, new, num_old)
        self.sampler = new
        if self.mode is not None:
            self.availability = kit.emulated_availability(self.mode, roster.sizes, roster.histograms,
                                                          self.seeds)

    def _available(self, t: int, connected: set[int]) -> np.ndarray:
        """Round t's available clients: connected, and drawn available by the emulated mode (redrawn,
        as the kit redraws an empty round, while disconnected nodes leave nobody)."""
        online = self.roster.online(connected)
        if self.availability is None or not online.any():
            return online
        for _ in range(100):
            mask = np.asarray(self.availability.draw(t, self.rng_avail), dtype=bool) & online
            if mask.any():
                return mask
        return mask

    def _losses(self, clients: np.ndarray) -> np.ndarray:
        """Power-of-Choice's losses: each candidate evaluates the current global model on its data; a
        node that does not answer gets -inf, so it is chosen last."""
        nodes = [self.roster.node_ids[int(c)] for c in clients]
        replies = self._ask(node.LOSS, nodes, lambda n: RecordDict({node.ARRAYS: self._arrays}), node.METRICS)
        return np.array([replies[n][node.METRICS]["loss"] if n in replies else -np.inf for n in nodes], float)


def central_evaluation(model, x_test: np.ndarray,
                       y_test: np.ndarray) -> Callable[[int, ArrayRecord], MetricRecord]:
    """An evaluate_fn for `strategy.start`: the kit's test loss and accuracy of the global model."""

    def evaluate_fn(server_round: int, arrays: ArrayRecord) -> MetricRecord:
        loss, accuracy = kit.evaluate_params(model, arrays.to_torch_state_dict(), x_test, y_test)
        return MetricRecord({"loss": loss, "accuracy": accuracy})

    return evaluate_fn
