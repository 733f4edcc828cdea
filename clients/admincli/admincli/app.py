"""The `videoflix-admin` commands: each parses its options, calls the API client and shows
the answer. An error is one line on stderr (the API's own message) and exit code 1, never a
traceback."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from admincli import batch, views
from admincli.api import AdminApi
from admincli.errors import CliError
from admincli.importing import plan_import
from admincli.tus import CHUNK_SIZE
from admincli.uploads import Metadata
from admincli.watching import follow

DEFAULT_URL = "http://127.0.0.1:8000"
MIB = 1024 * 1024

app = typer.Typer(
    name="videoflix-admin",
    help="Run a Videoflix catalogue and its users from the command line (the admin API).",
    no_args_is_help=True,
    add_completion=False,
)
users_app = typer.Typer(help="Accounts: list, deactivate, activate.", no_args_is_help=True)
app.add_typer(users_app, name="users")

F = TypeVar("F", bound=Callable[..., Any])


def handled(func: F) -> F:
    """A `CliError` (HTTP errors, network failures, bad input) becomes one red line on
    stderr and its exit code."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except CliError as exc:
            views.consoles()[1].print(f"[red]Error:[/] {exc}", highlight=False)
            raise typer.Exit(exc.exit_code) from None

    return wrapper  # type: ignore[return-value]


def _api(ctx: typer.Context) -> AdminApi:
    return AdminApi(ctx.obj)


@app.callback()
def options(
    ctx: typer.Context,
    url: Annotated[
        str, typer.Option(envvar="VIDEOFLIX_URL", help="The gateway of the deployment.")
    ] = DEFAULT_URL,
) -> None:
    ctx.obj = url


# ---------------------------------------------------------------------- the session


@app.command()
@handled
def login(
    ctx: typer.Context,
    email: Annotated[str, typer.Option(envvar="VIDEOFLIX_EMAIL", prompt=True)],
    password: Annotated[
        str, typer.Option(envvar="VIDEOFLIX_PASSWORD", prompt=True, hide_input=True)
    ],
) -> None:
    """Log in as an admin; the session is kept (0600) for the next commands on this URL."""
    with _api(ctx) as api:
        api.login(email.strip(), password)
        views.consoles()[0].print(f"Logged in to {api.url} as {email.strip()}.", highlight=False)


@app.command()
@handled
def logout(ctx: typer.Context) -> None:
    """End the session on the server and forget it here."""
    with _api(ctx) as api:
        api.logout()
        views.consoles()[0].print(f"Logged out of {api.url}.", highlight=False)


# ---------------------------------------------------------------------- uploads

ChunkOption = Annotated[
    int, typer.Option("--chunk-size", min=1, help="MiB per request: what a cut can cost.")
]
RetriesOption = Annotated[
    int, typer.Option(min=0, help="Tries after a broken connection, before giving up.")
]


@app.command()
@handled
def upload(
    ctx: typer.Context,
    files: Annotated[
        list[Path],
        typer.Argument(
            metavar="FILE", exists=True, dir_okay=False, readable=True, resolve_path=True
        ),
    ],
    category: Annotated[str, typer.Option(help="The catalogue row the videos go to.")],
    title: Annotated[str | None, typer.Option(help="Default: from the file name.")] = None,
    description: Annotated[str, typer.Option()] = "",
    chunk_size: ChunkOption = CHUNK_SIZE // MIB,
    retries: RetriesOption = 3,
) -> None:
    """Upload video files (tus): a rerun after an interruption resumes where the server is."""
    if title is not None and len(files) > 1:
        raise CliError("--title names one video: give one file, or let each take its name.")
    items = [
        (path, Metadata(title or Metadata.from_name(path), category, description)) for path in files
    ]
    with _api(ctx) as api:
        results = batch.send_all(
            api, items, skip_done=False, chunk_size=chunk_size * MIB, retries=retries
        )
    if batch.failed(results):
        raise typer.Exit(1)


@app.command(name="import")
@handled
def import_(
    ctx: typer.Context,
    directory: Annotated[
        Path, typer.Argument(metavar="DIR", exists=True, file_okay=False, resolve_path=True)
    ],
    category: Annotated[
        str | None, typer.Option(help="For files the sidecar gives none; default: DIR's name.")
    ] = None,
    description: Annotated[str | None, typer.Option()] = None,
    chunk_size: ChunkOption = CHUNK_SIZE // MIB,
    retries: RetriesOption = 3,
) -> None:
    """Upload every video of DIR (metadata: DIR/videos.csv or videos.json, else file names).

    A rerun resumes: what was uploaded already is skipped, a cut upload goes on."""
    plan = plan_import(directory, category=category, description=description)
    if not plan:
        raise CliError(f"No video files in {directory}.")
    with _api(ctx) as api:
        results = batch.send_all(
            api,
            [(item.path, item.metadata) for item in plan],
            skip_done=True,
            chunk_size=chunk_size * MIB,
            retries=retries,
        )
    views.consoles()[0].print(batch.summary(results))
    if batch.failed(results):
        raise typer.Exit(1)


# ---------------------------------------------------------------------- videos

JsonOption = Annotated[bool, typer.Option("--json", help="The API's JSON, for scripts.")]


def _print_json(value: Any) -> None:
    typer.echo(json.dumps(value, indent=2, ensure_ascii=False))


@app.command(name="list")
@handled
def list_(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Every video: status, progress, renditions, duration."""
    with _api(ctx) as api:
        videos = api.videos()
    if as_json:
        _print_json(videos)
    else:
        views.consoles()[0].print(views.videos_table(videos))


@app.command()
@handled
def status(
    ctx: typer.Context,
    video_id: Annotated[int, typer.Argument(metavar="ID")],
    follow_: Annotated[
        bool, typer.Option("--follow", "-f", help="Wait until ready (exit 0) or failed (1).")
    ] = False,
) -> None:
    """A video's state; with --follow, its progress until it is ready or has failed."""
    out, _ = views.consoles()
    with _api(ctx) as api:
        if not follow_:
            out.print(views.video_line(api.video(video_id)), highlight=False)
            return
        with views.transcode_progress(out) as progress:
            task = progress.add_task(f"video {video_id}", total=100)

            def changed(video: dict[str, Any]) -> None:
                progress.update(
                    task,
                    completed=100 if video.get("status") == "ready" else video.get("progress", 0),
                    description=f"video {video_id} {video.get('status')}",
                )

            final = follow(api, video_id, changed)
    out.print(views.video_line(final), highlight=False)
    if final.get("status") != "ready":
        raise typer.Exit(1)


@app.command()
@handled
def retry(ctx: typer.Context, video_id: Annotated[int, typer.Argument(metavar="ID")]) -> None:
    """Transcode a failed video again."""
    with _api(ctx) as api:
        video = api.retry(video_id)
    views.consoles()[0].print(views.video_line(video), highlight=False)


@app.command()
@handled
def delete(
    ctx: typer.Context,
    video_id: Annotated[int, typer.Argument(metavar="ID")],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask.")] = False,
) -> None:
    """Delete a video and every file of it."""
    with _api(ctx) as api:
        video = api.video(video_id)
        if not yes:
            typer.confirm(f"Delete video {video_id} “{video['title']}”?", abort=True)
        api.delete(video_id)
    views.consoles()[0].print(f"Deleted video {video_id} “{video['title']}”.", highlight=False)


# ---------------------------------------------------------------------- users


@users_app.command(name="list")
@handled
def users_list(
    ctx: typer.Context,
    search: Annotated[str | None, typer.Option(help="Part of an email address.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Accounts, by email."""
    with _api(ctx) as api:
        users = api.users(search)
    if as_json:
        _print_json(users)
    else:
        views.consoles()[0].print(views.users_table(users))


def _set_active(ctx: typer.Context, user_id: int, active: bool) -> None:
    with _api(ctx) as api:
        user = api.set_active(user_id, active)
    what = "active again" if active else "deactivated: logged out everywhere, no login"
    views.consoles()[0].print(f"User {user['id']} {user['email']} is {what}.", highlight=False)


@users_app.command()
@handled
def deactivate(ctx: typer.Context, user_id: Annotated[int, typer.Argument(metavar="ID")]) -> None:
    """Log a user out everywhere and refuse their logins."""
    _set_active(ctx, user_id, False)


@users_app.command()
@handled
def activate(ctx: typer.Context, user_id: Annotated[int, typer.Argument(metavar="ID")]) -> None:
    """Let a deactivated user log in again."""
    _set_active(ctx, user_id, True)


def main() -> None:
    app()
