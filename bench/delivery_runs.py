"""The measuring half of bench/delivery.py: wrk runs against one server (each followed by
the ceiling at the same connections), the login storm, the py-spy profile."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Mapping
from pathlib import Path

import httpx
from delivery_api import Segment, check_bytes
from delivery_pyspy import find_pyspy, profile
from delivery_report import Figures, Storm
from delivery_targets import Server, start_nginx
from delivery_wrk import WrkResult, run_wrk

BENCH = Path(__file__).resolve().parent
LOGIN_SOURCES = ("127.0.0.2", "127.0.0.3")
ADMIN_EMAIL = "bench-admin@example.com"
STARTED = time.monotonic()


def say(message: str) -> None:
    print(f"[{time.monotonic() - STARTED:5.0f} s] {message}", flush=True)


class Runs:
    """What one bench run measured so far, and how it measures."""

    def __init__(self, args: argparse.Namespace, password: str) -> None:
        self.seconds: float = 3 if args.quick else args.seconds
        self.connections = [16] if args.quick else [1, 16, 64]
        self.quick: bool = args.quick
        self.password = password
        self.figures = Figures()
        self.segment: Segment | None = None
        self.notes: list[str] = []
        self.work: Path = args.work_dir
        self.ceiling: Server | None = None  # (d), measured right after every other run
        self.ceiling_url = ""
        self.ceiling_size = 0

    def load(
        self,
        url: str,
        cookie: str,
        connections: int,
        processes: Callable[[], Mapping[int, str]],
        label: str = "",
    ) -> WrkResult:
        assert self.segment is not None
        run = run_wrk(
            url,
            connections=connections,
            seconds=self.seconds,
            headers={"Cookie": f"access_token={cookie}"},
            size=self.ceiling_size if label == "(d)" else len(self.segment.data),
            processes=processes,
        )
        print(
            f"  {label:>3} {connections:>3} connections: {run.rps:8,.0f} req/s "
            f"{run.mib_s:8,.0f} MiB/s p50 {run.p50_ms:7.2f} ms p99 {run.p99_ms:7.2f} ms "
            f"errors {run.errors} busy {run.busy:.0%}",
            flush=True,
        )
        return run

    def measure(self, target: str, url: str, cookie: str, server: Server) -> None:
        assert self.segment is not None
        check_bytes(url, cookie, self.segment.data)
        say(f"{target}: {url}")
        self.warm_up(url, cookie)
        runs = self.figures.runs.setdefault(target, {})
        for c in self.connections:
            runs[c] = self.load(url, cookie, c, server.processes)
            if self.ceiling is not None:  # right after it, on the same machine load
                ceiling = self.load(self.ceiling_url, "-", c, self.ceiling.processes, "(d)")
                self.figures.add_paired(target, c, ceiling)

    def py_profile(self, target: str, url: str, cookie: str, pids: Mapping[str, int]) -> None:
        """py-spy on the server's Python processes under the same load (not counted)."""
        binary = find_pyspy()
        if binary is None or not pids:
            return
        seconds = 3 if self.quick else 5
        say(f"{target}: py-spy on {', '.join(pids)} for {seconds} s")
        assert self.segment is not None
        size = len(self.segment.data)
        headers = {"Cookie": f"access_token={cookie}"}
        found = profile(
            binary,
            pids,
            seconds,
            self.work,
            lambda: run_wrk(
                url, connections=16, seconds=seconds, headers=headers, size=size, processes=dict
            ),
        )
        for name, text in found.items():
            print(f"  {name}: {text}", flush=True)
        self.figures.profiles[target] = found

    def warm_up(self, url: str, cookie: str) -> None:
        """1 s of the load, not counted (caches, connection pools)."""
        assert self.segment is not None
        run_wrk(
            url,
            connections=16,
            seconds=1,
            headers={"Cookie": f"access_token={cookie}"},
            size=len(self.segment.data),
            processes=dict,
        )

    def storm(self, target: str, url: str, base: str, cookie: str, server: Server) -> None:
        say(f"{target}: 16 connections alone, then beside two login loops")
        alone = self.load(url, cookie, 16, server.processes)
        env = {
            **os.environ,
            "BENCH_LOGIN_EMAIL": ADMIN_EMAIL,
            "BENCH_LOGIN_PASSWORD": self.password,
        }
        lasting = self.seconds + 5
        loops = [
            subprocess.Popen(
                [sys.executable, str(BENCH / "delivery_logins.py"), base, source, str(lasting)],
                env=env,
                stdout=subprocess.PIPE,
                text=True,
            )
            for source in LOGIN_SOURCES
        ]
        time.sleep(2.5)  # both loops started and logging in
        beside = self.load(url, cookie, 16, server.processes)
        logins: Counter[str] = Counter()
        for loop in loops:
            out, _ = loop.communicate(timeout=lasting + 60)
            logins.update(json.loads(out.strip().splitlines()[-1]) if out.strip() else {})
        print(f"  logins: {dict(logins)} in {lasting:g} s", flush=True)
        self.figures.storms.append(Storm(target, alone, beside, logins, lasting))

    def attempt(self, target: str, action: Callable[[], None], what: str = "") -> None:
        """One measurement of the stack; a failure is reported as such, the rest goes on."""
        try:
            action()
        except (RuntimeError, ValueError, httpx.HTTPError, subprocess.SubprocessError) as exc:
            reason = str(exc).strip().splitlines()[0][:160].replace("|", "/")
            print(f"{target} failed: {exc}", flush=True)
            if target in self.figures.runs:
                self.notes.append(f"{what or 'The login storm'} on {target} failed: {reason}")
            else:
                self.figures.missing[target] = f"failed: {reason}"

    # -------------------------------------------------------------- the servers

    def start_ceiling(self, work: Path) -> None:
        """(d): nginx serving the segment from disk, up until the end of the bench."""
        assert self.segment is not None
        self.ceiling = start_nginx(work, {self.segment.name: self.segment.data})
        self.ceiling_url = f"{self.ceiling.url}/{self.segment.name}"
        self.ceiling_size = len(self.segment.data)
        self.warm_up(self.ceiling_url, "-")

    def stop_ceiling(self) -> None:
        if self.ceiling is not None:
            self.ceiling.stop()
