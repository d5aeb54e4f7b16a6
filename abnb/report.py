"""Rendering experiment reports: papermill execution, offline HTML, summary.json, atomic publication.

``render("checkout_redesign")`` validates the spec against the data (:mod:`abnb.validate`, no kernel), then executes
the experiment report notebook (the project's own ``notebooks/experiment_report.ipynb`` if it has one, else abnb's,
``abnb/notebooks/``) with validated parameters into a private staging folder, exports HTML without code through
the ``abnb_offline`` nbconvert template (no script, stylesheet or font is loaded from the network; charts are
inline SVG), checks that, and only then moves the
``.ipynb``, ``.html`` and ``summary.json`` into ``reports/<experiment>/`` with atomic renames. A run that fails at
any step raises :class:`~abnb.errors.ReportError` naming the failing cell and leaves the previous report as it was.

One run at a time writes a report folder (``<folder>/.lock``, :func:`_report_lock`); the renames follow a
manifest committed in the staging folder, so a run killed half-way is completed or discarded by the next one
(:func:`_commit`, :func:`_recover`; docs/reliability.md, "How a report is published").
"""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple
from urllib.parse import quote

from abnb._display import MarkdownFormatter, escape_html, styled
from abnb.engine import BaseConnection, Snapshot, connect, is_spark_spec
from abnb.errors import AbnbError, ParameterError, ReportError, ReportLockedError
from abnb.experiment import Experiment, resolve_as_of
from abnb.project import SCHEMA_VERSION, Project, check_schema_version, find_project

if TYPE_CHECKING:
    import pandas as pd

    from abnb.experiment import DistributionComparison, ExperimentResult

__all__ = [
    "RenderedReport",
    "ReportParameters",
    "distributions_table",
    "export_notebook",
    "export_teaching",
    "external_resources",
    "headline",
    "note",
    "render",
    "render_canary",
    "render_monitoring",
    "styled_table",
    "validate_parameters",
    "write_index",
    "write_summary",
]

PACKAGE_DIR = Path(__file__).resolve().parent
TEMPLATE_DIR = PACKAGE_DIR / "templates"

_EXTERNAL = re.compile(
    r"""<(?:script|img|iframe|source|embed)\b[^>]*\bsrc\s*=\s*["']?\s*(?:https?:)?//[^"'\s>]+"""
    r"""|<link\b[^>]*\bhref\s*=\s*["']?\s*(?:https?:)?//[^"'\s>]+"""
    r"""|@import\s+(?:url\()?\s*["']?(?:https?:)?//[^"')\s]+"""
    r"""|url\(\s*["']?(?:https?:)?//[^"')\s]+""",
    re.IGNORECASE,
)


def external_resources(page: str) -> list[str]:
    """Every reference in an HTML page that a browser would fetch from the network.

    Scripts, images, frames and media with an absolute ``src``, stylesheets and icons with an absolute ``href``,
    CSS ``@import`` and ``url(...)``. Plain links (``<a href>``) and XML namespaces are not loads and are ignored.
    """
    return [m.group(0) for m in _EXTERNAL.finditer(page)]


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
    _snapshot: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def resolve_project(self) -> Project:
        """The project the report belongs to (``project``, else the current directory's)."""
        return find_project(self.project) if self.project else find_project()

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
        if "snapshot" not in self._snapshot:
            self._snapshot["snapshot"] = Snapshot(self.data_files())
        snapshot: Snapshot = self._snapshot["snapshot"]
        return snapshot

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
        return self.resolve_project().load_experiment(self.experiment)


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


def validate_parameters(**values: Any) -> ReportParameters:
    """Validate the report notebook's parameters (call it on the line after the ``parameters`` cell).

    Every parameter is a string; papermill's ``-p`` guesses types (``-p as_of 2026-10-14`` stays a string but
    ``-p experiment 007`` becomes the integer 7, ``-p x false`` the string "false"), so a non-string is refused
    with the fix: pass it with ``-r`` (raw string) or through ``abnb report``.

    Raises:
        ParameterError: A parameter is unknown, has the wrong type, or an invalid value.
    """
    allowed = set(REPORT_PARAMETERS)
    unknown = sorted(set(values) - allowed)
    if unknown:
        raise ParameterError(f"unknown report parameter(s) {', '.join(unknown)}; known: {', '.join(sorted(allowed))}.")
    for name, value in values.items():
        if not isinstance(value, str):
            raise ParameterError(
                f"report parameter {name} must be a string, got {type(value).__name__} {value!r}; "
                f"pass it as a raw string (papermill -r {name} VALUE) or use `abnb report`."
            )
    experiment = values.get("experiment", "")
    spec_json = values.get("spec_json", "")
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
    as_of = values.get("as_of") or None
    if as_of is not None:
        resolve_as_of(as_of, None)  # raises ParameterError for a malformed or out-of-range date
    summary = values.get("summary_path") or None
    engine = values.get("engine") or None
    if engine is not None and engine != "duckdb" and not is_spark_spec(engine):
        raise ParameterError(
            f"report parameter engine {engine!r} is not 'duckdb' or a Spark spec ('spark', 'local[2]', "
            "'spark://host:7077', 'sc://host:15002')."
        )
    store = values.get("store") or None
    if store is not None and engine not in (None, "duckdb"):
        raise ParameterError(
            "report parameter store keeps per-unit aggregates in DuckDB next to a DuckDB database; "
            "leave it empty with a Spark engine."
        )
    database = values.get("database") or None
    if database is not None and engine not in (None, "duckdb"):
        raise ParameterError(
            f"report parameter database names a DuckDB file, but engine is {engine!r}; give one or the other."
        )
    project = values.get("project") or None
    if project is not None and not Path(project).is_dir():
        raise ParameterError(f"report parameter project {project!r} is not a folder; give the project's root folder.")
    return ReportParameters(
        experiment=experiment,
        spec_json=spec_json,
        database=database,
        as_of=as_of,
        summary_path=Path(summary) if summary else None,
        engine=engine,
        parquet=values.get("parquet") or None,
        store=store,
        project=project,
    )


def headline(result: ExperimentResult, *, engine: str = "") -> Any:
    """The report's top: the experiment's name and description, the decision, and a red SRM warning.

    Args:
        result: The analysis.
        engine: Where the data were read (a DuckDB file, ``Spark local[2]``), shown under the title.
    """
    from IPython.display import HTML

    decision = result.decision
    colour = {"ship": "#1b7837", "harm": "#b2182b", "invalid": "#b00020", "continue": "#555555"}[decision.verdict]
    spec = result.experiment
    window = f"{spec.start:%Y-%m-%d}" if spec.start else "first exposure"
    planned = f", planned end {spec.end:%Y-%m-%d}" if spec.end else ""
    source = f"; data from {escape_html(engine)}" if engine else ""
    parts = [
        f"<h1>{escape_html(spec.name)}</h1>",
        f"<p>{escape_html(spec.description)}</p>" if spec.description else "",
        f"<p>Arms {escape_html(', '.join(spec.arms))} (control {escape_html(spec.control)}); from {window}"
        f"{planned}; data through {result.label}{source}.</p>",
    ]
    if result.srm_detected:
        counts = ", ".join(f"{arm}: {n:,}" for arm, n in result.units.items())
        parts.append(
            '<div style="background:#b00020;color:#fff;padding:12px;font-size:1.1em">'
            f"<b>Sample ratio mismatch</b> (χ² p = {result.srm.pvalue:.2g}; units {escape_html(counts)}). "
            "The assignment or the logging is broken: no winner is called until the cause is found.</div>"
        )
    parts.append(
        f'<div style="border-left:6px solid {colour};padding:8px 12px;margin:8px 0">'
        f"<b>Decision: {escape_html(decision.verdict)}</b> — {escape_html(decision.reason)}<br>"
        f"Data through {result.label}; {sum(result.units.values()):,} units; α = {result.experiment.alpha}.</div>"
    )
    if result.warnings:
        items = "".join(f"<li>{escape_html(w)}</li>" for w in result.warnings)
        parts.append(f"<div><b>Data notes</b><ul>{items}</ul></div>")
    return HTML("".join(parts))


def note(text: str, /, **values: Any) -> Any:
    """A line of prose computed by the analysis, shown as Markdown in the report.

    Args:
        text: A Markdown template written in the notebook. Never put data into it with an f-string: name them as
            ``{fields}`` (format specs and attribute lookups work as in ``str.format``) and pass them as ``values``.
        values: The template's fields. Each is formatted, then escaped (:func:`abnb._display.escape_markdown`), so
            text from telemetry, a spec or a parameter shows as text and never becomes Markdown or HTML.
    """
    from IPython.display import Markdown

    return Markdown(MarkdownFormatter().format(text, **values) if values else text)


def styled_table(frame: pd.DataFrame, formats: dict[Any, Any] | None = None, *, na_rep: str | None = None) -> Any:
    """A display table (pandas ``Styler``, no row labels) of ``frame`` with every cell and label HTML-escaped.

    The report notebooks show every data frame through this (a bare ``frame.style`` does not escape).

    Args:
        frame: The table.
        formats: Format strings or callables per column, as for ``Styler.format``.
        na_rep: Shown for missing values.
    """
    return styled(frame, formats, na_rep=na_rep)


def distributions_table(comparisons: list[DistributionComparison]) -> Any:
    """The rank and quantile comparisons as one display table, with where the values came from."""
    from IPython.display import HTML

    if not comparisons:
        return note("No metric asks for quantiles (`quantiles = [0.5, 0.9]` in its spec).")
    import pandas as pd

    frame = pd.concat([c.to_frame() for c in comparisons], ignore_index=True)
    table = styled(
        frame,
        {
            "control": "{:.4g}",
            "treatment": "{:.4g}",
            "estimate": "{:.4g}",
            "ci_low": "{:.4g}",
            "ci_high": "{:.4g}",
            "pvalue": "{:.3g}",
        },
        na_rep="–",
    )
    notes = "".join(f"<li>{escape_html(c.note)}</li>" for c in comparisons)
    return HTML(f"{table.to_html()}<ul>{notes}</ul>")


def _write_file(path: Path, text: str, *, mode: int = 0o644) -> None:
    """Write ``text`` to a new file ``path`` and flush it to disk (``fsync``); the one place reports write bytes.

    The file must not exist yet (``O_EXCL``): a name planted in its place, a symbolic link above all, is never
    opened, followed or truncated (``FileExistsError``). ``mode`` is set on the new file whatever the umask.
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags, mode)
        with open(fd, "w", encoding="utf-8") as handle:
            os.fchmod(fd, mode)
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
    except OSError as error:
        if error.filename is None:  # write() and fsync() do not name the file
            raise OSError(error.errno, error.strerror, str(path)) from error
        raise


def _fsync_dir(folder: Path) -> None:
    """Make the renames in ``folder`` durable (a no-op where directories cannot be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _write_error(error: OSError, path: Path) -> ReportError:
    """A :class:`ReportError` naming the file that could not be written, and "disk full" when the disk is."""
    where = error.filename or path
    if error.errno in (errno.ENOSPC, errno.EDQUOT):
        return ReportError(
            f"disk full while writing {where} ({error.strerror or error}): free space on that file system or "
            "choose another output folder, then run again. Nothing half-written was published; the previous "
            "report is left in place."
        )
    return ReportError(
        f"writing {where} failed: {error.strerror or error}. Nothing half-written was published; the previous "
        "report is left in place."
    )


def _write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file in the same folder and an atomic rename.

    Raises:
        ReportError: The write failed (the message names ``path``, and says "disk full" for ``ENOSPC``); the
            temporary file is removed and ``path`` is left as it was.
    """
    tmp: Path | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.is_symlink():
            raise ReportError(
                f"{path} is a symbolic link: abnb replaces report files only when they are plain files and never "
                "writes through a link. Remove the link (it is not abnb's) and run again."
            )
        tmp = path.parent / f".{path.name}.{os.urandom(6).hex()}.tmp"
        _write_file(tmp, text)  # O_EXCL: a new file of our own, never a planted one
        os.replace(tmp, path)
    except OSError as error:
        if tmp is not None:
            tmp.unlink(missing_ok=True)
        raise _write_error(error, path) from error
    except BaseException:
        if tmp is not None:
            tmp.unlink(missing_ok=True)
        raise


def write_summary(result: ExperimentResult, path: str | Path | None) -> dict[str, Any]:
    """Write ``result.summary()`` as JSON to ``path`` atomically (nothing is written when ``path`` is falsy)."""
    summary = result.summary()
    if path:
        _write_atomic(Path(path), json.dumps(summary, indent=2, allow_nan=False) + "\n")
    return summary


class RenderedReport(NamedTuple):
    """Paths of the files a render wrote."""

    notebook: Path
    html: Path
    summary: Path


def _export_html(notebook_path: Path) -> str:
    """The reader's HTML of an executed report: no code, no prompts, and no stderr streams.

    Engine and kernel chatter on stderr (Spark's start-up lines, warnings) stays in the executed ``.ipynb`` for
    whoever debugs the run; the published page shows results only.
    """
    import nbformat
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(
        template_name="abnb_offline",
        extra_template_basedirs=[str(TEMPLATE_DIR)],
        exclude_input=True,
        exclude_input_prompt=True,
        exclude_output_prompt=True,
    )
    notebook = nbformat.read(notebook_path, as_version=4)
    for cell in notebook.cells:
        if "outputs" in cell:
            cell.outputs = [
                o for o in cell.outputs if not (o.get("output_type") == "stream" and o.get("name") == "stderr")
            ]
    body, _ = exporter.from_notebook_node(notebook)
    return str(body)


def _add_metadata(path: Path, metadata: dict[str, Any]) -> None:
    """Merge ``metadata`` into an executed notebook's metadata (its provenance; ``title`` names the HTML page)."""
    import nbformat

    notebook = nbformat.read(path, as_version=4)
    notebook.metadata.update(metadata)
    nbformat.write(notebook, path)


def _failure(error: BaseException, failed_copy: Path | None) -> ReportError:
    from papermill.exceptions import PapermillExecutionError

    where = f" The executed notebook is kept at {failed_copy}." if failed_copy else ""
    if isinstance(error, PapermillExecutionError):
        return ReportError(
            f"report cell {error.exec_count} failed with {error.ename}: {error.evalue}.{where} "
            "The previous report is left in place."
        )
    return ReportError(f"the report could not be rendered: {error}.{where} The previous report is left in place.")


LOCK_FILE = ".lock"
INDEX_LOCK_FILE = ".index.lock"
MANIFEST = "PUBLISH.json"
_STAGING_PREFIX = ".staging-"


def _fcntl() -> Any:
    """The POSIX ``fcntl`` module, or a clear error where there is none (abnb's report locks need Linux or macOS)."""
    try:
        import fcntl
    except ImportError as error:  # Windows
        raise ReportError(
            "publishing a report locks its folder with POSIX file locks (fcntl), which this platform lacks; abnb's "
            "report commands run on Linux and macOS (on Windows, use WSL)."
        ) from error
    return fcntl


_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_LOCK_MAX_BYTES = 64  # an abnb lock file holds a pid and a newline, nothing more


def _open_lock(path: Path) -> int:
    """Open (creating it if needed) the persistent lock file ``path`` without following a symbolic link.

    The lock is not opened with ``O_EXCL``: a run killed by ``SIGKILL`` leaves it behind, and the next run must be
    able to take it. What is refused is anything that is not abnb's own small regular file: a symbolic link
    (``O_NOFOLLOW``), a hard link to another file, a directory or device, or a file with more than a pid in it.
    Whatever is refused is left exactly as it was (never truncated).

    Raises:
        ReportError: ``path`` cannot be opened, or is not a lock file abnb could have written.
    """
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | _NOFOLLOW | _CLOEXEC | getattr(os, "O_NONBLOCK", 0), 0o644)
    except OSError as error:
        if error.errno == errno.ELOOP or path.is_symlink():
            raise ReportError(
                f"{path} is a symbolic link: abnb never follows links for its lock files, so it neither opens nor "
                "truncates what the link points to. Remove the link (abnb did not make it) and run again."
            ) from None
        raise _write_error(error, path) from error
    info = os.fstat(fd)
    problem = ""
    if not stat.S_ISREG(info.st_mode):
        problem = "is not a regular file"
    elif info.st_nlink != 1:
        problem = f"has {info.st_nlink} hard links (it is another file's data too)"
    elif info.st_size > _LOCK_MAX_BYTES:
        problem = f"holds {info.st_size} bytes, more than the pid abnb writes there"
    if problem:
        os.close(fd)
        raise ReportError(
            f"{path} {problem}: it is not an abnb lock file, so this run leaves it untouched and stops. Move it "
            "away (it may be someone's data) and run again."
        )
    return fd


@contextmanager
def _report_lock(folder: Path) -> Iterator[None]:
    """Hold ``<folder>/.lock`` (``fcntl.flock``, exclusive) while one run stages and publishes into ``folder``.

    Non-blocking: a second run for the same folder fails at once with :class:`ReportLockedError` naming the pid
    written in the lock file. The kernel drops the lock when the holder exits, even on ``SIGKILL``, so a killed
    run never leaves a stale lock behind. The file is opened by :func:`_open_lock` (never through a link).
    """
    path = folder / LOCK_FILE
    fd = _open_lock(path)
    try:
        try:
            fcntl = _fcntl()
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            from abnb.engine import process_kind

            holder = os.pread(fd, 32, 0).decode(errors="replace").strip()
            who = "pid unknown"
            if holder.isdigit():
                kind = process_kind(int(holder)).replace(f" (pid {holder})", "").replace(f", pid {holder}", "")
                who = f"pid {holder}" if kind == f"process {holder}" else f"pid {holder}, {kind}"
            raise ReportLockedError(
                f"another run ({who}) is writing {folder}: this run stops without touching it. That run "
                "publishes the report when it finishes; run again afterwards if you need a newer one "
                f"(the lock {path} is released when that process exits)."
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        try:
            yield
        finally:
            os.ftruncate(fd, 0)
    finally:
        os.close(fd)  # releases the flock


@contextmanager
def _index_lock(root: Path) -> Iterator[None]:
    """Hold ``<root>/.index.lock`` (blocking) while the index is rebuilt, so two runs cannot lose each other's row."""
    root.mkdir(parents=True, exist_ok=True)
    fd = _open_lock(root / INDEX_LOCK_FILE)
    try:
        fcntl = _fcntl()
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _published_names(stem: str) -> list[str]:
    """The files one run publishes, in the order they are moved (the notebook and HTML first, summaries last)."""
    return [f"{stem}.ipynb", f"{stem}.html", f"{stem}.summary.json", "summary.json"]


def _plain_name(name: object) -> bool:
    """``name`` is a plain file name: no folder part, not hidden, not ``.``/``..``, no NUL."""
    return (
        isinstance(name, str)
        and bool(name)
        and "/" not in name
        and "\\" not in name
        and "\0" not in name
        and not name.startswith(".")
    )


def _read_manifest(staging: Path) -> list[str]:
    """The file names a committed staging folder's manifest lists, checked before anything is moved.

    A manifest is refused unless it is a regular file (not a link) holding ``{"stem": ..., "files": [...]}``
    where the stem is a plain name and every file is one of the names a run of that stem publishes
    (:func:`_published_names`): a planted manifest cannot move a file into another folder (``d/pwn.txt``
    through a linked ``d``) or over a file abnb does not own.

    Raises:
        ValueError: The manifest is not one abnb could have written (the message says why).
    """
    fd = os.open(staging / MANIFEST, os.O_RDONLY | _NOFOLLOW | _CLOEXEC | getattr(os, "O_NONBLOCK", 0))
    with open(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            raise ValueError(f"{MANIFEST} is not a regular file")
        manifest = json.loads(handle.read(1 << 16).decode("utf-8"))
    if not isinstance(manifest, dict) or not isinstance(manifest.get("files"), list):
        raise ValueError(f"{MANIFEST} has no list of files")
    stem = manifest.get("stem")
    if not _plain_name(stem):
        raise ValueError(f"{MANIFEST} names stem {stem!r}, which is not a plain file name")
    allowed = _published_names(str(stem))
    files = manifest["files"]
    bad = [name for name in files if name not in allowed]
    if bad or len(set(files)) != len(files):
        raise ValueError(f"{MANIFEST} lists {bad or files!r}; only {', '.join(allowed)} may be published")
    return [str(name) for name in files]


def _check_targets(folder: Path, names: list[str]) -> None:
    """Refuse to publish over a symbolic link, a folder or anything else that is not a plain file.

    Raises:
        ReportError: A target in ``folder`` is such a thing (named); nothing has been published.
    """
    for name in names:
        target = folder / name
        if target.is_symlink() or (target.exists() and not target.is_file()):
            kind = "a symbolic link" if target.is_symlink() else "not a regular file"
            raise ReportError(
                f"{target} is {kind}: abnb publishes reports only over plain files of its own and never through a "
                "link. Remove it (abnb did not make it) and run again; nothing was published."
            )


def _roll_forward(staging: Path, folder: Path) -> list[str]:
    """Move the files a committed staging folder lists in its manifest into ``folder``, in the manifest's order.

    A file already moved (by the run itself before it was killed) is skipped, so this is idempotent. The order
    puts the notebook and HTML first, then ``<stem>.summary.json`` (which makes the run appear in the index),
    then ``summary.json`` (the latest run). The manifest is checked first (:func:`_read_manifest`); a source that
    is not a regular file of the staging folder is skipped, and a target that is a link or folder is refused.
    """
    names = _read_manifest(staging)
    moved = []
    for name in names:
        source = staging / name
        try:
            info = source.lstat()
        except FileNotFoundError:
            continue
        if not stat.S_ISREG(info.st_mode):
            raise ValueError(f"{source.name} in {staging.name} is not a regular file")
        _check_targets(folder, [name])
        os.replace(source, folder / name)
        moved.append(name)
    _fsync_dir(folder)
    return moved


def _recover(folder: Path) -> list[str]:
    """Finish or discard what a killed run left in ``folder`` (call it holding the folder's lock).

    A ``.staging-*`` folder with a manifest was committed: its remaining files are published (rolled forward).
    One without a manifest was killed before the commit point and is deleted, as are temporary files of
    interrupted atomic writes and failed-notebook copies that are empty or not a notebook (a full disk).
    A ``.staging-*`` that is a symbolic link (abnb never makes one) is removed without being followed, and a
    manifest that is not one abnb could have written is discarded (:func:`_read_manifest`). Returns what was done,
    one line per staging folder.
    """
    done = []
    for staging in sorted(folder.glob(f"{_STAGING_PREFIX}*")):
        if staging.is_symlink():
            staging.unlink(missing_ok=True)
            done.append(f"{staging.name}: removed (a symbolic link, not followed)")
            continue
        if not staging.is_dir():
            continue
        action = "removed"
        if (staging / MANIFEST).exists() or (staging / MANIFEST).is_symlink():
            try:
                action = f"rolled forward {', '.join(_roll_forward(staging, folder)) or 'nothing left'}"
            except (OSError, ValueError, KeyError, TypeError, ReportError) as error:
                action = f"removed (its manifest could not be replayed: {error})"
        shutil.rmtree(staging, ignore_errors=True)
        done.append(f"{staging.name}: {action}")
    for tmp in folder.glob(".*.tmp"):
        tmp.unlink(missing_ok=True)
    for failed in folder.glob(".failed-*.ipynb"):
        if failed.is_symlink() or not _is_notebook(failed):
            failed.unlink(missing_ok=True)
    return done


def _is_notebook(path: Path) -> bool:
    """``path`` is a regular file holding a readable notebook (a failed copy worth keeping)."""
    if path.is_symlink() or not path.is_file():
        return False
    try:
        import nbformat

        nbformat.read(path, as_version=4)
    except Exception:  # any unreadable file is not worth keeping
        return False
    return True


def _keep_failed(executed: Path, folder: Path, stem: str) -> Path | None:
    """Copy a notebook that failed in a cell to ``<folder>/.failed-<stem>.ipynb`` for debugging, or return None.

    Only a readable notebook is kept, written atomically (never through a planted link): when the copy cannot
    be made (a full disk, papermill wrote nothing useful) no empty or partial file is left behind.
    """
    if not _is_notebook(executed):
        return None
    failed = folder / f".failed-{stem}.ipynb"
    try:
        if failed.is_symlink():
            failed.unlink()
        _write_atomic(failed, executed.read_text(encoding="utf-8"))
    except (OSError, ReportError):
        return None
    return failed


def _latest_stem(folder: Path) -> str | None:
    """The stem (the as_of) of the run ``<folder>/summary.json`` describes, or None when there is none to read."""
    try:
        fd = os.open(folder / "summary.json", os.O_RDONLY | _NOFOLLOW | _CLOEXEC | getattr(os, "O_NONBLOCK", 0))
        with open(fd, "rb") as handle:
            summary = json.loads(handle.read(1 << 24).decode("utf-8"))
        stem = str(summary["report"]["html"]).removesuffix(".html")
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    return stem if _plain_name(stem) else None


def _commit(staging: Path, folder: Path, stem: str, page: str, summary: dict[str, Any]) -> RenderedReport:
    """Write the last files into ``staging``, commit (an atomically renamed manifest), then publish into ``folder``.

    Before the manifest exists nothing in ``folder`` has changed; after it exists the publication is decided and
    a run killed in the middle of the renames is completed by the next one (:func:`_recover`).

    ``summary.json`` is the summary of the *latest* run, by as_of (the stem), as the index's "Latest" table:
    a backfill of an older as_of publishes its ``<stem>.*`` files and leaves ``summary.json`` alone. A target
    that is a symbolic link or a folder is refused before the commit point (:func:`_check_targets`).
    """
    text = json.dumps(summary, indent=2) + "\n"
    with open(staging / f"{stem}.ipynb", "rb") as executed:  # papermill wrote it without fsync
        os.fsync(executed.fileno())
    files = _published_names(stem)
    latest = _latest_stem(folder)
    if latest is not None and latest > stem:  # ISO dates: the text order is the time order
        files.remove("summary.json")
    _check_targets(folder, files)
    _write_file(staging / f"{stem}.html", page)
    _write_file(staging / f"{stem}.summary.json", text)
    (staging / "summary.json").unlink(missing_ok=True)  # the notebook's own copy, without the report block
    if "summary.json" in files:
        _write_file(staging / "summary.json", text)
    _write_file(staging / f"{MANIFEST}.tmp", json.dumps({"stem": stem, "files": files}) + "\n")
    os.replace(staging / f"{MANIFEST}.tmp", staging / MANIFEST)  # the commit point
    _fsync_dir(staging)
    _roll_forward(staging, folder)
    latest_summary = "summary.json" if "summary.json" in files else f"{stem}.summary.json"
    return RenderedReport(folder / f"{stem}.ipynb", folder / f"{stem}.html", folder / latest_summary)


@contextmanager
def _kernel_lock_timeout(seconds: float | None) -> Iterator[None]:
    """Pass ``lock_timeout`` to the report kernel through ``$ABNB_LOCK_TIMEOUT`` (kernels inherit the environment)."""
    from abnb.engine import LOCK_TIMEOUT_ENV

    if seconds is None:
        yield
        return
    previous = os.environ.get(LOCK_TIMEOUT_ENV)
    os.environ[LOCK_TIMEOUT_ENV] = repr(float(seconds))
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(LOCK_TIMEOUT_ENV, None)
        else:
            os.environ[LOCK_TIMEOUT_ENV] = previous


def _publish(
    notebook: Path,
    folder: Path,
    stem: str,
    parameters: dict[str, str],
    *,
    kernel_name: str,
    timeout: int,
    lock_timeout: float | None = None,
    cwd: Path | None = None,
    metadata: dict[str, Any] | None = None,
) -> RenderedReport:
    """Execute ``notebook`` into a staging folder, export offline HTML, check it, publish atomically.

    ``parameters`` may use the placeholder ``{staging}`` for the staging folder (the notebook writes its
    ``summary.json`` there). The kernel runs in ``cwd`` (default: the notebook's folder); ``metadata`` is merged
    into the executed notebook's metadata (``title`` becomes the HTML page's title). The whole run holds
    ``<folder>/.lock``; it first finishes or removes what a killed
    run left (:func:`_recover`). Publication commits through a manifest (:func:`_commit`, docs/reliability.md).
    Any failure raises :class:`ReportError` and leaves ``folder`` as it was, except for a
    ``.failed-<stem>.ipynb`` copy of a notebook that failed in a cell (named in the error; kept only when it is a
    readable notebook, removed by the next successful run of that stem). Nothing is written through a symbolic
    link: a linked report folder, lock, staging folder or target file is refused or removed, never followed.

    Raises:
        ReportLockedError: Another run holds the folder's lock.
        ReportError: Execution, export or a write failed (disk full, ...).
    """
    import papermill

    if folder.is_symlink():
        raise ReportError(
            f"report folder {folder} is a symbolic link: abnb creates report folders itself and never publishes "
            "through a link (it could point anywhere). Replace the link by a folder, or point --output-dir at the "
            "real location; nothing was written."
        )
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise _write_error(error, folder) from error
    with _report_lock(folder):
        _recover(folder)
        try:
            staging = Path(tempfile.mkdtemp(dir=folder, prefix=_STAGING_PREFIX))
        except OSError as error:
            raise _write_error(error, folder) from error
        filled = {name: value.replace("{staging}", str(staging.resolve())) for name, value in parameters.items()}
        executed = staging / f"{stem}.ipynb"
        try:
            try:
                with _kernel_lock_timeout(lock_timeout):
                    papermill.execute_notebook(
                        str(notebook),
                        str(executed),
                        parameters=filled,
                        kernel_name=kernel_name,
                        progress_bar=False,
                        extra_arguments=["--IPKernelApp.log_level=ERROR"],  # no transport warning in the logs
                        execution_timeout=timeout,
                        cwd=str(cwd or notebook.parent),
                    )
            except Exception as error:
                raise _failure(error, _keep_failed(executed, folder, stem)) from error
            if metadata:
                _add_metadata(executed, metadata)
            page = _export_html(executed)
            loads = external_resources(page)
            if loads:
                raise ReportError(f"the HTML would load {len(loads)} resource(s) from the network: {loads[:3]}.")
            summary = json.loads((staging / "summary.json").read_text(encoding="utf-8"))
            from abnb import __version__

            summary = {"schema_version": SCHEMA_VERSION, **summary}
            summary["report"] = {
                "html": f"{stem}.html",
                "notebook": f"{stem}.ipynb",
                "rendered_at": datetime.now().isoformat(timespec="seconds"),
                "abnb_version": __version__,
                "template": str(notebook),
            }
            published = _commit(staging, folder, stem, page, summary)
        except AbnbError:
            raise
        except OSError as error:
            raise _write_error(error, Path(error.filename) if error.filename else folder) from error
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        (folder / f".failed-{stem}.ipynb").unlink(missing_ok=True)
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

    where = project if isinstance(project, Project) else find_project(project)
    spec = spec_or_name if isinstance(spec_or_name, Experiment) else where.load_experiment(spec_or_name)
    parameters = {
        "experiment": spec.name,
        "spec_json": json.dumps(spec.to_dict()),
        "engine": engine or "",
        "database": str(Path(database).resolve()) if database is not None else "",
        "parquet": str(Path(parquet).resolve()) if parquet else "",
        "store": str(Path(store).resolve()) if store else "",
        "project": str(where.root),
    }
    checked = validate_parameters(**parameters)
    with where.connect(
        checked.database, engine=checked.engine, parquet=checked.parquet, lock_timeout=lock_timeout
    ) as con:
        validation = validate(spec, con, as_of=as_of).raise_for_problems()
    assert validation.as_of is not None  # a validation without problems resolved the cutoff
    assert validation.label is not None
    parameters["as_of"] = validation.as_of.isoformat()
    return _publish_and_index(
        where.notebook("experiment_report"),
        where,
        Path(output_dir) if output_dir is not None else where.reports_dir,
        spec.name,
        validation.label,
        parameters,
        title=f"{spec.name} — data through {validation.label}",
        kernel_name=kernel_name,
        timeout=timeout,
        lock_timeout=lock_timeout,
    )


def _check_unlocked(database: Path, lock_timeout: float | None) -> None:
    """Fail before a kernel starts when a writer holds ``database`` (after ``lock_timeout`` seconds of retries).

    Only the lock is checked here; a missing or broken file is reported by the notebook's own cell.
    """
    from abnb.errors import DatabaseLockedError

    if not database.exists():
        return
    try:
        connect(database, lock_timeout=lock_timeout).close()
    except DatabaseLockedError:
        raise
    except AbnbError:
        return


def render_monitoring(
    *,
    database: str | Path | None = None,
    output_dir: str | Path | None = None,
    as_of: date | datetime | str | None = None,
    window: str = "1 day",
    model_version: str = "",
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
        window: Dashboard window, e.g. ``"1 day"`` or ``"6 hours"``.
        model_version: Release to focus the release jumps and drift on; empty for every release.
        kernel_name: Jupyter kernel that executes the notebook.
        timeout: Seconds a cell may run.
        lock_timeout: Seconds to retry while a writer holds the database (as in :func:`render`).
        project: The project (or its folder); default: the current directory's.

    Returns:
        Paths of the published ``.ipynb``, ``.html`` and ``summary.json``.

    Raises:
        ParameterError: A parameter is malformed (checked before anything runs).
        ReportError: Execution or export failed, or the latest data day could not be read; the previous report
            is left in place.
    """
    from abnb.monitor import validate_monitoring_parameters

    where = project if isinstance(project, Project) else find_project(project)
    db, as_of_text = _database_and_as_of(where, database, as_of)
    validate_monitoring_parameters(window=window, as_of=as_of_text, model_version=model_version, database=str(db))
    label = _ops_label(where, db, as_of_text, lock_timeout)
    parameters = {"window": window, "as_of": as_of_text, "model_version": model_version, "database": str(db)}
    return _publish_and_index(
        where.notebook("monitoring"),
        where,
        Path(output_dir) if output_dir is not None else where.reports_dir,
        "monitoring",
        label,
        parameters,
        title=f"Model monitoring — data through {label}",
        kernel_name=kernel_name,
        timeout=timeout,
        lock_timeout=lock_timeout,
    )


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
    from abnb.rollout.canary import validate_canary_parameters

    where = project if isinstance(project, Project) else find_project(project)
    db, as_of_text = _database_and_as_of(where, database, as_of)
    validate_canary_parameters(versions=versions, steps=steps, step_hours=step_hours, as_of=as_of_text)
    label = _ops_label(where, db, as_of_text, lock_timeout)
    parameters = {
        "versions": versions,
        "steps": steps,
        "step_hours": step_hours,
        "as_of": label.isoformat(),
        "database": str(db),
    }
    return _publish_and_index(
        where.notebook("canary_release"),
        where,
        Path(output_dir) if output_dir is not None else where.reports_dir,
        "canary",
        label,
        parameters,
        title=f"Canary and blue/green releases — {label}",
        kernel_name=kernel_name,
        timeout=timeout,
        lock_timeout=lock_timeout,
    )


def _database_and_as_of(
    project: Project, database: str | Path | None, as_of: date | datetime | str | None
) -> tuple[Path, str]:
    """The DuckDB file (default: the project's) and ``as_of`` as the text a notebook takes."""
    if database is None and project.database is None:
        raise ParameterError(
            f"project {project.name!r} has no DuckDB database ([engine] in {project.file}); the monitoring and canary "
            "reports read a DuckDB file: pass --database."
        )
    db = Path(database).resolve() if database is not None else project.database
    assert db is not None
    return db, as_of.isoformat() if isinstance(as_of, date | datetime) else (as_of or "")


def _ops_label(project: Project, database: Path, as_of_text: str, lock_timeout: float | None) -> date:
    """The day an operations report is named after: ``as_of``'s last day, else the day of the last prediction."""
    if as_of_text:
        return resolve_as_of(as_of_text, None, timezone=project.timezone)[1]
    return _latest_day(project, database, lock_timeout)


def _publish_and_index(
    notebook: Path,
    project: Project,
    output_dir: Path,
    folder: str,
    label: date,
    parameters: dict[str, str],
    *,
    title: str,
    kernel_name: str,
    timeout: int,
    lock_timeout: float | None,
) -> RenderedReport:
    """Publish a report into ``<output_dir>/<folder>/`` and refresh the index.

    The notebook runs with the project's root as its working directory and gets the staging ``summary_path``
    besides ``parameters``; its metadata records the template, the abnb version and the project.
    """
    from abnb import __version__

    filled = {**parameters, "summary_path": str(Path("{staging}") / "summary.json")}
    provenance = {
        "title": title,
        "abnb": {
            "version": __version__,
            "template": str(notebook),
            "project": str(project.root),
            "project_file": str(project.file) if project.file else None,
            "parameters": {k: v for k, v in filled.items() if k not in ("spec_json", "summary_path")},
        },
    }
    published = _publish(
        notebook,
        output_dir / folder,
        label.isoformat(),
        filled,
        kernel_name=kernel_name,
        timeout=timeout,
        lock_timeout=lock_timeout,
        cwd=project.root,
        metadata=provenance,
    )
    write_index(output_dir)
    return published


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


WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def export_notebook(
    notebook: str | Path, html_path: str | Path, *, kernel_name: str = "python3", timeout: int = 600
) -> Path:
    """Execute a notebook and write a static, offline HTML copy of it (code, outputs, widgets as their last state).

    Live widgets need a kernel, so each output that carries a widget view keeps only its static snapshot (the
    ``text/html`` that :class:`abnb.widgets.App` keeps current); the page loads nothing from the network.

    Raises:
        ReportError: A cell failed (named), or the page would load something from the network. An existing HTML
            file is replaced only after a successful export.
    """
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    source = Path(notebook)
    executed = nbformat.read(source, as_version=4)
    try:
        NotebookClient(
            executed,
            timeout=timeout,
            kernel_name=kernel_name,
            resources={"metadata": {"path": str(source.parent)}},
            extra_arguments=["--IPKernelApp.log_level=ERROR"],
        ).execute()
    except CellExecutionError as error:
        raise ReportError(f"{source.name}: a cell failed: {str(error).strip().splitlines()[-1]}") from error
    for cell in executed.cells:
        for output in cell.get("outputs", []):
            output.get("data", {}).pop(WIDGET_VIEW, None)
    executed.metadata.pop("widgets", None)
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(template_name="abnb_offline", extra_template_basedirs=[str(TEMPLATE_DIR)])
    page, _ = exporter.from_notebook_node(executed)
    loads = external_resources(page)
    if loads:
        raise ReportError(f"{source.name}: the HTML would load {len(loads)} resource(s) from the network: {loads[:3]}.")
    target = Path(html_path)
    _write_atomic(target, page)
    return target


def export_teaching(output_dir: str | Path, *, notebooks: str | Path) -> list[Path]:
    """Export every teaching notebook (``<notebooks>/*.ipynb``) to ``<output_dir>/<name>.html``.

    Raises:
        ReportError: The folder holds no notebook, or a notebook failed (named).
    """
    folder, source = Path(output_dir), Path(notebooks)
    found = sorted(source.glob("*.ipynb"))
    if not found:
        raise ReportError(
            f"no teaching notebook in {source}; they are in the abnb repository's notebooks/teaching "
            "(give that folder with --notebooks)."
        )
    return [export_notebook(path, folder / f"{path.stem}.html") for path in found]


def write_index(output_dir: str | Path = "reports") -> Path:
    """Write ``index.html``, the dashboard of every rendered run, atomically.

    One table of the latest run per report (status: stop or keep running, decision and reason) and, below it, the
    history of every run, newest first. Runs for other reports may finish at the same time, so the scan and the
    write hold ``<output_dir>/.index.lock``: no run's row is lost to a concurrent rewrite.

    Raises:
        ReportError: The index could not be written (disk full, ...); the previous index is left in place.
    """
    root = Path(output_dir)
    try:
        with _index_lock(root):
            return _write_index(root)
    except OSError as error:
        raise _write_error(error, root / "index.html") from error


def _write_index(root: Path) -> Path:
    for tmp in root.glob(".index.html.*.tmp"):  # left by a run killed while writing the index
        tmp.unlink(missing_ok=True)
    runs = []
    for path in sorted(root.glob("*/*.summary.json")):
        try:
            summary = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            reason = f"{path.name} cannot be read ({error}); render this report again."
            summary = {
                "as_of": path.name.removesuffix(".summary.json"),
                "decision": {"verdict": "unreadable", "reason": reason},
            }
        if not isinstance(summary, dict):
            summary = {"decision": {"verdict": "unreadable", "reason": f"{path.name} is not a JSON object."}}
        try:
            check_schema_version(summary.get("schema_version"), str(path))
        except AbnbError as error:
            summary = {"as_of": summary.get("as_of", ""), "decision": {"verdict": "unreadable", "reason": str(error)}}
        decision = summary.get("decision", {})
        runs.append(
            {
                "name": str(summary.get("experiment", path.parent.name)),
                "as_of": str(summary.get("as_of", "")),
                "verdict": str(decision.get("verdict", "")),
                "stop": {True: "stop", False: "keep running"}.get(decision.get("stop"), "–"),
                "reason": str(decision.get("reason", "")),
                "link": f"{path.parent.name}/{path.name.removesuffix('.summary.json')}.html",
                "rendered": str(summary.get("report", {}).get("rendered_at", "")),
            }
        )
    runs.sort(key=lambda r: (r["name"], r["as_of"]), reverse=True)
    latest: dict[str, dict[str, str]] = {}
    for run in runs:
        latest.setdefault(run["name"], run)

    def row(run: dict[str, str], columns: tuple[str, ...]) -> str:
        cells = []
        for column in columns:
            text = escape_html(run[column])
            if column == "as_of":
                # percent-encoded, so a planted folder name such as ``javascript:…`` stays a relative link
                text = f'<a href="{escape_html(quote(run["link"]))}">{text}</a>'
            cells.append(
                f'<td class="{escape_html(run["verdict"])}">{text}</td>' if column == "verdict" else f"<td>{text}</td>"
            )
        return "<tr>" + "".join(cells) + "</tr>"

    summary_columns = ("name", "as_of", "stop", "verdict", "reason", "rendered")
    history_columns = ("name", "as_of", "verdict", "reason", "rendered")
    head = "".join(f"<th>{c}</th>" for c in ("report", "data through", "status", "decision", "reason", "rendered"))
    history_head = "".join(f"<th>{c}</th>" for c in ("report", "data through", "decision", "reason", "rendered"))
    page = (
        '<!DOCTYPE html><html><head><meta charset="utf-8"><title>abnb reports</title><style>'
        "body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}td,th{padding:4px 10px;"
        "border-bottom:1px solid #ddd;text-align:left}.ship{color:#1b7837}.harm,.invalid,.unreadable{color:#b00020}"
        "</style></head><body><h1>abnb reports</h1><h2>Latest</h2><table><tr>"
        f"{head}</tr>{''.join(row(r, summary_columns) for r in latest.values())}</table>"
        f"<h2>Every run</h2><table><tr>{history_head}</tr>{''.join(row(r, history_columns) for r in runs)}</table>"
        "</body></html>\n"
    )
    index = root / "index.html"
    _write_atomic(index, page)
    return index
