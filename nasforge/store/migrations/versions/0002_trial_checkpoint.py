"""Trials remember their saved checkpoint: trials.checkpoint (nullable text).

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02

The path of the trial's state_dict file relative to the search's checkpoint root (see
``nasforge.checkpoints``), or NULL when none is kept. Existing trials get NULL: they have no
checkpoint. ``batch_alter_table`` so that SQLite (which cannot alter columns in place) and
PostgreSQL take the same migration; adding a nullable column needs no table copy on either.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("trials") as batch:
        batch.add_column(sa.Column("checkpoint", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("trials") as batch:
        batch.drop_column("checkpoint")
