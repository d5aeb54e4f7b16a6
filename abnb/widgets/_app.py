"""The teaching-app pattern: controls → a pure ``compute`` → a pure ``render`` → a chart and a verdict.

An :class:`App` keeps all logic outside ipywidgets: ``compute(**values)`` is a plain function of the control values
(tested with pytest, no browser), ``render(state)`` turns its result into an altair chart and a line of HTML.
The app shows them as inline SVG (vl-convert) and HTML, so nothing is loaded from a CDN in Lab, and it publishes a
static snapshot next to the live widget: a notebook executed unattended (papermill, nbclient, the test suite) or
exported to HTML keeps the last state as SVG and text, while JupyterLab shows the interactive widget.

An app with presets starts on one of them (the first unless ``initial_preset`` names another), and its preset
drop-down always names the preset the controls show, or "(custom)" once they differ from it. ``presenter=True``
lays the same app out for a projector: larger fonts in the controls, the verdict and the chart.
"""

from __future__ import annotations

import contextlib
import functools
import html
import math
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from numbers import Integral, Real
from typing import TYPE_CHECKING, Any

from abnb.errors import AbnbError, ParameterError
from abnb.widgets._charts import presenter_chart

if TYPE_CHECKING:
    import altair as alt
    import ipywidgets

    from abnb.stats import Effect

__all__ = [
    "CUSTOM",
    "PRESENTER_CONTROL_WIDTH",
    "PRESENTER_DESCRIPTION_WIDTH",
    "PRESENTER_FONT_SIZE",
    "App",
    "View",
    "check_controls",
    "dropdown",
    "effect_numbers",
    "float_slider",
    "int_slider",
    "int_text",
    "number_in",
    "pvalue_text",
    "whole_in",
]


CUSTOM = "(custom)"
"""The preset drop-down's entry for control values that are not a preset."""
PRESENTER_FONT_SIZE = 20
"""Font size in pixels of the controls and the verdict in presenter mode (JupyterLab's widgets use 13)."""
PRESENTER_DESCRIPTION_WIDTH = "180px"
"""Width of a control's description in presenter mode, so the larger labels are not cut off."""
PRESENTER_CONTROL_WIDTH = "560px"
"""Width of each control in presenter mode."""
_PRESENTER_CSS = (
    f".abnb-presenter {{ --jp-widgets-font-size: {PRESENTER_FONT_SIZE}px; --jp-widgets-inline-height: 40px; "
    f"--jp-widgets-slider-handle-size: 22px; font-size: {PRESENTER_FONT_SIZE}px; }}"
)


@dataclass(frozen=True)
class View:
    """What an app shows for one state: a chart (or ``None``) and a verdict as HTML."""

    chart: alt.TopLevelMixin | None
    verdict: str


def _interval(low: float, high: float, *, open_low: bool, open_high: bool) -> str:
    left = "(" if open_low or low == -math.inf else "["
    right = ")" if open_high or high == math.inf else "]"
    return f"{left}{low:g}, {high:g}{right}"


def number_in(
    name: str, value: object, low: float, high: float, *, open_low: bool = False, open_high: bool = False
) -> float:
    """A finite real number (not a bool) in ``[low, high]`` as a float, else a :class:`ParameterError`.

    Args:
        name: Parameter name for the message.
        value: The value to check.
        low: Smallest allowed value (excluded with ``open_low``).
        high: Largest allowed value (excluded with ``open_high``).
        open_low: Exclude ``low`` itself.
        open_high: Exclude ``high`` itself.

    Returns:
        ``float(value)``.

    Raises:
        ParameterError: Naming the parameter and the range, if ``value`` is not such a number.
    """
    interval = _interval(low, high, open_low=open_low, open_high=open_high)
    if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(float(value)):
        raise ParameterError(f"{name} must be a finite number in {interval}, got {value!r}.")
    number = float(value)
    if number < low or number > high or (open_low and number == low) or (open_high and number == high):
        raise ParameterError(f"{name} must lie in {interval}, got {value!r}.")
    return number


def whole_in(name: str, value: object, low: int, high: int | None = None) -> int:
    """A whole number (an integral, not a bool) in ``[low, high]`` (``>= low`` without ``high``) as an int.

    Raises:
        ParameterError: Naming the parameter and the range, if ``value`` is not such a number.
    """
    if (
        isinstance(value, bool)
        or not isinstance(value, Integral)
        or int(value) < low
        or (high is not None and int(value) > high)
    ):
        allowed = f">= {low}" if high is None else f"in [{low}, {high}]"
        raise ParameterError(f"{name} must be a whole number {allowed}, got {value!r}.")
    return int(value)


def check_controls(title: str, names: Iterable[str], controls: Iterable[str]) -> None:
    """Raise a :class:`ParameterError` naming the ``names`` that are not among ``controls``."""
    known = list(controls)
    unknown = sorted(set(names) - set(known))
    if unknown:
        raise ParameterError(f"{title}: no control {', '.join(unknown)}; controls: {', '.join(known)}.")


def float_slider(
    description: str, value: float, low: float, high: float, step: float, **options: Any
) -> ipywidgets.FloatSlider:
    """A slider of real numbers from ``low`` to ``high``; ``options`` are further traits (``readout_format``, …)."""
    import ipywidgets

    return ipywidgets.FloatSlider(value=value, min=low, max=high, step=step, description=description, **options)


def int_slider(
    description: str, value: int, low: int, high: int, step: int = 1, **options: Any
) -> ipywidgets.IntSlider:
    """A slider of whole numbers from ``low`` to ``high``; ``options`` are further traits (``continuous_update``, …)."""
    import ipywidgets

    return ipywidgets.IntSlider(value=value, min=low, max=high, step=step, description=description, **options)


def int_text(description: str, value: int, bounds: tuple[int, int] | None = None) -> ipywidgets.ValueWidget:
    """A box to type a whole number in, kept within ``bounds`` (``(low, high)``) when they are given."""
    import ipywidgets

    if bounds is None:
        return ipywidgets.IntText(value=value, description=description)
    low, high = bounds
    return ipywidgets.BoundedIntText(value=value, min=low, max=high, description=description)


def dropdown(description: str, options: Iterable[Any], value: Any) -> ipywidgets.Dropdown:
    """A drop-down of ``options`` (values, or ``(label, value)`` pairs) showing ``value``."""
    import ipywidgets

    return ipywidgets.Dropdown(options=list(options), value=value, description=description)


def effect_numbers(result: Effect | None) -> dict[str, float]:
    """A test's ``statistic``, ``df`` (NaN if none), ``pvalue``, ``ci_low`` and ``ci_high``; all NaN without a test."""
    if result is None:
        return dict.fromkeys(("statistic", "df", "pvalue", "ci_low", "ci_high"), math.nan)
    return {
        "statistic": result.statistic,
        "df": float(result.df or math.nan),
        "pvalue": result.pvalue,
        "ci_low": result.ci_low,
        "ci_high": result.ci_high,
    }


def pvalue_text(value: float) -> str:
    """A p-value as the apps print it: ``1.23e-05`` below 10⁻⁴, else four decimals; ``—`` when there is none."""
    if not math.isfinite(value):
        return "—"
    return f"{value:.2e}" if value < 1e-4 else f"{value:.4f}"


def svg(chart: alt.TopLevelMixin) -> str:
    """Render a chart to an SVG string with vl-convert (no JavaScript, no network)."""
    import vl_convert as vlc

    return str(vlc.vegalite_to_svg(chart.to_dict()))


@dataclass(frozen=True)
class Preview:
    """A case computed by :meth:`App.preview`: its state, its view, and a static chart with the verdict.

    Like an :class:`App` it displays the view its ``render`` built (HTML that escapes the data it shows), as a static
    snapshot: the title escaped, the SVG chart and the verdict as they are.
    """

    title: str
    state: Any
    view: View
    chart: str

    def snapshot(self) -> str:
        """The case as static HTML: the title, the inline SVG chart and the verdict."""
        return f"<div><b>{html.escape(self.title)}</b>{self.chart}<div>{self.view.verdict}</div></div>"

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display({"text/html": self.snapshot(), "text/plain": self.title}, raw=True)


@dataclass
class App:
    """A live teaching app.

    Args:
        title: Heading shown above the controls.
        controls: Named ipywidgets value widgets; their names are ``compute``'s keyword arguments.
        compute: Pure function of the control values returning a state object.
        render: Pure function of the state returning a :class:`View`.
        presets: Named sets of control values (a dropdown appears when given).
        initial: Starting control values by name, set before the first computation (a :class:`ParameterError`
            names unknown controls, as :meth:`set` does); they apply on top of ``initial_preset``.
        initial_preset: The preset the app starts on: its values go into the controls before ``initial`` and the
            drop-down shows its name (or "(custom)" if ``initial`` changes one of its values). ``None``: the first
            preset; ``"(custom)"``: none, the controls keep their own values.
        follow: Keeps controls in step with each other: called with the values a user (or :meth:`set`, or a
            preset) is about to give the controls, by name, and the last values the app accepted; returns further
            control values to set in the same recomputation (``{}`` for none). It may raise an
            :class:`AbnbError`, which is shown and rejected like a value ``compute`` refuses.
        presenter: Lay the app out for a projector: controls, drop-down and verdict at
            :data:`PRESENTER_FONT_SIZE` pixels with wider labels, and the chart's fonts enlarged by
            :func:`abnb.widgets._charts.presenter_chart`. The logic and the numbers are the same.
    """

    title: str
    controls: Mapping[str, ipywidgets.ValueWidget]
    compute: Callable[..., Any]
    render: Callable[[Any], View]
    presets: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    initial: Mapping[str, Any] = field(default_factory=dict)
    initial_preset: str | None = None
    follow: Callable[[Mapping[str, Any], Mapping[str, Any]], Mapping[str, Any]] | None = None
    presenter: bool = False
    state: Any = field(init=False, default=None)
    view: View | None = field(init=False, default=None)
    seconds: float = field(init=False, default=0.0)
    updates: int = field(init=False, default=0)
    _display_id: str | None = field(init=False, default=None)
    _chart_html: Any = field(init=False, default=None)
    _verdict_html: Any = field(init=False, default=None)
    _box: Any = field(init=False, default=None)
    _muted: bool = field(init=False, default=False)
    _error_html: Any = field(init=False, default=None)
    _accepted: dict[str, Any] | None = field(init=False, default=None)
    _error_text: str = field(init=False, default="")
    _chooser: Any = field(init=False, default=None)
    _selected: str = field(init=False, default=CUSTOM)

    def __post_init__(self) -> None:
        import ipywidgets

        start = self._starting_preset()
        check_controls(self.title, self.initial, self.controls)
        for name, value in {**self.presets.get(start, {}), **self.initial}.items():
            self.controls[name].value = value
        self._selected = start
        self._chart_html = ipywidgets.HTML()
        self._verdict_html = ipywidgets.HTML()
        self._error_html = ipywidgets.HTML()
        rows: list[Any] = [ipywidgets.HTML(f"<b>{html.escape(self.title)}</b>")]
        if self.presets:
            self._chooser = dropdown("preset", [CUSTOM, *self.presets], CUSTOM)
            self._chooser.observe(self._chosen, names="value")
            rows.append(self._chooser)
        rows += [ipywidgets.HBox(list(self.controls.values()), layout={"flex_flow": "row wrap"})]
        rows += [self._error_html, self._chart_html, self._verdict_html]
        self._box = ipywidgets.VBox(rows)
        if self.presenter:
            self._present(rows)
        for name, control in self.controls.items():
            control.observe(functools.partial(self._changed, name), names="value")
        self.update()

    def _starting_preset(self) -> str:
        """The preset to start on (``"(custom)"`` for none), checked against the presets."""
        for values in self.presets.values():
            check_controls(self.title, values, self.controls)
        if self.initial_preset is None:
            return next(iter(self.presets), CUSTOM)
        if self.initial_preset != CUSTOM and self.initial_preset not in self.presets:
            known = ", ".join(self.presets) or "none"
            raise ParameterError(f"{self.title}: no preset {self.initial_preset!r}; presets: {known}.")
        return self.initial_preset

    def _present(self, rows: list[Any]) -> None:
        """Presenter mode: larger fonts (a CSS rule on the box's class) and wider controls and descriptions."""
        import ipywidgets

        self._box.add_class("abnb-presenter")
        self._box.children = (ipywidgets.HTML(f"<style>{_PRESENTER_CSS}</style>"), *rows)
        chooser = [self._chooser] if self._chooser is not None else []
        for control in [*chooser, *self.controls.values()]:
            control.style.description_width = PRESENTER_DESCRIPTION_WIDTH
            control.layout.width = PRESENTER_CONTROL_WIDTH
        for text in (*rows[:1], self._error_html, self._verdict_html):
            text.style.font_size = f"{PRESENTER_FONT_SIZE}px"

    def _chosen(self, change: Mapping[str, Any]) -> None:
        """A preset picked in the drop-down (not one the app shows after a change of its own)."""
        if not self._muted:
            with contextlib.suppress(AbnbError):
                self.apply_preset(change["new"])

    def _changed(self, name: str, change: Mapping[str, Any]) -> None:
        if not self._muted:
            # a value typed into a control: update() shows the message and puts the controls back
            with contextlib.suppress(AbnbError):
                self._follow({name: change["new"]})
                self.update()

    def _follow(self, values: Mapping[str, Any]) -> None:
        """Set the further control values :attr:`follow` asks for, without recomputing."""
        if self.follow is None or self._accepted is None:
            return
        try:
            extra = dict(self.follow(values, self._accepted))
            check_controls(self.title, extra, self.controls)
        except AbnbError as error:
            self._reject(error)
            raise
        self._muted = True
        try:
            for name, value in extra.items():
                self.controls[name].value = value
        finally:
            self._muted = False

    @property
    def preset(self) -> str:
        """The preset the controls show, as the drop-down names it (``"(custom)"`` when they show none)."""
        return self._selected

    def _show_preset(self) -> None:
        """Keep the selected preset only while the controls still hold all its values, and show it in the drop-down."""
        values = self.values()
        chosen = self.presets.get(self._selected)
        if chosen is None or any(values[name] != value for name, value in chosen.items()):
            self._selected = CUSTOM
        if self._chooser is not None and self._chooser.value != self._selected:
            self._muted = True
            try:
                self._chooser.value = self._selected
            finally:
                self._muted = False

    @property
    def error(self) -> str:
        """The message of the last rejected value (``""`` when the last update succeeded)."""
        return str(self._error_text)

    def _reject(self, error: AbnbError) -> None:
        """Show why a value was rejected, and put the controls back to the values the view still shows."""
        self._error_text = str(error)
        restored = ""
        if self._accepted is not None:
            self._muted = True
            try:
                for name, value in self._accepted.items():
                    if self.controls[name].value != value:
                        self.controls[name].value = value
            finally:
                self._muted = False
            restored = " The controls are back at the last valid values, which the chart and table below show."
        self._show_preset()
        self._error_html.value = (
            "<p class='abnb-error' style='color:#b2182b'><b>Value rejected:</b> "
            f"{html.escape(str(error))}{html.escape(restored)}</p>"
        )
        self._publish()

    def values(self) -> dict[str, Any]:
        """The current control values by name."""
        return {name: control.value for name, control in self.controls.items()}

    def set(self, **values: Any) -> App:
        """Set several controls at once (one recomputation), as a user moving sliders would; returns the app.

        The preset drop-down keeps its preset while the controls still hold all of that preset's values, and shows
        "(custom)" otherwise.
        """
        check_controls(self.title, values, self.controls)
        self._muted = True
        try:
            for name, value in values.items():
                self.controls[name].value = value
        finally:
            self._muted = False
        self._follow(values)
        self.update()
        return self

    def apply_preset(self, name: str) -> App:
        """Set the controls to a named preset and show its name in the drop-down (``"(custom)"`` leaves them)."""
        if name == CUSTOM:
            self._selected = CUSTOM
            self._show_preset()
            return self
        if name not in self.presets:
            raise ParameterError(f"{self.title}: no preset {name!r}; presets: {', '.join(self.presets)}.")
        previous, self._selected = self._selected, name
        try:
            return self.set(**self.presets[name])
        except AbnbError:
            self._selected = previous
            self._show_preset()
            raise

    def preview(self, preset: str | None = None, **values: Any) -> Preview:
        """What the app would show for a preset and/or control values, computed without changing the app.

        A notebook's later cells use it to discuss other cases while the displayed app keeps the case the teacher
        presents (and the student plays with). The values are those of the controls, then the preset's, then
        ``values``, taken as given (:attr:`follow` does not adjust them).

        Raises:
            ParameterError: An unknown preset or control, or values ``compute`` rejects.
        """
        chosen = self.values()
        if preset is not None:
            if preset not in self.presets:
                raise ParameterError(f"{self.title}: no preset {preset!r}; presets: {', '.join(self.presets)}.")
            chosen.update(self.presets[preset])
        check_controls(self.title, values, self.controls)
        chosen.update(values)
        state, view, chart = self._drawn(chosen)
        return Preview(f"{self.title}: {preset}" if preset is not None else self.title, state, view, chart)

    def _drawn(self, values: Mapping[str, Any]) -> tuple[Any, View, str]:
        """The state of ``values``, its view (with the presenter's fonts when asked) and its chart as SVG."""
        state = self.compute(**values)
        view = self.render(state)
        if self.presenter and view.chart is not None:
            view = View(presenter_chart(view.chart), view.verdict)
        return state, view, svg(view.chart) if view.chart is not None else ""

    def update(self) -> View:
        """Recompute from the controls and refresh the chart, the verdict and the static snapshot.

        Raises:
            AbnbError: If ``compute`` rejects the control values (a :class:`ParameterError` names the control and
                its range; a ``DataError`` says the combination has no answer). The app then shows the message
                above the chart (escaped) and puts the controls back to the last accepted values, so what the
                controls say and what the view shows never disagree; a value typed into a control is handled the
                same way without the exception.
        """
        start = time.perf_counter()
        values = self.values()
        try:
            state, view, chart = self._drawn(values)
        except AbnbError as error:
            self._reject(error)
            raise
        self.state, self.view = state, view
        self._accepted = values
        self._error_text = ""
        self._error_html.value = ""
        self._chart_html.value = chart
        self._verdict_html.value = self.view.verdict
        self._show_preset()
        self.seconds = time.perf_counter() - start
        self.updates += 1
        self._publish()
        return self.view

    def _publish(self) -> None:
        if self._display_id is not None:
            from IPython.display import update_display

            update_display(self._bundle(), raw=True, display_id=self._display_id)

    def snapshot(self) -> str:
        """The current state as static HTML: inline SVG chart and the verdict (in larger type for a presenter)."""
        style = f" class='abnb-presenter' style='font-size:{PRESENTER_FONT_SIZE}px'" if self.presenter else ""
        return (
            f"<div{style}><b>{html.escape(self.title)}</b>{self._error_html.value}{self._chart_html.value}"
            f"<div>{self._verdict_html.value}</div></div>"
        )

    def _bundle(self) -> dict[str, Any]:
        bundle = dict(self._box._repr_mimebundle_())
        bundle["text/html"] = self.snapshot()
        bundle["text/plain"] = f"{self.title} (interactive in JupyterLab)"
        return bundle

    def _ipython_display_(self) -> None:
        from IPython.display import display

        self._display_id = self._display_id or uuid.uuid4().hex
        display(self._bundle(), raw=True, display_id=self._display_id)

    @property
    def widget(self) -> ipywidgets.VBox:
        """The ipywidgets box (controls, chart, verdict)."""
        box: ipywidgets.VBox = self._box
        return box
