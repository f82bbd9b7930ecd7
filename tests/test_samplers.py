import numpy as np
import pytest

from fedgs_lite.samplers import (
    REGISTRY,
    SAMPLERS,
    FedGSSampler,
    MDSampler,
    PowerOfChoiceSampler,
    Sampler,
    SamplerContext,
    UniformSampler,
    available_ids,
    config_options,
    default_aggregation,
    fresh_sampler,
    make_sampler,
    register_sampler,
    unregister_sampler,
)

N = 12
SIZES = np.arange(1, N + 1) * 10.0
LOSSES = np.random.default_rng(7).random(N)


def _distances(n: int = N, seed: int = 3) -> np.ndarray:
    pts = np.random.default_rng(seed).random((n, 2))
    d = np.linalg.norm(pts[:, None] - pts[None], axis=-1)
    return d / d.max()


def loss_fn(ids):
    return LOSSES[np.asarray(ids)]


def build(name: str) -> Sampler:
    return make_sampler(name, sizes=SIZES, distances=_distances(), loss_fn=loss_fn)


MASK = np.zeros(N, dtype=bool)
MASK[[0, 2, 3, 5, 8, 9, 11]] = True


@pytest.mark.parametrize("name", SAMPLERS)
@pytest.mark.parametrize("m", [1, 3, 7, 10])
def test_selection_contract(name, m):
    s = build(name)
    assert isinstance(s, Sampler) and s.name == name
    rng = np.random.default_rng(0)
    for t in range(5):
        ids = s.select(MASK, m, t, rng)
        assert ids.dtype == np.int64
        assert MASK[ids].all(), "only available clients may be selected"
        if name in ("md", "fedprox"):
            assert ids.size == m  # with replacement, always m draws
        else:
            assert ids.size == min(m, MASK.sum())
            assert np.unique(ids).size == ids.size


@pytest.mark.parametrize("name", SAMPLERS)
def test_reproducible_for_a_seed_and_fresh_copies(name):
    s = build(name)
    runs = []
    for _ in range(2):
        sampler, rng = fresh_sampler(s), np.random.default_rng(42)
        runs.append([sampler.select(MASK, 3, t, rng).tolist() for t in range(20)])
    assert runs[0] == runs[1]
    if name in ("uniform", "md"):  # a different seed gives a different sequence
        rng = np.random.default_rng(43)
        other = fresh_sampler(s)
        assert [other.select(MASK, 3, t, rng).tolist() for t in range(20)] != runs[0]


@pytest.mark.parametrize("name", SAMPLERS)
def test_mask_and_id_inputs_agree(name):
    a = build(name).select(MASK, 4, 0, np.random.default_rng(1))
    b = build(name).select(np.flatnonzero(MASK), 4, 0, np.random.default_rng(1))
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("name", SAMPLERS)
def test_bad_input_is_rejected(name):
    s, rng = build(name), np.random.default_rng(0)
    with pytest.raises(ValueError, match="no client is available"):
        s.select(np.zeros(N, dtype=bool), 3, 0, rng)
    with pytest.raises(ValueError, match="no client is available"):
        s.select(np.array([], dtype=np.int64), 3, 0, rng)
    with pytest.raises(ValueError, match="m .* >= 1"):
        s.select(MASK, 0, 0, rng)
    with pytest.raises(ValueError, match=">= 0"):
        s.select(np.array([-1, 2]), 2, 0, rng)
    with pytest.raises(ValueError, match="duplicates"):
        s.select(np.array([2, 2]), 1, 0, rng)
    if name != "uniform":  # uniform does not know N; the others know it from sizes/distances
        with pytest.raises(ValueError, match="out of range"):
            s.select(np.array([1, N]), 2, 0, rng)
        with pytest.raises(ValueError, match="length"):
            s.select(np.ones(N + 1, dtype=bool), 2, 0, rng)


def test_available_ids_normalises():
    np.testing.assert_array_equal(available_ids(np.array([5, 1, 3])), [1, 3, 5])
    np.testing.assert_array_equal(available_ids(MASK), np.flatnonzero(MASK))
    with pytest.raises(ValueError, match="integers"):
        available_ids(np.array([0.5, 1.0]))


def test_m_larger_than_available_selects_all():
    only = np.array([4, 7])
    rng = np.random.default_rng(0)
    for name in ("uniform", "poc", "fedgs"):
        np.testing.assert_array_equal(build(name).select(only, 5, 0, rng), only)
    md = build("md").select(only, 5, 0, rng)
    assert md.size == 5 and set(md.tolist()) <= {4, 7}


def test_md_frequencies_proportional_to_size_among_available():
    sizes = np.array([1.0, 2.0, 3.0, 4.0, 100.0])
    s = MDSampler(sizes)
    avail = np.array([True, True, True, True, False])  # the big client is never available
    rng = np.random.default_rng(2024)
    draws = np.concatenate([s.select(avail, 5, t, rng) for t in range(4000)])
    n = draws.size
    freq = np.bincount(draws, minlength=5) / n
    p = np.array([1, 2, 3, 4, 0]) / 10
    # binomial standard error sqrt(p(1-p)/n) ~ 0.0035 at n = 20000; allow 4 of them
    tol = 4 * np.sqrt(p * (1 - p) / n)
    assert freq[4] == 0
    np.testing.assert_array_less(np.abs(freq - p), tol + 1e-12)


def test_md_with_only_empty_clients_available_falls_back_to_uniform():
    s = MDSampler(np.array([0.0, 0.0, 5.0]))
    ids = s.select(np.array([0, 1]), 50, 0, np.random.default_rng(0))
    assert set(ids.tolist()) == {0, 1}


def test_poc_picks_largest_losses():
    s = PowerOfChoiceSampler(loss_fn)
    ids = s.select(MASK, 3, 0, np.random.default_rng(0))
    avail = np.flatnonzero(MASK)
    expected = np.sort(avail[np.argsort(-LOSSES[avail])[:3]])
    np.testing.assert_array_equal(ids, expected)


def test_poc_breaks_ties_at_random():
    s = PowerOfChoiceSampler(lambda ids: np.ones(len(ids)))
    rng = np.random.default_rng(0)
    seen = {tuple(s.select(MASK, 2, t, rng)) for t in range(30)}
    assert len(seen) > 1


def test_poc_with_d_draws_candidates_by_size_then_takes_top_m():
    calls = []

    def recording(ids):
        calls.append(np.array(ids))
        return LOSSES[np.asarray(ids)]

    sizes = SIZES.copy()
    sizes[[0, 2]] = 0.0  # clients without data are never candidates
    s = PowerOfChoiceSampler(recording, sizes=sizes, d=4)
    rng = np.random.default_rng(5)
    for t in range(30):
        ids = s.select(MASK, 2, t, rng)
        cand = calls[-1]
        assert cand.size == 4 and np.unique(cand).size == 4
        assert MASK[cand].all() and not np.isin(cand, [0, 2]).any()
        np.testing.assert_array_equal(ids, np.sort(cand[np.argsort(-LOSSES[cand])[:2]]))
    with pytest.raises(ValueError, match="d >= m"):
        s.select(MASK, 5, 0, rng)


def test_poc_rejects_bad_loss_fn_output():
    s = PowerOfChoiceSampler(lambda ids: np.ones(2))
    with pytest.raises(ValueError, match="losses"):
        s.select(MASK, 1, 0, np.random.default_rng(0))


def test_fedgs_counts_and_result_exposure():
    s = FedGSSampler(_distances(), alpha=0.1)
    rng = np.random.default_rng(0)
    assert s.counts.sum() == 0 and s.last_result is None
    total = np.zeros(N, dtype=np.int64)
    for t in range(10):
        ids = s.select(MASK, 3, t, rng)
        total[ids] += 1
        res = s.last_result
        assert res.status == "heuristic" and res.method == "fast"
        np.testing.assert_array_equal(np.flatnonzero(MASK)[res.selected], ids)
    np.testing.assert_array_equal(s.counts, total)
    assert s.fresh().counts.sum() == 0 and s.counts.sum() == 30  # fresh copies do not share state


def test_fedgs_prefers_rarely_sampled_clients():
    d = np.ones((5, 5)) - np.eye(5)  # all equally far apart: only the counts matter
    s = FedGSSampler(d, alpha=0.1)
    s.counts[:] = [5, 5, 0, 0, 5]
    np.testing.assert_array_equal(s.select(np.ones(5, bool), 2, 0, np.random.default_rng(0)), [2, 3])


def test_fedgs_single_available_client_is_selected():
    s = FedGSSampler(_distances())
    ids = s.select(np.array([6]), 4, 0, np.random.default_rng(0))
    np.testing.assert_array_equal(ids, [6])
    assert s.counts[6] == 1 and s.last_result.status == "trivial"


def test_fedgs_exact_solver_matches_brute_force():
    rng = np.random.default_rng(0)
    exact = FedGSSampler(_distances(), solver="exact", time_limit=10.0)
    brute = FedGSSampler(_distances(), solver="brute")
    for t in range(3):
        a = exact.select(MASK, 3, t, rng)
        b = brute.select(MASK, 3, t, rng)
        assert exact.last_result.status == "optimal"
        assert exact.last_result.objective == pytest.approx(brute.last_result.objective)
        np.testing.assert_array_equal(a, b)  # random distances: no ties, one optimum
    np.testing.assert_array_equal(exact.counts, brute.counts)


def test_fedgs_rejects_bad_distances():
    with pytest.raises(ValueError, match="square"):
        FedGSSampler(np.ones((3, 4)))
    with pytest.raises(ValueError, match="non-negative"):
        FedGSSampler(-np.ones((3, 3)))
    with pytest.raises(ValueError, match="num_clients"):
        FedGSSampler(np.zeros((3, 3)), num_clients=4)


def test_make_sampler_errors():
    with pytest.raises(ValueError, match="unknown sampler 'bogus'.*uniform, md, poc, fedprox, fedgs"):
        make_sampler("bogus")
    with pytest.raises(ValueError, match="'fedgs' needs distances"):
        make_sampler("fedgs", sizes=SIZES)
    with pytest.raises(ValueError, match="'md' needs sizes"):
        make_sampler("md")
    with pytest.raises(ValueError, match="'poc' needs loss_fn"):
        make_sampler("poc", sizes=SIZES)
    with pytest.raises(ValueError, match="bad options for sampler 'uniform'"):
        make_sampler("uniform", alpha=0.3)


def test_make_sampler_passes_options():
    s = make_sampler("fedgs", distances=_distances(), alpha=0.5, solver="brute")
    assert isinstance(s, FedGSSampler) and s.alpha == 0.5 and s.solver == "brute"
    assert isinstance(make_sampler("MDSample", sizes=SIZES), MDSampler)
    assert make_sampler("poc", loss_fn=loss_fn, d=5).d == 5
    assert isinstance(make_sampler("uniform"), UniformSampler)


def test_fedgs_state_dict_round_trips_its_counts_as_plain_ints():
    s = FedGSSampler(_distances())
    rng = np.random.default_rng(0)
    for t in range(4):
        s.select(MASK, 3, t, rng)
    state = s.state_dict()
    assert state == {"counts": s.counts.tolist()} and all(type(c) is int for c in state["counts"])
    other = fresh_sampler(s)
    other.load_state_dict(state)
    np.testing.assert_array_equal(other.counts, s.counts)
    np.testing.assert_array_equal(other.select(MASK, 3, 4, np.random.default_rng(1)),
                                  s.select(MASK, 3, 4, np.random.default_rng(1)))


def test_the_context_builds_the_3dg_only_when_a_sampler_asks_and_only_once():
    calls = []

    def distances():
        calls.append(1)
        return _distances()

    ctx = SamplerContext(sizes=SIZES, loss_fn=loss_fn, distances_fn=distances)
    for name in ("uniform", "md", "poc"):
        make_sampler(name, ctx)
    assert calls == [] and ctx.num_clients == N
    s = make_sampler("fedgs", ctx, alpha=0.5)
    make_sampler("fedgs", ctx)
    assert calls == [1] and s.num_clients == N and s.alpha == 0.5
    with pytest.raises(ValueError, match="'fedgs' needs distances"):
        make_sampler("fedgs", SamplerContext(sizes=SIZES))


def test_builtins_and_user_samplers_share_one_registry_shape():
    assert SAMPLERS == ("uniform", "md", "poc", "fedprox", "fedgs")
    assert all(REGISTRY.get(n).builtin for n in SAMPLERS)
    assert default_aggregation("md") == "uniform" and default_aggregation("fedgs") == "size"
    # the authors average Power-of-Choice's and FedProx's (MD sampling's) models uniformly
    assert default_aggregation("poc") == default_aggregation("fedprox") == "uniform"
    settings = {"fedgs_alpha": 0.7, "solver": "brute", "poc_d": 4, "seed": 1}
    assert config_options("fedgs", settings) == {"alpha": 0.7, "solver": "brute"}
    assert config_options("PowerOfChoice", settings) == {"d": 4}  # aliases find the entry
    assert config_options("uniform", settings) == {}

    def every_second(context, *, alpha=None, **_):
        picked = UniformSampler(name="every_second")
        picked.alpha = alpha
        return picked

    register_sampler("every-second", every_second, aggregation="uniform",
                     from_config={"alpha": "fedgs_alpha"})
    try:
        assert "every_second" in REGISTRY and default_aggregation("every_second") == "uniform"
        s = make_sampler("every_second", SamplerContext(), **config_options("every_second", settings))
        assert s.name == "every_second" and s.alpha == 0.7
        with pytest.raises(ValueError, match="already exists"):
            register_sampler("every_second", every_second)
        with pytest.raises(ValueError, match="aggregation"):
            register_sampler("other", every_second, aggregation="median")
    finally:
        unregister_sampler("every_second")
    assert "every_second" not in REGISTRY
    with pytest.raises(ValueError, match="built-in"):
        register_sampler("fedgs", every_second)
    with pytest.raises(ValueError, match="cannot be removed"):
        unregister_sampler("md")
