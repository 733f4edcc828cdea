"""The mail link key (MAIL_LINK_KEY) reaches identity and the mailer, and no other service:
in compose through the environment or a volume of its own (never the JWT key volume), in
Kubernetes from the Secret template, whose placeholder is a usable key that says so."""

from __future__ import annotations

from pathlib import PurePosixPath

from common.security.sealing import MAIL_LINK_KEY_FILE, Sealer, is_placeholder
from tests.support.deploy import (
    SECRET,
    compose,
    compose_raw,
    environment,
    is_app,
    objects,
    the_container,
)

HOLDERS = {"identity", "mailer"}


def mounts(spec: dict) -> dict[str, tuple[str, str]]:  # type: ignore[type-arg]
    """container path -> (volume, mode) of a compose service."""
    found = {}
    for volume in spec.get("volumes", []):
        parts = str(volume).split(":")
        found[parts[1]] = (parts[0], parts[2] if len(parts) > 2 else "rw")
    return found


def test_compose_gives_the_key_to_identity_and_the_mailer_only() -> None:
    specs = compose()
    holders = {n for n, s in specs.items() if is_app(s) and "MAIL_LINK_KEY" in environment(s)}
    assert holders == HOLDERS


def test_compose_shares_a_generated_key_through_a_volume_of_its_own() -> None:
    specs = compose()
    where = {}
    for name in HOLDERS:
        folder = PurePosixPath(environment(specs[name])["DATA_DIR"]) / MAIL_LINK_KEY_FILE.parent
        volume, mode = mounts(specs[name])[str(folder)]
        assert volume in compose_raw()["volumes"], f"{name}: {folder} is not a named volume"
        where[name] = (volume, mode)
    assert where["identity"][1] == "rw" and where["mailer"][1] == "ro"
    volume = where["identity"][0]
    assert where["mailer"][0] == volume
    others = {n for n, s in specs.items() if n not in HOLDERS and volume in str(s.get("volumes"))}
    assert not others, f"the mail link key volume is mounted in {others}"
    jwt_volume = mounts(specs["gateway"])[environment(specs["gateway"])["DATA_DIR"] + "/keys"][0]
    assert jwt_volume not in {v for v, _ in mounts(specs["mailer"]).values()}, (
        "the mailer must not see the JWT private key"
    )
    # the key is made by identity on its first start: the mailer waits for it
    assert specs["mailer"]["depends_on"]["identity"]["condition"] == "service_healthy"


def test_k8s_gives_the_key_to_identity_and_the_mailer_only() -> None:
    holders = set()
    for name, deployment in objects("Deployment").items():
        for entry in the_container(deployment).get("env", []):
            if entry["name"] == "MAIL_LINK_KEY":
                ref = entry["valueFrom"]["secretKeyRef"]
                assert ref == {"name": SECRET, "key": "MAIL_LINK_KEY"}, name
                holders.add(name)
    assert holders == HOLDERS


def test_k8s_template_key_is_a_usable_placeholder() -> None:
    value = objects("Secret")[SECRET]["stringData"]["MAIL_LINK_KEY"]
    Sealer([value])  # a valid key: a development cluster starts with the template as it is
    assert is_placeholder(value), "a real key in git: use a change-me placeholder"
