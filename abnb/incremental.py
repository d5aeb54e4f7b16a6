"""Incremental scheduled reports: per-unit aggregates kept in a DuckDB store and updated from new data only.

An event-level analysis (:meth:`abnb.Experiment.analyze`) reduces every exposure and metric row before ``as_of`` to
one row per unit, then to a few sums. A daily report run that way rescans all history every day. This module keeps
the per-unit step in a writable DuckDB file (the *store*) and, each run, folds in only what arrived since the
previous run (the *watermark*); the statistics then come from one ``GROUP BY`` over the store, a unit-level
analysis (``ExposureSource(level="unit")``).

Per experiment the store holds table ``units_<experiment>`` (one row per exposed unit):

* ``unit``, ``exposed_at`` (first exposure), ``arm_min`` / ``arm_max`` (smallest and largest arm seen),
  ``arm`` (``arm_min`` if the unit saw one arm, else ``NULL``: excluded, and kept so the excluded count stays
  right), and the segment columns at first exposure (``ARG_MIN``: the earliest non-NULL value);
* per metric ``i``: ``y_<i>``, the unit's aggregate over ``[exposed_at, watermark)``, and ``x_<i>``, the
  covariate over ``[exposed_at − covariate_days, exposed_at)`` or, for a ratio, the denominator's aggregate
  over the same window as ``y_<i>``. ``NULL`` means "no row yet" (read as 0), so a ``max`` of negative values
  stays right.

and table ``watermarks`` one row per experiment: the spec fingerprint, the telemetry database and ``as_of`` (the
exclusive cutoff the store is complete up to).

A refresh from watermark ``W`` to ``as_of`` ``A`` reads only:

* exposure rows with ``W ≤ ts < A``: new units are inserted (their ``exposed_at`` is final, since every older
  row was seen), known units seen in another arm get ``arm = NULL``, and a known unit's NULL segment takes the
  window's first non-NULL value;
* metric rows with ``W ≤ ts < A`` (added to ``y`` for ``sum``/``count``, the greatest kept for ``max``/``any``),
  and, for units first exposed in ``[W, A)`` only, their covariate lookback ``[exposed_at − D, exposed_at)``,
  i.e. metric rows with ``ts ≥ W − D``.

Why this equals the full analysis: a unit's first exposure, arm set and segments at first exposure depend on its
exposure rows only; rows after ``W`` cannot change a first exposure before ``W``. The unit's value is an
aggregate of its rows in ``[exposed_at, A)``, which splits at ``W`` into the stored part and the new part, and
``sum``, ``count``, ``max`` and "any" all combine across a split (they are monoids). The covariate window ends at
``exposed_at`` and is complete when the unit is first seen.

Limits (also in ``docs/incremental.md``):

* Late rows, arriving in the telemetry with a ``ts`` before the watermark, are not seen: rebuild with
  ``refresh(..., full=True)`` after a backfill.
* A changed spec (metric SQL, aggregates, covariate days, segments, exposures, start) or another telemetry
  database rebuilds the store automatically (the fingerprint differs). Changing alpha, arms, correction or the
  decision rule does not: the store holds no statistics.
* The store cannot go back in time: ``as_of`` before the watermark is refused (rebuild with ``full=True``).
* Cost per refresh: the new rows, the lookback of newly exposed units, and a pass over the store's units (one row
  each). The engine skips old telemetry only if it can prune by ``ts`` (rows appended in time order, as logs
  are, or a table partitioned by day); otherwise it still reads the ``ts`` column of old rows to filter them.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from abnb._query import alias, col, exposure_filter, exposure_fixes, per_unit
from abnb.aggregate import ExposureSource, check_metric
from abnb.engine import Connection, default_database, identifier, validate_identifier
from abnb.errors import DatabaseLockedError, DatabaseNotFoundError, EngineError, ParameterError, SpecError
from abnb.experiment import Experiment, ExperimentResult, resolve_as_of
from abnb.metrics import Column, Metric

if TYPE_CHECKING:
    from sqlglot import exp

__all__ = ["STORE_VERSION", "RefreshStats", "Store", "analyze", "default_store", "refresh", "unit_spec"]

STORE_VERSION = 1
STORE = "abnb_store"
TELEMETRY = "abnb_telemetry"
VERSION = "abnb_store_version"  # one row: the schema_version of the store's tables
WATERMARKS = "watermarks"
_FIXED_COLUMNS = ("unit", "exposed_at", "arm_min", "arm_max", "arm")


@dataclass(frozen=True)
class RefreshStats:
    """What one refresh did.

    Attributes:
        experiment: The experiment's name.
        mode: ``"full"`` (built from scratch), ``"incremental"`` (folded in ``[window_start, window_end)``) or
            ``"current"`` (the store was already at ``as_of``; nothing read).
        reason: Why that mode (``"no watermark"``, ``"spec changed"``, ``"full=True"``, ...).
        window_start: First instant read (``None`` for a full build: all history).
        window_end: The new watermark (exclusive cutoff).
        units_added: Units inserted into the store.
        units_reexposed: Known units with new exposure rows (their arm set is updated).
        units: Units in the store after the refresh.
        seconds: Wall time of the refresh.
    """

    experiment: str
    mode: str
    reason: str
    window_start: datetime | None
    window_end: datetime
    units_added: int
    units_reexposed: int
    units: int
    seconds: float


def _table(name: str, *, catalog: str | None = None) -> exp.Table:
    from sqlglot import exp

    if catalog is None:
        return exp.Table(this=identifier(name, "table"))
    return exp.Table(
        this=identifier(name, "table"),
        db=exp.to_identifier("main", quoted=True),
        catalog=exp.to_identifier(catalog, quoted=True),
    )


def _aliased(table: exp.Table, name: str) -> exp.Table:
    from sqlglot import exp

    table.set("alias", exp.TableAlias(this=exp.to_identifier(name, quoted=True)))
    return table


def default_store(database: str | os.PathLike[str] | None = None) -> Path:
    """Where the store lives when none is given.

    ``$ABNB_STORE`` if set, else ``<telemetry>.store.duckdb`` beside the telemetry database
    (``data/telemetry.store.duckdb`` for the embedded sample).
    """
    env = os.environ.get("ABNB_STORE")
    if env:
        return Path(env)
    telemetry = Path(default_database() if database is None else database)
    return telemetry.with_name(f"{telemetry.stem}.store.duckdb")


def units_table(experiment: str) -> str:
    """The store table of an experiment: ``units_<experiment>``."""
    return validate_identifier(f"units_{experiment}", "store table (units_<experiment name>)")


def _parts(spec: Experiment) -> list[tuple[int, Metric, str]]:
    """Per stored column: (metric index, the metric whose SQL feeds it, ``y_<i>`` or ``x_<i>``)."""
    parts: list[tuple[int, Metric, str]] = []
    for i, metric in enumerate(spec.metrics):
        parts.append((i, metric, f"y_{i}"))
        if metric.denominator is not None:
            parts.append((i, metric.denominator, f"x_{i}"))
    return parts


def _value_columns(spec: Experiment) -> list[str]:
    columns: list[str] = []
    for i, metric in enumerate(spec.metrics):
        columns.append(f"y_{i}")
        if metric.has_covariate or metric.denominator is not None:
            columns.append(f"x_{i}")
    return columns


def fingerprint(spec: Experiment, database: str, timezone: str = "UTC") -> str:
    """Hash of what the store's contents depend on (metric SQL and aggregates, exposures, segments, start, zone).

    Alpha, arms, weights, correction, tuning, roles and directions are left out: they act on the statistics,
    which are recomputed from the store on every analysis.
    """
    data = spec.to_dict()
    relevant = {
        "version": STORE_VERSION,
        "database": database,
        "name": data["name"],
        "exposures": data["exposures"],
        "segments": data.get("segments", []),
        "start": data.get("start"),
        "timezone": timezone,
        "metrics": [
            {k: m.get(k) for k in ("sql", "aggregate", "covariate_days", "denominator_sql", "denominator_aggregate")}
            for m in data["metrics"]
        ],
    }
    return hashlib.sha256(json.dumps(relevant, sort_keys=True, default=str).encode()).hexdigest()


def unit_spec(spec: Experiment) -> Experiment:
    """The unit-level spec that analyses the store table of ``spec`` (same arms, alpha, metrics' roles...)."""
    metrics = []
    for i, m in enumerate(spec.metrics):
        second = f"x_{i}" if m.has_covariate or m.denominator is not None else None
        column = (
            Column(f"y_{i}", denominator=second) if m.denominator is not None else Column(f"y_{i}", covariate=second)
        )
        metrics.append(
            Metric(
                m.name,
                column,
                kind=m.kind,
                role=m.role,
                direction=m.direction,
                aggregate="any" if m.aggregate == "any" else "sum",
                margin=m.margin,
                quantiles=m.quantiles,
                description=m.description,
            )
        )
    source = ExposureSource(
        table=units_table(spec.name), unit="unit", arm="arm", ts="exposed_at", experiment_column=None, level="unit"
    )
    return replace(spec, exposures=source, metrics=tuple(metrics))


def _bind(query: exp.Expression, params: Mapping[str, Any]) -> dict[str, Any]:
    """The parameters ``query`` uses (DuckDB refuses unused named parameters)."""
    from sqlglot import exp

    used = {p.name for p in query.find_all(exp.Placeholder)}
    missing = used - set(params)
    if missing:  # a bug, not a user error
        raise EngineError(f"internal: parameters {sorted(missing)} are not bound.")
    return {k: v for k, v in params.items() if k in used}


class Store:
    """A writable DuckDB file with per-unit aggregates of experiments, next to a read-only telemetry database.

    The store is opened through an in-memory DuckDB session that attaches the store file as ``abnb_store`` and,
    during a refresh, the telemetry database as ``abnb_telemetry`` ``(READ_ONLY)``, so one SQL statement reads
    telemetry and writes the store. Use it as a context manager.

    Args:
        path: The store file (created if missing). Keep it apart from the telemetry database.
        lock_timeout: Seconds to retry (with backoff) while another process holds the store or the telemetry
            database; ``None``: ``$ABNB_LOCK_TIMEOUT``, else 0. Two report runs using one store therefore
            take turns: DuckDB's file lock serialises them, each refresh is one transaction.
        database: The telemetry database the store will read (its session may then read that file).
        timezone: IANA zone of the session, in which naive cutoffs meet ``TIMESTAMPTZ`` columns and days are cut
            (as :func:`abnb.connect`); ``None``: the current project's (UTC without a project file). The store's
            contents depend on it, so a store built in another zone is rebuilt.

    Raises:
        DatabaseLockedError: Another process has the store open (after ``lock_timeout`` seconds of retries).
        EngineError: The file is not a DuckDB database.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        lock_timeout: float | None = None,
        database: str | os.PathLike[str] | None = None,
        timezone: str | None = None,
    ) -> None:
        if timezone is None:
            from abnb.project import current_project

            timezone = current_project().timezone
        self.path = Path(path)
        self.lock_timeout = lock_timeout
        self.timezone = timezone
        self.telemetry: Path | None = None
        self.last_refresh: RefreshStats | None = None
        self._open(None if database is None else Path(database).resolve())

    def _open(self, telemetry: Path | None) -> None:
        """Open the session, confined to the store file and ``telemetry`` (docs/security.md), and lock it.

        Metric SQL runs in this session, so it gets the boundary of :func:`abnb.engine.restrict_access`: the store
        and its WAL, the telemetry database and its WAL, and the files the telemetry's own views read; nothing
        else, no extension download. DuckDB cannot widen the allowed paths later, so another telemetry database
        reopens the session (:meth:`_confine`).
        """
        import duckdb

        from abnb.engine import restrict_access, set_timezone, view_files

        raw = duckdb.connect(":memory:")
        raw.execute("SET enable_progress_bar = false")
        self.connection = Connection(raw, database=str(self.path), read_only=False)
        try:
            set_timezone(self.connection, self.timezone)
            self._attach(self.path, STORE, read_only=False)
            raw.execute(f'USE "{STORE}"')
            self._check_version()
            self.connection.run(self._watermarks_ddl())
            raw.execute(f'ALTER TABLE "{STORE}"."main"."{WATERMARKS}" ADD COLUMN IF NOT EXISTS source VARCHAR')
            files = [str(self.path), f"{self.path}.wal"]
            if telemetry is not None:
                files += [str(telemetry), f"{telemetry}.wal"]
                if telemetry.exists():  # the files the telemetry's own views read count as declared
                    self._attach(telemetry, TELEMETRY, read_only=True)
                    files += view_files(raw)
                    raw.execute(f'DETACH "{TELEMETRY}"')
            restrict_access(self.connection, files)
        except BaseException:
            raw.close()
            raise
        self.telemetry = telemetry

    def _confine(self, telemetry: Path) -> None:
        """Make sure the session may read ``telemetry``: reopen it confined to that database if it is another."""
        if self.telemetry != telemetry:
            self.connection.close()
            self._open(telemetry)

    def _check_version(self) -> None:
        """Stamp a new store with :data:`abnb.project.SCHEMA_VERSION`; refuse one written by a newer abnb."""
        from abnb.project import SCHEMA_VERSION, check_schema_version

        raw = self.connection.raw
        table = f'"{STORE}"."main"."{VERSION}"'  # constants of this module, not inputs
        raw.execute(f"CREATE TABLE IF NOT EXISTS {table} (schema_version INTEGER)")
        rows = raw.execute(f"SELECT max(schema_version) FROM {table}").fetchall()  # noqa: S608
        if rows[0][0] is None:
            raw.execute(f"INSERT INTO {table} VALUES ($v)", {"v": SCHEMA_VERSION})  # noqa: S608
            return
        check_schema_version(int(rows[0][0]), f"incremental store {self.path}")

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the store (and release its file lock)."""
        self.connection.close()

    def __repr__(self) -> str:
        return f"abnb.incremental.Store({str(self.path)!r})"

    def _attach(self, path: Path, name: str, *, read_only: bool) -> None:
        """Attach ``path``; while another process holds a conflicting lock, retry with backoff (``lock_timeout``)."""
        import duckdb

        from abnb.engine import backoff_schedule, lock_timeout, process_kind

        if read_only and not path.exists():
            raise DatabaseNotFoundError(
                f"telemetry database {path} does not exist: check the path, or generate the sample with "
                "`abnb data generate`."
            )
        mode = " (READ_ONLY)" if read_only else ""
        what = "telemetry database" if read_only else "incremental store"
        waits = backoff_schedule(lock_timeout(self.lock_timeout))
        started = time.monotonic()
        for attempt in range(len(waits) + 1):
            try:
                self.connection.raw.execute(f'ATTACH $path AS "{name}"{mode}', {"path": str(path)})
                return
            except duckdb.IOException as error:
                message = str(error).strip().splitlines()[0]
                if "lock" not in message.lower():
                    raise EngineError(
                        f"cannot open {what} {path}: it is not a DuckDB database, or it is truncated or corrupt "
                        f"({message}). "
                        + (
                            "Delete the store: the next run rebuilds it from the telemetry."
                            if not read_only
                            else "Restore it from a backup, or regenerate it (`abnb data generate` for the sample)."
                        )
                    ) from error
                if attempt == len(waits):
                    pid = re.search(r"PID (\d+)", message)
                    holder = process_kind(int(pid.group(1))) if pid else "another process"
                    tried = f" (tried {attempt + 1} times over {time.monotonic() - started:.1f} s)" if waits else ""
                    raise DatabaseLockedError(
                        f"{what} {path} is locked by {holder}{tried}. Wait for the other report run or writer to "
                        "finish, or close the notebook kernel that holds it; set ABNB_LOCK_TIMEOUT=<seconds> to "
                        "wait longer."
                    ) from error
                time.sleep(waits[attempt])
            except duckdb.Error as error:
                raise EngineError(f"cannot open {what} {path}: {str(error).strip().splitlines()[0]}") from error

    @staticmethod
    def _watermarks_ddl() -> exp.Expression:
        import sqlglot
        from sqlglot import exp

        # Fixed text, no values: parsed into a tree like every statement abnb runs.
        ddl = sqlglot.parse_one(
            f'CREATE TABLE IF NOT EXISTS "{STORE}"."main"."{WATERMARKS}" (experiment VARCHAR, fingerprint VARCHAR, '
            "database VARCHAR, as_of TIMESTAMP, built_at TIMESTAMP, refreshed_at TIMESTAMP)",
            read="duckdb",
        )
        assert isinstance(ddl, exp.Expression)
        return ddl

    def watermark(self, experiment: str) -> dict[str, Any] | None:
        """The watermark row of an experiment (``fingerprint``, ``database``, ``as_of``...), or ``None``."""
        from sqlglot import exp

        query = (
            exp.select("*")
            .from_(_table(WATERMARKS, catalog=STORE))
            .where(exp.EQ(this=exp.column("experiment"), expression=exp.Placeholder(this="experiment")))
        )
        records = self.connection.run(query, {"experiment": experiment}).records()
        return records[0] if records else None

    def has_units(self, experiment: str) -> bool:
        """Whether the store has the table of an experiment."""
        rows = self.connection.raw.execute(
            "SELECT 1 FROM information_schema.tables WHERE table_catalog = $c AND table_name = $t",
            {"c": STORE, "t": units_table(experiment)},
        ).fetchall()
        return bool(rows)

    def units(self, experiment: str) -> int:
        """Units stored for an experiment."""
        from sqlglot import exp

        query = exp.select(exp.Count(this=exp.Star())).from_(_table(units_table(experiment), catalog=STORE))
        return int(self.connection.run(query).rows[0][0])


def _exposure_window(spec: Experiment, *, has_start: bool, windowed: bool) -> exp.Select:
    """Exposure rows reduced per unit: first ts, smallest and largest arm, segments at the first exposure."""
    from sqlglot import exp

    source = spec.exposures
    assert source.ts is not None
    e = "e"
    where = exposure_filter(source, e, has_start=has_start)
    if windowed:
        where = exp.and_(where, exp.GTE(this=col(source.ts, e), expression=exp.Placeholder(this="from")))
    return (
        exp.select(
            alias(col(source.unit, e), "unit"),
            alias(exp.Min(this=col(source.ts, e)), "exposed_at"),
            alias(exp.Min(this=col(source.arm, e)), "arm_min"),
            alias(exp.Max(this=col(source.arm, e)), "arm_max"),
            *[alias(exp.ArgMin(this=col(s, e), expression=col(source.ts, e)), s) for s in spec.segments],
        )
        .from_(_aliased(_table(source.table), e))
        .where(where)
        .group_by(col(source.unit, e))
    )


def _single_arm(low: exp.Expression, high: exp.Expression) -> exp.Expression:
    from sqlglot import exp

    return exp.Case().when(exp.EQ(this=low, expression=high), low.copy())


def _double(expression: exp.Expression) -> exp.Expression:
    from sqlglot import exp

    return exp.Cast(this=expression, to=exp.DataType.build("DOUBLE"))


def _build_units(spec: Experiment, *, has_start: bool) -> exp.Expression:
    """``CREATE OR REPLACE TABLE`` of the store's units from all exposures before ``$as_of`` (metric columns NULL)."""
    from sqlglot import exp

    n = "n"
    selects: list[exp.Expression] = [
        col("unit", n),
        col("exposed_at", n),
        col("arm_min", n),
        col("arm_max", n),
        alias(_single_arm(col("arm_min", n), col("arm_max", n)), "arm"),
        *[col(s, n) for s in spec.segments],
        *[alias(_double(exp.Null()), c) for c in _value_columns(spec)],
    ]
    window = _exposure_window(spec, has_start=has_start, windowed=False)
    query = exp.select(*selects).from_(window.subquery(exp.to_identifier(n, quoted=True)))
    return exp.Create(this=_table(units_table(spec.name), catalog=STORE), kind="TABLE", replace=True, expression=query)


def _update_arms(spec: Experiment, *, has_start: bool) -> exp.Expression:
    """Known units with exposure rows in the window: widen their arm range; a second arm makes ``arm`` NULL.

    A segment stays as stored unless it is NULL (``ARG_MIN`` takes the earliest non-NULL value, which may come
    later than the first exposure).
    """
    from sqlglot import exp

    u, n = "u", "n"
    low = exp.Least(this=col("arm_min", u), expressions=[col("arm_min", n)], ignore_nulls=True)
    high = exp.Greatest(this=col("arm_max", u), expressions=[col("arm_max", n)], ignore_nulls=True)
    update = exp.Update(
        this=_aliased(_table(units_table(spec.name), catalog=STORE), u),
        expressions=[
            exp.EQ(this=col("arm_min"), expression=low),
            exp.EQ(this=col("arm_max"), expression=high),
            exp.EQ(this=col("arm"), expression=_single_arm(low.copy(), high.copy())),
            # ARG_MIN skips NULL segment values: a unit first seen without one takes its first non-NULL value.
            *[
                exp.EQ(this=col(s), expression=exp.Coalesce(this=col(s, u), expressions=[col(s, n)]))
                for s in spec.segments
            ],
        ],
        where=exp.Where(this=exp.EQ(this=col("unit", u), expression=col("unit", n))),
    )
    window = _exposure_window(spec, has_start=has_start, windowed=True)
    update.set("from_", exp.From(this=window.subquery(exp.to_identifier(n, quoted=True))))
    return update


def _insert_units(spec: Experiment, *, has_start: bool) -> exp.Expression:
    """Units first exposed in the window: insert them with their arm and segments (metric columns NULL)."""
    from sqlglot import exp

    n, u = "n", "u"
    table = units_table(spec.name)
    known = (
        exp.select(exp.Literal.number(1))
        .from_(_aliased(_table(table, catalog=STORE), u))
        .where(exp.EQ(this=col("unit", u), expression=col("unit", n)))
    )
    columns = ["unit", "exposed_at", "arm_min", "arm_max", "arm", *spec.segments]
    rows = (
        exp.select(
            col("unit", n),
            col("exposed_at", n),
            col("arm_min", n),
            col("arm_max", n),
            _single_arm(col("arm_min", n), col("arm_max", n)),
            *[col(s, n) for s in spec.segments],
        )
        .from_(_exposure_window(spec, has_start=has_start, windowed=True).subquery(exp.to_identifier(n, quoted=True)))
        .where(exp.Not(this=exp.Exists(this=known)))
    )
    target = exp.Schema(this=_table(table, catalog=STORE), expressions=[identifier(c, "column") for c in columns])
    return exp.Insert(this=target, expression=rows)


def _combine(metric: Metric, old: exp.Expression, new: exp.Expression) -> exp.Expression:
    """Merge a stored value with the window's: ``sum``/``count`` add, ``max``/``any`` keep the greatest (NULL = none).

    ``COALESCE(old + new, old, new)`` is the sum when both exist and whichever exists otherwise; ``GREATEST`` is
    built with ``ignore_nulls`` (DuckDB's own semantics: NULLs are skipped).
    """
    from sqlglot import exp

    if metric.aggregate in ("sum", "count"):
        return exp.Coalesce(this=exp.Add(this=old, expression=new), expressions=[old.copy(), new.copy()])
    return exp.Greatest(this=old, expressions=[new], ignore_nulls=True)


def _update_metric(spec: Experiment, index: int, metric: Metric, column: str, *, windowed: bool) -> exp.Expression:
    """Fold the metric rows of the window into ``column`` (and, for a covariate, fill ``x_<i>`` of new units).

    Windowed, the metric rows read are ``$scan_<i> ≤ ts < $as_of``, where ``$scan_<i>`` is the window start
    ``$from``, or ``$from`` minus ``covariate_days`` for a metric with a covariate (the lookback of the units first
    exposed in the window). A unit's value takes its rows with ``ts ≥ max(exposed_at, $from)``; its covariate is
    set only if it was first exposed in the window. Not windowed (a full build), every row before ``$as_of`` in
    the unit's windows counts, as in the event-level query.
    """
    from sqlglot import exp

    a, m, d, u = "a", "m", "d", "u"
    table = units_table(spec.name)
    value = exp.Cast(this=col("value", m), to=exp.DataType.build("DOUBLE"))
    ts, exposed_at = col("ts", m), col("exposed_at", a)
    window_start = exp.Placeholder(this="from")
    after: exp.Condition = exp.GTE(this=ts.copy(), expression=exposed_at.copy())
    if windowed:
        after = exp.and_(after, exp.GTE(this=ts.copy(), expression=window_start))
    selects: list[exp.Expression] = [col("unit", a), alias(_double(per_unit(metric, value, after)), "y")]
    covariate = column.startswith("y_") and metric.covariate_days is not None
    lower: exp.Expression = exposed_at.copy()
    if covariate:
        lookback = exp.ToDays(
            this=exp.Cast(this=exp.Placeholder(this=f"lookback_{index}"), to=exp.DataType.build("INT"))
        )
        lower = exp.Sub(this=exposed_at.copy(), expression=lookback)
        before: exp.Condition = exp.LT(this=ts.copy(), expression=exposed_at.copy())
        if windowed:
            before = exp.and_(before, exp.GTE(this=exposed_at.copy(), expression=window_start.copy()))
        selects.append(alias(_double(per_unit(metric, value.copy(), before)), "x"))
    bounds: list[exp.Expression] = [
        exp.LT(this=ts.copy(), expression=exp.Placeholder(this="as_of")),
        exp.GTE(this=ts.copy(), expression=lower),
    ]
    if windowed:  # a constant bound the engine can push into the scan (and prune old row groups with)
        bounds.insert(0, exp.GTE(this=ts.copy(), expression=exp.Placeholder(this=f"scan_{index}")))
    delta = (
        exp.select(*selects)
        .from_(_aliased(_table(table, catalog=STORE), a))
        .join(
            metric.query.subquery(exp.to_identifier(m, quoted=True)),
            on=exp.EQ(this=col("unit", m), expression=col("unit", a)),
        )
        .where(exp.and_(*bounds))
        .group_by(col("unit", a))
    )
    sets = [exp.EQ(this=col(column), expression=_combine(metric, col(column, u), col("y", d)))]
    if covariate:
        x_column = f"x_{index}"
        x_value: exp.Expression = col("x", d)
        if windowed:
            fresh = exp.GTE(this=col("exposed_at", u), expression=exp.Placeholder(this="from"))
            x_value = exp.Case().when(fresh, x_value).else_(col(x_column, u))
        sets.append(exp.EQ(this=col(x_column), expression=x_value))
    update = exp.Update(
        this=_aliased(_table(table, catalog=STORE), u),
        expressions=sets,
        where=exp.Where(this=exp.EQ(this=col("unit", u), expression=col("unit", d))),
    )
    update.set("from_", exp.From(this=delta.subquery(exp.to_identifier(d, quoted=True))))
    return update


def _set_watermark(experiment: str) -> tuple[exp.Expression, exp.Expression]:
    from sqlglot import exp

    delete = exp.Delete(
        this=_table(WATERMARKS, catalog=STORE),
        where=exp.Where(this=exp.EQ(this=exp.column("experiment"), expression=exp.Placeholder(this="experiment"))),
    )
    names = ("experiment", "fingerprint", "database", "as_of", "built_at", "refreshed_at", "source")
    insert = exp.Insert(
        this=exp.Schema(this=_table(WATERMARKS, catalog=STORE), expressions=[identifier(c, "column") for c in names]),
        expression=exp.Values(expressions=[exp.Tuple(expressions=[exp.Placeholder(this=c) for c in names])]),
    )
    return delete, insert


def _check_spec(spec: Experiment) -> None:
    if not isinstance(spec, Experiment):
        raise SpecError(f"expected an abnb.Experiment, got {type(spec).__name__}.")
    if spec.exposures.level != "event":
        raise SpecError(
            f"experiment {spec.name!r} already reads a unit-level table ({spec.exposures.table!r}): analyse it "
            "directly with spec.analyze(connection); the incremental store is for event-level exposures."
        )
    for metric in spec.metrics:  # the store keeps one value and one covariate per unit, uncapped, unwindowed
        keys = [key for key in ("cap", "cap_quantile", "window_hours") if getattr(metric, key) is not None]
        keys += [key for key in ("covariates", "covariate_columns") if getattr(metric, key)]
        if metric.kind == "ratio" and metric.covariate_days is not None:
            keys.append("covariate_days (ratio CUPED)")
        if keys:
            raise SpecError(
                f"metric {metric.name!r} of experiment {spec.name!r} uses {', '.join(f'`{k}`' for k in keys)}, which "
                "the incremental store does not support yet; run without --incremental (the analysis then reads the "
                "telemetry directly)."
            )
    units_table(spec.name)
    taken = set(_FIXED_COLUMNS) | set(_value_columns(spec))
    clash = [s for s in spec.segments if s.lower() in taken]
    if clash:
        raise SpecError(
            f"segment column(s) {', '.join(clash)} of experiment {spec.name!r} clash with the incremental store's "
            f"own columns ({', '.join(sorted(taken))}); expose them under another name through a view."
        )


def refresh(
    spec: Experiment,
    store: Store,
    *,
    database: str | os.PathLike[str] | None = None,
    as_of: date | datetime | str | None = None,
    full: bool = False,
) -> RefreshStats:
    """Bring the store's per-unit aggregates of ``spec`` up to ``as_of``, reading only data after the watermark.

    A full build (no watermark yet, a changed spec or telemetry database, or ``full=True``) runs the per-unit
    step of the event-level query once. Otherwise the window ``[watermark, as_of)`` is folded in (see the module
    docstring). Everything runs in one transaction: an error leaves the previous state and watermark.

    Args:
        spec: An event-level experiment spec.
        store: The :class:`Store`.
        database: The telemetry database file (default: :func:`abnb.engine.default_database`), attached read-only.
        as_of: Data cutoff as in :meth:`abnb.Experiment.analyze` (a date means "through that day").
        full: Rebuild from all history (after late data arrived, or to go back in time).

    Returns:
        :class:`RefreshStats` (also kept as ``store.last_refresh``).

    Raises:
        ParameterError: ``as_of`` is before the store's watermark (pass ``full=True`` to rebuild).
        SpecError: The spec is unit-level, or a segment column clashes with the store's columns.
        SchemaError: A telemetry table or column is missing, or a metric's SQL is malformed.
        DatabaseLockedError, DatabaseNotFoundError: The telemetry database cannot be opened read-only.
    """
    started = time.perf_counter()
    _check_spec(spec)
    cutoff, _ = resolve_as_of(as_of, spec.window(store.timezone)[1], timezone=store.timezone)
    path = Path(default_database() if database is None else database).resolve()
    store._confine(path)
    con = store.connection
    print_ = fingerprint(spec, str(path), store.timezone)
    mark = store.watermark(spec.name)
    reason = ""
    if full:
        reason = "full=True"
    elif mark is None:
        reason = "no watermark"
    elif mark["fingerprint"] != print_:
        reason = "spec or telemetry database changed"
    elif not store.has_units(spec.name):
        reason = "store table missing"
    before = _identity(path) if path.exists() else None  # a missing file: _attach says so
    store._attach(path, TELEMETRY, read_only=True)
    raw = con.raw
    try:
        raw.execute(f'USE "{TELEMETRY}"')
        identity = _identity(path)
        if identity != before:
            raise EngineError(
                f"telemetry database {path} was replaced while the incremental store opened it; run again."
            )
        if not reason and mark is not None:
            reason = _source_changed(mark, identity)
        stats = _refresh_attached(spec, store, path, cutoff, mark, reason, print_, identity, started)
    finally:
        raw.execute(f'USE "{STORE}"')
        raw.execute(f'DETACH "{TELEMETRY}"')
    store.last_refresh = stats
    return stats


def _identity(path: Path) -> dict[str, int]:
    """Which file ``path`` is now: its device and inode (a database replaced by ``os.replace`` is another file)."""
    status = path.stat()
    return {"device": status.st_dev, "inode": status.st_ino}


def _source_changed(mark: Mapping[str, Any], identity: Mapping[str, int]) -> str:
    """Why the telemetry file is not the one the store was built from ("" if it is the same file).

    The store records the telemetry file's identity (device, inode). Another file at the same path (``abnb data
    generate``, most exports and ``mv``/``os.replace`` write a new file and rename it) means the stored per-unit
    values describe other data: the store is rebuilt from the new file, never mixed with it. Rows appended to or
    deleted from the same file (a daily load, a retention policy) keep the file and are what the store is for.
    A file copied over the old one in place (``cp new old`` keeps the inode) is not noticed: rebuild with
    ``full=True`` after that (docs/incremental.md).
    """
    try:
        source = json.loads(mark.get("source") or "null")
    except (TypeError, ValueError):
        source = None
    if not isinstance(source, dict):
        return "no fingerprint of the telemetry database (a store from an older abnb): rebuilt once"
    if {k: source.get(k) for k in identity} != dict(identity):
        return (
            f"telemetry database {mark.get('database')} was replaced by another file at the same path (device/inode "
            f"{source.get('device')}/{source.get('inode')} -> {identity['device']}/{identity['inode']}): rebuilt from "
            "the new file"
        )
    return ""


def _refresh_attached(
    spec: Experiment,
    store: Store,
    path: Path,
    cutoff: datetime,
    mark: Mapping[str, Any] | None,
    reason: str,
    print_: str,
    identity: Mapping[str, int],
    started: float,
) -> RefreshStats:
    """The rest of :func:`refresh`, with the telemetry attached as ``abnb_telemetry`` and in use."""
    if not reason and mark is not None and cutoff < mark["as_of"]:
        raise ParameterError(
            f"as_of {cutoff:%Y-%m-%d %H:%M} is before the watermark {mark['as_of']:%Y-%m-%d %H:%M} of experiment "
            f"{spec.name!r} in store {store.path}: the store cannot go back in time. Pass full=True to rebuild it "
            "as of that date, or analyse the telemetry directly with spec.analyze(connection, as_of=...)."
        )
    if not reason and mark is not None and cutoff == mark["as_of"]:
        return RefreshStats(spec.name, "current", "already at as_of", None, cutoff, 0, 0, store.units(spec.name), 0.0)
    window_start = None if reason or mark is None else mark["as_of"]
    start = spec.window(store.timezone)[0]
    params = _refresh_parameters(spec, cutoff, start, window_start)
    _check_telemetry(spec, store.connection)
    steps = _refresh_steps(spec, windowed=window_start is not None, has_start=start is not None)
    now = datetime.now().replace(microsecond=0)
    built_at = now if window_start is None else mark["built_at"] if mark is not None else now
    marks = {
        "fingerprint": print_,
        "database": str(path),
        "built_at": built_at,
        "refreshed_at": now,
        "source": json.dumps(dict(identity)),
    }
    statements = [(step, params) for step in steps]
    statements += [(step, {**params, **marks}) for step in _set_watermark(spec.name)]
    counts = _run_in_transaction(store.connection, statements)
    units = store.units(spec.name)
    added, reexposed = (units, 0) if window_start is None else (counts[1], counts[0])
    return RefreshStats(
        spec.name,
        "full" if window_start is None else "incremental",
        reason or "watermark",
        window_start,
        cutoff,
        added,
        reexposed,
        units,
        time.perf_counter() - started,
    )


def _refresh_parameters(
    spec: Experiment, cutoff: datetime, start: datetime | None, window_start: datetime | None
) -> dict[str, Any]:
    """The bound parameters of a refresh's statements (each statement takes those it uses, :func:`_bind`)."""
    params: dict[str, Any] = {"as_of": cutoff, "experiment": spec.name}
    if start is not None:
        params["start"] = start
    if window_start is not None:
        params["from"] = window_start
    for i, metric in enumerate(spec.metrics):
        if metric.covariate_days is not None:
            params[f"lookback_{i}"] = metric.covariate_days
        if window_start is not None:
            lookback = timedelta(days=metric.covariate_days or 0)
            params[f"scan_{i}"] = window_start - lookback
    return params


def _check_telemetry(spec: Experiment, con: Connection) -> None:
    """Check, without scanning data, the exposures table and the metrics' SQL a refresh reads."""
    from abnb.telemetry import check_table

    check_table(
        con.raw,
        spec.exposures.table,
        [*spec.exposures.columns, *spec.segments],
        fixes=exposure_fixes(spec.exposures, spec.metrics, spec.segments),
    )
    for metric in spec.metrics:
        check_metric(con, metric)
        if metric.denominator is not None:
            check_metric(con, metric.denominator)


def _refresh_steps(spec: Experiment, *, windowed: bool, has_start: bool) -> list[exp.Expression]:
    """The statements of a refresh: the units (built, or updated and extended), then every stored value."""
    if windowed:
        steps = [_update_arms(spec, has_start=has_start), _insert_units(spec, has_start=has_start)]
    else:
        steps = [_build_units(spec, has_start=has_start)]
    return steps + [_update_metric(spec, i, metric, column, windowed=windowed) for i, metric, column in _parts(spec)]


def _run_in_transaction(con: Connection, statements: Sequence[tuple[exp.Expression, Mapping[str, Any]]]) -> list[int]:
    """Run ``(statement, parameters)`` pairs in one transaction (an error rolls them all back): rows each changed."""
    raw = con.raw
    counts: list[int] = []
    raw.execute("BEGIN TRANSACTION")
    try:
        for statement, values in statements:
            result = con.run(statement, _bind(statement, values))
            counts.append(int(result.rows[0][0]) if result.rows and result.rows[0] else 0)
        raw.execute("COMMIT")
    except BaseException:
        raw.execute("ROLLBACK")
        raise
    return counts


def analyze(
    spec: Experiment,
    store: Store | str | os.PathLike[str] | None = None,
    *,
    database: str | os.PathLike[str] | None = None,
    as_of: date | datetime | str | None = None,
    full: bool = False,
    timezone: str | None = None,
) -> ExperimentResult:
    """Refresh the store up to ``as_of`` and analyse ``spec`` from it: the same result as ``spec.analyze``.

    The statistics come from one ``GROUP BY`` over the store table (a unit-level analysis); the result carries the
    original spec and metrics, so reports read it like :meth:`abnb.Experiment.analyze`'s.

    Args:
        spec: An event-level experiment spec.
        store: A :class:`Store`, or the path of its file (opened and closed here); ``None``:
            :func:`default_store` of ``database``.
        database: The telemetry database file (default: the embedded sample / ``$ABNB_DATABASE``).
        as_of: Data cutoff (a date means "through that day"; default the spec's ``end``).
        full: Rebuild the store from all history first.
        timezone: The zone of a store opened here (:class:`Store`); a given :class:`Store` has its own.

    Raises:
        The errors of :func:`refresh` and of :meth:`abnb.Experiment.analyze`.
    """
    if not isinstance(store, Store):
        telemetry = default_database() if database is None else database
        path = default_store(database) if store is None else store
        with Store(path, database=telemetry, timezone=timezone) as opened:
            return analyze(spec, opened, database=database, as_of=as_of, full=full)
    cutoff = refresh(spec, store, database=database, as_of=as_of, full=full).window_end  # the refresh's cutoff
    result = unit_spec(spec).analyze(store.connection, as_of=cutoff)
    originals = {m.name: m for m in spec.metrics}
    effects = tuple(replace(e, metric=originals[e.metric.name]) for e in result.effects)
    return replace(result, experiment=spec, effects=effects)
