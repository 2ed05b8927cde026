"""Alembic environment for the agentspec store.

Migrations run programmatically from :meth:`agentspec.store.sql.SQLStore.setup`, which
passes an open connection in ``config.attributes["connection"]``. Offline mode (``--sql``)
renders the DDL for the URL in the ``sqlalchemy.url`` option, for DBAs who apply it by hand.
"""

from __future__ import annotations

from alembic import context

from agentspec.store.schema import metadata

config = context.config


def _run_offline() -> None:
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=metadata,
        literal_binds=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def _run_online() -> None:
    connection = config.attributes.get("connection")
    if connection is None:
        raise RuntimeError(
            "agentspec migrations run from SQLStore.setup(), which provides the connection"
        )
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    _run_offline()
else:
    _run_online()
