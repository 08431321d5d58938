"""Row-level security fixtures: tests/fixtures/rls/*.sql, run through the compiler and on chDB.

Each case is ``input SQL;`` (one or more lines, the last ending with ``;``) followed by the expected rewrite
``SQL;`` or ``REJECT <status>[: part of the message];``. Cases are separated by blank lines; ``--`` lines
before a case are its title, ``-- resolver: admin`` switches to the admin resolver, and a file whose first
block says ``-- mode: filter`` checks validate_filter() instead of compile_select().

Every case that compiles is also run on a real chDB (readonly) and must return nothing but user 42's rows;
it must run without error unless marked ``-- engine: error``.

To fill in expected rewrites written as ``?;`` (review them before committing)::

    .venv/bin/python -m tests.sql.test_rls_fixtures --fill
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from roost.errors import RoostError
from roost.sql.compiler import compile_select, validate_filter
from tests.sql.test_compiler import AdminResolver, Chdb, UserResolver, check_no_leak, normalize

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "rls"
FILTER_COLUMNS = {"user_id", "event_type", "price", "timestamp", "tags"}
_REJECT = re.compile(r"REJECT (\d{3})(?::\s*(.*))?", re.DOTALL)


@dataclass
class Case:
    path: Path
    line: int  # 1-based line of the input
    title: str
    sql: str
    expected: str
    resolver: str
    mode: str
    engine_error: bool
    expected_line: int  # 0-based index of the first expected line

    @property
    def id(self) -> str:
        return f"{self.path.name}:{self.line}"


def load(path: Path) -> list[Case]:
    lines = path.read_text(encoding="utf-8").split("\n")
    blocks: list[tuple[int, list[str]]] = []
    current: list[str] = []
    start = 0
    for i, line in enumerate([*lines, ""]):
        if line.strip():
            if not current:
                start = i
            current.append(line)
        elif current:
            blocks.append((start, current))
            current = []
    mode = "compile"
    cases = []
    for start, block in blocks:
        head = 0
        while head < len(block) and block[head].lstrip().startswith("--"):
            head += 1
        comments = [b.lstrip()[2:].strip() for b in block[:head]]
        directives = dict(
            (c.split(":", 1)[0].strip(), c.split(":", 1)[1].strip())
            for c in comments
            if re.match(r"(mode|resolver|engine):", c)
        )
        if head == len(block):  # a header block
            mode = directives.get("mode", mode)
            continue
        code = block[head:]
        end = next((i for i, c in enumerate(code) if c.rstrip().endswith(";")), None)
        if end is None or end == len(code) - 1:
            raise ValueError(f"{path.name}:{start + head + 1}: a case needs an input and an expected result")
        sql = "\n".join(code[: end + 1]).rstrip()[:-1]
        expected = "\n".join(code[end + 1 :]).strip()
        if not expected.endswith(";"):
            raise ValueError(f"{path.name}:{start + head + end + 2}: the expected result must end with ';'")
        cases.append(
            Case(
                path=path,
                line=start + head + 1,
                title=" ".join(c for c in comments if not re.match(r"(mode|resolver|engine):", c)),
                sql=sql,
                expected=expected[:-1].strip(),
                resolver=directives.get("resolver", "user"),
                mode=mode,
                engine_error=directives.get("engine") == "error",
                expected_line=start + head + end + 1,
            )
        )
    return cases


def all_cases() -> list[Case]:
    return [case for path in sorted(FIXTURES.glob("*.sql")) for case in load(path)]


RESOLVERS = {"user": UserResolver(), "admin": AdminResolver()}


def run(case: Case) -> str:
    """The normalized result of a case, or ``REJECT <status>`` (raises nothing for expected errors)."""
    if case.mode == "filter":
        return validate_filter(case.sql, FILTER_COLUMNS)
    return normalize(compile_select(case.sql, RESOLVERS[case.resolver]).sql)


@pytest.fixture(scope="module")
def engine() -> Iterator[Chdb]:
    eng = Chdb()
    yield eng
    eng.close()


CASES = all_cases()


def test_fixture_files_have_cases() -> None:
    assert len(CASES) > 250
    assert not [c.id for c in CASES if c.expected == "?"], "run --fill and review"


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_fixture(case: Case, engine: Chdb) -> None:
    rejected = _REJECT.fullmatch(case.expected)
    if rejected:
        with pytest.raises(RoostError) as info:
            run(case)
        assert info.value.status == int(rejected.group(1)), info.value.message
        if rejected.group(2):
            assert rejected.group(2).strip() in info.value.message
        return
    got = run(case)
    if case.mode == "filter":
        assert got == validate_filter(case.expected, None)
        return
    assert got == normalize(case.expected)
    if case.resolver == "user":
        result = check_no_leak(engine, compile_select(case.sql, RESOLVERS["user"]))
        assert (result is None) == case.engine_error, "the engine refused the compiled SQL"


def _fill() -> None:  # pragma: no cover - a maintenance tool
    for path in sorted(FIXTURES.glob("*.sql")):
        lines = path.read_text(encoding="utf-8").split("\n")
        changed = False
        for case in load(path):
            try:
                result = run(case)
                if case.mode == "compile":  # the compiler's own text, not the re-normalized one
                    raw = compile_select(case.sql, RESOLVERS[case.resolver]).sql
                    result = re.sub(r"__roost_cte_[0-9a-f]{8}_", "__roost_cte_", raw)
            except RoostError as e:
                result = f"REJECT {e.status}"
                if case.expected != "?" and not case.expected.startswith(result):
                    print(f"{case.id}: expected {case.expected}, got {result}: {e.message}")
                continue
            if case.expected == "?":
                lines[case.expected_line] = result + ";"
                changed = True
            elif case.expected.startswith("REJECT"):
                print(f"{case.id}: expected {case.expected}, got {result}")
        if changed:
            path.write_text("\n".join(lines), encoding="utf-8")


if __name__ == "__main__":  # pragma: no cover
    if "--fill" in sys.argv:
        _fill()
