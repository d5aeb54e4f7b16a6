"""The experiment report notebook's parameters: checked once, with the fix in every error.

The notebook calls :func:`validate_parameters` on the line after its ``parameters`` cell, with its namespace so that a
misspelt papermill parameter is an error; :func:`abnb.report.render` calls it too, before any kernel starts. The
:class:`ReportParameters` it returns opens the engine, finds the project and analyses the spec for the notebook.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from abnb._parameters import string_parameters
from abnb.engine import BaseConnection, Snapshot, is_spark_spec
from abnb.errors import ParameterError
from abnb.experiment import Experiment, load, resolve_as_of
from abnb.project import Project, find_project

if TYPE_CHECKING:
    from abnb.experiment import ExperimentResult

REPORT_PARAMETERS = (
    "experiment",
    "spec_json",
    "database",
    "as_of",
    "summary_path",
    "engine",
    "parquet",
    "store",
    "project",
)


@dataclass
class _Resolved:
    """What one render resolves once and reuses: its project (``abnb.toml`` is read once) and its snapshot."""

    project: Project | None = None
    snapshot: Snapshot | None = None


@dataclass(frozen=True)
class ReportParameters:
    """The validated parameters of the experiment report notebook."""

    experiment: str
    spec_json: str
    database: str | None
    as_of: str | None
    summary_path: Path | None
    engine: str | None = None
    parquet: str | None = None
    store: str | None = None
    project: str | None = None
    _resolved: _Resolved = field(default_factory=_Resolved, compare=False, repr=False)

    def resolve_project(self) -> Project:
        """The project the report belongs to (``project``, else the current directory's), found once."""
        if self._resolved.project is None:
            self._resolved.project = find_project(self.project) if self.project else find_project()
        return self._resolved.project

    def analyze(self, spec: Experiment) -> ExperimentResult:
        """Analyse ``spec`` with one aggregate query in the engine, or from the incremental ``store``.

        With a store, a daily run reads only the data added since the previous one (:mod:`abnb.incremental`).
        """
        if self.store:
            from abnb import incremental

            snapshot = self.snapshot()
            before = snapshot.fingerprint()
            result = incremental.analyze(
                spec,
                self.store,
                database=self.database_path(),
                as_of=self.as_of,
                timezone=self.resolve_project().timezone,
            )
            snapshot.check(before, snapshot.fingerprint())
            return result
        with self.connect() as connection:
            return spec.analyze(connection, as_of=self.as_of)

    def data_files(self) -> list[str]:
        """Paths and globs of the local files the report reads.

        The DuckDB file and its WAL, the project's sources and ``parquet``; a Spark or SQL server's tables are not
        local files.
        """
        database = self.database_path() if not self.engine or self.engine == "duckdb" else None
        patterns = [database, f"{database}.wal"] if database else []
        patterns += [source.path for source in self.resolve_project().sources]
        if self.parquet:
            patterns.append(str(Path(self.parquet).expanduser() / "**" / "*.parquet"))
        return patterns

    def snapshot(self) -> Snapshot:
        """The render's :class:`abnb.engine.Snapshot`: every connection of one render reads the same files."""
        if self._resolved.snapshot is None:
            self._resolved.snapshot = Snapshot(self.data_files())
        return self._resolved.snapshot

    def database_path(self) -> str | None:
        """The DuckDB file the report reads (``database``, else the project's), ``None`` for other engines."""
        if self.database:
            return self.database
        database = self.resolve_project().database
        return None if database is None else str(database)

    def connect(self) -> BaseConnection:
        """Open the report's engine: the project's (or ``database``, ``engine``), with its sources and ``parquet``.

        Every connection of one render must read the same data: the first records the files' fingerprint, and a
        later one fails with a :class:`ReportError` if a file was replaced or written in between (W2 of the
        hostile cases: a database swapped after the analysis cell).
        """
        project = self.resolve_project()
        return self.snapshot().connect(lambda: project.connect(self.database, engine=self.engine, parquet=self.parquet))

    @property
    def engine_label(self) -> str:
        """Where the data are read from, for the report's header."""
        return self.resolve_project().engine_label(self.database, self.engine)

    def spec(self) -> Experiment:
        """The experiment to report on (from ``spec_json`` if given, else by name or path in the project)."""
        if self.spec_json:
            try:
                data = json.loads(self.spec_json)
            except json.JSONDecodeError as error:
                raise ParameterError(f"report parameter spec_json is not valid JSON: {error}.") from error
            return Experiment.from_dict(data, source="spec_json")
        return load(self.experiment, project=self.resolve_project())


def validate_parameters(**values: Any) -> ReportParameters:
    """Validate the report notebook's parameters (call it on the line after the ``parameters`` cell).

    Every parameter is a string; papermill's ``-p`` guesses types (``-p as_of 2026-10-14`` stays a string but
    ``-p experiment 007`` becomes the integer 7, ``-p x false`` the string "false"), so a non-string is refused
    with the fix: pass it with ``-r`` (raw string) or through ``abnb report``.

    The notebook also passes its kernel's namespace, ``namespace=globals()``: papermill only warns about a name
    the parameters cell does not declare (``-p asof 2026-10-10``) and would run with the default, so such a name
    in the namespace is refused as an unknown parameter (:func:`abnb._parameters.unknown_names` says which names
    count; a re-run of the cell in a live kernel is not checked).

    Raises:
        ParameterError: A parameter is unknown (given, or defined in ``namespace``), has the wrong type, or an
            invalid value.
    """
    string_parameters(values, set(REPORT_PARAMETERS), "report", " or use `abnb report`")
    text = {name: values.get(name) or None for name in REPORT_PARAMETERS}
    experiment, spec_json = values.get("experiment", ""), values.get("spec_json", "")
    _check_experiment(experiment, spec_json)
    if text["as_of"] is not None:
        resolve_as_of(text["as_of"], None)  # raises ParameterError for a malformed or out-of-range date
    _check_engine(text["engine"], store=text["store"], database=text["database"])
    project = text["project"]
    if project is not None and not Path(project).is_dir():
        raise ParameterError(f"report parameter project {project!r} is not a folder; give the project's root folder.")
    summary = text["summary_path"]
    return ReportParameters(
        experiment=experiment,
        spec_json=spec_json,
        database=text["database"],
        as_of=text["as_of"],
        summary_path=Path(summary) if summary else None,
        engine=text["engine"],
        parquet=text["parquet"],
        store=text["store"],
        project=project,
    )


def _check_experiment(experiment: str, spec_json: str) -> None:
    """Require a spec: ``spec_json``, a TOML path or the name of a spec in ``experiments/``."""
    if not experiment and not spec_json:
        raise ParameterError("report parameter experiment is empty: give an experiment name or a TOML path.")
    if experiment and not spec_json and not experiment.endswith(".toml"):
        from abnb.engine import validate_identifier
        from abnb.errors import SpecError

        try:
            validate_identifier(experiment, "report parameter experiment")
        except SpecError as error:
            raise ParameterError(
                f"{error} Give the name of a spec in experiments/ (e.g. checkout_redesign) or a path ending in .toml."
            ) from error


def _check_engine(engine: str | None, *, store: str | None, database: str | None) -> None:
    """Require a known engine; ``store`` and ``database`` are DuckDB files, so they go with DuckDB only."""
    from abnb.engine.postgres import has_password, is_postgres_url, redact

    if engine is not None and engine != "duckdb" and not (is_spark_spec(engine) or is_postgres_url(engine)):
        raise ParameterError(
            f"report parameter engine {engine!r} is not 'duckdb', a Spark spec ('spark', 'local[2]', "
            "'spark://host:7077', 'sc://host:15002') or a PostgreSQL URL ('postgresql://user@host:5432/db')."
        )
    if engine is not None and is_postgres_url(engine) and has_password(engine):
        raise ParameterError(
            f"report parameter engine {redact(engine)!r} holds a password; set PGPASSWORD or a ~/.pgpass line "
            "instead, so that it never reaches the report."
        )
    if store is not None and engine not in (None, "duckdb"):
        raise ParameterError(
            "report parameter store keeps per-unit aggregates in DuckDB next to a DuckDB database; "
            "leave it empty with a Spark or PostgreSQL engine (the incremental store is DuckDB's)."
        )
    if database is not None and engine not in (None, "duckdb"):
        raise ParameterError(
            f"report parameter database names a DuckDB file, but engine is {engine!r}; give one or the other."
        )
