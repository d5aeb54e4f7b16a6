"""abnb init: a project a team can start from, and abnb demo / validate / run inside it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

import abnb
from abnb.cli import main
from abnb.errors import ProjectError
from abnb.project import Project
from abnb.scaffold import init_project


def test_init_writes_a_working_project(tmp_path: Path) -> None:
    written = init_project(tmp_path / "shop")
    root = (tmp_path / "shop").resolve()
    assert [p.relative_to(root).as_posix() for p in written] == [
        "abnb.toml",
        ".gitignore",
        "experiments/checkout_redesign.toml",
        "metrics/example.toml",
        "notebooks/explore.ipynb",
    ]
    assert all((root / folder).is_dir() for folder in ("reports", "data"))
    project = Project.load(root)
    assert project.name == "shop"
    assert project.database == root / "data" / "telemetry.duckdb"
    assert sorted(project.metric_library()) == ["minutes", "purchasers"]
    assert abnb.load("checkout_redesign", project=project).name == "checkout_redesign"
    notebook = json.loads((root / "notebooks" / "explore.ipynb").read_text())
    assert "jupytext" not in notebook["metadata"]  # the team's copy is not paired with a .py it does not have
    assert "reports/" in (root / ".gitignore").read_text()


def test_init_never_overwrites(tmp_path: Path) -> None:
    (tmp_path / "experiments").mkdir()
    (tmp_path / "experiments" / "checkout_redesign.toml").write_text("# mine\n")
    written = init_project(tmp_path, name="mine")
    assert tmp_path.resolve() / "experiments" / "checkout_redesign.toml" not in written
    assert (tmp_path / "experiments" / "checkout_redesign.toml").read_text() == "# mine\n"
    with pytest.raises(ProjectError, match="already an abnb project"):
        init_project(tmp_path)


def test_lab_says_which_extra_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None if name == "jupyterlab" else real(name))
    result = CliRunner().invoke(main, ["lab"])
    assert result.exit_code == 1
    assert "pip install 'abnb[lab]'" in result.output


@pytest.mark.slow
def test_init_demo_validate_run_in_a_new_project(sample_db: Path, tmp_path: Path) -> None:
    """The commands act on the project they are run in, never on the kit's checkout."""
    abnb_command = str(Path(sys.executable).with_name("abnb"))
    env = {k: v for k, v in os.environ.items() if k not in ("ABNB_DATABASE", "ABNB_PROJECT")}
    subprocess.run([abnb_command, "init", "proj"], cwd=tmp_path, env=env, check=True, capture_output=True)
    root = tmp_path / "proj"
    shutil.copy(sample_db, root / "data" / "telemetry.duckdb")  # the 20k-user sample instead of generating 200k
    demo = subprocess.run([abnb_command, "demo"], cwd=root, env=env, capture_output=True, text=True)
    assert demo.returncode == 0, demo.stderr
    assert demo.stdout.strip() == f"report: {root.resolve() / 'reports' / 'checkout_redesign' / '2026-10-14.html'}"
    checked = subprocess.run(
        [abnb_command, "validate", "--all"], cwd=root / "notebooks", env=env, capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stderr
    assert checked.stdout.startswith("checkout_redesign: ok (")
    (root / "experiments" / "extra.toml").write_text(
        'name = "extra"\narms = ["a", "b"]\ncontrol = "a"\n[[metrics]]\nref = "minutes"\n'
    )
    run = subprocess.run([abnb_command, "run"], cwd=root, env=env, capture_output=True, text=True)
    assert run.returncode == 1  # one spec failed, the other rendered
    assert "extra: DataError" in run.stderr
    assert "no exposures with experiment = 'extra'" in run.stderr
    assert "experiments in it: 'checkout_redesign'" in run.stderr
    assert [Path(line).name for line in run.stdout.split()] == ["2026-10-14.html"]
    reports = sorted(p.name for p in (root / "reports").iterdir() if not p.name.startswith("."))
    assert reports == ["checkout_redesign", "index.html"]
    page = (root / "reports" / "checkout_redesign" / "2026-10-14.html").read_text()
    assert "<h1>checkout_redesign</h1>" in page


def test_run_refuses_two_specs_with_one_name(tmp_path: Path) -> None:
    """The hostile pass's W3: a copy with the same name silently replaced the other's report."""
    init_project(tmp_path)
    spec = (tmp_path / "experiments" / "checkout_redesign.toml").read_text()
    (tmp_path / "experiments" / "zzz_copy.toml").write_text(spec)
    result = CliRunner().invoke(main, ["--project", str(tmp_path), "run"])
    assert result.exit_code == 2
    assert result.output.count("2 specs are named 'checkout_redesign'") == 2
    assert not (tmp_path / "reports" / "checkout_redesign").exists()
