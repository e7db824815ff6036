"""Park administrators: people who see the whole park and run its optimiser."""

from __future__ import annotations

from shared.settings import ENV_PREFIX
from symbiosis.config import StackSettings
from symbiosis.errors import UserError


async def create_park_admin(settings: StackSettings, email: str, name: str, secret: str) -> str:
    import uuid
    from pathlib import Path as _Path

    import asyncpg

    from services.listings import storage
    from services.listings.accounts import hash_password
    from shared.db import create_pool
    from shared.migrations import migrate
    from symbiosis.embedded import embedded_database_url

    url = (
        settings.database_url.get_secret_value()
        if settings.database_url
        else embedded_database_url(settings)
    )
    if not name:
        raise UserError("the name is empty")
    try:
        pool = await create_pool(url, "listings", max_size=2)
    except (OSError, asyncpg.PostgresError) as exc:
        raise UserError(
            f"cannot reach the database ({exc.__class__.__name__}); start `symbiosis up` "
            f"or set {ENV_PREFIX}DATABASE_URL"
        ) from None
    try:
        async with pool.acquire() as conn:
            import services.listings as listings_package

            await migrate(conn, "listings", _Path(listings_package.__file__).parent / "migrations")
            try:
                row = await storage.insert_person(
                    conn,
                    person_id=uuid.uuid4(),
                    company_id=None,
                    email=email,
                    name=name,
                    role="park_admin",
                    password_hash=await hash_password(secret),
                )
            except storage.DuplicateEmail:
                raise UserError(f"{email} already signs in to the exchange") from None
        return str(row.id)
    finally:
        await pool.close()
