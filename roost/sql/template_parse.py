"""Parse Tinybird template text into a tree, and check every expression against the sandbox.

The syntax is Tornado's: ``{{ expr }}``, ``{% statement %}``, ``{# comment #}``; ``{{!`` and
``{%!`` give a literal ``{{`` / ``{%``. Expressions are parsed with :mod:`ast` and only a small
whitelist of node types is accepted (see :func:`check_expr`); nothing here ever runs them.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field

from roost.errors import DOC_PARAMS, BadRequest

SYNTAX = "Template Syntax Error: "
FORBIDDEN = frozenset(
    {"import", "from", "extends", "include", "autoescape", "raw", "module", "apply", "block"}
)
RESERVED_NAMES = ("format", "q")
MAX_NESTING = 100
MAX_EXPRESSION_CHARS = 100_000


class TemplateError(BadRequest):
    """A template that cannot be parsed or rendered (HTTP 400)."""

    documentation = DOC_PARAMS


class TemplateLimitError(TemplateError):
    """A template went over a resource limit; ``{% try %}`` does not catch it."""


@dataclass(frozen=True)
class Text:
    text: str
    line: int


@dataclass(frozen=True)
class Expr:
    code: ast.expr
    src: str
    line: int


@dataclass
class If:
    line: int
    branches: list[tuple[ast.expr | None, list[Node]]] = field(default_factory=list)


@dataclass
class For:
    line: int
    target: ast.expr
    iter: ast.expr
    body: list[Node] = field(default_factory=list)
    orelse: list[Node] = field(default_factory=list)


@dataclass
class While:
    line: int
    test: ast.expr
    body: list[Node] = field(default_factory=list)
    orelse: list[Node] = field(default_factory=list)


@dataclass
class Try:
    line: int
    body: list[Node] = field(default_factory=list)
    handler_name: str | None = None
    handler: list[Node] | None = None
    final: list[Node] = field(default_factory=list)


@dataclass(frozen=True)
class Set:
    line: int
    targets: tuple[ast.expr, ...]
    value: ast.expr
    op: ast.operator | None  # set only for ``x += ...``


@dataclass(frozen=True)
class Break:
    line: int


@dataclass(frozen=True)
class Continue:
    line: int


Node = Text | Expr | If | For | While | Try | Set | Break | Continue


def syntax_error(message: str) -> TemplateError:
    return TemplateError(SYNTAX + message)


# --- the expression sandbox -------------------------------------------------------------------

_ALLOWED_BINOPS = (ast.Add, ast.Sub, ast.Mult, ast.Div, ast.FloorDiv, ast.Mod)
_ALLOWED_NODES = (
    ast.Expression, ast.Constant, ast.Name, ast.Load, ast.Store, ast.Call, ast.keyword,
    ast.Compare, ast.BoolOp, ast.And, ast.Or, ast.UnaryOp, ast.Not, ast.USub, ast.UAdd,
    ast.BinOp, ast.List, ast.Tuple, ast.Dict, ast.Subscript, ast.Slice, ast.IfExp,
    ast.Eq, ast.NotEq, ast.Lt, ast.LtE, ast.Gt, ast.GtE, ast.In, ast.NotIn, ast.Is, ast.IsNot,
    *_ALLOWED_BINOPS,
)  # fmt: skip
_NODE_WORDS = {
    ast.Attribute: "attribute access is",
    ast.Lambda: "lambda is",
    ast.ListComp: "comprehensions are",
    ast.SetComp: "comprehensions are",
    ast.DictComp: "comprehensions are",
    ast.GeneratorExp: "comprehensions are",
    ast.Starred: "starred arguments are",
    ast.NamedExpr: "assignment expressions are",
    ast.JoinedStr: "f-strings are",
    ast.Set: "set literals are",
    ast.Await: "await is",
    ast.Yield: "yield is",
    ast.YieldFrom: "yield is",
}


def _check_node(node: ast.AST, line: int, depth: int) -> None:
    if depth > 200:
        raise syntax_error(f"expression too complex, line {line}")
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
        raise syntax_error(f"attribute access is not allowed in templates, line {line}")
    if isinstance(node, ast.BinOp) and not isinstance(node.op, _ALLOWED_BINOPS):
        raise syntax_error(f"Invalid BinOp: {type(node.op).__name__}()")
    if not isinstance(node, _ALLOWED_NODES) and not isinstance(node, ast.operator):
        what = _NODE_WORDS.get(type(node), f"{type(node).__name__} is")
        raise syntax_error(f"{what} not allowed in templates, line {line}")
    if isinstance(node, ast.Constant) and not (
        node.value is None or isinstance(node.value, (str, int, float, bool))
    ):
        raise syntax_error(f"constant {node.value!r} is not allowed in templates, line {line}")
    if isinstance(node, ast.Constant) and isinstance(node.value, int) and node.value.bit_length() > 4096:
        raise syntax_error(f"integer constant too large, line {line}")
    if isinstance(node, ast.Name):
        if node.id.startswith("__"):
            raise syntax_error(f"name {node.id!r} is not allowed in templates, line {line}")
        if node.id in RESERVED_NAMES:
            raise TemplateError(f'"{node.id}" can not be used as a variable name, line {line}')
    if isinstance(node, ast.Call) and not isinstance(node.func, ast.Name):
        raise syntax_error(f"only template functions can be called, line {line}")
    if isinstance(node, ast.keyword) and node.arg is None:
        raise syntax_error(f"**kwargs is not allowed in templates, line {line}")
    if isinstance(node, ast.Dict) and any(k is None for k in node.keys):
        raise syntax_error(f"**kwargs is not allowed in templates, line {line}")
    for child in ast.iter_child_nodes(node):
        _check_node(child, line, depth + 1)


def check_expr(node: ast.AST, line: int) -> None:
    """Raise TemplateError unless ``node`` uses only the whitelisted constructs."""
    try:
        _check_node(node, line, 0)
    except RecursionError:
        raise syntax_error(f"expression too complex, line {line}") from None


def _parse(src: str, mode: str, line: int, shown: str, *, check: bool = True) -> ast.AST:
    if len(src) > MAX_EXPRESSION_CHARS:
        raise syntax_error(f"expression too long, line {line}")
    try:
        tree = ast.parse(src, mode=mode)
    except SyntaxError as e:
        raise syntax_error(f"{e.msg} in {shown!r}, line {line}") from None
    except (RecursionError, MemoryError, ValueError):
        raise syntax_error(f"expression too complex, line {line}") from None
    if check:
        check_expr(tree, line)
    return tree


def parse_expression(src: str, line: int) -> ast.expr:
    text = src.strip()
    if not text:
        raise syntax_error(f"Empty expression, line {line}")
    if "\n" in text:
        # An expression may span lines, as inside parentheses.
        try:
            tree = _parse(f"(\n{text}\n)", "eval", line, text)
            assert isinstance(tree, ast.Expression)
            return tree.body
        except TemplateError:
            pass
    tree = _parse(text, "eval", line, text)
    assert isinstance(tree, ast.Expression)
    return tree.body


def _check_target(target: ast.expr, line: int) -> None:
    if isinstance(target, ast.Name):
        return
    if isinstance(target, (ast.Tuple, ast.List)) and all(isinstance(e, ast.Name) for e in target.elts):
        return
    raise syntax_error(f"only names can be assigned in templates, line {line}")


def _parse_set(suffix: str, line: int) -> Set:
    tree = _parse(suffix.strip(), "exec", line, suffix.strip(), check=False)
    assert isinstance(tree, ast.Module)
    if len(tree.body) != 1:
        raise syntax_error(f"set expects one assignment, line {line}")
    stmt = tree.body[0]
    if isinstance(stmt, ast.Assign):
        for t in stmt.targets:
            _check_target(t, line)
            check_expr(t, line)
        check_expr(stmt.value, line)
        return Set(line, tuple(stmt.targets), stmt.value, None)
    if isinstance(stmt, ast.AugAssign):
        if not isinstance(stmt.op, _ALLOWED_BINOPS):
            raise syntax_error(f"Invalid BinOp: {type(stmt.op).__name__}()")
        if not isinstance(stmt.target, ast.Name):
            raise syntax_error(f"only names can be assigned in templates, line {line}")
        check_expr(stmt.target, line)
        check_expr(stmt.value, line)
        return Set(line, (stmt.target,), stmt.value, stmt.op)
    raise syntax_error(f"set expects an assignment, line {line}")


def _parse_for(suffix: str, line: int) -> For:
    text = suffix.strip()
    try:
        tree = ast.parse(f"for {text}: pass", mode="exec")
    except SyntaxError as e:
        raise syntax_error(f"{e.msg} in 'for {text}', line {line}") from None
    except (RecursionError, MemoryError, ValueError):
        raise syntax_error(f"expression too complex, line {line}") from None
    stmt = tree.body[0] if len(tree.body) == 1 else None
    if not isinstance(stmt, ast.For):
        raise syntax_error(f"invalid for statement, line {line}")
    _check_target(stmt.target, line)
    check_expr(stmt.target, line)
    check_expr(stmt.iter, line)
    return For(line, stmt.target, stmt.iter)


# --- the template reader ----------------------------------------------------------------------

_INTERMEDIATE = {
    "else": ("if", "for", "while", "try"),
    "elif": ("if",),
    "except": ("try",),
    "finally": ("try",),
}
_BLOCKS = ("if", "for", "while", "try")
_EXCEPT_ALIAS = re.compile(r"(?:^|\s)as\s+(\S+)\s*$")
_WS_SINGLE_1 = re.compile(r"([\t ]+)")
_WS_SINGLE_2 = re.compile(r"(\s*\n\s*)")
_WS_ONELINE = re.compile(r"(\s+)")


def _filter_whitespace(mode: str, text: str) -> str:
    if mode == "single":
        return _WS_SINGLE_2.sub("\n", _WS_SINGLE_1.sub(" ", text))
    if mode == "oneline":
        return _WS_ONELINE.sub(" ", text)
    return text


@dataclass
class _Open:
    """A block being read: its node, the list its body goes to now, and what came so far."""

    kind: str
    node: If | For | While | Try
    body: list[Node]
    seen: list[str] = field(default_factory=list)


def parse_template(text: str, first_line: int = 1) -> list[Node]:
    """Parse template text (without its leading ``%``) into a list of nodes."""
    root: list[Node] = []
    stack: list[_Open] = []
    mode = "all"
    pos = 0
    line = first_line
    n = len(text)

    def out() -> list[Node]:
        return stack[-1].body if stack else root

    def add_text(s: str, at: int) -> None:
        if s:
            out().append(Text(_filter_whitespace(mode, s), at))

    while pos < n:
        curly = text.find("{", pos)
        while curly != -1 and curly + 1 < n and text[curly + 1] not in "{%#":
            curly = text.find("{", curly + 1)
        # With three or more curlies in a row, the innermost two open the tag.
        while curly != -1 and curly + 2 < n and text[curly + 1] == "{" and text[curly + 2] == "{":
            curly += 1
        if curly == -1 or curly + 1 >= n:
            add_text(text[pos:], line)
            break
        add_text(text[pos:curly], line)
        line += text.count("\n", pos, curly)
        kind = text[curly + 1]
        start = curly + 2
        if start < n and text[start] == "!" and kind in "{%#":
            # {{! / {%! / {#! print the opening as text.
            add_text("{" + kind, line)
            pos = start + 1
            continue
        close = {"{": "}}", "%": "%}", "#": "#}"}[kind]
        end = text.find(close, start)
        if end == -1:
            raise syntax_error(f"Missing end {close} on line {line}")
        contents = text[start:end]
        tag_line = line
        line += contents.count("\n")
        pos = end + 2
        if kind == "#":
            continue
        if kind == "{":
            out().append(Expr(parse_expression(contents, tag_line), contents.strip(), tag_line))
            continue
        stmt = contents.strip()
        if not stmt:
            raise syntax_error(f"Empty statement, line {tag_line}")
        operator, _, suffix = stmt.partition(" ")
        operator, suffix = operator.strip(), suffix.strip()
        if operator in FORBIDDEN:
            raise TemplateError(f"{operator} is forbidden at <string>:{tag_line}")
        if operator in _INTERMEDIATE:
            if not stack or stack[-1].kind not in _INTERMEDIATE[operator]:
                raise syntax_error(f"{operator} outside {' or '.join(_INTERMEDIATE[operator])} block")
            _intermediate(stack[-1], operator, suffix, tag_line)
        elif operator == "end":
            if not stack:
                raise syntax_error(f"Extra {{% end %}} block, line {tag_line}")
            stack.pop()
        elif operator in _BLOCKS:
            if len(stack) >= MAX_NESTING:
                raise syntax_error(f"blocks nested too deeply, line {tag_line}")
            opened = _open_block(operator, suffix, tag_line)
            out().append(opened.node)
            stack.append(opened)
        elif operator == "set":
            if not suffix:
                raise syntax_error(f"set missing statement, line {tag_line}")
            out().append(_parse_set(suffix, tag_line))
        elif operator in ("break", "continue"):
            if not any(o.kind in ("for", "while") for o in stack):
                raise syntax_error(f"{operator} outside loop, line {tag_line}")
            out().append(Break(tag_line) if operator == "break" else Continue(tag_line))
        elif operator == "comment":
            pass
        elif operator == "whitespace":
            if suffix not in ("all", "single", "oneline"):
                raise syntax_error(f"invalid whitespace mode {suffix!r}, line {tag_line}")
            mode = suffix
        else:
            raise syntax_error(f"unknown operator: {operator!r}, line {tag_line}")
    if stack:
        o = stack[-1]
        raise TemplateError(f"Missing {{% end %}} block for {o.kind} at line {o.node.line}")
    return root


def _open_block(operator: str, suffix: str, line: int) -> _Open:
    if operator == "if":
        if not suffix:
            raise syntax_error(f"if missing expression, line {line}")
        node_if = If(line)
        node_if.branches.append((parse_expression(suffix, line), []))
        return _Open("if", node_if, node_if.branches[-1][1])
    if operator == "for":
        node_for = _parse_for(suffix, line)
        return _Open("for", node_for, node_for.body)
    if operator == "while":
        if not suffix:
            raise syntax_error(f"while missing expression, line {line}")
        node_while = While(line, parse_expression(suffix, line))
        return _Open("while", node_while, node_while.body)
    node_try = Try(line)
    return _Open("try", node_try, node_try.body)


def _intermediate(block: _Open, operator: str, suffix: str, line: int) -> None:
    if "else" in block.seen or "finally" in block.seen:
        raise syntax_error(f"{operator} after else/finally, line {line}")
    block.seen.append(operator)
    node = block.node
    if isinstance(node, If):
        if operator == "elif":
            if not suffix:
                raise syntax_error(f"elif missing expression, line {line}")
            node.branches.append((parse_expression(suffix, line), []))
        else:
            node.branches.append((None, []))
        block.body = node.branches[-1][1]
    elif isinstance(node, (For, While)):
        block.body = node.orelse
    else:
        assert isinstance(node, Try)
        if operator == "except":
            if node.handler is not None:
                raise syntax_error(f"only one except block is supported, line {line}")
            # ``except`` / ``except E`` / ``except E as e``: every template error is caught.
            m = _EXCEPT_ALIAS.search(suffix)
            alias = m.group(1) if m else ""
            if alias and (not alias.isidentifier() or alias.startswith("__") or alias in RESERVED_NAMES):
                raise syntax_error(f"invalid except alias {alias!r}, line {line}")
            node.handler_name = alias or None
            node.handler = []
            block.body = node.handler
        elif operator == "finally":
            block.body = node.final
        else:
            raise syntax_error(f"else is not supported in try blocks, line {line}")
