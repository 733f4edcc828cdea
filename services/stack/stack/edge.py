"""The edge (deploy/edge) as a stack process: Debian's nginx with its njs module, in front of
the gateways, serving playlists and segments from S3 through its own cache.

The config is `deploy/edge/nginx.conf.template`, rendered here the way the official nginx
image renders it with envsubst: only the known `${NAME}` placeholders are replaced, and a
placeholder left over (or a value missing) is an error, never an empty string in the config.
"""

from __future__ import annotations

import grp
import os
import pwd
import re
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from stack.backing import S3Server
from stack.processes import ServiceProcess, StackError

EDGE_DIR = Path(__file__).resolve().parents[3] / "deploy" / "edge"
TEMPLATE = EDGE_DIR / "nginx.conf.template"
PLACEHOLDERS = (
    "EDGE_LISTEN",
    "EDGE_GATEWAYS",
    "EDGE_S3_UPSTREAM",
    "S3_BUCKET",
    "S3_REGION",
    "EDGE_CACHE_DIR",
    "EDGE_CACHE_MAX_SIZE",
    "EDGE_AUTH_SECONDS",
    "EDGE_NJS_MODULE",
    "EDGE_JS_DIR",
    "EDGE_RUN_DIR",
)
NJS_MODULES = (
    "/usr/lib/nginx/modules/ngx_http_js_module.so",  # Debian, Ubuntu
    "/usr/share/nginx/modules/ngx_http_js_module.so",  # Fedora, RHEL
    "/etc/nginx/modules/ngx_http_js_module.so",  # nginx.org packages
)
INSTALL_HINT = (
    "the edge needs nginx with its njs module: `apt-get install nginx libnginx-mod-http-js` "
    "(or run `python -m stack --no-edge` for a single gateway on PORT)"
)
_PLACEHOLDER = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


class EdgeUnavailable(StackError):
    """nginx or its njs module is not installed."""


def render(template: str, values: Mapping[str, str]) -> str:
    """`template` with each `${NAME}` of `values` replaced; nginx's own `$name`s untouched.
    Raises `ValueError` naming any placeholder that has no value."""
    missing = sorted({m for m in _PLACEHOLDER.findall(template) if m not in values})
    if missing:
        raise ValueError(f"no value for {', '.join(missing)} in the edge's template")
    return _PLACEHOLDER.sub(lambda m: values[m.group(1)], template)


@dataclass(frozen=True)
class Nginx:
    binary: str
    njs_module: str


def find_nginx() -> Nginx:
    """Debian's nginx and njs module (or another distribution's); `EdgeUnavailable` says what
    to install when either is missing."""
    binary = shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if os.access(p, os.X_OK)), None
    )
    if binary is None:
        raise EdgeUnavailable(f"nginx is not installed: {INSTALL_HINT}")
    module = next((m for m in NJS_MODULES if Path(m).is_file()), None)
    if module is None:
        raise EdgeUnavailable(f"nginx's njs module is not installed: {INSTALL_HINT}")
    return Nginx(binary, module)


@dataclass(frozen=True)
class EdgeOptions:
    """How the stack runs its edge: `auth_seconds` is how long an authorisation is reused,
    the bound on a logout or password reset reaching the edge."""

    auth_seconds: int = 10
    cache_max_size: str = "1g"
    gateways: int = 2


class EdgeProcess(ServiceProcess):
    """nginx on `port`, in front of `gateways` (their URLs), objects from `s3`; its config,
    pid, temporary files and cache under `work_dir`, its log (stdout and stderr) in
    `<log_dir>/edge.log`."""

    def __init__(
        self,
        *,
        nginx: Nginx,
        gateways: Sequence[str],
        s3: S3Server,
        bucket: str,
        region: str,
        options: EdgeOptions,
        work_dir: Path,
        log_dir: Path,
        port: int | None = None,
    ) -> None:
        if s3.secure:
            raise StackError("the edge reaches S3 over plain http: S3_SECURE=true needs --no-edge")
        super().__init__(
            "edge",
            {"S3_ACCESS_KEY": s3.access_key, "S3_SECRET_KEY": s3.secret_key},
            log_dir,
            port=port,
        )
        self.nginx = nginx
        self.work_dir = work_dir
        self.config_path = work_dir / "nginx.conf"
        self.values = {
            "EDGE_LISTEN": f"127.0.0.1:{self.port}",
            "EDGE_GATEWAYS": " ".join(f"server {_host_port(url)};" for url in gateways),
            "EDGE_S3_UPSTREAM": s3.endpoint,
            "S3_BUCKET": bucket,
            "S3_REGION": region,
            "EDGE_CACHE_DIR": str(work_dir / "cache"),
            "EDGE_CACHE_MAX_SIZE": options.cache_max_size,
            "EDGE_AUTH_SECONDS": str(options.auth_seconds),
            "EDGE_NJS_MODULE": nginx.njs_module,
            "EDGE_JS_DIR": str(EDGE_DIR),
            "EDGE_RUN_DIR": str(work_dir / "run"),
        }

    def command(self) -> list[str]:
        directives = "daemon off;"
        if os.geteuid() == 0:
            # workers as whoever runs the stack (its data folder is theirs alone), not nobody
            user = pwd.getpwuid(os.geteuid()).pw_name
            directives += f" user {user} {grp.getgrgid(os.getegid()).gr_name};"
        config = str(self.config_path)
        return [
            self.nginx.binary,
            "-e",
            "stderr",
            "-p",
            str(self.work_dir),
            "-c",
            config,
            "-g",
            directives,
        ]

    def write_config(self) -> None:
        for sub in ("run", "cache"):
            (self.work_dir / sub).mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(render(TEMPLATE.read_text(), self.values))

    def run(self, *args: str, timeout: float = 120) -> None:
        raise StackError("the edge has no one-shot commands")

    def start(self) -> EdgeProcess:
        self.write_config()
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        checked = subprocess.run(  # noqa: S603 - the system's nginx, our config
            [*self.command(), "-t", "-q"], env=self.env, capture_output=True, check=False
        )
        if checked.returncode != 0:
            raise StackError(f"the edge's nginx.conf is refused:\n{checked.stderr.decode()}")
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(  # noqa: S603 - the system's nginx, our config
                self.command(),
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                process_group=0,
            )
        return self


def _host_port(url: str) -> str:
    return url.removeprefix("http://").removeprefix("https://").rstrip("/")
