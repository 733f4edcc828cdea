"""The processes of the platform in the distributed wiring, and each one's environment."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

from stack.backing import Resources
from stack.edge import EdgeOptions, EdgeProcess, find_nginx
from stack.processes import ServiceProcess, StackError, free_port

EnvOverrides = Callable[[str, dict[str, str]], dict[str, str]]
"""A service's environment overrides, from its name and environment (e.g. the fault tests
route a service through a proxy in front of its database)."""


def no_overrides(_name: str, _env: dict[str, str]) -> dict[str, str]:
    return {}


class Platform:
    """identity, catalog, the mailer, `transcoders` transcoders and the gateway, each its own
    process, wired to `resources`; with `edge`, nginx (stack.edge) on `gateway_port` in front
    of `edge.gateways` gateways on ports of their own (`gateway`, `gateway-2`, ...), else the
    one gateway on `gateway_port`. `env` is added to every service's environment, `smtp`
    (host, port) to the mailer's (without it the mailer logs mail and keeps it in DATA_DIR);
    `metrics`: each process its own free METRICS_PORT (one machine: a shared one would clash)."""

    def __init__(
        self,
        resources: Resources,
        *,
        log_dir: Path,
        data_dir: Path,
        env: Mapping[str, str] | None = None,
        smtp: tuple[str, int] | None = None,
        gateway_port: int | None = None,
        transcoders: int = 2,
        overrides: EnvOverrides = no_overrides,
        metrics: bool = False,
        edge: EdgeOptions | None = None,
    ) -> None:
        servers, names, keys = resources.servers, resources.names, resources.keys
        shared = {
            "RABBITMQ_URL": resources.rabbitmq_url,
            "REDIS_URL": servers.redis_url,
            "REDIS_KEY_PREFIX": names.key_prefix,
            "S3_ENDPOINT": servers.s3.endpoint,
            "S3_ACCESS_KEY": servers.s3.access_key,
            "S3_SECRET_KEY": servers.s3.secret_key,
            "S3_BUCKET": names.s3_bucket,
            "S3_SECURE": str(servers.s3.secure).lower(),
            "JWT_PUBLIC_KEY": keys.public_pem,
            "DATA_DIR": str(data_dir),
            **({"BUS_EXCHANGE": resources.bus_exchange} if resources.bus_exchange else {}),
            **(env or {}),
        }
        mail = {"SMTP_HOST": smtp[0], "SMTP_PORT": str(smtp[1])} if smtp else {}
        link = {"MAIL_LINK_KEY": resources.mail_link_key}  # identity and the mailer only

        def process(module: str, extra: Mapping[str, str], **kw: object) -> ServiceProcess:
            own = {"METRICS_PORT": str(free_port())} if metrics else {}
            return ServiceProcess(module, {**shared, **own, **extra}, log_dir, **kw)  # type: ignore[arg-type]

        identity = process(
            "identity",
            {
                "DATABASE_URL": resources.database_urls["identity"],
                "JWT_PRIVATE_KEY": keys.private_pem,
                **link,
            },
        )
        catalog = process("catalog", {"DATABASE_URL": resources.database_urls["catalog"]})
        self.processes: dict[str, ServiceProcess] = {
            "identity": identity,
            "catalog": catalog,
            "mailer": process("mailer", {**link, **mail}),
        }
        for n in range(1, transcoders + 1):
            name = "transcoder" if n == 1 else f"transcoder-{n}"
            self.processes[name] = process("transcoder", {}, name=name)
        upstreams = {"IDENTITY_URL": identity.url, "CATALOG_URL": catalog.url}
        if edge is None:
            self.processes["gateway"] = process("gateway", upstreams, port=gateway_port)
        else:
            # the gateways behind the edge on ports of their own; the edge listens on PORT,
            # and is the one peer whose X-Forwarded-For they believe
            trusted = ",".join(filter(None, ["127.0.0.1", shared.get("FORWARDED_ALLOW_IPS", "")]))
            gateways = [
                process("gateway", {**upstreams, "FORWARDED_ALLOW_IPS": trusted}, name=name)
                for name in ("gateway", *(f"gateway-{n}" for n in range(2, edge.gateways + 1)))
            ]
            self.processes.update((g.name, g) for g in gateways)
            self.processes["edge"] = EdgeProcess(
                nginx=find_nginx(),
                gateways=[g.url for g in gateways],
                s3=servers.s3,
                bucket=names.s3_bucket,
                region=shared.get("S3_REGION") or "us-east-1",
                options=edge,
                work_dir=data_dir / "edge",
                log_dir=log_dir,
                port=gateway_port,
            )
        self.overrides = overrides

    @property
    def gateway_url(self) -> str:
        """The public address: the edge when there is one, else the gateway."""
        return self.processes["edge" if "edge" in self.processes else "gateway"].url

    @property
    def gateway_urls(self) -> list[str]:
        """Every gateway's own address (behind the edge, if any)."""
        return [p.url for p in self.processes.values() if p.service == "gateway"]

    def up(self, timeout: float = 90, *, cancelled: Callable[[], bool] = lambda: False) -> None:
        """Migrate, then start every process and wait until each `/readyz` answers. The
        overrides apply to the services, not to the migrations. Blocking."""
        for name in ("identity", "catalog"):
            if cancelled():
                raise StackError("cancelled")
            self.processes[name].run("migrate")
        for name, process in self.processes.items():
            process.env.update(self.overrides(name, process.env))
        for process in self.processes.values():
            process.start()
        for process in self.processes.values():
            process.wait_ready(timeout, cancelled=cancelled)

    def down(self) -> None:
        """Stop every process, the edge and the gateways first (SIGTERM, SIGKILL after 15 s).
        Blocking."""
        for process in reversed(self.processes.values()):
            process.stop()
