"""Pull a workspace back as datafiles: ``datasources/*.datasource``, ``pipes/*.pipe``, ``tokens/*.token``.

Data sources come from ``GET /v0/datasources/<name>.datasource`` (the server's own rendering),
falling back to the JSON of ``GET /v0/datasources``; pipes are generated from the nodes of
``GET /v0/pipes/<name>``; tokens from ``GET /v0/tokens`` (the admin token is left out: a datafile
cannot create it). Everything is written with ``roost.datafiles.render``, so a pull followed by a
push of the same folder changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from roost.client import ClientError, RoostClient
from roost.datafiles.model import DatafileError, DatasourceFile, Node, PipeFile, TokenFile
from roost.datafiles.parser import parse_datasource
from roost.datafiles.push import ProjectError, column_from_json, node_target, node_type_of, scopes_from_json
from roost.datafiles.render import filename, render

FOLDERS = {DatasourceFile: "datasources", PipeFile: "pipes", TokenFile: "tokens"}
_ENGINE_JSON_KEYS = ("sorting_key", "partition_key", "primary_key", "sampling_key", "ttl", "ver", "sign", "version",
                     "is_deleted", "summing_columns", "settings")

Warn = Callable[[str], None]


def datasource_from_json(ds: dict[str, Any]) -> DatasourceFile:
    cols = (ds.get("schema") or {}).get("columns") or ds.get("columns") or []
    e = ds.get("engine") or {}
    engine: dict[str, str] = {"engine": str(e.get("engine") or "MergeTree")}
    if engine["engine"] != "Null":
        for k in _ENGINE_JSON_KEYS:
            v = e.get(k) or e.get(f"engine_{k}")
            if v and not (k == "sorting_key" and v == "tuple()"):
                engine[f"engine_{k}"] = str(v)
    return DatasourceFile(name=str(ds["name"]), description=(ds.get("description") or "").strip() or None,
                          schema=[column_from_json(c) for c in cols], engine=engine)


def fetch_datasource(client: RoostClient, item: dict[str, Any]) -> DatasourceFile:
    name = str(item["name"])
    try:
        text = client.datasource_text(name)
        ds = parse_datasource(text, name, f"{client.host}/v0/datasources/{name}.datasource")
    except (ClientError, DatafileError):
        return datasource_from_json(item if item.get("columns") or item.get("schema") else client.datasource(name))
    ds.description = (item.get("description") or "").strip() or ds.description
    if ds.engine.get("engine_sorting_key") == "tuple()":
        del ds.engine["engine_sorting_key"]
    return ds


def pipe_from_json(p: dict[str, Any], ds_names: dict[str, str]) -> PipeFile:
    endpoint = p.get("endpoint")
    nodes: list[Node] = []
    for n in p.get("nodes") or []:
        t: str | None = node_type_of(n, endpoint)
        target = node_target(n, ds_names) if t in ("materialized", "copy") else None
        node = Node(name=str(n["name"]), sql=str(n.get("sql") or "").strip("\n"),
                    description=(n.get("description") or "").strip() or None,
                    type=None if t == "standard" else t)
        if t == "materialized":
            node.datasource = target
        elif t == "copy" and target:
            node.extra["TARGET_DATASOURCE"] = target
            if n.get("copy_schedule") or n.get("schedule_cron"):
                node.extra["COPY_SCHEDULE"] = str(n.get("copy_schedule") or n.get("schedule_cron"))
            if n.get("mode"):
                node.extra["COPY_MODE"] = str(n["mode"])
        nodes.append(node)
    return PipeFile(name=str(p["name"]), description=(p.get("description") or "").strip() or None, nodes=nodes)


def token_from_json(t: dict[str, Any]) -> TokenFile | None:
    scopes = scopes_from_json(t)
    if not scopes or any(s.type in ("ADMIN", "ADMIN_USER", "AUTH") for s in scopes):
        return None
    return TokenFile(name=str(t["name"]), description=(t.get("description") or "").strip() or None, scopes=scopes)


def _route_missing(e: ClientError) -> bool:
    return e.status in (404, 405) and "not found: /v0/" in e.message.lower()


def fetch_project(client: RoostClient, warn: Warn) -> list[DatasourceFile | PipeFile | TokenFile]:
    out: list[DatasourceFile | PipeFile | TokenFile] = []
    items = client.datasources()
    ds_names = {str(d["id"]): str(d["name"]) for d in items if "id" in d}
    for item in items:
        out.append(fetch_datasource(client, item))
    try:
        pipes = client.pipes()
    except ClientError as e:
        if not _route_missing(e):
            raise
        warn("the server has no pipes API (/v0/pipes); no pipes pulled")
        pipes = []
    for p in pipes:
        out.append(pipe_from_json(client.pipe(str(p["name"])), ds_names))
    try:
        tokens = client.tokens()
    except ClientError as e:
        if not _route_missing(e):
            raise
        warn("the server has no tokens API (/v0/tokens); no tokens pulled")
        tokens = []
    for t in tokens:
        tok = token_from_json(t)
        name = str(t.get("name") or "")
        if tok is None:
            continue
        if not name or "/" in name or "\\" in name or name.startswith(".") or "\n" in name:
            warn(f"token '{name}' not pulled: its name cannot be a file name")
            continue
        out.append(tok)
    return out


@dataclass
class Written:
    kind: str
    name: str
    path: Path
    status: str  # written, unchanged, overwritten

    def to_json(self) -> dict[str, str]:
        return {"kind": self.kind, "name": self.name, "file": str(self.path), "status": self.status}


def write_project(objs: list[DatasourceFile | PipeFile | TokenFile], folder: Path, *, force: bool = False,
                  ) -> list[Written]:
    """Write datafiles under ``folder``. Files that exist with other content need ``force``."""
    plan: list[tuple[DatasourceFile | PipeFile | TokenFile, Path, str]] = []
    conflicts: list[Path] = []
    for obj in objs:
        path = folder / FOLDERS[type(obj)] / filename(obj)
        text = render(obj)
        if path.exists():
            try:
                same = path.read_text(encoding="utf-8") == text
            except (OSError, UnicodeDecodeError):
                same = False
            if not same and not force:
                conflicts.append(path)
        plan.append((obj, path, text))
    if conflicts:
        shown = ", ".join(str(p) for p in conflicts[:5]) + (" ..." if len(conflicts) > 5 else "")
        raise ProjectError(f"{len(conflicts)} file(s) exist with other content ({shown}); use --force to overwrite")
    out: list[Written] = []
    for obj, path, text in plan:
        kind = FOLDERS[type(obj)][:-1]
        if path.exists() and path.read_text(encoding="utf-8") == text:
            out.append(Written(kind, obj.name, path, "unchanged"))
            continue
        status = "overwritten" if path.exists() else "written"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        out.append(Written(kind, obj.name, path, status))
    return out


def pull(client: RoostClient, folder: Path, *, force: bool = False, warn: Warn = lambda m: None) -> list[Written]:
    return write_project(fetch_project(client, warn), folder, force=force)
