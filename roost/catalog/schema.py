"""Table definitions of the catalog (SQLAlchemy Core)."""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

meta = sa.Table(
    "roost_meta",
    metadata,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)

version = sa.Table(
    "roost_version",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("v", sa.BigInteger, nullable=False),
)

workspaces = sa.Table(
    "roost_workspaces",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(256), nullable=False),
    sa.Column("database", sa.String(128), nullable=False),
    sa.Column("created_at", sa.String(32), nullable=False),
)

tokens = sa.Table(
    "roost_tokens",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(256), nullable=False, unique=True),
    sa.Column("description", sa.Text, nullable=False, default=""),
    sa.Column("value", sa.Text, nullable=False),
    sa.Column("value_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("scopes", sa.Text, nullable=False),  # JSON list of scope objects
    sa.Column("origin", sa.String(16), nullable=False, default="C"),
    sa.Column("expires_at", sa.Float, nullable=True),
    sa.Column("rps_limit", sa.Integer, nullable=True),
    sa.Column("created_at", sa.String(32), nullable=False),
    sa.Column("updated_at", sa.String(32), nullable=False),
    sa.Column("last_used_at", sa.String(32), nullable=True),
)

datasources = sa.Table(
    "roost_datasources",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(256), nullable=False, unique=True),
    sa.Column("doc", sa.Text, nullable=False),  # JSON: description, columns, engine, format, ...
    sa.Column("created_at", sa.String(32), nullable=False),
    sa.Column("updated_at", sa.String(32), nullable=False),
)

pipes = sa.Table(
    "roost_pipes",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(256), nullable=False, unique=True),
    sa.Column("doc", sa.Text, nullable=False),  # JSON: description, nodes, endpoint, cache_ttl, ...
    sa.Column("created_at", sa.String(32), nullable=False),
    sa.Column("updated_at", sa.String(32), nullable=False),
)

jobs = sa.Table(
    "roost_jobs",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("kind", sa.String(64), nullable=False),
    sa.Column("status", sa.String(32), nullable=False),
    sa.Column("doc", sa.Text, nullable=False),  # JSON: kind-specific keys
    sa.Column("created_at", sa.String(32), nullable=False),
    sa.Column("updated_at", sa.String(32), nullable=False),
    sa.Column("started_at", sa.String(32), nullable=True),
)

audit = sa.Table(
    "roost_audit",
    metadata,
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", sa.String(32), nullable=False),
    sa.Column("actor", sa.String(256), nullable=False),  # token name of the caller, never a value
    sa.Column("action", sa.String(32), nullable=False),  # create, update, delete, refresh
    sa.Column("token_id", sa.String(64), nullable=False),
    sa.Column("token_name", sa.String(256), nullable=False),
    sa.Column("old_scopes", sa.Text, nullable=True),
    sa.Column("new_scopes", sa.Text, nullable=True),
)
