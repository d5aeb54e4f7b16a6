"""Projects: the abnb.toml found from the working directory upward, its engine, sources, defaults and metric library."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import abnb
from abnb.errors import ProjectError, SpecError
from abnb.project import SCHEMA_VERSION, Project, find_project, packaged_notebook

SPEC = """
name = "exp"
arms = ["a", "b"]
control = "a"
[[metrics]]
ref = "orders"
role = "guardrail"
[[metrics]]
name = "own"
sql = "SELECT unit, ts, 1 AS value FROM events"
"""


def _write(root: Path, text: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "abnb.toml").write_text(text)
    return root


def test_found_from_any_folder_inside(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ABNB_PROJECT", raising=False)
    monkeypatch.delenv("ABNB_DATABASE", raising=False)
    root = _write(tmp_path / "shop", '[project]\nname = "shop"\n[engine]\ndatabase = "db/x.duckdb"\n')
    (root / "experiments" / "deep").mkdir(parents=True)
    monkeypatch.chdir(root / "experiments" / "deep")
    project = find_project()
    assert (project.name, project.root, project.file) == ("shop", root.resolve(), root.resolve() / "abnb.toml")
    assert project.database == root.resolve() / "db" / "x.duckdb"
    assert project.experiments_dir == root.resolve() / "experiments"
    assert project.reports_dir == root.resolve() / "reports"
    assert project.timezone == "UTC"
    assert abnb.experiment.experiments_dir() == project.experiments_dir
    assert abnb.engine.default_database() == project.database


def test_a_folder_without_a_project_file_is_an_implicit_project(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ABNB_PROJECT", raising=False)
    monkeypatch.delenv("ABNB_DATABASE", raising=False)
    monkeypatch.chdir(tmp_path)
    project = find_project()
    assert project.file is None
    assert project.root == tmp_path.resolve()
    assert project.database == tmp_path.resolve() / "data" / "telemetry.duckdb"
    assert "implicit" in repr(project)


def test_the_environment_chooses_the_project_and_the_database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = _write(tmp_path / "p", '[engine]\ndatabase = "a.duckdb"\n')
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ABNB_PROJECT", str(root))
    monkeypatch.delenv("ABNB_DATABASE", raising=False)
    assert find_project().database == root.resolve() / "a.duckdb"
    monkeypatch.setenv("ABNB_DATABASE", str(tmp_path / "other.duckdb"))
    assert find_project().database == (tmp_path / "other.duckdb").resolve()
    monkeypatch.setenv("ABNB_PROJECT", str(tmp_path / "missing"))
    with pytest.raises(ProjectError, match=r"ABNB_PROJECT.*no such folder"):
        find_project()


def test_the_checkout_is_a_project_like_any_other(monkeypatch: pytest.MonkeyPatch) -> None:
    """The kit's own checkout is never preferred: it is found only from inside it."""
    monkeypatch.delenv("ABNB_PROJECT", raising=False)
    checkout = Path(__file__).resolve().parents[1]
    project = find_project(checkout / "abnb" / "datasets")
    assert project.root == checkout
    assert project.experiments_dir == checkout / "abnb" / "datasets" / "experiments"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("nonsense = 1\n", "unknown key.*nonsense"),
        ("[engine]\ndatabase = 'a'\nurl = 'local[1]'\n", "database.*or `url`.*not both"),
        ("[engine]\nurl = 'mysql://x'\n", "url 'mysql://x' is not an engine"),
        ("[engine]\nurl = 'postgresql://u:pw@db/x'\n", "holds a password"),
        ("timezone = 'Mars/Olympus'\n", "timezone 'Mars/Olympus' is not an IANA"),
        ("[paths]\nexperiment = 'x'\n", r"\[paths\] has unknown key.*experiment"),
        ("[defaults]\nname = 'x'\n", r"\[defaults\] has unknown key.*name"),
        ("[sources]\nbad = 'data/x.xlsx'\n", "cannot tell the format.*format = "),
        ("[sources]\n'two words' = 'x.csv'\n", "source name 'two words' is not a valid identifier"),
        ("schema_version = 'one'\n", "schema_version must be a positive whole number"),
        ("[project\nname = 1\n", "not valid TOML at line 1"),
    ],
)
def test_mistakes_in_the_project_file_name_the_key_and_the_file(tmp_path: Path, text: str, message: str) -> None:
    root = _write(tmp_path, text)
    with pytest.raises(ProjectError, match=message) as caught:
        Project.load(root)
    assert "abnb.toml" in str(caught.value)


def test_a_newer_project_file_is_refused_with_the_upgrade_step(tmp_path: Path) -> None:
    root = _write(tmp_path, f"schema_version = {SCHEMA_VERSION + 1}\n")
    with pytest.raises(ProjectError, match=r"written by a newer abnb.*pip install --upgrade abnb"):
        Project.load(root)


def test_defaults_and_the_metric_library(tmp_path: Path) -> None:
    root = _write(
        tmp_path,
        "[defaults]\nalpha = 0.01\nexposures = { table = 'assignments', unit = 'user_id' }\n"
        "[[metrics]]\nname = 'orders'\nkind = 'mean'\nsql = 'SELECT unit, ts, value FROM orders'\n",
    )
    (root / "experiments").mkdir()
    (root / "experiments" / "exp.toml").write_text(SPEC + "[exposures]\narm = 'variant'\n")
    project = Project.load(root)
    spec = abnb.load("exp", project=project)
    assert spec.alpha == 0.01  # from [defaults]
    assert (spec.exposures.table, spec.exposures.unit, spec.exposures.arm) == ("assignments", "user_id", "variant")
    orders = spec.metrics[0]
    assert (orders.name, orders.role, orders.kind) == ("orders", "guardrail", "mean")  # the library's, role overridden
    assert abnb.Experiment.from_toml(root / "experiments" / "exp.toml") == spec  # a spec file knows its project


def test_metric_library_files_and_their_mistakes(tmp_path: Path) -> None:
    root = _write(tmp_path, "")
    (root / "metrics").mkdir()
    (root / "metrics" / "a.toml").write_text(
        "[[metrics]]\nname = 'orders'\nsql = 'SELECT unit, ts, 1 AS value FROM o'\n"
    )
    project = Project.load(root)
    assert list(project.metric_library()) == ["orders"]
    (root / "metrics" / "b.toml").write_text("[[metrics]]\nname = 'orders'\nsql = 'SELECT 1'\n")
    with pytest.raises(ProjectError, match=r"'orders' is defined twice.*a.toml.*b.toml"):
        project.metric_library()
    (root / "metrics" / "b.toml").unlink()
    spec_data = {"name": "x", "metrics": [{"ref": "order"}]}
    with pytest.raises(SpecError, match="ref 'order' is not in the project's metric library; library metrics: orders"):
        project.spec_data(spec_data, "x.toml")
    with pytest.raises(SpecError, match="overrides sql"):
        project.spec_data({"name": "x", "metrics": [{"ref": "orders", "sql": "SELECT 2"}]}, "x.toml")


def test_unknown_experiment_lists_the_projects(tmp_path: Path) -> None:
    root = _write(tmp_path, "")
    (root / "experiments").mkdir()
    (root / "experiments" / "one.toml").write_text("name = 'one'\n")
    with pytest.raises(SpecError, match=r"no experiment 'two' in project.*known experiments: one"):
        abnb.load("two", project=Project.load(root))


def test_the_projects_own_report_notebook_wins(tmp_path: Path) -> None:
    root = _write(tmp_path, "")
    project = Project.load(root)
    assert project.notebook("experiment_report") == packaged_notebook("experiment_report")
    assert packaged_notebook("experiment_report").is_file()
    (root / "notebooks").mkdir()
    (root / "notebooks" / "experiment_report.ipynb").write_text("{}")
    assert project.notebook("experiment_report") == root.resolve() / "notebooks" / "experiment_report.ipynb"
    with pytest.raises(ProjectError, match="no report notebook 'dashboard'"):
        project.notebook("dashboard")


def test_sources_are_views_relative_to_the_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = _write(tmp_path / "p", "[sources]\nunits = 'data/units.csv'\n")
    (root / "data").mkdir()
    (root / "data" / "units.csv").write_text("unit,arm\n1,a\n2,b\n")
    monkeypatch.chdir(tmp_path)  # elsewhere: the path is the project's, not the working directory's
    with Project.load(root).connect() as con:
        assert con.database == "in-memory DuckDB over units"
        assert con.tables() == ["units"]
        assert con.execute("SELECT count(*) FROM units").fetchone() == (2,)
    (root / "data" / "units.csv").unlink()
    with pytest.raises(abnb.DatabaseNotFoundError, match="source 'units': no file matches"):
        Project.load(root).connect()


def test_the_project_zone_is_the_sessions(tmp_path: Path) -> None:
    root = _write(tmp_path, "timezone = 'Asia/Tokyo'\n")
    with Project.load(root).connect() as con:
        assert con.timezone == "Asia/Tokyo"
        assert con.execute("SELECT current_setting('TimeZone')").fetchone() == ("Asia/Tokyo",)


def test_project_cli_option_sets_the_project_for_kernels_too(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from abnb.cli import main

    root = _write(tmp_path / "p", "[project]\nname = 'p'\n")
    before = os.environ.get("ABNB_PROJECT")
    try:
        result = CliRunner().invoke(main, ["--project", str(root), "validate", "--all"])
        assert "project 'p' has no experiment specs" in result.output
        assert os.environ.get("ABNB_PROJECT") == str(root.resolve())
    finally:
        if before is None:
            os.environ.pop("ABNB_PROJECT", None)
        else:
            os.environ["ABNB_PROJECT"] = before
