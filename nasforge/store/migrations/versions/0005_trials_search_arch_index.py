"""Index trials by (search_id, arch_id) instead of arch_id alone.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06

The duplicate-architecture check of every `add_trials` (`appends.unseen`) asks for the
arch_ids a search holds among a few candidates. With an index on arch_id alone SQLite
answered it through (search_id, state, number) and scanned every trial of the search: the
per-trial cost grew with the history (0.4 ms at 1k trials, 2.8 ms at 20k). The composite index
answers it in a few lookups at any size. No index reads arch_id across searches, so the
single-column one goes. Indexes only: stores at 0004 read the same.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_trials_search_id_arch_id", "trials", ["search_id", "arch_id"])
    op.drop_index("ix_trials_arch_id", table_name="trials")


def downgrade() -> None:
    op.create_index("ix_trials_arch_id", "trials", ["arch_id"])
    op.drop_index("ix_trials_search_id_arch_id", table_name="trials")
