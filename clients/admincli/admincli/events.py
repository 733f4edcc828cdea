"""Server-sent events (the WHATWG format) as `(event, data)` pairs, data decoded from JSON."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any


def parse_events(lines: Iterable[str]) -> Iterator[tuple[str, Any]]:
    """One pair per event: its `event:` name (`message` when none) and its `data:` lines
    joined; comments (`: keep-alive`) and events without data are skipped."""
    name, data = "", list[str]()
    for raw in lines:
        line = raw.rstrip("\r\n")
        if not line:
            if data:
                text = "\n".join(data)
                try:
                    value: Any = json.loads(text)
                except ValueError:
                    value = text
                yield name or "message", value
            name, data = "", list[str]()
            continue
        if line.startswith(":"):
            continue
        field, _, value_text = line.partition(":")
        value_text = value_text.removeprefix(" ")
        if field == "event":
            name = value_text
        elif field == "data":
            data.append(value_text)
