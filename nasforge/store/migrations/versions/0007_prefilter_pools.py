"""Keep the proxy pre-filter's pools in a table of their own, one row appended per pool.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07

The pools were kept in the search's diagnostics (one JSON column): every new pool read and
rewrote the whole list, so a search of B trained candidates with pools of P wrote O(B^2 P)
bytes, and two workers storing pools at once could lose one. A row per pool makes adding one
a single INSERT at any history size. A new table only: stores at 0006 read the same (a
read-only store at 0006 reads no pools).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "prefilter_pools",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("search_id", sa.Integer(), nullable=False),
        sa.Column("winner", sa.String(16), nullable=True),
        sa.Column("pool", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["search_id"], ["searches.id"], ondelete="CASCADE",
                                name="fk_prefilter_pools_search_id_searches"),
        sa.PrimaryKeyConstraint("id", name="pk_prefilter_pools"),
    )
    op.create_index("ix_prefilter_pools_search_id_id", "prefilter_pools", ["search_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_prefilter_pools_search_id_id", table_name="prefilter_pools")
    op.drop_table("prefilter_pools")
