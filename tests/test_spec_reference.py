"""docs/spec-reference.md lists exactly the keys the code accepts, section by section."""

from __future__ import annotations

import re
from dataclasses import fields
from pathlib import Path

from abnb.aggregate import ExposureSource
from abnb.experiment import PLAN_KEYS, Experiment
from abnb.metrics import Metric
from abnb.project import DEFAULT_KEYS, PATH_KEYS, TOP_KEYS
from abnb.telemetry import ModelTelemetry

DOC = Path(__file__).resolve().parents[1] / "docs" / "spec-reference.md"


def _sections() -> dict[str, list[str]]:
    """Keys of the first column of each table, by the heading above it."""
    sections: dict[str, list[str]] = {}
    heading = ""
    for line in DOC.read_text(encoding="utf-8").splitlines():
        if line.startswith("#"):
            heading = line.lstrip("#").strip()
        match = re.match(r"^\| `([^`]+)` \|", line)
        if match:
            sections.setdefault(heading, []).append(match.group(1))
    return sections


def _init_fields(cls: type) -> list[str]:
    return [f.name for f in fields(cls) if f.init]


def test_every_key_is_documented_once() -> None:
    sections = _sections()
    expected = {
        "Top level of `abnb.toml`": list(TOP_KEYS),
        "Top level of a spec": _init_fields(Experiment),
        "`[project]`": ["name"],
        "`[engine]`": ["database", "url"],
        "`[sources]`": ["<name>"],
        "`[paths]`": list(PATH_KEYS),
        "`[defaults]`": list(DEFAULT_KEYS),
        "`[model]`": [f.name for f in fields(ModelTelemetry)],
        "`[exposures]`": _init_fields(ExposureSource),
        "`[links]`": ["<label>"],
        "`[plan]`": list(PLAN_KEYS),
        "`[[metrics]]`": ["ref", *Metric.keys()],
        "Metric library: `metrics/*.toml`": ["metrics"],
    }
    assert set(sections) == set(expected)
    for heading, keys in expected.items():
        assert sorted(sections[heading]) == sorted(keys), heading
    for heading, keys in sections.items():
        assert len(keys) == len(set(keys)), f"{heading}: a key is listed twice"


def test_the_model_defaults_shown_are_the_codes() -> None:
    text = DOC.read_text(encoding="utf-8")
    model = ModelTelemetry()
    for table in fields(model):
        spec = getattr(model, table.name)
        (row,) = [line for line in text.splitlines() if line.startswith(f"| `{table.name}` | table |")]
        assert f'`table = "{spec.table}"`' in row
        columns = [f.name for f in fields(spec) if f.name != "table"]
        assert re.findall(r"`([a-z_]+)`", row.split(";", 1)[1].split("|")[0]) == columns, table.name
