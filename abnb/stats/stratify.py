"""Post-stratification: the treatment effect as a weighted sum of within-stratum differences.

When a pre-treatment attribute (country, platform, new vs returning user) explains part of a metric's variance,
comparing arms within each stratum and averaging the differences removes that part from the standard error, the
way CUPED does for a continuous covariate. The strata must be fixed before the experiment starts (an attribute the
treatment cannot change); the per-stratum arms are :class:`~abnb.stats.Moments` from the same aggregate scan
(``GROUP BY arm, stratum``).

References:
    L. W. Miratrix, J. S. Sekhon & B. Yu (2013), "Adjusting treatment effect estimates by post-stratification in
    randomized experiments", JRSS B 75(2), 369–396.
    W. Lin (2013), "Agnostic notes on regression adjustments to experimental data: reexamining Freedman's
    critique", Annals of Applied Statistics 7(1), 295–318.
    A. Deng, Y. Xu, R. Kohavi & T. Walker (2013), "Improving the sensitivity of online controlled experiments by
    utilizing pre-experiment data", WSDM (post-stratification section).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from numbers import Real

from abnb.errors import DataError, ParameterError
from abnb.stats._alpha import check_alpha
from abnb.stats._common import symmetric_effect
from abnb.stats._effect import Effect
from abnb.stats.moments import Moments

__all__ = ["poststratify"]


def _check_arm(name: str, arm: object) -> Mapping[str, Moments]:
    if not isinstance(arm, Mapping) or not arm:
        raise ParameterError(
            f"{name} must be a non-empty mapping from stratum name to abnb.stats.Moments, got "
            f"{type(arm).__name__ if not isinstance(arm, Mapping) else 'an empty mapping'}."
        )
    for stratum, moments in arm.items():
        if not isinstance(moments, Moments):
            raise ParameterError(
                f"{name}[{stratum!r}] must be abnb.stats.Moments, got {type(moments).__name__}; build it with "
                "Moments.from_values(values) or Moments.from_counts(successes, n)."
            )
    return arm


def _check_weights(weights: object, strata: list[str], observed: set[str]) -> dict[str, float]:
    """The given weights of the usable ``strata``, normalised to sum to 1 (weights of dropped strata are ignored)."""
    if not isinstance(weights, Mapping):
        raise ParameterError(f"weights must be a mapping from stratum name to weight, got {type(weights).__name__}.")
    unknown = sorted(str(key) for key in weights if key not in observed)
    missing = [stratum for stratum in strata if stratum not in weights]
    if missing:
        raise ParameterError(
            f"weights has no weight for stratum(s) {', '.join(map(repr, missing))}; give one weight per stratum "
            "(e.g. its share of the population), or weights=None for the strata's shares of the experiment."
        )
    checked: dict[str, float] = {}
    for stratum in strata:
        value = weights[stratum]
        if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(float(value)) or value < 0:
            raise ParameterError(f"weights[{stratum!r}] must be a finite number >= 0, got {value!r}.")
        checked[stratum] = float(value)
    total = math.fsum(checked.values())
    if total <= 0.0:
        raise ParameterError("weights must not all be 0.")
    if unknown:
        raise DataError(
            f"weights names stratum(s) {', '.join(map(repr, unknown))} that neither arm has data for; the effect "
            "cannot be averaged over a stratum nobody was observed in. Drop those weights (the others are "
            "normalised to sum to 1)."
        )
    return {stratum: value / total for stratum, value in checked.items()}


def _usable_strata(
    control: Mapping[str, Moments], treatment: Mapping[str, Moments], drop_sparse: bool
) -> tuple[list[str], list[str]]:
    """Strata with at least 2 units in each arm, and the dropped ones (DataError unless ``drop_sparse``)."""
    kept: list[str] = []
    dropped: list[str] = []
    for stratum in list(dict.fromkeys([*control, *treatment])):
        if stratum not in control or stratum not in treatment:
            where = "treatment" if stratum in treatment else "control"
            problem = f"stratum {stratum!r} is present only in the {where} arm"
        elif control[stratum].n < 2 or treatment[stratum].n < 2:
            problem = (
                f"stratum {stratum!r} has {control[stratum].n} control and {treatment[stratum].n} treatment unit(s); "
                "a within-stratum difference with a variance needs at least 2 in each arm"
            )
        else:
            kept.append(stratum)
            continue
        if not drop_sparse:
            raise DataError(
                f"{problem}. Merge it into a neighbouring stratum, or pass drop_sparse=True to drop it (the effect is "
                "then averaged over the other strata only, and method says which were dropped)."
            )
        dropped.append(stratum)
    if not kept:
        raise DataError(
            "no stratum has at least 2 units in both arms; post-stratification is not possible. Use coarser strata "
            "or the unstratified test (abnb.stats.welch)."
        )
    return kept, dropped


def poststratify(
    control: Mapping[str, Moments],
    treatment: Mapping[str, Moments],
    *,
    weights: Mapping[str, float] | None = None,
    alpha: float = 0.05,
    relative: bool = False,
    drop_sparse: bool = False,
) -> Effect:
    """Post-stratified treatment effect ``Σ_s w_s (ȳ_t,s − ȳ_c,s)`` with a normal interval and p-value.

    With strata ``s``, ``n_a,s`` units, mean ``ȳ_a,s`` and unit variance ``v_a,s`` (sample variance, ddof 1, or
    ``p(1 − p)`` for a proportion) in arm ``a``:

    * weights ``w_s = (n_c,s + n_t,s) / Σ_r (n_c,r + n_t,r)``, the stratum's share of all units pooled over arms
      (or the given ``weights``, normalised to sum to 1, e.g. population shares);
    * ``estimate = Σ_s w_s (ȳ_t,s − ȳ_c,s)``; the post-stratified arm means are ``m_a = Σ_s w_s ȳ_a,s``
      (``control_mean``, ``treatment_mean``);
    * ``se² = Σ_s w_s² (v_t,s/n_t,s + v_c,s/n_c,s)``: the standard post-stratification variance, *conditional on
      the stratum counts* (Miratrix, Sekhon & Yu 2013, with Neyman's per-stratum variance estimates, which drop the
      unidentifiable variance of the unit effects and so are conservative for the sample effect). Their
      unconditional variance adds terms of order ``1/n²`` for the randomness of the counts, negligible at A/B-test
      sizes. With weights taken from the data the estimand is the effect on the experiment's own mix of strata;
      the population-average effect under sampling of units would add ``Σ_s w_s (τ_s − τ)²/N`` when the
      stratum effects ``τ_s`` differ;
    * ``z = estimate / se``, two-sided p-value ``2Φ(−|z|)``, interval ``estimate ± z_{1−α/2}·se``.

    It equals the coefficient of the treatment indicator in the least-squares regression on stratum dummies and
    their interactions with treatment (covariates centred at the weights), and ``se`` its HC2 robust standard error
    (Lin 2013); with one stratum it is Welch's difference with a normal reference.

    ``relative=True`` gives the lift ``estimate / |m_c|`` with the delta-method standard error
    ``sqrt(V_t + (m_t/m_c)² V_c) / |m_c|``, ``V_a = Σ_s w_s² v_a,s/n_a,s``, and the interval
    ``lift ± z_{1−α/2}·se``; its p-value is the test of the difference above (the lift is 0 exactly when the
    difference is), so relative and absolute results report the same p-value.

    Args:
        control: Moments of the control arm per stratum name.
        treatment: Moments of the treatment arm per stratum name (the same names).
        weights: Weight per stratum (any positive scale; normalised). ``None``: each stratum's share of all units.
        alpha: Significance level; the interval has coverage ``1 − alpha``.
        relative: Return the lift over the post-stratified control mean instead of the difference.
        drop_sparse: Drop strata present in only one arm or with fewer than 2 units in an arm (named in
            ``method``) instead of refusing them.

    Returns:
        An :class:`~abnb.stats.Effect` with ``df=None``; ``confidence_interval(level)`` recomputes the interval.

    Raises:
        ParameterError: If an arm is not a non-empty mapping of ``Moments``, the arms mix proportions and means,
            ``weights`` misses a stratum or has a negative or non-finite weight, or ``alpha`` is outside (0, 1).
        DataError: If a stratum is present in only one arm or has fewer than 2 units in an arm (the message names
            it; unless ``drop_sparse``), ``weights`` names a stratum without data, no stratum is usable, every
            stratum has zero variance, or ``relative`` with a post-stratified control mean of 0.

    References:
        L. W. Miratrix, J. S. Sekhon & B. Yu (2013), JRSS B 75(2), 369–396; W. Lin (2013), Annals of Applied
        Statistics 7(1), 295–318; A. Deng et al. (2013), WSDM.
    """
    control = _check_arm("control", control)
    treatment = _check_arm("treatment", treatment)
    alpha = check_alpha(alpha)
    kinds = {m.proportion for m in (*control.values(), *treatment.values())}
    if len(kinds) > 1:
        raise ParameterError(
            "the strata mix proportions and means (Moments.proportion differs); build every stratum of both arms "
            "the same way (Moments.from_counts for a rate, Moments.from_values for a mean)."
        )
    kept, dropped = _usable_strata(control, treatment, bool(drop_sparse))
    if weights is None:
        sizes = {s: control[s].n + treatment[s].n for s in kept}
        total = sum(sizes.values())
        shares = {s: sizes[s] / total for s in kept}
        weight_name = "pooled stratum shares"
    else:
        shares = _check_weights(weights, kept, {*control, *treatment})
        weight_name = "given weights"

    difference = math.fsum(shares[s] * treatment[s].difference_from(control[s]) for s in kept)
    m_c = math.fsum(shares[s] * control[s].mean for s in kept)
    m_t = math.fsum(shares[s] * treatment[s].mean for s in kept)
    var_c = math.fsum(shares[s] ** 2 * control[s].variance / control[s].n for s in kept)
    var_t = math.fsum(shares[s] ** 2 * treatment[s].variance / treatment[s].n for s in kept)
    se_diff = math.sqrt(var_c + var_t)
    if se_diff == 0.0:
        raise DataError(
            "every stratum of both arms has zero variance (each unit within a stratum and arm has the same value), "
            "so the post-stratified difference has no standard error. Check the metric definition; for rates use "
            "abnb.stats.fisher on the totals."
        )
    method = f"post-stratified difference over {len(kept)} strata ({weight_name}), "
    method += "variance Σ w²(v_t/n_t + v_c/n_c) conditional on the stratum counts, normal CI"
    if relative:
        if m_c == 0.0:
            raise DataError(
                "the relative lift is undefined because the post-stratified control mean is 0; "
                "use relative=False for the absolute difference."
            )
        estimate = difference / abs(m_c)
        ratio = m_t / m_c
        se = math.sqrt(var_t + ratio * ratio * var_c) / abs(m_c)
        method += ", relative lift (difference / |control mean|), delta-method CI; p-value of the difference"
    else:
        estimate, se = difference, se_diff
    if dropped:
        method += f"; dropped sparse strata: {', '.join(map(repr, dropped))}"
    return symmetric_effect(
        Effect,
        estimate=estimate,
        se=se,
        statistic=difference / se_diff,  # the test of the difference, also for the lift
        df=None,
        alpha=alpha,
        method=method,
        relative=relative,
        control_mean=m_c,
        treatment_mean=m_t,
    )
