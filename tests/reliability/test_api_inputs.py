"""Reliability catalogue, section ``api``: bad input through the Python API, TOML experiment specs and flag files.

One test per row of the ``api`` table in ``docs/reliability.md``. Each asserts the error class and a message
fragment naming the input and the fix, or, for valid but awkward input, the number against an independent
computation (scipy, statsmodels, closed forms).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from scipy import special
from scipy import stats as sps

import abnb
from abnb import assign
from abnb.errors import DataError, ParameterError, SpecError
from abnb.flags import Flags
from abnb.stats import Moments, fisher, sample_size, srm, welch, ztest
from abnb.stats._common import log_two_sided_pvalue as _log_two_sided_pvalue

LN10 = math.log(10.0)

SPEC = """name = "exp1"
arms = ["control", "treatment"]
control = "control"
{extra}

[[metrics]]
name = "conversion"
kind = "proportion"
sql = "SELECT unit, ts, 1 AS value FROM events WHERE event = 'purchase'"
"""

FLAG = """key = "f"
treatments = ["on", "off"]
default = "off"

[segments]
qa = ["qa-alice"]

{extra}
"""


def _write(tmp_path: Path, text: str, name: str = "spec.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _spec(tmp_path: Path, text: str) -> abnb.Experiment:
    return abnb.Experiment.from_toml(_write(tmp_path, text))


def _flags(tmp_path: Path, extra: str) -> Flags:
    return Flags.from_toml(_write(tmp_path, FLAG.format(extra=extra), "flag.toml"))


# ------------------------------------------------------------------------------------------------ abnb.stats


def test_api01_moments_negative_n() -> None:
    with pytest.raises(ParameterError, match=r"Moments\.n must be >= 0, got -1"):
        Moments(-1, 0.0, 0.0)


def test_api02_moments_nan_sum() -> None:
    with pytest.raises(ParameterError, match=r"Moments\.sum must be finite, got nan; check the aggregate for NaN"):
        Moments(10, math.nan, 1.0)


def test_api03_moments_infinite_sum_sq() -> None:
    with pytest.raises(ParameterError, match=r"Moments\.sum_sq must be finite, got inf"):
        Moments(10, 1.0, math.inf)


def test_api04_moments_negative_sum_sq() -> None:
    with pytest.raises(ParameterError, match=r"Moments\.sum_sq is a sum of squares and must be >= 0"):
        Moments(10, 1.0, -1.0)


def test_api05_moments_sums_that_no_data_allow() -> None:
    # Σy = 10 over n = 10 forces Σy² >= 10 (Cauchy–Schwarz); Σy² = 1 used to be clipped to variance 0 silently.
    with pytest.raises(ParameterError, match=r"Moments\.sum_sq = 1\.0 is smaller than Moments\.sum²/n = 10\.0"):
        Moments(10, 10.0, 1.0)
    with pytest.raises(ParameterError, match=r"n=0 units must have Moments\.sum = Moments\.sum_sq = 0"):
        Moments(0, 5.0, 25.0)
    # constant values (equality) and engine rounding still pass
    assert Moments(3, 3e8, 3e16 * (1 - 1e-15)).variance == 0.0
    assert Moments.from_values([1.0, 2.0, 4.0]).variance == pytest.approx(np.var([1.0, 2.0, 4.0], ddof=1))


def test_api06_from_counts_successes_above_trials() -> None:
    with pytest.raises(ParameterError, match=r"successes must lie in \[0, n=3\], got 5"):
        Moments.from_counts(5, 3)


def test_api07_from_counts_negative_counts() -> None:
    with pytest.raises(ParameterError, match=r"successes must lie in \[0, n=3\], got -1"):
        Moments.from_counts(-1, 3)
    with pytest.raises(ParameterError, match=r"n must be >= 1 \(the number of units\), got -3"):
        Moments.from_counts(0, -3)


def test_api08_single_unit_per_arm() -> None:
    one, other = Moments.from_values([1.0]), Moments.from_values([2.0])
    for test in (welch, ztest):
        with pytest.raises(ParameterError, match=r"control has n=1 unit\(s\); a two-arm test needs at least 2"):
            test(one, other)


def test_api09_zero_variance_in_both_arms() -> None:
    control, treatment = Moments.from_values([1.0, 1.0, 1.0]), Moments.from_values([2.0, 2.0])
    with pytest.raises(DataError, match=r"both arms have zero variance.*Check the metric definition"):
        welch(control, treatment)


def test_api10_all_zero_proportions() -> None:
    control, treatment = Moments.from_counts(0, 1000), Moments.from_counts(0, 1000)
    for test in (welch, ztest):
        with pytest.raises(DataError, match=r"control has 0 of 1000 successes.*do not differ.*abnb\.stats\.fisher"):
            test(control, treatment)
    # the advised exact test is defined and says "no evidence"
    assert fisher(control, treatment).pvalue == pytest.approx(1.0)


def test_api11_tiny_rates_at_huge_n() -> None:
    # 3 vs 40 successes out of 10^9 per arm: z = 5.64, p ≈ 1.7e-8 (a small positive number, not 0).
    from statsmodels.stats.proportion import proportions_ztest

    n = 10**9
    control, treatment = Moments.from_counts(3, n), Moments.from_counts(40, n)
    unpooled = ztest(control, treatment)
    p_c, p_t = 3 / n, 40 / n
    z = (p_t - p_c) / math.sqrt(p_c * (1 - p_c) / n + p_t * (1 - p_t) / n)
    assert unpooled.statistic == pytest.approx(z, rel=1e-12)
    assert unpooled.pvalue == pytest.approx(2 * sps.norm.sf(z), rel=1e-12)
    assert 1e-8 < unpooled.pvalue < 2e-8
    pooled = ztest(control, treatment, pooled=True)
    _, sm_p = proportions_ztest([40, 3], [n, n])  # statsmodels: pooled SE
    assert pooled.pvalue == pytest.approx(sm_p, rel=1e-9)
    # Welch on the same 0/1 data (df ≈ 47 million) agrees with the z-test to 1e-6
    assert welch(control, treatment).pvalue == pytest.approx(unpooled.pvalue, rel=1e-6)


def test_api12_pvalue_where_scipy_flushes_to_zero() -> None:
    # z ≈ 38: scipy's ndtr(-38) is 0.0 although the two-sided p-value is ≈ 5.8e-316 (a subnormal double).
    n = 10**9
    effect = ztest(Moments.from_counts(1000, n), Moments.from_counts(3570, n))
    z = abs(effect.statistic)
    assert 37.5 < z < 38.5
    assert float(2 * special.ndtr(-z)) == 0.0  # the old result
    expected = math.exp(math.log(2.0) + float(special.log_ndtr(-z)))  # log-space, then the correctly rounded double
    assert effect.pvalue > 0.0
    assert effect.pvalue == expected
    assert effect.log10_pvalue == pytest.approx((math.log(2.0) + float(special.log_ndtr(-z))) / LN10, rel=1e-12)


def test_api13_pvalue_below_the_smallest_double_is_flagged() -> None:
    n = 10**9
    effect = ztest(Moments.from_counts(100, n), Moments.from_counts(5000, n))
    z = abs(effect.statistic)
    assert z > 60
    assert effect.pvalue == 0.0  # correctly rounded: the true p-value is below 4.9e-324
    expected_log10 = (math.log(2.0) + float(special.log_ndtr(-z))) / LN10
    assert effect.log10_pvalue == pytest.approx(expected_log10, rel=1e-12)
    assert "p-value below the smallest double, reported as 0 (log10 p = " in effect.method
    assert effect.log10_pvalue < -800


def test_api14_t_pvalue_in_the_far_tail() -> None:
    # closed forms of the t tail: df = 1 (Cauchy) P(T > t) = atan(1/t)/π; df = 2: P(T > t) = (1 − t/√(2 + t²))/2
    for t in (1e200, 1e300):
        assert _log_two_sided_pvalue(t, 1.0) == pytest.approx(math.log(2 * math.atan(1 / t) / math.pi), rel=1e-13)
    t = 1e160
    assert _log_two_sided_pvalue(t, 2.0) == pytest.approx(-2 * math.log(t), rel=1e-13)  # 2·(1/(2t²))·(1 + O(t⁻²))
    # Welch with df ≈ 2e9 and t ≈ 40: p underflowed to 0.0 in scipy's stdtr; now the t tail, which exceeds the
    # normal one by log(P_t/P_z) ≈ (t⁴ + 2t²)/(4 df) (Cornish–Fisher, first order)
    n = 10**9
    control = Moments(n, 0.0, float(n))  # mean 0, variance ≈ 1
    treatment = Moments(n, 40.0 * math.sqrt(2.0 * n), float(n) + (40.0 * math.sqrt(2.0 * n)) ** 2 / n)
    effect = welch(control, treatment)
    t_stat, df = effect.statistic, effect.df
    assert df is not None
    assert df > 1e9
    assert float(2 * special.stdtr(df, -t_stat)) == 0.0  # the old result
    correction = (t_stat**4 + 2 * t_stat**2) / (4 * df)
    normal = math.log(2.0) + float(special.log_ndtr(-t_stat))
    assert effect.log10_pvalue * LN10 == pytest.approx(normal + correction, abs=1e-6)
    assert effect.pvalue == 0.0
    assert "log10 p = " in effect.method


def test_api15_srm_weights_not_summing_to_one_are_normalised() -> None:
    result = srm([230, 770], [1, 3])
    assert result.weights == (0.25, 0.75)
    reference = sps.chisquare([230, 770], f_exp=[250, 750])
    assert result.statistic == pytest.approx(reference.statistic, rel=1e-12)
    assert result.pvalue == pytest.approx(reference.pvalue, rel=1e-10)
    assert srm([230, 770], [0.3, 0.9]).pvalue == pytest.approx(reference.pvalue, rel=1e-10)


def test_api16_srm_with_an_empty_arm() -> None:
    result = srm([0, 100])
    reference = sps.chisquare([0, 100])
    assert result.statistic == pytest.approx(100.0)
    assert result.pvalue == pytest.approx(reference.pvalue, rel=1e-10)
    assert result.mismatch()


def test_api17_srm_unknown_arm() -> None:
    with pytest.raises(ParameterError, match=r"weights has arms \['a', 'c'\] but counts has \['a', 'b'\]"):
        srm({"a": 10, "b": 12}, {"a": 1, "c": 1})


def test_api18_srm_negative_count() -> None:
    with pytest.raises(ParameterError, match=r"counts\[0\] must be a non-negative whole number, got -1"):
        srm([-1, 100])
    with pytest.raises(ParameterError, match=r"weights\[0\] must be positive and finite, got nan"):
        srm([10, 100], [math.nan, 1.0])


def test_api19_sample_size_zero_mde() -> None:
    with pytest.raises(ParameterError, match=r"mde must not be 0"):
        sample_size(0.1, 0.0)


def test_api20_sample_size_negative_mde_is_a_decrease() -> None:
    # Evan Miller's formula with p1 = 0.10, p2 = 0.09 (docstring of sample_size), computed here by hand
    p1, p2 = 0.10, 0.09
    z_a, z_b = sps.norm.ppf(0.975), sps.norm.ppf(0.8)
    n = (z_a * math.sqrt(2 * p1 * (1 - p1)) + z_b * math.sqrt(p1 * (1 - p1) + p2 * (1 - p2))) ** 2 / 0.01**2
    assert sample_size(0.1, -0.01, formula="evan-miller") == math.ceil(n)
    with pytest.raises(ParameterError, match=r"baseline \+ effect = -0\.0(5|49+) must lie strictly between 0 and 1"):
        sample_size(0.1, -0.15)


@pytest.mark.parametrize("alpha", [0.0, 1.0, 1.5, -0.1, math.nan])
def test_api21_sample_size_alpha_outside_unit_interval(alpha: float) -> None:
    with pytest.raises(ParameterError, match=r"alpha must (lie strictly between 0 and 1|be a finite number)"):
        sample_size(0.1, 0.01, alpha=alpha)


# ------------------------------------------------------------------------------------------------ TOML specs


def test_api22_spec_malformed_toml(tmp_path: Path) -> None:
    path = _write(tmp_path, 'name = "x"\narms = ["a", "b"\ncontrol = "a"\n')
    expected = rf"experiment spec {path} is not valid TOML at line 3, column 1: .*Fix that line"
    with pytest.raises(SpecError, match=expected):
        abnb.Experiment.from_toml(path)


def test_api23_spec_unknown_key(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match=r"spec\.toml: unknown key\(s\) colour; allowed: alpha, arms"):
        _spec(tmp_path, SPEC.format(extra='colour = "red"'))


def test_api24_spec_without_metrics(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match=r"spec\.toml: experiment 'x' needs at least one metric"):
        _spec(tmp_path, 'name = "x"\narms = ["a", "b"]\ncontrol = "a"\n')


def test_api25_spec_duplicate_metric_names(tmp_path: Path) -> None:
    text = SPEC.format(extra="") + '\n[[metrics]]\nname = "conversion"\nsql = "SELECT unit, ts, 1 AS value FROM e"\n'
    with pytest.raises(SpecError, match=r"experiment 'exp1' has duplicate metric names: \['conversion', 'conv"):
        _spec(tmp_path, text)


def test_api26_spec_control_not_among_arms(tmp_path: Path) -> None:
    text = SPEC.format(extra="").replace('control = "control"', 'control = "baseline"')
    with pytest.raises(SpecError, match=r"control arm 'baseline' of experiment 'exp1' is not one of its arms"):
        _spec(tmp_path, text)


def test_api27_spec_weights_of_wrong_length(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match=r"weights of experiment 'exp1' must be 2 positive numbers \(one per arm"):
        _spec(tmp_path, SPEC.format(extra="weights = [0.5, 0.3, 0.2]"))


def test_api28_spec_negative_or_nan_weights(tmp_path: Path) -> None:
    for weights in ("[1.5, -0.5]", "[nan, 1.0]"):
        with pytest.raises(SpecError, match=r"weights of experiment 'exp1' must be 2 positive numbers"):
            _spec(tmp_path, SPEC.format(extra=f"weights = {weights}"))


def test_api29_spec_weights_not_summing_to_one_are_normalised(tmp_path: Path) -> None:
    spec = _spec(tmp_path, SPEC.format(extra="weights = [1, 3]"))
    assert spec.weights == (1, 3)
    assert spec.weights is not None
    result = srm({"control": 240, "treatment": 760}, dict(zip(spec.arms, spec.weights, strict=True)))
    assert result.weights == (0.25, 0.75)
    assert result.expected == (250.0, 750.0)


def test_api30_spec_metric_sql_not_a_select(tmp_path: Path) -> None:
    text = SPEC.format(extra="").replace(
        "SELECT unit, ts, 1 AS value FROM events WHERE event = 'purchase'", "DROP TABLE events"
    )
    with pytest.raises(
        SpecError, match=r"SQL of metric 'conversion' must be exactly one SELECT .*\(found 1 .*: Drop\)"
    ):
        _spec(tmp_path, text)


def test_api31_spec_metric_sql_two_statements(tmp_path: Path) -> None:
    text = SPEC.format(extra="").replace("WHERE event = 'purchase'", "; DROP TABLE events")
    with pytest.raises(SpecError, match=r"exactly one SELECT .*\(found 2 statement\(s\): Select, Drop\)"):
        _spec(tmp_path, text)


def test_api32_spec_unicode_experiment_name(tmp_path: Path) -> None:
    text = SPEC.format(extra="").replace('name = "exp1"', 'name = "expérience"')
    with pytest.raises(SpecError, match=r"spec\.toml: experiment name 'expérience' is not a valid identifier"):
        _spec(tmp_path, text)


def test_api33_spec_200_character_metric_name(tmp_path: Path) -> None:
    text = SPEC.format(extra="").replace('name = "conversion"', f'name = "{"m" * 200}"')
    with pytest.raises(SpecError, match=r"metric name 'm+'.*is not a valid identifier: use 1-63"):
        _spec(tmp_path, text)


def test_api34_spec_unicode_and_long_arm_names_are_values(tmp_path: Path) -> None:
    # arms are values (bound as SQL parameters), not identifiers: any non-empty string is allowed
    arms = ["contrôle", "t" * 200 + "'; DROP TABLE exposures; --"]
    text = SPEC.format(extra="").replace('arms = ["control", "treatment"]', f'arms = ["{arms[0]}", "{arms[1]}"]')
    text = text.replace('control = "control"', f'control = "{arms[0]}"')
    spec = _spec(tmp_path, text)
    assert spec.arms == tuple(arms)
    assert spec.treatments == (arms[1],)


def test_api35_load_path_traversal() -> None:
    with pytest.raises(SpecError, match=r"experiment name '\.\./\.\./etc/passwd' is not a valid identifier"):
        abnb.load("../../etc/passwd")
    with pytest.raises(SpecError, match=r"experiment name '/etc/passwd' is not a valid identifier"):
        abnb.load("/etc/passwd")


def test_api36_spec_path_is_a_directory(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match=rf"experiment spec {tmp_path} is a directory; pass the path of one \.toml"):
        abnb.Experiment.from_toml(tmp_path)


def test_api37_spec_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin1.toml"
    path.write_bytes('name = "exp1"\ndescription = "café"\n'.encode("latin-1"))
    with pytest.raises(SpecError, match=rf"experiment spec {path} is not UTF-8 text .*Re-save it as UTF-8"):
        abnb.Experiment.from_toml(path)


def test_api38_spec_mapping_of_the_wrong_shape() -> None:
    with pytest.raises(SpecError, match=r"spec: an experiment spec is a table of keys .*got list"):
        abnb.Experiment.from_dict(["name"])  # type: ignore[arg-type]
    metrics = [{"name": "m", "sql": "SELECT unit, ts, 1 AS value FROM e"}]
    with pytest.raises(SpecError, match=r"spec: \[exposures\] must be a table .*got \[1\]"):
        abnb.Experiment.from_dict({"name": "x", "metrics": metrics, "exposures": [1]})
    with pytest.raises(SpecError, match=r"spec: \[exposures\]: exposures table 'e; drop' is not a valid identifier"):
        abnb.Experiment.from_dict({"name": "x", "metrics": metrics, "exposures": {"table": "e; drop"}})


# ------------------------------------------------------------------------------------------------ flag files


def test_api39_flag_malformed_toml(tmp_path: Path) -> None:
    path = _write(tmp_path, FLAG.format(extra='[default_rule\nserve = "on"\n'), "flag.toml")
    with pytest.raises(SpecError, match=rf"flag file {path} is not valid TOML at line 8, column 14: .*Fix that line"):
        Flags.from_toml(path)


def test_api40_flag_split_not_summing_to_100(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match=r"default_rule: split weights .* sum to 1, not 100; they are percentages"):
        _flags(tmp_path, "[default_rule]\nsplit = { on = 0.1, off = 0.9 }")


def test_api41_flag_split_nan(tmp_path: Path) -> None:
    # nan passed every check (nan < 0 and |nan − 100| > 1e-9 are both false) and sent everyone to "off"
    with pytest.raises(SpecError, match=r"split weight of 'on' must be a percentage ≥ 0 and ≤ 100, got nan"):
        _flags(tmp_path, "[default_rule]\nsplit = { on = nan, off = 100 }")


def test_api42_flag_unknown_variant_in_rule(tmp_path: Path) -> None:
    with pytest.raises(
        SpecError, match=r"rule 0 split treatment 'blue' is not a treatment; use one of \['on', 'off'\]"
    ):
        _flags(tmp_path, '[[rules]]\nif = "user in qa"\nsplit = { on = 50, blue = 50 }')


def test_api43_flag_negative_percentages(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match=r"split weight of 'on' must be a percentage ≥ 0"):
        _flags(tmp_path, "[default_rule]\nsplit = { on = -10, off = 110 }")
    with pytest.raises(SpecError, match=r"rule 0: `allocation` is a percentage of traffic in \[0, 100\], got -5"):
        _flags(tmp_path, '[[rules]]\nif = "user in qa"\nserve = "on"\nallocation = -5')


def test_api44_flag_rule_on_unknown_attribute(tmp_path: Path) -> None:
    # defined behaviour: a comparison with an attribute the caller does not pass is false, so the rule is skipped
    flags = _flags(tmp_path, '[[rules]]\nif = \'colour == "red"\'\nserve = "on"\n\n[default_rule]\nserve = "off"')
    skipped = flags.evaluate("u1", "f", {"country": "US"})
    assert (skipped.treatment, skipped.reason) == ("off", "default_rule")
    matched = flags.evaluate("u1", "f", {"colour": "red"})
    assert (matched.treatment, matched.reason, matched.rule) == ("on", "rule", 0)


def test_api45_flag_unknown_segment(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match=r"rule 0 \(if = 'user in vip'\) uses unknown segment 'vip'; define it"):
        _flags(tmp_path, '[[rules]]\nif = "user in vip"\nserve = "on"')


def test_api46_flag_file_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "flag.toml"
    path.write_bytes(FLAG.format(extra='description = "café"').encode("latin-1"))
    with pytest.raises(SpecError, match=rf"flag file {path} is not UTF-8 text .*Re-save it as UTF-8"):
        Flags.from_toml(path)


def test_api47_flag_condition_code_injection(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match=r"rule 0: condition .*__import__.* is malformed at column 17"):
        _flags(tmp_path, "[[rules]]\nif = \"__import__('os').system('true')\"\nserve = \"on\"")


# ------------------------------------------------------------------------------------------------ abnb.assign


def test_api48_uniform_choice_empty() -> None:
    with pytest.raises(ParameterError, match=r"choices must not be empty; pass at least one value"):
        assign.uniform_choice([], unit="u1", salt="e.p")


def test_api49_weighted_choice_weights_of_wrong_length() -> None:
    with pytest.raises(ParameterError, match=r"weights has 1 entries but choices has 2; give one weight each"):
        assign.weighted_choice(["a", "b"], [1.0], unit="u1", salt="e.p")


@pytest.mark.parametrize(
    ("weights", "message"),
    [
        ([1.0, -1.0], r"weights must be finite and non-negative, got weights\[1\] = -1\.0"),
        ([math.nan, 1.0], r"weights must be finite and non-negative, got weights\[0\] = nan"),
        ([0.0, 0.0], r"weights must have a positive sum \(all are 0\); give at least one choice a weight > 0"),
    ],
)
def test_api50_weighted_choice_negative_nan_or_zero_weights(weights: list[float], message: str) -> None:
    with pytest.raises(ParameterError, match=message):
        assign.weighted_choice(["a", "b"], weights, unit="u1", salt="e.p")


def test_api51_weighted_choice_non_numeric_weights() -> None:
    # used to raise a bare ValueError/TypeError from float() or len()
    with pytest.raises(ParameterError, match=r"weights\[0\] must be a number, got 'x' \(str\)"):
        assign.weighted_choice(["a", "b"], ["x", 1], unit="u1", salt="e.p")  # type: ignore[list-item]
    with pytest.raises(ParameterError, match=r"weights\[0\] must be a number, got None"):
        assign.weighted_choice(["a", "b"], [None, 1], unit="u1", salt="e.p")  # type: ignore[list-item]
    with pytest.raises(ParameterError, match=r"weights must be a list of numbers, one per choice, got generator"):
        assign.weighted_choice(["a", "b"], (w for w in (1, 1)), unit="u1", salt="e.p")  # type: ignore[arg-type]
    # numpy weights still work and match the list
    assert assign.weighted_choice(["a", "b"], np.array([0.2, 0.8]), unit="u1", salt="e.p") == assign.weighted_choice(
        ["a", "b"], [0.2, 0.8], unit="u1", salt="e.p"
    )


@pytest.mark.parametrize("p", [1.5, -0.1, math.nan])
def test_api52_bernoulli_trial_p_outside_unit_interval(p: float) -> None:
    with pytest.raises(ParameterError, match=r"p must be between 0 and 1 \(a probability"):
        assign.bernoulli_trial(p, unit="u1", salt="e.p")


@pytest.mark.parametrize("p", [None, "0.5", True])
def test_api53_bernoulli_trial_p_of_the_wrong_type(p: object) -> None:
    # None and "half" used to raise TypeError/ValueError from float(); True silently meant p = 1
    with pytest.raises(ParameterError, match=r"p \(the probability of 1\) must be a number, got"):
        assign.bernoulli_trial(p, unit="u1", salt="e.p")  # type: ignore[arg-type]
