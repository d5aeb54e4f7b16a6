"""A real Prometheus server scrapes `abnb monitor serve`'s replay of the sample and fires the exported outage alert.

Prometheus evaluates in real time, so the replay serves one 10-minute window every ``STEP`` seconds and the exported
rules are scaled alike (``time_scale = STEP / 600``: the group interval, ``for`` and ``keep_firing_for``). Debian's
``prometheus`` package (.ci/run installs it) runs on loopback with its storage in a temporary folder, bounded in
time; outside CI the test skips when it is missing. promtool (tests/test_monitor_export.py) checks the firing
windows exactly; this test checks the deployed pieces work together.
"""

from __future__ import annotations

import json
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

import abnb
from abnb.monitor import MonitorSpec, backtest, prometheus_rules, rules_yaml
from abnb.monitor.exporter import MetricsServer, ReplayExporter
from tests.conftest import debian_tool, free_port

pytestmark = [pytest.mark.slow]
STEP = 2.0  # wall-clock seconds per replayed 10-minute window
LEAD = 8  # windows served before the outage's first alarm


@pytest.fixture(scope="module")
def prometheus_binary() -> str:
    return debian_tool(("prometheus",), "prometheus")


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as answer:
        return json.loads(answer.read())


def test_prometheus_fires_the_exported_alert_on_the_replayed_outage(
    sample_db: Path, prometheus_binary: str, tmp_path: Path
) -> None:
    spec = MonitorSpec.default()
    with abnb.connect(sample_db, read_only=True) as con:
        bt = backtest(con, spec)
    errors = bt.of("ErrorRateHigh")
    first = errors.replay.first_alarm_index
    assert first is not None
    exporter = ReplayExporter(spec, bt, start=max(0, first - LEAD), step_seconds=STEP)
    server = MetricsServer(exporter, port=0, refresh_seconds=3600).start()
    (tmp_path / "rules.yml").write_text(rules_yaml(prometheus_rules(spec, backtest=bt, time_scale=STEP / 600)))
    port = free_port()
    (tmp_path / "prometheus.yml").write_text(
        "global:\n  scrape_interval: 500ms\n  evaluation_interval: 1s\n"
        "rule_files: [rules.yml]\n"
        "scrape_configs:\n"
        f"  - job_name: abnb\n    static_configs:\n      - targets: ['127.0.0.1:{server.port}']\n"
    )
    log = (tmp_path / "prometheus.log").open("w")
    process = subprocess.Popen(
        [
            prometheus_binary,
            f"--config.file={tmp_path / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        cwd=tmp_path,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    api = f"http://127.0.0.1:{port}/api/v1"
    firing: list[dict[str, Any]] = []
    try:
        deadline = time.monotonic() + (LEAD + 20) * STEP + 30
        while time.monotonic() < deadline and not firing:
            time.sleep(0.5)
            if process.poll() is not None:
                break
            try:
                alerts = _get(f"{api}/alerts")["data"]["alerts"]
            except OSError:
                continue
            firing = [a for a in alerts if a["labels"]["alertname"] == "ErrorRateHigh" and a["state"] == "firing"]
        targets = _get(f"{api}/targets")["data"]["activeTargets"] if process.poll() is None else []
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()
        server.stop()
    output = (tmp_path / "prometheus.log").read_text()[-3000:]
    assert firing, f"no ErrorRateHigh alert fired; targets {targets}; prometheus log: {output}"
    labels = firing[0]["labels"]
    assert (labels["severity"], labels["monitor"], labels["abnb_kind"], labels["segment"]) == (
        "page",
        "model",
        "threshold",
        "all",
    )
    assert firing[0]["annotations"]["abnb_backtest"].startswith("all: 0 false alarm(s)")
    assert targets[0]["health"] == "up"
    assert exporter.position >= first  # it fired on the replayed outage, not before it
