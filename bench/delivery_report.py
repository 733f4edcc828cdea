"""The figures of bench/delivery.py as text: ratios to the ceiling, the markdown tables, the
goals of issue 15 and what limits a missed one. No I/O (tested in tests/bench/)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from delivery_wrk import TIMEOUT_SECONDS, WrkResult

CEILING = "(d) nginx from disk"
ALLINONE = "(a) all-in-one"
EDGE = "(b) stack through the edge"
GATEWAY = "(c) stack, gateway directly"
ORDER = (ALLINONE, EDGE, GATEWAY, CEILING)
GOAL_CONNECTIONS = 16


@dataclass
class Storm:
    """The same segment load alone and beside the two login loops, on one server."""

    target: str
    alone: WrkResult
    beside: WrkResult
    logins: Counter[str]
    login_seconds: float

    @property
    def throughput_ratio(self) -> float:
        return self.beside.rps / self.alone.rps if self.alone.rps else 0.0

    @property
    def p99_ratio(self) -> float:
        return self.beside.p99_ms / self.alone.p99_ms if self.alone.p99_ms else float("inf")


@dataclass
class Figures:
    """Everything one run measured. `runs[target][connections]`; `missing[target]` says why a
    target was not measured."""

    runs: dict[str, dict[int, WrkResult]] = field(default_factory=dict)
    missing: dict[str, str] = field(default_factory=dict)
    storms: list[Storm] = field(default_factory=list)
    profiles: dict[str, dict[str, str]] = field(default_factory=dict)
    """py-spy's summary of each Python process, per server (when py-spy is installed)."""
    paired: dict[str, dict[int, WrkResult]] = field(default_factory=dict)
    """The ceiling measured right after each server's run at the same connections (the
    machine is shared: its load drifts between the first run and the last)."""

    def add_paired(self, target: str, connections: int, ceiling: WrkResult) -> None:
        self.paired.setdefault(target, {})[connections] = ceiling
        every = [p[connections] for p in self.paired.values() if connections in p]
        self.runs.setdefault(CEILING, {})[connections] = median(every)

    def ceiling(self, target: str, connections: int) -> WrkResult | None:
        own = self.paired.get(target, {}).get(connections)
        return own or self.runs.get(CEILING, {}).get(connections)

    def ratio(self, target: str, connections: int) -> float | None:
        """MiB/s of `target` over the ceiling's at the same connections."""
        run = self.runs.get(target, {}).get(connections)
        ceiling = self.ceiling(target, connections)
        if run is None or ceiling is None or not ceiling.mib_s:
            return None
        return run.mib_s / ceiling.mib_s

    def p99_ratio(self, target: str, connections: int) -> float | None:
        run = self.runs.get(target, {}).get(connections)
        ceiling = self.ceiling(target, connections)
        if run is None or ceiling is None or not ceiling.p99_ms:
            return None
        return run.p99_ms / ceiling.p99_ms

    def labelled_runs(self) -> list[tuple[str, WrkResult]]:
        """Every run, with where it comes from."""
        found = [
            (f"(d) after {t} at {c} connections", r)
            for t, runs in self.paired.items()
            for c, r in runs.items()
        ]
        found += [  # (d)'s own rows are medians of the paired runs: not counted twice
            (f"{t} at {c} connections", r)
            for t, runs in self.runs.items()
            for c, r in runs.items()
            if all(r is not p for _, p in found)
        ]
        for s in self.storms:
            found += [(f"{s.target} alone", s.alone), (f"{s.target} beside the logins", s.beside)]
        return found

    def all_runs(self) -> list[WrkResult]:
        return [r for _, r in self.labelled_runs()]


def median(runs: list[WrkResult]) -> WrkResult:
    """The run of median throughput (the lower one of an even count)."""
    return sorted(runs, key=lambda r: r.mib_s)[(len(runs) - 1) // 2]


def ms(value: float) -> str:
    return f"{value:.2f} ms" if value < 10 else f"{value:.0f} ms"


def x(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x"


def errors(run: WrkResult) -> str:
    if not run.errors:
        return "0"
    parts = [
        *([f"{run.socket_errors} socket"] if run.socket_errors else []),
        *([f"{run.timeouts} over {TIMEOUT_SECONDS} s"] if run.timeouts else []),
        *([f"{run.status_errors} non-2xx"] if run.status_errors else []),
        *(["short bodies"] if run.short else []),
    ]
    return ", ".join(parts)


def busiest(run: WrkResult) -> tuple[str, float] | None:
    """The server process that used the most CPU, and how many cores it kept busy."""
    own = {n: v for n, v in run.cpu_ms.items() if n != "wrk (load)" and "(shared)" not in n}
    if not own:
        return None
    name = max(own, key=lambda n: own[n])
    return name, own[name] * run.rps / 1000


def delivery_table(f: Figures) -> list[str]:
    rows = [
        "| server | connections | requests/s | MiB/s | p50 | p99 | errors "
        "| MiB/s vs (d) | p99 vs (d) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for target in ORDER:
        if target in f.missing:
            rows.append(f"| {target} | | | | | | | not measured: {f.missing[target]} | |")
            continue
        for conns, run in sorted(f.runs.get(target, {}).items()):
            ceiling = f.paired.get(target, {}).get(conns)
            against = f" (of {ceiling.mib_s:,.0f})" if ceiling else ""
            rows.append(
                f"| {target} | {conns} | {run.rps:,.0f} | {run.mib_s:,.0f} | {ms(run.p50_ms)} "
                f"| {ms(run.p99_ms)} | {errors(run)} | {x(f.ratio(target, conns))}{against} "
                f"| {x(f.p99_ratio(target, conns))} |"
            )
    return rows


def cpu_line(run: WrkResult) -> str:
    """The processes' CPU per request, busiest first, and what that allows on `cores`."""
    parts = sorted(run.cpu_ms.items(), key=lambda kv: -kv[1])
    return ", ".join(f"{name} {value:.2f}" for name, value in parts if value >= 0.005)


def cpu_bound(run: WrkResult, cores: int) -> float | None:
    """Requests/s the machine's cores allow at this CPU cost per request (every process)."""
    total = sum(run.cpu_ms.values())
    return cores * 1000 / total if total else None


def cores_text(run: WrkResult) -> str:
    top = busiest(run)
    return "-" if top is None else f"{top[0]}: {top[1]:.2f}"


def profile_table(f: Figures, cores: int, connections: int = GOAL_CONNECTIONS) -> list[str]:
    rows = [
        f"| server ({connections} connections) | CPU ms per request, by process "
        "| sum | requests/s the cores allow at that cost | measured | machine busy "
        "| other load, ms per request | busiest process: cores it kept busy |",
        "|---|---|---:|---:|---:|---:|---:|---|",
    ]
    for target in ORDER:
        run = f.runs.get(target, {}).get(connections)
        if run is None:
            continue
        bound = cpu_bound(run, cores)
        rows.append(
            f"| {target} | {cpu_line(run)} | {sum(run.cpu_ms.values()):.2f} "
            f"| {'-' if bound is None else f'{bound:,.0f}'} | {run.rps:,.0f} "
            f"| {run.busy:.0%} | {run.other_ms:.2f} | {cores_text(run)} |"
        )
    return rows


def storm_table(f: Figures) -> list[str]:
    rows = [
        f"| server ({GOAL_CONNECTIONS} connections) | alone: requests/s | p99 "
        "| beside the logins: requests/s | p99 | throughput with/without | p99 with/without "
        "| logins answered 200 | 429 | other |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for s in f.storms:
        ok, limited = s.logins.get("200", 0), s.logins.get("429", 0)
        other = sum(v for k, v in s.logins.items() if k not in {"200", "429"})
        rows.append(
            f"| {s.target} | {s.alone.rps:,.0f} | {ms(s.alone.p99_ms)} | {s.beside.rps:,.0f} "
            f"| {ms(s.beside.p99_ms)} | {s.throughput_ratio:.0%} | {s.p99_ratio:.1f}x "
            f"| {ok} ({ok / s.login_seconds:.1f}/s) | {limited} | {other} |"
        )
    return rows


@dataclass
class Goal:
    text: str
    result: str
    met: bool | None  # None: not measured in this run
    target: str | None = None  # the server it is about (None: every run)
    storm: bool = False  # about the load beside the login loops


def goals(f: Figures) -> list[Goal]:
    """Issue 15's goals, each against this run's figures."""
    c = GOAL_CONNECTIONS
    out = []
    edge = f.ratio(EDGE, c)
    out.append(
        Goal(
            f"through the edge: >= 0.5x plain nginx at {c} connections",
            x(edge) if edge is not None else f.missing.get(EDGE, "not measured"),
            None if edge is None else edge >= 0.5,
            EDGE,
        )
    )
    aio, run = f.ratio(ALLINONE, c), f.runs.get(ALLINONE, {}).get(c)
    out.append(
        Goal(
            f"all-in-one: >= 0.15x nginx at {c} connections (2x the issue's 250 MiB/s)",
            "-" if aio is None or run is None else f"{x(aio)} ({run.mib_s:,.0f} MiB/s)",
            None if aio is None else aio >= 0.15,
            ALLINONE,
        )
    )
    out.append(
        Goal(
            f"all-in-one: p99 < 50 ms at {c} connections",
            "-" if run is None else ms(run.p99_ms),
            None if run is None else run.p99_ms < 50,
            ALLINONE,
        )
    )
    for s in f.storms:
        out.append(
            Goal(
                f"{s.target} beside two login loops: throughput >= 50% of alone",
                f"{s.throughput_ratio:.0%}",
                s.throughput_ratio >= 0.5,
                s.target,
                storm=True,
            )
        )
        out.append(
            Goal(
                f"{s.target} beside two login loops: p99 <= 4x alone",
                f"{s.p99_ratio:.1f}x",
                s.p99_ratio <= 4,
                s.target,
                storm=True,
            )
        )
    runs = f.all_runs()
    bad = [f"{where}: {errors(r)}" for where, r in f.labelled_runs() if r.errors]
    result = f"{len(bad)} of {len(runs)} runs with errors" + (f" ({'; '.join(bad)})" if bad else "")
    out.append(Goal("zero errors, every run", result, not bad))
    return out


def goal_table(items: list[Goal]) -> list[str]:
    rows = ["| goal | result | |", "|---|---|---|"]
    for g in items:
        verdict = "not measured" if g.met is None else "met" if g.met else "MISSED"
        rows.append(f"| {g.text} | {g.result} | {verdict} |")
    return rows


def pyspy_table(f: Figures) -> list[str]:
    if not f.profiles:
        return []
    rows = [
        f"| server ({GOAL_CONNECTIONS} connections) | process | its CPU samples by the package "
        "of the function on top of the stack |",
        "|---|---|---|",
    ]
    for target, processes in f.profiles.items():
        rows += [f"| {target} | {name} | {text} |" for name, text in processes.items()]
    return rows
