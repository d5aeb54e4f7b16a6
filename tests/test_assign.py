"""Tests of abnb.assign: PlanOut-compatible operators, scripts, namespaces, layers, GrowthBook hashing."""

from __future__ import annotations

import hashlib
from collections import Counter

import numpy as np
import pytest
from scipy import stats

from abnb.assign import (
    LONG_SCALE,
    Layer,
    Namespace,
    bernoulli_trial,
    bucket_ranges,
    choose_variation,
    fnv1a32,
    growthbook_hash,
    hash_unit,
    in_namespace,
    in_range,
    parse_script,
    random_float,
    random_integer,
    salt_for,
    sample,
    uniform,
    uniform_choice,
    uniform_many,
    weighted_choice,
)
from abnb.errors import ParameterError, SpecError

N_BIG = 100_000

# ----------------------------------------------------------------------------------------------------------------------
# hashing
# ----------------------------------------------------------------------------------------------------------------------


def test_hash_unit_is_sha1_prefix() -> None:
    expected = int(hashlib.sha1(b"test_salt.foo.4").hexdigest()[:15], 16)
    assert hash_unit(4, "test_salt.foo") == expected == 1000889843983841927
    # several units are joined by "."
    assert hash_unit([1, "x"], "s") == int(hashlib.sha1(b"s.1.x").hexdigest()[:15], 16)
    assert hash_unit((1, "x"), "s") == hash_unit([1, "x"], "s")
    assert 0 <= hash_unit("anything", "salt") <= LONG_SCALE == 16**15 - 1


def test_uniform_and_uniform_many_agree() -> None:
    units = [4, "abc", (1, 2), 10**12]
    got = uniform_many(units, "salt")
    assert got.dtype == np.float64
    assert list(got) == [uniform(u, "salt") for u in units]
    assert uniform(4, "test_salt.foo") == 1000889843983841927 / LONG_SCALE
    assert uniform(4, "s", 10.0, 20.0) == pytest.approx(10.0 + 10.0 * uniform(4, "s"))
    assert uniform_many([], "s").shape == (0,)


def test_determinism() -> None:
    assert [uniform_choice(["a", "b", "c"], unit=u, salt="e.p") for u in range(50)] == [
        uniform_choice(["a", "b", "c"], unit=u, salt="e.p") for u in range(50)
    ]
    assert sample(list(range(10)), 4, unit=7, salt="e.s") == sample(list(range(10)), 4, unit=7, salt="e.s")


def test_uniformity_chi_square_100k() -> None:
    u = uniform_many(list(range(N_BIG)), "uniformity.check")
    counts = np.bincount(np.minimum((u * 20).astype(int), 19), minlength=20)
    assert stats.chisquare(counts).pvalue > 0.001
    arms = Counter(uniform_choice(["a", "b", "c"], unit=i, salt="exp.arm") for i in range(N_BIG))
    assert stats.chisquare([arms["a"], arms["b"], arms["c"]]).pvalue > 0.001


# ----------------------------------------------------------------------------------------------------------------------
# PlanOut published vectors
# ----------------------------------------------------------------------------------------------------------------------


def test_planout_assignment_vector() -> None:
    # facebookarchive/planout python/planout/test/test_assignment.py::test_set_get_uniform:
    # Assignment("test_salt"), unit 4, UniformChoice(["a", "b"]) for foo, bar, baz -> "b", "a", "a".
    got = [uniform_choice(["a", "b"], unit=4, salt=salt_for("test_salt", p)) for p in ("foo", "bar", "baz")]
    assert got == ["b", "a", "a"]
    # same file, test_custom_salt: UniformChoice(choices=range(8), unit=4) assigned to foo -> 7.
    assert uniform_choice(list(range(8)), unit=4, salt="test_salt.foo") == 7


def test_planout_experiment_vector() -> None:
    # facebookarchive/planout python/planout/test/test_experiment.py: experiment "test_name" (its salt), i=42,
    # foo = UniformChoice(["a", "b"], unit=i) -> "b".
    assert uniform_choice(["a", "b"], unit=42, salt=salt_for("test_name", "foo")) == "b"


def test_planout_interpreter_vector_through_script() -> None:
    # facebookarchive/planout python/planout/test/test_interpreter.py: salt "foo", userid 123454:
    # specific_goal = bernoulliTrial(0.8) -> 1, ratings_goal = group_size * ratings_per_user_goal -> 320.
    script = parse_script(
        """
        group_size = uniform_choice([1, 10], unit="userid")
        specific_goal = bernoulli_trial(p=0.8, unit="userid")
        if specific_goal:
            ratings_per_user_goal = uniform_choice([8, 16, 32, 64], unit="userid")
            ratings_goal = group_size * ratings_per_user_goal
        """
    )
    params = script.assign({"userid": 123454}, experiment_salt="foo")
    assert params["specific_goal"] == 1
    assert params["ratings_goal"] == 320
    assert script.parameters == ("group_size", "specific_goal", "ratings_per_user_goal", "ratings_goal")


# ----------------------------------------------------------------------------------------------------------------------
# operators
# ----------------------------------------------------------------------------------------------------------------------


def test_uniform_choice_definition_and_errors() -> None:
    for u in range(30):
        assert uniform_choice([1, 2, 3], unit=u, salt="e.x") == [1, 2, 3][hash_unit(u, "e.x") % 3]
    with pytest.raises(ParameterError):
        uniform_choice([], unit=1, salt="s")
    with pytest.raises(ParameterError):
        uniform_choice("ab", unit=1, salt="s")


def test_weighted_choice_definition_and_frequencies() -> None:
    weights = [0.8, 0.2]
    for u in range(200):
        stop = uniform(u, "e.w", 0.0, 1.0)
        expected = "Sign up" if stop <= 0.8 else "Join now"
        assert weighted_choice(["Sign up", "Join now"], weights, unit=u, salt="e.w") == expected
    n = 20_000
    counts = Counter(weighted_choice(["a", "b", "c"], [1, 2, 0], unit=i, salt="e.w3") for i in range(n))
    assert counts["c"] == 0
    assert stats.chisquare([counts["a"], counts["b"]], [n / 3, 2 * n / 3]).pvalue > 0.001
    # repeated choices add their weights (PlanOut test_random_ops.py::test_weighted_choice)
    rep = Counter(weighted_choice(["a", "b", "a"], [1, 2, 2], unit=i, salt="e.rep") for i in range(n))
    assert stats.chisquare([rep["a"], rep["b"]], [0.6 * n, 0.4 * n]).pvalue > 0.001
    with pytest.raises(ParameterError, match="weights"):
        weighted_choice(["a", "b"], [1.0], unit=1, salt="s")
    with pytest.raises(ParameterError):
        weighted_choice(["a", "b"], [0, 0], unit=1, salt="s")
    with pytest.raises(ParameterError):
        weighted_choice(["a", "b"], [-1, 2], unit=1, salt="s")


def test_bernoulli_trial_definition_rate_and_bounds() -> None:
    for u in range(100):
        assert bernoulli_trial(0.3, unit=u, salt="e.b") == int(uniform(u, "e.b") <= 0.3)
    draws = [bernoulli_trial(0.1, unit=i, salt="e.rate") for i in range(N_BIG)]
    assert stats.binomtest(sum(draws), N_BIG, 0.1).pvalue > 0.001
    assert all(bernoulli_trial(1.0, unit=i, salt="e.one") == 1 for i in range(500))
    with pytest.raises(ParameterError):
        bernoulli_trial(1.5, unit=1, salt="s")


def test_bernoulli_trial_is_monotone_in_p() -> None:
    ps = [0.01, 0.1, 0.25, 0.5, 0.9]
    for unit in range(20_000):
        draws = [bernoulli_trial(p, unit=unit, salt="rollout.on") for p in ps]
        assert draws == sorted(draws)  # once 1, stays 1 as p grows


def test_random_integer_and_float() -> None:
    for u in range(50):
        assert random_integer(3, 7, unit=u, salt="e.i") == 3 + hash_unit(u, "e.i") % 5
        assert 3 <= random_integer(3, 7, unit=u, salt="e.i") <= 7
        assert 1.5 <= random_float(1.5, 2.5, unit=u, salt="e.f") <= 2.5
    assert random_integer(4, 4, unit="x", salt="s") == 4
    counts = Counter(random_integer(0, 9, unit=i, salt="e.dig") for i in range(N_BIG))
    assert stats.chisquare([counts[k] for k in range(10)]).pvalue > 0.001
    with pytest.raises(ParameterError):
        random_integer(5, 4, unit=1, salt="s")
    with pytest.raises(ParameterError):
        random_integer(0.5, 4, unit=1, salt="s")  # type: ignore[arg-type]


def test_sample_fisher_yates_definition() -> None:
    choices = ["a", "b", "c", "d", "e"]
    for u in range(30):
        items = list(choices)
        for i in range(len(items) - 1, 0, -1):
            j = hash_unit([u, i], "e.s") % (i + 1)
            items[i], items[j] = items[j], items[i]
        assert sample(choices, 3, unit=u, salt="e.s") == items[:3]
        assert sorted(sample(choices, unit=u, salt="e.s")) == sorted(choices)
    assert sample(choices, 0, unit=1, salt="s") == []
    with pytest.raises(ParameterError):
        sample(choices, 6, unit=1, salt="s")
    # each position is uniform over the choices
    first = Counter(sample([1, 2, 3], 2, unit=i, salt="e.first")[0] for i in range(30_000))
    assert stats.chisquare([first[1], first[2], first[3]]).pvalue > 0.001


# ----------------------------------------------------------------------------------------------------------------------
# scripts
# ----------------------------------------------------------------------------------------------------------------------

BUTTON_SCRIPT = """
button_color = uniform_choice(["#3c539a", "#5f9647", "#b33316"], unit="cookieid")
button_text = weighted_choice(["Sign up", "Join now"], [0.8, 0.2], unit="cookieid")
if country == "US":
    p = bernoulli_trial(p=0.2, unit="userid")
else:
    p = bernoulli_trial(p=0.05, unit="userid")
"""


def test_script_matches_direct_operator_calls() -> None:
    script = parse_script(BUTTON_SCRIPT)
    assert script.parameters == ("button_color", "button_text", "p")
    for i, country in [(1, "US"), (2, "FR"), (3, "US"), (4, "DE")]:
        inputs = {"cookieid": f"c{i}", "userid": i, "country": country}
        got = script.assign(inputs, experiment_salt="signup")
        assert got["button_color"] == uniform_choice(
            ["#3c539a", "#5f9647", "#b33316"], unit=f"c{i}", salt="signup.button_color"
        )
        assert got["button_text"] == weighted_choice(
            ["Sign up", "Join now"], [0.8, 0.2], unit=f"c{i}", salt="signup.button_text"
        )
        p = 0.2 if country == "US" else 0.05
        assert got["p"] == bernoulli_trial(p, unit=i, salt="signup.p")


def test_script_units_salts_and_expressions() -> None:
    script = parse_script(
        """
        pair = random_integer(min=0, max=99, unit=["userid", "itemid"])
        custom = uniform_choice(["x", "y"], unit="userid", salt="shared")
        order = sample([1, 2, 3], draws=2, unit=userid)
        big = pair >= 50 and not (country in ["US", "CA"])
        label = "high" if pair > 10 else "low"
        """
    )
    got = script.assign({"userid": 9, "itemid": "i1", "country": "FR"}, experiment_salt="exp")
    assert got["pair"] == random_integer(0, 99, unit=[9, "i1"], salt="exp.pair")
    assert got["custom"] == uniform_choice(["x", "y"], unit=9, salt="exp.shared")
    assert got["order"] == sample([1, 2, 3], 2, unit=9, salt="exp.order")
    assert got["big"] == (got["pair"] >= 50)
    assert got["label"] == ("high" if got["pair"] > 10 else "low")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('x = __import__("os")', "line 1: unknown function"),
        ("x = a.b", "line 1: unsupported expression"),
        ("\nimport os", "line 2: unsupported statement"),
        ("x = uniform_choice([1, 2])", "needs unit="),
        ("x = (lambda: 1)()", "unknown function"),
        ("x = [i for i in y]", "unsupported expression"),
        ("x = 1\ny = 2 **", "line 2: syntax error"),
        ("x = 2 ** 3", r"only \+, -"),
        ('x = bernoulli_trial(unit="u")', "missing p"),
        ('x = bernoulli_trial(0.5, p=0.5, unit="u")', "repeated argument"),
        ("x, y = 1, 2", "exactly one plain name"),
        ("for i in x:\n    pass", "unsupported statement"),
    ],
)
def test_script_rejects_unsafe_or_malformed(text: str, message: str) -> None:
    with pytest.raises(SpecError, match=message):
        parse_script(text)


def test_script_runtime_errors_name_the_line() -> None:
    with pytest.raises(SpecError, match="line 2: unknown variable 'cookieid'"):
        parse_script('a = 1\nb = uniform_choice([1, 2], unit="cookieid")').assign({}, experiment_salt="e")
    with pytest.raises(SpecError, match=r"line 1: bernoulli_trial\(\): p must be"):
        parse_script('b = bernoulli_trial(p=2, unit="u")').assign({"u": 1}, experiment_salt="e")


# ----------------------------------------------------------------------------------------------------------------------
# namespaces and layers
# ----------------------------------------------------------------------------------------------------------------------


def test_namespace_planout_semantics() -> None:
    # facebookarchive/planout python/planout/test/test_namespace.py: an experiment given all 100 segments owns
    # every unit; after remove_experiment every unit gets the default.
    ns = Namespace("test_namespace", "i", 100, default="default")
    assert len(ns.add_experiment("test_name", 100)) == 100
    assert ns.experiment_for(1) == "test_name"
    ns.remove_experiment("test_name")
    assert ns.experiment_for(1) == "default"
    assert ns.available_segments == tuple(range(100))


def test_namespace_allocation_and_segments() -> None:
    ns = Namespace("homepage", "userid", 100)
    segs_a = ns.add_experiment("exp_a", 30)
    # allocation = PlanOut Sample over the free segments, unit = experiment name, salt "{namespace}.sampled_segments"
    assert list(segs_a) == sample(list(range(100)), 30, unit="exp_a", salt="homepage.sampled_segments")
    segs_b = ns.add_experiment("exp_b", 20)
    assert not set(segs_a) & set(segs_b)
    assert len(ns.available_segments) == 50
    assert ns.segment_of(42) == random_integer(0, 99, unit=42, salt="homepage.segment")
    counts = Counter(ns.experiment_for(u) for u in range(20_000))
    assert counts["exp_a"] + counts["exp_b"] + counts[None] == 20_000
    assert stats.binomtest(counts["exp_a"], 20_000, 0.3).pvalue > 0.001
    assert ns.assign({"userid": 42}) == ns.experiment_for(42)
    assert ns.experiment_salt("exp_a") == "homepage.exp_a"
    with pytest.raises(SpecError, match="only 50 are free"):
        ns.add_experiment("exp_c", 51)
    with pytest.raises(SpecError, match="already has"):
        ns.add_experiment("exp_a", 1)
    with pytest.raises(SpecError, match="primary unit"):
        ns.assign({"cookie": 1})


def test_layers_are_exclusive_within_and_independent_across() -> None:
    ui = Layer("ui", {"blue_button": (0, 500), "big_font": (500, 800)})
    ranking = Layer("ranking", [("new_ranker", 0, 400)])
    units = list(range(N_BIG))
    ui_exp = ui.experiments_for(units)
    rank_exp = ranking.experiments_for(units)
    # mutually exclusive within a layer: each unit has at most one experiment; shares follow the ranges
    counts = Counter(ui_exp)
    assert counts["blue_button"] + counts["big_font"] + counts[None] == N_BIG
    assert (
        stats.chisquare(
            [counts["blue_button"], counts["big_font"], counts[None]], [0.5 * N_BIG, 0.3 * N_BIG, 0.2 * N_BIG]
        ).pvalue
        > 0.001
    )
    # independent across layers: 2x2 cross-tab of (in blue_button) x (in new_ranker)
    a = np.array([e == "blue_button" for e in ui_exp])
    b = np.array([e == "new_ranker" for e in rank_exp])
    table = np.array([[np.sum(a & b), np.sum(a & ~b)], [np.sum(~a & b), np.sum(~a & ~b)]])
    assert stats.chi2_contingency(table).pvalue > 0.001
    assert ui.bucket_of(7) == hash_unit(7, "layer.ui") % 1000


def test_layer_rejects_overlap() -> None:
    with pytest.raises(SpecError, match="overlap"):
        Layer("l", {"a": (0, 500), "b": (400, 600)})
    with pytest.raises(SpecError, match="need 0 <= start < end"):
        Layer("l", {"a": (0, 1001)})


# ----------------------------------------------------------------------------------------------------------------------
# GrowthBook
# ----------------------------------------------------------------------------------------------------------------------


def test_fnv1a32_reference_values() -> None:
    # FNV-1a 32-bit reference values (Fowler/Noll/Vo test suite): "" -> 0x811c9dc5, "a" -> 0xe40c292c,
    # "foobar" -> 0xbf9cf968.
    assert fnv1a32("") == 0x811C9DC5
    assert fnv1a32("a") == 0xE40C292C
    assert fnv1a32("foobar") == 0xBF9CF968


# GrowthBook SDK cases.json, "hash" section: [value, expected, version, seed].
GB_HASH_CASES = [
    ("a", 0.22, 1, ""),
    ("b", 0.077, 1, ""),
    ("ab", 0.946, 1, ""),
    ("def", 0.652, 1, ""),
    ("8952klfjas09ujkasdf", 0.549, 1, ""),
    ("123", 0.011, 1, ""),
    ('___)((*":&', 0.563, 1, ""),
    ("a", 0.0505, 2, "seed"),
    # cases.json "feature" section, experimentResult.bucket: "empty experiment rule - c/a/b" (seed = feature key
    # "feature", v1) and "creates experiments properly" (seed "feature", v2, anonId "123").
    ("123", 0.863, 1, "feature"),
    ("456", 0.178, 1, "feature"),
    ("fds", 0.514, 1, "feature"),
    ("123", 0.5231, 2, "feature"),
]


@pytest.mark.parametrize(("value", "expected", "version", "seed"), GB_HASH_CASES)
def test_growthbook_hash_vectors(value: str, expected: float, version: int, seed: str) -> None:
    assert growthbook_hash(seed, value, version) == expected


def test_growthbook_hash_bad_version() -> None:
    with pytest.raises(ParameterError):
        growthbook_hash("s", "a", 3)


# GrowthBook SDK cases.json, "getBucketRange" section: [(num_variations, coverage, weights), expected].
GB_BUCKET_RANGE_CASES = [
    ((2, 1, None), [(0, 0.5), (0.5, 1)]),
    ((2, 0.5, None), [(0, 0.25), (0.5, 0.75)]),
    ((2, 0, None), [(0, 0), (0.5, 0.5)]),
    ((4, 1, None), [(0, 0.25), (0.25, 0.5), (0.5, 0.75), (0.75, 1)]),
    ((2, 1, [0.4, 0.6]), [(0, 0.4), (0.4, 1)]),
    ((3, 1, [0.2, 0.3, 0.5]), [(0, 0.2), (0.2, 0.5), (0.5, 1)]),
    ((3, 0.2, [0.2, 0.3, 0.5]), [(0, 0.04), (0.2, 0.26), (0.5, 0.6)]),
    ((2, -0.2, None), [(0, 0), (0.5, 0.5)]),
    ((2, 1.5, None), [(0, 0.5), (0.5, 1)]),
    ((2, 1, [0.4, 0.1]), [(0, 0.5), (0.5, 1)]),
    ((2, 1, [0.7, 0.6]), [(0, 0.5), (0.5, 1)]),
    ((4, 1, [0.4, 0.4, 0.2]), [(0, 0.25), (0.25, 0.5), (0.5, 0.75), (0.75, 1)]),
    ((2, 1, [0.4, 0.5999]), [(0, 0.4), (0.4, 0.9999)]),
]


@pytest.mark.parametrize(("args", "expected"), GB_BUCKET_RANGE_CASES)
def test_growthbook_bucket_ranges(
    args: tuple[int, float, list[float] | None], expected: list[tuple[float, float]]
) -> None:
    got = bucket_ranges(*args)
    assert len(got) == len(expected)
    for (s, e), (xs, xe) in zip(got, expected, strict=True):
        assert s == pytest.approx(xs, abs=1e-12)
        assert e == pytest.approx(xe, abs=1e-12)


# GrowthBook SDK cases.json, "chooseVariation" section: [n, ranges, expected].
EVEN = [(0, 0.5), (0.5, 1)]
REDUCED = [(0, 0.25), (0.5, 0.75)]
GB_CHOOSE_CASES = [
    (0.2, EVEN, 0),
    (0.4, EVEN, 0),
    (0.6, EVEN, 1),
    (0.8, EVEN, 1),
    (0, EVEN, 0),
    (0.5, EVEN, 1),
    (0.2, REDUCED, 0),
    (0.4, REDUCED, -1),
    (0.6, REDUCED, 1),
    (0.8, REDUCED, -1),
    (0.25, REDUCED, -1),
    (0.5, REDUCED, 1),
    (0.5, [(0, 0.5), (0.5, 0.5), (0.5, 1)], 2),
]


@pytest.mark.parametrize(("n", "ranges", "expected"), GB_CHOOSE_CASES)
def test_growthbook_choose_variation(n: float, ranges: list[tuple[float, float]], expected: int) -> None:
    assert choose_variation(n, ranges) == expected


# GrowthBook SDK cases.json, "inNamespace" section: [user id, (namespace, start, end), expected].
GB_NAMESPACE_CASES = [
    ("1", ("namespace1", 0, 0.4), False),
    ("1", ("namespace1", 0.4, 1), True),
    ("1", ("namespace2", 0, 0.4), False),
    ("1", ("namespace2", 0.4, 1), True),
    ("2", ("namespace1", 0, 0.4), False),
    ("2", ("namespace1", 0.4, 1), True),
    ("2", ("namespace2", 0, 0.4), False),
    ("2", ("namespace2", 0.4, 1), True),
    ("3", ("namespace1", 0, 0.4), False),
    ("3", ("namespace1", 0.4, 1), True),
    ("3", ("namespace2", 0, 0.4), True),
    ("3", ("namespace2", 0.4, 1), False),
    ("4", ("namespace1", 0, 0.4), False),
    ("4", ("namespace1", 0.4, 1), True),
    ("4", ("namespace2", 0, 0.4), True),
    ("4", ("namespace2", 0.4, 1), False),
]


@pytest.mark.parametrize(("user", "namespace", "expected"), GB_NAMESPACE_CASES)
def test_growthbook_in_namespace(user: str, namespace: tuple[str, float, float], expected: bool) -> None:
    assert in_namespace(user, namespace) is expected


def test_in_range_half_open() -> None:
    assert in_range(0.0, (0.0, 0.5))
    assert not in_range(0.5, (0.0, 0.5))


def test_growthbook_coverage_ramp_is_monotone() -> None:
    # raising coverage only extends ranges, so an included user keeps their variation
    users = [str(i) for i in range(5000)]
    ns = [growthbook_hash("ramp", u, 2) for u in users]
    before = [choose_variation(n, bucket_ranges(2, 0.1)) for n in ns]
    after = [choose_variation(n, bucket_ranges(2, 0.5)) for n in ns]
    assert all(a == b for a, b in zip(before, after, strict=True) if a >= 0)
