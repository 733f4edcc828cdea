"""The key-value port: Redis or an in-memory dict, picked from the settings."""

from common.config import Settings
from common.kv.port import KeyValueStore

__all__ = ["KeyValueStore", "create_kv"]


def create_kv(settings: Settings) -> KeyValueStore:
    if settings.redis_url:
        from common.kv.redis import RedisKeyValueStore

        return RedisKeyValueStore(settings.redis_url, prefix=settings.redis_key_prefix)
    from common.kv.memory import InMemoryKeyValueStore

    return InMemoryKeyValueStore()
