"""The papermill canary report renders offline (abnb.report.render_canary)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from abnb.datasets.sample import generate
from abnb.errors import ParameterError
from abnb.report import RenderedReport, external_resources, render_canary


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> RenderedReport:
    db = tmp_path_factory.mktemp("canary-db") / "db.duckdb"
    generate(db, users=2_000, requests=100_000, seed=20261001, progress=False)  # = data/telemetry.duckdb
    return render_canary(database=db, output_dir=tmp_path_factory.mktemp("reports"))


@pytest.mark.slow
def test_render_canary_publishes_an_offline_report(rendered: RenderedReport) -> None:
    assert [p.name for p in rendered] == ["2026-10-28.ipynb", "2026-10-28.html", "summary.json"]
    assert rendered.html.parent.name == "canary"
    page = rendered.html.read_text()
    assert external_resources(page) == []
    assert "import abnb" not in page
    for text in ("published vector", "Replaying the ramp", "Blue/green", "Advantages", "Risks"):
        assert text in page, text
    summary = json.loads(rendered.summary.read_text())
    assert summary["decision"]["verdict"] == "rollback"
    ramps = {r["canary_version"]: r for r in summary["ramps"]}
    assert ramps["v3"]["outcome"] == "rolled back"
    assert summary["clean_release"]["outcome"] == "promoted"
    assert summary["published_vector"] == {"estimate": 22.5, "ci_low": 6.0, "ci_high": 39.0}
    assert {s["version"]: s["rollback"] for s in summary["switches"]} == {"v2": True, "v3": True}
    assert (rendered.html.parent.parent / "index.html").exists()


def test_render_canary_refuses_bad_parameters(tmp_path: Path) -> None:
    with pytest.raises(ParameterError, match="steps"):
        render_canary(output_dir=tmp_path, steps="1,5,x")
    with pytest.raises(ParameterError, match="last step"):
        render_canary(output_dir=tmp_path, steps="1,5,50")
