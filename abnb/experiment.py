"""Experiment specs, the analysis that turns telemetry into effects, and the decision rule.

An experiment is a TOML file in ``experiments/`` (see ``experiments/checkout_redesign.toml``)::

    name = "checkout_redesign"
    arms = ["control", "treatment"]
    control = "control"
    weights = [0.5, 0.5]
    alpha = 0.05
    start = 2026-10-01T00:00:00
    end = 2026-10-15T00:00:00
    segments = ["country", "platform"]
    hypothesis = "A one-page checkout makes more visitors buy."
    owner = "payments team"

    [links]
    design_doc = "https://wiki.example.com/checkout-redesign"

    [plan]
    mde = 0.02  # the relative lift the experiment is sized to detect (or units_per_arm = 100000)

    [exposures]
    table = "exposures"

    [[metrics]]
    name = "conversion"
    kind = "proportion"
    role = "goal"
    sql = "SELECT unit, ts, 1 AS value FROM events WHERE event = 'purchase'"

:meth:`Experiment.analyze` runs one aggregate query (see :mod:`abnb.aggregate`) and computes, from the returned
sufficient statistics only, a sample-ratio-mismatch check and one absolute and one relative :class:`Effect` per
metric and treatment arm. The result also says how far the experiment is along its :class:`Plan`
(:attr:`ExperimentResult.progress`) and, in :class:`Decision`, every reason it cannot stop yet.
"""

from __future__ import annotations

import math
import os
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

from abnb._display import FlatResult, escape_html, styled
from abnb._toml import read_toml
from abnb._verdicts import ExperimentVerdict
from abnb.aggregate import Aggregates, ArmStats, ExposureSource, aggregate
from abnb.engine import BaseConnection, as_connection, validate_identifier
from abnb.errors import AbnbError, DataError, ParameterError, SpecError
from abnb.metrics import Metric
from abnb.stats import (
    BayesResult,
    ConfidenceInterval,
    CupedEffect,
    Effect,
    JointMoments,
    Moments,
    NonInferiorityResult,
    QuantileDifferenceResult,
    RatioMoments,
    RegressionEffect,
    SequentialEffect,
    ShiftResult,
    SrmResult,
    adjust,
    adjusted_interval,
    chance_to_beat,
    check_alpha,
    confidence_sequence,
    cuped,
    mann_whitney,
    mde,
    noninferiority,
    quantile_difference,
    ratio,
    ratio_cuped,
    regression_adjust,
    sample_size,
    srm,
    welch,
    ztest,
)

if TYPE_CHECKING:
    import duckdb
    import pandas as pd

    from abnb.project import Project

__all__ = [
    "Decision",
    "DistributionComparison",
    "Experiment",
    "ExperimentResult",
    "MetricEffect",
    "Plan",
    "Progress",
    "experiments_dir",
    "load",
]

STATUSES = ("active", "paused", "done")
CORRECTIONS = ("holm", "bonferroni", "hochberg", "bh", "by", "none")
DECISION_RULES = ("frequentist", "bayesian")
PLAN_KEYS = ("units_per_arm", "mde", "metric", "power")
"""Keys of a spec's ``[plan]`` table (:class:`Plan`)."""
MAX_LABEL = 100
"""Longest label of a spec's ``[links]`` entry, in characters."""
MAX_URL = 2000
"""Longest URL of a spec's ``[links]`` entry, in characters."""
RESERVED_NAMES = ("canary", "monitoring", "screenshots", "teaching")
"""Folder names the kit itself uses under ``reports/`` (``abnb canary``, ``abnb monitor``, ``abnb teach export``, the
browser tests' screenshots): an experiment of that name (in any case) would share the folder with them."""


def experiments_dir() -> Path:
    """The current project's experiments folder (``[paths] experiments`` of ``abnb.toml``; ``experiments/``)."""
    from abnb.project import current_project

    return current_project().experiments_dir


def _parse_datetime(value: object, what: str) -> datetime | None:
    """A datetime from a date, datetime or ISO text; one with an offset (``+02:00``) keeps it.

    Raises:
        ParameterError: ``value`` is none of these (the message names ``what``).
    """
    if value is None or isinstance(value, datetime):
        return value
    if isinstance(value, date):
        return datetime.combine(value, time())
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            pass
    raise ParameterError(
        f"{what} must be an ISO date or datetime such as 2026-10-15 or 2026-10-15T06:00:00+02:00, got {value!r}."
    )


def _as_datetime(value: object, what: str, zone: tzinfo | None = None) -> datetime | None:
    """A naive datetime (wall clock in ``zone``, UTC if ``None``) from a date, datetime or ISO text.

    An aware datetime (or text with an offset such as ``+02:00``) is converted to ``zone`` first, so a cutoff
    given in any zone means the same instant.
    """
    parsed = _parse_datetime(value, what)
    if parsed is not None and parsed.tzinfo is not None:
        return parsed.astimezone(zone or UTC).replace(tzinfo=None)
    return parsed


def _zone(timezone: str | tzinfo | None) -> tzinfo:
    if timezone is None:
        return UTC
    if isinstance(timezone, tzinfo):
        return timezone
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        return ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise ParameterError(f"time zone {timezone!r} is not an IANA zone name such as 'UTC'.") from error


def resolve_as_of(
    value: date | datetime | str | None,
    end: datetime | None,
    *,
    timezone: str | tzinfo | None = None,
    last_day: date | None = None,
) -> tuple[datetime, date]:
    """The exclusive data cutoff and the date that labels it, as wall-clock time in ``timezone``.

    A date (``2026-10-14``) means "data through that day": the cutoff is the following midnight. A datetime is the
    cutoff itself; one with an offset (``2026-10-14T06:00:00+02:00``) is converted to ``timezone`` first.
    ``None`` means the earlier of the experiment's ``end`` and the midnight after ``last_day`` (the last day with
    data), or now in ``timezone`` when neither is known. The label is the last day the cutoff covers.

    Args:
        value: The requested cutoff, or ``None``.
        end: The experiment's planned end (exclusive), or ``None``.
        timezone: The project's zone (default UTC): cutoffs and days are wall-clock time there.
        last_day: The last day with data, when known.

    Raises:
        ParameterError: ``value`` is malformed or out of the calendar.
    """
    zone = _zone(timezone)
    if value is None or value == "":
        after_data = None if last_day is None else _next_midnight(last_day, "the last data day")
        known = [c for c in (end, after_data) if c is not None]
        cutoff = min(known) if known else datetime.now(zone).replace(microsecond=0, tzinfo=None)
    elif (isinstance(value, str) and len(value) == 10) or (isinstance(value, date) and not isinstance(value, datetime)):
        day = _as_datetime(value, "as_of", zone) if isinstance(value, str) else datetime.combine(value, time())
        assert day is not None
        if day.date() >= date.max:
            raise ParameterError(
                f"as_of {value} is out of range: the cutoff is the midnight after that day, which does not exist; "
                "give a date before 9999-12-31."
            )
        cutoff = day + timedelta(days=1)
    else:
        resolved = _as_datetime(value, "as_of", zone)
        assert resolved is not None
        cutoff = resolved
    return cutoff, (cutoff - timedelta(microseconds=1)).date()


def _next_midnight(day: date, what: str) -> datetime:
    if day >= date.max:
        raise ParameterError(f"{what} {day} is out of range: the midnight after it does not exist.")
    return datetime.combine(day, time()) + timedelta(days=1)


def arm_spelling_hint(missing: Iterable[str], found: Iterable[str]) -> str:
    """Name the logged arms that differ from a spec's arm only invisibly (case, outer spaces, Unicode form).

    Returns:
        A sentence starting with a space, or ``""`` when no logged arm is such a near miss.
    """

    def key(arm: str) -> str:
        return unicodedata.normalize("NFC", arm).strip().casefold()

    logged = {key(arm): arm for arm in found}
    pairs = [f"{arm!r} is logged as {logged[key(arm)]!r}" for arm in missing if key(arm) in logged]
    if not pairs:
        return ""
    return f" {'; '.join(pairs)} (they differ in case, spaces or Unicode normalisation)."


def _exposure_source(exposures: object, source: str) -> ExposureSource:
    """The ``[exposures]`` of a spec read from ``source``: a table of keys, a table name, or ``None`` (defaults)."""
    if isinstance(exposures, str):
        exposures = {"table": exposures}
    if exposures is not None and not isinstance(exposures, Mapping):
        raise SpecError(
            f"{source}: [exposures] must be a table (table, unit, arm, ts, experiment_column, level) or a "
            f"table name, got {exposures!r}."
        )
    try:
        return ExposureSource(**(exposures or {}))
    except TypeError as error:
        raise SpecError(
            f"{source}: [exposures] accepts table, unit, arm, ts, experiment_column, level ({error})."
        ) from error
    except SpecError as error:
        raise SpecError(f"{source}: [exposures]: {error}") from error


def _in_open_interval(value: object, low: float, high: float) -> bool:
    """Whether ``value`` is a number (not a bool) strictly between ``low`` and ``high``."""
    return not isinstance(value, bool) and isinstance(value, int | float) and low < value < high


@dataclass(frozen=True)
class Plan:
    """The size an experiment is planned to reach: units per arm, or the relative lift it must be able to detect.

    In a spec, the ``[plan]`` table (``units_per_arm = 100000`` or ``mde = 0.02``). :attr:`ExperimentResult.progress`
    compares the units analysed with it.

    Args:
        units_per_arm: Units planned in every arm (a positive whole number). Give this or ``mde``.
        mde: The smallest relative lift the experiment must detect (0.02 = 2%), in (0, 10): the plan is then the
            units per arm at which the two-sided test at the spec's ``alpha`` detects this lift of ``metric`` with
            ``power`` (:func:`abnb.stats.sample_size`).
        metric: The metric the plan is about (default: the experiment's first goal metric, else its first metric).
        power: The power at which ``mde`` is detected, in (0, 1) (default 0.8).

    Raises:
        SpecError: Neither or both of ``units_per_arm`` and ``mde``, or a value out of range (the message names the
            key).
    """

    units_per_arm: int | None = None
    mde: float | None = None
    metric: str | None = None
    power: float = 0.8

    def __post_init__(self) -> None:
        units, lift = self.units_per_arm, self.mde
        if (units is None) == (lift is None):
            raise SpecError(
                "[plan] needs exactly one of units_per_arm (the units planned per arm, e.g. 100000) and mde (the "
                f"relative lift to detect, e.g. 0.02 for 2%), got units_per_arm = {units!r}, mde = {lift!r}."
            )
        if units is not None and (isinstance(units, bool) or not isinstance(units, int) or units < 1):
            raise SpecError(f"[plan] units_per_arm must be a positive whole number such as 100000, got {units!r}.")
        if lift is not None:
            if not _in_open_interval(lift, 0.0, 10.0) or not math.isfinite(lift):
                raise SpecError(
                    f"[plan] mde is a relative lift (0.02 = 2%) and must lie in (0, 10), got {lift!r}; write a "
                    "2% lift as 0.02, not 2."
                )
            object.__setattr__(self, "mde", float(lift))
        if not _in_open_interval(self.power, 0.0, 1.0):
            raise SpecError(f"[plan] power must lie in (0, 1), such as 0.8, got {self.power!r}.")
        object.__setattr__(self, "power", float(self.power))
        if self.metric is not None and (not isinstance(self.metric, str) or not self.metric):
            raise SpecError(f"[plan] metric must be the name of one of the experiment's metrics, got {self.metric!r}.")

    @classmethod
    def from_dict(cls, data: object) -> Plan:
        """A plan from the ``[plan]`` table of a spec (a plan is returned as it is).

        Raises:
            SpecError: ``data`` is not a table, has unknown keys, or describes no valid plan.
        """
        if isinstance(data, Plan):
            return data
        if not isinstance(data, Mapping):
            raise SpecError(
                f"plan must be a table ([plan] in TOML, with units_per_arm or mde), got {type(data).__name__} {data!r}."
            )
        unknown = sorted(set(data) - set(PLAN_KEYS))
        if unknown:
            raise SpecError(f"[plan]: unknown key(s) {', '.join(map(str, unknown))}; allowed: {', '.join(PLAN_KEYS)}.")
        return cls(**data)

    def to_dict(self) -> dict[str, Any]:
        """The ``[plan]`` table (keys left at ``None`` omitted) that :meth:`from_dict` reads back."""
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not None}


def _web_url(url: str) -> bool:
    """Whether ``url`` is an absolute ``http``/``https`` address of at most :data:`MAX_URL` characters, no spaces."""
    if len(url) > MAX_URL or any(c.isspace() or unicodedata.category(c) == "Cc" for c in url):
        return False
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme.lower() in ("http", "https") and bool(parts.netloc)


def _checked_links(value: object, experiment: str) -> tuple[tuple[str, str], ...]:
    """``links`` as ``(label, url)`` pairs in their order, from a table of label → URL (or such pairs).

    Raises:
        SpecError: Not a table, a label empty or too long or given twice, or a URL that is not http(s).
    """
    where = f"links of experiment {experiment!r}"
    pairs = list(value.items()) if isinstance(value, Mapping) else value
    if not isinstance(pairs, list | tuple) or not all(isinstance(p, list | tuple) and len(p) == 2 for p in pairs):
        raise SpecError(
            f'{where} must be a table of label = URL ([links] in TOML, e.g. design_doc = "https://..."), got {value!r}.'
        )
    seen: set[str] = set()
    for label, url in pairs:
        if not isinstance(label, str) or not label.strip() or len(label) > MAX_LABEL:
            raise SpecError(f"{where}: label {label!r} must be a non-empty string of at most {MAX_LABEL} characters.")
        if label in seen:
            raise SpecError(f"{where}: label {label!r} is given twice; give each link its own label.")
        seen.add(label)
        if not isinstance(url, str) or not _web_url(url):
            shown = repr(url) if not isinstance(url, str) or len(url) <= 80 else repr(url[:80] + "…")
            raise SpecError(
                f"{where}: {label} = {shown} is not a web address. Only http:// and https:// URLs of at most "
                f"{MAX_URL:,} characters, without spaces, are accepted: write the full address, e.g. {label} = "
                '"https://wiki.example.com/page".'
            )
    return tuple((label, url) for label, url in pairs)


@dataclass(frozen=True)
class Experiment:
    """An experiment: arms, planned allocation, exposures, metrics and error rate.

    Args:
        name: Identifier of the experiment (also its report folder and its value in the exposures' experiment
            column).
        metrics: The metrics to analyse (at least one).
        arms: Arm names as they appear in the exposures; ``control`` must be one of them.
        control: The baseline arm every other arm is compared with.
        weights: Planned allocation per arm (normalised; equal if omitted), used by the SRM check.
        alpha: Two-sided significance level of every test and 1 − confidence of every interval.
        exposures: Where exposures live (:class:`~abnb.aggregate.ExposureSource`).
        segments: Exposure columns to break results down by (e.g. country, platform).
        start: Exposures before this time are ignored.
        end: Planned end; the default data cutoff.
        status: ``active`` (rendered by ``abnb run``), ``paused`` or ``done``.
        description: What the experiment changes, in words.
        srm_threshold: p-value below which the allocation is declared mismatched (default 0.001).
        correction: Multiple-testing correction over goal metrics × treatment arms: ``holm`` (default),
            ``bonferroni``, ``hochberg``, ``bh``, ``by`` or ``none``.
        tuning: Sample size the confidence sequence is tightest at (its tuning parameter N).
        decision_rule: ``"frequentist"`` (default: significance after the correction, the confidence sequence
            before the end) or ``"bayesian"`` (chance to beat control and expected loss, as GrowthBook's Bayesian
            engine decides; see :attr:`ExperimentResult.decision`).
        chance_to_win: With the Bayesian rule: the chance to beat control (or, for a guardrail, to be worse) that
            decides (default 0.95).
        max_expected_loss: With the Bayesian rule: the largest expected loss of shipping an arm, in the units of
            the Bayesian panel (rate difference for proportions, relative lift for means); ``None``: no limit.
        poststratify: A segment column (one of ``segments``) to post-stratify the effects by: each metric also
            gets the effect weighted over that column's levels (:func:`abnb.stats.poststratify`), from the per-level
            sums the aggregate query already returns.
        hypothesis: What the team expects to happen and why, in words.
        owner: Who runs the experiment (a person or team).
        links: ``(label, url)`` pairs (``[links]`` in TOML: ``design_doc = "https://..."``): only ``http://`` and
            ``https://`` URLs. A mapping of label → URL is accepted and kept in its order.
        plan: The planned size (:class:`Plan`; ``[plan]`` in TOML, a mapping is accepted), which
            :attr:`ExperimentResult.progress` measures the data against.
    """

    name: str
    metrics: tuple[Metric, ...]
    arms: tuple[str, ...] = ("control", "treatment")
    control: str = "control"
    weights: tuple[float, ...] | None = None
    alpha: float = 0.05
    exposures: ExposureSource = field(default_factory=ExposureSource)
    segments: tuple[str, ...] = ()
    start: datetime | None = None
    end: datetime | None = None
    status: str = "active"
    description: str = ""
    srm_threshold: float = 0.001
    correction: str = "holm"
    tuning: int = 5000
    decision_rule: str = "frequentist"
    chance_to_win: float = 0.95
    max_expected_loss: float | None = None
    poststratify: str | None = None
    hypothesis: str = ""
    owner: str = ""
    links: tuple[tuple[str, str], ...] = ()
    plan: Plan | None = None

    def __post_init__(self) -> None:
        validate_identifier(self.name, "experiment name")
        if self.name.casefold() in RESERVED_NAMES:
            raise SpecError(
                f"experiment name {self.name!r} is reserved: reports/{self.name.casefold()}/ belongs to the kit's own "
                f"reports (reserved: {', '.join(RESERVED_NAMES)}), so the two would overwrite each other. Rename it."
            )
        object.__setattr__(self, "metrics", tuple(self.metrics))
        object.__setattr__(self, "arms", tuple(self.arms))
        object.__setattr__(self, "segments", tuple(self.segments))
        self._check_metrics_and_arms()
        self._check_settings()
        self._check_levels()
        self._check_rules()
        self._check_identity()
        # kept as given (an offset stays): the zone that turns them into wall-clock time is the connection's
        object.__setattr__(self, "start", _parse_datetime(self.start, "start"))
        object.__setattr__(self, "end", _parse_datetime(self.end, "end"))

    def _check_metrics_and_arms(self) -> None:
        """Validate the metrics (some, named once) and the arms (two or more, distinct, with the control)."""
        if not self.metrics or not all(isinstance(m, Metric) for m in self.metrics):
            raise SpecError(f"experiment {self.name!r} needs at least one metric (a list of abnb.Metric).")
        names = [m.name for m in self.metrics]
        if len(set(names)) != len(names):
            raise SpecError(f"experiment {self.name!r} has duplicate metric names: {names}.")
        if len(self.arms) < 2 or len(set(self.arms)) != len(self.arms):
            raise SpecError(f"experiment {self.name!r} needs at least two distinct arms, got {list(self.arms)}.")
        if not all(isinstance(a, str) and a for a in self.arms):
            raise SpecError(f"arms of experiment {self.name!r} must be non-empty strings, got {list(self.arms)}.")
        if self.control not in self.arms:
            raise SpecError(
                f"control arm {self.control!r} of experiment {self.name!r} is not one of its arms {list(self.arms)}."
            )

    def _check_settings(self) -> None:
        """Validate the weights (kept as a tuple), alpha, the SRM threshold, the status and the segment names."""
        if self.weights is not None:
            weights = tuple(self.weights)
            if len(weights) != len(self.arms) or not all(
                isinstance(w, int | float) and not isinstance(w, bool) and math.isfinite(w) and w > 0 for w in weights
            ):
                raise SpecError(
                    f"weights of experiment {self.name!r} must be {len(self.arms)} positive numbers (one per arm "
                    f"{list(self.arms)}), got {list(weights)}."
                )
            object.__setattr__(self, "weights", weights)
        check_alpha(self.alpha, what=f"alpha of experiment {self.name!r}", error=SpecError)
        value = self.srm_threshold
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < 1:
            raise SpecError(f"srm_threshold of experiment {self.name!r} must be a number in (0, 1), got {value!r}.")
        if self.status not in STATUSES:
            raise SpecError(f"status {self.status!r} of experiment {self.name!r} is not one of {', '.join(STATUSES)}.")
        for segment in self.segments:
            validate_identifier(segment, "segment column")

    def _check_levels(self) -> None:
        """Refuse metrics of the other level than the exposures (SQL at unit level, columns at event level)."""
        unit_level = self.exposures.level == "unit"
        mismatched = [m.name for m in self.metrics if m.unit_level != unit_level]
        if mismatched:
            raise SpecError(
                f"experiment {self.name!r}: exposures table {self.exposures.table!r} is at {self.exposures.level} "
                f"level, but metric(s) {', '.join(mismatched)} "
                + (
                    "have SQL; at unit level every metric names a `column` of that table."
                    if unit_level
                    else 'name a `column`; columns need `level = "unit"` in [exposures], otherwise give SQL.'
                )
            )

    def _check_rules(self) -> None:
        """Validate the correction, the tuning, the post-stratification column and the decision rule's settings."""
        if self.correction not in CORRECTIONS:
            raise SpecError(
                f"correction {self.correction!r} of experiment {self.name!r} is not one of {', '.join(CORRECTIONS)}."
            )
        if isinstance(self.tuning, bool) or not isinstance(self.tuning, int) or self.tuning < 1:
            raise SpecError(f"tuning of experiment {self.name!r} must be a positive whole number, got {self.tuning!r}.")
        if self.poststratify is not None and self.poststratify not in self.segments:
            raise SpecError(
                f"poststratify {self.poststratify!r} of experiment {self.name!r} must be one of its segments "
                f"({', '.join(self.segments) or 'none'}): add it to `segments`."
            )
        if self.decision_rule not in DECISION_RULES:
            raise SpecError(
                f"decision_rule {self.decision_rule!r} of experiment {self.name!r} is not one of "
                f"{', '.join(DECISION_RULES)}."
            )
        chance = self.chance_to_win
        if isinstance(chance, bool) or not isinstance(chance, int | float) or not 0.5 < chance < 1:
            raise SpecError(f"chance_to_win of experiment {self.name!r} must lie in (0.5, 1), got {chance!r}.")
        loss = self.max_expected_loss
        if loss is not None and (
            isinstance(loss, bool) or not isinstance(loss, int | float) or not math.isfinite(loss) or loss <= 0
        ):
            raise SpecError(
                f"max_expected_loss of experiment {self.name!r} must be a positive number (units of the Bayesian "
                f"panel: a rate difference for proportions, a relative lift for means), got {loss!r}."
            )

    def _check_identity(self) -> None:
        """Validate the words about the experiment (texts), its links (kept as pairs) and its plan (kept as a Plan)."""
        for key in ("description", "hypothesis", "owner"):
            value = getattr(self, key)
            if not isinstance(value, str):
                raise SpecError(
                    f"{key} of experiment {self.name!r} must be a string (text in quotes), got "
                    f"{type(value).__name__} {value!r}."
                )
        object.__setattr__(self, "links", _checked_links(self.links, self.name))
        if self.plan is None:
            return
        try:
            plan = Plan.from_dict(self.plan)
        except TypeError as error:  # a key of the wrong shape reached the constructor
            raise SpecError(f"experiment {self.name!r}: [plan] accepts {', '.join(PLAN_KEYS)} ({error}).") from error
        except SpecError as error:
            raise SpecError(f"experiment {self.name!r}: {error}") from error
        names = [m.name for m in self.metrics]
        if plan.metric is not None and plan.metric not in names:
            raise SpecError(
                f"experiment {self.name!r}: [plan] metric {plan.metric!r} is not one of its metrics "
                f"({', '.join(names)}); name one of them, or leave metric out for the first goal metric."
            )
        object.__setattr__(self, "plan", plan)

    @property
    def plan_metric(self) -> str | None:
        """The metric the :class:`Plan` is about: its ``metric``, else the first goal metric, else the first one.

        ``None`` without a plan.
        """
        if self.plan is None:
            return None
        if self.plan.metric is not None:
            return self.plan.metric
        goals = [m.name for m in self.metrics if m.role == "goal"]
        return goals[0] if goals else self.metrics[0].name

    def window(self, timezone: str | tzinfo | None = None) -> tuple[datetime | None, datetime | None]:
        """``start`` and ``end`` as naive wall-clock times in ``timezone`` (the connection's; UTC if ``None``).

        Naive times in a spec are wall-clock times in the project's zone and stay as they are; a time with an
        offset (``2026-10-01T00:00:00+02:00``) is the same instant in every zone and is converted, so the window
        does not depend on where the spec was written or the job runs.
        """
        zone = _zone(timezone)
        return _as_datetime(self.start, "start", zone), _as_datetime(self.end, "end", zone)

    @property
    def treatments(self) -> tuple[str, ...]:
        """The arms compared with the control."""
        return tuple(a for a in self.arms if a != self.control)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, source: str = "spec") -> Experiment:
        """Build an experiment from a parsed TOML/JSON mapping, naming unknown keys and the file."""
        if not isinstance(data, Mapping):
            raise SpecError(
                f"{source}: an experiment spec is a table of keys (name, arms, metrics, ...), got "
                f"{type(data).__name__}."
            )
        allowed = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - allowed)
        if unknown:
            raise SpecError(f"{source}: unknown key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(allowed))}.")
        if "name" not in data:
            raise SpecError(f"{source}: the experiment needs a `name`.")
        values = dict(data)
        metrics = values.pop("metrics", [])
        if not isinstance(metrics, list) or not all(isinstance(m, Mapping) for m in metrics):
            raise SpecError(f"{source}: `metrics` must be an array of tables ([[metrics]] in TOML).")
        source_spec = _exposure_source(values.pop("exposures", None), source)
        for key in ("arms", "weights", "segments"):
            if key in values and not isinstance(values[key], list):
                raise SpecError(f"{source}: `{key}` must be an array, got {values[key]!r}.")
            if key in values:
                values[key] = tuple(values[key])
        try:
            return cls(metrics=tuple(Metric.from_dict(m) for m in metrics), exposures=source_spec, **values)
        except SpecError as error:
            raise SpecError(f"{source}: {error}") from error

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe mapping that :meth:`from_dict` turns back into this experiment."""
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data["metrics"] = [m.to_dict() for m in self.metrics]
        data["exposures"] = {f.name: getattr(self.exposures, f.name) for f in fields(self.exposures)}
        for key in ("arms", "weights", "segments"):
            data[key] = None if data[key] is None else list(data[key])
        for key in ("start", "end"):
            data[key] = None if data[key] is None else data[key].isoformat()
        data["links"] = dict(self.links)
        data["plan"] = None if self.plan is None else self.plan.to_dict()
        return {k: v for k, v in data.items() if v is not None}

    @classmethod
    def from_toml(cls, path: str | Path) -> Experiment:
        """Read an experiment spec from a TOML file, in the project the file belongs to.

        The project (the ``abnb.toml`` found from the file's folder upward) supplies its ``[defaults]`` and its
        metric library for ``ref = "..."`` metrics; a file outside any project is read as it is.

        Raises:
            SpecError: The file is missing, unreadable (a directory, not UTF-8), is not valid TOML (the message
                gives line and column), or describes an invalid experiment.
        """
        from abnb.project import find_project

        path = Path(path)
        data = read_toml(path, "experiment spec")
        project = find_project(path.resolve().parent) if path.resolve().parent.exists() else None
        if project is not None:
            data = project.spec_data(data, str(path))
        return cls.from_dict(data, source=str(path))

    def cutoff(self, connection: BaseConnection, as_of: date | datetime | str | None) -> tuple[datetime, date]:
        """The exclusive cutoff and label of an analysis (:func:`resolve_as_of` in the connection's time zone).

        Without ``as_of``, the last day with data is read from the engine (one query of ``max(ts)`` per source,
        :func:`abnb.aggregate.data_extent`), so the default is the earlier of the spec's ``end`` and the end of
        that day.
        """
        last_day = None
        start, end = self.window(connection.timezone)
        if as_of is None or as_of == "":
            from abnb.aggregate import check_inputs, data_extent

            experiment = self.name if self.exposures.experiment_column else None
            try:
                last = data_extent(connection, self.exposures, self.metrics, experiment=experiment, start=start)[1]
            except AbnbError:
                check_inputs(connection, self.exposures, self.metrics, self.segments)  # names the table or column
                raise
            last_day = None if last is None else last.date()
        return resolve_as_of(as_of, end, timezone=connection.timezone, last_day=last_day)

    def analyze(
        self,
        connection: BaseConnection | duckdb.DuckDBPyConnection | Mapping[str, Any],
        *,
        as_of: date | datetime | str | None = None,
    ) -> ExperimentResult:
        """Analyse the experiment with one aggregate query.

        Args:
            connection: From :func:`abnb.connect` (or a DuckDB connection, or a ``SparkSession``), or a mapping of
                table name to pandas/Arrow frame, analysed in an in-memory DuckDB (``abnb.connect(frames=...)``).
            as_of: Data cutoff: a date means "through that day". Default: the earlier of the spec's ``end`` and
                the end of the last day with data (one small extra query finds it), in the connection's time zone.

        Returns:
            The :class:`ExperimentResult`: SRM check, effects per metric and arm, segment moments.

        Raises:
            SchemaError: Missing table/column or a non-numeric metric.
            DataError: No exposures, an arm without exposures, arms not in the spec, or an untestable metric.
        """
        if isinstance(connection, Mapping):
            from abnb.engine import connect

            with connect(frames=connection) as frames:
                return self.analyze(frames, as_of=as_of)
        con = as_connection(connection)
        cutoff, label = self.cutoff(con, as_of)
        aggregates = aggregate(
            con,
            self.exposures,
            self.metrics,
            self.segments,
            as_of=cutoff,
            experiment=self.name if self.exposures.experiment_column else None,
            start=self.window(con.timezone)[0],
        )
        return self._result(aggregates, cutoff, label, con.timezone)

    def distributions(
        self,
        connection: BaseConnection | duckdb.DuckDBPyConnection,
        metric: str,
        *,
        as_of: date | datetime | str | None = None,
        limit: int = 100_000,
    ) -> list[DistributionComparison]:
        """Compare a metric's per-unit distributions between each treatment arm and the control.

        Mann–Whitney with the Hodges–Lehmann shift, and the differences of the metric's ``quantiles`` (default
        P50, P90, P99) with order-statistic standard errors. These methods need unit values, so at most ``limit``
        units per arm are fetched: a reproducible pseudo-random sample (hash of the unit id), said in the result.
        """
        from abnb.aggregate import unit_values

        target = next((m for m in self.metrics if m.name == metric), None)
        if target is None:
            raise ParameterError(f"no metric {metric!r}; metrics: {', '.join(m.name for m in self.metrics)}.")
        if target.kind == "ratio":
            raise ParameterError(f"metric {metric!r} is a ratio of sums: it has no per-unit distribution to compare.")
        con = as_connection(connection)
        cutoff, _ = self.cutoff(con, as_of)
        experiment = self.name if self.exposures.experiment_column else None
        start = self.window(con.timezone)[0]
        values = {
            arm: unit_values(
                con, self.exposures, target, arm=arm, as_of=cutoff, experiment=experiment, start=start, limit=limit
            )
            for arm in self.arms
        }
        return [
            DistributionComparison.compute(
                target, self.control, arm, values[self.control], values[arm], limit, self.alpha
            )
            for arm in self.treatments
        ]

    def _stratified(self, effect: MetricEffect, aggregates: Aggregates) -> MetricEffect:
        """``effect`` with its lift post-stratified by the ``poststratify`` column (sparse levels dropped)."""
        from abnb.stats import poststratify

        column = self.poststratify
        cells = {
            level: metrics[effect.metric.name] for (col, level), metrics in aggregates.segments.items() if col == column
        }
        control = {level: arms[effect.control_arm] for level, arms in cells.items() if effect.control_arm in arms}
        treatment = {level: arms[effect.arm] for level, arms in cells.items() if effect.arm in arms}
        where = f"metric {effect.metric.name!r}, {effect.arm!r} vs {effect.control_arm!r}"
        if not all(isinstance(m, Moments) for m in (*control.values(), *treatment.values())):
            why = (
                f"{where}: no post-stratification by {column} (not available for ratio metrics, delta-method ratio; "
                "the unstratified lift stands)."
            )
            return replace(effect, notes=(*effect.notes, why))
        notes = list(effect.notes)
        stratified = _panel(
            notes,
            where,
            f"post-stratification by {column}",
            lambda: poststratify(control, treatment, alpha=self.alpha, relative=True, drop_sparse=True),  # type: ignore[arg-type]
        )
        return replace(effect, stratified=stratified, notes=tuple(notes))

    def _correct(self, effects: list[MetricEffect]) -> list[MetricEffect]:
        """Adjust the p-values of goal metrics × treatment arms with the spec's correction."""
        goals = [i for i, e in enumerate(effects) if e.metric.role == "goal"]
        if self.correction == "none" or len(goals) < 2:
            return effects
        method: Any = self.correction

        def family(pvalues: list[float]) -> list[float]:
            # a comparison the data could not test still counts in the family (as p = 1) and stays untested
            adjusted = adjust([p if math.isfinite(p) else 1.0 for p in pvalues], method=method)
            return [float(a) if math.isfinite(p) else math.nan for p, a in zip(pvalues, adjusted, strict=True)]

        adjusted = family([effects[i].absolute.pvalue for i in goals])
        adjusted_relative = family([effects[i].relative.pvalue for i in goals])
        corrected = list(effects)
        for i, p, p_rel in zip(goals, adjusted, adjusted_relative, strict=True):
            relative = effects[i].relative
            corrected[i] = replace(
                effects[i],
                pvalue_adjusted=p,
                rel_ci_adjusted=adjusted_interval(relative, p_rel) if math.isfinite(p_rel) else None,
            )
        return corrected

    def _result(
        self, aggregates: Aggregates, cutoff: datetime, label: date, timezone: str | None = None
    ) -> ExperimentResult:
        found = set(aggregates.units)
        missing = [a for a in self.arms if a not in found]
        if missing:
            raise DataError(
                f"arm(s) {', '.join(map(repr, missing))} of experiment {self.name!r} have no exposures in table "
                f"{self.exposures.table!r} before {cutoff:%Y-%m-%d %H:%M}; arms found: "
                f"{', '.join(map(repr, sorted(found)))}.{arm_spelling_hint(missing, found)} "
                "Check the arm names in the spec or the exposure logging."
            )
        extra = sorted(found - set(self.arms))
        if extra:
            raise DataError(
                f"table {self.exposures.table!r} has exposures of experiment {self.name!r} in arm(s) "
                f"{', '.join(map(repr, extra))} that the spec does not list; add them to `arms` or fix the logging."
            )
        few = [f"{a} ({aggregates.units[a]})" for a in self.arms if aggregates.units[a] < 2]
        if few:
            raise DataError(
                f"experiment {self.name!r} has too few units to compare before {cutoff:%Y-%m-%d %H:%M}: arm(s) "
                f"{', '.join(few)}; every arm needs at least 2 units (a variance needs two values). Wait for more "
                "exposures, choose a later as_of, or check the exposure logging."
            )
        weights = dict(zip(self.arms, self.weights, strict=True)) if self.weights else None
        sample_ratio = srm({a: aggregates.units[a] for a in self.arms}, weights)
        effects: list[MetricEffect] = []
        warnings: list[str] = []
        if aggregates.excluded_units:
            warnings.append(
                f"{aggregates.excluded_units} unit(s) were exposed to more than one arm (or only with a NULL arm) and "
                "are excluded."
            )
        for metric in self.metrics:
            arms = aggregates.overall[metric.name]
            joint = aggregates.joint.get(metric.name)
            for arm in self.arms:
                stats = arms[arm]
                if isinstance(stats, Moments) and stats.n >= 2 and stats.variance == 0:
                    warnings.append(f"metric {metric.name!r} has zero variance in arm {arm!r}.")
            warnings.extend(_cap_notes(metric, aggregates.caps.get(metric.name, {})))
            for arm in self.treatments:
                effects.append(
                    compare(
                        metric,
                        arms[self.control],
                        arms[arm],
                        self.control,
                        arm,
                        self.alpha,
                        panels=True,
                        tuning=self.tuning,
                        joint=None if joint is None else (joint[self.control], joint[arm]),
                    )
                )
        if self.poststratify is not None:
            effects = [self._stratified(effect, aggregates) for effect in effects]
        effects = self._correct(effects)
        warnings.extend(note for effect in effects for note in effect.notes)
        return ExperimentResult(
            experiment=self,
            as_of=cutoff,
            label=label,
            srm=sample_ratio,
            effects=tuple(effects),
            units={arm: aggregates.units[arm] for arm in self.arms},
            excluded_units=aggregates.excluded_units,
            segments=aggregates.segments,
            overall=aggregates.overall,
            warnings=tuple(warnings),
            rows_fetched=aggregates.rows_fetched,
            last_data_day=None if aggregates.last_exposure is None else aggregates.last_exposure.date(),
            timezone=timezone,
        )


def load(
    name_or_path: str | os.PathLike[str],
    directory: str | Path | None = None,
    *,
    project: Project | str | os.PathLike[str] | None = None,
) -> Experiment:
    """Load an experiment by name (the project's ``experiments/<name>.toml``) or by path to a TOML file.

    Args:
        name_or_path: A spec's name, or the path of a ``.toml`` file.
        directory: Look for named specs here instead of the project's experiments folder.
        project: The project whose ``[defaults]`` and metric library complete the spec, or its folder (default: the
            project of a ``.toml`` file's folder, else the current project).

    Raises:
        SpecError: No such experiment (the message lists the project's experiments), or the spec is invalid.
    """
    from abnb.project import Project, current_project, find_project

    if project is not None and not isinstance(project, Project):
        project = find_project(project)
    path = Path(name_or_path)
    if path.suffix == ".toml" and project is None:
        return Experiment.from_toml(path)
    if directory is None:
        owner = project or current_project()
        path = owner.experiment_path(name_or_path)
        data = read_toml(path, "experiment spec")
        return Experiment.from_dict(owner.spec_data(data, str(path)), source=str(path))
    name = validate_identifier(str(name_or_path), "experiment name")
    folder = Path(directory)
    candidate = folder / f"{name}.toml"
    if not candidate.exists():
        known = sorted(p.stem for p in folder.glob("*.toml"))
        raise SpecError(
            f"no experiment {name!r}: {candidate} does not exist; known experiments: {', '.join(known) or 'none'}."
        )
    return Experiment.from_toml(candidate)


@dataclass(frozen=True)
class MetricEffect:
    """The comparison of one metric between one treatment arm and the control.

    Attributes:
        metric: The metric compared.
        control_arm: Name of the control arm.
        arm: Name of the treatment arm.
        control: Control moments.
        treatment: Treatment moments.
        absolute: Difference of means (Welch t for means, unpooled z for proportions).
        relative: Relative lift with a delta-method CI.
        adjusted: Covariate-adjusted relative lift: CUPED (one covariate), regression adjustment (several: CUPAC)
            or ratio CUPED; ``None`` without a covariate.
        bayes: Chance to beat control (Beta posteriors for proportions, normal lift for means).
        sequential: Anytime-valid confidence sequence of the lift: whether the experiment may stop now.
        noninferiority: One-sided non-inferiority test (guardrails with a ``margin``), else ``None``.
        pvalue_adjusted: p-value after the experiment's multiple-testing correction (goal metrics × arms);
            the raw p-value for other roles.
        rel_ci_adjusted: The relative CI backed out of the corrected p-value of the lift (it excludes 0 exactly
            when the corrected test rejects); ``None`` when no correction applies.
        mde: Relative effect detectable with 80% power at the current sample size.
        notes: What could not be computed for this comparison and why, and what a Fieller set that is not an
            interval means (e.g. "no relative lift ...: the control mean is 0; the absolute difference stands").
        stratified: The relative lift post-stratified by the spec's ``poststratify`` column, else ``None``.
    """

    metric: Metric
    control_arm: str
    arm: str
    control: ArmStats
    treatment: ArmStats
    absolute: Effect
    relative: Effect
    adjusted: CupedEffect | RegressionEffect | None = None
    bayes: BayesResult | None = None
    sequential: SequentialEffect | None = None
    noninferiority: NonInferiorityResult | None = None
    pvalue_adjusted: float | None = None
    rel_ci_adjusted: ConfidenceInterval | None = None
    mde: float | None = None
    notes: tuple[str, ...] = ()
    stratified: Effect | None = None

    @property
    def pvalue(self) -> float:
        """The p-value decisions use: adjusted for multiple testing where the experiment asks for it."""
        return self.absolute.pvalue if self.pvalue_adjusted is None else self.pvalue_adjusted

    @property
    def significant(self) -> bool:
        """Whether the two-sided test rejects "no difference" at the experiment's alpha (after correction).

        A test the data could not support (NaN p-value) is never significant.
        """
        return self.pvalue < self.absolute.alpha

    @property
    def improved(self) -> bool:
        """Significant and in the metric's better direction."""
        better = self.absolute.estimate > 0 if self.metric.higher_is_better else self.absolute.estimate < 0
        return self.significant and better

    @property
    def worsened(self) -> bool:
        """Significant and in the metric's worse direction."""
        return self.significant and not self.improved

    def _why_missing(self, what: str) -> str | None:
        """The reason noted when the panel ``what`` could not be computed (``"no <what> (<reason>)."``), or ``None``."""
        marker = f": no {what} ("
        for note in self.notes:
            if marker in note and note.endswith(")."):
                return note.split(marker, 1)[1][:-2]
        return None

    def _not_computed(self, what: str, for_ratio: str) -> str:
        """The method column of a missing panel: why it is missing (its note, or that a ratio metric has none)."""
        why = self._why_missing(what)
        if why is None and isinstance(self.control, RatioMoments):
            why = for_ratio
        return f"not computed: {why}" if why else "not computed"

    def row(self) -> dict[str, Any]:
        """A flat record for tables and summary.json.

        A secondary panel that is missing says why in its method column (``bayes_method``, ``seq_method``,
        ``mde_method``): ``"not computed: <reason>"``, e.g. that ratio metrics (delta method) have no posterior.
        """
        nan = math.nan
        adjusted, bayes, sequential, ni = self.adjusted, self.bayes, self.sequential, self.noninferiority
        return {
            "metric": self.metric.name,
            "kind": self.metric.kind,
            "role": self.metric.role,
            "direction": self.metric.direction,
            "arm": self.arm,
            "control_arm": self.control_arm,
            "n_control": self.control.n,
            "n_treatment": self.treatment.n,
            "control_mean": self.absolute.control_mean,
            "treatment_mean": self.absolute.treatment_mean,
            "estimate": self.absolute.estimate,
            "ci_low": self.absolute.ci_low,
            "ci_high": self.absolute.ci_high,
            "pvalue": self.absolute.pvalue,
            "pvalue_adjusted": self.pvalue,
            "rel_estimate": self.relative.estimate,
            "rel_ci_low": self.relative.ci_low,
            "rel_ci_high": self.relative.ci_high,
            "rel_pvalue": self.relative.pvalue,
            "rel_ci_low_adjusted": self.rel_ci_adjusted.low if self.rel_ci_adjusted else self.relative.ci_low,
            "rel_ci_high_adjusted": self.rel_ci_adjusted.high if self.rel_ci_adjusted else self.relative.ci_high,
            "significant": self.significant,
            "improved": self.improved,
            "worsened": self.worsened,
            "method": self.absolute.method,
            "rel_method": self.relative.method,
            "cuped_rel_estimate": adjusted.estimate if adjusted else nan,
            "cuped_rel_ci_low": adjusted.ci_low if adjusted else nan,
            "cuped_rel_ci_high": adjusted.ci_high if adjusted else nan,
            "cuped_pvalue": adjusted.pvalue if adjusted else nan,
            "cuped_variance_reduction": adjusted.variance_reduction if adjusted else nan,
            "chance_to_beat": bayes.chance if bayes else nan,
            "expected_loss": bayes.expected_loss if bayes else nan,
            "bayes_method": bayes.method
            if bayes
            else self._not_computed("chance to beat control", "no posterior for ratio metrics (delta-method ratio)"),
            "seq_ci_low": sequential.ci_low if sequential else nan,
            "seq_ci_high": sequential.ci_high if sequential else nan,
            "may_stop": sequential.may_stop if sequential else False,
            "seq_reason": sequential.reason if sequential else "",
            "seq_method": sequential.method
            if sequential
            else self._not_computed(
                "anytime-valid interval", "no confidence sequence for ratio metrics (delta-method ratio)"
            ),
            "noninferiority_margin": self.metric.margin if ni else nan,
            "noninferiority_passed": ni.passed if ni else None,
            "noninferiority_pvalue": ni.pvalue if ni else nan,
            "mde_relative": nan if self.mde is None else self.mde,
            "mde_method": _MDE_METHOD.format(alpha=self.absolute.alpha)
            if self.mde is not None
            else self._not_computed("MDE", "no MDE for ratio metrics (delta-method ratio)"),
            "rel_ci_note": self.relative.ci_note,
            "strat_rel_estimate": self.stratified.estimate if self.stratified else nan,
            "strat_rel_ci_low": self.stratified.ci_low if self.stratified else nan,
            "strat_rel_ci_high": self.stratified.ci_high if self.stratified else nan,
            "strat_pvalue": self.stratified.pvalue if self.stratified else nan,
            "notes": "; ".join(self.notes),
        }


_MDE_METHOD = "relative lift detectable with 80% power by the two-sided test at α = {alpha:g} (abnb.stats.mde)"


def compare(
    metric: Metric,
    control: ArmStats,
    treatment: ArmStats,
    control_arm: str,
    arm: str,
    alpha: float,
    *,
    panels: bool = False,
    tuning: int = 5000,
    joint: tuple[JointMoments, JointMoments] | None = None,
) -> MetricEffect:
    """Compare one metric between two arms: Welch t for means, unpooled z for proportions, delta method for ratios.

    The relative lift ``(t − c)/|c|`` has Fieller's interval (it excludes 0 exactly when the test of the difference
    rejects). With ``panels=True`` also the CUPED-adjusted lift (when the metric has covariate sums), the Bayesian
    chance to beat control, the confidence sequence, the non-inferiority test of guardrails with a margin, and the
    MDE. The adjustment panel is CUPED (one covariate), regression adjustment over every covariate of the metric
    (several, e.g. a model's prediction: CUPAC) or ratio CUPED (a ratio with ``covariate_days``), from the metric's
    ``joint`` sums. Nothing that cannot be computed stops the comparison: a test that the data cannot support
    (zero variance in both arms, a control mean of 0 for the lift, ...) is reported as not available (NaN) and the
    reason is kept in :attr:`MetricEffect.notes`, so one degenerate metric never hides the others.

    Ratio metrics (:class:`RatioMoments`) get the delta-method comparison and, with a covariate, ratio CUPED.

    Raises:
        ParameterError: The two arms carry different kinds of sufficient statistics.
    """
    notes: list[str] = []
    where = f"metric {metric.name!r}, {arm!r} vs {control_arm!r}"
    absolute, relative = _tests(metric, control, treatment, alpha, notes, where)
    effect = MetricEffect(metric, control_arm, arm, control, treatment, absolute, relative, notes=tuple(notes))
    if not panels:
        return effect
    if not isinstance(control, Moments) or not isinstance(treatment, Moments):
        if metric.margin is not None:
            notes.append(
                f"{where}: no non-inferiority test (ratio metrics have none, delta-method ratio: the margin "
                f"{metric.margin:.1%} cannot be shown, so it holds back shipping; drop the margin or use a mean "
                "metric)."
            )
        adjusted = None
        if joint is not None and metric.covariate_days is not None:
            pair = joint
            adjusted = _panel(
                notes, where, "ratio CUPED", lambda: ratio_cuped(pair[0], pair[1], alpha=alpha, relative=True)
            )
        return replace(effect, adjusted=adjusted, notes=tuple(notes))
    return _with_panels(effect, control, treatment, alpha, tuning, joint, notes, where)


def _tests(
    metric: Metric, control: ArmStats, treatment: ArmStats, alpha: float, notes: list[str], where: str
) -> tuple[Effect, Effect]:
    """The difference and the relative lift; one the data cannot support is NaN, its reason in ``notes``."""
    test = _test(metric, control, treatment, alpha)
    try:
        absolute = test(False)
    except DataError as error:
        notes.append(f"{where}: {error} No test of the difference is reported; the other metrics stand.")
        absolute = _not_available(control, treatment, alpha, relative=False, reason=str(error))
    try:
        relative = test(True)
    except DataError as error:
        if math.isfinite(absolute.pvalue):
            notes.append(f"{where}: no relative lift ({error}); the absolute difference stands.")
        relative = _not_available(control, treatment, alpha, relative=True, reason=str(error))
    if metric.interval != "wald" and isinstance(control, Moments) and isinstance(treatment, Moments):
        absolute, relative = _score_intervals(metric, control, treatment, alpha, absolute, relative, notes, where)
    if relative.ci_note:
        notes.append(f"{where}: the relative interval is {relative.ci_note}.")
    return absolute, relative


def _test(metric: Metric, control: ArmStats, treatment: ArmStats, alpha: float) -> Callable[[bool], Effect]:
    """The test of the metric's kind, absolute or relative: delta method (ratios), z (proportions) or Welch t.

    Raises:
        ParameterError: The two arms carry different kinds of sufficient statistics.
    """
    if isinstance(control, RatioMoments) and isinstance(treatment, RatioMoments):

        def test(relative: bool) -> Effect:
            return ratio(control, treatment, alpha=alpha, relative=relative)

    elif isinstance(control, Moments) and isinstance(treatment, Moments):
        chosen = ztest if metric.kind == "proportion" else welch

        def test(relative: bool) -> Effect:
            return chosen(control, treatment, alpha=alpha, relative=relative)

    else:
        raise ParameterError(f"metric {metric.name!r}: both arms need the same kind of sufficient statistics.")
    return test


def _with_panels(
    effect: MetricEffect,
    control: Moments,
    treatment: Moments,
    alpha: float,
    tuning: int,
    joint: tuple[JointMoments, JointMoments] | None,
    notes: list[str],
    where: str,
) -> MetricEffect:
    """``effect`` of a mean or proportion with its secondary panels; one that cannot be computed is noted."""
    metric = effect.metric
    panel = partial(_panel, notes, where)
    adjustment = _adjustment(metric, control, treatment, alpha, joint)
    effect = replace(
        effect,
        adjusted=None
        if adjustment is None
        else panel("CUPED" if len(metric.adjusted_by) < 2 else "regression adjustment", adjustment),
        bayes=panel("chance to beat control", partial(_bayes, metric, control, treatment)),
        sequential=panel(
            "anytime-valid interval",
            lambda: confidence_sequence(control, treatment, relative=True, tuning=tuning, alpha=alpha),
        ),
        noninferiority=None
        if metric.margin is None
        else panel(
            "non-inferiority test",
            partial(
                noninferiority,
                control,
                treatment,
                margin=metric.margin,
                direction=metric.direction,
                relative=True,
                alpha=alpha,
            ),
        ),
        mde=panel("MDE", partial(_relative_mde, metric, control, treatment, alpha)),
    )
    return replace(effect, notes=tuple(notes))


def _relative_mde(metric: Metric, control: Moments, treatment: Moments, alpha: float, power: float = 0.8) -> float:
    """The relative lift of ``metric`` the two-sided test detects with ``power`` at the arms' current units.

    :func:`abnb.stats.mde` with the control's mean (and, for a mean, its standard deviation) and the allocation
    ``n_treatment / n_control``.
    """
    return mde(
        control.n,
        abs(control.mean),
        relative=True,
        alpha=alpha,
        power=power,
        ratio=treatment.n / control.n,
        sd=None if metric.kind == "proportion" else control.std,
    )


def _adjustment(
    metric: Metric,
    control: Moments,
    treatment: Moments,
    alpha: float,
    joint: tuple[JointMoments, JointMoments] | None,
) -> Callable[[], CupedEffect | RegressionEffect] | None:
    """The covariate adjustment of the lift: regression over several covariates, CUPED over one, else ``None``."""
    covariates = metric.adjusted_by
    if len(covariates) > 1 and joint is not None:
        pair = joint

        def regression() -> CupedEffect | RegressionEffect:
            return regression_adjust(
                pair[0], pair[1], covariates=covariates, alpha=alpha, relative=True, pooling="total"
            )

        return regression
    if control.x_sum is not None:
        return partial(cuped, control, treatment, alpha=alpha, relative=True)
    return None


_T = TypeVar("_T")


def _bayes(metric: Metric, control: Moments, treatment: Moments) -> BayesResult:
    """The Bayesian panel: Beta posteriors for a proportion, a normal lift for a mean; the metric's ``prior``."""
    if metric.kind == "proportion":
        return chance_to_beat(control, treatment, method="beta", prior=metric.prior)
    prior = None if metric.prior is None else (metric.prior[0], metric.prior[1] ** 2)
    return chance_to_beat(control, treatment, method="lift", prior=prior)


def _score_intervals(
    metric: Metric,
    control: Moments,
    treatment: Moments,
    alpha: float,
    absolute: Effect,
    relative: Effect,
    notes: list[str],
    where: str,
) -> tuple[Effect, Effect]:
    """A proportion's difference with its ``interval`` (Newcombe, Agresti–Caffo), the lift with Koopman's score CI.

    The estimates and p-values stay the z-test's; only the intervals change (they stay within the range of rates).
    """
    from abnb.stats import proportion_difference, proportion_ratio

    method: Any = metric.interval
    difference = _panel(
        notes,
        where,
        f"{metric.interval} interval",
        lambda: proportion_difference(control, treatment, alpha=alpha, method=method),
    )
    if difference is not None:
        found = difference

        def interval(level: float) -> tuple[float, float]:
            low, high = found.confidence_interval(level)
            return low, high

        absolute = replace(
            absolute,
            ci_low=difference.ci_low,
            ci_high=difference.ci_high,
            method=f"{absolute.method}; interval: {difference.method}",
            _interval=interval,
        )
    if control.mean > 0 and math.isfinite(relative.estimate):
        score = _panel(
            notes,
            where,
            "score interval of the ratio",
            lambda: proportion_ratio(control, treatment, alpha=alpha, method="score"),
        )
        if score is not None:

            def lift(level: float) -> tuple[float, float]:
                low, high = score.confidence_interval(level)
                return low - 1.0, high - 1.0

            low, high = lift(1.0 - alpha)
            relative = replace(
                relative,
                ci_low=low,
                ci_high=high,
                ci_note="",
                method=f"{relative.method.split(', Fieller CI')[0]}, interval: {score.method} minus 1",
                _interval=lift,
            )
    return absolute, relative


def _cap_notes(metric: Metric, caps: Mapping[str, float]) -> list[str]:
    """What capping did to a metric, in words (its cap per variable, and where it came from)."""
    if not caps:
        return []
    how = f"the P{100 * metric.cap_quantile:g} of its per-unit values" if metric.cap_quantile else "a fixed cap"
    values = ", ".join(f"{variable} at {value:.6g}" for variable, value in caps.items())
    return [f"metric {metric.name!r} is capped ({how}): {values}."]


def _panel(notes: list[str], where: str, what: str, compute: Callable[[], _T]) -> _T | None:
    """A secondary panel's value, or ``None`` with the reason appended to ``notes`` (the main effect stands)."""
    try:
        return compute()
    except (DataError, ParameterError) as error:
        notes.append(f"{where}: no {what} ({error}).")
        return None


def _not_available(control: ArmStats, treatment: ArmStats, alpha: float, *, relative: bool, reason: str) -> Effect:
    """An effect the data cannot support: the means as they are, every statistic NaN, the reason as its method."""
    nan = math.nan
    m_c = control.ratio if isinstance(control, RatioMoments) else control.mean if control.n else nan
    m_t = treatment.ratio if isinstance(treatment, RatioMoments) else treatment.mean if treatment.n else nan
    return Effect(
        estimate=nan,
        se=nan,
        ci_low=nan,
        ci_high=nan,
        pvalue=nan,
        statistic=nan,
        df=None,
        alpha=alpha,
        method=f"not available: {reason}",
        relative=relative,
        control_mean=m_c,
        treatment_mean=m_t,
    )


DEFAULT_QUANTILES = (0.5, 0.9, 0.99)
"""The quantiles :meth:`Experiment.distributions` compares for a metric without ``quantiles`` of its own."""


@dataclass(frozen=True)
class DistributionComparison:
    """Rank and quantile comparison of one metric's per-unit values between two arms (from bounded samples).

    Attributes:
        quantiles: The quantile differences that could be computed, in the requested order.
        notes: Why a requested quantile difference could not be computed (one note each).
        missing: ``(quantile, reason)`` of each requested quantile difference that could not be computed (both
            arms without spread there, an arm too small to bracket it); :meth:`to_frame` shows them as rows with
            the reason as their method.
    """

    metric: Metric
    control_arm: str
    arm: str
    n_control: int
    n_treatment: int
    limit: int
    shift: ShiftResult
    quantiles: tuple[QuantileDifferenceResult, ...]
    notes: tuple[str, ...] = ()
    missing: tuple[tuple[float, str], ...] = ()

    @classmethod
    def compute(
        cls,
        metric: Metric,
        control_arm: str,
        arm: str,
        control: list[float],
        treatment: list[float],
        limit: int,
        alpha: float,
    ) -> DistributionComparison:
        """Run Mann–Whitney and the quantile differences on two samples of unit values.

        Raises:
            DataError: An arm has no unit (the message names the metric and the arm).
        """
        empty = [name for name, values in ((control_arm, control), (arm, treatment)) if not values]
        if empty:
            raise DataError(
                f"metric {metric.name!r}: arm(s) {', '.join(empty)} have no exposed unit to compare; check the arm "
                "names in the spec, the exposures table and as_of."
            )
        levels = metric.quantiles or DEFAULT_QUANTILES
        where = f"metric {metric.name!r}, {arm!r} vs {control_arm!r}"
        quantiles: list[QuantileDifferenceResult] = []
        missing: list[tuple[float, str]] = []
        for level in levels:
            try:
                quantiles.append(quantile_difference(control, treatment, level, alpha=alpha))
            except (DataError, ParameterError) as error:
                missing.append((level, str(error)))
        notes = tuple(f"{where}: no P{100 * level:g} difference ({reason})." for level, reason in missing)
        shift = mann_whitney(control, treatment, alpha=alpha)
        return cls(
            metric,
            control_arm,
            arm,
            len(control),
            len(treatment),
            limit,
            shift,
            tuple(quantiles),
            notes,
            tuple(missing),
        )

    @property
    def sampled(self) -> bool:
        """Whether an arm had more units than the limit (the comparison then uses a sample)."""
        return max(self.n_control, self.n_treatment) >= self.limit

    def to_frame(self) -> pd.DataFrame:
        """One row per statistic: Hodges–Lehmann shift, then each quantile difference."""
        import pandas as pd

        rows = [
            {
                "statistic": "location shift (Hodges–Lehmann)",
                "control": math.nan,
                "treatment": math.nan,
                "estimate": self.shift.estimate,
                "ci_low": self.shift.ci_low,
                "ci_high": self.shift.ci_high,
                "pvalue": self.shift.pvalue,
                "method": self.shift.method,
            }
        ]
        nan = math.nan
        by_level = {
            q.q: {
                "statistic": f"P{100 * q.q:g} difference",
                "control": q.control_quantile,
                "treatment": q.treatment_quantile,
                "estimate": q.estimate,
                "ci_low": q.ci_low,
                "ci_high": q.ci_high,
                "pvalue": q.pvalue,
                "method": q.method,
            }
            for q in self.quantiles
        }
        for level, reason in self.missing:
            by_level[level] = {
                "statistic": f"P{100 * level:g} difference",
                **dict.fromkeys(("control", "treatment", "estimate", "ci_low", "ci_high", "pvalue"), nan),
                "method": f"not computed: {reason}",
            }
        rows += [by_level[level] for level in self.metric.quantiles or DEFAULT_QUANTILES if level in by_level]
        frame = pd.DataFrame(rows)
        frame.insert(0, "arm", self.arm)
        frame.insert(0, "metric", self.metric.name)
        return frame

    @property
    def note(self) -> str:
        """Where the values came from, in one sentence, and why any requested quantile is missing."""
        how = f"a reproducible sample of {self.limit:,} units per arm" if self.sampled else "all units"
        missing = "".join(f" P{100 * level:g} not computed: {reason}" for level, reason in self.missing)
        shift = self.shift
        ties = (
            " The Hodges–Lehmann shift is 0 with the interval [0, 0] although the rank test rejects: more than half "
            "of the control × treatment pairs tie (for example both units at 0), so the median pairwise difference "
            "is 0 while the distributions still differ; the quantile differences show where."
            if shift.estimate == 0 and shift.ci_low == 0 and shift.ci_high == 0 and shift.pvalue < shift.alpha
            else ""
        )
        return (
            f"{self.metric.name}, {self.arm} vs {self.control_arm}: {how} "
            f"({self.n_control:,} control, {self.n_treatment:,} treatment values).{missing}{ties}"
        )


@dataclass(frozen=True)
class Decision:
    """What to do with the experiment, and why.

    Attributes:
        verdict: ``ship``, ``continue``, ``harm`` or ``invalid``.
        arm: The arm shipped or harmed, else ``None``.
        reason: Why, in words: every reason of :attr:`reasons` when there are some.
        reasons: Every reason the experiment cannot ship now, one sentence each (``continue``: each missing
            condition of each arm; ``harm``: each guardrail worse; ``invalid``: the sample ratio mismatch);
            empty for ``ship``.
    """

    verdict: ExperimentVerdict
    arm: str | None
    reason: str
    reasons: tuple[str, ...] = ()

    @property
    def stop(self) -> bool:
        """Whether the experiment should stop now: it shipped, harmed, or its assignment is broken."""
        return self.verdict != "continue"

    def __str__(self) -> str:
        return f"{self.verdict}: {self.reason}"


def _change(effect: MetricEffect) -> str:
    """The effect in words: the relative lift when there is one, else the absolute difference."""
    if math.isfinite(effect.relative.estimate):
        return f"{effect.relative.estimate:+.2%}"
    return f"{effect.absolute.estimate:+.4g} absolute"


def _joined(reasons: list[str]) -> str:
    """The reasons as one text (the :attr:`Decision.reason`)."""
    return " ".join(reasons) or "no arm meets the decision rule yet."


def _no_goal_better(arm: str, goals: list[MetricEffect], correction: str) -> list[str]:
    """Why no goal metric of ``arm`` counts as better: none significant yet (the lowest p-value), or none at all.

    Empty when every testable goal is significantly worse (those reasons are given on their own).
    """
    if not goals:
        return [f"{arm}: the spec has no goal metric to ship on."]
    testable = [e for e in goals if math.isfinite(e.pvalue)]
    candidates = [e for e in testable if not e.worsened]
    if not testable:
        return [f"{arm}: no goal metric could be tested (the notes say why)."]
    if not candidates:
        return []
    best = min(candidates, key=lambda e: e.pvalue)
    after = f" after the {correction} correction" if best.pvalue_adjusted is not None else ""
    return [
        f"{arm}: no goal metric is significantly better yet (lowest p-value: {best.metric.name}, "
        f"{best.pvalue:.3g}{after}; α = {best.absolute.alpha:g})."
    ]


def _guardrail_reason(arm: str, effect: MetricEffect, better: str | None = None) -> str:
    """One sentence: ``effect``'s metric (with a margin) is not yet shown non-inferior in ``arm``, with the margin.

    ``better`` (e.g. ``"treatment improves conversion"``) starts the sentence when the arm would ship otherwise.
    """
    margin = f"margin {effect.metric.margin:.1%}"
    if effect.noninferiority is not None:
        detail = f"{margin}, p = {effect.noninferiority.pvalue:.3g}"
    else:
        why = effect._why_missing("non-inferiority test")
        detail = f"{margin}; no test: {why}" if why else f"{margin}; no test"
    name = effect.metric.name
    if better is not None:
        return f"{better} but {name} is not yet shown non-inferior ({detail})."
    label = f"guardrail {name}" if effect.metric.role == "guardrail" else f"{effect.metric.role} metric {name}"
    return f"{arm}: {label} is not yet shown non-inferior ({detail})."


def _chance_better(effect: MetricEffect) -> float | None:
    """Posterior chance that the arm is better in the metric's direction (``None`` without a posterior)."""
    if effect.bayes is None:
        return None
    return effect.bayes.chance if effect.metric.higher_is_better else 1.0 - effect.bayes.chance


def _loss_of_shipping(effect: MetricEffect) -> float | None:
    """Expected loss of shipping the arm, in the metric's better direction (``None`` without a posterior)."""
    if effect.bayes is None:
        return None
    return effect.bayes.expected_loss if effect.metric.higher_is_better else effect.bayes.expected_loss_control


def _gain(effect: MetricEffect) -> float:
    """The direction-aware absolute difference ``s·(t − c)`` that ranks arms to ship (``-inf`` when NaN)."""
    gain = effect.absolute.estimate if effect.metric.higher_is_better else -effect.absolute.estimate
    return gain if math.isfinite(gain) else -math.inf


def _sequentially_better(effect: MetricEffect) -> bool:
    """Whether the confidence sequence of the lift lies entirely on the metric's better side of 0."""
    sequence = effect.sequential
    if sequence is None:
        return False
    return sequence.ci_low > 0 if effect.metric.higher_is_better else sequence.ci_high < 0


def _segment_effect(
    metric: Metric, control: ArmStats, treatment: ArmStats, control_arm: str, arm: str, alpha: float
) -> dict[str, Any]:
    """One segment level's relative effect, CI and p-value, and a ``note`` saying why any of them is missing."""
    nan = math.nan
    try:
        effect = compare(metric, control, treatment, control_arm, arm, alpha)
    except (DataError, ParameterError) as error:
        return {
            "rel_estimate": nan,
            "rel_ci_low": nan,
            "rel_ci_high": nan,
            "pvalue": nan,
            "note": f"not computed: {error}",
        }
    where = f"metric {metric.name!r}, {arm!r} vs {control_arm!r}: "
    return {
        "rel_estimate": effect.relative.estimate,
        "rel_ci_low": effect.relative.ci_low,
        "rel_ci_high": effect.relative.ci_high,
        "pvalue": effect.absolute.pvalue,
        "note": "; ".join(note.removeprefix(where) for note in effect.notes),
    }


def _json_safe(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


@dataclass(frozen=True)
class Progress(FlatResult):
    """How far an experiment is along its :class:`Plan` (:attr:`ExperimentResult.progress`).

    Attributes:
        metric: The metric the plan is about.
        units_per_arm: Units in the smallest arm now.
        planned_units_per_arm: Units the plan needs in that arm (NaN when they cannot be computed; ``method`` says
            why).
        fraction: ``units_per_arm / planned_units_per_arm``; above 1 once the plan is met.
        mde_now: The relative lift of ``metric`` detectable now with the plan's power (NaN when unknown).
        mde_planned: The plan's ``mde``, or ``None`` for a plan in units.
        method: How the numbers were computed, in words.
    """

    metric: str
    units_per_arm: int
    planned_units_per_arm: float
    fraction: float
    mde_now: float
    mde_planned: float | None
    method: str

    def to_dict(self) -> dict[str, Any]:
        """The fields as a JSON-safe dictionary (NaN and infinities as ``None``)."""
        return {f.name: _json_safe(getattr(self, f.name)) for f in fields(self)}


def _progress(plan: Plan, effect: MetricEffect, units: int, alpha: float) -> Progress:
    """:attr:`ExperimentResult.progress` from the plan's metric in the first treatment arm and the smallest arm."""
    metric = effect.metric
    control, treatment = effect.control, effect.treatment
    moments = (control, treatment) if isinstance(control, Moments) and isinstance(treatment, Moments) else None
    setting = f"two-sided test at α = {alpha:g}, power {plan.power:.0%}"
    mde_now = math.nan
    now = f"MDE now: the relative lift of {metric.name} detectable at the current units ({setting}; abnb.stats.mde)"
    if moments is None:
        now = "MDE now: not computed (ratio metrics have none, delta-method ratio)"
    else:
        try:
            mde_now = _relative_mde(metric, *moments, alpha, plan.power)
        except (DataError, ParameterError) as error:
            now = f"MDE now: not computed ({error})"
    if plan.units_per_arm is not None:
        planned = float(plan.units_per_arm)
        how = f"planned: units_per_arm of the plan ({plan.units_per_arm:,})"
    else:
        planned, how = _planned_units(plan, metric, moments, units, alpha)
    fraction = units / planned if math.isfinite(planned) and planned > 0 else math.nan
    return Progress(
        metric=metric.name,
        units_per_arm=units,
        planned_units_per_arm=planned,
        fraction=fraction,
        mde_now=mde_now,
        mde_planned=plan.mde,
        method=f"fraction = units in the smallest arm / planned units; {how}; {now}.",
    )


def _planned_units(
    plan: Plan, metric: Metric, moments: tuple[Moments, Moments] | None, units: int, alpha: float
) -> tuple[float, str]:
    """The units an MDE plan needs in the smallest arm, and how they were found (NaN and why when they cannot be)."""
    assert plan.mde is not None
    if moments is None:
        return (
            math.nan,
            f"planned: not computed (an mde plan needs a mean or proportion metric; {metric.name} is a ratio)",
        )
    control, treatment = moments
    try:
        needed = sample_size(
            abs(control.mean),
            plan.mde,
            relative=True,
            alpha=alpha,
            power=plan.power,
            ratio=treatment.n / control.n,
            sd=None if metric.kind == "proportion" else control.std,
        )
    except (DataError, ParameterError) as error:
        return math.nan, f"planned: not computed ({error})"
    sd = "" if metric.kind == "proportion" else " and standard deviation"
    return needed * units / control.n, (
        f"planned: abnb.stats.sample_size for a {plan.mde:.2%} relative lift of {metric.name} (two-sided test at "
        f"α = {alpha:g}, power {plan.power:.0%}, the control's current mean{sd} and the current allocation), for the "
        "smallest arm; about units · (mde_now / mde)², as the MDE shrinks as 1/√n"
    )


@dataclass(frozen=True)
class ExperimentResult:
    """The analysis of an experiment at one data cutoff.

    Attributes:
        experiment: The spec analysed.
        as_of: Exclusive data cutoff.
        label: The last day with data (names the report).
        srm: Sample-ratio-mismatch check over all arms.
        effects: One :class:`MetricEffect` per metric and treatment arm.
        units: Units per arm in the analysis.
        excluded_units: Units exposed to more than one arm, or only with a NULL arm (excluded).
        segments: Moments per (segment column, level) → metric → arm.
        overall: Moments per metric → arm.
        warnings: Data-quality notes to show next to the results.
        rows_fetched: Rows the engine returned for the whole analysis.
        last_data_day: The last day with exposures of the experiment in the data, at or before the cutoff (from the
            same aggregate query; from an incremental store, the last day a unit was first exposed); ``None`` for a
            unit-level table without ``ts``. Earlier than :attr:`label` when exposures stopped before the cutoff.
        timezone: The zone :attr:`as_of` is wall-clock time in (the connection's; ``None``: UTC).
    """

    experiment: Experiment
    as_of: datetime
    label: date
    srm: SrmResult
    effects: tuple[MetricEffect, ...]
    units: dict[str, int]
    excluded_units: int
    segments: dict[tuple[str, str], dict[str, dict[str, ArmStats]]]
    overall: dict[str, dict[str, ArmStats]]
    warnings: tuple[str, ...] = ()
    rows_fetched: int = 0
    last_data_day: date | None = None
    timezone: str | None = None

    @property
    def window(self) -> tuple[datetime | None, datetime | None]:
        """The spec's ``start`` and ``end`` as wall-clock times in :attr:`timezone`, comparable with :attr:`as_of`."""
        return self.experiment.window(self.timezone)

    @property
    def srm_detected(self) -> bool:
        """Whether the allocation differs from the plan (p below the spec's SRM threshold)."""
        return self.srm.pvalue < self.experiment.srm_threshold

    @property
    def days_running(self) -> int | None:
        """Calendar days from the spec's ``start`` to :attr:`label`, both counted (``None`` without a start).

        The start's day is its date in :attr:`timezone` (a start with an offset is converted); a cutoff before it
        gives 0.
        """
        start = self.window[0]
        if start is None:
            return None
        return max(0, (self.label - start.date()).days + 1)

    @property
    def progress(self) -> Progress | None:
        """How far the experiment is along its :class:`Plan` (``None`` when the spec has none).

        Units are those of the smallest arm now. With ``units_per_arm`` the plan is that number; with ``mde`` it
        is the size at which the two-sided test detects that relative lift of the plan's metric with the plan's
        power (:func:`abnb.stats.sample_size` from the control's current mean and standard deviation and the
        current allocation), which is about ``units · (mde_now / mde)²`` since the MDE shrinks as ``1/√n``.
        ``mde_now`` is the relative MDE at the current units (:func:`abnb.stats.mde`, the plan's power) in the
        first treatment arm.
        """
        plan, metric = self.experiment.plan, self.experiment.plan_metric
        if plan is None or metric is None:
            return None
        effect = self.effect(metric, self.experiment.treatments[0])
        return _progress(plan, effect, min(self.units.values()), self.experiment.alpha)

    def effect(self, metric: str, arm: str | None = None) -> MetricEffect:
        """The comparison for ``metric`` (and ``arm``; the only treatment arm by default)."""
        arm = arm or self.experiment.treatments[0]
        for item in self.effects:
            if item.metric.name == metric and item.arm == arm:
                return item
        raise ParameterError(
            f"no effect for metric {metric!r} and arm {arm!r}; metrics: "
            f"{', '.join(m.name for m in self.experiment.metrics)}; arms: {', '.join(self.experiment.treatments)}."
        )

    @property
    def decision(self) -> Decision:
        """The decision rule, with every reason that keeps it from shipping in :attr:`Decision.reasons`.

        1. SRM (p < srm_threshold): ``invalid`` — the assignment is broken, no effect is trusted.
        2. A guardrail significantly worse in an arm: ``harm`` for that arm (the first one found; every worse
           guardrail is a reason).
        3. An arm with a goal metric significantly better (after the multiple-testing correction), none
           significantly worse, and every guardrail with a margin shown non-inferior (a non-inferiority test that
           could not be computed counts as not shown): ``ship``. Among several such arms the largest improvement
           of the first goal metric wins, measured as the direction-aware absolute difference ``s·(t − c)`` (all
           arms share the control, so this ranks as the relative lift does, and no sign convention of a
           negative control mean can reverse it). Before the planned ``end`` the
           improvement must also be shown by the anytime-valid confidence sequence (looking early does not
           inflate the error rate); at or after the end the fixed-horizon test decides.
        4. Otherwise ``continue``, with one reason per arm and missing condition: each goal metric significant
           only at the fixed horizon before the end, each goal metric significantly worse, no goal metric
           significantly better (with the lowest p-value), each guardrail not yet shown non-inferior.
        """
        if self.srm_detected:
            reason = (
                f"sample ratio mismatch (χ² p = {self.srm.pvalue:.3g} < {self.experiment.srm_threshold}): the "
                "allocation differs from the plan, so no winner can be called. Find the cause before reading effects."
            )
            return Decision("invalid", None, reason, (reason,))
        if self.experiment.decision_rule == "bayesian":
            return self._bayesian_decision()
        harm = self._harm(
            lambda e: f"got worse in {e.arm} ({_change(e)}, p = {e.absolute.pvalue:.3g})" if e.worsened else None
        )
        if harm is not None:
            return harm
        candidates = []
        reasons: list[str] = []
        for arm in self.experiment.treatments:
            goals = [e for e in self.effects if e.arm == arm and e.metric.role == "goal"]
            blocking = self._frequentist_blockers(arm, goals)
            if blocking:
                reasons += blocking
                continue
            candidates.append((_gain(goals[0]), arm, [e.metric.name for e in goals if e.improved]))
        if candidates:
            _, arm, metrics = max(candidates)
            return Decision("ship", arm, f"{arm} improves {', '.join(metrics)} with no guardrail worse.")
        return Decision("continue", None, _joined(reasons), tuple(reasons))

    def _frequentist_blockers(self, arm: str, goals: list[MetricEffect]) -> list[str]:
        """Every reason the frequentist rule cannot ship ``arm`` (one sentence each); empty when it can."""
        reasons: list[str] = []
        end = self.window[1]
        if end is not None and self.as_of < end:
            reasons += [
                f"{arm} improves {e.metric.name} at the fixed horizon, but the experiment runs until {end:%Y-%m-%d} "
                "and the anytime-valid interval does not yet lie on the better side of 0."
                for e in goals
                if e.improved and not _sequentially_better(e)
            ]
        reasons += [
            f"{arm}: goal metric {e.metric.name} is significantly worse ({_change(e)}, p = {e.pvalue:.3g})."
            for e in goals
            if e.worsened
        ]
        improved = [e.metric.name for e in goals if e.improved]
        if not improved:
            reasons += _no_goal_better(arm, goals, self.experiment.correction)
        better = f"{arm} improves {', '.join(improved)}" if improved else None
        reasons += [_guardrail_reason(arm, e, better) for e in self._open_guardrails(arm)]
        return reasons

    def _harm(self, worse: Callable[[MetricEffect], str | None]) -> Decision | None:
        """``harm`` for the first guardrail effect that ``worse`` finds worse (it says how), else ``None``.

        Every guardrail effect found worse is one of the decision's reasons.
        """
        reasons = []
        first = None
        for item in self.effects:
            how = worse(item) if item.metric.role == "guardrail" else None
            if how is not None:
                reasons.append(f"guardrail {item.metric.name} {how}.")
                first = first or item.arm
        if first is None:
            return None
        return Decision("harm", first, _joined(reasons), tuple(reasons))

    def _open_guardrails(self, arm: str) -> list[MetricEffect]:
        """Guardrails with a margin not (yet) shown non-inferior in ``arm`` (an uncomputable test counts as not)."""
        return [
            e
            for e in self.effects
            if e.arm == arm
            and e.metric.margin is not None
            and (e.noninferiority is None or not e.noninferiority.passed)
        ]

    def _bayesian_decision(self) -> Decision:
        """The Bayesian rule (``decision_rule = "bayesian"``), GrowthBook's reading of the posteriors.

        With ``P(better)`` the posterior chance that the arm beats control in the metric's better direction and
        the expected loss of shipping it (:func:`abnb.stats.chance_to_beat`, the metric's ``prior``):

        1. A guardrail whose chance of being worse reaches ``chance_to_win``: ``harm``.
        2. An arm whose first goal metric has ``P(better) ≥ chance_to_win``, an expected loss of at most
           ``max_expected_loss`` (when set), and every guardrail with a margin shown non-inferior: ``ship`` (the
           largest direction-aware absolute gain among several).
        3. Otherwise ``continue``, with each missing condition of each arm as a reason. No multiple-testing
           correction or sequential rule applies: the posterior is read as it stands at every look.
        """
        spec = self.experiment

        def worse(effect: MetricEffect) -> str | None:
            chance = _chance_better(effect)
            if chance is None or 1.0 - chance < spec.chance_to_win:
                return None
            return (
                f"is worse in {effect.arm} with probability {1.0 - chance:.1%} "
                f"(≥ {spec.chance_to_win:.0%}; {_change(effect)})"
            )

        harm = self._harm(worse)
        if harm is not None:
            return harm
        candidates = []
        missing: list[str] = []
        for arm in spec.treatments:
            goals = [e for e in self.effects if e.arm == arm and e.metric.role == "goal"]
            if not goals:
                missing.append(f"{arm}: the spec has no goal metric to decide on.")
                continue
            blocking = self._bayesian_blockers(arm, goals[0])
            if blocking:
                missing += blocking
                continue
            candidates.append((_gain(goals[0]), arm, goals[0].metric.name, _chance_better(goals[0])))
        if candidates:
            _, arm, metric, chance = max(candidates)
            return Decision(
                "ship", arm, f"{arm} beats control on {metric} with probability {chance:.1%} and no guardrail worse."
            )
        return Decision("continue", None, _joined(missing), tuple(missing))

    def _bayesian_blockers(self, arm: str, first: MetricEffect) -> list[str]:
        """Every condition of the Bayesian rule that ``arm`` misses on its first goal metric ``first``."""
        spec = self.experiment
        name = first.metric.name
        chance = _chance_better(first)
        loss = _loss_of_shipping(first)
        reasons: list[str] = []
        if chance is None:
            why = first._why_missing("chance to beat control")
            if why is None and isinstance(first.control, RatioMoments):
                why = "a ratio metric has none: delta-method ratio"
            reasons.append(f"{arm}: no posterior for {name}" + (f" ({why})." if why else "."))
        elif chance < spec.chance_to_win:
            reasons.append(f"{arm}: chance to beat control on {name} {chance:.1%} < {spec.chance_to_win:.0%}.")
        if (
            chance is not None
            and spec.max_expected_loss is not None
            and (loss is None or loss > spec.max_expected_loss)
        ):
            reasons.append(
                f"{arm}: expected loss on {name} {loss:.3g} > {spec.max_expected_loss:g}."
                if loss is not None
                else f"{arm}: no expected loss for {name}."
            )
        better = f"{arm} is likely better" if chance is not None and chance >= spec.chance_to_win else None
        reasons += [_guardrail_reason(arm, e, better) for e in self._open_guardrails(arm)]
        return reasons

    def to_frame(self) -> pd.DataFrame:
        """One row per metric and treatment arm: means, absolute and relative effects with CIs, p-values."""
        import pandas as pd

        return pd.DataFrame([e.row() for e in self.effects])

    def arms_frame(self) -> pd.DataFrame:
        """Per metric and arm: n, mean and the mean's confidence interval (t for means, normal for proportions)."""
        import pandas as pd

        rows = []
        for metric in self.experiment.metrics:
            for arm in self.experiment.arms:
                m = self.overall[metric.name][arm]
                center, low, high = mean_interval(m, 1 - self.experiment.alpha)
                rows.append(
                    {"metric": metric.name, "arm": arm, "n": m.n, "mean": center, "ci_low": low, "ci_high": high}
                )
        return pd.DataFrame(rows)

    def segment_pairs(
        self, metrics: Iterable[str] | None = None
    ) -> Iterator[tuple[str, str, Metric, str, ArmStats, ArmStats]]:
        """Every segment level × metric × treatment arm with sums in both arms, in the order of the breakdown.

        Yields ``(segment column, level, metric, arm, control sums, treatment sums)``, levels sorted, metrics in the
        spec's order (only ``metrics`` when given), arms as the spec lists them; a level where an arm has no unit is
        skipped.
        """
        spec = self.experiment
        wanted = None if metrics is None else set(metrics)
        for (segment, level), by_metric in sorted(self.segments.items()):
            for metric in spec.metrics:
                if wanted is not None and metric.name not in wanted:
                    continue
                arms = by_metric[metric.name]
                for arm in spec.treatments:
                    if spec.control in arms and arm in arms:
                        yield segment, level, metric, arm, arms[spec.control], arms[arm]

    def segments_frame(self, *, min_units: int = 0, correction: str = "bh") -> pd.DataFrame:
        """Per segment level, metric and treatment arm: relative effect, CI, raw and adjusted p-values.

        Each row is one test; the p-values of the rows shown are adjusted together (``pvalue_adjusted``) with
        ``correction`` (Benjamini–Hochberg by default: the false discovery rate over the whole breakdown, which
        is exploration, not a decision). A row where either arm has fewer than ``min_units`` units is
        ``suppressed``: its numbers are blanked, it is left out of the family, and ``note`` says so. The ``note``
        column also says why a level's numbers are missing or qualified (e.g. the control mean is 0 there).

        Args:
            min_units: The fewest units per arm a row needs to be shown (0: every row).
            correction: ``bh`` (default), ``by``, ``holm``, ``hochberg``, ``bonferroni`` or ``none``.

        Raises:
            ParameterError: ``min_units`` is not a whole number ≥ 0 or ``correction`` is unknown.
        """
        import numpy as np
        import pandas as pd

        if isinstance(min_units, bool) or not isinstance(min_units, int) or min_units < 0:
            raise ParameterError(f"segments_frame: min_units must be a whole number ≥ 0, got {min_units!r}.")
        if correction not in CORRECTIONS:
            raise ParameterError(f"segments_frame: correction {correction!r} is not one of {', '.join(CORRECTIONS)}.")
        spec = self.experiment
        rows = []
        for segment, level, metric, arm, c, t in self.segment_pairs():
            row: dict[str, Any] = {
                "segment": segment,
                "level": level,
                "metric": metric.name,
                "arm": arm,
                "n_control": c.n,
                "n_treatment": t.n,
            }
            if min(c.n, t.n) < min_units:
                blank = dict.fromkeys(("rel_estimate", "rel_ci_low", "rel_ci_high", "pvalue"), math.nan)
                note = f"suppressed: fewer than {min_units:,} units in an arm"
                rows.append(row | blank | {"note": note, "suppressed": True})
            else:
                effect = _segment_effect(metric, c, t, spec.control, arm, spec.alpha)
                rows.append(row | effect | {"suppressed": False})
        frame = pd.DataFrame(rows)
        if frame.empty:
            return frame.assign(pvalue_adjusted=pd.Series(dtype=float), suppressed=pd.Series(dtype=bool))
        pvalues = frame["pvalue"].to_numpy(dtype=float)
        tested = np.isfinite(pvalues)
        adjusted = np.full(len(frame), math.nan)
        method: Any = correction  # one of CORRECTIONS, checked above
        if tested.any():
            adjusted[tested] = pvalues[tested] if method == "none" else adjust(pvalues[tested], method=method)
        return frame.assign(pvalue_adjusted=adjusted)

    def summary(self) -> dict[str, Any]:
        """A JSON-safe summary (the content of ``summary.json``)."""
        decision = self.decision
        spec = self.experiment
        progress = self.progress
        return {
            "experiment": spec.name,
            "description": spec.description,
            "hypothesis": spec.hypothesis,
            "owner": spec.owner,
            "links": [{"label": label, "url": url} for label, url in spec.links],
            "plan": None if spec.plan is None else spec.plan.to_dict() | {"metric": spec.plan_metric},
            "progress": None if progress is None else progress.to_dict(),
            "as_of": self.label.isoformat(),
            "cutoff": self.as_of.isoformat(),
            "last_data_day": None if self.last_data_day is None else self.last_data_day.isoformat(),
            "days_running": self.days_running,
            "units": self.units,
            "excluded_units": self.excluded_units,
            "srm": {
                "statistic": self.srm.statistic,
                "pvalue": self.srm.pvalue,
                "threshold": self.experiment.srm_threshold,
                "mismatch": self.srm_detected,
            },
            "decision": {
                "verdict": decision.verdict,
                "arm": decision.arm,
                "reason": decision.reason,
                "reasons": list(decision.reasons),
                "stop": decision.stop,
            },
            "alpha": self.experiment.alpha,
            "effects": [{k: _json_safe(v) for k, v in e.row().items()} for e in self.effects],
            "warnings": list(self.warnings),
            "rows_fetched": self.rows_fetched,
        }

    def table(self, view: str = "effects") -> Any:
        """A display table (pandas ``Styler``) of one view of the effects.

        Args:
            view: ``"effects"`` (means, relative lift, CI, raw and corrected p-values, method), ``"cuped"`` (raw vs
                CUPED-adjusted lift, metrics with a covariate), ``"bayes"`` (chance to beat control, expected loss),
                ``"sequential"`` (anytime-valid interval, may stop), ``"power"`` (MDE at the current n, guardrail
                non-inferiority), ``"stratified"`` (the lift post-stratified by the spec's ``poststratify`` column).
        """
        if view not in _VIEWS:
            raise ParameterError(f"unknown table view {view!r}; choose one of {', '.join(_VIEWS)}.")
        columns = _VIEWS[view]
        frame = self.to_frame()
        if view == "cuped":
            frame = frame[frame["cuped_rel_estimate"].notna()]
        if view == "stratified":
            frame = frame[frame["strat_rel_estimate"].notna()]
        formats: dict[Any, Any] = {c: f for c, f in _FORMATS.items() if c in columns}
        return styled(frame[columns], formats, na_rep="–")

    @property
    def correction_note(self) -> str:
        """One sentence on the multiple-testing correction applied to goal metrics."""
        goals = sum(1 for e in self.effects if e.metric.role == "goal")
        if self.experiment.correction == "none" or goals < 2:
            return "No multiple-testing correction: one goal comparison, or the spec asks for none."
        return (
            f"{goals} goal comparisons (metrics × treatment arms) share α = {self.experiment.alpha} through the "
            f"{self.experiment.correction} correction; `pvalue_adjusted` decides. Guardrails and secondary metrics "
            "are tested on their own."
        )

    def __repr__(self) -> str:
        lines = [
            f"ExperimentResult({self.experiment.name!r}, data through {self.label}, units {self.units}, "
            f"excluded {self.excluded_units})",
            f"  SRM: χ² = {self.srm.statistic:.3f}, p = {self.srm.pvalue:.3g}"
            + ("  ← MISMATCH" if self.srm_detected else ""),
            f"  decision: {self.decision}",
        ]
        for e in self.effects:
            lines.append(
                f"  {e.metric.name:<20} {e.arm:<12} {e.relative.estimate:+8.2%} "
                f"[{e.relative.ci_low:+.2%}, {e.relative.ci_high:+.2%}]  p = {e.absolute.pvalue:.3g}"
            )
        return "\n".join(lines + [f"  note: {w}" for w in self.warnings])

    def _repr_html_(self) -> str:
        decision = self.decision
        banner = ""
        if self.srm_detected:
            banner = (
                f'<div class="abnb-srm" style="background:#b00020;color:white;padding:8px">'
                f"<b>Sample ratio mismatch.</b> {escape_html(decision.reason)}</div>"
            )
        table = self.table().to_html()
        notes = "".join(f"<li>{escape_html(w)}</li>" for w in self.warnings)
        return (
            f"{banner}<p><b>{escape_html(self.experiment.name)}</b>, data through {self.label}: "
            f"<b>{escape_html(decision.verdict)}</b> — {escape_html(decision.reason)}</p>{table}"
            + (f"<ul>{notes}</ul>" if notes else "")
        )


_PERCENT = "{:+.2%}"
_LIFT = ("rel_estimate", "rel_ci_low", "rel_ci_high")
_CUPED_LIFT = ("cuped_rel_estimate", "cuped_rel_ci_low", "cuped_rel_ci_high")
_FORMATS = {
    "n_control": "{:,}",
    "n_treatment": "{:,}",
    "control_mean": "{:.4g}",
    "treatment_mean": "{:.4g}",
    "pvalue": "{:.3g}",
    "pvalue_adjusted": "{:.3g}",
    "cuped_pvalue": "{:.3g}",
    "strat_pvalue": "{:.3g}",
    "cuped_variance_reduction": "{:.1%}",
    "chance_to_beat": "{:.1%}",
    "expected_loss": "{:.3g}",
    "noninferiority_margin": "{:.1%}",
    "mde_relative": "{:.2%}",
    **dict.fromkeys(
        (
            *_LIFT,
            *_CUPED_LIFT,
            "rel_ci_low_adjusted",
            "rel_ci_high_adjusted",
            "seq_ci_low",
            "seq_ci_high",
            "strat_rel_estimate",
            "strat_rel_ci_low",
            "strat_rel_ci_high",
        ),
        _PERCENT,
    ),
}
_VIEWS = {
    "effects": [
        "metric",
        "role",
        "arm",
        "control_mean",
        "treatment_mean",
        *_LIFT,
        "pvalue",
        "pvalue_adjusted",
        "rel_ci_low_adjusted",
        "rel_ci_high_adjusted",
        "method",
    ],
    "cuped": ["metric", "arm", "rel_estimate", *_CUPED_LIFT, "cuped_pvalue", "cuped_variance_reduction"],
    "bayes": ["metric", "arm", "rel_estimate", "chance_to_beat", "expected_loss", "bayes_method"],
    "stratified": [
        "metric",
        "arm",
        "rel_estimate",
        "strat_rel_estimate",
        "strat_rel_ci_low",
        "strat_rel_ci_high",
        "strat_pvalue",
    ],
    "sequential": [
        "metric",
        "arm",
        "rel_estimate",
        "seq_ci_low",
        "seq_ci_high",
        "may_stop",
        "seq_reason",
        "seq_method",
    ],
    "power": [
        "metric",
        "role",
        "arm",
        "n_control",
        "n_treatment",
        "rel_estimate",
        "mde_relative",
        "noninferiority_margin",
        "noninferiority_passed",
        "mde_method",
    ],
}


def mean_interval(stats: ArmStats, confidence_level: float) -> tuple[float, float, float]:
    """One arm's metric value with its confidence interval.

    Means: ȳ ± q·s/√n with q from Student t (n−1 df); proportions: Wilson's score interval (it stays within
    [0, 1], where the Wald interval p ± z·√(p(1−p)/n) can leave it for rare or near-certain events); ratios:
    Σy/Σd ± z·√Var_delta(R).
    """
    from scipy.special import ndtri, stdtrit

    if stats.n < 2:
        return (math.nan, math.nan, math.nan)
    tail = (1 + confidence_level) / 2
    if isinstance(stats, RatioMoments):
        center, se, q = stats.ratio, math.sqrt(stats.ratio_variance), float(ndtri(tail))
    elif stats.proportion:
        from abnb.stats import wilson

        interval = wilson(round(stats.sum), stats.n, alpha=1.0 - confidence_level)
        return (stats.mean, interval.ci_low, interval.ci_high)
    else:
        center, se = stats.mean, math.sqrt(stats.variance / stats.n)
        q = float(stdtrit(stats.n - 1, tail))
    return (center, center - q * se, center + q * se)


def iter_specs(directory: str | Path | None = None) -> Iterable[Path]:
    """The experiment spec files in ``directory`` (default :func:`experiments_dir`), sorted by name."""
    folder = Path(directory) if directory is not None else experiments_dir()
    return sorted(p for p in folder.glob("*.toml") if not p.name.startswith("."))
