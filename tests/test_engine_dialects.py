"""The analysis' queries rendered for BigQuery, Snowflake, Redshift, ClickHouse and Trino (docs/engines.md).

No server of these five is reached: SQLGlot renders the trees abnb builds, and each text is compared with a golden
file under ``tests/golden/engines/<dialect>/`` that was reviewed once. ``ABNB_UPDATE_GOLDEN=1`` rewrites the files
from the current trees (review the diff before committing it).

Besides the golden text, per dialect: SQLGlot renders without an ``UnsupportedError``, reads its own text back with
the same result columns, and binds exactly the named parameters the analysis passes. What does not carry over is
recorded by name, not hidden: functions the engine does not have, passed through untranslated (:data:`EXPECTED_GAPS`,
:data:`MONITORING_GAPS`) and parameter markers the engine's driver cannot bind (:data:`UNBINDABLE_MARKERS`). Each
list is compared for equality, so a fix in abnb or SQLGlot fails the test until its entry is removed.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import sqlglot
from sqlglot import ErrorLevel, exp

from abnb.aggregate import build_pilot_query, build_query, for_dialect, query_parameters
from abnb.datasets import SAMPLE_EXPERIMENTS, experiment, spec_path
from abnb.engine import BaseConnection
from abnb.experiment import Experiment
from abnb.monitor import scores, windows
from abnb.monitor.precision import _precision_query
from abnb.telemetry import ModelTelemetry

DIALECTS = ("bigquery", "snowflake", "redshift", "clickhouse", "trino")
VARIANT = "checkout_redesign_window_cap"
"""checkout_redesign with a 72-hour conversion window and a 0.99 quantile cap on revenue: the two query parts
(``TimestampAdd``, ``PercentileCont``) no sample spec uses."""
GOLDEN = Path(__file__).parent / "golden" / "engines"
UPDATE = "ABNB_UPDATE_GOLDEN"

NOT_PORTABLE = {
    # DuckDB's own functions
    **{
        name: rf"\b{name}\s*\("
        for name in ("time_bucket", "quantile_cont", "to_days", "arg_min", "arg_max", "epoch_us", "epoch_ms")
    },
    "struct_pack": r"\bstruct_pack\s*\(",
    "list_*": r"\blist_\w+\s*\(",
    # PostgreSQL's date_bin: SQLGlot writes a DateBin node as DATE_BIN on all five; none of them has it
    "date_bin": r"\bDATE_BIN\s*\(",
    # PERCENTILE_CONT(x, q): BigQuery's is an analytic function (needs OVER); Trino and ClickHouse have none
    "percentile_cont(x, q)": r"\bPERCENTILE_CONT\s*\([^()]*,",
    # Trino's date_add counts milliseconds at the finest
    "date_add microsecond": r"\bDATE_ADD\s*\(\s*'MICROSECOND'",
}
"""Patterns of what the five engines do not run as written: label → regular expression (case-insensitive)."""

_CHECKOUT = {d: frozenset({"to_days"}) for d in DIALECTS} | {"redshift": frozenset({"to_days", "arg_min"})}
EXPECTED_GAPS: dict[tuple[str, str], frozenset[str]] = {
    # $lookback_<i> days of a covariate window: DuckDB's to_days(n); a unit's first segment value: arg_min, which
    # SQLGlot writes as MIN_BY/argMin elsewhere but passes on to Redshift.
    **{("checkout_redesign", d): gaps for d, gaps in _CHECKOUT.items()},
    ("infinite_scroll", "redshift"): frozenset({"arg_min"}),
    # the variant adds a quantile cap (PercentileCont) and a conversion window (TimestampAdd in microseconds)
    **{(VARIANT, d): gaps for d, gaps in _CHECKOUT.items()},
    (VARIANT, "bigquery"): frozenset({"to_days", "percentile_cont(x, q)"}),
    (VARIANT, "clickhouse"): frozenset({"to_days", "percentile_cont(x, q)"}),
    (VARIANT, "trino"): frozenset({"to_days", "percentile_cont(x, q)", "date_add microsecond"}),
}
"""What the aggregate and pilot queries keep that the engine does not run, per (spec, dialect); missing: nothing."""

_BUCKETS = frozenset({"date_bin"})
MONITORING_GAPS = {
    "windowed": {d: _BUCKETS | {"percentile_cont(x, q)"} for d in ("bigquery", "clickhouse", "trino")},
    "precision": {},
    "score_histograms": {},
}
"""The same per monitoring query and dialect; a dialect not listed keeps ``date_bin`` only (``_BUCKETS``)."""


def _gaps(text: str) -> set[str]:
    return {label for label, pattern in NOT_PORTABLE.items() if re.search(pattern, text, re.IGNORECASE)}


MARKERS = {
    "bigquery": r"@(\w+)",
    "snowflake": r"(?<![\w:]):(\w+)",
    "redshift": r"%\((\w+)\)s",
    "clickhouse": r"\{(\w+): \}",
    "trino": r"(?<![\w:]):(\w+)",
}
"""How SQLGlot writes a named parameter (``exp.Placeholder``) per dialect."""

UNBINDABLE_MARKERS = {
    "snowflake": "snowflake-connector-python binds %(name)s (client side), ? or :1 (server side), not :name",
    "clickhouse": "the server binds {name:Type}; SQLGlot writes no type",
    "trino": "the trino client binds ? positionally, not :name",
}
"""Dialects whose parameter markers the adapter must rewrite before its driver can bind them."""

UNREADABLE = {"clickhouse": "SQLGlot cannot parse back its own untyped {name: } marker"}
"""Dialects whose text SQLGlot does not read back as it wrote it (the test reads it once the markers are typed)."""

CLICKHOUSE_TYPES = {"as_of": "DateTime64(6)", "start": "DateTime64(6)", "experiment": "String"}
"""ClickHouse types of the named parameters (``lookback_*``: Int32, ``shift_*``: Float64), as an adapter binds them."""


def _variant() -> Experiment:
    with spec_path("checkout_redesign").open("rb") as file:
        data = tomllib.load(file)
    data["name"] = VARIANT
    data["metrics"][0]["window_hours"] = 72
    data["metrics"][1]["cap_quantile"] = 0.99
    return Experiment.from_dict(data, source=VARIANT)


SPECS = {**{name: experiment(name) for name in SAMPLE_EXPERIMENTS}, VARIANT: _variant()}


def _trees(spec: str) -> dict[str, exp.Select]:
    """The aggregate query (``""``) and the pilot query (``"pilot"``, when the spec shifts a value) of a spec."""
    found = SPECS[spec]
    has_start = found.start is not None and found.exposures.ts is not None
    trees = {"": build_query(found.exposures, found.metrics, found.segments, has_start=has_start)}
    pilot = build_pilot_query(found.exposures, found.metrics)
    if pilot is not None:
        trees["pilot"] = pilot
    return trees


def _render(tree: exp.Expression, dialect: str) -> str:
    """The text an adapter for ``dialect`` would send, as ``BaseConnection.render`` writes it, pretty-printed."""
    if isinstance(tree, exp.Select):
        tree = for_dialect(tree, dialect)
    return tree.sql(dialect=dialect, pretty=True, unsupported_level=ErrorLevel.RAISE) + "\n"


def _golden(spec: str, kind: str, dialect: str) -> Path:
    return GOLDEN / dialect / (f"{spec}.{kind}.sql" if kind else f"{spec}.sql")


def _bound_names(spec: str) -> set[str]:
    """The parameters :func:`abnb.aggregate.aggregate` binds for a spec: the analysis' own and the shifts."""
    found = SPECS[spec]
    params = query_parameters(
        found.metrics,
        as_of=datetime(2026, 10, 15),
        experiment=found.name if found.exposures.experiment_column else None,
        start=found.start,
        source=found.exposures,
    )
    pilot = build_pilot_query(found.exposures, found.metrics)
    shifts = {s.alias_or_name for s in pilot.selects} if pilot is not None else set()
    return set(params) | shifts


def _clickhouse_typed(node: exp.Expression) -> exp.Expression:
    """A placeholder with its ClickHouse type, ``{name: Type}``, as the server binds it."""
    if not isinstance(node, exp.Placeholder):
        return node
    name = str(node.name)
    kind = CLICKHOUSE_TYPES.get(name) or ("Int32" if name.startswith("lookback_") else "Float64")
    return exp.Placeholder(this=name, kind=kind)


CASES = [(spec, kind, dialect) for spec in SPECS for kind in _trees(spec) for dialect in DIALECTS]


@pytest.mark.parametrize(("spec", "kind", "dialect"), CASES, ids=["-".join(filter(None, c)) for c in CASES])
def test_rendered_text_equals_the_reviewed_golden_file(spec: str, kind: str, dialect: str) -> None:
    text = _render(_trees(spec)[kind], dialect)
    path = _golden(spec, kind, dialect)
    if os.environ.get(UPDATE) == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert path.exists(), f"no golden file {path}; run with {UPDATE}=1, review and commit it"
    assert text == path.read_text(encoding="utf-8")


@pytest.mark.parametrize(("spec", "kind", "dialect"), CASES, ids=["-".join(filter(None, c)) for c in CASES])
def test_dialect_reads_its_text_back_with_the_same_columns(spec: str, kind: str, dialect: str) -> None:
    tree = _trees(spec)[kind]
    sent: exp.Expression = tree
    if dialect in UNREADABLE and any(tree.find_all(exp.Placeholder)):
        with pytest.raises(sqlglot.ParseError):
            sqlglot.parse_one(_render(tree, dialect), read=dialect)
        sent = tree.transform(_clickhouse_typed)
    parsed = sqlglot.parse_one(_render(sent, dialect), read=dialect)
    assert isinstance(parsed, exp.Select)
    assert [s.alias_or_name for s in parsed.selects] == [s.alias_or_name for s in tree.selects]
    assert [cte.alias for cte in parsed.ctes] == [cte.alias for cte in tree.ctes]


@pytest.mark.parametrize(("spec", "dialect"), [(s, d) for s in SPECS for d in DIALECTS])
def test_what_the_engine_cannot_run_is_the_known_list(spec: str, dialect: str) -> None:
    found = set().union(*(_gaps(_render(tree, dialect)) for tree in _trees(spec).values()))
    assert found == EXPECTED_GAPS.get((spec, dialect), frozenset())


@pytest.mark.parametrize(("spec", "dialect"), [(s, d) for s in SPECS for d in DIALECTS])
def test_every_bound_parameter_is_a_named_marker(spec: str, dialect: str) -> None:
    names = {name for tree in _trees(spec).values() for name in re.findall(MARKERS[dialect], _render(tree, dialect))}
    assert names == _bound_names(spec)


def test_sample_specs_bind_the_window_lookbacks_and_shifts() -> None:
    assert _bound_names("checkout_redesign") == {
        "as_of",
        "start",
        "experiment",
        "lookback_0",
        "lookback_1",
        "lookback_2",
        "shift_m1_y",
        "shift_m1_x",
        "shift_m3_y",
    }
    assert _bound_names("onboarding_email") == {"as_of", "start", "experiment"}
    assert _bound_names("infinite_scroll") == {"as_of", "start", "experiment", "shift_m0_y", "shift_m1_y"}


@pytest.mark.parametrize("dialect", DIALECTS)
def test_markers_the_drivers_cannot_bind_are_the_known_ones(dialect: str) -> None:
    text = _render(exp.select(exp.Placeholder(this="as_of")), dialect)
    expected = {
        "bigquery": "@as_of",
        "snowflake": ":as_of",
        "redshift": "%(as_of)s",
        "clickhouse": "{as_of: }",
        "trino": ":as_of",
    }
    assert text == f"SELECT\n  {expected[dialect]}\n"
    assert (dialect in UNBINDABLE_MARKERS) == (dialect in ("snowflake", "clickhouse", "trino"))


class _CapturedError(Exception):
    """Raised by :class:`_Recorder` once it holds the query, so nothing runs."""


class _Recorder(BaseConnection):
    """A connection that keeps the tree it is asked to run (the monitoring functions run theirs at once)."""

    dialect = "duckdb"

    def __init__(self) -> None:
        super().__init__(None, database="recorder")
        self.query: exp.Expression | None = None

    def run(self, query: exp.Expression, params: Mapping[str, Any] | None = None) -> Any:
        self.query = query
        raise _CapturedError


def _monitoring_trees() -> dict[str, exp.Expression]:
    """The queries of ``windowed``, ``_precision_query`` and ``score_histograms_by_window`` on the sample schema."""
    schema = ModelTelemetry()
    recorder: Any = _Recorder()  # the monitoring functions are typed for DuckDB's Connection, the only engine today
    with pytest.raises(_CapturedError):
        windows.windowed(recorder, "predictions", ts="ts", value="latency_ms", by="model_version", end="2026-10-15")
    assert recorder.query is not None
    trees = {"windowed": recorder.query}
    with pytest.raises(_CapturedError):
        scores.score_histograms_by_window(recorder, window="1 day", end=datetime(2026, 10, 15), bins=10, schema=schema)
    trees["score_histograms"] = recorder.query
    trees["precision"] = _precision_query(schema, "1 day", ["segment"], None, "2026-10-15")[0]
    return trees


@pytest.mark.parametrize("dialect", DIALECTS)
def test_monitoring_queries_keep_their_time_buckets_and_quantiles(dialect: str) -> None:
    for name, tree in _monitoring_trees().items():
        text = _render(tree, dialect)
        assert _gaps(text) == MONITORING_GAPS[name].get(dialect, _BUCKETS), name
        assert re.search(r"AS (Nullable\()?INTERVAL\b", text), name  # CAST($window AS INTERVAL): DuckDB's text
