"""Panel in notebooks without the internet.

``pn.extension(inline=True)`` embeds Bokeh's and Panel's JavaScript in the notebook,
but Panel still links its own stylesheets (theme, loading spinner) from a CDN: when
a component is first shown, and again each time a pane's content changes. The hook
below swaps the first links for the files' contents, read from the installed Panel
package; :func:`serve_css_from_jupyter` points the later ones at the notebook server.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import panel as pn
from bokeh.model import Model
from bokeh.models import ImportedStyleSheet, InlineStyleSheet
from bokeh.models.ui import UIElement
from panel.io.resources import CDN_DIST, DIST_DIR
from panel.viewable import Viewable

__all__ = ["JUPYTER_DIST", "extension", "serve_css_from_jupyter"]

# Where Panel's Jupyter server extension (installed and enabled with Panel) serves
# its own files: local to the notebook server, never the internet.
JUPYTER_DIST = "/panel-preview/static/extensions/panel/"


def extension(*args: Any, **kwargs: Any) -> None:
    """``pn.extension(*args, inline=True, **kwargs)``, with Panel's stylesheets inlined too."""
    pn.extension(*args, inline=True, **kwargs)
    if _inline_cdn_stylesheets not in Viewable._preprocessing_hooks:
        Viewable._preprocessing_hooks.append(_inline_cdn_stylesheets)


@cache
def _css(url: str) -> str | None:
    path = DIST_DIR / url.split("?", 1)[0].removeprefix(CDN_DIST)
    return path.read_text(encoding="utf-8") if path.is_file() else None


def _inline_cdn_stylesheets(viewable: Viewable, root: Model) -> None:
    if pn.state.curdoc is not None and pn.state.curdoc.session_context is not None:
        return  # a Panel server serves these files itself
    for model in root.select({"type": UIElement}):
        assert isinstance(model, UIElement)
        sheets = model.stylesheets
        if not sheets:
            continue
        replaced = [_local(sheet) for sheet in sheets]
        if any(new is not old for new, old in zip(replaced, sheets, strict=True)):
            model.stylesheets = replaced


def _local(sheet: Any) -> Any:
    if isinstance(sheet, ImportedStyleSheet) and sheet.url.startswith(CDN_DIST):
        css = _css(sheet.url)
        if css is not None:
            return InlineStyleSheet(css=css)
    return sheet


def serve_css_from_jupyter(viewable: Viewable) -> None:
    """Resolve the stylesheets ``viewable`` re-sends on updates from the Jupyter server.

    Panel re-links its stylesheets whenever a pane's content changes, through the
    ``dist_url`` of the document the pane is shown in (the CDN when unset). Outside a
    Panel server, set it to where Panel's Jupyter server extension serves the files.
    """
    for model, _parent in list(viewable._models.values()):
        doc = model.document
        if doc is not None and doc.session_context is None:
            doc._template_variables.setdefault("dist_url", JUPYTER_DIST)
