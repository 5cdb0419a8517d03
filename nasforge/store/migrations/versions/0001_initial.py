"""The first schema: searches, trials, trial_metrics, curve_points.

Revision ID: 0001
Revises:
Create Date: 2025-01-01

Written out by hand (not ``metadata.create_all``) so that it stays the same whatever
``nasforge/store/schema.py`` later becomes. Times are ``DateTime(timezone=True)``; metric
values are nullable floats where NULL stands for NaN.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "searches",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("objectives", sa.Text(), nullable=False),
        sa.Column("budget", sa.Integer(), nullable=False),
        sa.Column("config", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_searches"),
        sa.UniqueConstraint("name", name="uq_searches_name"),
    )
    op.create_table(
        "trials",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("search_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("arch_json", sa.Text(), nullable=False),
        sa.Column("arch_id", sa.String(16), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("worker", sa.String(255), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["search_id"], ["searches.id"], ondelete="CASCADE",
                                name="fk_trials_search_id_searches"),
        sa.PrimaryKeyConstraint("id", name="pk_trials"),
        sa.UniqueConstraint("search_id", "number", name="uq_trials_search_id_number"),
    )
    op.create_index("ix_trials_arch_id", "trials", ["arch_id"])
    op.create_index("ix_trials_search_id_state_number", "trials",
                    ["search_id", "state", "number"])
    op.create_table(
        "trial_metrics",
        sa.Column("trial_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(["trial_id"], ["trials.id"], ondelete="CASCADE",
                                name="fk_trial_metrics_trial_id_trials"),
        sa.PrimaryKeyConstraint("trial_id", "name", name="pk_trial_metrics"),
    )
    op.create_table(
        "curve_points",
        sa.Column("trial_id", sa.Integer(), nullable=False),
        sa.Column("epoch", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(["trial_id"], ["trials.id"], ondelete="CASCADE",
                                name="fk_curve_points_trial_id_trials"),
        sa.PrimaryKeyConstraint("trial_id", "epoch", "name", name="pk_curve_points"),
    )


def downgrade() -> None:
    op.drop_table("curve_points")
    op.drop_table("trial_metrics")
    op.drop_index("ix_trials_search_id_state_number", table_name="trials")
    op.drop_index("ix_trials_arch_id", table_name="trials")
    op.drop_table("trials")
    op.drop_table("searches")
