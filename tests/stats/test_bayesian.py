import math

import numpy as np
import pytest
from scipy import integrate
from scipy import stats as sps

from abnb.errors import DataError, ParameterError
from abnb.stats.bayesian import BayesResult, chance_to_beat
from abnb.stats.moments import Moments


def _lbeta(a: float, b: float) -> float:
    return math.lgamma(a) + math.lgamma(b) - math.lgamma(a + b)


def _miller_prob_b_beats_a(a_a: int, b_a: int, a_b: int, b_b: int) -> float:
    """Evan Miller's closed form, P(p_B > p_A) for Beta posteriors with a whole-number alpha_B."""
    total = 0.0
    for i in range(a_b):
        total += math.exp(_lbeta(a_a + i, b_a + b_b) - math.log(b_b + i) - _lbeta(1 + i, b_b) - _lbeta(a_a, b_a))
    return total


def _miller_loss(a_c: int, b_c: int, a_t: int, b_t: int) -> float:
    """E[max(p_c − p_t, 0)] = μ_c·P(p_c' > p_t) − μ_t·P(p_c > p_t'), primes adding 1 to alpha (Stucchio)."""
    mu_c, mu_t = a_c / (a_c + b_c), a_t / (a_t + b_t)
    return mu_c * _miller_prob_b_beats_a(a_t, b_t, a_c + 1, b_c) - mu_t * _miller_prob_b_beats_a(a_t + 1, b_t, a_c, b_c)


CASES = [(49, 100, 51, 100), (378, 3662, 462, 3568), (3, 20, 7, 25), (0, 50, 2, 40), (120, 1000, 110, 1000)]


@pytest.mark.parametrize(("s_c", "n_c", "s_t", "n_t"), CASES)
def test_beta_chance_and_losses_match_miller_closed_form(s_c: int, n_c: int, s_t: int, n_t: int) -> None:
    result = chance_to_beat(Moments.from_counts(s_c, n_c), Moments.from_counts(s_t, n_t), method="beta")
    a_c, b_c, a_t, b_t = 1 + s_c, 1 + n_c - s_c, 1 + s_t, 1 + n_t - s_t
    assert result.chance == pytest.approx(_miller_prob_b_beats_a(a_c, b_c, a_t, b_t), abs=1e-9)
    assert result.expected_loss == pytest.approx(_miller_loss(a_c, b_c, a_t, b_t), abs=1e-9)
    assert result.expected_loss_control == pytest.approx(_miller_loss(a_t, b_t, a_c, b_c), abs=1e-9)
    # E[max(c − t, 0)] − E[max(t − c, 0)] = E[c − t]
    assert result.expected_loss - result.expected_loss_control == pytest.approx(
        a_c / (a_c + b_c) - a_t / (a_t + b_t), abs=1e-10
    )
    assert result.estimate == pytest.approx(a_t / (a_t + b_t) - a_c / (a_c + b_c), abs=1e-12)


def test_beta_custom_prior_matches_closed_form() -> None:
    result = chance_to_beat(Moments.from_counts(12, 80), Moments.from_counts(19, 85), method="beta", prior=(2, 5))
    assert result.chance == pytest.approx(_miller_prob_b_beats_a(14, 73, 21, 71), abs=1e-9)
    assert "Beta(2, 5)" in result.method


def test_beta_chance_matches_two_dimensional_quadrature_with_fractional_prior() -> None:
    result = chance_to_beat(Moments.from_counts(4, 30), Moments.from_counts(9, 28), method="beta", prior=(0.5, 0.5))
    post_c, post_t = sps.beta(4.5, 26.5), sps.beta(9.5, 19.5)
    reference, _ = integrate.dblquad(
        lambda y, x: post_c.pdf(x) * post_t.pdf(y), 0.0, 1.0, lambda x: x, lambda x: 1.0, epsabs=1e-12
    )
    assert result.chance == pytest.approx(reference, abs=1e-7)


@pytest.mark.parametrize(("s_c", "n_c", "s_t", "n_t"), [(378, 3662, 395, 3504), (3, 20, 7, 25)])
def test_beta_credible_interval_has_the_stated_posterior_mass(s_c: int, n_c: int, s_t: int, n_t: int) -> None:
    result = chance_to_beat(Moments.from_counts(s_c, n_c), Moments.from_counts(s_t, n_t), method="beta")
    post_c, post_t = sps.beta(1 + s_c, 1 + n_c - s_c), sps.beta(1 + s_t, 1 + n_t - s_t)
    # independent check: composite Simpson rule on a fine grid of the control posterior
    x = np.linspace(post_c.ppf(1e-14), post_c.isf(1e-14), 200_001)

    def cdf(d: float) -> float:
        return float(integrate.simpson(post_c.pdf(x) * post_t.cdf(x + d), x=x))

    assert cdf(result.ci_low) == pytest.approx(0.025, abs=1e-6)
    assert cdf(result.ci_high) == pytest.approx(0.975, abs=1e-6)


def test_normal_method_matches_scipy_norm() -> None:
    control, treatment = (
        Moments.from_values([3.0, 5.0, 4.0, 6.0, 2.0, 5.5]),
        Moments.from_values([4.0, 6.5, 5.0, 7.0, 3.5, 6.0, 5.0]),
    )
    result = chance_to_beat(control, treatment, method="normal", alpha=0.1)
    se = math.sqrt(treatment.variance / 7 + control.variance / 6)
    posterior = sps.norm(treatment.mean - control.mean, se)
    assert result.chance == pytest.approx(posterior.sf(0.0), abs=1e-12)
    assert result.expected_loss == pytest.approx(posterior.expect(lambda d: max(-d, 0.0)), abs=1e-9)
    assert result.expected_loss_control == pytest.approx(posterior.expect(lambda d: max(d, 0.0)), abs=1e-9)
    low, high = posterior.interval(0.9)
    assert (result.ci_low, result.ci_high) == pytest.approx((low, high), abs=1e-12)
    assert result.sd == pytest.approx(se, rel=1e-12)


def test_lift_reproduces_growthbook_vector() -> None:
    # Published vector from GrowthBook's gbstats test suite (growthbook/growthbook,
    # packages/stats/tests/bayesian/test_tests.py, effect-based Bayesian test on the lift, flat prior):
    # control 49/100, treatment 51/100 → lift 0.040816, sd 0.147253, chance to win 0.609181.
    result = chance_to_beat(Moments.from_counts(49, 100), Moments.from_counts(51, 100), method="lift")
    assert result.estimate == pytest.approx(0.040816, abs=1e-6)
    assert result.sd == pytest.approx(0.147253, abs=1e-6)
    assert result.chance == pytest.approx(0.609181, abs=1e-6)
    assert result.relative
    posterior = sps.norm(result.estimate, result.sd)
    assert result.expected_loss == pytest.approx(posterior.expect(lambda d: max(-d, 0.0)), abs=1e-9)
    assert (result.ci_low, result.ci_high) == pytest.approx(posterior.interval(0.95), abs=1e-12)


def test_lift_with_normal_prior_is_precision_weighted() -> None:
    control, treatment = Moments.from_counts(49, 100), Moments.from_counts(51, 100)
    flat = chance_to_beat(control, treatment, method="lift")
    prior_mean, prior_var = 0.0, 0.3**2
    result = chance_to_beat(control, treatment, method="lift", prior=(prior_mean, prior_var))
    precision = 1 / flat.sd**2 + 1 / prior_var
    mean = (flat.estimate / flat.sd**2 + prior_mean / prior_var) / precision
    assert result.estimate == pytest.approx(mean, abs=1e-12)
    assert result.sd == pytest.approx(precision**-0.5, abs=1e-12)
    assert result.chance == pytest.approx(sps.norm.cdf(mean * precision**0.5), abs=1e-12)
    assert abs(result.estimate) < abs(flat.estimate)  # shrunk towards the prior mean


# Conversion table of the cookbook: control "Original" against three headline variants.
ORIGINAL = (378, 3662)
VARIANTS = {"Test it out": (462, 3568), "Give it a try": (440, 3479), "Try it out": (395, 3504)}


def test_teaching_table_three_methods_differ_as_explained() -> None:
    control = Moments.from_counts(*ORIGINAL)
    results = {
        name: {m: chance_to_beat(control, Moments.from_counts(*counts), method=m) for m in ("beta", "normal", "lift")}
        for name, counts in VARIANTS.items()
    }
    for by_method in results.values():
        beta, normal, lift = by_method["beta"], by_method["normal"], by_method["lift"]
        # 1. with thousands of users per arm the exact Beta posterior and the normal approximation agree closely
        assert abs(beta.chance - normal.chance) < 2e-4
        assert beta.ci_low == pytest.approx(normal.ci_low, abs=1e-4)
        assert beta.ci_high == pytest.approx(normal.ci_high, abs=1e-4)
        # 2. the lift posterior is less sure: its delta-method variance adds the control's uncertainty scaled
        #    by (m_t/m_c)², so the same data give a lower chance to beat the control
        assert lift.chance < normal.chance
        # 3. losses are in different units: rate points for beta/normal, a fraction of the control for lift
        assert lift.expected_loss_control == pytest.approx(normal.expected_loss_control / control.mean, rel=0.02)
    # 4. every method ranks the variants the same way
    for method in ("beta", "normal", "lift"):
        chances = [results[name][method].chance for name in VARIANTS]
        assert chances == sorted(chances, reverse=True)
    # 5. "Try it out" is promising but not conclusive under any method; the other two are near-certain wins
    assert all(0.85 < results["Try it out"][m].chance < 0.95 for m in ("beta", "normal", "lift"))
    assert all(results["Try it out"][m].ci_low < 0 for m in ("beta", "normal", "lift"))
    assert all(results[name][m].chance > 0.99 for name in ("Test it out", "Give it a try") for m in ("beta", "lift"))


def test_result_object_renders() -> None:
    result = chance_to_beat(Moments.from_counts(49, 100), Moments.from_counts(51, 100), method="beta")
    assert isinstance(result, BayesResult)
    assert repr(result).startswith("BayesResult(chance=")
    assert "abnb-bayes" in result._repr_html_()
    frame = result.to_frame()
    assert list(frame["chance"]) == [result.chance]
    with pytest.raises(AttributeError):
        result.chance = 0.5  # type: ignore[misc]


def test_errors() -> None:
    means = Moments.from_values([1.0, 2.0, 3.0])
    rates = Moments.from_counts(3, 10)
    with pytest.raises(ParameterError, match="proportions"):
        chance_to_beat(means, means, method="beta")
    with pytest.raises(ParameterError, match="method"):
        chance_to_beat(rates, rates, method="gamma")  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="disagree"):
        chance_to_beat(rates, means, method="normal")
    with pytest.raises(ParameterError, match="> 0"):
        chance_to_beat(rates, rates, method="beta", prior=(0, 1))
    with pytest.raises(ParameterError, match="variance"):
        chance_to_beat(rates, rates, method="lift", prior=(0.0, -1.0))
    with pytest.raises(ParameterError, match="alpha"):
        chance_to_beat(rates, rates, method="normal", alpha=1.5)
    with pytest.raises(ParameterError, match="Moments"):
        chance_to_beat((3, 10), rates, method="beta")  # type: ignore[arg-type]
    with pytest.raises(DataError, match="control mean is 0"):
        chance_to_beat(Moments.from_counts(0, 10), rates, method="lift")
    constant = Moments.from_values([2.0, 2.0, 2.0])
    with pytest.raises(DataError, match="zero sampling variance"):
        chance_to_beat(constant, constant, method="normal")


@pytest.mark.parametrize(
    ("s_c", "n_c", "s_t", "n_t"), [(3000, 30000, 3150, 30000), (250_000, 2_500_000, 252_000, 2_500_000)]
)
def test_beta_large_shapes_use_a_fixed_rule_that_matches_adaptive_quadrature(
    s_c: int, n_c: int, s_t: int, n_t: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    from abnb.stats import bayesian

    control, treatment = Moments.from_counts(s_c, n_c), Moments.from_counts(s_t, n_t)
    fixed = chance_to_beat(control, treatment, method="beta")
    monkeypatch.setattr(bayesian, "_LARGE_SHAPE", math.inf)  # force QUADPACK everywhere
    adaptive = chance_to_beat(control, treatment, method="beta")
    assert fixed.chance == pytest.approx(adaptive.chance, abs=1e-10)
    assert fixed.expected_loss == pytest.approx(adaptive.expected_loss, abs=1e-12)
    assert fixed.expected_loss_control == pytest.approx(adaptive.expected_loss_control, abs=1e-12)
    assert fixed.ci_low == pytest.approx(adaptive.ci_low, abs=1e-12)


def test_beta_at_tens_of_millions_of_units_raises_no_integration_warning() -> None:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = chance_to_beat(
            Moments.from_counts(2_500_000, 25_000_000), Moments.from_counts(2_503_000, 25_000_000), method="beta"
        )
    # the posteriors are near-normal here: the normal approximation of the difference agrees to a few 1e-4
    normal = chance_to_beat(
        Moments.from_counts(2_500_000, 25_000_000), Moments.from_counts(2_503_000, 25_000_000), method="normal"
    )
    assert result.chance == pytest.approx(normal.chance, abs=5e-4)
