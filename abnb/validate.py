"""Checking an experiment spec against the data before anything is rendered: ``abnb validate``.

:func:`validate` answers in about a second, without a kernel, whether an analysis of the spec can run and what it
would cover: the exposures table and its columns exist with usable types (a time ``ts``), the segment columns
exist, every metric's SQL parses and binds (it runs under ``LIMIT 0``) and returns ``unit``, a time ``ts`` and a
numeric ``value``, the spec's arms are the arms in the data, and ``as_of`` lies inside the data. It reads schemas
and one small aggregate per arm, never the telemetry rows. ``abnb report`` and ``abnb run`` validate first, so no
mistake waits for a notebook to fail.

Every problem names the database (or engine) it looked in, the table, column or spec key, and the fix; all the
problems of a spec are reported together.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, Literal

from abnb.errors import AbnbError, DataError, ParameterError, SchemaError, SpecError

if TYPE_CHECKING:
    from abnb.engine import BaseConnection
    from abnb.experiment import Experiment

__all__ = ["Problem", "Validation", "validate", "validate_all"]

Kind = Literal["schema", "spec", "data"]
_ERRORS: dict[str, type[AbnbError]] = {"schema": SchemaError, "spec": SpecError, "data": DataError}


@dataclass(frozen=True)
class Problem:
    """One thing that stops an analysis: ``kind`` (schema, spec or data) and a message naming the fix."""

    kind: Kind
    message: str


@dataclass(frozen=True)
class Validation:
    """What :func:`validate` found for one experiment.

    Attributes:
        experiment: The experiment's name.
        database: Where the data were looked up (a DuckDB file, ``Spark <master>``, ...).
        problems: Everything that stops the analysis (empty when it can run).
        as_of: The cutoff an analysis would use (the requested one, or the default), ``None`` if unknown.
        label: The day that names the report (the last day the cutoff covers).
        first_exposure: The experiment's first exposure time.
        last_data: The latest time in the exposures and the metrics' data.
        arms: Exposure rows per arm found in the data (units seen twice count twice).
        seconds: How long the checks took.
    """

    experiment: str
    database: str
    problems: tuple[Problem, ...] = ()
    as_of: datetime | None = None
    label: date | None = None
    first_exposure: datetime | None = None
    last_data: datetime | None = None
    arms: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """Whether the analysis can run."""
        return not self.problems

    def error(self) -> AbnbError:
        """One error listing every problem, of the class of the first one (``SchemaError``, ``SpecError`` ...)."""
        if not self.problems:
            raise ParameterError(f"experiment {self.experiment!r} validated without problems; there is no error.")
        cls = _ERRORS[self.problems[0].kind]
        if len(self.problems) == 1:
            return cls(f"experiment {self.experiment!r}: {self.problems[0].message}")
        listed = " ".join(f"({i}) {p.message}" for i, p in enumerate(self.problems, 1))
        return cls(f"experiment {self.experiment!r} has {len(self.problems)} problems: {listed}")

    def raise_for_problems(self) -> Validation:
        """Raise :meth:`error` if there is a problem; otherwise return the validation."""
        if self.problems:
            raise self.error()
        return self

    def summary(self) -> str:
        """One line: ok with what the analysis would cover, or the problems."""
        if self.problems:
            return f"{self.experiment}: {len(self.problems)} problem(s) in {self.database}:\n" + "\n".join(
                f"  - {p.message}" for p in self.problems
            )
        arms = ", ".join(f"{arm} {n:,}" for arm, n in self.arms.items())
        window = ""
        if self.first_exposure is not None and self.label is not None:
            window = f"; exposures from {self.first_exposure:%Y-%m-%d}, data through {self.label}"
        counted = arms or "not counted"
        return f"{self.experiment}: ok ({self.database}; exposure rows {counted}{window}; {self.seconds:.2f} s)"

    def __repr__(self) -> str:
        return f"Validation({self.summary()})"

    def _repr_html_(self) -> str:
        from html import escape

        if self.ok:
            return f"<p>✔ {escape(self.summary())}</p>"
        items = "".join(f"<li>{escape(p.message)}</li>" for p in self.problems)
        return f"<p>✘ <b>{escape(self.experiment)}</b> ({escape(self.database)}):</p><ul>{items}</ul>"


def validate(
    spec: Experiment,
    connection: BaseConnection | Any,
    *,
    as_of: date | datetime | str | None = None,
) -> Validation:
    """Check that ``spec`` can be analysed on ``connection`` at ``as_of``, reading schemas and a few aggregates.

    Args:
        spec: The experiment.
        connection: An abnb connection (DuckDB or Spark), a DuckDB connection or a ``SparkSession``.
        as_of: The requested cutoff (a date means through that day). An explicit cutoff past the last day with
            data, or at or before the first exposure or the spec's ``start``, is a problem. ``None``: the earlier
            of the spec's ``end`` and the end of the last day with data.

    Returns:
        A :class:`Validation`; :meth:`Validation.raise_for_problems` turns its problems into one error.
    """
    from abnb.aggregate import check_exposures, check_metric, data_extent
    from abnb.engine import as_connection
    from abnb.experiment import resolve_as_of

    started = time.perf_counter()
    con = as_connection(connection)
    problems: list[Problem] = []

    def record(error: AbnbError) -> None:
        kind: Kind = "schema" if isinstance(error, SchemaError) else "data" if isinstance(error, DataError) else "spec"
        problems.append(Problem(kind, str(error)))

    try:
        end = spec.window(con.timezone)[1]
        requested = None if as_of in (None, "") else resolve_as_of(as_of, end, timezone=con.timezone)
    except ParameterError as error:
        record(error)
        requested = None
    try:
        found = check_exposures(con, spec.exposures, spec.metrics, spec.segments)
    except AbnbError as error:
        record(error)
        return _done(spec, con, problems, started)
    unit_type = found.get(next((c for c in found if c.lower() == spec.exposures.unit.lower()), ""), "")
    if spec.exposures.level == "event":
        for metric in spec.metrics:
            for part in (metric, metric.denominator):
                if part is None:
                    continue
                try:
                    check_metric(con, part)
                    _check_unit_type(con, part, spec.exposures.table, unit_type)
                except AbnbError as error:
                    record(error)
    arms = _arms(con, spec, problems)
    experiment = spec.name if spec.exposures.experiment_column else None
    first = last = None
    if arms and not any(p.kind == "schema" for p in problems):
        try:
            first, last = data_extent(
                con, spec.exposures, spec.metrics, experiment=experiment, start=spec.window(con.timezone)[0]
            )
        except AbnbError as error:
            record(error)
    cutoff, label = _cutoff(spec, con, requested, first, last, problems)
    return _done(spec, con, problems, started, cutoff=cutoff, label=label, first=first, last=last, arms=arms)


def _done(
    spec: Experiment,
    con: BaseConnection,
    problems: list[Problem],
    started: float,
    *,
    cutoff: datetime | None = None,
    label: date | None = None,
    first: datetime | None = None,
    last: datetime | None = None,
    arms: dict[str, int] | None = None,
) -> Validation:
    return Validation(
        experiment=spec.name,
        database=con.database,
        problems=tuple(problems),
        as_of=cutoff,
        label=label,
        first_exposure=first,
        last_data=last,
        arms=arms or {},
        seconds=time.perf_counter() - started,
    )


def _check_unit_type(con: BaseConnection, metric: Any, table: str, unit_type: str) -> None:
    """Refuse a metric whose ``unit`` cannot be joined to the exposures' unit (text against numbers)."""
    metric_type = con.describe(metric.query).get("unit", "").upper()
    if not metric_type or not unit_type:
        return
    if _is_text(metric_type) != _is_text(unit_type.upper()):
        raise SchemaError(
            f"metric {metric.name!r} returns unit of type {metric_type}, but the exposures' unit column in {table!r} "
            f"is {unit_type.upper()} ({con.database}); the two are joined, so cast one to the other's type in the "
            "metric SQL (e.g. `CAST(user_id AS VARCHAR) AS unit`)."
        )


def _is_text(sql_type: str) -> bool:
    return sql_type.startswith(("VARCHAR", "STRING", "TEXT", "CHAR", "UUID"))


def _arms(con: BaseConnection, spec: Experiment, problems: list[Problem]) -> dict[str, int]:
    """Exposure rows per arm of the experiment (one ``GROUP BY``), and the problems of arms that do not match."""
    from sqlglot import exp

    from abnb.engine import identifier, table_expr

    source = spec.exposures
    arm = exp.Column(this=identifier(source.arm, "exposures arm column"))
    query = exp.select(arm, exp.Count(this=exp.Star())).from_(table_expr(source.table, "exposures table"))
    conditions: list[exp.Expression] = [exp.Not(this=exp.Is(this=arm.copy(), expression=exp.Null()))]
    params: dict[str, Any] = {}
    if source.experiment_column:
        column = exp.Column(this=identifier(source.experiment_column, "exposures experiment column"))
        conditions.append(exp.EQ(this=column, expression=exp.Placeholder(this="experiment")))
        params["experiment"] = spec.name
    start = spec.window(con.timezone)[0]
    if start is not None and source.ts is not None:
        ts = exp.Column(this=identifier(source.ts, "exposures ts column"))
        conditions.append(exp.GTE(this=ts, expression=exp.Placeholder(this="start")))
        params["start"] = start
    query = query.where(exp.and_(*conditions)).group_by(arm.copy()).order_by(arm.copy()).limit(1001)
    try:
        rows = con.run(query, params).rows
    except AbnbError as error:
        problems.append(Problem("schema" if isinstance(error, SchemaError) else "spec", str(error)))
        return {}
    found = {str(a): int(n) for a, n in rows}
    where = f"table {source.table!r} ({con.database})"
    if not found:
        since = f" from {start:%Y-%m-%d %H:%M}" if start is not None and source.ts is not None else ""
        of = f" with {source.experiment_column} = {spec.name!r}" if source.experiment_column else ""
        problems.append(
            Problem(
                "data",
                f"no exposures{of}{since} in {where}; "
                + (_experiments_hint(con, spec) if source.experiment_column else "the table is empty")
                + ". Check the spec's name, [exposures] and start.",
            )
        )
        return found
    missing = [a for a in spec.arms if a not in found]
    extra = [a for a in found if a not in spec.arms]
    listing = ", ".join(repr(a) for a in found)
    if missing:
        from abnb.experiment import arm_spelling_hint

        problems.append(
            Problem(
                "data",
                f"arm(s) {', '.join(repr(a) for a in missing)} of the spec have no exposures in {where}; arms found: "
                f"{listing}.{arm_spelling_hint(missing, found)} Spell `arms` exactly as logged (case, spaces and "
                "accents count).",
            )
        )
    if extra:
        problems.append(
            Problem(
                "data",
                f"{where} has exposures in arm(s) {', '.join(repr(a) for a in extra)} that the spec does not list "
                f"(spec arms: {', '.join(repr(a) for a in spec.arms)}); add them to `arms` or fix the logging.",
            )
        )
    return found


def _experiments_hint(con: BaseConnection, spec: Experiment) -> str:
    """Which experiments the exposures table does hold (at most 20), to spot a misspelt name."""
    from sqlglot import exp

    from abnb.engine import identifier, table_expr

    assert spec.exposures.experiment_column is not None
    column = exp.Column(this=identifier(spec.exposures.experiment_column, "exposures experiment column"))
    query = exp.select(column).distinct().from_(table_expr(spec.exposures.table, "exposures table"))
    try:
        names = [str(row[0]) for row in con.run(query.order_by(column.copy()).limit(20), {}).rows]
    except AbnbError:
        return "its experiments could not be listed"
    return f"experiments in it: {', '.join(repr(n) for n in names) or 'none'}"


def _cutoff(
    spec: Experiment,
    con: BaseConnection,
    requested: tuple[datetime, date] | None,
    first: datetime | None,
    last: datetime | None,
    problems: list[Problem],
) -> tuple[datetime | None, date | None]:
    """The cutoff an analysis would use, and the problems of a requested one outside the data."""
    from abnb.experiment import resolve_as_of

    start, end = spec.window(con.timezone)
    if requested is None:
        if first is None and spec.exposures.ts is not None:
            return None, None
        return resolve_as_of(None, end, timezone=con.timezone, last_day=None if last is None else last.date())
    cutoff, label = requested
    if start is not None and cutoff <= start:
        problems.append(
            Problem(
                "data",
                f"as_of {label} (cutoff {cutoff:%Y-%m-%d %H:%M}) is not after the experiment's start "
                f"{start:%Y-%m-%d %H:%M}: there is nothing to analyse yet. Choose a later as_of.",
            )
        )
    elif first is not None and cutoff <= first:
        problems.append(
            Problem(
                "data",
                f"as_of {label} (cutoff {cutoff:%Y-%m-%d %H:%M}) is before the first exposure "
                f"({first:%Y-%m-%d %H:%M}) in {spec.exposures.table!r} ({con.database}). Choose a later as_of.",
            )
        )
    if last is not None and label > last.date():
        problems.append(
            Problem(
                "data",
                f"as_of {label} is past the last day with data, {last.date()} (latest time {last:%Y-%m-%d %H:%M} in "
                f"{spec.exposures.table!r} and the metrics' tables, {con.database}); a report would claim data it "
                f"does not have. Choose an as_of up to {last.date()}, or leave it out (default: the earlier of the "
                "spec's end and the last data day).",
            )
        )
    return cutoff, label


def validate_all(
    specs: Sequence[tuple[str, Experiment | AbnbError]],
    connection: BaseConnection,
    *,
    as_of: date | datetime | str | None = None,
) -> list[Validation]:
    """Validate several specs on one connection; a spec that did not load is reported as its problem.

    Two specs with the same ``name`` would publish into the same report folder, so both are refused.

    Args:
        specs: ``(label, spec or the error that loading it raised)`` pairs, e.g. one per file.
        connection: The engine to check against.
        as_of: As in :func:`validate`, for every spec.
    """
    con_name = getattr(connection, "database", "the engine")
    names: dict[str, list[str]] = {}
    for label, spec in specs:
        if not isinstance(spec, AbnbError):
            names.setdefault(spec.name, []).append(label)
    results = []
    for label, spec in specs:
        if isinstance(spec, AbnbError):
            kind: Kind = "schema" if isinstance(spec, SchemaError) else "spec"
            results.append(Validation(label, con_name, (Problem(kind, str(spec)),)))
            continue
        result = validate(spec, connection, as_of=as_of)
        twins = names[spec.name]
        if len(twins) > 1:
            clash = Problem(
                "spec",
                f"{len(twins)} specs are named {spec.name!r} ({', '.join(twins)}); they would overwrite each other's "
                "reports. Give each experiment its own `name`.",
            )
            result = Validation(**{**result.__dict__, "problems": (*result.problems, clash)})
        results.append(result)
    return results
