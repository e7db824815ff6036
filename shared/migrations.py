"""Applies plain SQL migrations, once each, in order, under an advisory lock.

Each service keeps numbered files (``0001_create_listings.sql``) beside its code; the
shared tables (outbox, processed events) come from ``shared/migrations`` and are
applied first into every service's schema. A file that was applied and has since
been edited is refused: its checksum no longer matches, and the fix is a new file.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from shared.db import Connection, check_schema_name

SHARED_MIGRATIONS = Path(__file__).parent / "migrations"
_FILE_NAME = re.compile(r"^(?P<version>\d{4})_[a-z0-9_]+\.sql$")


class MigrationError(RuntimeError):
    """The migrations cannot be applied as they stand; nothing was changed by the failing step."""


@dataclass(frozen=True)
class Migration:
    set_name: str
    version: str
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def load_migrations(set_name: str, directory: Path) -> list[Migration]:
    """Read ``NNNN_name.sql`` files in version order; refuse stray or duplicate names."""
    found: dict[str, Migration] = {}
    for path in sorted(directory.glob("*.sql")):
        match = _FILE_NAME.match(path.name)
        if match is None:
            raise MigrationError(f"{path}: migration files are named NNNN_lowercase_name.sql")
        version = match["version"]
        if version in found:
            raise MigrationError(f"{path}: version {version} is used by {found[version].name}")
        found[version] = Migration(set_name, version, path.name, path.read_text())
    return [found[v] for v in sorted(found)]


async def migrate(conn: Connection, schema: str, service_dir: Path) -> list[str]:
    """Apply the shared and then the service's pending migrations; return their names."""
    check_schema_name(schema)
    plan = load_migrations("shared", SHARED_MIGRATIONS) + load_migrations(schema, service_dir)
    lock_name = f"symbiosis.migrations.{schema}"
    await conn.execute("SELECT pg_advisory_lock(hashtext($1))", lock_name)
    try:
        await conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
        await conn.execute(
            f"""
            CREATE TABLE IF NOT EXISTS "{schema}".schema_migrations (
                set_name   text NOT NULL,
                version    text NOT NULL,
                name       text NOT NULL,
                checksum   text NOT NULL,
                applied_at timestamptz NOT NULL DEFAULT now(),
                PRIMARY KEY (set_name, version)
            )"""
        )
        rows = await conn.fetch(
            f'SELECT set_name, version, name, checksum FROM "{schema}".schema_migrations'
        )
        applied = {(r["set_name"], r["version"]): r for r in rows}
        known = {(m.set_name, m.version) for m in plan}
        unknown = sorted(
            f"{s}/{n}" for (s, v), r in applied.items() if (s, v) not in known for n in [r["name"]]
        )
        if unknown:
            raise MigrationError(
                f"schema {schema} has migrations this code does not know: {', '.join(unknown)}"
            )
        done: list[str] = []
        for migration in plan:
            row = applied.get((migration.set_name, migration.version))
            if row is not None:
                if row["checksum"] != migration.checksum:
                    raise MigrationError(
                        f"{migration.set_name}/{migration.name} was edited after it was applied "
                        f"to schema {schema}; add a new migration instead"
                    )
                continue
            async with conn.transaction():
                await conn.execute(f'SET LOCAL search_path TO "{schema}", public')
                await conn.execute(migration.sql)
                await conn.execute(
                    f'INSERT INTO "{schema}".schema_migrations (set_name, version, name, checksum)'
                    " VALUES ($1, $2, $3, $4)",
                    migration.set_name,
                    migration.version,
                    migration.name,
                    migration.checksum,
                )
            done.append(f"{migration.set_name}/{migration.name}")
        return done
    finally:
        await conn.execute("SELECT pg_advisory_unlock(hashtext($1))", lock_name)
