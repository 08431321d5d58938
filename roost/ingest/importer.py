"""Import a spooled file (NDJSON, CSV or Parquet) into a data source, with quarantine.

NDJSON and Parquet go through a row pipeline (``roost.ingest.pipeline``): the input streams into
the engine, which sends complete rows to the data source and bad ones to its quarantine, and
counts both. A large NDJSON file is split at line boundaries into lanes that stream in parallel.

CSV rows go straight into the data source. Rows ClickHouse cannot parse (bad type, wrong number of
fields) are skipped and their row numbers recorded (``input_format_record_errors_file_path``);
the raw rows are then read back from the spooled file and written to the quarantine with the
engine's own message.

Every statement is generated here from the parsed schema; the only request text that reaches the
engine is the data itself, as a data stream.
"""

from __future__ import annotations

import csv
import io
import mmap
import os
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from roost.engine.base import Engine, EngineError
from roost.errors import BadRequest
from roost.ingest.pipeline import RowPlan, plan_ndjson, plan_parquet, q
from roost.ingest.schema import Column
from roost.sql.literals import string_literal

CHUNK = 1 << 20
MAX_DIAGNOSED = 20
MAX_ERRORS = 10
LANE_MIN_BYTES = 16 << 20  # a lane is worth its extra part only for large bodies
MAX_IDLE_PIPES = 4  # per target table and schema

__all__ = ["ImportResult", "Importer", "q", "read_file", "split_lines"]


@dataclass
class ImportResult:
    rows: int = 0
    quarantined: int = 0
    errors: list[str] = field(default_factory=list)

    def add(self, other: ImportResult) -> None:
        self.rows += other.rows
        self.quarantined += other.quarantined
        self.errors.extend(other.errors[: max(0, MAX_ERRORS - len(self.errors))])


@dataclass
class _Pipe:
    """One import chain in the staging database (see ``roost.ingest.pipeline``), reused by the imports
    into the same table with the same schema, one import at a time."""

    key: tuple[str, str, bool, str]
    src: str
    counts: str
    stage_q: str
    stage_t: str | None
    objects: list[str] = field(default_factory=list)


def read_file(path: Path, start: int = 0, end: int | None = None) -> Iterator[bytes]:
    """The bytes of ``path`` in [start, end), in chunks."""
    with open(path, "rb") as f:
        f.seek(start)
        left = (end - start) if end is not None else None
        while left is None or left > 0:
            chunk = f.read(CHUNK if left is None else min(CHUNK, left))
            if not chunk:
                return
            if left is not None:
                left -= len(chunk)
            yield chunk


def split_lines(path: Path, parts: int, min_bytes: int = LANE_MIN_BYTES) -> list[tuple[int, int]]:
    """Split a file into at most ``parts`` contiguous byte ranges that start at line boundaries."""
    size = path.stat().st_size
    k = max(1, min(parts, size // max(min_bytes, 1)))
    bounds = [0]
    with open(path, "rb") as f:
        for i in range(1, k):
            pos = max(size * i // k, bounds[-1])
            f.seek(pos)
            while True:
                chunk = f.read(1 << 16)
                if not chunk:
                    pos = size
                    break
                j = chunk.find(b"\n")
                if j >= 0:
                    pos += j + 1
                    break
                pos += len(chunk)
            bounds.append(pos)
    bounds.append(size)
    return [(a, b) for a, b in zip(bounds, bounds[1:], strict=False) if b > a]


def default_lanes() -> int:
    return max(1, min(4, os.cpu_count() or 1))


class Importer:
    """Runs imports on the calling thread (call it through ``Engine.run``); extra lanes use a small pool."""

    def __init__(self, engine: Engine, staging_db: str, tmp_dir: Path, *, lanes: int | None = None,
                 lane_min_bytes: int = LANE_MIN_BYTES) -> None:
        self.engine = engine
        self.staging_db = staging_db
        self.tmp_dir = tmp_dir
        self.lanes = lanes or default_lanes()
        self.lane_min_bytes = lane_min_bytes
        tmp_dir.mkdir(parents=True, exist_ok=True)
        self._pool = ThreadPoolExecutor(max_workers=max(1, self.lanes - 1) * 2, thread_name_prefix="roost-ingest")
        self._pipes_lock = threading.Lock()
        self._idle: dict[tuple[str, str, bool, str], list[_Pipe]] = {}

    def setup(self) -> None:
        """(Re)create the staging database: whatever a crashed process left there is dropped."""
        with self._pipes_lock:
            self._idle.clear()
        for leftover in self.tmp_dir.glob("*"):  # spooled bodies of requests a crash interrupted
            if leftover.is_file():
                leftover.unlink(missing_ok=True)
        self.engine.command(f"DROP DATABASE IF EXISTS {self.staging_db} SYNC")
        self.engine.command(f"CREATE DATABASE {self.staging_db} ENGINE = Atomic")

    def close(self) -> None:
        self._pool.shutdown(wait=True)

    # --- entry point --------------------------------------------------------------------------
    def run(
        self,
        *,
        table: str,
        quarantine: str,
        columns: list[Column],
        fmt: str,
        path: Path,
        import_id: str,
        delimiter: str = ",",
        dedup_token: str | None = None,
    ) -> ImportResult:
        """Import ``path`` into ``table``. With ``dedup_token``, importing the same file again with the
        same token adds nothing (the Events API replays its log with the token it used before)."""
        if path.stat().st_size == 0:
            return ImportResult()
        if fmt == "csv":
            return self._csv(table, quarantine, columns, path, import_id, delimiter, dedup_token)
        if fmt == "ndjson":
            return self._pipeline(plan_ndjson(columns), table, quarantine, path, import_id, dedup_token)[0]
        if fmt == "parquet":
            return self._pipeline(plan_parquet(columns), table, quarantine, path, import_id, dedup_token)[0]
        raise BadRequest(f"Unsupported format '{fmt}': use csv, ndjson or parquet")

    def run_tagged(self, *, table: str, quarantine: str, columns: list[Column], path: Path,
                   import_id: str) -> dict[int, ImportResult]:
        """Import many requests' NDJSON at once (``pipeline.tag_lines``) and count each one's rows."""
        if path.stat().st_size == 0:
            return {}
        return self._pipeline(plan_ndjson(columns, tagged=True), table, quarantine, path, import_id, None)[1]

    # --- settings -------------------------------------------------------------------------------
    def _errfile(self, import_id: str) -> Path:
        """A fresh path: ClickHouse never overwrites an errors file, it writes ``<path>_new`` instead."""
        p = self.tmp_dir / f"errors-{uuid.uuid4().hex}.csv"
        p.unlink(missing_ok=True)
        return p

    @staticmethod
    def _error_settings(errfile: Path) -> dict[str, Any]:
        return {
            "input_format_allow_errors_ratio": 1,
            "input_format_allow_errors_num": 1_000_000_000,
            "input_format_record_errors_file_path": str(errfile),
        }

    @staticmethod
    def _dedup(token: str | None, part: str) -> dict[str, Any]:
        """Deduplication settings of one insert. Tables keep a deduplication window (for the Events API
        log); an insert without a token gets a unique one, so two identical appends both land (chDB's
        streaming insert does not honour ``insert_deduplicate=0``)."""
        return {"insert_deduplicate": 1, "insert_deduplication_token": f"{token or uuid.uuid4().hex}-{part}"}

    # --- NDJSON / Parquet through a row pipeline ------------------------------------------------
    def _pipeline(self, plan: RowPlan, table: str, quarantine: str, path: Path, import_id: str,
                  dedup_token: str | None, *, reuse: bool = True) -> tuple[ImportResult, dict[int, ImportResult]]:
        staged = dedup_token is not None
        pipe = self._checkout(plan, table, quarantine, staged)
        ok = False
        try:
            # a unique token per lane: chDB's streaming insert ignores insert_deduplicate=0, and a reused
            # chain would otherwise drop a block identical to an earlier one (the same body sent twice)
            settings: dict[str, Any] = {**plan.input_settings, **self._dedup(None, "lane"),
                                        "short_circuit_function_evaluation": "force_enable"}
            if plan.input_format != "Parquet" and not staged:
                ranges = split_lines(path, self.lanes, self.lane_min_bytes)
            else:
                ranges = [(0, path.stat().st_size)]
            self._run_lanes(pipe.src, plan.input_format, path, ranges, settings)

            per_request, samples = self._counts(pipe.counts)
            result = ImportResult(rows=sum(r.rows for r in per_request.values()),
                                  quarantined=sum(r.quarantined for r in per_request.values()))
            if pipe.stage_t is not None:
                self._move(pipe.stage_t, table, None, self._dedup(dedup_token, "t"))
            if result.quarantined:
                self._move(pipe.stage_q, quarantine, import_id, self._dedup(dedup_token, "q"))
                if not plan.tagged:
                    result.errors = self._messages(plan, path, samples, result.quarantined)
            ok = True
            return result, per_request
        finally:
            self._release(pipe, ok and reuse)

    def forget(self, table: str) -> None:
        """Drop the idle pipelines that write into ``table`` (dropped or altered)."""
        with self._pipes_lock:
            keys = [k for k in self._idle if k[0] == table]
            pipes = [p for k in keys for p in self._idle.pop(k)]
        for p in pipes:
            self._drop(p)

    def _checkout(self, plan: RowPlan, table: str, quarantine: str, staged: bool) -> _Pipe:
        key = (table, quarantine, staged, plan.signature())
        with self._pipes_lock:
            idle = self._idle.get(key)
            if idle:
                return idle.pop()
        return self._create(key, plan, table, quarantine, staged)

    def _release(self, pipe: _Pipe, reusable: bool) -> None:
        if reusable:
            try:  # leave it empty for the next import
                self.engine.command(f"TRUNCATE TABLE {pipe.counts}")
                self.engine.command(f"TRUNCATE TABLE {pipe.stage_q}")
                if pipe.stage_t:
                    self.engine.command(f"TRUNCATE TABLE {pipe.stage_t}")
            except EngineError:
                reusable = False
        if reusable:
            with self._pipes_lock:
                idle = self._idle.setdefault(pipe.key, [])
                if len(idle) < MAX_IDLE_PIPES:
                    idle.append(pipe)
                    return
        self._drop(pipe)

    def _create(self, key: tuple[str, str, bool, str], plan: RowPlan, table: str, quarantine: str,
                staged: bool) -> _Pipe:
        uid = uuid.uuid4().hex[:16]

        def obj(kind: str) -> str:
            return f"{self.staging_db}.`{kind}_{uid}`"

        pipe = _Pipe(key=key, src=obj("src"), counts=obj("cnt"), stage_q=obj("sq"),
                     stage_t=obj("st") if staged else None)
        rows = obj("rows")
        to_table = pipe.stage_t or table
        try:
            # Memory stages first, the consumers of rows next, the producer last
            if pipe.stage_t:
                self._ddl(pipe, pipe.stage_t, f"CREATE TABLE {pipe.stage_t} AS {table} ENGINE = Memory")
            self._ddl(pipe, pipe.stage_q, f"CREATE TABLE {pipe.stage_q} AS {quarantine} ENGINE = Memory")
            self._ddl(pipe, pipe.src, f"CREATE TABLE {pipe.src} ({', '.join(f'{n} {t}' for n, t in plan.source)}) "
                                      "ENGINE = Null")
            self._ddl(pipe, rows, f"CREATE TABLE {rows} ({plan.rows_ddl()}) ENGINE = Null")
            self._ddl(pipe, obj("mvt"), f"CREATE MATERIALIZED VIEW {obj('mvt')} TO {to_table} AS "
                                        f"{plan.target_select(rows)}")
            self._ddl(pipe, obj("mvq"), f"CREATE MATERIALIZED VIEW {obj('mvq')} TO {pipe.stage_q} AS "
                                        f"{plan.quarantine_select(rows)}")
            self._ddl(pipe, pipe.counts, f"CREATE MATERIALIZED VIEW {pipe.counts} ENGINE = Memory AS "
                                         f"{plan.counts_select(rows)}")
            self._ddl(pipe, obj("mvp"), f"CREATE MATERIALIZED VIEW {obj('mvp')} TO {rows} AS "
                                        f"{plan.prepare_select(pipe.src)}")
        except BaseException:
            self._drop(pipe)
            raise
        return pipe

    def _ddl(self, pipe: _Pipe, name: str, sql: str) -> None:
        try:
            self.engine.command(sql)
        except EngineError as e:
            raise BadRequest(f"Cannot import into this Data Source: {e.message}") from None
        pipe.objects.append(name)

    def _drop(self, pipe: _Pipe) -> None:
        for name in reversed(pipe.objects):  # the producer first
            try:
                self.engine.command(f"DROP TABLE IF EXISTS {name} SYNC")
            except EngineError:  # pragma: no cover - the staging database is reset at start
                pass

    def _run_lanes(self, src: str, fmt: str, path: Path, ranges: list[tuple[int, int]],
                   settings: dict[str, Any]) -> None:
        def lane(a: int, b: int) -> None:
            token = f"{settings['insert_deduplication_token']}-{a}"
            self.engine.insert(src, fmt, read_file(path, a, b),
                               settings={**settings, "insert_deduplication_token": token})

        futures: list[Future[None]] = [self._pool.submit(lane, a, b) for a, b in ranges[1:]]
        errors: list[BaseException] = []
        try:
            lane(*ranges[0])
        except BaseException as e:
            errors.append(e)
        for f in futures:
            try:
                f.result()
            except BaseException as e:
                errors.append(e)
        if errors:
            first = errors[0]
            if isinstance(first, EngineError):
                raise BadRequest(f"Error importing rows: {first.message}") from None
            raise first

    def _counts(self, counts: str) -> tuple[dict[int, ImportResult], list[str]]:
        """Good and bad rows per request number (0 when untagged), and the first bad lines."""
        res = self.engine.query(
            f"SELECT req, sum(good), sum(bad), arraySlice(arrayFlatten(groupArray(samples)), 1, {MAX_ERRORS}) "
            f"FROM {counts} GROUP BY req",
            "JSONCompactEachRow",
            settings={"output_format_json_validate_utf8": 1, "output_format_json_quote_64bit_integers": 0},
        )
        out: dict[int, ImportResult] = {}
        samples: list[str] = []
        for line in res.data.splitlines():
            req, good, bad, some = orjson.loads(line)
            out[int(req)] = ImportResult(rows=int(good), quarantined=int(bad))
            samples.extend(some[: MAX_ERRORS - len(samples)])
        return out, samples

    def _move(self, stage: str, table: str, import_id: str | None, settings: dict[str, Any]) -> None:
        """One INSERT ... SELECT, one block (so one part, all or nothing), carrying the dedup token;
        quarantine rows get their import id on the way."""
        select = "*" if import_id is None else f"* REPLACE ({string_literal(import_id)} AS `c__import_id`)"
        self.engine.command(f"INSERT INTO {table} SELECT {select} FROM {stage}",
                            settings={**settings, "max_threads": 1, "max_insert_threads": 1})

    def _messages(self, plan: RowPlan, path: Path, samples: list[str], bad: int) -> list[str]:
        if not plan.has_lines or not samples:
            return [f"{bad} rows with missing or invalid values (checked: {', '.join(plan.checked) or '-'}); "
                    "see c__error in the quarantine"]
        res = self.engine.query(plan.errors_of_lines_sql(len(samples)), "JSONCompactEachRow",
                                params={f"l{i}": s for i, s in enumerate(samples)},
                                settings={"output_format_json_validate_utf8": 1})
        found = _line_numbers(path, samples)
        out = []
        for line in res.data.splitlines():
            raw, errors = orjson.loads(line)
            where = f"line {found[raw]}" if raw in found else "a row"
            out.append(f"{where}: {'; '.join(errors)}: {_short(raw)}")
        return out[:MAX_ERRORS]

    # --- CSV ------------------------------------------------------------------------------------
    def _csv(
        self,
        table: str,
        quarantine: str,
        columns: list[Column],
        path: Path,
        import_id: str,
        delimiter: str,
        dedup_token: str | None,
    ) -> ImportResult:
        if len(delimiter) != 1 or delimiter in "\"\n\r":
            raise BadRequest("dialect_delimiter must be a single character other than a quote or a new line")
        header = _csv_header(path, delimiter, {c.name for c in columns})
        errfile = self._errfile(import_id)
        settings: dict[str, Any] = {
            "format_csv_delimiter": delimiter,
            "input_format_csv_empty_as_default": 1,
            "input_format_with_names_use_header": 1,
            "input_format_skip_unknown_fields": 1,
            "date_time_input_format": "best_effort",
            **self._error_settings(errfile),
            **self._dedup(dedup_token, "t"),
        }
        fmt = "CSVWithNames" if header else "CSV"
        if delimiter == "\t":  # ClickHouse's CSV refuses a tab; the same rules, tab-separated:
            fmt = "CustomSeparatedWithNames" if header else "CustomSeparated"
            settings.update(_TAB_CSV)
        insertable = [c for c in columns if not c.type.startswith("AggregateFunction(")]
        try:
            rows = self.engine.insert(table, fmt, read_file(path), columns=[q(c.name) for c in insertable],
                                      settings=settings)
            bad = _error_rows(errfile)
        except EngineError as e:
            raise BadRequest(f"Error parsing CSV: {e.message}") from None
        finally:
            errfile.unlink(missing_ok=True)
        result = ImportResult(rows=rows)
        if bad:
            raws = _csv_rows(path, delimiter, bad, header)
            structure = ", ".join(f"{q(c.name)} {c.type}" for c in insertable)
            self._quarantine_raw(quarantine, import_id, raws, structure=structure, delimiter=delimiter,
                                 fields=len(insertable), dedup_token=dedup_token, result=result)
        return result

    def _quarantine_raw(self, quarantine: str, import_id: str, raws: list[tuple[int, str, int]], *,
                        structure: str, delimiter: str, fields: int, dedup_token: str | None,
                        result: ImportResult) -> None:
        out = io.BytesIO()
        for i, (row_no, raw, n_fields) in enumerate(raws):
            msg = f"row {row_no}: could not parse the row"
            if n_fields != fields:
                msg = f"row {row_no}: wrong number of fields: expected {fields}, got {n_fields}"
            elif i < MAX_DIAGNOSED:
                msg = f"row {row_no}: {self._diagnose(raw, structure, delimiter)}"
            if len(result.errors) < MAX_ERRORS:
                result.errors.append(msg)
            out.write(orjson.dumps({"c__error": [msg], "c__error_column": [], "c__import_id": import_id,
                                    "c__raw": raw}))
            out.write(b"\n")
        self.engine.insert(quarantine, "JSONEachRow", [out.getvalue()],
                           settings={"input_format_skip_unknown_fields": 1, **self._dedup(dedup_token, "r")})
        result.quarantined += len(raws)

    def _diagnose(self, raw: str, structure: str, delimiter: str) -> str:
        fmt = "CustomSeparated" if delimiter == "\t" else "CSV"
        settings: dict[str, Any] = {"format_csv_delimiter": delimiter, "date_time_input_format": "best_effort",
                                    "input_format_csv_empty_as_default": 1}
        if delimiter == "\t":
            settings.update(_TAB_CSV)
        try:
            self.engine.query(f"SELECT * FROM format({fmt}, {string_literal(structure)}, {{d:String}})",
                              "Null", params={"d": raw}, settings=settings)
        except EngineError as e:
            return _clean_engine_message(e.message)
        return "the row could not be parsed"


_TAB_CSV = {"format_custom_escaping_rule": "CSV", "format_custom_field_delimiter": "\t"}


def _short(raw: str, limit: int = 200) -> str:
    return raw if len(raw) <= limit else raw[:limit] + "..."


def _clean_engine_message(msg: str) -> str:
    for cut in (": While executing", "(at row 1)", ": (at row"):
        i = msg.find(cut)
        if i > 0:
            msg = msg[:i]
    return msg.strip().rstrip(":").strip()


def _line_numbers(path: Path, lines: list[str]) -> dict[str, int]:
    """1-based line numbers of the first occurrence of each line in ``path`` (as a whole line)."""
    wanted = {s.encode("utf-8", "surrogateescape") for s in lines}
    positions: dict[bytes, int] = {}
    size = path.stat().st_size
    if not size:
        return {}
    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mm:
        for s in wanted:
            if not s:
                continue
            start = 0
            while (p := mm.find(s, start)) >= 0:
                end = p + len(s)
                if (p == 0 or mm[p - 1] == 0x0A) and (end == size or mm[end] in (0x0A, 0x0D)):
                    positions[s] = p
                    break
                start = p + 1
        out: dict[str, int] = {}
        line, last = 1, 0
        for s, p in sorted(positions.items(), key=lambda kv: kv[1]):
            line += mm[last:p].count(b"\n")
            last = p
            out[s.decode("utf-8", "surrogateescape")] = line
    return out


def _error_rows(errfile: Path) -> list[int]:
    if not errfile.exists():
        return []
    rows = []
    with open(errfile, newline="", encoding="utf-8", errors="replace") as f:
        for rec in csv.reader(f):
            if len(rec) >= 4 and rec[3].isdigit():
                rows.append(int(rec[3]))
    return sorted(set(rows))


def _csv_header(path: Path, delimiter: str, names: set[str]) -> bool:
    with open(path, "rb") as f:
        first = f.readline(1 << 16).decode("utf-8", "replace")
    try:
        fields = next(csv.reader([first], delimiter=delimiter))
    except (StopIteration, csv.Error):
        return False
    fields = [x.strip() for x in fields]
    return bool(fields) and all(x in names for x in fields)


def _csv_rows(path: Path, delimiter: str, wanted: list[int], header: bool) -> list[tuple[int, str, int]]:
    """(row number, the row as CSV text, its number of fields) of the wanted data rows."""
    want = set(wanted)
    out: list[tuple[int, str, int]] = []
    with open(path, encoding="utf-8", errors="replace", newline="") as f:
        reader = csv.reader(f, delimiter=delimiter)
        if header:
            next(reader, None)
        for n, rec in enumerate(reader, start=1):
            if n in want:
                buf = io.StringIO()
                csv.writer(buf, delimiter=delimiter, lineterminator="").writerow(rec)
                out.append((n, buf.getvalue(), len(rec)))
                if len(out) == len(want):
                    break
    found = {r for r, _, _ in out}
    out.extend((r, "", 0) for r in wanted if r not in found)
    return out
