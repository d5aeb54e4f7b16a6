"""Publishing one run of a report: execute into a private staging folder, export, check, commit, rename.

One run at a time writes a report folder (``<folder>/.lock``, :func:`abnb.report._locks.report_lock`). The run
executes the notebook into a ``.staging-*`` folder, exports offline HTML without code, checks it, adds the report
block to the notebook's summary, then commits: a manifest (``PUBLISH.json``) renamed into the staging folder
decides the publication, and the files are moved into the report folder in the manifest's order. A run killed
before the commit point changed nothing; one killed after it is completed by the next run (:func:`_recover`;
docs/reliability.md, "How a report is published"). Nothing is written through a symbolic link.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from abnb import _io
from abnb.errors import AbnbError, ReportError
from abnb.project import SCHEMA_VERSION
from abnb.report import _locks
from abnb.report.export import TEMPLATE_DIR, external_resources

if TYPE_CHECKING:
    from abnb.experiment import ExperimentResult
    from abnb.timeline import Timeline

MANIFEST = "PUBLISH.json"
_STAGING_PREFIX = ".staging-"
_NOTEBOOK_SUMMARY = "notebook-summary.json"  # what the notebook writes into staging (``summary_path``)


class RenderedReport(NamedTuple):
    """Paths of the files a render wrote."""

    notebook: Path
    html: Path
    summary: Path


def write_summary(
    result: ExperimentResult, path: str | Path | None, *, timeline: Timeline | None = None
) -> dict[str, Any]:
    """Write ``result.summary()`` as JSON to ``path`` atomically (nothing is written when ``path`` is falsy).

    With a ``timeline``, the summary also holds the cumulative relative effect of the first metric it follows
    (the first goal metric) in the first treatment arm, per day: ``timeline = {"metric", "arm", "points":
    [[day, estimate, ci_low, ci_high], ...]}`` (the index draws it as a sparkline).
    """
    summary = result.summary()
    if timeline is not None and timeline.points:
        first = timeline.points[0]
        points = [p for p in timeline.points if (p.metric, p.arm) == (first.metric, first.arm)]
        summary["timeline"] = {
            "metric": first.metric,
            "arm": first.arm,
            "points": [[p.day.isoformat(), *map(_finite, (p.estimate, p.ci_low, p.ci_high))] for p in points],
        }
    if path:
        _io.write_atomic(Path(path), json.dumps(summary, indent=2, allow_nan=False) + "\n")
    return summary


def _finite(value: float) -> float | None:
    """A number JSON holds (``None`` for NaN and ±∞)."""
    return value if math.isfinite(value) else None


def publish(
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

    The notebook gets ``parameters`` and ``summary_path``, a file in the staging folder where it writes its
    summary. The kernel runs in ``cwd`` (default: the notebook's folder); ``metadata`` is merged into the executed
    notebook's metadata (``title`` becomes the HTML page's title). The whole run holds ``<folder>/.lock``; it
    first finishes or removes what a killed run left (:func:`_recover`). Publication commits through a manifest
    (:func:`_commit`, docs/reliability.md). Any failure raises :class:`ReportError` and leaves ``folder`` as it
    was, except for a ``.failed-<stem>.ipynb`` copy of a notebook that failed in a cell (named in the error; kept
    only when it is a readable notebook, removed by the next successful run of that stem). Nothing is written
    through a symbolic link: a linked report folder, lock, staging folder or target file is refused or removed,
    never followed.

    Raises:
        ReportLockedError: Another run holds the folder's lock.
        ReportError: Execution, export or a write failed (disk full, ...).
    """
    import papermill

    _make_folder(folder)
    with _locks.report_lock(folder):
        _recover(folder)
        try:
            staging = Path(tempfile.mkdtemp(dir=folder, prefix=_STAGING_PREFIX))
        except OSError as error:
            raise _io.write_error(error, folder) from error
        executed = staging / f"{stem}.ipynb"
        try:
            try:
                with _kernel_lock_timeout(lock_timeout):
                    papermill.execute_notebook(
                        str(notebook),
                        str(executed),
                        parameters={**parameters, "summary_path": str(staging.resolve() / _NOTEBOOK_SUMMARY)},
                        kernel_name=kernel_name,
                        progress_bar=False,
                        extra_arguments=["--IPKernelApp.log_level=ERROR"],  # no transport warning in the logs
                        execution_timeout=timeout,
                        cwd=str(cwd or notebook.parent),
                    )
            except Exception as error:
                raise _failure(error, _keep_failed(executed, folder, stem)) from error
            page = _checked_page(executed, metadata)
            published = _commit(staging, folder, stem, page, _summary(staging, stem, notebook))
        except AbnbError:
            raise
        except OSError as error:
            raise _io.write_error(error, Path(error.filename) if error.filename else folder) from error
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        (folder / f".failed-{stem}.ipynb").unlink(missing_ok=True)
    return published


def _make_folder(folder: Path) -> None:
    """Create the report folder ``folder``, refusing one that is a symbolic link."""
    if folder.is_symlink():
        raise ReportError(
            f"report folder {folder} is a symbolic link: abnb creates report folders itself and never publishes "
            "through a link (it could point anywhere). Replace the link by a folder, or point --output-dir at the "
            "real location; nothing was written."
        )
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise _io.write_error(error, folder) from error


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


def _failure(error: BaseException, failed_copy: Path | None) -> ReportError:
    """The :class:`ReportError` of a failed execution: the failing cell, and where its notebook is kept."""
    from papermill.exceptions import PapermillExecutionError

    where = f" The executed notebook is kept at {failed_copy}." if failed_copy else ""
    if isinstance(error, PapermillExecutionError):
        return ReportError(
            f"report cell {error.exec_count} failed with {error.ename}: {error.evalue}.{where} "
            "The previous report is left in place."
        )
    return ReportError(f"the report could not be rendered: {error}.{where} The previous report is left in place.")


def _checked_page(executed: Path, metadata: dict[str, Any] | None) -> str:
    """The reader's page of the executed notebook (its ``metadata`` merged first), refused if it loads anything."""
    if metadata:
        _add_metadata(executed, metadata)
    page = _export_html(executed)
    loads = external_resources(page)
    if loads:
        raise ReportError(f"the HTML would load {len(loads)} resource(s) from the network: {loads[:3]}.")
    return page


def _add_metadata(path: Path, metadata: dict[str, Any]) -> None:
    """Merge ``metadata`` into an executed notebook's metadata (its provenance; ``title`` names the HTML page)."""
    import nbformat

    notebook = nbformat.read(path, as_version=4)
    notebook.metadata.update(metadata)
    nbformat.write(notebook, path)


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


def _summary(staging: Path, stem: str, notebook: Path) -> dict[str, Any]:
    """The published summary: the one the notebook wrote, with the schema version first and the report block."""
    from abnb import __version__

    summary = json.loads((staging / _NOTEBOOK_SUMMARY).read_text(encoding="utf-8"))
    return {
        "schema_version": SCHEMA_VERSION,
        **summary,
        "report": {
            "html": f"{stem}.html",
            "notebook": f"{stem}.ipynb",
            "rendered_at": datetime.now().isoformat(timespec="seconds"),
            "abnb_version": __version__,
            "template": str(notebook),
        },
    }


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


def _read_json(path: Path, limit: int) -> Any:
    """The JSON in the regular file ``path`` (its first ``limit`` bytes), opened without following a link.

    Raises:
        OSError: ``path`` cannot be opened or read (a symbolic link: ``ELOOP``).
        ValueError: ``path`` is not a regular file, or not UTF-8 JSON.
    """
    with open(_io.open_no_follow(path, os.O_RDONLY), "rb") as handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            raise ValueError(f"{path.name} is not a regular file")
        return json.loads(handle.read(limit).decode("utf-8"))


def _read_manifest(staging: Path) -> list[str]:
    """The file names a committed staging folder's manifest lists, checked before anything is moved.

    A manifest is refused unless it is a regular file (not a link) holding ``{"stem": ..., "files": [...]}``
    where the stem is a plain name and every file is one of the names a run of that stem publishes
    (:func:`_published_names`): a planted manifest cannot move a file into another folder (``d/pwn.txt``
    through a linked ``d``) or over a file abnb does not own.

    Raises:
        ValueError: The manifest is not one abnb could have written (the message says why).
    """
    manifest = _read_json(staging / MANIFEST, 1 << 16)
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
    _io.fsync_dir(folder)
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
        elif staging.is_dir():
            done.append(f"{staging.name}: {_finish(staging, folder)}")
    for tmp in folder.glob(".*.tmp"):
        tmp.unlink(missing_ok=True)
    for failed in folder.glob(".failed-*.ipynb"):
        if failed.is_symlink() or not _is_notebook(failed):
            failed.unlink(missing_ok=True)
    return done


def _finish(staging: Path, folder: Path) -> str:
    """Roll a killed run's staging folder forward if it was committed, then remove it; say what was done."""
    action = "removed"
    if (staging / MANIFEST).exists() or (staging / MANIFEST).is_symlink():
        try:
            action = f"rolled forward {', '.join(_roll_forward(staging, folder)) or 'nothing left'}"
        except (OSError, ValueError, KeyError, TypeError, ReportError) as error:
            action = f"removed (its manifest could not be replayed: {error})"
    shutil.rmtree(staging, ignore_errors=True)
    return action


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
        _io.write_atomic(failed, executed.read_text(encoding="utf-8"))
    except (OSError, ReportError):
        return None
    return failed


def _latest_stem(folder: Path) -> str | None:
    """The stem (the as_of) of the run ``<folder>/summary.json`` describes, or None when there is none to read."""
    try:
        stem = str(_read_json(folder / "summary.json", 1 << 24)["report"]["html"]).removesuffix(".html")
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
    summaries = files[2:]  # <stem>.summary.json, and summary.json when this run is the latest
    _io.write_new(staging / f"{stem}.html", page)
    for name in summaries:
        _io.write_new(staging / name, text)
    _io.write_new(staging / f"{MANIFEST}.tmp", json.dumps({"stem": stem, "files": files}) + "\n")
    os.replace(staging / f"{MANIFEST}.tmp", staging / MANIFEST)  # the commit point
    _io.fsync_dir(staging)
    _roll_forward(staging, folder)
    return RenderedReport(folder / f"{stem}.ipynb", folder / f"{stem}.html", folder / summaries[-1])
