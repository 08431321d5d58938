"""TokenVerifier against real catalogs (SQLite file and PostgreSQL schema)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from roost.auth.jwt import mint_jwt
from roost.auth.principal import Scope
from roost.auth.values import mint_value
from roost.auth.verifier import TokenVerifier
from roost.catalog import Catalog, open_catalog
from roost.errors import DOC_AUTH, Forbidden

from .conftest import WORKSPACE_ID
from .util import SECRET, CountingCatalog, add_token, refresh_token

ADMIN = [{"type": "ADMIN"}]
READER = [
    {"type": "DATASOURCES:READ", "resource": "events", "filter": "org_id = 'acme'"},
    {"type": "PIPES:READ", "resource": "top", "filter": ""},
    {"type": "DATASOURCES:APPEND", "resource": "events"},
]


@pytest.fixture
def counting(catalog: Catalog) -> CountingCatalog:
    return CountingCatalog(catalog)


@pytest.fixture
def verifier(counting: CountingCatalog) -> Iterator[TokenVerifier]:
    v = TokenVerifier(counting, SECRET, poll_interval=0.05)
    try:
        yield v
    finally:
        v.close()


def refused(v: TokenVerifier, value: str | None, reason: str | None = None) -> Forbidden:
    with pytest.raises(Forbidden) as ei:
        v.authenticate(value)
    e = ei.value
    assert e.status == 403
    assert e.documentation == DOC_AUTH
    assert e.message.startswith("invalid authentication token")
    if reason:
        assert reason in e.message
    if value:
        assert value not in e.message
    return e


def test_static_token_principal(catalog: Catalog, verifier: TokenVerifier) -> None:
    rec = add_token(catalog, "reader", READER, workspace_id=WORKSPACE_ID, rps_limit=7)
    p = verifier.authenticate(rec["value"])
    assert p.kind == "static"
    assert p.token_id == rec["id"] and p.name == "reader"
    assert p.rps_limit == 7 and p.expires_at is None
    assert not p.is_admin
    assert p.datasource_read("events") == Scope("DATASOURCES:READ", "events", "org_id = 'acme'")
    assert p.pipe_read("top") == Scope("PIPES:READ", "top")
    assert p.may_append("events") and not p.may_append("other")

    admin = add_token(catalog, "Workspace admin token", ADMIN, workspace_id=WORKSPACE_ID)
    assert verifier.authenticate(admin["value"]).is_admin


def test_refusals_without_catalog(verifier: TokenVerifier, counting: CountingCatalog) -> None:
    other_secret = mint_value(WORKSPACE_ID, b"another-secret-another-secret-xx")
    garbage = ["p.", "p.x.y", "p.a.b.c", "p.eyJ1IjogIjEifQ.AAAA", other_secret, "p." + "x" * 9000]
    refused(verifier, None)
    refused(verifier, "")
    for g in garbage:
        refused(verifier, g)
    assert counting.reads() == 0  # the HMAC check rejected them all
    assert verifier._static == {}  # and garbage is never cached


def test_cache_hit_does_not_touch_catalog(catalog: Catalog, verifier: TokenVerifier, counting: CountingCatalog) -> None:
    rec = add_token(catalog, "reader", READER, workspace_id=WORKSPACE_ID)
    p1 = verifier.authenticate(rec["value"])
    reads = counting.reads()
    for _ in range(50):
        assert verifier.authenticate(rec["value"]) is p1
    assert counting.reads() == reads


def test_unknown_token_negative_cache_cleared_on_invalidate(
    catalog: Catalog, verifier: TokenVerifier, counting: CountingCatalog
) -> None:
    # A validly signed value that is not (yet) in the catalog.
    value = mint_value(WORKSPACE_ID, SECRET)
    refused(verifier, value)
    reads = counting.reads()
    refused(verifier, value)
    assert counting.reads() == reads  # negative result cached
    from roost.auth.values import value_hash

    catalog.create_token(
        {"id": "tok-1", "name": "late", "value": value, "value_hash": value_hash(value), "scopes": READER}
    )
    verifier.invalidate()
    assert verifier.authenticate(value).name == "late"


def test_delete_takes_effect_after_invalidate(catalog: Catalog, verifier: TokenVerifier) -> None:
    rec = add_token(catalog, "reader", READER, workspace_id=WORKSPACE_ID)
    verifier.authenticate(rec["value"])
    assert catalog.delete_token(rec["id"])
    verifier.invalidate()
    refused(verifier, rec["value"])


def test_refresh_takes_effect_after_invalidate(catalog: Catalog, verifier: TokenVerifier) -> None:
    rec = add_token(catalog, "reader", READER, workspace_id=WORKSPACE_ID)
    verifier.authenticate(rec["value"])
    new_value = refresh_token(catalog, rec, workspace_id=WORKSPACE_ID)
    verifier.invalidate()
    refused(verifier, rec["value"])
    assert verifier.authenticate(new_value).name == "reader"


def test_scope_update_takes_effect_after_invalidate(catalog: Catalog, verifier: TokenVerifier) -> None:
    rec = add_token(catalog, "reader", READER, workspace_id=WORKSPACE_ID)
    assert verifier.authenticate(rec["value"]).datasource_read("events") is not None
    catalog.update_token(rec["id"], scopes=[{"type": "PIPES:READ", "resource": "top", "filter": ""}])
    verifier.invalidate()
    p = verifier.authenticate(rec["value"])
    assert p.datasource_read("events") is None and p.pipe_read("top") is not None


def test_expired_static_token(catalog: Catalog, verifier: TokenVerifier) -> None:
    rec = add_token(catalog, "old", READER, workspace_id=WORKSPACE_ID, expires_at=time.time() - 1)
    refused(verifier, rec["value"], "token expired")
    refused(verifier, rec["value"], "token expired")  # cached, still refused
    soon = add_token(catalog, "soon", READER, workspace_id=WORKSPACE_ID, expires_at=time.time() + 0.5)
    assert verifier.authenticate(soon["value"]).name == "soon"
    while time.time() <= soon["expires_at"]:
        time.sleep(0.05)
    refused(verifier, soon["value"], "token expired")


def test_invalid_stored_scopes_are_dropped(catalog: Catalog, verifier: TokenVerifier) -> None:
    rec = add_token(
        catalog,
        "odd",
        [{"type": "ADMIN_USER", "resource": "u1"}, {"type": "NOPE"}, {"type": "PIPES:READ", "resource": "p"}],
        workspace_id=WORKSPACE_ID,
    )
    p = verifier.authenticate(rec["value"])
    assert not p.is_admin
    assert p.scopes == (Scope("PIPES:READ", "p"),)


def test_jwt_signed_with_admin_value(catalog: Catalog, verifier: TokenVerifier, counting: CountingCatalog) -> None:
    admin = add_token(catalog, "Workspace admin token", ADMIN, workspace_id=WORKSPACE_ID)
    add_token(catalog, "second admin", ADMIN, workspace_id=WORKSPACE_ID)
    t = mint_jwt(
        workspace_id=WORKSPACE_ID,
        signing_key=admin["value"],
        name="tenant",
        scopes=[{"type": "PIPES:READ", "resource": "top", "fixed_params": {"org": "acme"}}],
        expiration_time=int(time.time()) + 600,
        limits={"rps": 3},
    )
    p = verifier.authenticate(t)
    assert p.kind == "jwt" and p.name == "tenant" and p.rps_limit == 3
    reads = counting.reads()
    assert verifier.authenticate(t) is p
    assert counting.reads() == reads

    # A JWT signed with another token's value is refused.
    other = add_token(catalog, "reader", READER, workspace_id=WORKSPACE_ID)
    forged = mint_jwt(
        workspace_id=WORKSPACE_ID,
        signing_key=other["value"],
        name="tenant",
        scopes=[{"type": "PIPES:READ", "resource": "top"}],
        expiration_time=int(time.time()) + 600,
    )
    refused(verifier, forged, "Signature verification failed")

    # Refreshing the admin token invalidates every JWT signed with it.
    new_admin = refresh_token(catalog, admin, workspace_id=WORKSPACE_ID)
    verifier.invalidate()
    refused(verifier, t, "Signature verification failed")
    t2 = mint_jwt(
        workspace_id=WORKSPACE_ID,
        signing_key=new_admin,
        name="tenant",
        scopes=[{"type": "PIPES:READ", "resource": "top"}],
        expiration_time=int(time.time()) + 600,
    )
    assert verifier.authenticate(t2).name == "tenant"


def test_jwt_without_admin_token(catalog: Catalog, verifier: TokenVerifier) -> None:
    refused(verifier, "eyJhbGciOiJIUzI1NiJ9.e30.abc", "admin scope not found")
    admin = add_token(catalog, "Workspace admin token", ADMIN, workspace_id=WORKSPACE_ID)
    verifier.invalidate()
    t = mint_jwt(
        workspace_id=WORKSPACE_ID,
        signing_key=admin["value"],
        name="x",
        scopes=[{"type": "PIPES:READ", "resource": "p"}],
        expiration_time=int(time.time()) + 60,
    )
    assert verifier.authenticate(t).name == "x"
    catalog.delete_token(admin["id"])
    verifier.invalidate()
    refused(verifier, t, "admin scope not found")


def test_jwt_other_workspace_and_garbage(catalog: Catalog, verifier: TokenVerifier) -> None:
    admin = add_token(catalog, "Workspace admin token", ADMIN, workspace_id=WORKSPACE_ID)
    t = mint_jwt(
        workspace_id="another-workspace",
        signing_key=admin["value"],
        name="x",
        scopes=[{"type": "PIPES:READ", "resource": "p"}],
        expiration_time=int(time.time()) + 60,
    )
    refused(verifier, t, "Workspace with ID another-workspace not found")
    refused(verifier, "not-a-token", "Invalid token")
    refused(verifier, "Bearer x", "Invalid token")


def test_racing_read_is_not_cached(catalog: Catalog) -> None:
    """A catalog read that overlaps an invalidate() must not leave a stale entry behind."""
    rec = add_token(catalog, "reader", READER, workspace_id=WORKSPACE_ID)
    holder: dict[str, TokenVerifier] = {}

    class Racing(CountingCatalog):
        def get_token_by_hash(self, h: str) -> dict[str, Any] | None:
            out = self.inner.get_token_by_hash(h)
            # the token is deleted and the API layer invalidates while this read is in flight
            self.inner.delete_token(rec["id"])
            holder["v"].invalidate()
            return out

    v = TokenVerifier(Racing(catalog), SECRET)
    holder["v"] = v
    assert v.authenticate(rec["value"]).name == "reader"  # this request saw the old state
    refused(v, rec["value"])  # the next one does not reuse it


def test_touch_throttled_and_off_path(catalog: Catalog, counting: CountingCatalog) -> None:
    rec = add_token(catalog, "reader", READER, workspace_id=WORKSPACE_ID)
    other = add_token(catalog, "other", READER, workspace_id=WORKSPACE_ID)
    v = TokenVerifier(counting, SECRET, touch_interval=60.0)
    try:
        for _ in range(20):
            v.authenticate(rec["value"])
        v.authenticate(other["value"])
        assert v.flush_touches()
        assert counting.calls["touch_token"] == 2  # once per token per minute
        got = catalog.get_token(rec["id"])
        assert got is not None and got["last_used_at"] is not None
        assert len(got["last_used_at"]) == len("2024-01-01 00:00:00.000000")
    finally:
        v.close()

    v0 = TokenVerifier(counting, SECRET, touch_interval=0.0)
    try:
        for _ in range(3):
            v0.authenticate(rec["value"])
        assert v0.flush_touches()
        # three uses of one token queued together are written once (one batch per second)
        assert counting.calls["touch_token"] == 3
    finally:
        v0.close()

    v_off = TokenVerifier(counting, SECRET, touch_interval=None)
    v_off.authenticate(rec["value"])
    assert v_off.flush_touches()
    assert counting.calls["touch_token"] == 3
    v_off.close()


def test_touch_never_blocks_request(catalog: Catalog) -> None:
    import threading

    rec = add_token(catalog, "reader", READER, workspace_id=WORKSPACE_ID)
    gate = threading.Event()

    class SlowTouch(CountingCatalog):
        def touch_tokens(self, items: list[tuple[str, str]]) -> None:
            gate.wait()  # the catalog write hangs until the test releases it
            self.inner.touch_tokens(items)

    v = TokenVerifier(SlowTouch(catalog), SECRET, touch_interval=0.0)
    done = threading.Event()

    def requests() -> None:
        for _ in range(100):
            v.authenticate(rec["value"])
        done.set()

    worker = threading.Thread(target=requests, daemon=True)
    try:
        worker.start()
        # every request completes while the last-use write is still blocked: touches are off the path
        assert done.wait(60)
    finally:
        gate.set()
        v.close()


def test_poll_detects_version_change(catalog: Catalog, counting: CountingCatalog) -> None:
    rec = add_token(catalog, "reader", READER, workspace_id=WORKSPACE_ID)
    v = TokenVerifier(counting, SECRET, poll_interval=0.05)
    v.start()
    try:
        v.authenticate(rec["value"])
        catalog.delete_token(rec["id"])  # no invalidate(): the poller has to notice
        deadline = time.monotonic() + 5
        while True:
            try:
                v.authenticate(rec["value"])
            except Forbidden:
                break
            assert time.monotonic() < deadline, "poller did not notice the deletion"
            time.sleep(0.02)
    finally:
        v.close()


def test_poll_failure_drops_caches(catalog: Catalog) -> None:
    rec = add_token(catalog, "reader", READER, workspace_id=WORKSPACE_ID)

    class Flaky(CountingCatalog):
        fail = False

        def version(self) -> int:
            if self.fail:
                raise RuntimeError("db down")
            return int(self.inner.version())

    cat = Flaky(catalog)
    v = TokenVerifier(cat, SECRET)
    p = v.authenticate(rec["value"])
    assert v.poll_once()  # first poll: no version known yet
    assert not v.poll_once()
    assert v.authenticate(rec["value"]) is not p  # re-read after the first poll dropped caches
    cat.fail = True
    assert v.poll_once()
    assert v._static == {}


def test_second_process_sees_deletion(pg_url: str) -> None:
    """Two verifiers on two catalog connections (two processes) sharing one PostgreSQL catalog."""
    cat1 = open_catalog(pg_url)
    cat2 = open_catalog(pg_url)
    try:
        cat1.create_workspace(WORKSPACE_ID, "ws", "db")
        rec = add_token(cat1, "reader", READER, workspace_id=WORKSPACE_ID)
        admin = add_token(cat1, "Workspace admin token", ADMIN, workspace_id=WORKSPACE_ID)
        jwt_token = mint_jwt(
            workspace_id=WORKSPACE_ID,
            signing_key=admin["value"],
            name="t",
            scopes=[{"type": "PIPES:READ", "resource": "p"}],
            expiration_time=int(time.time()) + 600,
        )
        v1 = TokenVerifier(cat1, SECRET, poll_interval=0.1)
        v2 = TokenVerifier(cat2, SECRET, poll_interval=0.1)
        v1.start()
        v2.start()
        try:
            assert v2.authenticate(rec["value"]).name == "reader"
            assert v2.authenticate(jwt_token).name == "t"
            # process 1 deletes the token and refreshes the admin token
            cat1.delete_token(rec["id"])
            refresh_token(cat1, admin, workspace_id=WORKSPACE_ID)
            v1.invalidate()
            refused(v1, rec["value"])
            deadline = time.monotonic() + 5
            while True:
                try:
                    v2.authenticate(rec["value"])
                except Forbidden:
                    break
                assert time.monotonic() < deadline, "second process still accepts a deleted token"
                time.sleep(0.02)
            refused(v2, jwt_token, "Signature verification failed")
        finally:
            v1.close()
            v2.close()
    finally:
        cat1.close()
        cat2.close()


def test_preload_fills_the_cache_from_one_read(catalog: Catalog, counting: CountingCatalog) -> None:
    rec = add_token(catalog, "reader", READER, workspace_id=WORKSPACE_ID)
    v = TokenVerifier(counting, SECRET)
    try:
        assert v.preload() >= 1
        reads = counting.reads()
        assert v.authenticate(rec["value"]).name == "reader"
        assert counting.reads() == reads  # served from the preloaded cache
        catalog.delete_token(rec["id"])
        v.invalidate()
        with pytest.raises(Forbidden):
            v.authenticate(rec["value"])
    finally:
        v.close()
