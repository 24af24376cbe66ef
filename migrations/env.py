"""Alembic environment: async engines, only the enabled branches' tables."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy import Connection

from basis.core.db import create_engine
from basis.core.migrations import owned_tables, target_metadata

config = context.config
specs = config.attributes.get("specs", [])
metadata = target_metadata(specs)
owned = owned_tables(specs)


def include_object(obj, name, type_, reflected, compare_to):  # noqa: ANN001
    if type_ == "table":
        return name in owned
    return True


def do_run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        include_object=include_object,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        compare_server_default=False,
    )
    with context.begin_transaction():
        context.run_migrations()


async def run_async() -> None:
    engine = create_engine(config.get_main_option("sqlalchemy.url"))
    try:
        async with engine.connect() as connection:
            await connection.run_sync(do_run)
    finally:
        await engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline migrations are not supported; run `basis migrate` against a database")
connection = config.attributes.get("connection")
if connection is not None:
    do_run(connection)
else:
    asyncio.run(run_async())
