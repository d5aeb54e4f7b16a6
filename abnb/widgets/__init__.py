"""Interactive teaching apps (ipywidgets + altair): the logic of each is a plain function tested without a browser.

Each module holds one teaching notebook's app: a pure ``compute`` function, a pure ``render`` function and an
``*_app()`` factory building an :class:`~abnb.widgets._app.App`.
"""

from abnb.widgets._app import App, View

__all__ = ["App", "View"]
