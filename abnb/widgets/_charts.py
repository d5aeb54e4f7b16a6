"""Chart pieces the teaching apps share: a colour legend with fixed colours and reference lines at given values."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import altair as alt

__all__ = ["palette", "reference_lines"]


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
