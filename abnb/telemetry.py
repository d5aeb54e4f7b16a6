"""The model-telemetry schema: :class:`ModelTelemetry` and the descriptions of its tables (:class:`Predictions` ...).

:class:`ModelTelemetry` names a team's model-telemetry tables (predictions, labels, ops, releases ...) and the
columns abnb reads in them; monitoring, the quality estimators, rollouts and chaos take it as ``schema=``. Its
defaults are the sample's names; ``[model]`` of ``abnb.toml`` overrides them.

The sample's own tables and types live with the sample generators (:mod:`abnb.datasets.schemas`); nothing here
assumes them. :func:`check_table` (does a table have the columns an analysis reads) and :func:`import_table`
(``abnb data import``) are the engine's (:mod:`abnb.engine.tables`), and importable from here too.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any, ClassVar, cast

from abnb.engine.connection import as_connection
from abnb.engine.names import identifier, table_expr, validate_identifier, validate_table_name
from abnb.engine.tables import check_table, import_table
from abnb.errors import AbnbError, ParameterError, SchemaError, SpecError

if TYPE_CHECKING:
    from sqlglot import exp

    from abnb.engine.base import BaseConnection

__all__ = [
    "Corrections",
    "Edits",
    "Fares",
    "Labels",
    "ModelTelemetry",
    "Ops",
    "Predictions",
    "Ratings",
    "Releases",
    "Shadow",
    "Truth",
    "check_table",
    "import_table",
]


class _ModelTable:
    """What every model-telemetry table description shares: its TOML key, validation and SQLGlot builders.

    Subclasses are frozen dataclasses whose first field is ``table`` (the table name, optionally qualified) and whose
    other fields map a column the library reads to the name it has in the team's table.
    """

    key: ClassVar[str] = ""
    """The table's key under ``[model]`` (``predictions`` for ``[model.predictions]``)."""
    table: str

    def __post_init__(self) -> None:
        validate_table_name(self.table, f"[model.{self.key}] table")
        for name, column in self.columns().items():
            validate_identifier(column, f"[model.{self.key}] {name}")

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        """The keys a ``[model.<table>]`` TOML table accepts: ``table`` and the column fields, in order."""
        return tuple(f.name for f in fields(cls))  # type: ignore[arg-type]

    def columns(self) -> dict[str, str]:
        """The column fields mapped to the team's column names (every field but ``table``), in order."""
        return {name: getattr(self, name) for name in self.field_names() if name != "table"}

    def expr(self, alias: str | None = None) -> exp.Table:
        """The table as a SQLGlot table, every part of a qualified name quoted, optionally aliased."""
        return table_expr(self.table, f"[model.{self.key}] table", alias=alias)

    def column(self, name: str, table: str | None = None) -> exp.Column:
        """The team's column for the field ``name`` as a quoted SQLGlot column, qualified by ``table`` if given.

        Raises:
            ParameterError: ``name`` is not a column field of this table.
        """
        from sqlglot import exp

        names = self.columns()
        if name not in names:
            raise ParameterError(f"[model.{self.key}] has no column field {name!r}; fields: {', '.join(names)}.")
        return exp.Column(
            this=identifier(names[name], f"[model.{self.key}] {name}"),
            table=exp.to_identifier(table) if table else None,
        )

    def aliased(self, name: str, table: str | None = None) -> exp.Alias:
        """The column for field ``name``, renamed to the field's own name (``served_at AS "ts"``)."""
        from sqlglot import exp

        return exp.Alias(this=self.column(name, table), alias=exp.to_identifier(name, quoted=True))


@dataclass(frozen=True)
class Predictions(_ModelTable):
    """The served requests: one row per prediction (``[model.predictions]``).

    Attributes:
        table: Table name (``schema.table`` allowed).
        request_id: Request key, joined to labels, fares, ratings, corrections, edits, truth and shadow.
        unit: The user (or other randomization unit) of the request.
        ts: When the request was served.
        model_version: The model version that served it.
        segment: The population segment (language, market ...).
        score: The classifier's score, a probability of class 1.
        prediction: The classifier's 0/1 decision (NULL when the request failed).
        fare_predicted: The regression output (the sample's fare prediction).
        latency_ms: Serving latency in milliseconds.
        error: Whether the request failed.
    """

    key: ClassVar[str] = "predictions"
    table: str = "predictions"
    request_id: str = "request_id"
    unit: str = "unit"
    ts: str = "ts"
    model_version: str = "model_version"
    segment: str = "segment"
    score: str = "score"
    prediction: str = "prediction"
    fare_predicted: str = "fare_predicted"
    latency_ms: str = "latency_ms"
    error: str = "error"


@dataclass(frozen=True)
class Labels(_ModelTable):
    """Manual labels of a sample of requests, with the sample's inclusion probabilities (``[model.labels]``).

    Attributes:
        table: Table name.
        request_id: The labelled request.
        ts: When the label arrived.
        label: The 0/1 label.
        inclusion_prob: The probability with which the request was sent for labelling.
    """

    key: ClassVar[str] = "labels"
    table: str = "labels"
    request_id: str = "request_id"
    ts: str = "ts"
    label: str = "label"
    inclusion_prob: str = "inclusion_prob"


@dataclass(frozen=True)
class Fares(_ModelTable):
    """Delayed regression truth: the actual value of a request, known later (``[model.fares]``).

    Attributes:
        table: Table name.
        request_id: The request.
        ts: When the actual value arrived.
        fare_actual: The actual value.
    """

    key: ClassVar[str] = "fares"
    table: str = "fares"
    request_id: str = "request_id"
    ts: str = "ts"
    fare_actual: str = "fare_actual"


@dataclass(frozen=True)
class Ratings(_ModelTable):
    """Star ratings users gave to a request's answer (``[model.ratings]``).

    Attributes:
        table: Table name.
        request_id: The rated request.
        rating: The rating level (1, 2, ...).
    """

    key: ClassVar[str] = "ratings"
    table: str = "ratings"
    request_id: str = "request_id"
    rating: str = "rating"


@dataclass(frozen=True)
class Corrections(_ModelTable):
    """User reports of a missed positive (false negative), one row per report (``[model.corrections]``).

    Attributes:
        table: Table name.
        request_id: The corrected request.
    """

    key: ClassVar[str] = "corrections"
    table: str = "corrections"
    request_id: str = "request_id"


@dataclass(frozen=True)
class Edits(_ModelTable):
    """User edits of an answer (the sample's transcripts), a weak proxy of errors (``[model.edits]``).

    Attributes:
        table: Table name.
        request_id: The edited request.
        edit_chars: Characters the user changed.
        transcript_chars: Length of the answer edited.
    """

    key: ClassVar[str] = "edits"
    table: str = "edits"
    request_id: str = "request_id"
    edit_chars: str = "edit_chars"
    transcript_chars: str = "transcript_chars"


@dataclass(frozen=True)
class Ops(_ModelTable):
    """Per-period serving summaries: traffic and errors (``[model.ops]``).

    Attributes:
        table: Table name.
        ts: Start of the period (e.g. a minute).
        requests: Requests served in the period.
        errors: Requests that failed in the period.
    """

    key: ClassVar[str] = "ops"
    table: str = "ops"
    ts: str = "ts"
    requests: str = "requests"
    errors: str = "errors"


@dataclass(frozen=True)
class Releases(_ModelTable):
    """Release markers: when a model version started serving (``[model.releases]``).

    Attributes:
        table: Table name.
        ts: Release time.
        model_version: The version released.
        description: What changed.
    """

    key: ClassVar[str] = "releases"
    table: str = "releases"
    ts: str = "ts"
    model_version: str = "model_version"
    description: str = "description"


@dataclass(frozen=True)
class Truth(_ModelTable):
    """The true label of every request (``[model.truth]``).

    Production rarely has it (the sample plants it for tests and chaos experiments); only the functions that need
    complete labels read it (:func:`abnb.chaos.load_clean_requests`, :func:`abnb.rollout.shadow.compare_shadow`).

    Attributes:
        table: Table name.
        request_id: The request.
        label: Its true 0/1 label.
    """

    key: ClassVar[str] = "truth"
    table: str = "truth"
    request_id: str = "request_id"
    label: str = "label"


@dataclass(frozen=True)
class Shadow(_ModelTable):
    """A candidate model's answers, computed in the shadow for the same requests, never served (``[model.shadow]``).

    Attributes:
        table: Table name.
        request_id: The request (joined to the predictions).
        ts: When the shadow scored it.
        score: The shadow model's score.
        prediction: The shadow model's 0/1 decision.
    """

    key: ClassVar[str] = "shadow"
    table: str = "shadow"
    request_id: str = "request_id"
    ts: str = "ts"
    score: str = "score"
    prediction: str = "prediction"


_MODEL_TABLES: dict[str, type[_ModelTable]] = {
    cls.key: cls for cls in (Predictions, Labels, Fares, Ratings, Corrections, Edits, Ops, Releases, Truth, Shadow)
}


@dataclass(frozen=True)
class ModelTelemetry:
    """The names of a team's model-telemetry tables and of the columns abnb reads in them.

    Monitoring (:mod:`abnb.monitor`), the quality estimators (:mod:`abnb.quality`), the canary, blue/green and shadow
    comparisons (:mod:`abnb.rollout`) and chaos experiments (:mod:`abnb.chaos`) take one as ``schema=``; the
    defaults are the sample's names. In a project, ``[model]`` of ``abnb.toml`` gives it
    (:meth:`abnb.project.Project.model_telemetry`)::

        [model.predictions]
        table = "inference_log"
        ts = "served_at"
        model_version = "release"
        [model.labels]
        table = "analytics.manual_labels"

    Names are validated when the object is made: tables are identifiers or qualified ``schema.table`` names,
    columns plain identifiers; SQL quotes every part.

    Attributes:
        predictions: The served requests.
        labels: The sampled manual labels.
        fares: The delayed regression truth.
        ratings: User ratings.
        corrections: User reports of missed positives.
        edits: User edits of the answers.
        ops: Per-period traffic and error counts.
        releases: Release markers.
        truth: The true label of every request (rare in production).
        shadow: A shadow model's answers.
    """

    predictions: Predictions = field(default_factory=Predictions)
    labels: Labels = field(default_factory=Labels)
    fares: Fares = field(default_factory=Fares)
    ratings: Ratings = field(default_factory=Ratings)
    corrections: Corrections = field(default_factory=Corrections)
    edits: Edits = field(default_factory=Edits)
    ops: Ops = field(default_factory=Ops)
    releases: Releases = field(default_factory=Releases)
    truth: Truth = field(default_factory=Truth)
    shadow: Shadow = field(default_factory=Shadow)

    def __post_init__(self) -> None:
        for key, cls in _MODEL_TABLES.items():
            value = getattr(self, key)
            if not isinstance(value, cls):
                raise ParameterError(
                    f"ModelTelemetry.{key} must be a {cls.__name__} (abnb.telemetry.{cls.__name__}), got {value!r}."
                )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, source: str = "[model]") -> ModelTelemetry:
        """Read the names from a ``[model]`` TOML table (one sub-table per model table); missing keys keep defaults.

        Args:
            data: ``{"predictions": {"table": "inference_log", "ts": "served_at"}, "labels": {...}, ...}``.
            source: Where the table comes from, for error messages (e.g. ``"abnb.toml [model]"``).

        Returns:
            The names, the sample's wherever ``data`` says nothing.

        Raises:
            SpecError: An unknown table or key, a value that is not a string, or a name that is not a valid
                identifier (tables: ``table`` or ``schema.table``).
        """
        if not isinstance(data, Mapping):
            raise SpecError(f"{source} must be a table of model tables, got {type(data).__name__} {data!r}.")
        parts: dict[str, _ModelTable] = {}
        for key, values in data.items():
            if key not in _MODEL_TABLES:
                raise SpecError(f"{source}: unknown model table {key!r}; allowed: {', '.join(_MODEL_TABLES)}.")
            table_cls = _MODEL_TABLES[key]
            allowed = table_cls.field_names()
            if not isinstance(values, Mapping):
                raise SpecError(
                    f"{source}: {key} must be a table ([model.{key}]) with keys among {', '.join(allowed)}, "
                    f"got {type(values).__name__} {values!r}."
                )
            for name, value in values.items():
                if name not in allowed:
                    raise SpecError(
                        f"{source}: unknown key {name!r} in [model.{key}]; allowed keys: {', '.join(allowed)}."
                    )
                what = f"{source}: [model.{key}] {name}"
                if not isinstance(value, str):
                    raise SpecError(f"{what} must be a string (a table or column name), got {value!r}.")
                if name == "table":
                    validate_table_name(value, what)
                else:
                    validate_identifier(value, what)
            parts[key] = table_cls(**dict(values))
        return cls(**parts)  # type: ignore[arg-type]

    def to_dict(self) -> dict[str, dict[str, str]]:
        """Every table's names as plain strings (JSON and TOML safe); :meth:`from_dict` reads it back."""
        return {
            key: {name: getattr(getattr(self, key), name) for name in cls.field_names()}
            for key, cls in _MODEL_TABLES.items()
        }

    def table(self, key: str) -> _ModelTable:
        """The description of one model table by its ``[model]`` key (``"predictions"``, ``"labels"`` ...).

        Raises:
            ParameterError: ``key`` is not a model table.
        """
        if key not in _MODEL_TABLES:
            raise ParameterError(f"unknown model table {key!r}; known: {', '.join(_MODEL_TABLES)}.")
        return cast("_ModelTable", getattr(self, key))

    def explain(self, connection: BaseConnection | Any, keys: Iterable[str], error: BaseException) -> SchemaError:
        """A :class:`SchemaError` saying which model table or column of ``keys`` is missing and which key names it.

        Called after a query over the model tables failed with ``error``: each table named by ``keys`` is looked up
        (schema only). A missing table is reported with the ``[model.<key>] table`` setting that names it; a missing
        column (one the engine's message mentions) with its ``[model.<key>] <field>`` setting. When every table and
        column is present, ``error`` itself is returned (as a :class:`SchemaError`).

        Args:
            connection: The connection the query ran on.
            keys: The ``[model]`` keys of the tables the query read.
            error: The engine's error.

        Returns:
            The error to raise.
        """
        message = str(error)
        if "[model." in message:  # explained already, by an inner call
            return error if isinstance(error, SchemaError) else SchemaError(message)
        con = as_connection(connection)
        fix = "or pass schema=abnb.telemetry.ModelTelemetry(...) naming your tables"
        wanted = [self.table(key) for key in dict.fromkeys(keys)]
        found: dict[str, dict[str, str]] = {}
        for spec in wanted:
            try:
                columns = con.columns(spec.table)
                existing = con.tables() if columns is None else []
            except AbnbError:  # the lookup failed too: the engine's own message is all there is
                return error if isinstance(error, SchemaError) else SchemaError(message)
            if columns is None:
                return SchemaError(
                    f"model table {spec.table!r} ([model.{spec.key}] table) does not exist (tables "
                    f"present: {', '.join(existing) if existing else 'none'}; looked in {con.database}); create it, "
                    f'or point abnb at your {spec.key} table with `[model.{spec.key}] table = "<table>"` in '
                    f"abnb.toml, {fix}."
                )
            found[spec.key] = columns
        for spec in wanted:
            present = {name.lower() for name in found[spec.key]}
            for name, column in spec.columns().items():
                if column.lower() in present:
                    continue
                if not re.search(rf"(?<![A-Za-z0-9_]){re.escape(column)}(?![A-Za-z0-9_])", message, re.IGNORECASE):
                    continue
                listing = ", ".join(f"{c} {t}" for c, t in found[spec.key].items())
                return SchemaError(
                    f"model table {spec.table!r} lacks column {column!r} ([model.{spec.key}] {name}; it "
                    f"has: {listing}; in {con.database}); point abnb at the column that holds it with "
                    f'`[model.{spec.key}] {name} = "<column>"` in abnb.toml, {fix}. Engine: {message}'
                )
        return error if isinstance(error, SchemaError) else SchemaError(message)

    def segment_values(self, connection: BaseConnection, *, limit: int = 20) -> tuple[str, ...]:
        """The values of the predictions' segment column, most requests first (at most ``limit``).

        What the canary and blue/green comparisons break precision down by when no segments are given.
        """
        from sqlglot import exp

        predictions = self.predictions
        segment = predictions.column("segment")
        query = (
            exp.select(segment)
            .from_(predictions.expr())
            .where(exp.Not(this=exp.Is(this=segment.copy(), expression=exp.Null())))
            .group_by(segment.copy())
            .order_by(exp.Ordered(this=exp.Count(this=exp.Star()), desc=True), segment.copy())
            .limit(limit)
        )
        with self.reading(connection, "predictions"):
            return tuple(str(row[0]) for row in connection.run(query).rows)

    def release_versions(self, connection: BaseConnection) -> tuple[str, ...]:
        """Every released model version, in the order of their first release marker."""
        from sqlglot import exp

        releases = self.releases
        version = releases.column("model_version")
        query = (
            exp.select(version)
            .from_(releases.expr())
            .group_by(version.copy())
            .order_by(exp.Min(this=releases.column("ts")), version.copy())
        )
        with self.reading(connection, "releases"):
            return tuple(str(row[0]) for row in connection.run(query).rows)

    def release_time(self, connection: BaseConnection, version: str) -> Any:
        """When ``version`` was released: the earliest release marker of it, or ``None`` without one."""
        from sqlglot import exp

        releases = self.releases
        query = (
            exp.select(exp.Min(this=releases.column("ts")))
            .from_(releases.expr())
            .where(exp.EQ(this=releases.column("model_version"), expression=exp.Placeholder(this="version")))
        )
        with self.reading(connection, "releases"):
            rows = connection.run(query, {"version": version}).rows
        return rows[0][0] if rows else None

    def serving_version(self, connection: BaseConnection, before: Any) -> str | None:
        """The model version of the last request served before ``before``, or ``None`` without one."""
        from sqlglot import exp

        predictions = self.predictions
        query = (
            exp.select(predictions.column("model_version"))
            .from_(predictions.expr())
            .where(exp.LT(this=predictions.column("ts"), expression=exp.Placeholder(this="before")))
            .order_by(exp.Ordered(this=predictions.column("ts"), desc=True))
            .limit(1)
        )
        with self.reading(connection, "predictions"):
            rows = connection.run(query, {"before": before}).rows
        return str(rows[0][0]) if rows and rows[0][0] is not None else None

    @contextmanager
    def reading(self, connection: BaseConnection | Any, *keys: str) -> Iterator[None]:
        """Run the block's queries over the model tables ``keys``; a :class:`SchemaError` is :meth:`explain`-ed.

        Args:
            connection: The connection the block queries.
            keys: The ``[model]`` keys of the tables the block reads.

        Raises:
            SchemaError: A table or column is missing; the message names the ``[model]`` setting to fix.
        """
        try:
            yield
        except SchemaError as error:
            explained = self.explain(connection, keys, error)
            if explained is error:
                raise
            raise explained from error
