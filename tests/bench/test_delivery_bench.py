"""bench/delivery.py's arithmetic, without a network: wrk's output parsed, the ratios to the
ceiling, the tables and goals it writes, the stack's banner, and the section it replaces."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace

import pytest
from delivery_doc import limits, replace_section, section, why
from delivery_pyspy import by_package, package, summary
from delivery_report import (
    ALLINONE,
    CEILING,
    EDGE,
    GATEWAY,
    Figures,
    Storm,
    delivery_table,
    goal_table,
    goals,
    storm_table,
)
from delivery_targets import Server, edge_and_gateway, parse_banner
from delivery_wrk import WrkResult, parse_wrk, per_request

MIB = 2**20

WRK_OUTPUT = """\
Running 8s test @ http://127.0.0.1:27634/segment_00000.ts
  2 threads and 16 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     7.01ms    3.02ms  40.12ms   80.00%
    Req/Sec     1.05k   100.00     1.20k    70.00%
  16000 requests in 8.00s, 15.63GB read
  Socket errors: connect 0, read 2, write 0, timeout 1
  Non-2xx or 3xx responses: 3
Requests/sec:   2000.00
Transfer/sec:      1.95GB
WRK_JSON {"requests": 16000, "bytes": 16777216000, "duration_us": 8000000, "connect": 0, \
"read": 2, "write": 0, "status": 3, "timeout": 1, "p50_us": 6470, "p99_us": 13630, \
"max_us": 40120}
"""


def run(rps: float, p99: float, connections: int = 16, size: int = MIB) -> WrkResult:
    seconds = 8.0
    requests = round(rps * seconds)
    return WrkResult(
        connections=connections,
        requests=requests,
        bytes=requests * size,
        seconds=seconds,
        p50_ms=p99 / 2,
        p99_ms=p99,
        socket_errors=0,
        status_errors=0,
        size=size,
    )


def test_wrk_output_is_parsed_with_every_error_counted() -> None:
    result = parse_wrk(WRK_OUTPUT, connections=16, size=MIB)
    assert (result.requests, result.bytes, result.seconds) == (16000, 16000 * MIB, 8.0)
    assert result.rps == 2000.0
    assert result.mib_s == 2000.0
    assert (result.p50_ms, result.p99_ms) == (6.47, 13.63)
    assert (result.socket_errors, result.timeouts, result.status_errors) == (2, 1, 3)
    assert result.errors == 6
    assert not result.short


def test_short_bodies_count_as_an_error() -> None:
    """wrk calls a 304 or a redirect a success: fewer bytes than segments gives it away."""
    result = parse_wrk(WRK_OUTPUT, connections=16, size=MIB + 1)
    assert result.short
    assert result.errors == 7


def test_output_without_the_done_line_is_refused() -> None:
    with pytest.raises(ValueError, match="no WRK_JSON line"):
        parse_wrk(WRK_OUTPUT.split("WRK_JSON")[0], connections=16, size=MIB)


def test_cpu_per_request_sums_processes_of_one_name() -> None:
    before = {1: ("gateway", 10.0), 2: ("gateway", 5.0), 3: ("catalog", 1.0)}
    after = {1: ("gateway", 11.0), 2: ("gateway", 6.0), 3: ("catalog", 1.0), 4: ("nginx", 0.5)}
    assert per_request(before, after, 1000) == {"gateway": 2.0, "nginx": 0.5}


def figures() -> Figures:
    f = Figures()
    f.runs[CEILING] = {16: run(2000, 10)}
    f.runs[ALLINONE] = {16: run(400, 40)}
    f.runs[GATEWAY] = {16: run(100, 300)}
    f.missing[EDGE] = "the stack has no edge (nginx) yet"
    f.storms.append(Storm(ALLINONE, run(400, 40), run(150, 200), Counter({"200": 80}), 13))
    return f


def test_table_gives_each_server_against_the_ceiling() -> None:
    assert delivery_table(figures())[2:] == [
        "| (a) all-in-one | 16 | 400 | 400 | 20 ms | 40 ms | 0 | 0.20x | 4.00x |",
        "| (b) stack through the edge | | | | | | | not measured: the stack has no edge "
        "(nginx) yet | |",
        "| (c) stack, gateway directly | 16 | 100 | 100 | 150 ms | 300 ms | 0 | 0.05x | 30.00x |",
        "| (d) nginx from disk | 16 | 2,000 | 2,000 | 5.00 ms | 10 ms | 0 | 1.00x | 1.00x |",
    ]


def test_storm_table_gives_the_ratios_and_the_logins() -> None:
    assert storm_table(figures())[2:] == [
        "| (a) all-in-one | 400 | 40 ms | 150 | 200 ms | 38% | 5.0x | 80 (6.2/s) | 0 | 0 |"
    ]


def test_goals_are_judged_on_this_runs_ratios() -> None:
    assert goal_table(goals(figures()))[2:] == [
        "| through the edge: >= 0.5x plain nginx at 16 connections "
        "| the stack has no edge (nginx) yet | not measured |",
        "| all-in-one: >= 0.15x nginx at 16 connections (2x the issue's 250 MiB/s) "
        "| 0.20x (400 MiB/s) | met |",
        "| all-in-one: p99 < 50 ms at 16 connections | 40 ms | met |",
        "| (a) all-in-one beside two login loops: throughput >= 50% of alone | 38% | MISSED |",
        "| (a) all-in-one beside two login loops: p99 <= 4x alone | 5.0x | MISSED |",
        "| zero errors, every run | 0 of 5 runs with errors | met |",
    ]


BANNER = """\
=====
Videoflix stack is running (every service its own process)
  Gateway:       http://127.0.0.1:8000/api/   docs: /api/docs
  identity:      http://127.0.0.1:21001   metrics: :21002/metrics   log: /tmp/x/identity.log
  gateway:       http://127.0.0.1:21005   metrics: :21006/metrics   log: /tmp/x/gateway.log
=====
Stack ready: http://127.0.0.1:8000
"""


def stack(banner: str) -> Server:
    server = Server("stack", "", None, None)  # type: ignore[arg-type]
    server.url, server.urls = parse_banner(banner)
    return server


def test_the_stacks_port_is_the_edge_when_no_gateway_listens_there() -> None:
    assert edge_and_gateway(stack(BANNER)) == ("http://127.0.0.1:8000", "http://127.0.0.1:21005")


def test_a_stack_whose_gateway_is_on_its_port_has_no_edge() -> None:
    banner = BANNER.replace("21005", "8000")
    assert edge_and_gateway(stack(banner)) == (None, "http://127.0.0.1:8000")


def test_only_the_delivery_section_is_replaced() -> None:
    doc = "# Benchmarks\n\n## Transcode\n\nfigures\n\n## Delivery\n\nold\n"
    assert replace_section(doc, "## Delivery\n\nnew\n") == (
        "# Benchmarks\n\n## Transcode\n\nfigures\n\n## Delivery\n\nnew\n"
    )
    assert replace_section("# Benchmarks\n\n## Transcode\n\nx\n", "## Delivery\n\nnew\n") == (
        "# Benchmarks\n\n## Transcode\n\nx\n\n## Delivery\n\nnew\n"
    )


def test_the_section_holds_the_tables_goals_and_what_limits_a_missed_one() -> None:
    f = figures()
    f.runs[ALLINONE][16].cpu_ms = {"allinone": 4.0, "wrk (load)": 1.0}
    text = section(
        f,
        goals(f),
        machine="2 cores (a CPU)",
        versions={"nginx": "1.22.1", "wrk": "wrk 4.1.0"},
        when="2026-11-30 06:00 UTC",
        seconds=8,
        segment="720p segment of 1,048,576 bytes",
        load=(1.0, 2.0),
        notes=[],
        env={"RATE_LIMIT_LOGIN": "1000000", "ADMIN_PASSWORD": "secret"},
    )
    assert text.startswith(
        "## Delivery\n\n`bench/delivery.py`, run 2026-11-30 06:00 UTC on 2 cores"
    )
    assert "with `RATE_LIMIT_LOGIN=1000000` so that" in text
    assert "secret" not in text
    assert delivery_table(f)[2] in text
    assert goal_table(goals(f))[-1] in text
    assert "- (a) all-in-one beside the logins: CPU ms per segment" in text
    assert "- (a) all-in-one: at 16 connections" not in text  # its delivery goals were met


def test_each_server_is_held_to_the_ceiling_measured_right_after_it() -> None:
    f = Figures()
    f.runs[ALLINONE] = {16: run(400, 40)}
    f.runs[GATEWAY] = {16: run(100, 300)}
    f.add_paired(ALLINONE, 16, run(2000, 10))
    f.add_paired(GATEWAY, 16, run(1000, 20))
    assert (f.ratio(ALLINONE, 16), f.ratio(GATEWAY, 16)) == (0.2, 0.1)
    assert f.runs[CEILING][16].rps == 1000  # the median (the lower of two)
    assert delivery_table(f)[2] == (
        "| (a) all-in-one | 16 | 400 | 400 | 20 ms | 40 ms | 0 | 0.20x (of 2,000) | 4.00x |"
    )


RAW_PYSPY = """\
<module> (/x/lib/python3.11/runpy.py:1);run (/x/lib/python3.11/asyncio/runners.py:2);\
read (/w/.venv/lib/python3.11/site-packages/h11/_readers.py:3) 6
<module> (/x/lib/python3.11/runpy.py:1);send (/w/services/gateway/gateway/proxy.py:40) 3
<module> (/x/lib/python3.11/runpy.py:1);select (/x/lib/python3.11/selectors.py:9) 1
"""


def test_pyspy_samples_are_summed_by_the_package_on_top_of_the_stack() -> None:
    assert by_package(RAW_PYSPY) == [("h11", 0.6), ("gateway", 0.3), ("selectors", 0.1)]
    assert summary(by_package(RAW_PYSPY)) == "h11 60%, gateway 30%, selectors 10%"
    assert package("/w/libs/common/common/storage/local.py") == "common"
    assert package("<frozen importlib._bootstrap>") == "importlib._bootstrap"
    assert summary([]) == "no samples"


def test_a_run_a_client_gave_up_on_misses_zero_errors_and_is_named() -> None:
    f = figures()
    f.runs[GATEWAY][64] = replace(run(45, 4000, 64), timeouts=2)
    goal = goals(f)[-1]
    assert (goal.met, goal.result) == (
        False,
        "1 of 6 runs with errors ((c) stack, gateway directly at 64 connections: 2 over 5 s)",
    )


def test_what_limits_says_whether_errors_were_late_answers_or_failures() -> None:
    f = figures()
    f.runs[GATEWAY][64] = replace(run(45, 4000, 64), timeouts=2)
    f.runs[ALLINONE][1] = replace(run(400, 4, 1), status_errors=3)
    lines = limits(f, goals(f), 2)
    late = next(line for line in lines if line.startswith("- (c) stack, gateway directly at 64"))
    assert "2 answers came later than wrk's 5 s time-out; none failed" in late
    assert "each waits 1.4 s on average" in late
    failed = next(line for line in lines if line.startswith("- (a) all-in-one at 1 "))
    assert failed.endswith(": 3 non-2xx: failures, not slowness.")


def test_a_python_process_at_one_core_is_named_as_the_limit() -> None:
    result = run(350, 140)
    result.cpu_ms = {"allinone": 2.8, "wrk (load)": 0.3}
    text = why(result, 2, {"allinone": "concurrent 27%"})
    assert "The busiest process, allinone, kept 0.98 cores busy" in text
    assert "py-spy on allinone: concurrent 27%." in text
    assert "mean latency is 16 / throughput = 46 ms" in text
