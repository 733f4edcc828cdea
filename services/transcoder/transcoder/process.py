"""Run FFmpeg tools as asyncio subprocesses: bounded in time, killed when cancelled.

Nothing here blocks the event loop (the all-in-one wiring runs this worker beside the web
services), and a child never outlives the coroutine that started it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

LineHandler = Callable[[str], Awaitable[None]]


class ProcessTimeout(Exception):
    """The child ran longer than allowed and was killed."""


@dataclass
class ProcessResult:
    returncode: int
    stdout: bytes = b""
    stderr_tail: list[str] = field(default_factory=list)
    """The last lines FFmpeg logged (it logs at `-loglevel error`, so these are the errors)."""
    stderr_lines: int = 0
    stderr_text_seen: set[str] = field(default_factory=set)
    """Which of the `watch` markers appeared anywhere in stderr."""


async def run_process(
    args: Sequence[str],
    *,
    timeout: float,
    on_stdout_line: LineHandler | None = None,
    watch: Sequence[str] = (),
    tail: int = 40,
) -> ProcessResult:
    """Run `args`; stdout is handed to `on_stdout_line` line by line, or collected.

    Raises `ProcessTimeout` after `timeout` seconds, `FileNotFoundError` when the program is
    missing. On timeout, cancellation or an error in `on_stdout_line` the child is killed and
    reaped before the exception propagates.
    """
    proc = await asyncio.create_subprocess_exec(
        *args,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        start_new_session=True,  # a Ctrl-C on the worker's terminal is ours to handle
    )
    assert proc.stdout is not None and proc.stderr is not None
    result = ProcessResult(returncode=-1)
    lines: deque[str] = deque(maxlen=tail)
    collected = bytearray()

    async def read_stdout() -> None:
        assert proc.stdout is not None
        if on_stdout_line is None:
            while chunk := await proc.stdout.read(65536):
                collected.extend(chunk)
            return
        while raw := await proc.stdout.readline():
            await on_stdout_line(raw.decode("utf-8", errors="replace").rstrip("\r\n"))

    async def read_stderr() -> None:
        assert proc.stderr is not None
        while raw := await proc.stderr.readline():
            line = raw.decode("utf-8", errors="replace").rstrip()
            result.stderr_lines += 1
            for marker in watch:
                if marker in line:
                    result.stderr_text_seen.add(marker)
            if line:
                lines.append(line)

    readers = [asyncio.ensure_future(read_stdout()), asyncio.ensure_future(read_stderr())]
    try:
        try:
            async with asyncio.timeout(timeout):
                await asyncio.gather(*readers)
                result.returncode = await proc.wait()
        except TimeoutError:
            raise ProcessTimeout(f"{args[0]} ran longer than {timeout:g} s") from None
    finally:
        for reader in readers:
            reader.cancel()
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            # shielded: a cancelled job must still reap its child
            await asyncio.shield(proc.wait())
        await asyncio.gather(*readers, return_exceptions=True)
    result.stdout = bytes(collected)
    result.stderr_tail = list(lines)
    return result
