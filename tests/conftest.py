"""Shared fixtures.

chDB allows ONE data path per process: every in-process test that opens chDB must use the
session-wide ``chdb_path``. Tests that go through HTTP use a real server in a subprocess.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.support.server import RoostServer

PG_BASE = os.environ.get("ROOST_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


@pytest.fixture(scope="session")
def chdb_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("chdb") / "engine"


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RoostServer]:
    srv = RoostServer(tmp_path_factory.mktemp("roost") / "data").start()
    yield srv
    srv.stop()


@pytest.fixture()
def admin(server: RoostServer):  # type: ignore[no-untyped-def]
    with server.admin() as c:
        yield c


@pytest.fixture()
def unique() -> str:
    return "x" + uuid.uuid4().hex[:10]


def _pg_schema_url() -> Iterator[str]:
    schema = "t_" + uuid.uuid4().hex[:16]
    eng = sa.create_engine(PG_BASE.replace("postgresql://", "postgresql+psycopg://", 1))
    with eng.begin() as c:
        c.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield f"{PG_BASE}?options=-csearch_path%3D{schema}"
    finally:
        with eng.begin() as c:
            c.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        eng.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def catalog_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh catalog URL on SQLite and on PostgreSQL (one schema per test)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'catalog.db'}"
    else:
        yield from _pg_schema_url()


@pytest.fixture()
def pg_url() -> Iterator[str]:
    yield from _pg_schema_url()
