"""Chart pieces the teaching apps share: fixed-colour legends, reference lines and the presenter's larger fonts."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

if TYPE_CHECKING:
    import altair as alt

_Chart = TypeVar("_Chart", bound="alt.TopLevelMixin")

__all__ = ["PRESENTER_FONTS", "palette", "presenter_chart", "reference_lines"]

PRESENTER_FONTS: dict[str, dict[str, int]] = {
    "axis": {"labelFontSize": 16, "titleFontSize": 18},
    "legend": {"labelFontSize": 16, "titleFontSize": 18},
    "header": {"labelFontSize": 16, "titleFontSize": 18},
    "title": {"fontSize": 20, "subtitleFontSize": 16},
    "text": {"fontSize": 16},
}
"""Font sizes (pixels) a chart gets for a projector, by altair config section; Vega-Lite's defaults are 10–13."""


def palette(field: str, colors: Mapping[str, str], **legend: Any) -> alt.Color:
    """Colour ``field`` with fixed ``colors`` (value → colour, in legend order); ``legend``: the legend's options."""
    import altair as alt

    return alt.Color(
        field, scale=alt.Scale(domain=list(colors), range=list(colors.values())), legend=alt.Legend(**legend)
    )


def reference_lines(field: str, values: list[float], channel: str = "x", **mark: Any) -> alt.Chart:
    """Reference lines at ``values`` of a one-column frame ``field``: vertical on ``x``, horizontal on ``y``."""
    import altair as alt
    import pandas as pd

    chart: alt.Chart = alt.Chart(pd.DataFrame({field: values})).mark_rule(**mark).encode(**{channel: f"{field}:Q"})
    return chart


def presenter_chart(chart: _Chart) -> _Chart:
    """A copy of a top-level ``chart`` with the font sizes of :data:`PRESENTER_FONTS`, keeping its other config.

    altair's ``configure_axis`` and its siblings replace a config section; this merges into it instead, so a
    chart's own settings (``configure_view(stroke=None)``, axis grids, …) survive.
    """
    import altair as alt

    copy = cast("alt.SchemaBase", chart).copy(deep=["config"])
    config = copy["config"] if copy["config"] is not alt.Undefined else alt.Config()
    for section, sizes in PRESENTER_FONTS.items():
        current = config[section]
        if current is alt.Undefined:
            current = {}
        settings = current.to_dict() if isinstance(current, alt.SchemaBase) else dict(current)
        config[section] = {**settings, **sizes}
    copy["config"] = config
    return cast("_Chart", copy)
