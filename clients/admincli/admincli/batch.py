"""Several files to videos, one after the other: a progress bar each and a line per result,
and for an import a summary table. A file that fails does not stop the others."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.table import Table

from admincli import views
from admincli.api import AdminApi
from admincli.errors import CliError, NotLoggedIn
from admincli.session import UploadStore
from admincli.uploads import Metadata, Outcome, upload_file

Result = tuple[Path, Metadata, Outcome | CliError]


class Stopped(CliError):
    """Ctrl-C: what the server holds stays for the next run."""

    exit_code = 130


def send_all(
    api: AdminApi,
    items: list[tuple[Path, Metadata]],
    *,
    skip_done: bool,
    chunk_size: int,
    retries: int,
) -> list[Result]:
    store = UploadStore(api.url)
    results: list[Result] = []
    with views.transfer_progress(views.consoles()[0]) as progress:
        for path, metadata in items:
            task = progress.add_task(path.name, total=None)

            def started(total: int, offset: int, task: Any = task) -> None:
                progress.update(task, total=total, completed=offset)

            def moved(offset: int, task: Any = task) -> None:
                progress.update(task, completed=offset)

            try:
                outcome = upload_file(
                    api,
                    store,
                    path,
                    metadata,
                    on_start=started,
                    on_progress=moved,
                    skip_done=skip_done,
                    chunk_size=chunk_size,
                    retries=retries,
                )
            except KeyboardInterrupt:
                raise Stopped(
                    f"Stopped during {path.name}: the same command again resumes it."
                ) from None
            except NotLoggedIn:
                raise  # every other file would fail the same way
            except CliError as exc:
                results.append((path, metadata, exc))
                progress.console.print(f"[red]✗[/] {path.name}: {exc}", highlight=False)
                continue
            results.append((path, metadata, outcome))
            progress.console.print(f"[green]✓[/] {path.name}: {told(outcome)}", highlight=False)
    return results


def told(outcome: Outcome) -> str:
    if outcome.skipped:
        return f"already uploaded, video {outcome.video_id}"
    text = f"video {outcome.video_id}, {views.size(outcome.size)}"
    if outcome.resumed_from:
        text += f", resumed at byte {outcome.resumed_from} ({views.size(outcome.resumed_from)})"
    return text


def failed(results: list[Result]) -> bool:
    return any(isinstance(result, CliError) for *_, result in results)


def summary(results: list[Result]) -> Table:
    table = Table("File", "Title", "Category", "Result", "Video")
    for path, metadata, result in results:
        if isinstance(result, CliError):
            table.add_row(path.name, metadata.title, metadata.category, f"[red]{result}[/]", "")
        else:
            done = "skipped" if result.skipped else "uploaded"
            table.add_row(path.name, metadata.title, metadata.category, done, str(result.video_id))
    return table
