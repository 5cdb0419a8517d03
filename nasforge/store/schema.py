"""Table definitions of the SQL store (SQLAlchemy Core).

This module is the *current* schema; the Alembic migrations in ``migrations/versions`` are
the history that builds it, written out by hand. ``tests/store`` checks that both agree.

Tables::

    searches       one row per search (name unique); ``diagnostics``: a JSON object of
                   search-level findings (the supernet's ranking correlation), or NULL;
                   ``data_fingerprint``: a JSON object identifying the data the search
                   trains on (file hashes, shapes, split), or NULL for searches stored
                   before revision 0004
    trials         one row per trial; number 0, 1, 2, ... per search; ``checkpoint``: the
                   trial's saved state_dict relative to the checkpoint root, or NULL
    trial_metrics  final metrics of a trial: (trial_id, name) -> value
    curve_points   learning curve of a trial: (trial_id, epoch, name) -> value
    prefilter_pools  0007: the proxy pre-filter's pools of a search, appended one row each
                   (``pool``: its JSON, ``winner``: the arch_id it trained), read in id order

Floats: ``value`` columns are nullable and NULL stands for NaN (SQLite cannot keep NaN: its
driver turns it into NULL anyway, and PostgreSQL would keep it, so both agree on NULL).
Positive and negative infinity are stored as such by both backends. Reading maps NULL back
to NaN, so metrics round-trip exactly (NaN payloads aside).

Times are timezone-aware UTC datetimes (`UTCDateTime`); SQLite stores them as naive UTC
text, PostgreSQL as ``timestamptz``.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import (
    Column,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.types import TypeDecorator

#: The Alembic revision this module describes (the head of ``migrations/versions``).
SCHEMA_REVISION = "0007"

NAME_LENGTH = 255
ARCH_ID_LENGTH = 16
STATE_LENGTH = 16

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """A datetime stored in UTC and always read back timezone-aware (UTC)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"Store times must be timezone-aware, got naive {value!r}.")
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


metadata = MetaData(naming_convention=NAMING_CONVENTION)

searches = Table(
    "searches",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(NAME_LENGTH), nullable=False),
    Column("objectives", Text, nullable=False),  # JSON: [{"metric": .., "direction": ..}]
    Column("budget", Integer, nullable=False),
    Column("config", Text, nullable=False),  # JSON object
    Column("created_at", UTCDateTime, nullable=False),
    Column("diagnostics", Text, nullable=True),  # 0003: JSON object (e.g. supernet ranking)
    Column("data_fingerprint", Text, nullable=True),  # 0004: JSON, see evaluator.data.fingerprint
    UniqueConstraint("name"),
)

trials = Table(
    "trials",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("search_id", Integer, ForeignKey("searches.id", ondelete="CASCADE"), nullable=False),
    Column("number", Integer, nullable=False),
    Column("arch_json", Text, nullable=False),
    Column("arch_id", String(ARCH_ID_LENGTH), nullable=False),
    Column("state", String(STATE_LENGTH), nullable=False),
    Column("error", Text, nullable=True),
    Column("worker", String(NAME_LENGTH), nullable=True),
    Column("created_at", UTCDateTime, nullable=True),
    Column("started_at", UTCDateTime, nullable=True),
    Column("finished_at", UTCDateTime, nullable=True),
    Column("heartbeat_at", UTCDateTime, nullable=True),
    Column("checkpoint", Text, nullable=True),  # 0002: relative path, NULL = none kept
    UniqueConstraint("search_id", "number"),
    # 0005: serves the duplicate-architecture check of add_trials at any history size
    Index("ix_trials_search_id_arch_id", "search_id", "arch_id"),
    # serves `claim` (WAITING, lowest numbers first) and state filters / counts per search
    Index("ix_trials_search_id_state_number", "search_id", "state", "number"),
    # 0006: serves `worker_counts` (nasforge show) from the index alone
    Index("ix_trials_search_id_worker_state", "search_id", "worker", "state"),
)

trial_metrics = Table(
    "trial_metrics",
    metadata,
    Column("trial_id", Integer, ForeignKey("trials.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(NAME_LENGTH), nullable=False),
    Column("value", Float, nullable=True),  # NULL = NaN
    PrimaryKeyConstraint("trial_id", "name"),
    # 0006: `best_trials` walks a metric's values from the best end
    Index("ix_trial_metrics_name_value", "name", "value"),
)

curve_points = Table(
    "curve_points",
    metadata,
    Column("trial_id", Integer, ForeignKey("trials.id", ondelete="CASCADE"), nullable=False),
    Column("epoch", Integer, nullable=False),
    Column("name", String(NAME_LENGTH), nullable=False),
    Column("value", Float, nullable=True),  # NULL = NaN
    PrimaryKeyConstraint("trial_id", "epoch", "name"),
)

prefilter_pools = Table(
    "prefilter_pools",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("search_id", Integer, ForeignKey("searches.id", ondelete="CASCADE"), nullable=False),
    Column("winner", String(ARCH_ID_LENGTH), nullable=True),
    Column("pool", Text, nullable=False),  # JSON object (`strategies.prefilter.Pool.to_json`)
    Column("created_at", UTCDateTime, nullable=False),  # recognises a retried add_pool
    # a search's pools in insertion order, without reading other searches'
    Index("ix_prefilter_pools_search_id_id", "search_id", "id"),
)

#: tables added after the first revision: a read-only store at an older schema reads them as
#: empty rather than refusing to open
LATER_TABLES = frozenset({"prefilter_pools"})
