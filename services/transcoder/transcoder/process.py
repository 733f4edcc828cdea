"""Run FFmpeg tools as asyncio subprocesses: bounded in time, killed when cancelled.

Nothing here blocks the event loop (the all-in-one wiring runs this worker beside the web
services), and a child never outlives the coroutine that started it, nor the process: on
Linux each child is started through `ORPHAN_GUARD`, so a worker killed outright (SIGKILL, out
of memory) takes its FFmpeg with it instead of leaving it encoding beside the redelivered job.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import shutil
import sys
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

LineHandler = Callable[[str], Awaitable[None]]

ORPHAN_GUARD = """\
import ctypes, os, signal, sys
ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
if os.getppid() != int(sys.argv[1]):
    os._exit(137)  # the worker died before the guard was set: do not start the tool
os.execv(sys.argv[2], sys.argv[3:])
"""
"""Run by a fresh interpreter between fork and the tool: asks Linux to SIGKILL the tool when
its parent dies, then becomes the tool (same pid). Done in a child program rather than a
`preexec_fn`, which is not safe in a process with threads (the worker has several). The signal
comes when the parent's *thread* that started the child ends: the event loop's thread, which
lives as long as the worker."""


def guarded(args: Sequence[str]) -> list[str]:
    """`args`, started through `ORPHAN_GUARD` where Linux offers it. Raises
    `FileNotFoundError` when the program is missing, as starting it would."""
    program = shutil.which(args[0])
    if program is None:
        raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), args[0])
    if not sys.platform.startswith("linux") or not sys.executable:
        return list(args)
    guard = [sys.executable, "-I", "-S", "-c", ORPHAN_GUARD, str(os.getpid()), program]
    return [*guard, *args]


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
        *guarded(args),
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
