"""An optional sampling profile of the Python servers under the segment load, with py-spy
(`pip install py-spy`; it is not a dependency: without it, bench/delivery.py skips this).

Each process's samples (idle threads excluded) are summed by the package of the function
on top of the stack, e.g. `h11 31%, starlette 12%, asyncio 9%`: what the CPU goes to.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Callable, Mapping
from pathlib import Path

_FRAME = re.compile(r"^(?P<function>.*) \((?P<file>.*?)(?::\d+)?\)$")
_OWN = ("/services/", "/libs/")  # services/<service>/<package>/..., libs/common/common/...


def find_pyspy() -> str | None:
    beside = Path(sys.executable).parent / "py-spy"
    return str(beside) if beside.exists() else shutil.which("py-spy")


def package(file: str) -> str:
    """The top-level package (or stdlib module) a source file belongs to."""
    if file.startswith("<"):  # <frozen genericpath>, <string>
        return file.strip("<>").removeprefix("frozen ")
    parts = Path(file).parts
    for marker in ("site-packages", "dist-packages"):
        if marker in parts:
            return parts[parts.index(marker) + 1].removesuffix(".py")
    for own in _OWN:
        if own in file:
            rest = Path(file.split(own, 1)[1]).parts
            return rest[1] if len(rest) > 2 else rest[0]
    stdlib = next((i for i, p in enumerate(parts) if re.fullmatch(r"python3\.\d+", p)), None)
    if stdlib is not None and len(parts) > stdlib + 1:
        return parts[stdlib + 1].removesuffix(".py")
    return Path(file).stem


def by_package(raw: str) -> list[tuple[str, float]]:
    """py-spy's raw (collapsed) output -> (package of the leaf frame, share), biggest first."""
    counts: Counter[str] = Counter()
    for line in raw.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        leaf = _FRAME.match(stack.split(";")[-1])
        counts[package(leaf.group("file")) if leaf else "?"] += int(count)
    total = sum(counts.values())
    return [(name, n / total) for name, n in counts.most_common()] if total else []


def summary(shares: list[tuple[str, float]], top: int = 6) -> str:
    shown = [f"{name} {share:.0%}" for name, share in shares[:top] if share >= 0.01]
    return ", ".join(shown) or "no samples"


def profile(
    binary: str, pids: Mapping[str, int], seconds: int, work: Path, load: Callable[[], object]
) -> dict[str, str]:
    """Records every pid (name -> pid) for `seconds` while `load()` runs; name -> summary."""
    records = {}
    for name, pid in pids.items():
        out = work / f"pyspy-{name}-{pid}.txt"
        records[name] = (
            out,
            subprocess.Popen(
                [
                    *(binary, "record", "--pid", str(pid), "--duration", str(seconds)),
                    *("--rate", "250", "--format", "raw", "--full-filenames", "--nonblocking"),
                    *("--output", str(out)),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
            ),
        )
    load()
    found = {}
    for name, (out, process) in records.items():
        _, err = process.communicate(timeout=seconds + 60)
        if process.returncode != 0 or not out.exists():
            found[name] = f"py-spy failed: {err.strip().splitlines()[-1] if err.strip() else '?'}"
        else:
            found[name] = summary(by_package(out.read_text()))
    return found
