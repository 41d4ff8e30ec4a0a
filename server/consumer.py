"""Booking events from RabbitMQ (aio-pika), applied to the tours and broadcast.

The consumer declares a durable topic exchange and a durable queue bound to it with
``#`` (every routing key), and the dead-letter queue. Every instance consumes from
the same queue, so each event is applied by one of them (competing consumers) and
reaches every instance's clients through the shared store.

An event is acknowledged only once it is stored: a crash before that leaves it in
the queue for another try (its ``eventId`` keeps a retry from applying it twice).
An event that can never apply goes to the dead-letter queue with the reason in
its headers, and the consumer carries on. While the store is unreachable, the
event waits (unacknowledged, in order) and is retried with backoff. The connection
is robust: it comes back, with its queue and consumer, when the broker restarts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import aio_pika
from aio_pika.abc import AbstractIncomingMessage, AbstractRobustConnection

from .errors import Unavailable
from .events import InvalidEvent, parse_event
from .ops import Rejected, SeatOp
from .redact import redact_url
from .settings import Settings

__all__ = ["REASON_HEADER", "Consumer"]

log = logging.getLogger("tourpanel.server")

REASON_HEADER = "x-tourpanel-reason"
ERROR_HEADER = "x-tourpanel-error"
PREFETCH = 16
RETRY = (0.2, 0.5, 1.0, 2.0, 5.0)
STOP_TIMEOUT = 10.0  # seconds the event being applied has to finish at shutdown

Apply = Callable[[SeatOp, "str | None"], Awaitable[bool]]


class Consumer:
    """Consumes ``settings.amqp_queue`` and hands each valid event to ``apply``.

    ``apply(op, event_id)`` stores and broadcasts it (``False``: already applied) and
    raises :class:`~tourpanel.server.ops.Rejected` for an event that cannot apply.
    """

    def __init__(self, settings: Settings, *, apply: Apply) -> None:
        assert settings.amqp, "no broker URL"
        self.url = settings.amqp
        self.exchange = settings.amqp_exchange
        self.queue = settings.amqp_queue
        self.dead_letter = settings.amqp_dead_letter
        self.apply = apply
        self.counts = {"consumed": 0, "applied": 0, "duplicates": 0, "deadLettered": 0}
        self.connected = False
        self._connection: AbstractRobustConnection | None = None
        self._channel: Any = None
        self._lock = asyncio.Lock()  # one event at a time, in the order they came
        self._stopping = False
        self._queue: Any = None
        self._tag: str | None = None

    async def start(self) -> None:
        """Connect and start consuming; raises with advice if the broker cannot be reached."""
        try:
            self._connection = await aio_pika.connect_robust(self.url, reconnect_interval=1.0)
        except (OSError, aio_pika.exceptions.AMQPError) as exc:
            raise Unavailable(
                f"cannot reach RabbitMQ at {redact_url(self.url)} ({exc}); start it, or "
                "check --amqp"
            ) from exc
        self._connection.close_callbacks.add(self._on_close)
        self._connection.reconnect_callbacks.add(self._on_reconnect)
        self._channel = await self._connection.channel()  # with publisher confirms
        await self._channel.set_qos(prefetch_count=PREFETCH)
        exchange = await self._channel.declare_exchange(
            self.exchange, aio_pika.ExchangeType.TOPIC, durable=True
        )
        queue = await self._channel.declare_queue(self.queue, durable=True)
        await self._channel.declare_queue(self.dead_letter, durable=True)
        await queue.bind(exchange, routing_key="#")
        self._queue = queue
        self._tag = await queue.consume(self._on_message)
        self.connected = True
        log.info(
            "consuming booking events from %s: exchange %s, queue %s (rejected ones to %s)",
            redact_url(self.url),
            self.exchange,
            self.queue,
            self.dead_letter,
        )

    async def stop(self) -> None:
        """Take no more events, let the one being applied finish, then disconnect.

        Events received but not yet applied stay unacknowledged: the broker gives
        them to another consumer once this connection closes.
        """
        self._stopping = True
        if self._queue is not None and self._tag is not None:
            with contextlib.suppress(Exception):  # the broker may be gone already
                await self._queue.cancel(self._tag)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(STOP_TIMEOUT):
                async with self._lock:
                    pass
        if self._connection is not None:
            await self._connection.close()
            self._connection = None
        self.connected = False

    def health(self) -> dict[str, Any]:
        return {
            "kind": "amqp",
            "url": redact_url(self.url),
            "connected": self.connected,
            "exchange": self.exchange,
            "queue": self.queue,
            "deadLetterQueue": self.dead_letter,
            **self.counts,
        }

    def _on_close(self, _connection: object, exc: BaseException | None = None) -> None:
        if self.connected and not self._stopping:
            log.warning(
                "RabbitMQ at %s went away (%s); reconnecting, events wait in the queue",
                redact_url(self.url),
                exc,
            )
        self.connected = False

    def _on_reconnect(self, _connection: object) -> None:
        self.connected = True
        log.info("RabbitMQ at %s is back; consuming again", redact_url(self.url))

    async def _on_message(self, message: AbstractIncomingMessage) -> None:
        async with self._lock:
            if self._stopping:
                return  # left unacknowledged: redelivered once this connection closes
            self.counts["consumed"] += 1
            try:
                event = parse_event(message.body, message_id=message.message_id)
            except InvalidEvent as exc:
                await self._reject(message, exc.reason, str(exc))
                return
            except Exception as exc:  # a bug of ours must not hold the queue up
                log.exception("could not read a booking event")
                await self._reject(message, "internal_error", f"could not be read: {exc!r}")
                return
            failures = 0
            while not self._stopping:
                try:
                    applied = await self.apply(event.op, event.event_id)
                except Rejected as exc:
                    await self._reject(message, exc.reason, str(exc))
                    return
                except Unavailable as exc:  # the store is unreachable: keep the event, retry
                    if failures == 0:
                        log.warning("booking event not stored yet (%s); retrying", exc)
                    await asyncio.sleep(RETRY[min(failures, len(RETRY) - 1)])
                    failures += 1
                    continue
                except Exception as exc:  # a bug of ours must not hold the queue up either
                    log.exception("could not apply a booking event")
                    await self._reject(message, "internal_error", f"could not apply: {exc!r}")
                    return
                self.counts["applied" if applied else "duplicates"] += 1
                await message.ack()
                return

    async def _reject(self, message: AbstractIncomingMessage, reason: str, why: str) -> None:
        """Move ``message`` to the dead-letter queue with ``reason``, then acknowledge it."""
        headers = dict(message.headers or {})
        headers.update(
            {REASON_HEADER: reason, ERROR_HEADER: why[:500], "x-routing-key": message.routing_key}
        )
        dead = aio_pika.Message(
            message.body,
            headers=headers,
            content_type=message.content_type,
            message_id=message.message_id,
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        )
        await self._channel.default_exchange.publish(dead, routing_key=self.dead_letter)
        await message.ack()  # only once the broker confirmed the dead letter
        self.counts["deadLettered"] += 1
        log.warning("booking event rejected to %s: %s (%s)", self.dead_letter, reason, why)
