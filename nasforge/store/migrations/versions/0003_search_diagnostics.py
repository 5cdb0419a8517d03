"""Searches keep diagnostics: searches.diagnostics (nullable JSON text).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02

Search-level findings that are not a trial's metric, e.g. the supernet strategy's ranking
correlation between inherited-weight and standalone accuracy. Existing searches get NULL
(no diagnostics). ``batch_alter_table`` so SQLite and PostgreSQL take the same migration.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("searches") as batch:
        batch.add_column(sa.Column("diagnostics", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("searches") as batch:
        batch.drop_column("diagnostics")
