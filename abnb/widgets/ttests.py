"""Welch vs Student vs paired t-test on the same benchmark data, and the tests printed the way R prints them.

A benchmark runs on ``N`` machines before and after a change. Machines differ (between-unit sd ``σ_m``) and each
run is noisy (within-unit sd ``σ_e``); the change shortens the runtime by ``δ``:

``before_i = μ + m_i + e_i``, ``after_i = μ + m_i − δ + e'_i`` with ``m_i ~ N(0, σ_m²)``, ``e, e' ~ N(0, σ_e²)``.

Treating the two columns as independent samples (as if every run used regenerated inputs on other machines) gives
Welch's or Student's two-sample test, whose standard error carries the machine spread:
``se² ≈ 2(σ_m² + σ_e²)/N``. Pairing the runs of each machine cancels ``m_i``: the differences have variance
``2σ_e²`` only, so ``se² ≈ 2σ_e²/N`` — much smaller when machines vary a lot, at the cost of ``N − 1`` instead of
``≈ 2N − 2`` degrees of freedom.

:func:`r_style` formats a result like R's ``print.htest`` (``t.test``), so abnb's numbers can be checked line by
line against R.
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from abnb.errors import ParameterError
from abnb.stats import Effect, Moments, paired, welch
from abnb.widgets._app import (
    App,
    View,
    effect_numbers,
    float_slider,
    int_slider,
    number_in,
    pvalue_text,
    whole_in,
)
from abnb.widgets._charts import palette, reference_lines

if TYPE_CHECKING:
    import altair as alt
    from numpy.typing import NDArray

__all__ = [
    "ALPHA",
    "BASE_RUNTIME",
    "MAX_LINES",
    "PRESETS",
    "TTestsState",
    "compare",
    "compute",
    "draw",
    "r_format",
    "r_format_pvalue",
    "r_style",
    "render",
    "student",
    "ttests_app",
]

ALPHA = 0.05
"""Significance level of the app."""
BASE_RUNTIME = 200.0
"""Mean runtime of the benchmark before the change, in milliseconds."""
MAX_LINES = 150
"""At most this many machines are drawn as before/after lines (the chart frame has ``≤ 2 · MAX_LINES`` rows)."""
MAX_N = 500
"""Most machines the slider offers."""
Test = Literal["welch", "student", "paired"]
_TESTS: tuple[Test, ...] = ("paired", "welch", "student")
_LABELS = {"paired": "paired t-test", "welch": "Welch t-test", "student": "Student t-test"}
_R_METHOD = {"welch": "Welch Two Sample t-test", "student": "Two Sample t-test", "paired": "Paired t-test"}
_STUDENT_METHOD = "Student t-test (pooled variance, n_c + n_t − 2 df)"

PRESETS: dict[str, dict[str, Any]] = {
    "machines vary a lot": {"n": 10, "improvement": 3.0, "between_sd": 30.0, "noise_sd": 2.0, "seed": 1},
    "identical machines": {"n": 10, "improvement": 3.0, "between_sd": 0.0, "noise_sd": 2.0, "seed": 1},
}
"""Named slider settings (milliseconds)."""


# ------------------------------------------------------------------------------------------------------
# tests


def student(control: Moments, treatment: Moments, *, alpha: float = 0.05) -> Effect:
    """Student's two-sample t-test with a pooled variance (R's ``t.test(..., var.equal = TRUE)``).

    ``s_p² = ((n_c − 1)s_c² + (n_t − 1)s_t²) / (n_c + n_t − 2)``, ``se = s_p·√(1/n_c + 1/n_t)``,
    ``t = (ȳ_t − ȳ_c)/se`` on ``n_c + n_t − 2`` degrees of freedom (statistic and p-value from
    :func:`scipy.stats.ttest_ind_from_stats` with ``equal_var=True``), interval ``ȳ_t − ȳ_c ± t_{1−α/2, df}·se``.

    Args:
        control: Moments of the control arm (R's ``y``).
        treatment: Moments of the treatment arm (R's ``x``).
        alpha: Significance level; the interval has coverage ``1 − alpha``.

    Returns:
        The effect ``treatment − control``.

    Raises:
        ParameterError: If an arm is not ``Moments``, has fewer than 2 units or both have zero variance, or
            ``alpha`` is outside (0, 1).

    References:
        "Student" (1908), "The probable error of a mean", Biometrika 6, 1–25.
    """
    from scipy import stats

    alpha = number_in("alpha", alpha, 0.0, 1.0, open_low=True, open_high=True)
    for name, arm in (("control", control), ("treatment", treatment)):
        if not isinstance(arm, Moments):
            raise ParameterError(f"{name} must be abnb.stats.Moments, got {type(arm).__name__}.")
        if arm.n < 2:
            raise ParameterError(f"{name} has n={arm.n} unit(s); Student's t-test needs at least 2 per arm.")
    n_c, n_t = control.n, treatment.n
    df = float(n_c + n_t - 2)
    pooled = ((n_c - 1) * control.variance + (n_t - 1) * treatment.variance) / df
    se = math.sqrt(pooled * (1.0 / n_c + 1.0 / n_t))
    if se == 0.0:
        raise ParameterError("both arms have zero variance, so Student's t-test is undefined.")
    result = stats.ttest_ind_from_stats(
        treatment.mean, treatment.std, n_t, control.mean, control.std, n_c, equal_var=True
    )
    estimate = treatment.mean - control.mean

    def interval(level: float) -> tuple[float, float]:
        half = float(stats.t.ppf(0.5 + level / 2.0, df)) * se
        return estimate - half, estimate + half

    low, high = interval(1.0 - float(alpha))
    return Effect(
        estimate=estimate,
        se=se,
        ci_low=low,
        ci_high=high,
        pvalue=float(result.pvalue),
        statistic=float(result.statistic),
        df=df,
        alpha=float(alpha),
        method=_STUDENT_METHOD,
        relative=False,
        control_mean=control.mean,
        treatment_mean=treatment.mean,
        _interval=interval,
    )


def compare(x: NDArray[np.float64], y: NDArray[np.float64], *, alpha: float = ALPHA) -> dict[Test, Effect]:
    """The three t-tests of ``mean(x) − mean(y)``, as R's ``t.test(x, y)`` with its three settings.

    Welch and Student treat ``x`` and ``y`` as independent samples (:func:`abnb.stats.welch`, :func:`student`);
    the paired test uses the per-unit differences ``x − y`` (:func:`abnb.stats.paired`).

    Args:
        x: Values of the first sample (after the change, in the app).
        y: Values of the second sample, aligned with ``x`` unit by unit for the paired test.
        alpha: Significance level.

    Returns:
        The effects by test name (``"paired"``, ``"welch"``, ``"student"``); each estimates ``mean(x) − mean(y)``.

    Raises:
        ParameterError: If ``x`` and ``y`` differ in length or have fewer than 2 values.
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    if x.shape != y.shape or x.ndim != 1:
        raise ParameterError(f"x and y must be 1-d and of equal length for a paired test, got {x.shape}, {y.shape}.")
    mx, my = Moments.from_values(x), Moments.from_values(y)
    return {
        "paired": paired(Moments.from_values(x - y), alpha=alpha),
        "welch": welch(my, mx, alpha=alpha),
        "student": student(my, mx, alpha=alpha),
    }


# ------------------------------------------------------------------------------------------------------
# R's print.htest


def r_format(values: float | list[float], digits: int = 7) -> list[str]:
    """Format numbers as R's ``format(values, digits = digits)`` does (a common layout for the whole vector).

    R chooses for the vector the fewest significant digits (at most ``digits``) that show every element to
    ``digits`` significant digits, then fixed notation with a common number of decimals unless scientific
    notation is narrower (``scipen = 0``); the results are right-aligned to a common width.

    Args:
        values: One number or a list of numbers (finite).
        digits: Significant digits (R's ``getOption("digits")`` is 7).

    Returns:
        The formatted strings, all of the same width.
    """
    numbers = [float(v) for v in (values if isinstance(values, list) else [values])]
    neg = any(v < 0 for v in numbers)
    kps, sigs = [], []
    for v in numbers:
        if v == 0.0:
            kps.append(0)
            sigs.append(1)
            continue
        mantissa, exponent = f"{abs(v):.{digits - 1}e}".split("e")
        kps.append(int(exponent))
        sigs.append(len(mantissa.replace(".", "").rstrip("0")) or 1)
    rgt = max(max(0, s - k - 1) for s, k in zip(sigs, kps, strict=True))
    left = max(k + 1 if k >= 0 else 1 for k in kps)
    width_fixed = int(neg) + left + (rgt + 1 if rgt else 0)
    mxns = max(sigs)
    exp_digits = max(2, *(len(str(abs(k))) for k in kps))
    width_sci = int(neg) + (mxns + 1 if mxns > 1 else 1) + 2 + exp_digits
    fixed = width_fixed <= width_sci
    texts = [f"{v:.{rgt}f}" if fixed else f"{v:.{mxns - 1}e}" for v in numbers]
    width = max(len(t) for t in texts)
    return [t.rjust(width) for t in texts]


def r_format_pvalue(pvalue: float, digits: int = 4) -> str:
    """Format a p-value as R's ``format.pval(p, digits = 4)`` inside ``print.htest`` (``"< 2.2e-16"`` if tiny)."""
    eps = float(np.finfo(float).eps)
    if pvalue < eps:
        return "< " + r_format(eps, max(1, digits - 2))[0]
    return r_format(pvalue, digits)[0]


def _r_named(names: list[str], values: list[float]) -> str:
    """R's print of a named numeric vector: names above values, right-aligned columns, a space after each."""
    texts = r_format(values)
    widths = [max(len(n), len(t)) for n, t in zip(names, texts, strict=True)]
    top = "".join(n.rjust(w) + " " for n, w in zip(names, widths, strict=True))
    bottom = "".join(t.rjust(w) + " " for t, w in zip(texts, widths, strict=True))
    return f"{top}\n{bottom}"


def _infer_test(result: Effect) -> Test:
    method = result.method.lower()
    if method.startswith("paired"):
        return "paired"
    if method.startswith("welch"):
        return "welch"
    if method.startswith("student"):
        return "student"
    raise ParameterError(
        f"r_style cannot tell which t-test {result.method!r} is; pass test='welch', 'student' or 'paired'."
    )


def r_style(result: Effect, *, x: str = "x", y: str = "y", test: Test | None = None) -> str:
    """The result laid out as R prints ``t.test(x, y, ...)``.

    For example ``r_style(abnb.stats.welch(Moments.from_values(y), Moments.from_values(x)))`` prints as
    ``t.test(x, y)``, ``r_style(student(...))`` as ``t.test(x, y, var.equal = TRUE)`` and
    ``r_style(abnb.stats.paired(Moments.from_values(x - y)))`` as ``t.test(x, y, paired = TRUE)`` (R ≥ 4.0
    wording). abnb's effects estimate ``treatment − control``, so R's ``x`` is the treatment and ``y`` the control.
    The statistic and df are printed with 5 significant digits, the p-value with 4 (``format.pval``), the interval
    and the estimates with 7, as ``print.htest`` does with the default ``digits = 7``.

    Args:
        result: A two-sided t-test result from :func:`abnb.stats.welch`, :func:`student` or
            :func:`abnb.stats.paired` (absolute difference, ``df`` set).
        x: Name of the first sample in the ``data:`` line and the estimates.
        y: Name of the second sample.
        test: Which test it is; inferred from ``result.method`` when ``None``.

    Returns:
        The text, starting with the tab-indented method line and ending with a newline.

    Raises:
        ParameterError: If the result is relative, has no df, or its test cannot be inferred.

    References:
        R Core Team, ``stats::t.test`` and ``stats:::print.htest`` (R 4.x).
    """
    if not isinstance(result, Effect):
        raise ParameterError(f"result must be an abnb.stats.Effect, got {type(result).__name__}.")
    if result.relative or result.df is None:
        raise ParameterError("r_style prints t-tests of an absolute difference: relative=False and a df are needed.")
    kind = _infer_test(result) if test is None else test
    if kind not in _R_METHOD:
        raise ParameterError(f"test must be 'welch', 'student' or 'paired', got {kind!r}.")
    level = 1.0 - result.alpha
    level_text = r_format(100.0 * level)[0].strip()
    low, high = r_format([result.ci_low, result.ci_high])
    pvalue = r_format_pvalue(result.pvalue)
    pvalue_part = pvalue if pvalue.startswith("<") else f"= {pvalue}"
    if kind == "paired":
        null_name = "mean difference"
        estimates = _r_named(["mean difference"], [result.estimate])
    else:
        null_name = "difference in means"
        estimates = _r_named([f"mean of {x}", f"mean of {y}"], [result.treatment_mean, result.control_mean])
    return (
        f"\t{_R_METHOD[kind]}\n\n"
        f"data:  {x} and {y}\n"
        f"t = {r_format(result.statistic, 5)[0]}, df = {r_format(result.df, 5)[0]}, p-value {pvalue_part}\n"
        f"alternative hypothesis: true {null_name} is not equal to 0\n"
        f"{level_text} percent confidence interval:\n"
        f" {low} {high}\n"
        "sample estimates:\n"
        f"{estimates}\n"
    )


# ------------------------------------------------------------------------------------------------------
# the app


@dataclass(frozen=True)
class TTestsState:
    """Everything the app shows for one setting of the sliders (runtimes in milliseconds).

    Attributes:
        n: Machines.
        improvement: True reduction of the runtime ``δ``.
        between_sd: Spread of the machines ``σ_m``.
        noise_sd: Noise of one run ``σ_e``.
        seed: Seed of the draw.
        mean_before: Observed mean runtime before the change.
        mean_after: Observed mean runtime after the change.
        estimate: Observed ``mean(after) − mean(before)`` (the same for all three tests).
        sd_before: Observed sd of the runtimes before (ddof=1).
        sd_after: Observed sd of the runtimes after.
        sd_difference: Observed sd of the per-machine differences ``after − before``.
        paired_statistic: Paired t.
        paired_df: Paired degrees of freedom ``N − 1``.
        paired_pvalue: Paired p-value.
        paired_ci_low: Paired 95% interval, lower end.
        paired_ci_high: Paired 95% interval, upper end.
        welch_statistic: Welch t.
        welch_df: Welch–Satterthwaite df.
        welch_pvalue: Welch p-value.
        welch_ci_low: Welch 95% interval, lower end.
        welch_ci_high: Welch 95% interval, upper end.
        student_statistic: Student t.
        student_df: Student df ``2N − 2``.
        student_pvalue: Student p-value.
        student_ci_low: Student 95% interval, lower end.
        student_ci_high: Student 95% interval, upper end.
        r_paired: The paired test printed as R's ``t.test(after, before, paired = TRUE)``.
        r_welch: Welch's test printed as R's ``t.test(after, before)``.
        r_student: Student's test printed as R's ``t.test(after, before, var.equal = TRUE)``.
        verdict: The explanation, as plain text.
        table: One row per test: ``test``, ``estimate``, ``se``, ``statistic``, ``df``, ``pvalue``, ``ci_low``,
            ``ci_high``, ``significant``.
        lines: Before/after runtimes of the first ``MAX_LINES`` machines: ``machine``, ``phase``, ``runtime``,
            ``change`` (``"faster"``/``"slower"``).
    """

    n: int
    improvement: float
    between_sd: float
    noise_sd: float
    seed: int
    mean_before: float
    mean_after: float
    estimate: float
    sd_before: float
    sd_after: float
    sd_difference: float
    paired_statistic: float
    paired_df: float
    paired_pvalue: float
    paired_ci_low: float
    paired_ci_high: float
    welch_statistic: float
    welch_df: float
    welch_pvalue: float
    welch_ci_low: float
    welch_ci_high: float
    student_statistic: float
    student_df: float
    student_pvalue: float
    student_ci_low: float
    student_ci_high: float
    r_paired: str
    r_welch: str
    r_student: str
    verdict: str
    table: pd.DataFrame
    lines: pd.DataFrame


def draw(
    *, n: int, improvement: float, between_sd: float, noise_sd: float, seed: int
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Draw the benchmark runtimes before and after the change on ``n`` machines.

    ``before_i = 200 + σ_m·z_i + σ_e·u_i`` and ``after_i = 200 + σ_m·z_i − δ + σ_e·v_i`` with independent
    standard normals ``z, u, v``, each from its own stream of ``SeedSequence(seed).spawn(3)``.

    Args:
        n: Machines (2 to 500).
        improvement: True reduction ``δ`` of the runtime (ms, −100 to 100).
        between_sd: Machine spread ``σ_m`` (ms, 0 to 200).
        noise_sd: Run-to-run noise ``σ_e`` (ms, > 0 and at most 200).
        seed: Non-negative seed.

    Returns:
        The runtimes before and after, aligned by machine.

    Raises:
        ParameterError: If a parameter is outside its range.
    """
    n = whole_in("n", n, 2, MAX_N)
    improvement = number_in("improvement", improvement, -100.0, 100.0)
    between_sd = number_in("between_sd", between_sd, 0.0, 200.0)
    noise_sd = number_in("noise_sd", noise_sd, 0.0, 200.0, open_low=True)  # runs are never exactly repeatable
    seed = whole_in("seed", seed, 0)
    machines, first, second = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(3))
    level = BASE_RUNTIME + between_sd * machines.standard_normal(n)
    before = level + noise_sd * first.standard_normal(n)
    after = level - improvement + noise_sd * second.standard_normal(n)
    return before, after


def _explain(
    *, n: int, between_sd: float, noise_sd: float, sd_pooled: float, sd_diff: float, results: dict[Test, Effect]
) -> str:
    p_paired, p_welch = results["paired"].pvalue, results["welch"].pvalue
    se_paired, se_welch = results["paired"].se, results["welch"].se

    def word(p: float) -> str:
        return "significant" if p < ALPHA else "not significant"

    head = (
        f"Paired: {word(p_paired)} (p = {pvalue_text(p_paired)}); Welch: {word(p_welch)} (p = {pvalue_text(p_welch)}); "
        f"Student: {word(results['student'].pvalue)} (p = {pvalue_text(results['student'].pvalue)}). "
    )
    why = (
        f"All three estimate the same change, {results['paired'].estimate:.3g} ms. The two-sample tests see the "
        f"spread of the runtimes across machines (sd ≈ {sd_pooled:.3g} ms), so their standard error is "
        f"{se_welch:.3g} ms; pairing subtracts each machine's own level, the differences only carry run-to-run "
        f"noise (sd {sd_diff:.3g} ms), and the standard error {'shrinks to' if se_paired < se_welch else 'is'} "
        f"{se_paired:.3g} ms. "
    )
    if between_sd >= noise_sd:
        lesson = (
            f"The machines vary more than the runs do (σ_m = {between_sd:g} vs σ_e = {noise_sd:g} ms): measured "
            "on the same machines, the before/after comparison is dependent and the paired test is the more "
            "powerful one."
        )
    else:
        lesson = (
            f"Here the machines barely differ (σ_m = {between_sd:g} vs σ_e = {noise_sd:g} ms): pairing removes "
            f"little, and the paired test has only {n - 1} degrees of freedom against about {2 * n - 2}, so it "
            "gains little or nothing."
        )
    return head + why + lesson


def compute(
    n: int = 10, improvement: float = 3.0, between_sd: float = 30.0, noise_sd: float = 2.0, seed: int = 1
) -> TTestsState:
    """Draw the benchmark and run the paired, Welch and Student t-tests of ``after − before``.

    Paired: :func:`abnb.stats.paired` on ``Moments.from_values(after − before)``, ``t = D̄/(s_D/√N)`` on ``N − 1``
    df. Welch: :func:`abnb.stats.welch`, ``t = (ȳ_a − ȳ_b)/√(s_a²/N + s_b²/N)`` on Welch–Satterthwaite df.
    Student: :func:`student`, pooled variance on ``2N − 2`` df.

    Args:
        n: Machines (2 to 500).
        improvement: True reduction of the runtime (ms).
        between_sd: Machine spread (ms).
        noise_sd: Run-to-run noise (ms, > 0).
        seed: Seed of the draw.

    Returns:
        The state: the three tests, their R printouts, the table, the lines frame and the verdict.

    Raises:
        ParameterError: If a parameter is outside its range (see :func:`draw`).

    References:
        Welch (1947), Biometrika 34; "Student" (1908), Biometrika 6.
    """
    before, after = draw(n=n, improvement=improvement, between_sd=between_sd, noise_sd=noise_sd, seed=seed)
    results = compare(after, before, alpha=ALPHA)
    m_before, m_after, m_diff = (Moments.from_values(v) for v in (before, after, after - before))
    table = pd.DataFrame(
        [
            {
                "test": _LABELS[name],
                "estimate": r.estimate,
                "se": r.se,
                **effect_numbers(r),
                "significant": r.pvalue < ALPHA,
            }
            for name, r in results.items()
        ]
    )
    shown = min(int(n), MAX_LINES)
    change = np.where(after[:shown] < before[:shown], "faster", "slower")
    lines = pd.DataFrame(
        {
            "machine": np.tile(np.arange(1, shown + 1), 2),
            "phase": np.repeat(["before", "after"], shown),
            "runtime": np.concatenate([before[:shown], after[:shown]]),
            "change": np.tile(change, 2),
        }
    )
    sd_pooled = math.sqrt((m_before.variance + m_after.variance) / 2.0)
    verdict = _explain(
        n=int(n),
        between_sd=float(between_sd),
        noise_sd=float(noise_sd),
        sd_pooled=sd_pooled,
        sd_diff=m_diff.std,
        results=results,
    )
    tests: dict[str, Any] = {
        f"{name}_{key}": value for name, r in results.items() for key, value in effect_numbers(r).items()
    }
    printed: dict[str, Any] = {f"r_{name}": r_style(r, x="after", y="before", test=name) for name, r in results.items()}
    return TTestsState(
        n=int(n),
        improvement=float(improvement),
        between_sd=float(between_sd),
        noise_sd=float(noise_sd),
        seed=int(seed),
        mean_before=m_before.mean,
        mean_after=m_after.mean,
        estimate=m_after.mean - m_before.mean,
        sd_before=m_before.std,
        sd_after=m_after.std,
        sd_difference=m_diff.std,
        **tests,
        **printed,
        verdict=verdict,
        table=table,
        lines=lines,
    )


def chart(state: TTestsState) -> alt.HConcatChart:
    """Per-machine before/after lines, next to the three tests' 95% intervals of ``after − before``."""
    import altair as alt

    color = palette("change:N", {"faster": "#1b7837", "slower": "#b2182b"}, title="after the change", orient="top")
    shown = min(state.n, MAX_LINES)
    title = f"Runtime per machine (first {shown} of {state.n})" if shown < state.n else "Runtime per machine"
    lines = (
        alt.Chart(state.lines)
        .mark_line(point=True, opacity=0.7)
        .encode(
            x=alt.X("phase:N", sort=["before", "after"], title=None, axis=alt.Axis(labelAngle=0)),
            y=alt.Y("runtime:Q", title="runtime (ms)", scale=alt.Scale(zero=False)),
            detail="machine:N",
            color=color,
        )
        .properties(width=180, height=260, title=title)
    )
    table = state.table.assign(
        truth=-state.improvement, result=np.where(state.table["significant"], "p < 0.05", "p ≥ 0.05")
    )
    base = alt.Chart(table).encode(y=alt.Y("test:N", title=None, sort=list(table["test"])))
    rules = base.mark_rule(strokeWidth=3).encode(
        x=alt.X("ci_low:Q", title="after − before (ms), 95% interval"),
        x2="ci_high:Q",
        color=palette("result:N", {"p < 0.05": "#1b7837", "p ≥ 0.05": "#6b6b6b"}, title=None, orient="top"),
    )
    points = base.mark_point(filled=True, size=70, color="black").encode(x="estimate:Q")
    zero = reference_lines("x", [0.0], strokeDash=[4, 3], color="#444")
    truth = base.mark_tick(color="#1f77b4", thickness=2, size=20).encode(x="truth:Q")
    intervals = (rules + points + zero + truth).properties(
        width=320, height=150, title="The three tests (tick: true change)"
    )
    combined: alt.HConcatChart = (
        alt.hconcat(lines, intervals).resolve_scale(color="independent").configure_view(stroke=None)
    )
    return combined


def _table_html(state: TTestsState) -> str:
    head = "".join(
        f"<th>{h}</th>" for h in ("test", "after − before", "se", "t", "df", "p-value", "95% CI", "p < 0.05")
    )
    rows = []
    for row in state.table.to_dict("records"):
        cells = [
            str(row["test"]),
            f"{row['estimate']:.4g}",
            f"{row['se']:.4g}",
            f"{row['statistic']:.4g}",
            f"{row['df']:.4g}",
            pvalue_text(float(row["pvalue"])),
            f"[{row['ci_low']:.4g}, {row['ci_high']:.4g}]",
            "yes" if row["significant"] else "no",
        ]
        rows.append("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>")
    return f"<table class='abnb-ttests'><tr>{head}</tr>{''.join(rows)}</table>"


def verdict_html(state: TTestsState) -> str:
    """The table of the three tests, the explanation and R's printouts side by side, as HTML."""
    blocks = "".join(
        f"<pre style='margin:0 12px 0 0;font-size:11px'>{html.escape('> t.test(after, before' + call + ')')}\n"
        f"{html.escape(text)}</pre>"
        for call, text in (
            (", paired = TRUE", state.r_paired),
            ("", state.r_welch),
            (", var.equal = TRUE", state.r_student),
        )
    )
    return (
        f"<div class='abnb-verdict'>{_table_html(state)}"
        f"<p class='abnb-verdict-headline'>{html.escape(state.verdict)}</p>"
        f"<details><summary>The same tests as R prints them</summary>"
        f"<div style='display:flex;flex-wrap:wrap'>{blocks}</div></details></div>"
    )


def render(state: TTestsState) -> View:
    """The chart and the verdict of a state."""
    return View(chart=chart(state), verdict=verdict_html(state))


def ttests_app(*, initial_preset: str = "machines vary a lot", presenter: bool = False, **initial: Any) -> App:
    """The teaching app: sliders for machines, true improvement, machine spread, run noise and the seed.

    Args:
        initial_preset: The preset the app starts on (``"(custom)"``: none); by default the first one notebook 04
            discusses.
        presenter: Larger fonts and controls for a projector (see :class:`abnb.widgets.App`).
        **initial: Starting values by control name (``n``, ``improvement``, ``between_sd``, ``noise_sd``,
            ``seed``), on top of the preset.

    Returns:
        The app; its slider descriptions are "N", "improvement", "machine sd", "noise sd" and "seed".

    Raises:
        ParameterError: If an initial value names no control.
    """
    title = "Paired vs Welch vs Student t-test: a benchmark before and after a change (runtimes in ms)"
    defaults = PRESETS["machines vary a lot"]
    opts: dict[str, Any] = {"continuous_update": False, "style": {"description_width": "80px"}}
    controls = {
        "n": int_slider("N", defaults["n"], 2, MAX_N, **opts),
        "improvement": float_slider("improvement", defaults["improvement"], -20, 20, 0.5, **opts),
        "between_sd": float_slider("machine sd", defaults["between_sd"], 0, 100, 0.5, **opts),
        "noise_sd": float_slider("noise sd", defaults["noise_sd"], 0.5, 50, 0.5, **opts),
        "seed": int_slider("seed", defaults["seed"], 0, 999, **opts),
    }
    return App(
        title, controls, compute, render, PRESETS, initial=initial, initial_preset=initial_preset, presenter=presenter
    )
