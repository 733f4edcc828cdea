"""Benchmark of segment delivery (issue 15, item 4).

Makes a short 1080p clip, uploads it through the admin API and waits until it is transcoded,
picks the segment closest to 1 MiB, then loads that one URL with wrk (cookie auth, loopback
only) on:

* (a) the all-in-one (`python -m allinone`, a DATA_DIR of its own);
* (b) the distributed stack (`python -m stack --throwaway`) through its edge (nginx on PORT);
* (c) the same stack's gateway directly;
* (d) Debian's nginx serving the same bytes from disk: the machine's ceiling;

at 1, 16 and 64 connections (requests/s, MiB/s, p50/p99, errors, each against (d)), and at 16
connections alone and beside two login loops (two processes logging in with the right password
as fast as they can, from 127.0.0.2 and 127.0.0.3). Meanwhile the CPU each process spends is
read from /proc, as the profile of what limits each server. Prints everything, then writes the
"## Delivery" section of docs/benchmarks.md (other sections are kept).

    .venv/bin/python bench/delivery.py [--quick] [--targets a,b,c,d] [--no-write] [--work DIR]

(a) always runs: it makes the segment the others serve. --quick: 3 s runs, 16 connections
only, the login storm on (a) only, nothing written. Needs wrk, nginx and ffmpeg on PATH, and
what `python -m stack` needs (PostgreSQL, RabbitMQ, Redis; nginx's njs module for its edge).
About 6 minutes, most of it under load. Exit status 1 if a goal is missed.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import sys
import tempfile
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

import httpx
from delivery_api import (
    Segment,
    closest,
    login,
    make_clip,
    segments_of,
    upload,
    wait_ready,
)
from delivery_doc import cpu_model, versions, write_doc
from delivery_report import (
    ALLINONE,
    EDGE,
    GATEWAY,
    delivery_table,
    goal_table,
    goals,
    profile_table,
    pyspy_table,
    storm_table,
)
from delivery_runs import ADMIN_EMAIL, Runs, say
from delivery_targets import (
    TargetError,
    edge_and_gateway,
    start_allinone,
    start_stack,
)


def bench_env(password: str) -> dict[str, str]:
    """The services' settings for the bench: its own admin, and the gateway's per-address login
    limit (RATE_LIMIT_LOGIN, 10 a minute) raised out of the way of the login loops."""
    return {
        "ADMIN_EMAIL": ADMIN_EMAIL,
        "ADMIN_PASSWORD": password,
        "RATE_LIMIT_LOGIN": "1000000",
        "RATE_LIMIT_WINDOW_SECONDS": "60",
    }


class Bench(Runs):
    """The servers, started one after the other; (d) beside them all."""

    def allinone(self, work: Path, clip: Path, env: Mapping[str, str], ceiling: bool) -> None:
        """(a), and (d) from then on when `ceiling`: the all-in-one picks the segment."""
        say("starting the all-in-one, uploading the clip, waiting for its transcode ...")
        server = start_allinone(work, env)
        try:
            client = login(server.url, ADMIN_EMAIL, self.password)
            video_id = upload(client, clip)
            renditions = wait_ready(client, video_id)
            self.segment = closest(segments_of(client, video_id, renditions))
            cookie = client.cookies["access_token"]
            url = server.url + self.segment.path(video_id)
            print(
                f"segment: {self.segment.rendition}/{self.segment.name}, "
                f"{len(self.segment.data):,} bytes",
                flush=True,
            )
            if ceiling:
                self.start_ceiling(work)
            self.measure(ALLINONE, url, cookie, server)
            self.py_profile(ALLINONE, url, cookie, server.pids(("allinone",)))
            self.storm(ALLINONE, url, server.url, cookie, server)
        finally:
            server.stop()

    def stack_video(self, gateway: str, clip: Path) -> tuple[str, str]:
        """The clip uploaded to the stack and transcoded there: (cookie, the segment's path)."""
        assert self.segment is not None
        client = login(gateway, ADMIN_EMAIL, self.password)
        video_id = upload(client, clip)
        wait_ready(client, video_id)
        path = self.segment.path(video_id)
        own = client.get(path).content
        if own != self.segment.data:
            self.notes.append(
                f"The stack's transcode of the clip gave a {len(own):,}-byte segment "
                f"instead of {len(self.segment.data):,}: its bytes are measured (MiB/s "
                "ratios stay comparable)."
            )
            self.segment = Segment(self.segment.rendition, self.segment.name, own)
        return client.cookies["access_token"], path

    def stack(self, work: Path, clip: Path, env: Mapping[str, str], targets: str) -> None:
        assert self.segment is not None
        say("starting the stack (python -m stack --throwaway) ...")
        try:
            server = start_stack(work, env)
        except TargetError as exc:
            for target in (EDGE, GATEWAY):
                self.figures.missing[target] = "the stack did not start"
            print(exc, flush=True)
            return
        try:
            edge, gateway = edge_and_gateway(server)
            say(f"stack up (edge: {edge or 'none'}); uploading the clip, waiting ...")
            try:
                cookie, path = self.stack_video(gateway, clip)
            except (RuntimeError, httpx.HTTPError) as exc:
                print(f"the stack's video: {exc}", flush=True)
                for target in (EDGE, GATEWAY):
                    self.figures.missing[target] = "the upload to the stack failed"
                return
            if edge is None:
                self.figures.missing[EDGE] = "the stack has no edge (nginx) yet"
            elif "b" in targets:
                self.attempt(EDGE, lambda: self.measure(EDGE, edge + path, cookie, server))
            if "c" in targets:
                self.attempt(GATEWAY, lambda: self.measure(GATEWAY, gateway + path, cookie, server))
            if GATEWAY in self.figures.runs:
                python = ("gateway", "catalog", "moto (S3)")
                pids = server.pids(python, port=int(gateway.rsplit(":", 1)[1]))
                self.attempt(
                    GATEWAY,
                    lambda: self.py_profile(GATEWAY, gateway + path, cookie, pids),
                    "The py-spy profile",
                )
            if not self.quick:
                if edge is not None and EDGE in self.figures.runs:
                    self.attempt(EDGE, lambda: self.storm(EDGE, edge + path, edge, cookie, server))
                if GATEWAY in self.figures.runs:
                    self.attempt(
                        GATEWAY,
                        lambda: self.storm(GATEWAY, gateway + path, gateway, cookie, server),
                    )
        finally:
            server.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="short runs, for development")
    parser.add_argument("--seconds", type=float, default=8, help="each wrk run (default 8)")
    parser.add_argument("--targets", default="abcd", help="which of a,b,c,d (default all)")
    parser.add_argument("--no-write", action="store_true", help="do not touch docs/")
    parser.add_argument("--work", type=Path, help="keep the clip and logs here")
    args = parser.parse_args()
    missing = [tool for tool in ("wrk", "nginx", "ffmpeg") if shutil.which(tool) is None]
    if missing:
        print(f"needs {', '.join(missing)} on PATH (apt: see .ci/run)", file=sys.stderr)
        return 2
    work = args.work or Path(tempfile.mkdtemp(prefix="vf-delivery-"))
    work.mkdir(parents=True, exist_ok=True)
    password = secrets.token_urlsafe(16)
    env = bench_env(password)
    args.work_dir = work
    bench = Bench(args, password)
    load_before = os.getloadavg()[0]
    say("making the clip ...")
    clip = make_clip(work / "clip-1080p30.mp4")
    try:
        bench.allinone(work, clip, env, ceiling="d" in args.targets)
        if "b" in args.targets or "c" in args.targets:
            bench.stack(work, clip, env, args.targets)
    finally:
        bench.stop_ceiling()
    load_after = os.getloadavg()[0]
    f, cores = bench.figures, os.cpu_count() or 1
    verdicts = goals(f)
    print()
    print("\n".join(delivery_table(f)))
    print()
    print("\n".join(profile_table(f, cores)))
    print()
    print("\n".join(storm_table(f)))
    print()
    print("\n".join(pyspy_table(f)))
    print()
    print("\n".join(goal_table(verdicts)))
    say(f"done; load average {load_before:.2f} -> {load_after:.2f}")
    if not (args.no_write or args.quick):
        assert bench.segment is not None
        write_doc(
            f,
            verdicts,
            machine=f"{cores} cores ({cpu_model()})",
            versions=versions(),
            when=f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
            seconds=bench.seconds,
            segment=f"{bench.segment.rendition} segment of {len(bench.segment.data):,} bytes",
            load=(load_before, load_after),
            notes=bench.notes,
            env=env,
        )
    if args.work is None:
        shutil.rmtree(work, ignore_errors=True)
    return 0 if all(g.met is not False for g in verdicts) else 1


if __name__ == "__main__":
    sys.exit(main())
