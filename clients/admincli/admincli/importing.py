"""What `import DIR` uploads, and with which title/description/category.

Every video file of the folder (by extension), plus any file a sidecar names. The sidecar is
`videos.csv` (a header row; columns `file` or `filename`, `title`, `description`, `category`)
or `videos.json` (a list of such objects, or an object from file name to one). What it leaves
out comes from the command's options, then from the file name (`intro_to-algebra.mp4`:
"Intro to algebra") and the folder's name as the category.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from admincli.errors import CliError
from admincli.uploads import Metadata

VIDEO_SUFFIXES = frozenset(
    {".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".wmv", ".flv", ".mpg", ".mpeg", ".ts"}
    | {".mts", ".m2ts", ".ogv", ".3gp"}
)
SIDECARS = ("videos.csv", "videos.json")
FIELDS = ("title", "description", "category")


@dataclass(frozen=True)
class Item:
    path: Path
    metadata: Metadata


def _row(entry: Any, where: str) -> dict[str, str]:
    if not isinstance(entry, dict):
        raise CliError(f"{where}: every entry must be an object with a file name.")
    return {str(k).strip().lower(): str(v).strip() for k, v in entry.items() if v is not None}


def _keyed(rows: list[dict[str, str]], where: str) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    for number, row in enumerate(rows, start=1):
        name = row.get("file") or row.get("filename")
        if not name:
            raise CliError(f"{where}: entry {number} has no `file` (or `filename`).")
        out[Path(name).name] = row
    return out


def read_sidecar(directory: Path) -> dict[str, dict[str, str]]:
    """File name -> its fields, from the first sidecar found ({} when there is none)."""
    for name in SIDECARS:
        path = directory / name
        if not path.is_file():
            continue
        try:
            if name.endswith(".csv"):
                with path.open(newline="", encoding="utf-8-sig") as source:
                    rows = [_row(r, name) for r in csv.DictReader(source)]
                return _keyed(rows, name)
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, csv.Error, ValueError) as exc:
            raise CliError(f"Cannot read {path}: {exc}") from exc
        if isinstance(data, dict):
            data = [{"file": k, **(v if isinstance(v, dict) else {})} for k, v in data.items()]
        if not isinstance(data, list):
            raise CliError(f"{name}: expected a list of objects or an object of file names.")
        return _keyed([_row(entry, name) for entry in data], name)
    return {}


def plan_import(
    directory: Path, *, category: str | None = None, description: str | None = None
) -> list[Item]:
    if not directory.is_dir():
        raise CliError(f"{directory} is not a folder.")
    sidecar = read_sidecar(directory)
    missing = sorted(name for name in sidecar if not (directory / name).is_file())
    if missing:
        raise CliError(f"The sidecar names files that are not in {directory}: {', '.join(missing)}")
    files = sorted(
        p
        for p in directory.iterdir()
        if p.is_file() and (p.suffix.lower() in VIDEO_SUFFIXES or p.name in sidecar)
    )
    items = []
    for path in files:
        row = sidecar.get(path.name, {})
        items.append(
            Item(
                path,
                Metadata(
                    title=row.get("title") or Metadata.from_name(path),
                    description=row.get("description") or description or "",
                    category=row.get("category") or category or directory.resolve().name,
                ),
            )
        )
    return items
