"""Hostile pass (issue 15), cases O9–O11: `abnb run` racing itself, killed again and again, and a read-only disk.

The runs are real `abnb run` processes over three specs with a fake papermill (``FAKE_RUN`` below: it sleeps, then
writes what a kernel writes, tagged with the process id), so the races and kill windows are those of the real
publication code while a render costs half a second instead of a kernel's start-up.
"""

from __future__ import annotations

import errno
import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from abnb.cli import main
from abnb.datasets import spec_path
from abnb.errors import ReportError
from tests.reliability.fake_publication import STEM, fake_papermill, fake_publish

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("report")]

ROOT = Path(__file__).resolve().parents[2]
NAMES = ("checkout_redesign", "infinite_scroll", "onboarding_email")  # the sample's three active experiments

FAKE_RUN = textwrap.dedent(
    """
    import json, os, sys, time
    from pathlib import Path
    import papermill
    import abnb.report.publish as publication
    from abnb.cli import main

    delay = float(os.environ["FAKE_DELAY"])
    tag = str(os.getpid())

    def execute_notebook(_input, output, *, parameters, **_):
        time.sleep(delay)
        Path(output).write_text(json.dumps({"cells": [], "metadata": {"run": tag}, "nbformat": 4,
                                            "nbformat_minor": 5}))
        summary = {"experiment": parameters.get("experiment", ""), "as_of": Path(output).stem,
                   "decision": {"verdict": "ship", "stop": True}, "run": tag}
        Path(parameters["summary_path"]).write_text(json.dumps(summary))

    papermill.execute_notebook = execute_notebook
    publication._export_html = lambda _path: f"<html><body>{tag}</body></html>\\n"
    main(sys.argv[1:])
    """
)


@pytest.fixture
def project(tmp_path: Path, sample_db: Path) -> dict[str, Path]:
    """The sample's three specs, the fake-run script and a reports folder."""
    specs = tmp_path / "experiments"
    specs.mkdir()
    for name in NAMES:
        (specs / f"{name}.toml").write_text(spec_path(name).read_text())
    script = tmp_path / "fake_run.py"
    script.write_text(FAKE_RUN)
    return {"specs": specs, "script": script, "out": tmp_path / "reports", "db": sample_db}


def start_run(project: dict[str, Path], delay: float) -> subprocess.Popen[str]:
    command = [sys.executable, str(project["script"]), "run", "--experiments", str(project["specs"])]
    command += ["--database", str(project["db"]), "--output-dir", str(project["out"]), "--as-of", STEM]
    env = {**os.environ, "FAKE_DELAY": str(delay)}
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def check_consistent(out: Path) -> dict[str, str]:
    """Every published report is whole and of one run: notebook, HTML and both summaries name the same process.

    Returns:
        The run (process id) of each experiment that has a published report.
    """
    runs = {}
    for name in NAMES:
        folder = out / name
        if not (folder / f"{STEM}.summary.json").exists():
            assert not (folder / "summary.json").exists()
            continue
        tags = {
            json.loads((folder / f"{STEM}.ipynb").read_text())["metadata"]["run"],
            (folder / f"{STEM}.html").read_text().split("<body>")[1].split("<")[0],
            json.loads((folder / f"{STEM}.summary.json").read_text())["run"],
            json.loads((folder / "summary.json").read_text())["run"],
        }
        assert len(tags) == 1, (name, tags)
        runs[name] = tags.pop()
    return runs


def test_o9_two_runs_at_once_each_report_is_whole_and_one_run_stops_cleanly(project: dict[str, Path]) -> None:
    """Started 0.3 s apart over the same reports folder: where they meet, one line of ReportLockedError and the
    exit status counts it; every report that was published is whole, and a later run renders all three."""
    first = start_run(project, delay=3.0)
    time.sleep(0.3)
    second = start_run(project, delay=3.0)
    results = [(p.wait(timeout=300), p.stdout.read() if p.stdout else "", p.stderr.read() if p.stderr else "")
               for p in (first, second)]  # fmt: skip
    locked = 0
    for rc, _stdout, stderr in results:
        lines = stderr.strip().splitlines()
        assert all("ReportLockedError: another run (pid" in line for line in lines), stderr
        assert rc == len(lines)
        locked += len(lines)
    assert locked >= 1  # they did meet
    assert set(check_consistent(project["out"])) == set(NAMES)  # between them, every experiment was rendered
    assert not list(project["out"].glob("*/.staging-*"))
    third = start_run(project, delay=0.0)
    assert third.wait(timeout=300) == 0


def test_o10_a_run_killed_ten_times_never_leaves_a_mixed_report(project: dict[str, Path]) -> None:
    """SIGTERM and SIGKILL in turn after 0.2–2.5 s (seed 7): after each kill every published report is whole;
    the next complete run exits 0 and leaves no staging folder behind."""
    chooser = random.Random(7)
    for kill in range(10):
        process = start_run(project, delay=0.5)
        time.sleep(chooser.uniform(0.2, 2.5))
        process.send_signal(signal.SIGTERM if kill % 2 == 0 else signal.SIGKILL)
        process.wait(timeout=60)
        check_consistent(project["out"])
    final = start_run(project, delay=0.0)
    assert final.wait(timeout=300) == 0, final.stderr.read() if final.stderr else ""
    assert set(check_consistent(project["out"])) == set(NAMES)
    assert not list(project["out"].glob("*/.staging-*"))
    assert not list(project["out"].glob("**/*.tmp"))


def test_o11_a_read_only_reports_folder_is_one_clear_error_and_changes_nothing(
    fake_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """EROFS on every file abnb opens in the reports folder (as after ``mount -o remount,ro``): a ReportError
    naming the lock file and the cause; the published report is unchanged."""
    before = {p: p.read_bytes() for p in fake_root.rglob("*") if p.is_file()}
    real_open = os.open

    def read_only(path: str | os.PathLike[str], flags: int, *args: int, **kwargs: int) -> int:
        if str(path).startswith(str(fake_root)) and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(path))
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", read_only)
    with pytest.raises(
        ReportError, match=r"writing .*fake/\.lock failed: Read-only file system\. Nothing half-written"
    ):
        fake_publish(fake_root)
    monkeypatch.setattr(os, "open", real_open)
    assert {p: p.read_bytes() for p in fake_root.rglob("*") if p.is_file()} == before


def test_o11_abnb_run_counts_each_experiment_it_could_not_write(
    project: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    out = project["out"]
    out.mkdir()
    real_open = os.open

    def read_only(path: str | os.PathLike[str], flags: int, *args: int, **kwargs: int) -> int:
        if str(path).startswith(str(out)) and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(path))
        return real_open(path, flags, *args, **kwargs)

    fake_papermill(monkeypatch, "ro")
    monkeypatch.setattr(os, "open", read_only)
    result = CliRunner().invoke(
        main,
        ["run", "--experiments", str(project["specs"]), "--database", str(project["db"]), "--output-dir", str(out)],
    )
    monkeypatch.setattr(os, "open", real_open)
    lines = result.output.strip().splitlines()
    failures = [line for line in lines if "Read-only file system" in line]
    assert len(failures) == 3, result.output
    assert all("Traceback" not in line for line in lines)
    assert result.exit_code == 3
