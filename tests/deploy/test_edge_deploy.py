"""The edge (nginx, deploy/edge) as compose and Kubernetes run it.

Both run the official nginx image, which renders deploy/edge/nginx.conf.template with its
environment at start: every `${NAME}` of the template must be set there, and every name nginx
hands to s3.js (`env NAME;`). Compose publishes the edge's port (the one the browser client
calls) and not the gateway's; the Ingress routes to the edge; the gateway believes
X-Forwarded-For from the edge. The k8s ConfigMap is generated from deploy/edge's own files.
"""

from __future__ import annotations

import ipaddress
import re
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from stack.edge import EdgeUnavailable, find_nginx, render
from tests.support.deploy import (
    COMPOSE_FILE,
    CONFIGMAP,
    K8S,
    ROOT,
    compose,
    compose_raw,
    environment,
    host_port,
    kustomize_command,
    listening_port,
    parse,
    problems,
)
from tests.support.services import skip_or_fail

EDGE = ROOT / "deploy" / "edge"
TEMPLATE = EDGE / "nginx.conf.template"
S3_JS = EDGE / "s3.js"
OFFICIAL_NGINX = "docker.io/library/nginx"
NJS_IN_THE_IMAGE = "/etc/nginx/modules/ngx_http_js_module.so"  # the image's nginx-module-njs
CLIENT_PORT = "8000"  # the browser client's API base: http://127.0.0.1:8000/api/
MAX_AUTH_SECONDS = 29  # issue 15: a logout or reset reaches the edge within 30 s (this + 1)


@cache
def placeholders() -> frozenset[str]:
    """The `${NAME}`s of the template: what its renderers substitute."""
    return frozenset(re.findall(r"\$\{(\w+)\}", TEMPLATE.read_text()))


@cache
def passed_to_njs() -> frozenset[str]:
    """The variables nginx keeps for its workers (`env NAME;`): s3.js reads them."""
    return frozenset(re.findall(r"^\s*env\s+(\w+)\s*;", TEMPLATE.read_text(), re.MULTILINE))


def needed() -> frozenset[str]:
    return placeholders() | passed_to_njs()


def test_the_template_names_its_placeholders_and_keys() -> None:
    assert {"EDGE_LISTEN", "EDGE_GATEWAYS", "EDGE_S3_UPSTREAM", "S3_BUCKET"} <= placeholders()
    assert {"S3_ACCESS_KEY", "S3_SECRET_KEY"} <= passed_to_njs()
    assert not passed_to_njs() & placeholders(), "a secret would be written into the file"
    read = set(
        re.findall(r"process\.env\.(\w+)|process\.env\[['\"](\w+)['\"]\]", S3_JS.read_text())
    )
    assert {name for pair in read for name in pair if name} <= passed_to_njs()


def test_nginx_variables_never_look_like_environment_variables() -> None:
    """The official image substitutes every `$NAME` and `${NAME}` that names a variable of its
    environment (PATH, HOSTNAME, NGINX_VERSION, ...): upper case is for placeholders only."""
    text = "\n".join(line.split("#", 1)[0] for line in TEMPLATE.read_text().splitlines())
    bare = set(re.findall(r"\$([A-Z_][A-Z0-9_]*)", text))
    assert not bare, f"unbraced upper-case references: {sorted(bare)}"


# ---------------------------------------------------------------- compose


def edge() -> dict[str, Any]:
    spec = compose().get("edge")
    assert spec is not None, "no compose service `edge`"
    return spec


def mounts(spec: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """container path -> (source, mode) of a compose service's volumes."""
    found = {}
    for entry in spec.get("volumes", []):
        source, target, *mode = str(entry).split(":")
        found[target] = (source, mode[0] if mode else "rw")
    return found


def test_compose_edge_runs_the_official_image_pinned() -> None:
    image = edge()["image"]
    assert parse(image).repository == OFFICIAL_NGINX
    assert problems(image) == [], image
    assert "build" not in edge()


def test_compose_edge_sets_every_placeholder() -> None:
    env = environment(edge())
    missing = needed() - set(env)
    assert not missing, f"the edge's environment lacks {sorted(missing)}"
    assert all(env[name] for name in needed()), "an empty placeholder"
    assert env["NGINX_ENVSUBST_OUTPUT_DIR"] == "/etc/nginx"  # the template is the nginx.conf
    assert env["EDGE_NJS_MODULE"] == NJS_IN_THE_IMAGE
    assert 1 <= int(env["EDGE_AUTH_SECONDS"]) <= MAX_AUTH_SECONDS


def test_compose_edge_mounts_deploy_edge() -> None:
    env, mounted = environment(edge()), mounts(edge())
    for target, source in (
        ("/etc/nginx/templates/nginx.conf.template", TEMPLATE),
        (f"{env['EDGE_JS_DIR']}/s3.js", S3_JS),
    ):
        assert target in mounted, f"nothing mounted at {target}"
        assert (COMPOSE_FILE.parent / mounted[target][0]).resolve() == source
        assert mounted[target][1] == "ro"
    cache_volume = mounted.get(env["EDGE_CACHE_DIR"])
    assert cache_volume and cache_volume[0] in compose_raw()["volumes"], "the cache: a volume"


def test_compose_edge_is_the_public_port() -> None:
    env = environment(edge())
    (published,) = edge()["ports"]
    assert host_port(published)[1] == env["EDGE_LISTEN"]
    assert str(published).split(":")[0] == CLIENT_PORT, "the browser client calls port 8000"
    assert not compose()["gateway"].get("ports"), "the gateway is reached through the edge"
    # healthy when the whole way in works: through the edge to the gateway's /readyz
    assert f"http://127.0.0.1:{env['EDGE_LISTEN']}/readyz" in edge()["healthcheck"]["test"]


def test_compose_edge_upstreams_are_the_gateway_and_the_object_store() -> None:
    env, specs = environment(edge()), compose()
    gateway = specs["gateway"]
    port = listening_port(gateway["command"], environment(gateway))
    assert env["EDGE_GATEWAYS"] == f"server gateway:{port};"
    catalog = environment(specs["catalog"])
    assert env["EDGE_S3_UPSTREAM"] == catalog["S3_ENDPOINT"]
    for name in ("S3_BUCKET", "S3_ACCESS_KEY", "S3_SECRET_KEY"):
        assert env[name] == catalog[name], name
    depends = edge()["depends_on"]
    assert depends["gateway"]["condition"] == depends["minio"]["condition"] == "service_healthy"
    assert edge()["healthcheck"]["test"], "the edge has no healthcheck"


def test_compose_gateway_believes_the_edge_alone() -> None:
    """nginx resolves `gateway` and `minio` once, at start: both, and the edge, have fixed
    addresses on a network of their own, and the gateway trusts the edge's (never `*`, which
    would take the client's own X-Forwarded-For)."""
    specs, networks = compose(), compose_raw()["networks"]
    (subnet,) = [c["subnet"] for c in networks["edge"]["ipam"]["config"]]
    subnet = ipaddress.ip_network(re.sub(r"\$\{\w+:-([^}]*)\}", r"\1", subnet))
    addresses = {}
    for name in ("edge", "gateway", "minio"):
        address = specs[name]["networks"]["edge"]["ipv4_address"]
        addresses[name] = ipaddress.ip_address(address)
        assert addresses[name] in subnet, name
    assert set(specs["edge"]["networks"]) == {"edge"}, "the edge reaches nothing else"
    trusted = environment(specs["gateway"])["FORWARDED_ALLOW_IPS"]
    assert trusted.split(",") == [str(addresses["edge"])]


# ---------------------------------------------------------------- Kubernetes


def k8s_folders() -> list[str]:
    return [".", "overlays/dev"]


@cache
def rendered(folder: str) -> list[dict[str, Any]]:
    command = [*kustomize_command(), str(K8S / folder)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, check=True)
    return [d for d in yaml.safe_load_all(result.stdout) if d]


def of_kind(folder: str, kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in rendered(folder) if d["kind"] == kind}


def edge_pod(folder: str) -> dict[str, Any]:
    deployment = of_kind(folder, "Deployment").get("edge")
    assert deployment is not None, f"{folder}: no Deployment edge"
    return deployment["spec"]["template"]["spec"]


def the_edge_container(folder: str) -> dict[str, Any]:
    (container,) = edge_pod(folder)["containers"]
    return container


def k8s_env(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["name"]: e for e in container.get("env", [])}


def mounted_volumes(folder: str) -> dict[str, dict[str, Any]]:
    """mount path -> the pod's volume mounted there."""
    volumes = {v["name"]: v for v in edge_pod(folder)["volumes"]}
    return {m["mountPath"]: volumes[m["name"]] for m in the_edge_container(folder)["volumeMounts"]}


@pytest.mark.parametrize("folder", k8s_folders())
def test_k8s_edge_runs_the_image_compose_runs(folder: str) -> None:
    assert the_edge_container(folder)["image"] == edge()["image"]


@pytest.mark.parametrize("folder", k8s_folders())
def test_k8s_edge_sets_every_placeholder(folder: str) -> None:
    env = k8s_env(the_edge_container(folder))
    missing = needed() - set(env)
    assert not missing, f"the edge's environment lacks {sorted(missing)}"
    literal = {name: e["value"] for name, e in env.items() if "value" in e}
    assert literal["EDGE_NJS_MODULE"] == NJS_IN_THE_IMAGE
    assert 1 <= int(literal["EDGE_AUTH_SECONDS"]) <= MAX_AUTH_SECONDS
    assert literal["EDGE_GATEWAYS"] == "server gateway:8000;"  # Service gateway, port 8000
    config = {
        name: e["valueFrom"]["configMapKeyRef"]["key"]
        for name, e in env.items()
        if "configMapKeyRef" in e.get("valueFrom", {})
    }
    assert config["EDGE_S3_UPSTREAM"] == "S3_ENDPOINT"  # where the services find the store
    catalog = k8s_env(
        of_kind(folder, "Deployment")["catalog"]["spec"]["template"]["spec"]["containers"][0]
    )
    for name in ("S3_BUCKET", "S3_REGION", "S3_ACCESS_KEY", "S3_SECRET_KEY"):
        assert env[name]["valueFrom"] == catalog[name]["valueFrom"], name


@pytest.mark.parametrize("folder", k8s_folders())
def test_k8s_edge_config_is_deploy_edge(folder: str) -> None:
    """The ConfigMap holds deploy/edge's files byte for byte; the entrypoint renders the
    template into a writable emptyDir, from which nginx reads it (the root is read-only)."""
    container, volumes = the_edge_container(folder), mounted_volumes(folder)
    env = {name: e.get("value") for name, e in k8s_env(container).items()}
    configmaps = of_kind(folder, "ConfigMap")
    for path, key, source in (
        ("/etc/nginx/templates", "nginx.conf.template", TEMPLATE),
        (env["EDGE_JS_DIR"], "s3.js", S3_JS),
    ):
        volume = volumes[path]["configMap"]
        assert [i["key"] for i in volume["items"]] == [key]
        assert configmaps[volume["name"]]["data"][key] == source.read_text(), key
    output = env["NGINX_ENVSUBST_OUTPUT_DIR"]
    assert "emptyDir" in volumes[output]
    args = container["args"]
    assert args[0] == "nginx" and args[args.index("-c") + 1] == f"{output}/nginx.conf"
    for name in ("EDGE_RUN_DIR", "EDGE_CACHE_DIR"):  # writable, on emptyDirs
        assert any(env[name].startswith(path) and "emptyDir" in v for path, v in volumes.items()), (
            name
        )


@pytest.mark.parametrize("folder", k8s_folders())
def test_k8s_edge_is_hardened_and_probed(folder: str) -> None:
    pod, container = edge_pod(folder), the_edge_container(folder)
    assert pod["securityContext"]["runAsUser"] == 101  # the image's nginx user
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    port = int(k8s_env(container)["EDGE_LISTEN"]["value"])
    assert [p["containerPort"] for p in container["ports"]] == [port]
    for probe in ("readinessProbe", "livenessProbe"):
        check = container[probe].get("httpGet") or container[probe].get("tcpSocket")
        assert check and check["port"] in ("http", port), probe
    # ready when a gateway answers through it; alive when nginx does, whatever the gateway
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert "tcpSocket" in container["livenessProbe"]


@pytest.mark.parametrize("folder", k8s_folders())
def test_k8s_ingress_routes_to_the_edge(folder: str) -> None:
    services = of_kind(folder, "Service")
    edge_service = services["edge"]
    assert edge_service["spec"]["selector"] == {"app.kubernetes.io/name": "edge"}
    ingresses = of_kind(folder, "Ingress")
    assert ingresses, "no Ingress"
    for ingress in ingresses.values():
        for rule in ingress["spec"]["rules"]:
            for path in rule["http"]["paths"]:
                backend = path["backend"]["service"]
                assert backend["name"] == "edge", f"{ingress['metadata']['name']}: {backend}"
                (port,) = edge_service["spec"]["ports"]
                assert backend["port"].get("name") == port["name"] or (
                    backend["port"].get("number") == port["port"]
                )
    assert any(
        p["path"] == "/" for i in ingresses.values() for r in i["spec"]["rules"]
        for p in r["http"]["paths"]
    ), "the whole API goes through the edge"  # fmt: skip


@pytest.mark.parametrize("folder", k8s_folders())
def test_k8s_gateway_admits_and_believes_the_edge(folder: str) -> None:
    policy = of_kind(folder, "NetworkPolicy")["gateway"]["spec"]
    assert policy["podSelector"]["matchLabels"] == {"app.kubernetes.io/name": "gateway"}
    http_rules = [r for r in policy["ingress"] if {"port": "http", "protocol": "TCP"} in r["ports"]]
    assert [r["from"] for r in http_rules] == [
        [{"podSelector": {"matchLabels": {"app.kubernetes.io/name": "edge"}}}]
    ]
    open_rules = [r for r in policy["ingress"] if "from" not in r]
    assert all(p["port"] == "metrics" for r in open_rules for p in r["ports"])
    trusted = of_kind(folder, "ConfigMap")[CONFIGMAP]["data"]["FORWARDED_ALLOW_IPS"]
    networks = [ipaddress.ip_network(n.strip()) for n in trusted.split(",")]
    assert networks and all(n.is_private for n in networks), trusted


# ---------------------------------------------------------------- nginx -t on what they render


def nginx_accepts(values: dict[str, str], writable: set[str], tmp_path: Path) -> None:
    """Render the template with `values` (make stack's renderer, which substitutes as the
    image does) and have Debian's nginx test it, s3.js included (njs compiles it). The
    container's file system is laid out under `tmp_path` with only its `writable` folders
    (volumes, and /tmp): nginx creates its cache and temporary folders but not their parents,
    so a path below a folder nobody made fails here as it would in the container. Put where
    this machine has them: the njs module, s3.js, and 127.0.0.1 for the upstreams' host names
    (nginx resolves those while testing), each with its port kept."""
    try:
        nginx = find_nginx()
    except EdgeUnavailable as error:
        skip_or_fail(str(error))
    root = tmp_path / "root"
    for folder in writable:
        (root / folder.lstrip("/")).mkdir(parents=True, exist_ok=True)
    local = {
        **values,
        "EDGE_NJS_MODULE": nginx.njs_module,
        "EDGE_JS_DIR": str(EDGE),
        "EDGE_GATEWAYS": re.sub(r"server [\w.-]+:", "server 127.0.0.1:", values["EDGE_GATEWAYS"]),
        "EDGE_S3_UPSTREAM": "127.0.0.1:" + values["EDGE_S3_UPSTREAM"].rsplit(":", 1)[1],
    }
    for name in ("EDGE_CACHE_DIR", "EDGE_RUN_DIR"):
        assert any(Path(values[name]).is_relative_to(w) for w in writable), f"{name}: read-only"
        local[name] = str(root / values[name].lstrip("/"))
    config = tmp_path / "nginx.conf"
    config.write_text(render(TEMPLATE.read_text(), local))
    command = [nginx.binary, "-e", "stderr", "-p", str(tmp_path), "-c", str(config), "-t", "-q"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, f"nginx -t refuses the edge's config:\n{result.stderr}"


def compose_values() -> dict[str, str]:
    env = environment(edge())
    return {name: env[name] for name in placeholders()}


def compose_writable() -> set[str]:
    """The image's /tmp (the master runs as root) and the named volumes."""
    named = compose_raw()["volumes"]
    return {"/tmp"} | {target for target, (source, _) in mounts(edge()).items() if source in named}


def test_nginx_accepts_the_config_compose_renders(tmp_path: Path) -> None:
    nginx_accepts(compose_values(), compose_writable(), tmp_path)


def test_nginx_accepts_the_config_k8s_renders(tmp_path: Path) -> None:
    """Read-only root: only the emptyDirs are writable."""
    container = the_edge_container(".")
    config = of_kind(".", "ConfigMap")[CONFIGMAP]["data"]
    values = {}
    for name in placeholders():
        entry = k8s_env(container)[name]
        if "value" in entry:
            values[name] = entry["value"]
        else:
            values[name] = config[entry["valueFrom"]["configMapKeyRef"]["key"]]
    writable = {path for path, volume in mounted_volumes(".").items() if "emptyDir" in volume}
    nginx_accepts(values, writable, tmp_path)


def test_nginx_refuses_a_broken_template(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The check above can fail: a missing semicolon is caught."""
    broken = tmp_path / "broken.conf.template"
    broken.write_text(TEMPLATE.read_text().replace("server_tokens off;", "server_tokens off"))
    monkeypatch.setattr(f"{__name__}.TEMPLATE", broken)
    (tmp_path / "t").mkdir()
    with pytest.raises(AssertionError, match="nginx -t refuses"):
        nginx_accepts(compose_values(), compose_writable(), tmp_path / "t")


def test_nginx_refuses_a_cache_below_a_missing_folder(tmp_path: Path) -> None:
    """nginx makes its cache folders, not their parents: the layout above is what counts."""
    values = compose_values() | {"EDGE_CACHE_DIR": "/tmp/missing/edge"}
    with pytest.raises(AssertionError, match="nginx -t refuses"):
        nginx_accepts(values, compose_writable(), tmp_path)
