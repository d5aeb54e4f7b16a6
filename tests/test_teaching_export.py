"""Static HTML copies of the teaching notebooks: executed, offline, widgets as their last state."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from abnb.report import export_notebook, external_resources
from abnb.report.export import WIDGET_VIEW

TEACHING = Path(__file__).resolve().parents[1] / "notebooks" / "teaching"

pytestmark = pytest.mark.slow


def test_export_keeps_the_last_state_offline(tmp_path: Path) -> None:
    page_path = export_notebook(TEACHING / "02_comparing_distributions.ipynb", tmp_path / "02.html")
    page = page_path.read_text()
    assert external_resources(page) == []
    assert WIDGET_VIEW not in page
    assert "<svg" in page  # charts as inline SVG in the snapshot
    # after Run All the app still shows the case the notebook discusses first (10 users per group); the later
    # cases (2,158 users, then 50 with sd 120) are previews below it, which leave the app alone
    verdicts = re.findall(r'class="abnb-verdict">(.*?)</div>', page)
    assert len(verdicts) >= 5
    assert "(n=10)" in verdicts[0]
    assert any("(n=50)" in v for v in verdicts[1:])


def test_every_teaching_notebook_is_there() -> None:
    names = sorted(p.stem for p in TEACHING.glob("*.ipynb"))
    assert names == [
        "01_error_model",
        "02_comparing_distributions",
        "03_confidence_intervals",
        "04_t_test",
        "05_significance_and_power",
        "06_peeking",
        "07_ab_conversion_table",
    ]


def test_teach_export_writes_a_student_page_with_the_questions_only(tmp_path: Path) -> None:
    import html
    import re
    import shutil

    from abnb.report import export_teaching

    folder = tmp_path / "teaching"
    folder.mkdir()
    shutil.copy(TEACHING / "03_confidence_intervals.ipynb", folder)
    pages = export_teaching(tmp_path / "out", notebooks=folder)
    assert [p.relative_to(tmp_path / "out").as_posix() for p in pages] == [
        "03_confidence_intervals.html",
        "student/03_confidence_intervals.html",
    ]
    raw = [p.read_text() for p in pages]
    for page in raw:
        assert external_resources(page) == []
    teacher, student = (html.unescape(re.sub(r"<[^>]+>", "", page)) for page in raw)  # code is highlighted span by span
    for page in (teacher, student):
        assert "Exercise 03.ci_by_hand" in page
    assert "t.ppf" in teacher  # the solution, executed: its self-check says right
    assert "Right" in teacher
    assert "t.ppf" not in student  # solution and hidden test gone; the stub is shown, not run
    assert "BEGIN HIDDEN TESTS" not in student
    assert "NotImplementedError" in student
    assert "Traceback" not in student
    assert "<svg" in raw[1]  # the lesson above the exercises ran
