"""Render resources back as Tinybird datafiles (``GET /v0/datasources/<name>.datasource``)."""

from __future__ import annotations

import textwrap
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
        lines += ["    " + line if line.strip() else "" for line in _sql_block(n["sql"])]
        if n["type"] == "endpoint":
            lines.append("TYPE endpoint")
        elif n["type"] == "materialized":
            lines += ["TYPE materialized", f"DATASOURCE {n.get('datasource')}"]
        lines.append("")
    return "\n".join(lines)


def _sql_block(sql: str) -> list[str]:
    """SQL lines without their common indentation (a template's ``%`` line apart), so that a pull and a
    push round trip does not indent the SQL a little more each time."""
    lines = sql.strip("\n").splitlines()
    if lines and lines[0].strip() == "%":
        return ["%", *textwrap.dedent("\n".join(lines[1:])).splitlines()]
    return textwrap.dedent("\n".join(lines)).splitlines()
