"""The feeds' status table, changed in place in the browser.

Its rates and ages change once a second. As an HTML pane every change sent the
markup again and the browser rebuilt, restyled and repainted the whole table: about
6 ms a second in each tab. This component builds a row per feed once; an update
sends the new values and the page changes only the texts and attributes that differ.
"""

from __future__ import annotations

import param
from panel.custom import JSComponent

__all__ = ["StatusTable"]


class StatusTable(JSComponent):
    """One row per feed: its name, a state badge (the last error as tooltip), counters."""

    headers = param.List(default=[], item_type=str, doc="Column titles, one per column.")
    rows = param.List(
        default=[],
        item_type=dict,
        doc="Per feed, as text: feed, status, text (the badge's), error, rate, age, gaps, resyncs.",
    )

    _esm = """
    const COUNTERS = ["rate", "age", "gaps", "resyncs"]
    const make = (tag, parent) => parent.appendChild(document.createElement(tag))
    const put = (el, text) => { if (el.textContent !== text) el.textContent = text }
    const set = (el, key, value) => {
      if (el.getAttribute(key) !== value) el.setAttribute(key, value)
    }

    export function render({ model }) {
      const table = document.createElement("table")
      table.className = "tp-status"
      const head = make("tr", table)
      for (const title of model.headers) put(make("th", head), title)
      const show = () => {
        const rows = model.rows
        while (table.rows.length - 1 < rows.length) {
          const tr = make("tr", table)
          make("b", make("td", tr))
          make("span", make("td", tr))
          for (const _ of COUNTERS) make("td", tr)
        }
        while (table.rows.length - 1 > rows.length) table.lastChild.remove()
        rows.forEach((row, i) => {
          const tr = table.rows[i + 1]
          set(tr, "data-feed", row.feed)
          set(tr, "data-status", row.status)
          put(tr.cells[0].firstChild, row.feed)
          const badge = tr.cells[1].firstChild
          set(badge, "class", `tp-badge ${row.status}`)
          set(badge, "title", row.error)
          put(badge, row.text)
          COUNTERS.forEach((key, j) => put(tr.cells[j + 2], row[key]))
        })
      }
      show()
      model.on("rows", show)
      return table
    }
    """
