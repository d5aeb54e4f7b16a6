"""The course build (abnb.teach.build): student and instructor notebooks from one source, graded by nbgrader."""

from __future__ import annotations

import html
import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from click.testing import CliRunner

from abnb.cli import main
from abnb.errors import SpecError
from abnb.teach.build import CODE_STUB, build_course, find_leaks, instructor_notebook, student_notebook

NAME = "intervals"

INTERVAL_ANSWER = "ci_low, ci_high = 3.1, 3.4"
PVALUE_ANSWER = "    return min(1.0, 2 * p)"
PVALUE_MESSAGE = "pvalue should be 0.04, twice the one-sided 0.02"

VISIBLE_INTERVAL_TEST = 'assert ci_low < ci_high, "the interval is empty"'
HIDDEN_INTERVAL_TEST = 'assert abs(ci_low - 3.1) < 1e-6, "ci_low should be 3.1"'
VISIBLE_PVALUE_TEST = 'assert 0 <= pvalue <= 1, "a p-value is a probability"'
HIDDEN_PVALUE_TEST = f'assert abs(pvalue - 0.04) < 1e-9, "{PVALUE_MESSAGE}"'
SELF_CHECK = 'print(f"self-check: the interval is {ci_high - ci_low:.2f} wide")'
PVALUE_CODE = "def two_sided(p):\n    ### BEGIN SOLUTION\n{answer}\n    ### END SOLUTION\n\n\npvalue = two_sided(0.02)"


def _code(source: str, *tags: str) -> nbformat.NotebookNode:
    cell = nbformat.v4.new_code_cell(source)
    if tags:
        cell.metadata["tags"] = list(tags)
    return cell


def _source() -> nbformat.NotebookNode:
    """Two exercises in the source format: an interval worth 2 points, a p-value worth 1."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["jupytext"] = {"formats": "ipynb,py:percent"}
    nb.cells = [
        nbformat.v4.new_markdown_cell("# Intervals\n\nCompute the 95% interval of the mean."),
        _code("n = 100"),
        _code(f"### BEGIN SOLUTION\n{INTERVAL_ANSWER}\n### END SOLUTION", "solution"),
        _code(
            f"{VISIBLE_INTERVAL_TEST}\n### BEGIN HIDDEN TESTS\n{HIDDEN_INTERVAL_TEST}\n"
            'assert abs(ci_high - 3.4) < 1e-6, "ci_high should be 3.4"\n### END HIDDEN TESTS',
            "tests",
            "points-2",
        ),
        _code(SELF_CHECK, "self-check"),
        nbformat.v4.new_markdown_cell("## A two-sided p-value"),
        _code(PVALUE_CODE.format(answer=PVALUE_ANSWER), "solution"),
        _code(
            f"{VISIBLE_PVALUE_TEST}\n### BEGIN HIDDEN TESTS\n{HIDDEN_PVALUE_TEST}\n### END HIDDEN TESTS",
            "tests",
            "points-1",
        ),
    ]
    nb.cells[1].outputs = [nbformat.v4.new_output("stream", text="an output of the instructor's run\n")]
    nb.cells[1].execution_count = 1
    return nb


def _write_source(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{NAME}.ipynb"
    nbformat.write(_source(), path)
    return path


def test_instructor_version_carries_nbgrader_metadata() -> None:
    nb = instructor_notebook(_source(), name=NAME)
    grading = [cell.metadata.get("nbgrader") for cell in nb.cells]
    assert grading[0] == {
        "grade": False,
        "solution": False,
        "locked": True,
        "grade_id": "intervals-locked-0",
        "schema_version": 3,
    }
    assert grading[2] == {
        "grade": False,
        "solution": True,
        "locked": False,
        "grade_id": "intervals-solution-2",
        "schema_version": 3,
    }
    assert grading[3] == {
        "grade": True,
        "solution": False,
        "locked": True,
        "grade_id": "intervals-tests-3",
        "points": 2.0,
        "schema_version": 3,
    }
    assert grading[4] is None  # the self-check: neither graded nor locked
    assert grading[7] is not None
    assert grading[7]["points"] == 1.0
    assert [cell.source for cell in nb.cells] == [cell.source for cell in _source().cells]  # answers kept
    assert "jupytext" not in nb.metadata  # no .py pairing for a copy


def test_student_version_clears_solutions_and_hidden_tests() -> None:
    source = _source()
    nb = student_notebook(source, name=NAME)
    sources = [cell.source for cell in nb.cells]
    assert sources[2] == CODE_STUB == "# YOUR CODE HERE\nraise NotImplementedError()"
    # the stub takes the indentation of its marker, the code around the region stays
    assert sources[6] == (
        "def two_sided(p):\n    # YOUR CODE HERE\n    raise NotImplementedError()\n\n\npvalue = two_sided(0.02)"
    )
    assert sources[3] == VISIBLE_INTERVAL_TEST
    assert sources[7] == VISIBLE_PVALUE_TEST
    assert sources[4] == SELF_CHECK
    assert "editable" not in nb.cells[4].metadata
    text = "\n".join(sources)
    for secret in ("BEGIN SOLUTION", "BEGIN HIDDEN TESTS", INTERVAL_ANSWER, PVALUE_ANSWER.strip(), "0.04", "3.4"):
        assert secret not in text
    assert all(cell.outputs == [] and cell.execution_count is None for cell in nb.cells if cell.cell_type == "code")
    assert (nb.cells[1].metadata["editable"], nb.cells[1].metadata["deletable"]) == (False, False)
    assert (nb.cells[3].metadata["editable"], nb.cells[3].metadata["deletable"]) == (False, False)
    assert nb.cells[2].metadata["deletable"] is False
    assert "editable" not in nb.cells[2].metadata
    assert find_leaks(nb, source, name=NAME) == []
    assert source.cells[1].outputs != []  # the source is not changed


def test_find_leaks_names_what_a_student_version_gives_away() -> None:
    source = _source()
    nb = student_notebook(source, name=NAME)
    nb.cells[2].source = INTERVAL_ANSWER
    nb.cells[7].source += "\n### BEGIN HIDDEN TESTS"
    nb.cells[1].outputs = [nbformat.v4.new_output("stream", text="3.1\n")]
    assert find_leaks(nb, source, name=NAME) == [
        "intervals, cell 1: 1 output(s) left",
        f"intervals, cell 2: the line `{INTERVAL_ANSWER}` of a solution or hidden test",
        "intervals, cell 7: the marker `BEGIN HIDDEN TESTS`",
    ]


@pytest.mark.parametrize(
    ("index", "tags", "message"),
    [
        (3, ["tests"], "intervals, cell 3: a `tests` cell needs exactly one `points-N` tag"),
        (2, [], "intervals, cell 2: a `BEGIN SOLUTION` region in a cell not tagged `solution`"),
        (3, ["self-check"], "intervals, cell 3: a `BEGIN HIDDEN TESTS` region in a cell not tagged `tests`"),
    ],
)
def test_malformed_sources_are_refused(index: int, tags: list[str], message: str) -> None:
    nb = _source()
    nb.cells[index].metadata["tags"] = tags
    with pytest.raises(SpecError, match=message.replace("`", ".")):
        instructor_notebook(nb, name=NAME)


def test_unclosed_region_is_refused() -> None:
    nb = _source()
    nb.cells[2].source = f"### BEGIN SOLUTION\n{INTERVAL_ANSWER}"
    with pytest.raises(SpecError, match=r"cell 2: .BEGIN SOLUTION. without an .END SOLUTION. after it"):
        student_notebook(nb, name=NAME)


def test_cli_builds_the_course_layout(tmp_path: Path) -> None:
    _write_source(tmp_path / "teaching")
    result = CliRunner().invoke(
        main, ["teach", "build", "--notebooks", str(tmp_path / "teaching"), "--output-dir", str(tmp_path / "course")]
    )
    assert result.exit_code == 0, result.output
    course = tmp_path / "course"
    assert result.output.splitlines() == [
        str(course / "nbgrader_config.py"),
        str(course / "instructor" / f"{NAME}.ipynb"),
        str(course / "student" / f"{NAME}.ipynb"),
    ]
    assert sorted(str(p.relative_to(course)) for p in course.rglob("*") if p.is_file()) == [
        "instructor/intervals.ipynb",
        "nbgrader_config.py",
        "source/intervals/intervals.ipynb",
        "student/intervals.ipynb",
    ]
    assert (course / "source" / NAME / f"{NAME}.ipynb").read_text() == (
        course / "instructor" / f"{NAME}.ipynb"
    ).read_text()
    for path in course.rglob("*.ipynb"):
        nbformat.validate(nbformat.read(path, as_version=4))
    student = (course / "student" / f"{NAME}.ipynb").read_text()
    assert "BEGIN SOLUTION" not in student
    assert "3.4" not in student
    assert "self-check:" in student
    config = (course / "nbgrader_config.py").read_text()
    assert "c.CourseDirectory.course_id = 'abnb-teaching'" in config
    assert "c.CourseDirectory.root = os.path.dirname(os.path.abspath(__file__))" in config


def test_build_refuses_a_folder_without_notebooks(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="no source notebooks"):
        build_course(tmp_path, tmp_path / "course")
    assert not (tmp_path / "course").exists()


def _nbgrader(course: Path, *args: str) -> str:
    """Run an nbgrader command in the course folder, offline and without the user's Jupyter config."""
    bin_dir = Path(sys.executable).parent
    env = {
        **os.environ,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",  # nbgrader runs `alembic` from PATH
        "JUPYTER_CONFIG_DIR": str(course.parent / "jupyter-config"),
        "JUPYTER_RUNTIME_DIR": str(course.parent / "jupyter-runtime"),
    }
    done = subprocess.run(
        [sys.executable, "-m", "nbgrader", *args],
        cwd=course,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout + done.stderr


def _submit(course: Path, student: str, pvalue_answer: str) -> None:
    released = nbformat.read(course / "release" / NAME / f"{NAME}.ipynb", as_version=4)
    released.cells[2].source = INTERVAL_ANSWER
    released.cells[6].source = (
        PVALUE_CODE.format(answer=pvalue_answer)
        .replace("    ### BEGIN SOLUTION\n", "")
        .replace("\n    ### END SOLUTION", "")
    )
    folder = course / "submitted" / student / NAME
    folder.mkdir(parents=True)
    nbformat.write(released, folder / f"{NAME}.ipynb")


def _feedback_text(course: Path, student: str) -> str:
    """The text of a student's feedback page, without its HTML tags (tracebacks are coloured span by span)."""
    return re.sub(r"<[^>]+>", "", (course / "feedback" / student / NAME / f"{NAME}.html").read_text())


@pytest.mark.slow
def test_nbgrader_grades_the_built_course(tmp_path: Path) -> None:
    if importlib.util.find_spec("nbgrader") is None:
        if not os.environ.get("CI"):
            pytest.skip('nbgrader is not installed (the `teach` extra: pip install -e ".[teach]")')
        pytest.fail("nbgrader must be installed in CI (the `teach` extra of `make test`)")
    _write_source(tmp_path / "teaching")
    course = build_course(tmp_path / "teaching", tmp_path / "course")
    assert course.assignments == (NAME,)

    _nbgrader(course.root, "generate_assignment", NAME, "--force")
    released = nbformat.read(course.root / "release" / NAME / f"{NAME}.ipynb", as_version=4)
    ours = nbformat.read(course.student[0], as_version=4)
    assert [cell.source for cell in released.cells] == [cell.source for cell in ours.cells]  # nbgrader agrees

    _submit(course.root, "ada", PVALUE_ANSWER)
    _submit(course.root, "bob", "    return p")  # one-sided: passes the visible test, fails the hidden one
    _nbgrader(course.root, "autograde", NAME)
    _nbgrader(course.root, "generate_feedback", NAME)

    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course.root / 'gradebook.db'}") as gradebook:
        scores = {
            student: (submission.score, submission.max_score)
            for student in ("ada", "bob")
            for submission in [gradebook.find_submission(NAME, student)]
        }
        failed = {grade.name: grade.score for grade in gradebook.find_submission_notebook(NAME, NAME, "bob").grades}
    assert scores == {"ada": (3.0, 3.0), "bob": (2.0, 3.0)}
    assert failed == {"intervals-tests-3": 2.0, "intervals-tests-7": 0.0}

    # the hidden tests are shown in the feedback; the failure is the traceback line of bob's run only
    failure = f"AssertionError: {PVALUE_MESSAGE}"
    assert failure in _feedback_text(course.root, "bob")
    assert failure not in _feedback_text(course.root, "ada")


TEACHING = Path(__file__).resolve().parents[1] / "notebooks" / "teaching"
T_TEST = "04_t_test"
WHICH_RIGHT = 'answer = "c"'
PAIRED_RIGHT = (
    "differences = drug1 - drug2\nt_paired = differences.mean() / (differences.std(ddof=1) / len(differences) ** 0.5)"
)
PAIRED_AS_WELCH = "from scipy import stats\n\nt_paired = stats.ttest_ind(drug1, drug2, equal_var=False).statistic"


def _answer(course: Path, student: str, answers: list[str]) -> None:
    """A copy of the released teaching notebook with the solution stubs replaced by ``answers``, in order."""
    released = nbformat.read(course / "release" / T_TEST / f"{T_TEST}.ipynb", as_version=4)
    stubs = [cell for cell in released.cells if CODE_STUB in cell.source]
    assert len(stubs) == len(answers)
    for cell, answer in zip(stubs, answers, strict=True):
        cell.source = cell.source.replace(CODE_STUB, answer)
    folder = course / "submitted" / student / T_TEST
    folder.mkdir(parents=True)
    nbformat.write(released, folder / f"{T_TEST}.ipynb")


@pytest.mark.slow
def test_nbgrader_grades_a_teaching_notebook_with_abnbs_answers(tmp_path: Path) -> None:
    """Notebook 04's two exercises (1 + 2 points): right answers get 3/3; Welch's t where the paired one belongs gets
    1/3, and the feedback names that mistake (the hidden test is ``abnb.teach.grade``)."""
    if importlib.util.find_spec("nbgrader") is None:
        if not os.environ.get("CI"):
            pytest.skip('nbgrader is not installed (the `teach` extra: pip install -e ".[teach]")')
        pytest.fail("nbgrader must be installed in CI (the `teach` extra of `make test`)")
    sources = tmp_path / "teaching"
    sources.mkdir()
    (sources / f"{T_TEST}.ipynb").write_bytes((TEACHING / f"{T_TEST}.ipynb").read_bytes())
    course = build_course(sources, tmp_path / "course")
    student = nbformat.read(course.student[0], as_version=4)
    assert not find_leaks(student, nbformat.read(TEACHING / f"{T_TEST}.ipynb", as_version=4), name=T_TEST)
    assert "abnb.teach.grade" not in nbformat.writes(student)

    _nbgrader(course.root, "generate_assignment", T_TEST, "--force")
    _answer(course.root, "ada", [WHICH_RIGHT, PAIRED_RIGHT])
    _answer(course.root, "bob", [WHICH_RIGHT, PAIRED_AS_WELCH])
    _nbgrader(course.root, "autograde", T_TEST)
    _nbgrader(course.root, "generate_feedback", T_TEST)

    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course.root / 'gradebook.db'}") as gradebook:
        scores = {
            s: (gradebook.find_submission(T_TEST, s).score, gradebook.find_submission(T_TEST, s).max_score)
            for s in ("ada", "bob")
        }
    assert scores == {"ada": (3.0, 3.0), "bob": (1.0, 3.0)}
    page = (course.root / "feedback" / "bob" / T_TEST / f"{T_TEST}.html").read_text()
    feedback = html.unescape(re.sub(r"<[^>]+>", "", page))
    assert "AssertionError: 04.paired_t: that is Welch's t for two unrelated samples" in feedback


def test_every_teaching_notebook_builds_a_student_version_without_solutions(tmp_path: Path) -> None:
    course = build_course(TEACHING, tmp_path / "course")
    assert course.assignments == tuple(sorted(p.stem for p in TEACHING.glob("*.ipynb")))
    for path in course.student:
        student = nbformat.read(path, as_version=4)
        source = nbformat.read(TEACHING / path.name, as_version=4)
        assert find_leaks(student, source, name=path.stem) == []
        text = nbformat.writes(student)
        assert "abnb.teach.grade" not in text  # the hidden tests are gone
        assert text.count("raise NotImplementedError()") == sum(
            "solution" in cell.metadata.get("tags", []) for cell in source.cells
        )
        assert "abnb.teach.check(" in text  # the self-checks stay
