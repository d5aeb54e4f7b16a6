"""What the experiment report shows above and around the results table: identity, health, detail views, segments."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from statsmodels.stats.multitest import multipletests

import abnb
from abnb.experiment import ExperimentResult, Plan
from abnb.report import detail_table, headline, segments_section, write_index


@pytest.fixture(scope="module")
def sample(sample_db: Path) -> ExperimentResult:
    with abnb.connect(sample_db) as con:
        return abnb.load("checkout_redesign").analyze(con)


def test_headline_names_the_experiment_and_its_health(sample: ExperimentResult) -> None:
    page = headline(sample, engine="data/telemetry.duckdb").data
    spec = sample.experiment
    assert f"<h1>{spec.name}</h1>" in page
    assert spec.description in page
    assert "<b>Hypothesis:</b> Two of the three checkout steps" in page
    assert "Owner: checkout team" in page
    assert "control 50% (control) · treatment 50%" in page
    assert " · ".join(f"{arm} {n:,}" for arm, n in sample.units.items()) in page
    assert f"χ² p = {sample.srm.pvalue:.3g}" in page
    assert ">as planned<" in page
    assert f"since 2026-10-01, day {sample.days_running} of 14" in page
    progress = sample.progress
    assert progress is not None
    assert progress.metric == "conversion"
    assert f"{progress.fraction:.0%} of {progress.planned_units_per_arm:,.0f} units per arm (conversion)" in page
    assert f"MDE now {progress.mde_now:.2%}, planned 5.00%" in page
    assert f"{sample.excluded_units:,} (exposed to more than one arm, or only with a NULL arm)" in page
    assert "data/telemetry.duckdb" in page
    assert f"Decision: {sample.decision.verdict}</b>" in page


def test_headline_escapes_what_the_spec_says(sample: ExperimentResult) -> None:
    spec = replace(
        sample.experiment,
        description="<script>alert(1)</script>",
        hypothesis="a & b <i>",
        owner="<b>me</b>",
        links=(("<img src=x>", 'https://example.com/?q="><script>'),),
    )
    page = headline(replace(sample, experiment=spec), engine="<svg onload=x>").data
    for raw in ("<script>", "<i>", "<b>me</b>", "<img src=x>", "<svg onload"):
        assert raw not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert 'href="https://example.com/?q=&quot;&gt;&lt;script&gt;"' in page


def test_progress_without_a_plan_says_how_to_get_one(sample: ExperimentResult) -> None:
    page = headline(replace(sample, experiment=replace(sample.experiment, plan=None))).data
    assert "no plan in the spec" in page
    assert "units_per_arm" in page
    planned = replace(sample, experiment=replace(sample.experiment, plan=Plan(units_per_arm=20_000)))
    assert planned.progress is not None
    assert f"{min(sample.units.values()) / 20_000:.0%} of 20,000 units per arm" in headline(planned).data


def test_a_detail_view_without_rows_says_why(sample: ExperimentResult) -> None:
    bare = replace(sample, effects=tuple(replace(e, adjusted=None) for e in sample.effects))
    assert "No metric has a pre-period covariate" in detail_table(bare, "cuped").data
    shown = detail_table(sample, "cuped").data
    assert "CUPED lift" in shown
    assert "No metric has" not in shown


def test_detail_views_move_methods_below_the_table(sample: ExperimentResult) -> None:
    shown = detail_table(sample, "bayes").data
    table, notes = shown.split('<ol class="abnb-table-notes"')
    assert "bayes_method" not in table
    assert "P(beats control)" in table
    for effect in sample.effects:
        if effect.bayes is not None:
            assert effect.bayes.method in notes
    assert "revenue_per_session · treatment: not computed: no posterior for ratio metrics" in notes


def test_segments_are_corrected_together_and_small_cells_suppressed(sample: ExperimentResult) -> None:
    frame = sample.segments_frame(min_units=2_000, correction="bh")
    small = (frame["n_control"] < 2_000) | (frame["n_treatment"] < 2_000)
    assert small.any()
    assert (~small).any()
    assert frame["suppressed"].tolist() == small.tolist()
    assert frame.loc[small, "rel_estimate"].isna().all()
    assert (frame.loc[small, "note"] == "suppressed: fewer than 2,000 units in an arm").all()
    tested = frame["pvalue"].notna()
    expected = multipletests(frame.loc[tested, "pvalue"], method="fdr_bh")[1]
    np.testing.assert_allclose(frame.loc[tested, "pvalue_adjusted"], expected, rtol=1e-12)
    parts = segments_section(sample, min_units=2_000)
    intro = parts[0].data
    assert f"{len(frame)} cells" in intro
    assert f"{int(small.sum())} cells with fewer than 2000 units" in intro
    assert "Benjamini–Hochberg" in intro
    charts = [p for p in parts if hasattr(p, "to_dict")]
    assert {c.to_dict()["title"] for c in charts} == {
        f"{m.name}: relative effect by segment" for m in sample.experiment.metrics
    }


def test_segments_frame_refuses_bad_arguments(sample: ExperimentResult) -> None:
    with pytest.raises(abnb.errors.ParameterError, match="min_units"):
        sample.segments_frame(min_units=-1)
    with pytest.raises(abnb.errors.ParameterError, match="correction 'fdr'"):
        sample.segments_frame(correction="fdr")


def test_index_shows_days_running_and_progress(sample: ExperimentResult, tmp_path: Path) -> None:
    folder = tmp_path / "checkout_redesign"
    folder.mkdir()
    summary = json.loads(json.dumps(sample.summary())) | {"schema_version": 1}
    (folder / "2026-10-14.summary.json").write_text(json.dumps(summary))
    index = write_index(tmp_path).read_text()
    fraction = summary["progress"]["fraction"]
    assert f"<td>{summary['days_running']}</td>" in index
    assert f'<span style="width:{min(fraction, 1):.0%}"></span></span>{fraction:.0%}</td>' in index
    summary["progress"] = {"fraction": "<script>"}
    (folder / "2026-10-14.summary.json").write_text(json.dumps(summary))
    assert "<script>" not in write_index(tmp_path).read_text()


def test_index_draws_the_primary_metric_over_time_from_numbers_only(sample: ExperimentResult, tmp_path: Path) -> None:
    folder = tmp_path / "checkout_redesign"
    folder.mkdir()
    points = [["2026-10-01", -0.4, -0.8, 0.1], ["2026-10-02", 0.05, -0.2, 0.3], ["2026-10-03", 0.11, 0.08, 0.14]]
    summary = json.loads(json.dumps(sample.summary())) | {"schema_version": 1}
    summary["timeline"] = {"metric": "<b>conversion</b>", "arm": "treatment", "points": points}
    (folder / "2026-10-14.summary.json").write_text(json.dumps(summary))
    index = write_index(tmp_path).read_text()
    assert 'aria-label="&lt;b&gt;conversion&lt;/b&gt;: relative effect over 3 days, last +11.0%"' in index
    assert "<b>conversion</b>" not in index
    # y runs from max(0, 0.3) at the top to min(0, -0.8) at the bottom of a 28 px box with 2 px margins
    assert '<polyline points="0.0,17.3 60.0,7.5 120.0,6.1"' in index
    summary["timeline"]["points"] = [["2026-10-01", "<script>", None, None], ["x", "1", "2", "3"]]
    (folder / "2026-10-14.summary.json").write_text(json.dumps(summary))
    index = write_index(tmp_path).read_text()
    assert "<script>" not in index
    assert "<polyline" not in index  # no number to draw: a dash, not a broken drawing


def test_write_summary_keeps_the_first_goal_metric_over_time(sample: ExperimentResult, sample_db: Path) -> None:
    from abnb.report import write_summary
    from abnb.timeline import cumulative

    with abnb.connect(sample_db) as con:
        timeline = cumulative(sample.experiment, con)
    summary = write_summary(sample, None, timeline=timeline)
    followed = summary["timeline"]
    assert (followed["metric"], followed["arm"]) == ("conversion", "treatment")
    last = [p for p in timeline.points if p.metric == "conversion"][-1]
    assert followed["points"][-1] == [last.day.isoformat(), last.estimate, last.ci_low, last.ci_high]
    assert last.estimate == pytest.approx(sample.effect("conversion").relative.estimate, rel=1e-9)
    assert "timeline" not in write_summary(sample, None)


def test_static_charts_carry_their_title_as_text_alternative() -> None:
    import altair as alt
    import pandas as pd

    from abnb.charts import describe, use_static

    frame = pd.DataFrame({"x": [1, 2], "y": [3, 4]})
    titled = alt.Chart(frame, title="Mean per arm", description="Two arms.").mark_point().encode(x="x", y="y")
    assert describe(titled.to_dict()) == "Chart: Mean per arm. Two arms."
    assert describe(alt.Chart(frame).mark_point().encode(x="x", y="y").to_dict()) == "Chart: chart of x, y."
    use_static()
    bundle, metadata = titled._repr_mimebundle_()
    assert bundle["image/svg+xml"].startswith("<svg")
    assert metadata == {"image/svg+xml": {"alt": "Chart: Mean per arm. Two arms."}}
