"""Files abnb writes carry a schema version; one written by a newer abnb is refused with the upgrade step."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from abnb.errors import ProjectError
from abnb.incremental import VERSION, Store
from abnb.project import SCHEMA_VERSION
from abnb.report import write_index


def test_a_new_store_is_stamped_and_a_newer_one_refused(tmp_path: Path) -> None:
    path = tmp_path / "store.duckdb"
    with Store(path):
        pass
    with duckdb.connect(str(path)) as raw:
        assert raw.execute(f"SELECT schema_version FROM {VERSION}").fetchall() == [(SCHEMA_VERSION,)]
        raw.execute(f"UPDATE {VERSION} SET schema_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(ProjectError, match=r"incremental store .* newer abnb.*pip install --upgrade abnb"):
        Store(path)


def test_the_index_lists_a_newer_summary_as_unreadable(tmp_path: Path) -> None:
    folder = tmp_path / "reports" / "exp"
    folder.mkdir(parents=True)
    current = {
        "schema_version": SCHEMA_VERSION,
        "experiment": "exp",
        "as_of": "2026-10-13",
        "decision": {"verdict": "ship"},
    }
    (folder / "2026-10-13.summary.json").write_text(json.dumps(current))
    newer = {**current, "schema_version": SCHEMA_VERSION + 1, "as_of": "2026-10-14"}
    (folder / "2026-10-14.summary.json").write_text(json.dumps(newer))
    page = write_index(tmp_path / "reports").read_text()
    assert "2026-10-14" in page
    assert "unreadable" in page
    assert "written by a newer abnb" in page
    assert '<td class="ship">ship</td>' in page  # the readable run is listed as it was
