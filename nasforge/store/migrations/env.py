"""Alembic environment of the nasforge store.

Normal use is programmatic (`nasforge.store.engine.migrate`): the caller puts an open
SQLAlchemy connection, already inside its transaction, in ``config.attributes["connection"]``
and the migrations run in that transaction. For development (``alembic revision``) it also
accepts a URL in the ``sqlalchemy.url`` option, or ``--sql`` offline mode.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, create_engine, pool

from nasforge.store.schema import metadata

config = context.config


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )


def run_offline() -> None:
    context.configure(url=config.get_main_option("sqlalchemy.url"),
                      target_metadata=metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure(connection)
        with context.begin_transaction():
            context.run_migrations()
        return
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("Pass a connection in config.attributes['connection'] "
                           "or set the sqlalchemy.url option.")
    engine = create_engine(url, poolclass=pool.NullPool)
    try:
        with engine.connect() as conn:
            _configure(conn)
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
