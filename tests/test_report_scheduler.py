"""Papermill as a scheduler runs it: misspelt parameters fail, the template is found by name, runs are recorded."""

from __future__ import annotations

import importlib.metadata
import json
import os
import subprocess
import sys
import zipfile
from html.parser import HTMLParser
from pathlib import Path

import nbformat
import pytest

import abnb
from abnb._parameters import unknown_names
from abnb.errors import AbnbError, ParameterError, SpecError
from abnb.experiment import Experiment
from abnb.monitor import validate_monitoring_parameters
from abnb.report import RenderedReport, render, render_monitoring, validate_parameters
from abnb.report.export import TEMPLATE_DIR
from abnb.rollout.canary import validate_canary_parameters

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("report")]
ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "abnb" / "notebooks"
HOSTILE = '</title><script>alert("pwn")</script><meta http-equiv="refresh" content="0;url=//evil.example">'
KNOWN_REPORT = "as_of, database, engine, experiment, parquet, project, spec_json, store, summary_path"
SHARED = "share/jupyter/nbconvert/templates/abnb_offline"


class _Head(HTMLParser):
    """A page's <title> text (in its head: charts' SVG have titles of their own), its <meta name=... content=...>
    pairs, and how many scripts and meta refreshes it has."""

    def __init__(self) -> None:
        super().__init__()
        self.title: list[str] = []
        self.meta: dict[str, str] = {}
        self.scripts = 0
        self.refreshes = 0
        self._in_title = False
        self._in_head = True

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        self._in_head = self._in_head and tag != "body"
        self._in_title = tag == "title" and self._in_head
        if tag == "meta" and values.get("name"):
            self.meta[str(values["name"])] = str(values.get("content"))
        self.scripts += tag == "script"
        self.refreshes += tag == "meta" and "http-equiv" in values

    def handle_endtag(self, tag: str) -> None:
        self._in_title = self._in_title and tag != "title"
        self._in_head = self._in_head and tag != "head"

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title.append(data)


def _head(page: str) -> _Head:
    parser = _Head()
    parser.feed(page)
    return parser


# --- unknown parameters -------------------------------------------------------------------------------------------


def test_a_misspelt_name_in_the_kernel_namespace_is_an_unknown_parameter() -> None:
    namespace = {"experiment": "checkout_redesign", "as_of": "", "asof": "2026-10-10"}
    with pytest.raises(ParameterError) as caught:
        validate_parameters(experiment="checkout_redesign", as_of="", namespace=namespace)
    message = str(caught.value)
    assert isinstance(caught.value, AbnbError)
    assert message.startswith(f"unknown report parameter(s) asof; known: {KNOWN_REPORT}. ")
    assert "papermill only warns" in message


def test_the_namespace_check_is_shared_by_every_report_kind() -> None:
    with pytest.raises(ParameterError, match=r"^unknown monitoring parameter\(s\) windw; known: as_of, database, "):
        validate_monitoring_parameters(window="1 day", namespace={"window": "1 day", "windw": "6 hours"})
    with pytest.raises(ParameterError, match=r"^unknown canary parameter\(s\) step_hour, stepz; known: as_of, "):
        validate_canary_parameters(steps="1,100", namespace={"step_hour": 12, "stepz": [1, 100]})
    with pytest.raises(ParameterError, match=r"namespace must be the notebook kernel's globals\(\), got str"):
        validate_parameters(experiment="checkout_redesign", namespace="globals()")


def test_what_a_kernel_defines_besides_parameters_is_not_refused() -> None:
    import math

    def helper() -> None: ...

    namespace = {
        "__name__": "__main__",
        "__annotations__": {"as_of": "str"},
        "_": None,
        "_i1": "x = 1",
        "In": ["", "as_of = ''", "validate(...)"],
        "Out": {},
        "get_ipython": helper,
        "exit": object(),
        "quit": object(),
        "open": open,
        "abnb": abnb,  # a module
        "pd": math,
        "display": helper,  # a function the canary notebook imports before validating
        "Experiment": Experiment,  # a class
        "as_of": "",
    }
    assert unknown_names(namespace, {"as_of"}) == []
    params = validate_parameters(experiment="checkout_redesign", as_of="", namespace=namespace)
    assert params.as_of is None
    assert unknown_names({**namespace, "asof": "2026-10-10", "n": 3, "flag": None}, {"as_of"}) == ["asof", "flag", "n"]


def test_a_rerun_in_a_live_kernel_is_not_checked() -> None:
    cell = "params = validate(namespace=globals())"
    later = {"summary": {"decision": "ship"}, "segments": ["device"]}  # names the notebook's later cells defined
    assert unknown_names({"In": ["", "as_of = ''", cell], **later}, {"as_of"}) == ["segments", "summary"]
    assert unknown_names({"In": ["", "as_of = ''", cell, "summary = ...", cell], **later}, {"as_of"}) == []


def _papermill(notebook: str, output: Path, *parameters: str) -> subprocess.CompletedProcess[str]:
    """``papermill <notebook> <output> -p ...`` as a scheduler runs it, from the checkout (its abnb.toml)."""
    return subprocess.run(
        [sys.executable, "-m", "papermill", str(NOTEBOOKS / f"{notebook}.ipynb"), str(output), *parameters],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
        check=False,
    )


def test_papermill_with_a_misspelt_parameter_fails_naming_it(tmp_path: Path) -> None:
    out = tmp_path / "out.ipynb"
    run = _papermill("experiment_report", out, "-p", "asof", "2026-10-10", "--no-progress-bar")
    assert run.returncode != 0
    assert "Passed unknown parameter: asof" in run.stderr  # papermill's own warning, which alone let it run
    assert f"ParameterError: unknown report parameter(s) asof; known: {KNOWN_REPORT}." in run.stderr
    executed = nbformat.read(out, as_version=4)
    failed = [c for c in executed.cells if c.cell_type == "code" and any(o.get("ename") for o in c.outputs)]
    assert len(failed) == 1
    assert "validate_parameters(" in failed[0].source  # the validation cell, before any data is read
    assert failed[0].outputs[-1]["ename"] == "ParameterError"


@pytest.mark.parametrize(
    ("notebook", "misspelt", "kind"),
    [("monitoring", "windw", "monitoring"), ("canary_release", "step_hour", "canary")],
)
def test_monitoring_and_canary_notebooks_refuse_a_misspelt_parameter(
    notebook: str, misspelt: str, kind: str, tmp_path: Path
) -> None:
    run = _papermill(notebook, tmp_path / "out.ipynb", "-r", misspelt, "6", "--no-progress-bar")
    assert run.returncode != 0
    assert f"ParameterError: unknown {kind} parameter(s) {misspelt}; known: as_of, database, " in run.stderr


# --- the published report: metadata, title, generator --------------------------------------------------------------


@pytest.fixture(scope="module")
def published(sample_db: Path, tmp_path_factory: pytest.TempPathFactory) -> RenderedReport:
    spec = abnb.load("checkout_redesign")
    hostile = Experiment.from_dict({**spec.to_dict(), "description": HOSTILE, "owner": HOSTILE})
    return render(hostile, database=sample_db, output_dir=tmp_path_factory.mktemp("reports"))


def test_published_notebook_records_the_kit_version_kind_and_parameters(
    published: RenderedReport, sample_db: Path
) -> None:
    notebook = nbformat.read(published.notebook, as_version=4)
    recorded = notebook.metadata["abnb"]
    assert recorded["version"] == abnb.__version__
    assert recorded["kind"] == "experiment"
    assert recorded["label"] == "2026-10-14"
    assert recorded["parameters"] == {
        "experiment": "checkout_redesign",
        "engine": "",
        "database": str(sample_db.resolve()),
        "parquet": "",
        "store": "",
        "project": str(ROOT),
        "as_of": "2026-10-15T00:00:00",  # the validated cutoff: through the 14th
    }
    assert notebook.metadata["title"] == "checkout_redesign — data through 2026-10-14"
    # papermill's record has what the kernel got, the spec's JSON and the staging summary path too
    assert set(notebook.metadata["papermill"]["parameters"]) == {*recorded["parameters"], "spec_json", "summary_path"}
    assert json.loads(notebook.metadata["papermill"]["parameters"]["spec_json"])["description"] == HOSTILE


def test_published_page_has_a_meaningful_title_and_names_its_generator(published: RenderedReport) -> None:
    page = published.html.read_text()
    head = _head(page)
    assert "".join(head.title) == "checkout_redesign — data through 2026-10-14"
    assert "<title>checkout_redesign — data through 2026-10-14</title>" in page
    assert head.meta["generator"] == f"abnb {abnb.__version__}"
    # the hostile description and owner are shown as text: no script, no refresh, nothing in the head
    assert head.scripts == 0
    assert head.refreshes == 0
    assert "<script>alert" not in page
    assert "&lt;/title&gt;&lt;script&gt;alert(" in page


def test_an_experiment_name_cannot_carry_markup() -> None:
    spec = abnb.load("checkout_redesign").to_dict()
    with pytest.raises(SpecError, match="experiment name"):
        Experiment.from_dict({**spec, "name": "x</title><script>"})


def test_the_template_escapes_a_hostile_title_and_version() -> None:
    from nbconvert import HTMLExporter

    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# Body")])
    notebook.metadata["title"] = HOSTILE
    notebook.metadata["abnb"] = {"version": '1.0"><script>alert(1)</script>'}
    exporter = HTMLExporter(template_name="abnb_offline", extra_template_basedirs=[str(TEMPLATE_DIR)])
    page, _ = exporter.from_notebook_node(notebook)
    head = _head(page)
    assert "".join(head.title) == HOSTILE  # the whole text, as text
    assert head.meta == {
        "viewport": "width=device-width, initial-scale=1.0",
        "generator": 'abnb 1.0"><script>alert(1)</script>',
    }
    assert (head.scripts, head.refreshes) == (0, 0)
    notebook.metadata.pop("abnb")  # a notebook abnb did not publish names no generator
    assert "generator" not in _head(exporter.from_notebook_node(notebook)[0]).meta


def test_monitoring_page_is_titled_by_its_data_day(sample_db: Path, tmp_path: Path) -> None:
    rendered = render_monitoring(database=sample_db, output_dir=tmp_path)
    day = rendered.html.stem
    assert "".join(_head(rendered.html.read_text()).title) == f"Model monitoring — data through {day}"
    recorded = nbformat.read(rendered.notebook, as_version=4).metadata["abnb"]
    assert (recorded["kind"], recorded["label"], recorded["version"]) == ("monitoring", day, abnb.__version__)
    assert recorded["parameters"]["window"] == ""  # abnb's default rules, on their 1-day window
    assert recorded["parameters"]["monitor_spec"] == ""


# --- the nbconvert template, found by name ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(folder), str(ROOT)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (built,) = folder.glob("abnb-*.whl")
    return built


def test_wheel_installs_the_template_where_jupyter_finds_it(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    data = f"abnb-{abnb.__version__}.data/data/{SHARED}"
    assert sorted(n for n in names if n.startswith(data)) == [f"{data}/conf.json", f"{data}/index.html.j2"]
    assert "abnb/templates/abnb_offline/index.html.j2" in names  # the package's own copy (abnb/report/export.py)


def test_nbconvert_finds_the_wheels_template_by_name(wheel: Path, tmp_path: Path) -> None:
    share = tmp_path / "prefix"
    with zipfile.ZipFile(wheel) as archive:
        for name in archive.namelist():
            if f"/data/{SHARED}/" in name:
                target = share / name.split("/data/", 1)[1]
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(archive.read(name))
    template = share / SHARED / "index.html.j2"  # marked, to see that this copy is the one found
    template.write_text(
        template.read_text().replace(
            "{%- block jupyter_widgets -%}{%- endblock",
            '{%- block jupyter_widgets -%}<meta name="found" content="wheel">{%- endblock',
        )
    )
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# Tiny")]), tmp_path / "tiny.ipynb")
    jupyter = Path(sys.executable).with_name("jupyter")
    subprocess.run(
        [str(jupyter), "nbconvert", "--log-level", "WARN", "--to", "html", "--template", "abnb_offline", "tiny.ipynb"],
        cwd=tmp_path,
        env={**os.environ, "JUPYTER_PATH": str(share / "share" / "jupyter")},
        check=True,
        capture_output=True,
        timeout=120,
    )
    head = _head((tmp_path / "tiny.html").read_text())
    assert head.meta["found"] == "wheel"
    assert head.scripts == 0  # offline: the lab template's require.js is not loaded
    assert "".join(head.title) == "tiny"


def test_the_dev_install_offers_the_template_by_name() -> None:
    """``make`` installs abnb editable; hatchling copies the shared data then (rerun make after a template edit)."""
    from nbconvert import HTMLExporter

    files = {str(f).replace("\\", "/") for f in importlib.metadata.distribution("abnb").files or []}
    assert any(f.endswith(f"{SHARED}/index.html.j2") for f in files), "reinstall abnb (make): pyproject changed"
    installed = Path(sys.prefix) / SHARED
    assert str(installed) in HTMLExporter(template_name="abnb_offline").template_paths
    assert (installed / "conf.json").read_text() == (TEMPLATE_DIR / "abnb_offline" / "conf.json").read_text()
