"""Monitoring specs (monitors/*.toml): what they read, and the errors that name the file, rule and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from abnb.errors import SpecError
from abnb.monitor import MonitorSpec, load_monitor

SPEC = """
name = "payments"
window = "1 day"

[[rules]]
name = "ErrorRateHigh"
series = "error_rate"
kind = "threshold"
window = "10 minutes"
op = ">"
threshold = 0.05
for_windows = 2
clear_threshold = 0.02
clear_windows = 2
severity = "page"

[[rules]]
name = "PrecisionShift"
series = "precision"
kind = "cusum"
k = 0.5
h = 5.0
"""


def test_a_spec_file_reads_its_rules_and_windows(tmp_path: Path) -> None:
    path = tmp_path / "payments.toml"
    path.write_text(SPEC)
    spec = MonitorSpec.from_toml(path)
    errors, precision = spec.rules
    assert (spec.name, spec.source) == ("payments", str(path))
    assert (spec.window_of(errors), spec.window_of(precision)) == ("10 minutes", "1 day")
    assert errors.method == MonitorSpec.default().rules[0].method
    assert (errors.severity, precision.severity, precision.per_segment, precision.calibrated) == (
        "page",
        "warning",
        True,
        True,
    )


def test_load_monitor_finds_a_name_in_the_project_and_lists_the_known_ones(tmp_path: Path) -> None:
    (tmp_path / "monitors").mkdir()
    (tmp_path / "monitors" / "payments.toml").write_text(SPEC)
    assert load_monitor("payments", project=tmp_path).name == "payments"
    with pytest.raises(SpecError, match=r"no monitor 'other' .* known monitors: payments\."):
        load_monitor("other", project=tmp_path)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            ("k = 0.5", "k = 0.5\nthreshold = 1.0"),
            r"rule 'PrecisionShift' \(kind 'cusum'\) has unknown key\(s\) threshold "
            r"\(threshold belong to another kind of rule\)",
        ),
        (('name = "PrecisionShift"', 'name = "ErrorRateHigh"'), r"rule name\(s\) ErrorRateHigh are used twice"),
        (('series = "precision"', 'series = "recall"'), r"series 'recall' is unknown; choose one of error_rate"),
        (("for_windows = 2", "for_windows = 0"), r"rule 'ErrorRateHigh': for_windows"),
        (('name = "ErrorRateHigh"', 'name = "Error Rate"'), r"monitor rule name 'Error Rate' must start with a letter"),
        (('window = "1 day"', 'window = "1 day"\ncolour = "red"'), r"unknown key\(s\) colour; a monitor's keys are"),
    ],
)
def test_a_bad_spec_names_the_file_the_rule_and_the_key(tmp_path: Path, change: tuple[str, str], message: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(SPEC.replace(*change, 1))
    with pytest.raises(SpecError, match=message) as raised:
        MonitorSpec.from_toml(path)
    assert str(path) in str(raised.value)
