"""The ``abnb`` command: ``init``, ``demo``, ``validate``, ``report``, ``run``, ``data``, ``monitor``, ``lab`` ...

Every command acts on the project it is run in: the ``abnb.toml`` found from the current directory upward
(``--project DIR`` or ``$ABNB_PROJECT`` choose another; a folder without one is an implicit project with the
default folders and ``data/telemetry.duckdb``). Paths given on the command line are relative to the current
directory; paths in ``abnb.toml`` to the project's folder.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from abnb.errors import AbnbError

if TYPE_CHECKING:
    from collections.abc import Callable

    _F = TypeVar("_F", bound=Callable[..., Any])

    from abnb.project import Project
    from abnb.report import RenderedReport


class _Failure(click.ClickException):
    """An :class:`AbnbError` shown as one line, exit status 1."""

    def format_message(self) -> str:
        return self.message


def _fail(error: AbnbError) -> _Failure:
    return _Failure(f"{type(error).__name__}: {error}")


def _unexpected(error: BaseException, argv: list[str]) -> str:
    """One line for an exception that is not an :class:`AbnbError`, naming the command and its input.

    Bad input can still reach Python's limits (a file nested thousands of levels deep, a value too large for
    memory) or the operating system (a file that cannot be opened); the user gets what went wrong and where,
    not a traceback. ``$ABNB_DEBUG=1`` shows the traceback instead.
    """
    command = " ".join(["abnb", *argv]) if argv else "abnb"
    if isinstance(error, RecursionError):
        return (
            f"RecursionError: the input of `{command}` is nested too deeply to be read (a TOML, SQL or condition with "
            "thousands of levels); flatten it."
        )
    if isinstance(error, MemoryError):
        return (
            f"MemoryError: `{command}` ran out of memory on its input ({error or 'an allocation failed'}); make the "
            "input smaller (fewer rows, levels or repetitions) or give the process more memory."
        )
    if isinstance(error, OSError):
        where = f" {error.filename}" if error.filename else ""
        detail = error.strerror or str(error)
        return f"{type(error).__name__}: `{command}` could not use{where}: {detail}. Check that path and run again."
    text = str(error).strip().splitlines()[0] if str(error).strip() else ""
    return (
        f"internal error in `{command}`: {type(error).__name__}: {text}. This is a bug in abnb; set ABNB_DEBUG=1 "
        "for the traceback and report it."
    )


class _Main(click.Group):
    """The ``abnb`` group: any error a command lets escape ends as one line on stderr (exit status 1)."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        ctx.meta["abnb.argv"] = list(args)
        return super().parse_args(ctx, args)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except AbnbError as error:
            raise _fail(error) from error
        except Exception as error:
            if os.environ.get("ABNB_DEBUG"):
                raise
            raise _Failure(_unexpected(error, ctx.meta.get("abnb.argv", []))) from error


def _project() -> Project:
    from abnb.project import current_project

    return current_project()


def _valid_as_of(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """Check ``--as-of`` before anything runs: an ISO date or datetime (an offset is allowed) within the calendar."""
    if value is None or value == "":
        return value
    from abnb.errors import ParameterError
    from abnb.experiment import resolve_as_of

    try:
        resolve_as_of(value, None)
    except ParameterError as error:
        raise _fail(ParameterError(f"--as-of: {error}")) from error
    return value


def _database_option(help_text: str) -> Callable[[_F], _F]:
    """A ``--database PATH`` option (a DuckDB file) with its own help text."""
    return click.option("--database", type=click.Path(dir_okay=False, path_type=Path), default=None, help=help_text)


def _set_project(ctx: click.Context, param: click.Parameter, value: Path | None) -> Path | None:
    """``--project DIR``: every command (and every report kernel it starts) works in that project."""
    if value is not None:
        from abnb.project import PROJECT_ENV

        os.environ[PROJECT_ENV] = str(value.resolve())
    return value


@click.group(cls=_Main)
@click.version_option(package_name="abnb")
@click.option(
    "--project",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    expose_value=False,
    is_eager=True,
    callback=_set_project,
    help="The project folder (holding abnb.toml); default: found from the current directory upward, or $ABNB_PROJECT.",
)
def main() -> None:
    """abnb: assess software and ML quality in production."""


# --- projects ----------------------------------------------------------------------------------------------------


@main.command()
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option("--name", default=None, help="The project's name (default: the folder's name).")
def init(directory: Path, name: str | None) -> None:
    """Create a project in DIRECTORY: abnb.toml, experiments/, metrics/, notebooks/, reports/, data/."""
    from abnb.scaffold import init_project

    written = init_project(directory, name=name)
    for path in written:
        click.echo(f"wrote {path}")
    click.echo(f"next: cd {directory} && abnb demo   (the sample report), then point abnb.toml at your data")


@main.command()
@click.option("--users", type=click.IntRange(min=100), default=200_000, show_default=True)
@_database_option("Where the sample goes (default: the project's database).")
@click.option(
    "--output-dir", type=click.Path(file_okay=False, path_type=Path), default=None, help="Default: the project's."
)
def demo(users: int, database: Path | None, output_dir: Path | None) -> None:
    """Generate the sample telemetry if missing and render the sample experiment's report."""
    from abnb import datasets
    from abnb.datasets.sample import generate, is_sample

    project = _project()
    target = database if database is not None else project.database
    if target is None:
        raise _Failure(
            f"project {project.name!r} has no DuckDB database ([engine] in {project.file}); give the sample a file: "
            "abnb demo --database data/sample.duckdb"
        )
    if not target.exists():
        generate(target, users=users)
    try:
        html = _published(
            _render_experiment,
            datasets.experiment("checkout_redesign"),
            database=target,
            output_dir=output_dir,
            as_of=None,
        )
    except _Failure as failure:
        if is_sample(target):
            raise
        raise _Failure(
            f"{failure.message}\nabnb demo renders the sample experiment, and {target} is not the sample: run "
            "abnb demo --database data/sample.duckdb"
        ) from failure
    click.echo(f"report: {html.resolve()}")


@main.command()
def lab() -> None:
    """Open JupyterLab on the project's notebooks (needs the `lab` extra)."""
    import importlib.util

    if importlib.util.find_spec("jupyterlab") is None:
        raise _Failure(
            "JupyterLab is not installed: pip install 'abnb[lab]' (JupyterLab and jupytext), then run again."
        )
    project = _project()
    notebooks = project.path("notebooks")
    os.chdir(project.root)
    os.execvp(sys.executable, [sys.executable, "-m", "jupyter", "lab", str(notebooks)])


# --- data --------------------------------------------------------------------------------------------------------


@main.group()
def data() -> None:
    """Telemetry: generate the sample, import files, export to Parquet."""


_data_database = _database_option("DuckDB file (default: the project's database, or $ABNB_DATABASE).")


def _database_or_project(database: Path | None) -> Path:
    if database is not None:
        return database
    from abnb.engine import default_database

    return default_database()


@data.command("generate")
@click.option("--users", type=click.IntRange(min=100), default=200_000, show_default=True, help="Users to simulate.")
@click.option("--seed", type=int, default=20261001, show_default=True, help="Random seed (same seed, same data).")
@_data_database
def data_generate(users: int, seed: int, database: Path | None) -> None:
    """Write deterministic synthetic telemetry with planted effects into a DuckDB file."""
    from abnb.datasets.sample import generate

    requested = _database_or_project(database)
    summary = generate(requested, users=users, seed=seed)
    through = f" (through the symbolic link {requested})" if requested.is_symlink() else ""
    click.echo(f"wrote {summary.path}{through}: {summary.users:,} users in {summary.seconds:.1f} s")


@data.command("import")
@click.argument("files", nargs=-1, required=True)
@click.option("--table", required=True, help="The table to create (schema.table allowed).")
@click.option("--format", "fmt", type=click.Choice(["parquet", "csv", "json"]), default=None, help="Default: suffix.")
@click.option("--replace", is_flag=True, help="Replace the table if it exists (default: refuse).")
@_data_database
def data_import(files: tuple[str, ...], table: str, fmt: str | None, replace: bool, database: Path | None) -> None:
    """Load CSV, Parquet or JSON FILES (paths or globs) into a table of the project's DuckDB file, once."""
    from abnb.engine import import_table

    target = _database_or_project(database)
    rows = import_table(target, table, list(files), format=fmt, replace=replace, timezone=_project().timezone)
    click.echo(f"loaded {rows:,} rows into {table} of {target}")


@data.command("export")
@click.option(
    "--parquet",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Folder to write <table>.parquet files into (for Spark: abnb.connect('local[2]', parquet=FOLDER)).",
)
@_data_database
@click.option("--table", "tables", multiple=True, help="Table to export (repeatable; default: every table).")
def data_export(directory: Path, database: Path | None, tables: tuple[str, ...]) -> None:
    """Export the telemetry tables of a DuckDB file to Parquet, one file per table."""
    from abnb.engine import export_parquet

    written = export_parquet(_database_or_project(database), directory, list(tables) or None)
    click.echo(f"wrote {len(written)} Parquet file(s) to {directory}: {', '.join(p.stem for p in written)}")


# --- experiments -------------------------------------------------------------------------------------------------

_database = _database_option("DuckDB file instead of the project's (abnb.toml [engine] database, or $ABNB_DATABASE).")
_output = click.option(
    "--output-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where reports are written (default: the project's reports/).",
)
_as_of = click.option(
    "--as-of",
    default=None,
    callback=_valid_as_of,
    help="Data through this ISO date, or up to a datetime (default: the earlier of the end and the last data day).",
)

_cell_timeout = click.option(
    "--cell-timeout",
    "timeout",  # the keyword of the render* functions of abnb.report
    type=click.IntRange(min=1, max=86_400),
    default=600,
    show_default=True,
    help="Seconds one notebook cell may run before the report fails (a hanging query is stopped).",
)


def _options(*options: Callable[[_F], _F]) -> Callable[[_F], _F]:
    """One decorator for several click ``options``, listed in ``--help`` in the order given."""

    def decorate(command: _F) -> _F:
        for option in reversed(options):
            command = option(command)
        return command

    return decorate


_engine_options = _options(  # --engine, --parquet and --incremental of the experiment commands
    click.option(
        "--engine",
        default=None,
        help="duckdb, a Spark spec (spark, local[2], spark://host:7077, sc://host:15002) or a PostgreSQL URL "
        "(postgresql://user@host:5432/db; password in PGPASSWORD or ~/.pgpass); default: the project's "
        "(docs/engines.md).",
    ),
    click.option(
        "--parquet",
        type=click.Path(file_okay=False, path_type=Path),
        default=None,
        help="A folder of Parquet files (abnb data export) to expose as tables named after them.",
    ),
    click.option(
        "--incremental",
        is_flag=True,
        help="Keep per-unit aggregates in a store next to the DuckDB database ($ABNB_STORE overrides) and read "
        "only the data added since the last run (docs/incremental.md).",
    ),
)


def _report_options(as_of: Callable[[_F], _F], *options: Callable[[_F], _F]) -> Callable[[_F], _F]:
    """``--database``, ``--output-dir``, ``as_of``, the command's own ``options``, then ``--cell-timeout``.

    The options of a command that renders reports; it passes them on to :func:`_published` as they are.
    """
    return _options(_database, _output, as_of, *options, _cell_timeout)


def _render_experiment(spec: Any, **options: Any) -> RenderedReport:
    """:func:`abnb.report.render` with ``--incremental`` turned into the store beside the DuckDB database."""
    from abnb.report import render

    if options.pop("incremental", False):
        from abnb.errors import ParameterError
        from abnb.incremental import default_store

        if options.get("engine") not in (None, "duckdb") or (
            options.get("database") is None and _project().database is None
        ):
            raise ParameterError(
                "--incremental keeps its store beside a DuckDB database; it does not apply to this engine "
                "(give --database, or drop --incremental)."
            )
        options["store"] = default_store(options.get("database"))
    return render(spec, **options)


def _check_database(database: Path | None, *, engine: str | None = None, parquet: Path | None = None) -> None:
    """Refuse a missing DuckDB file before anything starts, with the commands that create one."""
    from abnb.errors import DatabaseNotFoundError

    project = _project()
    if engine not in (None, "duckdb") or (database is None and (project.url or parquet is not None)):
        return
    path = database if database is not None else project.database
    if path is None or path.exists():
        return
    flag = f" --database {path}" if database is not None else ""
    raise _fail(
        DatabaseNotFoundError(
            f"database file {path} does not exist: generate it with `abnb data generate{flag}` (the sample), load your "
            "files into it with `abnb data import`, or point --database (or $ABNB_DATABASE, or [engine] database in "
            "abnb.toml) at an existing DuckDB file."
        )
    )


def _published(render: Callable[..., RenderedReport], *args: Any, **options: Any) -> Path:
    """Run a ``render*`` function of :mod:`abnb.report` as a command and return the HTML path.

    A missing DuckDB file is refused first, the scheduled lock timeout applies, and an ``AbnbError`` becomes a
    one-line failure.
    """
    _check_database(options.get("database"), engine=options.get("engine"), parquet=options.get("parquet"))
    try:
        rendered = render(*args, lock_timeout=_lock_timeout(), **options)
    except AbnbError as error:  # `run` and `demo` go on after a failed report: it must arrive as one line here
        raise _fail(error) from error
    return rendered.html


def _lock_timeout() -> float | None:
    """Scheduled commands wait up to 30 s for a DuckDB lock (with backoff) unless $ABNB_LOCK_TIMEOUT says else."""
    from abnb.engine import LOCK_TIMEOUT_ENV

    return None if os.environ.get(LOCK_TIMEOUT_ENV) else 30.0


@main.command()
@click.argument("experiment", required=False)
@click.option("--all", "every", is_flag=True, help="Validate every spec of the project's experiments folder.")
@_database
@_as_of
@click.option("--engine", default=None, help="duckdb or a Spark spec (default: the project's).")
@click.option("--parquet", type=click.Path(file_okay=False, path_type=Path), default=None, help="Parquet folder.")
def validate(
    experiment: str | None,
    every: bool,
    database: Path | None,
    as_of: str | None,
    engine: str | None,
    parquet: Path | None,
) -> None:
    """Check EXPERIMENT (a name or a TOML path), or --all specs, against the data; the exit status counts failures."""
    from abnb.validate import validate_all

    if every == (experiment is not None):
        raise _Failure("give one EXPERIMENT (a name or a .toml path), or --all for every spec of the project.")
    project = _project()
    if every:
        paths = [str(p) for p in project.experiment_files()]
        if not paths:
            raise _Failure(f"project {project.name!r} has no experiment specs in {project.experiments_dir}.")
    else:
        assert experiment is not None
        paths = [experiment]
    from abnb.experiment import load

    specs: list[tuple[str, Any]] = []
    for path in paths:
        try:
            specs.append((Path(path).stem, load(path, project=project)))
        except AbnbError as error:
            specs.append((Path(path).stem, error))
    with project.connect(database, engine=engine, parquet=parquet, lock_timeout=_lock_timeout()) as con:
        results = validate_all(specs, con, as_of=as_of)
    for result in results:
        click.echo(result.summary(), err=not result.ok)
    sys.exit(min(sum(not r.ok for r in results), 100))


@main.command()
@click.argument("experiment")
@_report_options(_as_of, _engine_options)
def report(experiment: str, **options: Any) -> None:
    """Validate and render the report of EXPERIMENT (a name in the project or a TOML path); print its HTML path."""
    click.echo(_published(_render_experiment, experiment, **options))


@main.command()
@_report_options(
    _as_of,
    _engine_options,
    click.option(
        "--experiments",
        type=click.Path(exists=True, file_okay=False, path_type=Path),
        default=None,
        help="Render the specs of this folder instead of the project's experiments folder.",
    ),
)
def run(experiments: Path | None, **options: Any) -> None:
    """Render every active experiment of the project (what cron calls); the exit status is the number that failed."""
    from abnb.experiment import iter_specs

    project = _project()
    paths = list(iter_specs(experiments)) if experiments is not None else project.experiment_files()
    if not paths:
        click.echo(f"no experiment specs in {experiments or project.experiments_dir}", err=True)
    loaded = _load_specs(project, paths)
    failed = 0
    for path, spec in loaded:
        try:
            if isinstance(spec, Exception):
                raise spec
            if spec.status == "active":
                _check_unique_name(spec, loaded)
                click.echo(_published(_render_experiment, spec, **options))
        except (AbnbError, click.ClickException) as error:
            failed += 1
            message = error.format_message() if isinstance(error, click.ClickException) else str(error)
            click.echo(f"{path.stem}: {message}", err=True)
        except (RecursionError, MemoryError, OSError) as error:
            failed += 1
            click.echo(f"{path.stem}: {_unexpected(error, ['run', str(path)])}", err=True)
    sys.exit(min(failed, 100))


def _load_specs(project: Project, paths: list[Path]) -> list[tuple[Path, Any]]:
    """Every spec of ``paths`` loaded first, or the error that loading it raised (the others still run)."""
    from abnb.experiment import load

    loaded: list[tuple[Path, Any]] = []
    for path in paths:
        try:
            loaded.append((path, load(path, project=project)))
        except AbnbError as error:
            loaded.append((path, error))
        except (RecursionError, MemoryError, OSError) as error:
            loaded.append((path, click.ClickException(_unexpected(error, ["run", str(path)]))))
    return loaded


def _check_unique_name(spec: Any, loaded: list[tuple[Path, Any]]) -> None:
    """Refuse ``spec`` if another loaded spec has its name, up to case: both would publish into one report folder.

    Report folders are per name, and a case-insensitive file system (macOS) would merge ``Ab`` and ``ab``.

    Raises:
        SpecError: naming the spec files that share the name.
    """
    from abnb.errors import SpecError

    same = [
        (path, other)
        for path, other in loaded
        if not isinstance(other, Exception) and other.name.casefold() == spec.name.casefold()
    ]
    if len(same) > 1:
        case = " or the same up to case" if len({other.name for _, other in same}) > 1 else ""
        raise SpecError(
            f"{len(same)} specs are named {spec.name!r}{case} ({', '.join(path.name for path, _ in same)}); they "
            "would publish into the same report folder, so none of them is rendered. Give each its own name."
        )


# --- operations reports ------------------------------------------------------------------------------------------


_model_as_of = click.option(
    "--as-of", default=None, callback=_valid_as_of, help="Data through this ISO date (default: the last prediction)."
)


@main.group(invoke_without_command=True)
@_report_options(
    _model_as_of,
    click.option("--window", default="", help="Window of the default rules' series, e.g. '6 hours' (default: 1 day)."),
    click.option("--model-version", default="", help="Release to focus the jumps and drift on (default: every one)."),
    click.option(
        "--spec",
        "monitor_spec",
        default="",
        help="A monitor of the project's monitors/ or a .toml path: its rules and window (default: abnb's rules).",
    ),
)
@click.pass_context
def monitor(context: click.Context, /, **options: Any) -> None:
    """Render the model-monitoring dashboard into the project's reports/monitoring/ and print its HTML path.

    Subcommands: `abnb monitor export` writes the Prometheus rules of a monitoring spec, with the promtool test
    that proves they fire as abnb's backtest does; `abnb monitor serve` serves the series they read on /metrics.
    """
    if context.invoked_subcommand is not None:
        return
    from abnb.report import render_monitoring

    click.echo(_published(render_monitoring, **options))


def _monitor_spec(name: str, project: Any) -> Any:
    """``--spec``: a monitor of the project's monitors/ or a .toml path; empty: abnb's default rules."""
    from abnb.monitor import MonitorSpec, load_monitor

    return load_monitor(name, project=project) if name else MonitorSpec.default()


_spec_option = click.option(
    "--spec",
    "spec_name",
    default="",
    help="A monitor of the project's monitors/ or a .toml path (default: abnb's default rules).",
)


@monitor.command("export")
@_spec_option
@click.option(
    "--output-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where the files go (default: the project's reports/monitoring/export/).",
)
@_database
@_model_as_of
def monitor_export(spec_name: str, output_dir: Path | None, database: Path | None, as_of: str | None) -> None:
    """Backtest a monitoring spec and write its Prometheus rules, their promtool test and a Grafana dashboard.

    Files: <monitor>.rules.yml (check with `promtool check rules`), <monitor>.rules.test.yml (`promtool test rules`:
    the exported rules fire at the same windows as abnb's replay of the history) and <monitor>.grafana.json.
    """
    from abnb import connect
    from abnb.monitor import backtest, write_export

    _check_database(database)
    project = _project()
    try:
        spec = _monitor_spec(spec_name, project)
        with connect(database, read_only=True) as con:
            bt = backtest(con, spec, as_of=as_of, schema=project.model_telemetry())
        rules, _, _ = write_export(spec, bt, output_dir or project.reports_dir / "monitoring" / "export")
    except AbnbError as error:
        raise _fail(error) from error
    for line in bt.to_frame().itertuples():
        click.echo(f"{line.rule} [{line.segment}]: {line.n_alerts} alert(s) in {line.n_windows} windows", err=True)
    click.echo(str(rules))


@monitor.command("serve")
@_spec_option
@_database
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind (0.0.0.0: every interface).")
@click.option("--port", type=click.IntRange(0, 65535), default=9464, show_default=True, help="TCP port.")
@click.option("--refresh-seconds", type=click.FloatRange(min=1.0), default=60.0, show_default=True)
@click.option("--replay-from", default=None, help="ISO datetime: replay the history from the window at/after it.")
@click.option("--step-seconds", type=click.FloatRange(min=0.01), default=1.0, show_default=True, help="Replay pace.")
def monitor_serve(
    spec_name: str,
    database: Path | None,
    host: str,
    port: int,
    refresh_seconds: float,
    replay_from: str | None,
    step_seconds: float,
) -> None:
    """Serve a monitoring spec's series for Prometheus at http://HOST:PORT/metrics until Ctrl-C.

    Every refresh backtests the spec on a read-only connection and serves the last window of each rule; scrapes read
    the cached values. --replay-from serves the history instead, one window per --step-seconds.
    """
    from abnb import connect
    from abnb.monitor import backtest
    from abnb.monitor.exporter import Exporter, ReplayExporter, replay_start, serve

    _check_database(database)
    project = _project()
    schema = project.model_telemetry()
    try:
        spec = _monitor_spec(spec_name, project)
        exporter: Exporter | ReplayExporter = Exporter(spec, lambda: connect(database, read_only=True), schema=schema)
        if replay_from:
            with connect(database, read_only=True) as con:
                bt = backtest(con, spec, schema=schema)
            exporter = ReplayExporter(spec, bt, start=replay_start(bt, replay_from), step_seconds=step_seconds)
    except AbnbError as error:
        raise _fail(error) from error
    serve(exporter, host=host, port=port, refresh_seconds=refresh_seconds)


@main.command()
@_report_options(
    _model_as_of,
    click.option("--versions", default="", help="Releases to replay, comma-separated (default: every release)."),
    click.option("--steps", default="1,5,25,50,100", show_default=True, help="Ramp steps in percent of traffic."),
    click.option("--step-hours", default="24", show_default=True, help="Hours per ramp step."),
)
def canary(**options: Any) -> None:
    """Render the canary / blue-green report into the project's reports/canary/ and print its HTML path."""
    from abnb.report import render_canary

    click.echo(_published(render_canary, **options))


# --- teaching and benchmarks -------------------------------------------------------------------------------------


@main.group()
def teach() -> None:
    """Teaching notebooks."""


_teaching_notebooks = click.option(
    "--notebooks",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="Folder of teaching notebooks (default: the project's notebooks/teaching).",
)


@teach.command("export")
@_teaching_notebooks
@click.option(
    "--output-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where the static HTML copies go (default: the project's reports/teaching).",
)
def teach_export(notebooks: Path | None, output_dir: Path | None) -> None:
    """Execute every teaching notebook and write a static, offline HTML copy (widgets as their last state)."""
    from abnb.report import export_teaching

    project = _project()
    for path in export_teaching(
        output_dir if output_dir is not None else project.reports_dir / "teaching",
        notebooks=notebooks if notebooks is not None else project.path("notebooks") / "teaching",
    ):
        click.echo(path)


@teach.command("build")
@_teaching_notebooks
@click.option(
    "--output-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="The nbgrader course folder (default: the project's reports/course).",
)
def teach_build(notebooks: Path | None, output_dir: Path | None) -> None:
    """Write the nbgrader course: student and instructor notebooks, one assignment per notebook; print the paths.

    The course folder gets nbgrader_config.py, source/<notebook>/<notebook>.ipynb (what `nbgrader
    generate_assignment <notebook>` reads), instructor/ and student/; run nbgrader's commands inside it.
    """
    from abnb.teach.build import build_course

    project = _project()
    try:
        course = build_course(
            notebooks if notebooks is not None else project.path("notebooks") / "teaching",
            output_dir if output_dir is not None else project.reports_dir / "course",
        )
    except AbnbError as error:
        raise _fail(error) from error
    click.echo(course.config)
    for path in (*course.instructor, *course.student):
        click.echo(path)


@main.command()
@click.option("--users", type=click.IntRange(min=100), required=True, help="Users (rows of the user-level table).")
@click.option("--repeat", type=click.IntRange(min=1), default=5, show_default=True, help="Timed runs per method.")
@click.option("--json", "as_json", is_flag=True, help="End stdout with one JSON line of the results.")
@click.option(
    "--methods",
    multiple=True,
    help="Methods to run, comma-separated or repeated: floor, floor_seg, abnb, naive, peer (default: all).",
)
@click.option("--events", is_flag=True, help="Benchmark the event-level set (exposures + events) instead.")
@click.option("--events-per-user", type=click.IntRange(min=1), default=5, show_default=True)
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Keep the generated DuckDB file here and reuse it (default: a temporary folder).",
)
@click.option(
    "--engine",
    default=None,
    help="A PostgreSQL URL: copy the users table there and time floor, floor_seg and abnb on the server.",
)
def bench(
    users: int,
    repeat: int,
    as_json: bool,
    methods: tuple[str, ...],
    events: bool,
    events_per_user: int,
    data_dir: Path | None,
    engine: str | None,
) -> None:
    """Time one analysis against the floor query, naive pandas/scipy and tea-tasting at one data size."""
    import json

    from abnb.bench import format_table, run

    def log(line: str) -> None:
        click.echo(line, err=True)

    result = run(
        users,
        repeat=repeat,
        methods=methods or None,
        events=events,
        events_per_user=events_per_user,
        data_dir=data_dir,
        log=log,
        engine=engine,
    )
    click.echo(format_table(result))
    if as_json:
        click.echo(json.dumps(result))
