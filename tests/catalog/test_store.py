"""The catalog store on SQLite and on PostgreSQL (fixture ``catalog_url`` runs every test on both)."""

from __future__ import annotations

import re
import threading
import uuid

import pytest
import sqlalchemy as sa

from roost.catalog import Catalog, open_catalog

TS_RE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}$")


@pytest.fixture()
def cat(catalog_url: str):  # type: ignore[no-untyped-def]
    c = open_catalog(catalog_url)
    yield c
    c.close()


def _token(name: str, scopes: list[dict[str, str]] | None = None) -> dict[str, object]:
    return {
        "id": str(uuid.uuid4()),
        "name": name,
        "value": "p.value-" + uuid.uuid4().hex,
        "value_hash": uuid.uuid4().hex,
        "scopes": scopes or [{"type": "ADMIN"}],
    }


def test_workspace_create_and_get(cat: Catalog) -> None:
    assert cat.get_workspace() is None
    ws = cat.create_workspace("w1", "my workspace", "w_db1")
    assert ws["id"] == "w1"
    got = cat.get_workspace()
    assert got is not None
    assert (got["id"], got["name"], got["database"]) == ("w1", "my workspace", "w_db1")
    assert TS_RE.match(got["created_at"])


def test_meta_set_and_overwrite(cat: Catalog) -> None:
    assert cat.get_meta("k") is None
    cat.set_meta("k", "v1")
    cat.set_meta("k", "v2")
    assert cat.get_meta("k") == "v2"


def test_tokens_crud(cat: Catalog) -> None:
    t = _token("reader", [{"type": "DATASOURCES:READ", "resource": "events", "filter": "org = 'a:b'"}])
    created = cat.create_token(t)
    assert created["name"] == "reader"
    assert created["scopes"] == [{"type": "DATASOURCES:READ", "resource": "events", "filter": "org = 'a:b'"}]
    assert created["origin"] == "C"
    assert TS_RE.match(created["created_at"]) and TS_RE.match(created["updated_at"])
    # by id, by name, by hash
    assert cat.get_token(str(t["id"]))["name"] == "reader"  # type: ignore[index]
    assert cat.get_token("reader")["id"] == t["id"]  # type: ignore[index]
    assert cat.get_token_by_hash(str(t["value_hash"]))["id"] == t["id"]  # type: ignore[index]
    assert cat.get_token("nope") is None
    assert cat.get_token_by_hash("nope") is None
    # update
    updated = cat.update_token(str(t["id"]), scopes=[{"type": "PIPES:READ", "resource": "p"}], description="d")
    assert updated is not None
    assert updated["scopes"] == [{"type": "PIPES:READ", "resource": "p"}]
    assert updated["description"] == "d"
    assert updated["value"] == t["value"]
    # touch does not change the version
    v = cat.version()
    cat.touch_token(str(t["id"]), "2026-01-01 00:00:00.000000")
    assert cat.version() == v
    assert cat.get_token(str(t["id"]))["last_used_at"] == "2026-01-01 00:00:00.000000"  # type: ignore[index]
    # list and delete
    cat.create_token(_token("another"))
    assert sorted(x["name"] for x in cat.list_tokens()) == ["another", "reader"]
    assert cat.delete_token(str(t["id"])) is True
    assert cat.delete_token(str(t["id"])) is False
    assert [x["name"] for x in cat.list_tokens()] == ["another"]


def test_token_names_are_unique(cat: Catalog) -> None:
    cat.create_token(_token("dup"))
    with pytest.raises(sa.exc.IntegrityError):
        cat.create_token(_token("dup"))
    assert len(cat.list_tokens()) == 1


def test_datasource_documents(cat: Catalog) -> None:
    doc = {"description": "d", "columns": [{"name": "a", "type": "UInt8"}], "engine": {"engine": "MergeTree"}}
    ds = cat.create_datasource("t_1", "events", doc)
    assert ds["id"] == "t_1" and ds["name"] == "events" and ds["columns"] == doc["columns"]
    assert TS_RE.match(ds["created_at"]) and ds["created_at"] == ds["updated_at"]
    assert cat.get_datasource("events")["id"] == "t_1"  # type: ignore[index]
    assert cat.get_datasource("t_1")["name"] == "events"  # type: ignore[index]
    assert cat.get_datasource("missing") is None
    cat.create_datasource("t_2", "another", {"columns": []})
    assert [d["name"] for d in cat.list_datasources()] == ["another", "events"]
    # the stored document never carries id/name/timestamps twice
    up = cat.update_datasource("t_1", {**ds, "description": "new"})
    assert up is not None and up["description"] == "new" and up["name"] == "events"
    assert up["created_at"] == ds["created_at"]
    assert up["updated_at"] >= ds["updated_at"]
    renamed = cat.update_datasource("t_1", up, name="events2")
    assert renamed is not None and renamed["name"] == "events2"
    assert cat.delete_datasource("t_1") is True
    assert cat.get_datasource("t_1") is None
    assert cat.delete_datasource("t_1") is False


def test_datasource_names_are_unique(cat: Catalog) -> None:
    cat.create_datasource("t_1", "same", {})
    with pytest.raises(sa.exc.IntegrityError):
        cat.create_datasource("t_2", "same", {})


def test_pipe_documents(cat: Catalog) -> None:
    p = cat.create_pipe("p_1", "top", {"nodes": [{"name": "n", "sql": "select 1"}], "dependencies": ["events"]})
    assert p["nodes"][0]["sql"] == "select 1"
    assert cat.get_pipe("top")["id"] == "p_1"  # type: ignore[index]
    assert [x["name"] for x in cat.list_pipes()] == ["top"]
    assert cat.update_pipe("p_1", {"nodes": []})["nodes"] == []  # type: ignore[index]
    assert cat.delete_pipe("p_1") is True
    assert cat.list_pipes() == []


def test_jobs_lifecycle(cat: Catalog) -> None:
    job = cat.create_job("j1", "delete_data", {"delete_condition": "a = 1", "datasource": {"id": "t", "name": "n"}})
    assert job["status"] == "waiting" and job["kind"] == "delete_data"
    assert job["id"] == job["job_id"] == "j1"
    assert job["started_at"] is None
    assert job["delete_condition"] == "a = 1"
    v = cat.version()
    cat.update_job("j1", status="working", started=True)
    working = cat.get_job("j1")
    assert working is not None and working["status"] == "working" and TS_RE.match(working["started_at"])
    cat.update_job("j1", status="done", rows_affected=7)
    done = cat.get_job("j1")
    assert done is not None
    assert done["status"] == "done" and done["rows_affected"] == 7 and done["delete_condition"] == "a = 1"
    assert cat.version() == v  # jobs are not catalog changes
    cat.update_job("missing", status="done")  # no error
    assert cat.get_job("missing") is None
    cat.create_job("j2", "populate", {})
    assert {j["id"] for j in cat.list_jobs()} == {"j1", "j2"}
    assert len(cat.list_jobs(limit=1)) == 1


def test_audit(cat: Catalog) -> None:
    cat.add_audit("admin token", "create", "id1", "reader", None, [{"type": "PIPES:READ", "resource": "p"}])
    cat.add_audit("admin token", "update", "id1", "reader", [{"type": "PIPES:READ", "resource": "p"}], [])
    cat.add_audit("admin token", "delete", "id2", "other", [], None)
    all_ = cat.list_audit()
    assert [a["action"] for a in all_] == ["delete", "update", "create"]  # newest first
    mine = cat.list_audit(token="reader")
    assert [a["action"] for a in mine] == ["update", "create"]
    assert mine[1]["old_scopes"] is None and mine[1]["new_scopes"] == [{"type": "PIPES:READ", "resource": "p"}]
    assert cat.list_audit(token="id2")[0]["new_scopes"] is None
    assert len(cat.list_audit(limit=1)) == 1


def test_every_mutation_bumps_the_version(cat: Catalog) -> None:
    seen = [cat.version()]

    def bumped() -> None:
        v = cat.version()
        assert v > seen[-1]
        seen.append(v)

    cat.create_workspace("w", "w", "db")
    bumped()
    t = _token("a")
    cat.create_token(t)
    bumped()
    cat.update_token(str(t["id"]), description="x")
    bumped()
    cat.delete_token(str(t["id"]))
    bumped()
    cat.create_datasource("t_1", "ds", {})
    bumped()
    cat.update_datasource("t_1", {"description": "x"})
    bumped()
    cat.delete_datasource("t_1")
    bumped()
    cat.create_pipe("p_1", "p", {})
    bumped()
    cat.update_pipe("p_1", {"x": 1})
    bumped()
    cat.delete_pipe("p_1")
    bumped()
    cat.set_meta("k", "v")
    bumped()


def test_survives_reopening(catalog_url: str) -> None:
    first = open_catalog(catalog_url)
    first.create_workspace("w", "persist", "db")
    t = _token("kept")
    first.create_token(t)
    first.create_datasource("t_1", "events", {"columns": [{"name": "a"}]})
    first.create_pipe("p_1", "pipe", {"nodes": []})
    first.create_job("j", "delete_data", {})
    first.add_audit("x", "create", str(t["id"]), "kept", None, [])
    v = first.version()
    first.close()

    second = open_catalog(catalog_url)
    try:
        assert second.get_workspace()["name"] == "persist"  # type: ignore[index]
        assert second.get_token("kept")["value"] == t["value"]  # type: ignore[index]
        assert second.get_datasource("events")["columns"] == [{"name": "a"}]  # type: ignore[index]
        assert second.get_pipe("pipe") is not None
        assert second.get_job("j") is not None
        assert len(second.list_audit()) == 1
        assert second.version() == v
    finally:
        second.close()


def test_two_catalogs_on_one_url_see_each_others_writes(catalog_url: str) -> None:
    """Many API processes share one catalog: a write in one is visible (and versioned) in the other."""
    a, b = open_catalog(catalog_url), open_catalog(catalog_url)
    try:
        v = b.version()
        a.create_token(_token("shared"))
        assert b.get_token("shared") is not None
        assert b.version() > v
    finally:
        a.close()
        b.close()


def test_concurrent_writers(cat: Catalog) -> None:
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            for j in range(10):
                cat.create_datasource(f"t_{i}_{j}", f"ds_{i}_{j}", {"i": i})
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    v = cat.version()
    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert errors == []
    assert len(cat.list_datasources()) == 40
    assert cat.version() == v + 40
