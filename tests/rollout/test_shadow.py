from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.contingency_tables import mcnemar as sm_mcnemar

from abnb.datasets.models import SHADOW_TRUTH, generate_models
from abnb.errors import ParameterError
from abnb.rollout.shadow import compare_shadow, disagreements_to_label, mcnemar


@pytest.mark.parametrize(("b", "c"), [(0, 0), (3, 9), (12, 12), (1, 20), (30, 51), (188, 48), (5, 6)])
@pytest.mark.parametrize("exact", [True, False])
def test_mcnemar_matches_statsmodels(b: int, c: int, exact: bool) -> None:
    ours = mcnemar(b, c, exact=exact)
    if b + c == 0:
        assert ours.pvalue == 1.0
        return
    theirs = sm_mcnemar([[50, b], [c, 40]], exact=exact, correction=True)
    assert ours.statistic == pytest.approx(float(theirs.statistic), abs=1e-9)
    assert ours.pvalue == pytest.approx(float(theirs.pvalue), abs=1e-9)


def test_mcnemar_picks_exact_for_few_discordant_pairs() -> None:
    assert mcnemar(3, 9).exact
    assert not mcnemar(30, 51).exact
    with pytest.raises(ParameterError, match="b"):
        mcnemar(-1, 2)


@pytest.fixture(scope="module")
def small() -> tuple[duckdb.DuckDBPyConnection, pd.DataFrame]:
    rng = np.random.default_rng(7)
    n = 400
    ids = np.arange(1, n + 1)
    live_score = rng.random(n)
    shadow_score = np.clip(live_score + rng.normal(0.02, 0.15, n), 0, 1)
    label = (rng.random(n) < live_score).astype(int)
    segment = rng.choice(["a", "b"], n)
    ts = pd.Timestamp("2026-10-05") + pd.to_timedelta(ids, unit="min")
    live = pd.DataFrame(
        {"request_id": ids, "segment": segment, "score": live_score, "prediction": (live_score >= 0.5).astype(int)}
    )
    live.loc[3, ["score", "prediction"]] = [np.nan, np.nan]  # a live error: not compared
    shadow = pd.DataFrame(
        {"request_id": ids, "ts": ts, "score": shadow_score, "prediction": (shadow_score >= 0.5).astype(int)}
    )
    truth = pd.DataFrame({"request_id": ids[::2], "label": label[::2]})  # half labelled
    con = duckdb.connect()
    for name, frame in (("live", live), ("shadow", shadow), ("truth", truth)):
        con.register(f"{name}_frame", frame)
        con.execute(f"CREATE TABLE {name} AS SELECT * FROM {name}_frame")
    joined = live.merge(shadow, on="request_id", suffixes=("_l", "_s")).dropna(subset=["score_l"])
    joined = joined.merge(truth, on="request_id", how="left")
    return con, joined


def test_counts_match_pandas(small: tuple[duckdb.DuckDBPyConnection, pd.DataFrame]) -> None:
    con, j = small
    result = compare_shadow(con, live="live", bins=20)
    assert result.n == len(j) == 399
    assert result.agreement == pytest.approx((j.prediction_l == j.prediction_s).mean(), abs=1e-12)
    assert result.flips_up == int(((j.prediction_l == 0) & (j.prediction_s == 1)).sum())
    assert result.flips_down == int(((j.prediction_l == 1) & (j.prediction_s == 0)).sum())
    d = j.score_s - j.score_l
    assert result.mean_score_difference == pytest.approx(d.mean(), abs=1e-12)
    assert result.histogram()["count"].sum() == len(j)
    labelled = j.dropna(subset=["label"])
    right_l, right_s = labelled.prediction_l == labelled.label, labelled.prediction_s == labelled.label
    assert result.n_labelled == len(labelled)
    assert result.live_accuracy == pytest.approx(right_l.mean(), abs=1e-12)
    assert result.shadow_accuracy == pytest.approx(right_s.mean(), abs=1e-12)
    b, c = int((right_l & ~right_s).sum()), int((~right_l & right_s).sum())
    assert result.mcnemar_pvalue == pytest.approx(mcnemar(b, c).pvalue, abs=1e-12)
    loss = (labelled.score_s - labelled.label) ** 2 - (labelled.score_l - labelled.label) ** 2
    assert result.loss_difference == pytest.approx(loss.mean(), abs=1e-12)
    segments = result.segments().set_index("segment")
    for name, group in j.groupby("segment_l" if "segment_l" in j else "segment"):
        assert segments.loc[name, "n"] == len(group)
        assert segments.loc[name, "agreement"] == pytest.approx((group.prediction_l == group.prediction_s).mean())
    assert set(segments.columns) >= {"mcnemar_pvalue_bh", "score_difference_pvalue_bh", "loss_pvalue_bh"}


@pytest.fixture(scope="module")
def sample() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    generate_models(con, requests=100_000, seed=20261001)
    return con


def test_planted_shadow_truth_recovered(sample: duckdb.DuckDBPyConnection) -> None:
    result = compare_shadow(sample, alpha=0.01)  # 99 % intervals: four coverage checks at once
    assert result.n == 17_920
    segments = result.segments().set_index("segment")
    for name in ("en", "de", "es", "fr"):
        row = segments.loc[name]
        assert row.accuracy_low <= SHADOW_TRUTH.accuracy_gain(name) <= row.accuracy_high
        flip = SHADOW_TRUTH.flip_rate(name)
        assert abs(row.flip_rate - flip) < 3 * (flip * (1 - flip) / row.n) ** 0.5
    assert segments.loc["en", "accuracy_low"] > 0  # better in en
    assert segments.loc["en", "mcnemar_pvalue_bh"] < 1e-6
    assert segments.loc["de", "accuracy_high"] < 0  # worse in de
    assert segments.loc["de", "mcnemar_pvalue_bh"] < 1e-6
    assert segments.loc["es", "mcnemar_pvalue_bh"] > 0.05  # about even
    assert segments.loc["fr", "mcnemar_pvalue_bh"] > 0.05
    # Calibration shift +0.03 on the unflipped requests (flips add their own share of the mean difference).
    assert 0.03 < result.mean_score_difference < 0.04
    calibration = result.calibration().set_index(["model", "bin"])
    assert calibration.loc[("shadow", 0), "mean_score"] > calibration.loc[("shadow", 0), "label_rate"] + 0.02
    assert abs(calibration.loc[("live", 0), "mean_score"] - calibration.loc[("live", 0), "label_rate"]) < 0.005


@pytest.mark.parametrize("strategy", ["uncertainty", "margin", "random"])
def test_sampler_is_deterministic_and_returns_only_disagreements(
    sample: duckdb.DuckDBPyConnection, strategy: str
) -> None:
    picked = disagreements_to_label(sample, 30, strategy=strategy, seed=5)  # type: ignore[arg-type]
    again = disagreements_to_label(sample, 30, strategy=strategy, seed=5)  # type: ignore[arg-type]
    pd.testing.assert_frame_equal(picked, again)
    assert len(picked) == 30
    assert picked.request_id.is_unique
    assert (picked.live_prediction != picked.shadow_prediction).all()
    if strategy == "uncertainty":
        distance = ((picked.live_score + picked.shadow_score) / 2 - 0.5).abs()
        assert distance.is_monotonic_increasing
    elif strategy == "margin":
        assert picked.score_difference.abs().is_monotonic_decreasing
    else:
        other = disagreements_to_label(sample, 30, strategy="random", seed=6)
        assert set(other.request_id) != set(picked.request_id)
    with pytest.raises(ParameterError, match="strategy"):
        disagreements_to_label(sample, 3, strategy="best")  # type: ignore[arg-type]


def test_without_labels_and_with_a_window(small: tuple[duckdb.DuckDBPyConnection, pd.DataFrame]) -> None:
    con, j = small
    result = compare_shadow(con, live="live", labels=None, end="2026-10-05 03:00")
    assert result.n == int((j.ts < pd.Timestamp("2026-10-05 03:00")).sum()) == 178
    assert result.n_labelled == 0
    assert np.isnan(result.mcnemar_pvalue)
    assert result.segments()["mcnemar_pvalue_bh"].isna().all()
    assert result.calibration().empty
