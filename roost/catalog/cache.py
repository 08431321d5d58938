"""A read-through cache in front of the catalog for the request path.

Endpoint calls and queries look up pipes and data sources on every request; those reads come from
memory. Every write made through this object clears the cache at once; writes made by other
processes (a shared PostgreSQL catalog) are noticed by ``poll()``, which compares the catalog's
version number and clears the cache when it moved.
"""

from __future__ import annotations

import threading
from typing import Any

from roost.catalog.store import Catalog

_CACHED = ("get_datasource", "get_pipe", "list_datasources", "list_pipes", "get_workspace")
_WRITES = ("create_datasource", "update_datasource", "delete_datasource", "create_pipe", "update_pipe",
           "delete_pipe", "create_workspace", "set_meta")


class CachingCatalog:
    def __init__(self, catalog: Catalog) -> None:
        self._catalog = catalog
        self._cache: dict[tuple[str, tuple[Any, ...]], Any] = {}
        self._lock = threading.Lock()
        self._version = catalog.version()

    def clear(self) -> None:
        with self._lock:
            self._cache.clear()

    def poll(self) -> bool:
        """True (and the cache cleared) when another process changed the catalog."""
        v = self._catalog.version()
        if v != self._version:
            self._version = v
            self.clear()
            return True
        return False

    def __getattr__(self, name: str) -> Any:
        target = getattr(self._catalog, name)
        if name in _CACHED:

            def cached(*args: Any) -> Any:
                key = (name, args)
                with self._lock:
                    if key in self._cache:
                        return _copy(self._cache[key])
                value = target(*args)
                with self._lock:
                    self._cache[key] = value
                return _copy(value)

            return cached
        if name in _WRITES:

            def write(*args: Any, **kwargs: Any) -> Any:
                try:
                    return target(*args, **kwargs)
                finally:
                    self.clear()
                    self._version = self._catalog.version()

            return write
        return target


def _copy(value: Any) -> Any:
    """Callers may mutate what they get (dict(pipe) ...): hand out shallow copies."""
    if isinstance(value, dict):
        return dict(value)
    if isinstance(value, list):
        return [dict(v) if isinstance(v, dict) else v for v in value]
    return value
