"""The deployment files: deploy/Dockerfile, deploy/docker-compose.yml and deploy/k8s.

No Docker engine or cluster is needed: the files are parsed with PyYAML and checked against
the code base (its services, their commands and ports, the names `Settings` reads), then the
real tools check them where they are installed: `docker-compose config` and
kubernetes-validate on every manifest, rendered by kustomize (`kubectl kustomize`). With
VIDEOFLIX_REQUIRE_SERVICES=1 (CI) a missing tool fails these tests instead of skipping them.
The readers and paths the deploy tests share are in tests/support/deploy.py.
"""

from __future__ import annotations

import importlib
import re
import shlex
import subprocess
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from pydantic_settings import BaseSettings

from common.config import Settings
from tests.support.deploy import (
    APP_IMAGES,
    COMPOSE_FILE,
    CONFIGMAP,
    DEPLOY,
    DOCKERFILE,
    ENV_TEMPLATE,
    JWT_SECRET,
    K8S,
    POSTGRES_INIT,
    ROOT,
    SECRET,
    VARIABLE,
    app_services,
    base_objects,
    compose,
    compose_command,
    compose_raw,
    environment,
    host_port,
    is_app,
    kustomizations,
    kustomize_command,
    listening_port,
    load_yaml_docs,
    objects,
    pod_spec,
    service_of,
    services,
    the_container,
    tool_missing,
)

K8S_VERSIONS = ("1.27.0", None)  # the oldest kubectl/cluster we document, and the newest schema


# ---------------------------------------------------------------- the code base


def has_migrations(service: str) -> bool:
    return (ROOT / "services" / service / service / "migrations").is_dir()


@cache
def settings_names(service: str) -> frozenset[str]:
    """The environment variables a service reads: `Settings` plus its own settings classes
    (e.g. catalog.config.CatalogSettings), upper-cased like pydantic-settings reads them."""
    classes: list[type[BaseSettings]] = [Settings]
    try:
        module = importlib.import_module(f"{service}.config")
    except ModuleNotFoundError:
        module = None
    if module is not None:
        classes += [
            value
            for value in vars(module).values()
            if isinstance(value, type) and issubclass(value, BaseSettings) and value is not Settings
        ]
    return frozenset(name.upper() for cls in classes for name in cls.model_fields)


def serve_command(service: str) -> list[str]:
    return ["python", "-m", service, "serve"]


# ---------------------------------------------------------------- compose


def variables_in(node: Any) -> Iterator[str]:
    if isinstance(node, str):
        for match in VARIABLE.finditer(node):
            if match.group(0) != "$$":
                yield match.group(1) or match.group(4)
    elif isinstance(node, dict):
        for value in node.values():
            yield from variables_in(value)
    elif isinstance(node, list):
        for value in node:
            yield from variables_in(value)


def is_job(spec: dict[str, Any]) -> bool:
    return str(spec.get("restart", "no")) == "no"


def hosts_in(env: dict[str, str]) -> set[str]:
    """The hosts an environment points at: URLs, S3_ENDPOINT (host:port), SMTP_HOST."""
    hosts = set()
    for key, value in env.items():
        if "://" in value:
            hosts.add(urlsplit(value).hostname or "")
        elif key == "S3_ENDPOINT" and value:
            hosts.add(value.split(":")[0])
        elif key == "SMTP_HOST" and value:
            hosts.add(value)
    return hosts - {""}


def test_every_service_has_a_compose_container() -> None:
    for service in services():
        spec = compose().get(service)
        assert spec is not None, f"no compose service {service!r}"
        assert spec["command"] == serve_command(service)
        assert is_app(spec) and not is_job(spec)
    assert set(app_services()) == set(services()), "a serve container for an unknown service"


def test_every_database_service_has_a_migration_job() -> None:
    for service in filter(has_migrations, services()):
        job = compose().get(f"{service}-migrate")
        assert job is not None, f"no one-shot {service}-migrate job"
        assert job["command"] == ["python", "-m", service, "migrate"]
        assert is_job(job)
        assert "DATABASE_URL" in environment(job)
        assert environment(job)["DATABASE_URL"] == environment(compose()[service])["DATABASE_URL"]
        condition = compose()[service]["depends_on"][f"{service}-migrate"]["condition"]
        assert condition == "service_completed_successfully"


def test_compose_gives_services_only_settings_they_read() -> None:
    """Every variable set on a Videoflix container is a settings field (catches typos such as
    RABBIT_URL or SMTP_TLS, which pydantic-settings would silently ignore)."""
    for name, spec in compose().items():
        if not is_app(spec):
            continue
        service = service_of(spec["command"])
        unknown = set(environment(spec)) - settings_names(service)
        assert not unknown, f"{name}: not a setting of {service}: {sorted(unknown)}"


def test_compose_publishes_only_the_edge_and_development_uis() -> None:
    """The edge is the public port (tests/deploy/test_edge_deploy.py: the one the browser
    client calls); the gateway and every other Videoflix service are reached only inside."""
    for name, spec in compose().items():
        ports = spec.get("ports") or []
        if name == "edge":
            assert [host_port(p)[0] for p in ports] == [""], f"edge: {ports}"
        elif is_app(spec):
            assert not ports, f"{name} publishes {ports}: only the edge is public"
        else:  # development UIs: loopback only
            for published in ports:
                assert host_port(published)[0] == "127.0.0.1", f"{name}: {published}"
    published = {n for n, s in compose().items() if s.get("ports")}
    assert published == {"edge", "rabbitmq", "minio", "mailpit", "prometheus", "grafana"}


def test_compose_healthchecks_probe_readyz_on_the_service_port() -> None:
    for name, spec in app_services().items():
        test = spec.get("healthcheck", {}).get("test")
        assert test, f"{name} has no healthcheck"
        # the slim image has neither curl nor wget: the check is Python's urllib
        assert test[:3] == ["CMD", "python", "-c"], f"{name}: {test}"
        port = listening_port(spec["command"], environment(spec))
        assert f"'http://127.0.0.1:{port}/readyz'" in test[3], f"{name}: {test}"


def test_compose_services_wait_for_healthy_dependencies() -> None:
    specs = compose()
    for name, spec in app_services().items():
        depends = spec.get("depends_on") or {}
        assert isinstance(depends, dict), f"{name}: depends_on needs conditions"
        for dependency, rule in depends.items():
            target = specs[dependency]
            if is_job(target):
                assert rule["condition"] == "service_completed_successfully", (name, dependency)
            else:
                assert rule["condition"] == "service_healthy", (name, dependency)
                assert target.get("healthcheck", {}).get("test"), f"{dependency}: no healthcheck"
        # whatever the environment points at is waited for
        needed = {h for h in hosts_in(environment(spec)) if h in specs}
        assert needed <= set(depends), f"{name} does not wait for {sorted(needed - set(depends))}"
        if "S3_ENDPOINT" in environment(spec):
            assert depends.get("minio-init", {}).get("condition") == (
                "service_completed_successfully"
            )
    for name, spec in specs.items():  # jobs too wait for healthy services
        for dependency, rule in (spec.get("depends_on") or {}).items():
            if not is_job(specs[dependency]):
                assert rule["condition"] == "service_healthy", (name, dependency)


def test_compose_starts_from_a_fresh_clone() -> None:
    """No required variable: `${X:?...}` would stop `up` without a .env file."""
    assert not re.search(r"\$\{\w+:?\?", COMPOSE_FILE.read_text())
    for name, spec in compose_raw()["services"].items():
        for value in environment(spec).values():
            for match in VARIABLE.finditer(value):
                if match.group(0) != "$$":
                    assert match.group(2) in (":-", "-"), f"{name}: {match.group(0)} has no default"


def test_compose_shares_the_jwt_key_pair_through_a_volume() -> None:
    specs = compose()
    for name, mode in (("identity", "rw"), ("gateway", "ro")):
        keys = f"{environment(specs[name])['DATA_DIR']}/keys"
        mounts = [str(v).split(":") for v in specs[name].get("volumes", [])]
        mount = next((m for m in mounts if m[1] == keys), None)
        assert mount is not None, f"{name}: nothing mounted at {keys}"
        assert mount[0] in compose_raw()["volumes"], f"{name}: {keys} is not a named volume"
        assert (mount[2] if len(mount) > 2 else "rw") == mode, name
    assert "JWT_PRIVATE_KEY" in environment(specs["identity"])
    assert "JWT_PUBLIC_KEY" in environment(specs["gateway"])
    assert "JWT_PRIVATE_KEY" not in environment(specs["gateway"]), "the gateway never signs"


def test_compose_database_urls_match_the_postgres_init_script() -> None:
    specs = compose()
    postgres = environment(specs["postgres"])
    script = POSTGRES_INIT.read_text()
    mounted = [str(v).split(":") for v in specs["postgres"]["volumes"]]
    assert any(
        (DEPLOY / m[0]).resolve() == POSTGRES_INIT
        and m[1].startswith("/docker-entrypoint-initdb.d/")
        for m in mounted
    ), "the init script is not mounted into the postgres container"
    for service in filter(has_migrations, services()):
        url = urlsplit(environment(specs[service])["DATABASE_URL"])
        assert url.scheme == "postgresql" and url.hostname == "postgres"
        assert url.path == f"/{service}" and url.username == service
        assert re.search(rf"^create_database {service} ", script, re.MULTILINE)
        assert url.password == postgres[f"{service.upper()}_DB_PASSWORD"]


def test_compose_variables_are_documented_in_the_env_template() -> None:
    used = set(variables_in(compose_raw()))
    documented = {
        line.split("=", 1)[0]
        for line in ENV_TEMPLATE.read_text().splitlines()
        if re.match(r"^[A-Z_][A-Z0-9_]*=", line)
    }
    assert used - documented == set(), "used in compose, missing in .env.template"
    assert documented - used == set(), "in .env.template, unused by compose"


def test_compose_builds_every_app_image_from_the_deploy_dockerfile() -> None:
    stages = dockerfile_stages()
    for name, spec in compose().items():
        if not is_app(spec):
            continue
        build = spec["build"]
        assert (COMPOSE_FILE.parent / build["context"]).resolve() == ROOT
        assert (ROOT / build["dockerfile"]).resolve() == DOCKERFILE
        wanted = "transcoder" if service_of(spec["command"]) == "transcoder" else "app"
        assert build["target"] == wanted and wanted in stages, name
        assert spec["image"].split(":")[0] == f"videoflix/{wanted}"
        assert spec.get("pull_policy") == "build", f"{name}: never pull videoflix/* images"


# ---------------------------------------------------------------- Dockerfile and context


@cache
def dockerfile_stages() -> dict[str, list[str]]:
    """Stage name -> its instructions (continuation lines joined, comments dropped)."""
    lines: list[str] = []
    for raw in DOCKERFILE.read_text().splitlines():
        if raw.lstrip().startswith("#"):
            continue
        if lines and lines[-1].endswith("\\"):
            lines[-1] = lines[-1][:-1] + " " + raw.strip()
        elif raw.strip():
            lines.append(raw.strip())
    stages: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in lines:
        if line.upper().startswith("FROM "):
            words = line.split()
            name = words[3] if len(words) > 3 and words[2].upper() == "AS" else str(len(stages))
            current = stages.setdefault(name, [])
        if current is not None:
            current.append(line)
    return stages


def test_dockerfile_stages() -> None:
    stages = dockerfile_stages()
    assert list(stages)[-1] == "app", "the default target (last stage) is the app image"
    text = DOCKERFILE.read_text()
    assert re.search(r"^ARG PYTHON_IMAGE=python:3\.12\.\d+-slim", text, re.MULTILINE)
    assert not re.search(r"^\s*HEALTHCHECK", text, re.MULTILINE | re.IGNORECASE)
    builder = " ".join(stages["builder"])
    assert "python -m venv /opt/venv" in builder and "pyproject.toml" in builder
    assert "pip install --no-deps ." in builder
    assert "COPY --from=builder /opt/venv /opt/venv" in stages["base"]
    for name in ("app", "transcoder"):
        assert stages[name][0].split()[1] == "base", f"{name} must build on the base stage"
        user = next(line for line in reversed(stages[name]) if line.startswith("USER "))
        uid = user.split()[1].split(":")[0]
        assert uid.isdigit() and int(uid) > 0, f"{name}: non-root numeric USER, got {user}"
        assert stages[name][-1].startswith("CMD ")
    for name, instructions in stages.items():
        body = " ".join(instructions)
        installs_ffmpeg = re.search(r"apt-get install [^&]*\bffmpeg\b", body) is not None
        assert installs_ffmpeg == (name == "transcoder"), f"FFmpeg in transcoder only: {name}"
        if name != "transcoder":
            assert "ffmpeg" not in body.lower(), name
        if name != "builder":
            assert not re.search(r"\b(build-essential|gcc|g\+\+)\b", body), name
    cmd = stages["transcoder"][-1].removeprefix("CMD ")
    assert yaml.safe_load(cmd) == serve_command("transcoder")


def dockerignore() -> Path:
    root = ROOT / ".dockerignore"
    return root if root.exists() else DEPLOY / "dockerignore.txt"


def test_build_context_ignore_file() -> None:
    """BuildKit reads deploy/Dockerfile.dockerignore; the legacy builder (docker-compose 1.x)
    reads .dockerignore at the context root (deploy/dockerignore.txt until it is moved)."""
    beside = DEPLOY / "Dockerfile.dockerignore"
    assert beside.read_text() == dockerignore().read_text(), "the two ignore files differ"
    patterns = [
        p.strip() for p in beside.read_text().splitlines() if p.strip() and not p.startswith("#")
    ]
    assert patterns[0] == "*", "an allow-list: everything else stays out of the context"
    copied = {  # the sources of every COPY from the build context
        source.rstrip("/")
        for instructions in dockerfile_stages().values()
        for line in instructions
        if line.startswith("COPY ") and "--from=" not in line
        for source in line.split()[1:-1]
    }
    assert {f"!{c}" for c in copied} <= set(patterns), copied


def test_postgres_init_script_copy_for_kustomize_is_identical() -> None:
    copy = K8S / "backing" / "postgres-init-databases.sh"
    assert copy.read_text() == POSTGRES_INIT.read_text()


# ---------------------------------------------------------------- Kubernetes


def referenced_files(kustomization: Path) -> Iterator[Path]:
    """Every file or folder a kustomization.yaml names."""
    folder = kustomization.parent
    spec = yaml.safe_load(kustomization.read_text())
    for key in ("resources", "components", "patchesStrategicMerge"):
        for entry in spec.get(key) or []:
            yield folder / entry
    for patch in spec.get("patches") or []:
        if "path" in patch:
            yield folder / patch["path"]
    for generator in (spec.get("configMapGenerator") or []) + (spec.get("secretGenerator") or []):
        for entry in (generator.get("files") or []) + (generator.get("envs") or []):
            yield folder / entry.split("=", 1)[-1]


def test_kustomizations_list_only_files_that_exist() -> None:
    assert (K8S / "kustomization.yaml").exists() and (K8S / "overlays/dev").is_dir()
    for kustomization in kustomizations():
        listed = set()
        for path in referenced_files(kustomization):
            assert path.exists(), f"{kustomization.relative_to(ROOT)} lists missing {path}"
            if path.is_dir():
                assert (path / "kustomization.yaml").exists(), f"{path} is no kustomization"
            listed.add(path.resolve())
        for manifest in kustomization.parent.glob("*.yaml"):  # nothing forgotten either
            if manifest.name != "kustomization.yaml":
                assert manifest.resolve() in listed, f"{manifest.relative_to(ROOT)} is not listed"


@cache
def backing_objects() -> list[dict[str, Any]]:
    backing = K8S / "backing"
    files = yaml.safe_load((backing / "kustomization.yaml").read_text())["resources"]
    return [doc for f in files for doc in load_yaml_docs(backing / f)]


def container_port(container: dict[str, Any], port: int | str) -> int:
    """A probe's or Service's port, by number or by name, resolved to the container's port."""
    for declared in container.get("ports", []):
        if port in (declared["containerPort"], declared.get("name")):
            return declared["containerPort"]
    raise AssertionError(f"{container['name']}: no container port {port!r}")


def literal_env(container: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e["value"] for e in container.get("env", []) if "value" in e}


def workloads() -> dict[str, dict[str, Any]]:
    """Every pod-owning object of the base and of backing/, by kind/name."""
    found = {}
    for source in (base_objects(), backing_objects()):
        for o in source:
            if o["kind"] in ("Deployment", "StatefulSet", "Job"):
                found[f"{o['kind']}/{o['metadata']['name']}"] = o
    return found


def is_videoflix(container: dict[str, Any]) -> bool:
    return container["image"].split(":")[0] in APP_IMAGES


def test_every_service_has_a_deployment_with_the_right_image() -> None:
    deployments = objects("Deployment")
    for service in services():
        deployment = deployments.get(service)
        assert deployment is not None, f"no Deployment {service!r}"
        container = the_container(deployment)
        assert container["command"] == serve_command(service)
        image = "videoflix/transcoder" if service == "transcoder" else "videoflix/app"
        assert container["image"].split(":")[0] == image
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()


def test_deployments_probe_readyz_and_healthz_on_the_service_port() -> None:
    for service in services():
        container = the_container(objects("Deployment")[service])
        port = listening_port(container["command"], literal_env(container))
        # besides METRICS_PORT (tests/deploy/test_observability.py)
        declared = [p["containerPort"] for p in container["ports"] if p["name"] != "metrics"]
        assert declared == [port], f"{service} listens on {port}, declares {declared}"
        for probe, path in (("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")):
            get = container.get(probe, {}).get("httpGet")
            assert get, f"{service}: no HTTP {probe}"
            assert get["path"] == path, f"{service}: {probe} on {get['path']}"
            assert container_port(container, get["port"]) == port, f"{service}: {probe} port"


def test_services_reach_the_api_deployments() -> None:
    deployments = objects("Deployment")
    config = objects("ConfigMap")[CONFIGMAP]["data"]
    for name in ("gateway", "identity", "catalog"):
        service = objects("Service")[name]
        assert service["spec"].get("type", "ClusterIP") == "ClusterIP"
        pod_labels = deployments[name]["spec"]["template"]["metadata"]["labels"]
        assert service["spec"]["selector"].items() <= pod_labels.items()
        container = the_container(deployments[name])
        (port,) = service["spec"]["ports"]
        assert container_port(container, port["targetPort"]) == listening_port(
            container["command"], literal_env(container)
        )
        if name != "gateway":
            url = urlsplit(config[f"{name.upper()}_URL"])
            assert (url.hostname, url.port) == (name, port["port"]), f"{name.upper()}_URL"
    assert {s for s in objects("Service")} == {"gateway", "identity", "catalog", "edge"}


def test_gateway_is_autoscaled() -> None:
    (hpa,) = objects("HorizontalPodAutoscaler").values()
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "gateway",
    }
    assert 1 <= hpa["spec"]["minReplicas"] < hpa["spec"]["maxReplicas"]
    assert "replicas" not in objects("Deployment")["gateway"]["spec"], "the HPA owns replicas"


def test_migration_jobs() -> None:
    jobs = objects("Job")
    for service in filter(has_migrations, services()):
        job = jobs.get(f"{service}-migrate")
        assert job is not None, f"no Job {service}-migrate"
        container = the_container(job)
        assert container["command"] == ["python", "-m", service, "migrate"]
        assert pod_spec(job)["restartPolicy"] in ("Never", "OnFailure")
        env = {e["name"]: e for e in container["env"]}
        ref = env["DATABASE_URL"]["valueFrom"]["secretKeyRef"]
        assert ref == {"name": SECRET, "key": f"{service.upper()}_DATABASE_URL"}
        serve = {e["name"]: e for e in the_container(objects("Deployment")[service])["env"]}
        assert serve["DATABASE_URL"] == env["DATABASE_URL"], "the Job migrates another database"


def test_security_contexts() -> None:
    for name, workload in workloads().items():
        pod = pod_spec(workload)
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}, name
        assert pod.get("automountServiceAccountToken") is False, name
        assert pod.get("enableServiceLinks") is False, f"{name}: service links inject *_PORT"
        volumes = {v["name"]: v for v in pod.get("volumes", [])}
        for container in pod["containers"]:
            where = f"{name}/{container['name']}"
            context = container["securityContext"]
            assert context["allowPrivilegeEscalation"] is False, where
            assert context["capabilities"]["drop"] == ["ALL"], where
            assert "add" not in context["capabilities"], where
            for bound in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(container["resources"][bound]), where
            if is_videoflix(container):
                assert context["readOnlyRootFilesystem"] is True, where
                assert pod["securityContext"]["runAsUser"] == 10001, where
                mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
                assert "emptyDir" in volumes[mounts["/tmp"]], f"{where}: /tmp is no emptyDir"
                data_dir = literal_env(container).get("DATA_DIR")
                if data_dir:
                    assert data_dir in mounts, f"{where}: DATA_DIR is not writable"


def test_k8s_environment_names_and_references() -> None:
    config = objects("ConfigMap")[CONFIGMAP]["data"]
    secret = objects("Secret")[SECRET]["stringData"]
    all_settings = frozenset().union(*(settings_names(s) for s in services()))
    assert set(config) <= all_settings, (
        f"ConfigMap keys that are no setting: {set(config) - all_settings}"
    )
    for name, workload in workloads().items():
        for container in pod_spec(workload)["containers"]:
            service = service_of(container.get("command"))
            env = container.get("env", [])
            names = [e["name"] for e in env]
            assert len(names) == len(set(names)), f"{name}: a variable set twice"
            if is_videoflix(container):
                unknown = set(names) - settings_names(service)
                assert not unknown, f"{name}: not a setting of {service}: {sorted(unknown)}"
                assert not container.get("envFrom"), f"{name}: list what the service reads"
            for entry in env:
                source = entry.get("valueFrom", {})
                if "configMapKeyRef" in source:
                    ref = source["configMapKeyRef"]
                    assert ref["name"] == CONFIGMAP and ref["key"] in config, (name, ref)
                if "secretKeyRef" in source:
                    ref = source["secretKeyRef"]
                    if ref["name"] == JWT_SECRET:
                        assert ref["key"] == entry["name"], (name, ref)
                        assert ref["key"] in ("JWT_PRIVATE_KEY", "JWT_PUBLIC_KEY"), (name, ref)
                    else:
                        assert ref["name"] == SECRET and ref["key"] in secret, (name, ref)
    jwt_users = {
        the_container(d)["name"]: e["valueFrom"]["secretKeyRef"]["key"]
        for d in objects("Deployment").values()
        for e in the_container(d)["env"]
        if e.get("valueFrom", {}).get("secretKeyRef", {}).get("name") == JWT_SECRET
    }
    assert jwt_users == {"identity": "JWT_PRIVATE_KEY", "gateway": "JWT_PUBLIC_KEY"}


def test_k8s_secret_template_holds_placeholders_that_agree() -> None:
    secret = objects("Secret")[SECRET]["stringData"]
    for key, value in secret.items():
        if key.endswith(("PASSWORD", "SECRET_KEY")) and value:
            assert value.startswith("change-me"), f"{key}: a placeholder, not a real secret"
    assert not any("PRIVATE KEY" in str(v) for v in secret.values())
    for service in filter(has_migrations, services()):
        url = urlsplit(secret[f"{service.upper()}_DATABASE_URL"])
        assert url.password == secret[f"{service.upper()}_DB_PASSWORD"]
        assert (url.username, url.path) == (service, f"/{service}")
    amqp = urlsplit(secret["RABBITMQ_URL"])
    assert (amqp.username, amqp.password) == (secret["RABBITMQ_USER"], secret["RABBITMQ_PASSWORD"])


# ---------------------------------------------------------------- the real tools


@pytest.mark.parametrize("env_file", [None, ENV_TEMPLATE], ids=["defaults", "env-template"])
def test_docker_compose_config_is_valid(env_file: Path | None) -> None:
    command = [*compose_command(), "-f", str(COMPOSE_FILE)]
    if env_file is not None:
        command += ["--env-file", str(env_file)]
    result = subprocess.run([*command, "config", "-q"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, f"{shlex.join(command)} config -q:\n{result.stderr}"


def kubernetes_validate() -> Any:
    try:
        return importlib.import_module("kubernetes_validate")
    except ModuleNotFoundError:
        tool_missing("kubernetes-validate", "pip install kubernetes-validate")


def validate(docs: list[dict[str, Any]], where: str) -> None:
    """kubernetes-validate, strict (unknown fields are errors), against each K8S_VERSIONS."""
    validator = kubernetes_validate()
    problems = []
    for wanted in K8S_VERSIONS:
        version = wanted or validator.latest_version()
        for doc in docs:
            try:
                validator.validate(doc, version, strict=True)
            except validator.ValidationError as error:
                field = ".".join(str(p) for p in error.path)
                what = f"{doc['kind']}/{doc['metadata']['name']}"
                problems.append(f"{what} (Kubernetes {version}) at {field}: {error.message}")
    assert not problems, f"{where}:\n" + "\n".join(problems)


@pytest.mark.parametrize(
    "folder",
    sorted({k.parent.relative_to(K8S).as_posix() for k in kustomizations()} - {"backing"}),
)
def test_kustomize_renders_valid_manifests(folder: str) -> None:
    command = [*kustomize_command(), str(K8S / folder)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, f"{shlex.join(command)}:\n{result.stderr}"
    docs = [d for d in yaml.safe_load_all(result.stdout) if d]
    validate(docs, f"kustomize {folder}")
    kinds = {d["kind"] for d in docs}
    assert {"Namespace", "Deployment", "Service", "Job", "HorizontalPodAutoscaler"} <= kinds
    for doc in docs:
        what = f"{doc['kind']}/{doc['metadata']['name']}"
        if doc["kind"] != "Namespace":
            assert doc["metadata"].get("namespace") == "videoflix", f"{what}: no namespace"
        spec = doc.get("spec", {}).get("template", {}).get("spec", {})
        for container in spec.get("containers", []):
            assert ":" in container["image"].rsplit("/", 1)[-1], f"{what}: untagged image"
    if folder == "overlays/dev":  # the development cluster brings its backing services
        names = {d["metadata"]["name"] for d in docs if d["kind"] in ("StatefulSet", "Deployment")}
        assert {"postgres", "redis", "rabbitmq", "minio", "mailpit"} <= names


def test_every_manifest_file_is_valid_on_its_own() -> None:
    files = [
        path
        for kustomization in kustomizations()
        for path in referenced_files(kustomization)
        if path.suffix == ".yaml" and path.is_file() and "overlays" not in path.parts
    ]
    assert files
    for path in files:
        validate(load_yaml_docs(path), str(path.relative_to(ROOT)))
