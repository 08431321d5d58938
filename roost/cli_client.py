"""The ``roost`` commands that talk to a server over HTTP: push, pull, datasource, pipe, token, sql, workspace.

``roost.cli`` calls ``add_client_commands(subparsers)``. Every command takes ``--host`` and
``--token`` (else ``ROOST_HOST`` / ``ROOST_TOKEN``, else the local data dir's admin token) and most
take ``--format table|json|csv``. Exit codes: 0 ok; 1 the server refused or could not be reached;
2 usage (bad arguments, a missing file, a datafile that does not parse). Errors are one line on
stderr, never a traceback. See docs/cli.md.
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from roost.client import ClientError, ConfigError, RoostClient, resolve_connection
from roost.datafiles.model import SCOPE_TYPES, DatafileError, TokenScope

EXIT_OK = 0
EXIT_REFUSED = 1
EXIT_USAGE = 2
PROGRESS_MIN_BYTES = 1 << 20


class UsageError(Exception):
    """Bad local input: arguments, files (exit 2)."""


Command = Callable[[argparse.Namespace, "Output"], int | None]


# --- output -------------------------------------------------------------------------------------
def mask(value: str | None) -> str:
    """``p.eyJ1...`` -> ``p.ey…<last 8>``: enough to tell tokens apart, not enough to use one."""
    if not value:
        return ""
    if len(value) <= 16:
        return "…"
    return value[:4] + "…" + value[-8:]


def _cell(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, dict | list):
        return json.dumps(v, ensure_ascii=False, default=str)
    return str(v)


def one_line(text: str) -> str:
    return " ".join(str(text).split())


class Output:
    """Where results go: stdout (table, JSON or CSV). Messages and progress go to stderr."""

    def __init__(self, fmt: str = "table") -> None:
        from rich.console import Console

        self.fmt = fmt
        self.out = sys.stdout
        self.console = Console(file=sys.stdout, width=None if sys.stdout.isatty() else 160, highlight=False,
                               markup=False, emoji=False)
        self.err = Console(file=sys.stderr, highlight=False, markup=False, emoji=False)

    def info(self, text: str) -> None:
        self.err.print(text, markup=False, highlight=False, soft_wrap=True)

    def error(self, text: str) -> None:
        print(f"error: {one_line(text)}", file=sys.stderr)

    def raw(self, text: str) -> None:
        self.out.write(text if text.endswith("\n") or not text else text + "\n")
        self.out.flush()

    def json(self, obj: Any) -> None:
        self.raw(json.dumps(obj, indent=2, ensure_ascii=False, default=str))

    def line(self, text: str) -> None:
        """A one-line result (stdout); ``{"ok": true, "message": ...}`` with --format json."""
        if self.fmt == "json":
            self.json({"ok": True, "message": text})
        else:
            self.raw(text)

    def rows(self, rows: Sequence[dict[str, Any]], columns: Sequence[tuple[str, str]], *, raw: Any = None,
             title: str | None = None) -> None:
        """``columns``: (key, header). JSON prints ``raw`` (default: the rows) as they are."""
        if self.fmt == "json":
            self.json(list(rows) if raw is None else raw)
        elif self.fmt == "csv":
            w = csv.writer(self.out, lineterminator="\n")
            w.writerow([k for k, _ in columns])
            for r in rows:
                w.writerow([_cell(r.get(k)) for k, _ in columns])
            self.out.flush()
        else:
            from rich import box
            from rich.table import Table
            from rich.text import Text

            table = Table(box=box.SIMPLE_HEAD, title=title, title_justify="left", show_edge=False)
            for _, header in columns:
                table.add_column(header, overflow="fold")
            for r in rows:
                table.add_row(*[Text(_cell(r.get(k))) for k, _ in columns])
            if not rows:
                self.info("(none)")
                return
            self.console.print(table)


# --- command plumbing ---------------------------------------------------------------------------
def client_for(args: argparse.Namespace) -> RoostClient:
    conn = resolve_connection(getattr(args, "host", None), getattr(args, "token", None))
    return RoostClient.from_connection(conn)


def run_command(fn: Command) -> Callable[[argparse.Namespace], int]:
    """Run a command: every failure becomes one line on stderr and an exit code, never a traceback."""
    from roost.datafiles.push import ProjectError, PushConflict

    def run(args: argparse.Namespace) -> int:
        out = Output(getattr(args, "format", None) or "table")
        try:
            return int(fn(args, out) or EXIT_OK)
        except (UsageError, ConfigError, DatafileError, ProjectError) as e:
            out.error(str(e))
            return EXIT_USAGE
        except (ClientError, PushConflict) as e:
            out.error(str(e))
            return EXIT_REFUSED
        except KeyboardInterrupt:
            out.error("interrupted")
            return 130
        except BrokenPipeError:
            return EXIT_REFUSED
        except Exception as e:  # a bug: still one line, with the type to report it
            out.error(f"unexpected {type(e).__name__}: {e}")
            return EXIT_REFUSED

    return run


def confirm(question: str, yes: bool) -> bool:
    if yes:
        return True
    if not sys.stdin.isatty():
        raise UsageError(f"{question}: pass --yes to confirm (stdin is not a terminal)")
    answer = input(f"{question} [y/N] ").strip().lower()
    return answer in ("y", "yes")


def key_values(items: Sequence[str] | None, what: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for item in items or []:
        k, sep, v = item.partition("=")
        if not sep or not k.strip():
            raise UsageError(f"{what} '{item}' must look like name=value")
        out.append((k.strip(), v))
    return out


_TTL_RE = re.compile(r"^\s*(\d+)\s*([smhdw]?)\s*$", re.I)
_TTL_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_ttl(text: str) -> int:
    """``90``, ``90s``, ``30m``, ``1h``, ``7d``, ``2w`` -> seconds."""
    m = _TTL_RE.match(text)
    if not m or int(m.group(1)) <= 0:
        raise UsageError(f"--ttl '{text}' must be a positive duration like 3600, 30m, 1h, 7d")
    return int(m.group(1)) * _TTL_UNITS[m.group(2).lower()]


def check_scope(text: str) -> str:
    scope = TokenScope.parse(text)
    if scope.type not in SCOPE_TYPES:
        raise UsageError(f"unknown scope '{text}': scopes look like {', '.join(SCOPE_TYPES[:5])}... "
                         "(DATASOURCES:READ:<ds>[:<filter>], PIPES:READ:<pipe>)")
    return text.strip()


def scope_text(s: dict[str, Any]) -> str:
    return TokenScope(str(s.get("type")), s.get("resource") or None, s.get("filter") or None).to_string()


def _stats_line(body: dict[str, Any]) -> str:
    st = body.get("statistics") or {}
    rows = body.get("rows", len(body.get("data") or []))
    parts = [f"{rows} row{'s' if rows != 1 else ''}"]
    if "elapsed" in st:
        parts.append(f"in {float(st['elapsed']):.3f}s")
    if "rows_read" in st:
        parts.append(f"read {st['rows_read']} rows, {st.get('bytes_read', 0)} bytes")
    return " ".join(parts)


def _result_table(out: Output, body: dict[str, Any]) -> None:
    meta = body.get("meta") or []
    cols = [(str(m["name"]), str(m["name"])) for m in meta]
    data = body.get("data") or []
    if not cols and data:
        cols = [(k, k) for k in data[0]]
    if data and isinstance(data[0], list):
        data = [dict(zip([k for k, _ in cols], row, strict=False)) for row in data]
    out.rows(data, cols)
    out.info(_stats_line(body))


def _json_body(resp: Any) -> dict[str, Any]:
    try:
        body = resp.json()
    except ValueError:
        raise ClientError(resp.status_code, "the server did not answer JSON") from None
    return body if isinstance(body, dict) else {"data": body}


# --- workspace ----------------------------------------------------------------------------------
def cmd_workspace(args: argparse.Namespace, out: Output) -> int:
    with client_for(args) as c:
        ws = c.workspace()
        info = {"host": c.host, **ws}
    if out.fmt == "json":
        out.json(info)
        return EXIT_OK
    keys = [("host", "host"), ("name", "workspace"), ("id", "id"), ("token_name", "token"), ("scope", "scope"),
            ("roost_version", "server version"), ("created_at", "created")]
    rows = [{"key": label, "value": info.get(k)} for k, label in keys if info.get(k) is not None]
    out.rows(rows, [("key", "key"), ("value", "value")])
    return EXIT_OK


# --- push / pull --------------------------------------------------------------------------------
def cmd_push(args: argparse.Namespace, out: Output) -> int:
    from roost.datafiles.push import Action, load_project, push

    project = load_project(args.paths)
    done: list[Action] = []
    cols = [("kind", "kind"), ("name", "name"), ("action", "action"), ("detail", "detail")]
    try:
        with client_for(args) as c:
            push(c, project, force=args.force, dry_run=args.dry_run, done=done)
    finally:
        if done:
            out.rows([a.to_json() for a in done], cols)
    if not done:
        out.info("nothing to push")
    return EXIT_OK


def cmd_pull(args: argparse.Namespace, out: Output) -> int:
    from roost.datafiles.pull import pull

    folder = Path(args.folder)
    if folder.exists() and not folder.is_dir():
        raise UsageError(f"{folder} is not a folder")
    with client_for(args) as c:
        written = pull(c, folder, force=args.force, warn=lambda m: out.info(f"warning: {m}"))
    out.rows([w.to_json() for w in written], [("kind", "kind"), ("name", "name"), ("file", "file"),
                                                ("status", "status")])
    return EXIT_OK


# --- data sources -------------------------------------------------------------------------------
def cmd_ds_ls(args: argparse.Namespace, out: Output) -> int:
    with client_for(args) as c:
        items = c.datasources()
    rows = []
    for d in items:
        st = d.get("statistics") or d.get("stats") or {}
        rows.append({"name": d.get("name"), "rows": st.get("row_count"), "bytes": st.get("bytes"),
                     "quarantine_rows": d.get("quarantine_rows"), "engine": (d.get("engine") or {}).get("engine"),
                     "updated_at": d.get("updated_at")})
    out.rows(rows, [("name", "name"), ("rows", "rows"), ("bytes", "bytes"), ("quarantine_rows", "quarantine"),
                    ("engine", "engine"), ("updated_at", "updated")], raw=items)
    return EXIT_OK


_DATA_FORMATS = {".csv": "csv", ".ndjson": "ndjson", ".jsonl": "ndjson", ".json": "ndjson",
                 ".parquet": "parquet"}


def data_format(path: Path, given: str | None) -> tuple[str | None, bool]:
    """(format, gzip) of a data file, from ``--data-format`` or the extension (``.csv.gz``...)."""
    name = path.name.lower()
    gz = name.endswith(".gz")
    if gz:
        name = name[:-3]
    if given:
        return given, gz
    return _DATA_FORMATS.get(Path(name).suffix), gz


def cmd_ds_append(args: argparse.Namespace, out: Output) -> int:
    path = Path(args.file)
    if not path.exists():
        raise UsageError(f"{path}: no such file")
    if not path.is_file():
        raise UsageError(f"{path}: not a file")
    fmt, gz = data_format(path, args.data_format)
    size = path.stat().st_size
    with client_for(args) as c:
        show = not args.no_progress and size >= PROGRESS_MIN_BYTES and out.err.is_terminal
        if show:
            res = _append_with_progress(c, args.datasource, path, fmt, gz, size, out)
        else:
            res = c.append(args.datasource, path, fmt, gzip=gz)
    if out.fmt == "json":
        out.json(res)
        return EXIT_OK
    ok = res.get("successful_rows")
    bad = res.get("quarantined_rows") or res.get("quarantine_rows") or 0
    msg = f"Appended {ok if ok is not None else '?'} rows to {args.datasource}"
    out.line(msg)
    if bad:
        out.info(f"warning: {bad} rows went to {args.datasource}_quarantine (see `roost sql \"SELECT * FROM "
                 f"{args.datasource}_quarantine\"`)")
    return EXIT_OK


def _append_with_progress(c: RoostClient, name: str, path: Path, fmt: str | None, gz: bool, size: int,
                          out: Output) -> dict[str, Any]:
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    with Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                  TimeRemainingColumn(), console=out.err, transient=True) as progress:
        task = progress.add_task(f"uploading {path.name}", total=size)
        sent = 0

        def advance(n: int) -> None:
            nonlocal sent
            sent += n
            progress.advance(task, n)
            if sent >= size:
                progress.update(task, description=f"importing {path.name}")

        return c.append(name, path, fmt, gzip=gz, progress=advance)


def cmd_ds_truncate(args: argparse.Namespace, out: Output) -> int:
    if not confirm(f"Delete every row of data source {args.datasource}?", args.yes):
        out.info("cancelled")
        return EXIT_REFUSED
    with client_for(args) as c:
        c.truncate(args.datasource)
    out.line(f"Truncated {args.datasource}")
    return EXIT_OK


def cmd_ds_delete(args: argparse.Namespace, out: Output) -> int:
    if not args.condition.strip():
        raise UsageError("--condition must not be empty")
    with client_for(args) as c:
        if args.dry_run:
            res = c.delete_rows(args.datasource, args.condition, dry_run=True)
            if out.fmt == "json":
                out.json(res)
            else:
                out.line(f"{res.get('rows_to_be_deleted', '?')} rows would be deleted from {args.datasource}")
            return EXIT_OK
        res = c.delete_rows(args.datasource, args.condition)
        job_id = str(res.get("job_id") or res.get("id") or "")
        if args.no_wait or not job_id:
            if out.fmt == "json":
                out.json(res)
            else:
                out.line(f"Delete job {job_id} started; follow it with GET /v0/jobs/{job_id}")
            return EXIT_OK
        job = c.wait_job(job_id)
    if out.fmt == "json":
        out.json(job)
    else:
        out.line(f"Deleted {job.get('rows_affected', '?')} rows from {args.datasource}")
    return EXIT_OK


def cmd_ds_rm(args: argparse.Namespace, out: Output) -> int:
    if not confirm(f"Remove data source {args.datasource} and all its rows?", args.yes):
        out.info("cancelled")
        return EXIT_REFUSED
    with client_for(args) as c:
        c.drop_datasource(args.datasource, force=args.force)
    out.line(f"Removed data source {args.datasource}")
    return EXIT_OK


# --- pipes --------------------------------------------------------------------------------------
def cmd_pipe_ls(args: argparse.Namespace, out: Output) -> int:
    with client_for(args) as c:
        items = c.pipes()
    rows = []
    for p in items:
        nodes = p.get("nodes") or []
        endpoint = p.get("endpoint")
        ep_name = next((n.get("name") for n in nodes if endpoint in (n.get("id"), n.get("name"))), endpoint)
        rows.append({"name": p.get("name"), "type": p.get("type"), "nodes": len(nodes), "endpoint": ep_name,
                     "updated_at": p.get("updated_at")})
    out.rows(rows, [("name", "name"), ("type", "type"), ("nodes", "nodes"), ("endpoint", "endpoint"),
                    ("updated_at", "updated")], raw=items)
    return EXIT_OK


def cmd_pipe_data(args: argparse.Namespace, out: Output) -> int:
    params = key_values(args.param, "--param")
    if args.query:
        params.append(("q", args.query))
    with client_for(args) as c:
        if out.fmt == "csv":
            out.raw(c.pipe_data(args.pipe, params, "csv").text)
            return EXIT_OK
        resp = c.pipe_data(args.pipe, params, "json")
    if out.fmt == "json":
        out.raw(resp.text)
    else:
        _result_table(out, _json_body(resp))
    return EXIT_OK


def cmd_pipe_rm(args: argparse.Namespace, out: Output) -> int:
    if not confirm(f"Remove pipe {args.pipe}?", args.yes):
        out.info("cancelled")
        return EXIT_REFUSED
    with client_for(args) as c:
        c.delete_pipe(args.pipe)
    out.line(f"Removed pipe {args.pipe}")
    return EXIT_OK


# --- tokens -------------------------------------------------------------------------------------
def _token_row(t: dict[str, Any], show: bool) -> dict[str, Any]:
    value = t.get("token")
    return {"name": t.get("name"), "description": t.get("description"),
            "scopes": ", ".join(scope_text(s) for s in t.get("scopes") or []),
            "token": value if show else mask(value)}


def _masked(t: dict[str, Any], show: bool) -> dict[str, Any]:
    if show or "token" not in t:
        return t
    return {**t, "token": mask(t.get("token"))}


def cmd_token_ls(args: argparse.Namespace, out: Output) -> int:
    with client_for(args) as c:
        items = c.tokens()
    rows = [_token_row(t, args.show_values) for t in items]
    out.rows(rows, [("name", "name"), ("description", "description"), ("scopes", "scopes"), ("token", "token")],
             raw=[_masked(t, args.show_values) for t in items])
    return EXIT_OK


def _print_value(out: Output, res: dict[str, Any], message: str) -> int:
    if out.fmt == "json":
        out.json(res)
        return EXIT_OK
    value = res.get("token")
    if not value:
        raise ClientError(200, "the server did not return the token value")
    out.info(message)
    out.raw(str(value))
    return EXIT_OK


def cmd_token_create(args: argparse.Namespace, out: Output) -> int:
    scopes = [check_scope(s) for s in args.scope]
    with client_for(args) as c:
        res = c.create_token(args.name, scopes, args.description)
    return _print_value(out, res, f"Created token {args.name} ({', '.join(scopes)})")


def cmd_token_update(args: argparse.Namespace, out: Output) -> int:
    if not args.scope and args.description is None and args.rename is None:
        raise UsageError("nothing to update: give --scope, --description or --rename")
    with client_for(args) as c:
        if args.scope:
            scopes = [check_scope(s) for s in args.scope]
        else:  # PUT replaces the scopes: keep the current ones
            scopes = [scope_text(s) for s in c.token(args.name).get("scopes") or []]
        res = c.update_token(args.name, scopes, args.description, args.rename)
    if out.fmt == "json":
        out.json(_masked(res, False))
    else:
        out.line(f"Updated token {args.rename or args.name}: {', '.join(scopes) or 'no scopes'}")
    return EXIT_OK


def cmd_token_rm(args: argparse.Namespace, out: Output) -> int:
    with client_for(args) as c:
        c.delete_token(args.name)
    out.line(f"Removed token {args.name}")
    return EXIT_OK


def cmd_token_refresh(args: argparse.Namespace, out: Output) -> int:
    with client_for(args) as c:
        res = c.refresh_token(args.name)
    return _print_value(out, res, f"Refreshed token {args.name}: the old value no longer works")


def cmd_token_jwt(args: argparse.Namespace, out: Output) -> int:
    ttl = parse_ttl(args.ttl)
    fixed = dict(key_values(args.fixed_param, "--fixed-param"))
    if fixed and not args.pipe:
        raise UsageError("--fixed-param needs a --pipe")
    scopes: list[dict[str, Any]] = []
    for p in args.pipe or []:
        scope: dict[str, Any] = {"type": "PIPES:READ", "resource": p}
        if fixed:
            scope["fixed_params"] = fixed
        scopes.append(scope)
    for d in args.datasource or []:
        scopes.append({"type": "DATASOURCES:READ", "resource": d})
    for f in args.filter or []:
        ds, sep, sql = f.partition(":")
        if not sep or not ds.strip() or not sql.strip():
            raise UsageError(f"--filter '{f}' must look like <data source>:<SQL condition>")
        scopes.append({"type": "DATASOURCES:READ", "resource": ds.strip(), "filter": sql.strip()})
    if not scopes:
        raise UsageError("a JWT needs at least one --pipe, --datasource or --filter")
    if args.rps is not None and args.rps < 0:
        raise UsageError("--rps must be 0 (no limit) or more")
    exp = int(time.time()) + ttl
    with client_for(args) as c:
        res = c.create_jwt(args.name, exp, scopes, args.rps)
    when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(exp))
    return _print_value(out, res, f"JWT {args.name}, valid until {when}")


# --- sql ----------------------------------------------------------------------------------------
_FORMAT_RE = re.compile(r"\bFORMAT\s+[A-Za-z]+\s*$", re.I)


def cmd_sql(args: argparse.Namespace, out: Output) -> int:
    query = args.query.strip().rstrip(";").strip()
    if not query:
        raise UsageError("the query is empty")
    explicit = bool(_FORMAT_RE.search(query))
    if not explicit:
        query += " FORMAT CSVWithNames" if out.fmt == "csv" else " FORMAT JSON"
    with client_for(args) as c:
        resp = c.sql(query)
    if explicit or out.fmt in ("json", "csv"):
        out.raw(resp.text)
    else:
        _result_table(out, _json_body(resp))
    return EXIT_OK


# --- parser -------------------------------------------------------------------------------------
def _group(parser: argparse.ArgumentParser) -> Callable[[argparse.Namespace], int]:
    def show_help(args: argparse.Namespace) -> int:
        parser.print_help(sys.stderr)
        return EXIT_USAGE

    return show_help


def add_client_commands(sub: Any) -> None:
    conn = argparse.ArgumentParser(add_help=False)
    conn.add_argument("--host", default=argparse.SUPPRESS,
                      help="server URL (ROOST_HOST; default http://127.0.0.1:7181)")
    conn.add_argument("--token", default=argparse.SUPPRESS,
                      help="token (ROOST_TOKEN; default: the admin token in ./roost-data or ROOST_DATA_DIR)")
    fmt = argparse.ArgumentParser(add_help=False)
    fmt.add_argument("--format", choices=("table", "json", "csv"), default=argparse.SUPPRESS,
                     help="output: a readable table (default), JSON or CSV")
    common = [conn, fmt]

    def leaf(parent: Any, name: str, fn: Command, help: str, parents: list[argparse.ArgumentParser] | None = None,
             **kw: Any) -> argparse.ArgumentParser:
        p: argparse.ArgumentParser = parent.add_parser(name, parents=common if parents is None else parents,
                                                        help=help, description=help, **kw)
        p.set_defaults(func=run_command(fn))
        return p

    def group(name: str, help: str) -> Any:
        g: argparse.ArgumentParser = sub.add_parser(name, parents=common, help=help, description=help)
        g.set_defaults(func=_group(g))
        return g.add_subparsers(dest=f"{name}_command", metavar="COMMAND")

    # push / pull
    p = leaf(sub, "push", cmd_push, "push .datasource, .pipe and .token datafiles (idempotent)")
    p.add_argument("paths", nargs="+", metavar="PATH", help="datafiles, or folders searched for them")
    p.add_argument("--force", action="store_true",
                   help="replace what differs: alter data sources, replace pipes, replace token scopes")
    p.add_argument("--dry-run", action="store_true", help="show what would change; change nothing")
    p = leaf(sub, "pull", cmd_pull, "write every data source, pipe and token as datafiles")
    p.add_argument("--folder", default=".", help="where to write (default: the current folder)")
    p.add_argument("--force", action="store_true", help="overwrite files that exist with other content")

    # datasource
    ds = group("datasource", "list, append to, truncate, delete rows of, and remove data sources")
    leaf(ds, "ls", cmd_ds_ls, "list data sources")
    p = leaf(ds, "append", cmd_ds_append, "append a CSV, NDJSON or Parquet file (.gz too) to a data source")
    p.add_argument("datasource")
    p.add_argument("file")
    p.add_argument("--data-format", choices=("csv", "ndjson", "parquet"), default=None,
                   help="the file's format (default: from its extension)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p = leaf(ds, "truncate", cmd_ds_truncate, "delete every row of a data source")
    p.add_argument("datasource")
    p.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    p = leaf(ds, "delete", cmd_ds_delete, "delete the rows that match a SQL condition")
    p.add_argument("datasource")
    p.add_argument("--condition", "--sql-condition", required=True, help="SQL condition, e.g. \"user_id = 7\"")
    p.add_argument("--dry-run", action="store_true", help="only count the rows that would be deleted")
    p.add_argument("--no-wait", action="store_true", help="start the delete job and return")
    p = leaf(ds, "rm", cmd_ds_rm, "remove a data source and its rows")
    p.add_argument("datasource")
    p.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    p.add_argument("--force", action="store_true", help="remove it even if pipes use it")

    # pipe
    pp = group("pipe", "list pipes, call endpoints")
    leaf(pp, "ls", cmd_pipe_ls, "list pipes")
    p = leaf(pp, "data", cmd_pipe_data, "call a pipe's endpoint")
    p.add_argument("pipe")
    p.add_argument("--param", action="append", metavar="NAME=VALUE", help="a template parameter (repeatable)")
    p.add_argument("--query", default=None, help="SQL over the endpoint's result, referenced as _")
    p = leaf(pp, "rm", cmd_pipe_rm, "remove a pipe")
    p.add_argument("pipe")
    p.add_argument("--yes", action="store_true", help="do not ask for confirmation")

    # token
    tk = group("token", "manage tokens: list, create, update, remove, refresh, sign JWTs")
    p = leaf(tk, "ls", cmd_token_ls, "list tokens (values masked)")
    p.add_argument("--show-values", action="store_true", help="print the full token values")
    p = leaf(tk, "create", cmd_token_create, "create a static token and print its value")
    p.add_argument("name")
    p.add_argument("--scope", action="append", required=True, metavar="SCOPE",
                   help="TYPE[:resource[:filter]], e.g. DATASOURCES:READ:events:user_id=7 (repeatable)")
    p.add_argument("--description", default=None)
    p = leaf(tk, "update", cmd_token_update, "replace a token's scopes (its value stays)")
    p.add_argument("name")
    p.add_argument("--scope", action="append", metavar="SCOPE", help="the new scopes (repeatable); they replace "
                   "all current scopes. Without --scope the current scopes are kept")
    p.add_argument("--description", default=None)
    p.add_argument("--rename", default=None, metavar="NEW_NAME", help="give the token a new name")
    p = leaf(tk, "rm", cmd_token_rm, "delete a token (its value stops working at once)")
    p.add_argument("name")
    p = leaf(tk, "refresh", cmd_token_refresh, "give a token a new value and print it (the old one stops working)")
    p.add_argument("name")
    p = leaf(tk, "jwt", cmd_token_jwt, "sign a JWT (not stored) and print it")
    p.add_argument("name", help="the JWT's name (also its rate-limit bucket)")
    p.add_argument("--pipe", action="append", metavar="PIPE", help="PIPES:READ on this pipe (repeatable)")
    p.add_argument("--fixed-param", action="append", metavar="NAME=VALUE",
                   help="a parameter value the caller cannot change, for every --pipe (repeatable)")
    p.add_argument("--datasource", action="append", metavar="DS", help="DATASOURCES:READ on a data source")
    p.add_argument("--filter", action="append", metavar="DS:SQL",
                   help="DATASOURCES:READ on DS limited to the rows matching SQL (repeatable)")
    p.add_argument("--ttl", required=True, help="lifetime: 3600, 30m, 1h, 7d...")
    p.add_argument("--rps", type=int, default=None, help="requests per second allowed (per pipe and JWT name)")

    # sql, workspace
    p = leaf(sub, "sql", cmd_sql, "run a SQL query through /v0/sql")
    p.add_argument("query")
    leaf(sub, "workspace", cmd_workspace, "show the workspace and who the token is")
