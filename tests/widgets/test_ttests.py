from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

import abnb.widgets.ttests as tt
from abnb.errors import ParameterError
from abnb.stats import Moments, paired, welch

# R's `sleep` data set (Cushny & Peebles 1905, as printed by R's datasets::sleep).
GROUP1 = np.array([0.7, -1.6, -0.2, -1.2, -0.1, 3.4, 3.7, 0.8, 0.0, 2.0])
GROUP2 = np.array([1.9, 0.8, 1.1, 0.1, -0.1, 4.4, 5.5, 1.6, 4.6, 3.4])

# Printed by R 4.x: t.test(x, y) with x <- sleep$extra[1:10], y <- sleep$extra[11:20]
R_WELCH = """\tWelch Two Sample t-test

data:  x and y
t = -1.8608, df = 17.776, p-value = 0.07939
alternative hypothesis: true difference in means is not equal to 0
95 percent confidence interval:
 -3.3654832  0.2054832
sample estimates:
mean of x mean of y 
     0.75      2.33 
"""  # noqa: W291 -- R pads each column of a named vector with a trailing space
# t.test(x, y, var.equal = TRUE)
R_STUDENT = """\tTwo Sample t-test

data:  x and y
t = -1.8608, df = 18, p-value = 0.07919
alternative hypothesis: true difference in means is not equal to 0
95 percent confidence interval:
 -3.363874  0.203874
sample estimates:
mean of x mean of y 
     0.75      2.33 
"""  # noqa: W291
# t.test(x, y, paired = TRUE)
R_PAIRED = """\tPaired t-test

data:  x and y
t = -4.0621, df = 9, p-value = 0.002833
alternative hypothesis: true mean difference is not equal to 0
95 percent confidence interval:
 -2.4598858 -0.7001142
sample estimates:
mean difference 
          -1.58 
"""  # noqa: W291


def test_sleep_numbers_match_r_to_printed_precision() -> None:
    results = tt.compare(GROUP1, GROUP2)
    w, s, p = results["welch"], results["student"], results["paired"]
    # Welch: t = -1.8608, df = 17.776, p-value = 0.07939, CI -3.3654832 0.2054832
    assert round(w.statistic, 4) == -1.8608
    assert round(w.df or 0, 3) == 17.776
    assert round(w.pvalue, 5) == 0.07939
    assert (round(w.ci_low, 7), round(w.ci_high, 7)) == (-3.3654832, 0.2054832)
    assert (w.treatment_mean, w.control_mean) == pytest.approx((0.75, 2.33))
    # Student: t = -1.8608, df = 18, p-value = 0.07919, CI -3.363874 0.203874
    assert round(s.statistic, 4) == -1.8608
    assert s.df == 18
    assert round(s.pvalue, 5) == 0.07919
    assert (round(s.ci_low, 6), round(s.ci_high, 6)) == (-3.363874, 0.203874)
    # paired: t = -4.0621, df = 9, p-value = 0.002833, CI -2.4598858 -0.7001142, mean difference -1.58
    assert round(p.statistic, 4) == -4.0621
    assert p.df == 9
    assert round(p.pvalue, 6) == 0.002833
    assert (round(p.ci_low, 7), round(p.ci_high, 7)) == (-2.4598858, -0.7001142)
    assert p.estimate == pytest.approx(-1.58)


def test_r_style_reproduces_r_printout() -> None:
    results = tt.compare(GROUP1, GROUP2)
    assert tt.r_style(results["welch"]) == R_WELCH
    assert tt.r_style(results["student"]) == R_STUDENT
    assert tt.r_style(results["paired"]) == R_PAIRED
    # built directly from abnb.stats, as the docstring says
    direct = welch(Moments.from_values(GROUP2), Moments.from_values(GROUP1))
    assert tt.r_style(direct) == R_WELCH
    assert tt.r_style(paired(Moments.from_values(GROUP1 - GROUP2))) == R_PAIRED


def test_r_style_confidence_level_and_names() -> None:
    result = welch(Moments.from_values(GROUP2), Moments.from_values(GROUP1), alpha=0.1)
    text = tt.r_style(result, x="after", y="before")
    assert "data:  after and before\n" in text
    assert "\n90 percent confidence interval:\n" in text
    assert "mean of after mean of before \n" in text


def test_r_style_rejects_what_it_cannot_print() -> None:
    with pytest.raises(ParameterError, match="relative"):
        tt.r_style(welch(Moments.from_values(GROUP2), Moments.from_values(GROUP1), relative=True))
    with pytest.raises(ParameterError, match="Effect"):
        tt.r_style("t = 1")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("values", "digits", "expected"),
    [
        # R: format(c(-3.3654832, 0.2054832)), format(-1.860813, digits = 5), format.pval(...)
        ([-3.36548323, 0.20548323], 7, ["-3.3654832", " 0.2054832"]),
        ([17.77647], 5, ["17.776"]),
        ([9.0], 5, ["9"]),
        ([1e-5, 3.0], 7, ["1e-05", "3e+00"]),
        ([1234567.8], 5, ["1234568"]),
        ([0.0001234], 5, ["0.0001234"]),
        ([7.14e-05], 4, ["7.14e-05"]),
        ([0.0], 7, ["0"]),
    ],
)
def test_r_format(values: list[float], digits: int, expected: list[str]) -> None:
    assert tt.r_format(values, digits) == expected


def test_r_format_pvalue() -> None:
    assert tt.r_format_pvalue(0.0793941) == "0.07939"
    assert tt.r_format_pvalue(0.00283289) == "0.002833"
    assert tt.r_format_pvalue(1e-30) == "< 2.2e-16"


@pytest.mark.parametrize(
    "params",
    [
        {"n": 10, "improvement": 3.0, "between_sd": 30.0, "noise_sd": 2.0, "seed": 1},
        {"n": 2, "improvement": -1.0, "between_sd": 0.0, "noise_sd": 5.0, "seed": 0},
        {"n": 500, "improvement": 0.5, "between_sd": 10.0, "noise_sd": 3.0, "seed": 7},
    ],
)
def test_compute_matches_scipy(params: dict[str, float]) -> None:
    state = tt.compute(**params)
    before, after = tt.draw(**params)
    for prefix, expected in (
        ("paired", stats.ttest_rel(after, before)),
        ("welch", stats.ttest_ind(after, before, equal_var=False)),
        ("student", stats.ttest_ind(after, before, equal_var=True)),
    ):
        assert getattr(state, f"{prefix}_statistic") == pytest.approx(float(expected.statistic), rel=1e-9)
        assert getattr(state, f"{prefix}_pvalue") == pytest.approx(float(expected.pvalue), rel=1e-6, abs=1e-12)
        assert getattr(state, f"{prefix}_df") == pytest.approx(float(expected.df), rel=1e-9)
        low, high = expected.confidence_interval(0.95)
        ci = (getattr(state, f"{prefix}_ci_low"), getattr(state, f"{prefix}_ci_high"))
        assert ci == pytest.approx((low, high), rel=1e-9)
    assert state.estimate == pytest.approx(float(np.mean(after - before)))
    assert list(state.table["test"]) == ["paired t-test", "Welch t-test", "Student t-test"]
    assert len(state.lines) == 2 * min(int(params["n"]), tt.MAX_LINES)
    assert state.r_welch.startswith("\tWelch Two Sample t-test\n\ndata:  after and before\n")
    assert f"df = {tt.r_format(state.paired_df, 5)[0]}," in state.r_paired


def test_paired_beats_independent_when_machines_vary() -> None:
    varied = tt.compute(**tt.PRESETS["machines vary a lot"])
    assert varied.paired_pvalue < 0.05 < varied.welch_pvalue
    assert varied.student_pvalue > 0.05
    assert varied.table.loc[0, "se"] < varied.table.loc[1, "se"] / 5
    assert "paired test is the more powerful one" in varied.verdict
    same = tt.compute(**tt.PRESETS["identical machines"])
    assert same.paired_df == 9
    assert same.student_df == 18
    assert "gains little or nothing" in same.verdict


def test_lines_frame_is_bounded() -> None:
    state = tt.compute(n=500)
    assert len(state.lines) == 2 * tt.MAX_LINES
    assert set(state.lines["phase"]) == {"before", "after"}
    first = state.lines[state.lines["machine"] == 1].set_index("phase")["runtime"]
    before, after = tt.draw(n=500, improvement=3.0, between_sd=30.0, noise_sd=2.0, seed=1)
    assert (first["before"], first["after"]) == (before[0], after[0])


def test_draw_shares_machine_levels() -> None:
    before, after = tt.draw(n=200, improvement=5.0, between_sd=50.0, noise_sd=1.0, seed=3)
    assert np.corrcoef(before, after)[0, 1] > 0.99
    assert np.mean(before - after) == pytest.approx(5.0, abs=0.3)


@pytest.mark.parametrize(
    ("param", "value"),
    [("n", 1), ("n", 501), ("noise_sd", 0.0), ("between_sd", -1.0), ("seed", -3), ("improvement", 1000.0)],
)
def test_parameter_errors(param: str, value: float) -> None:
    with pytest.raises(ParameterError, match=param):
        tt.compute(**{param: value})


def test_student_matches_scipy_and_checks_arms() -> None:
    result = tt.student(Moments.from_values(GROUP2), Moments.from_values(GROUP1), alpha=0.1)
    expected = stats.ttest_ind(GROUP1, GROUP2, equal_var=True)
    assert (result.ci_low, result.ci_high) == pytest.approx(tuple(expected.confidence_interval(0.9)), rel=1e-9)
    assert tuple(result.confidence_interval(0.99)) == pytest.approx(tuple(expected.confidence_interval(0.99)), rel=1e-9)
    with pytest.raises(ParameterError, match="control"):
        tt.student(Moments.from_values([1.0]), Moments.from_values(GROUP1))


def test_app_updates_table_and_verdict() -> None:
    app = tt.ttests_app()
    assert [c.description for c in app.controls.values()] == ["N", "improvement", "machine sd", "noise sd", "seed"]
    assert app.view is not None
    assert "paired t-test" in app.view.verdict
    assert "Welch Two Sample t-test" in app.view.verdict
    previous = app.view.verdict
    app.set(between_sd=0.0)
    assert app.state.between_sd == 0.0
    assert app.view.verdict != previous
    assert "gains little or nothing" in app.view.verdict
    app.apply_preset("machines vary a lot")
    assert app.state.paired_pvalue < 0.05
    assert "<svg" in app.snapshot()
