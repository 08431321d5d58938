"""Import a spooled file (NDJSON, CSV or Parquet) into a data source, with quarantine.

How one import runs (all inside the engine, no per-row Python on the happy path):

1. NDJSON and Parquet rows are read into a ``Memory`` staging table whose columns are the top-level
   JSON keys, typed ``Nullable(T)`` so that a missing key shows up as NULL. Objects used by nested
   JSONPaths are read as raw JSON strings and extracted with ``JSONExtract``.
   CSV rows go straight into the data source (no JSONPaths, no missing keys).
2. Rows ClickHouse cannot parse (bad type, malformed JSON, wrong number of CSV fields) are skipped
   and their row numbers recorded (``input_format_record_errors_file_path``); the raw rows are then
   read back from the spooled file and written to the quarantine with the engine's own message.
3. From staging, complete rows go to the data source and rows missing a non-nullable value go to
   the quarantine, each with one ``INSERT ... SELECT``.

Every statement is generated here from the parsed schema; the only request text that reaches the
engine is the data itself, as a data stream.
"""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from roost.engine.base import Engine, EngineError
from roost.errors import BadRequest
from roost.ingest.schema import Column, nullable_type, parse_jsonpath
from roost.ingest.tables import quarantine_columns
from roost.sql.literals import string_literal

CHUNK = 1 << 20
MAX_DIAGNOSED = 20


@dataclass
class ImportResult:
    rows: int = 0
    quarantined: int = 0
    errors: list[str] = field(default_factory=list)

    def add(self, other: ImportResult) -> None:
        self.rows += other.rows
        self.quarantined += other.quarantined
        self.errors.extend(other.errors[: max(0, 10 - len(self.errors))])


def q(name: str) -> str:
    """Quote an identifier we generated or validated (no backticks or control characters)."""
    if "`" in name or "\\" in name or any(ord(ch) < 32 for ch in name):
        raise BadRequest(f"Invalid name '{name}' in a JSONPath")
    return f"`{name}`"


def read_file(path: Path) -> Iterator[bytes]:
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            yield chunk


@dataclass
class _Plan:
    staging_cols: list[tuple[str, str]]      # (json key, staging type)
    exprs: list[str]                          # one per target column
    checks: list[tuple[str, str]]             # (condition that must hold, column name)


def _lowcard_nullable(t: str) -> str:
    if t.startswith("LowCardinality(") and not t.startswith("LowCardinality(Nullable("):
        return f"LowCardinality(Nullable({t[len('LowCardinality('):-1]}))"
    return nullable_type(t)


def plan_json(columns: list[Column]) -> _Plan:
    paths: list[tuple[Column, list[str], bool]] = []
    for c in columns:
        parsed = parse_jsonpath(c.jsonpath) if c.jsonpath is not None else ([c.name], False)
        if parsed is None:
            raise BadRequest(f"JSONPath '$' (whole row) is not supported yet (column '{c.name}')")
        keys, is_array = parsed
        paths.append((c, keys, is_array))
    uses: dict[str, int] = {}
    for _, keys, _ in paths:
        uses[keys[0]] = uses.get(keys[0], 0) + 1
    staging: dict[str, str] = {}
    exprs: list[str] = []
    checks: list[tuple[str, str]] = []
    for c, keys, is_array in paths:
        top = keys[0]
        direct = len(keys) == 1 and uses[top] == 1
        if direct:
            st = c.type if is_array else _lowcard_nullable(c.type)
            staging[top] = st
            value = q(top)
        else:
            staging[top] = "Nullable(String)"
            raw = f"ifNull({q(top)}, '')"
            sub = "".join(f"{string_literal(k)}, " for k in keys[1:])
            if is_array:
                value = f"JSONExtract({raw}, {sub}{string_literal(c.type)})"
            elif keys[1:]:
                value = f"JSONExtract({raw}, {sub}{string_literal(_lowcard_nullable(c.type))})"
            else:
                value = f"accurateCastOrNull({q(top)}, {string_literal(c.type)})"
        may_be_null = not is_array and (staging[top].startswith(("Nullable(", "LowCardinality(Nullable(")) or not direct)
        if may_be_null and not c.nullable:
            if c.default_value is not None:
                exprs.append(f"ifNull({value}, {c.default_value})")
            else:
                exprs.append(f"assumeNotNull({value})")
                checks.append((f"isNotNull({value})", c.name))
        else:
            exprs.append(value)
    return _Plan(list(staging.items()), exprs, checks)


class Importer:
    """Runs imports on the calling thread (call it through ``Engine.run``)."""

    def __init__(self, engine: Engine, staging_db: str, tmp_dir: Path) -> None:
        self.engine = engine
        self.staging_db = staging_db
        self.tmp_dir = tmp_dir
        tmp_dir.mkdir(parents=True, exist_ok=True)

    def setup(self) -> None:
        self.engine.command(f"DROP DATABASE IF EXISTS {self.staging_db} SYNC")
        self.engine.command(f"CREATE DATABASE {self.staging_db} ENGINE = Atomic")

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
        if path.stat().st_size == 0:
            return ImportResult()
        if fmt == "csv":
            return self._csv(table, quarantine, columns, path, import_id, delimiter, dedup_token)
        if fmt in ("ndjson", "parquet"):
            return self._staged(table, quarantine, columns, fmt, path, import_id, dedup_token)
        raise BadRequest(f"Unsupported format '{fmt}': use csv, ndjson or parquet")

    # --- settings -------------------------------------------------------------------------------
    def _error_settings(self, errfile: Path) -> dict[str, Any]:
        return {
            "input_format_allow_errors_ratio": 1,
            "input_format_allow_errors_num": 1_000_000_000,
            "input_format_record_errors_file_path": str(errfile),
        }

    @staticmethod
    def _dedup(token: str | None, part: str) -> dict[str, Any]:
        if token is None:
            return {"insert_deduplicate": 0}
        return {"insert_deduplicate": 1, "insert_deduplication_token": f"{token}-{part}"}

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
            raise BadRequest("dialect_delimiter must be a single character")
        header = _csv_header(path, delimiter, {c.name for c in columns})
        errfile = self.tmp_dir / f"{import_id}.errors.csv"
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
        try:
            rows = self.engine.insert(table, fmt, read_file(path), columns=[q(c.name) for c in columns],
                                      settings=settings)
            bad = _error_rows(errfile)
        except EngineError as e:
            raise BadRequest(f"Error parsing CSV: {e.message}") from None
        finally:
            errfile.unlink(missing_ok=True)
        result = ImportResult(rows=rows)
        if bad:
            raws = _csv_rows(path, delimiter, bad, header)
            structure = ", ".join(f"{q(c.name)} {c.type}" for c in columns)
            self._quarantine_raw(quarantine, columns, import_id, raws, fmt="CSV", structure=structure,
                                 fmt_settings={"format_csv_delimiter": delimiter}, dedup_token=dedup_token,
                                 result=result)
        return result

    # --- NDJSON / Parquet through staging -------------------------------------------------------
    def _staged(
        self,
        table: str,
        quarantine: str,
        columns: list[Column],
        fmt: str,
        path: Path,
        import_id: str,
        dedup_token: str | None,
    ) -> ImportResult:
        plan = plan_json(columns)
        stg = f"{self.staging_db}.`s_{uuid.uuid4().hex}`"
        cols_sql = ", ".join(f"{q(k)} {t}" for k, t in plan.staging_cols)
        self.engine.command(f"CREATE TABLE {stg} ({cols_sql}) ENGINE = Memory")
        errfile = self.tmp_dir / f"{import_id}.errors.csv"
        try:
            settings: dict[str, Any] = {
                "input_format_skip_unknown_fields": 1,
                "input_format_json_read_objects_as_strings": 1,
                "input_format_json_read_arrays_as_strings": 1,
                "input_format_json_read_numbers_as_strings": 1,
                "input_format_json_read_bools_as_strings": 1,
                "date_time_input_format": "best_effort",
                "input_format_parquet_allow_missing_columns": 1,
                "input_format_null_as_default": 0,
            }
            ch_fmt = "JSONEachRow" if fmt == "ndjson" else "Parquet"
            if fmt == "ndjson":
                settings.update(self._error_settings(errfile))
            try:
                self.engine.insert(stg, ch_fmt, read_file(path), settings=settings)
                bad = _error_rows(errfile) if fmt == "ndjson" else []
            except EngineError as e:
                raise BadRequest(f"Error parsing {fmt}: {e.message}") from None
            result = ImportResult()
            target_cols = ", ".join(q(c.name) for c in columns)
            ok = " AND ".join(c for c, _ in plan.checks) or "1"
            result.rows = self._insert_select(
                f"INSERT INTO {table} ({target_cols}) SELECT {', '.join(plan.exprs)} FROM {stg} WHERE {ok}",
                self._dedup(dedup_token, "t"),
            )
            if plan.checks:
                result.quarantined += self._quarantine_missing(stg, quarantine, columns, plan, import_id,
                                                               dedup_token, result)
            if bad:
                raws = _ndjson_lines(path, bad)
                structure = ", ".join(f"{q(k)} {t}" for k, t in plan.staging_cols)
                self._quarantine_raw(quarantine, columns, import_id, raws, fmt="JSONEachRow",
                                     structure=structure, fmt_settings=settings, dedup_token=dedup_token,
                                     result=result)
            return result
        finally:
            errfile.unlink(missing_ok=True)
            try:
                self.engine.command(f"DROP TABLE IF EXISTS {stg} SYNC")
            except EngineError:
                pass

    def _insert_select(self, sql: str, settings: dict[str, Any]) -> int:
        try:
            return self.engine.command(sql, settings=settings).rows_written
        except EngineError as e:
            raise BadRequest(f"Error converting rows: {e.message}") from None

    def _quarantine_missing(
        self,
        stg: str,
        quarantine: str,
        columns: list[Column],
        plan: _Plan,
        import_id: str,
        dedup_token: str | None,
        result: ImportResult,
    ) -> int:
        fails = [(cond, name) for cond, name in plan.checks]
        err_cols = "arrayFilter(x -> x != '', [" + ", ".join(
            f"if({cond}, '', {string_literal(name)})" for cond, name in fails
        ) + "])"
        err_msgs = "arrayFilter(x -> x != '', [" + ", ".join(
            f"if({cond}, '', {string_literal(_missing_msg(name, columns))})" for cond, name in fails
        ) + "])"
        values = []
        staging_keys = [k for k, _ in plan.staging_cols]
        for key in _first_keys(columns):
            values.append(f"toString({q(key)})" if key in staging_keys else "NULL")
        raw = "toJSONString(map(" + ", ".join(f"{string_literal(k)}, toString({q(k)})" for k in staging_keys) + "))"
        cond = " AND ".join(c for c, _ in fails)
        sql = (
            f"INSERT INTO {quarantine} ({', '.join(q(n) for n in quarantine_columns(columns))}) "
            f"SELECT {', '.join(values)}, {err_cols}, {err_msgs}, {string_literal(import_id)}, {raw}, now() "
            f"FROM {stg} WHERE NOT ({cond})"
        )
        n = self._insert_select(sql, self._dedup(dedup_token, "q"))
        if n and len(result.errors) < 10:
            names = ", ".join(sorted({name for _, name in fails}))
            result.errors.append(f"{n} rows with missing or invalid values in non-nullable columns"
                                 f" (checked: {names}; see c__error in the quarantine)")
        return n

    def _quarantine_raw(
        self,
        quarantine: str,
        columns: list[Column],
        import_id: str,
        raws: list[tuple[int, str]],
        *,
        fmt: str,
        structure: str,
        fmt_settings: dict[str, Any],
        dedup_token: str | None,
        result: ImportResult,
    ) -> None:
        out = io.BytesIO()
        for i, (row_no, raw) in enumerate(raws):
            msg = f"row {row_no}: could not parse the row"
            if i < MAX_DIAGNOSED:
                msg = f"row {row_no}: {self._diagnose(raw, fmt, structure, fmt_settings)}"
            if len(result.errors) < 10:
                result.errors.append(msg)
            out.write(orjson.dumps({"c__error": [msg], "c__error_column": [], "c__import_id": import_id,
                                    "c__raw": raw}))
            out.write(b"\n")
        self.engine.insert(quarantine, "JSONEachRow", [out.getvalue()],
                           settings={"input_format_skip_unknown_fields": 1, **self._dedup(dedup_token, "r")})
        result.quarantined += len(raws)

    def _diagnose(self, raw: str, fmt: str, structure: str, fmt_settings: dict[str, Any]) -> str:
        keep = {k: v for k, v in fmt_settings.items() if not k.startswith("input_format_allow_errors")
                and k != "input_format_record_errors_file_path"}
        try:
            self.engine.query(f"SELECT * FROM format({fmt}, {string_literal(structure)}, {{d:String}})",
                              "Null", params={"d": raw}, settings=keep)
        except EngineError as e:
            return _clean_engine_message(e.message)
        return "the row could not be parsed"


def _clean_engine_message(msg: str) -> str:
    for cut in (": While executing", "(at row 1)", ": (at row"):
        i = msg.find(cut)
        if i > 0:
            msg = msg[:i]
    return msg.strip().rstrip(":").strip()


def _missing_msg(name: str, columns: list[Column]) -> str:
    t = next(c.type for c in columns if c.name == name)
    return f"value for column '{name}' is missing or is not {t}"


def _first_keys(columns: list[Column]) -> list[str]:
    out = []
    for c in columns:
        parsed = parse_jsonpath(c.jsonpath) if c.jsonpath is not None else ([c.name], False)
        out.append(parsed[0][0] if parsed else c.name)
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


def _ndjson_lines(path: Path, wanted: list[int]) -> list[tuple[int, str]]:
    want = set(wanted)
    out: list[tuple[int, str]] = []
    n = 0
    with open(path, "rb") as f:
        for line in f:
            if not line.strip():
                continue
            n += 1
            if n in want:
                out.append((n, line.rstrip(b"\r\n").decode("utf-8", "replace")))
                if len(out) == len(want):
                    break
    found = {r for r, _ in out}
    out.extend((r, "") for r in wanted if r not in found)
    return out


def _csv_header(path: Path, delimiter: str, names: set[str]) -> bool:
    with open(path, "rb") as f:
        first = f.readline(1 << 16).decode("utf-8", "replace")
    try:
        fields = next(csv.reader([first], delimiter=delimiter))
    except (StopIteration, csv.Error):
        return False
    fields = [x.strip() for x in fields]
    return bool(fields) and all(x in names for x in fields)


def _csv_rows(path: Path, delimiter: str, wanted: list[int], header: bool) -> list[tuple[int, str]]:
    want = set(wanted)
    out: list[tuple[int, str]] = []
    with open(path, encoding="utf-8", errors="replace", newline="") as f:
        reader = csv.reader(f, delimiter=delimiter)
        if header:
            next(reader, None)
        for n, rec in enumerate(reader, start=1):
            if n in want:
                buf = io.StringIO()
                csv.writer(buf, delimiter=delimiter, lineterminator="").writerow(rec)
                out.append((n, buf.getvalue()))
                if len(out) == len(want):
                    break
    found = {r for r, _ in out}
    out.extend((r, "") for r in wanted if r not in found)
    return out
