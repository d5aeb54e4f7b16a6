"""Presets the apps start on, the preset drop-down following the controls, linked controls and presenter mode."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Mapping
from typing import Any

import pytest

import abnb.widgets.confidence as confidence
import abnb.widgets.conversion as conversion
import abnb.widgets.distributions as distributions
import abnb.widgets.error_model as error_model
import abnb.widgets.peeking as peeking
import abnb.widgets.power as power
import abnb.widgets.ttests as ttests
from abnb.errors import ParameterError
from abnb.widgets import App, View
from abnb.widgets._app import (
    CUSTOM,
    PRESENTER_CONTROL_WIDTH,
    PRESENTER_DESCRIPTION_WIDTH,
    PRESENTER_FONT_SIZE,
    float_slider,
)
from abnb.widgets._charts import PRESENTER_FONTS, presenter_chart


def _chooser(app: App) -> Any:
    (chooser,) = [w for w in app.widget.children if getattr(w, "description", None) == "preset"]
    return chooser


def _sum_app(**options: Any) -> App:
    import ipywidgets as w

    controls = {"a": w.IntSlider(value=0, max=100), "b": w.IntSlider(value=0, max=100)}
    presets = {"one": {"a": 1, "b": 1}, "two": {"a": 2, "b": 20}}
    return App("sum", controls, lambda a, b: a + b, lambda total: View(None, f"total {total}"), presets, **options)


def test_app_starts_on_the_first_preset_or_the_one_named() -> None:
    app = _sum_app()
    assert (app.preset, _chooser(app).value, app.values(), app.state) == ("one", "one", {"a": 1, "b": 1}, 2)
    app = _sum_app(initial_preset="two")
    assert (app.preset, _chooser(app).value, app.state) == ("two", "two", 22)
    app = _sum_app(initial_preset=CUSTOM)
    assert (app.preset, _chooser(app).value, app.state) == (CUSTOM, CUSTOM, 0)
    app = _sum_app(initial_preset="two", initial={"b": 5})  # initial goes on top: no longer the preset
    assert (app.preset, app.values()) == (CUSTOM, {"a": 2, "b": 5})
    with pytest.raises(ParameterError, match=r"sum: no preset 'three'; presets: one, two\."):
        _sum_app(initial_preset="three")


def test_a_preset_naming_no_control_is_refused() -> None:
    import ipywidgets as w

    with pytest.raises(ParameterError, match="t: no control c; controls: a"):
        App("t", {"a": w.IntSlider()}, lambda a: a, lambda a: View(None, ""), {"p": {"c": 1}})


def test_the_drop_down_names_the_preset_the_controls_show() -> None:
    app = _sum_app(initial_preset=CUSTOM)
    app.apply_preset("two")  # from code, as a notebook cell does
    assert (app.preset, _chooser(app).value, app.state) == ("two", "two", 22)
    app.set(a=2)  # still every value of "two"
    assert app.preset == "two"
    app.set(b=21)
    assert (app.preset, _chooser(app).value, app.state) == (CUSTOM, CUSTOM, 23)
    app.apply_preset("one")
    app.controls["a"].value = 7  # a user moving a slider
    assert (app.preset, _chooser(app).value, app.state) == (CUSTOM, CUSTOM, 8)
    _chooser(app).value = "two"  # a user picking a preset
    assert (app.preset, app.values(), app.state) == ("two", {"a": 2, "b": 20}, 22)
    assert app.updates == 7  # the initial one, then one per change: showing a name recomputes nothing


def test_follow_sets_linked_controls_in_the_same_update() -> None:
    calls: list[tuple[dict[str, Any], dict[str, Any]]] = []

    def keep_total(values: Mapping[str, Any], accepted: Mapping[str, Any]) -> dict[str, int]:
        calls.append((dict(values), dict(accepted)))
        if "a" in values and "b" not in values:
            b = accepted["a"] + accepted["b"] - values["a"]
            if b < 0:
                raise ParameterError(f"a = {values['a']} leaves no room for b")
            return {"b": b}
        return {}

    app = _sum_app(initial_preset="two", follow=keep_total)
    assert calls == []  # nothing to follow before the first update
    app.controls["a"].value = 5
    assert (app.values(), app.state, app.updates) == ({"a": 5, "b": 17}, 22, 2)
    app.set(a=10, b=1)  # both given: taken as they are
    assert app.values() == {"a": 10, "b": 1}
    app.apply_preset("one")
    assert app.values() == {"a": 1, "b": 1}
    app.controls["a"].value = 3  # would need b = -1: rejected, controls restored
    assert app.values() == {"a": 1, "b": 1}
    assert app.error == "a = 3 leaves no room for b"
    with pytest.raises(ParameterError, match="leaves no room"):
        app.set(a=4)
    assert (app.values(), app.state) == ({"a": 1, "b": 1}, 2)


FIRST_PRESETS: list[tuple[Callable[..., App], str]] = [
    (error_model.error_model_app, "1 error around 10"),
    (distributions.distributions_app, "time on site, 10 users"),
    (confidence.confidence_app, "normal, n=30, 500 samples"),
    (ttests.ttests_app, "machines vary a lot"),
    (power.power_app, "underpowered: n = 50"),
    (power.sample_size_app, "rare conversions: 1%, +10%"),
    (power.significance_app, "huge n, tiny effect (significant, negligible)"),
    (peeking.peeking_app, "one look (no peeking)"),
    (conversion.conversion_app, "published table (normal)"),
]


@pytest.mark.parametrize(("factory", "name"), FIRST_PRESETS, ids=[f.__name__ for f, _ in FIRST_PRESETS])
def test_each_app_starts_on_the_preset_its_notebook_discusses_first(factory: Callable[..., App], name: str) -> None:
    app = factory()
    assert app.preset == name
    assert _chooser(app).value == name
    values = app.values()
    assert {key: values[key] for key in app.presets[name]} == app.presets[name]


def test_first_presets_show_what_the_notebooks_say() -> None:
    assert "9 (50%), 11 (50%)" in error_model.error_model_app().view.verdict  # type: ignore[union-attr]
    assert power.power_app().state.n == 50
    rare = power.sample_size_app().state
    assert (rare.baseline, rare.mde) == (0.01, 0.10)
    assert peeking.peeking_app().state.days == 1
    assert power.significance_app().state.kind == "significant but negligible"


def test_presenter_chart_enlarges_fonts_and_keeps_the_chart_config() -> None:
    import altair as alt
    import pandas as pd

    chart = alt.Chart(pd.DataFrame({"x": [1.0]})).mark_point().encode(x="x:Q").configure_axis(grid=False)
    big = presenter_chart(chart).to_dict()["config"]
    assert big["axis"] == {"grid": False, "labelFontSize": 16, "titleFontSize": 18}
    assert big["title"] == {"fontSize": 20, "subtitleFontSize": 16}
    assert big["legend"] == {"labelFontSize": 16, "titleFontSize": 18}
    assert big["text"] == {"fontSize": 16}
    assert chart.to_dict()["config"]["axis"] == {"grid": False}  # the original is left as it was


@pytest.mark.parametrize(("factory", "name"), FIRST_PRESETS, ids=[f.__name__ for f, _ in FIRST_PRESETS])
def test_presenter_mode_of_every_app(factory: Callable[..., App], name: str) -> None:
    plain, shown = factory(), factory(presenter=True)
    assert shown.values() == plain.values()
    assert shown.view is not None
    assert plain.view is not None
    assert shown.view.verdict == plain.view.verdict  # same logic, same numbers
    assert shown.view.chart is not None
    config = shown.view.chart.to_dict()["config"]
    for section, sizes in PRESENTER_FONTS.items():
        assert {key: config[section][key] for key in sizes} == sizes
    assert "labelFontSize" not in plain.view.chart.to_dict().get("config", {}).get("axis", {})  # type: ignore[union-attr]
    sizes_in_svg = set(re.findall(r'font-size="(\d+)px"', shown.snapshot()))
    assert "16" in sizes_in_svg
    assert sizes_in_svg.isdisjoint({"10", "11"})  # no text left at Vega-Lite's small default sizes
    assert "abnb-presenter" in shown.widget._dom_classes
    assert "abnb-presenter" not in plain.widget._dom_classes
    for control in [_chooser(shown), *shown.controls.values()]:
        assert control.style.description_width == PRESENTER_DESCRIPTION_WIDTH
        assert control.layout.width == PRESENTER_CONTROL_WIDTH
    css = shown.widget.children[0].value
    assert f"--jp-widgets-font-size: {PRESENTER_FONT_SIZE}px" in css
    assert f"style='font-size:{PRESENTER_FONT_SIZE}px'" in shown.snapshot()


def test_presenter_mode_styles_the_text_and_keeps_chart_settings() -> None:
    app = distributions.distributions_app(presenter=True)
    texts = [w for w in app.widget.children if type(w).__name__ == "HTML"]
    sized = [w for w in texts if w.style.font_size == f"{PRESENTER_FONT_SIZE}px"]
    assert len(sized) == 3  # title, error line and verdict
    assert app.view is not None
    assert app.view.chart is not None
    assert app.view.chart.to_dict()["config"]["view"]["stroke"] is None  # the chart's own configure_view survives
    slider = float_slider("x", 1.0, 0.0, 2.0, 0.1)
    App("t", {"x": slider}, lambda x: x, lambda x: View(None, str(x)), presenter=True)
    assert (slider.style.description_width, slider.layout.width) == ("180px", "560px")


def test_preview_computes_a_case_without_moving_the_app() -> None:
    app = _sum_app()
    before = (app.values(), app.preset, app.updates, app.view)
    shown = app.preview("two")
    assert shown.state == 22
    assert shown.view.verdict == "total 22"
    assert app.preview("two", b=5).state == 7  # values on top of the preset
    assert app.preview(a=40).state == 41  # on top of the controls (preset "one": b = 1)
    assert (app.values(), app.preset, app.updates, app.view) == before
    assert shown.snapshot() == "<div><b>sum: two</b><div>total 22</div></div>"
    assert "<b>x &lt;i&gt;</b>" in dataclasses.replace(shown, title="x <i>").snapshot()
    with pytest.raises(ParameterError, match="no preset 'three'"):
        app.preview("three")
    with pytest.raises(ParameterError, match="c"):
        app.preview(c=1)


def test_a_teaching_notebook_case_previewed_equals_the_app_on_that_preset() -> None:
    shown = ttests.ttests_app().preview("identical machines")
    moved = ttests.ttests_app(initial_preset="identical machines")
    assert shown.view.verdict == moved.view.verdict
    assert shown.state.table.equals(moved.state.table)
