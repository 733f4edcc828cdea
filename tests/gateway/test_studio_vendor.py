"""The studio's vendored libraries are exactly the npm-locked packages' files: `make dev` serves
the committed copies (no npm needed), CI installs the lock (`npm ci` in studio/, a
prerequisite of `make test`) and this holds the two together, so neither drifts silently.
`make studio-vendor` refreshes the copies after a change of studio/package.json."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gateway.studio import STUDIO_DIR
from tests.support.services import skip_or_fail

ROOT = Path(__file__).resolve().parents[2]
NPM_DIR = ROOT / "studio"
VENDOR = STUDIO_DIR / "vendor"

# vendored file -> the installed package's file it copies
COPIES = {
    "tus.min.js": ("tus-js-client", "dist/tus.min.js"),
    "tus-js-client.LICENSE.txt": ("tus-js-client", "LICENSE"),
    "hls.min.js": ("hls.js", "dist/hls.min.js"),
    "hls.js.LICENSE.txt": ("hls.js", "LICENSE"),
}


def installed(package: str) -> Path:
    directory = NPM_DIR / "node_modules" / package
    if not directory.is_dir():
        skip_or_fail(f"{directory} is missing: run `npm ci` in studio/ (make test does)")
    return directory


def locked_version(package: str) -> str:
    lock = json.loads((NPM_DIR / "package-lock.json").read_text())
    return str(lock["packages"][f"node_modules/{package}"]["version"])


@pytest.mark.parametrize("name", sorted(COPIES))
def test_vendored_file_is_the_locked_packages_file(name: str) -> None:
    package, path = COPIES[name]
    directory = installed(package)
    installed_version = json.loads((directory / "package.json").read_text())["version"]
    assert installed_version == locked_version(package), (
        f"studio/node_modules holds {package} {installed_version}, the lock "
        f"{locked_version(package)}: run `npm ci` in studio/"
    )
    assert (VENDOR / name).read_bytes() == (directory / path).read_bytes(), (
        f"{VENDOR / name} differs from {package} {installed_version}'s {path}: "
        "run `make studio-vendor` and commit the result"
    )


def test_only_the_locked_libraries_are_vendored() -> None:
    assert sorted(p.name for p in VENDOR.iterdir()) == sorted(COPIES)
