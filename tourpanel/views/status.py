"""The feeds' health at a glance: state, rate, message age, and every kind of loss.

It reads :class:`~tourpanel.stats.FeedStats` from any :class:`~tourpanel.stats.StatsSource`
(a listener is one) and, optionally, how many rows the page's own views missed. A feed
that refused the dashboard says why and what to do (:func:`refusal_text`); the
server's own words are the badge's tooltip.
"""

from __future__ import annotations

import html
import time
from collections.abc import Iterable
from typing import Any

import param

from ..labels import Labels
from ..stats import FeedStats, Refusal, Status
from ..summaries import RateMeter, message_age
from .base import FeedView, LiveView, html_pane
from .markup import LiveMarkup

__all__ = ["FeedStatus", "refusal_text"]


class FeedStatus(LiveView):
    """Per feed: state, messages per second, message age, gaps, resyncs, discarded, missed.

    *Discarded* counts what the listener received but did not keep; *missed* what
    left the buffer before this page's views read it (shown when ``views`` are given).
    """

    sources = param.Dict(
        default={},
        constant=True,
        doc="Feed name → its stats source (anything with stats() -> FeedStats, e.g. a listener).",
    )
    views = param.Dict(
        default={},
        constant=True,
        doc="Feed name → the FeedViews of this page that read its buffer: their missed rows.",
    )
    refresh_period = param.Number(
        default=1.0, bounds=(0, None), doc="Seconds between refreshes of rates and ages."
    )

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self._meters = {name: RateMeter() for name in self.sources}
        self._shown: tuple[Status, ...] = ()
        self._refreshed = float("-inf")
        self._pane = html_pane(self._render(time.time()), name="feed-status")

    def _update(self, now: float) -> int:
        # A change of state shows at once; rates and ages once per refresh period.
        states = tuple(source.stats().status for source in self.sources.values())
        if states != self._shown or self.beat.due(self._refreshed, now, self.refresh_period):
            self._shown, self._refreshed = states, now
            text = self._render(now)
            if text != self._pane.html:
                self._pane.html = text
        return 0

    def _render(self, now: float) -> str:
        text = self.labels
        columns = (
            ("", ""),
            ("", ""),
            (text.rate, text.rate_help),
            (text.age, text.age_help),
            (text.gaps, text.gaps_help),
            (text.resyncs, text.resyncs_help),
            (text.discarded, text.discarded_help),
            (text.missed, text.missed_help),
        )
        head = "".join(
            f'<th title="{html.escape(tip)}">{html.escape(h)}</th>' if tip else "<th></th>"
            for h, tip in columns
        )
        rows = [self._row(name, source.stats(), now) for name, source in self.sources.items()]
        return (
            f'<div class="tp-status-wrap"><table class="tp-status"><tr>{head}</tr>'
            f"{''.join(rows)}</table></div>"
        )

    def _row(self, name: str, stats: FeedStats, now: float) -> str:
        rate = self._meters[name].update(stats.messages)
        age = message_age(stats.last_timestamp, now)
        missed = _missed(self.views.get(name, ()))
        status = stats.status.value
        return (
            f'<tr data-feed="{html.escape(name)}" data-status="{status}">'
            f"<td><b>{html.escape(name)}</b></td>"
            f'<td><span class="tp-badge {status}" title="{html.escape(stats.last_error or "")}">'
            f"{html.escape(self._status_text(stats, now))}</span></td>"
            f"<td>{rate:.1f}</td>"
            # A clock a little behind the server's would show a negative age: it is fresh.
            f"<td>{'–' if age is None else f'{max(age, 0.0):.1f} s'}</td>"
            f"{_count(stats.gaps)}<td>{stats.resyncs}</td>"
            f"{_count(stats.discarded)}"
            f"{'<td>–</td>' if missed is None else _count(missed)}</tr>"
        )

    def _status_text(self, stats: FeedStats, now: float) -> str:
        seconds = f"{max(0.0, (stats.next_retry_at or now) - now):.0f}"
        if stats.status in (Status.REFUSED, Status.BUSY):
            if stats.refusal is not None:
                return refusal_text(self.labels, stats.refusal, seconds)
            text = self.labels.busy if stats.status is Status.BUSY else self.labels.refused
            return text.format(code="?", seconds=seconds)
        if stats.status is Status.RECONNECTING:
            return self.labels.reconnecting.format(seconds=seconds)
        if stats.status is Status.STALE:
            silent = now - stats.last_received if stats.last_received is not None else 0.0
            return self.labels.stale.format(seconds=f"{max(0.0, silent):.0f}")
        return str(getattr(self.labels, stats.status.value))

    def __panel__(self) -> LiveMarkup:
        return self._pane


def refusal_text(labels: Labels, refusal: Refusal, seconds: str) -> str:
    """What the status badge says about ``refusal``, the next try ``seconds`` away."""
    code, reason = refusal.code, refusal.reason
    if refusal.closed:
        return labels.closed_policy.format(reason=reason or code, seconds=seconds)
    if code == 401:
        if reason == "missing":
            return labels.token_missing.format(seconds=seconds)
        shown = reason.replace("_", " ") if reason else f"HTTP {code}"
        return labels.token_rejected.format(reason=shown, seconds=seconds)
    if code == 403 and reason in ("origin", "host"):
        text = labels.origin_refused if reason == "origin" else labels.host_refused
        return text.format(seconds=seconds)
    if code == 429:
        return labels.too_many.format(seconds=seconds)
    if code == 503:
        return labels.server_full.format(seconds=seconds)
    return labels.refused.format(code=code or "?", seconds=seconds)


def _missed(views: Iterable[FeedView]) -> int | None:
    """What the page missed of a feed: the most any of its views missed (they flush together)."""
    counts = [view.missed for view in views]
    return max(counts) if counts else None


def _count(value: int) -> str:
    """A loss counter's cell, highlighted once anything was lost."""
    return f'<td class="tp-lost">{value}</td>' if value else f"<td>{value}</td>"
