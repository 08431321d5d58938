"""The catalog store: plain dict records in SQLite or PostgreSQL.

Every mutation bumps a global version number in the same transaction, so caches in this and
other processes (token cache, compiled-SQL cache) know when to drop what they hold.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import orjson
import sqlalchemy as sa

from roost.catalog import schema as s


def now_str() -> str:
    """Tinybird's timestamp format: ``YYYY-MM-DD HH:MM:SS.ffffff`` (UTC)."""
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def _dumps(v: Any) -> str:
    return orjson.dumps(v).decode()


def _doc_row(row: Any) -> dict[str, Any]:
    out = dict(orjson.loads(row.doc))
    out.update(id=row.id, name=row.name, created_at=row.created_at, updated_at=row.updated_at)
    return out


class Catalog:
    """Metadata store. All methods are synchronous and thread-safe."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name
        self._lock = threading.Lock() if self.dialect == "sqlite" else None
        s.metadata.create_all(engine)
        with self.engine.begin() as c:
            if c.execute(sa.select(s.version.c.v).where(s.version.c.id == 1)).first() is None:
                c.execute(sa.insert(s.version).values(id=1, v=1))

    # --- plumbing ----------------------------------------------------------------------------
    @contextmanager
    def _write(self) -> Iterator[sa.Connection]:
        """A write transaction that bumps the catalog version."""
        if self._lock is not None:
            self._lock.acquire()
        try:
            with self.engine.begin() as c:
                yield c
                c.execute(sa.update(s.version).where(s.version.c.id == 1).values(v=s.version.c.v + 1))
        finally:
            if self._lock is not None:
                self._lock.release()

    def version(self) -> int:
        with self.engine.connect() as c:
            return int(c.execute(sa.select(s.version.c.v).where(s.version.c.id == 1)).scalar_one())

    def close(self) -> None:
        self.engine.dispose()

    # --- meta --------------------------------------------------------------------------------
    def get_meta(self, key: str) -> str | None:
        with self.engine.connect() as c:
            return c.execute(sa.select(s.meta.c.value).where(s.meta.c.key == key)).scalar()

    def set_meta(self, key: str, value: str) -> None:
        with self._write() as c:
            if c.execute(sa.select(s.meta.c.key).where(s.meta.c.key == key)).first():
                c.execute(sa.update(s.meta).where(s.meta.c.key == key).values(value=value))
            else:
                c.execute(sa.insert(s.meta).values(key=key, value=value))

    # --- workspace ---------------------------------------------------------------------------
    def get_workspace(self) -> dict[str, Any] | None:
        with self.engine.connect() as c:
            row = c.execute(sa.select(s.workspaces)).first()
            return dict(row._mapping) if row else None

    def create_workspace(self, id: str, name: str, database: str) -> dict[str, Any]:
        rec = {"id": id, "name": name, "database": database, "created_at": now_str()}
        with self._write() as c:
            c.execute(sa.insert(s.workspaces).values(**rec))
        return rec

    # --- tokens ------------------------------------------------------------------------------
    @staticmethod
    def _token(row: Any) -> dict[str, Any]:
        d = dict(row._mapping)
        d["scopes"] = orjson.loads(d["scopes"])
        return d

    def list_tokens(self) -> list[dict[str, Any]]:
        with self.engine.connect() as c:
            rows = c.execute(sa.select(s.tokens).order_by(s.tokens.c.created_at, s.tokens.c.name)).all()
            return [self._token(r) for r in rows]

    def get_token(self, name_or_id: str) -> dict[str, Any] | None:
        t = s.tokens
        with self.engine.connect() as c:
            row = c.execute(sa.select(t).where((t.c.id == name_or_id) | (t.c.name == name_or_id))).first()
            return self._token(row) if row else None

    def get_token_by_hash(self, value_hash: str) -> dict[str, Any] | None:
        t = s.tokens
        with self.engine.connect() as c:
            row = c.execute(sa.select(t).where(t.c.value_hash == value_hash)).first()
            return self._token(row) if row else None

    def create_token(self, rec: dict[str, Any]) -> dict[str, Any]:
        now = now_str()
        row = {
            "description": "",
            "origin": "C",
            "expires_at": None,
            "rps_limit": None,
            "last_used_at": None,
            "created_at": now,
            "updated_at": now,
            **rec,
        }
        row["scopes"] = _dumps(row["scopes"])
        with self._write() as c:
            c.execute(sa.insert(s.tokens).values(**row))
        return self.get_token(rec["id"]) or {}

    def update_token(self, id: str, **fields: Any) -> dict[str, Any] | None:
        if "scopes" in fields:
            fields["scopes"] = _dumps(fields["scopes"])
        fields["updated_at"] = now_str()
        with self._write() as c:
            c.execute(sa.update(s.tokens).where(s.tokens.c.id == id).values(**fields))
        return self.get_token(id)

    def touch_token(self, id: str, at: str) -> None:
        """Record last use; not a catalog change (no version bump)."""
        with self.engine.begin() as c:
            c.execute(sa.update(s.tokens).where(s.tokens.c.id == id).values(last_used_at=at))

    def touch_tokens(self, items: list[tuple[str, str]]) -> None:
        """Record the last use of many tokens in one transaction (no version bump)."""
        if not items:
            return
        t = s.tokens
        stmt = sa.update(t).where(t.c.id == sa.bindparam("tid")).values(last_used_at=sa.bindparam("at"))
        with self.engine.begin() as c:
            c.execute(stmt, [{"tid": i, "at": a} for i, a in items])

    def delete_token(self, id: str) -> bool:
        with self._write() as c:
            return c.execute(sa.delete(s.tokens).where(s.tokens.c.id == id)).rowcount > 0

    # --- audit -------------------------------------------------------------------------------
    def add_audit(
        self,
        actor: str,
        action: str,
        token_id: str,
        token_name: str,
        old_scopes: list[Any] | None,
        new_scopes: list[Any] | None,
    ) -> None:
        with self.engine.begin() as c:
            c.execute(
                sa.insert(s.audit).values(
                    at=now_str(),
                    actor=actor,
                    action=action,
                    token_id=token_id,
                    token_name=token_name,
                    old_scopes=None if old_scopes is None else _dumps(old_scopes),
                    new_scopes=None if new_scopes is None else _dumps(new_scopes),
                )
            )

    def list_audit(self, token: str | None = None, limit: int = 1000) -> list[dict[str, Any]]:
        a = s.audit
        q = sa.select(a).order_by(a.c.seq.desc()).limit(limit)
        if token:
            q = q.where((a.c.token_id == token) | (a.c.token_name == token))
        with self.engine.connect() as c:
            out = []
            for row in c.execute(q).all():
                d = dict(row._mapping)
                for k in ("old_scopes", "new_scopes"):
                    d[k] = orjson.loads(d[k]) if d[k] is not None else None
                out.append(d)
            return out

    # --- data sources and pipes (JSON documents) ---------------------------------------------
    def _list_docs(self, table: sa.Table) -> list[dict[str, Any]]:
        with self.engine.connect() as c:
            return [_doc_row(r) for r in c.execute(sa.select(table).order_by(table.c.name)).all()]

    def _get_doc(self, table: sa.Table, name_or_id: str) -> dict[str, Any] | None:
        with self.engine.connect() as c:
            row = c.execute(
                sa.select(table).where((table.c.id == name_or_id) | (table.c.name == name_or_id))
            ).first()
            return _doc_row(row) if row else None

    def _create_doc(self, table: sa.Table, id: str, name: str, doc: dict[str, Any]) -> dict[str, Any]:
        now = now_str()
        with self._write() as c:
            c.execute(
                sa.insert(table).values(id=id, name=name, doc=_dumps(doc), created_at=now, updated_at=now)
            )
        return self._get_doc(table, id) or {}

    def _update_doc(
        self, table: sa.Table, id: str, doc: dict[str, Any], name: str | None = None
    ) -> dict[str, Any] | None:
        clean = {k: v for k, v in doc.items() if k not in ("id", "name", "created_at", "updated_at")}
        values: dict[str, Any] = {"doc": _dumps(clean), "updated_at": now_str()}
        if name is not None:
            values["name"] = name
        with self._write() as c:
            c.execute(sa.update(table).where(table.c.id == id).values(**values))
        return self._get_doc(table, id)

    def _delete_doc(self, table: sa.Table, id: str) -> bool:
        with self._write() as c:
            return c.execute(sa.delete(table).where(table.c.id == id)).rowcount > 0

    def list_datasources(self) -> list[dict[str, Any]]:
        return self._list_docs(s.datasources)

    def get_datasource(self, name_or_id: str) -> dict[str, Any] | None:
        return self._get_doc(s.datasources, name_or_id)

    def create_datasource(self, id: str, name: str, doc: dict[str, Any]) -> dict[str, Any]:
        return self._create_doc(s.datasources, id, name, doc)

    def update_datasource(self, id: str, doc: dict[str, Any], name: str | None = None) -> dict[str, Any] | None:
        return self._update_doc(s.datasources, id, doc, name)

    def delete_datasource(self, id: str) -> bool:
        return self._delete_doc(s.datasources, id)

    def list_pipes(self) -> list[dict[str, Any]]:
        return self._list_docs(s.pipes)

    def get_pipe(self, name_or_id: str) -> dict[str, Any] | None:
        return self._get_doc(s.pipes, name_or_id)

    def create_pipe(self, id: str, name: str, doc: dict[str, Any]) -> dict[str, Any]:
        return self._create_doc(s.pipes, id, name, doc)

    def update_pipe(self, id: str, doc: dict[str, Any], name: str | None = None) -> dict[str, Any] | None:
        return self._update_doc(s.pipes, id, doc, name)

    def delete_pipe(self, id: str) -> bool:
        return self._delete_doc(s.pipes, id)

    # --- jobs (not catalog changes: no version bump) -----------------------------------------
    @staticmethod
    def _job(row: Any) -> dict[str, Any]:
        d = dict(orjson.loads(row.doc))
        d.update(
            id=row.id,
            job_id=row.id,
            kind=row.kind,
            status=row.status,
            created_at=row.created_at,
            updated_at=row.updated_at,
            started_at=row.started_at,
        )
        return d

    def create_job(self, id: str, kind: str, doc: dict[str, Any]) -> dict[str, Any]:
        now = now_str()
        with self.engine.begin() as c:
            c.execute(
                sa.insert(s.jobs).values(
                    id=id, kind=kind, status="waiting", doc=_dumps(doc), created_at=now, updated_at=now
                )
            )
        return self.get_job(id) or {}

    def update_job(self, id: str, status: str | None = None, started: bool = False, **doc: Any) -> None:
        with self.engine.begin() as c:
            row = c.execute(sa.select(s.jobs).where(s.jobs.c.id == id)).first()
            if row is None:
                return
            merged = dict(orjson.loads(row.doc))
            merged.update(doc)
            values: dict[str, Any] = {"doc": _dumps(merged), "updated_at": now_str()}
            if status is not None:
                values["status"] = status
            if started:
                values["started_at"] = now_str()
            c.execute(sa.update(s.jobs).where(s.jobs.c.id == id).values(**values))

    def get_job(self, id: str) -> dict[str, Any] | None:
        with self.engine.connect() as c:
            row = c.execute(sa.select(s.jobs).where(s.jobs.c.id == id)).first()
            return self._job(row) if row else None

    def list_jobs(self, limit: int = 100) -> list[dict[str, Any]]:
        with self.engine.connect() as c:
            rows = c.execute(sa.select(s.jobs).order_by(s.jobs.c.created_at.desc()).limit(limit)).all()
            return [self._job(r) for r in rows]


def open_catalog(url: str) -> Catalog:
    """Open (and create) a catalog. ``url`` is ``sqlite:///path`` or ``postgresql://...``."""
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
        engine = sa.create_engine(url, pool_size=8, max_overflow=8, pool_pre_ping=True)
    else:
        engine = sa.create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @sa.event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _rec: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=FULL")
            cur.close()

    return Catalog(engine)
