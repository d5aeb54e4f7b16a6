"""Scale benchmark: one abnb analysis against the fastest possible query, a naive analysis and a peer library.

The data are deterministic synthetic telemetry written by DuckDB SQL into a temporary DuckDB file, which is then
opened read-only for measuring:

* **user level** (``users``: one row per user with ``arm``, ``country``, ``platform``, ``revenue``,
  ``converted`` and the pre-period ``revenue_pre``);
* **event level** (``exposures``: one row per user; ``events``: ``events_per_user`` rows per user, ``purchase``
  or ``session``, about half of them before the user's exposure, which feed the covariate).

The methods, all answering "revenue per user (mean, Welch), conversion (proportion, z-test) and CUPED-adjusted
revenue, control vs treatment":

* ``floor``: one hand-written DuckDB query returning per arm ``n``, ``Σy``, ``Σy²`` and the covariate sums
  (nothing that reads the data can be faster);
* ``floor_seg``: the same sums ``GROUP BY arm, country, platform``: the minimal query that carries the same
  information as abnb's result, which also has every segment's statistics;
* ``abnb``: :meth:`abnb.Experiment.analyze` (pilot query for the shifts + one aggregate scan + statistics);
* ``naive``: the rows into pandas (the four columns the tests read), then ``scipy.stats.ttest_ind`` per metric
  (user level only);
* ``peer``: tea-tasting on its Ibis/DuckDB backend (user level only; overall, it has no segment breakdown).

Every repetition runs each method once, in a rotated order (interleaved), so drift of the machine hits every
method alike; the result is the median per method. The peak resident set size (RSS) of the process during each
call is measured exactly where the kernel allows resetting the high-water mark (``/proc/self/clear_refs``), else by
a psutil sampling thread. After the timings, abnb's means and p-values are checked against the naive scipy numbers
(user level) or against numbers computed with scipy from the floor's sums (event level), to a relative 1e-6.
"""

from __future__ import annotations

import math
import os
import platform
import re
import statistics
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from abnb.errors import ParameterError

if TYPE_CHECKING:
    import pandas as pd

    from abnb.engine import Connection
    from abnb.experiment import Experiment, ExperimentResult

__all__ = [
    "EVENT_FLOOR_SEG_SQL",
    "EVENT_FLOOR_SQL",
    "EVENT_METHODS",
    "METHODS",
    "USER_FLOOR_SEG_SQL",
    "USER_FLOOR_SQL",
    "USER_METHODS",
    "Measurement",
    "PeakRss",
    "abnb_numbers",
    "compare_numbers",
    "event_spec",
    "format_table",
    "generate_events",
    "generate_users",
    "naive_numbers",
    "run",
    "sums_numbers",
    "user_spec",
]

METHODS: tuple[str, ...] = ("floor", "floor_seg", "abnb", "naive", "peer")
USER_METHODS = METHODS
EVENT_METHODS: tuple[str, ...] = ("floor", "floor_seg", "abnb")
SEED = 20261001
EVENTS_PER_USER = 5
AS_OF = datetime(2026, 10, 29)  # exposures span 2026-10-01..15, events up to 14 days after: the window holds all
COVARIATE_DAYS = 14
NAIVE_BYTES_PER_ROW = 200  # measured ~155 B/row peak for the DuckDB→pandas fetch plus the t-tests, rounded up
NAIVE_RAM_SHARE = 0.6
REL_TOL = 1e-6
_MB = 1024 * 1024

# A uniform in [0, 1) from a row number `key` and a stream number `k`: the inner hash mixes the key, the outer one
# the seed (DuckDB combines the hashes of several arguments by multiply-xor, so hash(key, k) alone would give
# strongly dependent streams). 53 bits, so every value is a multiple of 2^-53.
_UNIFORM_MACRO = (
    "CREATE TEMP MACRO u(key, k, seed) AS (hash(hash(key * 16 + k), seed) >> 11)::DOUBLE / 9007199254740992.0"
)


# Purchase propensity: log-normal around 0.10 (so pre- and post-period behaviour correlate through z), capped.
_USERS_SQL = """
CREATE TABLE users AS
WITH r AS (
    SELECT i AS unit,
        u(i, 1, $seed) AS u_arm,
        u(i, 2, $seed) AS u_country,
        u(i, 3, $seed) AS u_platform,
        sqrt(-2 * ln(1 - u(i, 4, $seed))) AS radius,
        2 * pi() * u(i, 5, $seed) AS angle,
        u(i, 6, $seed) AS u_pre,
        u(i, 7, $seed) AS u_post
    FROM range($users) AS t(i)
), latent AS (
    SELECT *, radius * cos(angle) AS z, radius * sin(angle) AS e,
        least(0.9, 0.10 * exp(1.2 * radius * cos(angle) - 0.72)) AS propensity
    FROM r
)
SELECT unit,
    CASE WHEN u_arm < 0.5 THEN 'control' ELSE 'treatment' END AS arm,
    CASE WHEN u_country < 0.40 THEN 'US' WHEN u_country < 0.55 THEN 'DE' WHEN u_country < 0.70 THEN 'GB'
         WHEN u_country < 0.80 THEN 'FR' WHEN u_country < 0.90 THEN 'BR' ELSE 'IN' END AS country,
    CASE WHEN u_platform < 0.35 THEN 'ios' WHEN u_platform < 0.80 THEN 'android' ELSE 'web' END AS platform,
    CASE WHEN u_pre < propensity THEN round(exp(3.0 + 0.8 * z + 0.5 * e), 2) ELSE 0.0 END AS revenue_pre,
    CAST(u_post < propensity * CASE WHEN u_arm < 0.5 THEN 1.0 ELSE 1.1 END AS INTEGER) AS converted,
    CASE WHEN u_post < propensity * CASE WHEN u_arm < 0.5 THEN 1.0 ELSE 1.1 END
         THEN round(exp(3.0 + 0.8 * z - 0.5 * e), 2) ELSE 0.0 END AS revenue
FROM latent
"""

_EXPOSURES_SQL = """
CREATE TABLE exposures AS
SELECT i AS unit,
    CASE WHEN u(i, 1, $seed) < 0.5 THEN 'control' ELSE 'treatment' END AS arm,
    TIMESTAMP '2026-10-01' + to_microseconds(CAST(u(i, 8, $seed) * 14 * 86400e6 AS BIGINT)) AS ts,
    CASE WHEN u(i, 2, $seed) < 0.40 THEN 'US' WHEN u(i, 2, $seed) < 0.55 THEN 'DE' WHEN u(i, 2, $seed) < 0.70 THEN 'GB'
         WHEN u(i, 2, $seed) < 0.80 THEN 'FR' WHEN u(i, 2, $seed) < 0.90 THEN 'BR' ELSE 'IN' END AS country,
    CASE WHEN u(i, 3, $seed) < 0.35 THEN 'ios' WHEN u(i, 3, $seed) < 0.80 THEN 'android' ELSE 'web' END AS platform
FROM range($users) AS t(i)
"""

# Events: the unit's arm, exposure time and latent z come from the same hashes as in `exposures` (no join);
# each event lies uniformly within 14 days before or after the exposure and is a purchase with a per-event
# probability around 0.04 (x 1.1 after exposure in the treatment arm), else a session.
_EVENTS_SQL = """
CREATE TABLE events AS
WITH r AS (
    SELECT j // $per_user AS unit, j,
        u((j // $per_user), 1, $seed) < 0.5 AS control,
        u((j // $per_user), 8, $seed) AS u_ts,
        sqrt(-2 * ln(1 - u((j // $per_user), 4, $seed))) * cos(2 * pi() * u((j // $per_user), 5, $seed)) AS z,
        u(j, 9, $seed) AS u_offset,
        u(j, 10, $seed) AS u_event,
        sqrt(-2 * ln(1 - u(j, 11, $seed))) * cos(2 * pi() * u(j, 12, $seed)) AS e
    FROM range($users * $per_user) AS t(j)
), timed AS (
    SELECT *, u_offset >= 0.5 AS post,
        TIMESTAMP '2026-10-01' + to_microseconds(CAST((u_ts * 14 + u_offset * 28 - 14) * 86400e6 AS BIGINT)) AS ts,
        least(0.9, 0.04 * exp(1.2 * z - 0.72)) AS propensity
    FROM r
)
SELECT unit, ts,
    CASE WHEN u_event < propensity * CASE WHEN post AND NOT control THEN 1.1 ELSE 1.0 END
         THEN 'purchase' ELSE 'session' END AS event,
    CASE WHEN u_event < propensity * CASE WHEN post AND NOT control THEN 1.1 ELSE 1.0 END
         THEN round(exp(3.0 + 0.8 * z + 0.5 * e), 2) ELSE 1.0 END AS value
FROM timed
"""

USER_FLOOR_SQL = """SELECT arm, count(*) AS n, sum(revenue) AS y, sum(revenue * revenue) AS yy,
    sum(converted) AS c,
    sum(revenue_pre) AS x, sum(revenue_pre * revenue_pre) AS xx, sum(revenue_pre * revenue) AS xy
FROM users GROUP BY arm"""
USER_FLOOR_SEG_SQL = """SELECT arm, country, platform, count(*) AS n, sum(revenue) AS y, sum(revenue * revenue) AS yy,
    sum(converted) AS c,
    sum(revenue_pre) AS x, sum(revenue_pre * revenue_pre) AS xx, sum(revenue_pre * revenue) AS xy
FROM users GROUP BY arm, country, platform"""

# Event level: first exposure per unit (a unit in two arms gets none), its purchases after exposure (y, c) and in
# the 14 days before (x), one join of the events; then sums per arm.
_EVENT_UNITS = """
WITH a AS (
    SELECT unit, min(ts) AS t0, CASE WHEN count(DISTINCT arm) = 1 THEN min(arm) END AS arm,
        arg_min(country, ts) AS country, arg_min(platform, ts) AS platform
    FROM exposures WHERE ts < $as_of GROUP BY unit
), p AS (
    SELECT a.unit,
        sum(e.value) FILTER (WHERE e.ts >= a.t0) AS y,
        count(*) FILTER (WHERE e.ts >= a.t0) AS c,
        sum(e.value) FILTER (WHERE e.ts < a.t0) AS x
    FROM a JOIN events AS e ON e.unit = a.unit AND e.ts >= a.t0 - INTERVAL 14 DAY AND e.ts < $as_of
    WHERE e.event = 'purchase'
    GROUP BY a.unit
), u AS (
    SELECT a.arm, a.country, a.platform, coalesce(p.y, 0) AS y, coalesce(p.c, 0) AS c, coalesce(p.x, 0) AS x
    FROM a LEFT JOIN p USING (unit)
)"""
_EVENT_SUMS = """count(*) AS n, sum(y) AS y, sum(y * y) AS yy, count(*) FILTER (WHERE c > 0) AS c,
    sum(x) AS x, sum(x * x) AS xx, sum(x * y) AS xy"""
EVENT_FLOOR_SQL = f"{_EVENT_UNITS}\nSELECT arm, {_EVENT_SUMS} FROM u GROUP BY arm"
EVENT_FLOOR_SEG_SQL = f"{_EVENT_UNITS}\nSELECT arm, country, platform, {_EVENT_SUMS} FROM u GROUP BY ALL"


def _generate(path: Path, statements: Sequence[str], params: Mapping[str, int]) -> float:
    import duckdb

    start = time.perf_counter()
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.unlink(missing_ok=True)
    with duckdb.connect(str(partial)) as con:
        con.execute("SET enable_progress_bar = false")
        con.execute(_UNIFORM_MACRO)
        for sql in statements:
            used = {k: v for k, v in params.items() if f"${k}" in sql}
            con.execute(sql, used)
        con.execute("CHECKPOINT")
    partial.replace(path)  # atomic: a half-written file never looks like a finished one
    return time.perf_counter() - start


def _check_users(users: int) -> None:
    if isinstance(users, bool) or not isinstance(users, int) or users < 100:
        raise ParameterError(f"users must be a whole number of at least 100, got {users!r}.")


def generate_users(path: str | os.PathLike[str], users: int, *, seed: int = SEED) -> float:
    """Write the user-level table ``users`` (one row per user) into a new DuckDB file; returns the seconds taken.

    Deterministic: the same ``users`` and ``seed`` give the same rows (within one DuckDB version, whose ``hash`` is
    the random source). Planted truth: conversion ≈ 0.10 in control and x1.1 in treatment, revenue per converted
    user log-normal, ``revenue_pre`` correlated with ``revenue`` through a shared latent propensity.
    """
    _check_users(users)
    return _generate(Path(path), [_USERS_SQL], {"users": users, "seed": seed})


def generate_events(
    path: str | os.PathLike[str], users: int, *, events_per_user: int = EVENTS_PER_USER, seed: int = SEED
) -> float:
    """Write ``exposures`` (one row per user) and ``events`` (``events_per_user`` rows per user) into a new file.

    Returns:
        The seconds taken.
    """
    _check_users(users)
    if isinstance(events_per_user, bool) or not isinstance(events_per_user, int) or events_per_user < 1:
        raise ParameterError(f"events_per_user must be a positive whole number, got {events_per_user!r}.")
    return _generate(
        Path(path),
        [_EXPOSURES_SQL, _EVENTS_SQL],
        {"users": users, "seed": seed, "per_user": events_per_user},
    )


def user_spec() -> Experiment:
    """The user-level experiment: revenue (mean), conversion (proportion), CUPED revenue; two segments."""
    from abnb.aggregate import ExposureSource
    from abnb.experiment import Experiment
    from abnb.metrics import Metric

    return Experiment(
        name="bench",
        metrics=(
            Metric("revenue", column="revenue"),
            Metric("conversion", column="converted", kind="proportion"),
            Metric("revenue_cuped", column="revenue", covariate_column="revenue_pre"),
        ),
        exposures=ExposureSource(table="users", unit="unit", arm="arm", ts=None, experiment_column=None, level="unit"),
        segments=("country", "platform"),
    )


def event_spec() -> Experiment:
    """The event-level experiment: the same three metrics from ``events``; CUPED over 14 pre-exposure days."""
    from abnb.aggregate import ExposureSource
    from abnb.experiment import Experiment
    from abnb.metrics import Metric

    purchases = "SELECT unit, ts, value FROM events WHERE event = 'purchase'"
    return Experiment(
        name="bench_events",
        metrics=(
            Metric("revenue", sql=purchases),
            Metric(
                "conversion", sql="SELECT unit, ts, 1 AS value FROM events WHERE event = 'purchase'", kind="proportion"
            ),
            Metric("revenue_cuped", sql=purchases, covariate_days=COVARIATE_DAYS),
        ),
        exposures=ExposureSource(table="exposures", experiment_column=None),
        segments=("country", "platform"),
        end=AS_OF,
    )


# ---------------------------------------------------------------------------------------------------------------
# The numbers each method gives, for the results check: {metric: {quantity: value}}.

Numbers = dict[str, dict[str, float]]


def abnb_numbers(result: ExperimentResult) -> Numbers:
    """Means, difference and p-value per metric from abnb's result (CUPED: the absolute adjusted difference)."""
    from abnb.stats import Moments, cuped

    numbers: Numbers = {}
    for effect in result.effects:
        a = effect.absolute
        row = {
            "control_mean": a.control_mean,
            "treatment_mean": a.treatment_mean,
            "estimate": a.estimate,
            "pvalue": a.pvalue,
        }
        if isinstance(effect.control, Moments) and effect.control.x_sum is not None:
            assert isinstance(effect.treatment, Moments)
            adjusted = cuped(effect.control, effect.treatment, alpha=a.alpha)
            row |= {"cuped_estimate": adjusted.estimate, "cuped_pvalue": adjusted.pvalue}
        numbers[effect.metric.name] = row
    return numbers


def _ztest(success_c: float, n_c: float, success_t: float, n_t: float) -> tuple[float, float, float, float]:
    """Unpooled two-proportion z-test: (p_c, p_t, p_t − p_c, two-sided p-value)."""
    from scipy import stats

    p_c, p_t = success_c / n_c, success_t / n_t
    se = math.sqrt(p_c * (1 - p_c) / n_c + p_t * (1 - p_t) / n_t)
    z = (p_t - p_c) / se
    return p_c, p_t, p_t - p_c, float(2 * stats.norm.sf(abs(z)))


def naive_numbers(frame: pd.DataFrame, *, control: str = "control", treatment: str = "treatment") -> Numbers:
    """The naive analysis of the ``users`` table in pandas: ``scipy.stats.ttest_ind`` (Welch) per metric.

    Conversion is tested with the unpooled two-proportion z-test (``value > 0`` is a success). CUPED: pooled
    ``θ = Cov(x, y) / Var(x)`` over both arms, then Welch's t-test of ``y − θ(x − x̄)`` (Deng et al. 2013).
    """
    import numpy as np
    from scipy import stats

    is_c = (frame["arm"] == control).to_numpy()
    is_t = (frame["arm"] == treatment).to_numpy()
    y = frame["revenue"].to_numpy(dtype=np.float64)
    x = frame["revenue_pre"].to_numpy(dtype=np.float64)
    converted = frame["converted"].to_numpy() > 0
    y_c, y_t = y[is_c], y[is_t]
    welch = stats.ttest_ind(y_t, y_c, equal_var=False)
    revenue = {
        "control_mean": float(y_c.mean()),
        "treatment_mean": float(y_t.mean()),
        "estimate": float(y_t.mean() - y_c.mean()),
        "pvalue": float(welch.pvalue),
    }
    p_c, p_t, diff, pvalue = _ztest(float(converted[is_c].sum()), is_c.sum(), float(converted[is_t].sum()), is_t.sum())
    both = is_c | is_t
    xb, yb = x[both], y[both]
    theta = float(np.cov(xb, yb)[0, 1] / np.var(xb, ddof=1))
    adjusted = y - theta * (x - xb.mean())
    cuped = stats.ttest_ind(adjusted[is_t], adjusted[is_c], equal_var=False)
    return {
        "revenue": revenue,
        "conversion": {"control_mean": p_c, "treatment_mean": p_t, "estimate": diff, "pvalue": pvalue},
        "revenue_cuped": revenue
        | {
            "cuped_estimate": float(adjusted[is_t].mean() - adjusted[is_c].mean()),
            "cuped_pvalue": float(cuped.pvalue),
        },
    }


def sums_numbers(rows: Sequence[Sequence[Any]], *, control: str = "control", treatment: str = "treatment") -> Numbers:
    """Means and p-values from the floor's per-arm sums ``(arm, n, Σy, Σy², successes, Σx, Σx², Σxy)``, via scipy.

    Revenue: ``scipy.stats.ttest_ind_from_stats`` (Welch) on ``ȳ`` and ``s = sqrt((Σy² − (Σy)²/n)/(n − 1))``;
    conversion: the unpooled z-test; CUPED: Welch on the adjusted means and the standard deviations of
    ``y − θx`` with the pooled ``θ = Sxy / Sxx`` (Deng et al. 2013).
    """
    from scipy import stats

    by_arm = {row[0]: [float(v) for v in row[1:]] for row in rows}
    (n_c, y_c, yy_c, s_c, *_), (n_t, y_t, yy_t, s_t, *_) = by_arm[control], by_arm[treatment]

    def sd(n: float, s: float, ss: float) -> float:
        return math.sqrt(max(ss - s * s / n, 0.0) / (n - 1))

    welch = stats.ttest_ind_from_stats(
        y_t / n_t, sd(n_t, y_t, yy_t), n_t, y_c / n_c, sd(n_c, y_c, yy_c), n_c, equal_var=False
    )
    revenue = {
        "control_mean": y_c / n_c,
        "treatment_mean": y_t / n_t,
        "estimate": y_t / n_t - y_c / n_c,
        "pvalue": float(welch.pvalue),
    }
    p_c, p_t, diff, pvalue = _ztest(s_c, n_c, s_t, n_t)
    # CUPED: pooled θ = Sxy / Sxx; per arm the adjusted mean ȳ − θ(x̄ − x̄_pooled) and the variance of y − θx,
    # V_y + θ²V_x − 2θC (ddof=1), then Welch from these stats.
    (*_, x_c, xx_c, xy_c), (*_, x_t, xx_t, xy_t) = by_arm[control], by_arm[treatment]
    n, x, y = n_c + n_t, x_c + x_t, y_c + y_t
    theta = ((xy_c + xy_t) - x * y / n) / ((xx_c + xx_t) - x * x / n)

    def adjusted(n: float, y: float, yy: float, x: float, xx: float, xy: float) -> tuple[float, float]:
        v = (yy - y * y / n + theta * theta * (xx - x * x / n) - 2 * theta * (xy - x * y / n)) / (n - 1)
        return y / n - theta * (x / n - (x_c + x_t) / (n_c + n_t)), math.sqrt(max(v, 0.0))

    a_c, sd_c = adjusted(n_c, y_c, yy_c, x_c, xx_c, xy_c)
    a_t, sd_t = adjusted(n_t, y_t, yy_t, x_t, xx_t, xy_t)
    cuped = stats.ttest_ind_from_stats(a_t, sd_t, n_t, a_c, sd_c, n_c, equal_var=False)
    return {
        "revenue": revenue,
        "conversion": {"control_mean": p_c, "treatment_mean": p_t, "estimate": diff, "pvalue": pvalue},
        "revenue_cuped": revenue | {"cuped_estimate": a_t - a_c, "cuped_pvalue": float(cuped.pvalue)},
    }


def peer_numbers(result: Mapping[str, Any]) -> Numbers:
    """Means, difference and p-value per metric from a tea-tasting result (CUPED: its adjusted difference)."""
    numbers: Numbers = {}
    for name, r in result.items():
        row = {"estimate": float(r.effect_size), "pvalue": float(r.pvalue)}
        if name != "revenue_cuped":
            row |= {"control_mean": float(r.control), "treatment_mean": float(r.treatment)}
        else:
            row = {"cuped_estimate": row["estimate"], "cuped_pvalue": row["pvalue"]}
        numbers[name] = row
    return numbers


def compare_numbers(
    actual: Numbers, expected: Numbers, *, rel_tol: float = REL_TOL, abs_tol: float = 1e-12, label: str = "abnb"
) -> list[str]:
    """Compare every quantity that both sides have; returns one line per mismatch (empty: they agree).

    Two numbers agree when ``|a − b| ≤ max(rel_tol·max(|a|, |b|), abs_tol)`` (``math.isclose``); the absolute
    tolerance lets p-values that underflow towards 0 agree.
    """
    mismatches: list[str] = []
    for metric, quantities in expected.items():
        for name, value in quantities.items():
            got = actual.get(metric, {}).get(name)
            if got is None:
                continue
            if not math.isclose(got, value, rel_tol=rel_tol, abs_tol=abs_tol):
                mismatches.append(f"{label} {metric}.{name} = {got!r}, reference {value!r}")
    return mismatches


# ---------------------------------------------------------------------------------------------------------------
# Peak resident set size of the process during a call.


def _proc_status_kb(field: str) -> int | None:
    try:
        text = Path("/proc/self/status").read_text()
    except OSError:
        return None
    match = re.search(rf"^{field}:\s+(\d+)\s+kB", text, re.MULTILINE)
    return int(match.group(1)) if match else None


def _reset_high_water_mark() -> bool:
    """Reset the kernel's peak-RSS counter (``VmHWM``) to the current RSS (Linux ≥ 4.0); False if not possible."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    hwm, rss = _proc_status_kb("VmHWM"), _proc_status_kb("VmRSS")
    return hwm is not None and rss is not None and hwm <= rss + 1024  # reset worked (within 1 MB of slack)


def _current_rss() -> int:
    rss = _proc_status_kb("VmRSS")
    if rss is not None:
        return rss * 1024
    import psutil

    return int(psutil.Process().memory_info().rss)


@dataclass
class PeakRss:
    """Measure the process' RSS before a block (``baseline``) and its peak during it (``peak``), in bytes.

    ``ru_maxrss`` only grows over a process' life, so it cannot give a per-call peak. Where Linux allows it the
    kernel's high-water mark is reset before the block and read after (exact); otherwise a thread samples the RSS
    with psutil every ``interval`` seconds (a peak shorter than that can be missed).
    """

    interval: float = 0.002
    baseline: int = 0
    peak: int = 0
    method: str = ""
    _stop: threading.Event = field(default_factory=threading.Event, repr=False)
    _thread: threading.Thread | None = field(default=None, repr=False)

    def __enter__(self) -> PeakRss:
        self.baseline = self.peak = _current_rss()
        if _reset_high_water_mark():
            self.method = "kernel VmHWM"
            return self
        import psutil

        self.method = "psutil sampling"
        process = psutil.Process()
        self._stop.clear()

        def sample() -> None:
            while not self._stop.is_set():
                self.peak = max(self.peak, int(process.memory_info().rss))
                self._stop.wait(self.interval)

        self._thread = threading.Thread(target=sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            self._thread = None
        else:
            hwm = _proc_status_kb("VmHWM")
            self.peak = max(self.peak, (hwm or 0) * 1024)
        self.peak = max(self.peak, _current_rss())


# ---------------------------------------------------------------------------------------------------------------
# The benchmark.


@dataclass
class Measurement:
    """Wall times (seconds) and RSS (bytes) of one method over the repetitions."""

    seconds: list[float] = field(default_factory=list)
    peak_rss: int = 0
    baseline_rss: int = 0
    value: Any = None

    @property
    def median(self) -> float | None:
        """Median wall time, or ``None`` if the method did not run."""
        return statistics.median(self.seconds) if self.seconds else None


def _available_memory() -> int | None:
    try:
        text = Path("/proc/meminfo").read_text()
    except OSError:
        return None
    match = re.search(r"^MemAvailable:\s+(\d+)\s+kB", text, re.MULTILINE)
    return int(match.group(1)) * 1024 if match else None


def _total_memory() -> int | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def _versions() -> dict[str, str | None]:
    from importlib import metadata

    versions: dict[str, str | None] = {"python": platform.python_version()}
    for package in ("abnb", "duckdb", "sqlglot", "numpy", "pandas", "scipy", "tea-tasting", "ibis-framework"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    return versions


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _resolve_methods(methods: Sequence[str] | None, events: bool) -> list[str]:
    allowed = EVENT_METHODS if events else USER_METHODS
    chosen = list(allowed) if not methods else [m for part in methods for m in part.split(",") if m]
    unknown = [m for m in chosen if m not in METHODS]
    if unknown:
        raise ParameterError(f"unknown method(s) {', '.join(unknown)}; choose from {', '.join(METHODS)}.")
    return [m for m in METHODS if m in chosen]


@contextmanager
def _database(data_dir: str | os.PathLike[str] | None, name: str) -> Iterator[Path]:
    if data_dir is not None:
        yield Path(data_dir) / name
        return
    with tempfile.TemporaryDirectory(prefix="abnb-bench-") as tmp:
        yield Path(tmp) / name


def run(
    users: int,
    *,
    repeat: int = 5,
    methods: Sequence[str] | None = None,
    events: bool = False,
    events_per_user: int = EVENTS_PER_USER,
    data_dir: str | os.PathLike[str] | None = None,
    seed: int = SEED,
    log: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Generate the data, time every method ``repeat`` times interleaved, check the numbers; return a JSON-safe dict.

    Args:
        users: Users (rows of ``users``; exposures at event level).
        repeat: Timed repetitions per method (after one untimed warm-up round of the fast methods).
        methods: Methods to run (default: all that apply to the level); entries may be comma-separated.
        events: Benchmark the event-level set instead of the user-level table.
        events_per_user: Events per user at event level.
        data_dir: Keep the generated DuckDB file here and reuse it on the next run (default: a temporary folder).
        seed: Seed of the data.
        log: Receives progress lines (e.g. ``print`` to stderr).

    Returns:
        ``floor_s``, ``floor_seg_s``, ``abnb_s``, ``naive_s``, ``peer_s`` (medians, seconds; ``None`` when not run),
        ``peak_rss_mb`` and ``baseline_rss_mb`` per method, ratios, all timings, the checks, notes and the machine.

    Raises:
        ParameterError: ``users``, ``repeat`` or a method name is invalid.
    """
    import abnb
    from abnb.engine import connect

    _check_users(users)
    if isinstance(repeat, bool) or not isinstance(repeat, int) or repeat < 1:
        raise ParameterError(f"repeat must be a positive whole number, got {repeat!r}.")
    chosen = _resolve_methods(methods, events)
    say = log or (lambda _line: None)
    notes: list[str] = []
    if events:
        skipped = [m for m in chosen if m not in EVENT_METHODS]
        if skipped:
            notes.append(f"{', '.join(skipped)}: not run at event level (user-level table only).")
        chosen = [m for m in chosen if m in EVENT_METHODS]
    rows = users * (1 + events_per_user) if events else users
    if "naive" in chosen:
        need, have = rows * NAIVE_BYTES_PER_ROW, _available_memory()
        if have is not None and need > NAIVE_RAM_SHARE * have:
            notes.append(
                f"naive: skipped, it would need about {need / 2**30:.1f} GiB, more than "
                f"{NAIVE_RAM_SHARE:.0%} of the {have / 2**30:.1f} GiB available."
            )
            chosen.remove("naive")
    level = "events" if events else "users"
    name = f"{level}_{users}_{seed}" + (f"_{events_per_user}" if events else "") + ".duckdb"
    result: dict[str, Any] = {"users": users, "level": level, "events_per_user": events_per_user if events else None}
    with _database(data_dir, name) as path:
        if path.exists():
            generate_s = None
            say(f"reusing {path}")
        else:
            say(f"generating {level} data for {users:,} users into {path} ...")
            if events:
                generate_s = generate_events(path, users, events_per_user=events_per_user, seed=seed)
            else:
                generate_s = generate_users(path, users, seed=seed)
            say(f"generated in {generate_s:.1f} s ({path.stat().st_size / _MB:,.0f} MB)")
        database_mb = path.stat().st_size / _MB
        spec = event_spec() if events else user_spec()
        with connect(path, external_access=True) as con:  # trusted code: ibis sets the session's time zone
            calls, peer_import_s = _methods(con, spec, chosen, events, notes)
            measurements = {m: Measurement() for m in chosen}
            rss_method = ""
            warm = [m for m in chosen if m != "naive"]
            say(f"warm-up: {', '.join(warm)}")
            for m in warm:
                calls[m]()
            for r in range(repeat):
                order = chosen[r % len(chosen) :] + chosen[: r % len(chosen)]
                for m in order:
                    with PeakRss() as rss:
                        start = time.perf_counter()
                        value = calls[m]()
                        seconds = time.perf_counter() - start
                    rss_method = rss.method
                    got = measurements[m]
                    got.seconds.append(seconds)
                    got.peak_rss, got.baseline_rss = max(got.peak_rss, rss.peak), max(got.baseline_rss, rss.baseline)
                    got.value = value
                    del value
                say(
                    f"repetition {r + 1}/{repeat}: "
                    + ", ".join(f"{m} {measurements[m].seconds[-1]:.3f} s" for m in order)
                )
            checks = _check(measurements, events)
            for line in checks["mismatches"]:
                say(f"MISMATCH {line}")
            for line in checks["peer_differences"]:
                say(f"peer differs: {line}")
            for got in measurements.values():
                got.value = None
    medians = {m: (measurements[m].median if m in measurements else None) for m in METHODS}
    floor, floor_seg = medians["floor"], medians["floor_seg"]
    result |= {f"{m}_s": medians[m] for m in METHODS}
    result |= {
        "repeat": repeat,
        "methods": chosen,
        "ratio_to_floor": {m: _ratio(medians[m], floor) for m in chosen},
        "ratio_to_floor_seg": {m: _ratio(medians[m], floor_seg) for m in chosen},
        "times_s": {m: measurements[m].seconds for m in chosen},
        "peak_rss_mb": {m: round(measurements[m].peak_rss / _MB, 1) for m in chosen},
        "baseline_rss_mb": {m: round(measurements[m].baseline_rss / _MB, 1) for m in chosen},
        "rss_method": rss_method,
        "rows": rows,
        "generate_s": generate_s,
        "database_mb": round(database_mb, 1),
        "peer_import_s": peer_import_s,
        "checks": checks,
        "notes": notes,
        "versions": _versions(),
        "cpu_count": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "ram_gb": None if (total := _total_memory()) is None else round(total / 2**30, 1),
        "platform": platform.platform(),
        "abnb_version": getattr(abnb, "__version__", None),
    }
    return result


def _ratio(value: float | None, floor: float | None) -> float | None:
    return None if value is None or not floor else value / floor


def _methods(
    con: Connection, spec: Experiment, chosen: Sequence[str], events: bool, notes: list[str]
) -> tuple[dict[str, Callable[[], Any]], float | None]:
    """The callables to time, each returning what the results check needs."""
    raw = con.raw
    params = {"as_of": AS_OF} if events else {}
    floor_sql, floor_seg_sql = (
        (EVENT_FLOOR_SQL, EVENT_FLOOR_SEG_SQL) if events else (USER_FLOOR_SQL, USER_FLOOR_SEG_SQL)
    )
    calls: dict[str, Callable[[], Any]] = {
        "floor": lambda: raw.execute(floor_sql, params).fetchall(),
        "floor_seg": lambda: raw.execute(floor_seg_sql, params).fetchall(),
        "abnb": lambda: spec.analyze(con),
    }

    def naive() -> Numbers:
        frame = raw.execute("SELECT arm, revenue, converted, revenue_pre FROM users").df()
        return naive_numbers(frame)

    calls["naive"] = naive
    peer_import_s: float | None = None
    if "peer" in chosen:
        start = time.perf_counter()
        try:
            import ibis
            import tea_tasting as tt
        except ImportError:
            notes.append("peer: tea-tasting (or ibis-framework[duckdb]) is not installed: pip install 'abnb[bench]'.")
            calls["peer"] = lambda: None
        else:
            peer_import_s = time.perf_counter() - start
            backend = ibis.duckdb.from_connection(raw)  # the same DuckDB instance and file as the other methods
            experiment = tt.Experiment(
                revenue=tt.Mean("revenue"),
                conversion=tt.Proportion("converted", method="norm", equal_var=False),
                revenue_cuped=tt.Mean("revenue", covariate="revenue_pre"),
                variant="arm",
            )

            def peer() -> Any:
                with warnings.catch_warnings():  # ibis 12 calls a DuckDB method that DuckDB 2 deprecates
                    warnings.simplefilter("ignore", DeprecationWarning)
                    return experiment.analyze(backend.table("users"), control="control")

            calls["peer"] = peer
            notes.append(
                "peer: tea-tasting analyses overall only (no segment breakdown); compare it with `floor`. "
                f"Importing tea_tasting + ibis took {peer_import_s:.2f} s (not in the timings)."
            )
    return {m: calls[m] for m in chosen}, peer_import_s


def _check(measurements: Mapping[str, Measurement], events: bool) -> dict[str, Any]:
    """Check abnb's numbers against the reference (naive scipy, else scipy on the floor's sums)."""
    checks: dict[str, Any] = {"reference": None, "ok": None, "mismatches": [], "peer_differences": []}
    if "abnb" not in measurements:
        return checks
    numbers = abnb_numbers(measurements["abnb"].value)
    if "naive" in measurements:
        reference, checks["reference"] = measurements["naive"].value, "naive (pandas + scipy)"
    elif "floor" in measurements:
        reference, checks["reference"] = sums_numbers(measurements["floor"].value), "scipy on the floor's sums"
    else:
        return checks
    checks["mismatches"] = compare_numbers(numbers, reference)
    checks["ok"] = not checks["mismatches"]
    peer = measurements.get("peer")
    if peer is not None and peer.value is not None:
        checks["peer_differences"] = compare_numbers(peer_numbers(peer.value), reference, label="peer")
    return checks


def format_table(result: Mapping[str, Any]) -> str:
    """A markdown table of one run: method, median seconds, ratios to both floors, peak and baseline RSS."""
    lines = [
        f"{result['level']}: {result['users']:,} users, {result['rows']:,} rows, median of {result['repeat']}",
        "",
        "| method | median s | x floor | x floor_seg | peak RSS MB | RSS before MB |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for m in result["methods"]:
        seconds = result[f"{m}_s"]
        ratio, ratio_seg = result["ratio_to_floor"][m], result["ratio_to_floor_seg"][m]
        lines.append(
            f"| {m} | {_fmt(seconds, 3)} | {_fmt(ratio, 2)} | {_fmt(ratio_seg, 2)} | "
            f"{result['peak_rss_mb'][m]:,.0f} | {result['baseline_rss_mb'][m]:,.0f} |"
        )
    checks = result["checks"]
    if checks["ok"] is not None:
        lines.append("")
        lines.append(
            f"results check vs {checks['reference']}: "
            + ("abnb agrees to 1e-6" if checks["ok"] else f"{len(checks['mismatches'])} MISMATCH(ES)")
        )
        lines += [f"  {line}" for line in checks["mismatches"]]
    lines += [f"note: {n}" for n in result["notes"]]
    return "\n".join(lines)


def _fmt(value: float | None, digits: int) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)
