"""One load run of bench/delivery.py: wrk against a URL, its output parsed, and the CPU each
process of the server spent meanwhile (from /proc, so the report can say what limits it).

Standard library only (the parsing is tested without a network: tests/bench/).
"""

from __future__ import annotations

import json
import os
import re
import resource
import subprocess
import tempfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

MARK = "WRK_JSON "
TIMEOUT_SECONDS = 5  # longer than a segment lasts: a player would have stalled
# wrk's done() hook: exact counts and microsecond percentiles, one line (`%.0f`: LuaJIT's `%d`
# may overflow on the byte count of a fast run)
DONE_SCRIPT = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '@MARK@{"requests": %.0f, "bytes": %.0f, "duration_us": %.0f, "connect": %.0f, '
    .. '"read": %.0f, "write": %.0f, "status": %.0f, "timeout": %.0f, '
    .. '"p50_us": %.0f, "p99_us": %.0f, "max_us": %.0f}\\n',
    summary.requests, summary.bytes, summary.duration, e.connect, e.read, e.write,
    e.status, e.timeout, latency:percentile(50), latency:percentile(99), latency.max))
end
""".replace("@MARK@", MARK)
_NON_2XX = re.compile(r"Non-2xx or 3xx responses:\s*(\d+)")


@dataclass
class WrkResult:
    """One wrk run. `size`: the expected body; a response shorter than it (a 3xx, a 304, a
    cut body) shows up as `short`, as wrk counts only statuses >= 400 as errors."""

    connections: int
    requests: int
    bytes: int
    seconds: float
    p50_ms: float
    p99_ms: float
    socket_errors: int  # connect, read, write
    status_errors: int
    size: int
    timeouts: int = 0  # responses slower than TIMEOUT_SECONDS (wrk gives up on them)
    cpu_ms: dict[str, float] = field(default_factory=dict)  # per request, per process
    busy: float = 0.0  # share of the machine's CPU time spent busy during the run
    other_ms: float = 0.0  # per request, the busy CPU time no watched process accounts for

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def mib_s(self) -> float:
        return self.bytes / self.seconds / 2**20 if self.seconds else 0.0

    @property
    def short(self) -> bool:
        return self.requests > 0 and self.bytes < self.requests * self.size

    @property
    def errors(self) -> int:
        """Failed responses, and those a client gave up on: every one counts."""
        return self.socket_errors + self.timeouts + self.status_errors + (1 if self.short else 0)


def parse_wrk(stdout: str, *, connections: int, size: int) -> WrkResult:
    """wrk's output with DONE_SCRIPT's line; raises ValueError when that line is missing."""
    line = next((x for x in stdout.splitlines() if x.startswith(MARK)), None)
    if line is None:
        raise ValueError(f"no {MARK.strip()} line in wrk's output:\n{stdout[-2000:]}")
    d = json.loads(line[len(MARK) :])
    non_2xx = _NON_2XX.search(stdout)
    return WrkResult(
        connections=connections,
        requests=int(d["requests"]),
        bytes=int(d["bytes"]),
        seconds=d["duration_us"] / 1e6,
        p50_ms=d["p50_us"] / 1e3,
        p99_ms=d["p99_us"] / 1e3,
        socket_errors=int(d["connect"] + d["read"] + d["write"]),
        timeouts=int(d["timeout"]),
        status_errors=max(int(d["status"]), int(non_2xx.group(1)) if non_2xx else 0),
        size=size,
    )


# ---------------------------------------------------------------------- CPU from /proc

TICK = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> tuple[int, float] | None:
    """(parent pid, CPU seconds) of a process, None once it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2 :].split()
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / TICK


def process_name(pid: int) -> str:
    """`python -m gateway serve` -> gateway; nginx's master and workers -> nginx."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return "?"
    args = [a.decode(errors="replace") for a in argv if a]
    if not args:
        return "?"
    if any("moto" in a for a in args):
        return "moto (S3)"
    if "-m" in args[:-1]:
        return args[args.index("-m") + 1]
    if args[0].startswith("nginx"):
        return "nginx"
    return Path(args[0]).name


def tree(root: int) -> list[int]:
    """`root` and every process below it."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (s := _stat(int(entry.name))):
            parents[int(entry.name)] = s[0]
    found, todo = [root], [root]
    while todo:
        pid = todo.pop()
        children = [c for c, p in parents.items() if p == pid]
        found += children
        todo += children
    return found


def named(names: Iterable[str]) -> dict[int, str]:
    """Every process whose executable is one of `names` (e.g. the shared redis-server)."""
    wanted, found = set(names), {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                comm = (entry / "comm").read_text().strip()
            except OSError:
                continue
            if comm in wanted:
                found[int(entry.name)] = comm
    return found


def cpu_by_name(pids: Iterable[int], label: Callable[[int], str]) -> dict[int, tuple[str, float]]:
    return {pid: (label(pid), s[1]) for pid in pids if (s := _stat(pid))}


def machine_ticks() -> tuple[int, int]:
    """(busy, total) jiffies of the whole machine, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return sum(values) - idle, sum(values)


def per_request(
    before: Mapping[int, tuple[str, float]], after: Mapping[int, tuple[str, float]], requests: int
) -> dict[str, float]:
    """CPU milliseconds per request of each process name (same names summed)."""
    spent: dict[str, float] = {}
    for pid, (name, cpu) in after.items():
        start = before.get(pid, (name, 0.0))[1]
        spent[name] = spent.get(name, 0.0) + cpu - start
    return {n: s * 1e3 / requests for n, s in spent.items() if requests and s > 0}


# ---------------------------------------------------------------------- a run


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_wrk(
    url: str,
    *,
    connections: int,
    seconds: float,
    headers: Mapping[str, str],
    size: int,
    processes: Callable[[], Mapping[int, str]],
) -> WrkResult:
    """wrk for `seconds` at `connections` (two threads at most: the machine is small); the
    CPU of `processes()` (pid -> name) and of wrk itself measured around it."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(DONE_SCRIPT)
    threads = min(2, connections)
    command = [
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{seconds:g}s",
        "--timeout",
        f"{TIMEOUT_SECONDS}s",
    ]
    for name, value in headers.items():
        command += ["-H", f"{name}: {value}"]
    command += ["-s", script.name, url]
    watched = processes()
    before = cpu_by_name(watched, watched.__getitem__)
    busy0, total0 = machine_ticks()
    children0 = _children_cpu()
    try:
        wrk = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        out, _ = wrk.communicate(timeout=seconds + 60)
    finally:
        os.unlink(script.name)
    busy1, total1 = machine_ticks()
    after = cpu_by_name(watched, watched.__getitem__)
    if wrk.returncode != 0:
        raise RuntimeError(f"wrk exited with {wrk.returncode}:\n{out[-2000:]}")
    result = parse_wrk(out, connections=connections, size=size)
    result.cpu_ms = per_request(before, after, result.requests)
    if result.requests:  # the only child that ends meanwhile (login loops outlive it)
        result.cpu_ms["wrk (load)"] = (_children_cpu() - children0) * 1e3 / result.requests
    result.busy = (busy1 - busy0) / max(1, total1 - total0)
    if result.requests:  # everyone else's load on a shared machine, and the kernel's own
        ours = sum(result.cpu_ms.values()) * result.requests / 1e3
        result.other_ms = max(0.0, (busy1 - busy0) / TICK - ours) * 1e3 / result.requests
    return result
