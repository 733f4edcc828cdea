"""Settings read from the environment, with the names operators rely on (see CONTRACT.md).

Every service reads the same `Settings`; each only uses what it needs. In the all-in-one
wiring the composition root derives per-service copies (e.g. one SQLite file per service).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEFAULT_ADMIN_EMAIL = "admin@example.com"
DEFAULT_ADMIN_PASSWORD = "adminpassword"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=None, extra="ignore", case_sensitive=False)

    # where the platform is reached
    frontend_url: str = "http://127.0.0.1:5500"
    public_base_url: str = "http://127.0.0.1:8000"
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default=["http://127.0.0.1:5500", "http://localhost:5500"]
    )
    port: int = 8000
    # reverse proxies whose X-Forwarded-For names the client (comma-separated IPs or CIDRs, or
    # `*`), e.g. an ingress; empty: nobody, loopback included; the socket peer is the client
    forwarded_allow_ips: str = ""
    # caps on a request head (request target and header fields): 431 beyond them, and a
    # connection that has not sent a whole head within the timeout is closed (common.httpserver)
    http_max_header_bytes: int = Field(default=16 * 1024, ge=1024)
    http_max_headers: int = Field(default=100, ge=10)
    http_header_timeout_seconds: float = Field(default=10.0, gt=0)
    # on SIGTERM, how long requests in flight get before they are cancelled: an open event
    # stream or a long upload would otherwise hold the shutdown for minutes (common.httpserver)
    shutdown_grace_seconds: int = Field(default=10, ge=1)
    environment: str = "development"

    # accounts
    admin_email: str = DEFAULT_ADMIN_EMAIL
    admin_password: str = DEFAULT_ADMIN_PASSWORD
    access_token_minutes: int = Field(default=60, ge=30)
    refresh_token_days: int = Field(default=7, ge=1)
    refresh_reuse_grace_seconds: float = Field(default=10.0, ge=0, le=60)
    activation_token_hours: int = Field(default=72, ge=1)
    reset_token_hours: int = Field(default=24, ge=1, le=24)
    cookie_secure: bool = False
    jwt_private_key: str = ""  # PEM; identity only
    jwt_public_key: str = ""  # PEM; every verifier

    # rate limits (gateway: requests per window per client address)
    rate_limit_window_seconds: int = 60
    rate_limit_login: int = 10
    rate_limit_register: int = 5
    rate_limit_password_reset: int = 5
    # failed logins per account (identity): per account and client address, and a looser
    # ceiling per account over every address, from which an address that logged in to the
    # account before is exempt (strangers cannot lock its owner out); 0 turns one off
    rate_limit_login_failures: int = Field(default=5, ge=0)
    rate_limit_login_failures_account: int = Field(default=50, ge=0)
    rate_limit_login_failures_window_seconds: int = Field(default=900, ge=1)
    # activation and reset mails per recipient address, each kind counted on its own; beyond
    # it nothing is sent and the answer stays the same
    rate_limit_mails_per_recipient: int = Field(default=3, ge=0)
    rate_limit_mails_window_seconds: int = Field(default=3600, ge=1)
    # password hashes (identity.passwords) run on this many threads, off the event loop (unset:
    # one per core), with at most PASSWORD_HASH_QUEUE more waiting (unset: 4 per thread); a
    # login, registration or reset beyond that is answered 429 with Retry-After
    password_hash_concurrency: int | None = Field(default=None, ge=1)
    password_hash_queue: int | None = Field(default=None, ge=0)

    # mail
    smtp_host: str = ""
    smtp_port: int = 25
    smtp_user: str = ""
    smtp_password: str = ""
    smtp_starttls: bool = False
    smtp_timeout_seconds: float = 10.0
    mail_from: str = "Videoflix <noreply@videoflix.local>"
    # seals the links in mail events, identity and mailer only (common.security.sealing):
    # URL-safe base64 of 32 bytes, several comma-separated to rotate (the first seals);
    # empty: identity creates DATA_DIR/keys/mail/link.key, and the mailer reads it there
    mail_link_key: str = ""

    # infrastructure: empty means "use the embedded adapter"
    data_dir: Path = Path(".data")
    database_url: str = ""
    migrate_on_start: bool = False  # all-in-one: apply migrations at start-up
    rabbitmq_url: str = ""
    bus_exchange: str = "videoflix"
    bus_retry_delays_ms: Annotated[list[int], NoDecode] = Field(default=[1000, 5000, 30000])
    redis_url: str = ""
    redis_key_prefix: str = ""  # lets several deployments (or test runs) share one Redis
    s3_endpoint: str = ""
    s3_access_key: str = ""
    s3_secret_key: str = ""
    s3_bucket: str = "videoflix"
    s3_secure: bool = False
    s3_region: str = "us-east-1"
    # how long `serve` and `migrate` wait, retrying with backoff, for backing services to answer
    startup_timeout_seconds: float = Field(default=300.0, ge=0)

    # upstreams, for the gateway in the distributed wiring
    identity_url: str = "http://127.0.0.1:8001"
    catalog_url: str = "http://127.0.0.1:8002"
    upstream_timeout_seconds: float = 30.0

    # per-queue schedules, `queue=ms,ms;queue=ms` (common.bus); the mailer's own lasts a day
    bus_queue_retry_delays_ms: str = ""
    log_level: str = "INFO"
    log_json: bool = True
    # Prometheus metrics on a listener of their own (common.metrics): unset, the all-in-one
    # listens on 127.0.0.1:9464 and a distributed service not at all; 0 or empty: off
    metrics_port: int | None = Field(default=None, ge=0, le=65535)

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            return [o.strip().rstrip("/") for o in value.split(",") if o.strip()]
        return value

    @field_validator("metrics_port", mode="before")
    @classmethod
    def _empty_port_is_off(cls, value: object) -> object:
        return 0 if isinstance(value, str) and not value.strip() else value

    @field_validator("bus_retry_delays_ms", mode="before")
    @classmethod
    def _split_delays(cls, value: object) -> object:
        if isinstance(value, str):
            return [int(v) for v in value.split(",") if v.strip()]
        return value

    @field_validator("frontend_url", "public_base_url")
    @classmethod
    def _no_trailing_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @model_validator(mode="after")
    def _public_base_url_follows_port(self) -> Settings:
        """Unset PUBLIC_BASE_URL means "this gateway on this machine", whatever PORT is."""
        if "public_base_url" not in self.model_fields_set:
            self.public_base_url = f"http://127.0.0.1:{self.port}"
        return self

    def database_url_for(self, service: str) -> str:
        """DATABASE_URL, or the service's own SQLite file under DATA_DIR when it is unset."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / f'{service}.sqlite3').resolve()}"

    @property
    def is_development(self) -> bool:
        return self.environment.lower() in {"development", "dev", "test"}

    @property
    def uses_default_admin_password(self) -> bool:
        return self.admin_password == DEFAULT_ADMIN_PASSWORD
