"""Push and pull logic against an in-memory fake of the HTTP API (the real server is in tests/test_cli*.py).

The fake answers like Tinybird documents (reference §4, §6, §1.5) and records every mutating call,
so these tests pin what a push sends: order, idempotence, --force, endpoint publishing, token merges.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import httpx
import pytest

from roost.client import ClientError, RoostClient
from roost.datafiles import PipeFile, parse_text
from roost.datafiles.model import column_jsonpath, column_name
from roost.datafiles.parser import split_columns
from roost.datafiles.pull import fetch_project, write_project
from roost.datafiles.push import (
    Loaded,
    ProjectError,
    PushConflict,
    load_project,
    order_pipes,
    pipe_body,
    push,
)


class FakeServer:
    def __init__(self, *, pipe_force: bool = True) -> None:
        self.datasources: dict[str, dict[str, Any]] = {}
        self.pipes: dict[str, dict[str, Any]] = {}
        self.tokens: dict[str, dict[str, Any]] = {
            "admin token": {"id": "0", "name": "admin token", "token": "p.admin", "scopes": [{"type": "ADMIN"}]}}
        self.calls: list[tuple[str, str]] = []
        self.pipe_force = pipe_force

    def client(self) -> RoostClient:
        return RoostClient("http://fake", "p.admin", transport=httpx.MockTransport(self.handle))

    @staticmethod
    def _err(status: int, msg: str) -> httpx.Response:
        return httpx.Response(status, json={"error": msg})

    def _form(self, request: httpx.Request) -> list[tuple[str, str]]:
        items = list(request.url.params.multi_items())
        if request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
            items += parse_qsl(request.content.decode(), keep_blank_values=True)
        return items

    def _describe(self, name: str, params: dict[str, str]) -> dict[str, Any]:
        cols = []
        for text in split_columns(params["schema"], "schema", 1):
            path = column_jsonpath(text)
            rest = re.sub(r"`json:[^`]*`", "", text).strip()
            cols.append({"name": column_name(text), "type": rest.split(None, 1)[1], "jsonpath": path})
        engine = {"engine": params.get("engine", "MergeTree"), "sorting_key": params.get("engine_sorting_key")}
        return {"id": f"t_{name}", "name": name, "description": params.get("description", ""),
                "columns": cols, "engine": engine, "statistics": {"row_count": 0},
                "schema": {"columns": cols}, "_params": params}

    def handle(self, request: httpx.Request) -> httpx.Response:
        m, path = request.method, request.url.path
        if m != "GET":
            self.calls.append((m, path))
        parts = path.strip("/").split("/")
        if parts[:2] == ["v0", "datasources"]:
            if len(parts) == 2 and m == "GET":
                return httpx.Response(200, json={"datasources": list(self.datasources.values())})
            if len(parts) == 2 and m == "POST":
                params = dict(self._form(request))
                if params["name"] in self.datasources:
                    return self._err(409, "exists")
                self.datasources[params["name"]] = self._describe(params["name"], params)
                return httpx.Response(200, json={"datasource": self.datasources[params["name"]]})
            ds = self.datasources.get(parts[2])
            if ds is None:
                return self._err(404, f'Data Source "{parts[2]}" does not exist')
            if len(parts) == 4 and parts[3] == "alter":
                params = dict(self._form(request))
                new = self._describe(ds["name"], {**ds["_params"], **params})
                self.datasources[ds["name"]] = new
                return httpx.Response(200, json={"operations": ["ADD COLUMN"]})
            return httpx.Response(200, json=ds)
        if parts[:2] == ["v0", "pipes"]:
            if len(parts) == 2 and m == "GET":
                return httpx.Response(200, json={"pipes": list(self.pipes.values())})
            if len(parts) == 2 and m == "POST":
                body = json.loads(request.content)
                force = request.url.params.get("force") == "true"
                if body["name"] in self.pipes and not (force and self.pipe_force):
                    return self._err(409, f'Pipe "{body["name"]}" already exists')
                nodes = [{"id": f"n_{n['name']}", "name": n["name"], "sql": n["sql"],
                          "description": n.get("description"),
                          # like Tinybird: nodes come back "default"; the endpoint is published separately
                          "node_type": "materialized" if n["type"] == "materialized" else "default",
                          "materialized": n.get("datasource")} for n in body["nodes"]]
                self.pipes[body["name"]] = {"id": f"p_{body['name']}", "name": body["name"], "type": "default",
                                            "description": body.get("description"), "endpoint": None,
                                            "nodes": nodes}
                return httpx.Response(200, json=self.pipes[body["name"]])
            pipe = self.pipes.get(parts[2])
            if pipe is None:
                return self._err(404, f'Pipe "{parts[2]}" not found')
            if m == "DELETE":
                del self.pipes[parts[2]]
                return httpx.Response(204)
            if len(parts) == 6 and parts[5] == "endpoint":
                node = next(n for n in pipe["nodes"] if n["name"] == parts[4])
                node["node_type"] = "endpoint"
                pipe.update(type="endpoint", endpoint=node["id"])
                return httpx.Response(200, json=pipe)
            return httpx.Response(200, json=pipe)
        if parts[:2] == ["v0", "tokens"]:
            if len(parts) == 2 and m == "GET":
                return httpx.Response(200, json={"tokens": list(self.tokens.values())})
            form = self._form(request)
            scopes = []
            for _, s in (kv for kv in form if kv[0] == "scope"):
                bits = s.split(":")
                t = ":".join(bits[:2]) if bits[0] in ("DATASOURCES", "PIPES") else bits[0]
                rest = bits[2:] if bits[0] in ("DATASOURCES", "PIPES") else bits[1:]
                scope: dict[str, Any] = {"type": t}
                if rest:
                    scope["resource"] = rest[0]
                if t.endswith(":READ"):
                    scope["filter"] = ":".join(rest[1:])
                scopes.append(scope)
            values = dict(form)
            if len(parts) == 2 and m == "POST":
                created: dict[str, Any] = {"id": values["name"], "name": values["name"],
                                           "description": values.get("description", ""),
                                           "token": f"p.{values['name']}", "scopes": scopes}
                self.tokens[values["name"]] = created
                return httpx.Response(200, json=created)
            tok = self.tokens.get(parts[2])
            if tok is None:
                return self._err(404, "Token not found")
            if m == "PUT":
                tok["scopes"] = scopes
                if "description" in values:
                    tok["description"] = values["description"]
                return httpx.Response(200, json=tok)
            return httpx.Response(200, json=tok)
        return self._err(404, f"Not found: {path}")


def write(folder: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        p = folder / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    return folder


EVENTS = """\
TOKEN "reader" READ
TOKEN ingest APPEND

SCHEMA >
    `user_id` UInt32 `json:$.user_id`,
    `event` String `json:$.event`

ENGINE "MergeTree"
ENGINE_SORTING_KEY "user_id"
"""
BASE_PIPE = """\
NODE base
SQL >
    SELECT user_id, count() AS c FROM events GROUP BY user_id
"""
TOP_PIPE = """\
TOKEN "reader" READ

NODE only
SQL >
    %
    SELECT * FROM base_pipe WHERE c > {{ Int32(min_c, 1) }}
TYPE endpoint
"""
USER_TOKEN = """\
SCOPE DATASOURCES:READ
RESOURCE events
FILTER >
    user_id = 7

SCOPE PIPES:READ
RESOURCE top
"""


@pytest.fixture()
def project_dir(tmp_path: Path) -> Path:
    return write(tmp_path / "proj", {
        "datasources/events.datasource": EVENTS,
        "pipes/top.pipe": TOP_PIPE,  # sorts before base_pipe by name, but reads it
        "pipes/base_pipe.pipe": BASE_PIPE,
        "tokens/user_7.token": USER_TOKEN,
    })


def actions(done: list[Any]) -> list[tuple[str, str, str]]:
    return [(a.kind, a.name, a.action) for a in done]


def test_push_order_and_idempotence(project_dir: Path) -> None:
    fake = FakeServer()
    with fake.client() as c:
        done = push(c, load_project([project_dir]))
        assert actions(done) == [
            ("datasource", "events", "created"),
            ("pipe", "base_pipe", "created"),
            ("pipe", "top", "created"),
            ("token", "reader", "created"),
            ("token", "ingest", "created"),
            ("token", "user_7", "created"),
        ]
        # the endpoint was published by name after the create
        assert ("POST", "/v0/pipes/top/nodes/only/endpoint") in fake.calls
        assert fake.tokens["reader"]["scopes"] == [
            {"type": "DATASOURCES:READ", "resource": "events", "filter": ""},
            {"type": "PIPES:READ", "resource": "top", "filter": ""},
        ]
        assert fake.tokens["user_7"]["scopes"][0]["filter"] == "user_id = 7"
        fake.calls.clear()
        again = push(c, load_project([project_dir]))
        assert {a.action for a in again} == {"unchanged"}
        assert fake.calls == []


def test_push_form_and_json_bodies(project_dir: Path) -> None:
    fake = FakeServer()
    with fake.client() as c:
        push(c, load_project([project_dir / "datasources"]))
    params = fake.datasources["events"]["_params"]
    assert params == {"name": "events", "schema": "`user_id` UInt32 `json:$.user_id`, `event` String `json:$.event`",
                      "engine": "MergeTree", "engine_sorting_key": "user_id", "format": "ndjson"}
    pipe = parse_text(TOP_PIPE, "top.pipe")
    assert isinstance(pipe, PipeFile)
    assert pipe_body(pipe) == {"name": "top", "nodes": [
        {"name": "only", "sql": "%\nSELECT * FROM base_pipe WHERE c > {{ Int32(min_c, 1) }}", "type": "endpoint"}]}
    mv = parse_text("NODE m\nSQL >\n    SELECT 1 AS x\nTYPE materialized\nDATASOURCE t\nENGINE \"MergeTree\"\n"
                    "ENGINE_SORTING_KEY \"x\"\n", "mv.pipe")
    assert isinstance(mv, PipeFile)
    assert pipe_body(mv)["nodes"] == [{"name": "m", "sql": "SELECT 1 AS x", "type": "materialized", "datasource": "t",
                                       "engine": "MergeTree", "engine_sorting_key": "x"}]


def test_changed_resources_need_force(project_dir: Path) -> None:
    fake = FakeServer()
    with fake.client() as c:
        push(c, load_project([project_dir]))
        (project_dir / "pipes/top.pipe").write_text(TOP_PIPE.replace("{{ Int32(min_c, 1) }}", "{{ Int32(min_c, 2) }}"))
        with pytest.raises(PushConflict, match=r'pipe "top" already exists and .*top.pipe differs \(SQL of only\); '
                                               "use --force"):
            push(c, load_project([project_dir]))
        done = push(c, load_project([project_dir]), force=True)
        assert ("pipe", "top", "replaced") in actions(done)
        assert "Int32(min_c, 2)" in fake.pipes["top"]["nodes"][0]["sql"]
        assert fake.pipes["top"]["type"] == "endpoint"


def test_pipe_force_falls_back_to_delete_and_create(project_dir: Path) -> None:
    fake = FakeServer(pipe_force=False)
    with fake.client() as c:
        push(c, load_project([project_dir / "datasources", project_dir / "pipes"]))
        (project_dir / "pipes/base_pipe.pipe").write_text(BASE_PIPE.replace("count()", "count() * 1"))
        fake.calls.clear()
        push(c, load_project([project_dir / "pipes"]), force=True)
        assert fake.calls == [("POST", "/v0/pipes"), ("DELETE", "/v0/pipes/base_pipe"), ("POST", "/v0/pipes")]


def test_datasource_force_alters_additive_changes_only(project_dir: Path) -> None:
    fake = FakeServer()
    ds_dir = project_dir / "datasources"
    with fake.client() as c:
        push(c, load_project([ds_dir]))
        f = ds_dir / "events.datasource"
        f.write_text(EVENTS.replace("`event` String `json:$.event`",
                                    "`event` String `json:$.event`,\n    `price` Float64 `json:$.price`"))
        with pytest.raises(PushConflict, match=r"differs \(SCHEMA\); use --force to alter it"):
            push(c, load_project([ds_dir]))
        dry = push(c, load_project([ds_dir]), force=True, dry_run=True)
        assert actions(dry)[0] == ("datasource", "events", "would alter")
        assert len(fake.datasources["events"]["columns"]) == 2
        done = push(c, load_project([ds_dir]), force=True)
        assert done[0].action == "altered" and done[0].detail == "1 new column(s)"
        assert len(fake.datasources["events"]["columns"]) == 3
        f.write_text(EVENTS.replace("UInt32", "UInt64"))
        with pytest.raises(PushConflict, match="column 1 is `user_id` UInt32"):
            push(c, load_project([ds_dir]), force=True)
        f.write_text(EVENTS.replace('"user_id"', '"event"'))
        with pytest.raises(PushConflict, match="ENGINE_SORTING_KEY changed, which needs a new table"):
            push(c, load_project([ds_dir]), force=True)


def test_token_lines_add_scopes_and_keep_filters(project_dir: Path) -> None:
    fake = FakeServer()
    fake.tokens["reader"] = {"id": "r", "name": "reader", "description": "mine", "token": "p.r",
                             "scopes": [{"type": "DATASOURCES:READ", "resource": "events", "filter": "user_id = 1"}]}
    with fake.client() as c:
        push(c, load_project([project_dir / "datasources"]))
    assert fake.tokens["reader"]["scopes"] == [
        {"type": "DATASOURCES:READ", "resource": "events", "filter": "user_id = 1"},  # not widened
    ]
    assert fake.tokens["ingest"]["scopes"] == [{"type": "DATASOURCES:APPEND", "resource": "events"}]
    with fake.client() as c:
        push(c, load_project([project_dir / "datasources", project_dir / "pipes"]))
    assert fake.tokens["reader"]["scopes"][-1] == {"type": "PIPES:READ", "resource": "top", "filter": ""}
    assert fake.tokens["reader"]["description"] == "mine"


def test_token_file_needs_force_to_replace_scopes(project_dir: Path) -> None:
    fake = FakeServer()
    with fake.client() as c:
        push(c, load_project([project_dir]))
        (project_dir / "tokens/user_7.token").write_text(USER_TOKEN.replace("user_id = 7", "user_id = 8"))
        with pytest.raises(PushConflict, match='token "user_7" already exists with other scopes'):
            push(c, load_project([project_dir]))
        push(c, load_project([project_dir]), force=True)
    assert fake.tokens["user_7"]["scopes"][0]["filter"] == "user_id = 8"


def test_admin_token_cannot_be_pushed(tmp_path: Path) -> None:
    write(tmp_path, {"admin token.token": "SCOPE TOKENS\n"})
    fake = FakeServer()
    with fake.client() as c, pytest.raises(PushConflict, match="admin token"):
        push(c, load_project([tmp_path]))


def test_order_pipes_cycle_and_mv_targets(tmp_path: Path) -> None:
    def lo(name: str, text: str) -> Loaded:
        return Loaded(Path(f"{name}.pipe"), parse_text(text, f"{name}.pipe"))

    a = lo("a", "NODE n\nSQL >\n    SELECT * FROM b\n")
    b = lo("b", "NODE n\nSQL >\n    SELECT * FROM a\n")
    with pytest.raises(ProjectError, match="cycle: a -> b -> a"):
        order_pipes([a, b])
    reader = lo("reader", "NODE n\nSQL >\n    SELECT * FROM daily\n")
    mv = lo("mv", "NODE n\nSQL >\n    SELECT 1 AS x FROM events\nTYPE materialized\nDATASOURCE daily\n")
    assert [x.obj.name for x in order_pipes([reader, mv])] == ["mv", "reader"]
    # a .datasource file for the target: no ordering needed
    assert [x.obj.name for x in order_pipes([reader, mv], ["daily"])] == ["reader", "mv"]


def test_load_project_errors(tmp_path: Path) -> None:
    with pytest.raises(ProjectError, match="no such file or folder"):
        load_project([tmp_path / "missing"])
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(ProjectError, match="not a datafile"):
        load_project([tmp_path / "notes.txt"])
    with pytest.raises(ProjectError, match="no .datasource, .pipe or .token files"):
        load_project([tmp_path])
    write(tmp_path, {"a/x.pipe": BASE_PIPE, "b/x.pipe": BASE_PIPE})
    with pytest.raises(Exception, match="'x' is also defined in"):
        load_project([tmp_path])


def test_pull_then_push_changes_nothing(project_dir: Path, tmp_path: Path) -> None:
    fake = FakeServer()
    with fake.client() as c:
        push(c, load_project([project_dir]))
        objs = fetch_project(c, warn=lambda m: None)
        written = write_project(objs, tmp_path / "pulled")
        assert sorted((w.kind, w.name) for w in written) == [
            ("datasource", "events"), ("pipe", "base_pipe"), ("pipe", "top"), ("token", "ingest"),
            ("token", "reader"), ("token", "user_7")]
        assert (tmp_path / "pulled/pipes/top.pipe").read_text() == (
            "NODE only\nSQL >\n    %\n    SELECT * FROM base_pipe WHERE c > {{ Int32(min_c, 1) }}\nTYPE endpoint\n")
        fake.calls.clear()
        done = push(c, load_project([tmp_path / "pulled"]))
        assert {a.action for a in done} == {"unchanged"}
        assert fake.calls == []
        # pulling again over the same folder is a no-op; other content needs force
        assert {w.status for w in write_project(objs, tmp_path / "pulled")} == {"unchanged"}
        (tmp_path / "pulled/pipes/top.pipe").write_text("changed")
        with pytest.raises(ProjectError, match="use --force to overwrite"):
            write_project(objs, tmp_path / "pulled")
        assert {w.status for w in write_project(objs, tmp_path / "pulled", force=True)} == {"unchanged", "overwritten"}


def test_client_error_from_json_body() -> None:
    fake = FakeServer()
    with fake.client() as c, pytest.raises(ClientError) as info:
        c.datasource("nope")
    assert (info.value.status, str(info.value)) == (404, 'Data Source "nope" does not exist (HTTP 404)')
