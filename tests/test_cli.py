"""The ``roost`` client commands against a real server (the ``server`` fixture): output, exit codes, errors.

Commands run in-process through ``roost.cli.main`` (stdout/stderr captured), and a few as a
subprocess (``python -m roost.cli``) to check the environment variables end to end.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from roost.cli import main
from roost.client import ConfigError, RoostClient, resolve_connection
from roost.datafiles import parse_file
from roost.datafiles.push import canonical_columns
from tests.support.server import RoostServer, free_port


class CLI:
    def __init__(self, server: RoostServer, capsys: pytest.CaptureFixture[str]) -> None:
        self.server = server
        self.capsys = capsys

    def __call__(self, *args: str, token: str | None = None, host: str | None = None) -> tuple[int, str, str]:
        self.capsys.readouterr()
        code = main([*args, "--host", host or self.server.url, "--token", token or self.server.admin_token])
        out = self.capsys.readouterr()
        assert "Traceback" not in out.err
        return code, out.out, out.err

    def json(self, *args: str) -> object:
        code, out, err = self(*args, "--format", "json")
        assert code == 0, err
        return json.loads(out)


@pytest.fixture()
def cli(server: RoostServer, capsys: pytest.CaptureFixture[str]) -> CLI:
    return CLI(server, capsys)


def one_error_line(err: str) -> str:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("error: "), err
    return lines[0]


def datasource_file(folder: Path, name: str, extra_column: bool = False, sorting_key: str = "user_id") -> Path:
    cols = ["`user_id` UInt32 `json:$.user_id`", "`event` String `json:$.event`", "`price` Float64 `json:$.price`"]
    if extra_column:
        cols.append("`country` String `json:$.country` DEFAULT 'xx'")
    text = ("DESCRIPTION >\n    Shop events\n\nSCHEMA >\n" + ",\n".join("    " + c for c in cols)
            + f'\n\nENGINE "MergeTree"\nENGINE_SORTING_KEY "{sorting_key}"\nENGINE_PARTITION_KEY "user_id % 4"\n')
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.datasource"
    path.write_text(text)
    return path


def ndjson(path: Path, n: int, users: int = 5) -> Path:
    with open(path, "w") as f:
        for i in range(n):
            f.write(json.dumps({"user_id": i % users, "event": "buy" if i % 2 else "view", "price": i / 10}) + "\n")
    return path


# --- connection -------------------------------------------------------------------------------
def test_connection_precedence(tmp_path: Path) -> None:
    (tmp_path / "admin-token").write_text("p.fromfile\n")
    env = {"ROOST_DATA_DIR": str(tmp_path), "ROOST_PORT": "9999"}
    assert resolve_connection(env=env) == resolve_connection(None, None, env)
    c = resolve_connection(env=env)
    assert (c.host, c.token, c.token_source) == ("http://127.0.0.1:9999", "p.fromfile", str(tmp_path / "admin-token"))
    env |= {"ROOST_HOST": "0.0.0.0", "ROOST_TOKEN": "p.env"}
    c = resolve_connection(env=env)
    assert (c.host, c.token) == ("http://127.0.0.1:9999", "p.env")
    c = resolve_connection("https://roost.example.com/", "p.flag", env)
    assert (c.host, c.token, c.token_source) == ("https://roost.example.com", "p.flag", "--token")
    with pytest.raises(ConfigError, match="no token"):
        resolve_connection(env={"ROOST_DATA_DIR": str(tmp_path / "empty")})
    with pytest.raises(ConfigError, match="invalid host"):
        resolve_connection("ftp://x", "t", {})


# --- workspace --------------------------------------------------------------------------------
def test_workspace(cli: CLI) -> None:
    code, out, err = cli("workspace")
    assert code == 0, err
    assert "workspace" in out and cli.server.url in out and "admin" in out
    ws = cli.json("workspace")
    assert isinstance(ws, dict)
    assert ws["host"] == cli.server.url and ws["name"] and ws["id"]


def test_env_and_data_dir_connection_in_a_subprocess(server: RoostServer, tmp_path: Path) -> None:
    base = {k: v for k, v in os.environ.items() if not k.startswith("ROOST_")}
    cmd = [sys.executable, "-m", "roost.cli", "workspace", "--format", "json"]
    r = subprocess.run(cmd, env={**base, "ROOST_HOST": server.url, "ROOST_TOKEN": server.admin_token},
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["host"] == server.url
    # no host or token: the local data dir's admin token and ROOST_PORT
    r = subprocess.run(cmd, env={**base, "ROOST_DATA_DIR": str(server.data_dir), "ROOST_PORT": str(server.port)},
                       capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    # a bad token: the server refuses (403) -> exit 1, one line
    r = subprocess.run(cmd, env={**base, "ROOST_HOST": server.url, "ROOST_TOKEN": "p.nope"},
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 1
    assert one_error_line(r.stderr) == "error: invalid authentication token (HTTP 403)"


# --- data sources -----------------------------------------------------------------------------
def test_datasource_ls_append_truncate_rm(cli: CLI, unique: str, tmp_path: Path) -> None:
    ds = f"ev_{unique}"
    code, out, err = cli("push", str(datasource_file(tmp_path, ds)))
    assert code == 0, err
    code, out, err = cli("datasource", "append", ds, str(ndjson(tmp_path / "a.ndjson", 120)))
    assert (code, out.strip()) == (0, f"Appended 120 rows to {ds}"), err
    items = cli.json("datasource", "ls")
    assert isinstance(items, list)
    mine = next(d for d in items if d["name"] == ds)
    assert mine["statistics"]["row_count"] == 120
    code, out, err = cli("datasource", "ls", "--format", "csv")
    assert out.splitlines()[0] == "name,rows,bytes,quarantine_rows,engine,updated_at"
    assert any(line.startswith(f"{ds},120,") for line in out.splitlines())
    code, out, err = cli("datasource", "ls")
    assert code == 0 and ds in out and "quarantine" in out

    # a bad row goes to quarantine: still exit 0, with a warning on stderr
    bad = tmp_path / "bad.ndjson"
    bad.write_text('{"user_id": 1, "event": "x", "price": 1}\n{"user_id": "not a number", "event": "x"}\n')
    code, out, err = cli("datasource", "append", ds, str(bad))
    assert code == 0
    assert out.strip() == f"Appended 1 rows to {ds}"
    assert f"1 rows went to {ds}_quarantine" in err

    # truncate without --yes and without a terminal: a usage error
    code, out, err = cli("datasource", "truncate", ds)
    assert code == 2 and "pass --yes" in one_error_line(err)
    code, out, err = cli("datasource", "truncate", ds, "--yes")
    assert (code, out.strip()) == (0, f"Truncated {ds}")
    with RoostClient(cli.server.url, cli.server.admin_token) as c:
        assert c.datasource(ds)["statistics"]["row_count"] == 0

    code, out, err = cli("datasource", "rm", ds, "--yes")
    assert (code, out.strip()) == (0, f"Removed data source {ds}")
    code, out, err = cli("datasource", "rm", ds, "--yes")
    assert code == 1
    assert one_error_line(err) == f'error: Data Source "{ds}" does not exist (HTTP 404)'


def test_append_streams_with_progress(server: RoostServer, unique: str, tmp_path: Path, cli: CLI) -> None:
    ds = f"big_{unique}"
    assert cli("push", str(datasource_file(tmp_path, ds)))[0] == 0
    path = ndjson(tmp_path / "big.ndjson", 60_000, users=100)
    size = path.stat().st_size
    assert size > 2 * (1 << 20)
    seen: list[int] = []
    with RoostClient(server.url, server.admin_token) as c:
        res = c.append(ds, path, "ndjson", progress=seen.append)
    assert res["successful_rows"] == 60_000
    assert sum(seen) == size and len(seen) >= 3


def test_append_csv_gz(cli: CLI, unique: str, tmp_path: Path) -> None:
    import gzip

    ds = f"gz_{unique}"
    assert cli("push", str(datasource_file(tmp_path, ds)))[0] == 0
    path = tmp_path / "rows.csv.gz"
    with gzip.open(path, "wt") as f:
        f.write("1,buy,2.5\n2,view,0\n")
    code, out, err = cli("datasource", "append", ds, str(path))
    assert (code, out.strip()) == (0, f"Appended 2 rows to {ds}"), err


def test_datasource_delete_rows(cli: CLI, unique: str, tmp_path: Path) -> None:
    ds = f"del_{unique}"
    assert cli("push", str(datasource_file(tmp_path, ds)))[0] == 0
    assert cli("datasource", "append", ds, str(ndjson(tmp_path / "d.ndjson", 50)))[0] == 0
    code, out, err = cli("datasource", "delete", ds, "--condition", "user_id = 1", "--dry-run")
    assert (code, out.strip()) == (0, f"10 rows would be deleted from {ds}"), err
    code, out, err = cli("datasource", "delete", ds, "--condition", "user_id = 1")
    assert (code, out.strip()) == (0, f"Deleted 10 rows from {ds}"), err
    with RoostClient(cli.server.url, cli.server.admin_token) as c:
        assert c.datasource(ds)["statistics"]["row_count"] == 40


# --- push / pull ------------------------------------------------------------------------------
def test_push_folder_idempotent_and_force(cli: CLI, unique: str, tmp_path: Path) -> None:
    folder = tmp_path / "project"
    ds = f"shop_{unique}"
    datasource_file(folder / "datasources", ds)
    code, out, err = cli("push", str(folder))
    assert code == 0, err
    rows = cli.json("push", str(folder))
    assert rows == [{"kind": "datasource", "name": ds, "action": "unchanged", "detail": "",
                     "file": str(folder / "datasources" / f"{ds}.datasource")}]

    datasource_file(folder / "datasources", ds, extra_column=True)
    code, out, err = cli("push", str(folder))
    assert code == 1
    assert one_error_line(err).endswith("differs (SCHEMA); use --force to alter it")
    code, out, err = cli("push", str(folder), "--force", "--dry-run")
    assert code == 0 and "would alter" in out
    code, out, err = cli("push", str(folder), "--force")
    assert code == 0 and "altered" in out, err
    with RoostClient(cli.server.url, cli.server.admin_token) as c:
        assert [col["name"] for col in c.datasource(ds)["columns"]] == ["user_id", "event", "price", "country"]
    rows = cli.json("push", str(folder))
    assert isinstance(rows, list) and rows[0]["action"] == "unchanged"

    datasource_file(folder / "datasources", ds, extra_column=True, sorting_key="event")
    code, out, err = cli("push", str(folder), "--force")
    assert code == 1
    assert "ENGINE_SORTING_KEY changed, which needs a new table" in one_error_line(err)


REFERENCE_EXAMPLE = """\
DESCRIPTION >
    Raw page hits

SCHEMA >
    `timestamp` DateTime `json:$.timestamp`,
    `org_id` String `json:$.org_id`,
    `user_agent` String `json:$.ctx.ua` DEFAULT '',
    `tags` Array(String) `json:$.tags[:]`

ENGINE "MergeTree"
ENGINE_PARTITION_KEY "toYYYYMM(timestamp)"
ENGINE_SORTING_KEY "org_id, timestamp"
ENGINE_TTL "timestamp + toIntervalDay(60)"
"""


def test_push_the_reference_example_twice(cli: CLI, unique: str, tmp_path: Path) -> None:
    """The .datasource example of reference §9 is accepted, and a second push finds it unchanged."""
    path = tmp_path / f"hits_{unique}.datasource"
    path.write_text(REFERENCE_EXAMPLE)
    code, out, err = cli("push", str(path))
    assert code == 0, err
    rows = cli.json("push", str(path))
    assert isinstance(rows, list) and rows[0]["action"] == "unchanged", rows
    line = json.dumps({"timestamp": "2026-01-01 10:00:00", "org_id": "acme", "ctx": {"ua": "curl"}, "tags": ["a"]})
    (tmp_path / "hits.ndjson").write_text(line + "\n")
    code, out, err = cli("datasource", "append", f"hits_{unique}", str(tmp_path / "hits.ndjson"))
    assert (code, out.strip()) == (0, f"Appended 1 rows to hits_{unique}"), err


def test_pull_writes_datafiles_that_push_back_unchanged(cli: CLI, unique: str, tmp_path: Path) -> None:
    ds = f"pulled_{unique}"
    src = datasource_file(tmp_path / "src", ds, extra_column=True)
    assert cli("push", str(src))[0] == 0
    out_dir = tmp_path / "pulled"
    code, out, err = cli("pull", "--folder", str(out_dir))
    assert code == 0, err
    pulled = out_dir / "datasources" / f"{ds}.datasource"
    assert pulled.exists()
    a, b = parse_file(src), parse_file(pulled)
    assert canonical_columns(a.schema) == canonical_columns(b.schema)  # type: ignore[union-attr]
    assert a.description == b.description and a.engine == b.engine  # type: ignore[union-attr]
    # pushing what was pulled changes nothing
    rows = cli.json("push", str(out_dir))
    assert isinstance(rows, list) and {r["action"] for r in rows} == {"unchanged"}
    # pulling again: files are the same; a changed file needs --force
    code, out, err = cli("pull", "--folder", str(out_dir))
    assert code == 0
    pulled.write_text("# edited\n" + pulled.read_text())
    code, out, err = cli("pull", "--folder", str(out_dir))
    assert code == 2 and "use --force to overwrite" in one_error_line(err)
    code, out, err = cli("pull", "--folder", str(out_dir), "--force")
    assert code == 0 and "overwritten" in out


# --- sql --------------------------------------------------------------------------------------
def test_sql(cli: CLI, unique: str, tmp_path: Path) -> None:
    ds = f"q_{unique}"
    assert cli("push", str(datasource_file(tmp_path, ds)))[0] == 0
    assert cli("datasource", "append", ds, str(ndjson(tmp_path / "q.ndjson", 30, users=3)))[0] == 0
    query = f"SELECT user_id, count() AS c FROM {ds} GROUP BY user_id ORDER BY user_id"
    body = cli.json("sql", query)
    assert isinstance(body, dict)
    assert body["data"] == [{"user_id": 0, "c": 10}, {"user_id": 1, "c": 10}, {"user_id": 2, "c": 10}]
    code, out, err = cli("sql", query, "--format", "csv")
    assert code == 0 and out.splitlines()[0].replace('"', "") == "user_id,c"
    code, out, err = cli("sql", query)
    assert code == 0 and "user_id" in out and "3 rows" in err
    code, out, err = cli("sql", "SELECT nope FROM")
    assert code == 1 and one_error_line(err)


# --- errors and exit codes --------------------------------------------------------------------
def test_unknown_datasource_is_exit_1(cli: CLI, tmp_path: Path) -> None:
    code, out, err = cli("datasource", "append", "no_such_ds", str(ndjson(tmp_path / "x.ndjson", 1)))
    assert code == 1
    assert one_error_line(err).startswith('error: Data Source "no_such_ds" does not exist')
    code, out, err = cli("datasource", "truncate", "no_such_ds", "--yes")
    assert code == 1 and "does not exist" in one_error_line(err)


def test_missing_file_is_exit_2(cli: CLI, tmp_path: Path) -> None:
    code, out, err = cli("datasource", "append", "whatever", str(tmp_path / "nope.csv"))
    assert (code, one_error_line(err)) == (2, f"error: {tmp_path / 'nope.csv'}: no such file")
    code, out, err = cli("push", str(tmp_path / "nope"))
    assert (code, one_error_line(err)) == (2, f"error: {tmp_path / 'nope'}: no such file or folder")


def test_bad_datafile_is_exit_2_with_file_and_line(cli: CLI, tmp_path: Path) -> None:
    bad = tmp_path / "broken.datasource"
    bad.write_text("SCHEMA >\n    `a` String,\n    `b` Array(Int8\n\nENGINE \"MergeTree\"\n")
    code, out, err = cli("push", str(tmp_path))
    assert code == 2
    assert one_error_line(err) == f"error: {bad}:3: unbalanced '(' in SCHEMA"
    assert out == ""


def test_server_down_is_exit_1(cli: CLI) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    code, out, err = cli("datasource", "ls", host=url)
    assert code == 1
    assert one_error_line(err) == f"error: cannot connect to {url}: is the server running?"


def test_usage_errors_are_exit_2(cli: CLI, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["datasource", "delete", "x"])  # --condition is required
    assert info.value.code == 2
    assert "--condition" in capsys.readouterr().err
    assert main(["datasource"]) == 2  # a group without its command prints help
    code, out, err = cli("token", "jwt", "t", "--ttl", "soon", "--pipe", "p")
    assert code == 2 and "--ttl 'soon'" in one_error_line(err)
    code, out, err = cli("pipe", "data", "p", "--param", "novalue")
    assert code == 2 and "must look like name=value" in one_error_line(err)
    code, out, err = cli("token", "create", "t", "--scope", "EVERYTHING")
    assert code == 2 and "unknown scope 'EVERYTHING'" in one_error_line(err)


def test_client_sends_bearer_header(server: RoostServer) -> None:
    with RoostClient(server.url, server.admin_token) as c:
        assert c.workspace()["scope"] == "admin"
    assert httpx.get(f"{server.url}/v0/workspace").status_code == 403
