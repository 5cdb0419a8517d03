"""Searches remember their data: searches.data_fingerprint (nullable JSON text).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-05

What identifies the data a search trains on (the files' content hashes, the shapes, the
seeded split; see ``nasforge.evaluator.fingerprint``), so `nasforge resume` and `nasforge
worker` can refuse data that changed. Existing searches get NULL: the first resume stores
the fingerprint of the data it finds. A nullable column, so nasforge versions that read
0004 can still read 0003 stores as they are.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("searches") as batch:
        batch.add_column(sa.Column("data_fingerprint", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("searches") as batch:
        batch.drop_column("data_fingerprint")
