"""``roost push`` of pipes and tokens, ``roost pipe``, ``roost token``, ``roost pull`` against a real server.

These need the Pipes (/v0/pipes), Tokens (/v0/tokens) and Query (/v0/sql) APIs of the server.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from roost.datafiles import parse_file
from tests.support.server import RoostServer
from tests.test_cli import CLI, ndjson, one_error_line


@pytest.fixture()
def cli(server: RoostServer, capsys: pytest.CaptureFixture[str]) -> CLI:
    return CLI(server, capsys)


def project(folder: Path, u: str, min_default: int = 0) -> Path:
    files = {
        f"datasources/ev_{u}.datasource": f"""\
TOKEN "append_{u}" APPEND

SCHEMA >
    `user_id` UInt32 `json:$.user_id`,
    `event` String `json:$.event`,
    `price` Float64 `json:$.price`

ENGINE "MergeTree"
ENGINE_SORTING_KEY "user_id"
""",
        f"pipes/top_{u}.pipe": f"""\
DESCRIPTION >
    Spend per user

TOKEN "reader_{u}" READ

NODE filtered
SQL >
    %
    SELECT user_id, price FROM ev_{u}
    WHERE price >= {{{{ Float64(min_price, {min_default}) }}}}

NODE endpoint
SQL >
    SELECT user_id, count() AS n, sum(price) AS spend FROM filtered GROUP BY user_id ORDER BY user_id
TYPE endpoint
""",
        f"tokens/user_{u}.token": f"""\
DESCRIPTION >
    what user 1 may read

SCOPE DATASOURCES:READ
RESOURCE ev_{u}
FILTER >
    user_id = 1

SCOPE PIPES:READ
RESOURCE top_{u}
""",
    }
    for name, text in files.items():
        p = folder / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    return folder


def tokens_by_name(cli: CLI) -> dict[str, dict[str, Any]]:
    code, out, err = cli("token", "ls", "--show-values", "--format", "json")
    assert code == 0, err
    return {t["name"]: t for t in json.loads(out)}


@pytest.fixture()
def pushed(cli: CLI, unique: str, tmp_path: Path) -> tuple[str, Path]:
    folder = project(tmp_path / "proj", unique)
    code, out, err = cli("push", str(folder), "--format", "json")
    assert code == 0, err
    assert [(r["kind"], r["action"]) for r in json.loads(out)] == [
        ("datasource", "created"), ("pipe", "created"), ("token", "created"), ("token", "created"),
        ("token", "created")]
    assert cli("datasource", "append", f"ev_{unique}", str(ndjson(tmp_path / "rows.ndjson", 30, users=3)))[0] == 0
    return unique, folder


def test_push_is_idempotent(cli: CLI, pushed: tuple[str, Path]) -> None:
    u, folder = pushed
    rows = cli.json("push", str(folder))
    assert isinstance(rows, list) and {r["action"] for r in rows} == {"unchanged"}, rows


def test_push_creates_datafile_tokens(cli: CLI, pushed: tuple[str, Path]) -> None:
    u, _ = pushed
    toks = tokens_by_name(cli)
    scopes = {name: sorted((s["type"], s.get("resource"), s.get("filter") or None) for s in toks[name]["scopes"])
              for name in (f"append_{u}", f"reader_{u}", f"user_{u}")}
    assert scopes[f"append_{u}"] == [("DATASOURCES:APPEND", f"ev_{u}", None)]
    assert scopes[f"reader_{u}"] == [("PIPES:READ", f"top_{u}", None)]
    assert scopes[f"user_{u}"] == [("DATASOURCES:READ", f"ev_{u}", "user_id = 1"), ("PIPES:READ", f"top_{u}", None)]


def test_pipe_ls_and_data(cli: CLI, pushed: tuple[str, Path]) -> None:
    u, _ = pushed
    pipes = cli.json("pipe", "ls")
    assert isinstance(pipes, list) and f"top_{u}" in [p["name"] for p in pipes]
    code, out, err = cli("pipe", "ls")
    assert code == 0 and f"top_{u}" in out
    body = cli.json("pipe", "data", f"top_{u}")
    assert isinstance(body, dict)
    assert [r["n"] for r in body["data"]] == [10, 10, 10]
    body = cli.json("pipe", "data", f"top_{u}", "--param", "min_price=2")
    assert isinstance(body, dict) and sum(r["n"] for r in body["data"]) == 10  # prices 2.0 .. 2.9
    code, out, err = cli("pipe", "data", f"top_{u}", "--format", "csv")
    assert code == 0 and out.splitlines()[0].replace('"', "") == "user_id,n,spend"
    code, out, err = cli("pipe", "data", f"top_{u}", "--query", "SELECT count() AS c FROM _")
    assert code == 0 and "c" in out and "1 row" in err
    code, out, err = cli("pipe", "data", f"top_{u}", "--param", "min_price=abc")
    assert code == 1 and one_error_line(err)
    code, out, err = cli("pipe", "data", f"nope_{u}")
    assert code == 1 and one_error_line(err)


def test_token_ls_masks_values(cli: CLI, pushed: tuple[str, Path]) -> None:
    u, _ = pushed
    full = tokens_by_name(cli)[f"user_{u}"]["token"]
    assert full.startswith("p.")
    code, out, err = cli("token", "ls")
    assert code == 0 and f"user_{u}" in out
    assert full not in out and f"p.ey…{full[-8:]}" in out
    code, out, err = cli("token", "ls", "--format", "json")
    assert full not in out
    code, out, err = cli("token", "ls", "--format", "csv")
    assert full not in out and out.splitlines()[0] == "name,description,scopes,token"


def test_user_token_sees_only_its_rows(cli: CLI, pushed: tuple[str, Path]) -> None:
    u, _ = pushed
    value = tokens_by_name(cli)[f"user_{u}"]["token"]
    code, out, err = cli("pipe", "data", f"top_{u}", "--format", "json", token=value)
    assert code == 0, err
    assert [r["user_id"] for r in json.loads(out)["data"]] == [1]
    code, out, err = cli("sql", f"SELECT count() AS c FROM ev_{u}", "--format", "json", token=value)
    assert code == 0, err
    assert json.loads(out)["data"] == [{"c": 10}]
    code, out, err = cli("token", "ls", token=value)
    assert code == 1 and "403" in one_error_line(err)


def test_token_lifecycle(cli: CLI, pushed: tuple[str, Path]) -> None:
    u, _ = pushed
    name = f"app_{u}"
    code, out, err = cli("token", "create", name, "--scope", f"PIPES:READ:top_{u}", "--description", "app")
    assert code == 0, err
    value = out.strip()
    assert value.startswith("p.") and "\n" not in value and f"Created token {name}" in err
    assert cli("pipe", "data", f"top_{u}", token=value)[0] == 0

    code, out, err = cli("token", "update", name, "--scope", f"DATASOURCES:READ:ev_{u}:user_id = 2")
    assert code == 0, err
    assert value not in out
    code, out, err = cli("pipe", "data", f"top_{u}", token=value)
    assert code == 1 and "403" in one_error_line(err)
    code, out, err = cli("sql", f"SELECT DISTINCT user_id FROM ev_{u}", "--format", "json", token=value)
    assert code == 0 and json.loads(out)["data"] == [{"user_id": 2}], err
    # update without --scope keeps the scopes
    assert cli("token", "update", name, "--description", "renamed later")[0] == 0
    assert tokens_by_name(cli)[name]["scopes"][0]["filter"] == "user_id = 2"

    code, out, err = cli("token", "refresh", name)
    assert code == 0, err
    new_value = out.strip()
    assert new_value.startswith("p.") and new_value != value
    assert cli("sql", "SELECT 1", token=value)[0] == 1
    assert cli("sql", f"SELECT count() FROM ev_{u}", token=new_value)[0] == 0

    code, out, err = cli("token", "rm", name)
    assert (code, out.strip()) == (0, f"Removed token {name}")
    assert cli("sql", "SELECT 1", token=new_value)[0] == 1
    code, out, err = cli("token", "rm", name)
    assert code == 1 and "404" in one_error_line(err)


def test_jwt(cli: CLI, pushed: tuple[str, Path]) -> None:
    u, _ = pushed
    code, out, err = cli("token", "jwt", f"jwt_{u}", "--pipe", f"top_{u}", "--ttl", "1h", "--rps", "50")
    assert code == 0, err
    jwt = out.strip()
    assert jwt.count(".") == 2 and not jwt.startswith("p.")
    code, out, err = cli("pipe", "data", f"top_{u}", "--format", "json", token=jwt)
    assert code == 0, err
    assert len(json.loads(out)["data"]) == 3
    # fixed params win over the URL
    code, out, err = cli("token", "jwt", f"jwt2_{u}", "--pipe", f"top_{u}", "--fixed-param", "min_price=2.5",
                         "--ttl", "10m")
    assert code == 0, err
    body = cli.json("pipe", "data", f"top_{u}", "--param", "min_price=0")
    assert isinstance(body, dict)
    code, out, err = cli("pipe", "data", f"top_{u}", "--param", "min_price=0", "--format", "json",
                         token=out.strip())
    assert code == 0, err
    assert sum(r["n"] for r in json.loads(out)["data"]) == 5  # 2.5 .. 2.9
    # a data source filter
    code, out, err = cli("token", "jwt", f"jwt3_{u}", "--filter", f"ev_{u}:user_id = 0", "--ttl", "60")
    assert code == 0, err
    code, out, err = cli("sql", f"SELECT DISTINCT user_id FROM ev_{u}", "--format", "json", token=out.strip())
    assert code == 0 and json.loads(out)["data"] == [{"user_id": 0}], err


def test_pull_pipes_and_tokens_then_push_back(cli: CLI, pushed: tuple[str, Path], tmp_path: Path) -> None:
    u, folder = pushed
    out_dir = tmp_path / "pulled"
    code, out, err = cli("pull", "--folder", str(out_dir))
    assert code == 0, err
    assert "warning" not in err
    pipe_file = out_dir / "pipes" / f"top_{u}.pipe"
    token_file = out_dir / "tokens" / f"user_{u}.token"
    assert parse_file(pipe_file) == parse_file(folder / "pipes" / f"top_{u}.pipe").__class__(
        **{**parse_file(folder / "pipes" / f"top_{u}.pipe").__dict__, "tokens": []})
    assert parse_file(token_file) == parse_file(folder / "tokens" / f"user_{u}.token")
    assert not (out_dir / "tokens" / "admin token.token").exists()
    mine = [out_dir / "datasources" / f"ev_{u}.datasource", pipe_file, token_file,
            out_dir / "tokens" / f"reader_{u}.token", out_dir / "tokens" / f"append_{u}.token"]
    rows = cli.json("push", *map(str, mine))
    assert isinstance(rows, list) and {r["action"] for r in rows} == {"unchanged"}, rows


def test_push_force_replaces_a_changed_pipe(cli: CLI, pushed: tuple[str, Path], tmp_path: Path) -> None:
    u, folder = pushed
    project(folder, u, min_default=2)
    code, out, err = cli("push", str(folder))
    assert code == 1
    assert f'pipe "top_{u}" already exists' in one_error_line(err) and "use --force" in err
    code, out, err = cli("push", str(folder), "--force", "--format", "json")
    assert code == 0, err
    assert ("pipe", "replaced") in [(r["kind"], r["action"]) for r in json.loads(out)]
    body = cli.json("pipe", "data", f"top_{u}")
    assert isinstance(body, dict) and sum(r["n"] for r in body["data"]) == 10
    # the reader token still reads the replaced pipe
    reader = tokens_by_name(cli)[f"reader_{u}"]["token"]
    assert cli("pipe", "data", f"top_{u}", token=reader)[0] == 0
    code, out, err = cli("pipe", "rm", f"top_{u}", "--yes")
    assert (code, out.strip()) == (0, f"Removed pipe top_{u}")
    assert cli("pipe", "data", f"top_{u}")[0] == 1
