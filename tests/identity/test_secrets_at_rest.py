"""No live secret at rest: once a mail has gone, its link (and the token in it) is readable
nowhere in the data files: not in a table, not in SQLite's WAL or free pages, not in
PostgreSQL's heap files. What identity hands over to the mailer travels sealed.

Not scanned: DATA_DIR/outbox/*.eml (the console sender's copies: the delivered mails
themselves) and DATA_DIR/keys (the keys are meant to be there).
"""

from __future__ import annotations

import contextlib
import stat
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import httpx

from common.config import Settings
from common.ports import Ports
from tests.support.platform import BASE_URL, ORIGIN, Mail, Outbox, make_settings
from tests.support.services import skip_or_fail

PASSWORD = "correct horse battery staple 42"


async def register_and_reset(client: httpx.AsyncClient, outbox: Outbox, email: str) -> list[Mail]:
    """A registration and a password reset, both mails delivered; their links stay unused."""
    response = await client.post(
        "/api/register/",
        json={
            "email": email,
            "password": PASSWORD,
            "confirmed_password": PASSWORD,
            "privacy_policy": "on",
        },
    )
    assert response.status_code == 201, response.text
    await outbox.wait_for(email)
    response = await client.post("/api/password_reset/", json={"email": email})
    assert response.status_code == 200, response.text
    mails = await outbox.wait_for(email, count=2)
    assert {m.subject for m in mails} == {"Confirm your email", "Reset your password"}
    return mails


def secrets_of(mails: list[Mail]) -> list[bytes]:
    found = []
    for mail in mails:
        _uid, token = mail.uid_and_token()
        assert len(token) >= 32
        found += [mail.link().encode(), token.encode()]
    return found


def scanned_files(data_dir: Path) -> list[Path]:
    """Every file under DATA_DIR but the delivered mails and the keys."""
    skipped = (data_dir / "outbox", data_dir / "keys")
    return [
        path
        for path in sorted(data_dir.rglob("*"))
        if path.is_file() and not any(path.is_relative_to(s) for s in skipped)
    ]


def assert_no_secret_in_files(data_dir: Path, secrets: list[bytes]) -> None:
    files = scanned_files(data_dir)
    assert any(p.name == "identity.sqlite3" for p in files), files
    for path in files:
        data = path.read_bytes()
        for secret in secrets:
            assert secret not in data, f"a live link or token in {path.relative_to(data_dir)}"


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def assert_private_modes(data_dir: Path) -> None:
    assert mode(data_dir) == 0o700, oct(mode(data_dir))
    databases = [p for p in data_dir.iterdir() if ".sqlite3" in p.name]
    names = {p.name for p in databases}
    assert {"identity.sqlite3", "identity.sqlite3-wal", "identity.sqlite3-shm"} <= names, names
    for path in databases:
        assert mode(path) == 0o600, f"{path.name}: {oct(mode(path))}"
    keys = data_dir / "keys"
    assert mode(keys) == 0o700, oct(mode(keys))
    for path in keys.rglob("*"):
        if path.is_dir():
            assert mode(path) == 0o700, f"{path}: {oct(mode(path))}"
        elif "public" not in path.name:
            assert mode(path) == 0o600, f"{path}: {oct(mode(path))}"


async def test_no_live_link_in_the_all_in_one_data_files(tmp_path: Path) -> None:
    from allinone.app import build_app

    settings = make_settings(tmp_path)
    app = build_app(settings)
    outbox = Outbox(settings.data_dir / "outbox")
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
        headers = {"Origin": ORIGIN, "Content-Type": "application/json"}
        async with httpx.AsyncClient(
            transport=transport, base_url=BASE_URL, headers=headers
        ) as client:
            secrets = secrets_of(await register_and_reset(client, outbox, "rosa@example.com"))
        # while running: the WAL holds every recent page, deleted rows included
        assert_private_modes(settings.data_dir)
        assert_no_secret_in_files(settings.data_dir, secrets)
    assert_no_secret_in_files(settings.data_dir, secrets)  # and after the final checkpoint


# ---------------------------------------------------------------- PostgreSQL


@contextlib.asynccontextmanager
async def identity_with_mailer(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """Identity on `settings.database_url` and the mailer (console sender), on in-process
    ports; a client that talks to identity directly."""
    import identity.app
    import mailer.app

    ports = Ports.from_settings(settings)
    identity_app = identity.app.create_app(settings, ports)
    mailer_app = mailer.app.create_app(settings, ports)
    await ports.start()
    try:
        async with (
            identity_app.router.lifespan_context(identity_app),
            mailer_app.router.lifespan_context(mailer_app),
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=identity_app), base_url="http://identity"
            ) as client,
        ):
            yield client
    finally:
        await ports.close()


async def test_no_live_link_in_the_identity_postgres_database(
    tmp_path: Path, postgres_url: str
) -> None:
    settings = make_settings(tmp_path, database_url=postgres_url, migrate_on_start=True)
    outbox = Outbox(settings.data_dir / "outbox")
    async with identity_with_mailer(settings) as client:
        secrets = secrets_of(await register_and_reset(client, outbox, "tom@example.com"))

    conn = await asyncpg.connect(postgres_url)
    try:
        tables = await conn.fetch(
            "SELECT quote_ident(schemaname) || '.' || quote_ident(tablename) AS name "
            "FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')"
        )
        names = {t["name"] for t in tables}
        assert "public.outbox_messages" in names and "public.users" in names, names
        for table in names:
            for row in await conn.fetch(f"SELECT t::text AS row FROM {table} t"):  # noqa: S608
                for secret in secrets:
                    assert secret.decode() not in row["row"], f"a live link or token in {table}"
        await heap_files_hold_no_secret(conn, secrets)
    finally:
        await conn.close()


async def heap_files_hold_no_secret(conn: asyncpg.Connection, secrets: list[bytes]) -> None:
    """The on-disk pages of every relation of the database, dead rows included (a deleted
    row stays in its page until vacuum). Needs a superuser, as the test servers give."""
    if not await conn.fetchval("SELECT rolsuper FROM pg_roles WHERE rolname = current_user"):
        skip_or_fail("reading relation files needs a PostgreSQL superuser")
    await conn.execute("CHECKPOINT")  # dirty pages to disk
    relations = await conn.fetch(
        "SELECT c.relname, pg_relation_filepath(c.oid) AS path FROM pg_class c "
        "JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') "
        "AND c.relkind IN ('r', 'i', 't') AND pg_relation_filepath(c.oid) IS NOT NULL"
    )
    assert relations
    for relation in relations:
        data = await conn.fetchval(
            "SELECT pg_read_binary_file($1, 0, 1 << 26, true)", relation["path"]
        )
        for secret in secrets:
            assert secret not in (data or b""), f"a live link or token in {relation['relname']}"
