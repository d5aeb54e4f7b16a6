"""Scale benchmark: one abnb analysis against the fastest possible query, a naive analysis and a peer library.

The data are deterministic synthetic telemetry written by DuckDB SQL into a temporary DuckDB file, which is then
opened read-only for measuring:

* **user level** (``users``: one row per user with ``arm``, ``country``, ``platform``, ``revenue``,
  ``converted`` and the pre-period ``revenue_pre``);
* **event level** (``exposures``: one row per user; ``events``: ``events_per_user`` rows per user, ``purchase``
  or ``session``, about half of them before the user's exposure, which feed the covariate).

The methods, all answering "revenue per user (mean, Welch), conversion (proportion, z-test) and CUPED-adjusted
revenue, control vs treatment":

* ``floor``: one hand-written DuckDB query returning per arm ``n``, ``Σy``, ``Σy²`` and the covariate sums
  (nothing that reads the data can be faster);
* ``floor_seg``: the same sums ``GROUP BY arm, country, platform``: the minimal query that carries the same
  information as abnb's result, which also has every segment's statistics;
* ``abnb``: :meth:`abnb.Experiment.analyze` (pilot query for the shifts + one aggregate scan + statistics);
* ``naive``: the rows into pandas (the four columns the tests read), then ``scipy.stats.ttest_ind`` per metric
  (user level only);
* ``peer``: tea-tasting on its Ibis/DuckDB backend (user level only; overall, it has no segment breakdown).

Every repetition runs each method once, in a rotated order (interleaved), so drift of the machine hits every
method alike; the result is the median per method. The peak resident set size (RSS) of the process during each
call is measured exactly where the kernel allows resetting the high-water mark (``/proc/self/clear_refs``), else by
a psutil sampling thread. After the timings, abnb's means and p-values are checked against the naive scipy numbers
(user level) or against numbers computed with scipy from the floor's sums (event level), to a relative 1e-6.

| module | concept |
| --- | --- |
| ``data`` | the data sets (DuckDB SQL), their experiment specs and the floor queries |
| ``numbers`` | the numbers each method gives, and their comparison |
| ``memory`` | :class:`PeakRss`: the peak RSS of the process during a call |
| ``harness`` | :func:`run` (the ``abnb bench`` command) and :func:`format_table` |
"""

from __future__ import annotations

from abnb.bench.data import (
    AS_OF,
    COVARIATE_DAYS,
    EVENT_FLOOR_SEG_SQL,
    EVENT_FLOOR_SQL,
    EVENTS_PER_USER,
    SEED,
    USER_FLOOR_SEG_SQL,
    USER_FLOOR_SQL,
    event_spec,
    generate_events,
    generate_users,
    reuse_events,
    user_spec,
)
from abnb.bench.harness import (
    EVENT_METHODS,
    METHODS,
    NAIVE_BYTES_PER_ROW,
    NAIVE_RAM_SHARE,
    USER_METHODS,
    Measurement,
    format_table,
    run,
)
from abnb.bench.memory import PeakRss
from abnb.bench.numbers import (
    REL_TOL,
    Numbers,
    abnb_numbers,
    compare_numbers,
    naive_numbers,
    peer_numbers,
    sums_numbers,
)

__all__ = [
    "AS_OF",
    "COVARIATE_DAYS",
    "EVENTS_PER_USER",
    "EVENT_FLOOR_SEG_SQL",
    "EVENT_FLOOR_SQL",
    "EVENT_METHODS",
    "METHODS",
    "NAIVE_BYTES_PER_ROW",
    "NAIVE_RAM_SHARE",
    "REL_TOL",
    "SEED",
    "USER_FLOOR_SEG_SQL",
    "USER_FLOOR_SQL",
    "USER_METHODS",
    "Measurement",
    "Numbers",
    "PeakRss",
    "abnb_numbers",
    "compare_numbers",
    "event_spec",
    "format_table",
    "generate_events",
    "generate_users",
    "naive_numbers",
    "peer_numbers",
    "reuse_events",
    "run",
    "sums_numbers",
    "user_spec",
]
