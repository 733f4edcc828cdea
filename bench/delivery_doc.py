"""The "## Delivery" section of docs/benchmarks.md, written by bench/delivery.py (the other
sections, e.g. bench/transcode.py's, are kept)."""

from __future__ import annotations

import os
import platform
import re
import subprocess
from collections.abc import Mapping
from pathlib import Path

from delivery_pyspy import find_pyspy
from delivery_report import (
    ALLINONE,
    EDGE,
    GATEWAY,
    GOAL_CONNECTIONS,
    Figures,
    Goal,
    busiest,
    cpu_bound,
    cpu_line,
    delivery_table,
    errors,
    goal_table,
    profile_table,
    pyspy_table,
    storm_table,
)
from delivery_wrk import TIMEOUT_SECONDS, WrkResult

DOC = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"
SECTION = "## Delivery"


def versions() -> dict[str, str]:
    def first_line(*command: str) -> str:
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        return (done.stdout + done.stderr).strip().splitlines()[0]

    pyspy = find_pyspy()
    return {
        **({"py-spy": first_line(pyspy, "--version").removeprefix("py-spy ")} if pyspy else {}),
        "nginx": first_line("nginx", "-v").removeprefix("nginx version: nginx/"),
        "wrk": first_line("wrk", "-v").split()[1],
        "ffmpeg": first_line("ffmpeg", "-version").split()[2],
        "python": platform.python_version(),
        "kernel": platform.release(),
    }


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.machine()


def replace_section(current: str, text: str, section: str = SECTION) -> str:
    """`current` with its `section` replaced by `text`, or `text` appended."""
    pattern = re.compile(rf"^{re.escape(section)}\n.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(current):
        updated = pattern.sub(lambda _m: text.rstrip("\n") + "\n\n", current)
    else:
        updated = current.rstrip("\n") + "\n\n" + text
    return updated.rstrip("\n") + "\n"


def why(run: WrkResult, cores: int, profiles: Mapping[str, str]) -> str:
    """What the profile of one run at GOAL_CONNECTIONS says about its limit."""
    c, top = run.connections, busiest(run)
    bound = cpu_bound(run, cores)
    text = (
        f"at {c} connections a segment cost {sum(run.cpu_ms.values()):.2f} ms of CPU over all "
        f"processes ({cpu_line(run)}; other load on the machine {run.other_ms:.2f} ms more), "
        f"so {cores} cores would allow about {'-' if bound is None else f'{bound:,.0f}'} "
        f"requests/s; {run.rps:,.0f} were measured, the machine {run.busy:.0%} busy. "
    )
    if top is not None and top[1] >= 0.85:
        text += (
            f"The busiest process, {top[0]}, kept {top[1]:.2f} cores busy: a Python process "
            "serves from one event loop, whose work holds the GIL, so it is bound by one core "
            "whatever the machine has left. "
        )
    if top is not None and top[0] in profiles:
        text += f"py-spy on {top[0]}: {profiles[top[0]]}. "
    return text + (
        f"With {c} requests always in flight the mean latency is {c} / throughput = "
        f"{c / run.rps * 1e3 if run.rps else 0:.0f} ms (Little's law): the tail follows the "
        "CPU cost per segment."
    )


def limits(f: Figures, verdicts: list[Goal], cores: int) -> list[str]:
    """For each server with a missed goal: where its CPU goes, from the profile."""
    lines = []
    missed = {g.target for g in verdicts if g.met is False and not g.storm}
    stormy = {g.target for g in verdicts if g.met is False and g.storm}
    c = GOAL_CONNECTIONS
    for target in (ALLINONE, EDGE, GATEWAY):
        run = f.runs.get(target, {}).get(c)
        if run is None or target not in missed:
            continue
        lines.append(f"- {target}: {why(run, cores, f.profiles.get(target, {}))}")
    for s in f.storms:
        if s.target in stormy:
            lines.append(
                f"- {s.target} beside the logins: CPU ms per segment {cpu_line(s.beside)} "
                f"(alone: {cpu_line(s.alone)}); the login loops got "
                f"{s.logins.get('200', 0)} logins through in {s.login_seconds:g} s."
            )
    lines += [f"- {where}: {error_cause(run)}" for where, run in f.labelled_runs() if run.errors]
    return lines


def error_cause(run: WrkResult) -> str:
    """What a run's errors were: answers too late for wrk, or failures."""
    if run.timeouts and not (run.socket_errors or run.status_errors or run.short):
        wait = run.connections / run.rps if run.rps else float("inf")
        return (
            f"{run.timeouts} answers came later than wrk's {TIMEOUT_SECONDS} s time-out; none "
            "failed (no socket error, error status or short body). With "
            f"{run.connections} requests in flight at {run.rps:,.0f} requests/s each waits "
            f"{wait:.1f} s on average (Little's law), and the slowest past the time-out: the "
            "server is saturated, see its CPU per segment above."
        )
    return f"{errors(run)}: failures, not slowness."


def section(
    f: Figures,
    verdicts: list[Goal],
    *,
    machine: str,
    versions: Mapping[str, str],
    when: str,
    seconds: float,
    segment: str,
    load: tuple[float, float],
    notes: list[str],
    env: Mapping[str, str],
) -> str:
    cores = os.cpu_count() or 1
    why = limits(f, verdicts, cores)
    tools = ", ".join(f"{k} {v}" for k, v in versions.items())
    settings = ", ".join(f"`{k}={v}`" for k, v in env.items() if k.startswith("RATE_LIMIT"))
    return "\n".join(
        [
            SECTION,
            "",
            f"`bench/delivery.py`, run {when} on {machine}; {tools}. Load average "
            f"{load[0]:.2f} before, {load[1]:.2f} after (the machine is shared).",
            "",
            f"One {segment} of a transcoded 1080p clip (uploaded through the admin API), "
            "requested over and over with the session cookie by `wrk` (two threads at most, "
            f"{seconds:g} s per run, after a 1 s warm-up), on loopback: (a) the all-in-one "
            "(`python -m allinone`), (b) the distributed stack (`python -m stack --throwaway`, "
            "one transcoder, moto as S3) through its edge, (c) the same stack's gateway "
            "directly, (d) Debian's nginx serving the same bytes from disk (sendfile, no "
            "access log): the machine's ceiling, measured right after each other server's run "
            "at the same connections (the machine is shared and its load drifts): each ratio "
            "is to that run, whose MiB/s is in brackets, and the (d) rows are the median of "
            "them. Every server was checked to answer 200 with "
            "exactly the segment's bytes first; errors are wrk's socket errors, statuses "
            ">= 400, and bodies shorter than the segment.",
            "",
            *delivery_table(f),
            "",
            "Where the CPU goes (from /proc during each run: user + system time of each "
            "process over the requests served; `wrk (load)` is the load generator, which "
            "shares the cores; `(shared)` processes serve other users of the machine too; "
            "*other load* is the machine's busy CPU time that no listed process accounts for: "
            "other users of the machine, and during a login storm the two login clients):",
            "",
            *profile_table(f, cores),
            "",
            *(
                [
                    "Python profiles under the same load (py-spy, sampled for a few seconds "
                    "after the measured runs, idle threads left out; time in a C call, e.g. a "
                    "read or a send, counts for the Python function that makes it):",
                    "",
                    *pyspy_table(f),
                    "",
                ]
                if f.profiles
                else []
            ),
            "### Beside a login storm",
            "",
            "The same load at 16 connections, alone and beside two login loops: two processes "
            "logging in with the right password as fast as they are answered, one from "
            "127.0.0.2 and one from 127.0.0.3 (each its own client address). The services ran "
            f"with {settings} so that the gateway's per-address login limit does not end the "
            "storm early; everything else at its defaults (password hashing on its bounded "
            "pool, `PASSWORD_HASH_CONCURRENCY` unset: one thread per core).",
            "",
            *storm_table(f),
            "",
            "### Goals (issue 15)",
            "",
            *goal_table(verdicts),
            "",
            "No database query per segment request is a test, not a figure: "
            "`tests/catalog/test_hot_path.py` counts the statements.",
            "",
            *(["What limits a missed goal:", "", *why, ""] if why else []),
            *([*notes, ""] if notes else []),
        ]
    )


def write_doc(f: Figures, verdicts: list[Goal], **kwargs: object) -> None:
    text = section(f, verdicts, **kwargs)  # type: ignore[arg-type]
    DOC.parent.mkdir(parents=True, exist_ok=True)
    current = DOC.read_text() if DOC.exists() else "# Benchmarks\n"
    DOC.write_text(replace_section(current, text))
    print(f"wrote the {SECTION!r} section of docs/benchmarks.md")
