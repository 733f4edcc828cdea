"""The bus port: publish envelopes to a topic exchange, consume them from named queues.

Two adapters: `RabbitMQBus` (aio-pika) and `InMemoryBus` (in-process). `create_bus` picks
one from the settings; nothing outside `libs/common` knows which it got.
"""

from common.bus.port import Bus, Handler, PermanentError
from common.bus.topology import QUEUES, QueueSpec
from common.config import Settings

__all__ = ["QUEUES", "Bus", "Handler", "PermanentError", "QueueSpec", "create_bus"]


def create_bus(settings: Settings) -> Bus:
    if settings.rabbitmq_url:
        from common.bus.rabbitmq import RabbitMQBus

        return RabbitMQBus(
            settings.rabbitmq_url,
            exchange=settings.bus_exchange,
            retry_delays_ms=settings.bus_retry_delays_ms,
        )
    from common.bus.memory import InMemoryBus

    return InMemoryBus(retry_delays_ms=settings.bus_retry_delays_ms)
