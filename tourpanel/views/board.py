"""The current random number and its history, changed in place in the browser.

They change at every flush (several times a second). As an HTML pane they cost a
full re-render each time: the markup sent again, parsed twice in the browser
(Panel decodes it through a new document, then sets it), and every element
rebuilt, restyled and repainted. This component builds its elements once; a
flush sends the new numbers and the page only changes the texts that differ.
"""

from __future__ import annotations

import param
from panel.custom import JSComponent

__all__ = ["NumberBoard"]


class NumberBoard(JSComponent):
    """The newest number large, with its time, over the list of the latest ones."""

    numbers = param.List(
        default=[],
        item_type=list,
        doc="[value, HH:MM:SS, server timestamp] of each number, newest first.",
    )
    label = param.String(default="Current number", doc="Title of the big number.")
    received_at = param.String(default="Received at", doc="Text before its time.")
    history_title = param.String(default="History", doc="Title of the list.")
    waiting = param.String(default="Waiting...", doc="Shown until the first number.")

    _esm = """
    const make = (tag, cls, parent, text) => {
      const el = document.createElement(tag)
      if (cls) el.className = cls
      if (text) el.textContent = text
      parent.append(el)
      return el
    }
    const put = (el, text) => { if (el.textContent !== text) el.textContent = text }

    export function render({ model }) {
      const root = document.createElement("div")
      const waiting = make("div", "tp-waiting", root, model.waiting)
      const box = make("div", "tp-number", root)
      make("div", "tp-number-label", box, model.label)
      const value = make("div", "tp-number-value", box)
      const time = make("div", "tp-number-time", box)
      const history = make("div", "tp-history", root)
      make("h4", null, history, model.history_title)
      const list = make("ol", null, history)
      const show = () => {
        const numbers = model.numbers
        waiting.style.display = numbers.length ? "none" : ""
        box.style.display = history.style.display = numbers.length ? "" : "none"
        if (numbers.length) {
          put(value, String(numbers[0][0]))
          put(time, `${model.received_at} ${numbers[0][1]}`)
        }
        while (list.children.length < numbers.length) {
          const item = make("li", null, list)
          make("span", "tp-history-value", item)
          make("span", "tp-history-time", item)
        }
        while (list.children.length > numbers.length) list.lastChild.remove()
        numbers.forEach(([v, t], i) => {
          const item = list.children[i]
          put(item.firstChild, String(v))
          put(item.lastChild, t)
        })
        // What benchmarks and tests read to see when a number arrived.
        box.dataset.timestamp = numbers.length ? numbers[0][2] : ""
      }
      show()
      model.on("numbers", show)  // one parameter: each update costs the server less
      return root
    }
    """
