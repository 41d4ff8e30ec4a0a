"""Markup that changes in place, with its stylesheets sent once.

An HTML pane sends all its properties again at each change, its stylesheets too,
and in a notebook with inline resources Panel 1.9.4 names its own stylesheets
there by their CDN address (only a pane *replaced* gets them inlined again,
holoviz/panel#8708): an offline notebook then tries to reach the internet at every
update of the status table or the tour cards (seen in JupyterLab). This component
sends only the new markup; its stylesheets go with it once, when it is shown.
"""

from __future__ import annotations

import param
from panel.custom import JSComponent

__all__ = ["LiveMarkup"]


class LiveMarkup(JSComponent):
    """A block of HTML (the views' own, escaped where it holds data) replaced in place."""

    html = param.String(default="", doc="The markup shown.")

    _esm = """
    export function render({ model }) {
      const root = document.createElement("div")
      const show = () => { root.innerHTML = model.html }
      show()
      model.on("html", show)
      return root
    }
    """
