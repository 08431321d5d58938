"""Push datafiles to a Roost server: data sources, then pipes in dependency order, then tokens.

A push is idempotent: every resource is compared with what the server has (GET) and left alone when
it is the same. A resource that exists and differs needs ``force``:

* a data source is altered when the change is additive (new columns at the end, a new description
  or TTL); any other change (a column type, the sorting key...) is refused with the reason;
* a pipe is replaced (``POST /v0/pipes?force=true``, or delete and create when the server refuses);
* a ``.token`` file's scopes replace the token's scopes (``PUT``).

``TOKEN "name" READ|APPEND`` lines only ever add scopes to a token (an existing token keeps its other
scopes and its row filters), so they need no ``force``.

Errors: ``ProjectError`` for bad local input (exit 2), ``PushConflict`` when the server's state
stops the push (exit 1); ``ClientError`` from the server itself (exit 1).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from roost.client import ClientError, RoostClient
from roost.datafiles.model import (
    DatafileError,
    DatasourceFile,
    PipeFile,
    TokenFile,
    TokenScope,
)
from roost.datafiles.parser import EXTENSIONS, parse_file


class ProjectError(Exception):
    """Bad local input that is not a single file's syntax (exit 2)."""


class PushConflict(Exception):
    """The server's state stops the push, e.g. a resource that differs without ``--force`` (exit 1)."""


@dataclass
class Loaded:
    path: Path
    obj: DatasourceFile | PipeFile | TokenFile


@dataclass
class Project:
    datasources: list[Loaded] = field(default_factory=list)
    pipes: list[Loaded] = field(default_factory=list)
    tokens: list[Loaded] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.datasources) + len(self.pipes) + len(self.tokens)


@dataclass
class Action:
    kind: str  # datasource | pipe | token
    name: str
    action: str  # created, unchanged, altered, replaced, updated (or "would ..." in a dry run)
    detail: str = ""
    file: str = ""

    def to_json(self) -> dict[str, str]:
        return {"kind": self.kind, "name": self.name, "action": self.action, "detail": self.detail, "file": self.file}


# --- loading ----------------------------------------------------------------------------------
def collect_paths(paths: Iterable[str | Path]) -> list[Path]:
    """Files named, and the datafiles under folders named (sorted). Missing paths are ProjectErrors."""
    out: list[Path] = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            found = sorted(f for f in p.rglob("*") if f.is_file() and f.name.endswith(EXTENSIONS)
                           and not any(part.startswith(".") for part in f.relative_to(p).parts))
            out += found
        elif p.is_file():
            if not p.name.endswith(EXTENSIONS):
                raise ProjectError(f"{p}: not a datafile (expected .datasource, .pipe or .token)")
            out.append(p)
        else:
            raise ProjectError(f"{p}: no such file or folder")
    seen: set[Path] = set()
    unique = []
    for p in out:
        r = p.resolve()
        if r not in seen:
            seen.add(r)
            unique.append(p)
    return unique


def load_project(paths: Iterable[str | Path]) -> Project:
    files = collect_paths(paths)
    if not files:
        raise ProjectError("no .datasource, .pipe or .token files found in " + ", ".join(str(p) for p in paths))
    project = Project()
    names: dict[tuple[str, str], Path] = {}
    for path in files:
        obj = parse_file(path)
        kind = "token" if isinstance(obj, TokenFile) else "resource"
        key = (kind, obj.name)
        if key in names:
            raise DatafileError(str(path), 1, f"'{obj.name}' is also defined in {names[key]}")
        names[key] = path
        loaded = Loaded(path, obj)
        if isinstance(obj, DatasourceFile):
            project.datasources.append(loaded)
        elif isinstance(obj, PipeFile):
            project.pipes.append(loaded)
        else:
            project.tokens.append(loaded)
    return project


_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def referenced_names(sql: str) -> set[str]:
    return set(_IDENT.findall(sql))


def order_pipes(pipes: Sequence[Loaded], datasource_names: Iterable[str] = ()) -> list[Loaded]:
    """Pipes in dependency order: a pipe whose SQL reads another pipe (or a data source another pipe's
    materialized node creates) comes after it. A cycle is a ProjectError."""
    by_name = {lo.obj.name: lo for lo in pipes}
    known_ds = set(datasource_names)
    producers: dict[str, str] = {}
    for lo in pipes:
        assert isinstance(lo.obj, PipeFile)
        for n in lo.obj.nodes:
            if n.datasource and n.datasource not in known_ds:
                producers.setdefault(n.datasource, lo.obj.name)
    deps: dict[str, set[str]] = {}
    for lo in pipes:
        assert isinstance(lo.obj, PipeFile)
        refs: set[str] = set()
        for n in lo.obj.nodes:
            refs |= referenced_names(n.sql)
        d = {r for r in refs if r in by_name} | {producers[r] for r in refs if r in producers}
        d.discard(lo.obj.name)
        deps[lo.obj.name] = d
    ordered: list[Loaded] = []
    done: set[str] = set()
    visiting: list[str] = []

    def visit(name: str) -> None:
        if name in done:
            return
        if name in visiting:
            cycle = visiting[visiting.index(name):] + [name]
            raise ProjectError("pipes read each other in a cycle: " + " -> ".join(cycle))
        visiting.append(name)
        for d in sorted(deps[name]):
            visit(d)
        visiting.pop()
        done.add(name)
        ordered.append(by_name[name])

    for lo in pipes:
        visit(lo.obj.name)
    return ordered


# --- comparison helpers -----------------------------------------------------------------------
def _ws(text: str | None) -> str:
    return " ".join((text or "").split())


def _nows(text: str | None) -> str:
    return "".join((text or "").split())


def _sql(text: str | None) -> str:
    return "\n".join(ln.rstrip() for ln in (text or "").strip().split("\n"))


def column_from_json(c: dict[str, Any]) -> str:
    out = f"`{c['name']}` {c['type']}"
    if c.get("default_value") is not None:
        out += f" DEFAULT {c['default_value']}"
    if c.get("codec"):
        out += f" CODEC({c['codec']})"
    if c.get("jsonpath") is not None:
        out += f" `json:{c['jsonpath']}`"
    return out


def _server_columns(existing: dict[str, Any]) -> list[str]:
    cols = (existing.get("schema") or {}).get("columns") or existing.get("columns") or []
    return [column_from_json(c) for c in cols]


def canonical_columns(schema: Sequence[str]) -> list[str]:
    """The server's normal form of columns, when Roost's schema code is at hand; else whitespace-normal."""
    try:
        from roost.ingest.schema import parse_schema

        return [c.sql_schema() for c in parse_schema(", ".join(schema))]
    except Exception:
        return [_ws(c) for c in schema]


_ENGINE_FIELDS = ("engine", "sorting_key", "partition_key", "primary_key", "ver", "sign", "version")


def canonical_engine(engine: dict[str, str], schema: Sequence[str]) -> dict[str, str | None]:
    try:
        from roost.ingest.schema import parse_engine, parse_schema

        j: dict[str, Any] = parse_engine(engine, parse_schema(", ".join(schema))).to_json()
    except Exception:
        j = {"engine": engine.get("engine") or "MergeTree"}
        for k, v in engine.items():
            if k != "engine":
                j[k.removeprefix("engine_")] = _ws(v)
        if j["engine"] != "Null":
            j.setdefault("sorting_key", "tuple()")
    return {k: (str(j[k]) if j.get(k) else None) for k in (*_ENGINE_FIELDS, "ttl")}


def _server_engine(existing: dict[str, Any]) -> dict[str, str | None]:
    e = existing.get("engine") or {}
    out: dict[str, str | None] = {}
    for k in (*_ENGINE_FIELDS, "ttl"):
        v = e.get(k) or e.get(f"engine_{k}")
        out[k] = str(v) if v else None
    if out["engine"] != "Null" and not out["sorting_key"]:
        out["sorting_key"] = "tuple()"
    return out


def datasource_params(ds: DatasourceFile) -> dict[str, str]:
    params: dict[str, str] = {"name": ds.name, "schema": ", ".join(ds.schema)}
    if ds.description:
        params["description"] = ds.description
    params.update(ds.engine)
    if ds.has_jsonpaths:
        params["format"] = "ndjson"
    if ds.indexes:
        params["indexes"] = "\n".join(ds.indexes)
    return params


def datasource_changes(ds: DatasourceFile, existing: dict[str, Any]) -> list[str]:
    """What differs between a .datasource and the server's data source ([] when the same)."""
    changes: list[str] = []
    if canonical_columns(ds.schema) != _server_columns(existing):
        changes.append("SCHEMA")
    local_engine = canonical_engine(ds.engine, ds.schema)
    server_engine = _server_engine(existing)
    for k in _ENGINE_FIELDS:
        if (local_engine[k] or "").lower() != (server_engine[k] or "").lower():
            changes.append("ENGINE" if k == "engine" else f"ENGINE_{k.upper()}")
    if _nows(local_engine["ttl"]) != _nows(server_engine["ttl"]):
        changes.append("ENGINE_TTL")
    if (ds.description or "").strip() != (existing.get("description") or "").strip():
        changes.append("DESCRIPTION")
    return changes


def node_type_of(node: dict[str, Any], endpoint: Any) -> str:
    t = node.get("node_type") or node.get("type") or "standard"
    if t == "default":
        t = "standard"
    if endpoint and endpoint in (node.get("id"), node.get("name")):
        t = "endpoint"
    return str(t)


def node_target(node: dict[str, Any], ds_names: dict[str, str]) -> str | None:
    for key in ("datasource", "materialized", "materialized_datasource", "target_datasource"):
        v = node.get(key)
        if isinstance(v, dict):
            v = v.get("name") or v.get("id")
        if isinstance(v, str) and v:
            return ds_names.get(v, v)
    return None


def pipe_changes(pipe: PipeFile, existing: dict[str, Any], ds_names: dict[str, str]) -> list[str]:
    changes: list[str] = []
    if (pipe.description or "").strip() != (existing.get("description") or "").strip():
        changes.append("description")
    nodes = existing.get("nodes") or []
    if [n.name for n in pipe.nodes] != [n.get("name") for n in nodes]:
        return [*changes, "nodes"]
    endpoint = existing.get("endpoint")
    for local, remote in zip(pipe.nodes, nodes, strict=True):
        if _sql(local.sql) != _sql(remote.get("sql")):
            changes.append(f"SQL of {local.name}")
        if (local.description or "").strip() != (remote.get("description") or "").strip():
            changes.append(f"description of {local.name}")
        if (local.type or "standard") != node_type_of(remote, endpoint):
            changes.append(f"TYPE of {local.name}")
        if local.type == "materialized":
            target = node_target(remote, ds_names)
            if target is not None and target != local.datasource:
                changes.append(f"DATASOURCE of {local.name}")
    return changes


_NODE_EXTRA_FIELDS = {"TARGET_DATASOURCE": "target_datasource", "COPY_SCHEDULE": "copy_schedule", "COPY_MODE": "mode"}


def pipe_body(pipe: PipeFile) -> dict[str, Any]:
    """The JSON body of ``POST /v0/pipes`` for a .pipe file."""
    nodes: list[dict[str, Any]] = []
    for n in pipe.nodes:
        node: dict[str, Any] = {"name": n.name, "sql": n.sql, "type": n.type or "standard"}
        if n.description:
            node["description"] = n.description
        if n.datasource:
            node["datasource"] = n.datasource
        node.update(n.engine)
        for k, v in n.extra.items():
            node[_NODE_EXTRA_FIELDS.get(k, k.lower())] = v
        nodes.append(node)
    body: dict[str, Any] = {"name": pipe.name, "nodes": nodes}
    if pipe.description:
        body["description"] = pipe.description
    return body


def scopes_from_json(token: dict[str, Any]) -> list[TokenScope]:
    out = []
    for s in token.get("scopes") or []:
        out.append(TokenScope(str(s.get("type")), s.get("resource") or None, s.get("filter") or None))
    return out


def _scope_key(s: TokenScope) -> tuple[str, str | None, str | None]:
    return (s.type, s.resource, _nows(s.filter) or None)


# --- push ---------------------------------------------------------------------------------------
@dataclass
class _TokenPlan:
    scopes: list[TokenScope] = field(default_factory=list)
    description: str | None = None
    exact: bool = False  # from a .token file: these are all of the token's scopes
    files: list[str] = field(default_factory=list)

    def add(self, scope: TokenScope) -> None:
        if _scope_key(scope) not in {_scope_key(s) for s in self.scopes}:
            self.scopes.append(scope)


class Pusher:
    def __init__(self, client: RoostClient, *, force: bool = False, dry_run: bool = False,
                 done: list[Action] | None = None) -> None:
        self.client = client
        self.force = force
        self.dry_run = dry_run
        self.done: list[Action] = done if done is not None else []
        self._ds_names: dict[str, str] | None = None

    def _act(self, kind: str, name: str, action: str, detail: str = "", file: str | Path = "") -> None:
        if self.dry_run and action != "unchanged":
            action = "would " + {"created": "create", "altered": "alter", "replaced": "replace",
                                 "updated": "update"}.get(action, action)
        self.done.append(Action(kind, name, action, detail, str(file)))

    def push(self, project: Project) -> list[Action]:
        for lo in project.datasources:
            assert isinstance(lo.obj, DatasourceFile)
            self.push_datasource(lo.obj, lo.path)
        ds_names = [lo.obj.name for lo in project.datasources]
        for lo in order_pipes(project.pipes, ds_names):
            assert isinstance(lo.obj, PipeFile)
            self.push_pipe(lo.obj, lo.path)
        self.push_tokens(project)
        return self.done

    # data sources
    def push_datasource(self, ds: DatasourceFile, path: Path) -> None:
        for key in ds.extra:
            if key.startswith(("KAFKA_", "IMPORT_")):
                raise PushConflict(f"{path}: {key}: Roost has no connectors; remove the {key.split('_')[0]}_* keys")
        existing = self.client.datasource_or_none(ds.name)
        if existing is None:
            if not self.dry_run:
                self.client.create_datasource(datasource_params(ds))
            self._act("datasource", ds.name, "created", f"{len(ds.schema)} columns", path)
            return
        changes = datasource_changes(ds, existing)
        if not changes:
            self._act("datasource", ds.name, "unchanged", "", path)
            return
        if not self.force:
            raise PushConflict(f'data source "{ds.name}" already exists and {path} differs ({", ".join(changes)}); '
                               "use --force to alter it")
        engine_changes = [c for c in changes if c.startswith("ENGINE") and c != "ENGINE_TTL"]
        if engine_changes:
            raise PushConflict(f'cannot alter data source "{ds.name}": {", ".join(engine_changes)} changed, which '
                               f"needs a new table; remove it (roost datasource rm {ds.name}) and push again")
        params: dict[str, str] = {}
        detail: list[str] = []
        if "SCHEMA" in changes:
            old = _server_columns(existing)
            new = canonical_columns(ds.schema)
            for i, col in enumerate(old):
                if i >= len(new):
                    raise PushConflict(f'cannot alter data source "{ds.name}": column {col.split(" ")[0]} is not in '
                                       f"{path}; only new columns at the end can be added")
                if new[i] != col:
                    raise PushConflict(f'cannot alter data source "{ds.name}": column {i + 1} is {col} on the server '
                                       f"and {new[i]} in {path}; only new columns at the end can be added")
            params["schema"] = ", ".join(ds.schema)
            detail.append(f"{len(new) - len(old)} new column(s)")
        if "DESCRIPTION" in changes:
            params["description"] = ds.description or ""
            detail.append("description")
        if "ENGINE_TTL" in changes:
            params["ttl"] = ds.engine.get("engine_ttl") or "false"
            detail.append("ttl")
        if not self.dry_run:
            self.client.alter_datasource(ds.name, params)
        self._act("datasource", ds.name, "altered", ", ".join(detail), path)

    # pipes
    def _datasource_names(self) -> dict[str, str]:
        if self._ds_names is None:
            try:
                self._ds_names = {d["id"]: d["name"] for d in self.client.datasources() if "id" in d}
            except ClientError:
                self._ds_names = {}
        return self._ds_names

    def push_pipe(self, pipe: PipeFile, path: Path) -> None:
        existing = self.client.pipe_or_none(pipe.name)
        body = pipe_body(pipe)
        if existing is None:
            if not self.dry_run:
                self._publish(pipe, self.client.create_pipe(body))
            self._act("pipe", pipe.name, "created", _pipe_detail(pipe), path)
            return
        changes = pipe_changes(pipe, existing, self._datasource_names())
        if not changes:
            self._act("pipe", pipe.name, "unchanged", "", path)
            return
        if not self.force:
            raise PushConflict(f'pipe "{pipe.name}" already exists and {path} differs ({", ".join(changes)}); '
                               "use --force to replace it")
        if not self.dry_run:
            try:
                resp = self.client.create_pipe(body, force=True)
            except ClientError as e:
                if e.status != 409:
                    raise
                self.client.delete_pipe(pipe.name)
                resp = self.client.create_pipe(body)
            self._publish(pipe, resp)
        self._act("pipe", pipe.name, "replaced", ", ".join(changes), path)

    def _publish(self, pipe: PipeFile, resp: dict[str, Any]) -> None:
        node = pipe.endpoint_node
        if node is None or resp.get("type") == "endpoint":
            return
        self.client.publish_endpoint(pipe.name, node.name)

    # tokens
    def token_plans(self, project: Project) -> dict[str, _TokenPlan]:
        plans: dict[str, _TokenPlan] = {}
        for lo in project.datasources:
            assert isinstance(lo.obj, DatasourceFile)
            for t in lo.obj.tokens:
                plan = plans.setdefault(t.name, _TokenPlan())
                plan.add(TokenScope(f"DATASOURCES:{t.permission}", lo.obj.name))
                plan.files.append(str(lo.path))
        for lo in project.pipes:
            assert isinstance(lo.obj, PipeFile)
            for t in lo.obj.tokens:
                plan = plans.setdefault(t.name, _TokenPlan())
                plan.add(TokenScope("PIPES:READ", lo.obj.name))
                plan.files.append(str(lo.path))
        for lo in project.tokens:
            assert isinstance(lo.obj, TokenFile)
            plan = plans.setdefault(lo.obj.name, _TokenPlan())
            plan.exact = True
            plan.description = lo.obj.description
            for s in lo.obj.scopes:
                plan.add(s)
            plan.files.insert(0, str(lo.path))
        return plans

    def push_tokens(self, project: Project) -> None:
        plans = self.token_plans(project)
        if not plans:
            return
        existing = {t.get("name"): t for t in self.client.tokens()}
        for name, plan in plans.items():
            file = plan.files[0] if plan.files else ""
            current = existing.get(name)
            scope_strings = [s.to_string() for s in plan.scopes]
            if current is None:
                if not self.dry_run:
                    self.client.create_token(name, scope_strings, plan.description)
                self._act("token", name, "created", ", ".join(scope_strings), file)
                continue
            have = scopes_from_json(current)
            if any(s.type in ("ADMIN", "ADMIN_USER", "AUTH") for s in have):
                raise PushConflict(f'token "{name}" is an admin token; a datafile cannot change it')
            if plan.exact:
                same_scopes = {_scope_key(s) for s in have} == {_scope_key(s) for s in plan.scopes}
                same_desc = (plan.description or "").strip() == (current.get("description") or "").strip()
                if same_scopes and same_desc:
                    self._act("token", name, "unchanged", "", file)
                    continue
                if not self.force:
                    what = "scopes" if not same_scopes else "description"
                    raise PushConflict(f'token "{name}" already exists with other {what} than {file}; '
                                       "use --force to replace them")
                if not self.dry_run:
                    self.client.update_token(name, scope_strings, plan.description or "")
                self._act("token", name, "updated", ", ".join(scope_strings), file)
                continue
            granted = {(s.type, s.resource) for s in have}
            missing = [s for s in plan.scopes if (s.type, s.resource) not in granted]
            if not missing:
                self._act("token", name, "unchanged", "", file)
                continue
            if not self.dry_run:
                self.client.update_token(name, [s.to_string() for s in [*have, *missing]],
                                         current.get("description"))
            self._act("token", name, "updated", "added " + ", ".join(s.to_string() for s in missing), file)


def _pipe_detail(pipe: PipeFile) -> str:
    ep = pipe.endpoint_node
    out = f"{len(pipe.nodes)} node(s)"
    if ep is not None:
        out += f", endpoint {ep.name}"
    mv = [n for n in pipe.nodes if n.type == "materialized"]
    if mv:
        out += ", materialized into " + ", ".join(str(n.datasource) for n in mv)
    return out


def push(client: RoostClient, project: Project, *, force: bool = False, dry_run: bool = False,
         done: list[Action] | None = None) -> list[Action]:
    return Pusher(client, force=force, dry_run=dry_run, done=done).push(project)


__all__ = [
    "Action",
    "Loaded",
    "Project",
    "ProjectError",
    "PushConflict",
    "collect_paths",
    "load_project",
    "order_pipes",
    "pipe_body",
    "push",
]
