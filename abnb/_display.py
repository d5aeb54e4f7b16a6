"""Display helpers shared by the flat result dataclasses of abnb (``to_dict``, ``to_frame``, ``_repr_html_``)."""

from __future__ import annotations

import html
from dataclasses import fields
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["FlatResult", "format_value", "html_table"]


def format_value(value: object) -> str:
    """A short text for a table cell: 4 significant digits for floats, an em dash for ``None``."""
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def html_table(rows: list[tuple[str, str]], css_class: str) -> str:
    """An HTML table of ``(name, value)`` rows, both escaped."""
    body = "".join(
        f"<tr><th style='text-align:left'>{html.escape(name)}</th><td>{html.escape(value)}</td></tr>"
        for name, value in rows
    )
    return f"<table class='{css_class}'>{body}</table>"


class FlatResult:
    """Mixin for frozen dataclasses with flat public fields (private ones start with ``_``)."""

    _html_class: ClassVar[str] = "abnb-result"
    _html_skips_tuples: ClassVar[bool] = False

    def to_dict(self) -> dict[str, Any]:
        """The public fields as a plain dictionary."""
        return {f.name: getattr(self, f.name) for f in fields(self) if not f.name.startswith("_")}  # type: ignore[arg-type]

    def to_frame(self) -> pd.DataFrame:
        """A one-row pandas DataFrame of the public fields."""
        import pandas as pd

        return pd.DataFrame([self.to_dict()])

    def _repr_html_(self) -> str:
        body = "".join(
            f"<tr><th style='text-align:left'>{html.escape(k)}</th><td>{html.escape(format_value(v))}</td></tr>"
            for k, v in self.to_dict().items()
            if not (self._html_skips_tuples and isinstance(v, tuple))
        )
        return f"<table class='{self._html_class}'>{body}</table>"
