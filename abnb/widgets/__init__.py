"""Interactive teaching apps (ipywidgets + altair): the logic of each is a plain function tested without a browser.

Each module holds one teaching notebook's app: pure ``compute`` functions, a pure ``render`` and an ``*_app()``
factory building an :class:`App`. The modules load lazily, so ``import abnb.widgets`` stays light.

| notebook | module | apps |
| --- | --- | --- |
| 01_error_model | ``error_model`` | ``error_model_app`` |
| 02_comparing_distributions | ``distributions`` | ``distributions_app`` |
| 03_confidence_intervals | ``confidence`` | ``confidence_app`` |
| 04_t_test | ``ttests`` | ``ttests_app`` |
| 05_significance_and_power | ``power`` | ``power_app``, ``sample_size_app``, ``significance_app`` |
| 06_peeking | ``peeking`` | ``peeking_app`` |
| 07_ab_conversion_table | ``conversion`` | ``conversion_app`` |

Besides the teaching apps, :data:`TOOLS` lists the apps that analyse a project's data: ``explore`` (module
``explorer``) explores an experiment's results. They take a spec, so they are not in :data:`APPS`, whose apps start
without arguments.
"""

from __future__ import annotations

from abnb._lazy import lazy_attributes
from abnb.widgets._app import App, View

APPS = {
    "error_model_app": "error_model",
    "distributions_app": "distributions",
    "confidence_app": "confidence",
    "ttests_app": "ttests",
    "power_app": "power",
    "sample_size_app": "power",
    "significance_app": "power",
    "peeking_app": "peeking",
    "conversion_app": "conversion",
}
TOOLS = {"explore": "explorer"}
_MODULES = {*APPS.values(), *TOOLS.values()}

__all__ = ["APPS", "TOOLS", "App", "View", *sorted(APPS), *sorted(TOOLS), *sorted(_MODULES)]


__getattr__ = lazy_attributes(
    "abnb.widgets", {k: f"abnb.widgets.{v}" for k, v in {**APPS, **TOOLS}.items()}, _MODULES, globals()
)
