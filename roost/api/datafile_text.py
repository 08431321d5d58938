"""Render resources back as Tinybird datafiles (``GET /v0/datasources/<name>.datasource``)."""

from __future__ import annotations

from typing import Any

from roost.ingest.schema import columns_from_doc, engine_from_doc


def datasource_text(rt: Any, ds: dict[str, Any]) -> str:
    lines: list[str] = []
    if ds.get("description"):
        lines += ["DESCRIPTION >", "    " + ds["description"].replace("\n", "\n    "), ""]
    cols = columns_from_doc(ds["columns"])
    lines.append("SCHEMA >")
    lines.append(",\n".join("    " + c.sql_schema() for c in cols))
    lines.append("")
    eng = engine_from_doc(ds["engine"])
    lines.append(f'ENGINE "{eng.engine}"')
    for key in ("sorting_key", "partition_key", "primary_key", "ttl", "ver", "sign", "version", "summing_columns"):
        v = getattr(eng, key)
        if v:
            lines.append(f'ENGINE_{key.upper()} "{v}"')
    return "\n".join(lines) + "\n"


def pipe_text(pipe: dict[str, Any]) -> str:
    lines: list[str] = []
    if pipe.get("description"):
        lines += ["DESCRIPTION >", "    " + pipe["description"].replace("\n", "\n    "), ""]
    for n in pipe["nodes"]:
        lines.append(f"NODE {n['name']}")
        if n.get("description"):
            lines += ["DESCRIPTION >", "    " + str(n["description"]).replace("\n", "\n    ")]
        lines.append("SQL >")
        lines += ["    " + line for line in n["sql"].splitlines()]
        if n["type"] == "endpoint":
            lines.append("TYPE endpoint")
        elif n["type"] == "materialized":
            lines += ["TYPE materialized", f"DATASOURCE {n.get('datasource')}"]
        lines.append("")
    return "\n".join(lines)
