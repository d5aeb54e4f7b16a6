from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

import abnb
from abnb.errors import ParameterError, ReportError
from abnb.report import RenderedReport, external_resources, render, validate_parameters
from tests.conftest import CHROMIUM_FLAGS

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("report")]
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def rendered(sample_db: Path, tmp_path_factory: pytest.TempPathFactory) -> RenderedReport:
    return render("checkout_redesign", database=sample_db, output_dir=tmp_path_factory.mktemp("reports"))


def test_render_writes_notebook_html_and_summary(rendered: RenderedReport, sample_db: Path) -> None:
    assert [p.name for p in rendered] == ["2026-10-14.ipynb", "2026-10-14.html", "summary.json"]
    assert all(p.stat().st_size > 0 for p in rendered)
    summary = json.loads(rendered.summary.read_text())
    with abnb.connect(sample_db) as con:
        expected = abnb.load("checkout_redesign").analyze(con).summary()
    # DuckDB sums doubles in parallel, so the last bits may differ between two scans of the same data
    for got, want in zip(summary["effects"], expected["effects"], strict=True):
        for key, value in want.items():
            assert got[key] == (pytest.approx(value, rel=1e-9) if isinstance(value, float) else value), key
    assert summary["decision"] == expected["decision"]
    assert summary["report"]["html"] == "2026-10-14.html"
    assert (rendered.html.parent / "2026-10-14.summary.json").exists()
    index = (rendered.html.parent.parent / "index.html").read_text()
    assert 'href="checkout_redesign/2026-10-14.html"' in index
    assert not list(rendered.html.parent.glob(".staging-*"))


def test_html_is_offline_static_and_shows_no_code(rendered: RenderedReport) -> None:
    page = rendered.html.read_text()
    assert external_resources(page) == []
    assert "<script src" not in page
    assert page.count("data:image/svg+xml") >= 3  # effects, means per arm, segments: inline static SVG
    assert "import abnb" not in page
    assert "validate_parameters" not in page
    assert "Decision: ship" in page or "Decision: continue" in page


def test_html_shows_every_statistical_panel(rendered: RenderedReport) -> None:
    page = rendered.html.read_text()
    for text in (
        "Variance reduction (CUPED)",
        "variance removed",
        "P(beats control)",
        "Beta-Binomial posteriors",
        "may stop",
        "asymptotic confidence sequence",
        "holm correction",
        "pvalue_adjusted",
        "MDE (relative)",
        "non-inferior",
        "Effect over time",
        "cumulative relative effect by day",
        "Hodges–Lehmann",
        "P99 difference",
        "ratio metric, delta method",
    ):
        assert text in page, text


def test_external_resources_finds_every_kind_of_load() -> None:
    page = """
      <script src="https://example.org/require.js"></script>
      <link rel="stylesheet" href="//example.org/x.css">
      <style>@import url("https://example.org/font.css"); body { background: url(http://example.org/b.png) }</style>
      <img src='http://example.org/i.png'>
      <a href="https://example.org/docs">a link is not a load</a>
      <svg xmlns="http://www.w3.org/2000/svg"></svg>
      <script src="local.js"></script>"""
    assert len(external_resources(page)) == 5


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file() and not p.name.startswith(".")}


def test_failed_run_keeps_the_previous_report(rendered: RenderedReport, sample_db: Path, tmp_path: Path) -> None:
    import nbformat

    from abnb.errors import DatabaseNotFoundError
    from abnb.project import packaged_notebook

    output = tmp_path / "reports"
    shutil.copytree(rendered.html.parent.parent, output)
    before = _files(output / "checkout_redesign")
    # a missing database is refused by the validation, before any kernel starts
    with pytest.raises(DatabaseNotFoundError, match=r"missing\.duckdb does not exist"):
        render("checkout_redesign", database=tmp_path / "missing.duckdb", output_dir=output)
    assert _files(output / "checkout_redesign") == before
    assert not list((output / "checkout_redesign").glob(".failed-*.ipynb"))
    # a cell that fails in the kernel: a project whose own report notebook (it wins over abnb's) breaks at the end
    project = tmp_path / "project"
    (project / "notebooks").mkdir(parents=True)
    (project / "abnb.toml").write_text(f'[engine]\ndatabase = "{sample_db}"\n')
    notebook = nbformat.read(packaged_notebook("experiment_report"), as_version=4)
    notebook.cells.append(nbformat.v4.new_code_cell("raise RuntimeError('broken on purpose')"))
    nbformat.write(notebook, project / "notebooks" / "experiment_report.ipynb")
    with pytest.raises(ReportError, match=r"cell \d+ failed with RuntimeError: broken on purpose.*previous report"):
        render(abnb.datasets.experiment("checkout_redesign"), output_dir=output, project=project)
    assert _files(output / "checkout_redesign") == before
    assert not list((output / "checkout_redesign").glob(".staging-*"))
    failed = list((output / "checkout_redesign").glob(".failed-*.ipynb"))
    assert len(failed) == 1


def test_papermill_type_trap_is_caught_in_the_notebook(tmp_path: Path) -> None:
    import papermill
    from papermill.exceptions import PapermillExecutionError

    notebook = ROOT / "abnb" / "notebooks" / "experiment_report.ipynb"
    with pytest.raises(PapermillExecutionError) as caught:
        papermill.execute_notebook(
            str(notebook),
            str(tmp_path / "out.ipynb"),
            parameters={"experiment": 7, "as_of": "false"},
            progress_bar=False,
            kernel_name="python3",
        )
    assert caught.value.ename == "ParameterError"
    assert "experiment must be a string" in caught.value.evalue


@pytest.mark.parametrize(
    ("values", "pattern"),
    [
        ({"experiment": 7}, r"experiment must be a string, got int 7.*-r experiment"),
        ({"experiment": "x", "as_of": False}, r"as_of must be a string"),
        ({"experiment": "x", "as_of": "false"}, r"as_of must be an ISO date"),
        ({"experiment": ""}, r"experiment is empty"),
        ({"experiment": "x", "colour": "red"}, r"unknown report parameter\(s\) colour"),
        ({"experiment": "x", "engine": "local[1]", "store": "s.duckdb"}, r"store keeps per-unit aggregates in DuckDB"),
        (
            {"experiment": "x", "engine": "postgres"},
            r"engine 'postgres' is not 'duckdb', a Spark spec .* or a PostgreSQL URL",
        ),
    ],
)
def test_validate_parameters_refuses_bad_values(values: dict[str, object], pattern: str) -> None:
    with pytest.raises(ParameterError, match=pattern):
        validate_parameters(**values)


def test_validate_parameters_accepts_strings() -> None:
    params = validate_parameters(
        experiment="checkout_redesign", spec_json="", database="", as_of="2026-10-10", summary_path=""
    )
    assert params.database is None
    assert params.as_of == "2026-10-10"
    assert params.summary_path is None
    assert params.spec().name == "checkout_redesign"


@pytest.mark.browser
def test_report_in_headless_chromium_shows_the_charts(rendered: RenderedReport, chromium: str) -> None:
    flags = ["--headless", *CHROMIUM_FLAGS, "--hide-scrollbars", "--window-size=1100,1600"]
    url = rendered.html.resolve().as_uri()
    profile = rendered.html.parent / ".chromium-profile"
    dom = subprocess.run(
        [chromium, *flags, f"--user-data-dir={profile}", "--dump-dom", url],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    assert dom.count("data:image/svg+xml") >= 3
    assert "Decision:" in dom
    screenshot = ROOT / "reports" / "screenshots" / "experiment_report.png"
    screenshot.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [chromium, *flags, f"--user-data-dir={profile}", f"--screenshot={screenshot}", url],
        capture_output=True,
        timeout=120,
        check=True,
    )
    from PIL import Image

    with Image.open(screenshot) as image:
        assert image.size == (1100, 1600)
        colours = image.convert("RGB").getcolors(maxcolors=1_000_000) or []
    assert len(colours) > 50  # text, chart lines and the green decision bar: not a blank page
    assert any(g > 100 and r < 80 and b < 80 for _, (r, g, b) in colours)  # the "better" green of the charts


def test_index_is_a_dashboard_of_latest_runs_and_history(rendered: RenderedReport) -> None:
    index = (rendered.html.parent.parent / "index.html").read_text()
    assert "<h2>Latest</h2>" in index
    assert "<h2>Every run</h2>" in index
    summary = json.loads(rendered.summary.read_text())
    status = "stop" if summary["decision"]["stop"] else "keep running"
    assert f"<td>{status}</td>" in index
    assert external_resources(index) == []


def test_run_renders_every_active_experiment_with_the_right_decision(sample_db: Path, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from abnb.cli import main

    result = CliRunner().invoke(main, ["run", "--database", str(sample_db), "--output-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    verdicts = {
        name: json.loads((tmp_path / name / "summary.json").read_text())["decision"]
        for name in ("checkout_redesign", "infinite_scroll", "onboarding_email")
    }
    assert verdicts["infinite_scroll"]["verdict"] == "harm"  # planted: crash rate 0.010 -> 0.016 per user-day
    assert verdicts["onboarding_email"]["verdict"] == "invalid"  # planted: 6% of treatment exposures lost
    assert verdicts["checkout_redesign"]["verdict"] in {"ship", "continue"}  # +10% conversion; 20k users
    assert all(v["stop"] == (v["verdict"] != "continue") for v in verdicts.values())
    index = (tmp_path / "index.html").read_text()
    for name in verdicts:
        assert f'href="{name}/2026-10-14.html"' in index


def test_incremental_report_reads_the_store_and_matches_the_full_analysis(sample_db: Path, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from abnb.cli import main

    store = tmp_path / "store.duckdb"
    first = render("checkout_redesign", database=sample_db, output_dir=tmp_path / "r", as_of="2026-10-10", store=store)
    assert store.exists()
    with abnb.incremental.Store(store) as opened:
        assert opened.watermark("checkout_redesign")["as_of"].date().isoformat() == "2026-10-11"
    # the next day's run goes through the CLI with the default store next to the database ($ABNB_STORE)
    env = {"ABNB_STORE": str(store)}
    args = ["report", "checkout_redesign", "--database", str(sample_db), "--output-dir", str(tmp_path / "r")]
    result = CliRunner(env=env).invoke(main, [*args, "--as-of", "2026-10-11", "--incremental"])
    assert result.exit_code == 0, result.output
    summary = json.loads((first.html.parent / "2026-10-11.summary.json").read_text())
    with abnb.connect(sample_db) as con:
        expected = abnb.load("checkout_redesign").analyze(con, as_of="2026-10-11").summary()
    for got, want in zip(summary["effects"], expected["effects"], strict=True):
        for key, value in want.items():
            assert got[key] == (pytest.approx(value, rel=1e-9) if isinstance(value, float) else value), key
    with abnb.incremental.Store(store) as opened:
        assert opened.watermark("checkout_redesign")["as_of"].date().isoformat() == "2026-10-12"


def test_published_html_leaves_stderr_chatter_in_the_notebook(tmp_path: Path) -> None:
    import nbformat

    from abnb.report.publish import _export_html

    notebook = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("print('result')")
    cell.outputs = [
        nbformat.v4.new_output("stream", name="stdout", text="the effect is 42\n"),
        nbformat.v4.new_output("stream", name="stderr", text="Setting default log level to WARN\n"),
    ]
    notebook.cells.append(cell)
    path = tmp_path / "run.ipynb"
    nbformat.write(notebook, path)
    page = _export_html(path)
    assert "the effect is 42" in page
    assert "Setting default log level" not in page
    assert "Setting default log level" in path.read_text()  # the executed notebook keeps it for debugging
