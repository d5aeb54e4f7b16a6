"""Reliability catalogue, section `cli`: the command line, papermill parameters, SQL injection, names and paths.

One test per row of the `cli` table in docs/reliability.md. Each bad input must end in an ``AbnbError`` subclass
(or, on the command line, a one-line error naming the option) whose message names the input and the fix; an
injection attempt must be refused, or be harmless because it travels as a bound value (the data are unchanged and
the string is treated as a value).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import numpy as np
import pytest
from click.testing import CliRunner
from scipy import stats

import abnb
from abnb.cli import main
from abnb.errors import DatabaseNotFoundError, DataError, EngineError, ParameterError, SpecError
from abnb.experiment import Experiment
from abnb.project import packaged_notebook
from abnb.report import validate_parameters

NOTEBOOK = packaged_notebook("experiment_report")

INJECTION = "x'; DROP TABLE exposures; --"


def _invoke(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)
    return result.exit_code, result.output


def _fingerprint(path: Path) -> dict[str, tuple[int, str]]:
    """Row count and an order-independent hash of every table: proof that a query changed nothing."""
    with duckdb.connect(str(path), read_only=True) as raw:
        return _fingerprint_raw(raw)


def _spec(**overrides: object) -> dict[str, object]:
    """A minimal unit-level spec over a table ``users(unit, arm, y)``."""
    spec: dict[str, object] = {
        "name": "tiny",
        "arms": ["control", "treatment"],
        "control": "control",
        "exposures": {"table": "users", "ts": "", "experiment_column": "", "level": "unit"},
        "metrics": [{"name": "y", "column": "y", "kind": "mean"}],
    }
    spec.update(overrides)
    return spec


def _users_db(arms: tuple[str, str]) -> tuple[abnb.Connection, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(9)
    a, b = rng.normal(10, 2, 300), rng.normal(10.5, 2, 200)
    raw = duckdb.connect()
    raw.execute("CREATE TABLE users (unit INTEGER, arm VARCHAR, y DOUBLE)")
    rows = [(i, arms[0], float(v)) for i, v in enumerate(a)] + [(1000 + i, arms[1], float(v)) for i, v in enumerate(b)]
    raw.executemany("INSERT INTO users VALUES (?, ?, ?)", rows)
    return abnb.engine.as_connection(raw), a, b


# ---------------------------------------------------------------------------------------------------------------
# command line


def test_cli01_report_path_traversal_name(tmp_path: Path) -> None:
    out = tmp_path / "out" / "reports"
    code, output = _invoke("report", "../../etc", "--output-dir", str(out))
    assert code == 1
    assert "SpecError: experiment name '../../etc' is not a valid identifier" in output
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_cli02_spec_named_dot_dot_slash(tmp_path: Path) -> None:
    spec = tmp_path / "spec" / "evil.toml"
    spec.parent.mkdir()
    spec.write_text('name = "../x"\n[[metrics]]\nname = "m"\nsql = "SELECT 1"\n', encoding="utf-8")
    out = tmp_path / "out"
    code, output = _invoke("report", str(spec), "--output-dir", str(out))
    assert code == 1
    assert "SpecError" in output
    assert "experiment name '../x' is not a valid identifier" in output
    assert str(spec) in output  # names the file
    assert not out.exists()
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize("command", ["report", "monitor", "canary"])
def test_cli03_as_of_garbage(command: str) -> None:
    args = [command, "checkout_redesign"] if command == "report" else [command]
    code, output = _invoke(*args, "--as-of", "yesterday'; DROP TABLE exposures; --")
    assert code == 1
    assert "ParameterError: --as-of: as_of must be an ISO date or datetime such as 2026-10-15" in output


def test_cli04_as_of_end_of_calendar() -> None:
    """9999-12-31 means "through that day": its cutoff overflowed datetime (an OverflowError traceback)."""
    code, output = _invoke("report", "checkout_redesign", "--as-of", "9999-12-31")
    assert code == 1
    assert "ParameterError: --as-of: as_of 9999-12-31 is out of range" in output
    assert "before 9999-12-31" in output
    with pytest.raises(ParameterError, match="as_of 9999-12-31 is out of range"):
        validate_parameters(experiment="checkout_redesign", as_of="9999-12-31")
    from abnb.monitor import validate_monitoring_parameters

    with pytest.raises(ParameterError, match="as_of 9999-12-31 is out of range"):  # one as_of rule everywhere
        validate_monitoring_parameters(as_of="9999-12-31")


@pytest.mark.parametrize("args", [["data", "generate"], ["bench"], ["demo"]])
def test_cli05_users_zero(tmp_path: Path, args: list[str]) -> None:
    database = tmp_path / "t.duckdb"
    extra = ["--database", str(database)] if args[0] == "data" else []
    code, output = _invoke(*args, "--users", "0", *extra)
    assert code == 2
    assert "Invalid value for '--users'" in output
    assert "0 is not in the range" in output
    assert not database.exists()


@pytest.mark.parametrize("command", [["report", "checkout_redesign"], ["monitor"], ["data", "generate"]])
def test_cli06_database_is_a_directory_cli(tmp_path: Path, command: list[str]) -> None:
    code, output = _invoke(*command, "--database", str(tmp_path))
    assert code == 2
    assert "Invalid value for '--database'" in output
    assert "is a directory" in output


def test_cli07_database_is_a_directory_api(tmp_path: Path) -> None:
    with pytest.raises(EngineError, match=rf"cannot open database {tmp_path}.*Is a directory"):
        abnb.connect(tmp_path)


@pytest.mark.parametrize("command", [["report", "checkout_redesign"], ["monitor"], ["canary"]])
def test_cli08_database_missing(tmp_path: Path, command: list[str]) -> None:
    """Refused before a kernel starts (it used to fail inside the notebook, wrapped in a ReportError)."""
    missing = tmp_path / "nowhere" / "telemetry.duckdb"
    code, output = _invoke(*command, "--database", str(missing), "--output-dir", str(tmp_path / "out"))
    assert code == 1
    assert f"DatabaseNotFoundError: database file {missing} does not exist" in output
    assert f"`abnb data generate --database {missing}`" in output
    code, output = _invoke(*command, "--output-dir", str(tmp_path / "out"), env={"ABNB_DATABASE": str(missing)})
    assert code == 1
    assert "generate it with `abnb data generate`" in output
    assert not (tmp_path / "out").exists()
    with pytest.raises(DatabaseNotFoundError, match="does not exist"):
        abnb.connect(missing)


def test_cli09_monitor_window_injection(sample_db: Path, tmp_path: Path) -> None:
    before = _fingerprint(sample_db)
    code, output = _invoke(
        "monitor", "--database", str(sample_db), "--output-dir", str(tmp_path), "--window", "1 day'; DROP TABLE ops; --"
    )
    assert code == 1
    assert "ParameterError: monitoring parameter window must look like '1 day'" in output
    assert _fingerprint(sample_db) == before
    assert list(tmp_path.iterdir()) == []


def test_cli10_monitor_model_version_injection(sample_db: Path, tmp_path: Path) -> None:
    code, output = _invoke(
        "monitor", "--database", str(sample_db), "--output-dir", str(tmp_path), "--model-version", "v2' OR '1'='1"
    )
    assert code == 1
    assert "ParameterError: monitoring parameter model_version must be a version name" in output
    assert list(tmp_path.iterdir()) == []


def test_cli11_canary_versions_injection(sample_db: Path, tmp_path: Path) -> None:
    code, output = _invoke(
        "canary", "--database", str(sample_db), "--output-dir", str(tmp_path), "--versions", "v2'; DROP TABLE x; --"
    )
    assert code == 1
    assert "ParameterError: canary parameter versions must be comma-separated version names" in output


@pytest.mark.parametrize(
    ("option", "value"),
    [("--steps", "1,nan,100"), ("--step-hours", "inf"), ("--step-hours", "nan"), ("--step-hours", "1e308")],
)
def test_cli12_canary_non_finite_numbers(sample_db: Path, tmp_path: Path, option: str, value: str) -> None:
    """`nan` in the steps and an infinite step were accepted (the ramp then misbehaved or overflowed timedelta)."""
    code, output = _invoke("canary", "--database", str(sample_db), "--output-dir", str(tmp_path), option, value)
    assert code == 1
    assert "ParameterError" in output
    assert (
        ("steps and step_hours must be finite" in output)
        or ("step_hours" in output and "> 0" in output)
        or ("step_hours must be a finite number of hours" in output)
    )
    assert list(tmp_path.iterdir()) == []


def test_cli13_export_table_injection(sample_db: Path, tmp_path: Path) -> None:
    before = _fingerprint(sample_db)
    out = tmp_path / "parquet"
    for table in ("events; DROP TABLE events", "../../etc/passwd"):
        code, output = _invoke("data", "export", "--parquet", str(out), "--database", str(sample_db), "--table", table)
        assert code == 1
        assert f"SchemaError: table(s) {table} not in" in output
        assert "(tables: " in output
    assert not out.exists()
    assert _fingerprint(sample_db) == before


# ---------------------------------------------------------------------------------------------------------------
# papermill parameters of the report notebooks


def test_cli14_papermill_p_experiment_007() -> None:
    from papermill.cli import _resolve_type

    value = _resolve_type("007")
    assert value == 7
    assert isinstance(value, int)
    with pytest.raises(ParameterError, match=r"report parameter experiment must be a string, got int 7.*-r experiment"):
        validate_parameters(experiment=value)


@pytest.mark.parametrize(("raw", "pattern"), [("false", "as_of must be an ISO date"), ("False", "got bool False")])
def test_cli15_papermill_p_as_of_false(raw: str, pattern: str) -> None:
    from papermill.cli import _resolve_type

    with pytest.raises(ParameterError, match=pattern):
        validate_parameters(experiment="checkout_redesign", as_of=_resolve_type(raw))


def test_cli16_papermill_p_database_none() -> None:
    from papermill.cli import _resolve_type

    assert _resolve_type("None") is None
    with pytest.raises(ParameterError, match=r"report parameter database must be a string, got NoneType None.*-r"):
        validate_parameters(experiment="checkout_redesign", database=_resolve_type("None"))


@pytest.mark.parametrize("name", ["../../etc", "x; DROP TABLE exposures", "контроль", "a" * 1000])
def test_cli17_report_parameter_experiment_name(name: str) -> None:
    """The notebook validated the experiment only when it loaded it; now the validation cell refuses it."""
    with pytest.raises(ParameterError, match=r"report parameter experiment .* is not a valid identifier") as info:
        validate_parameters(experiment=name)
    assert "or a path ending in .toml" in str(info.value)
    assert len(str(info.value)) < 600


def test_cli18_papermill_real_execution_type_trap(tmp_path: Path) -> None:
    """One real papermill run: `-p experiment 007` stops in the validation cell with the fix, not deeper."""
    import papermill
    from papermill.exceptions import PapermillExecutionError

    with pytest.raises(PapermillExecutionError) as info:
        papermill.execute_notebook(
            str(NOTEBOOK),
            str(tmp_path / "out.ipynb"),
            parameters={"experiment": 7},
            progress_bar=False,
            kernel_name="python3",
            cwd=str(NOTEBOOK.parent),
        )
    assert info.value.ename == "ParameterError"
    assert "report parameter experiment must be a string, got int 7" in info.value.evalue
    assert "papermill -r experiment VALUE" in info.value.evalue


# ---------------------------------------------------------------------------------------------------------------
# SQL injection in every string that reaches SQL


@pytest.mark.parametrize(
    ("overrides", "what"),
    [
        ({"name": INJECTION}, "experiment name"),
        ({"segments": ['country" ; DROP TABLE users; --']}, "segment column"),
        (
            {"exposures": {"table": "users; DROP TABLE users", "level": "unit", "ts": "", "experiment_column": ""}},
            "exposures table",
        ),
        (
            {"exposures": {"table": "users", "arm": 'arm"--', "level": "unit", "ts": "", "experiment_column": ""}},
            "exposures arm column",
        ),
        (
            {"exposures": {"table": "users", "unit": "u) OR (1=1", "level": "unit", "ts": "", "experiment_column": ""}},
            "exposures unit column",
        ),
        (
            {"exposures": {"table": "users", "experiment_column": "e;--", "ts": "", "level": "unit"}},
            "exposures experiment column",
        ),
        ({"metrics": [{"name": "y); DROP TABLE users; --", "column": "y"}]}, "metric name"),
        ({"metrics": [{"name": "y", "column": 'y" FROM users; --'}]}, "column of metric"),
    ],
    ids=["experiment", "segment", "table", "arm_column", "unit_column", "experiment_column", "metric", "column"],
)
def test_cli19_identifier_injection_refused(overrides: dict[str, object], what: str) -> None:
    with pytest.raises(SpecError, match=f"{what}.* is not a valid identifier: use 1-63 ASCII letters"):
        Experiment.from_dict(_spec(**overrides))


def test_cli20_arm_values_with_injection_are_bound_values() -> None:
    """Arm names are values, never SQL text: hostile arm names are just labels, and the numbers are right."""
    arms = ("control' OR '1'='1", "t'); DROP TABLE users; --")
    con, a, b = _users_db(arms)
    spec = Experiment.from_dict(_spec(arms=list(arms), control=arms[0]))
    result = spec.analyze(con)
    assert result.units == {arms[0]: 300, arms[1]: 200}
    effect = result.effect("y", arms[1]).absolute
    assert effect.estimate == pytest.approx(b.mean() - a.mean(), rel=1e-9)
    assert effect.pvalue == pytest.approx(stats.ttest_ind(b, a, equal_var=False).pvalue, rel=1e-6)
    assert con.raw.execute("SELECT count(*) FROM users").fetchone() == (500,)


def test_cli21_experiment_value_is_bound(sample_db: Path, tmp_path: Path) -> None:
    """The experiment name filters the exposures as a bound value: a row tagged with an injection-like name in the
    experiment column is simply another experiment, and the analysis of checkout_redesign is unchanged."""
    spec = abnb.load("checkout_redesign")
    with abnb.connect(sample_db) as con:
        reference = spec.analyze(con).units
    copy = tmp_path / "t.duckdb"
    shutil.copy(sample_db, copy)
    with duckdb.connect(str(copy)) as raw:
        raw.execute(
            "INSERT INTO exposures SELECT 'checkout_redesign'' OR ''1''=''1' AS experiment, * EXCLUDE (experiment) "
            "FROM exposures LIMIT 500"
        )
        before = _fingerprint_raw(raw)
    with abnb.connect(copy) as con:
        assert spec.analyze(con).units == reference
    assert _fingerprint(copy) == before


def _fingerprint_raw(raw: duckdb.DuckDBPyConnection) -> dict[str, tuple[int, str]]:
    tables = [r[0] for r in raw.execute("SELECT table_name FROM duckdb_tables() ORDER BY 1").fetchall()]
    out = {}
    for table in tables:
        n, digest = raw.execute(f'SELECT count(*), sum(hash(t)) FROM "{table}" AS t').fetchone()  # type: ignore[misc]
        out[table] = (int(n), str(digest))
    return out


def test_cli22_as_of_injection_refused(spec: Experiment, con: abnb.Connection) -> None:
    with pytest.raises(ParameterError, match="as_of must be an ISO date"):
        spec.analyze(con, as_of="2026-10-14'; DROP TABLE exposures; --")
    with pytest.raises(ParameterError, match="as_of must be an ISO date"):
        validate_parameters(experiment="checkout_redesign", as_of="2026-10-14' OR '1'='1")


def test_cli23_monitor_window_injection_api(con: abnb.Connection, sample_db: Path) -> None:
    """The window is bound; the engine's conversion error used to surface as an EngineError without the name."""
    from abnb.monitor import labelled_precision_by_window, monitor_summary, windowed

    before = _fingerprint(sample_db)
    bad = "1 day'; DROP TABLE ops; --"
    with pytest.raises(ParameterError, match=r"window \"1 day'; DROP TABLE ops; --\" is not an interval.*'1 hour'"):
        windowed(con, "predictions", ts="ts", value="latency_ms", window=bad)
    with pytest.raises(ParameterError, match=r"window .* is not an interval"):
        labelled_precision_by_window(con, window=bad)
    with pytest.raises(ParameterError, match=r"window .* is not an interval"):
        monitor_summary(con, window=bad)
    assert _fingerprint(sample_db) == before


def test_cli24_monitor_bounds_and_names_injection(con: abnb.Connection) -> None:
    from abnb.monitor import labelled_precision_by_window, monitor_summary, windowed

    with pytest.raises(ParameterError, match=r"end must be an ISO date or timestamp.*got \"2026-01-01'; DROP"):
        windowed(con, "predictions", ts="ts", value="latency_ms", end="2026-01-01'; DROP TABLE ops; --")
    with pytest.raises(ParameterError, match="start must be an ISO date"):
        labelled_precision_by_window(con, window="1 day", start="0 OR 1=1")
    with pytest.raises(SpecError, match="table name 'predictions; DROP TABLE ops' is not a valid identifier"):
        windowed(con, "predictions; DROP TABLE ops", ts="ts", value="latency_ms")
    with pytest.raises(SpecError, match=r"group column .* is not a valid identifier"):
        labelled_precision_by_window(con, window="1 day", by="segment); DROP TABLE ops; --")
    with pytest.raises(ParameterError, match="unknown aggregate"):
        windowed(con, "predictions", ts="ts", value="latency_ms", aggregates=("p95); DROP TABLE ops; --",))
    with pytest.raises(
        ParameterError, match=r"model_version \"v2' OR '1'='1\" has no release.*releases: \['v2', 'v3'\]"
    ):
        monitor_summary(con, model_version="v2' OR '1'='1")


def test_cli25_canary_versions_bound_and_checked(con: abnb.Connection, sample_db: Path) -> None:
    """A baseline version that matches nothing (a typo, or an injection attempt) used to be replayed as "no data"
    and reported as a rollback; now it is refused with the known versions."""
    from abnb.rollout.canary import replay_ramp

    before = _fingerprint(sample_db)
    with pytest.raises(DataError, match=r"no release marker for \"v2' OR '1'='1\" in table releases"):
        replay_ramp(con, "v2' OR '1'='1")
    with pytest.raises(DataError, match=r"baseline_version \"v1' OR '1'='1\" is not a model_version.*v1, v2, v3"):
        replay_ramp(con, "v2", baseline_version="v1' OR '1'='1")
    with pytest.raises(DataError, match=r"canary_version 'v9' is not a model_version in predictions"):
        replay_ramp(con, "v9", start="2026-10-10")
    assert _fingerprint(sample_db) == before


# ---------------------------------------------------------------------------------------------------------------
# unicode and very long names


def test_cli26_unicode_arm_values() -> None:
    con, a, b = _users_db(("контроль", "лечение"))
    result = Experiment.from_dict(_spec(arms=["контроль", "лечение"], control="контроль")).analyze(con)
    assert result.units == {"контроль": 300, "лечение": 200}
    effect = result.effect("y", "лечение").absolute
    assert effect.estimate == pytest.approx(b.mean() - a.mean(), rel=1e-9)
    assert effect.pvalue == pytest.approx(stats.ttest_ind(b, a, equal_var=False).pvalue, rel=1e-6)


@pytest.mark.parametrize(
    ("overrides", "what"),
    [({"name": "эксперимент"}, "experiment name"), ({"segments": ["страна"]}, "segment column")],
)
def test_cli27_unicode_identifiers_refused(overrides: dict[str, object], what: str) -> None:
    with pytest.raises(SpecError, match=f"{what} .* is not a valid identifier") as info:
        Experiment.from_dict(_spec(**overrides))
    assert "Non-ASCII letters are not allowed in identifiers (they are fine as values, e.g. arm names)" in str(
        info.value
    )


def test_cli28_very_long_identifier() -> None:
    """A 1,000-character name was echoed in full; the message now says its length and the limit."""
    with pytest.raises(SpecError, match=r"experiment name 'a{60}'… \(1,000 characters\)") as info:
        Experiment.from_dict(_spec(name="a" * 1000))
    message = str(info.value)
    assert "It is 1,000 characters long; the limit is 63." in message
    assert len(message) < 400
    code, output = _invoke("report", "b" * 1000)
    assert code == 1
    assert "SpecError" in output
    assert "1,000 characters" in output
    assert len(output) < 500


def test_cli29_very_long_arm_value() -> None:
    arms = ("c" * 1000, "t" * 1000)
    con, a, b = _users_db(arms)
    result = Experiment.from_dict(_spec(arms=list(arms), control=arms[0])).analyze(con)
    assert result.units == {arms[0]: 300, arms[1]: 200}
    assert result.effect("y", arms[1]).absolute.estimate == pytest.approx(b.mean() - a.mean(), rel=1e-9)


def test_cli30_output_dir_contains_only_its_report_folder(tmp_path: Path) -> None:
    """Names that reach file paths are identifiers (experiment) or dates (as_of label): a traversal in either
    never reaches the file system: nothing is created anywhere under tmp_path."""
    for args in (
        ["report", "checkout_redesign", "--as-of", "../../../etc/passwd"],
        ["report", "../checkout_redesign"],
        ["report", "checkout_redesign/../../x"],
        ["monitor", "--as-of", "../../x"],
    ):
        code, output = _invoke(*args, "--output-dir", str(tmp_path / "out"))
        assert code == 1, output
        assert "SpecError" in output or "ParameterError" in output, output
    assert sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*")) == []
