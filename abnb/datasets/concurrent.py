"""Two more sample experiments running on the same users as ``checkout_redesign``, for automation and audits.

:func:`generate_concurrent` adds, from the users already written by :func:`abnb.datasets.sample.generate`:

- ``layer_exposures``: exposures of two experiments assigned by PlanOut hashing (so assignments can be re-derived
  from the logs with :mod:`abnb.assign`), in a layer of their own (independent of ``checkout_redesign``):

  - ``infinite_scroll`` — every user, 50/50, exposed at the same time as to ``checkout_redesign``; the treatment
    makes the app crash more: **crash rate 0.010 → 0.016 per user-day** (a harmful guardrail), no other effect.
  - ``onboarding_email`` — users with ``uniform(unit, "onboarding_email.eligible") < 0.5``, planned 50/50; the
    treatment's exposure logging loses **6%** of its rows, a planted **sample ratio mismatch**.

- ``crashes(unit, ts, value)``: one row per app crash after the user's exposure (value 1).

Ground truth is :data:`CONCURRENT_TRUTH`. The existing tables are not touched, so ``checkout_redesign`` keeps
its data and its planted effects.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import duckdb

__all__ = ["CONCURRENT_TRUTH", "ConcurrentTruth", "generate_concurrent"]


@dataclass(frozen=True)
class ConcurrentTruth:
    """The planted truth of the concurrent sample experiments."""

    harm_experiment: str = "infinite_scroll"
    srm_experiment: str = "onboarding_email"
    arms: tuple[str, str] = ("control", "treatment")
    crash_rate_control: float = 0.010  # crashes per user-day after exposure
    crash_rate_treatment: float = 0.016
    eligible_share: float = 0.5
    lost_treatment_exposures: float = 0.06
    end: datetime = datetime(2026, 10, 15)

    def salt(self, experiment: str) -> str:
        """The PlanOut salt of the arm parameter of ``experiment``."""
        return f"{experiment}.arm"


CONCURRENT_TRUTH = ConcurrentTruth()


def generate_concurrent(connection: duckdb.DuckDBPyConnection, *, seed: int) -> dict[str, int]:
    """Write ``layer_exposures`` and ``crashes`` from the users of ``exposures`` (see the module docstring).

    Returns:
        Rows written per table.
    """
    import pandas as pd

    from abnb.assign import uniform_many

    truth = CONCURRENT_TRUTH
    users = connection.execute(
        "SELECT unit, epoch_us(min(ts)), arg_min(country, ts), arg_min(platform, ts) "
        "FROM exposures WHERE experiment = $experiment GROUP BY unit ORDER BY unit",
        {"experiment": "checkout_redesign"},
    ).fetchall()
    units = np.array([row[0] for row in users], dtype=np.int64)
    exposed = np.array([row[1] for row in users], dtype=np.int64)
    country = [row[2] for row in users]
    platform = [row[3] for row in users]
    rng = np.random.default_rng([seed, 9_001])
    end_us = int(pd.Timestamp(truth.end).value // 1000)

    frames = []
    harm_arm = (uniform_many(list(units), truth.salt(truth.harm_experiment)) >= 0.5).astype(np.int8)
    frames.append((truth.harm_experiment, np.arange(units.size), harm_arm))
    eligible = uniform_many(list(units), f"{truth.srm_experiment}.eligible") < truth.eligible_share
    srm_index = np.flatnonzero(eligible)
    srm_arm = (uniform_many(list(units[srm_index]), truth.salt(truth.srm_experiment)) >= 0.5).astype(np.int8)
    logged = (srm_arm == 0) | (rng.random(srm_index.size) >= truth.lost_treatment_exposures)
    frames.append((truth.srm_experiment, srm_index[logged], srm_arm[logged]))

    exposures = pd.concat(
        [
            pd.DataFrame(
                {
                    "experiment": name,
                    "unit": units[index],
                    "arm": [truth.arms[a] for a in arm],
                    "ts": pd.to_datetime(exposed[index], unit="us"),
                    "country": [country[i] for i in index],
                    "platform": [platform[i] for i in index],
                }
            )
            for name, index, arm in frames
        ],
        ignore_index=True,
    )
    days = (end_us - exposed) / 86_400_000_000
    rate = np.where(harm_arm == 1, truth.crash_rate_treatment, truth.crash_rate_control)
    counts = rng.poisson(rate * days)
    owner = np.repeat(np.arange(units.size), counts)
    crash_ts = exposed[owner] + (rng.random(owner.size) * (end_us - exposed[owner])).astype(np.int64)
    crashes = pd.DataFrame({"unit": units[owner], "ts": pd.to_datetime(crash_ts, unit="us"), "value": 1.0})

    connection.execute(
        "CREATE TABLE layer_exposures (experiment VARCHAR, unit BIGINT, arm VARCHAR, ts TIMESTAMP, "
        "country VARCHAR, platform VARCHAR)"
    )
    connection.execute("CREATE TABLE crashes (unit BIGINT, ts TIMESTAMP, value DOUBLE)")
    for table, frame in (("layer_exposures", exposures), ("crashes", crashes)):
        connection.register("abnb_concurrent_stage", frame)
        try:
            connection.execute(f"INSERT INTO {table} SELECT * FROM abnb_concurrent_stage")  # noqa: S608 (fixed names)
        finally:
            connection.unregister("abnb_concurrent_stage")
    return {"layer_exposures": len(exposures), "crashes": len(crashes)}
