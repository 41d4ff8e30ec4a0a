"""The shared state of several instances in Redis, through redis-py's asyncio client.

Per feed, under one hash tag (so a Redis Cluster keeps a feed's keys on one node):

- ``epoch``: the history's id, created once (``SET NX``); it changes only when Redis
  lost the state;
- ``seq``: the last number given, and ``stream``: one entry per broadcast, id
  ``<seq>-0``, trimmed to about ``history`` entries — the history ``RESUME`` replays;
- ``seats``: a hash of seats per tour;
- ``leader``: the lease, ``<instance>:<term>`` with a time to live, and ``term``, the
  fencing counter, incremented at each new lease;
- ``event:<id>``: booking event ids already applied.

A commit is one Lua script: it checks the epoch and (for the simulation) that the
caller still holds the lease, applies the operation by the rules of ``ops.py`` to
the seats as they are in Redis, numbers the broadcasts and appends them, all at
once. No stale leader, concurrent writer or retried event can break those rules.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis

from tourpanel.protocol import Tour

from .ops import AddSeats, Draw, Op, Record, SetSeats, out_of_range, unknown_tour
from .sim import Sale

__all__ = ["EVENT_TTL", "EpochLost", "FeedState", "Fenced", "Lease", "RedisStreams"]

EVENT_TTL = 7 * 24 * 3600  # seconds a booking event id is remembered

_OPEN = """
-- KEYS: epoch, seq, seats, stream. ARGV: new epoch, entries wanted, then tour ids and
-- capacities. One snapshot: the seats and the newest entries as of the same seq.
if redis.call('SET', KEYS[1], ARGV[1], 'NX') then
  redis.call('DEL', KEYS[2], KEYS[3], KEYS[4])
end
for i = 3, #ARGV, 2 do redis.call('HSETNX', KEYS[3], ARGV[i], ARGV[i + 1]) end
return {redis.call('GET', KEYS[1]), redis.call('GET', KEYS[2]) or '0',
        redis.call('HGETALL', KEYS[3]),
        redis.call('XREVRANGE', KEYS[4], '+', '-', 'COUNT', ARGV[2])}
"""

_COMMIT = """
-- KEYS: epoch, seq, seats, stream, leader, event (or '').
-- ARGV: epoch, lease token (or ''), max length, stamp, event ttl, op, tour, number,
--       then tour ids and capacities, alternating.
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return {'epoch'} end
if ARGV[2] ~= '' and redis.call('GET', KEYS[5]) ~= ARGV[2] then return {'fenced'} end
if KEYS[6] ~= '' and redis.call('EXISTS', KEYS[6]) == 1 then return {'duplicate'} end
local op, tour, n = ARGV[6], ARGV[7], tonumber(ARGV[8])
local changes = {}
if op == 'draw' then
  changes = {{'', n, 0}}
else
  local caps, order = {}, {}
  for i = 9, #ARGV, 2 do
    caps[ARGV[i]] = tonumber(ARGV[i + 1]); order[#order + 1] = ARGV[i]
  end
  if caps[tour] == nil then return {'unknown_tour'} end
  local now = tonumber(redis.call('HGET', KEYS[3], tour))
  if op == 'sale' then
    local left = math.max(0, now - n)
    changes = {{tour, left, 0}}
    local sold_out = true
    for _, id in ipairs(order) do
      local seats = left
      if id ~= tour then seats = tonumber(redis.call('HGET', KEYS[3], id)) end
      if seats ~= 0 then sold_out = false end
    end
    if sold_out then
      for _, id in ipairs(order) do changes[#changes + 1] = {id, caps[id], 1} end
    end
  else
    local after = n
    if op == 'add' then after = now + n end
    if after < 0 or after > caps[tour] then
      return {'out_of_range', tostring(now), tostring(after), tostring(caps[tour])}
    end
    changes = {{tour, after, 0}}
  end
end
local seqs = {'ok'}
for _, c in ipairs(changes) do
  local seq = redis.call('INCR', KEYS[2])
  redis.call('XADD', KEYS[4], 'MAXLEN', '~', ARGV[3], seq .. '-0',
             't', c[1], 'v', c[2], 'r', c[3], 'ts', ARGV[4], 'e', ARGV[1])
  if c[1] ~= '' then redis.call('HSET', KEYS[3], c[1], c[2]) end
  seqs[#seqs + 1] = seq
end
if KEYS[6] ~= '' then redis.call('SET', KEYS[6], '1', 'EX', ARGV[5]) end
return seqs
"""

_BEAT = """
-- KEYS: leader, term, epoch, seq. ARGV: instance id, lease token (or ''), lease ms.
-- Renews the caller's lease or takes a free one; answers who leads and where the
-- history stands: {token or '', epoch or '', seq}.
local held = redis.call('GET', KEYS[1])
if held and held == ARGV[2] then
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
elseif not held then
  local term = redis.call('INCR', KEYS[2])
  held = ARGV[1] .. ':' .. term
  redis.call('SET', KEYS[1], held, 'PX', ARGV[3])
end
return {held, redis.call('GET', KEYS[3]) or '', redis.call('GET', KEYS[4]) or '0'}
"""

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class Fenced(Exception):
    """The lease passed to another instance: this one must not write as leader."""


class EpochLost(Exception):
    """Redis no longer holds this history (it was wiped or replaced)."""


@dataclass(frozen=True, slots=True)
class FeedState:
    """A feed's shared state as read from Redis."""

    epoch: str
    last_seq: int
    seats: dict[str, int]
    entries: list[Record]


@dataclass(frozen=True, slots=True)
class Lease:
    """The answer to a heartbeat: who leads (``token``), and the history's position."""

    token: str
    epoch: str
    last_seq: int


def _record(entry_id: str, fields: Mapping[str, str]) -> Record:
    topic = fields["t"]
    return Record(
        seq=int(entry_id.split("-", 1)[0]),
        topic=topic or None,
        value=int(fields["v"]),
        stamp=fields["ts"],
        reset=fields.get("r") == "1",
        epoch=fields.get("e", ""),
    )


def _op_args(op: Op) -> list[str | int]:
    if isinstance(op, Draw):
        return ["draw", "", op.value]
    if isinstance(op, Sale):
        return ["sale", op.tour_id, op.sold]
    if isinstance(op, SetSeats):
        return ["set", op.tour_id, op.seats]
    if isinstance(op, AddSeats):
        return ["add", op.tour_id, op.delta]
    raise TypeError(f"not an operation: {op!r}")


class RedisStreams:
    """One Redis (``url``) shared by every instance that names it with the same ``prefix``."""

    def __init__(self, url: str, *, prefix: str = "tourpanel", history: int = 1000) -> None:
        self.url = url
        self.prefix = prefix
        self.history = history
        self.redis = aioredis.Redis.from_url(
            url, decode_responses=True, socket_connect_timeout=2.0, socket_timeout=5.0
        )
        self._open = self.redis.register_script(_OPEN)
        self._commit = self.redis.register_script(_COMMIT)
        self._beat = self.redis.register_script(_BEAT)
        self._release = self.redis.register_script(_RELEASE)

    def key(self, feed: str, name: str) -> str:
        return f"{{{self.prefix}:{feed}}}:{name}"

    async def close(self) -> None:
        await self.redis.aclose()

    async def open(self, feed: str, tours: tuple[Tour, ...], epoch: str) -> FeedState:
        """The feed's state, created with ``epoch`` and full tours if Redis has none."""
        k = self.key
        capacities = [str(x) for tour in tours for x in (tour.id, tour.capacity)]
        got, seq, seats, newest = await self._open(
            keys=[k(feed, "epoch"), k(feed, "seq"), k(feed, "seats"), k(feed, "stream")],
            args=[epoch, max(1, self.history), *capacities],
        )
        # A script returns each entry's fields as a flat list: name, value, name, value…
        entries = [_record(i, dict(zip(f[::2], f[1::2], strict=True))) for i, f in newest]
        entries.reverse()
        pairs = dict(zip(seats[::2], seats[1::2], strict=True))
        return FeedState(got, int(seq), {t: int(n) for t, n in pairs.items()}, entries)

    async def beat(self, feed: str, instance: str, token: str, lease_ms: int) -> Lease:
        """Renew ``token``'s lease, or take the lease if it is free."""
        k = self.key
        held, epoch, seq = await self._beat(
            keys=[k(feed, "leader"), k(feed, "term"), k(feed, "epoch"), k(feed, "seq")],
            args=[instance, token, lease_ms],
        )
        return Lease(held, epoch, int(seq))

    async def release(self, feed: str, token: str) -> None:
        await self._release(keys=[self.key(feed, "leader")], args=[token])

    async def commit(
        self,
        feed: str,
        op: Op,
        *,
        epoch: str,
        stamp: str,
        tours: tuple[Tour, ...],
        token: str = "",
        event_id: str | None = None,
    ) -> list[int] | None:
        """Apply ``op``; returns the new seqs, or ``None`` for an event already applied.

        Raises :class:`Rejected`, :class:`Fenced` (``token`` no longer leads) or
        :class:`EpochLost`.
        """
        k = self.key
        keys = [k(feed, n) for n in ("epoch", "seq", "seats", "stream", "leader")]
        keys.append("" if event_id is None else k(feed, f"event:{event_id}"))
        capacities = [x for tour in tours for x in (tour.id, tour.capacity)]
        args: list[Any] = [epoch, token, self.history, stamp, EVENT_TTL, *_op_args(op)]
        answer = await self._commit(keys=keys, args=[*args, *capacities])
        status, rest = answer[0], answer[1:]
        if status == "ok":
            return [int(seq) for seq in rest]
        if status == "duplicate":
            return None
        if status == "fenced":
            raise Fenced(f"the {feed} feed's lease is held by another instance")
        if status == "epoch":
            raise EpochLost(f"Redis no longer holds the {feed} feed's history {epoch}")
        tour_id = getattr(op, "tour_id", "")
        if status == "out_of_range":
            now, after, capacity = rest  # as Lua wrote them (1e+30 stays readable)
            raise out_of_range(tour_id, after=after, now=now, capacity=capacity)
        raise unknown_tour(tour_id, tours)

    async def read(
        self, positions: Mapping[str, int], *, block_ms: int, count: int = 1000
    ) -> dict[str, list[Record]]:
        """What the feeds' streams hold after ``positions`` (waiting up to ``block_ms``)."""
        streams: dict[Any, Any] = {
            self.key(feed, "stream"): f"{seq}-0" for feed, seq in positions.items()
        }
        by_key = {self.key(feed, "stream"): feed for feed in positions}
        answer: Any = await self.redis.xread(streams, count=count, block=block_ms)
        found: dict[str, list[Record]] = {}
        for key, items in answer or []:
            found[by_key[key]] = [_record(i, f) for i, f in items]
        return found
