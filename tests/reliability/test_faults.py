"""Faults and concurrency: killed runs, held DuckDB locks, concurrent runs, corrupt files, a full disk.

Real ``abnb report`` subprocesses are killed with SIGKILL and run side by side (three full renders and two killed
ones in this file); the rest drives the publication code with a fake papermill (``fake_papermill``), which writes
the notebook and summary a real kernel would, so every failure point is reached in milliseconds.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import duckdb
import pytest

import abnb
import abnb.report.publish as publication
from abnb import _io, incremental
from abnb.engine import backoff_schedule, process_kind
from abnb.errors import (
    DatabaseLockedError,
    EngineError,
    ParameterError,
    ReportError,
    ReportLockedError,
)
from abnb.report import _locks, render, write_index
from tests.reliability.fake_publication import STEM, fake_papermill, fake_publish, published_runs

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("report")]
ROOT = Path(__file__).resolve().parents[2]
ABNB = Path(sys.executable).with_name("abnb")
EXPERIMENT = "checkout_redesign"


# --- helpers --------------------------------------------------------------------------------------------------


def snapshot(root: Path) -> dict[str, bytes]:
    """Every published file under ``root`` and its bytes (not the lock files, nor what a run stages)."""
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file()
        and p.name not in (".lock", ".index.lock")
        and not any(part.startswith(".staging-") for part in p.relative_to(root).parts)
    }


def leftovers(folder: Path) -> list[str]:
    """Staging folders and temporary files a run may have left behind."""
    return sorted(p.name for p in folder.rglob("*") if p.name.startswith(".staging-") or p.name.endswith(".tmp"))


def children(pid: int) -> list[int]:
    """Pids of the processes whose parent is ``pid`` (the report kernel of an ``abnb report`` process)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def kill_report(process: subprocess.Popen[str]) -> None:
    """SIGKILL an ``abnb report`` process and, by pid, the kernel it started (kernels run in their own session)."""
    kernels = children(process.pid)
    for grandchild in [k for pid in kernels for k in children(pid)]:
        kernels.append(grandchild)
    process.send_signal(signal.SIGKILL)
    process.wait()
    for pid in kernels:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def wait_for(predicate: Callable[[], bool], what: str, seconds: float = 90.0) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.02)


def abnb_report(output: Path, database: Path, **env: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [str(ABNB), "report", EXPERIMENT, "--database", str(database), "--output-dir", str(output)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **env},
    )


HOLDER = textwrap.dedent(
    """
    import os, sys, time
    import duckdb
    con = duckdb.connect(os.environ["HOLD_PATH"], read_only=os.environ["HOLD_MODE"] == "ro")
    print("ready", flush=True)
    time.sleep(float(os.environ["HOLD_SECONDS"]))
    """
)


@pytest.fixture
def hold(tmp_path: Path) -> Iterator[Callable[..., subprocess.Popen[str]]]:
    """Start a process that opens a DuckDB file (read-write by default) and sleeps; it is killed afterwards."""
    started: list[subprocess.Popen[str]] = []

    def start(
        path: Path, *, mode: str = "rw", seconds: float = 60, script: str = "holder.py", args: tuple[str, ...] = ()
    ) -> subprocess.Popen[str]:
        folder = tmp_path / f"holder{len(started)}"
        folder.mkdir()
        (folder / script).write_text(HOLDER)
        env = {**os.environ, "HOLD_PATH": str(path), "HOLD_MODE": mode, "HOLD_SECONDS": str(seconds)}
        process = subprocess.Popen(
            [sys.executable, str(folder / script), *args], stdout=subprocess.PIPE, text=True, env=env
        )
        started.append(process)
        assert process.stdout is not None
        assert process.stdout.readline().strip() == "ready"
        return process

    yield start
    for process in started:
        process.kill()
        process.wait()


@pytest.fixture
def tiny_db(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute("CREATE TABLE t AS SELECT range AS x FROM range(10)")
    return path


# --- real renders: killed, concurrent, and the next run -------------------------------------------------------


@pytest.fixture(scope="module")
def previous(sample_db: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A reports folder holding one real, published report (the "previous report" of the kill tests)."""
    root = tmp_path_factory.mktemp("previous") / "reports"
    render(EXPERIMENT, database=sample_db, output_dir=root)
    return root


def check_valid(root: Path) -> dict[str, Any]:
    folder = root / EXPERIMENT
    HTMLParser().feed((folder / f"{STEM}.html").read_text())
    assert (folder / f"{STEM}.html").read_text().rstrip().endswith("</html>")
    json.loads((folder / f"{STEM}.ipynb").read_text())
    summary: dict[str, Any] = json.loads((folder / "summary.json").read_text())
    assert json.loads((folder / f"{STEM}.summary.json").read_text()) == summary
    assert f'href="{EXPERIMENT}/{STEM}.html"' in (root / "index.html").read_text()
    return summary


def test_fault01_sigkill_mid_render_keeps_previous_report_and_next_run_cleans_up(
    previous: Path, sample_db: Path, tmp_path: Path
) -> None:
    root = tmp_path / "reports"
    shutil.copytree(previous, root)
    before = snapshot(root)
    folder = root / EXPERIMENT
    # moment 1: as soon as the staging folder exists (the kernel is starting)
    process = abnb_report(root, sample_db)
    wait_for(lambda: any(folder.glob(".staging-*")), "the staging folder")
    kill_report(process)
    assert process.returncode == -signal.SIGKILL
    assert snapshot(root) == before  # byte-identical: report, summaries, index
    [first] = folder.glob(".staging-*")
    # moment 2: papermill has written the executed notebook into staging and is running cells
    process = abnb_report(root, sample_db)
    wait_for(lambda: any(p.parent != first for p in folder.glob(f".staging-*/{STEM}.ipynb")), "the staged notebook")
    time.sleep(1.0)
    kill_report(process)
    assert snapshot(root) == before
    [second] = folder.glob(".staging-*")  # the second run removed the first one's staging before its own
    assert second != first
    assert not first.exists()
    # the next run succeeds and removes the stale staging folder
    process = abnb_report(root, sample_db)
    out, err = process.communicate(timeout=300)
    assert process.returncode == 0, err
    assert out.strip().endswith(f"{STEM}.html")
    assert leftovers(root) == []
    summary = check_valid(root)
    assert summary["decision"] == json.loads(before[f"{EXPERIMENT}/summary.json"])["decision"]
    assert summary["report"]["rendered_at"] >= json.loads(before[f"{EXPERIMENT}/summary.json"])["report"]["rendered_at"]


def test_fault02_two_concurrent_report_runs_one_wins_the_other_reports_the_lock(
    previous: Path, sample_db: Path, tmp_path: Path
) -> None:
    root = tmp_path / "reports"
    shutil.copytree(previous, root)
    first, second = abnb_report(root, sample_db), abnb_report(root, sample_db)
    results = [(p.pid, *p.communicate(timeout=300), p.returncode) for p in (first, second)]
    codes = sorted(r[3] for r in results)
    assert codes == [0, 1], results
    winner = next(r for r in results if r[3] == 0)
    loser = next(r for r in results if r[3] == 1)
    assert "ReportLockedError: another run (pid " in loser[2]
    assert f"pid {winner[0]}, abnb report {EXPERIMENT}" in loser[2]  # the holder's pid and process kind
    assert f"is writing {root / EXPERIMENT}" in loser[2]
    assert loser[1] == ""  # printed no report path
    assert leftovers(root) == []
    check_valid(root)


# --- publication: commit point, roll-forward, cleanup (fake papermill) ----------------------------------------

KILL_AFTER = textwrap.dedent(
    """
    import json, os, signal, sys
    from pathlib import Path
    import papermill
    import abnb.report.publish as publication
    from abnb.project import packaged_notebook

    root, kill_after = Path(sys.argv[1]), int(sys.argv[2])

    def execute_notebook(_input, output, *, parameters, **_):
        Path(output).write_text(json.dumps({"cells": [], "metadata": {"run": "killed"}, "nbformat": 4,
                                            "nbformat_minor": 5}))
        Path(parameters["summary_path"]).write_text(json.dumps(
            {"experiment": "fake", "as_of": "2026-10-14", "decision": {"verdict": "ship"}, "run": "killed"}))

    papermill.execute_notebook = execute_notebook
    publication._export_html = lambda _path: "<html><body>killed</body></html>\\n"
    real_replace, moved = os.replace, []

    def replace(source, target):
        real_replace(source, target)
        if Path(target).parent == root / "fake":
            moved.append(target)
            if len(moved) == kill_after:
                os.kill(os.getpid(), signal.SIGKILL)

    os.replace = replace
    publication.publish(packaged_notebook("experiment_report"), root / "fake", "2026-10-14", {},
                        kernel_name="python3", timeout=10)
    """
)


@pytest.mark.parametrize("kill_after", [1, 3])
def test_fault03_sigkill_between_renames_is_rolled_forward_by_the_next_run(
    fake_root: Path, tmp_path: Path, kill_after: int
) -> None:
    script = tmp_path / "kill_after.py"
    script.write_text(KILL_AFTER)
    process = subprocess.run(
        [sys.executable, str(script), str(fake_root), str(kill_after)], cwd=ROOT, capture_output=True, text=True
    )
    assert process.returncode == -signal.SIGKILL, process.stderr
    # the mixed state a kill inside the rename window leaves: the first renamed files are the killed run's
    runs = published_runs(fake_root)
    assert list(runs.values()).count("killed") == kill_after
    assert len(list((fake_root / "fake").glob(".staging-*/PUBLISH.json"))) == 1  # committed, not finished
    with _locks.report_lock(fake_root / "fake"):
        done = publication._recover(fake_root / "fake")
    assert len(done) == 1
    assert "rolled forward" in done[0]
    assert set(published_runs(fake_root).values()) == {"killed"}  # consistent again: the committed run
    assert leftovers(fake_root) == []


def test_fault04_stale_staging_without_manifest_and_temp_files_are_removed(fake_root: Path) -> None:
    folder = fake_root / "fake"
    stale = folder / ".staging-killed"
    stale.mkdir()
    (stale / f"{STEM}.ipynb").write_text("{half a notebook")
    (folder / f".{STEM}.html.abc123.tmp").write_text("<html>half")
    (fake_root / ".index.html.xyz.tmp").write_text("<html>half")
    before = snapshot(fake_root)
    fake_publish(fake_root)
    assert leftovers(fake_root) == []
    assert set(published_runs(fake_root).values()) == {"new"}  # the killed run's files were not published
    assert before[f"fake/{STEM}.html"] != (folder / f"{STEM}.html").read_bytes()


def test_fault05_report_folder_locked_by_another_run_fails_fast(fake_root: Path) -> None:
    before = snapshot(fake_root)
    with _locks.report_lock(fake_root / "fake"):
        started = time.monotonic()
        with pytest.raises(ReportLockedError, match=rf"another run \(pid {os.getpid()}, .*\) is writing .*fake") as e:
            fake_publish(fake_root)
        assert time.monotonic() - started < 5  # fails fast: it does not wait for the lock
    assert isinstance(e.value, ReportError)
    assert "run again afterwards" in str(e.value)
    assert snapshot(fake_root) == before
    assert leftovers(fake_root) == []
    fake_publish(fake_root)  # the lock is free again
    assert set(published_runs(fake_root).values()) == {"new"}


@pytest.mark.parametrize("failing", ["html", "summary.json", "PUBLISH.json.tmp"])
def test_fault06_disk_full_while_staging_leaves_previous_report(
    fake_root: Path, monkeypatch: pytest.MonkeyPatch, failing: str
) -> None:
    before = snapshot(fake_root)
    real = _io.write_new

    def full(path: Path, text: str) -> None:
        if path.name.endswith(failing):
            with open(path, "w") as handle:  # half the bytes, then the disk is full
                handle.write(text[: len(text) // 2])
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        real(path, text)

    monkeypatch.setattr(_io, "write_new", full)
    with pytest.raises(ReportError, match=rf"disk full while writing .*\.staging-.*{failing}.*previous report") as e:
        fake_publish(fake_root)
    assert "No space left on device" in str(e.value)
    assert snapshot(fake_root) == before
    assert leftovers(fake_root) == []
    assert set(published_runs(fake_root).values()) == {"old"}


def test_fault07_disk_full_writing_the_index_keeps_the_old_index(
    fake_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    old_index = (fake_root / "index.html").read_bytes()

    def full(path: Path, text: str) -> None:
        with open(path, "w") as handle:
            handle.write(text[:10])
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))  # write() names no file

    monkeypatch.setattr(_io, "write_new", full)
    with pytest.raises(ReportError, match=r"disk full while writing .*index\.html.*No space left") as e:
        write_index(fake_root)
    assert str(fake_root) in str(e.value)
    assert (fake_root / "index.html").read_bytes() == old_index
    assert leftovers(fake_root) == []


def test_fault08_disk_full_in_write_summary_names_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "summary.json"
    target.write_text('{"old": true}\n')

    def full(path: Path, text: str) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))

    monkeypatch.setattr(_io, "write_new", full)
    with pytest.raises(ReportError, match=r"disk full while writing .*summary\.json"):
        _io.write_atomic(target, "{}")
    assert target.read_text() == '{"old": true}\n'
    assert leftovers(tmp_path) == []


def test_fault09_output_dir_is_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_papermill(monkeypatch, "new")
    blocker = tmp_path / "reports"
    blocker.write_text("not a folder")
    with pytest.raises(ReportError, match=r"writing .*reports/fake failed: .*previous report"):
        fake_publish(blocker)
    assert blocker.read_text() == "not a folder"


def test_fault10_unreadable_run_summary_is_listed_as_unreadable_in_the_index(fake_root: Path) -> None:
    (fake_root / "fake" / "2026-10-13.summary.json").write_text('{"truncated": ')
    index = write_index(fake_root).read_text()
    assert index.count("<tr>") == 5  # two headers, the latest run, and both runs in the history
    assert f'href="fake/{STEM}.html"' in index
    assert '<td class="unreadable">unreadable</td>' in index  # listed, not silently dropped
    assert "2026-10-13.summary.json cannot be read (Expecting value: line 1 column 15" in index
    assert "render this report again" in index


def test_fault11_index_rebuilds_are_serialised_by_a_lock(fake_root: Path) -> None:
    import threading

    with _locks.index_lock(fake_root):
        writer = threading.Thread(target=write_index, args=(fake_root,))
        writer.start()
        writer.join(0.5)
        assert writer.is_alive()  # waits for the lock instead of racing another run's rewrite
    writer.join(10)
    assert not writer.is_alive()


# --- DuckDB locks -----------------------------------------------------------------------------------------------


def test_fault12_writer_holds_database_connect_retries_then_names_the_process(
    tiny_db: Path, hold: Callable[..., subprocess.Popen[str]]
) -> None:
    holder = hold(tiny_db)
    started = time.monotonic()
    with pytest.raises(DatabaseLockedError) as e:
        abnb.connect(tiny_db, lock_timeout=1.0)
    elapsed = time.monotonic() - started
    assert elapsed >= sum(backoff_schedule(1.0)) == pytest.approx(1.0)
    assert backoff_schedule(1.0) == pytest.approx([0.1, 0.2, 0.4, 0.3])
    message = str(e.value)
    assert f"database {tiny_db} is locked for writing by python" in message
    assert f"holder.py (pid {holder.pid})" in message
    assert "tried 5 times over" in message
    assert "close that connection or wait for the process to finish" in message
    assert "ABNB_LOCK_TIMEOUT" in message


def test_fault13_lock_held_by_a_jupyter_kernel_is_named_with_the_fix(
    tiny_db: Path, hold: Callable[..., subprocess.Popen[str]]
) -> None:
    holder = hold(tiny_db, script="ipykernel_launcher.py", args=("-f", "/tmp/kernel-1.json"))
    with pytest.raises(DatabaseLockedError, match=rf"a Jupyter kernel \(ipykernel_launcher, pid {holder.pid}\)") as e:
        abnb.connect(tiny_db, lock_timeout=0)
    assert "restart or shut down that kernel" in str(e.value)
    assert "tried" not in str(e.value)  # lock_timeout=0: one attempt


def test_fault14_lock_held_by_abnb_data_generate_is_named(
    tiny_db: Path, hold: Callable[..., subprocess.Popen[str]]
) -> None:
    holder = hold(tiny_db, script="abnb", args=("data", "generate", "--users", "100"))
    assert process_kind(holder.pid) == f"abnb data generate (pid {holder.pid})"
    with pytest.raises(DatabaseLockedError, match=r"locked for writing by abnb data generate .*wait for the data gen"):
        abnb.connect(tiny_db)  # default: $ABNB_LOCK_TIMEOUT unset → 0


def test_fault15_readers_share_the_file_and_a_writer_is_told_about_the_reader(
    tiny_db: Path, hold: Callable[..., subprocess.Popen[str]]
) -> None:
    hold(tiny_db, mode="ro")
    with abnb.connect(tiny_db, lock_timeout=0) as con:  # a read-only notebook does not block a read-only report
        assert con.raw.execute("SELECT sum(x) FROM t").fetchone() == (45,)
    with pytest.raises(DatabaseLockedError, match=r"is open in python holder.py .*A writer needs the file to itself"):
        abnb.connect(tiny_db, read_only=False, lock_timeout=0)


def test_fault16_retry_succeeds_when_the_writer_finishes(
    tiny_db: Path, hold: Callable[..., subprocess.Popen[str]]
) -> None:
    hold(tiny_db, seconds=0.8)
    started = time.monotonic()
    with abnb.connect(tiny_db, lock_timeout=60) as con:
        assert con.raw.execute("SELECT count(*) FROM t").fetchone() == (10,)
    assert time.monotonic() - started >= 0.3  # it did wait for the writer


def test_fault17_lock_timeout_from_environment(
    tiny_db: Path, hold: Callable[..., subprocess.Popen[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    hold(tiny_db)
    monkeypatch.setenv("ABNB_LOCK_TIMEOUT", "0.5")
    started = time.monotonic()
    with pytest.raises(DatabaseLockedError, match=r"tried 4 times over"):
        abnb.connect(tiny_db)
    assert time.monotonic() - started >= 0.5
    monkeypatch.setenv("ABNB_LOCK_TIMEOUT", "soon")
    with pytest.raises(ParameterError, match=r"\$ABNB_LOCK_TIMEOUT must be a number of seconds ≥ 0, got 'soon'"):
        abnb.connect(tiny_db)
    with pytest.raises(ParameterError, match=r"lock_timeout must be a finite number of seconds ≥ 0, got -1"):
        abnb.connect(tiny_db, lock_timeout=-1)


def test_fault18_cli_report_and_run_name_the_lock_holder(
    sample_db: Path, tmp_path: Path, hold: Callable[..., subprocess.Popen[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    from click.testing import CliRunner

    from abnb.cli import main
    from abnb.experiment import iter_specs

    locked = tmp_path / "telemetry.duckdb"
    shutil.copyfile(sample_db, locked)
    holder = hold(locked, script="ipykernel_launcher.py")
    monkeypatch.setenv("ABNB_LOCK_TIMEOUT", "0.2")
    output = tmp_path / "reports"
    result = CliRunner().invoke(main, ["report", EXPERIMENT, "--database", str(locked), "--output-dir", str(output)])
    assert result.exit_code == 1
    assert "DatabaseLockedError: database" in result.output
    assert f"a Jupyter kernel (ipykernel_launcher, pid {holder.pid})" in result.output
    assert "Traceback" not in result.output
    active = sum(abnb.Experiment.from_toml(path).status == "active" for path in iter_specs())
    assert active >= 1
    result = CliRunner().invoke(main, ["run", "--database", str(locked), "--output-dir", str(output)])
    assert result.exit_code == active  # each active experiment refused with the same message
    assert result.output.count("DatabaseLockedError: database") == active
    assert not output.exists() or leftovers(output) == []


# --- corrupt files ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content",
    [pytest.param("truncated", id="first-100-bytes"), pytest.param("random", id="random-bytes")],
)
def test_fault19_truncated_or_random_database_file(sample_db: Path, tmp_path: Path, content: str) -> None:
    path = tmp_path / "broken.duckdb"
    path.write_bytes(sample_db.read_bytes()[:100] if content == "truncated" else os.urandom(64 * 1024))
    with pytest.raises(EngineError, match=r"is not a DuckDB database, or it is truncated or corrupt .*regenerate"):
        abnb.connect(path)


def test_fault20_database_cut_in_half_fails_on_read_with_the_fix(sample_db: Path, tmp_path: Path) -> None:
    path = tmp_path / "half.duckdb"
    data = sample_db.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    spec = abnb.load(EXPERIMENT)
    with pytest.raises(EngineError) as e, abnb.connect(path) as con:
        spec.analyze(con)
    assert f"database {path} could not be read" in str(e.value) or "is not a DuckDB database" in str(e.value)
    assert "truncated or corrupt" in str(e.value)
    assert "abnb data generate" in str(e.value)


def test_fault21_corrupt_incremental_store(sample_db: Path, tmp_path: Path) -> None:
    store = tmp_path / "store.duckdb"
    store.write_bytes(os.urandom(8192))
    with pytest.raises(EngineError, match=rf"incremental store {store}: it is not a DuckDB .*Delete the store"):
        incremental.analyze(abnb.load(EXPERIMENT), store, database=sample_db)


# --- the incremental store: another writer ----------------------------------------------------------------------


def test_fault22_store_held_by_another_process(
    sample_db: Path, tmp_path: Path, hold: Callable[..., subprocess.Popen[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    store = tmp_path / "store.duckdb"
    duckdb.connect(str(store)).close()
    holder = hold(store)
    monkeypatch.setenv("ABNB_LOCK_TIMEOUT", "0.3")
    with pytest.raises(DatabaseLockedError, match=rf"incremental store {store} is locked by python .*pid {holder.pid}"):
        incremental.analyze(abnb.load(EXPERIMENT), store, database=sample_db, as_of="2026-10-05")


CONCURRENT = textwrap.dedent(
    """
    import json, sys
    import abnb
    from abnb import incremental
    with incremental.Store(sys.argv[1]) as store:
        result = incremental.analyze(abnb.load("checkout_redesign"), store, database=sys.argv[2], as_of="2026-10-08")
        print(json.dumps({"mode": store.last_refresh.mode, "effects": result.summary()["effects"]}))
    """
)


def test_fault23_two_incremental_runs_on_one_store_take_turns(sample_db: Path, tmp_path: Path) -> None:
    store = tmp_path / "store.duckdb"
    script = tmp_path / "incremental_run.py"  # not concurrent.py: that would shadow the stdlib package
    script.write_text(CONCURRENT)
    env = {**os.environ, "ABNB_LOCK_TIMEOUT": "120"}
    runs = [
        subprocess.Popen(
            [sys.executable, str(script), str(store), str(sample_db)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for _ in range(2)
    ]
    outputs = [run.communicate(timeout=300) for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs
    spec = abnb.load(EXPERIMENT)
    with abnb.connect(sample_db) as con:
        expected = spec.analyze(con, as_of="2026-10-08").summary()["effects"]
    got = [json.loads(out) for out, _ in outputs]
    assert sorted(g["mode"] for g in got) == ["current", "full"]  # one built the store, the other found it current
    for run in got:
        for g, w in zip(run["effects"], expected, strict=True):
            assert g["estimate"] == pytest.approx(w["estimate"], rel=1e-9, abs=1e-12)
            assert g["pvalue"] == pytest.approx(w["pvalue"], rel=1e-6, abs=1e-300)
    with duckdb.connect(str(store), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM watermarks WHERE experiment = ?", [EXPERIMENT]).fetchone() == (1,)


KILLED_WRITER = textwrap.dedent(
    """
    import os, signal, sys
    import duckdb
    con = duckdb.connect(sys.argv[1])
    con.execute("SET wal_autocheckpoint = '1GB'")  # keep the committed rows in the WAL
    con.execute("INSERT INTO t SELECT range FROM range(100, 105)")  # committed
    con.execute("BEGIN")
    con.execute("INSERT INTO t SELECT range FROM range(1000, 2000)")  # never committed
    os.kill(os.getpid(), signal.SIGKILL)
    """
)


def test_fault24_writer_killed_mid_transaction_leaves_a_readable_database(tiny_db: Path, tmp_path: Path) -> None:
    script = tmp_path / "killed_writer.py"
    script.write_text(KILLED_WRITER)
    process = subprocess.run([sys.executable, str(script), str(tiny_db)], capture_output=True, text=True)
    assert process.returncode == -signal.SIGKILL, process.stderr
    assert tiny_db.with_name(tiny_db.name + ".wal").exists()  # committed, not checkpointed
    with abnb.connect(tiny_db) as con:  # read-only: DuckDB replays the WAL in memory
        assert con.raw.execute("SELECT count(*), sum(x) FROM t").fetchone() == (15, 45 + sum(range(100, 105)))
