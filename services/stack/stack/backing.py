"""The backing servers of a stack, and what the stack makes on them.

`provision()` makes a database per service, a RabbitMQ vhost, the bucket, and the keys; a
throw-away run (`Names.throwaway()`, what the tests and `python -m stack --throwaway` use)
suffixes every name with a run id and `release()` removes it all again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import subprocess
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit, urlunsplit

import httpx

from common.private_files import private_directory
from common.security.keys import KeyPair, generate_keypair, load_or_create_keypair
from common.security.sealing import generate_key

log = logging.getLogger("stack")

DATABASE_SERVICES = ("identity", "catalog")


@dataclass(frozen=True)
class S3Server:
    endpoint: str  # host:port, as the minio SDK takes it
    access_key: str
    secret_key: str
    secure: bool = False


@dataclass(frozen=True)
class Servers:
    """Where the backing servers are: PostgreSQL (a URL of its maintenance database),
    RabbitMQ (a vhost in the URL path is used as it is), Redis, S3."""

    postgres_url: str
    rabbitmq_url: str
    redis_url: str
    s3: S3Server
    rabbitmq_management_url: str = ""  # default: http://<rabbitmq host>:15672


@dataclass(frozen=True)
class Names:
    """What the stack calls what it makes; `run_id` set: throw-away, removed by `release()`."""

    base: str = "videoflix"
    run_id: str = ""
    bucket: str = ""  # default: derived from base and run id
    redis_prefix: str = ""

    @classmethod
    def throwaway(cls, base: str = "videoflix", **given: str) -> Names:
        return cls(base=base, run_id=uuid.uuid4().hex[:10], **given)

    @property
    def stem(self) -> str:
        return f"{self.base}_{self.run_id}" if self.run_id else self.base

    def database(self, service: str) -> str:
        return f"{self.stem}_{service}"

    @property
    def vhost(self) -> str:
        return self.stem

    @property
    def s3_bucket(self) -> str:
        return self.bucket or self.stem.replace("_", "-")

    @property
    def key_prefix(self) -> str:
        return self.redis_prefix or f"{self.stem}:"


@dataclass
class Resources:
    """What a stack's services are given: one database URL per service, a vhost, ..."""

    servers: Servers
    names: Names
    database_urls: dict[str, str]
    rabbitmq_url: str
    keys: KeyPair
    mail_link_key: str
    bus_exchange: str = ""  # set only when no vhost could be made (a shared one)
    vhost_made: str = ""
    notes: list[str] = field(default_factory=list)  # what the banner should say

    @property
    def throwaway(self) -> bool:
        return bool(self.names.run_id)


def with_path(url: str, path: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{path}"))


# ---------------------------------------------------------------- PostgreSQL


async def _pg(server_url: str, *statements: str) -> list[bool]:
    """Run `statements`; a `SELECT 1 ...` gives whether it found a row."""
    import asyncpg  # type: ignore[import-untyped]

    conn = await asyncpg.connect(server_url)
    try:
        found = []
        for sql in statements:
            if sql.startswith("SELECT"):
                found.append(await conn.fetchval(sql) is not None)
            else:
                await conn.execute(sql)
        return found
    finally:
        await conn.close()


async def make_database(server_url: str, name: str) -> str:
    (exists,) = await _pg(server_url, f"SELECT 1 FROM pg_database WHERE datname = '{name}'")  # noqa: S608 - our own name
    if not exists:
        await _pg(server_url, f'CREATE DATABASE "{name}"')
    return with_path(server_url, name)


async def drop_database(server_url: str, name: str) -> None:
    await _pg(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# ---------------------------------------------------------------- RabbitMQ


def _vhost_of(url: str) -> str:
    return unquote(urlsplit(url).path.lstrip("/")) or "/"


def _management_url(servers: Servers) -> str:
    parts = urlsplit(servers.rabbitmq_url)
    return servers.rabbitmq_management_url or f"http://{parts.hostname}:15672"


async def _vhost_by_api(servers: Servers, vhost: str, *, delete: bool = False) -> bool:
    parts = urlsplit(servers.rabbitmq_url)
    user, password = unquote(parts.username or "guest"), unquote(parts.password or "guest")
    base = _management_url(servers).rstrip("/")
    try:
        async with httpx.AsyncClient(auth=(user, password), timeout=10) as client:
            target = f"{base}/api/vhosts/{quote(vhost, safe='')}"
            if delete:
                return (await client.delete(target)).status_code in {204, 404}
            if (await client.put(target)).status_code not in {201, 204}:
                return False
            grant = f"{base}/api/permissions/{quote(vhost, safe='')}/{quote(user, safe='')}"
            body = {"configure": ".*", "write": ".*", "read": ".*"}
            return (await client.put(grant, json=body)).status_code in {201, 204}
    except httpx.HTTPError:
        return False


def _vhost_by_ctl(servers: Servers, vhost: str, *, delete: bool = False) -> bool:
    """`rabbitmqctl`, for a broker on this machine whose management plugin is off."""
    ctl = shutil.which("rabbitmqctl")
    parts = urlsplit(servers.rabbitmq_url)
    if not ctl or parts.hostname not in {"127.0.0.1", "localhost", "::1"}:
        return False
    user = unquote(parts.username or "guest")
    commands = (
        [["delete_vhost", vhost]]
        if delete
        else [["add_vhost", vhost], ["set_permissions", "-p", vhost, user, ".*", ".*", ".*"]]
    )
    for args in commands:
        done = subprocess.run([ctl, *args], capture_output=True, timeout=60, check=False)  # noqa: S603
        if done.returncode != 0 and not (args[0] == "add_vhost" and b"already" in done.stderr):
            return False
    return True


async def make_vhost(servers: Servers, vhost: str) -> bool:
    """Through the management API if it answers, else `rabbitmqctl`; False: neither could."""
    if await _vhost_by_api(servers, vhost):
        return True
    return await asyncio.to_thread(_vhost_by_ctl, servers, vhost)


async def delete_vhost(servers: Servers, vhost: str) -> None:
    if not await _vhost_by_api(servers, vhost, delete=True):
        await asyncio.to_thread(_vhost_by_ctl, servers, vhost, delete=True)


# ---------------------------------------------------------------- S3, Redis, keys


def _minio(s3: S3Server):  # type: ignore[no-untyped-def]
    from minio import Minio

    return Minio(s3.endpoint, access_key=s3.access_key, secret_key=s3.secret_key, secure=s3.secure)


def make_bucket(s3: S3Server, bucket: str) -> None:
    """Create it, or find it there already. No HEAD first: a 404 to a HEAD has no body to
    explain it, and some servers and clients (moto 5.0 with minio 7.2.0) fall out over it."""
    from minio.error import S3Error

    try:
        _minio(s3).make_bucket(bucket)
    except S3Error as exc:
        if exc.code not in {"BucketAlreadyOwnedByYou", "BucketAlreadyExists"}:
            raise


def remove_bucket(s3: S3Server, bucket: str) -> None:
    client = _minio(s3)
    with contextlib.suppress(Exception):
        if client.bucket_exists(bucket):
            for obj in client.list_objects(bucket, recursive=True):
                client.remove_object(bucket, obj.object_name)
            client.remove_bucket(bucket)


async def remove_redis_keys(url: str, prefix: str) -> None:
    import redis.asyncio as aioredis

    client = aioredis.from_url(url)
    try:
        keys = [k async for k in client.scan_iter(match=f"{prefix}*")]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


def stack_keys(key_dir: Path | None) -> tuple[KeyPair, str]:
    """The JWT key pair and the mail link key: kept in `key_dir` (0600) so that sessions and
    mailed links outlive a restart, or new ones in memory for a throw-away run."""
    if key_dir is None:
        return generate_keypair(), generate_key()
    pair = load_or_create_keypair(key_dir)
    link_path = key_dir / "mail_link.key"
    if not link_path.exists():
        private_directory(key_dir)
        link_path.touch(mode=0o600)
        link_path.write_text(generate_key())
    return pair, link_path.read_text().strip()


# ---------------------------------------------------------------- provision / release


async def provision(servers: Servers, names: Names, *, key_dir: Path | None = None) -> Resources:
    keys, link_key = stack_keys(key_dir)
    resources = Resources(servers, names, {}, servers.rabbitmq_url, keys, link_key)
    try:
        for service in DATABASE_SERVICES:
            url = await make_database(servers.postgres_url, names.database(service))
            resources.database_urls[service] = url
        if _vhost_of(servers.rabbitmq_url) != "/":
            pass  # a vhost given with the server: used as it is
        elif await make_vhost(servers, names.vhost):
            resources.vhost_made = names.vhost
            resources.rabbitmq_url = with_path(servers.rabbitmq_url, quote(names.vhost, safe=""))
        else:
            resources.bus_exchange = names.stem
            resources.notes.append(
                "RabbitMQ: no vhost could be made (no management API, no rabbitmqctl): "
                f"the default vhost with exchange {names.stem!r}; queue names are shared "
                "with anything else on it"
            )
        await asyncio.to_thread(make_bucket, servers.s3, names.s3_bucket)
    except BaseException:
        await release(resources)
        raise
    return resources


async def release(resources: Resources) -> None:
    """Remove what a throw-away run made; a kept stack keeps its data."""
    if not resources.throwaway:
        return
    servers, names = resources.servers, resources.names
    for service in resources.database_urls:
        with contextlib.suppress(Exception):
            await drop_database(servers.postgres_url, names.database(service))
    if resources.vhost_made:
        with contextlib.suppress(Exception):
            await delete_vhost(servers, resources.vhost_made)
    with contextlib.suppress(Exception):
        await remove_redis_keys(servers.redis_url, names.key_prefix)
    if not names.bucket:  # a bucket given by the caller is the caller's to remove
        await asyncio.to_thread(remove_bucket, servers.s3, names.s3_bucket)
