"""Hostile pass (issue 15): what metric SQL can reach, and reports over data that change underneath them.

Cases S3, S4, O5, O6, O7 (the trust boundary of docs/security.md), W2 and W6 (a database replaced during a render
or between incremental refreshes), D19 (parameters in metric SQL) and D5 (a view over a relative Parquet path) of
the hostile cases. A spec that reaches outside the telemetry gets a ``SpecError`` naming the metric and the
function or file; the engine refuses the same reach on its own, without downloading anything.
"""

from __future__ import annotations

import ast
import os
import shutil
from pathlib import Path
from typing import Any

import duckdb
import pytest
import sqlglot
from sqlglot import exp

import abnb
import abnb.incremental as incremental
from abnb.engine import connect
from abnb.errors import EngineError, ReportError, SpecError
from abnb.experiment import Experiment
from abnb.metrics import Metric, Sql
from abnb.report import validate_parameters

SECRET = "s3cret-do-not-publish"


@pytest.fixture
def secret(tmp_path: Path) -> Path:
    path = tmp_path / "outside" / "secret.txt"
    path.parent.mkdir()
    path.write_text(SECRET + "\n")
    return path


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """HOME in a temporary folder: DuckDB would install downloaded extensions under ~/.duckdb."""
    folder = tmp_path / "home"
    folder.mkdir()
    monkeypatch.setenv("HOME", str(folder))
    return folder


def _tree(sql: str) -> Any:
    tree = sqlglot.parse_one(sql, read="duckdb")
    assert isinstance(tree, exp.Query)
    return tree


def _setting(con: abnb.Connection, name: str) -> object:
    row = con.raw.execute("SELECT current_setting($n)", {"n": name}).fetchone()
    assert row is not None
    return row[0]


@pytest.mark.parametrize(
    ("reader", "sql"),
    [
        ("read_text", "SELECT e.unit, e.ts, length(s.content) AS value FROM events e, read_text('{p}') s"),
        ("read_csv", "SELECT e.unit, e.ts, 1 AS value FROM events e, read_csv('{p}') s"),
        ("glob", "SELECT e.unit, e.ts, 1 AS value FROM events e, glob('{d}/*') g"),
        ("read_blob", "SELECT unit, ts, (SELECT count(*) FROM read_blob('{p}')) AS value FROM events"),
        ("read_csv_auto", "SELECT e.unit, e.ts, 1 AS value FROM events e, read_csv_auto('{p}') s"),
        ("read_parquet", "SELECT e.unit, e.ts, 1 AS value FROM events e, read_parquet('{d}/*.parquet') s"),
    ],
)
def test_s3_metric_sql_cannot_read_files(secret: Path, reader: str, sql: str) -> None:
    text = sql.format(p=secret, d=secret.parent)
    with pytest.raises(SpecError, match=rf"metric 'exfil' reads the table function {reader}\(\.\.\.\).*\[sources\]"):
        Metric("exfil", Sql(text))
    with pytest.raises(SpecError, match=r"metric 'exfil' names the file .*secret\.txt"):
        Metric("exfil", Sql(f"SELECT unit, ts, 1 AS value FROM '{secret}'"))


def test_s3_the_engine_refuses_files_outside_the_sources_on_its_own(sample_db: Path, secret: Path) -> None:
    """Without the spec check (SQL built elsewhere), DuckDB itself refuses, and the error names the file."""
    with abnb.connect(sample_db) as con:
        assert _setting(con, "enable_external_access") is False
        assert _setting(con, "lock_configuration") is True
        for reader in ("read_text", "read_csv", "read_blob", "glob"):
            query = _tree(f"SELECT * FROM {reader}('{secret}')")
            with pytest.raises(SpecError, match=rf"reads '{secret}', outside what abnb lets SQL reach"):
                con.run(query)
            with pytest.raises(SpecError, match="outside what abnb lets SQL reach"):
                con.describe(query)
        with pytest.raises(duckdb.Error, match="locked"):
            con.raw.execute("SET enable_external_access = true")
        with pytest.raises(duckdb.Error, match="disabled by configuration"):
            con.raw.execute(f"ATTACH '{secret.parent / 'other.duckdb'}' AS other")
        with pytest.raises(duckdb.Error, match="disabled by configuration"):
            con.raw.execute(f"COPY (SELECT 42) TO '{secret.parent / 'copied.csv'}'")
        con.raw.execute("SET threads = 2")  # resource settings stay open
    assert not (secret.parent / "copied.csv").exists()


def test_s4_urls_and_extensions_are_refused_without_a_download(sample_db: Path, home: Path) -> None:
    for sql, function in [
        ("SELECT e.unit, e.ts, 1 AS value FROM events e, read_csv('http://127.0.0.1:9/x.csv') x", "read_csv"),
        ("SELECT e.unit, e.ts, 1 AS value FROM events e, sqlite_scan('/x.db', 'x') x", "sqlite_scan"),
    ]:
        with pytest.raises(SpecError, match=rf"metric 'net' reads the table function {function}"):
            Metric("net", Sql(sql))
    with pytest.raises(SpecError, match="names the file"):
        Metric("net", Sql("SELECT unit, ts, 1 AS value FROM 'https://example.com/x.csv'"))
    with abnb.connect(sample_db) as con:
        for name in ("autoinstall_known_extensions", "autoload_known_extensions", "allow_community_extensions"):
            assert _setting(con, name) is False, name
        with pytest.raises(SpecError, match=r"http://127\.0\.0\.1:9/x\.csv"):
            con.run(_tree("SELECT * FROM read_csv('http://127.0.0.1:9/x.csv')"))
        with pytest.raises(duckdb.Error):
            con.raw.execute("SELECT * FROM sqlite_scan('/x.db', 'x')")
        for statement in ("INSTALL httpfs", "LOAD httpfs"):
            with pytest.raises(duckdb.Error):
                con.raw.execute(statement)
    assert not (home / ".duckdb").exists()


def test_o5_query_copy_is_refused_and_writes_nothing(tmp_path: Path) -> None:
    target = tmp_path / "pwned_copy.csv"
    with pytest.raises(SpecError, match=r"table function query\(\.\.\.\)"):
        Metric(
            "copy", Sql(f"SELECT e.unit, e.ts, 1 AS value FROM exposures e, query('COPY (SELECT 42) TO ''{target}''')")
        )
    assert not target.exists()


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT unit, ts, value FROM events; COPY (SELECT 1) TO '{t}'",
        "SELECT unit, ts, $$x$$ AS value FROM events; COPY (SELECT 1) TO '{t}'",
        "SELECT unit, ts, value FROM events /* x */ ; COPY (SELECT 1) TO '{t}'",
    ],
)
def test_o6_smuggled_statements_are_refused(sql: str, tmp_path: Path, sample_db: Path) -> None:
    target = tmp_path / "smuggled.csv"
    with pytest.raises(SpecError, match="exactly one SELECT"):
        Metric("smuggle", Sql(sql.format(t=target)))
    commented = Metric(
        "smuggle", Sql(f"SELECT unit, ts, value FROM events -- x */ ; COPY (SELECT 1) TO '{target}' ; /*")
    )
    assert not list(commented.query.find_all(exp.Copy))  # the COPY is a comment, rendered as one
    with abnb.connect(sample_db) as con, pytest.raises(duckdb.Error, match="disabled by configuration"):
        con.raw.execute(f"COPY (SELECT 1) TO '{target}'")
    assert not target.exists()


def test_o7_environment_and_catalog_functions_are_refused(sample_db: Path) -> None:
    with pytest.raises(SpecError, match=r"calls getenv\(\.\.\.\)"):
        Metric("env", Sql("SELECT unit, ts, length(getenv('HOME')) AS value FROM events"))
    with pytest.raises(SpecError, match=r"table function pragma_database_list"):
        Metric("cat", Sql("SELECT e.unit, e.ts, 1 AS value FROM events e, pragma_database_list() d"))
    with pytest.raises(SpecError, match=r"calls current_setting"):
        Metric("set", Sql("SELECT unit, ts, length(current_setting('secret_directory')) AS value FROM events"))
    with abnb.connect(sample_db) as con, pytest.raises(duckdb.Error):
        con.raw.execute("SELECT getenv('HOME')")


def test_o5_o6_o7_row_generators_and_ordinary_sql_stay_allowed() -> None:
    Metric("ok", Sql("SELECT unit, ts, value FROM events WHERE event = 'a/b.csv'"))  # a string value is not a file
    Metric("ok", Sql("SELECT e.unit, e.ts, r.range AS value FROM events e, range(3) r"))
    Metric("ok", Sql("SELECT e.unit, e.ts, x AS value FROM events e, unnest([1, 2]) t(x)"))
    Metric("ok", Sql("SELECT unit, ts, value FROM analytics.events"))


def test_boundary_keeps_declared_sources_frames_and_views_readable(tmp_path: Path, sample_db: Path) -> None:
    """Sources (a file, a folder, a glob, CSV), frames and a database view over an absolute Parquet path work."""
    pq = tmp_path / "pq"
    (pq / "events").mkdir(parents=True)
    with duckdb.connect(str(sample_db), read_only=True) as raw:
        raw.execute(f"COPY (SELECT * FROM exposures) TO '{pq / 'exposures.parquet'}' (FORMAT parquet)")
        raw.execute(f"COPY (SELECT * FROM events) TO '{pq / 'events' / 'part-0.parquet'}' (FORMAT parquet)")
        raw.execute(f"COPY (SELECT * FROM exposures LIMIT 10) TO '{tmp_path / 'few.csv'}' (HEADER)")
        frame = raw.execute("SELECT * FROM exposures LIMIT 5").df()
    viewed = tmp_path / "viewed.duckdb"
    with duckdb.connect(str(viewed)) as raw:
        raw.execute(f"CREATE VIEW exposures AS SELECT * FROM read_parquet('{pq / 'exposures.parquet'}')")
        raw.execute(f"CREATE VIEW events AS SELECT * FROM read_parquet('{pq / 'events' / '*.parquet'}')")
    spec = abnb.load("checkout_redesign")
    with abnb.connect(sample_db) as con:
        expected = spec.analyze(con, as_of="2026-10-14")
    sources = {"exposures": pq / "exposures.parquet", "events": pq / "events", "few": tmp_path / "few.csv"}
    with connect(sources=sources, frames={"frame": frame}) as con:
        assert con.restricted
        assert spec.analyze(con, as_of="2026-10-14").effects[0].absolute == expected.effects[0].absolute
        assert con.raw.execute("SELECT count(*) FROM few").fetchone() == (10,)
        assert con.raw.execute("SELECT count(*) FROM frame").fetchone() == (5,)
    with abnb.connect(viewed) as con:
        assert con.restricted
        assert spec.analyze(con, as_of="2026-10-14").effects[0].absolute == expected.effects[0].absolute


def test_d19_metric_sql_must_not_contain_parameters() -> None:
    for placeholder in ("$as_of", "?", "$1"):
        with pytest.raises(SpecError, match=r"metric 'late' contains the parameter .*must not contain parameters"):
            Metric("late", Sql(f"SELECT unit, ts, value FROM events WHERE value > {placeholder}"))


def test_s3_a_ratio_denominator_is_checked_at_spec_load_too() -> None:
    with pytest.raises(SpecError, match=r"metric 'r_denominator' reads the table function read_csv"):
        Metric(
            "r",
            Sql(
                "SELECT unit, ts, 1 AS value FROM events",
                denominator="SELECT unit, ts, 1 AS value FROM read_csv('x.csv')",
            ),
            kind="ratio",
        )


def test_d5_relative_view_path_says_working_directory_not_restore(
    tmp_path: Path, sample_db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "pq").mkdir()
    (tmp_path / "notebooks").mkdir()
    with duckdb.connect(str(sample_db), read_only=True) as raw:
        raw.execute(f"COPY (SELECT * FROM exposures) TO '{tmp_path / 'pq' / 'exposures.parquet'}' (FORMAT parquet)")
    database = tmp_path / "pqview.duckdb"
    shutil.copy(sample_db, database)
    spec = abnb.load("checkout_redesign")
    monkeypatch.chdir(tmp_path)
    with duckdb.connect(str(database)) as raw:
        raw.execute("DROP TABLE exposures")
        raw.execute("CREATE VIEW exposures AS SELECT * FROM read_parquet('pq/exposures.parquet')")
    with abnb.connect(database) as con:  # from the folder the path is relative to, it reads
        assert spec.analyze(con, as_of="2026-10-14").units
    monkeypatch.chdir(tmp_path / "notebooks")  # where a report kernel runs
    with abnb.connect(database) as con, pytest.raises(EngineError) as caught:
        spec.analyze(con, as_of="2026-10-14")
    message = str(caught.value)
    assert "relative path" in message
    assert str(tmp_path / "notebooks") in message
    assert "[sources]" in message
    assert "absolute path" in message
    assert "backup" not in message
    assert "corrupt" not in message


def _replace_with_other_data(database: Path, sample_db: Path) -> None:
    """``os.replace`` another database at ``database``: the sample with the arms of a third of the units swapped."""
    other = database.with_name("other.duckdb")
    shutil.copy(sample_db, other)
    with duckdb.connect(str(other)) as raw:
        raw.execute(
            "UPDATE exposures SET arm = CASE arm WHEN 'control' THEN 'treatment' ELSE 'control' END "
            "WHERE hash(unit) % 3 = 0"
        )
        raw.execute("DELETE FROM events WHERE hash(unit) % 5 = 0")
    os.replace(other, database)


def test_w2_a_render_that_sees_its_database_replaced_fails_before_publishing(tmp_path: Path, sample_db: Path) -> None:
    database = tmp_path / "race.duckdb"
    shutil.copy(sample_db, database)
    params = validate_parameters(experiment="checkout_redesign", database=str(database), as_of="2026-10-14")
    spec = params.spec()
    params.analyze(spec)  # the analysis cell
    with params.connect() as con:  # the same data: the distributions cell goes on
        assert con.columns("exposures") is not None
    _replace_with_other_data(database, sample_db)
    with pytest.raises(ReportError, match=r"data changed while the report was rendering: .*race\.duckdb.*Nothing was"):
        params.connect()
    fresh = validate_parameters(experiment="checkout_redesign", database=str(database), as_of="2026-10-14")
    with fresh.connect():  # a new render reads the new file
        pass


def test_w2_with_an_incremental_store_the_render_fails_too(tmp_path: Path, sample_db: Path) -> None:
    database = tmp_path / "race.duckdb"
    shutil.copy(sample_db, database)
    params = validate_parameters(
        experiment="checkout_redesign",
        database=str(database),
        as_of="2026-10-14",
        store=str(tmp_path / "race.store.duckdb"),
    )
    params.analyze(params.spec())
    _replace_with_other_data(database, sample_db)
    with pytest.raises(ReportError, match="data changed while the report was rendering"):
        params.connect()


def test_w2_the_canary_page_does_not_mix_databases_either(tmp_path: Path, sample_db: Path) -> None:
    """The canary notebook opens the database once per section; the second section sees the replaced file."""
    from abnb.rollout.canary import validate_canary_parameters

    database = tmp_path / "race.duckdb"
    shutil.copy(sample_db, database)
    params = validate_canary_parameters(database=str(database))
    with params.connect() as con:  # the versions cell
        assert con.columns("exposures") is not None
    _replace_with_other_data(database, sample_db)
    with pytest.raises(ReportError, match=r"data changed while the report was rendering: .*race\.duckdb"):
        params.connect()


def test_w6_the_store_rebuilds_when_the_database_is_replaced(tmp_path: Path, sample_db: Path) -> None:
    database = tmp_path / "t.duckdb"
    shutil.copy(sample_db, database)
    spec = abnb.load("checkout_redesign")
    with incremental.Store(tmp_path / "t.store.duckdb") as store:
        incremental.analyze(spec, store, database=database, as_of="2026-10-10")
        _replace_with_other_data(database, sample_db)
        got = incremental.analyze(spec, store, database=database, as_of="2026-10-14")
        stats = store.last_refresh
        assert stats is not None
        assert stats.mode == "full"
        assert "was replaced by another file at the same path" in stats.reason
        assert "rebuilt" in stats.reason
        mark = store.watermark(spec.name)
        assert mark is not None
        assert '"inode"' in mark["source"]
        # An unchanged file refreshes incrementally again.
        incremental.analyze(spec, store, database=database, as_of="2026-10-14")
        assert store.last_refresh is not None
        assert store.last_refresh.mode == "current"
        assert store.connection.raw.execute("SELECT current_setting('enable_external_access')").fetchone() == (False,)
    with abnb.connect(database) as con:
        full = spec.analyze(con, as_of="2026-10-14")
    assert got.units == full.units
    for a, b in zip(got.effects, full.effects, strict=True):
        assert a.absolute.estimate == pytest.approx(b.absolute.estimate, rel=1e-9, abs=1e-12)


def test_w6_metric_sql_in_the_store_session_is_confined(tmp_path: Path, sample_db: Path, secret: Path) -> None:
    database = tmp_path / "t.duckdb"
    shutil.copy(sample_db, database)
    with incremental.Store(tmp_path / "t.store.duckdb", database=database) as store:
        con = store.connection
        assert con.raw.execute("SELECT current_setting('lock_configuration')").fetchone() == (True,)
        with pytest.raises(SpecError, match="outside what abnb lets SQL reach"):
            con.run(_tree(f"SELECT * FROM read_text('{secret}')"))


def _connection_calls(notebook: Path) -> list[str]:
    """The source text of every ``abnb.connect(...)`` / ``params.connect()`` call in a notebook's cells."""
    tree = ast.parse(notebook.read_text())
    calls = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "connect":
            calls.append(ast.unparse(node))
    return calls


@pytest.mark.parametrize("kind", ["experiment_report", "monitoring", "canary_release"])
def test_every_report_kind_reads_through_a_connection_without_external_access(kind: str, sample_db: Path) -> None:
    """Each packaged report notebook opens its data only with abnb.connect or the report parameters' connect, and
    both give a session with external access off and the configuration locked."""
    notebook = Path(abnb.__file__).parent / "notebooks" / f"{kind}.py"
    text = notebook.read_text()
    assert "duckdb.connect" not in text
    calls = _connection_calls(notebook)
    assert calls
    for call in calls:
        assert call in {
            "params.connect()",
            "abnb.connect(params.database or None)",
            "abnb.connect(params.database)",
        }, call
    params = validate_parameters(experiment="checkout_redesign", database=str(sample_db))
    for con in (params.connect(), abnb.connect(str(sample_db))):
        with con:
            assert isinstance(con, abnb.Connection)
            assert con.raw.execute("SELECT current_setting('enable_external_access')").fetchone() == (False,)
            assert con.raw.execute("SELECT current_setting('lock_configuration')").fetchone() == (True,)
            assert con.raw.execute("SELECT current_setting('autoinstall_known_extensions')").fetchone() == (False,)


def test_trusted_python_can_still_import_and_export(tmp_path: Path, sample_db: Path) -> None:
    """``external_access=True`` (abnb data import/export): the boundary is for SQL from specs, not for Python."""
    written = abnb.engine.export_parquet(sample_db, tmp_path / "pq", tables=["exposures"])
    with connect(sample_db, external_access=True) as con:
        assert con.raw.execute("SELECT count(*) FROM read_parquet($p)", {"p": str(written[0])}).fetchone()
        assert not con.restricted
    assert isinstance(Experiment, type)
