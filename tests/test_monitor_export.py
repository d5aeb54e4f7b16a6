"""Prometheus rules exported from a monitoring spec fire exactly when abnb's replay does (checked by promtool).

``promtool`` comes from Debian's ``prometheus`` package (the ``promtool`` fixture of tests/conftest.py).
"""

from __future__ import annotations

import subprocess
from datetime import datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

import abnb
from abnb.monitor.backtest import Backtest, backtest_rules
from abnb.monitor.dashboard import backtest
from abnb.monitor.export import duration, prometheus_rules, promtool_tests, rule_expression, rules_yaml
from abnb.monitor.spec import MonitorRule, MonitorSpec

START = datetime(2026, 10, 1)


def _promtool(promtool: str, folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([promtool, *args], cwd=folder, capture_output=True, text=True, timeout=120, check=False)


def _check(promtool: str, folder: Path, spec: MonitorSpec, bt: Backtest) -> subprocess.CompletedProcess[str]:
    """Write the export and its promtool test into ``folder``; run `check rules`, then `test rules`."""
    (folder / "rules.yml").write_text(rules_yaml(prometheus_rules(spec, backtest=bt)))
    checked = _promtool(promtool, folder, "check", "rules", "rules.yml")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    (folder / "test.yml").write_text(rules_yaml(promtool_tests(spec, bt, "rules.yml")))
    return _promtool(promtool, folder, "test", "rules", "test.yml")


def _synthetic(spec: MonitorSpec, values: list[float]) -> Backtest:
    """The spec's rules backtested on one series of 10-minute windows (no release)."""
    times = [START + timedelta(minutes=10 * i) for i in range(len(values))]
    frame = pd.DataFrame({"window": times, "error_rate": values, "segment": "all"})
    end = times[-1] + timedelta(minutes=10)
    return backtest_rules(
        spec,
        lambda _series, _window: frame,
        baseline_end=end,
        releases=pd.DataFrame({"ts": [], "model_version": []}),
        end=end,
    )


def _threshold(**keys: object) -> MonitorSpec:
    rule = MonitorRule(
        "ErrorRateHigh",
        "error_rate",
        "threshold",
        window="10 minutes",
        op=">",
        threshold=0.05,
        **keys,  # type: ignore[arg-type]
    )
    return MonitorSpec("edge", (rule,))


def test_for_and_hysteresis_become_for_keep_firing_for_and_a_self_reference() -> None:
    spec = _threshold(for_windows=3, clear_threshold=0.02, clear_windows=2)
    (group,) = prometheus_rules(spec)["groups"]
    (rule,) = group["rules"]
    assert group["interval"] == "10m"
    assert (rule["for"], rule["keep_firing_for"]) == ("20m", "10m")
    value = 'abnb_monitor_value{monitor="edge",series="error_rate",window="10 minutes"}'
    assert rule["expr"] == (
        f"{value} > 0.05 or ({value} > 0.02 and on(segment) last_over_time("
        'ALERTS{alertname="ErrorRateHigh",alertstate="firing",monitor="edge"}[15m]))'
    )
    assert rule_expression(_threshold(), _threshold().rules[0]) == f"{value} > 0.05"
    assert (duration(0), duration(90), duration(86400 + 1.5)) == ("0s", "1m30s", "1d1s500ms")


EDGES = {
    # a breach one window shorter than `for` never fires; the next, long enough, fires at its 3rd window
    "one short of for": ([0.01, 0.06, 0.07, 0.01, 0.06, 0.07, 0.08, 0.09, 0.01, 0.01, 0.01], 3, 1),
    # flapping around the threshold inside the hysteresis band keeps the alert firing until 2 clear windows
    "flapping": ([0.01, 0.06, 0.06, 0.03, 0.06, 0.03, 0.04, 0.01, 0.03, 0.01, 0.01, 0.01, 0.06, 0.06], 2, 2),
    # one clear window, then back in the band: the count of clear windows starts again
    "clear interrupted": ([0.06, 0.06, 0.01, 0.03, 0.01, 0.01, 0.01], 2, 2),
}


@pytest.mark.parametrize("case", sorted(EDGES))
def test_edge_cases_fire_at_the_same_windows_as_the_replay(case: str, promtool: str, tmp_path: Path) -> None:
    values, for_windows, clear_windows = EDGES[case]
    spec = _threshold(for_windows=for_windows, clear_threshold=0.02, clear_windows=clear_windows)
    bt = _synthetic(spec, values)
    firing = bt.of("ErrorRateHigh").firing()
    assert any(firing)
    assert not all(firing)
    result = _check(promtool, tmp_path, spec, bt)
    assert result.returncode == 0, result.stdout + result.stderr
    if case == "one short of for":
        assert firing == [False] * 6 + [True, True, False, False, False]


def test_a_wrong_expectation_fails_promtool(promtool: str, tmp_path: Path) -> None:
    """The comparison is not vacuous: one window's expected state flipped makes `promtool test rules` fail."""
    spec = _threshold(for_windows=2, clear_threshold=0.02, clear_windows=2)
    bt = _synthetic(spec, EDGES["flapping"][0])
    (tmp_path / "rules.yml").write_text(rules_yaml(prometheus_rules(spec, backtest=bt)))
    tests = promtool_tests(spec, bt, "rules.yml")
    step = next(t for t in tests["tests"][0]["alert_rule_test"] if t["exp_alerts"])
    step["exp_alerts"] = []
    (tmp_path / "test.yml").write_text(rules_yaml(tests))
    result = _promtool(promtool, tmp_path, "test", "rules", "test.yml")
    assert result.returncode != 0
    assert "ErrorRateHigh" in result.stdout + result.stderr


def test_the_sample_history_fires_as_the_backtest(sample_db: Path, promtool: str, tmp_path: Path) -> None:
    """Every rule of the default spec on the suite's sample: Prometheus and abnb agree at every window."""
    with abnb.connect(sample_db, read_only=True) as con:
        bt = backtest(con)
    errors = bt.of("ErrorRateHigh")
    assert errors.replay.n_alerts >= 1  # the planted outage
    assert errors.false_alarms is not None
    assert errors.false_alarms.n_alarms == 0
    result = _check(promtool, tmp_path, MonitorSpec.default(), bt)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    annotations = prometheus_rules(MonitorSpec.default(), backtest=bt)["groups"][0]["rules"][0]["annotations"]
    assert annotations["abnb_backtest"].startswith(
        f"all: 0 false alarm(s) in {errors.false_alarms.n_windows} clean windows before the first release"
    )


def test_spec_text_cannot_inject_promql_or_templates(promtool: str, tmp_path: Path) -> None:
    rule = MonitorRule(
        "Odd_Rule",
        "error_rate",
        "threshold",
        window="10 minutes",
        title='x"} or vector(1) {{ .Value }} \\ <script>',
        threshold=0.05,
    )
    spec = MonitorSpec("odd", (rule,))
    rules = prometheus_rules(spec)
    (tmp_path / "rules.yml").write_text(rules_yaml(rules))
    checked = _promtool(promtool, tmp_path, "check", "rules", "rules.yml")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    exported = rules["groups"][0]["rules"][0]
    assert "vector(1)" not in exported["expr"]
    assert exported["annotations"]["summary"].startswith('x"} or vector(1) {{ "{{" }} .Value }}')


def test_the_export_command_writes_rules_their_proof_and_a_dashboard(
    sample_db: Path, promtool: str, tmp_path: Path
) -> None:
    from click.testing import CliRunner

    from abnb.cli import main

    result = CliRunner().invoke(
        main, ["monitor", "export", "--database", str(sample_db), "--output-dir", str(tmp_path / "out")]
    )
    assert result.exit_code == 0, result.output
    out = tmp_path / "out"
    assert sorted(p.name for p in out.iterdir()) == ["model.grafana.json", "model.rules.test.yml", "model.rules.yml"]
    assert result.stdout.strip().endswith("model.rules.yml")
    tested = _promtool(promtool, out, "test", "rules", "model.rules.test.yml")
    assert tested.returncode == 0, tested.stdout[-3000:] + tested.stderr[-3000:]
    missing = CliRunner().invoke(main, ["monitor", "export", "--database", str(sample_db), "--spec", "nope"])
    assert missing.exit_code != 0
    assert "no monitor 'nope'" in missing.output


def test_the_story_counts_the_alerts_and_the_false_ones() -> None:
    """A flapping series with no release: every alert is on the clean baseline, hence false; the sentence says so."""
    bt = _synthetic(_threshold(for_windows=2), [0.0, 0.1, 0.1, 0.0, 0.0, 0.1, 0.1, 0.1, 0.0, 0.1])
    alerts = bt.alerts()
    assert list(alerts["start"]) == [START + timedelta(minutes=20), START + timedelta(minutes=60)]
    assert alerts["false_alarm"].all()
    assert alerts["after"].isna().all()
    assert bt.story() == [
        "ErrorRateHigh (error_rate per 10 minutes, threshold) would have fired twice in 0 days, twice falsely "
        "(on the 10 clean windows before the first release)."
    ]
    quiet = _synthetic(_threshold(), [0.0, 0.01, 0.02])
    assert quiet.alerts().empty
    assert quiet.story() == [
        "ErrorRateHigh (error_rate per 10 minutes, threshold) would not have fired in 0 days (3 clean windows before "
        "the first release)."
    ]


def test_the_story_of_the_sample_names_the_release_in_force(sample_db: Path) -> None:
    with abnb.connect(sample_db, read_only=True) as con:
        bt = backtest(con)
    alerts = bt.alerts()
    assert len(alerts) == sum(item.replay.n_alerts for item in bt.rules)
    assert (alerts["false_alarm"] == (alerts["start"] < bt.baseline_end)).all()
    story = bt.story()
    assert len(story) == 3
    outage = alerts[alerts["rule"] == "ErrorRateHigh"].iloc[0]
    assert outage["after"] == "v2"
    assert f"{outage['start']:%Y-%m-%d %H:%M} (v2 in force)" in story[0]
    assert story[2].startswith("PrecisionShift (precision per 1 day, cusum) over 4 segments would have fired")


def test_write_export_writes_three_files_that_promtool_accepts(sample_db: Path, promtool: str, tmp_path: Path) -> None:
    from abnb.monitor import write_export

    spec = MonitorSpec.default()
    with abnb.connect(sample_db, read_only=True) as con:
        bt = backtest(con, spec)
    rules, tests, board = write_export(spec, bt, tmp_path / "deep" / "folder")
    assert [p.name for p in (rules, tests, board)] == ["model.rules.yml", "model.rules.test.yml", "model.grafana.json"]
    assert rules.read_text() == rules_yaml(prometheus_rules(spec, backtest=bt))
    tested = _promtool(promtool, rules.parent, "test", "rules", tests.name)
    assert tested.returncode == 0, tested.stdout[-3000:] + tested.stderr[-3000:]
    before = rules.read_bytes()
    board.unlink()
    board.mkdir()  # a folder where the dashboard should go: the write fails, the rules written before stay whole
    with pytest.raises(abnb.errors.ReportError, match=r"model\.grafana\.json"):
        write_export(spec, bt, rules.parent)
    assert rules.read_bytes() == before
