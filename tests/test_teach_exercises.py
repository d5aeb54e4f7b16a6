"""The teaching exercises: each expected answer checked independently, and the feedback on typical mistakes."""

from __future__ import annotations

import math

import pytest
from scipy import stats

import abnb.teach as teach
from abnb.errors import ParameterError
from abnb.stats import sample_size
from abnb.teach import exercises as ex

NOTEBOOKS = (
    "01_error_model",
    "02_comparing_distributions",
    "03_confidence_intervals",
    "04_t_test",
    "05_significance_and_power",
    "06_peeking",
    "07_ab_conversion_table",
)


def test_every_teaching_notebook_has_an_exercise() -> None:
    for notebook in NOTEBOOKS:
        assert teach.notebook_exercises(notebook), notebook
    assert {e.notebook for e in teach.EXERCISES.values()} == set(NOTEBOOKS)


def test_expected_answers_against_independent_values() -> None:
    """Published or independently computed values: R's sleep data, the t interval, the sample-size formula."""
    assert ex._paired_t()[0] == pytest.approx(-4.0621, abs=5e-5)  # R: t = -4.0621, df = 9
    low, high = ex._ci_by_hand()
    assert (low, high) == pytest.approx(stats.t.interval(0.95, 99, loc=193, scale=9), abs=1e-9)
    p1, p2 = 0.05, 0.055
    z = stats.norm.ppf(0.975) + stats.norm.ppf(0.8)
    assert ex._sample_size()[0] == math.ceil(z**2 * (p1 * (1 - p1) + p2 * (1 - p2)) / (p2 - p1) ** 2)  # 31,231
    assert ex._binomial_paths()[0] == 6 / 16
    assert ex._cohen_d()[0] == pytest.approx(11 / 90)
    assert ex._plus_minus()[0] == pytest.approx(
        100 * 1.959964 * math.sqrt(395 / 3504 * (1 - 395 / 3504) / 3504), rel=1e-6
    )


@pytest.mark.parametrize("key", [k for k, e in teach.EXERCISES.items() if not e.choices])
def test_the_expected_answer_is_right_and_a_far_one_is_not(key: str) -> None:
    exercise = teach.EXERCISES[key]
    assert exercise.expected is not None
    want = exercise.expected()
    assert teach.check(key, *want).correct
    assert not teach.check(key, *[v + 10 * t + 1 for v, t in zip(want, exercise.tolerance, strict=True)]).correct
    teach.grade(key, *want)
    with pytest.raises(AssertionError, match=key.replace(".", r"\.")):
        teach.grade(key, *[v + 10 * t + 1 for v, t in zip(want, exercise.tolerance, strict=True)])


@pytest.mark.parametrize("key", [k for k, e in teach.EXERCISES.items() if e.choices])
def test_one_option_is_right_and_every_option_explains_itself(key: str) -> None:
    choices = teach.EXERCISES[key].choices
    assert sum(c.correct for c in choices.values()) == 1
    for letter, choice in choices.items():
        feedback = teach.check(key, letter.upper())
        assert feedback.correct is choice.correct
        assert feedback.message == choice.why
        assert len(choice.why) > 40


@pytest.mark.parametrize(
    ("key", "answer", "names"),
    [
        ("03.ci_by_hand", (193 - 1.959964 * 9, 193 + 1.959964 * 9), "z interval"),
        ("03.ci_by_hand", (193 - 1.984 * 90, 193 + 1.984 * 90), "standard error"),
        ("04.paired_t", (-1.8608,), "Welch"),
        ("04.paired_t", (4.0621,), "sign"),
        ("05.sample_size", (sample_size(0.05, 0.10),), "percentage points"),  # 10 points, not 10%
        ("01.paths", (6,), "divide"),
        ("01.paths", (1 / 16,), "how many orders"),
        ("02.effect_size", (11,), "divide it by the SD"),
        ("07.plus_minus", (0.01047,), "percentage points"),
    ],
)
def test_typical_mistakes_get_their_own_feedback(key: str, answer: tuple[float, ...], names: str) -> None:
    feedback = teach.check(key, *answer)
    assert not feedback.correct
    assert names in feedback.message


def test_bad_answers_are_told_what_to_give() -> None:
    assert "give 2 number(s): ci_low, ci_high" in teach.check("03.ci_by_hand", 1.0).message
    assert "must be numbers" in teach.check("04.paired_t", "minus four").message
    assert "one of the letters a, b, c" in teach.check("04.which_test", "z").message
    with pytest.raises(ParameterError, match=r"no exercise .99\.none."):
        teach.check("99.none", 1)
    assert "<b>" not in teach.Feedback(False, "<b>x</b>")._repr_html_().replace("<b>Not yet</b>", "")


def test_the_answer_box_checks_in_the_kernel() -> None:
    box = teach.answer_box("03.ci_by_hand")
    entry, button, output = box.children[1], box.children[2], box.children[3]
    low, high = ex._ci_by_hand()
    entry.value = f"{low:.3f}, {high:.3f}"
    button.click()
    assert "Right" in output.value
    entry.value = "1 2 3"
    button.click()
    assert "give 2 number(s)" in output.value
    choice = teach.answer_box("04.which_test")
    choice.children[1].value = "c"
    choice.children[2].click()
    assert "Right" in choice.children[3].value
