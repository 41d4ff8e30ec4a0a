"""Panel in notebooks without the internet.

``pn.extension(inline=True)`` embeds Bokeh's and Panel's JavaScript in the notebook,
and Panel (1.9.4 and later) inlines its own stylesheets there too, when a component
is first shown and again each time a pane's content changes (holoviz/panel#8708).
Nothing is fetched from a CDN, so the live views render in a classroom offline.
"""

from __future__ import annotations

from typing import Any

import panel as pn

__all__ = ["extension"]


def extension(*args: Any, **kwargs: Any) -> None:
    """``pn.extension(*args, inline=True, **kwargs)``: notebooks that work offline."""
    pn.extension(*args, inline=True, **kwargs)
