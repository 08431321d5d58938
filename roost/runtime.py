"""The Runtime: one process's engine, catalog, verifier and background workers, and bootstrap."""

from __future__ import annotations

import logging
import os
import sys
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from roost.auth.principal import ADMIN
from roost.auth.secret import load_secret
from roost.auth.values import mint_value, value_hash
from roost.auth.verifier import TokenVerifier
from roost.catalog import Catalog, open_catalog
from roost.catalog.cache import CachingCatalog
from roost.config import Settings
from roost.datasources import DataSources
from roost.engine.base import Engine
from roost.engine.chdb_engine import ChdbEngine
from roost.ingest.events import EventsBatcher
from roost.ingest.importer import Importer
from roost.service_logs import ServiceLogs
from roost.tokens import Tokens

log = logging.getLogger("roost")

ADMIN_TOKEN_NAME = "admin token"
STAGING_DB = "roost_staging"


class Runtime:
    def __init__(self, settings: Settings, *, engine: Engine | None = None, quiet: bool = False) -> None:
        self.settings = settings
        self.quiet = quiet
        data_dir = Path(settings.data_dir)
        data_dir.mkdir(parents=True, exist_ok=True)
        self.data_dir = data_dir
        self.store: Catalog = open_catalog(settings.catalog)
        self.catalog: Any = CachingCatalog(self.store)
        self.engine: Engine = engine or ChdbEngine(settings.engine_path, threads=settings.engine_threads)
        self._listeners: list[Any] = []
        self.secret = load_secret(data_dir)
        self.workspace = self._bootstrap_workspace()
        self.database: str = self.workspace["database"]
        self.engine.command(f"CREATE DATABASE IF NOT EXISTS {self.database}")
        self.logs = ServiceLogs(self.engine)
        self.logs.setup()
        self.importer = Importer(self.engine, STAGING_DB, data_dir / "tmp")
        self.importer.setup()
        self.datasources = DataSources(self)
        self.tokens = Tokens(self)
        try:  # the SQL compiler is being written; the server runs without it meanwhile
            from roost.pipes import Pipes
            from roost.query import QueryService

            self.query = QueryService(self)
            self.pipes = Pipes(self)
        except ImportError as e:  # pragma: no cover - temporary
            log.warning("query and pipes disabled: %s", e)
        self.verifier = TokenVerifier(self.store, self.secret)
        self.jobs_pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="roost-jobs")
        self.events = EventsBatcher(self, data_dir / "events")

    # --- bootstrap ------------------------------------------------------------------------------
    def _bootstrap_workspace(self) -> dict[str, Any]:
        ws = self.catalog.get_workspace()
        if ws is None:
            ws_id = str(uuid.uuid4())
            ws = self.catalog.create_workspace(ws_id, self.settings.workspace_name, "w_" + ws_id.replace("-", "")[:12])
        if not any(any(s.get("type") == ADMIN for s in t["scopes"]) for t in self.catalog.list_tokens()):
            value = mint_value(ws["id"], self.secret)
            self.catalog.create_token(
                {
                    "id": str(uuid.uuid4()),
                    "name": ADMIN_TOKEN_NAME,
                    "description": "Workspace admin token: full access and the JWT signing key",
                    "value": value,
                    "value_hash": value_hash(value),
                    "scopes": [{"type": ADMIN}],
                }
            )
            self.write_admin_token(value)
            if not self.quiet:
                print(f"Created workspace {ws['name']} ({ws['id']}).", file=sys.stderr)
                print(f"Admin token (shown once; also in {self.data_dir / 'admin-token'}):\n{value}",
                      file=sys.stderr)
        return ws

    def write_admin_token(self, value: str) -> None:
        path = self.data_dir / "admin-token"
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(value + "\n")
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)

    def admin_token_value(self) -> str | None:
        for t in self.catalog.list_tokens():
            if any(s.get("type") == ADMIN for s in t["scopes"]):
                return str(t["value"])
        return None

    # --- lifecycle ------------------------------------------------------------------------------
    def start(self) -> None:
        self.logs.start()
        self.verifier.preload()
        self.verifier.start()
        self.events.start()
        self._stop_poll = threading.Event()
        self._poller = threading.Thread(target=self._poll, name="roost-catalog-poll", daemon=True)
        self._poller.start()

    def _poll(self) -> None:
        """Notice catalog changes made by other processes (shared PostgreSQL catalog)."""
        while not self._stop_poll.wait(0.5):
            try:
                if self.catalog.poll():
                    self.changed()
            except Exception as e:  # pragma: no cover - a flaky catalog connection; fail closed
                log.warning("catalog poll failed: %s", e)
                self.changed()

    def changed(self) -> None:
        """Something in the catalog changed: drop caches that depend on it."""
        self.catalog.clear()
        self.verifier.invalidate()
        for fn in self._listeners:
            fn()

    def on_change(self, fn: Any) -> None:
        self._listeners.append(fn)

    def close(self) -> None:
        if getattr(self, "_stop_poll", None) is not None:
            self._stop_poll.set()
        self.events.close()
        self.jobs_pool.shutdown(wait=True)
        self.logs.close()
        self.verifier.close()
        self.engine.close()
        self.store.close()
