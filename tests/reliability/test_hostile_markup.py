"""Markup from telemetry, specs and parameters never becomes markup on a page (issue 15, item 1).

Hostile cases S1 (a segment value ran script on the monitoring dashboard), S2 (arm names unescaped in the
experiment report's tables) and the OK cases O1–O4 of the reliability catalogue. Two layers:

* properties (hypothesis): for arbitrary text, every escaping helper of ``abnb._display``, ``abnb.report.note``,
  every styled table and every result object's ``_repr_html_`` produce the same elements and attributes as for a
  benign word, and the text comes back unchanged;
* one adversarial fixture: the sample database with markup in every string column a page shows, and a spec with
  markup in every free-text field, rendered once per report kind and opened in headless Chromium.
"""

from __future__ import annotations

import dataclasses
import datetime
import importlib
import inspect
import json
import pkgutil
import re
import shutil
import subprocess
import types
import typing
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, NamedTuple

import duckdb
import pandas as pd
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import abnb
from abnb._display import escape_html, escape_markdown, styled
from abnb.datasets import spec_path
from abnb.report import (
    RenderedReport,
    external_resources,
    note,
    render,
    render_canary,
    render_monitoring,
    styled_table,
    write_index,
)
from tests.conftest import CHROMIUM_FLAGS

# ------------------------------------------------------------------------------------------------------
# what a page is made of


class Shape(NamedTuple):
    """The elements of an HTML fragment (tag and attribute names, in order), its text and its attribute values."""

    tags: list[tuple[str, tuple[str, ...]]]
    texts: list[str]
    values: list[str]


class _ShapeParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.shape = Shape([], [], [])

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.shape.tags.append((tag, tuple(name for name, _ in attrs)))
        self.shape.values.extend(value or "" for _, value in attrs)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)

    def handle_data(self, data: str) -> None:
        self.shape.texts.append(data)

    def handle_comment(self, data: str) -> None:
        self.shape.tags.append(("!--", ()))

    def handle_decl(self, decl: str) -> None:
        self.shape.tags.append(("!decl", ()))

    def handle_pi(self, data: str) -> None:
        self.shape.tags.append(("?pi", ()))

    def unknown_decl(self, data: str) -> None:
        self.shape.tags.append(("!unknown", ()))


def shape(page: str) -> Shape:
    parser = _ShapeParser()
    parser.feed(page)
    parser.close()
    return parser.shape


def structure(page: str) -> list[tuple[str, tuple[str, ...]]]:
    """Tag and attribute names only: what markup in the data would change."""
    return shape(page).tags


BENIGN = "benign"
HOSTILE_SAMPLES = (
    '<img src=x onerror="document.body.dataset.xss=1">',
    "<script>alert(1)</script>",
    '"><svg onload=alert(4)>',
    "' onmouseover='alert(5)' x='",
    "<b>T</b><img src=y onerror=alert(3)>",
    "</td></tr></table><iframe src=//127.0.0.1:9/>",
    "[link](javascript:alert(1)) <http://127.0.0.1:9/> www.example.org",
    "**bold** _it_ `code` ~~s~~ ![i](x.png)",
    "# heading\n- item\n\n<div>block</div>",
    "&amp; &lt;b&gt; &#60;i&#62; \\<i>",
    "<!-- comment --> <![CDATA[x]]> <?pi?> <!DOCTYPE x>",
    "a | b\n--- | ---\nc | d",
    "$x$ $$y$$ \\(z\\)",
)
# any text a file or a database can hold (no lone surrogates: they cannot be written as UTF-8)
TEXT = st.one_of(
    st.sampled_from(HOSTILE_SAMPLES),
    st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40),
    st.text(alphabet=st.sampled_from("<>&\"'`*_[]()#!|~\\/=:;. \n\tab"), max_size=40),
)


def assert_inert(text: str, render_with: Callable[[str], str]) -> Shape:
    """``render_with(text)`` has the elements and attributes of ``render_with(BENIGN)``; returns its shape."""
    got = shape(render_with(text))
    assert got.tags == structure(render_with(BENIGN)), text
    return got


# ------------------------------------------------------------------------------------------------------
# properties of the escaping helpers


@given(TEXT)
def test_s1_s2_escape_html_keeps_markup_as_text_and_attribute_values(text: str) -> None:
    def page(value: str) -> str:
        escaped = escape_html(value)
        return f"<p title=\"{escaped}\" class='{escaped}'>{escaped}</p><p>end</p>"

    got = assert_inert(text, page)
    assert got.values == [text, text]
    assert "".join(got.texts) == text + "end"


def _markdown_page(markdown: str) -> str:
    """How nbconvert turns a ``text/markdown`` output into the report's HTML."""
    from nbconvert.filters.markdown_mistune import markdown2html_mistune

    return str(markdown2html_mistune(markdown))


@given(TEXT)
def test_s1_escape_markdown_and_note_keep_markup_as_text(text: str) -> None:
    def page(value: str) -> str:
        return _markdown_page(
            note("**Decision {verdict}** — {reason} ({n:,} units).", verdict=value, reason=value, n=1234).data
        )

    assume(text)  # "**Decision **" is not emphasis whatever the escaping
    got = assert_inert(text, page)
    if not any(unicodedata.category(c) == "Cc" and c not in "\t\n" for c in text):  # controls are not text
        assert "".join(got.texts) == f"Decision {text} — {text} (1,234 units).\n"
    assert "<" not in escape_markdown(text)


@given(TEXT)
def test_s2_styled_tables_escape_cells_labels_and_axis_names(text: str) -> None:
    assume(text not in ("value", BENIGN))

    def frame(value: str) -> pd.DataFrame:
        table = pd.DataFrame({value: [value, "plain"], "value": [1.5, None]}, index=pd.Index([value, "k"], name=value))
        table.columns.name = value
        return table

    def page(value: str) -> str:
        return str(styled(frame(value), {"value": "{:.2f}"}, na_rep="–", index=True).to_html())

    got = assert_inert(text, page)
    if text.strip():
        assert got.texts.count(text) >= 5  # column header, columns' name, index name, row label, cell
    hidden = shape(str(styled_table(frame(text), {"value": "{:.2f}"}).to_html()))
    assert hidden.tags == structure(str(styled_table(frame(BENIGN), {"value": "{:.2f}"}).to_html()))


# ------------------------------------------------------------------------------------------------------
# every result object's _repr_html_, its string fields set to arbitrary text


_SCALARS: tuple[tuple[Any, Any], ...] = (
    (bool, True),
    (int, 3),
    (float, 0.25),
    (datetime.datetime, datetime.datetime(2026, 10, 14, 12)),
    (datetime.date, datetime.date(2026, 10, 14)),
)


def _value_for(kind: Any, text: str) -> Any:
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin in (typing.Union, types.UnionType):
        return _value_for(next(a for a in args if a is not type(None)), text)
    if origin is not None:
        return _generic_value(kind, origin, args, text)
    if kind in (str, object, Any):
        return text
    if kind is Path:
        return Path(text)
    for scalar, value in _SCALARS:
        if kind is scalar:
            return value
    if dataclasses.is_dataclass(kind) and isinstance(kind, type):
        return _synthesise(kind, text)
    raise TypeError(f"no test value for {kind!r}")


def _generic_value(kind: Any, origin: Any, args: tuple[Any, ...], text: str) -> Any:
    if origin is typing.Literal:
        return args[0]
    if origin is Callable:
        return lambda level: (0.0, 1.0)
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return (_value_for(args[0], text), _value_for(args[0], text))
        return tuple(_value_for(a, text) for a in args)
    if origin in (list, Sequence):
        return [_value_for(args[0], text), _value_for(args[0], text)]
    if origin in (dict, Mapping):
        return {_value_for(args[0], text): _value_for(args[1], text)}
    raise TypeError(f"no test value for {kind!r}")


def _synthesise(cls: type, text: str) -> Any:
    """An instance of the dataclass ``cls`` with every string (also inside tuples and dicts) set to ``text``.

    Validation is bypassed on purpose: the display must be safe for whatever a result holds.
    """
    hints = typing.get_type_hints(cls)
    instance = object.__new__(cls)
    for field in dataclasses.fields(cls):
        object.__setattr__(instance, field.name, _value_for(hints[field.name], text))
    return instance


def _result_classes() -> list[type]:
    found = []
    for module_info in pkgutil.walk_packages(abnb.__path__, "abnb."):
        if ".notebooks" in module_info.name:
            continue
        module = importlib.import_module(module_info.name)
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if cls.__module__ == module.__name__ and hasattr(cls, "_repr_html_") and dataclasses.is_dataclass(cls):
                found.append(cls)
    return found


RESULT_CLASSES = [cls for cls in _result_classes() if cls.__name__ != "ExperimentResult"]  # see the S2 tests


def test_s2_every_result_class_is_covered() -> None:
    names = {cls.__name__ for cls in RESULT_CLASSES}
    assert {"Effect", "SrmResult", "BayesResult", "Validation", "ReleaseJump", "SrmByResult", "SampleSummary"} <= names
    assert len(RESULT_CLASSES) >= 30


@pytest.mark.parametrize("cls", RESULT_CLASSES, ids=lambda cls: f"{cls.__module__}.{cls.__name__}")
@given(text=TEXT)
def test_s2_repr_html_of_every_result_escapes_its_strings(cls: type, text: str) -> None:
    assume(text)  # an empty note or reason leaves its row out: another table, not markup
    got = assert_inert(text, lambda value: str(_synthesise(cls, value)._repr_html_()))
    assert not any(name.startswith("on") for _, names in got.tags for name in names)


# ------------------------------------------------------------------------------------------------------
# the adversarial fixture


def markup(word: str) -> str:
    """``word`` followed by markup that, if it became HTML, would set ``data-xss`` on the body or load a file."""
    return (
        f'{word}<img src=x onerror="document.body.dataset.xss=1"><script>document.body.dataset.xss=2</script>'
        f"<b>{word}</b><link rel=stylesheet href=//127.0.0.1:9/x.css>"
    )


INJECTED = re.compile(
    r"<(?:img|svg|script|iframe|link)\b[^>]*(?:onerror|onload|dataset\.xss|127\.0\.0\.1)|<script>document|<b>(?:control|treatment|v[123]|es|de|en|fr|US|web)</b>"
)
ESCAPED = "&lt;img src=x onerror="

# telemetry columns that reach a page: arms and segments of the experiment, model versions and segments of the
# monitoring and canary data, the release notes
HOSTILE_COLUMNS = (
    ("exposures", "arm"),
    ("exposures", "country"),
    ("exposures", "platform"),
    ("layer_exposures", "country"),
    ("layer_exposures", "platform"),
    ("predictions", "segment"),
    ("predictions", "model_version"),
    ("ops", "model_version"),
    ("releases", "model_version"),
    ("releases", "description"),
    ("shadow", "model_version"),
)


def hostile_spec(folder: Path) -> Path:
    """The sample experiment with markup in every free-text field: description, arms, control, metric descriptions.

    (``name`` is an identifier, validated as such, and metric names and segment columns are SQL identifiers.)
    """
    text = spec_path("checkout_redesign").read_text(encoding="utf-8")
    text = re.sub(
        r'^description = "(.*)"$', lambda m: "description = " + json.dumps(markup(m.group(1))), text, flags=re.M
    )
    text = text.replace(
        'arms = ["control", "treatment"]', "arms = " + json.dumps([markup("control"), markup("treatment")])
    )
    text = text.replace('control = "control"', "control = " + json.dumps(markup("control")))
    path = folder / "hostile.toml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def hostile_db(sample_db: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the 20,000-user sample with every shown string column rewritten to markup (values stay distinct)."""
    path = tmp_path_factory.mktemp("hostile") / "telemetry.duckdb"
    shutil.copyfile(sample_db, path)
    with duckdb.connect(str(path)) as connection:
        for table, column in HOSTILE_COLUMNS:
            for (value,) in connection.execute(f'SELECT DISTINCT "{column}" FROM "{table}"').fetchall():
                connection.execute(f'UPDATE "{table}" SET "{column}" = ? WHERE "{column}" = ?', [markup(value), value])
    return path


def test_s2_arm_markup_is_escaped_in_every_table_view(sample_db: Path, hostile_db: Path, tmp_path: Path) -> None:
    with abnb.connect(sample_db) as connection:
        benign = abnb.load("checkout_redesign").analyze(connection)
    with abnb.connect(hostile_db) as connection:
        hostile = abnb.load(hostile_spec(tmp_path)).analyze(connection)
    for view in ("effects", "cuped", "bayes", "sequential", "power"):
        page = str(hostile.table(view).to_html())
        assert not INJECTED.search(page), view
        assert structure(page) == structure(str(benign.table(view).to_html())), view
        assert markup("treatment") in shape(page).texts, view
    page = hostile._repr_html_()
    assert not INJECTED.search(page)
    assert structure(page) == structure(benign._repr_html_())
    srm = str(styled_table(hostile.srm.to_frame()).to_html())
    assert not INJECTED.search(srm)
    assert markup("control") in shape(srm).texts


class HostileReports(NamedTuple):
    report: RenderedReport
    monitoring: RenderedReport
    canary: RenderedReport
    index: Path


@pytest.fixture(scope="module")
def hostile_reports(hostile_db: Path, tmp_path_factory: pytest.TempPathFactory) -> HostileReports:
    """One render per report kind over the adversarial data, and the index of all three."""
    output = tmp_path_factory.mktemp("hostile_reports")
    report = render(hostile_spec(output.parent), database=hostile_db, output_dir=output)
    monitoring = render_monitoring(database=hostile_db, output_dir=output)
    canary = render_canary(database=hostile_db, output_dir=output)
    return HostileReports(report, monitoring, canary, write_index(output))


def dump_dom(chromium: str, page: Path) -> str:
    """The DOM after the page's scripts ran (``--dump-dom``), in a fresh profile."""
    return subprocess.run(
        [
            chromium,
            "--headless",
            *CHROMIUM_FLAGS,
            f"--user-data-dir={page.parent / '.chromium-profile'}",
            "--dump-dom",
            page.resolve().as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout


def assert_no_injection(page: str, *, escaped_at_least: int) -> None:
    assert not INJECTED.search(page), INJECTED.search(page)
    assert "data-xss" not in page
    for tag, names in shape(page).tags:
        assert not any(name.startswith("on") for name in names), tag
    assert page.count(ESCAPED) >= escaped_at_least


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.xdist_group("report")
def test_s1_segment_markup_is_escaped_in_monitoring(hostile_reports: HostileReports, chromium: str) -> None:
    page = hostile_reports.monitoring.html.read_text(encoding="utf-8")
    assert_no_injection(page, escaped_at_least=20)  # CUSUM and segment tables, release jumps, drift, the decision
    dom = dump_dom(chromium, hostile_reports.monitoring.html)
    assert_no_injection(dom, escaped_at_least=20)
    assert "Segment breakdown" in dom


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.xdist_group("report")
def test_s1_version_markup_is_escaped_in_canary(hostile_reports: HostileReports, chromium: str) -> None:
    page = hostile_reports.canary.html.read_text(encoding="utf-8")
    assert_no_injection(page, escaped_at_least=9)  # the notes of every ramp and switch, the judgement tables
    assert_no_injection(dump_dom(chromium, hostile_reports.canary.html), escaped_at_least=9)


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.xdist_group("report")
def test_s2_arm_markup_is_escaped_in_the_experiment_report(hostile_reports: HostileReports, chromium: str) -> None:
    page = hostile_reports.report.html.read_text(encoding="utf-8")
    assert_no_injection(page, escaped_at_least=20)  # effects, CUPED, Bayes, sequential, power, SRM, distributions
    dom = dump_dom(chromium, hostile_reports.report.html)
    assert_no_injection(dom, escaped_at_least=20)
    assert "Decision:" in dom


@pytest.mark.slow
@pytest.mark.xdist_group("report")
def test_o1_segment_values_reach_the_report_only_escaped(hostile_reports: HostileReports) -> None:
    page = hostile_reports.report.html.read_text(encoding="utf-8")
    assert page.count("data:image/svg+xml") >= 3  # the segment chart is an image: its labels cannot be markup
    texts = "".join(shape(page).texts)
    assert markup("treatment") in texts


@pytest.mark.slow
@pytest.mark.xdist_group("report")
def test_o2_description_markup_is_shown_as_text(hostile_reports: HostileReports) -> None:
    page = hostile_reports.report.html.read_text(encoding="utf-8")
    assert markup("One-page checkout instead of the three-step checkout.") in shape(page).texts
    assert "<iframe" not in page


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.xdist_group("report")
def test_o3_planted_summary_is_escaped_in_the_index(tmp_path: Path, chromium: str) -> None:
    folder = tmp_path / "javascript:alert(1)"
    folder.mkdir()
    (folder / "2026-10-14.summary.json").write_text(
        json.dumps(
            {
                "schema_version": abnb.project.SCHEMA_VERSION,
                "experiment": markup("<script>document.body.dataset.xss=3</script>"),
                "as_of": '"><img src=x onerror="document.body.dataset.xss=4">',
                "decision": {
                    "verdict": 'ship" onmouseover="document.body.dataset.xss=5',
                    "reason": markup("r"),
                    "stop": True,
                },
                "report": {"rendered_at": markup("t")},
            }
        ),
        encoding="utf-8",
    )
    index = write_index(tmp_path)
    page = index.read_text(encoding="utf-8")
    assert_no_injection(page, escaped_at_least=2)
    links = re.findall(r'href="([^"]*)"', page)
    assert links
    assert all(link.startswith("javascript%3Aalert") for link in links)  # a relative path, not a URL
    dom = dump_dom(chromium, index)
    assert_no_injection(dom, escaped_at_least=2)
    assert 'class="ship&quot;' in page


@pytest.mark.slow
@pytest.mark.xdist_group("report")
def test_o4_hostile_pages_load_nothing_from_the_network(hostile_reports: HostileReports) -> None:
    pages = [
        hostile_reports.report.html,
        hostile_reports.monitoring.html,
        hostile_reports.canary.html,
        hostile_reports.index,
    ]
    for path in pages:
        page = path.read_text(encoding="utf-8")
        assert external_resources(page) == [], path.name
        assert not any("127.0.0.1" in value for value in shape(page).values), path.name
        assert "<script src" not in page
