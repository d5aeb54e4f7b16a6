"""Display helpers shared by the flat result dataclasses of abnb (``to_dict``, ``to_frame``, ``_repr_html_``).

Every string that reaches an HTML page (a report, the index, a notebook output) may come from telemetry, a spec, a
flag file or a parameter, so it goes through one of the escaping helpers here: :func:`escape_html` for HTML built
by hand, :func:`escape_markdown` for text placed into Markdown, and :func:`styled` for tables (a pandas ``Styler``
does not escape cells, index labels or axis names by default).
"""

from __future__ import annotations

import html
import math
import re
import string
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import fields
from datetime import date
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    import pandas as pd
    from pandas.io.formats.style import Styler

__all__ = [
    "FlatResult",
    "MarkdownFormatter",
    "escape_html",
    "escape_markdown",
    "format_number",
    "format_percent",
    "format_pvalue",
    "format_value",
    "html_table",
    "json_fields",
    "json_ready",
    "styled",
]


def escape_html(value: object) -> str:
    """``str(value)`` with ``&``, ``<``, ``>``, ``"`` and ``'`` replaced by HTML character references.

    Safe in element text and in quoted attribute values; the one escaping function of abnb's HTML output.
    """
    return html.escape(str(value), quote=True)


# Every ASCII punctuation character can start Markdown syntax somewhere (emphasis, links, autolinks, HTML, headings,
# lists, tables, code); line breaks can start a new block. All of them become numeric character references, which
# Markdown renderers show as the literal character and never read as syntax (CommonMark §2.5, §6.2).
_MARKDOWN_SIGNIFICANT = re.compile("[" + re.escape(string.punctuation) + r"\r\n\t\v\f]")


def escape_markdown(value: object) -> str:
    """``str(value)`` made inert inside Markdown: no emphasis, link, autolink, raw HTML, heading or new block.

    Markdown passes raw HTML through (``IPython.display.Markdown``, nbconvert), so text from data must be escaped
    before it is placed into a Markdown string; the rendered page shows the original characters. Whitespace at
    either end is encoded too, so a value keeps a template's emphasis around it intact.
    """
    text = _MARKDOWN_SIGNIFICANT.sub(lambda m: f"&#{ord(m.group())};", str(value))
    # whitespace at either end would stop a template's ``**{field}**`` from being emphasis (CommonMark flanking)
    stripped = text.strip()
    if stripped == text:
        return text
    start = text.index(stripped) if stripped else len(text)
    head, tail = text[:start], text[start + len(stripped) :]
    return "".join(f"&#{ord(c)};" for c in head) + stripped + "".join(f"&#{ord(c)};" for c in tail)


class MarkdownFormatter(string.Formatter):
    """``str.format`` for Markdown templates: the template is Markdown, every replacement field is escaped.

    ``MarkdownFormatter().format("**{verdict}** — {reason}", verdict=..., reason=...)`` keeps the template's
    emphasis and escapes the values with :func:`escape_markdown` after their format spec is applied.
    """

    def format_field(self, value: Any, format_spec: str) -> str:
        return escape_markdown(format(value, format_spec))


def styled(
    frame: pd.DataFrame,
    formats: Mapping[Any, Any] | None = None,
    *,
    na_rep: str | None = None,
    index: bool = False,
) -> Styler:
    """A display table (pandas ``Styler``) of ``frame`` whose every cell, label and axis name is HTML-escaped.

    Args:
        frame: The table.
        formats: Format strings or callables per column (``Styler.format``); other columns use the default.
        na_rep: Shown for missing values.
        index: Whether to show the row labels.
    """
    shown = frame.copy(deep=False)
    shown.index = shown.index.set_names([None if n is None else escape_html(n) for n in shown.index.names])
    shown.columns = shown.columns.set_names([None if n is None else escape_html(n) for n in shown.columns.names])
    style = (
        shown.style.format(dict(formats or {}), na_rep=na_rep, escape="html")
        .format_index(escape="html", axis=0)
        .format_index(escape="html", axis=1)
    )
    from pandas.api.types import is_bool_dtype, is_numeric_dtype

    text: list[Hashable] = [c for c in frame.columns if not (is_numeric_dtype(frame[c]) or is_bool_dtype(frame[c]))]
    if text:  # words read from the left, numbers line up on the right
        style = style.set_properties(subset=text, **{"text-align": "left"})
    return style if index else style.hide(axis="index")


def format_value(value: object) -> str:
    """A short text for a table cell: 4 significant digits for floats, an em dash for ``None``."""
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def format_number(value: float, *, signed: bool = False, digits: int = 4) -> str:
    """A number for a reader: ``digits`` significant digits, thousands separated, no trailing float noise.

    ``99953.0`` → ``99,953``; ``8.4431`` → ``8.443``; ``0.0123456`` → ``0.01235``; NaN → ``–``; ±∞ → ``±∞``.
    """
    if math.isnan(value):
        return "–"
    if math.isinf(value):
        return "+∞" if value > 0 else "−∞"
    sign = "+" if signed and value > 0 else ""
    magnitude = abs(value)
    if magnitude >= 1000 or magnitude == 0:
        text = f"{value:,.0f}"
    elif magnitude >= 1:
        text = f"{value:,.{max(digits - 1 - math.floor(math.log10(magnitude)), 0)}f}"
    else:
        text = f"{value:.{digits}g}"
    return sign + text.replace("-", "−")


def format_pvalue(pvalue: float) -> str:
    """A p-value as a reader wants it: ``< 0.0001`` below that, else 2 significant digits (``0.031``, ``0.87``)."""
    if math.isnan(pvalue):
        return "–"
    if pvalue < 1e-4:
        return "< 0.0001"
    return f"{pvalue:.2g}" if pvalue < 0.1 else f"{pvalue:.2f}"


def format_percent(value: float, *, signed: bool = True) -> str:
    """A share as a percentage with 2 decimals (``+11.25%``; unsigned ``10.05%``), NaN as ``–``, ±∞ as ``±∞``."""
    if math.isnan(value):
        return "–"
    if math.isinf(value):
        return "+∞" if value > 0 else "−∞"
    return f"{value:+.2%}".replace("-", "−") if signed else f"{value:.2%}"


def json_ready(value: object) -> object:
    """``value`` as JSON holds it: a date or datetime in ISO 8601, a tuple as a list, a float NaN as ``None``."""
    if isinstance(value, date):  # a datetime is a date too
        return value.isoformat()
    if isinstance(value, tuple):
        return list(value)
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def json_fields(result: object, names: Iterable[str]) -> dict[str, Any]:
    """The attributes ``names`` of ``result``, by name and each :func:`json_ready` (a result's JSON headline)."""
    return {name: json_ready(getattr(result, name)) for name in names}


def html_table(rows: list[tuple[str, str]], css_class: str) -> str:
    """An HTML table of ``(name, value)`` rows, both escaped."""
    body = "".join(
        f"<tr><th style='text-align:left'>{escape_html(name)}</th><td>{escape_html(value)}</td></tr>"
        for name, value in rows
    )
    return f"<table class='{escape_html(css_class)}'>{body}</table>"


class FlatResult:
    """Mixin for frozen dataclasses with public fields (private ones start with ``_``).

    A public field may hold another ``FlatResult`` (a sub-result such as ``result.precision``): ``to_dict`` gives it
    as a nested dictionary, ``to_frame`` as the columns ``precision_estimate``, ``precision_ci_low``, ….
    """

    _html_class: ClassVar[str] = "abnb-result"
    _html_skips_tuples: ClassVar[bool] = False

    def _public_items(self) -> dict[str, Any]:
        """The public fields as they are (sub-results not converted)."""
        return {f.name: getattr(self, f.name) for f in fields(self) if not f.name.startswith("_")}  # type: ignore[arg-type]

    def to_dict(self) -> dict[str, Any]:
        """The public fields as a plain dictionary; each sub-result as a dictionary of its fields."""
        return {k: v.to_dict() if isinstance(v, FlatResult) else v for k, v in self._public_items().items()}

    def to_frame(self) -> pd.DataFrame:
        """A one-row pandas DataFrame of the public fields; a sub-result ``mae`` gives ``mae_estimate``, …."""
        import pandas as pd

        row: dict[str, Any] = {}
        for key, value in self._public_items().items():
            if isinstance(value, FlatResult):
                row.update({f"{key}_{k}": v for k, v in value.to_dict().items()})
            else:
                row[key] = value
        return pd.DataFrame([row])

    def _repr_html_(self) -> str:
        body = "".join(
            f"<tr><th style='text-align:left'>{escape_html(k)}</th><td>{escape_html(format_value(v))}</td></tr>"
            for k, v in self._public_items().items()
            if not (self._html_skips_tuples and isinstance(v, tuple))
        )
        return f"<table class='{self._html_class}'>{body}</table>"
