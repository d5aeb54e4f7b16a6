"""Model telemetry under a team's own names: abnb.telemetry.ModelTelemetry and every module that reads it.

The sample database is rebuilt with every model table and every column the library reads renamed (one table in
another schema); monitoring, the quality estimators, the rollout replays and chaos must give the same numbers on it
with the matching ModelTelemetry as on the sample's names with the default one.
"""

from __future__ import annotations

import ast
import dataclasses
import json
import math
import shutil
from collections.abc import Callable, Iterator
from dataclasses import fields, is_dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pytest

import abnb
from abnb import chaos, monitor, quality
from abnb.errors import SchemaError, SpecError
from abnb.monitor.exporter import release_samples, snapshot
from abnb.rollout import bluegreen, canary, shadow
from abnb.telemetry import Labels, ModelTelemetry, Ops, Predictions, Shadow, Truth

# ------------------------------------------------------------------------------------------------------
# the names object


def test_defaults_are_the_sample_names() -> None:
    schema = ModelTelemetry()
    assert schema.predictions == Predictions()
    assert schema.predictions.table == "predictions"
    assert schema.predictions.columns()["latency_ms"] == "latency_ms"
    assert schema.labels.table == "labels"
    assert schema.truth == Truth(table="truth", request_id="request_id", label="label")
    assert ModelTelemetry.from_dict({}) == schema
    assert abnb.find_project().model_telemetry() == schema  # the kit's own checkout has no [model]


def test_from_dict_reads_a_model_table_and_round_trips() -> None:
    data = {
        "predictions": {"table": "inference_log", "ts": "served_at", "model_version": "release"},
        "labels": {"table": "analytics.manual_labels"},
        "ops": {"errors": "n_errors"},
    }
    schema = ModelTelemetry.from_dict(data)
    assert schema.predictions == Predictions(table="inference_log", ts="served_at", model_version="release")
    assert schema.labels == Labels(table="analytics.manual_labels")
    assert schema.ops == Ops(errors="n_errors")
    assert schema.fares == ModelTelemetry().fares  # missing tables keep the defaults
    dumped = schema.to_dict()
    assert json.loads(json.dumps(dumped)) == dumped
    assert dumped["predictions"]["ts"] == "served_at"
    assert set(dumped) == {f.name for f in fields(ModelTelemetry)}
    assert ModelTelemetry.from_dict(dumped) == schema
    assert ModelTelemetry.from_dict(ModelTelemetry().to_dict()) == ModelTelemetry()


@pytest.mark.parametrize(
    ("data", "pattern"),
    [
        ({"prediction": {}}, r"\[model\]: unknown model table 'prediction'; allowed: predictions, labels"),
        ({"predictions": {"timestamp": "x"}}, r"unknown key 'timestamp' in \[model.predictions\]; allowed keys: table"),
        ({"ops": {"table": "ops", "latency_p95": "p95"}}, r"'latency_p95'.*allowed keys: table, ts, requests, errors"),
        ({"predictions": {"ts": "served at"}}, r"\[model.predictions\] ts 'served at' is not a valid identifier"),
        ({"labels": {"label": 'y" --'}}, r"\[model.labels\] label"),
        ({"labels": {"table": "a.b.c.d"}}, r"\[model.labels\] table 'a.b.c.d'"),
        ({"labels": {"table": "labels; DROP TABLE ops"}}, r"\[model.labels\] table"),
        ({"ops": {"ts": 3}}, r"\[model.ops\] ts must be a string"),
        ({"ops": "serving"}, r"ops must be a table \(\[model.ops\]\)"),
    ],
)
def test_from_dict_refuses_unknown_keys_and_bad_names(data: dict[str, Any], pattern: str) -> None:
    with pytest.raises(SpecError, match=pattern) as caught:
        ModelTelemetry.from_dict(data)
    assert str(caught.value).startswith("[model]")  # the default source


def test_errors_name_the_source_and_the_constructor_validates() -> None:
    with pytest.raises(SpecError, match=r"^abnb.toml \[model\]: unknown key 'tss'"):
        ModelTelemetry.from_dict({"predictions": {"tss": "x"}}, source="abnb.toml [model]")
    with pytest.raises(SpecError, match=r"\[model.shadow\] score"):
        Shadow(score="score; DROP TABLE shadow")
    with pytest.raises(SpecError, match=r"\[model.predictions\] table"):
        Predictions(table="")
    with pytest.raises(abnb.errors.ParameterError, match="must be a Predictions"):
        ModelTelemetry(predictions=Labels())  # type: ignore[arg-type]


def test_project_file_model_table(tmp_path: Path) -> None:
    (tmp_path / "abnb.toml").write_text(
        'schema_version = 1\n[project]\nname = "team"\n'
        '[model.predictions]\ntable = "inference_log"\nts = "served_at"\n'
        '[model.labels]\ntable = "analytics.manual_labels"\n'
    )
    schema = abnb.find_project(tmp_path).model_telemetry()
    assert schema.predictions.table == "inference_log"
    assert schema.predictions.ts == "served_at"
    assert schema.labels.table == "analytics.manual_labels"
    (tmp_path / "abnb.toml").write_text('schema_version = 1\n[model.predictions]\nserved = "ts"\n')
    with pytest.raises(SpecError, match=r"abnb.toml \[model\].*unknown key 'served'.*allowed keys"):
        abnb.find_project(tmp_path).model_telemetry()


def test_library_modules_do_not_import_the_sample_package() -> None:
    root = Path(abnb.__file__).parent
    for relative in ("monitor", "quality.py", "chaos.py", "telemetry.py", "rollout"):
        for path in sorted((root / relative).rglob("*.py")) if (root / relative).is_dir() else [root / relative]:
            for node in ast.walk(ast.parse(path.read_text())):
                names = (
                    [node.module or ""]
                    if isinstance(node, ast.ImportFrom)
                    else [a.name for a in node.names]
                    if isinstance(node, ast.Import)
                    else []
                )
                assert not any(n == "abnb.datasets" or n.startswith("abnb.datasets.") for n in names), path


# ------------------------------------------------------------------------------------------------------
# the same numbers on renamed tables

RENAMED = ModelTelemetry(
    predictions=Predictions(
        table="inference_log",
        request_id="req",
        unit="user_key",
        ts="served_at",
        model_version="release",
        segment="market",
        score="prob",
        prediction="decision",
        fare_predicted="fare_hat",
        latency_ms="latency",
        error="failed",
    ),
    labels=Labels(
        table="analytics.manual_labels", request_id="req", ts="labelled_at", label="toxic", inclusion_prob="pi"
    ),
    fares=replace(ModelTelemetry().fares, table="fare_truth", request_id="req", ts="arrived_at", fare_actual="fare"),
    ratings=replace(ModelTelemetry().ratings, table="stars", request_id="req", rating="stars"),
    corrections=replace(ModelTelemetry().corrections, table="analytics.missed_reports", request_id="req"),
    edits=replace(
        ModelTelemetry().edits, table="user_edits", request_id="req", edit_chars="changed", transcript_chars="length"
    ),
    ops=Ops(table="serving_minutes", ts="minute", requests="n_requests", errors="n_errors"),
    releases=replace(
        ModelTelemetry().releases, table="deploys", ts="deployed_at", model_version="release", description="notes"
    ),
    truth=Truth(table="oracle", request_id="req", label="y"),
    shadow=Shadow(table="candidate_log", request_id="req", ts="scored_at", score="prob", prediction="decision"),
)


@pytest.fixture(scope="module")
def renamed_db(sample_db: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the sample where every model table and every column abnb reads has another name."""
    path = tmp_path_factory.mktemp("renamed") / "team.duckdb"
    shutil.copyfile(sample_db, path)
    default = ModelTelemetry().to_dict()
    with duckdb.connect(str(path)) as raw:
        raw.execute("CREATE SCHEMA analytics")
        for key, names in RENAMED.to_dict().items():
            columns = ", ".join(f'"{default[key][f]}" AS "{names[f]}"' for f in names if f != "table")
            raw.execute(f'CREATE TABLE {names["table"]} AS SELECT {columns} FROM "{default[key]["table"]}"')
            raw.execute(f'DROP TABLE "{default[key]["table"]}"')
    return path


@pytest.fixture(scope="module")
def both(sample_db: Path, renamed_db: Path) -> Iterator[tuple[abnb.Connection, abnb.Connection]]:
    with abnb.connect(sample_db) as original, abnb.connect(renamed_db) as renamed:
        yield original, renamed


def _same(a: Any, b: Any, where: str = "result") -> None:
    """Equal values: frames equal, floats to 1e-9 (NaN equals NaN), dataclasses and containers field by field."""
    if isinstance(a, pd.DataFrame):
        pd.testing.assert_frame_equal(a, b, check_exact=False, rtol=1e-9, atol=1e-12, obj=where)
    elif is_dataclass(a) and not isinstance(a, type):
        assert type(a) is type(b), where
        for f in fields(a):
            _same(getattr(a, f.name), getattr(b, f.name), f"{where}.{f.name}")
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for key in a:
            _same(a[key], b[key], f"{where}[{key!r}]")
    elif isinstance(a, list | tuple):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _same(x, y, f"{where}[{i}]")
    elif isinstance(a, float) and isinstance(b, float):
        assert (math.isnan(a) and math.isnan(b)) or a == pytest.approx(b, rel=1e-9, abs=1e-12), (where, a, b)
    else:
        assert a == b, (where, a, b)


LABEL_FREE = monitor.MonitorSpec(
    "label_free",
    (
        monitor.MonitorRule("ScoreDrift", "score_psi", "threshold", threshold=0.6),
        monitor.MonitorRule("ExpectedPrecisionShift", "expected_precision", "cusum"),
    ),
)


def _served(state: monitor.MonitorState) -> tuple[Any, ...]:
    """What the exporter serves of a state: the rules' last windows and the latest release's verdicts."""
    return snapshot(state.backtest) + tuple(release_samples(state))


CALLS: dict[str, Callable[..., Any]] = {
    "monitor_summary": lambda con, **kw: monitor.monitor_summary(con, **kw),
    "exported_rules": lambda con, **kw: monitor.rules_yaml(
        monitor.prometheus_rules(monitor.MonitorSpec.default(), backtest=monitor.backtest(con, **kw))
    ),
    "served_metrics": lambda con, **kw: _served(monitor.monitor_state(con, LABEL_FREE, **kw)),
    "labelled_precision_by_window": lambda con, **kw: monitor.labelled_precision_by_window(
        con, window="1 day", by=["model_version", "segment"], **kw
    ),
    "labelled_precision_recall": lambda con, **kw: quality.labelled_precision_recall(con, n_boot=200, **kw),
    "recall_from_user_corrections": lambda con, **kw: quality.recall_from_user_corrections(
        con, 0.3, reporting_rate_se=0.02, model_version="v1", **kw
    ),
    "satisfaction": lambda con, **kw: quality.satisfaction(con, [0.5, 0.2, 0.1, 0.1, 0.2], segment="en", **kw),
    "fare_quality": lambda con, **kw: quality.fare_quality(con, "2026-10-28", 7, **kw),
    "fare_quality_absolute": lambda con, **kw: quality.fare_quality(
        con, "2026-10-25", 7, start="2026-10-02", error="absolute", **kw
    ),
    "label_free_quality": lambda con, **kw: quality.label_free_quality(con, threshold=0.4, end="2026-10-20", **kw),
    "edit_rate": lambda con, **kw: quality.edit_rate(con, **kw),
    "replay_ramp": lambda con, **kw: canary.replay_ramp(
        con, "v2", plan=canary.RampPlan(steps=(5, 50, 100), step_hours=12), **kw
    ),
    "compare_switch": lambda con, **kw: bluegreen.compare_switch(con, "v3", hours_before=24, hours_after=48, **kw),
    "compare_shadow": lambda con, **kw: shadow.compare_shadow(con, labels="truth", **kw),
    "compare_shadow_labels": lambda con, **kw: shadow.compare_shadow(con, labels="labels", segment="", **kw),
    "disagreements_to_label": lambda con, **kw: shadow.disagreements_to_label(con, 20, strategy="margin", **kw),
    "load_clean_requests": lambda con, **kw: chaos.load_clean_requests(con, **kw),
}


@pytest.mark.parametrize("name", list(CALLS))
def test_same_numbers_on_renamed_tables(name: str, both: tuple[abnb.Connection, abnb.Connection]) -> None:
    original, renamed = both
    expected = CALLS[name](original)
    got = CALLS[name](renamed, schema=RENAMED)
    _same(expected, got, name)
    if isinstance(expected, shadow.ShadowComparison):
        _same(expected.segments(), got.segments(), f"{name}.segments()")
        _same(expected.cells(), got.cells(), f"{name}.cells()")
    if isinstance(expected, canary.RampReplay):
        _same(expected.judgement_frame(), got.judgement_frame(), f"{name}.judgement_frame()")


def test_the_checks_are_not_vacuous(both: tuple[abnb.Connection, abnb.Connection]) -> None:
    original, _ = both
    summary = monitor.monitor_summary(original)
    assert len(summary.releases) == 2
    assert len(summary.traffic) > 20
    assert len(summary.drift) > 0
    assert list(summary.releases.columns) == ["ts", "model_version", "description"]
    clean = chaos.load_clean_requests(original)
    assert len(clean) > 1000
    assert clean["ts"].max() < pd.Timestamp("2026-10-10")  # before the first release (v2)
    assert list(clean.columns) == ["ts", "unit", "segment", "score", "prediction", "latency_ms", "error", "label"]
    assert shadow.compare_shadow(original).n_labelled > 0


@pytest.mark.parametrize("name", list(CALLS))
def test_default_names_on_renamed_tables_name_the_missing_table(
    name: str, both: tuple[abnb.Connection, abnb.Connection]
) -> None:
    _, renamed = both
    with pytest.raises(SchemaError, match=r"model table '(\w+)' \(\[model\.\1\] table\) does not exist") as caught:
        CALLS[name](renamed)
    assert "inference_log" in str(caught.value)  # the tables that do exist are listed


def test_a_team_without_truth_is_told_which_setting_names_it(both: tuple[abnb.Connection, abnb.Connection]) -> None:
    _, renamed = both
    no_truth = replace(RENAMED, truth=Truth(table="hidden_labels"))
    with pytest.raises(SchemaError, match=r"model table 'hidden_labels' \(\[model.truth\] table\) does not exist"):
        chaos.load_clean_requests(renamed, schema=no_truth)
    with pytest.raises(SchemaError, match=r"\[model.truth\] table"):
        shadow.compare_shadow(renamed, schema=no_truth)
    assert shadow.compare_shadow(renamed, labels=None, schema=no_truth).n > 0  # labels are optional there


def test_a_missing_column_names_its_setting(both: tuple[abnb.Connection, abnb.Connection]) -> None:
    _, renamed = both
    wrong = replace(RENAMED, predictions=replace(RENAMED.predictions, latency_ms="latency_ms"))
    with pytest.raises(
        SchemaError, match=r"'inference_log' lacks column 'latency_ms' \(\[model.predictions\] latency_ms"
    ):
        monitor.monitor_summary(renamed, schema=wrong)
    wrong = replace(RENAMED, labels=replace(RENAMED.labels, inclusion_prob="inclusion_prob"))
    with pytest.raises(SchemaError, match=r"lacks column 'inclusion_prob' \(\[model.labels\] inclusion_prob"):
        quality.labelled_precision_recall(renamed, schema=wrong)


def test_explicit_end_needs_no_releases_table(both: tuple[abnb.Connection, abnb.Connection]) -> None:
    original, renamed = both
    no_releases = replace(RENAMED, releases=replace(RENAMED.releases, table="no_such_releases"))
    end = pd.Timestamp("2026-10-05").to_pydatetime()
    _same(
        chaos.load_clean_requests(original, end=end),
        chaos.load_clean_requests(renamed, end=end, schema=no_releases),
    )
    with pytest.raises(SchemaError, match=r"\[model.releases\] table"):
        chaos.load_clean_requests(renamed, schema=no_releases)


def test_segments_and_releases_come_from_the_data(both: tuple[abnb.Connection, abnb.Connection]) -> None:
    """The canary and blue/green defaults: the team's segments and releases, not the sample's names."""
    original, renamed = both
    counts = dict(original.execute("SELECT segment, count(*) FROM predictions GROUP BY 1").fetchall())
    segments = ModelTelemetry().segment_values(original)
    assert segments == tuple(sorted(counts, key=lambda s: (-counts[s], s)))  # most requests first: en, de, ...
    assert RENAMED.segment_values(renamed) == segments
    assert ModelTelemetry().release_versions(original) == ("v2", "v3") == RENAMED.release_versions(renamed)
    assert ModelTelemetry().serving_version(original, datetime(2026, 10, 10)) == "v1"


def test_a_monitor_spec_carries_its_own_model_names(both: tuple[abnb.Connection, abnb.Connection]) -> None:
    """A spec's [model] table is applied over the project's: the renamed tables need no schema= then."""
    _, renamed = both
    default = monitor.MonitorSpec.default()
    own = dataclasses.replace(default, model=RENAMED.to_dict())
    expected = monitor.rules_yaml(monitor.prometheus_rules(default, backtest=monitor.backtest(renamed, schema=RENAMED)))
    got = monitor.rules_yaml(monitor.prometheus_rules(own, backtest=monitor.backtest(renamed, own)))
    assert got == expected
