"""The monitoring report of a team's own monitoring spec, on tables and columns named unlike the sample's."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

import abnb
from abnb.cli import main
from abnb.errors import ParameterError, SpecError
from abnb.monitor import load_monitor, monitor_summary
from abnb.report import external_resources, render_monitoring

PROJECT = """schema_version = 1
[project]
name = "payments-team"
[model.predictions]
table = "inference_log"
ts = "served_at"
score = "fraud_prob"
segment = "market"
[model.ops]
table = "serving_minutes"
ts = "minute"
"""

SPEC = """name = "payments"
description = "Fraud flags <b>of</b> the payments model"

[[rules]]
name = "ErrorBurst"
series = "error_rate"
kind = "threshold"
window = "30 minutes"
threshold = 0.04
for_windows = 2
severity = "page"

[[rules]]
name = "ScoreDrift"
series = "score_psi"
kind = "threshold"
threshold = 0.6

[[rules]]
name = "PrecisionDrop"
series = "precision"
kind = "cusum"
h = 4.0
"""


@pytest.fixture(scope="module")
def project(sample_db: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project with its own table and column names and a monitor in monitors/payments.toml."""
    root = tmp_path_factory.mktemp("payments")
    db = root / "team.duckdb"
    shutil.copyfile(sample_db, db)
    with duckdb.connect(str(db)) as raw:
        raw.execute("ALTER TABLE predictions RENAME TO inference_log")
        raw.execute("ALTER TABLE inference_log RENAME COLUMN ts TO served_at")
        raw.execute("ALTER TABLE inference_log RENAME COLUMN score TO fraud_prob")
        raw.execute("ALTER TABLE inference_log RENAME COLUMN segment TO market")
        raw.execute("ALTER TABLE ops RENAME TO serving_minutes")
        raw.execute("ALTER TABLE serving_minutes RENAME COLUMN ts TO minute")
    (root / "abnb.toml").write_text(PROJECT, encoding="utf-8")
    (root / "monitors").mkdir()
    (root / "monitors" / "payments.toml").write_text(SPEC, encoding="utf-8")
    return root


@pytest.mark.slow
def test_a_teams_monitor_renders_its_own_report(project: Path) -> None:
    reports = project / "reports"
    rendered = render_monitoring(
        database=project / "team.duckdb", output_dir=reports, monitor_spec="payments", project=project
    )
    assert rendered.html.parent == reports / "monitoring-payments"
    page = rendered.html.read_text(encoding="utf-8")
    assert external_resources(page) == []
    assert "<title>Model monitoring: payments — data through 2026-10-28</title>" in page
    assert "<b>of</b>" not in page
    assert "&lt;b&gt;of&lt;/b&gt;" in page
    for text in ("ErrorBurst", "ScoreDrift", "PrecisionDrop", "would have fired", "payments.rules.yml"):
        assert text in page, text
    assert "LatencyP95Shift" not in page  # the default rules are not the team's
    summary = json.loads(rendered.summary.read_text(encoding="utf-8"))
    assert summary["monitor"] == "payments"
    assert summary["experiment"] == "monitoring-payments"
    schema = abnb.find_project(project).model_telemetry()
    with abnb.connect(project / "team.duckdb", read_only=True) as con:
        direct = monitor_summary(con, spec=load_monitor("payments", project=project), schema=schema)
    assert summary["alerts"] == direct.summary()["alerts"]
    assert "ScoreDrift" in {a["rule"] for a in summary["alerts"]}  # the sample's broken German scorer (v2)
    assert "monitoring-payments" in (reports / "index.html").read_text(encoding="utf-8")


def test_the_cli_passes_the_spec_and_refuses_a_window_beside_it(project: Path) -> None:
    runner = CliRunner()
    cwd = os.getcwd()
    os.chdir(project)
    try:
        clash = runner.invoke(main, ["monitor", "--spec", "payments", "--window", "6 hours"])
        unknown = runner.invoke(main, ["monitor", "--spec", "refunds"])
    finally:
        os.chdir(cwd)
    assert clash.exit_code != 0
    assert "the spec sets the window" in clash.output
    assert unknown.exit_code != 0
    assert "no monitor 'refunds'" in unknown.output
    assert "payments" in unknown.output


def test_render_checks_the_spec_before_running(project: Path, tmp_path: Path) -> None:
    with pytest.raises(SpecError, match=r"no monitor 'refunds'.*known monitors: payments"):
        render_monitoring(
            database=project / "team.duckdb", output_dir=tmp_path, monitor_spec="refunds", project=project
        )
    with pytest.raises(ParameterError, match="window='6 hours' and monitor_spec='payments'"):
        render_monitoring(
            database=project / "team.duckdb",
            output_dir=tmp_path,
            monitor_spec="payments",
            window="6 hours",
            project=project,
        )
    assert not any(tmp_path.iterdir())
