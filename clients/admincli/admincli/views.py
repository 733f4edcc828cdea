"""How the CLI shows things: rich tables and progress bars."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Table

STATUS_STYLE = {"ready": "green", "processing": "yellow", "uploading": "yellow", "failed": "red"}


def consoles() -> tuple[Console, Console]:
    """(stdout, stderr), made when a command runs (so they see its terminal and COLUMNS)."""
    return Console(), Console(stderr=True)


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


def size(count: int) -> str:
    """Decimal units, as the progress bars show them."""
    value = float(count)
    for unit in ("bytes", "kB", "MB"):
        if value < 1000:
            return f"{value:.0f} {unit}" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} GB"


def status(video: dict[str, Any]) -> str:
    state = str(video.get("status", "?"))
    return f"[{STATUS_STYLE.get(state, 'white')}]{state}[/]"


def videos_table(videos: Iterable[dict[str, Any]]) -> Table:
    table = Table("ID", "Title", "Category", "Status", "Progress", "Renditions", "Duration")
    for video in videos:
        table.add_row(
            str(video["id"]),
            str(video.get("title", "")),
            str(video.get("category", "")),
            status(video),
            f"{video.get('progress', 0)}%",
            ", ".join(video.get("renditions") or []) or "-",
            duration(video.get("duration")),
        )
    return table


def video_line(video: dict[str, Any]) -> str:
    """One line about a video, with its failure reason if it failed."""
    text = f"Video {video['id']} “{video.get('title', '')}”: {status(video)}"
    if video.get("status") == "processing":
        text += f" {video.get('progress', 0)}%"
    if video.get("renditions"):
        text += f", {', '.join(video['renditions'])}"
    if video.get("duration") is not None:
        text += f", {duration(video['duration'])}"
    if video.get("error"):
        text += f" — {video['error']}"
    return text


def _yes(value: Any) -> str:
    return "[green]yes[/]" if value else "[red]no[/]"


def users_table(users: Iterable[dict[str, Any]]) -> Table:
    table = Table("ID", "Email", "Admin", "Activated", "Active", "Created", "Last login")
    for user in users:
        table.add_row(
            str(user["id"]),
            str(user["email"]),
            "yes" if user.get("is_admin") else "",
            _yes(user.get("activated")),
            _yes(user.get("is_active")),
            str(user.get("created_at") or "-")[:16].replace("T", " "),
            str(user.get("last_login") or "-")[:16].replace("T", " "),
        )
    return table


def transfer_progress(console: Console) -> Progress:
    """A bar per file: name, bar, percent, bytes, speed, time left."""
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=console,
    )


def transcode_progress(console: Console) -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        console=console,
        transient=True,
    )
