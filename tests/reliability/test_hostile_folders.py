"""Hostile report folders, spec folders and environment (issue 15: S5, S6, W3, W4, C1, C2, C12, D2, D7, D8, D15).

One test per case of docs/reliability.md, named after it. The publication cases use a fake papermill (the
publication path without a kernel, as in test_faults.py); the ``abnb run`` cases share one real run over a
folder of specs in which one healthy spec sits next to every bad one: the bad ones fail with one line each, the
healthy one is still rendered.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import duckdb
import pytest
from click.testing import CliRunner

import abnb
import abnb.report.publish as publication
from abnb import _io
from abnb.cli import main
from abnb.datasets import spec_path
from abnb.engine import LOCK_TIMEOUT_MAX, backoff_schedule, lock_timeout
from abnb.errors import ParameterError, ReportError, SpecError
from abnb.experiment import RESERVED_NAMES, Experiment
from abnb.flags import Flags
from abnb.project import packaged_notebook
from abnb.report import _locks, write_index
from tests.reliability.fake_publication import STEM, fake_papermill, fake_publish

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("report")]

ROOT = Path(__file__).resolve().parents[2]
VICTIM = "IMPORTANT DATA - do not lose\n"
HEALTHY = "checkout_redesign"


def victim(tmp_path: Path) -> Path:
    path = tmp_path / "victim.txt"
    path.write_text(VICTIM)
    return path


def run_of(path: Path) -> str:
    return str(json.loads(path.read_text())["run"])


# --- S5, S6: locks and manifests never follow links ---------------------------------------------------------------


def test_s5_symlinked_lock_is_refused_and_target_kept(fake_root: Path, tmp_path: Path) -> None:
    target = victim(tmp_path)
    lock = fake_root / "fake" / ".lock"
    lock.unlink()
    lock.symlink_to(target)
    with pytest.raises(ReportError, match=r"\.lock is a symbolic link: abnb never follows links"):
        fake_publish(fake_root)
    assert target.read_text() == VICTIM
    assert run_of(fake_root / "fake" / "summary.json") == "old"  # nothing published
    # the index lock too, and a hard link to someone's file, and a lock holding more than a pid
    index_lock = fake_root / ".index.lock"
    index_lock.unlink()
    index_lock.symlink_to(target)
    with pytest.raises(ReportError, match=r"\.index\.lock is a symbolic link"):
        write_index(fake_root)
    lock.unlink()
    os.link(target, lock)
    with pytest.raises(ReportError, match=r"has 2 hard links .* not an abnb lock file"):
        fake_publish(fake_root)
    lock.unlink()
    lock.write_text(VICTIM * 10)
    with pytest.raises(ReportError, match=r"holds \d+ bytes, more than the pid"):
        fake_publish(fake_root)
    assert target.read_text() == VICTIM
    assert lock.read_text() == VICTIM * 10
    lock.unlink()  # a lock left by a killed run (a pid) is taken over as before
    lock.write_text("999999\n")
    index_lock.unlink()
    fake_publish(fake_root)
    assert run_of(fake_root / "fake" / "summary.json") == "new"


def test_s6_planted_manifest_moves_nothing_outside_the_folder(fake_root: Path, tmp_path: Path) -> None:
    folder = fake_root / "fake"
    protected = tmp_path / "protected"
    protected.mkdir()
    (folder / "d").symlink_to(protected)
    evil = folder / ".staging-evil"
    (evil / "d").mkdir(parents=True)
    (evil / "d" / "pwn.txt").write_text("attacker payload")
    (evil / "PUBLISH.json").write_text(json.dumps({"stem": "x", "files": ["d/pwn.txt"]}))
    traversal = folder / ".staging-up"
    traversal.mkdir()
    (traversal / "x.html").write_text("attacker page")
    (traversal / "PUBLISH.json").write_text(json.dumps({"stem": "../../x", "files": ["../../x.html"]}))
    # a staging folder that is a link to a folder elsewhere, with a well-formed manifest: not followed
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / f"{STEM}.html").write_text("someone's page")
    (outside / "PUBLISH.json").write_text(json.dumps({"stem": STEM, "files": [f"{STEM}.html"]}))
    (folder / ".staging-link").symlink_to(outside)
    with _locks.report_lock(folder):
        done = publication._recover(folder)
    assert any(".staging-evil: removed (its manifest could not be replayed" in line for line in done), done
    assert any(".staging-up: removed" in line for line in done), done
    assert any(".staging-link: removed (a symbolic link, not followed)" in line for line in done), done
    assert list(protected.iterdir()) == []
    assert not (tmp_path / "x.html").exists()
    assert sorted(p.name for p in outside.iterdir()) == [f"{STEM}.html", "PUBLISH.json"]  # not moved away
    assert not list(folder.glob(".staging-*"))
    assert run_of(folder / "summary.json") == "old"


def test_s6_publishing_refuses_symlinked_targets(fake_root: Path, tmp_path: Path) -> None:
    target = victim(tmp_path)
    folder = fake_root / "fake"
    page = folder / f"{STEM}.html"
    page.unlink()
    page.symlink_to(target)
    with pytest.raises(ReportError, match=rf"{STEM}\.html is a symbolic link: .*nothing was published"):
        fake_publish(fake_root)
    assert target.read_text() == VICTIM
    assert page.is_symlink()
    assert run_of(folder / "summary.json") == "old"
    assert not list(folder.glob(".staging-*"))
    # a report folder that is a link is refused before anything is written there
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (fake_root / "linked").symlink_to(elsewhere)
    with pytest.raises(ReportError, match=r"report folder .*linked is a symbolic link"):
        publication.publish(
            packaged_notebook("experiment_report"),
            fake_root / "linked",
            STEM,
            {},
            kernel_name="python3",
            timeout=10,
        )
    assert list(elsewhere.iterdir()) == []
    # the index is not written through a link either
    index = fake_root / "index.html"
    index.unlink()
    index.symlink_to(target)
    with pytest.raises(ReportError, match=r"index\.html is a symbolic link"):
        write_index(fake_root)
    assert target.read_text() == VICTIM


# --- D7, D8: failed copies and the latest summary ---------------------------------------------------------------


def test_d7_failed_copy_is_kept_only_when_readable_and_cleaned_up(
    fake_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = fake_root / "fake"
    failed = folder / f".failed-{STEM}.ipynb"
    # papermill left an empty notebook (a full disk): no copy, and the error does not promise one
    fake_papermill(monkeypatch, "empty", fail=True, notebook=False)
    with pytest.raises(ReportError) as error:
        fake_publish(fake_root)
    assert "kept at" not in str(error.value)
    assert not failed.exists()
    # the copy itself hits a full disk: no empty or partial file is left behind
    fake_papermill(monkeypatch, "full", fail=True)
    real = _io.write_new

    def full(path: Path, text: str, **kwargs: Any) -> None:
        if ".failed-" in path.name:
            path.write_text("")
            raise OSError(28, os.strerror(28), str(path))
        real(path, text, **kwargs)

    monkeypatch.setattr(_io, "write_new", full)
    with pytest.raises(ReportError) as error:
        fake_publish(fake_root)
    monkeypatch.setattr(_io, "write_new", real)
    assert "kept at" not in str(error.value)
    assert [p.name for p in folder.iterdir() if p.name.startswith(".failed")] == []
    # a readable failed notebook is kept and named in the error
    fake_papermill(monkeypatch, "broken", fail=True)
    with pytest.raises(ReportError, match=rf"The executed notebook is kept at .*\.failed-{STEM}\.ipynb"):
        fake_publish(fake_root)
    assert json.loads(failed.read_text())["metadata"]["run"] == "broken"
    # an empty failed copy of another as_of (an older run on a full disk) is removed by the next run
    stale = folder / ".failed-2026-10-01.ipynb"
    stale.write_text("")
    fake_papermill(monkeypatch, "new")
    fake_publish(fake_root)
    assert not failed.exists()  # the successful run of that as_of removes its failed copy
    assert not stale.exists()
    assert run_of(folder / "summary.json") == "new"


def test_d8_backfill_keeps_summary_json_at_the_latest_as_of(fake_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = fake_root / "fake"
    fake_papermill(monkeypatch, "backfill")
    published = fake_publish(fake_root, "2026-10-13")
    assert published.summary == folder / "2026-10-13.summary.json"
    assert run_of(folder / "2026-10-13.summary.json") == "backfill"
    latest = json.loads((folder / "summary.json").read_text())
    assert latest["as_of"] == STEM  # still the latest as_of, as the index's "Latest" table
    assert latest["run"] == "old"
    index = (fake_root / "index.html").read_text()
    latest_table = index.split("<h2>Every run</h2>")[0]
    assert f"fake/{STEM}.html" in latest_table
    assert "2026-10-13" not in latest_table
    fake_papermill(monkeypatch, "newer")
    fake_publish(fake_root, "2026-10-15")  # a newer as_of moves summary.json forward
    assert json.loads((folder / "summary.json").read_text())["as_of"] == "2026-10-15"


# --- W4, C2, C12, D15: names, flag files, lock timeout, generate onto a link -----------------------------------


@pytest.mark.parametrize("name", [*RESERVED_NAMES, "Monitoring"])
def test_w4_reserved_experiment_names_are_refused(name: str) -> None:
    data = {"name": name, "metrics": [{"name": "y", "column": "y", "kind": "mean"}]}
    with pytest.raises(SpecError, match=rf"^specs/{name}\.toml: experiment name '{name}' is reserved: .*canary"):
        Experiment.from_dict(data, source=f"specs/{name}.toml")


def test_c2_deeply_nested_flag_file_is_a_spec_error(tmp_path: Path) -> None:
    path = tmp_path / "deep_flags.toml"
    path.write_text("description = " + "[" * 5000 + "]" * 5000 + "\n")
    with pytest.raises(SpecError, match=r"flag file .*deep_flags\.toml nests arrays or tables too deeply"):
        Flags.from_toml(path)


def test_c12_huge_lock_timeout_is_refused_and_backoff_is_bounded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    started = time.monotonic()
    assert sum(backoff_schedule(1e308)) == pytest.approx(LOCK_TIMEOUT_MAX)
    assert len(backoff_schedule(1e308)) < 50_000
    monkeypatch.setenv("ABNB_LOCK_TIMEOUT", "1e308")
    with pytest.raises(ParameterError, match=r"\$ABNB_LOCK_TIMEOUT must be at most 86,400 seconds \(one day\)"):
        lock_timeout()
    database = tmp_path / "t.duckdb"
    duckdb.connect(str(database)).close()
    with pytest.raises(ParameterError, match=r"at most 86,400 seconds"):
        abnb.connect(database)
    assert lock_timeout(86_400) == 86_400
    assert time.monotonic() - started < 5


def test_d15_generate_onto_a_symlink_writes_through_it(tmp_path: Path) -> None:
    real = tmp_path / "bigdisk" / "real.duckdb"
    real.parent.mkdir()
    real.write_bytes(b"stale")
    link = tmp_path / "link.duckdb"
    link.symlink_to(real)
    result = CliRunner().invoke(main, ["data", "generate", "--users", "300", "--database", str(link)])
    assert result.exit_code == 0, result.output
    assert f"wrote {real} (through the symbolic link {link})" in result.output
    assert link.is_symlink()
    assert link.resolve() == real
    with duckdb.connect(str(link), read_only=True) as connection:
        assert connection.execute("SELECT users FROM abnb_sample").fetchone() == (300,)
    loop = tmp_path / "loop.duckdb"
    loop.symlink_to(loop)
    result = CliRunner().invoke(main, ["data", "generate", "--users", "300", "--database", str(loop)])
    assert result.exit_code == 1
    assert "is a symbolic link that cannot be followed" in result.output
    assert len(result.output.strip().splitlines()) == 1


# --- the command line: one line, never a traceback --------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (RecursionError("maximum recursion depth exceeded"), r"RecursionError: the input of `abnb report x` is nested"),
        (MemoryError(), r"MemoryError: `abnb report x` ran out of memory"),
        (OSError(5, "Input/output error", "/data/x.duckdb"), r"could not use /data/x.duckdb: Input/output error"),
    ],
)
def test_cli_unexpected_errors_are_one_line(monkeypatch: pytest.MonkeyPatch, error: Exception, expected: str) -> None:
    import abnb.cli

    def boom(*_: Any, **__: Any) -> Any:
        raise error

    monkeypatch.setattr(abnb.cli, "_published", boom)
    result = CliRunner().invoke(main, ["report", "x"])
    assert result.exit_code == 1
    assert len(result.output.strip().splitlines()) == 1, result.output
    assert "Traceback" not in result.output
    assert re.search(expected, result.output), result.output


def test_o12_cell_timeout_option_reaches_render(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import abnb.cli

    seen: dict[str, Any] = {}

    def published(_render: Any, *_: Any, **options: Any) -> Path:
        seen.update(options)
        return tmp_path / "x.html"

    monkeypatch.setattr(abnb.cli, "_published", published)
    result = CliRunner().invoke(main, ["report", HEALTHY, "--cell-timeout", "20"])
    assert result.exit_code == 0, result.output
    assert seen["timeout"] == 20
    result = CliRunner().invoke(main, ["report", HEALTHY, "--cell-timeout", "0"])
    assert result.exit_code == 2
    assert "--cell-timeout" in result.output


# --- abnb run: one healthy spec next to every bad one ------------------------------------------------------------


def _spec_text(name: str) -> str:
    return spec_path(HEALTHY).read_text().replace(f'name = "{HEALTHY}"', f'name = "{name}"', 1)


@pytest.fixture(scope="module")
def hostile_run(sample_db: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """``abnb run`` (a real process) over a folder with one healthy spec and the bad ones, once per module."""
    base = tmp_path_factory.mktemp("hostile_run")
    specs = base / "experiments"
    specs.mkdir()
    (specs / f"{HEALTHY}.toml").write_text(spec_path(HEALTHY).read_text())
    (specs / "aaa_deep.toml").write_text("description = " + "[" * 3000 + "]" * 3000 + "\n")  # C1
    os.mkfifo(specs / "aaa_fifo.toml")  # D2
    (specs / "aaa_dangling.toml").symlink_to(base / "nonexistent.toml")  # O14
    (specs / "dup_a.toml").write_text(_spec_text("dupe"))  # W3 (also across case)
    (specs / "dup_b.toml").write_text(_spec_text("DUPE"))
    (specs / "monitoring.toml").write_text(_spec_text("monitoring"))  # W4
    out = base / "reports"
    started = time.monotonic()
    process = subprocess.run(
        [
            *(sys.executable, "-c", "from abnb.cli import main; main()", "run", "--experiments", str(specs)),
            *("--database", str(sample_db), "--output-dir", str(out)),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    return {
        "rc": process.returncode,
        "stdout": process.stdout,
        "stderr": process.stderr,
        "lines": {line.split(":")[0]: line for line in process.stderr.strip().splitlines()},
        "out": out,
        "seconds": time.monotonic() - started,
    }


def test_c1_deep_toml_fails_alone_and_healthy_specs_render(hostile_run: dict[str, Any]) -> None:
    assert "Traceback" not in hostile_run["stderr"]
    assert "nests arrays or tables too deeply" in hostile_run["lines"]["aaa_deep"]
    assert (hostile_run["out"] / HEALTHY / "summary.json").exists()
    assert f"{HEALTHY}/" in hostile_run["stdout"]
    # every failure is one line, and the exit status counts them: deep, fifo, dangling, two dupes, monitoring
    assert len(hostile_run["stderr"].strip().splitlines()) == 6, hostile_run["stderr"]
    assert hostile_run["rc"] == 6


def test_c1_report_of_a_deep_toml_is_one_line(tmp_path: Path) -> None:
    deep = tmp_path / "deep.toml"
    deep.write_text("description = " + "[" * 3000 + "]" * 3000 + "\n")
    result = CliRunner().invoke(main, ["report", str(deep), "--output-dir", str(tmp_path / "reports")])
    assert result.exit_code == 1
    assert len(result.output.strip().splitlines()) == 1, result.output
    assert f"SpecError: experiment spec {deep} nests arrays or tables too deeply" in result.output
    assert not (tmp_path / "reports").exists()


def test_d2_fifo_spec_is_refused_without_blocking(hostile_run: dict[str, Any]) -> None:
    assert "is a FIFO (named pipe), not a regular file" in hostile_run["lines"]["aaa_fifo"]
    assert hostile_run["seconds"] < 600


def test_o14_dangling_symlink_spec_is_reported_and_others_render(hostile_run: dict[str, Any]) -> None:
    assert "does not exist" in hostile_run["lines"]["aaa_dangling"]
    assert (hostile_run["out"] / HEALTHY / "summary.json").exists()


def test_w3_specs_with_the_same_name_are_not_rendered(hostile_run: dict[str, Any]) -> None:
    for stem in ("dup_a", "dup_b"):
        assert "2 specs are named" in hostile_run["lines"][stem]
        assert "dup_a.toml, dup_b.toml" in hostile_run["lines"][stem]
    assert not (hostile_run["out"] / "dupe").exists()
    assert not (hostile_run["out"] / "DUPE").exists()


def test_w4_experiment_named_monitoring_is_refused_before_rendering(hostile_run: dict[str, Any]) -> None:
    line = hostile_run["lines"]["monitoring"]
    assert "monitoring.toml: experiment name 'monitoring' is reserved" in line
    assert "canary, monitoring, screenshots, teaching" in line
    assert not (hostile_run["out"] / "monitoring").exists()
