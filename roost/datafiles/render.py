"""Write ``roost.datafiles.model`` objects back as datafile text (``parse(render(x)) == x``)."""

from __future__ import annotations

from roost.datafiles.model import ENGINE_KEYS, DatasourceFile, Node, PipeFile, TokenFile, TokenRef

INDENT = "    "
# Extra keys always written as blocks.
_BLOCK_EXTRA = ("FORWARD_QUERY", "SHARED_WITH")


def _block(key: str, value: str) -> list[str]:
    return [f"{key} >", *[(INDENT + ln) if ln.strip() else "" for ln in value.split("\n")]]


def _quoted(value: str) -> str:
    return f'"{value}"'


def _token_line(t: TokenRef) -> str:
    return f"TOKEN {_quoted(t.name)} {t.permission}"


def _engine_lines(engine: dict[str, str]) -> list[str]:
    return [f"{k.upper()} {_quoted(engine[k])}" for k in ENGINE_KEYS if k in engine]


def _extra_lines(extra: dict[str, str]) -> list[str]:
    out: list[str] = []
    for k, v in extra.items():
        if "\n" in v or k in _BLOCK_EXTRA:
            out += _block(k, v)
        else:
            out.append(f"{k} {v}")
    return out


def _join(sections: list[list[str]]) -> str:
    return "\n\n".join("\n".join(s) for s in sections if s) + "\n"


def render_datasource(ds: DatasourceFile) -> str:
    sections: list[list[str]] = []
    if ds.description:
        sections.append(_block("DESCRIPTION", ds.description))
    if ds.tokens:
        sections.append([_token_line(t) for t in ds.tokens])
    if ds.tags:
        sections.append([f"TAGS {_quoted(', '.join(ds.tags))}"])
    sections.append(["SCHEMA >", ",\n".join(INDENT + c for c in ds.schema)])
    if ds.indexes:
        sections.append(["INDEXES >", *[INDENT + i for i in ds.indexes]])
    sections.append(_engine_lines(ds.engine))
    sections.append(_extra_lines(ds.extra))
    return _join(sections)


def _node_lines(n: Node) -> list[str]:
    lines = [f"NODE {n.name}"]
    if n.description:
        lines += _block("DESCRIPTION", n.description)
    lines += _block("SQL", n.sql)
    if n.type:
        lines.append(f"TYPE {n.type}")
    if n.datasource:
        lines.append(f"DATASOURCE {n.datasource}")
    lines += _engine_lines(n.engine)
    lines += _extra_lines(n.extra)
    return lines


def render_pipe(pipe: PipeFile) -> str:
    sections: list[list[str]] = []
    if pipe.description:
        sections.append(_block("DESCRIPTION", pipe.description))
    if pipe.tokens:
        sections.append([_token_line(t) for t in pipe.tokens])
    head: list[str] = []
    if pipe.tags:
        head.append(f"TAGS {_quoted(', '.join(pipe.tags))}")
    head += _extra_lines(pipe.extra)
    sections.append(head)
    for n in pipe.nodes:
        sections.append(_node_lines(n))
    return _join(sections)


def render_token(tok: TokenFile) -> str:
    sections: list[list[str]] = []
    if tok.description:
        sections.append(_block("DESCRIPTION", tok.description))
    for s in tok.scopes:
        lines = [f"SCOPE {s.type}"]
        if s.resource is not None:
            lines.append(f"RESOURCE {s.resource}")
        if s.filter:
            lines += _block("FILTER", s.filter)
        sections.append(lines)
    return _join(sections)


def render(obj: DatasourceFile | PipeFile | TokenFile) -> str:
    if isinstance(obj, DatasourceFile):
        return render_datasource(obj)
    if isinstance(obj, PipeFile):
        return render_pipe(obj)
    return render_token(obj)


def filename(obj: DatasourceFile | PipeFile | TokenFile) -> str:
    ext = ".datasource" if isinstance(obj, DatasourceFile) else ".pipe" if isinstance(obj, PipeFile) else ".token"
    return obj.name + ext
