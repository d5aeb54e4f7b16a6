"""Deterministic synthetic telemetry with planted, known effects.

:func:`generate` writes the ``exposures`` and ``events`` tables of :mod:`abnb.datasets.schemas` into a DuckDB file.
Every number below is planted on purpose and recorded in :data:`GROUND_TRUTH`, so demos can show an analysis
recovering it and tests can assert that it does.

Experiment ``checkout_redesign``, arms ``control`` and ``treatment``, planned 50/50. The experiment window
runs from 2026-10-01 00:00 (start) to 2026-10-15 00:00 (end, exclusive); the pre-period is the 14 days before
start. Timestamps are naive (UTC wall clock).

Units (users ``1 … users``):
    * Exactly one exposure each; arm ~ Bernoulli(0.5); first exposure time uniform in
      [start, start + 10 days).
    * country: US 40 %, DE 20 %, IN 20 %, BR 10 %, JP 10 %; platform: android 45 %, ios 35 %, web 20 %.
    * Latent activity a ~ Gamma(shape 2, scale 0.5) (mean 1, variance 0.5) and its rank
      r = F_Gamma(a) ~ Uniform(0, 1). Country and platform are independent of a: they are segments, not
      confounders.

Sessions (no treatment effect: the guardrail truth is a lift of 0 for sessions and page views):
    * Pre-period [start − 14 d, start): Poisson(0.25 · a · 14) sessions at uniform times (mean 3.5 per user).
    * Post-exposure [exposure, end): Poisson(0.25 · a · days exposed) sessions at uniform times; days exposed
      is uniform on (4, 14], so the mean is 0.25 · 9 = 2.25 sessions per user.
    * Each session writes a ``session`` row (value = minutes ~ LogNormal(ln 4, 0.8): median 4, mean
      4·e^0.32 ≈ 5.51) and a ``page_view`` row at the same ts (value = pages = 1 + Poisson(3), mean 4).

Purchases (the goal metric; same amount distribution in both arms):
    * Conversion probability p = 0.04 + 0.12 · r (mean 0.10) in control and in the pre-period;
      treatment multiplies it by 1.10 (mean 0.11): true conversion lift +10 %.
    * A converted unit makes 1 + Poisson(0.25) purchases (mean 1.25) at uniform times in its window,
      amounts ~ LogNormal(3.6, 1.1) USD (median e^3.6 ≈ 36.6, mean e^4.205 ≈ 67.0, heavy right tail).
    * True revenue per user in the post-exposure window: control 0.10 · 1.25 · 67.03 ≈ 8.38 USD,
      treatment ≈ 9.22 USD: lift +10 %.
    * The pre-period draws conversion again with the same p (no treatment), so pre-period revenue, conversion
      and sessions are covariates correlated with the outcome through a (CUPED has something to remove).

Planted logging glitch:
    * Each unit independently, with probability 0.0005, gets a second exposure row in the *other* arm one hour
      after its first. Expect about 0.0005 · users such units (10 ± 3 at 20 000 users, 100 ± 10 at 200 000);
      :attr:`SampleSummary.glitch_units` reports the exact count. An analysis must detect and exclude them.
      Their events follow the arm of their first exposure.

Sizes, per user: exposures ≈ 1.0005 rows; events ≈ 11.76 rows (5.75 ``session``, 5.75 ``page_view``,
0.256 ``purchase``), i.e. about 2.35 million events for the default 200 000 users.

Model-quality tables (``predictions``, ``labels``, ``fares``, ``ratings``, ``corrections``, ``edits``, ``ops``,
``releases``, ``truth``): written by :func:`abnb.datasets.models.generate_models` on the same connection before the
checkpoint, ``requests`` requests (default ``users // 2``), from random streams of their own; their planted truth
is :data:`abnb.datasets.models.MODEL_TRUTH`.

Determinism: chunk ``i`` of ``chunk_size`` users draws from ``numpy.random.default_rng([seed, i])``, so the
same ``(users, seed, chunk_size)`` always writes the same rows (in the same order). A different ``chunk_size``
gives a different, equally valid sample.
"""

from __future__ import annotations

import math
import os
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import MappingProxyType
from typing import Any

import duckdb
import numpy as np
import numpy.typing as npt
import pandas as pd
from tqdm import tqdm

from abnb._display import escape_html
from abnb.datasets.concurrent import generate_concurrent
from abnb.datasets.models import generate_models
from abnb.datasets.schemas import EVENT_NAMES, create_tables
from abnb.errors import ParameterError

__all__ = ["GROUND_TRUTH", "GroundTruth", "SampleSummary", "generate", "is_sample"]


@dataclass(frozen=True)
class GroundTruth:
    """The parameters :func:`generate` plants, and the effects an analysis should recover.

    Probabilities of categorical columns are given as ``(value, probability)`` pairs in code order.
    """

    experiment: str = "checkout_redesign"
    arms: tuple[str, str] = ("control", "treatment")
    weights: tuple[float, float] = (0.5, 0.5)
    start: datetime = datetime(2026, 10, 1)
    end: datetime = datetime(2026, 10, 15)
    exposure_days: int = 10
    pre_days: int = 14
    countries: tuple[tuple[str, float], ...] = (
        ("US", 0.4),
        ("DE", 0.2),
        ("IN", 0.2),
        ("BR", 0.1),
        ("JP", 0.1),
    )
    platforms: tuple[tuple[str, float], ...] = (("android", 0.45), ("ios", 0.35), ("web", 0.2))
    activity_shape: float = 2.0
    activity_scale: float = 0.5
    sessions_per_day: float = 0.25
    session_minutes_median: float = 4.0
    session_minutes_sigma: float = 0.8
    extra_pages_mean: float = 3.0
    conversion_base: float = 0.04
    conversion_slope: float = 0.12
    conversion_lift: float = 0.10
    extra_purchases_mean: float = 0.25
    purchase_log_mean: float = 3.6
    purchase_log_sigma: float = 1.1
    session_lift: float = 0.0
    page_view_lift: float = 0.0
    glitch_rate: float = 0.0005
    glitch_delay: timedelta = field(default=timedelta(hours=1))

    @property
    def pre_start(self) -> datetime:
        """First instant of the pre-period, ``start − pre_days``."""
        return self.start - timedelta(days=self.pre_days)

    @property
    def control_conversion(self) -> float:
        """Expected share of control units that purchase after exposure: ``base + slope / 2`` = 0.10."""
        return self.conversion_base + self.conversion_slope / 2

    @property
    def treatment_conversion(self) -> float:
        """Expected share of treatment units that purchase after exposure: 0.11."""
        return self.control_conversion * (1 + self.conversion_lift)

    @property
    def revenue_per_user_lift(self) -> float:
        """True relative lift of post-exposure revenue per user (amounts do not depend on the arm): 0.10."""
        return self.conversion_lift

    @property
    def purchase_mean_usd(self) -> float:
        """Mean purchase amount, ``exp(mu + sigma² / 2)`` ≈ 67.03 USD."""
        return math.exp(self.purchase_log_mean + self.purchase_log_sigma**2 / 2)

    @property
    def control_revenue_per_user(self) -> float:
        """Expected post-exposure revenue per control unit ≈ 8.38 USD."""
        return self.control_conversion * (1 + self.extra_purchases_mean) * self.purchase_mean_usd

    @property
    def treatment_revenue_per_user(self) -> float:
        """Expected post-exposure revenue per treatment unit ≈ 9.22 USD."""
        return self.control_revenue_per_user * (1 + self.revenue_per_user_lift)

    @property
    def pre_sessions_per_user(self) -> float:
        """Expected sessions per unit in the pre-period: ``rate · pre_days · E[a]`` = 3.5."""
        return self.sessions_per_day * self.pre_days * self.activity_shape * self.activity_scale

    @property
    def post_sessions_per_user(self) -> float:
        """Expected sessions per unit from exposure to end, in either arm: ``rate · E[days exposed]`` = 2.25.

        Days exposed are ``end − exposure``, uniform on (4, 14] days, mean 9.
        """
        window_days = (self.end - self.start) / timedelta(days=1)
        mean_days_exposed = window_days - self.exposure_days / 2
        return self.sessions_per_day * mean_days_exposed * self.activity_shape * self.activity_scale

    def expected_glitch_units(self, users: int) -> float:
        """Expected number of units with a second, contradictory exposure: ``glitch_rate · users``."""
        return self.glitch_rate * users


GROUND_TRUTH = GroundTruth()
"""The planted truth of the sample database; see the module docstring."""


@dataclass(frozen=True)
class SampleSummary:
    """What :func:`generate` wrote.

    Attributes:
        path: The DuckDB file.
        users: Number of units.
        rows: Row count per table.
        seconds: Wall-clock time of the generation, including the final checkpoint.
        seed: The seed used.
        chunk_size: Units simulated per chunk (part of what determines the data).
        glitch_units: Units given a second exposure row in the other arm.
        model_rows: Row count per model-quality table written by :func:`abnb.datasets.models.generate_models`
            (kept apart from ``rows``, which counts the experiment tables).
        requests: Number of model prediction requests simulated.
    """

    path: Path
    users: int
    rows: Mapping[str, int]
    seconds: float
    seed: int
    chunk_size: int
    glitch_units: int
    model_rows: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))
    requests: int = 0

    def to_frame(self) -> pd.DataFrame:
        """One row per table with its row count."""
        return pd.DataFrame({"table": list(self.rows), "rows": list(self.rows.values())})

    def __repr__(self) -> str:
        rows = ", ".join(f"{table}={count:,}" for table, count in {**self.rows, **self.model_rows}.items())
        return (
            f"SampleSummary(path={str(self.path)!r}, users={self.users:,}, requests={self.requests:,}, rows: {rows}, "
            f"glitch_units={self.glitch_units}, seed={self.seed}, seconds={self.seconds:.2f})"
        )

    def _repr_html_(self) -> str:
        caption = f"{self.path}: {self.users:,} users, seed {self.seed}, {self.seconds:.2f} s"
        table: str = self.to_frame().to_html(index=False)  # DataFrame.to_html escapes cells and labels
        return f"<p>{escape_html(caption)}</p>{table}"


STALE_SECONDS = 600.0


def _remove_stale_temporaries(target: Path) -> None:
    """Delete the temporary files of generations that were killed (SIGKILL skips their own clean-up).

    A running generation writes its file continuously, so a temporary not modified for ``STALE_SECONDS`` belongs to
    a dead process; younger ones may belong to a generation running right now and are left alone.
    """
    now = time.time()
    for leftover in target.parent.glob(f".{target.name}.*.tmp*"):
        try:
            if now - leftover.stat().st_mtime > STALE_SECONDS:
                leftover.unlink()
        except OSError:  # gone meanwhile, or not ours to delete: the new generation does not depend on it
            continue


def generate(
    database: str | Path,
    *,
    users: int = 200_000,
    seed: int = 20261001,
    chunk_size: int = 250_000,
    progress: bool = True,
    requests: int | None = None,
) -> SampleSummary:
    """Write the synthetic telemetry described in the module docstring into a DuckDB file.

    The tables are built in a temporary file next to ``database`` and moved into place with ``os.replace``
    only after the last chunk and a ``CHECKPOINT``; a failed or interrupted run leaves any existing file
    untouched. Parent directories are created. Readers holding the old file open keep reading the old data.
    A ``database`` that is a symbolic link is written through: the file it points to is replaced and the link is
    kept (the summary's ``path`` is that file).

    Args:
        database: Path of the DuckDB file to (re)create.
        users: Number of units to simulate.
        seed: Non-negative seed; chunk ``i`` draws from ``numpy.random.default_rng([seed, i])``.
        chunk_size: Units simulated and inserted per chunk (bounds memory; about 12 event rows per unit).
        progress: Show a tqdm progress bar on stderr.
        requests: Model prediction requests for :func:`abnb.datasets.models.generate_models` (its own random
            streams, so the experiment tables do not depend on it); ``None`` means ``users // 2``.

    Returns:
        A :class:`SampleSummary` with the path, row counts, glitch count and elapsed time.

    Raises:
        ParameterError: ``users`` or ``chunk_size`` is below 1, or ``seed`` or ``requests`` is negative.
    """
    for name, value, minimum in (("users", users, 1), ("chunk_size", chunk_size, 1), ("seed", seed, 0)):
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise ParameterError(f"{name} must be an integer >= {minimum}, got {value!r}")
    if requests is None:
        requests = users // 2
    if isinstance(requests, bool) or not isinstance(requests, int) or requests < 0:
        raise ParameterError(f"requests must be an integer >= 0, got {requests!r}")
    started = time.perf_counter()
    target = Path(database)
    if target.is_symlink():
        # Write through the link: the link stays, the file it points to gets the new data (os.replace of the link
        # itself would turn it into a regular file and leave its target stale).
        try:
            target = target.resolve()
        except (OSError, RuntimeError) as error:  # RuntimeError: a symlink loop (Python 3.11)
            raise ParameterError(
                f"database {database} is a symbolic link that cannot be followed ({error}); point it at a file path "
                "or remove it."
            ) from None
    target.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_temporaries(target)
    temporary = target.with_name(f".{target.name}.{uuid.uuid4().hex[:12]}.tmp")
    rows = dict.fromkeys(("exposures", "events"), 0)
    glitch_units = 0
    try:
        with duckdb.connect(str(temporary)) as connection:
            create_tables(connection)
            with tqdm(total=users, unit="user", unit_scale=True, desc="abnb sample", disable=not progress) as bar:
                for index, first in enumerate(range(0, users, chunk_size)):
                    size = min(chunk_size, users - first)
                    exposures, events, glitches = _simulate_chunk(
                        np.random.default_rng([seed, index]), first_unit=first + 1, size=size
                    )
                    _insert(connection, "exposures", exposures)
                    _insert(connection, "events", events)
                    rows["exposures"] += len(exposures)
                    rows["events"] += len(events)
                    glitch_units += glitches
                    bar.update(size)
            model_rows = generate_models(connection, requests=requests, seed=seed)
            model_rows = {**model_rows, **generate_concurrent(connection, seed=seed)}
            _mark(connection, users=users, seed=seed)
            connection.execute("CHECKPOINT")
        # A write-ahead log left by a crashed writer of the old file must not be replayed onto the new one.
        Path(f"{target}.wal").unlink(missing_ok=True)
        os.replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        Path(f"{temporary}.wal").unlink(missing_ok=True)
        raise
    return SampleSummary(
        path=target,
        users=users,
        rows=MappingProxyType(rows),
        seconds=time.perf_counter() - started,
        seed=seed,
        chunk_size=chunk_size,
        glitch_units=glitch_units,
        model_rows=MappingProxyType(model_rows),
        requests=requests,
    )


def _mark(connection: duckdb.DuckDBPyConnection, *, users: int, seed: int) -> None:
    """Write the one-row marker table that tells ``abnb demo`` the database is the sample (and which one)."""
    from abnb import __version__
    from abnb.datasets import SAMPLE_TABLE

    table = f'"{SAMPLE_TABLE}"'  # a constant of the package, not an input
    connection.execute(f"CREATE TABLE {table} (users BIGINT, seed BIGINT, abnb_version VARCHAR)")
    connection.execute(f"INSERT INTO {table} VALUES (?, ?, ?)", [users, seed, __version__])  # noqa: S608


def is_sample(database: str | Path) -> bool:
    """Whether ``database`` was written by :func:`generate` (it holds the marker table)."""
    from abnb.datasets import SAMPLE_TABLE

    try:
        with duckdb.connect(str(database), read_only=True) as connection:
            rows = connection.execute(
                "SELECT 1 FROM duckdb_tables() WHERE table_name = ? AND schema_name = 'main'", [SAMPLE_TABLE]
            ).fetchall()
    except duckdb.Error:
        return False
    return bool(rows)


_MICROS_PER_DAY = 86_400_000_000
_STAGING = "abnb_sample_chunk"

# Static SQL; names and labels are bound as parameters. Codes in the staging frame are 0-based, lists 1-based.
_INSERT_SQL: Mapping[str, str] = MappingProxyType(
    {
        "exposures": """
            INSERT INTO exposures (experiment, unit, arm, ts, country, platform)
            SELECT $experiment, unit, $arms[arm + 1], make_timestamp(ts_us),
                   $countries[country + 1], $platforms[platform + 1]
            FROM abnb_sample_chunk
        """,
        "events": """
            INSERT INTO events (unit, ts, event, value)
            SELECT unit, make_timestamp(ts_us), $events[event + 1], value
            FROM abnb_sample_chunk
        """,
    }
)


def _insert_parameters(table: str) -> dict[str, Any]:
    """Bound parameters of ``_INSERT_SQL[table]``."""
    truth = GROUND_TRUTH
    if table == "exposures":
        return {
            "experiment": truth.experiment,
            "arms": list(truth.arms),
            "countries": [name for name, _ in truth.countries],
            "platforms": [name for name, _ in truth.platforms],
        }
    return {"events": list(EVENT_NAMES)}


def _insert(connection: duckdb.DuckDBPyConnection, table: str, frame: pd.DataFrame) -> None:
    """Insert one chunk: register the frame, ``INSERT INTO table SELECT … FROM`` it, unregister it."""
    connection.register(_STAGING, frame)
    try:
        connection.execute(_INSERT_SQL[table], _insert_parameters(table))
    finally:
        connection.unregister(_STAGING)


def _micros(moment: datetime) -> int:
    """Microseconds since the Unix epoch of a naive (UTC wall-clock) datetime."""
    return (moment.replace(tzinfo=UTC) - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)


def _uniform_times(
    rng: np.random.Generator, begin: npt.NDArray[np.int64], length: npt.NDArray[np.int64]
) -> npt.NDArray[np.int64]:
    """One uniform time in ``[begin, begin + length)`` microseconds per element."""
    offset = (rng.random(begin.size) * length).astype(np.int64)
    return begin + np.minimum(offset, length - 1)


def _pre_and_post(
    rng: np.random.Generator,
    pre_count: npt.NDArray[np.int64],
    post_count: npt.NDArray[np.int64],
    pre_period: tuple[int, int],
    exposed: npt.NDArray[np.int64],
    exposed_length: npt.NDArray[np.int64],
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """The unit and time of each occurrence: ``pre_count`` per unit in the pre-period, then ``post_count`` after.

    Args:
        rng: The random stream (drawn for the pre-period times, then the post-exposure ones).
        pre_count: Occurrences per unit in the pre-period.
        post_count: Occurrences per unit from its exposure to the end.
        pre_period: Start and end of the pre-period, in epoch microseconds.
        exposed: Each unit's exposure time.
        exposed_length: Microseconds from each unit's exposure to the end.

    Returns:
        The unit index (position in the chunk) and the time of every occurrence, pre-period ones first.
    """
    pre_start, start = pre_period
    pre_index = np.repeat(np.arange(pre_count.size), pre_count)
    post_index = np.repeat(np.arange(post_count.size), post_count)
    times = np.concatenate(
        [
            _uniform_times(rng, np.full(pre_index.size, pre_start), np.full(pre_index.size, start - pre_start)),
            _uniform_times(rng, exposed[post_index], exposed_length[post_index]),
        ]
    )
    return np.concatenate([pre_index, post_index]), times


def _simulate_chunk(rng: np.random.Generator, *, first_unit: int, size: int) -> tuple[pd.DataFrame, pd.DataFrame, int]:
    """Simulate units ``first_unit … first_unit + size − 1``.

    Returns:
        The exposures and events staging frames (integer codes, timestamps in epoch microseconds) and the
        number of glitch units.
    """
    from scipy.special import gammainc

    truth = GROUND_TRUTH
    start, end, pre_start = _micros(truth.start), _micros(truth.end), _micros(truth.pre_start)
    units = np.arange(first_unit, first_unit + size, dtype=np.int64)

    # Units: arm, first exposure, segments, latent activity and its uniform rank.
    arm = (rng.random(size) < truth.weights[1]).astype(np.int8)
    exposed = start + rng.integers(0, truth.exposure_days * _MICROS_PER_DAY, size, dtype=np.int64)
    country = rng.choice(len(truth.countries), size, p=[share for _, share in truth.countries]).astype(np.int8)
    platform = rng.choice(len(truth.platforms), size, p=[share for _, share in truth.platforms]).astype(np.int8)
    activity = rng.gamma(truth.activity_shape, truth.activity_scale, size)
    rank = gammainc(truth.activity_shape, activity / truth.activity_scale)

    # Sessions, pre-period then post-exposure, each with one session row and one page_view row.
    exposed_length = end - exposed
    pre_count = rng.poisson(truth.sessions_per_day * truth.pre_days * activity)
    post_count = rng.poisson(truth.sessions_per_day * activity * exposed_length / _MICROS_PER_DAY)
    session_index, session_ts = _pre_and_post(rng, pre_count, post_count, (pre_start, start), exposed, exposed_length)
    sessions = session_index.size
    minutes = rng.lognormal(math.log(truth.session_minutes_median), truth.session_minutes_sigma, sessions)
    pages = 1.0 + rng.poisson(truth.extra_pages_mean, sessions)

    # Purchases: pre-period with p, post-exposure with p · (1 + lift) in treatment.
    conversion = truth.conversion_base + truth.conversion_slope * rank
    pre_buys = (rng.random(size) < conversion) * (1 + rng.poisson(truth.extra_purchases_mean, size))
    post_conversion = conversion * np.where(arm == 1, 1 + truth.conversion_lift, 1.0)
    post_buys = (rng.random(size) < post_conversion) * (1 + rng.poisson(truth.extra_purchases_mean, size))
    buy_index, buy_ts = _pre_and_post(rng, pre_buys, post_buys, (pre_start, start), exposed, exposed_length)
    amounts = rng.lognormal(truth.purchase_log_mean, truth.purchase_log_sigma, buy_index.size)

    # The logging glitch: a second exposure in the other arm, one hour after the first.
    glitch = np.flatnonzero(rng.random(size) < truth.glitch_rate)
    delay = truth.glitch_delay // timedelta(microseconds=1)

    exposures = pd.DataFrame(
        {
            "unit": np.concatenate([units, units[glitch]]),
            "arm": np.concatenate([arm, 1 - arm[glitch]]).astype(np.int8),
            "ts_us": np.concatenate([exposed, exposed[glitch] + delay]),
            "country": np.concatenate([country, country[glitch]]),
            "platform": np.concatenate([platform, platform[glitch]]),
        }
    )
    codes = {name: np.int8(code) for code, name in enumerate(EVENT_NAMES)}
    events = pd.DataFrame(
        {
            "unit": units[np.concatenate([session_index, session_index, buy_index])],
            "ts_us": np.concatenate([session_ts, session_ts, buy_ts]),
            "event": np.concatenate(
                [
                    np.full(sessions, codes["session"]),
                    np.full(sessions, codes["page_view"]),
                    np.full(buy_index.size, codes["purchase"]),
                ]
            ),
            "value": np.concatenate([minutes, pages, amounts]),
        }
    )
    return exposures, events, int(glitch.size)
