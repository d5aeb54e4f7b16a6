"""The course build: student and instructor versions of the teaching notebooks from one source, graded with nbgrader.

The source is a teaching notebook whose exercises are marked with cell tags (jupytext: ``# %% tags=[...]``):

- ``solution``: a code cell whose answer lies between ``### BEGIN SOLUTION`` and ``### END SOLUTION`` lines
  (nbgrader's markers); a solution cell without them is an answer as a whole.
- ``tests`` with ``points-N``: an autograded test cell worth N points; its hidden part lies between
  ``### BEGIN HIDDEN TESTS`` and ``### END HIDDEN TESTS``.
- ``self-check``: a cell the student runs to check an answer; it reaches the student unchanged and stays editable.
- every other cell is read-only for the student (nbgrader's ``locked``).

:func:`instructor_notebook` adds nbgrader's cell metadata to the source; :func:`student_notebook` then clears it
the way ``nbgrader generate_assignment`` does (solutions replaced by nbgrader's Python stub, hidden tests removed,
outputs cleared, read-only cells locked). :func:`build_course` writes an nbgrader course folder for a folder of
source notebooks, one assignment per notebook (named after its stem):

```
<output>/nbgrader_config.py                         course_id, CourseDirectory.root = this folder
<output>/source/<stem>/<stem>.ipynb                 instructor version: what `nbgrader generate_assignment` reads
<output>/instructor/<stem>.ipynb                    instructor version (the same notebook, to read)
<output>/student/<stem>.ipynb                       student version, to hand out without nbgrader
```

The rest of the layout (``release/``, ``submitted/``, ``autograded/``, ``feedback/``, ``gradebook.db``) is
nbgrader's and is never touched by a rebuild. Grade ids are ``<stem>-<kind>-<cell index>``: stable while the
cells of a notebook keep their order, so rebuild before ``nbgrader generate_assignment`` and not while
submissions of an older version are being graded.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat

from abnb import _io
from abnb.errors import SpecError

__all__ = [
    "CODE_STUB",
    "COURSE_ID",
    "Course",
    "build_course",
    "find_leaks",
    "instructor_notebook",
    "student_notebook",
]

SOLUTION_TAG = "solution"
TESTS_TAG = "tests"
SELF_CHECK_TAG = "self-check"
_POINTS = re.compile(r"points-(\d+(?:\.\d+)?)")

# nbgrader's delimiters are found anywhere in a line (ClearSolutions, ClearHiddenTests); the source writes them as
# ``### BEGIN SOLUTION`` and so on.
_BEGIN_SOLUTION, _END_SOLUTION = "BEGIN SOLUTION", "END SOLUTION"
_BEGIN_HIDDEN, _END_HIDDEN = "BEGIN HIDDEN TESTS", "END HIDDEN TESTS"

CODE_STUB = "# YOUR CODE HERE\nraise NotImplementedError()"
"""What replaces a solution region in the student version: nbgrader's default stub for Python."""

COURSE_ID = "abnb-teaching"
"""The nbgrader ``course_id`` that :func:`build_course` writes by default."""

_SCHEMA_VERSION = 3  # nbgrader's cell-metadata schema since 0.6


@dataclass(frozen=True)
class Course:
    """An nbgrader course folder written by :func:`build_course`.

    Attributes:
        root: The course folder (nbgrader's ``CourseDirectory.root``).
        config: Its ``nbgrader_config.py``.
        assignments: One assignment per source notebook, named after the notebook's stem, in name order.
        source: The instructor versions nbgrader reads, ``source/<assignment>/<assignment>.ipynb``.
        instructor: The instructor versions, ``instructor/<assignment>.ipynb``.
        student: The student versions, ``student/<assignment>.ipynb``.
    """

    root: Path
    config: Path
    assignments: tuple[str, ...]
    source: tuple[Path, ...]
    instructor: tuple[Path, ...]
    student: tuple[Path, ...]


def _tags(cell: Any) -> list[str]:
    return list(cell.get("metadata", {}).get("tags", []))


def _where(name: str, index: int) -> str:
    return f"{name}, cell {index}"


def _points(cell: Any, where: str) -> float:
    found = [float(match.group(1)) for tag in _tags(cell) if (match := _POINTS.fullmatch(tag))]
    if len(found) != 1:
        raise SpecError(
            f'{where}: a `tests` cell needs exactly one `points-N` tag (e.g. tags=["tests", "points-2"]), '
            f"found {len(found)}"
        )
    return found[0]


def _regions(source: str, begin: str, end: str, where: str) -> list[tuple[int, int]]:
    """The (begin line, end line) index pairs of the ``begin``...``end`` regions of ``source``, checked."""
    regions: list[tuple[int, int]] = []
    opened: int | None = None
    for number, line in enumerate(source.split("\n")):
        if begin in line:
            if opened is not None:
                raise SpecError(f"{where}: `{begin}` inside another `{begin}` region")
            opened = number
        elif end in line:
            if opened is None:
                raise SpecError(f"{where}: `{end}` without a `{begin}` before it")
            regions.append((opened, number))
            opened = None
    if opened is not None:
        raise SpecError(f"{where}: `{begin}` without an `{end}` after it")
    return regions


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "_", name) or "notebook"


def _metadata(kind: str, grade_id: str, points: float | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "grade": kind == TESTS_TAG,
        "solution": kind == SOLUTION_TAG,
        "locked": kind != SOLUTION_TAG,
        "grade_id": grade_id,
        "schema_version": _SCHEMA_VERSION,
    }
    if points is not None:
        meta["points"] = points
    return meta


def instructor_notebook(nb: nbformat.NotebookNode, *, name: str = "notebook") -> nbformat.NotebookNode:
    """The instructor version of a source notebook: a copy with nbgrader's metadata on its cells.

    Solution cells become nbgrader solution cells, ``tests`` cells autograded tests worth their ``points-N``,
    ``self-check`` cells stay as they are (no nbgrader metadata: editable, not graded) and every other cell is
    locked (read-only). Grade ids are ``<name>-<kind>-<cell index>``. The notebook's jupytext pairing is dropped:
    a copy opened in Lab writes no ``.py`` beside it (in ``source/`` nbgrader would hand such a file out).

    Args:
        nb: The source notebook (nbformat 4); not changed.
        name: The notebook's name (its stem), the start of every grade id.

    Raises:
        SpecError: A solution or tests cell is not a code cell, a tests cell has no single ``points-N`` tag, a
            region is unbalanced or nested, or a solution or hidden-test region lies in a cell not tagged for it
            (it would reach the students).
    """
    out = copy.deepcopy(nb)
    out.metadata.pop("jupytext", None)
    slug = _slug(name)
    for index, cell in enumerate(out.cells):
        where = _where(name, index)
        tags = _tags(cell)
        source = cell.get("source", "")
        solutions = _regions(source, _BEGIN_SOLUTION, _END_SOLUTION, where)
        hidden = _regions(source, _BEGIN_HIDDEN, _END_HIDDEN, where)
        if SOLUTION_TAG in tags:
            kind = SOLUTION_TAG
        elif TESTS_TAG in tags:
            kind = TESTS_TAG
        elif SELF_CHECK_TAG in tags:
            kind = SELF_CHECK_TAG
        else:
            kind = "locked"
        if kind in (SOLUTION_TAG, TESTS_TAG) and cell.cell_type != "code":
            raise SpecError(f"{where}: a `{kind}` cell must be a code cell, not {cell.cell_type}")
        if solutions and kind != SOLUTION_TAG:
            raise SpecError(f"{where}: a `{_BEGIN_SOLUTION}` region in a cell not tagged `{SOLUTION_TAG}`")
        if hidden and kind != TESTS_TAG:
            raise SpecError(f"{where}: a `{_BEGIN_HIDDEN}` region in a cell not tagged `{TESTS_TAG}`")
        if kind == SELF_CHECK_TAG:
            continue
        points = _points(cell, where) if kind == TESTS_TAG else None
        cell.metadata["nbgrader"] = _metadata(kind, f"{slug}-{kind}-{index}", points)
    return out


def _without_regions(source: str, regions: list[tuple[int, int]], stub: str | None) -> str:
    """``source`` with each region (markers included) removed, or replaced by ``stub`` indented like its marker."""
    lines = source.split("\n")
    kept: list[str] = []
    start = 0
    for begin, end in regions:
        kept.extend(lines[start:begin])
        if stub is not None:
            indent = lines[begin][: len(lines[begin]) - len(lines[begin].lstrip())]
            kept.extend(indent + line for line in stub.split("\n"))
        start = end + 1
    kept.extend(lines[start:])
    return "\n".join(kept)


def student_notebook(nb: nbformat.NotebookNode, *, name: str = "notebook") -> nbformat.NotebookNode:
    """The student version of a source notebook, cleared as ``nbgrader generate_assignment`` clears it.

    Each solution region becomes :data:`CODE_STUB` (a solution cell without regions becomes the stub as a
    whole), hidden-test regions are removed, every output and execution count is cleared, locked and test cells
    are made non-editable and non-deletable and solution cells non-deletable (nbgrader's LockCells), and
    ``self-check`` cells are kept as written.

    Args:
        nb: The source notebook (nbformat 4); not changed.
        name: The notebook's name (its stem), the start of every grade id.

    Raises:
        SpecError: As :func:`instructor_notebook`.
    """
    out = instructor_notebook(nb, name=name)
    out.metadata.pop("celltoolbar", None)
    for index, cell in enumerate(out.cells):
        where = _where(name, index)
        grading = cell.metadata.get("nbgrader", {})
        if grading.get("solution"):
            regions = _regions(cell.source, _BEGIN_SOLUTION, _END_SOLUTION, where)
            cell.source = _without_regions(cell.source, regions, CODE_STUB) if regions else CODE_STUB
            cell.metadata["deletable"] = False
        elif grading.get("locked"):
            if grading.get("grade"):
                cell.source = _without_regions(
                    cell.source, _regions(cell.source, _BEGIN_HIDDEN, _END_HIDDEN, where), None
                )
            cell.metadata["deletable"] = False
            cell.metadata["editable"] = False
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    return out


def _secret_lines(source: nbformat.NotebookNode, name: str) -> set[str]:
    """The stripped lines that appear only inside solution or hidden-test regions of ``source``."""
    secret: set[str] = set()
    public: set[str] = set()
    for index, cell in enumerate(source.cells):
        lines = cell.get("source", "").split("\n")
        where = _where(name, index)
        inside: set[int] = set()
        for begin, end in (
            *_regions(cell.get("source", ""), _BEGIN_SOLUTION, _END_SOLUTION, where),
            *_regions(cell.get("source", ""), _BEGIN_HIDDEN, _END_HIDDEN, where),
        ):
            inside.update(range(begin + 1, end))
        for number, line in enumerate(lines):
            (secret if number in inside else public).add(line.strip())
        if SOLUTION_TAG in _tags(cell) and not _regions(cell.get("source", ""), _BEGIN_SOLUTION, _END_SOLUTION, where):
            secret.update(line.strip() for line in lines)  # a solution cell without regions is an answer whole
    return secret - public - {line.strip() for line in CODE_STUB.split("\n")} - {""}


def find_leaks(student: nbformat.NotebookNode, source: nbformat.NotebookNode, *, name: str = "notebook") -> list[str]:
    """What a student version gives away of its source: one message per leak, none when it is clean.

    A leak is a nbgrader marker (``BEGIN SOLUTION``, ``END SOLUTION``, ``BEGIN HIDDEN TESTS``, ``END HIDDEN
    TESTS``), a line that appears in the source only inside a solution or hidden-test region (compared without
    surrounding blanks), or an output left in a code cell.

    Args:
        student: The student version to check.
        source: The source notebook it was made from.
        name: The notebook's name, used in the messages.
    """
    secret = _secret_lines(source, name)
    leaks: list[str] = []
    for index, cell in enumerate(student.cells):
        where = _where(name, index)
        for line in cell.get("source", "").split("\n"):
            marker = next((m for m in (_BEGIN_SOLUTION, _END_SOLUTION, _BEGIN_HIDDEN, _END_HIDDEN) if m in line), None)
            if marker is not None:
                leaks.append(f"{where}: the marker `{marker}`")
            elif line.strip() in secret:
                leaks.append(f"{where}: the line `{line.strip()}` of a solution or hidden test")
        if cell.cell_type == "code" and cell.get("outputs"):
            leaks.append(f"{where}: {len(cell.outputs)} output(s) left")
    return leaks


def _config(course_id: str) -> str:
    return (
        f'"""nbgrader configuration of the course {course_id}, written by `abnb teach build` on every build."""\n'
        "\n"
        "import os\n"
        "\n"
        "c = get_config()  # noqa: F821 (nbgrader's config loader defines it)\n"
        f"c.CourseDirectory.course_id = {course_id!r}\n"
        "# the folder of this file, wherever the course is moved\n"
        "c.CourseDirectory.root = os.path.dirname(os.path.abspath(__file__))\n"
    )


def build_course(sources: Path, output: Path, *, course_id: str = COURSE_ID) -> Course:
    """Write the nbgrader course of every source notebook (``*.ipynb``) of ``sources`` into ``output``.

    Every notebook is converted and checked (:func:`find_leaks`) before anything is written, so a bad source
    leaves the course as it was; each file is then written atomically. One assignment per notebook, named after
    its stem; the layout is in the module's docstring. Files of notebooks no longer in ``sources`` are left in
    place, and so is everything nbgrader keeps in ``output`` (``release/``, ``submitted/``, ``gradebook.db`` ...).

    Args:
        sources: Folder of source notebooks (the project's ``notebooks/teaching``).
        output: The course folder (created if needed).
        course_id: nbgrader's ``course_id``.

    Returns:
        The course written.

    Raises:
        SpecError: ``sources`` holds no notebook, a source is malformed (:func:`instructor_notebook`) or its
            student version would leak a solution or a hidden test.
        ReportError: A file could not be written.
    """
    paths = sorted(sources.glob("*.ipynb"))
    if not paths:
        raise SpecError(f"no source notebooks (*.ipynb) in {sources}")
    built: list[tuple[str, nbformat.NotebookNode, nbformat.NotebookNode]] = []
    for path in paths:
        name = path.stem
        source = nbformat.read(path, as_version=4)  # type: ignore[no-untyped-call]  # nbformat ships no annotations
        student = student_notebook(source, name=name)
        leaks = find_leaks(student, source, name=name)
        if leaks:
            raise SpecError(f"the student version of {path} would leak: " + "; ".join(leaks))
        built.append((name, instructor_notebook(source, name=name), student))
    written: dict[str, list[Path]] = {"source": [], "instructor": [], "student": []}
    for name, instructor, student in built:
        targets = {
            "source": (output / "source" / name / f"{name}.ipynb", instructor),
            "instructor": (output / "instructor" / f"{name}.ipynb", instructor),
            "student": (output / "student" / f"{name}.ipynb", student),
        }
        for kind, (target, notebook) in targets.items():
            _io.write_atomic(target, nbformat.writes(notebook))  # type: ignore[no-untyped-call]
            written[kind].append(target)
    config = output / "nbgrader_config.py"
    _io.write_atomic(config, _config(course_id))
    return Course(
        root=output,
        config=config,
        assignments=tuple(name for name, _, _ in built),
        source=tuple(written["source"]),
        instructor=tuple(written["instructor"]),
        student=tuple(written["student"]),
    )
