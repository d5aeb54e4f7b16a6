"""Bad telemetry reaching the analysis: one test per row of the `data` section of docs/reliability.md.

Each test feeds ``Experiment.analyze`` / ``Experiment.distributions`` / ``abnb.counts.conversion_table`` /
``abnb.telemetry.check_table`` / ``abnb.incremental.analyze`` a small, hand-made database (or a copy of the
sample) and asserts either an ``AbnbError`` subclass with a message naming the input and the fix, or the exact
numbers of an independent computation (numpy / scipy on the same rows).
"""

from __future__ import annotations

import dataclasses
import math
import re
import shutil
from collections.abc import Sequence
from pathlib import Path

import duckdb
import numpy as np
import pytest
from scipy import stats as sps

import abnb
import abnb.incremental as incremental
from abnb.aggregate import ExposureSource
from abnb.counts import conversion_table
from abnb.errors import DataError, ParameterError, SchemaError
from abnb.experiment import Experiment
from abnb.metrics import Column, Metric, Sql
from abnb.stats import Moments
from abnb.telemetry import check_table

EXPOSED = "2026-10-02 00:00:00"
LATER = "2026-10-03 00:00:00"
REVENUE = Metric("revenue", Sql("SELECT unit, ts, value FROM events"))

Row = tuple[object, ...]


def _db(
    exposures: Sequence[Row],
    events: Sequence[Row],
    *,
    arm_type: str = "VARCHAR",
    value_type: str = "DOUBLE",
) -> duckdb.DuckDBPyConnection:
    """In-memory telemetry: exposures ``(unit, arm, ts)`` of experiment ``t`` and events ``(unit, ts, value)``."""
    raw = duckdb.connect()
    raw.execute(f"CREATE TABLE exposures (experiment VARCHAR, unit BIGINT, arm {arm_type}, ts TIMESTAMP)")
    raw.execute(f"CREATE TABLE events (unit BIGINT, ts TIMESTAMP, event VARCHAR, value {value_type})")
    if exposures:
        raw.executemany("INSERT INTO exposures VALUES ('t', ?, ?, ?)", list(exposures))
    if events:
        raw.executemany("INSERT INTO events VALUES (?, ?, 'e', ?)", list(events))
    return raw


def _spec(*metrics: Metric, **kwargs: object) -> Experiment:
    return Experiment(name="t", metrics=metrics or (REVENUE,), start="2026-10-01", end="2026-10-10", **kwargs)  # type: ignore[arg-type]


def _unit_db(rows: Sequence[Row], value_type: str = "DOUBLE") -> tuple[duckdb.DuckDBPyConnection, Experiment]:
    """A unit-level table ``u (unit, arm, y)`` and a spec reading ``y``."""
    raw = duckdb.connect()
    raw.execute(f"CREATE TABLE u (unit BIGINT, arm VARCHAR, y {value_type})")
    raw.executemany("INSERT INTO u VALUES (?, ?, ?)", list(rows))
    source = ExposureSource(table="u", ts=None, experiment_column=None, level="unit")
    return raw, Experiment(name="t", metrics=(Metric("revenue", Column("y")),), exposures=source)


# ten units, odd ones in control, each with one event of value = its id
UNITS = list(range(10))
EXPOSURES: list[Row] = [(i, "control" if i % 2 else "treatment", EXPOSED) for i in UNITS]
EVENTS: list[Row] = [(i, LATER, float(i)) for i in UNITS]
CONTROL = np.array([1.0, 3.0, 5.0, 7.0, 9.0])
TREATMENT = np.array([0.0, 2.0, 4.0, 6.0, 8.0])


def _assert_welch(result: abnb.ExperimentResult, control: np.ndarray, treatment: np.ndarray, metric: str) -> None:
    """The analysis equals scipy's Welch test on the per-unit values computed by hand."""
    effect = result.effect(metric)
    assert isinstance(effect.control, Moments)
    assert isinstance(effect.treatment, Moments)
    assert effect.control.n == control.size
    assert effect.treatment.n == treatment.size
    assert effect.control.mean == pytest.approx(control.mean(), rel=1e-12, abs=1e-12)
    assert effect.treatment.mean == pytest.approx(treatment.mean(), rel=1e-12, abs=1e-12)
    reference = sps.ttest_ind(treatment, control, equal_var=False)
    assert effect.absolute.pvalue == pytest.approx(reference.pvalue, rel=1e-9)


def _copy(sample_db: Path, tmp_path: Path) -> Path:
    path = tmp_path / "telemetry.duckdb"
    shutil.copy(sample_db, path)
    return path


# --- schema: missing tables, renamed columns, wrong types -------------------------------------------------------


def test_data01_missing_exposures_table() -> None:
    raw = _db(EXPOSURES, EVENTS)
    raw.execute("DROP TABLE exposures")
    with pytest.raises(SchemaError, match=r"table 'exposures' does not exist \(tables present: events\).*generate"):
        _spec().analyze(raw)


def test_data02_renamed_arm_column_names_table_column_and_spec_fix(sample_db: Path, tmp_path: Path) -> None:
    path = _copy(sample_db, tmp_path)
    with duckdb.connect(str(path)) as raw:
        raw.execute("ALTER TABLE exposures RENAME COLUMN arm TO variant")
    with abnb.connect(path) as con, pytest.raises(SchemaError) as caught:
        abnb.load("checkout_redesign").analyze(con)
    message = str(caught.value)
    assert "table 'exposures' lacks column 'arm'" in message
    assert "variant VARCHAR" in message  # the columns it has
    assert '`[exposures] arm = "<column>"`' in message


def test_data03_check_table_and_unit_level_missing_metric_column() -> None:
    raw, spec = _unit_db([(1, "control", 1.0)])
    raw.execute("ALTER TABLE u RENAME COLUMN y TO revenue_usd")
    with pytest.raises(
        SchemaError, match=r"'u' lacks column 'y'.*revenue_usd DOUBLE.*`column = \"<column>\"` of metric"
    ):
        spec.analyze(raw)
    # check_table without hints keeps its generic advice and lists the missing columns
    with pytest.raises(SchemaError, match=r"lacks columns 'ts', 'event'.*rename the column"):
        check_table(raw, "u", ["unit", "ts", "event"])
    assert check_table(raw, "u", ["UNIT", "Arm"]) == {"unit": "BIGINT", "arm": "VARCHAR", "revenue_usd": "DOUBLE"}


def test_data04_integer_arm_column_is_read_as_text() -> None:
    raw = _db([(i, i % 2, EXPOSED) for i in UNITS], EVENTS, arm_type="INTEGER")
    result = _spec(arms=("1", "0"), control="1").analyze(raw)
    assert result.units == {"1": 5, "0": 5}
    _assert_welch(result, CONTROL, TREATMENT, "revenue")


def test_data05_varchar_value_at_event_level() -> None:
    raw = _db(EXPOSURES, [(i, LATER, str(i)) for i in UNITS], value_type="VARCHAR")
    with pytest.raises(SchemaError, match=r"metric 'revenue' returns a value of type VARCHAR.*CAST"):
        _spec().analyze(raw)


def test_data06_varchar_column_at_unit_level() -> None:
    raw, spec = _unit_db([(i, "control" if i % 2 else "treatment", str(i)) for i in UNITS], "VARCHAR")
    with pytest.raises(SchemaError, match=r"metric 'revenue' reads column 'y' of table 'u', of type VARCHAR.*CAST"):
        spec.analyze(raw)


# --- NULLs ------------------------------------------------------------------------------------------------------


def test_data07_null_units_are_dropped() -> None:
    raw = _db([*EXPOSURES, (None, "control", EXPOSED)], [*EVENTS, (None, LATER, 100.0)])
    result = _spec().analyze(raw)
    assert result.units == {"control": 5, "treatment": 5}
    assert result.excluded_units == 0
    _assert_welch(result, CONTROL, TREATMENT, "revenue")
    unit_raw, unit_spec = _unit_db(
        [(i, "control" if i % 2 else "treatment", float(i)) for i in UNITS] + [(None, "control", 100.0)]
    )
    _assert_welch(unit_spec.analyze(unit_raw), CONTROL, TREATMENT, "revenue")


def test_data08_null_arm_rows_carry_no_assignment() -> None:
    # unit 20 only ever logged with a NULL arm: excluded and counted; unit 1 logged control and NULL: control
    raw = _db([*EXPOSURES, (20, None, EXPOSED), (1, None, LATER)], [*EVENTS, (20, LATER, 100.0)])
    result = _spec().analyze(raw)
    assert result.units == {"control": 5, "treatment": 5}
    assert result.excluded_units == 1
    assert any("1 unit(s)" in w and "NULL arm" in w for w in result.warnings)
    _assert_welch(result, CONTROL, TREATMENT, "revenue")


@pytest.mark.filterwarnings("ignore:Precision loss:RuntimeWarning")  # scipy, on the constant arm of the reference
def test_data09_null_values_count_as_nothing() -> None:
    # a NULL value adds nothing to a sum (unit 3 keeps 3.0; unit 20 has only a NULL: 0); count counts the row
    raw = _db([*EXPOSURES, (20, "control", EXPOSED)], [*EVENTS, (3, LATER, None), (20, LATER, None)])
    counted = Metric("events", Sql("SELECT unit, ts, value FROM events"), aggregate="count")
    result = _spec(REVENUE, counted).analyze(raw)
    _assert_welch(result, np.append(CONTROL, 0.0), TREATMENT, "revenue")
    _assert_welch(result, np.array([1.0, 2.0, 1.0, 1.0, 1.0, 1.0]), np.ones(5), "events")
    # unit level: a NULL cell reads as 0 and the unit stays
    unit_raw, unit_spec = _unit_db(
        [(i, "control" if i % 2 else "treatment", float(i)) for i in UNITS] + [(20, "control", None)]
    )
    _assert_welch(unit_spec.analyze(unit_raw), np.append(CONTROL, 0.0), TREATMENT, "revenue")


# --- non-finite values ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf], ids=["nan", "inf", "-inf"])
def test_data10_non_finite_event_values(bad: float) -> None:
    raw = _db(EXPOSURES, [*EVENTS, (1, LATER, bad)])
    with pytest.raises(DataError, match=r"metric 'revenue' has NaN or infinite values .*arm 'control'.*isfinite"):
        _spec().analyze(raw)


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf], ids=["nan", "inf", "-inf"])
def test_data11_non_finite_unit_level_values(bad: float) -> None:
    raw, spec = _unit_db([(i, "control" if i % 2 else "treatment", float(i)) for i in UNITS] + [(20, "treatment", bad)])
    with pytest.raises(DataError, match=r"metric 'revenue' has NaN .*arm 'treatment'.*column\(s\) 'y' of table 'u'"):
        spec.analyze(raw)


def test_data12_squares_that_overflow() -> None:
    raw = _db(EXPOSURES, [*EVENTS, (2, LATER, 1e200)])
    with pytest.raises(DataError, match=r"metric 'revenue' has NaN or infinite values \(or values whose squares"):
        _spec().analyze(raw)


def test_data13_non_finite_values_in_distributions() -> None:
    raw = _db(EXPOSURES, [*EVENTS, (4, LATER, math.nan)])
    with pytest.raises(DataError, match=r"metric 'revenue' has 1 unit\(s\) with a NaN .*arm 'treatment'.*isfinite"):
        _spec().distributions(raw, "revenue")


def test_data14_non_finite_values_through_the_incremental_store(tmp_path: Path) -> None:
    telemetry = tmp_path / "t.duckdb"
    with duckdb.connect(str(telemetry)) as raw:
        raw.execute("CREATE TABLE exposures (experiment VARCHAR, unit BIGINT, arm VARCHAR, ts TIMESTAMP)")
        raw.execute("CREATE TABLE events (unit BIGINT, ts TIMESTAMP, event VARCHAR, value DOUBLE)")
        raw.executemany("INSERT INTO exposures VALUES ('t', ?, ?, ?)", EXPOSURES)
        raw.executemany("INSERT INTO events VALUES (?, ?, 'e', ?)", [*EVENTS, (1, LATER, math.inf)])
    with pytest.raises(DataError, match=r"metric 'revenue' has NaN or infinite values.*arm 'control'.*isfinite"):
        incremental.analyze(_spec(), tmp_path / "store.duckdb", database=telemetry)
    with duckdb.connect(str(telemetry)) as raw:
        raw.execute("DELETE FROM events WHERE NOT isfinite(value)")
    result = incremental.analyze(_spec(), tmp_path / "store.duckdb", database=telemetry, full=True)
    _assert_welch(result, CONTROL, TREATMENT, "revenue")


# --- empty, tiny and degenerate data ----------------------------------------------------------------------------


def test_data15_no_exposures_in_the_window() -> None:
    raw = _db(EXPOSURES, EVENTS)
    with pytest.raises(
        DataError,
        match=r"no unit .* of experiment 't' in table 'exposures' from 2026-10-01 00:00 before 2026-10-02 00:00",
    ):
        _spec().analyze(raw, as_of="2026-10-01")
    with pytest.raises(DataError, match=r"no unit was exposed .*experiment 't'.*as_of"):
        _spec().analyze(_db([], EVENTS))


def test_data16_a_single_unit_per_arm() -> None:
    raw = _db([(1, "control", EXPOSED), (2, "treatment", EXPOSED), (3, "treatment", EXPOSED)], EVENTS)
    with pytest.raises(
        DataError, match=r"experiment 't' has too few units.*arm\(s\) control \(1\); every arm needs at least 2"
    ):
        _spec().analyze(raw)


def _untested(result: abnb.ExperimentResult, name: str, pattern: str) -> None:
    """The metric is reported without a test, the reason is a note, and the analysis went on."""
    effect = result.effect(name)
    assert np.isnan(effect.absolute.pvalue)
    assert not effect.significant
    assert any(re.search(pattern, note) for note in result.warnings), result.warnings
    assert result.decision.verdict == "continue"


def test_data17_zero_variance_in_every_arm() -> None:
    raw = _db(EXPOSURES, [(i, LATER, 3.0) for i in UNITS])
    _untested(
        _spec().analyze(raw), "revenue", r"metric 'revenue', 'treatment' vs 'control': both arms have zero variance"
    )


def test_data18_all_zero_proportion() -> None:
    raw = _db(EXPOSURES, [(i, LATER, 0.0) for i in UNITS])  # events, but none converts (value > 0)
    metric = Metric("converted", Sql("SELECT unit, ts, value FROM events"), kind="proportion")
    pattern = r"metric 'converted', 'treatment' vs 'control': both arms have zero variance"
    _untested(_spec(metric).analyze(raw), "converted", pattern)


def test_data19_metric_sql_returns_no_rows() -> None:
    raw = _db(EXPOSURES, EVENTS)
    nothing = Metric("refunds", Sql("SELECT unit, ts, value FROM events WHERE value > 1000"))
    _untested(_spec(nothing).analyze(raw), "refunds", r"metric 'refunds'.*zero variance.*\(control 0, treatment 0\)")


@pytest.mark.filterwarnings("ignore:Precision loss:RuntimeWarning")  # scipy, on the constant arm of the reference
def test_data20_one_arm_constant_is_a_warning_not_an_error() -> None:
    raw = _db(EXPOSURES, [(i, LATER, 2.0 if i % 2 else float(i)) for i in UNITS])
    result = _spec().analyze(raw)
    assert "metric 'revenue' has zero variance in arm 'control'." in result.warnings
    _assert_welch(result, np.full(5, 2.0), TREATMENT, "revenue")


# --- duplicated, conflicting and out-of-window exposures --------------------------------------------------------


def test_data21_duplicated_exposures_are_counted_once(sample_db: Path, tmp_path: Path, spec: Experiment) -> None:
    with abnb.connect(sample_db) as con:
        before = spec.analyze(con)
    path = _copy(sample_db, tmp_path)
    with duckdb.connect(str(path)) as raw:  # log 500 exposures a second time, a minute later, same arm
        raw.execute(
            "INSERT INTO exposures SELECT experiment, unit, arm, ts + INTERVAL 1 MINUTE, country, platform "
            "FROM exposures WHERE experiment = 'checkout_redesign' ORDER BY unit LIMIT 500"
        )
    with abnb.connect(path) as con:
        after = spec.analyze(con)
    assert after.units == before.units
    assert after.excluded_units == before.excluded_units
    for metric in spec.metrics:
        assert after.effect(metric.name).absolute.estimate == pytest.approx(
            before.effect(metric.name).absolute.estimate, rel=1e-9
        )


def test_data22_units_in_two_arms_are_excluded_and_counted() -> None:
    raw = _db([*EXPOSURES, (1, "treatment", LATER), (2, "control", LATER)], EVENTS)
    result = _spec().analyze(raw)
    assert result.excluded_units == 2
    assert result.units == {"control": 4, "treatment": 4}
    _assert_welch(result, np.array([3.0, 5.0, 7.0, 9.0]), np.array([0.0, 4.0, 6.0, 8.0]), "revenue")


def test_data23_exposures_after_as_of_or_before_start_are_ignored() -> None:
    raw = _db(
        [*EXPOSURES, (30, "control", "2026-10-20 00:00:00"), (31, "treatment", "2026-09-20 00:00:00")],
        [*EVENTS, (30, "2026-10-21 00:00:00", 50.0), (31, LATER, 50.0)],
    )
    result = _spec().analyze(raw, as_of="2026-10-09")
    assert result.units == {"control": 5, "treatment": 5}
    _assert_welch(result, CONTROL, TREATMENT, "revenue")
    # without `start`, unit 31's early exposure counts (and its later event)
    open_start = dataclasses.replace(_spec(), start=None)
    _assert_welch(open_start.analyze(raw, as_of="2026-10-09"), CONTROL, np.append(TREATMENT, 50.0), "revenue")


def test_data24_events_outside_the_unit_window_are_ignored() -> None:
    # an event before the unit's exposure and one at/after as_of do not count
    raw = _db(EXPOSURES, [*EVENTS, (1, "2026-10-01 12:00:00", 40.0), (2, "2026-10-09 00:00:00", 40.0)])
    _assert_welch(_spec().analyze(raw, as_of="2026-10-08"), CONTROL, TREATMENT, "revenue")


def test_data25_exposures_with_a_null_timestamp_are_dropped() -> None:
    raw = _db([*EXPOSURES, (40, "control", None)], [*EVENTS, (40, LATER, 9.0)])
    result = _spec().analyze(raw)
    assert result.units == {"control": 5, "treatment": 5}
    _assert_welch(result, CONTROL, TREATMENT, "revenue")


def test_data26_unknown_arm_in_the_data() -> None:
    raw = _db([*EXPOSURES, (50, "treatment_b", EXPOSED)], EVENTS)
    with pytest.raises(
        DataError, match=r"table 'exposures' has exposures .* in arm\(s\) 'treatment_b' .*add them to `arms`"
    ):
        _spec().analyze(raw)


def test_data27_spec_arm_without_exposures() -> None:
    raw = _db(EXPOSURES, EVENTS)
    spec = _spec(arms=("control", "treatment", "treatment_b"))
    with pytest.raises(
        DataError, match=r"arm\(s\) 'treatment_b' of experiment 't' have no exposures in table 'exposures'"
    ):
        spec.analyze(raw)
    with pytest.raises(DataError, match=r"metric 'revenue': arm\(s\) treatment_b have no exposed unit"):
        spec.distributions(raw, "revenue")


def test_data28_unit_level_table_is_trusted_to_have_one_row_per_unit() -> None:
    # documented limitation: a unit-level table is not checked for duplicate units (a COUNT(DISTINCT unit) would
    # cost 2.5-6x the scan); a duplicated row counts twice. The incremental store is unique by construction.
    rows: list[Row] = [(i, "control" if i % 2 else "treatment", float(i)) for i in UNITS]
    raw, spec = _unit_db([*rows, (1, "control", 1.0)])
    assert spec.analyze(raw).units == {"control": 6, "treatment": 5}


# --- negative values and counts ---------------------------------------------------------------------------------


def test_data29_negative_values() -> None:
    raw = _db(EXPOSURES, [(i, LATER, -float(i)) for i in UNITS])
    _assert_welch(_spec().analyze(raw), -CONTROL, -TREATMENT, "revenue")
    # a proportion converts on value > 0: negative values (refunds) are not conversions
    mixed = _db(EXPOSURES, [(i, LATER, -1.0 if i < 6 else 1.0) for i in UNITS])
    converted = Metric("converted", Sql("SELECT unit, ts, value FROM events"), kind="proportion")
    effect = _spec(converted).analyze(mixed).effect("converted")
    assert isinstance(effect.control, Moments)
    assert isinstance(effect.treatment, Moments)
    assert (effect.control.sum, effect.treatment.sum) == (2.0, 2.0)  # units 7, 9 and 6, 8


def test_data30_conversion_table_successes_above_trials() -> None:
    with pytest.raises(ParameterError, match=r"variant 'b': 120 conversions > 100 visitors.*swapped"):
        conversion_table({"a": (10, 100), "b": (120, 100)}, baseline="a")


@pytest.mark.parametrize(
    ("counts", "pattern"),
    [
        ((-1, 100), r"variant 'b': conversions must be >= 0, got -1"),
        ((0, 0), r"variant 'b': visitors must be at least 1, got 0"),
        ((1.5, 100), r"variant 'b': conversions must be a whole number, got 1.5"),
        ((math.nan, 100), r"variant 'b': conversions must be a whole number, got nan"),
        ((True, 100), r"variant 'b': conversions must be a whole number, got True"),
        ((5,), r"variant 'b': counts must be a pair \(conversions, visitors\)"),
    ],
    ids=["negative", "no-visitors", "fraction", "nan", "bool", "single"],
)
def test_data31_conversion_table_bad_counts(counts: tuple[object, ...], pattern: str) -> None:
    with pytest.raises(ParameterError, match=pattern):
        conversion_table({"a": (10, 100), "b": counts}, baseline="a")  # type: ignore[dict-item]


def test_data32_conversion_table_all_zero_and_zero_baseline() -> None:
    b = conversion_table({"a": (0, 100), "b": (0, 120)}, baseline="a").to_dict("records")[1]
    for column in ("pvalue", "chance_normal", "chance_lift", "improvement"):
        assert math.isnan(b[column]), column
    # posteriors C ~ Beta(1, 101), T ~ Beta(1, 121); P(T > c) = (1 - c)^121, so P(T > C) = E[(1 - C)^121] = 101/222
    assert b["chance_beta"] == pytest.approx(101 / 222, rel=1e-9)
    # baseline rate 0, variant 3/100: the improvement is undefined (was a ZeroDivisionError), the test is not
    row = conversion_table({"a": (0, 100), "b": (3, 100)}, baseline="a").to_dict("records")[1]
    se = math.sqrt(0.03 * 0.97 / 100)
    assert math.isnan(row["improvement"])
    assert row["pvalue"] == pytest.approx(2 * sps.norm.sf(0.03 / se), rel=1e-9)
