"""Pipes: SQL nodes with template parameters, endpoints, materialized views.

An endpoint call renders each node it needs with the request's parameters (a JWT's
``fixed_params`` win), compiles every node through the same compiler as ``/v0/sql`` (so the
caller's data source filters apply inside every node), applies the ``PIPES:READ`` filter to the
output, and runs the result read-only with limits.
"""

from __future__ import annotations

import re
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

import orjson

from roost.auth.principal import ADMIN, Principal, Scope
from roost.engine.base import EngineError
from roost.errors import DOC_PIPES, BadRequest, Conflict, NotFound, RoostError
from roost.ingest.schema import check_name
from roost.sql.compiler import CompiledQuery, Relation, tables_of
from roost.sql.template import is_template, parameters, render

if TYPE_CHECKING:
    from roost.runtime import Runtime

SYSTEM = Principal(token_id="system", name="system", kind="static", scopes=(Scope(ADMIN),))
NODE_TYPES = {"standard": "standard", "default": "standard", "endpoint": "endpoint", "materialized": "materialized"}
FORMATS = {"json": "JSON", "csv": "CSVWithNames", "ndjson": "JSONEachRow", "parquet": "Parquet"}


def _bad(msg: str) -> BadRequest:
    return BadRequest(msg, documentation=DOC_PIPES)


def new_id() -> str:
    return "t_" + uuid.uuid4().hex


class _LRU:
    def __init__(self, maxsize: int) -> None:
        self.d: OrderedDict[Any, Any] = OrderedDict()
        self.maxsize = maxsize
        self.lock = threading.Lock()

    def get(self, key: Any) -> Any:
        with self.lock:
            v = self.d.get(key)
            if v is not None:
                self.d.move_to_end(key)
            return v

    def put(self, key: Any, value: Any) -> None:
        with self.lock:
            self.d[key] = value
            if len(self.d) > self.maxsize:
                self.d.popitem(last=False)

    def clear(self) -> None:
        with self.lock:
            self.d.clear()


class NodeRelations(Mapping[str, Relation]):
    """Earlier nodes of a pipe, compiled on first use for one caller and one set of parameters."""

    def __init__(self, pipes: Pipes, pipe: dict[str, Any], principal: Principal, params: Mapping[str, Any],
                 upto: int, test_mode: bool) -> None:
        self.pipes = pipes
        self.pipe = pipe
        self.principal = principal
        self.params = params
        self.nodes = {n["name"]: i for i, n in enumerate(pipe["nodes"][:upto])}
        self.test_mode = test_mode
        self._done: dict[str, Relation] = {}

    def __getitem__(self, name: str) -> Relation:
        if name not in self.nodes:
            raise KeyError(name)
        if name not in self._done:
            i = self.nodes[name]
            compiled = self.pipes.compile_node(self.pipe, i, self.principal, self.params, self.test_mode)
            self._done[name] = Relation(name=name, kind="node", sql=compiled.sql)
        return self._done[name]

    def __contains__(self, name: object) -> bool:
        return name in self.nodes

    def __iter__(self) -> Iterator[str]:
        return iter(self.nodes)

    def __len__(self) -> int:
        return len(self.nodes)


class Pipes:
    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.endpoint_cache = _LRU(20_000)
        self.result_cache = _LRU(2_000)
        rt.on_change(self._changed)

    def _changed(self) -> None:
        self.endpoint_cache.clear()
        self.result_cache.clear()

    # --- lookups ---------------------------------------------------------------------------------
    def get(self, name_or_id: str) -> dict[str, Any]:
        pipe = self.rt.catalog.get_pipe(name_or_id)
        if pipe is None:
            raise NotFound(f'Pipe "{name_or_id}" does not exist', documentation=DOC_PIPES)
        return pipe

    def endpoint_index(self, pipe: dict[str, Any]) -> int | None:
        ep = pipe.get("endpoint")
        for i, n in enumerate(pipe["nodes"]):
            if n["name"] == ep:
                return i
        return None

    # --- compilation -----------------------------------------------------------------------------
    def compile_node(self, pipe: dict[str, Any], index: int, principal: Principal, params: Mapping[str, Any],
                     test_mode: bool = False) -> CompiledQuery:
        node = pipe["nodes"][index]
        try:
            if is_template(node["sql"]):
                known = self.known_identifiers(pipe)
                sql = render(node["sql"], params, test_mode=test_mode, column_check=known.__contains__)
            else:
                sql = node["sql"]
        except RoostError:
            raise
        extra = NodeRelations(self, pipe, principal, params, index, test_mode)
        try:
            return self.rt.query.compile_shaped(sql, principal, extra=extra, in_pipe=True)
        except RoostError as e:
            if e.status == 400 and not e.body and not e.message.startswith("[Error]"):
                e.message = f"[Error] {e.message} (in node '{node['name']}' of pipe '{pipe['name']}')"
            raise

    def known_identifiers(self, pipe: dict[str, Any]) -> frozenset[str]:
        """What ``column()``/``columns()``/``symbol()`` may name in this pipe: the columns of the workspace's
        data sources and the names the pipe's own SQL defines (aliases of earlier nodes)."""
        key = ("idents", pipe.get("id"), pipe.get("updated_at"))
        hit = self.endpoint_cache.get(key) if pipe.get("id") else None
        if hit is None:
            names: set[str] = set()
            for ds in self.rt.catalog.list_datasources():
                names.update(c["name"] for c in ds["columns"])
            for n in pipe["nodes"]:
                names.update(_IDENT.findall(n["sql"]))
            hit = frozenset(names)
            if pipe.get("id"):
                self.endpoint_cache.put(key, hit)
        return hit  # type: ignore[no-any-return]

    def compile_endpoint(self, pipe: dict[str, Any], principal: Principal, params: Mapping[str, Any],
                         *, test_mode: bool = False) -> CompiledQuery:
        """Shaped (sentinel literals) endpoint SQL with the PIPES:READ filter applied."""
        idx = self.endpoint_index(pipe)
        if idx is None:
            raise NotFound(f'The pipe "{pipe["name"]}" has no endpoint: publish a node first', documentation=DOC_PIPES)
        compiled = self.compile_node(pipe, idx, principal, params, test_mode)
        scope = principal.pipe_read(pipe["name"])
        if scope is not None and scope.filter:
            wrapped = Relation(name=pipe["name"], kind="pipe", sql=compiled.sql, filter=scope.filter)
            out = self.rt.query.compile_shaped(f"SELECT * FROM `{pipe['name']}`", principal,
                                               extra={pipe["name"]: wrapped})
            compiled = CompiledQuery(sql=out.sql, format=None, relations=compiled.relations + out.relations,
                                     table_filters={**compiled.table_filters, **out.table_filters},
                                     has_limit=compiled.has_limit)
        return compiled

    def relation(self, name: str, principal: Principal, *, in_pipe: bool = False) -> Relation | None:
        """A published pipe used as a table (``/v0/sql``, another pipe's node), for this caller.

        From ``/v0/sql`` the caller needs PIPES:READ on it; inside a pipe's node any published pipe
        may be read (the outer pipe's author chose it), the caller's filters still applying.
        """
        pipe = self.rt.catalog.get_pipe(name)
        if pipe is None or self.endpoint_index(pipe) is None:
            return None
        scope = principal.pipe_read(pipe["name"])
        if scope is None and not in_pipe:
            return None
        fixed = dict(scope.fixed_params or {}) if scope else {}
        compiled = self.compile_endpoint(pipe, principal, fixed, test_mode=False)
        return Relation(name=name, kind="pipe", sql=compiled.sql)

    def call_params(self, pipe: dict[str, Any], principal: Principal, params: dict[str, Any]) -> dict[str, Any]:
        scope = principal.pipe_read(pipe["name"])
        fixed = (scope.fixed_params if scope else None) or {}
        out = dict(params)
        for k, v in fixed.items():
            out[k] = v if isinstance(v, str | list) else (orjson.dumps(v).decode() if not isinstance(v, int | float)
                                                          else str(v))
        return out

    def compile_call(self, pipe: dict[str, Any], principal: Principal, params: dict[str, Any],
                     q: str | None) -> CompiledQuery:
        """The final (literal) SQL of an endpoint call, cached by caller shape and parameters."""
        shaped_p, literals = self.rt.query.shape(principal)
        key = (pipe["id"], pipe["updated_at"], shaped_p.filter_key(), shaped_p.readable_key(),
               tuple(sorted((k, tuple(v) if isinstance(v, list) else v) for k, v in params.items())), q)
        compiled = self.endpoint_cache.get(key)
        if compiled is None:
            compiled = self.compile_endpoint(pipe, shaped_p, params)
            if q:
                outer = self.rt.query.compile_shaped(
                    q, shaped_p, extra={"_": Relation(name="_", kind="pipe", sql=compiled.sql)})
                compiled = CompiledQuery(sql=outer.sql, format=outer.format,
                                         relations=compiled.relations + outer.relations,
                                         table_filters={**compiled.table_filters, **outer.table_filters},
                                         has_limit=outer.has_limit)
            self.endpoint_cache.put(key, compiled)
        return self.rt.query.finalize(compiled, literals)

    # --- create / change ---------------------------------------------------------------------------
    def _node(self, raw: dict[str, Any], existing: set[str], pipe_name: str) -> dict[str, Any]:
        name = str(raw.get("name") or f"{pipe_name}_{len(existing)}")
        check_name(name, "node")
        if name in existing:
            raise _bad(f'Node name "{name}" is duplicated')
        if name == pipe_name:
            raise _bad(f'Node name "{name}" cannot be the same as the pipe name')
        sql = raw.get("sql")
        if not isinstance(sql, str) or not sql.strip():
            raise _bad(f'Node "{name}" has no SQL')
        ntype = NODE_TYPES.get(str(raw.get("type") or raw.get("node_type") or "standard").lower())
        if ntype is None:
            raise _bad(f"Node type '{raw.get('type')}' is not supported: use standard, endpoint or materialized")
        now = time.strftime("%Y-%m-%d %H:%M:%S.000000", time.gmtime())
        node = {
            "id": new_id(),
            "name": name,
            "sql": sql,
            "description": raw.get("description"),
            "type": ntype,
            "datasource": raw.get("datasource") or raw.get("materialized_datasource"),
            "created_at": now,
            "updated_at": now,
        }
        if ntype == "materialized" and not node["datasource"]:
            raise _bad(f'Materialized node "{name}" needs a target "datasource"')
        return node

    def validate(self, pipe: dict[str, Any]) -> None:
        """Every node must render (with defaults) and compile as the admin would see it."""
        names: set[str] = set()
        for i, node in enumerate(pipe["nodes"]):
            if self.rt.catalog.get_datasource(node["name"]) is not None:
                raise _bad(f'Node name "{node["name"]}" is the name of a Data Source')
            compiled = self.compile_node(pipe, i, SYSTEM, {}, test_mode=True)
            rendered = render(node["sql"], {}, test_mode=True)
            deps = [t for _, t, tf in tables_of(rendered) if not tf and t not in names]
            node["dependencies"] = sorted(set(deps))
            node["params"] = [p.to_json() for p in parameters(node["sql"])]
            names.add(node["name"])
            _ = compiled
        pipe["dependencies"] = sorted({d for n in pipe["nodes"] for d in n.get("dependencies", [])})

    def create(self, body: dict[str, Any], *, force: bool = False, populate: bool = False) -> dict[str, Any]:
        name = check_name(str(body.get("name") or ""), "Pipe")
        if self.rt.catalog.get_datasource(name) is not None:
            raise Conflict(f'There is already a Data Source named "{name}"', documentation=DOC_PIPES)
        old = self.rt.catalog.get_pipe(name)
        if old is not None and not force:
            raise Conflict(f'Pipe "{name}" already exists', documentation=DOC_PIPES)
        raw_nodes = body.get("nodes")
        if not isinstance(raw_nodes, list) or not raw_nodes:
            raise _bad("A pipe needs at least one node (nodes: [{name, sql}])")
        nodes: list[dict[str, Any]] = []
        for raw in raw_nodes:
            if not isinstance(raw, dict):
                raise _bad("Each node must be an object with name and sql")
            nodes.append(self._node(raw, {n["name"] for n in nodes}, name))
        endpoint = next((n["name"] for n in nodes if n["type"] == "endpoint"), None)
        doc: dict[str, Any] = {"description": body.get("description") or "", "nodes": nodes, "endpoint": endpoint,
                               "cache_ttl": _ttl(body.get("cache_ttl"))}
        doc["name"] = name
        self.validate(doc)
        for n in nodes:
            if n["type"] == "materialized":
                self._check_target(n)
        if old is not None:
            self.delete(old)
        pipe = self.rt.catalog.create_pipe(new_id() if old is None else old["id"], name, doc)
        self.rt.changed()
        jobs = []
        for i, n in enumerate(pipe["nodes"]):
            if n["type"] == "materialized":
                job = self._materialize(pipe, i, populate)
                if job:
                    jobs.append(job)
        pipe = self.get(pipe["id"])
        if jobs:
            pipe["_job"] = jobs[0]
        return pipe

    def save(self, pipe: dict[str, Any]) -> dict[str, Any]:
        pipe = orjson.loads(orjson.dumps(pipe))  # validate() annotates nodes: never touch cached dicts
        self.validate(pipe)
        new = self.rt.catalog.update_pipe(pipe["id"], pipe) or pipe
        self.rt.changed()
        return new

    def add_node(self, pipe: dict[str, Any], raw: dict[str, Any]) -> dict[str, Any]:
        node = self._node(raw, {n["name"] for n in pipe["nodes"]}, pipe["name"])
        if node["type"] == "materialized":
            raise _bad("Add materialized nodes when creating the pipe")
        pipe = dict(pipe)
        pipe["nodes"] = [*pipe["nodes"], node]
        if node["type"] == "endpoint":
            pipe["endpoint"] = node["name"]
        self.save(pipe)
        return node

    def update_node(self, pipe: dict[str, Any], node_name: str, fields: dict[str, Any]) -> dict[str, Any]:
        pipe = dict(pipe)
        nodes = [dict(n) for n in pipe["nodes"]]
        node = next((n for n in nodes if n["name"] == node_name or n["id"] == node_name), None)
        if node is None:
            raise NotFound(f'Node "{node_name}" does not exist in pipe "{pipe["name"]}"', documentation=DOC_PIPES)
        if node["type"] == "materialized":
            raise _bad("A materialized node cannot be changed: recreate the pipe")
        old_name = node["name"]
        for key in ("name", "sql", "description"):
            if fields.get(key) is not None and not isinstance(fields[key], str):
                raise _bad(f"The node's {key} must be a string")
        if fields.get("name") and fields["name"] != old_name:
            check_name(fields["name"], "node")
            if any(n["name"] == fields["name"] for n in nodes):
                raise _bad(f'Node name "{fields["name"]}" is duplicated')
            node["name"] = fields["name"]
            if pipe.get("endpoint") == old_name:
                pipe["endpoint"] = node["name"]
        if fields.get("sql"):
            node["sql"] = fields["sql"]
        if "description" in fields:
            node["description"] = fields["description"]
        node["updated_at"] = time.strftime("%Y-%m-%d %H:%M:%S.000000", time.gmtime())
        pipe["nodes"] = nodes
        self.save(pipe)
        return node

    def delete_node(self, pipe: dict[str, Any], node_name: str) -> None:
        pipe = dict(pipe)
        node = next((n for n in pipe["nodes"] if n["name"] == node_name or n["id"] == node_name), None)
        if node is None:
            raise NotFound(f'Node "{node_name}" does not exist in pipe "{pipe["name"]}"', documentation=DOC_PIPES)
        if node["type"] == "materialized":
            raise _bad("A materialized node cannot be deleted: delete the pipe")
        pipe["nodes"] = [n for n in pipe["nodes"] if n is not node]
        if not pipe["nodes"]:
            raise _bad("A pipe needs at least one node")
        if pipe.get("endpoint") == node["name"]:
            pipe["endpoint"] = None
        self.save(pipe)

    def publish(self, pipe: dict[str, Any], node_name: str | None) -> dict[str, Any]:
        pipe = dict(pipe)
        nodes = [dict(n) for n in pipe["nodes"]]
        node = next((n for n in nodes if n["name"] == node_name or n["id"] == node_name), None)
        if node is None:
            raise NotFound(f'Node "{node_name}" does not exist in pipe "{pipe["name"]}"', documentation=DOC_PIPES)
        if node["type"] == "materialized":
            raise _bad("A materialized node cannot be an endpoint")
        for n in nodes:
            if n["type"] == "endpoint":
                n["type"] = "standard"
        node["type"] = "endpoint"
        pipe["nodes"] = nodes
        pipe["endpoint"] = node["name"]
        return self.save(pipe)

    def unpublish(self, pipe: dict[str, Any]) -> dict[str, Any]:
        pipe = dict(pipe)
        pipe["nodes"] = [{**n, "type": "standard"} if n["type"] == "endpoint" else n for n in pipe["nodes"]]
        pipe["endpoint"] = None
        return self.save(pipe)

    def delete(self, pipe: dict[str, Any]) -> None:
        for mv in pipe.get("materialized") or []:
            try:
                self.rt.engine.command(f"DROP VIEW IF EXISTS {mv['view']} SYNC")
            except EngineError:
                pass
        self.rt.catalog.delete_pipe(pipe["id"])
        self.rt.changed()

    # --- materialized views ----------------------------------------------------------------------
    def _check_target(self, node: dict[str, Any]) -> dict[str, Any]:
        target = self.rt.catalog.get_datasource(node["datasource"])
        if target is None:
            raise _bad(f'The target Data Source "{node["datasource"]}" of node "{node["name"]}" does not exist: '
                       "create it first")
        if is_template(node["sql"]):
            raise _bad(f'Materialized node "{node["name"]}" cannot use template parameters')
        return target

    def _materialize(self, pipe: dict[str, Any], index: int, populate: bool) -> dict[str, Any] | None:
        node = pipe["nodes"][index]
        target = self._check_target(node)
        compiled = self.rt.query.finalize(*self._admin_compiled(pipe, index))
        view = f"{self.rt.database}.`mv_{pipe['id']}_{index}`"
        cols = ", ".join(f"`{c['name']}`" for c in target["columns"])
        try:
            self.rt.engine.command(f"CREATE MATERIALIZED VIEW {view} TO {self.rt.datasources.table(target)} "
                                   f"({', '.join(_col_ddl(c) for c in target['columns'])}) AS {compiled.sql}")
        except EngineError as e:
            self.rt.catalog.delete_pipe(pipe["id"])
            self.rt.changed()
            raise _bad(f'Cannot materialize node "{node["name"]}" into "{target["name"]}": {e.message}') from None
        doc = dict(pipe)
        doc["materialized"] = [*(pipe.get("materialized") or []), {"node": node["name"], "view": view,
                                                                    "target": target["name"]}]
        self.rt.catalog.update_pipe(pipe["id"], doc)
        self.rt.changed()
        if not populate:
            return None
        from roost.jobs import start_job

        sql = f"INSERT INTO {self.rt.datasources.table(target)} ({cols}) SELECT {cols} FROM ({compiled.sql})"

        def run(job_id: str) -> dict[str, Any]:
            res = self.rt.engine.command(sql, settings={"insert_deduplicate": 0})
            self.rt.logs.ops("populateview", target, rows=res.rows_written, job_id=job_id,
                             options={"pipe": pipe["name"]})
            return {"rows_affected": res.rows_written}

        return start_job(self.rt, "populateview", {"pipe_id": pipe["id"], "pipe_name": pipe["name"],
                                                   "datasource": {"id": target["id"], "name": target["name"]}}, run)

    def _admin_compiled(self, pipe: dict[str, Any], index: int) -> tuple[CompiledQuery, dict[str, str]]:
        shaped, literals = self.rt.query.shape(SYSTEM)
        return self.compile_node(pipe, index, shaped, {}, test_mode=True), literals

    def output_columns(self, pipe: dict[str, Any]) -> set[str] | None:
        if self.endpoint_index(pipe) is None:
            return None
        compiled = self.rt.query.finalize(self.compile_endpoint(pipe, SYSTEM, {}, test_mode=True), {})
        res = self.rt.engine.query(f"SELECT * FROM ({compiled.sql}) LIMIT 0", "JSON",
                                   settings={"readonly": 1})
        return {m["name"] for m in orjson.loads(res.data)["meta"]}

    # --- views -------------------------------------------------------------------------------------
    def to_json(self, pipe: dict[str, Any], base_url: str) -> dict[str, Any]:
        ep = self.endpoint_index(pipe)
        nodes = []
        for n in pipe["nodes"]:
            nodes.append({
                "id": n["id"], "name": n["name"], "sql": n["sql"], "description": n.get("description"),
                "node_type": n["type"], "type": n["type"],
                "materialized": n.get("datasource") if n["type"] == "materialized" else None,
                "datasource": n.get("datasource"),
                "dependencies": n.get("dependencies", []), "params": n.get("params", []),
                "created_at": n.get("created_at"), "updated_at": n.get("updated_at"), "cluster": None, "tags": {},
                "ignore_sql_errors": False, "version": 0,
            })
        ptype = "endpoint" if ep is not None else (
            "materialized" if any(n["type"] == "materialized" for n in pipe["nodes"]) else "default")
        out: dict[str, Any] = {
            "id": pipe["id"], "name": pipe["name"], "description": pipe.get("description") or "", "type": ptype,
            "endpoint": pipe["nodes"][ep]["id"] if ep is not None else None,
            "created_at": pipe["created_at"], "updated_at": pipe["updated_at"], "parent": None,
            "edited_by": None, "url": f"{base_url}/v0/pipes/{pipe['name']}.json" if ep is not None else None,
            "workspace_id": self.rt.workspace["id"], "nodes": nodes, "cache_ttl": pipe.get("cache_ttl"),
            "dependencies": pipe.get("dependencies", []), "published_version": 0, "published_date": None,
            "params": nodes[ep]["params"] if ep is not None else [],
        }
        mv = next((n for n in pipe["nodes"] if n["type"] == "materialized"), None)
        if mv is not None:
            out["datasource"] = mv.get("datasource")
            out["materialized_datasource"] = mv.get("datasource")
        return out

    def all_params(self, pipe: dict[str, Any]) -> list[dict[str, Any]]:
        """Parameters of every node the endpoint reads (deduplicated by name)."""
        seen: dict[str, dict[str, Any]] = {}
        idx = self.endpoint_index(pipe)
        for n in pipe["nodes"][: (idx + 1) if idx is not None else None]:
            for p in n.get("params", []):
                seen.setdefault(p["name"], p)
        return list(seen.values())


_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _col_ddl(c: dict[str, Any]) -> str:
    return f"`{c['name']}` {c['type']}"


def _ttl(v: Any) -> int | None:
    if v in (None, "", 0, "0"):
        return None
    try:
        n = int(v)
    except (TypeError, ValueError):
        raise _bad("cache_ttl must be an integer number of seconds") from None
    if n < 0:
        raise _bad("cache_ttl must be >= 0")
    return n
