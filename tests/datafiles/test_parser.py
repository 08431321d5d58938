"""The datafile parser and writers: every key, blocks, templates, errors with file:line, round trips."""

from __future__ import annotations

import string
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from roost.datafiles import (
    DatafileError,
    DatasourceFile,
    Node,
    PipeFile,
    TokenFile,
    TokenRef,
    TokenScope,
    parse_datasource,
    parse_file,
    parse_pipe,
    parse_text,
    parse_token,
    render,
)

PAGE_HITS = """\
DESCRIPTION >
    Raw page hits
    (one row per hit)

TOKEN app_read READ
TOKEN "ingest" APPEND

TAGS "web, raw"

SCHEMA >
    `timestamp` DateTime `json:$.timestamp`,
    `org_id` String `json:$.org_id`,
    `user_agent` String `json:$.ctx.ua` DEFAULT '',
    `price` Decimal(10, 2) `json:$.price`,
    `tags` Array(String) `json:$.tags[:]`

INDEXES >
    idx_org org_id TYPE bloom_filter GRANULARITY 4,
    idx_ua user_agent TYPE tokenbf_v1(512, 3, 0) GRANULARITY 1

ENGINE "MergeTree"
ENGINE_PARTITION_KEY "toYYYYMM(timestamp)"
ENGINE_SORTING_KEY "org_id, timestamp"
ENGINE_TTL "timestamp + toIntervalDay(60)"
"""

HITS_PIPE = """\
DESCRIPTION >
    Hits per day for one tenant

TOKEN "dashboard" READ

NODE filtered
DESCRIPTION >
    Only the tenant's rows
SQL >
    %
    SELECT toDate(timestamp) AS day, count() AS hits
    FROM page_hits
    WHERE org_id = {{ String(org_id, required=True, description="Tenant id") }}
    {% if defined(since) %}
        AND timestamp >= {{ DateTime(since) }}
    {% end %}

    GROUP BY day ORDER BY day

NODE endpoint
SQL >
    SELECT * FROM filtered LIMIT {{ Int32(limit, 100) }}
TYPE endpoint
"""


def errors(text: str, filename: str) -> DatafileError:
    with pytest.raises(DatafileError) as info:
        parse_text(text, filename)
    return info.value


# --- .datasource ------------------------------------------------------------------------------
def test_datasource_every_key() -> None:
    ds = parse_text(PAGE_HITS, "page_hits.datasource")
    assert isinstance(ds, DatasourceFile)
    assert ds.name == "page_hits"
    assert ds.description == "Raw page hits\n(one row per hit)"
    assert ds.tokens == [TokenRef("app_read", "READ"), TokenRef("ingest", "APPEND")]
    assert ds.tags == ["web", "raw"]
    assert ds.schema == [
        "`timestamp` DateTime `json:$.timestamp`",
        "`org_id` String `json:$.org_id`",
        "`user_agent` String `json:$.ctx.ua` DEFAULT ''",
        "`price` Decimal(10, 2) `json:$.price`",
        "`tags` Array(String) `json:$.tags[:]`",
    ]
    assert ds.column_names() == ["timestamp", "org_id", "user_agent", "price", "tags"]
    assert ds.has_jsonpaths
    assert ds.indexes == [
        "idx_org org_id TYPE bloom_filter GRANULARITY 4",
        "idx_ua user_agent TYPE tokenbf_v1(512, 3, 0) GRANULARITY 1",
    ]
    assert ds.engine == {
        "engine": "MergeTree",
        "engine_partition_key": "toYYYYMM(timestamp)",
        "engine_sorting_key": "org_id, timestamp",
        "engine_ttl": "timestamp + toIntervalDay(60)",
    }


def test_datasource_all_engine_keys_and_extras() -> None:
    text = """\
# a comment at column 0
schema >
    id UInt64,
    v Int8,
    ver UInt32,
    deleted UInt8
engine ReplacingMergeTree
ENGINE_SORTING_KEY id
ENGINE_PARTITION_KEY 'tuple()'
ENGINE_PRIMARY_KEY "id"
ENGINE_SAMPLING_KEY "id"
ENGINE_TTL "toDate(ver) + 1"
ENGINE_VER "ver"
ENGINE_SIGN "v"
ENGINE_VERSION "ver"
ENGINE_IS_DELETED "deleted"
ENGINE_SUMMING_COLUMNS "v"
ENGINE_SETTINGS "index_granularity = 8192"
VERSION 3
KAFKA_TOPIC events
FORWARD_QUERY >
    SELECT id, v
"""
    ds = parse_text(text, "r.datasource")
    assert isinstance(ds, DatasourceFile)
    assert ds.schema == ["id UInt64", "v Int8", "ver UInt32", "deleted UInt8"]
    assert not ds.has_jsonpaths
    assert ds.engine["engine"] == "ReplacingMergeTree"
    assert ds.engine["engine_partition_key"] == "tuple()"
    assert ds.engine["engine_settings"] == "index_granularity = 8192"
    assert len(ds.engine) == 12
    assert ds.extra == {"VERSION": "3", "KAFKA_TOPIC": "events", "FORWARD_QUERY": "SELECT id, v"}
    assert parse_text(render(ds), "r.datasource") == ds


def test_datasource_single_line_description_and_multiline_column() -> None:
    text = "DESCRIPTION one line\nSCHEMA >\n    `a` Nullable(\n        String\n    ),\n    `b` Map(String, UInt8)\n"
    ds = parse_datasource(text, "d")
    assert ds.description == "one line"
    assert ds.schema == ["`a` Nullable( String )", "`b` Map(String, UInt8)"]


def test_schema_commas_inside_quotes_are_not_separators() -> None:
    ds = parse_datasource("SCHEMA >\n    `a` String DEFAULT 'x, y',\n    `b` Enum8('p,q' = 1, 'r' = 2)\n", "d")
    assert ds.schema == ["`a` String DEFAULT 'x, y'", "`b` Enum8('p,q' = 1, 'r' = 2)"]


# --- .pipe ------------------------------------------------------------------------------------
def test_pipe_nodes_templates_verbatim() -> None:
    pipe = parse_text(HITS_PIPE, "hits.pipe")
    assert isinstance(pipe, PipeFile)
    assert pipe.description == "Hits per day for one tenant"
    assert pipe.tokens == [TokenRef("dashboard", "READ")]
    assert [n.name for n in pipe.nodes] == ["filtered", "endpoint"]
    first, last = pipe.nodes
    assert first.description == "Only the tenant's rows"
    assert first.type is None
    assert first.sql == (
        "%\n"
        "SELECT toDate(timestamp) AS day, count() AS hits\n"
        "FROM page_hits\n"
        'WHERE org_id = {{ String(org_id, required=True, description="Tenant id") }}\n'
        "{% if defined(since) %}\n"
        "    AND timestamp >= {{ DateTime(since) }}\n"
        "{% end %}\n"
        "\n"
        "GROUP BY day ORDER BY day"
    )
    assert last.type == "endpoint"
    assert pipe.endpoint_node is last


def test_pipe_materialized_and_copy_nodes() -> None:
    text = """\
NODE mv
SQL >
    SELECT toDate(timestamp) AS day, countState() AS c FROM page_hits GROUP BY day
TYPE Materialized
DATASOURCE hits_daily
ENGINE "AggregatingMergeTree"
ENGINE_SORTING_KEY "day"

NODE cp
SQL > SELECT * FROM page_hits
TYPE COPY
TARGET_DATASOURCE hits_copy
COPY_SCHEDULE 0 * * * *
COPY_MODE append
"""
    pipe = parse_pipe(text, "daily")
    mv, cp = pipe.nodes
    assert mv == Node(name="mv", sql="SELECT toDate(timestamp) AS day, countState() AS c FROM page_hits GROUP BY day",
                      type="materialized", datasource="hits_daily",
                      engine={"engine": "AggregatingMergeTree", "engine_sorting_key": "day"})
    assert cp.type == "copy"
    assert cp.sql == "SELECT * FROM page_hits"
    assert cp.extra == {"TARGET_DATASOURCE": "hits_copy", "COPY_SCHEDULE": "0 * * * *", "COPY_MODE": "append"}
    assert parse_pipe(render(pipe), "daily") == pipe


def test_pipe_datasource_without_type_is_materialized() -> None:
    pipe = parse_pipe("NODE mv\nSQL >\n    SELECT 1 AS x\nDATASOURCE target\n", "p")
    assert pipe.nodes[0].type == "materialized"


# --- .token -----------------------------------------------------------------------------------
def test_token_groups() -> None:
    text = """\
DESCRIPTION >
    Read access for user 7

SCOPE DATASOURCES:READ
RESOURCE events
FILTER >
    user_id = 7
    AND event_type != 'internal'

SCOPE 'PIPES:READ'
RESOURCE "ecommerce_example"

SCOPE DATASOURCES:APPEND,DATASOURCES:DROP
RESOURCE events

SCOPE PIPES:READ:top_pages:org = 'a:b'

SCOPE TOKENS
"""
    tok = parse_text(text, "user_7.token")
    assert isinstance(tok, TokenFile)
    assert tok.description == "Read access for user 7"
    assert tok.scopes == [
        TokenScope("DATASOURCES:READ", "events", "user_id = 7\nAND event_type != 'internal'"),
        TokenScope("PIPES:READ", "ecommerce_example"),
        TokenScope("DATASOURCES:APPEND", "events"),
        TokenScope("DATASOURCES:DROP", "events"),
        TokenScope("PIPES:READ", "top_pages", "org = 'a:b'"),
        TokenScope("TOKENS"),
    ]
    assert tok.scopes[4].to_string() == "PIPES:READ:top_pages:org = 'a:b'"
    assert parse_text(render(tok), "user_7.token") == tok


def test_token_single_line_filter_keeps_quotes() -> None:
    tok = parse_token("SCOPE DATASOURCES:READ\nRESOURCE events\nFILTER 'a' = 'a'\n", "t")
    assert tok.scopes == [TokenScope("DATASOURCES:READ", "events", "'a' = 'a'")]


# --- errors -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("filename", "text", "line", "words"),
    [
        ("d.datasource", "SCHEMA >\n    a String\n  ENGINE \"MergeTree\"\n", 3, "is indented, so it is read as part"),
        ("p.pipe", "NODE a\nSQL >\n\n    SELECT 1\n\n    TYPE endpoint\n", 6, "'TYPE endpoint' is indented"),
        ("p.pipe", "NODE a\nSQL > SELECT 1\n\n    FROM t\n    TYPE endpoint\n", 5, "'TYPE endpoint' is indented"),
        ("d.datasource", "DESCRIPTION x\n    indented\n", 2, "unexpected indented line"),
        ("d.datasource", "DESCRIPTION x\n\nFOO bar\n", 3, "unknown key FOO"),
        ("d.datasource", "DESCRIPTION x\n", 1, "needs a SCHEMA"),
        ("d.datasource", "SCHEMA >\n    a String,\n    b Int8,\n", 3, "ends with a comma"),
        ("d.datasource", "SCHEMA >\n    a String,\n\n    b Array(Int8,\n", 4, "unbalanced '('"),
        ("d.datasource", "SCHEMA >\n    a String,\n    b\n", 3, "column 'b' has no type"),
        ("d.datasource", "SCHEMA >\n    a String,,\n", 2, "empty column"),
        ("d.datasource", "SCHEMA >\n    `a` String DEFAULT 'x\n", 2, "unclosed '"),
        ("d.datasource", "SCHEMA >\n\nENGINE x\n", 1, "SCHEMA > needs a value"),
        ("d.datasource", "SCHEMA >\n    a String\nENGINE_FOO x\n", 3, "unknown engine key ENGINE_FOO"),
        ("d.datasource", "SCHEMA >\n    a String\nENGINE_SORTING_KEY a\n", 3, "need an ENGINE line"),
        ("d.datasource", "SCHEMA >\n    a String\nTOKEN t WRITE\n", 3, "READ or APPEND"),
        ("d.datasource", "SCHEMA >\n    a String\nTOKEN t\n", 3, "TOKEN needs a name and a permission"),
        ("d.datasource", "SCHEMA >\n    a String\nSCHEMA >\n    b String\n", 3, "given twice (first at line 1)"),
        ("d.datasource", "SCHEMA >\n    a String\nNODE x\n", 3, "belongs in a .pipe file"),
        ("d.datasource", "INCLUDE \"x.incl\"\n", 1, "INCLUDE is not supported"),
        ("bad-name.datasource", "SCHEMA >\n    a String\n", 1, "invalid data source name"),
        ("p.pipe", "SQL >\n    SELECT 1\n", 1, "must follow a NODE"),
        ("p.pipe", "DESCRIPTION x\n", 1, "at least one NODE"),
        ("p.pipe", "NODE a\nDESCRIPTION >\n    x\n\nNODE b\nSQL >\n    SELECT 1\n", 1, "node 'a' has no SQL"),
        ("p.pipe", "NODE a\nSQL >\n    SELECT 1\nTYPE view\n", 4, "unknown node TYPE 'view'"),
        ("p.pipe", "NODE a\nSQL >\n    SELECT 1\nTYPE endpoint\nNODE b\nSQL >\n    SELECT 2\nTYPE endpoint\n", 8,
         "one endpoint node; another is at line 4"),
        ("p.pipe", "NODE a\nSQL >\n    SELECT 1\nNODE a\nSQL >\n    SELECT 2\n", 4, "defined twice"),
        ("p.pipe", "NODE p\nSQL >\n    SELECT 1\n", 1, "same name as its pipe"),
        ("p.pipe", "NODE a\nSQL >\n    SELECT 1\nTYPE materialized\n", 1, "needs DATASOURCE"),
        ("p.pipe", "NODE a\nSQL >\n    SELECT 1\nTYPE endpoint\nDATASOURCE x\n", 1, "only for TYPE materialized"),
        ("p.pipe", "NODE a\nSQL >\n    SELECT 1\nTOKEN t APPEND\n", 4, "permission must be READ"),
        ("p.pipe", "NODE a\nSQL >\n    SELECT 1\nSQL >\n    SELECT 2\n", 4, "SQL is given twice in node 'a'"),
        ("p.pipe", "NODE a\nSQL >\n    SELECT 1\nWHATEVER 1\n", 4, "unknown key WHATEVER in node 'a'"),
        ("t.token", "RESOURCE x\n", 1, "must follow a SCOPE"),
        ("t.token", "DESCRIPTION x\n", 1, "at least one SCOPE"),
        ("t.token", "SCOPE DATASOURCES:READ\n", 1, "needs a RESOURCE"),
        ("t.token", "SCOPE DATASOURCES:APPEND\nRESOURCE e\nFILTER a = 1\n", 3, "only applies to READ scopes"),
        ("t.token", "SCOPE ADMIN\nRESOURCE e\n", 2, "does not take a RESOURCE"),
        ("t.token", "SCOPE NOPE:READ\n", 1, "unknown scope 'NOPE'"),
        ("t.token", "SCOPE PIPES:READ:p\nRESOURCE q\n", 2, "already names its resource"),
        ("x.txt", "", 0, "not a datafile"),
    ],
)
def test_errors_name_file_and_line(filename: str, text: str, line: int, words: str) -> None:
    err = errors(text, filename)
    assert (err.file, err.line) == (filename, line), str(err)
    assert words in err.message
    assert str(err) == f"{filename}:{line}: {err.message}"


def test_parse_file_missing_and_not_utf8(tmp_path: Path) -> None:
    with pytest.raises(DatafileError, match="no such file"):
        parse_file(tmp_path / "nope.datasource")
    bad = tmp_path / "bin.pipe"
    bad.write_bytes(b"NODE a\nSQL >\n    SELECT '\xff'\n")
    with pytest.raises(DatafileError) as info:
        parse_file(bad)
    assert str(info.value).startswith(f"{bad}:1: not UTF-8")


def test_parse_file_uses_the_path_in_errors(tmp_path: Path) -> None:
    f = tmp_path / "hits.pipe"
    f.write_text("NODE a\nSQL >\n    SELECT 1\nTYPE nope\n")
    with pytest.raises(DatafileError) as info:
        parse_file(f)
    assert str(info.value) == f"{f}:4: unknown node TYPE 'nope': use endpoint, materialized, copy or sink"


def test_crlf_line_endings() -> None:
    pipe = parse_pipe("NODE a\r\nSQL >\r\n    SELECT 1\r\n    FROM t\r\nTYPE endpoint\r\n", "p")
    assert pipe.nodes[0].sql == "SELECT 1\nFROM t"


# --- round trips ------------------------------------------------------------------------------
@pytest.mark.parametrize(("text", "filename"), [(PAGE_HITS, "page_hits.datasource"), (HITS_PIPE, "hits.pipe")])
def test_round_trip_examples(text: str, filename: str) -> None:
    obj = parse_text(text, filename)
    again = parse_text(render(obj), filename)
    assert again == obj
    assert render(again) == render(obj)


def test_render_is_canonical() -> None:
    ds = DatasourceFile(name="e", description="Events", schema=["`a` String `json:$.a`"],
                        engine={"engine_sorting_key": "a", "engine": "MergeTree"}, tokens=[TokenRef("r", "READ")])
    assert render(ds) == (
        'DESCRIPTION >\n    Events\n\nTOKEN "r" READ\n\nSCHEMA >\n    `a` String `json:$.a`\n\n'
        'ENGINE "MergeTree"\nENGINE_SORTING_KEY "a"\n'
    )
    tok = TokenFile(name="t", scopes=[TokenScope("DATASOURCES:READ", "e", "a = 'x'"), TokenScope("ADMIN")])
    assert render(tok) == "SCOPE DATASOURCES:READ\nRESOURCE e\nFILTER >\n    a = 'x'\n\nSCOPE ADMIN\n"


_ident = st.from_regex(r"[a-z_][a-z0-9_]{0,12}", fullmatch=True)
_line_chars = string.ascii_letters + string.digits + " '\"`()[]{}%,.:=<>!#*+-/_$"
_line = st.text(alphabet=_line_chars, min_size=1, max_size=40).map(str.strip).filter(bool)
_single = st.text(alphabet=_line_chars, min_size=1, max_size=30).map(str.strip).filter(bool)


@st.composite
def _block(draw: st.DrawFn) -> str:
    """Text as a block keeps it: no trailing spaces, no blank first/last line, one line not indented."""
    first = draw(_line)
    rest = draw(st.lists(st.tuples(st.sampled_from(["", "  ", "    "]), st.one_of(_line, st.just(""))), max_size=5))
    lines = [first] + [(ind + ln) if ln else "" for ind, ln in rest]
    while lines and not lines[-1].strip():
        lines.pop()
    return "\n".join(lines)


@settings(max_examples=150, deadline=None)
@given(
    name=_ident,
    description=st.one_of(st.none(), _block()),
    columns=st.lists(st.tuples(_ident, st.sampled_from(["String", "Int32", "Array(String)", "Decimal(10, 2)"]),
                               st.booleans()), min_size=1, max_size=5, unique_by=lambda c: c[0]),
    engine=st.dictionaries(st.sampled_from(["engine_sorting_key", "engine_ttl", "engine_settings"]), _single),
    tokens=st.lists(st.tuples(_ident, st.sampled_from(["READ", "APPEND"])), max_size=3),
)
def test_round_trip_datasource_property(name: str, description: str | None, columns: list[tuple[str, str, bool]],
                                        engine: dict[str, str], tokens: list[tuple[str, str]]) -> None:
    schema = [f"`{c}` {t}" + (f" `json:$.{c}`" if j else "") for c, t, j in columns]
    ds = DatasourceFile(name="d" + name, description=description, schema=schema,
                        engine={"engine": "MergeTree", **engine} if engine else {},
                        tokens=[TokenRef(n, p) for n, p in tokens])
    assert parse_datasource(render(ds), ds.name) == ds


@settings(max_examples=150, deadline=None)
@given(
    description=st.one_of(st.none(), _block()),
    nodes=st.lists(st.tuples(_ident, _block(), st.one_of(st.none(), _block()),
                             st.sampled_from([None, "endpoint", "copy", "sink"])),
                   min_size=1, max_size=4, unique_by=lambda n: n[0]),
    tags=st.lists(_ident, max_size=3),
)
def test_round_trip_pipe_property(description: str | None, nodes: list[tuple[str, str, str | None, str | None]],
                                  tags: list[str]) -> None:
    seen_endpoint = False
    built = []
    for n, sql, desc, t in nodes:
        if t == "endpoint":
            if seen_endpoint:
                t = None
            seen_endpoint = True
        built.append(Node(name="n_" + n, sql=sql, description=desc, type=t))
    pipe = PipeFile(name="the_pipe", description=description, nodes=built, tags=tags)
    assert parse_pipe(render(pipe), "the_pipe") == pipe


@settings(max_examples=150, deadline=None)
@given(
    description=st.one_of(st.none(), _block()),
    scopes=st.lists(st.one_of(
        st.builds(TokenScope, st.sampled_from(["DATASOURCES:READ", "PIPES:READ"]), _ident,
                  st.one_of(st.none(), _block())),
        st.builds(TokenScope, st.sampled_from(["DATASOURCES:APPEND", "PIPES:DROP"]), _ident),
        st.builds(TokenScope, st.sampled_from(["ADMIN", "TOKENS", "PIPES:CREATE"])),
    ), min_size=1, max_size=5, unique=True),
)
def test_round_trip_token_property(description: str | None, scopes: list[TokenScope]) -> None:
    tok = TokenFile(name="user 1", description=description, scopes=scopes)
    assert parse_token(render(tok), "user 1") == tok
