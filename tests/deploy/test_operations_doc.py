"""docs/operations.md against the code: every setting in its table, with the default the code
has, its numbered contents list, and the start-up allowance the probes it describes give.

The settings table is section 4: one row per environment variable, the name in backticks in
the first cell, the default in the second. Every field of `Settings`, `CatalogSettings` and
`TranscoderSettings`, upper-cased, must have a row; `make stack`'s `StackSettings` its own.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic_settings import BaseSettings

from catalog.config import CatalogSettings
from common.config import Settings
from stack.__main__ import StackSettings
from tests.support.deploy import app_services
from transcoder.config import TranscoderSettings

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "operations.md"
K8S_BASE = ROOT / "deploy" / "k8s" / "base"

SERVICE_SETTINGS: tuple[type[BaseSettings], ...] = (Settings, CatalogSettings, TranscoderSettings)
# rows that are no settings field: read from the environment by libraries or by `make stack`
NOT_FIELDS = {"OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_SERVICE_NAME", "SSL_CERT_FILE"}
# defaults the code computes rather than declares, as the table words them
COMPUTED_DEFAULTS = {"PUBLIC_BASE_URL": "http://127.0.0.1:$PORT"}
UNSET_WORDS = ("empty", "unset")


def sections() -> dict[str, str]:
    """`## N. Title` -> its text."""
    parts = re.split(r"^## (\d+\. .+)$", DOC.read_text(), flags=re.MULTILINE)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


def section(number: int) -> str:
    found = [text for title, text in sections().items() if title.startswith(f"{number}. ")]
    assert len(found) == 1, f"docs/operations.md has no single section {number}"
    return found[0]


def settings_rows() -> dict[str, list[str]]:
    """The rows of section 4's settings table (the one headed `| Setting |`), by NAME."""
    text = section(4)
    table = text[text.index("| Setting |") :].split("\n\n", 1)[0]
    rows: dict[str, list[str]] = {}
    for line in table.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        name = re.fullmatch(r"`([A-Z][A-Z0-9_]*)`", cells[0]) if line.startswith("|") else None
        if name:
            assert name[1] not in rows, f"{name[1]} has two rows"
            rows[name[1]] = cells[1:]
    return rows


def env_names(*classes: type[BaseSettings]) -> set[str]:
    return {field.upper() for cls in classes for field in cls.model_fields}


def documented_default(cell: str) -> str | None:
    """The first backticked value of a default cell; None for an "empty"/"unset" one."""
    if cell.lower().startswith(UNSET_WORDS):
        return None
    value = re.match(r"`([^`]*)`", cell)
    assert value, f"default cell {cell!r} names no value"
    return value[1]


def code_default(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return str(value)


def test_every_settings_field_has_a_row() -> None:
    rows = settings_rows()
    missing = sorted(env_names(*SERVICE_SETTINGS, StackSettings) - rows.keys())
    assert not missing, f"docs/operations.md section 4 lacks {missing}"


def test_every_row_is_a_setting_the_code_reads() -> None:
    invented = settings_rows().keys() - env_names(*SERVICE_SETTINGS, StackSettings)
    invented -= NOT_FIELDS
    assert not invented, f"rows for settings no code reads: {sorted(invented)}"


@pytest.mark.parametrize("cls", [*SERVICE_SETTINGS, StackSettings], ids=lambda c: c.__name__)
def test_defaults_match_the_code(cls: type[BaseSettings]) -> None:
    rows = settings_rows()
    for field, info in cls.model_fields.items():
        name = field.upper()
        cell = rows[name][0]
        if name in COMPUTED_DEFAULTS:
            assert documented_default(cell) == COMPUTED_DEFAULTS[name], name
            continue
        assert documented_default(cell) == code_default(info.default), (
            f"{name}: the table says {cell!r}, the code {info.default!r}"
        )


def test_every_row_says_who_reads_it() -> None:
    for name, cells in settings_rows().items():
        assert len(cells) >= 2 and cells[1], f"{name} has no reader"


def test_contents_list_numbers_every_section_in_order() -> None:
    text = DOC.read_text()
    listed = re.findall(r"^(\d+)\. \[([^\]]+)\]\(#([^)]+)\)", text, flags=re.MULTILINE)
    titles = list(sections())
    assert [f"{n}. {title}" for n, title, _ in listed] == titles
    assert [int(n) for n, _, _ in listed] == list(range(1, len(titles) + 1))
    for n, title, anchor in listed:
        assert anchor == slug(f"{n}. {title}"), f"{anchor!r} is not the anchor of {title!r}"


def slug(heading: str) -> str:
    """The anchor GitHub gives a heading."""
    return re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")


# ---------------------------------------------------------------- start-up allowance (section 7)

STARTUP_TIMEOUT = Settings.model_fields["startup_timeout_seconds"].default


def deployments() -> dict[str, dict[str, Any]]:
    """The Deployments of Videoflix's services (the edge, nginx, waits for nothing)."""
    found: dict[str, dict[str, Any]] = {}
    for path in sorted(K8S_BASE.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc and doc.get("kind") == "Deployment" and doc["metadata"]["name"] != "edge":
                found[doc["metadata"]["name"]] = doc
    return found


def test_startup_probes_outlast_the_startup_timeout() -> None:
    """Until its backing services answer a service has no open port: a liveness probe would
    restart it. The start-up probe holds liveness off for at least STARTUP_TIMEOUT_SECONDS."""
    assert deployments()
    for name, deployment in deployments().items():
        for container in deployment["spec"]["template"]["spec"]["containers"]:
            probe = container.get("startupProbe")
            assert probe, f"{name}: no startupProbe"
            assert probe["httpGet"]["path"] == "/healthz", name
            allowance = probe.get("periodSeconds", 10) * probe.get("failureThreshold", 3)
            assert allowance >= STARTUP_TIMEOUT, f"{name}: startupProbe allows {allowance} s"


def seconds(duration: str) -> float:
    units = {"h": 3600, "m": 60, "s": 1, "ms": 0.001}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|h|m|s)", duration)
    assert parts and "".join(n + u for n, u in parts) == duration, duration
    return sum(float(n) * units[u] for n, u in parts)


def test_compose_healthchecks_allow_the_startup_timeout() -> None:
    for name, spec in app_services().items():
        start_period = seconds(spec["healthcheck"]["start_period"])
        assert start_period >= STARTUP_TIMEOUT, f"{name}: start_period {start_period} s"
