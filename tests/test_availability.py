import math

import numpy as np
import pytest

from fedgs_lite.availability import (
    FEDGS_DEFAULT_BETAS,
    FLGO_DEFAULT_BETAS,
    MODES,
    available_modes,
    canonical_spec,
    describe_mode,
    make_availability,
    parse_mode,
    register_mode,
    unregister_mode,
)
from fedgs_lite.degenerate import degenerate_reason
from fedgs_lite.masks import Availability, ClientStats

# Four clients, four classes. Sizes chosen so that sqrt(size / 160) is 1/4, 1/2, 3/4, 1.
#   client 0: 10 samples, labels {0}        (min label 0, 1 label)
#   client 1: 40 samples, labels {1, 2}     (min label 1, 2 labels)
#   client 2: 90 samples, labels {0, 1, 2}  (min label 0, 3 labels)
#   client 3: 160 samples, labels {3}       (min label 3, 1 label)
SIZES = np.array([10, 40, 90, 160])
HIST = np.array([
    [10, 0, 0, 0],
    [0, 20, 20, 0],
    [30, 30, 30, 0],
    [0, 0, 0, 160],
])


@pytest.fixture
def stats() -> ClientStats:
    return ClientStats(SIZES, HIST)


def probs_of(spec, stats, t=0, seed=0):
    return make_availability(spec, stats, np.random.default_rng(seed)).probs(t)


# ------------------------------------------------------------------------------------------- rules

def test_ideal_is_all_ones(stats):
    np.testing.assert_array_equal(probs_of("IDL", stats), [1, 1, 1, 1])


def test_more_data_first_by_hand(stats):
    # p_i = sqrt(|D_i|) / sqrt(160)
    np.testing.assert_allclose(probs_of("MDF-0.5", stats), [0.25, 0.5, 0.75, 1.0])
    # beta = 1: proportional to size
    np.testing.assert_allclose(probs_of("MDF-1", stats), [10 / 160, 40 / 160, 90 / 160, 1.0])


def test_less_data_first_by_hand(stats):
    # p_i = |D_i|^-0.5 / 10^-0.5 = sqrt(10 / |D_i|)
    np.testing.assert_allclose(probs_of("LDF-0.5", stats), [1.0, 0.5, 1 / 3, 0.25])


def test_y_max_first_by_hand(stats):
    # min labels 0, 1, 0, 3 over L - 1 = 3; p = 0.3 * x + 0.7
    np.testing.assert_allclose(probs_of("YMF-0.3", stats), [0.7, 0.8, 0.7, 1.0])


def test_fewer_y_first_by_hand(stats):
    # label counts 1, 2, 3, 1 over L = 4; p = 0.4 * c / 4 + 0.6
    np.testing.assert_allclose(probs_of("YFF-0.4", stats), [0.7, 0.8, 0.9, 0.7])


def test_homogeneous_by_hand(stats):
    np.testing.assert_allclose(probs_of("HOMO-0.25", stats), [0.75] * 4)
    np.testing.assert_allclose(probs_of("HOMO", stats), [0.2] * 4)  # authors' default 0.8


def test_lognormal_by_hand(stats):
    beta, seed = 0.3, 7
    sigma = -math.log(1 - beta)
    z = np.random.default_rng(seed).standard_normal(4)  # LogNormal(0, s) = exp(s * N(0, 1))
    t_k = np.exp(sigma * z)
    p = probs_of("LN-0.3", stats, seed=seed)
    np.testing.assert_allclose(p, t_k / t_k.max())
    assert p.max() == 1.0
    # static: same at every round
    a = make_availability("LN-0.3", stats, np.random.default_rng(seed))
    np.testing.assert_array_equal(a.probs(0), a.probs(57))
    # beta = 0 is the ideal mode
    np.testing.assert_allclose(probs_of("LN-0", stats), [1, 1, 1, 1])


def test_lognormal_drawn_once_from_construction_rng(stats):
    p1 = probs_of("LN-0.5", stats, seed=1)
    p2 = probs_of("LN-0.5", stats, seed=2)
    assert not np.allclose(p1, p2)
    np.testing.assert_array_equal(p1, probs_of("LN-0.5", stats, seed=1))


def test_sin_lognormal_by_hand(stats):
    seed = 3
    base = probs_of("LN-0.2", stats, seed=seed)
    a = make_availability("SLN-0.2", stats, np.random.default_rng(seed))
    for t in (0, 6, 11, 23, 24, 30, 24 * 5 + 17):
        k = t % 24
        factor = 0.4 * math.sin(2 * math.pi * k / 23) + 0.5  # authors' linspace(0, 2pi, 24) table
        np.testing.assert_allclose(a.probs(t), factor * base, err_msg=f"t={t}")
    np.testing.assert_allclose(a.probs(0), 0.5 * base)
    np.testing.assert_allclose(a.probs(24), a.probs(0))


def test_y_cycle_by_hand(stats):
    # L = 4 -> T = 40; label (t mod 40) // 10 is active; its holders get p = 1, others 0.5
    a = make_availability("YC-0.5", stats, np.random.default_rng(0))
    expected = {
        0: [1.0, 0.5, 1.0, 0.5],    # label 0: clients 0, 2
        9: [1.0, 0.5, 1.0, 0.5],
        10: [0.5, 1.0, 1.0, 0.5],   # label 1: clients 1, 2
        25: [0.5, 1.0, 1.0, 0.5],   # label 2: clients 1, 2
        30: [0.5, 0.5, 0.5, 1.0],   # label 3: client 3
        39: [0.5, 0.5, 0.5, 1.0],
        40: [1.0, 0.5, 1.0, 0.5],   # wraps around
    }
    for t, p in expected.items():
        np.testing.assert_allclose(a.probs(t), p, err_msg=f"t={t}")
    # beta = 0.2 scales the bonus: 0.8 + 0.2 * indicator
    np.testing.assert_allclose(probs_of("YC-0.2", stats, t=30), [0.8, 0.8, 0.8, 1.0])


def test_y_cycle_matches_authors_float_rule(stats):
    # authors: r = (1 + t mod T) / T, bonus if l/L < r <= (l+1)/L for a held label l
    a = make_availability("YC-0.5", stats, np.random.default_rng(0))
    L, T = 4, 40
    for t in range(0, 2 * T, 3):
        r = (1 + t % T) / T
        ind = [any(lab / L < r <= (lab + 1) / L + 1e-12 for lab in np.flatnonzero(row)) for row in HIST]
        np.testing.assert_allclose(a.probs(t), 0.5 * np.array(ind) + 0.5, err_msg=f"t={t}")






def test_mode_specific_data_errors():
    no_data = ClientStats(np.array([0, 5]), np.array([[0, 0], [2, 3]]))
    with pytest.raises(ValueError, match="LDF"):
        make_availability("LDF-0.5", no_data, np.random.default_rng(0))
    with pytest.raises(ValueError, match="YMF"):
        make_availability("YMF-0.5", no_data, np.random.default_rng(0))


# ----------------------------------------------------------------------------------- drawing



















# ----------------------------------------------------------------------------------- parsing

def test_parse_defaults_and_case():
    assert parse_mode("LN") == ("LN", 0.1)
    assert parse_mode("ln-0.3") == ("LN", 0.3)
    assert parse_mode(" Homo ") == ("HOMO", 0.8)
    assert parse_mode("IDL") == ("IDL", None)
    assert parse_mode("MDF-1e-4") == ("MDF", 1e-4)
    assert parse_mode("MDF") == ("MDF", 1e-5)


def test_parse_author_aliases():
    assert parse_mode("LogNormal") == ("LN", 0.1)
    assert parse_mode("MoreDataFirst-0.5") == ("MDF", 0.5)
    assert parse_mode("sinlognormal") == ("SLN", 0.1)
    assert parse_mode("YCycle") == ("YC", 0.5)
    assert parse_mode("ideal") == ("IDL", None)
    assert parse_mode("Homogeneous-0.5") == ("HOMO", 0.5)


def test_default_beta_sets():
    assert set(FEDGS_DEFAULT_BETAS) == set(MODES) == set(FLGO_DEFAULT_BETAS)
    for key in MODES:
        assert parse_mode(key)[1] == FEDGS_DEFAULT_BETAS[key]
    assert FLGO_DEFAULT_BETAS["HOMO"] == 0.2 and FEDGS_DEFAULT_BETAS["HOMO"] == 0.8


def test_canonical_spec_round_trips(stats):
    for spec in ("ln", "LN-0.10", "mdf-1e-4", "MDF", "IDL", "HOMO-0.9", "LogNormal-0.25"):
        a = make_availability(spec, stats, np.random.default_rng(0))
        assert parse_mode(a.spec) == (a.key, a.beta)
        assert a.spec == canonical_spec(a.key, a.beta)
    assert make_availability("ln-0.10", stats, np.random.default_rng(0)).spec == "LN-0.1"
    assert make_availability("IDL", stats, np.random.default_rng(0)).spec == "IDL"


@pytest.mark.parametrize("spec, match", [
    ("", "empty"),
    ("XYZ", "unknown"),
    ("LN-", "malformed"),
    ("LN-abc", "malformed"),
    ("LN-0.1-2", "malformed"),
    ("LN-nan", "malformed"),
    ("LN-inf", "malformed"),
    ("LN-1", "0.0 <= beta < 1"),
    ("SLN-1.5", "0.0 <= beta < 1"),
    ("LN--0.1", "0.0 <= beta < 1"),
    ("YMF-1.5", "0.0 <= beta <= 1"),
    ("YFF-2", "0.0 <= beta <= 1"),
    ("HOMO-1.01", "0.0 <= beta < 1"),
    ("YC--0.5", "0.0 <= beta <= 1"),
    ("MDF--1", "0.0 <= beta"),
    ("LDF--0.5", "0.0 <= beta"),
    ("IDL-0.1", "takes no beta"),
    ("MDF-1e400", "MDF needs a finite number"),  # float("1e400") is inf
    ("LDF-1e999", "LDF needs a finite number"),
    ("HOMO-1", "0.0 <= beta < 1"),  # p = 1 - beta = 0: nobody is ever available
])
def test_bad_specs_raise_helpful_value_error(spec, match):
    with pytest.raises(ValueError, match=match) as err:
        parse_mode(spec)
    assert spec.strip() == "" or repr(spec) in str(err.value) or spec in str(err.value)


def test_unknown_mode_lists_allowed_keys():
    with pytest.raises(ValueError) as err:
        parse_mode("Gaussian-0.1")
    for key in MODES:
        assert key in str(err.value)


def test_non_string_spec_is_type_error():
    with pytest.raises(TypeError):
        parse_mode(0.1)


def test_describe_mode_covers_every_mode():
    texts = {key: describe_mode(key) for key in MODES}
    assert len(set(texts.values())) == len(MODES)
    assert "0.8" in texts["HOMO"] and "0.2" in texts["HOMO"]  # both default sets documented
    assert describe_mode("LogNormal-0.3") == texts["LN"]
    with pytest.raises(ValueError, match="unknown"):
        describe_mode("nope")


# ----------------------------------------------------------------------------------- registry

def test_register_mode_round_trip(stats):
    def every_other(s, beta, rng):
        n = s.num_clients
        return lambda t: np.where((np.arange(n) + t) % 2 == 0, beta, 1 - beta)

    register_mode("Alt", every_other, default_beta=0.9, doc="Alternating clients.")
    try:
        assert "ALT" in available_modes()
        assert parse_mode("alt") == ("ALT", 0.9)
        a = make_availability("ALT-0.75", stats, np.random.default_rng(0))
        assert isinstance(a, Availability) and a.spec == "ALT-0.75"
        np.testing.assert_allclose(a.probs(0), [0.75, 0.25, 0.75, 0.25])
        np.testing.assert_allclose(a.probs(1), [0.25, 0.75, 0.25, 0.75])
        r1, r2 = np.random.default_rng(1), np.random.default_rng(1)
        np.testing.assert_array_equal(a.trace(50, r1), np.stack([a.draw(t, r2) for t in range(50)], 1))
        assert describe_mode("alt").startswith("Alternating clients.")
        with pytest.raises(ValueError, match="already exists"):
            register_mode("ALT", every_other)
        register_mode("alt", lambda s, b, r: np.full(s.num_clients, 0.5), overwrite=True)
        np.testing.assert_allclose(make_availability("ALT", stats, np.random.default_rng(0)).probs(3), 0.5)
    finally:
        unregister_mode("ALT")
    assert "ALT" not in available_modes()
    with pytest.raises(ValueError, match="unknown"):
        parse_mode("ALT")


def test_register_mode_rejects_builtins_and_bad_keys():
    with pytest.raises(ValueError, match="already exists"):
        register_mode("LN", lambda s, b, r: np.ones(s.num_clients))
    with pytest.raises(ValueError, match="already exists"):
        register_mode("LogNormal", lambda s, b, r: np.ones(s.num_clients))
    with pytest.raises(ValueError, match="key"):
        register_mode("MY-MODE", lambda s, b, r: np.ones(s.num_clients))
    with pytest.raises(ValueError, match="built-in"):
        unregister_mode("LN")


def test_user_mode_with_bad_probabilities_is_rejected(stats):
    register_mode("BADP", lambda s, b, r: np.full(s.num_clients, 1.5))
    register_mode("BADN", lambda s, b, r: np.ones(s.num_clients + 1))
    try:
        with pytest.raises(ValueError, match=r"\[0, 1\]"):
            make_availability("BADP", stats, np.random.default_rng(0))
        with pytest.raises(ValueError, match="length N=4"):
            make_availability("BADN", stats, np.random.default_rng(0))
    finally:
        unregister_mode("BADP")
        unregister_mode("BADN")


def test_degenerate_reason_on_the_fixture_and_on_user_modes(stats):
    # the fixture's clients differ in size and labels: no built-in mode collapses on them
    for key in MODES:
        assert degenerate_reason(key, stats) is None, key
    equal = ClientStats(np.full(4, 50), np.eye(4) * 50)  # equal sizes, one label each
    assert "50 training samples" in degenerate_reason("MDF-1e-5", equal)
    assert "smallest label" not in (degenerate_reason("YMF", equal) or "")  # min labels 0..3 differ
    assert "1 of the 4 labels" in degenerate_reason("YFF-0.5", equal)
    register_mode("FLAT", lambda s, b, r: lambda t: np.full(s.num_clients, 0.5 + 0.1 * (t % 2)))
    register_mode("SPLIT", lambda s, b, r: lambda t: np.where(np.arange(s.num_clients) == t % 7, 0.2, 0.9))
    try:
        why = degenerate_reason("FLAT", stats)
        assert why.startswith("FLAT is degenerate on these 4 clients: its rule") and "changes with" in why
        assert degenerate_reason("SPLIT", stats, rounds=10) is None
        assert degenerate_reason("SPLIT", stats, rounds=1) is None  # round 0 already tells clients apart
    finally:
        unregister_mode("FLAT")
        unregister_mode("SPLIT")
    one = ClientStats(np.array([3]), np.ones((1, 2)))
    assert degenerate_reason("MDF-0.9", one) is None  # one client: nothing to favour
    with pytest.raises(ValueError, match="unknown"):
        degenerate_reason("XYZ", stats)


# ----------------------------------------------------------------------------------- summaries, plots









def test_a_large_size_exponent_gives_finite_probabilities_not_nan(stats):
    big = ClientStats(np.array([1000, 2000, 5000, 3000]), HIST)
    for spec, top in (("MDF-200", 2), ("LDF-200", 0)):
        p = probs_of(spec, big)  # 5000^200 overflows: the ratio is computed instead
        assert np.all(np.isfinite(p)) and p[top] == 1.0 and p.max() == 1.0
    np.testing.assert_allclose(probs_of("MDF-200", big), (big.sizes / 5000) ** 200)
    exact = SIZES.astype(float) ** 2 / 160.0 ** 2
    np.testing.assert_array_equal(probs_of("MDF-2", stats), exact)  # the usual values keep their bits


def test_a_mode_with_a_round_where_nobody_can_be_available_fails_when_built():
    no_label_3 = ClientStats(SIZES[:3], HIST[:3])  # nobody holds label 3: YC-1's rounds 30-39 are empty
    with pytest.raises(ValueError, match=r"YC-1 makes no client available in round 30 \(every p is 0"):
        make_availability("YC-1", no_label_3, np.random.default_rng(0))
    make_availability("YC-0.9", no_label_3, np.random.default_rng(0))  # 1 - beta > 0: fine


def test_homo_1_is_refused_when_the_config_is_built():
    from fedgs_lite.config import ExperimentConfig

    with pytest.raises(ValueError, match="bad availability mode 'HOMO-1'.*HOMO needs 0.0 <= beta < 1"):
        ExperimentConfig(mode="HOMO-1")
