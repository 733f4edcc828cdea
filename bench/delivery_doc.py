"""The "## Delivery" section of docs/benchmarks.md, written by bench/delivery.py (the other
sections, e.g. bench/transcode.py's, are kept)."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path

from delivery_report import (
    ALLINONE,
    EDGE,
    GATEWAY,
    GOAL_CONNECTIONS,
    Figures,
    Goal,
    cpu_bound,
    cpu_line,
    delivery_table,
    goal_table,
    profile_table,
    storm_table,
)

DOC = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"
SECTION = "## Delivery"


def replace_section(current: str, text: str, section: str = SECTION) -> str:
    """`current` with its `section` replaced by `text`, or `text` appended."""
    pattern = re.compile(rf"^{re.escape(section)}\n.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(current):
        updated = pattern.sub(lambda _m: text.rstrip("\n") + "\n\n", current)
    else:
        updated = current.rstrip("\n") + "\n\n" + text
    return updated.rstrip("\n") + "\n"


def limits(f: Figures, verdicts: list[Goal], cores: int) -> list[str]:
    """For each server with a missed goal: where its CPU goes, from the profile."""
    lines = []
    missed = " ".join(g.text for g in verdicts if g.met is False)
    c = GOAL_CONNECTIONS
    for target, key in ((ALLINONE, "all-in-one"), (EDGE, "edge"), (GATEWAY, "stack")):
        run = f.runs.get(target, {}).get(c)
        if run is None or key not in missed:
            continue
        bound = cpu_bound(run, cores)
        lines.append(
            f"- {target}: at {c} connections the machine was {run.busy:.0%} busy; each segment "
            f"cost {sum(run.cpu_ms.values()):.2f} ms of CPU over all processes "
            f"({cpu_line(run)}), so {cores} cores allow about "
            f"{'-' if bound is None else f'{bound:,.0f}'} requests/s: it is CPU-bound, and "
            "the biggest share above is what to make cheaper."
        )
    for s in f.storms:
        if s.throughput_ratio < 0.5 or s.p99_ratio > 4:
            lines.append(
                f"- {s.target} beside the logins: {cpu_line(s.beside)} ms per segment "
                f"(alone: {cpu_line(s.alone)}); the login loops got "
                f"{s.logins.get('200', 0)} logins through in {s.login_seconds:g} s."
            )
    return lines


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
            "access log): the machine's ceiling. Every server was checked to answer 200 with "
            "exactly the segment's bytes first; errors are wrk's socket errors, statuses "
            ">= 400, and bodies shorter than the segment.",
            "",
            *delivery_table(f),
            "",
            "Where the CPU goes (from /proc during each run: user + system time of each "
            "process over the requests served; `wrk (load)` is the load generator, which "
            "shares the cores; `(shared)` processes serve other users of the machine too):",
            "",
            *profile_table(f, cores),
            "",
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
