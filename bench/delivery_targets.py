"""The servers bench/delivery.py measures, each started and stopped by it on loopback: Debian's
nginx straight from disk, the all-in-one, and the distributed stack (`python -m stack`)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from delivery_wrk import named, process_name, tree

from stack.processes import free_port, stop_process

NGINX_CONF = """\
worker_processes auto;
pid {run}/nginx.pid;
error_log stderr warn;
daemon off;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 1000000;
    types {{ video/MP2T ts; }}
    client_body_temp_path {run}/body;
    proxy_temp_path {run}/proxy;
    fastcgi_temp_path {run}/fastcgi;
    uwsgi_temp_path {run}/uwsgi;
    scgi_temp_path {run}/scgi;
    server {{
        listen 127.0.0.1:{port};
        root {root};
    }}
}}
"""
SHARED = ("redis-server",)
"""Servers of this machine the stack uses (shared with whoever else runs here)."""


class TargetError(RuntimeError):
    """A server would not start (its log tail is in the message)."""


@dataclass
class Server:
    """A started server: its base URL, the root of its process tree, its log."""

    label: str
    url: str
    process: subprocess.Popen[bytes]
    log: Path
    shared: tuple[str, ...] = ()
    urls: dict[str, str] = field(default_factory=dict)  # the stack's processes by name

    def processes(self) -> dict[int, str]:
        pids = {pid: process_name(pid) for pid in tree(self.process.pid)}
        return pids | {pid: f"{comm} (shared)" for pid, comm in named(self.shared).items()}

    def pids(self, names: tuple[str, ...], port: int | None = None) -> dict[str, int]:
        """The processes named so (name -> one pid); of several, the one serving `port`."""
        found: dict[str, int] = {}
        for pid, name in self.processes().items():
            if name not in names:
                continue
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            if name not in found or (port is not None and str(port).encode() in argv):
                found[name] = pid
        return found

    def stop(self, timeout: float = 60) -> None:
        stop_process(self.process, timeout=timeout)

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:] if self.log.exists() else ""


def _wait_http(server: Server, path: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise TargetError(f"{server.label} exited:\n{server.tail()}")
        try:
            if httpx.get(server.url + path, timeout=2).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    server.stop()
    raise TargetError(f"{server.label} did not answer within {timeout:.0f} s:\n{server.tail()}")


def start_nginx(work: Path, files: Mapping[str, bytes]) -> Server:
    """Debian's nginx serving `files` (name -> bytes) from a directory, nothing else."""
    run, root = work / "nginx", work / "nginx" / "www"
    root.mkdir(parents=True, exist_ok=True)
    # started as root, nginx's workers run as nobody: they must reach the files (a
    # mkdtemp work folder is 0700, and every request was a 403)
    for folder in (work, run, root):
        folder.chmod(0o755)
    for name, data in files.items():
        (root / name).write_bytes(data)
    port = free_port()
    conf = run / "nginx.conf"
    conf.write_text(NGINX_CONF.format(run=run, port=port, root=root))
    log = run / "nginx.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            ["nginx", "-p", str(run), "-c", str(conf), "-e", "stderr"],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    server = Server("nginx", f"http://127.0.0.1:{port}", process, log)
    _wait_http(server, "/", 20)
    return server


def start_allinone(work: Path, env: Mapping[str, str]) -> Server:
    """`python -m allinone` on a free port with a DATA_DIR of its own."""
    port = free_port()
    data = Path(tempfile.mkdtemp(prefix="allinone-", dir=work))  # a fresh one every run
    log = data / "allinone.log"
    environment = {
        **os.environ,
        **env,
        "PORT": str(port),
        "DATA_DIR": str(data),
        "METRICS_PORT": "0",  # its default, 9464, may be taken by someone else's
    }
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "allinone"],
            env=environment,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    server = Server("all-in-one", f"http://127.0.0.1:{port}", process, log)
    _wait_http(server, "/readyz", 120)
    return server


_LISTED = re.compile(r"^\s+([a-z][\w-]*):\s+(http://127\.0\.0\.1:\d+)", re.M)
"""A process line of the banner (`  gateway:   http://...`; the capitalised `Gateway:` line
is the public address, which is the edge's when the stack has one)."""
READY = "Stack ready:"


def parse_banner(text: str) -> tuple[str, dict[str, str]]:
    """The stack's banner: (the URL of its `Stack ready:` line, each listed process's URL)."""
    ready = next(line for line in text.splitlines() if line.startswith(READY))
    return ready.removeprefix(READY).strip(), dict(_LISTED.findall(text))


def start_stack(work: Path, env: Mapping[str, str], timeout: float = 240) -> Server:
    """`python -m stack --throwaway` (one transcoder) on a free PORT, until its banner."""
    port = free_port()
    log = work / "stack.log"
    environment = {**os.environ, **env, "PORT": str(port)}
    process = subprocess.Popen(
        [sys.executable, "-m", "stack", "--throwaway", "--transcoders", "1"],
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    text: list[str] = []
    ready = threading.Event()

    def drain() -> None:  # keeps the pipe flowing for as long as the stack runs
        assert process.stdout is not None
        with log.open("w") as out:
            for raw in process.stdout:
                line = raw.decode(errors="replace")
                out.write(line)
                out.flush()
                text.append(line)
                if line.startswith(READY):
                    ready.set()
        ready.set()

    threading.Thread(target=drain, daemon=True).start()
    server = Server("stack", f"http://127.0.0.1:{port}", process, log, SHARED)
    if not ready.wait(timeout) or process.poll() is not None:
        server.stop()
        raise TargetError(f"the stack did not come up:\n{''.join(text)[-3000:]}")
    server.url, server.urls = parse_banner("".join(text))
    return server


def edge_and_gateway(server: Server) -> tuple[str | None, str]:
    """(the edge's URL or None when the stack has none, a gateway's own URL). The stack's
    PORT is the edge's when it has one, the gateway's otherwise."""
    gateway = server.urls.get("gateway", server.url)
    edge = server.urls.get("edge") or (server.url if server.url != gateway else None)
    return edge, gateway
