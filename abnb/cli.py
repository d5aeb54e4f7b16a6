"""The ``abnb`` command: ``abnb demo``, ``data generate``, ``report``, ``run``, ``bench``, ``lab`` and more."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from abnb.errors import AbnbError

if TYPE_CHECKING:
    from collections.abc import Callable

    from abnb.report import RenderedReport


class _Failure(click.ClickException):
    """An :class:`AbnbError` shown as one line, exit status 1."""

    def format_message(self) -> str:
        return self.message


def _fail(error: AbnbError) -> _Failure:
    return _Failure(f"{type(error).__name__}: {error}")


def _valid_as_of(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """Check ``--as-of`` before anything runs: an ISO date or datetime within the calendar."""
    if value is None or value == "":
        return value
    from abnb.errors import ParameterError
    from abnb.experiment import resolve_as_of

    try:
        resolve_as_of(value, None)
    except ParameterError as error:
        raise _fail(ParameterError(f"--as-of: {error}")) from error
    return value


def _check_database(database: Path | None) -> None:
    """Refuse a missing DuckDB file before a notebook is started, with the command that creates it."""
    from abnb.engine import default_database
    from abnb.errors import DatabaseNotFoundError

    path = database if database is not None else default_database()
    if not path.exists():
        flag = f" --database {path}" if database is not None else ""
        raise _fail(
            DatabaseNotFoundError(
                f"database file {path} does not exist: generate it with `abnb data generate{flag}`, or point "
                "--database (or $ABNB_DATABASE) at an existing DuckDB file."
            )
        )


@click.group()
@click.version_option(package_name="abnb")
def main() -> None:
    """abnb: assess software and ML quality in production."""


@main.group()
def data() -> None:
    """Sample telemetry."""


@data.command("generate")
@click.option("--users", type=click.IntRange(min=100), default=200_000, show_default=True, help="Users to simulate.")
@click.option("--seed", type=int, default=20261001, show_default=True, help="Random seed (same seed, same data).")
@click.option(
    "--database",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="DuckDB file to write (default data/telemetry.duckdb or $ABNB_DATABASE).",
)
def data_generate(users: int, seed: int, database: Path | None) -> None:
    """Write deterministic synthetic telemetry with planted effects into a DuckDB file."""
    from abnb.engine import default_database
    from abnb.sample import generate

    try:
        summary = generate(database or default_database(), users=users, seed=seed)
    except AbnbError as error:
        raise _fail(error) from error
    click.echo(f"wrote {summary.path}: {summary.users:,} users in {summary.seconds:.1f} s")


@data.command("export")
@click.option(
    "--parquet",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Folder to write <table>.parquet files into (for Spark: abnb.connect('local[2]', parquet=FOLDER)).",
)
@click.option(
    "--database",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="DuckDB file to read (default data/telemetry.duckdb or $ABNB_DATABASE).",
)
@click.option("--table", "tables", multiple=True, help="Table to export (repeatable; default: every table).")
def data_export(directory: Path, database: Path | None, tables: tuple[str, ...]) -> None:
    """Export the telemetry tables of a DuckDB file to Parquet, one file per table."""
    from abnb.engine import export_parquet

    try:
        written = export_parquet(database, directory, list(tables) or None)
    except AbnbError as error:
        raise _fail(error) from error
    click.echo(f"wrote {len(written)} Parquet file(s) to {directory}: {', '.join(p.stem for p in written)}")


def _render(
    experiment: str,
    *,
    database: Path | None,
    output_dir: Path,
    as_of: str | None,
    engine: str = "duckdb",
    parquet: Path | None = None,
    incremental: bool = False,
) -> Path:
    from abnb.report import render

    store = None
    if incremental:
        from abnb.incremental import default_store

        store = default_store(database)
    return _published(
        render,
        experiment,
        database=database,
        output_dir=output_dir,
        as_of=as_of,
        engine=engine,
        parquet=parquet,
        store=store,
    )


def _published(render: Callable[..., RenderedReport], *args: Any, database: Path | None, **options: Any) -> Path:
    """Run a ``render*`` function of :mod:`abnb.report` as a command and return the HTML path.

    The DuckDB file is checked before a kernel starts, the scheduled lock timeout applies, and an ``AbnbError``
    becomes a one-line failure.
    """
    if options.get("engine", "duckdb") == "duckdb":
        _check_database(database)
    try:
        rendered = render(*args, database=database, lock_timeout=_lock_timeout(), **options)
    except AbnbError as error:
        raise _fail(error) from error
    return rendered.html


def _lock_timeout() -> float | None:
    """Scheduled commands wait up to 30 s for a DuckDB lock (with backoff) unless $ABNB_LOCK_TIMEOUT says else."""
    from abnb.engine import LOCK_TIMEOUT_ENV

    return None if os.environ.get(LOCK_TIMEOUT_ENV) else 30.0


_database = click.option(
    "--database",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="DuckDB file (default: the embedded sample or $ABNB_DATABASE).",
)
_output = click.option(
    "--output-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("reports"),
    show_default=True,
    help="Where reports are written.",
)
_as_of = click.option(
    "--as-of",
    default=None,
    callback=_valid_as_of,
    help="Data through this ISO date (default: the experiment's end).",
)


def _engine_options(command: Any) -> Any:
    """``--engine``, ``--parquet`` and ``--incremental`` of the experiment report commands."""
    options = [
        click.option(
            "--engine",
            default="duckdb",
            show_default=True,
            help="duckdb, or a Spark spec: spark, local[2], spark://host:7077, sc://host:15002 (docs/scale-out.md).",
        ),
        click.option(
            "--parquet",
            type=click.Path(file_okay=False, path_type=Path),
            default=None,
            help="With Spark: a directory of Parquet files (abnb data export) to register as tables.",
        ),
        click.option(
            "--incremental",
            is_flag=True,
            help="Keep per-unit aggregates in a store next to the database ($ABNB_STORE overrides) and read only "
            "the data added since the last run (docs/incremental.md).",
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


@main.command()
@click.argument("experiment")
@_database
@_output
@_as_of
@_engine_options
def report(
    experiment: str,
    database: Path | None,
    output_dir: Path,
    as_of: str | None,
    engine: str,
    parquet: Path | None,
    incremental: bool,
) -> None:
    """Render the report of EXPERIMENT (a name in experiments/ or a TOML path) and print its HTML path."""
    click.echo(
        _render(
            experiment,
            database=database,
            output_dir=output_dir,
            as_of=as_of,
            engine=engine,
            parquet=parquet,
            incremental=incremental,
        )
    )


@main.command()
@_database
@_output
@click.option(
    "--as-of", default=None, callback=_valid_as_of, help="Data through this ISO date (default: the last prediction)."
)
@click.option("--window", default="1 day", show_default=True, help="Window of the series, e.g. '6 hours'.")
@click.option("--model-version", default="", help="Release to focus the jumps and drift on (default: every one).")
def monitor(database: Path | None, output_dir: Path, as_of: str | None, window: str, model_version: str) -> None:
    """Render the model-monitoring dashboard into OUTPUT_DIR/monitoring/ and print its HTML path."""
    from abnb.report import render_monitoring

    click.echo(
        _published(
            render_monitoring,
            database=database,
            output_dir=output_dir,
            as_of=as_of,
            window=window,
            model_version=model_version,
        )
    )


@main.command()
@_database
@_output
@click.option(
    "--as-of", default=None, callback=_valid_as_of, help="Data through this ISO date (default: the last prediction)."
)
@click.option("--versions", default="v2,v3", show_default=True, help="Releases to replay, comma-separated.")
@click.option("--steps", default="1,5,25,50,100", show_default=True, help="Ramp steps in percent of traffic.")
@click.option("--step-hours", default="24", show_default=True, help="Hours per ramp step.")
def canary(
    database: Path | None, output_dir: Path, as_of: str | None, versions: str, steps: str, step_hours: str
) -> None:
    """Render the canary / blue-green report into OUTPUT_DIR/canary/ and print its HTML path."""
    from abnb.report import render_canary

    click.echo(
        _published(
            render_canary,
            database=database,
            output_dir=output_dir,
            as_of=as_of,
            versions=versions,
            steps=steps,
            step_hours=step_hours,
        )
    )


@main.command()
@_database
@_output
@_as_of
@_engine_options
def run(
    database: Path | None, output_dir: Path, as_of: str | None, engine: str, parquet: Path | None, incremental: bool
) -> None:
    """Render every active experiment in experiments/; the exit status is the number that failed."""
    from abnb.experiment import Experiment, iter_specs

    failed = 0
    for path in iter_specs():
        try:
            if Experiment.from_toml(path).status != "active":
                continue
            click.echo(
                _render(
                    str(path),
                    database=database,
                    output_dir=output_dir,
                    as_of=as_of,
                    engine=engine,
                    parquet=parquet,
                    incremental=incremental,
                )
            )
        except (AbnbError, click.ClickException) as error:
            failed += 1
            message = error.format_message() if isinstance(error, click.ClickException) else str(error)
            click.echo(f"{path.stem}: {message}", err=True)
    sys.exit(min(failed, 100))


@main.command()
@click.option("--users", type=click.IntRange(min=100), default=200_000, show_default=True)
@_output
def demo(users: int, output_dir: Path) -> None:
    """Generate the sample telemetry if missing and render the sample experiment report."""
    from abnb.engine import default_database
    from abnb.sample import generate

    database = default_database()
    if not database.exists():
        try:
            generate(database, users=users)
        except AbnbError as error:
            raise _fail(error) from error
    html = _render("checkout_redesign", database=database, output_dir=output_dir, as_of=None)
    click.echo(f"report: {html.resolve()}")


@main.group()
def teach() -> None:
    """Teaching notebooks."""


@teach.command("export")
@click.option(
    "--output-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("reports") / "teaching",
    show_default=True,
    help="Where the static HTML copies go.",
)
def teach_export(output_dir: Path) -> None:
    """Execute every teaching notebook and write a static, offline HTML copy (widgets as their last state)."""
    from abnb.report import export_teaching

    try:
        for path in export_teaching(output_dir):
            click.echo(path)
    except AbnbError as error:
        raise _fail(error) from error


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
def bench(
    users: int,
    repeat: int,
    as_json: bool,
    methods: tuple[str, ...],
    events: bool,
    events_per_user: int,
    data_dir: Path | None,
) -> None:
    """Time one analysis against the floor query, naive pandas/scipy and tea-tasting at one data size."""
    import json

    from abnb.bench import format_table, run

    def log(line: str) -> None:
        click.echo(line, err=True)

    try:
        result = run(
            users,
            repeat=repeat,
            methods=methods or None,
            events=events,
            events_per_user=events_per_user,
            data_dir=data_dir,
            log=log,
        )
    except AbnbError as error:
        raise _fail(error) from error
    click.echo(format_table(result))
    if as_json:
        click.echo(json.dumps(result))


@main.command()
def lab() -> None:
    """Open JupyterLab on notebooks/."""
    notebooks = Path(__file__).resolve().parents[1] / "notebooks"
    os.execvp(sys.executable, [sys.executable, "-m", "jupyter", "lab", str(notebooks)])
