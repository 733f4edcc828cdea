"""Subprocesses: output handed over line by line, time-outs and cancellation kill the child."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

import pytest

from transcoder.process import ORPHAN_GUARD, ProcessTimeout, run_process


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie is dead for our purposes
    with open(f"/proc/{pid}/stat") as f:
        return f.read().split(")")[-1].split()[0] != "Z"


async def test_collects_stdout_and_the_tail_of_stderr() -> None:
    result = await run_process(
        ["sh", "-c", "echo out; for i in 1 2 3 4 5; do echo err$i >&2; done; exit 3"],
        timeout=10,
        tail=2,
        watch=("err4",),
    )
    assert result.returncode == 3
    assert result.stdout == b"out\n"
    assert result.stderr_tail == ["err4", "err5"]
    assert result.stderr_lines == 5
    assert result.stderr_text_seen == {"err4"}


async def test_lines_are_handed_over_as_they_come() -> None:
    lines: list[str] = []

    async def on_line(line: str) -> None:
        lines.append(line)

    await run_process(["printf", "a=1\\nb=2\\n"], timeout=10, on_stdout_line=on_line)
    assert lines == ["a=1", "b=2"]


async def _pid_of_sleeper(**kwargs: object) -> tuple[asyncio.Task[object], int]:
    pid: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    async def on_line(line: str) -> None:
        if not pid.done():
            pid.set_result(int(line))

    task = asyncio.create_task(
        run_process(["sh", "-c", "echo $$; exec sleep 30"], on_stdout_line=on_line, **kwargs)  # type: ignore[arg-type]
    )
    return task, await asyncio.wait_for(pid, 10)


async def test_a_time_out_kills_the_child() -> None:
    task, pid = await _pid_of_sleeper(timeout=0.5)
    with pytest.raises(ProcessTimeout):
        await task
    assert not alive(pid)


async def test_cancelling_kills_the_child() -> None:
    task, pid = await _pid_of_sleeper(timeout=60)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not alive(pid)


async def test_a_failing_line_handler_kills_the_child() -> None:
    pid_seen: list[int] = []

    async def on_line(line: str) -> None:
        pid_seen.append(int(line))
        raise RuntimeError("handler broke")

    with pytest.raises(RuntimeError):
        await run_process(
            ["sh", "-c", "echo $$; exec sleep 30"], timeout=60, on_stdout_line=on_line
        )
    assert not alive(pid_seen[0])


async def test_a_missing_program_raises() -> None:
    with pytest.raises(FileNotFoundError):
        await run_process(["/nonexistent/ffmpeg"], timeout=5)


def test_the_guard_starts_no_tool_once_its_worker_is_gone() -> None:
    """The worker died between fork and the guard: the child is not ours to run any more
    (the crash test in test_crash_hygiene.py covers a worker killed while the tool runs)."""
    someone_else = "1"
    done = subprocess.run(
        [sys.executable, "-I", "-S", "-c", ORPHAN_GUARD, someone_else, "/bin/echo", "echo", "ran"],
        capture_output=True,
        timeout=30,
        check=False,
    )
    assert (done.returncode, done.stdout) == (137, b"")
