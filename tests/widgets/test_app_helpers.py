"""The shared validators, control and chart builders, and the ``initial`` values of :class:`abnb.widgets.App`."""

from __future__ import annotations

import math

import numpy as np
import pytest

from abnb.errors import ParameterError
from abnb.widgets._app import App, View, int_text, number_in, whole_in
from abnb.widgets._charts import palette, reference_lines


def test_number_in_accepts_finite_reals_in_range() -> None:
    assert number_in("x", 1, 0.0, 1.0) == 1.0
    assert number_in("x", np.float64(0.5), 0.0, 1.0, open_low=True, open_high=True) == 0.5


@pytest.mark.parametrize(
    ("value", "kwargs"),
    [
        (True, {}),
        ("0.5", {}),
        (math.nan, {}),
        (math.inf, {}),
        (-0.1, {}),
        (0.0, {"open_low": True}),
        (1.0, {"open_high": True}),
    ],
)
def test_number_in_rejects(value: object, kwargs: dict[str, bool]) -> None:
    with pytest.raises(ParameterError, match=r"^x must .*\[?\(?0, 1"):
        number_in("x", value, 0.0, 1.0, **kwargs)


def test_whole_in() -> None:
    assert whole_in("n", np.int64(3), 2, 5) == 3
    assert whole_in("n", 10**12, 2) == 10**12
    for value in (True, 2.0, 2.5, 1, 6):
        with pytest.raises(ParameterError, match="n must be a whole number"):
            whole_in("n", value, 2, 5)


def test_initial_values_are_set_before_the_first_update() -> None:
    import ipywidgets as w

    seen: list[int] = []

    def compute(k: int) -> int:
        seen.append(k)
        return k

    app = App("t", {"k": w.IntSlider(value=1)}, compute, lambda k: View(None, str(k)), initial={"k": 7})
    assert seen == [7]
    assert app.updates == 1
    with pytest.raises(ParameterError, match="t: no control j; controls: k"):
        App("t", {"k": w.IntSlider(value=1)}, compute, lambda k: View(None, str(k)), initial={"j": 2})


def test_control_and_chart_builders() -> None:
    assert type(int_text("seed", 0)).__name__ == "IntText"
    bounded = int_text("n", 5, (2, 9))
    assert (type(bounded).__name__, bounded.min, bounded.max, bounded.value) == ("BoundedIntText", 2, 9, 5)
    color = palette("g:N", {"A": "#111111", "B": "#222222"}, title=None, orient="top").to_dict()
    assert color["scale"] == {"domain": ["A", "B"], "range": ["#111111", "#222222"]}
    assert color["legend"] == {"title": None, "orient": "top"}
    spec = reference_lines("alpha", [0.05], "y", strokeDash=[4, 3]).to_dict()
    assert spec["encoding"] == {"y": {"field": "alpha", "type": "quantitative"}}
    assert spec["mark"] == {"type": "rule", "strokeDash": [4, 3]}
