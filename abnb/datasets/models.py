"""Deterministic synthetic model-quality telemetry with planted, documented truth.

:func:`generate_models` writes the tables ``predictions``, ``labels``, ``fares``, ``ratings``, ``corrections``,
``edits``, ``ops``, ``releases`` and ``truth`` of :data:`abnb.datasets.schemas.SCHEMAS` into an open DuckDB connection.
Every parameter is recorded in :data:`MODEL_TRUTH`, whose methods give the exact true values an estimator should
recover. For teaching convenience one request carries the outputs of several models (the examples of the lecture
on quality assessment in production): a profanity filter on a call transcript, a fare regression, a call-quality
prompt and an editable transcript.

Time: ``requests`` requests over 28 days from 2026-10-01 00:00 (inclusive) to the horizon 2026-10-29 00:00
(exclusive). Day uniform, hour of day with weight ``1 + 0.6 · sin(2π (h − 9) / 24)`` (peak 15:00), uniform
within the hour. ``request_id`` is ``1 … requests`` in time order. Naive timestamps (UTC wall clock).

Units and segments: ``unit`` (the caller) is uniform on ``1 … ceil(requests / 4)`` (about 4 requests per
unit); each unit has one language segment: en 50 %, de 20 %, es 15 %, fr 15 %. No other unit-level effects.

Versions and releases (table ``releases``): v1 from the start; **v2** released 2026-10-10 00:00; **v3**
released 2026-10-18 00:00. Each request is served by the version live at its ``ts``.

Profanity filter (``score`` = probability of the positive class "profane", ``prediction = score ≥ 0.5``):
    * True prevalence ρ per segment, the same in every version: en 0.10, de 0.12, es 0.08, fr 0.10.
    * A *calibrated* model with precision P and low-score mean L = 0.02 flags a share
      q = (ρ − L) / (P − L) of requests; a flagged request has score 0.5 + 0.5 · Beta(10 (2P − 1), 10 (2 − 2P))
      (mean P), an unflagged one 0.5 · Beta(0.4, 9.6) (mean L); the true label is Bernoulli(score). Hence
      precision = P, recall R = q · P / ρ and prevalence = q P + (1 − q) L = ρ exactly.
    * v1: P = 0.90 in every segment. Recall: en 0.8182, de 0.8523, es 0.7670, fr 0.8182.
    * v2 (SHARP drop in one segment): "de" has P = 0.70 (q = 0.1471, recall 0.8578); en, es, fr unchanged.
    * v3 (SLOW drift): at release identical to v1 in every segment (de fixed); then a share
      φ(t) = 0.02 · t of requests, t = days since the v3 release, is "drifted": same score distribution, but the
      label is Bernoulli(ρ), independent of the score. So the score distribution (and the flag rate q) never
      changes, calibration degrades linearly, P(y = 1 | s) = (1 − φ) s + φ ρ, and precision
      (1 − φ) P + φ ρ and recall (1 − φ) R + φ q fall linearly in t (precision in "en": 0.90 at release, 0.724
      at the horizon, t = 11). A label-free estimate that trusts calibration (mean score of flagged requests)
      stays at 0.90 and misses the drift; it is right under v1 and v2.
    * Requests with ``error`` have NULL ``score``, ``prediction`` and ``fare_predicted`` (they still have a true
      label, a fare and possibly a rating).

Latency and errors: latency ~ LogNormal with median 80 ms and σ = 0.35 (p95 = 80 · e^{1.645 σ} ≈ 142.3 ms,
p99 ≈ 180.6 ms); under v3 the median creeps up by 3 % per day since release (× 1.33 at the horizon). Error
probability 0.002. Planted outage 2026-10-14 14:00–14:30: error probability 0.5 and latency × 3.

Sampled manual labels (``labels``): every non-error request is labelled with inclusion probability π = 0.25 if
``prediction = 1`` and π = 0.02 otherwise (stored as ``inclusion_prob``), label = the true label, label ``ts``
= request ts + uniform [10 min, 6 h). Unweighted label means are biased towards flagged requests; weight by 1/π.

Delayed fares (``fares``): fare_actual = LogNormal(ln 18, 0.5) USD rounded to cents for every request (errors
included); fare_predicted = fare_actual · e^ε, ε ~ N(0, 0.15²), same model in every version; true MAPE
= e^{σ²/2} (2 Φ(σ) − 1) ≈ 0.1206. A fare row has ts = request ts + 7 days and exists only if that is before the
horizon: label completeness by request day is 1 for 2026-10-01 … 2026-10-21 and 0 for 2026-10-22 … 2026-10-28.

Ratings (``ratings``): true satisfaction k ∈ 1…5 with probabilities 0.05, 0.10, 0.20, 0.35, 0.30 (true mean
3.75), independent of everything else. A prompt after every call is answered (honestly) with probability 0.30,
0.20, 0.10, 0.06, 0.05 for k = 1…5 (overall response rate 0.091), so the expected observed mean is
0.274 / 0.091 ≈ 3.011 < 3.75. Rating ts = request ts + uniform [0, 10 min).

Corrections (``corrections``): each false negative (true label 1, prediction 0, no error) is reported by the
user with probability 0.30, ts = request ts + uniform [1 min, 2 h). No false reports. Hence
FN ≈ corrections / 0.30 and recall ≈ TP / (TP + corrections / 0.30).

Edits (``edits``): every non-error request has a transcript of 40 + Poisson(160) characters; it is edited with
probability 0.15 if the filter was wrong (prediction ≠ true label) and 0.05 otherwise, edit_chars =
min(1 + Poisson(20 if wrong else 6), transcript_chars), ts = request ts + uniform [1 min, 1 h). A weak proxy:
the edit rate is 0.05 + 0.10 · error rate of the filter.

Ops (``ops``): exact per-minute summary of ``predictions`` by version: request count, error count and latency
p50/p95/p99 (``quantile_cont``); minutes without requests have no row.

Truth (``truth``): the hidden true label of every request, ground truth the kit never sees in production, for
tests and chaos experiments.

Shadow (``shadow``, truth in :data:`SHADOW_TRUTH`): the candidate "v2-shadow" scored every non-error request from
2026-10-05 00:00 to 2026-10-10 00:00 (the v1 requests just before v2's release) next to the live model; only v1's
answer was served. Given the live prediction p and the true label y, the shadow prediction is the correct label
with probability ``fix`` where the live model was wrong, and the wrong one with probability ``break`` where it was
right (per segment: en fix 0.40 / break 0.002, better; de 0.05 / 0.02, worse; es and fr 0.10 / 0.003, about
even). The live error rate is e = q (1 − P) + (1 − q) L, so the true accuracy gain of the shadow is
``fix · e − break · (1 − e)`` (:meth:`ShadowTruth.accuracy_gain`). Unflipped requests keep their side of 0.5 with
score ``s + 0.03 + N(0, 0.01²)`` clipped to it (a calibration shift of +0.03, exact on the unflagged side); a
flipped request gets ``0.5 + 0.3 U`` (to 1) or ``0.5 − 0.3 U`` (to 0), U uniform. Drawn from its own stream,
``SeedSequence([seed, 0x53484457])``, so the other tables do not depend on it.

Feedback rows (labels, fares, ratings, corrections, edits) exist only when their ts is before the horizon.

Determinism: the generator draws from ``numpy.random.SeedSequence([seed, 0x4D4F444C]).spawn(6)``, separate from
the streams of :mod:`abnb.datasets.sample`, so the same ``(requests, seed)`` writes the same rows and the experiment
tables of :func:`abnb.datasets.sample.generate` do not depend on it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from types import MappingProxyType
from typing import Any

import duckdb
import numpy as np
import numpy.typing as npt
import pandas as pd

from abnb.datasets.schemas import MODEL_TABLES, SCHEMAS
from abnb.engine import check_table
from abnb.errors import DataError, ParameterError

__all__ = ["MODEL_TRUTH", "SHADOW_TRUTH", "ModelTruth", "ShadowTruth", "generate_models"]

_DAY = timedelta(days=1)


@dataclass(frozen=True)
class ModelTruth:
    """The parameters :func:`generate_models` plants and the exact true values they imply.

    Per-segment values are ``(segment, value)`` pairs in code order. See the module docstring for the story.
    """

    start: datetime = datetime(2026, 10, 1)
    days: int = 28
    hour_amplitude: float = 0.6
    requests_per_unit: int = 4
    segments: tuple[tuple[str, float], ...] = (("en", 0.5), ("de", 0.2), ("es", 0.15), ("fr", 0.15))
    prevalence: tuple[tuple[str, float], ...] = (("en", 0.10), ("de", 0.12), ("es", 0.08), ("fr", 0.10))
    versions: tuple[str, str, str] = ("v1", "v2", "v3")
    releases: tuple[tuple[datetime, str, str], ...] = (
        (datetime(2026, 10, 10), "v2", "v2: new tokenizer; sharp precision drop in segment de (0.90 -> 0.70)"),
        (datetime(2026, 10, 18), "v3", "v3: fixes de; slow calibration drift (2 %/day) and latency creep (3 %/day)"),
    )
    precision_base: float = 0.90
    drop_segment: str = "de"
    precision_drop: float = 0.70
    low_score_mean: float = 0.02
    high_concentration: float = 10.0
    low_concentration: float = 10.0
    drift_rate: float = 0.02
    latency_median_ms: float = 80.0
    latency_sigma: float = 0.35
    latency_creep: float = 0.03
    error_rate: float = 0.002
    outage_start: datetime = datetime(2026, 10, 14, 14)
    outage_end: datetime = datetime(2026, 10, 14, 14, 30)
    outage_error_rate: float = 0.5
    outage_latency_factor: float = 3.0
    label_prob_positive: float = 0.25
    label_prob_negative: float = 0.02
    label_delay: tuple[timedelta, timedelta] = (timedelta(minutes=10), timedelta(hours=6))
    fare_median: float = 18.0
    fare_log_sigma: float = 0.5
    fare_error_sigma: float = 0.15
    fare_delay: timedelta = field(default=timedelta(days=7))
    satisfaction: tuple[float, ...] = (0.05, 0.10, 0.20, 0.35, 0.30)
    response_rates: tuple[float, ...] = (0.30, 0.20, 0.10, 0.06, 0.05)
    rating_delay: tuple[timedelta, timedelta] = (timedelta(0), timedelta(minutes=10))
    correction_rate: float = 0.30
    correction_delay: tuple[timedelta, timedelta] = (timedelta(minutes=1), timedelta(hours=2))
    transcript_base_chars: int = 40
    transcript_extra_chars_mean: float = 160.0
    edit_prob_correct: float = 0.05
    edit_prob_wrong: float = 0.15
    edit_chars_correct_mean: float = 6.0
    edit_chars_wrong_mean: float = 20.0
    edit_delay: tuple[timedelta, timedelta] = (timedelta(minutes=1), timedelta(hours=1))

    @property
    def horizon(self) -> datetime:
        """End of the generated window (exclusive), ``start + days`` = 2026-10-29 00:00."""
        return self.start + self.days * _DAY

    @property
    def segment_names(self) -> tuple[str, ...]:
        """Segment names in code order."""
        return tuple(name for name, _ in self.segments)

    def release(self, version: str) -> datetime:
        """Release time of ``version`` (``v1`` is live from :attr:`start`)."""
        if version == self.versions[0]:
            return self.start
        for moment, name, _ in self.releases:
            if name == version:
                return moment
        raise ParameterError(f"unknown model version {version!r}; expected one of {', '.join(self.versions)}")

    def version_at(self, moment: datetime) -> str:
        """The model version serving requests at ``moment``."""
        live = self.versions[0]
        for release, name, _ in self.releases:
            if moment >= release:
                live = name
        return live

    def drift_fraction(self, moment: datetime) -> float:
        """Share φ of drifted requests at ``moment``: ``drift_rate`` · days since the v3 release (0 before)."""
        days = (moment - self.release("v3")) / _DAY
        return min(1.0, self.drift_rate * max(0.0, days))

    def _prevalence(self, segment: str) -> float:
        table = dict(self.prevalence)
        if segment not in table:
            raise ParameterError(f"unknown segment {segment!r}; expected one of {', '.join(table)}")
        return table[segment]

    def score_precision(self, segment: str, version: str) -> float:
        """Mean score P of flagged requests, the precision before any drift: 0.90, or 0.70 for de under v2."""
        self._prevalence(segment)
        self.release(version)
        return self.precision_drop if (segment, version) == (self.drop_segment, "v2") else self.precision_base

    def flag_rate(self, segment: str, version: str) -> float:
        """Share q = (ρ − L) / (P − L) of requests flagged (``prediction = 1``); constant in time."""
        rho, low = self._prevalence(segment), self.low_score_mean
        return (rho - low) / (self.score_precision(segment, version) - low)

    def _mean_drift(self, version: str, at: datetime | None) -> float:
        if version != "v3":
            return 0.0
        if at is not None:
            return self.drift_fraction(at)
        # Load is the same every day, so φ averages over the v3 window at its midpoint.
        days = (self.horizon - self.release("v3")) / _DAY
        return min(1.0, self.drift_rate * days / 2)

    def precision(self, segment: str, version: str, *, at: datetime | None = None) -> float:
        """True precision of ``version`` in ``segment``: ``(1 − φ) P + φ ρ``.

        Args:
            segment: Segment name.
            version: Model version.
            at: For v3, the moment (φ at that time); ``None`` gives the average over all v3 requests.
        """
        phi = self._mean_drift(version, at)
        return (1 - phi) * self.score_precision(segment, version) + phi * self._prevalence(segment)

    def recall(self, segment: str, version: str, *, at: datetime | None = None) -> float:
        """True recall: ``(1 − φ) q P / ρ + φ q``; arguments as in :meth:`precision`."""
        phi = self._mean_drift(version, at)
        q = self.flag_rate(segment, version)
        base = q * self.score_precision(segment, version) / self._prevalence(segment)
        return (1 - phi) * base + phi * q

    def quality_frame(self) -> pd.DataFrame:
        """True prevalence, flag rate, precision and recall per segment × version (v3 averaged over its window)."""
        rows = [
            {
                "segment": segment,
                "model_version": version,
                "prevalence": self._prevalence(segment),
                "flag_rate": self.flag_rate(segment, version),
                "precision": self.precision(segment, version),
                "recall": self.recall(segment, version),
            }
            for version in self.versions
            for segment in self.segment_names
        ]
        return pd.DataFrame(rows)

    def latency_quantile(self, probability: float, moment: datetime) -> float:
        """True latency quantile in ms outside the outage: ``median · (1 + creep · t) · exp(σ z_p)``."""
        from scipy.stats import norm

        days = max(0.0, (moment - self.release("v3")) / _DAY) if self.version_at(moment) == "v3" else 0.0
        median = self.latency_median_ms * (1 + self.latency_creep * days)
        return float(median * math.exp(self.latency_sigma * norm.ppf(probability)))

    @property
    def true_mean_satisfaction(self) -> float:
        """Mean true satisfaction ``Σ k p_k`` = 3.75."""
        return sum((k + 1) * p for k, p in enumerate(self.satisfaction))

    @property
    def rating_response_rate(self) -> float:
        """Overall response rate to the prompt, ``Σ p_k r_k`` = 0.091."""
        return sum(p * r for p, r in zip(self.satisfaction, self.response_rates, strict=True))

    @property
    def expected_observed_rating(self) -> float:
        """Expected mean of the observed ratings, ``Σ k p_k r_k / Σ p_k r_k`` ≈ 3.011 (negatively biased)."""
        weighted = sum(
            (k + 1) * p * r for k, (p, r) in enumerate(zip(self.satisfaction, self.response_rates, strict=True))
        )
        return weighted / self.rating_response_rate

    @property
    def fare_mape(self) -> float:
        """True mean absolute percentage error of the fare model, ``e^{σ²/2} (2 Φ(σ) − 1)`` ≈ 0.1206."""
        from scipy.stats import norm

        sigma = self.fare_error_sigma
        return float(math.exp(sigma**2 / 2) * (2 * norm.cdf(sigma) - 1))

    def fare_completeness(self, day: date) -> float:
        """Share of requests of ``day`` whose fare exists at the horizon: 1 up to 2026-10-21, 0 afterwards."""
        day_start = datetime(day.year, day.month, day.day)
        return 1.0 if day_start + _DAY + self.fare_delay <= self.horizon else 0.0

    @property
    def edit_rate_slope(self) -> float:
        """Increase of the edit probability per unit of filter error rate, ``edit_prob_wrong − edit_prob_correct``."""
        return self.edit_prob_wrong - self.edit_prob_correct


MODEL_TRUTH = ModelTruth()
"""The planted truth of the model-quality sample tables; see the module docstring."""


@dataclass(frozen=True)
class ShadowTruth:
    """The planted differences of the shadow candidate ``v2-shadow`` against the live model (see the module docstring).

    Per-segment values are ``(segment, value)`` pairs in code order.
    """

    model_version: str = "v2-shadow"
    start: datetime = datetime(2026, 10, 5)
    end: datetime = datetime(2026, 10, 10)
    fix: tuple[tuple[str, float], ...] = (("en", 0.40), ("de", 0.05), ("es", 0.10), ("fr", 0.10))
    breaks: tuple[tuple[str, float], ...] = (("en", 0.002), ("de", 0.02), ("es", 0.003), ("fr", 0.003))
    score_shift: float = 0.03
    score_noise: float = 0.01
    flip_spread: float = 0.3
    better: tuple[str, ...] = ("en",)
    worse: tuple[str, ...] = ("de",)

    def live_error_rate(self, segment: str) -> float:
        """Error rate of the live model (v1) in ``segment``: ``e = q (1 − P) + (1 − q) L``."""
        q = MODEL_TRUTH.flag_rate(segment, "v1")
        precision = MODEL_TRUTH.score_precision(segment, "v1")
        return q * (1 - precision) + (1 - q) * MODEL_TRUTH.low_score_mean

    def accuracy_gain(self, segment: str) -> float:
        """True accuracy of the shadow minus that of the live model: ``fix · e − break · (1 − e)``."""
        e = self.live_error_rate(segment)
        return dict(self.fix)[segment] * e - dict(self.breaks)[segment] * (1 - e)

    def flip_rate(self, segment: str) -> float:
        """Share of requests whose prediction differs: ``fix · e + break · (1 − e)``."""
        e = self.live_error_rate(segment)
        return dict(self.fix)[segment] * e + dict(self.breaks)[segment] * (1 - e)


SHADOW_TRUTH = ShadowTruth()
"""The planted truth of the ``shadow`` sample table; see the module docstring."""

_STREAM = 0x4D4F444C  # "MODL": keeps these draws apart from abnb.datasets.sample's default_rng([seed, chunk]).
_MICROS_PER_DAY = 86_400_000_000
_MICROS_PER_HOUR = 3_600_000_000
_STAGING = "abnb_sample_models_chunk"
_SHADOW_STREAM = 0x53484457  # "SHDW": the shadow table's own stream; the other tables never depend on it.

_INSERT_SQL: Mapping[str, str] = MappingProxyType(
    {
        "predictions": """
            INSERT INTO predictions
            SELECT request_id, unit, make_timestamp(ts_us), $versions[version + 1], $segments[segment + 1],
                   CASE WHEN error THEN NULL ELSE score END,
                   CASE WHEN error THEN NULL ELSE prediction END,
                   CASE WHEN error THEN NULL ELSE fare_predicted END,
                   latency_ms, error
            FROM abnb_sample_models_chunk
        """,
        "labels": """
            INSERT INTO labels SELECT request_id, make_timestamp(ts_us), label, inclusion_prob
            FROM abnb_sample_models_chunk
        """,
        "fares": """
            INSERT INTO fares SELECT request_id, make_timestamp(ts_us), fare_actual FROM abnb_sample_models_chunk
        """,
        "ratings": """
            INSERT INTO ratings SELECT request_id, unit, make_timestamp(ts_us), rating FROM abnb_sample_models_chunk
        """,
        "corrections": """
            INSERT INTO corrections SELECT request_id, make_timestamp(ts_us) FROM abnb_sample_models_chunk
        """,
        "edits": """
            INSERT INTO edits SELECT request_id, make_timestamp(ts_us), edit_chars, transcript_chars
            FROM abnb_sample_models_chunk
        """,
        "releases": """
            INSERT INTO releases SELECT make_timestamp(ts_us), model_version, description FROM abnb_sample_models_chunk
        """,
        "truth": "INSERT INTO truth SELECT request_id, label FROM abnb_sample_models_chunk",
        "shadow": """
            INSERT INTO shadow SELECT request_id, make_timestamp(ts_us), $model_version, score, prediction
            FROM abnb_sample_models_chunk
        """,
    }
)

_OPS_SQL = """
    INSERT INTO ops
    SELECT date_trunc('minute', ts) AS minute, model_version, count(*)::INTEGER, count(*) FILTER (WHERE error)::INTEGER,
           quantile_cont(latency_ms, 0.5), quantile_cont(latency_ms, 0.95), quantile_cont(latency_ms, 0.99)
    FROM predictions
    GROUP BY minute, model_version
    ORDER BY minute, model_version
"""


def generate_models(
    connection: duckdb.DuckDBPyConnection, *, requests: int = 100_000, seed: int = 20261001
) -> dict[str, int]:
    """Write the model-quality sample tables described in the module docstring.

    Missing tables are created with the types of :data:`abnb.datasets.schemas.SCHEMAS`; existing ones must have those
    columns and be empty. ``ops`` is computed in DuckDB from the ``predictions`` just written.

    Args:
        connection: An open read-write DuckDB connection.
        requests: Number of prediction requests over the 28 days (0 writes only ``releases``).
        seed: Non-negative seed.

    Returns:
        Row count per table, in :data:`abnb.datasets.schemas.MODEL_TABLES` order.

    Raises:
        ParameterError: ``requests`` or ``seed`` is negative or not an integer.
        DataError: A model table already holds rows.
        SchemaError: An existing model table lacks a column.
    """
    for name, value in (("requests", requests), ("seed", seed)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ParameterError(f"{name} must be an integer >= 0, got {value!r}")
    _prepare_tables(connection)
    frames = _simulate(requests, seed)
    counts: dict[str, int] = {}
    for table in MODEL_TABLES:
        if table == "ops":
            connection.execute(_OPS_SQL)
            counts[table] = _count(connection, table)
            continue
        frame = frames[table]
        connection.register(_STAGING, frame)
        try:
            connection.execute(_INSERT_SQL[table], _parameters(table))
        finally:
            connection.unregister(_STAGING)
        counts[table] = len(frame)
    return counts


def _parameters(table: str) -> dict[str, Any]:
    if table == "predictions":
        return {"versions": list(MODEL_TRUTH.versions), "segments": list(MODEL_TRUTH.segment_names)}
    if table == "shadow":
        return {"model_version": SHADOW_TRUTH.model_version}
    return {}


def _count(connection: duckdb.DuckDBPyConnection, table: str) -> int:
    # ``table`` is always a MODEL_TABLES constant, never user input.
    rows = connection.execute(f'SELECT count(*) FROM "{table}"').fetchall()  # noqa: S608
    return int(rows[0][0])


def _prepare_tables(connection: duckdb.DuckDBPyConnection) -> None:
    """Create missing model tables; check that existing ones have the schema columns and no rows."""
    existing = {
        str(name).lower()
        for (name,) in connection.execute(
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_catalog = current_database() AND table_schema = current_schema()"
        ).fetchall()
    }
    for table in MODEL_TABLES:
        if table in existing:
            check_table(connection, table, [column for column, _ in SCHEMAS[table]])
            if _count(connection, table):
                raise DataError(f"table {table!r} already holds rows; generate_models needs it empty or absent")
            continue
        columns = ", ".join(f'"{column}" {sql_type}' for column, sql_type in SCHEMAS[table])
        connection.execute(f'CREATE TABLE "{table}" ({columns})')


def _micros(moment: datetime) -> int:
    """Microseconds since the Unix epoch of a naive (UTC wall-clock) datetime."""
    return (moment.replace(tzinfo=UTC) - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)


def _delays(rng: np.random.Generator, bounds: tuple[timedelta, timedelta], size: int) -> npt.NDArray[np.int64]:
    """Uniform delays in ``[low, high)`` microseconds."""
    low, high = (bound // timedelta(microseconds=1) for bound in bounds)
    return rng.integers(low, max(high, low + 1), size, dtype=np.int64)


def _simulate(requests: int, seed: int) -> dict[str, pd.DataFrame]:
    """Simulate every model table except ``ops``; staging frames with timestamps in epoch microseconds."""
    truth = MODEL_TRUTH
    r_time, r_model, r_ops, r_labels, r_fares, r_users = (
        np.random.default_rng(child) for child in np.random.SeedSequence([seed, _STREAM]).spawn(6)
    )
    n = requests
    horizon = _micros(truth.horizon)
    ts, unit, segment, version, days_v3 = _requests(r_time, n)
    request_id = np.arange(1, n + 1, dtype=np.int64)
    score, prediction, label = _answers(r_model, segment, version, days_v3)

    # Latency and errors, with the v3 creep and the planted outage.
    outage = (ts >= _micros(truth.outage_start)) & (ts < _micros(truth.outage_end))
    median = truth.latency_median_ms * (1 + truth.latency_creep * days_v3)
    latency = median * np.exp(truth.latency_sigma * r_ops.standard_normal(n))
    latency *= np.where(outage, truth.outage_latency_factor, 1.0)
    error = r_ops.random(n) < np.where(outage, truth.outage_error_rate, truth.error_rate)
    served = ~error

    # Fares, known fare_delay later.
    fare_actual = np.round(np.exp(math.log(truth.fare_median) + truth.fare_log_sigma * r_fares.standard_normal(n)), 2)
    fare_predicted = np.round(fare_actual * np.exp(truth.fare_error_sigma * r_fares.standard_normal(n)), 2)
    fare_ts = ts + truth.fare_delay // timedelta(microseconds=1)

    # Sampled manual labels with inclusion probability by prediction.
    inclusion = np.where(prediction == 1, truth.label_prob_positive, truth.label_prob_negative)
    sampled = served & (r_labels.random(n) < inclusion)
    label_ts = ts + _delays(r_labels, truth.label_delay, n)

    # Users: ratings, corrections, edits.
    satisfaction = r_users.choice(5, n, p=list(truth.satisfaction)) + 1
    responds = r_users.random(n) < np.array(truth.response_rates)[satisfaction - 1]
    rating_ts = ts + _delays(r_users, truth.rating_delay, n)
    reported = served & (label == 1) & (prediction == 0) & (r_users.random(n) < truth.correction_rate)
    correction_ts = ts + _delays(r_users, truth.correction_delay, n)
    wrong = prediction != label
    transcript = truth.transcript_base_chars + r_users.poisson(truth.transcript_extra_chars_mean, n)
    edited = served & (r_users.random(n) < np.where(wrong, truth.edit_prob_wrong, truth.edit_prob_correct))
    edit_extra = r_users.poisson(np.where(wrong, truth.edit_chars_wrong_mean, truth.edit_chars_correct_mean))
    edit_chars = np.minimum(1 + edit_extra, transcript)
    edit_ts = ts + _delays(r_users, truth.edit_delay, n)

    def rows(mask: npt.NDArray[np.bool_], moment: npt.NDArray[np.int64], **columns: Any) -> pd.DataFrame:
        keep = mask & (moment < horizon)
        data = {"request_id": request_id[keep], "ts_us": moment[keep]}
        data.update({name: values[keep] for name, values in columns.items()})
        return pd.DataFrame(data)

    everyone = np.ones(n, dtype=bool)
    releases = pd.DataFrame(
        {
            "ts_us": [_micros(moment) for moment, _, _ in truth.releases],
            "model_version": [name for _, name, _ in truth.releases],
            "description": [text for _, _, text in truth.releases],
        }
    )
    return {
        "predictions": pd.DataFrame(
            {
                "request_id": request_id,
                "unit": unit,
                "ts_us": ts,
                "version": version,
                "segment": segment,
                "score": score,
                "prediction": prediction,
                "fare_predicted": fare_predicted,
                "latency_ms": latency,
                "error": error,
            }
        ),
        "labels": rows(sampled, label_ts, label=label, inclusion_prob=inclusion),
        "fares": rows(everyone, fare_ts, fare_actual=fare_actual),
        "ratings": rows(responds, rating_ts, unit=unit, rating=satisfaction.astype(np.int32)),
        "corrections": rows(reported, correction_ts),
        "edits": rows(
            edited, edit_ts, edit_chars=edit_chars.astype(np.int32), transcript_chars=transcript.astype(np.int32)
        ),
        "releases": releases,
        "truth": pd.DataFrame({"request_id": request_id, "label": label}),
        "shadow": _simulate_shadow(seed, request_id, ts, segment, score, prediction, label, served),
    }


def _requests(rng: np.random.Generator, n: int) -> tuple[npt.NDArray[Any], ...]:
    """When each request is served (sorted), its unit, the unit's segment, the version serving it, days since v3.

    Returns:
        ``ts`` (epoch microseconds), ``unit``, ``segment`` (index into :attr:`ModelTruth.segments`), ``version``
        (index into :attr:`ModelTruth.versions`) and ``days_v3`` (days since the v3 release, 0 before it).
    """
    truth = MODEL_TRUTH
    start = _micros(truth.start)
    release_v2, release_v3 = _micros(truth.release("v2")), _micros(truth.release("v3"))
    hours = np.arange(24)
    hour_weights = 1 + truth.hour_amplitude * np.sin(2 * np.pi * (hours - 9) / 24)
    day = rng.integers(0, truth.days, n, dtype=np.int64)
    hour = rng.choice(24, n, p=hour_weights / hour_weights.sum()).astype(np.int64)
    within = rng.integers(0, _MICROS_PER_HOUR, n, dtype=np.int64)
    ts = np.sort(start + day * _MICROS_PER_DAY + hour * _MICROS_PER_HOUR + within)
    units = max(1, math.ceil(n / truth.requests_per_unit))
    unit_segment = rng.choice(len(truth.segments), units, p=[share for _, share in truth.segments])
    unit = rng.integers(1, units + 1, n, dtype=np.int64)
    segment = unit_segment[unit - 1].astype(np.int8)
    version = np.searchsorted(np.array([release_v2, release_v3]), ts, side="right").astype(np.int8)
    days_v3 = np.where(version == 2, (ts - release_v3) / _MICROS_PER_DAY, 0.0)
    return ts, unit, segment, version, days_v3


def _answers(
    rng: np.random.Generator,
    segment: npt.NDArray[np.int8],
    version: npt.NDArray[np.int8],
    days_v3: npt.NDArray[np.float64],
) -> tuple[npt.NDArray[Any], ...]:
    """The profanity filter's ``score`` and ``prediction`` for each request, and its true ``label``.

    The filter flags with rate q and draws the score from the flagged or unflagged Beta; the label is
    Bernoulli(score), except for drifted v3 requests, whose label is Bernoulli(prevalence) whatever the score.
    """
    truth = MODEL_TRUTH
    n = segment.size
    names = truth.segment_names
    rho_table = np.array([truth._prevalence(name) for name in names])
    precision_table = np.array([[truth.score_precision(s, v) for s in names] for v in truth.versions])
    flag_table = np.array([[truth.flag_rate(s, v) for s in names] for v in truth.versions])
    rho = rho_table[segment]
    high_mean = 2 * precision_table[version, segment] - 1
    flagged = rng.random(n) < flag_table[version, segment]
    kappa_h, kappa_l, low_mean = truth.high_concentration, truth.low_concentration, 2 * truth.low_score_mean
    high = 0.5 + 0.5 * rng.beta(kappa_h * high_mean, kappa_h * (1 - high_mean))
    low = 0.5 * rng.beta(np.full(n, kappa_l * low_mean), kappa_l * (1 - low_mean))
    score = np.where(flagged, high, low)
    prediction = (score >= 0.5).astype(np.int32)
    drifted = rng.random(n) < np.minimum(1.0, truth.drift_rate * days_v3)
    label = (rng.random(n) < np.where(drifted, rho, score)).astype(np.int32)
    return score, prediction, label


def _simulate_shadow(
    seed: int,
    request_id: npt.NDArray[np.int64],
    ts: npt.NDArray[np.int64],
    segment: npt.NDArray[np.int8],
    score: npt.NDArray[np.float64],
    prediction: npt.NDArray[np.int32],
    label: npt.NDArray[np.int32],
    served: npt.NDArray[np.bool_],
) -> pd.DataFrame:
    """The ``shadow`` staging frame: the candidate's scores for the served requests of the shadow window."""
    truth = SHADOW_TRUTH
    rng = np.random.default_rng(np.random.SeedSequence([seed, _SHADOW_STREAM]))
    keep = served & (ts >= _micros(truth.start)) & (ts < _micros(truth.end))
    n = int(keep.sum())
    seg, live, pred, y = segment[keep], score[keep], prediction[keep], label[keep]
    names = MODEL_TRUTH.segment_names
    fix = np.array([dict(truth.fix)[name] for name in names])[seg]
    breaks = np.array([dict(truth.breaks)[name] for name in names])[seg]
    flip = rng.random(n) < np.where(pred != y, fix, breaks)
    shadow_pred = np.where(flip, 1 - pred, pred).astype(np.int32)
    shifted = live + truth.score_shift + truth.score_noise * rng.standard_normal(n)
    kept = np.where(pred == 1, np.clip(shifted, 0.5, 1.0), np.clip(shifted, 0.0, np.nextafter(0.5, 0.0)))
    spread = truth.flip_spread * rng.random(n)
    flipped = np.where(shadow_pred == 1, 0.5 + spread, np.nextafter(0.5, 0.0) - spread)
    return pd.DataFrame(
        {
            "request_id": request_id[keep],
            "ts_us": ts[keep],
            "score": np.where(flip, flipped, kept),
            "prediction": shadow_pred,
        }
    )
