"""Token value -> Principal, with caches that never touch the catalog on a hit.

Static tokens: the cache is looked up by ``value_hash``; on a miss the HMAC is checked (garbage is
refused without a catalog read and never cached), then the catalog is read and the result,
positive or negative, is cached. Since only HMAC-valid values enter the cache, a hit needs no HMAC.
JWTs (anything not starting ``p.``) are verified with the value of the workspace's ADMIN token,
which is cached the same way.

Invalidation:
- ``invalidate()`` drops everything at once; the API layer calls it after any token create,
  update, delete or refresh made in this process, so the change applies to the very next request.
- For other processes sharing a PostgreSQL catalog, a daemon thread (``start()``) polls
  ``catalog.version()`` every ``poll_interval`` seconds and drops everything when it changed (or
  when the poll fails: without a version we cannot know about revocations, so fail closed).
- A generation counter makes a catalog read that raced with an invalidation not cache its
  (possibly stale) result.

``last_used_at`` is written at most once per ``touch_interval`` seconds (None: never) per token, by
a background thread fed through a bounded queue; the request path never waits for it. Token values
are never logged.
"""

from __future__ import annotations

import hmac
import logging
import queue
import threading
import time
from typing import Any, Protocol

from roost.auth.jwt import JWTCache
from roost.auth.principal import ADMIN, Principal, Scope
from roost.auth.scopes import scope_from_record
from roost.auth.values import MAX_VALUE_LENGTH, check_value, is_jwt, value_hash
from roost.catalog.store import now_str
from roost.errors import DOC_AUTH, Forbidden

log = logging.getLogger("roost.auth")

INVALID = "invalid authentication token"

_MISS: Any = object()
_STOP: Any = object()


class TokenCatalog(Protocol):
    """The part of ``roost.catalog.Catalog`` the verifier uses."""

    def get_token_by_hash(self, value_hash: str) -> dict[str, Any] | None: ...

    def list_tokens(self) -> list[dict[str, Any]]: ...

    def get_workspace(self) -> dict[str, Any] | None: ...

    def touch_token(self, id: str, at: str) -> None: ...

    def touch_tokens(self, items: list[tuple[str, str]]) -> None: ...

    def version(self) -> int: ...


def _forbidden(reason: str | None = None) -> Forbidden:
    return Forbidden(f"{INVALID}. {reason}" if reason else INVALID, documentation=DOC_AUTH)


def principal_from_record(rec: dict[str, Any]) -> Principal:
    """A catalog token record -> static Principal. Invalid stored scopes are dropped (logged)."""
    scopes: list[Scope] = []
    for item in rec.get("scopes") or []:
        try:
            scopes.append(scope_from_record(item))
        except (ValueError, AttributeError) as e:
            log.warning("token %r: ignoring invalid stored scope: %s", rec.get("name"), e)
    rps = rec.get("rps_limit")
    exp = rec.get("expires_at")
    return Principal(
        token_id=str(rec["id"]),
        name=str(rec["name"]),
        kind="static",
        scopes=tuple(scopes),
        rps_limit=int(rps) if rps and rps > 0 else None,
        expires_at=float(exp) if exp is not None else None,
    )


def _admin_record(tokens: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The token whose value signs JWTs: the first (oldest) token holding the ADMIN scope."""
    for t in tokens:
        if any(isinstance(s, dict) and s.get("type") == ADMIN for s in t.get("scopes") or []):
            return t
    return None


class TokenVerifier:
    def __init__(
        self,
        catalog: TokenCatalog,
        secret: bytes,
        *,
        poll_interval: float = 0.5,
        cache_size: int = 10_000,
        touch_interval: float | None = 60.0,
    ) -> None:
        self.catalog = catalog
        self._secret = secret
        self.poll_interval = poll_interval
        self.cache_size = cache_size
        self.touch_interval = touch_interval
        self._lock = threading.Lock()
        self._gen = 0
        # value_hash -> Principal, or None for a value that passed the HMAC but is not in the catalog.
        self._static: dict[str, Principal | None] = {}
        self._jwt = JWTCache(cache_size)
        # (workspace_id, admin token value); None inside = no workspace or no admin token.
        self._signing: tuple[str | None, str | None] | None = None
        # token id -> monotonic time of the last queued touch.
        self._touched: dict[str, float] = {}
        self._touch_q: queue.Queue[Any] = queue.Queue(maxsize=10_000)
        self._touch_thread: threading.Thread | None = None
        self._poll_thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._version: int | None = None

    # --- the request path ----------------------------------------------------------------------
    def authenticate(self, value: str | None) -> Principal:
        """The Principal of a token value, or Forbidden ``invalid authentication token[. why]``."""
        if not value or not isinstance(value, str):
            raise _forbidden()
        if is_jwt(value):
            return self._authenticate_jwt(value)
        if len(value) > MAX_VALUE_LENGTH:
            raise _forbidden()
        h = value_hash(value)
        p = self._static.get(h, _MISS)
        if p is _MISS:
            # Only values that pass the HMAC reach the catalog (and the cache), so a hit above
            # implies the HMAC already passed for this exact value.
            if not check_value(value, self._secret):
                raise _forbidden()
            p = self._load_static(h, value)
        if p is None:
            raise _forbidden()
        if p.expires_at is not None and p.expires_at <= time.time():
            raise _forbidden("token expired")
        if self.touch_interval is not None:
            self._maybe_touch(p.token_id, self.touch_interval)
        return p

    def _authenticate_jwt(self, value: str) -> Principal:
        signing = self._signing
        if signing is None:
            signing = self._load_signing()
        workspace_id, key = signing
        if workspace_id is None:
            raise _forbidden("Workspace not found")
        if key is None:
            raise _forbidden("Workspace token for admin scope not found")
        return self._jwt.verify(value, workspace_id=workspace_id, signing_key=key)

    # --- cache fills -----------------------------------------------------------------------------
    def _load_static(self, h: str, value: str) -> Principal | None:
        gen = self._gen
        rec = self.catalog.get_token_by_hash(h)
        p: Principal | None = None
        if rec is not None and hmac.compare_digest(
            str(rec.get("value", "")).encode("utf-8", "surrogatepass"), value.encode("utf-8", "surrogatepass")
        ):
            p = principal_from_record(rec)
        with self._lock:
            if self._gen == gen:
                if len(self._static) >= self.cache_size:
                    self._static.clear()
                self._static[h] = p
        return p

    def preload(self) -> int:
        """Fill the static-token cache from one catalog read (at start), so that the first request of
        each token does not read the catalog on the event loop. Returns the number of tokens cached."""
        gen = self._gen
        loaded: dict[str, Principal | None] = {}
        for rec in self.catalog.list_tokens()[: self.cache_size]:
            value = rec.get("value")
            if isinstance(value, str) and value:
                loaded[value_hash(value)] = principal_from_record(rec)
        with self._lock:
            if self._gen != gen:  # something changed meanwhile: keep the cache empty, load on demand
                return 0
            for h, p in loaded.items():
                self._static.setdefault(h, p)
        return len(loaded)

    def _load_signing(self) -> tuple[str | None, str | None]:
        gen = self._gen
        ws = self.catalog.get_workspace()
        workspace_id = str(ws["id"]) if ws else None
        admin = _admin_record(self.catalog.list_tokens()) if ws else None
        signing = (workspace_id, str(admin["value"]) if admin else None)
        with self._lock:
            if self._gen == gen:
                self._signing = signing
        return signing

    # --- invalidation ----------------------------------------------------------------------------
    def invalidate(self) -> None:
        """Drop every cached result (positive and negative, static and JWT, the signing key)."""
        with self._lock:
            self._gen += 1
            self._static.clear()
            self._jwt.clear()
            self._signing = None

    def start(self) -> None:
        """Start the catalog-version poller (for catalogs shared between processes)."""
        if self._poll_thread is not None:
            return
        self._stop.clear()
        try:
            self._version = self.catalog.version()
        except Exception:
            log.exception("auth: reading the catalog version failed")
            self._version = None
        self.invalidate()
        self._poll_thread = threading.Thread(target=self._poll_loop, name="roost-auth-poll", daemon=True)
        self._poll_thread.start()

    def _poll_loop(self) -> None:
        while not self._stop.wait(self.poll_interval):
            self.poll_once()

    def poll_once(self) -> bool:
        """Check the catalog version once; True when caches were dropped."""
        try:
            v = self.catalog.version()
        except Exception as e:
            log.warning("auth: polling the catalog version failed (%s); dropping token caches", e)
            self._version = None
            self.invalidate()
            return True
        if v != self._version:
            self._version = v
            self.invalidate()
            return True
        return False

    def close(self, timeout: float = 5.0) -> None:
        """Stop the poller and the touch writer (pending touches are written first)."""
        self._stop.set()
        t = self._poll_thread
        if t is not None:
            t.join(timeout)
            self._poll_thread = None
        w = self._touch_thread
        if w is not None:
            try:
                self._touch_q.put(_STOP, timeout=timeout)
            except queue.Full:
                pass
            w.join(timeout)
            self._touch_thread = None

    def __enter__(self) -> TokenVerifier:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- last_used_at ----------------------------------------------------------------------------
    def _maybe_touch(self, token_id: str, interval: float) -> None:
        now = time.monotonic()
        last = self._touched.get(token_id)
        if last is not None and now - last < interval:
            return
        if len(self._touched) >= 100_000:
            self._touched.clear()
        self._touched[token_id] = now
        if self._touch_thread is None:
            self._start_touch_writer()
        try:
            self._touch_q.put_nowait((token_id, now_str()))
        except queue.Full:
            pass  # the writer is behind; last_used_at is best effort

    def _start_touch_writer(self) -> None:
        with self._lock:
            if self._touch_thread is None:
                t = threading.Thread(target=self._touch_loop, name="roost-auth-touch", daemon=True)
                t.start()
                self._touch_thread = t

    def _touch_loop(self) -> None:
        """Write last uses in batches: one catalog transaction per second at most, however many tokens
        were used (a write per token competed with requests for the GIL and the disk)."""
        while True:
            items = [self._touch_q.get()]
            if items[0] is not _STOP and not isinstance(items[0], threading.Event):
                time.sleep(self.TOUCH_BATCH_SECONDS)
            while True:
                try:
                    items.append(self._touch_q.get_nowait())
                except queue.Empty:
                    break
            pending: dict[str, str] = {}
            stop = False
            for item in items:
                if item is _STOP:
                    stop = True
                elif isinstance(item, threading.Event):
                    self._write_touches(pending)
                    pending = {}
                    item.set()
                else:
                    token_id, at = item
                    pending[token_id] = at
            self._write_touches(pending)
            for _ in items:
                self._touch_q.task_done()
            if stop:
                return

    TOUCH_BATCH_SECONDS = 1.0

    def _write_touches(self, pending: dict[str, str]) -> None:
        if not pending:
            return
        try:
            self.catalog.touch_tokens(list(pending.items()))
        except Exception as e:
            log.warning("auth: recording last use of %d tokens failed: %s", len(pending), e)

    def flush_touches(self, timeout: float = 5.0) -> bool:
        """Wait until every touch queued so far is written (for tests and shutdown)."""
        if self._touch_thread is None:
            return True
        done = threading.Event()
        try:
            self._touch_q.put(done, timeout=timeout)
        except queue.Full:
            return False
        return done.wait(timeout)
