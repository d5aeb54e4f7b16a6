"""The benchmark's data: deterministic synthetic telemetry written by DuckDB SQL, its specs and its floor queries.

* **user level** (``users``: one row per user with ``arm``, ``country``, ``platform``, ``revenue``,
  ``converted`` and the pre-period ``revenue_pre``);
* **event level** (``exposures``: one row per user; ``events``: ``events_per_user`` rows per user, ``purchase``
  or ``session``, about half of them before the user's exposure, which feed the covariate).

The floor queries return per arm ``n``, ``Σy``, ``Σy²`` and the covariate sums (nothing that reads the data can be
faster); the ``_SEG`` ones the same sums ``GROUP BY arm, country, platform``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from abnb.errors import ParameterError

if TYPE_CHECKING:
    from abnb.experiment import Experiment

SEED = 20261001
EVENTS_PER_USER = 5
AS_OF = datetime(2026, 10, 29)  # exposures span 2026-10-01..15, events up to 14 days after: the window holds all
COVARIATE_DAYS = 14

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


def check_users(users: int) -> None:
    """Refuse a number of users that is not a whole number of at least 100 (:class:`ParameterError`)."""
    if isinstance(users, bool) or not isinstance(users, int) or users < 100:
        raise ParameterError(f"users must be a whole number of at least 100, got {users!r}.")


def generate_users(path: str | os.PathLike[str], users: int, *, seed: int = SEED) -> float:
    """Write the user-level table ``users`` (one row per user) into a new DuckDB file; returns the seconds taken.

    Deterministic: the same ``users`` and ``seed`` give the same rows (within one DuckDB version, whose ``hash`` is
    the random source). Planted truth: conversion ≈ 0.10 in control and x1.1 in treatment, revenue per converted
    user log-normal, ``revenue_pre`` correlated with ``revenue`` through a shared latent propensity.
    """
    check_users(users)
    return _generate(Path(path), [_USERS_SQL], {"users": users, "seed": seed})


def generate_events(
    path: str | os.PathLike[str], users: int, *, events_per_user: int = EVENTS_PER_USER, seed: int = SEED
) -> float:
    """Write ``exposures`` (one row per user) and ``events`` (``events_per_user`` rows per user) into a new file.

    Returns:
        The seconds taken.
    """
    check_users(users)
    if isinstance(events_per_user, bool) or not isinstance(events_per_user, int) or events_per_user < 1:
        raise ParameterError(f"events_per_user must be a positive whole number, got {events_per_user!r}.")
    return _generate(
        Path(path),
        [_EXPOSURES_SQL, _EVENTS_SQL],
        {"users": users, "seed": seed, "per_user": events_per_user},
    )


def reuse_events(folder: str | os.PathLike[str], users: int) -> Path:
    """The event-level set of ``users`` in ``folder`` (``events_<users>.duckdb``), generated only when missing.

    Benchmarks that run on the same data (the timeline, the explorer) share one file through ``--data-dir``.
    """
    path = Path(folder) / f"events_{users}.duckdb"
    if not path.exists():
        seconds = generate_events(path, users)
        print(f"generated {users:,} users × {EVENTS_PER_USER} events in {seconds:.1f} s")
    return path


def user_spec() -> Experiment:
    """The user-level experiment: revenue (mean), conversion (proportion), CUPED revenue; two segments."""
    from abnb.aggregate import ExposureSource
    from abnb.experiment import Experiment
    from abnb.metrics import Column, Metric

    return Experiment(
        name="bench",
        metrics=(
            Metric("revenue", Column("revenue")),
            Metric("conversion", Column("converted"), kind="proportion"),
            Metric("revenue_cuped", Column("revenue", covariate="revenue_pre")),
        ),
        exposures=ExposureSource(table="users", unit="unit", arm="arm", ts=None, experiment_column=None, level="unit"),
        segments=("country", "platform"),
    )


def event_spec() -> Experiment:
    """The event-level experiment: the same three metrics from ``events``; CUPED over 14 pre-exposure days."""
    from abnb.aggregate import ExposureSource
    from abnb.experiment import Experiment
    from abnb.metrics import Metric, Sql

    purchases = "SELECT unit, ts, value FROM events WHERE event = 'purchase'"
    return Experiment(
        name="bench_events",
        metrics=(
            Metric("revenue", Sql(purchases)),
            Metric(
                "conversion", Sql("SELECT unit, ts, 1 AS value FROM events WHERE event = 'purchase'"), kind="proportion"
            ),
            Metric("revenue_cuped", Sql(purchases, covariate_days=COVARIATE_DAYS)),
        ),
        exposures=ExposureSource(table="exposures", experiment_column=None),
        segments=("country", "platform"),
        end=AS_OF,
    )
