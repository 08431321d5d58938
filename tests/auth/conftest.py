"""Fixtures for auth tests: real catalogs on SQLite (temp file) and PostgreSQL (one schema per test).

PostgreSQL comes from ``ROOST_TEST_PG`` (default ``postgresql://postgres@127.0.0.1:5432/test``); tests
that need it fail when it is unreachable
(CI and every dev machine run it). Each test gets its own schema ``t_<uuid hex>``,
selected through ``options=-csearch_path=<schema>`` in the URL, dropped afterwards.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from roost.catalog import Catalog, open_catalog

PG_URL = os.environ.get("ROOST_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
WORKSPACE_ID = "0f3c2a55-7a61-4c55-9a8e-6a1c3b1f9d2e"


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A PostgreSQL catalog URL whose search_path is a fresh schema (dropped after the test)."""
    schema = f"t_{uuid.uuid4().hex}"
    try:
        conn = psycopg.connect(PG_URL, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as e:
        pytest.fail(f"PostgreSQL not available at {PG_URL}: {e}")
    try:
        conn.execute(f'CREATE SCHEMA "{schema}"')
        sep = "&" if "?" in PG_URL else "?"
        yield f"{PG_URL}{sep}options=-csearch_path%3D{schema}"
    finally:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        conn.close()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/c.db"


@pytest.fixture(params=["sqlite", "postgresql"])
def catalog_url(request: pytest.FixtureRequest) -> str:
    name = "sqlite_url" if request.param == "sqlite" else "pg_url"
    url: str = request.getfixturevalue(name)
    return url


@pytest.fixture
def catalog(catalog_url: str) -> Iterator[Catalog]:
    """An opened catalog with its workspace created."""
    cat = open_catalog(catalog_url)
    cat.create_workspace(WORKSPACE_ID, "test_ws", "test_db")
    try:
        yield cat
    finally:
        cat.close()
