"""Every third-party image the deployment or the tests pull exists and stays put.

The references are read where they take effect: compose after `docker-compose config`, every
kustomization rendered by `kubectl kustomize`, the Dockerfile's FROM lines (ARG defaults
resolved) and the image names the tests hand to testcontainers. Each one must name an exact
release (`postgres:16.15-trixie`, never `latest`, `16` or no tag), carry a well-formed digest
(`image:tag@sha256:<64 hex>`), come from no repository known to be gone, and one image is
pinned to one reference everywhere, so a bump cannot miss a copy. docs/operations.md says where
each image comes from and how to bump it. Videoflix's own images are built here, not pulled.

The parser and the check itself (`parse`, `problems`) and its knobs (`GONE`, `RELEASE_PARTS`,
`WITHOUT_DIGEST`) are in tests/support/deploy.py, shared with tests/deploy/test_edge_deploy.py.
"""

from __future__ import annotations

import ast
import re
import subprocess
from collections import defaultdict
from functools import cache

import pytest
import yaml

from tests.support.deploy import (
    APP_IMAGES,
    COMPOSE_FILE,
    DOCKERFILE,
    GONE,
    K8S,
    ROOT,
    compose_command,
    kustomizations,
    kustomize_command,
    parse,
    problems,
)


def is_ours(reference: str) -> bool:
    return reference.rsplit("@", 1)[0].rsplit(":", 1)[0] in APP_IMAGES


# ---------------------------------------------------------------- where the references are


@cache
def compose_images() -> dict[str, str]:
    command = [*compose_command(), "-f", str(COMPOSE_FILE), "config"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=60, check=True)
    services = yaml.safe_load(result.stdout)["services"]
    return {f"compose {name}": spec["image"] for name, spec in services.items() if "image" in spec}


def k8s_folders() -> list[str]:
    """Every kustomization but the backing Component, which renders only inside an overlay."""
    folders = {k.parent.relative_to(K8S).as_posix() for k in kustomizations()}
    return sorted(folders - {"backing"})


@cache
def k8s_images(folder: str) -> dict[str, str]:
    command = [*kustomize_command(), str(K8S / folder)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, check=True)
    found = {}
    for doc in filter(None, yaml.safe_load_all(result.stdout)):
        spec = doc.get("spec", {})
        pod = spec.get("jobTemplate", {}).get("spec", spec).get("template", {}).get("spec", {})
        for container in pod.get("initContainers", []) + pod.get("containers", []):
            where = f"k8s {folder} {doc['kind']}/{doc['metadata']['name']}/{container['name']}"
            found[where] = container["image"]
    return found


def dockerfile_images() -> dict[str, str]:
    """The FROM images of deploy/Dockerfile with the ARG defaults put in; stages are skipped."""
    args: dict[str, str] = {}
    stages: set[str] = set()
    found = {}
    for number, line in enumerate(DOCKERFILE.read_text().splitlines(), 1):
        words = line.split()
        if not words or words[0].upper() not in ("ARG", "FROM"):
            continue
        if words[0].upper() == "ARG" and "=" in words[1]:
            name, default = words[1].split("=", 1)
            args.setdefault(name, default.strip("\"'"))
            continue
        if words[0].upper() == "ARG":
            continue
        words = [w for w in words[1:] if not w.startswith("--")]
        image = re.sub(r"\$\{?(\w+)\}?", lambda m: args.get(m[1], ""), words[0])
        if len(words) > 2 and words[1].upper() == "AS":
            stages.add(words[2])
        if image not in stages:
            found[f"{DOCKERFILE.relative_to(ROOT)}:{number}"] = image
    return found


def images_given_to_testcontainers() -> dict[str, str]:
    """The image of every `...Container(...)` call in a test module that uses testcontainers;
    a call without one gets the library's default image, which this module cannot vouch for."""
    found = {}
    for path in sorted((ROOT / "tests").rglob("*.py")):
        source = path.read_text()
        if "testcontainers" not in source:
            continue
        tree = ast.parse(source)
        constants = {
            target.id: node.value.value
            for node in tree.body
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant)
            for target in node.targets
            if isinstance(target, ast.Name) and isinstance(node.value.value, str)
        }
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
            if not name.endswith("Container"):
                continue
            given = node.args[0] if node.args else None
            given = next((k.value for k in node.keywords if k.arg == "image"), given)
            where = f"{path.relative_to(ROOT)}:{node.lineno} {name}"
            if isinstance(given, ast.Constant) and isinstance(given.value, str):
                found[where] = given.value
            elif isinstance(given, ast.Name) and given.id in constants:
                found[where] = constants[given.id]
            else:
                found[where] = "<the library's default image>"
    return found


def assert_pinned(images: dict[str, str]) -> None:
    assert images, "no image references found"
    bad = [
        f"{where}: {reference}: {'; '.join(found)}"
        for where, reference in sorted(images.items())
        if not is_ours(reference) and (found := problems(reference))
    ]
    assert not bad, "images that may vanish or change under us:\n" + "\n".join(bad)


# ---------------------------------------------------------------- the checks


@pytest.mark.parametrize(
    "reference",
    [
        "postgres",
        "postgres:latest",
        "postgres:16",
        "postgres:16-alpine",
        "redis:7.4@sha256:" + "0" * 64,
        "rabbitmq:3.13-management",
        "rabbitmq:4-management",
        "python:3.12-slim-bookworm",
        "redis:8.10-rc2",
        "minio/minio:RELEASE.2025-09-07T16-13-09Z@sha256:" + "1" * 64,
        "docker.io/minio/mc:RELEASE.2025-08-13T08-35-41Z@sha256:" + "2" * 64,
        "index.docker.io/minio/minio:RELEASE.2025-09-07T16-13-09Z@sha256:" + "2" * 64,
        "postgres:16.15",  # no digest
        "postgres:16.15@sha256:abc",
        "postgres:16.15@md5:" + "3" * 32,
    ],
)
def test_a_reference_that_may_vanish_or_change_is_refused(reference: str) -> None:
    assert problems(reference), reference


@pytest.mark.parametrize(
    "reference",
    [
        "postgres:16.15-trixie@sha256:" + "a" * 64,
        "redis:7.4.11-bookworm@sha256:" + "b" * 64,
        "rabbitmq:4.3.6-management@sha256:" + "c" * 64,
        "python:3.12.14-slim-bookworm@sha256:" + "d" * 64,
        "axllent/mailpit:v1.31.4@sha256:" + "e" * 64,
        "quay.io/minio/minio:RELEASE.2025-09-07T16-13-09Z@sha256:" + "f" * 64,
        "registry.example:5000/team/tool:1.2.3@sha256:" + "0" * 64,
    ],
)
def test_an_exact_pinned_reference_is_accepted(reference: str) -> None:
    assert problems(reference) == []


def test_compose_images_are_pinned() -> None:
    assert_pinned(compose_images())


@pytest.mark.parametrize("folder", k8s_folders())
def test_k8s_images_are_pinned(folder: str) -> None:
    assert_pinned(k8s_images(folder))


def test_dockerfile_base_images_are_pinned() -> None:
    assert_pinned(dockerfile_images())


def test_testcontainers_images_are_pinned() -> None:
    assert_pinned(images_given_to_testcontainers())


def test_one_reference_per_image_everywhere() -> None:
    """Compose, every k8s rendering, the Dockerfile and the tests run the same releases."""
    images = {**compose_images(), **dockerfile_images(), **images_given_to_testcontainers()}
    for folder in k8s_folders():
        images.update(k8s_images(folder))
    by_repository: dict[str, set[str]] = defaultdict(set)
    for reference in images.values():
        if not is_ours(reference) and not reference.startswith("<"):
            by_repository[parse(reference).repository].add(reference)
    split = {repo: sorted(refs) for repo, refs in by_repository.items() if len(refs) > 1}
    assert not split, f"one image, several references (bump them together): {split}"


def test_the_gone_list_names_what_the_docs_explain() -> None:
    docs = (ROOT / "docs" / "operations.md").read_text()
    for repository in GONE:
        assert repository.removeprefix("docker.io/") in docs, repository
    assert "quay.io/minio/minio" in docs and "quay.io/minio/mc" in docs


def test_no_deploy_file_names_a_gone_repository() -> None:
    """Also in comments, scripts and manifests the tools above do not read."""
    pattern = re.compile(r"(?<![\w./-])(?:docker\.io/)?(minio/(?:minio|mc)):")
    hits = [
        f"{path.relative_to(ROOT)}: {match[1]}"
        for path in sorted((ROOT / "deploy").rglob("*"))
        if path.is_file()
        for match in pattern.finditer(path.read_text(errors="replace"))
    ]
    assert not hits, hits
