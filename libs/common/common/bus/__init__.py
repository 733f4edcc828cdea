"""The bus port: publish envelopes to a topic exchange, consume them from named queues.

Two adapters: `RabbitMQBus` (aio-pika) and `InMemoryBus` (in-process). `create_bus` picks
one from the settings; nothing outside `libs/common` knows which it got.

Retry schedules, per queue: BUS_QUEUE_RETRY_DELAYS_MS for that queue (e.g.
`mailer.mail=1000,60000;transcoder.jobs=500`), else the queue's own in `topology` (the mailer
keeps trying for a day), else BUS_RETRY_DELAYS_MS. Parked messages: `python -m common.bus`.
"""

from common.bus.port import Bus, Handler, PermanentError
from common.bus.topology import QUEUES, QueueSpec
from common.config import Settings

__all__ = [
    "QUEUES",
    "Bus",
    "Handler",
    "PermanentError",
    "QueueSpec",
    "create_bus",
    "queue_retry_delays",
]


def queue_retry_delays(settings: Settings) -> dict[str, list[int]]:
    """The queues whose schedule is not BUS_RETRY_DELAYS_MS, with theirs."""
    schedules = {
        spec.name: list(spec.retry_delays_ms)
        for spec in QUEUES.values()
        if spec.retry_delays_ms is not None
    }
    schedules.update(parse_queue_delays(settings.bus_queue_retry_delays_ms))
    return schedules


def parse_queue_delays(text: str) -> dict[str, list[int]]:
    """`queue=ms,ms,...;queue=ms,...` -> {queue: [ms, ...]}; an unknown queue is an error."""
    schedules: dict[str, list[int]] = {}
    for item in filter(None, (part.strip() for part in text.split(";"))):
        name, sep, delays = item.partition("=")
        name = name.strip()
        if not sep or name not in QUEUES:
            raise ValueError(
                f"BUS_QUEUE_RETRY_DELAYS_MS: {item!r} is not <queue>=<ms>,<ms>,... with a queue "
                f"of {sorted(QUEUES)}"
            )
        try:
            schedules[name] = [int(d) for d in delays.split(",") if d.strip()]
        except ValueError:
            raise ValueError(
                f"BUS_QUEUE_RETRY_DELAYS_MS: bad delays for {name}: {delays!r}"
            ) from None
    return schedules


def create_bus(settings: Settings) -> Bus:
    schedules = queue_retry_delays(settings)
    if settings.rabbitmq_url:
        from common.bus.rabbitmq import RabbitMQBus

        return RabbitMQBus(
            settings.rabbitmq_url,
            exchange=settings.bus_exchange,
            retry_delays_ms=settings.bus_retry_delays_ms,
            queue_retry_delays_ms=schedules,
        )
    from common.bus.memory import InMemoryBus

    return InMemoryBus(
        retry_delays_ms=settings.bus_retry_delays_ms, queue_retry_delays_ms=schedules
    )
