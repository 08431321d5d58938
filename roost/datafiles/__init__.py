"""Tinybird Classic datafiles: ``.datasource``, ``.pipe`` and ``.token`` (reference §9).

``parse_file`` / ``parse_text`` read them into dataclasses, ``render`` writes them back, and
``roost.datafiles.push`` / ``roost.datafiles.pull`` move them to and from a Roost server.
"""

from roost.datafiles.model import (
    DatafileError,
    DatasourceFile,
    Node,
    PipeFile,
    TokenFile,
    TokenRef,
    TokenScope,
)
from roost.datafiles.parser import parse_datasource, parse_file, parse_pipe, parse_text, parse_token
from roost.datafiles.render import render, render_datasource, render_pipe, render_token

__all__ = [
    "DatafileError",
    "DatasourceFile",
    "Node",
    "PipeFile",
    "TokenFile",
    "TokenRef",
    "TokenScope",
    "parse_datasource",
    "parse_file",
    "parse_pipe",
    "parse_text",
    "parse_token",
    "render",
    "render_datasource",
    "render_pipe",
    "render_token",
]
