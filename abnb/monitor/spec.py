"""Monitoring specs: the alert rules of a model, in one file read by the dashboard, the replay and the export.

A project keeps them in ``monitors/*.toml`` (``[paths] monitors``)::

    name = "fraud_model"
    description = "Fraud flags of the payments model"
    window = "1 day"                 # the dashboard's series, and the default window of a rule

    [[rules]]
    name = "ErrorRateHigh"           # the alert's name in Prometheus: letters, digits and _
    series = "error_rate"            # error_rate | latency_p95 | precision | expected_precision | score_psi
    kind = "threshold"               # threshold | ewma | cusum
    window = "10 minutes"            # one evaluation per window
    op = ">"
    threshold = 0.05
    for_windows = 2                  # fire at the 2nd consecutive bad window
    clear_threshold = 0.02           # hysteresis: resolve only below 2% ...
    clear_windows = 2                # ... for 2 windows in a row
    severity = "page"

    [[rules]]
    name = "PrecisionShift"
    series = "precision"
    kind = "cusum"
    k = 0.5
    h = 5.0                          # baseline_mean / baseline_sd: default, calibrated before the first release

:meth:`MonitorSpec.default` is the spec ``abnb monitor`` has always used (an error-rate threshold, a latency EWMA, a
precision CUSUM per segment); a rule's ``build`` gives the :mod:`abnb.monitor.rules` object that replays it.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, get_args

from abnb._toml import read_toml
from abnb.errors import ParameterError, SpecError
from abnb.monitor.rules import _OPS, CusumRule, EwmaRule, Op, Rule, ThresholdRule

if TYPE_CHECKING:
    import pandas as pd

    from abnb.project import Project
    from abnb.telemetry import ModelTelemetry

__all__ = ["SERIES", "MonitorRule", "MonitorSpec", "load_monitor"]

Series = Literal["error_rate", "latency_p95", "precision", "expected_precision", "score_psi"]
Kind = Literal["threshold", "ewma", "cusum"]
SERIES: dict[str, str] = {
    "error_rate": "Σ errors / Σ requests of the ops rows in the window",
    "latency_p95": "exact 95th percentile of the latency of the window's requests (ms)",
    "precision": "Hájek precision of the window's labelled flagged requests, per segment",
    "expected_precision": "precision expected from the flagged requests' scores (CBPE, no labels), per segment",
    "score_psi": "PSI of the window's score histogram against the baseline's (before the first release), per segment",
}
"""The series a rule can watch, and how abnb computes each per window (one aggregate query per series)."""
COLUMN = {name: name for name in SERIES} | {"latency_p95": "p95"}
"""The column of a series in the dashboard's frames."""
NAME_PATTERN = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,99}")
"""A monitor's or a rule's name: a letter or ``_``, then letters, digits or ``_`` (it becomes a Prometheus label)."""
DEFAULT_MONITOR = "model"
"""The name of :meth:`MonitorSpec.default`, abnb's own rules."""
_KIND_KEYS: dict[str, tuple[str, ...]] = {
    "threshold": ("op", "threshold", "for_windows", "clear_threshold", "clear_windows"),
    "ewma": ("lambda", "L", "baseline_mean", "baseline_sd"),
    "cusum": ("k", "h", "baseline_mean", "baseline_sd"),
}
_COMMON_KEYS = ("name", "title", "series", "kind", "window", "severity")
_SPEC_KEYS = ("name", "description", "window", "alpha", "min_effect", "score_bins", "model", "rules")
MAX_RULES = 100
_ANY_BASELINE = (0.0, 1.0)  # stands in for a calibrated baseline where only the parameters matter


@dataclass(frozen=True)
class MonitorRule:
    """One alert rule of a monitoring spec: what it watches, how, how often, and how loud.

    Attributes:
        name: The alert's name (``alertname`` in Prometheus): a letter or ``_``, then letters, digits or ``_``.
        series: What it watches, a key of :data:`SERIES`.
        kind: ``threshold`` (with ``for`` and hysteresis), ``ewma`` or ``cusum``.
        window: One value (and one evaluation) per window, e.g. ``"10 minutes"``; ``None``: the spec's window.
        title: How the dashboard names it (default: ``name``).
        severity: The ``severity`` label of the alert (letters, digits, ``_`` and ``-``).
        op: Threshold rules: the bad side (``>``, ``>=``, ``<``, ``<=``).
        threshold: Threshold rules: the limit.
        for_windows: Threshold rules: consecutive bad windows before it fires.
        clear_threshold: Threshold rules: the limit to clear (hysteresis); ``None``: ``threshold``.
        clear_windows: Threshold rules: consecutive clear windows before it resolves.
        lambda_: EWMA smoothing weight (``lambda`` in TOML).
        L: EWMA limit width in standard deviations.
        k: CUSUM allowance in σ.
        h: CUSUM decision interval in σ.
        baseline_mean: EWMA/CUSUM in-control mean; ``None``: calibrated on the windows before the first release.
        baseline_sd: EWMA/CUSUM in-control SD of one window's value; ``None``: calibrated likewise.
    """

    name: str
    series: Series
    kind: Kind
    window: str | None = None
    title: str = ""
    severity: str = "warning"
    op: Op = ">"
    threshold: float = math.nan
    for_windows: int = 1
    clear_threshold: float | None = None
    clear_windows: int = 1
    lambda_: float = 0.2
    L: float = 3.0
    k: float = 0.5
    h: float = 5.0
    baseline_mean: float | None = None
    baseline_sd: float | None = None

    def __post_init__(self) -> None:
        where = f"monitor rule {self.name!r}"
        if not isinstance(self.name, str) or not NAME_PATTERN.fullmatch(self.name):
            raise SpecError(
                f"monitor rule name {self.name!r} must start with a letter or _ and hold only letters, digits and _ "
                "(it becomes the alert's name in Prometheus), e.g. 'ErrorRateHigh'."
            )
        if self.series not in SERIES:
            raise SpecError(f"{where}: series {self.series!r} is unknown; choose one of {', '.join(SERIES)}.")
        if self.kind not in get_args(Kind):
            raise SpecError(f"{where}: kind {self.kind!r} is unknown; choose threshold, ewma or cusum.")
        if not isinstance(self.severity, str) or not re.fullmatch(r"[A-Za-z0-9_-]{1,40}", self.severity):
            raise SpecError(f"{where}: severity {self.severity!r} must be a word such as 'page' or 'ticket'.")
        if self.kind == "threshold" and not math.isfinite(_number(self.threshold, f"{where}: threshold")):
            raise SpecError(f"{where}: a threshold rule needs a finite threshold, e.g. threshold = 0.05.")
        if self.kind == "threshold" and self.op not in _OPS:
            raise SpecError(f"{where}: op must be one of {', '.join(_OPS)}, got {self.op!r}.")
        try:  # every parameter checked now, not when the rule first meets data
            self.build(None if self.kind == "threshold" else _ANY_BASELINE)
        except ParameterError as error:
            raise SpecError(f"{where}: {error}") from error

    @property
    def method(self) -> str:
        """The rule in words, as its :mod:`abnb.monitor.rules` object says it (the baseline does not enter it)."""
        return self.build(None if self.kind == "threshold" else _ANY_BASELINE).method

    @property
    def explained(self) -> str:
        """:attr:`method`, and where the baseline comes from for a calibrated rule."""
        return self.method + (", calibrated before the first release" if self.calibrated else "")

    @property
    def label(self) -> str:
        """How the dashboard names the rule."""
        return self.title or self.name

    @property
    def column(self) -> str:
        """The column of the watched series in the dashboard's frames."""
        return COLUMN[self.series]

    @property
    def per_segment(self) -> bool:
        """Whether the rule runs once per segment (the model-quality series) rather than on the whole traffic."""
        return self.series not in ("error_rate", "latency_p95")

    @property
    def calibrated(self) -> bool:
        """Whether the rule needs an in-control mean and SD from the baseline (EWMA/CUSUM without both given)."""
        return self.kind != "threshold" and (self.baseline_mean is None or self.baseline_sd is None)

    def build(self, baseline: tuple[float, float] | None = None) -> Rule:
        """The rule object that replays it; ``baseline`` is the calibrated (mean, SD) where none is given.

        Raises:
            ParameterError: A parameter is out of range, or an EWMA/CUSUM rule has neither a baseline of its own nor
                a calibrated one.
        """
        if self.kind == "threshold":
            return ThresholdRule(
                self.column,
                self.op,
                self.threshold,
                for_windows=self.for_windows,
                clear_windows=self.clear_windows,
                clear_threshold=self.clear_threshold,
            )
        mean = self.baseline_mean if self.baseline_mean is not None else (baseline or (None, None))[0]
        sd = self.baseline_sd if self.baseline_sd is not None else (baseline or (None, None))[1]
        if mean is None or sd is None:
            raise ParameterError(
                f"monitor rule {self.name!r} has no baseline: give baseline_mean and baseline_sd, or keep windows "
                "before the first release to calibrate them on."
            )
        if self.kind == "ewma":
            return EwmaRule(self.lambda_, self.L, mean, sd, metric=self.column, reset=True)
        return CusumRule(self.k, self.h, mean, sd, metric=self.column)

    def calibrate(self, baseline: pd.DataFrame) -> tuple[float, float] | None:
        """The in-control mean and SD of one window's value, from the windows before the first release.

        Precision (Hájek) pools the windows: μ0 = Σ w·y / Σ w, σ = root mean square of the windows' standard
        errors (the sampling noise of one window). Other series: the mean and sample SD of the window values.
        ``None`` with fewer than two baseline windows. A zero SD becomes 1e-9 (a constant baseline still alarms).
        """
        import numpy as np

        if len(baseline) < 2:
            return None
        if self.series == "precision":
            mean = float(baseline["sum_wy"].sum() / baseline["sum_w"].sum())
            sd = float(np.sqrt(np.mean(baseline["se"].to_numpy(dtype=np.float64) ** 2)))
        else:
            values = baseline[self.column].to_numpy(dtype=np.float64)
            mean, sd = float(values.mean()), float(values.std(ddof=1))
        return mean, sd if sd > 0 else 1e-9

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str) -> MonitorRule:
        """A rule from its TOML table; a key of another kind, or an unknown one, is an error naming it.

        Raises:
            SpecError: naming ``source``, the rule and the key.
        """
        if not isinstance(data, Mapping):
            raise SpecError(f"{source}: every [[rules]] entry must be a table, got {data!r}.")
        name = data.get("name", "")
        kind = data.get("kind", "")
        allowed = (*_COMMON_KEYS, *_KIND_KEYS.get(str(kind), ()))
        unknown = sorted(set(data) - set(allowed))
        if unknown:
            other = [k for k in unknown if any(k in keys for keys in _KIND_KEYS.values())]
            hint = f" ({', '.join(other)} belong to another kind of rule)" if other else ""
            raise SpecError(
                f"{source}: rule {name!r} (kind {kind!r}) has unknown key(s) {', '.join(unknown)}{hint}; "
                f"its keys are {', '.join(allowed)}."
            )
        values = {("lambda_" if key == "lambda" else key): value for key, value in data.items()}
        try:
            return cls(**values)
        except SpecError as error:
            raise SpecError(f"{source}: {error}") from error
        except TypeError as error:
            raise SpecError(f"{source}: rule {name!r}: {error}") from error


def _number(value: object, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise SpecError(f"{what} must be a number, got {value!r}.")
    return float(value)


@dataclass(frozen=True)
class MonitorSpec:
    """A model's monitoring: its rules, the dashboard's window and the level of its tests.

    Attributes:
        name: The monitor's name (a ``monitor`` label on every exported series and alert).
        rules: The alert rules (at most :data:`MAX_RULES`; names unique).
        description: What is monitored, for people.
        window: The dashboard's window, and the window of rules without their own.
        alpha: Level of tests and intervals (release jumps, drift, false-alarm bounds).
        min_effect: Smallest precision drop worth a rollback.
        score_bins: Bins of the score histograms (drift).
        model: The spec's own ``[model]`` table names (merged over the project's ``[model]``).
        source: Where the spec was read from, for messages.
    """

    name: str
    rules: tuple[MonitorRule, ...]
    description: str = ""
    window: str = "1 day"
    alpha: float = 0.05
    min_effect: float = 0.05
    score_bins: int = 20
    model: Mapping[str, Any] = field(default_factory=dict)
    source: str = "<default>"

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not NAME_PATTERN.fullmatch(self.name):
            raise SpecError(f"{self.source}: monitor name {self.name!r} must be letters, digits and _.")
        object.__setattr__(self, "rules", tuple(self.rules))
        if not 1 <= len(self.rules) <= MAX_RULES:
            raise SpecError(f"{self.source}: a monitor needs 1 to {MAX_RULES} [[rules]], got {len(self.rules)}.")
        names = [rule.name for rule in self.rules]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise SpecError(f"{self.source}: rule name(s) {', '.join(twice)} are used twice; each alert needs its own.")
        if not 0 < _number(self.alpha, f"{self.source}: alpha") < 1:
            raise SpecError(f"{self.source}: alpha must lie in (0, 1), got {self.alpha}.")

    def window_of(self, rule: MonitorRule) -> str:
        """The window a rule runs on (its own, else the spec's)."""
        return rule.window or self.window

    def schema(self, base: ModelTelemetry | None = None) -> ModelTelemetry:
        """The telemetry names: ``base`` (the project's ``[model]``; default: the sample's) with the spec's own."""
        from abnb.telemetry import ModelTelemetry

        if not self.model:
            return base or ModelTelemetry()
        merged: dict[str, Any] = {} if base is None else base.to_dict()
        for key, table in self.model.items():
            merged[key] = {**merged.get(key, {}), **(table if isinstance(table, Mapping) else {})}
        return ModelTelemetry.from_dict(merged, source=f"{self.source} [model]")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, source: str = "<dict>") -> MonitorSpec:
        """A spec from its TOML tables.

        Raises:
            SpecError: An unknown key, a bad value or a bad rule, naming ``source`` and the key.
        """
        unknown = sorted(set(data) - set(_SPEC_KEYS))
        if unknown:
            raise SpecError(
                f"{source}: unknown key(s) {', '.join(unknown)}; a monitor's keys are {', '.join(_SPEC_KEYS)}."
            )
        rules = data.get("rules")
        if not isinstance(rules, list):
            raise SpecError(f"{source}: a monitor needs its rules as [[rules]] tables.")
        if len(rules) > MAX_RULES:
            raise SpecError(f"{source}: {len(rules)} rules; a monitor holds at most {MAX_RULES}.")
        model = data.get("model", {})
        if not isinstance(model, Mapping):
            raise SpecError(f"{source}: [model] must be a table of telemetry tables, as in abnb.toml.")
        values = {key: value for key, value in data.items() if key not in ("rules", "model")}
        parsed = tuple(MonitorRule.from_dict(rule, source) for rule in rules)
        try:
            return cls(rules=parsed, model=dict(model), source=source, **values)
        except TypeError as error:
            raise SpecError(f"{source}: {error}") from error

    @classmethod
    def from_toml(cls, path: str | os.PathLike[str]) -> MonitorSpec:
        """Read a spec file (``monitors/<name>.toml``)."""
        return cls.from_dict(read_toml(Path(path), "monitor spec"), source=str(path))

    def to_frame(self) -> pd.DataFrame:
        """One row per rule: ``rule``, ``title``, ``series``, ``window``, ``kind``, ``severity`` and ``method``."""
        import pandas as pd

        rows = [
            {
                "rule": rule.name,
                "title": rule.label,
                "series": rule.series + (" (per segment)" if rule.per_segment else ""),
                "window": self.window_of(rule),
                "kind": rule.kind,
                "severity": rule.severity,
                "method": rule.explained,
            }
            for rule in self.rules
        ]
        return pd.DataFrame(rows, columns=["rule", "title", "series", "window", "kind", "severity", "method"])

    @classmethod
    def default(
        cls,
        *,
        window: str = "1 day",
        alert_window: str = "10 minutes",
        error_threshold: float = 0.05,
        error_clear: float = 0.02,
        for_windows: int = 2,
        clear_windows: int = 2,
        cusum_k: float = 0.5,
        cusum_h: float = 5.0,
        ewma_lambda: float = 0.2,
        ewma_width: float = 3.0,
        min_effect: float = 0.05,
        score_bins: int = 20,
        alpha: float = 0.05,
    ) -> MonitorSpec:
        """The rules ``abnb monitor`` uses without a spec (the arguments of :func:`monitor_summary`).

        An error-rate threshold with ``for`` and hysteresis on ``alert_window`` windows, an EWMA chart of the
        latency p95 and a two-sided CUSUM of the labelled precision per segment, both calibrated before the first
        release.
        """
        rules = (
            MonitorRule(
                "ErrorRateHigh",
                "error_rate",
                "threshold",
                window=alert_window,
                title="error rate threshold",
                severity="page",
                op=">",
                threshold=error_threshold,
                for_windows=for_windows,
                clear_threshold=error_clear,
                clear_windows=clear_windows,
            ),
            MonitorRule(
                "LatencyP95Shift", "latency_p95", "ewma", title="latency p95 EWMA", lambda_=ewma_lambda, L=ewma_width
            ),
            MonitorRule("PrecisionShift", "precision", "cusum", title="precision CUSUM", k=cusum_k, h=cusum_h),
        )
        return cls(
            DEFAULT_MONITOR,
            rules,
            description="abnb's default monitoring of the model telemetry",
            window=window,
            alpha=alpha,
            min_effect=min_effect,
            score_bins=score_bins,
        )


def load_monitor(
    name_or_path: str | os.PathLike[str], *, project: Project | str | os.PathLike[str] | None = None
) -> MonitorSpec:
    """A monitoring spec by name (the project's ``monitors/<name>.toml``) or by the path of a ``.toml`` file.

    Raises:
        SpecError: No such monitor (the message lists the project's monitors), or the spec is invalid.
    """
    from abnb.project import Project, find_project

    path = Path(name_or_path)
    if path.suffix == ".toml":
        return MonitorSpec.from_toml(path)
    owner = project if isinstance(project, Project) else find_project(project)
    name = str(name_or_path)
    if not NAME_PATTERN.fullmatch(name):
        raise SpecError(f"monitor name {name!r} must be letters, digits and _, or the path of a .toml file.")
    folder = owner.path("monitors")
    candidate = folder / f"{name}.toml"
    if not candidate.is_file():
        known = sorted(p.stem for p in folder.glob("*.toml")) if folder.is_dir() else []
        raise SpecError(
            f"no monitor {name!r} in project {owner.name!r}: {candidate} does not exist; known monitors: "
            f"{', '.join(known) or 'none'}. Give a monitor's name or the path of a .toml file."
        )
    return MonitorSpec.from_toml(candidate)
