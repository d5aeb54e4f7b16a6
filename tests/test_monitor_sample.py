"""Monitoring the generated model telemetry: planted truth recovered, rules fire where they should, dashboard."""

from __future__ import annotations

import json
import math
import shutil
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import abnb
from abnb.datasets.models import MODEL_TRUTH
from abnb.datasets.sample import generate
from abnb.engine import Connection
from abnb.errors import ParameterError, ReportError
from abnb.monitor import (
    MonitorSummary,
    labelled_precision_by_window,
    monitor_summary,
    validate_monitoring_parameters,
)
from abnb.report import RenderedReport, external_resources, render_monitoring

REQUESTS = 200_000
V2, V3 = MODEL_TRUTH.release("v2"), MODEL_TRUTH.release("v3")


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("monitor") / "db.duckdb"
    generate(path, users=2_000, requests=REQUESTS, seed=20261001, progress=False)
    return path


@pytest.fixture(scope="module")
def result(db: Path) -> MonitorSummary:
    with abnb.connect(db) as con:
        return monitor_summary(con)


def _alerts(result: MonitorSummary, rule: str, segment: str) -> pd.DataFrame:
    a = result.alerts
    return a[(a["rule"] == rule) & (a["segment"] == segment)].reset_index(drop=True)


def test_hajek_precision_matches_a_hand_computation(db: Path) -> None:
    with abnb.connect(db) as con:
        got = labelled_precision_by_window(con, window="1 day", by="segment", end="2026-10-05")
        raw = con.raw.execute(
            "SELECT p.ts, p.segment, l.label, l.inclusion_prob FROM labels l JOIN predictions p USING (request_id) "
            "WHERE p.prediction = 1 AND p.ts < '2026-10-05' AND l.ts < '2026-10-05'"
        ).df()
    raw["window"] = raw["ts"].dt.floor("D")
    cell = raw[(raw["window"] == "2026-10-03") & (raw["segment"] == "en")]
    w, y = 1.0 / cell["inclusion_prob"].to_numpy(), cell["label"].to_numpy(dtype=float)
    r = float(np.sum(w * y) / np.sum(w))
    se = math.sqrt(float(np.sum(w**2 * (y - r) ** 2)) / float(np.sum(w)) ** 2)
    row = got[(got["window"] == pd.Timestamp("2026-10-03")) & (got["segment"] == "en")].iloc[0]
    assert row["n_labels"] == len(cell)
    assert row["precision"] == pytest.approx(r, rel=1e-12)
    assert row["se"] == pytest.approx(se, rel=1e-9)
    assert len(got) == 4 * 4


def test_labelled_precision_recovers_the_planted_truth(db: Path) -> None:
    with abnb.connect(db) as con:
        per_version = labelled_precision_by_window(con, window=None, by=["model_version", "segment"], alpha=0.001)
        daily = labelled_precision_by_window(con, window="1 day", by="segment")
    for row in per_version[per_version["model_version"] != "v3"].itertuples():
        truth = MODEL_TRUTH.precision(row.segment, row.model_version)
        assert row.ci_low <= truth <= row.ci_high, (row.model_version, row.segment, row.precision, truth)
    de_v2 = per_version[(per_version["model_version"] == "v2") & (per_version["segment"] == "de")].iloc[0]
    assert de_v2.ci_high < 0.80  # the drop 0.90 -> 0.70 is resolved
    # daily 95% intervals against the truth at mid-window (the v3 drift moves it within the run)
    covered = [
        r.ci_low <= MODEL_TRUTH.precision(r.segment, MODEL_TRUTH.version_at(mid), at=mid) <= r.ci_high
        for r in daily.itertuples()
        for mid in [(pd.Timestamp(r.window) + pd.Timedelta(hours=12)).to_pydatetime()]
    ]
    assert len(covered) == 28 * 4
    assert 0.88 <= np.mean(covered) <= 1.0


def test_rules_fire_on_the_planted_drop_and_not_on_the_clean_history(result: MonitorSummary) -> None:
    de = _alerts(result, "precision CUSUM", "de")
    assert len(de) >= 1
    assert V2 <= de["start"].iloc[0] <= V2 + pd.Timedelta(days=3)
    for segment in ("en", "es", "fr"):
        # nothing before v3: the v2 drop is confined to "de"
        assert (_alerts(result, "precision CUSUM", segment)["start"] >= V3).all()
    clean = result.false_alarms
    assert set(clean["segment"]) == {"all", "de", "en", "es", "fr"}
    assert (clean["n_alarms"] == 0).all(), clean
    assert clean.loc[clean["rule"] == "error rate threshold", "n_windows"].iloc[0] > 1000


def test_error_threshold_fires_on_the_outage_only(result: MonitorSummary) -> None:
    errors = _alerts(result, "error rate threshold", "all")
    assert len(errors) == 1
    start, end = errors.loc[0, "start"], errors.loc[0, "end"]
    assert MODEL_TRUTH.outage_start <= start < MODEL_TRUTH.outage_end
    assert MODEL_TRUTH.outage_end <= end <= MODEL_TRUTH.outage_end + pd.Timedelta(minutes=30)


def test_v3_drift_is_detected_on_latency_and_precision(result: MonitorSummary) -> None:
    latency = _alerts(result, "latency p95 EWMA", "all")
    after = latency[latency["start"] >= V3]
    assert len(after) >= 1
    assert after["start"].iloc[0] <= V3 + pd.Timedelta(days=3)
    en = _alerts(result, "precision CUSUM", "en")
    assert len(en) >= 1
    assert V3 + pd.Timedelta(days=2) <= en["start"].iloc[0] <= V3 + pd.Timedelta(days=8)


def test_release_jump_advises_rollback_of_v2_for_de_only(result: MonitorSummary) -> None:
    jumps = result.release_jumps.set_index(["model_version", "metric", "segment"])
    de = jumps.loc[("v2", "precision", "de")]
    assert bool(de["rollback"])
    assert "roll back" in de["reason"]
    assert de["ci_low"] <= -0.20 <= de["ci_high"]
    for segment in ("en", "es", "fr"):
        assert not bool(jumps.loc[("v2", "precision", segment), "rollback"])
    assert not bool(jumps.loc[("v3", "precision", "de"), "rollback"])  # v3 fixes de
    assert bool(jumps.loc[("v3", "latency_p95", "all"), "rollback"])  # the latency creep


def test_segment_breakdown_and_score_drift_single_out_de_under_v2(result: MonitorSummary) -> None:
    flagged = result.segments[result.segments["flag"]]
    assert list(zip(flagged["model_version"], flagged["segment"], strict=True)) == [("v2", "de")]
    drift = result.drift.set_index(["model_version", "segment"])
    assert bool(drift.loc[("v2", "de"), "drift"])
    assert drift.loc[("v2", "de"), "psi"] > 0.25
    for segment in ("en", "es", "fr"):
        assert not bool(drift.loc[("v2", segment), "drift"])
        assert not bool(drift.loc[("v3", segment), "drift"])  # calibration drift leaves the scores alone


def test_summary_is_json_safe_and_fetches_only_aggregates(db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fetched: list[int] = []
    original = Connection.run

    def counting(self: Connection, query: Any, params: Any = None) -> Any:
        out = original(self, query, params)
        fetched.append(len(out.rows))
        return out

    monkeypatch.setattr(Connection, "run", counting)
    with abnb.connect(db) as con:
        result = monitor_summary(con, as_of="2026-10-20", model_version="v2")
    assert max(fetched) < 5_000
    assert sum(fetched) < 20_000
    assert sum(fetched) * 10 < REQUESTS
    summary = result.summary()
    text = json.dumps(summary, allow_nan=False)
    assert json.loads(text)["as_of"] == "2026-10-20"
    assert summary["decision"]["verdict"] == "rollback"
    assert {j["model_version"] for j in summary["release_jumps"]} == {"v2"}
    assert result.end == datetime(2026, 10, 21)


@pytest.mark.parametrize(
    ("values", "pattern"),
    [
        ({"window": 1}, "must be a string"),
        ({"window": "1 fortnight"}, "window must look like"),
        ({"as_of": "2026-13-01"}, "as_of must be an ISO date"),
        ({"model_version": "v2; DROP"}, "model_version"),
        ({"colour": "red"}, "unknown monitoring parameter"),
    ],
)
def test_validate_monitoring_parameters_refuses_bad_values(values: dict[str, object], pattern: str) -> None:
    with pytest.raises(ParameterError, match=pattern):
        validate_monitoring_parameters(**values)


def test_unknown_model_version_is_refused(db: Path) -> None:
    with abnb.connect(db) as con, pytest.raises(ParameterError, match="no release"):
        monitor_summary(con, model_version="v9")


@pytest.fixture(scope="module")
def rendered(db: Path, tmp_path_factory: pytest.TempPathFactory) -> RenderedReport:
    return render_monitoring(database=db, output_dir=tmp_path_factory.mktemp("reports"))


@pytest.mark.slow
def test_render_monitoring_publishes_an_offline_dashboard(rendered: RenderedReport) -> None:
    assert [p.name for p in rendered] == ["2026-10-28.ipynb", "2026-10-28.html", "summary.json"]
    assert rendered.html.parent.name == "monitoring"
    page = rendered.html.read_text()
    assert external_resources(page) == []
    assert "import abnb" not in page
    assert page.count("data:image/svg+xml") >= 3
    for text in ("Alerts", "error rate threshold", "precision CUSUM", "latency p95 EWMA", "Release jumps", "roll back"):
        assert text in page, text
    summary = json.loads(rendered.summary.read_text())
    assert summary["decision"]["verdict"] == "rollback"
    assert summary["report"]["html"] == "2026-10-28.html"


@pytest.mark.slow
def test_failed_monitoring_run_keeps_the_previous_report(rendered: RenderedReport, tmp_path: Path) -> None:
    output = tmp_path / "reports"
    shutil.copytree(rendered.html.parent.parent, output)
    folder = output / "monitoring"
    before = {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file() and not p.name.startswith(".")}
    with pytest.raises(ReportError, match=r"cell \d+ failed with DatabaseNotFoundError.*previous report"):
        render_monitoring(database=tmp_path / "missing.duckdb", output_dir=output, as_of="2026-10-28")
    after = {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file() and not p.name.startswith(".")}
    assert after == before
    assert not list(folder.glob(".staging-*"))
    assert len(list(folder.glob(".failed-*.ipynb"))) == 1
