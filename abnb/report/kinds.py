"""The three kinds of report, and their one render path.

A kind is the notebook that renders it, the check of that notebook's parameters and the report folder it is
published into. :func:`render` (an experiment), :func:`render_monitoring` and :func:`render_canary` each check their
own inputs before any kernel starts, then take the same path: execute and publish the notebook atomically into
``<output_dir>/<folder>/`` (:func:`abnb.report.publish.publish`), then rebuild the index.
"""

from __future__ import annotations

import importlib
import json
from datetime import date, datetime
from pathlib import Path
from typing import Any, NamedTuple

from abnb.errors import AbnbError, ParameterError, ReportError
from abnb.experiment import Experiment, load, resolve_as_of
from abnb.project import Project, find_project
from abnb.report.index import write_index
from abnb.report.publish import RenderedReport, publish


class _Kind(NamedTuple):
    """One kind of report."""

    kind: str  # its name in the published notebook's metadata ("experiment", "monitoring", "canary")
    notebook: str  # the notebook that renders it (the project's own, else abnb's: Project.notebook)
    validator: str  # "module:function" checking the notebook's parameters, imported when a render runs
    folder: str  # the report folder in the output folder; "{name}": the experiment's name
    title: str  # the HTML page's title, with {name} and {label}
    as_of_label: bool = False  # the notebook takes the report's day as as_of (not the requested cutoff)

    def validate(self, **values: Any) -> Any:
        """Check the notebook's parameters with the kind's validator and return what it returns."""
        module, _, name = self.validator.partition(":")
        return getattr(importlib.import_module(module), name)(**values)


_EXPERIMENT = _Kind(
    "experiment",
    "experiment_report",
    "abnb.report.parameters:validate_parameters",
    "{name}",
    "{name} — data through {label}",
)
_MONITORING = _Kind(
    "monitoring",
    "monitoring",
    "abnb.monitor:validate_monitoring_parameters",
    "monitoring",
    "Model monitoring — data through {label}",
)
_CANARY = _Kind(
    "canary",
    "canary_release",
    "abnb.rollout.canary:validate_canary_parameters",
    "canary",
    "Canary and blue/green releases — {label}",
    as_of_label=True,
)


class _Run(NamedTuple):
    """Where a render publishes, and how its kernel runs."""

    project: Project
    output_dir: Path
    kernel_name: str
    timeout: int
    lock_timeout: float | None

    @classmethod
    def of(
        cls,
        project: Project | str | Path | None,
        output_dir: str | Path | None,
        kernel_name: str,
        timeout: int,
        lock_timeout: float | None,
    ) -> _Run:
        """The run's project (or the current directory's) and output folder (default: the project's reports)."""
        where = project if isinstance(project, Project) else find_project(project)
        folder = Path(output_dir) if output_dir is not None else where.reports_dir
        return cls(where, folder, kernel_name, timeout, lock_timeout)

    def publish_and_index(self, kind: _Kind, label: date, parameters: dict[str, str], name: str = "") -> RenderedReport:
        """Execute ``kind``'s notebook with ``parameters``, publish it as ``<label>.*`` and refresh the index.

        The notebook runs with the project's root as its working directory. Its metadata records the page's title
        (``title``, escaped by the template) and, under ``abnb``, the kit's version, the report's kind and day, the
        template, the project and the validated parameters the kernel got (but the spec's JSON and the staging
        ``summary_path``; papermill's own ``metadata.papermill.parameters`` has them as given).
        """
        from abnb import __version__

        notebook = self.project.notebook(kind.notebook)
        provenance = {
            "title": kind.title.format(name=name, label=label),
            "abnb": {
                "version": __version__,
                "kind": kind.kind,
                "label": label.isoformat(),
                "template": str(notebook),
                "project": str(self.project.root),
                "project_file": str(self.project.file) if self.project.file else None,
                "parameters": {k: v for k, v in parameters.items() if k != "spec_json"},
            },
        }
        published = publish(
            notebook,
            self.output_dir / kind.folder.format(name=name),
            label.isoformat(),
            parameters,
            kernel_name=self.kernel_name,
            timeout=self.timeout,
            lock_timeout=self.lock_timeout,
            cwd=self.project.root,
            metadata=provenance,
        )
        write_index(self.output_dir)
        return published


def render(
    spec_or_name: str | Path | Experiment,
    *,
    database: str | Path | None = None,
    output_dir: str | Path | None = None,
    as_of: date | datetime | str | None = None,
    kernel_name: str = "python3",
    timeout: int = 600,
    engine: str | None = None,
    parquet: str | Path | None = None,
    store: str | Path | None = None,
    lock_timeout: float | None = None,
    project: Project | str | Path | None = None,
) -> RenderedReport:
    """Validate an experiment against its data, render its report and publish it atomically.

    Args:
        spec_or_name: Experiment name (the project's ``experiments/<name>.toml``), path to a TOML spec, or an
            ``Experiment``.
        database: DuckDB file instead of the project's ``[engine] database`` (``$ABNB_DATABASE`` overrides that).
        output_dir: Folder holding ``<experiment>/`` report folders and ``index.html`` (default: the project's
            ``reports/``).
        as_of: Data cutoff (a date means through that day). Default: the earlier of the experiment's end and the
            last day with data. A cutoff past the last day with data is refused (it names that day).
        kernel_name: Jupyter kernel that executes the notebook.
        timeout: Seconds a cell may run.
        engine: ``"duckdb"``, or a Spark spec (``"spark"``, ``"local[2]"``, ``"spark://host:7077"``,
            ``"sc://host:15002"``) to run the aggregation in Spark over its tables (docs/scale-out.md). Default:
            the project's ``[engine]``.
        parquet: A directory of Parquet files to expose as views (``abnb data export --parquet``), on either engine.
        store: An incremental store (a DuckDB file, :mod:`abnb.incremental`): the analysis updates its per-unit
            aggregates from the data added since its last run instead of rescanning all history.
        lock_timeout: Seconds to retry while another process holds a conflicting lock on the DuckDB database or
            the store (here and in the report kernel); ``None``: ``$ABNB_LOCK_TIMEOUT``, else 0. ``abnb report``
            and ``abnb run`` pass 30.
        project: The project (or its folder); default: the current directory's (``$ABNB_PROJECT``).

    Returns:
        Paths of ``reports/<experiment>/<as_of>.ipynb``, ``.html`` and ``summary.json``.

    Raises:
        SchemaError, SpecError, DataError: The validation found problems (all of them are listed), before any
            kernel starts.
        ReportError: Execution or export failed; the message names the failing cell. Nothing already published
            is touched. :class:`~abnb.errors.ReportLockedError` when another run is writing the same folder.
        DatabaseLockedError: A writer holds the database (after ``lock_timeout``); the message names it.
    """
    from abnb.validate import validate

    run = _Run.of(project, output_dir, kernel_name, timeout, lock_timeout)
    spec = spec_or_name if isinstance(spec_or_name, Experiment) else load(spec_or_name, project=run.project)
    parameters = {
        "experiment": spec.name,
        "spec_json": json.dumps(spec.to_dict()),  # the spec validated here is the one the kernel analyses
        "engine": engine or "",
        "database": str(Path(database).resolve()) if database is not None else "",
        "parquet": str(Path(parquet).resolve()) if parquet else "",
        "store": str(Path(store).resolve()) if store else "",
        "project": str(run.project.root),
    }
    checked = _EXPERIMENT.validate(**parameters)
    with run.project.connect(
        checked.database, engine=checked.engine, parquet=checked.parquet, lock_timeout=lock_timeout
    ) as con:
        validation = validate(spec, con, as_of=as_of).raise_for_problems()
    assert validation.as_of is not None  # a validation without problems resolved the cutoff
    assert validation.label is not None
    parameters["as_of"] = validation.as_of.isoformat()
    return run.publish_and_index(_EXPERIMENT, validation.label, parameters, name=spec.name)


def render_monitoring(
    *,
    database: str | Path | None = None,
    output_dir: str | Path | None = None,
    as_of: date | datetime | str | None = None,
    window: str = "",
    model_version: str = "",
    monitor_spec: str = "",
    kernel_name: str = "python3",
    timeout: int = 600,
    lock_timeout: float | None = None,
    project: Project | str | Path | None = None,
) -> RenderedReport:
    """Render the model-monitoring dashboard (the project's ``monitoring`` notebook) and publish it atomically.

    The same path as :func:`render`: papermill into a staging folder, offline HTML without code, a check that
    nothing loads from the network, then atomic renames into ``<output_dir>/monitoring/<as_of>.{ipynb,html}``,
    ``<as_of>.summary.json`` and ``summary.json``.

    Args:
        database: DuckDB file (default: the project's database / ``$ABNB_DATABASE``).
        output_dir: Folder holding the ``monitoring/`` report folder and ``index.html`` (default: the project's).
        as_of: Data cutoff (a date means through that day); default: the last prediction in the database.
        window: Dashboard window of abnb's default rules, e.g. ``"1 day"`` (the default) or ``"6 hours"``.
        model_version: Release to focus the release jumps and drift on; empty for every release.
        monitor_spec: A monitoring spec of the project's ``monitors/`` by name, or a ``.toml`` path; empty for
            abnb's default rules. Its rules, window and tuning replace the defaults (``window`` must stay empty),
            and the report is published into ``monitoring-<spec name>/`` (the default rules: ``monitoring/``).
        kernel_name: Jupyter kernel that executes the notebook.
        timeout: Seconds a cell may run.
        lock_timeout: Seconds to retry while a writer holds the database (as in :func:`render`).
        project: The project (or its folder); default: the current directory's.

    Returns:
        Paths of the published ``.ipynb``, ``.html`` and ``summary.json``.

    Raises:
        ParameterError: A parameter is malformed (checked before anything runs).
        SpecError: ``monitor_spec`` names no monitor of the project, or its file is invalid.
        ReportError: Execution or export failed, or the latest data day could not be read; the previous report
            is left in place.
    """
    from abnb.monitor import load_monitor, validate_monitoring_parameters
    from abnb.monitor.dashboard import report_name

    run = _Run.of(project, output_dir, kernel_name, timeout, lock_timeout)
    kind = _MONITORING
    if monitor_spec:
        validate_monitoring_parameters(window=window, monitor_spec=monitor_spec)
        spec = load_monitor(monitor_spec, project=run.project)  # a bad spec fails here, before anything runs
        if monitor_spec.endswith(".toml"):  # the kernel runs in the project's root, not in the caller's folder
            monitor_spec = str(Path(monitor_spec).resolve())
        kind = kind._replace(
            folder=report_name(spec.name), title=f"Model monitoring: {spec.name} — data through {{label}}"
        )
    values = {"window": window, "monitor_spec": monitor_spec, "as_of": as_of, "model_version": model_version}
    return _render_operations(kind, {**values, "database": database}, run)


def render_canary(
    *,
    database: str | Path | None = None,
    output_dir: str | Path | None = None,
    as_of: date | datetime | str | None = None,
    versions: str = "",
    steps: str = "1,5,25,50,100",
    step_hours: str = "24",
    kernel_name: str = "python3",
    timeout: int = 600,
    lock_timeout: float | None = None,
    project: Project | str | Path | None = None,
) -> RenderedReport:
    """Render the canary / blue-green report (the project's ``canary_release`` notebook) and publish it atomically.

    The same path as :func:`render_monitoring`: papermill into a staging folder, offline HTML without code, a
    check that nothing loads from the network, then atomic renames into
    ``<output_dir>/canary/<as_of>.{ipynb,html}``, ``<as_of>.summary.json`` and ``summary.json``.

    Args:
        database: DuckDB file (default: the project's database / ``$ABNB_DATABASE``).
        output_dir: Folder holding the ``canary/`` report folder and ``index.html`` (default: the project's).
        as_of: Report label (a date); default: the day of the last prediction in the database.
        versions: Releases to replay, comma-separated; empty: every release in the releases table.
        steps: Ramp steps in percent, comma-separated, ending at 100.
        step_hours: Hours each ramp step is judged.
        kernel_name: Jupyter kernel that executes the notebook.
        timeout: Seconds a cell may run.
        lock_timeout: Seconds to retry while a writer holds the database (as in :func:`render`).
        project: The project (or its folder); default: the current directory's.

    Returns:
        Paths of the published ``.ipynb``, ``.html`` and ``summary.json``.

    Raises:
        ParameterError: A parameter is malformed (checked before anything runs).
        ReportError: Execution or export failed; the previous report is left in place.
    """
    return _render_operations(
        _CANARY,
        {"versions": versions, "steps": steps, "step_hours": step_hours, "as_of": as_of, "database": database},
        _Run.of(project, output_dir, kernel_name, timeout, lock_timeout),
    )


def _render_operations(kind: _Kind, values: dict[str, Any], run: _Run) -> RenderedReport:
    """Render a report on the DuckDB database's model telemetry (monitoring, canary) and publish it.

    ``values`` are the notebook's parameters, in its order, with ``database`` and ``as_of`` as the caller gave them:
    the database becomes the project's when not given, ``as_of`` text. The parameters are checked before the
    database is read; the report is named after ``as_of``'s last day, else the day of the last prediction.
    """
    database, as_of = values["database"], values["as_of"]
    if database is None and run.project.database is None:
        raise ParameterError(
            f"project {run.project.name!r} has no DuckDB database ([engine] in {run.project.file}); the monitoring "
            "and canary reports read a DuckDB file: pass --database."
        )
    db = Path(database).resolve() if database is not None else run.project.database
    assert db is not None
    as_of_text = as_of.isoformat() if isinstance(as_of, date | datetime) else (as_of or "")
    parameters = {**values, "as_of": as_of_text, "database": str(db)}
    kind.validate(**parameters)
    if as_of_text:
        label = resolve_as_of(as_of_text, None, timezone=run.project.timezone)[1]
    else:
        label = _latest_day(run.project, db, run.lock_timeout)
    if kind.as_of_label:
        parameters["as_of"] = label.isoformat()
    return run.publish_and_index(kind, label, parameters)


def _latest_day(project: Project, database: Path, lock_timeout: float | None) -> date:
    """The day of the last prediction in ``database`` (the default label of a monitoring or canary report).

    The predictions table and its time column are the project's (``[model.predictions]`` of ``abnb.toml``).
    """
    from sqlglot import exp

    from abnb.engine import wall_clock

    try:
        telemetry = project.model_telemetry()
        predictions = telemetry.predictions
        with (
            project.connect(database, lock_timeout=lock_timeout) as connection,
            telemetry.reading(connection, "predictions"),
        ):
            query = exp.select(exp.Max(this=predictions.column("ts"))).from_(predictions.expr())
            last = connection.run(query).rows[0][0]
    except AbnbError as error:
        raise ReportError(f"the report could not be rendered: {error} The previous report is kept.") from error
    if last is None:
        raise ReportError(
            f"{database} has no rows in {predictions.table!r}; nothing to monitor. The previous report is kept."
        )
    day = wall_clock(last, project.timezone)
    assert day is not None
    return day.date()
