"""abnb validate: every problem of a spec, named with the database and the fix, in well under a second."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import duckdb
import pytest

import abnb
from abnb.datasets import experiment as sample_experiment
from abnb.errors import DataError, SchemaError
from abnb.experiment import Experiment
from abnb.metrics import Metric, Sql
from abnb.validate import validate, validate_all


@pytest.fixture(scope="module")
def spec() -> Experiment:
    return sample_experiment("checkout_redesign")


def test_a_good_spec_validates_quickly_and_says_what_it_would_cover(con: abnb.Connection, spec: Experiment) -> None:
    started = time.perf_counter()
    checked = validate(spec, con)
    assert time.perf_counter() - started < 5  # ~0.05 s here; the budget is "about a second" at any size
    assert checked.ok
    rows = con.raw.execute("SELECT arm, count(*) FROM exposures WHERE experiment = 'checkout_redesign' GROUP BY arm")
    assert checked.arms == dict(rows.fetchall())  # exposure rows (units seen twice count twice)
    assert str(checked.label) == "2026-10-14"  # the events run to the 14th; exposures end on the 10th
    assert checked.as_of is not None
    assert checked.as_of.isoformat() == "2026-10-15T00:00:00"
    assert checked.raise_for_problems() is checked
    assert "checkout_redesign: ok" in checked.summary()
    assert spec.analyze(con).label == checked.label  # the analysis takes the same default


def test_every_problem_is_listed_with_the_database(con: abnb.Connection, spec: Experiment) -> None:
    bad = dataclasses.replace(
        spec,
        metrics=(
            Metric("typo", Sql("SELECT unit, ts, valeu AS value FROM events")),
            Metric("text_value", Sql("SELECT unit, ts, event AS value FROM events")),
            Metric("epoch", Sql("SELECT unit, epoch(ts) AS ts, value FROM events")),
            Metric("text_unit", Sql("SELECT CAST(unit AS VARCHAR) AS unit, ts, value FROM events")),
            spec.metrics[0],
        ),
    )
    checked = validate(bad, con)
    messages = [p.message for p in checked.problems]
    assert len(messages) == 4
    assert "metric 'typo'" in messages[0]
    assert "valeu" in messages[0]
    assert con.database in messages[0]
    assert "text_value" in messages[1]
    assert "must be numeric" in messages[1]
    assert "epoch" in messages[2]
    assert "must be a TIMESTAMP" in messages[2]
    assert "text_unit" in messages[3]
    assert "cast one to the other's type" in messages[3]
    with pytest.raises(SchemaError, match="has 4 problems: \\(1\\)"):
        checked.raise_for_problems()


def test_arms_spelled_otherwise_are_shown_as_written(con: abnb.Connection, spec: Experiment) -> None:
    checked = validate(dataclasses.replace(spec, arms=("control", "treatment "), weights=None), con)
    assert [p.kind for p in checked.problems] == ["data", "data"]
    assert "'treatment ' of the spec have no exposures" in checked.problems[0].message
    assert "arms found: 'control', 'treatment'" in checked.problems[0].message
    with pytest.raises(DataError):
        checked.raise_for_problems()


def test_a_misspelt_experiment_lists_the_experiments_present(con: abnb.Connection, spec: Experiment) -> None:
    checked = validate(dataclasses.replace(spec, name="checkout_redesing"), con)
    (problem,) = checked.problems
    assert "no exposures with experiment = 'checkout_redesing'" in problem.message
    assert "'checkout_redesign'" in problem.message


@pytest.mark.parametrize(
    ("as_of", "message"),
    [
        ("2026-10-16", "past the last day with data, 2026-10-14"),
        ("2027-01-01", "past the last day with data"),
        ("2026-09-01", "not after the experiment's start 2026-10-01 00:00"),
        ("2026-10-01T00:00:00.5", "before the first exposure"),
    ],
)
def test_as_of_outside_the_data_is_refused(con: abnb.Connection, spec: Experiment, as_of: str, message: str) -> None:
    (problem,) = validate(spec, con, as_of=as_of).problems
    assert message in problem.message


def test_the_exposures_time_must_be_a_time(tmp_path: Path, spec: Experiment) -> None:
    path = tmp_path / "epoch.duckdb"
    with duckdb.connect(str(path)) as raw:
        raw.execute(
            "CREATE TABLE exposures AS SELECT 'checkout_redesign' AS experiment, 1 AS unit, 'control' AS arm, 5 AS ts, "
            "'US' AS country, 'ios' AS platform"
        )
    with abnb.connect(path) as con:
        (problem,) = validate(spec, con).problems
    assert "column 'ts' of exposures table 'exposures'" in problem.message
    assert "INTEGER" in problem.message
    assert "to_timestamp(ts)" in problem.message
    assert str(path) in problem.message


def test_validate_all_refuses_twins_and_reports_specs_that_do_not_load(con: abnb.Connection, spec: Experiment) -> None:
    results = validate_all(
        [("a", spec), ("b", spec), ("broken", SchemaError("x.toml is broken"))], con, as_of="2026-10-14"
    )
    assert [r.ok for r in results] == [False, False, False]
    assert "2 specs are named 'checkout_redesign' (a, b)" in results[0].problems[-1].message
    assert results[2].problems[0].message == "x.toml is broken"


def test_report_and_run_validate_before_any_kernel(sample_db: Path, tmp_path: Path) -> None:
    """A mistake is reported in about a second, not after a notebook failed 16-20 s later."""
    from click.testing import CliRunner

    from abnb.cli import main

    bad = tmp_path / "bad.toml"
    bad.write_text(
        'name = "checkout_redesign"\narms = ["control", "treatment"]\nsegments = ["browser"]\n'
        '[[metrics]]\nname = "m"\nsql = "SELECT unit, ts, value FROM events"\n'
    )
    started = time.perf_counter()
    result = CliRunner().invoke(
        main, ["report", str(bad), "--database", str(sample_db), "--output-dir", str(tmp_path / "out")]
    )
    seconds = time.perf_counter() - started
    assert result.exit_code == 1
    assert "SchemaError" in result.output
    assert "lacks column 'browser'" in result.output
    assert str(sample_db) in result.output
    assert seconds < 10  # no kernel was started
    assert not (tmp_path / "out" / "checkout_redesign").exists()
