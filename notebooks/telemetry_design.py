# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Telemetry design: measuring a model's quality in production
#
# Production feedback is sampled, late, biased or only a proxy. For each quality below we write down three
# things: the **metric** (what we care about), the **telemetry** (how the data get collected, by whom, how
# often, how late, with which bias) and the **operationalization** (the SQL and the assumptions that turn the
# data into a number). `check()` then asks the data whether the telemetry can carry the metric, and an estimator
# from `abnb.quality` computes the number, next to the naive one you would get by ignoring the design.
#
# The sample database plants a known truth (`abnb.datasets.models.MODEL_TRUTH`), shown in the last column.

# %%
import pandas as pd
from IPython.display import display

import abnb
from abnb import feedback, quality
from abnb.datasets.models import MODEL_TRUTH as TRUTH
from abnb.metrics import Metric, Sql, Telemetry, TelemetryDesign

con = abnb.connect()
comparison: list[tuple[str, object, str, float | None]] = []  # (quality, estimate, quantity, planted truth)


def show_check(design: TelemetryDesign) -> None:
    """Print the design and what the data say about it."""
    print(design.describe())
    print()
    print(design.check(con, population="predictions", population_key="request_id"))


# %% [markdown]
# ## 1. Precision of the profanity filter, from sampled manual labels
#
# Labelling every request is unaffordable, so a queue sends flagged requests to reviewers with probability 0.25
# and the others with 0.02, and stores that probability with each label. Flagged requests are over-represented,
# which is what a precision estimate wants, but any unweighted number mixing flagged and unflagged requests
# (recall, prevalence) is biased. Weighting each label by 1/π undoes that.

# %%
labels_design = TelemetryDesign(
    quality="precision of the profanity filter: share of flagged requests that really are profane",
    telemetry=Telemetry(
        table="labels",
        events="a reviewer's label of one served request",
        trigger="a labelling queue sampling flagged requests at 25% and the others at 2%",
        key="request_id",
        sampling=0.04,
        weight_column="inclusion_prob",
        delay_days=0.25,
        known_bias="flagged requests are sampled 12.5 times as often as unflagged ones",
    ),
    operationalization=Metric(
        "filter_precision",
        Sql(
            "SELECT p.unit, l.ts, l.label / l.inclusion_prob AS value "
            "FROM labels l JOIN predictions p USING (request_id) WHERE p.prediction = 1",
            denominator="SELECT p.unit, l.ts, 1 / l.inclusion_prob AS value "
            "FROM labels l JOIN predictions p USING (request_id) WHERE p.prediction = 1",
        ),
        kind="ratio",
        description="Σ label/π over Σ 1/π among flagged, labelled requests (Hájek)",
    ),
    assumptions=(
        "π is the real probability the queue used, and reviewers label correctly",
        "whether a request is sampled does not depend on its label once the prediction is known",
    ),
)
show_check(labels_design)

# %% [markdown]
# The coverage is about 4% of all predictions, as designed. Now the estimate, in segment `de` before and after
# the v2 release:

# %%
for version in ("v1", "v2"):
    pr = quality.labelled_precision_recall(con, model_version=version, segment="de")
    comparison += [
        (f"filter precision, de, {version}", pr, "precision", TRUTH.precision("de", version)),
        (f"filter recall, de, {version}", pr, "recall", TRUTH.recall("de", version)),
    ]
display(pr)

# %% [markdown]
# Precision needs no weights here: every flagged request has the same π. Recall does, since it divides by all
# profane requests, most of which the filter missed at a 2% sampling rate.
#
# Recall can also be estimated from the users who report a missed profanity, if an audit tells us what share of
# misses gets reported (30% here):

# %%
rc = quality.recall_from_user_corrections(con, TRUTH.correction_rate, model_version="v1", segment="de")
comparison.append(("filter recall from corrections, de, v1", rc, "recall", TRUTH.recall("de", "v1")))
display(rc)

# %% [markdown]
# The naive version counts each correction as one miss, as if every user reported every miss.
#
# ## 2. Call-quality satisfaction, from a prompt few callers answer
#
# After each call a prompt asks for 1–5 stars. Unhappy callers answer far more often, so the mean of the
# answers is too low. A follow-up study that chased non-responders gives the response rate per level.

# %%
ratings_design = TelemetryDesign(
    quality="how satisfied callers are with call quality",
    telemetry=Telemetry(
        table="ratings",
        events="a 1–5 star answer to the call-quality prompt",
        trigger="the caller, if they choose to answer",
        key="request_id",
        sampling=0.09,
        known_bias="response rate falls from 30% at one star to 5% at five stars",
    ),
    operationalization=Metric(
        "call_rating",
        Sql("SELECT unit, ts, rating AS value FROM ratings"),
        description="mean rating, each level weighted by 1/(its response rate)",
    ),
    assumptions=("response rates per level are known and stable", "answers are honest"),
)
show_check(ratings_design)

# %%
sat = quality.satisfaction(con, TRUTH.response_rates)
comparison.append(("mean satisfaction (1–5)", sat, "mean", TRUTH.true_mean_satisfaction))
display(sat)

# %% [markdown]
# ## 3. Fare accuracy, with the truth a week late
#
# The fare actually paid arrives 7 days after the prediction. Until then a day's cohort is incomplete, and
# whatever arrives early may be a biased subset, so realised error is computed on matured cohorts only.

# %%
fares_design = TelemetryDesign(
    quality="accuracy of the fare prediction (mean absolute percentage error)",
    telemetry=Telemetry(
        table="fares",
        events="the fare actually paid for one request",
        trigger="billing, once the ride is settled",
        key="request_id",
        delay_days=7,
    ),
    operationalization=Metric(
        "fare_ape",
        Sql(
            "SELECT p.unit, f.ts, abs(p.fare_predicted - f.fare_actual) / f.fare_actual AS value "
            "FROM predictions p JOIN fares f USING (request_id) WHERE p.fare_predicted IS NOT NULL"
        ),
        direction="decrease",
        description="|predicted − actual| / actual, over cohorts at least 7 days old",
    ),
    assumptions=("every fare arrives within 7 days", "late fares are not systematically different"),
)
show_check(fares_design)

# %%
fq = quality.fare_quality(con, TRUTH.horizon, window_days=7)
comparison += [
    ("fare MAPE (matured cohorts)", fq, "mae", TRUTH.fare_mape),
    ("fare label completeness", fq, "completeness", 1.0),
]
fq.completeness_curve().head(10)

# %% [markdown]
# The curve jumps from 0 to 1 at an age of 7 days: labels mature in exactly a week. Over all days only about
# three quarters of the predictions have a fare, which reads like lost data; over matured cohorts none is
# missing. Here the naive MAPE equals the realised one because the early fares are not a biased subset; in real
# data they often are.
#
# ## Naive versus corrected

# %%
comparison_frame = quality.naive_vs_corrected(comparison).rename(columns={"truth": "planted truth"})
abnb.report.styled_table(comparison_frame, dict.fromkeys(comparison_frame.select_dtypes("number"), "{:.3f}"), na_rep="")

# %% [markdown]
# ## Engineering levers
#
# **Sample by unit, not by event.** Hashing the unit id keeps or drops every event of a caller together, so
# per-caller metrics stay valid, and the decision is the same in every process and on every day.

# %%
units = [r[0] for r in con.execute("SELECT unit FROM predictions ORDER BY request_id LIMIT 2000").fetchall()]
keep = feedback.hash_sample(units, 0.1, salt="telemetry.2026q4")
frame = pd.DataFrame({"unit": units, "kept": keep})
mixed = int((frame.groupby("unit")["kept"].nunique() > 1).sum())
print(f"kept {keep.mean():.1%} of events; units with a mixed decision: {mixed}")

# %% [markdown]
# **Oversample rare events, then weight.** The labelling queue above is one: the weights and Kish's effective
# sample size show what the oversampling costs for whole-population estimates.

# %%
counts = dict(
    con.execute(
        "SELECT CASE WHEN p.prediction = 1 THEN 'flagged' ELSE 'not flagged' END, count(*) "
        "FROM labels l JOIN predictions p USING (request_id) GROUP BY 1"
    ).fetchall()
)
feedback.oversample_weights(counts, {"flagged": TRUTH.label_prob_positive, "not flagged": TRUTH.label_prob_negative})

# %% [markdown]
# **Privacy.** Export salted pseudonyms instead of caller ids, and blank every segment cell with fewer units
# than a minimum before a table leaves the team.

# %%
print(feedback.pseudonymise(units[:3], salt="keep-this-secret"))
cells = con.execute(
    "SELECT segment, model_version, count(DISTINCT unit) AS units, avg(rating) AS mean_rating "
    "FROM ratings JOIN predictions USING (request_id, unit) WHERE predictions.ts < '2026-10-02' "
    "GROUP BY ALL ORDER BY ALL"
).df()
feedback.suppress_small_cells(cells, "units", minimum=50, metric_columns=["mean_rating"])

# %%
con.close()
