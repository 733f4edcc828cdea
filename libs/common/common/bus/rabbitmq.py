"""RabbitMQ adapter of the bus port (aio-pika).

Topology, declared on `start()` for every queue `Q` of `topology.QUEUES`:

* one durable topic exchange; `Q` is a quorum queue bound to its routing keys;
* `Q.retry.<delay>ms`, one per distinct delay of Q's retry schedule: a quorum queue whose messages
  expire after that delay and are dead-lettered back to `Q` through the default exchange
  (named by the delay, so changing BUS_RETRY_DELAYS_MS declares new queues instead of
  clashing with the arguments of existing ones);
* `Q.dead`: the parking queue, read by operators (`dead_letters`, `dead_letter_count`) and
  given back to `Q` by `replay_dead_letters` (`python -m common.bus replay Q`).

A failed message is republished (with a publisher confirm) to the next retry queue and only
then acknowledged, so a crash in between duplicates the message but never loses it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any, TypeVar

import aio_pika
from aio_pika.abc import (
    AbstractChannel,
    AbstractExchange,
    AbstractIncomingMessage,
    AbstractQueue,
    AbstractRobustConnection,
)
from pydantic import ValidationError

from common import tracing
from common.bus.port import Handler, ParkedCounter, plan_after_failure, retry_schedules
from common.bus.topology import QUEUES, QueueSpec
from common.events import Envelope
from common.metrics import dead_lettered

log = logging.getLogger(__name__)

ATTEMPTS_HEADER = "videoflix-attempts"
"""How many times handlers have failed on this message so far."""
REASON_HEADER = "videoflix-dead-reason"
ROUTING_KEY_HEADER = "videoflix-routing-key"
"""The routing key the message was first published with (retries go via the default exchange)."""

T = TypeVar("T")

_QUORUM = {"x-queue-type": "quorum"}
_MAX_REASON = 2000


def retry_queue_name(queue: str, delay_ms: int) -> str:
    return f"{queue}.retry.{delay_ms}ms"


def dead_queue_name(queue: str) -> str:
    return f"{queue}.dead"


class RabbitMQBus:
    """The bus on a RabbitMQ broker; see the module docstring for the topology."""

    durable = True

    def __init__(
        self,
        url: str,
        *,
        exchange: str = "videoflix",
        retry_delays_ms: Sequence[int] = (1000, 5000, 30000),
        queue_retry_delays_ms: Mapping[str, Sequence[int]] | None = None,
        publish_timeout: float = 10.0,
        shutdown_timeout: float = 30.0,
    ) -> None:
        """`retry_delays_ms`: the schedule of every queue without one in `queue_retry_delays_ms`."""
        self._url = url
        self._exchange_name = exchange
        self._delays_ms = retry_schedules(retry_delays_ms, queue_retry_delays_ms)
        self.parked = ParkedCounter()
        self._publish_timeout = publish_timeout
        self._shutdown_timeout = shutdown_timeout
        self._connection: AbstractRobustConnection | None = None
        self._channel: AbstractChannel | None = None  # publisher confirms, shared by publishes
        self._exchange: AbstractExchange | None = None
        self._consumers: list[tuple[AbstractChannel, AbstractQueue, str]] = []
        self._inflight: set[asyncio.Task[Any]] = set()
        self._closing = False

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        if self._connection is not None:
            return
        self._closing = False
        connection = await aio_pika.connect_robust(self._url)
        try:
            # on_return_raises: with mandatory=True an unroutable message raises PublishError
            channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
            exchange = await channel.declare_exchange(
                self._exchange_name, aio_pika.ExchangeType.TOPIC, durable=True
            )
            for spec in QUEUES.values():
                await self._declare(channel, exchange, spec)
        except BaseException:
            await connection.close()
            raise
        self._connection, self._channel, self._exchange = connection, channel, exchange

    async def _declare(
        self, channel: AbstractChannel, exchange: AbstractExchange, spec: QueueSpec
    ) -> None:
        queue = await channel.declare_queue(spec.name, durable=True, arguments=dict(_QUORUM))
        for routing_key in spec.routing_keys:
            await queue.bind(exchange, routing_key)
        for delay in sorted(set(self._delays_ms(spec.name))):
            await channel.declare_queue(
                retry_queue_name(spec.name, delay),
                durable=True,
                arguments={
                    **_QUORUM,
                    "x-message-ttl": delay,
                    "x-dead-letter-exchange": "",
                    "x-dead-letter-routing-key": spec.name,
                    # at-least-once dead-lettering (needs reject-publish) so an expiring retry
                    # is not dropped if the main queue cannot take it at that moment
                    "x-dead-letter-strategy": "at-least-once",
                    "x-overflow": "reject-publish",
                },
            )
        await channel.declare_queue(
            dead_queue_name(spec.name), durable=True, arguments=dict(_QUORUM)
        )

    async def close(self) -> None:
        """Cancel the consumers, let the handlers in progress finish, then disconnect.

        Messages delivered to this client but not yet started are requeued; handlers still
        running after `shutdown_timeout` are cancelled and their messages requeued by the broker.
        """
        connection = self._connection
        if connection is None:
            return
        self._closing = True
        for _channel, queue, tag in self._consumers:
            with contextlib.suppress(Exception):
                await queue.cancel(tag)
        self._consumers.clear()
        if self._inflight:
            _done, pending = await asyncio.wait(set(self._inflight), timeout=self._shutdown_timeout)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending)
        self._connection = self._channel = self._exchange = None
        await connection.close()

    async def ping(self) -> bool:
        """Readiness: connected (not in the middle of a reconnect) with a usable channel."""
        connection, channel = self._connection, self._channel
        return bool(
            connection is not None
            and not connection.is_closed
            and connection.connected.is_set()
            and channel is not None
            and not channel.is_closed
        )

    # ------------------------------------------------------------------ publish

    async def publish(self, envelope: Envelope) -> None:
        with tracing.producing(envelope) as traced:
            await self._publish(traced)

    async def _publish(self, envelope: Envelope) -> None:
        exchange = _require(self._exchange)
        message = aio_pika.Message(
            body=envelope.model_dump_json().encode(),
            message_id=str(envelope.id),
            content_type="application/json",
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            headers={ROUTING_KEY_HEADER: envelope.routing_key},
        )
        await exchange.publish(
            message,
            routing_key=envelope.routing_key,
            mandatory=True,
            timeout=self._publish_timeout,
        )

    # ------------------------------------------------------------------ consume

    async def consume(self, queue: str, handler: Handler, *, prefetch: int = 10) -> None:
        spec = _spec(queue)
        connection = _require(self._connection)
        channel = await connection.channel(publisher_confirms=False)
        await channel.set_qos(prefetch_count=prefetch)
        # declared (identically) on this channel too, so the robust channel restores the
        # consumer after a reconnect
        amqp_queue = await channel.declare_queue(spec.name, durable=True, arguments=dict(_QUORUM))

        async def on_message(message: AbstractIncomingMessage) -> None:
            task = asyncio.current_task()
            if task is not None:
                self._inflight.add(task)
            try:
                await self._handle(spec.name, handler, message)
            except Exception:
                # ack/nack on a channel lost meanwhile: the broker redelivers the message
                log.exception("could not settle a message from %s", spec.name)
            finally:
                if task is not None:
                    self._inflight.discard(task)

        tag = await amqp_queue.consume(on_message)
        self._consumers.append((channel, amqp_queue, tag))

    async def _handle(self, queue: str, handler: Handler, message: AbstractIncomingMessage) -> None:
        if self._closing:
            # delivered after close() began: give it back untouched
            await message.nack(requeue=True)
            return
        try:
            envelope = Envelope.model_validate_json(message.body)
        except ValidationError as exc:
            log.error("unparsable message on %s, parking it: %s", queue, exc)
            await self._move(message, dead_queue_name(queue), 0, reason=f"unparsable: {exc}")
            return
        with tracing.consuming(envelope, queue):
            await self._run(queue, handler, message, envelope)

    async def _run(
        self, queue: str, handler: Handler, message: AbstractIncomingMessage, envelope: Envelope
    ) -> None:
        attempt = _attempts(message) + 1
        try:
            await handler(envelope)
        except Exception as exc:
            plan = plan_after_failure(
                exc,
                attempt=attempt,
                delays_ms=self._delays_ms(queue),
                envelope=envelope,
                queue=queue,
            )
            if plan.retry_delay_ms is None:
                await self._move(message, dead_queue_name(queue), attempt, reason=plan.park_reason)
            else:
                retry_queue = retry_queue_name(queue, plan.retry_delay_ms)
                await self._move(message, retry_queue, attempt)
        else:
            await message.ack()

    async def _move(
        self,
        message: AbstractIncomingMessage,
        target: str,
        attempts: int,
        *,
        reason: str | None = None,
    ) -> None:
        """Republish `message` to queue `target` (confirmed), then ack the original.

        If the republish fails the original is requeued instead, so the message is never lost.
        """
        # x-* headers (x-death, x-delivery-count, ...) belong to the broker
        headers: dict[str, Any] = {
            k: v for k, v in (message.headers or {}).items() if not k.startswith("x-")
        }
        headers.setdefault(ROUTING_KEY_HEADER, message.routing_key or "")
        headers[ATTEMPTS_HEADER] = attempts
        if reason is not None:
            headers[REASON_HEADER] = reason[:_MAX_REASON]
        copy = aio_pika.Message(
            body=message.body,
            message_id=message.message_id,
            content_type=message.content_type or "application/json",
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            headers=headers,
        )
        try:
            channel = _require(self._channel)
            await channel.default_exchange.publish(
                copy, routing_key=target, mandatory=True, timeout=self._publish_timeout
            )
        except Exception:
            log.exception("could not move a message to %s; requeueing it", target)
            with contextlib.suppress(Exception):
                await message.nack(requeue=True)
            return
        await message.ack()
        if reason is not None:
            self.parked[target.removesuffix(".dead")] += 1
            dead_lettered(target.removesuffix(".dead"))

    # ------------------------------------------------------------------ dead letters

    async def dead_letters(self, queue: str, *, limit: int = 10_000) -> list[Envelope]:
        """Read the parked messages without removing them.

        They are fetched unacknowledged on a throwaway channel and handed back before it
        closes. An unparsable parked body comes back as an envelope whose payload is
        `{"unparsable_body": <text>}`.
        """
        spec = _spec(queue)
        connection = _require(self._connection)
        channel = await connection.channel(publisher_confirms=False)
        try:
            dead = await channel.get_queue(dead_queue_name(spec.name), ensure=False)
            envelopes: list[Envelope] = []
            fetched = []
            while len(envelopes) < limit:
                message = await dead.get(no_ack=False, fail=False)
                if message is None:
                    break
                fetched.append(message)
                envelopes.append(_parked_envelope(message))
            # Hand them back explicitly, then make one round trip to the queue on the same
            # channel: the broker handles a channel's commands in order, so once it answers the
            # messages are back and a count taken right after sees them (closing the channel
            # alone requeues them some time later).
            for message in fetched:
                await message.reject(requeue=True)
            if fetched:
                await channel.declare_queue(dead_queue_name(spec.name), passive=True)
            return envelopes
        finally:
            await channel.close()

    async def dead_letter_count(self, queue: str) -> int:
        channel = await _require(self._connection).channel(publisher_confirms=False)
        try:
            dead = await channel.declare_queue(dead_queue_name(_spec(queue).name), passive=True)
            return int(dead.declaration_result.message_count or 0)
        finally:
            await channel.close()

    async def replay_dead_letters(self, queue: str, *, limit: int | None = None) -> int:
        """Republish each parked message to `queue` (confirmed, attempts reset), then ack it.

        Only the messages parked when the replay starts (at most `limit`): one that fails
        again and is parked meanwhile waits for the next replay instead of looping."""
        spec = _spec(queue)
        channel = await _require(self._connection).channel(publisher_confirms=True)
        replayed = 0
        try:
            dead = await channel.declare_queue(dead_queue_name(spec.name), passive=True)
            todo = int(dead.declaration_result.message_count or 0)
            if limit is not None:
                todo = min(todo, limit)
            while replayed < todo:
                message = await dead.get(no_ack=False, fail=False)
                if message is None:
                    break
                headers = {
                    k: v
                    for k, v in (message.headers or {}).items()
                    if not k.startswith("x-") and k not in {ATTEMPTS_HEADER, REASON_HEADER}
                }
                await channel.default_exchange.publish(
                    aio_pika.Message(
                        body=message.body,
                        message_id=message.message_id,
                        content_type=message.content_type or "application/json",
                        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                        headers=headers,
                    ),
                    routing_key=spec.name,
                    mandatory=True,
                    timeout=self._publish_timeout,
                )
                await message.ack()
                replayed += 1
                log.warning("replayed parked message %s to %s", message.message_id, spec.name)
        finally:
            await channel.close()  # unacked (not replayed) messages stay parked
        return replayed


def _require(value: T | None) -> T:
    if value is None:
        raise RuntimeError("RabbitMQBus is not started")
    return value


def _spec(queue: str) -> QueueSpec:
    try:
        return QUEUES[queue]
    except KeyError:
        raise ValueError(f"unknown queue {queue!r}; see common.bus.topology") from None


def _attempts(message: AbstractIncomingMessage) -> int:
    value = (message.headers or {}).get(ATTEMPTS_HEADER, 0)
    if not isinstance(value, int | float | str | bytes | bytearray | Decimal):
        return 0  # a list, table, timestamp or void: not a count
    try:
        return max(0, int(value))
    except ValueError:
        return 0


def _parked_envelope(message: AbstractIncomingMessage) -> Envelope:
    try:
        return Envelope.model_validate_json(message.body)
    except ValidationError:
        pass
    try:
        envelope_id = uuid.UUID(str(message.message_id))
    except ValueError:
        envelope_id = uuid.uuid4()
    routing_key = (message.headers or {}).get(ROUTING_KEY_HEADER) or message.routing_key or ""
    return Envelope(
        id=envelope_id,
        routing_key=str(routing_key),
        payload={"unparsable_body": message.body.decode("utf-8", errors="replace")},
    )
