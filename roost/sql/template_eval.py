"""The sandboxed evaluator of template expressions and the renderer of the template tree.

Expressions were parsed by :mod:`ast` and checked against a whitelist by ``template_parse``;
this module walks them with its own small interpreter. It never calls ``eval``/``exec``, never
reads an attribute, and calls only the template functions it is given, so a template cannot
reach a Python object. Every operation is bounded: string and list sizes, integer sizes, loop
iterations, evaluation steps and output size.
"""

from __future__ import annotations

import ast
import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field

from roost.errors import RoostError
from roost.sql import literals
from roost.sql.template_parse import (
    SYNTAX,
    Break,
    Continue,
    Expr,
    For,
    If,
    Node,
    Set,
    TemplateError,
    TemplateLimitError,
    Text,
    Try,
    While,
    syntax_error,
)

MAX_PARAM_CHARS = 256 * 1024  # one request value
MAX_ARRAY_ITEMS = 10_000  # items of one Array parameter, or one list built by a template
MAX_STRING_CHARS = 1024 * 1024  # a string built by a template
MAX_INT_BITS = 4096
MAX_ITERATIONS = 100_000  # all loop iterations of one render
MAX_STEPS = 2_000_000  # all expression nodes evaluated in one render
MAX_OUTPUT_CHARS = 16 * 1024 * 1024
NO_VALUE = "__no_value__"


@dataclass(frozen=True)
class SQL:
    """Text that is already SQL (a typed literal, an identifier, ...) and the value behind it."""

    sql: str
    value: object


class Placeholder:
    """A parameter with no value in test mode. It renders as ``'__no_value__'``."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return NO_VALUE


@dataclass
class Call:
    """The evaluated arguments of one template function call."""

    fn: str
    args: list[object]
    kwargs: dict[str, object]
    names: list[str | None]  # the parameter name of each positional argument that is a bare name
    line: int

    def name(self, i: int = 0) -> str | None:
        return self.names[i] if i < len(self.names) else None


Function = Callable[["Context", Call], object]


class _BreakLoop(Exception):
    pass


class _ContinueLoop(Exception):
    pass


@dataclass
class Context:
    params: Mapping[str, object]
    functions: Mapping[str, Function]
    test_mode: bool = False
    column_check: Callable[[str], bool] | None = None
    locals: dict[str, object] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)
    settings: dict[str, object] = field(default_factory=dict)
    steps: int = 0
    iterations: int = 0
    output_chars: int = 0
    line: int = 1

    # --- values ------------------------------------------------------------------------------

    def param(self, name: str) -> object:
        """The raw request value of ``name`` (a str, a list for repeated keys), size-checked."""
        value = self.params[name]
        if isinstance(value, str):
            if len(value) > MAX_PARAM_CHARS:
                raise TemplateLimitError(
                    f"{SYNTAX}Parameter '{name}' is too large ({len(value)} characters; "
                    f"the limit is {MAX_PARAM_CHARS})"
                )
        elif isinstance(value, (list, tuple)):
            if len(value) > MAX_ARRAY_ITEMS:
                raise TemplateLimitError(
                    f"{SYNTAX}Parameter '{name}' has too many values ({len(value)}; "
                    f"the limit is {MAX_ARRAY_ITEMS})"
                )
            if sum(len(v) if isinstance(v, str) else 32 for v in value) > 4 * MAX_PARAM_CHARS:
                raise TemplateLimitError(f"{SYNTAX}Parameter '{name}' is too large")
            return list(value)
        return value

    def lookup(self, name: str) -> object:
        if name in self.locals:
            return self.locals[name]
        if name in self.params:
            return self.param(name)
        return self.missing_value(name)

    def missing_value(self, name: str) -> object:
        return Placeholder(name) if self.test_mode else None

    def step(self, cost: int = 1) -> None:
        self.steps += cost
        if self.steps > MAX_STEPS:
            raise TemplateLimitError(f"{SYNTAX}the template does too much work (over {MAX_STEPS} steps)")

    def iterate(self) -> None:
        self.iterations += 1
        if self.iterations > MAX_ITERATIONS:
            raise TemplateLimitError(
                f"{SYNTAX}the template loops too many times (over {MAX_ITERATIONS} iterations)"
            )

    # --- expressions -------------------------------------------------------------------------

    def ev(self, node: ast.expr) -> object:
        self.step()
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.Name):
            return self.lookup(node.id)
        if isinstance(node, ast.Call):
            return self._call(node)
        if isinstance(node, ast.BinOp):
            left, right = self.ev(node.left), self.ev(node.right)
            self.step(cost(left) + cost(right))
            return binop(node.op, left, right)
        if isinstance(node, ast.UnaryOp):
            operand = self.ev(node.operand)
            if isinstance(node.op, ast.Not):
                return not truthy(operand)
            v = unwrap(operand)
            if not isinstance(v, (int, float)):
                raise syntax_error(f"bad operand type for unary {_op_symbol(node.op)}: '{type_name(v)}'")
            return -v if isinstance(node.op, ast.USub) else +v
        if isinstance(node, ast.BoolOp):
            result: object = None
            for value_node in node.values:
                result = self.ev(value_node)
                if isinstance(node.op, ast.And) != truthy(result):
                    return result
            return result
        if isinstance(node, ast.Compare):
            left = self.ev(node.left)
            for op, right_node in zip(node.ops, node.comparators, strict=True):
                right = self.ev(right_node)
                self.step(cost(left) + cost(right))
                if not compare(op, left, right):
                    return False
                left = right
            return True
        if isinstance(node, ast.IfExp):
            return self.ev(node.body) if truthy(self.ev(node.test)) else self.ev(node.orelse)
        if isinstance(node, (ast.List, ast.Tuple)):
            if len(node.elts) > MAX_ARRAY_ITEMS:
                raise TemplateLimitError(f"{SYNTAX}list too long")
            items = [self.ev(e) for e in node.elts]
            return items if isinstance(node, ast.List) else tuple(items)
        if isinstance(node, ast.Dict):
            out: dict[object, object] = {}
            for k_node, v_node in zip(node.keys, node.values, strict=True):
                assert k_node is not None
                key = unwrap(self.ev(k_node))
                if not isinstance(key, (str, int, float, bool)) and key is not None:
                    raise syntax_error(f"a dict key must be a string or a number, line {self.line}")
                out[key] = self.ev(v_node)
            return out
        if isinstance(node, ast.Subscript):
            return self._subscript(node)
        raise syntax_error(f"{type(node).__name__} is not allowed in templates, line {self.line}")

    def _call(self, node: ast.Call) -> object:
        assert isinstance(node.func, ast.Name)
        fn_name = node.func.id
        fn = self.functions.get(fn_name)
        if fn is None:
            raise syntax_error(f"'{fn_name}' is not a valid function, line {self.line}")
        args = [self.ev(a) for a in node.args]
        names = [a.id if isinstance(a, ast.Name) and a.id not in self.locals else None for a in node.args]
        kwargs: dict[str, object] = {}
        for kw in node.keywords:
            assert kw.arg is not None
            kwargs[kw.arg] = self.ev(kw.value)
        self.step(sum(cost(a) for a in args) + sum(cost(v) for v in kwargs.values()))
        result = fn(self, Call(fn_name, args, kwargs, names, self.line))
        self.step(cost(result))
        return result

    def _subscript(self, node: ast.Subscript) -> object:
        container = unwrap(self.ev(node.value))
        if isinstance(container, Placeholder):
            return Placeholder(container.name)
        if isinstance(node.slice, ast.Slice):
            bounds = []
            for part in (node.slice.lower, node.slice.upper, node.slice.step):
                b = None if part is None else unwrap(self.ev(part))
                if b is not None and (not isinstance(b, int) or isinstance(b, bool)):
                    raise syntax_error(f"slice indices must be integers, line {self.line}")
                bounds.append(b)
            if bounds[2] == 0:
                raise syntax_error(f"slice step cannot be zero, line {self.line}")
            if not isinstance(container, (str, list, tuple)):
                raise syntax_error(f"'{type_name(container)}' object is not subscriptable, line {self.line}")
            return container[slice(*bounds)]
        index = unwrap(self.ev(node.slice))
        if isinstance(container, dict):
            if not isinstance(index, (str, int, float, bool)) and index is not None:
                raise syntax_error(f"a dict key must be a string or a number, line {self.line}")
            if index not in container:
                raise syntax_error(f"key {index!r} not found, line {self.line}")
            return container[index]
        if not isinstance(container, (str, list, tuple)):
            raise syntax_error(f"'{type_name(container)}' object is not subscriptable, line {self.line}")
        if not isinstance(index, int) or isinstance(index, bool):
            raise syntax_error(f"indices must be integers, line {self.line}")
        if not -len(container) <= index < len(container):
            if isinstance(container, str):
                raise syntax_error(
                    "String index out of range. Check that string parameters have values before accessing "
                    "specific characters (e.g., param[0]). Provide default values or add length checks "
                    "in your template."
                )
            raise syntax_error(f"list index out of range, line {self.line}")
        return container[index]

    # --- statements --------------------------------------------------------------------------

    def run(self, nodes: list[Node], out: list[str]) -> None:
        for node in nodes:
            self.line = node.line
            if isinstance(node, Text):
                self.emit(out, node.text)
            elif isinstance(node, Expr):
                budget = MAX_OUTPUT_CHARS - self.output_chars
                self.emit(out, render_value(self.ev(node.code), node.src, budget))
            elif isinstance(node, If):
                for test, body in node.branches:
                    self.line = node.line
                    if test is None or truthy(self.ev(test)):
                        self.run(body, out)
                        break
            elif isinstance(node, For):
                self._for(node, out)
            elif isinstance(node, While):
                self._while(node, out)
            elif isinstance(node, Set):
                self._set(node)
            elif isinstance(node, Try):
                self._try(node, out)
            elif isinstance(node, Break):
                raise _BreakLoop()
            elif isinstance(node, Continue):
                raise _ContinueLoop()

    def emit(self, out: list[str], text: str) -> None:
        self.output_chars += len(text)
        if self.output_chars > MAX_OUTPUT_CHARS:
            raise _too_large()
        out.append(text)

    def _assign(self, target: ast.expr, value: object) -> None:
        if isinstance(target, ast.Name):
            self.locals[target.id] = value
            return
        assert isinstance(target, (ast.Tuple, ast.List))
        items = list(iterate(value))
        if len(items) != len(target.elts):
            raise syntax_error(
                f"cannot unpack {len(items)} values into {len(target.elts)} names, line {self.line}"
            )
        for name_node, item in zip(target.elts, items, strict=True):
            assert isinstance(name_node, ast.Name)
            self.locals[name_node.id] = item

    def _set(self, node: Set) -> None:
        value = self.ev(node.value)
        if node.op is not None:
            target = node.targets[0]
            assert isinstance(target, ast.Name)
            value = binop(node.op, self.lookup(target.id), value)
        for target in node.targets:
            self._assign(target, value)

    def _for(self, node: For, out: list[str]) -> None:
        iterable = self.ev(node.iter)
        broke = False
        for item in iterate(iterable):
            self.iterate()
            self._assign(node.target, item)
            if not self._loop_body(node.body, out):
                broke = True
                break
        if not broke:
            self.run(node.orelse, out)

    def _while(self, node: While, out: list[str]) -> None:
        broke = False
        while truthy(self.ev(node.test)):
            self.iterate()
            if not self._loop_body(node.body, out):
                broke = True
                break
        if not broke:
            self.run(node.orelse, out)

    def _loop_body(self, body: list[Node], out: list[str]) -> bool:
        """Run one iteration; False when it ended with ``{% break %}``."""
        try:
            self.run(body, out)
        except _ContinueLoop:
            pass
        except _BreakLoop:
            return False
        return True

    def _try(self, node: Try, out: list[str]) -> None:
        try:
            self.run(node.body, out)
        except TemplateLimitError:
            raise
        except TemplateError as e:
            if node.handler is None:
                raise
            if node.handler_name:
                self.locals[node.handler_name] = e.message
            self.run(node.handler, out)
        finally:
            self.run(node.final, out)


# --- value helpers ----------------------------------------------------------------------------


def shown(value: object, limit: int = 100) -> str:
    """A value for an error message, cut to ``limit`` characters."""
    text = value if isinstance(value, str) else str(unwrap(value))
    return text if len(text) <= limit else text[:limit] + "..."


def cost(v: object) -> int:
    """Work units for handling a value: long strings and lists cost more than one step."""
    v = unwrap(v)
    if isinstance(v, str):
        return len(v) // 16
    if isinstance(v, (list, tuple, dict)):
        return len(v)
    return 0


def unwrap(v: object) -> object:
    return v.value if isinstance(v, SQL) else v


def type_name(v: object) -> str:
    if v is None:
        return "NoneType"
    if isinstance(v, Placeholder):
        return "Placeholder"
    return type(v).__name__


def truthy(v: object) -> bool:
    v = unwrap(v)
    if isinstance(v, Placeholder):
        return True
    if v is None or isinstance(v, (bool, int, float, str, list, tuple, dict)):
        return bool(v)
    return True


def iterate(v: object) -> Iterator[object]:
    v = unwrap(v)
    if isinstance(v, Placeholder):
        return iter([Placeholder(v.name) for _ in range(3)])
    if isinstance(v, (str, list, tuple)):
        return iter(list(v))
    if isinstance(v, dict):
        return iter(list(v.keys()))
    raise syntax_error(f"'{type_name(v)}' object is not iterable")


def check_size(v: object) -> object:
    if isinstance(v, str) and len(v) > MAX_STRING_CHARS:
        raise TemplateLimitError(f"{SYNTAX}string too long (over {MAX_STRING_CHARS} characters)")
    if isinstance(v, (list, tuple)) and len(v) > MAX_ARRAY_ITEMS:
        raise TemplateLimitError(f"{SYNTAX}list too long (over {MAX_ARRAY_ITEMS} items)")
    if isinstance(v, int) and not isinstance(v, bool) and v.bit_length() > MAX_INT_BITS:
        raise TemplateLimitError(f"{SYNTAX}integer too large")
    return v


_OP_SYMBOLS = {
    ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.FloorDiv: "//", ast.Mod: "%",
    ast.USub: "-", ast.UAdd: "+",
}  # fmt: skip


def _op_symbol(op: ast.AST) -> str:
    return _OP_SYMBOLS.get(type(op), type(op).__name__)


def _is_number(v: object) -> bool:
    return isinstance(v, (int, float))


def binop(op: ast.operator, left: object, right: object) -> object:
    a, b = unwrap(left), unwrap(right)
    if isinstance(a, Placeholder) and isinstance(op, ast.Add):
        return Placeholder(a.name)
    sym = _op_symbol(op)
    if _is_number(a) and _is_number(b):
        assert isinstance(a, (int, float)) and isinstance(b, (int, float))
        if isinstance(op, ast.Mult) and isinstance(a, int) and isinstance(b, int):
            if a.bit_length() + b.bit_length() > MAX_INT_BITS:
                raise TemplateLimitError(f"{SYNTAX}integer too large")
        try:
            if isinstance(op, ast.Add):
                result: object = a + b
            elif isinstance(op, ast.Sub):
                result = a - b
            elif isinstance(op, ast.Mult):
                result = a * b
            elif isinstance(op, ast.Div):
                result = a / b
            elif isinstance(op, ast.FloorDiv):
                result = a // b
            elif isinstance(op, ast.Mod):
                result = a % b
            else:
                raise syntax_error(f"Invalid BinOp: {type(op).__name__}()")
        except ZeroDivisionError:
            raise syntax_error("division by zero") from None
        except OverflowError:
            raise syntax_error("number too large") from None
        if isinstance(result, float) and not math.isfinite(result):
            raise syntax_error("number too large")
        return check_size(result)
    if isinstance(op, ast.Add):
        if isinstance(a, str) and isinstance(b, str):
            if len(a) + len(b) > MAX_STRING_CHARS:
                check_size(a + b[: MAX_STRING_CHARS + 1])
            return a + b
        if isinstance(a, (list, tuple)) and type(a) is type(b):
            assert isinstance(b, (list, tuple))
            if len(a) + len(b) > MAX_ARRAY_ITEMS:
                raise TemplateLimitError(f"{SYNTAX}list too long (over {MAX_ARRAY_ITEMS} items)")
            joined = [*a, *b]
            return joined if isinstance(a, list) else tuple(joined)
    if isinstance(op, ast.Mult):
        seq, n = (a, b) if isinstance(b, int) else (b, a)
        if isinstance(seq, (str, list, tuple)) and isinstance(n, int) and not isinstance(n, bool):
            size = len(seq) * max(n, 0)
            limit = MAX_STRING_CHARS if isinstance(seq, str) else MAX_ARRAY_ITEMS
            if size > limit:
                raise TemplateLimitError(f"{SYNTAX}result too long ({size} > {limit})")
            return seq * n
    raise syntax_error(f"unsupported operand type(s) for {sym}: '{type_name(a)}' and '{type_name(b)}'")


_ORDERING = (ast.Lt, ast.LtE, ast.Gt, ast.GtE)
_CMP_SYMBOLS = {ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">="}


def _comparable(a: object, b: object) -> bool:
    if _is_number(a) and _is_number(b):
        return True
    if isinstance(a, str) and isinstance(b, str):
        return True
    if isinstance(a, (list, tuple)) and type(a) is type(b):
        assert isinstance(b, (list, tuple))
        return all(_comparable(x, y) for x, y in zip(a, b, strict=False))
    return False


def compare(op: ast.cmpop, left: object, right: object) -> bool:
    a, b = unwrap(left), unwrap(right)
    if isinstance(op, ast.Eq):
        return _equal(a, b)
    if isinstance(op, ast.NotEq):
        return not _equal(a, b)
    if isinstance(op, ast.Is):
        return a is b
    if isinstance(op, ast.IsNot):
        return a is not b
    if isinstance(op, (ast.In, ast.NotIn)):
        if isinstance(b, str):
            if not isinstance(a, str):
                raise syntax_error(f"'in <string>' requires string as left operand, not {type_name(a)}")
            found = a in b
        elif isinstance(b, (list, tuple)):
            found = any(_equal(a, unwrap(x)) for x in b)
        elif isinstance(b, dict):
            found = isinstance(a, (str, int, float, bool)) and a in b
        elif isinstance(b, Placeholder):
            found = False
        else:
            raise syntax_error(f"argument of type '{type_name(b)}' is not iterable")
        return found if isinstance(op, ast.In) else not found
    assert isinstance(op, _ORDERING)
    if not _comparable(a, b):
        msg = (
            f"'{_CMP_SYMBOLS[type(op)]}' not supported between instances of "
            f"'{type_name(a)}' and '{type_name(b)}'"
        )
        if isinstance(a, Placeholder) or isinstance(b, Placeholder):
            msg += (
                ". If you are using a dynamic parameter, you need to wrap it around a valid Data Type "
                "(e.g. Int8(placeholder))"
            )
        raise TemplateError(msg)
    try:
        if isinstance(op, ast.Lt):
            return bool(a < b)  # type: ignore[operator]
        if isinstance(op, ast.LtE):
            return bool(a <= b)  # type: ignore[operator]
        if isinstance(op, ast.Gt):
            return bool(a > b)  # type: ignore[operator]
        return bool(a >= b)  # type: ignore[operator]
    except TypeError as e:
        raise syntax_error(str(e)) from None


def _equal(a: object, b: object) -> bool:
    if isinstance(a, Placeholder) or isinstance(b, Placeholder):
        return a is b
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return (
            type(a) is type(b)
            and len(a) == len(b)
            and all(_equal(unwrap(x), unwrap(y)) for x, y in zip(a, b, strict=True))
        )
    if isinstance(a, dict) or isinstance(b, dict):
        return a == b
    return bool(a == b)


# --- rendering --------------------------------------------------------------------------------


def _too_large() -> TemplateLimitError:
    return TemplateLimitError(f"{SYNTAX}the rendered SQL is too large (over {MAX_OUTPUT_CHARS} characters)")


def render_value(v: object, src: str, budget: int = MAX_OUTPUT_CHARS) -> str:
    """The SQL text for the value of a ``{{ expression }}`` (at most ``budget`` characters)."""
    if isinstance(v, SQL):
        text = v.sql
    elif isinstance(v, Placeholder):
        text = literals.string_literal(NO_VALUE)
    elif v is None:
        shown = src[:20] + "..." if len(src) > 20 else src
        raise syntax_error(f'expression "{shown}" evaluated to null')
    elif isinstance(v, bool):
        text = "true" if v else "false"
    elif isinstance(v, int):
        text = str(v)
    elif isinstance(v, float):
        if not math.isfinite(v):
            raise syntax_error(f'expression "{src[:20]}" is not a finite number')
        text = repr(v)
    elif isinstance(v, str):
        if len(v) > budget:
            raise _too_large()
        try:
            text = literals.string_literal(v)
        except ValueError as e:
            raise syntax_error(str(e)) from None
    elif isinstance(v, (list, tuple)):
        parts: list[str] = []
        left = budget - 2
        for item in v:
            part = render_value(item, src, left)
            left -= len(part) + 1
            if left < 0:
                raise _too_large()
            parts.append(part)
        text = "[" + ",".join(parts) + "]"
    else:
        raise syntax_error(f'expression "{src[:20]}" is a {type_name(v)}, which cannot be rendered as SQL')
    if len(text) > budget:
        raise _too_large()
    return text


def render_nodes(ctx: Context, nodes: list[Node]) -> str:
    out: list[str] = []
    try:
        ctx.run(nodes, out)
    except RoostError:
        raise
    except RecursionError:
        raise TemplateLimitError(f"{SYNTAX}the template is nested too deeply") from None
    except MemoryError:
        raise TemplateLimitError(f"{SYNTAX}the template uses too much memory") from None
    except (TypeError, ValueError, LookupError, ArithmeticError) as e:
        # A safety net: every expected failure is already a TemplateError with a clear message.
        raise syntax_error(f"{e}, line {ctx.line}") from None
    return "".join(out)
