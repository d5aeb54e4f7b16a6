"""Shared fixtures: a small sample database generated once per test worker."""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import abnb
from abnb.datasets.sample import generate

SMALL_USERS = 20_000
SEED = 7


@pytest.fixture(autouse=True)
def _project_environment() -> Iterator[None]:
    """Restore $ABNB_PROJECT and $ABNB_DATABASE after each test (`abnb --project` sets the first for its kernels)."""
    saved = {name: os.environ.get(name) for name in ("ABNB_PROJECT", "ABNB_DATABASE")}
    yield
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@pytest.fixture(scope="session")
def sample_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 20,000-user sample database (read it only; copy it to change it)."""
    path = tmp_path_factory.mktemp("db") / "telemetry.duckdb"
    generate(path, users=SMALL_USERS, seed=SEED, progress=False)
    return path


@pytest.fixture
def con(sample_db: Path) -> Iterator[abnb.Connection]:
    with abnb.connect(sample_db) as connection:
        yield connection


@pytest.fixture(scope="session")
def spec() -> abnb.Experiment:
    return abnb.load("checkout_redesign")


# Debian chromium as root, headless, on a machine whose only network is loopback.
CHROMIUM_FLAGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)


def debian_tool(names: tuple[str, ...], package: str) -> str:
    """Path of a program from a Debian package; skips with the reason outside CI when it is missing, fails in CI."""
    for name in names:
        path = shutil.which(name)
        if path is not None:
            return path
    if os.environ.get("CI"):
        pytest.fail(f"{names[0]} is missing in CI: .ci/run should have installed Debian's {package} package")
    pytest.skip(f"{names[0]} is not installed (apt-get install {package}); CI installs it")


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now (for a server a test starts)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="session")
def chromium() -> str:
    """Path of Debian's chromium (see :func:`debian_tool`)."""
    return debian_tool(("chromium", "chromium-browser"), "chromium")


@pytest.fixture(scope="session")
def promtool() -> str:
    """Path of promtool, from Debian's prometheus package (see :func:`debian_tool`)."""
    return debian_tool(("promtool",), "prometheus")


def _postgres_bin(program: str) -> Path:
    """A PostgreSQL server program (Debian keeps them in /usr/lib/postgresql/<major>/bin, off PATH)."""
    found = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{program}"), key=lambda p: int(p.parts[-3]))
    if found:
        return found[-1]
    return Path(debian_tool((program,), "postgresql"))


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """A throwaway PostgreSQL cluster on 127.0.0.1 (its own folder, port and socket), stopped at the end.

    ``initdb`` refuses root, so as root the cluster belongs to the ``postgres`` user (Debian's package makes it);
    Debian's own cluster, if any, is left alone. Yields ``postgresql://abnb@127.0.0.1:<port>`` (trust
    authentication on loopback: no password anywhere). The psycopg driver must be installed (the dev extra).
    """
    import subprocess

    pytest.importorskip("psycopg", reason="PostgreSQL tests need psycopg: pip install -e '.[dev]'")
    initdb, pg_ctl = _postgres_bin("initdb"), _postgres_bin("pg_ctl")
    # pytest's temporary folders are private to root; the server's user must reach its own folder
    folder = Path(tempfile.mkdtemp(prefix="abnb-postgres-"))
    data = folder / "data"
    as_owner: list[str] = []
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres")
        as_owner = ["runuser", "-u", "postgres", "--"]
    made = subprocess.run(
        [*as_owner, str(initdb), "-D", str(data), "-A", "trust", "-U", "abnb", "-E", "UTF8", "--no-sync"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if made.returncode != 0:
        shutil.rmtree(folder, ignore_errors=True)
        pytest.fail(f"initdb failed: {made.stdout}{made.stderr}")
    port = free_port()
    settings = f"-c listen_addresses=127.0.0.1 -p {port} -k {folder} -c fsync=off -c full_page_writes=off"
    log = folder / "server.log"
    started = subprocess.run(
        [*as_owner, str(pg_ctl), "-D", str(data), "-l", str(log), "-w", "-t", "60", "-o", settings, "start"],
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    if started.returncode != 0:
        tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
        shutil.rmtree(folder, ignore_errors=True)
        pytest.fail(f"the test PostgreSQL server did not start: {started.stdout}{started.stderr}{tail}")
    try:
        yield f"postgresql://abnb@127.0.0.1:{port}"
    finally:
        subprocess.run(
            [*as_owner, str(pg_ctl), "-D", str(data), "-m", "immediate", "-w", "stop"],
            capture_output=True,
            timeout=60,
            check=False,
        )
        shutil.rmtree(folder, ignore_errors=True)


def postgres_database(server: str, name: str, duckdb_file: Path | None = None) -> str:
    """A new database ``name`` on the test server, holding the tables of ``duckdb_file`` when given; its URL."""
    import psycopg
    from psycopg import sql

    from abnb.engine.postgres import copy_from_duckdb

    with psycopg.connect(f"{server}/postgres", autocommit=True) as admin:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = f"{server}/{name}"
    if duckdb_file is not None:
        copy_from_duckdb(duckdb_file, url)
    return url


@pytest.fixture(scope="session")
def postgres_sample(postgres_server: str, sample_db: Path) -> str:
    """The suite's 20,000-user sample copied into a database of the test server (psycopg COPY); its URL."""
    return postgres_database(postgres_server, "sample", sample_db)


def assert_same_results(
    expected: Any, actual: Any, path: str = "result", *, rel: float = 1e-9, floor: float = 1e-12
) -> None:
    """The same result from two engines: floats (and frames) to ``rel`` relative, ``floor`` absolute near 0.

    Dataclasses, dicts, lists and tuples are compared item by item (``path`` names the first difference); NaN equals
    NaN, an infinity equals itself, and anything else must be equal. A closure (an effect's interval function) is
    checked through the numbers it produced.
    """
    import dataclasses
    import math

    import pandas as pd

    if callable(expected) and not isinstance(expected, type):
        return
    if isinstance(expected, pd.DataFrame):
        pd.testing.assert_frame_equal(expected, actual, check_exact=False, rtol=rel, atol=floor, obj=path)
    elif isinstance(expected, float) or isinstance(actual, float):
        assert isinstance(actual, int | float), f"{path}: {actual!r} is not a number"
        if expected == actual or (math.isnan(expected) and math.isnan(actual)):
            return
        tolerance = max(rel * max(abs(expected), abs(actual)), floor)
        assert abs(expected - actual) <= tolerance, f"{path}: {expected!r} vs {actual!r}"
    elif dataclasses.is_dataclass(expected) and not isinstance(expected, type):
        assert type(actual) is type(expected), f"{path}: {type(actual).__name__} vs {type(expected).__name__}"
        for field in dataclasses.fields(expected):
            assert_same_results(
                getattr(expected, field.name), getattr(actual, field.name), f"{path}.{field.name}", rel=rel, floor=floor
            )
    elif isinstance(expected, dict):
        assert set(actual) == set(expected), f"{path}: keys {sorted(map(str, actual))} vs {sorted(map(str, expected))}"
        for key, value in expected.items():
            assert_same_results(value, actual[key], f"{path}[{key!r}]", rel=rel, floor=floor)
    elif isinstance(expected, list | tuple):
        assert len(actual) == len(expected), f"{path}: {len(actual)} items vs {len(expected)}"
        for i, (e, a) in enumerate(zip(expected, actual, strict=True)):
            assert_same_results(e, a, f"{path}[{i}]", rel=rel, floor=floor)
    else:
        assert actual == expected, f"{path}: {expected!r} vs {actual!r}"
