from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

import abnb
from abnb.cli import main


def test_data_generate_writes_a_database(tmp_path: Path) -> None:
    target = tmp_path / "t.duckdb"
    result = CliRunner().invoke(main, ["data", "generate", "--users", "2000", "--database", str(target)])
    assert result.exit_code == 0, result.output
    assert "2,000 users" in result.output
    with abnb.connect(target) as con:
        (n,) = con.raw.execute("SELECT count(DISTINCT unit) FROM exposures").fetchone()
    assert n == 2000


def test_report_of_unknown_experiment_fails_with_a_clear_message(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["report", "no_such_experiment", "--output-dir", str(tmp_path)])
    assert result.exit_code == 1
    assert "SpecError: no experiment 'no_such_experiment'" in result.output
    assert "checkout_redesign" in result.output  # lists the known ones


def test_report_path_traversal_is_refused(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["report", "../../etc", "--output-dir", str(tmp_path)])
    assert result.exit_code == 1
    assert "not a valid identifier" in result.output
    assert list(tmp_path.iterdir()) == []


def test_import_abnb_is_light() -> None:
    code = (
        "import sys, abnb; heavy = [m for m in ('scipy', 'pandas', 'altair', 'papermill', 'duckdb', 'sqlglot', "
        "'nbconvert') if m in sys.modules]; print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == ""
