"""Exercises of the teaching notebooks: the question, and a check that computes the answer with abnb.

A notebook holds no answer: the expected numbers are computed here, from the exercise's data, when a student checks
(:func:`check`, or the answer box :func:`answer_box`) or when nbgrader's hidden tests grade (:func:`grade`). A
multiple-choice exercise lists the common misconceptions as wrong options, each explaining itself.

| notebook | exercises |
| --- | --- |
| 01_error_model | ``01.paths`` |
| 02_comparing_distributions | ``02.effect_size`` |
| 03_confidence_intervals | ``03.ci_by_hand`` |
| 04_t_test | ``04.which_test``, ``04.paired_t`` |
| 05_significance_and_power | ``05.sample_size``, ``05.pvalue_meaning`` |
| 06_peeking | ``06.peeking_mistake`` |
| 07_ab_conversion_table | ``07.plus_minus``, ``07.chance_to_beat`` |
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from abnb.errors import ParameterError

__all__ = ["EXERCISES", "Choice", "Exercise", "Feedback", "answer_box", "check", "grade", "notebook_exercises"]


@dataclass(frozen=True)
class Feedback:
    """The verdict on an answer: right or wrong, and why."""

    correct: bool
    message: str

    def __str__(self) -> str:
        return f"{'Right' if self.correct else 'Not yet'}: {self.message}"

    def _repr_html_(self) -> str:
        colour = "#1a7f37" if self.correct else "#b42318"
        verdict = "Right" if self.correct else "Not yet"
        return f'<p style="color:{colour}"><b>{verdict}</b>: {html.escape(self.message)}</p>'


@dataclass(frozen=True)
class Choice:
    """One option of a multiple-choice exercise, and what choosing it means."""

    text: str
    correct: bool
    why: str


@dataclass(frozen=True)
class Exercise:
    """One exercise: where it is, what it asks, and how an answer is checked.

    Attributes:
        key: ``"<notebook number>.<name>"``, e.g. ``"03.ci_by_hand"``.
        notebook: The teaching notebook it belongs to.
        question: The question as the notebook asks it.
        answers: Names of the values a student gives (numbers), or ``("choice",)`` for a letter.
        expected: Computes the expected values with abnb or scipy (numeric exercises).
        tolerance: Absolute tolerance per value.
        choices: Options by letter (multiple-choice exercises).
        hints: ``(test, message)`` pairs: a wrong answer for which ``test(values)`` holds gets that message.
    """

    key: str
    notebook: str
    question: str
    answers: tuple[str, ...]
    expected: Callable[[], tuple[float, ...]] | None = None
    tolerance: tuple[float, ...] = ()
    choices: dict[str, Choice] = field(default_factory=dict)
    hints: tuple[tuple[Callable[[tuple[float, ...]], bool], str], ...] = ()

    def check(self, *answer: Any) -> Feedback:
        """Check an answer: numbers in the order of :attr:`answers`, or one option letter."""
        if self.choices:
            return self._check_choice(answer)
        return self._check_numbers(answer)

    def _check_choice(self, answer: tuple[Any, ...]) -> Feedback:
        letter = str(answer[0]).strip().lower() if len(answer) == 1 else ""
        if letter not in self.choices:
            return Feedback(False, f"answer with one of the letters {', '.join(self.choices)}.")
        option = self.choices[letter]
        return Feedback(option.correct, option.why)

    def _check_numbers(self, answer: tuple[Any, ...]) -> Feedback:
        names = ", ".join(self.answers)
        if len(answer) != len(self.answers):
            return Feedback(False, f"give {len(self.answers)} number(s): {names}.")
        try:
            values = tuple(float(v) for v in answer)
        except (TypeError, ValueError):
            return Feedback(False, f"{names} must be numbers, got {answer!r}.")
        if not all(math.isfinite(v) for v in values):
            return Feedback(False, f"{names} must be finite numbers, got {answer!r}.")
        assert self.expected is not None
        want = self.expected()
        off = [
            (name, got, exp)
            for name, got, exp, tol in zip(self.answers, values, want, self.tolerance, strict=True)
            if abs(got - exp) > tol
        ]
        if not off:
            shown = ", ".join(f"{n} = {v:.4g}" for n, v in zip(self.answers, want, strict=True))
            return Feedback(True, f"{shown}.")
        for test, message in self.hints:
            if test(values):
                return Feedback(False, message)
        name, got, _ = off[0]
        return Feedback(False, f"{name} = {got:.4g} is not it yet; recompute it step by step from the formula above.")


def _binomial_paths() -> tuple[float, ...]:
    from scipy import stats

    return (float(stats.binom.pmf(2, 4, 0.5)),)


TIME_A, TIME_B, TIME_SD = 193.0, 204.0, 90.0  # the lecture's 3:13 and 3:24 minutes; notebook 02's assumed SD
CI_MEAN, CI_SD, CI_N = 193.0, 90.0, 100  # one group's time on site: mean 3:13, SD 90 s, 100 users


def _ci_by_hand() -> tuple[float, ...]:
    from scipy import stats

    half = float(stats.t.ppf(0.975, CI_N - 1)) * CI_SD / math.sqrt(CI_N)
    return (CI_MEAN - half, CI_MEAN + half)


def _z_interval(values: tuple[float, ...]) -> bool:
    half = 1.959963984540054 * CI_SD / math.sqrt(CI_N)
    return abs(values[0] - (CI_MEAN - half)) < 0.05 and abs(values[1] - (CI_MEAN + half)) < 0.05


def _sd_not_se(values: tuple[float, ...]) -> bool:
    return abs(values[1] - values[0]) > 100  # ± 1.98·90: the spread of users, not of the mean


SLEEP_1 = (0.7, -1.6, -0.2, -1.2, -0.1, 3.4, 3.7, 0.8, 0.0, 2.0)  # R's sleep data, drug 1
SLEEP_2 = (1.9, 0.8, 1.1, 0.1, -0.1, 4.4, 5.5, 1.6, 4.6, 3.4)  # drug 2, the same ten patients


def _paired_t() -> tuple[float, ...]:
    from scipy import stats

    return (float(stats.ttest_rel(SLEEP_1, SLEEP_2).statistic),)


def _welch_instead(values: tuple[float, ...]) -> bool:
    from scipy import stats

    return abs(values[0] - float(stats.ttest_ind(SLEEP_1, SLEEP_2, equal_var=False).statistic)) < 0.01


SIZE_BASELINE, SIZE_MDE = 0.05, 0.10  # 5% conversion, +10% relative


def _sample_size() -> tuple[float, ...]:
    from abnb.stats import sample_size

    return (float(sample_size(SIZE_BASELINE, SIZE_MDE, relative=True)),)


def _absolute_mde(values: tuple[float, ...]) -> bool:
    from abnb.stats import sample_size

    return abs(values[0] - sample_size(SIZE_BASELINE, SIZE_MDE)) < 0.01 * sample_size(SIZE_BASELINE, SIZE_MDE)


TRY_IT_OUT = (395, 3504)  # conversions / visitors of the "Try it out" label (the lecture's table)


def _plus_minus() -> tuple[float, ...]:
    from scipy.special import ndtri

    conversions, visitors = TRY_IT_OUT
    rate = conversions / visitors
    return (100 * float(ndtri(0.975)) * math.sqrt(rate * (1 - rate) / visitors),)


def _fraction_not_percent(values: tuple[float, ...]) -> bool:
    return abs(values[0] * 100 - _plus_minus()[0]) < 0.01


def _cohen_d() -> tuple[float, ...]:
    return ((TIME_B - TIME_A) / TIME_SD,)


_EXERCISES = (
    Exercise(
        "01.paths",
        "01_error_model",
        "Four independent errors each push a measurement by +1 or −1 with equal chance. What is the probability "
        "that they cancel out exactly (total 0)?",
        ("probability",),
        _binomial_paths,
        (1e-3,),
        hints=(
            (
                lambda v: abs(v[0] - 1 / 16) < 1e-3,
                "1/16 counts one path; how many orders of two +1 and two −1 are there?",
            ),
            (lambda v: abs(v[0] - 6) < 1e-9, "6 is the number of paths; divide by the 2⁴ = 16 equally likely ones."),
        ),
    ),
    Exercise(
        "02.effect_size",
        "02_comparing_distributions",
        "The updated recommender keeps users 3:24 minutes on site, the classic one 3:13, and users differ by 90 s "
        "(SD) in both groups. What is the effect size (Cohen's d) of the difference?",
        ("d",),
        _cohen_d,
        (1e-3,),
        hints=((lambda v: abs(v[0] - 11) < 1e-6, "11 s is the difference itself; divide it by the SD of users."),),
    ),
    Exercise(
        "03.ci_by_hand",
        "03_confidence_intervals",
        "100 users spent 3:13 minutes (193 s) on site on average, with an SD of 90 s. Compute the 95% confidence "
        "interval of the mean time on site by hand (t quantile with n − 1 degrees of freedom).",
        ("ci_low", "ci_high"),
        _ci_by_hand,
        (0.02, 0.02),
        hints=(
            (_z_interval, "that is the z interval (1.96); with 99 degrees of freedom the t quantile is 1.984."),
            (_sd_not_se, "this interval uses the SD of users; the mean's uncertainty is the standard error SD/√n."),
        ),
    ),
    Exercise(
        "04.which_test",
        "04_t_test",
        "A benchmark runs on the same 10 machines before and after a change; the machines differ by 30 ms, one run "
        "wobbles by 2 ms. Which test should compare before and after?",
        ("choice",),
        choices={
            "a": Choice(
                "Welch's two-sample t-test",
                False,
                "Welch treats the columns as unrelated samples: the 30 ms between machines stays in its standard "
                "error and hides a 3 ms saving.",
            ),
            "b": Choice(
                "Student's two-sample t-test",
                False,
                "Student's test also compares two unrelated samples (and assumes equal variances); the machines' "
                "spread stays in the noise.",
            ),
            "c": Choice(
                "the paired t-test",
                True,
                "each machine is its own control: the differences after − before cancel the machine's speed and "
                "leave only the 2 ms run noise.",
            ),
        },
    ),
    Exercise(
        "04.paired_t",
        "04_t_test",
        "R's sleep data: the same ten patients took drug 1 and drug 2 (arrays drug1 and drug2 above). Compute the "
        "paired t statistic of drug1 − drug2.",
        ("t",),
        _paired_t,
        (1e-3,),
        hints=(
            (_welch_instead, "that is Welch's t for two unrelated samples; pair each patient's two values."),
            (lambda v: abs(v[0] + _paired_t()[0]) < 1e-3, "the sign: the statistic of drug1 − drug2 is negative."),
        ),
    ),
    Exercise(
        "05.sample_size",
        "05_significance_and_power",
        "Baseline conversion 5%, and the smallest change worth detecting is +10% relative (5% → 5.5%). How many users "
        "per arm does a two-sided test with α = 0.05 and 80% power need (unpooled variance)?",
        ("users_per_arm",),
        _sample_size,
        (100.0,),  # rounding and the last digits of the quantiles move it by a few users
        hints=(
            (
                _absolute_mde,
                "that sizes an absolute change of 10 percentage points; the change is 10% of 5%, i.e. 0.5 point.",
            ),
        ),
    ),
    Exercise(
        "05.pvalue_meaning",
        "05_significance_and_power",
        "A test of the call-quality ratings of a new codec gives p = 0.03. What does 0.03 mean?",
        ("choice",),
        choices={
            "a": Choice(
                "there is a 3% probability that the codec makes no difference",
                False,
                "a p-value is computed assuming no difference; it cannot be the probability of that assumption.",
            ),
            "b": Choice(
                "there is a 97% probability that the new codec is better",
                False,
                "that is a posterior probability, which needs a prior; 1 − p is not the chance to beat the baseline.",
            ),
            "c": Choice(
                "if the codec made no difference, ratings at least this far apart would turn up 3% of the time",
                True,
                "the p-value is the probability of data at least this extreme under the null hypothesis.",
            ),
            "d": Choice(
                "the difference in ratings is large enough to matter",
                False,
                "significance says nothing about size: with enough calls a negligible difference gets a tiny p.",
            ),
        },
    ),
    Exercise(
        "06.peeking_mistake",
        "06_peeking",
        "A team runs an A/A test for 30 days, looks every day and stops at the first p < 0.05. About how often does "
        "it declare a winner?",
        ("choice",),
        choices={
            "a": Choice(
                "5% of the time, as α promises",
                False,
                "α = 5% holds for one look decided in advance; each daily look is another chance for noise.",
            ),
            "b": Choice(
                "about a quarter of the time",
                True,
                "the simulation above finds about 28% after 30 daily looks: the chances of crossing add up.",
            ),
            "c": Choice(
                "never, since both arms are identical",
                False,
                "identical arms still differ by noise, and some day's noise crosses p < 0.05.",
            ),
        },
    ),
    Exercise(
        "07.plus_minus",
        "07_ab_conversion_table",
        "'Try it out' converted 395 of 3,504 visitors. Compute the ± of its rate as the table shows it (half-width of "
        "the 95% normal interval), in percentage points.",
        ("plus_minus",),
        _plus_minus,
        (0.01,),
        hints=((_fraction_not_percent, "right number, as a fraction: the table shows percentage points (× 100)."),),
    ),
    Exercise(
        "07.chance_to_beat",
        "07_ab_conversion_table",
        "The table says 'chance to beat baseline: 90%' for 'Try it out'. What is the p-value of its difference with "
        "the baseline?",
        ("choice",),
        choices={
            "a": Choice(
                "0.10",
                False,
                "the chance to beat the baseline is a posterior probability, not 1 − p; the table's p is about 0.2.",
            ),
            "b": Choice(
                "it cannot be read off the chance; a two-sided test gives about 0.2",
                True,
                "a one-sided 90% posterior corresponds to a two-sided p near 2 × 0.10: the chance is not 1 − p.",
            ),
            "c": Choice(
                "0.90",
                False,
                "a p-value near 0.9 would mean almost no evidence; the chance to beat is a different quantity.",
            ),
        },
    ),
)
EXERCISES: dict[str, Exercise] = {exercise.key: exercise for exercise in _EXERCISES}
"""Every exercise by key."""


def notebook_exercises(notebook: str) -> list[Exercise]:
    """The exercises of a teaching notebook (by its stem, e.g. ``"03_confidence_intervals"``)."""
    return [exercise for exercise in _EXERCISES if exercise.notebook == notebook]


def _exercise(key: str) -> Exercise:
    if key not in EXERCISES:
        raise ParameterError(f"no exercise {key!r}; exercises: {', '.join(EXERCISES)}.")
    return EXERCISES[key]


def check(key: str, *answer: Any) -> Feedback:
    """Check a student's answer to exercise ``key``: right or wrong, and why (shown as HTML in a notebook).

    Args:
        key: The exercise, e.g. ``"03.ci_by_hand"``.
        answer: The numbers it asks for, in order, or one option letter.

    Raises:
        ParameterError: No such exercise.
    """
    return _exercise(key).check(*answer)


def grade(key: str, *answer: Any) -> None:
    """Assert that an answer is right (nbgrader's hidden tests call it); the error carries the feedback.

    Raises:
        AssertionError: The answer is wrong; its message says why.
    """
    feedback = check(key, *answer)
    if not feedback.correct:
        raise AssertionError(f"{key}: {feedback.message}")


def _parse(text: str, count: int) -> tuple[str, ...]:
    """The comma- or space-separated values of an answer box."""
    parts = [p for p in text.replace(";", ",").replace(",", " ").split() if p]
    return tuple(parts) if len(parts) == count else (text,)


def answer_box(key: str) -> Any:
    """An answer box for exercise ``key``: radio buttons or a text field, a Check button and the feedback.

    The check runs :func:`check` in the kernel (the answer is computed by abnb, not stored in the notebook).
    """
    import ipywidgets as widgets

    exercise = _exercise(key)
    output = widgets.HTML()
    entry: Any
    if exercise.choices:
        entry = widgets.RadioButtons(
            options=[(f"{letter}) {choice.text}", letter) for letter, choice in exercise.choices.items()],
            value=None,
            layout=widgets.Layout(width="auto"),
        )
    else:
        entry = widgets.Text(placeholder=", ".join(exercise.answers), description="answer")
    button = widgets.Button(description="Check", button_style="primary")

    def on_check(_: Any) -> None:
        value = entry.value
        answer: Sequence[Any] = (value,) if exercise.choices else _parse(str(value), len(exercise.answers))
        output.value = check(key, *answer)._repr_html_()

    button.on_click(on_check)
    return widgets.VBox(
        [widgets.HTML(f"<b>Exercise {html.escape(key)}</b>: {html.escape(exercise.question)}"), entry, button, output]
    )
