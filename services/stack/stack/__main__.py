"""`make stack`: every service its own process on this machine, until Ctrl-C.

    python -m stack [--throwaway] [--transcoders N] [--no-edge]

Reads STACK_POSTGRES_URL, STACK_RABBITMQ_URL, STACK_REDIS_URL (the local servers on their
standard ports by default), S3_ENDPOINT (unset: moto's server on loopback), PORT (the public
address: the edge, nginx, in front of two gateways; with --no-edge the one gateway),
EDGE_AUTH_SECONDS and EDGE_CACHE_MAX_SIZE (the edge), SMTP_HOST/SMTP_PORT (unset: the mailer's
console sender). Prints where everything is, then a line starting with `Stack ready:`; SIGINT
or SIGTERM stops every process it started, exit 0.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import sys
import tempfile
import threading
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from common.config import Settings
from common.private_files import private_directory
from stack.backing import Names, Resources, S3Server, Servers, provision, release
from stack.edge import EdgeOptions, find_nginx
from stack.moto import MotoServer
from stack.processes import StackError
from stack.wiring import Platform

READY = "Stack ready:"


class StackSettings(BaseSettings):
    """Where the backing servers are; the services' own settings pass through unchanged."""

    model_config = SettingsConfigDict(env_file=None, extra="ignore", case_sensitive=False)

    stack_postgres_url: str = "postgresql://postgres@127.0.0.1:5432/postgres"
    stack_rabbitmq_url: str = "amqp://guest:guest@127.0.0.1:5672/"
    stack_rabbitmq_management_url: str = ""  # default: http://<rabbitmq host>:15672
    stack_redis_url: str = "redis://127.0.0.1:6379/0"
    stack_data_dir: Path = Path(".data/stack")
    stack_name: str = "videoflix"  # databases <name>_identity, ..., vhost and bucket <name>
    edge_auth_seconds: int = Field(default=10, ge=1, le=29)  # + 1 s: the logout bound (edge)
    edge_cache_max_size: str = "1g"


def say(message: str) -> None:
    print(f"stack: {message}", flush=True)


def redacted(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.replace(f":{parts.password}@", ":***@")))


def banner(platform: Platform, resources: Resources, settings: Settings, data_dir: Path) -> str:
    names, servers = resources.names, resources.servers
    mail = (
        f"SMTP {settings.smtp_host}:{settings.smtp_port}"
        if settings.smtp_host
        else f"the mailer's log and {data_dir / 'outbox'}/*.eml (no SMTP_HOST)"
    )
    lines = [
        "Videoflix stack is running (every service its own process)",
        f"  Public:        {platform.gateway_url}/api/   docs: /api/docs"
        + ("   (the edge, nginx)" if "edge" in platform.processes else ""),
        *(
            f"  {name + ':':<14}{p.url}"
            + (f"   metrics: :{p.env['METRICS_PORT']}/metrics" if "METRICS_PORT" in p.env else "")
            + f"   log: {p.log_path}"
            for name, p in platform.processes.items()
        ),
        f"  Admin:         {settings.admin_email} / {settings.admin_password}",
        f"  Mail goes:     to {mail}",
        f"  PostgreSQL:    {redacted(servers.postgres_url)}  databases: "
        + ", ".join(names.database(s) for s in resources.database_urls),
        f"  RabbitMQ:      {redacted(resources.rabbitmq_url)}",
        f"  Redis:         {redacted(servers.redis_url)}  key prefix: {names.key_prefix}",
        f"  S3:            {servers.s3.endpoint}  bucket: {names.s3_bucket}",
        *(f"  Note:          {note}" for note in resources.notes),
        "  Ctrl-C stops every process the stack started"
        + (" and removes what it made" if resources.throwaway else ""),
    ]
    width = max(len(line) for line in lines)
    return "\n".join(["=" * width, *lines, "=" * width, f"{READY} {platform.gateway_url}"])


def watch(platform: Platform, stopping: threading.Event) -> None:
    """Until a signal: say so when a service exits (the rest keep running)."""
    reported: set[str] = set()
    while not stopping.wait(1):
        for name, p in platform.processes.items():
            code = p.process.poll() if p.process else None
            if code is not None and name not in reported:
                reported.add(name)
                say(f"{name} exited with code {code}; see {p.log_path}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stack", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--throwaway",
        action="store_true",
        help="suffix every database, vhost, bucket and key prefix with a run id, keys in "
        "memory, data in a temporary folder; all removed on exit",
    )
    parser.add_argument("--transcoders", type=int, default=2)
    parser.add_argument(
        "--no-edge",
        action="store_true",
        help="no nginx in front: a single gateway listens on PORT",
    )
    args = parser.parse_args(argv)
    config, settings = StackSettings(), Settings()

    stopping = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda *_: stopping.set())  # also during the clean-up: it finishes

    if args.throwaway:
        data_dir = Path(tempfile.mkdtemp(prefix="videoflix-stack-"))
    else:
        data_dir = private_directory(config.stack_data_dir.resolve())
    log_dir = data_dir / "logs"
    moto: MotoServer | None = None
    resources: Resources | None = None
    platform: Platform | None = None
    code = 0
    try:
        edge = None
        if not args.no_edge:
            find_nginx()  # before anything is made: say what to install
            edge = EdgeOptions(config.edge_auth_seconds, config.edge_cache_max_size)
        if settings.s3_endpoint:
            s3 = S3Server(
                settings.s3_endpoint.removeprefix("http://").removeprefix("https://"),
                settings.s3_access_key,
                settings.s3_secret_key,
                settings.s3_secure,
            )
        else:
            say("S3_ENDPOINT is unset: starting moto's S3 server on loopback")
            moto = MotoServer(log_dir).start()
            s3 = moto.s3
        servers = Servers(
            config.stack_postgres_url,
            config.stack_rabbitmq_url,
            config.stack_redis_url,
            s3,
            config.stack_rabbitmq_management_url,
        )
        given = {
            "bucket": os.environ.get("S3_BUCKET", ""),
            "redis_prefix": os.environ.get("REDIS_KEY_PREFIX", ""),
        }
        names = (
            Names.throwaway(config.stack_name, **given)
            if args.throwaway
            else Names(config.stack_name, **given)
        )
        say("making the databases, the vhost, the bucket and the keys")
        key_dir = None if args.throwaway else data_dir / "keys"
        resources = asyncio.run(provision(servers, names, key_dir=key_dir))
        platform = Platform(
            resources,
            log_dir=log_dir,
            data_dir=data_dir,
            env={"LOG_JSON": os.environ.get("LOG_JSON", "false"), "PORT": str(settings.port)},
            smtp=(settings.smtp_host, settings.smtp_port) if settings.smtp_host else None,
            gateway_port=settings.port,
            transcoders=args.transcoders,
            metrics=True,
            edge=edge,
        )
        say(f"migrating, then starting {len(platform.processes)} processes (logs: {log_dir})")
        platform.up(cancelled=stopping.is_set)
        print(banner(platform, resources, settings, data_dir), flush=True)
        watch(platform, stopping)
    except Exception as exc:  # a server not reachable, a service that would not start
        if not (isinstance(exc, StackError) and stopping.is_set()):
            say(f"could not start: {type(exc).__name__}: {exc}")
            code = 1
    finally:
        say("stopping")
        if platform is not None:
            platform.down()
        if moto is not None:
            moto.stop()
        if resources is not None:
            asyncio.run(release(resources))
        if args.throwaway:
            shutil.rmtree(data_dir, ignore_errors=True)
        say("stopped")
    return code


if __name__ == "__main__":
    sys.exit(main())
