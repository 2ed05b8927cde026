"""A small, safe expression language for workflow conditions, FSM guards and tree conditions.

Expressions are Python syntax parsed with :mod:`ast` and checked against a whitelist; they are
never given to ``eval``. What is allowed:

* literals (numbers, strings, ``true``/``false``/``null`` and ``True``/``False``/``None``,
  lists, tuples, dicts);
* names, which resolve into the task data (a mapping): ``priority`` is ``data["priority"]``;
  ``data`` is the whole task data;
* attribute and subscript access: ``ticket.priority``, ``items[0]``, ``scores["a"]``;
* comparisons (``==``, ``!=``, ``<``, ``<=``, ``>``, ``>=``, ``in``, ``not in``, ``is``,
  ``is not``), ``and`` / ``or`` / ``not``, ``x if c else y``;
* arithmetic ``+ - * / // %`` and unary ``-``/``+`` (``*`` on numbers only);
* the functions ``len``, ``lower``, ``upper``, ``str``, ``int``, ``float``, ``abs``, ``min``,
  ``max``.

:func:`compile_expr` parses once and returns an :class:`Expr` whose :meth:`Expr.evaluate` runs
a tree of closures (no AST walk per evaluation). A reference to a field the data does not have
raises :class:`ExprError` naming it.

Example:
    ```python
    expr = compile_expr("priority == 'high' and len(items) > 2")
    expr.evaluate({"priority": "high", "items": [1, 2, 3]})  # True
    ```
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable, Mapping
from typing import Any

Fn = Callable[[Any], Any]

MAX_LENGTH = 2000
"""Longest accepted expression, in characters."""

_CONSTANTS: dict[str, Any] = {
    "true": True,
    "false": False,
    "null": None,
    "True": True,
    "False": False,
    "None": None,
}
_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "len": len,
    "lower": lambda value: str(value).lower(),
    "upper": lambda value: str(value).upper(),
    "str": str,
    "int": int,
    "float": float,
    "abs": abs,
    "min": min,
    "max": max,
}
_COMPARE: dict[type[ast.cmpop], Callable[[Any, Any], Any]] = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.In: lambda a, b: a in b,
    ast.NotIn: lambda a, b: a not in b,
    ast.Is: operator.is_,
    ast.IsNot: operator.is_not,
}
_BINARY: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
}


class ExprError(Exception):
    """An expression that does not parse, uses something not allowed, or fails on the data."""


class Expr:
    """A compiled expression. Evaluate it against task data with :meth:`evaluate`."""

    __slots__ = ("_fn", "names", "source")

    def __init__(self, source: str, fn: Fn, names: frozenset[str]) -> None:
        self.source = source
        self._fn = fn
        self.names = names
        """The top-level field names the expression reads."""

    def evaluate(self, data: Any) -> Any:
        """The expression's value for ``data``.

        Raises:
            ExprError: a field is missing, or an operation fails (``"a" < 1``, division by 0).
        """
        try:
            return self._fn(data)
        except ExprError:
            raise
        except (TypeError, ValueError, ZeroDivisionError, OverflowError) as exc:
            raise ExprError(f"{self.source!r}: {exc}") from None

    def test(self, data: Any) -> bool:
        """The expression's truth value for ``data``."""
        return bool(self.evaluate(data))

    def __repr__(self) -> str:
        return f"Expr({self.source!r})"


def compile_expr(source: str) -> Expr:
    """Parse and check ``source``; raise :class:`ExprError` saying what is wrong and where."""
    text = source.strip()
    if not text:
        raise ExprError("empty expression")
    if len(text) > MAX_LENGTH:
        raise ExprError(f"expression longer than {MAX_LENGTH} characters")
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as exc:
        column = f" at column {exc.offset}" if exc.offset else ""
        raise ExprError(f"invalid expression {text!r}: {exc.msg}{column}") from None
    names: set[str] = set()
    fn = _Compiler(text, names).build(tree.body)
    return Expr(text, fn, frozenset(names))


def check_expr(source: str) -> str:
    """``""`` when ``source`` compiles, else the error message."""
    try:
        compile_expr(source)
    except ExprError as exc:
        return str(exc)
    return ""


class _Missing(ExprError):
    pass


def _field(name: str) -> Fn:
    def read(data: Any) -> Any:
        if isinstance(data, Mapping):
            try:
                return data[name]
            except KeyError:
                pass
            fields = ", ".join(sorted(str(k) for k in data)) or "none"
            raise _Missing(f'unknown field "{name}" (the task data has: {fields})')
        raise _Missing(
            f'unknown field "{name}": the task data is {type(data).__name__}, not a mapping'
        )

    return read


def _attribute(inner: Fn, name: str, path: str) -> Fn:
    def read(data: Any) -> Any:
        value = inner(data)
        if isinstance(value, Mapping) and name in value:
            return value[name]
        raise _Missing(f'unknown field "{path}"')

    return read


def _subscript(inner: Fn, index: Fn, path: str) -> Fn:
    def read(data: Any) -> Any:
        value, key = inner(data), index(data)
        try:
            return value[key]
        except (KeyError, IndexError, TypeError):
            raise _Missing(f'unknown field "{path}[{key!r}]"') from None

    return read


class _Compiler:
    def __init__(self, source: str, names: set[str]) -> None:
        self.source = source
        self.names = names

    def fail(self, node: ast.AST, what: str) -> ExprError:
        column = getattr(node, "col_offset", None)
        where = f" at column {column + 1}" if column is not None else ""
        return ExprError(f"{what} is not allowed in an expression{where}: {self.source!r}")

    def build(self, node: ast.AST) -> Fn:
        method = getattr(self, f"_{type(node).__name__}", None)
        if method is None:
            raise self.fail(node, type(node).__name__)
        fn: Fn = method(node)
        return fn

    def _Constant(self, node: ast.Constant) -> Fn:
        value = node.value
        if not isinstance(value, str | int | float | bool | type(None)):
            raise self.fail(node, f"the constant {value!r}")
        return lambda data: value

    def _Name(self, node: ast.Name) -> Fn:
        name = node.id
        if name in _CONSTANTS:
            value = _CONSTANTS[name]
            return lambda data: value
        if name == "data":
            return lambda data: data
        if name.startswith("_"):
            raise self.fail(node, f'the name "{name}"')
        self.names.add(name)
        return _field(name)

    def _Attribute(self, node: ast.Attribute) -> Fn:
        if node.attr.startswith("_"):
            raise self.fail(node, f'the attribute "{node.attr}"')
        return _attribute(self.build(node.value), node.attr, ast.unparse(node))

    def _Subscript(self, node: ast.Subscript) -> Fn:
        if isinstance(node.slice, ast.Slice):
            raise self.fail(node, "slicing")
        return _subscript(self.build(node.value), self.build(node.slice), ast.unparse(node.value))

    def _List(self, node: ast.List) -> Fn:
        items = [self.build(item) for item in node.elts]
        return lambda data: [item(data) for item in items]

    def _Tuple(self, node: ast.Tuple) -> Fn:
        items = [self.build(item) for item in node.elts]
        return lambda data: tuple(item(data) for item in items)

    def _Dict(self, node: ast.Dict) -> Fn:
        if any(key is None for key in node.keys):
            raise self.fail(node, "** in a dict")
        pairs = [
            (self.build(k), self.build(v)) for k, v in zip(node.keys, node.values, strict=True) if k
        ]
        return lambda data: {k(data): v(data) for k, v in pairs}

    def _BoolOp(self, node: ast.BoolOp) -> Fn:
        parts = [self.build(value) for value in node.values]
        if isinstance(node.op, ast.And):

            def both(data: Any) -> Any:
                value: Any = True
                for part in parts:
                    value = part(data)
                    if not value:
                        return value
                return value

            return both

        def either(data: Any) -> Any:
            value: Any = False
            for part in parts:
                value = part(data)
                if value:
                    return value
            return value

        return either

    def _UnaryOp(self, node: ast.UnaryOp) -> Fn:
        operand = self.build(node.operand)
        if isinstance(node.op, ast.Not):
            return lambda data: not operand(data)
        if isinstance(node.op, ast.USub):
            return lambda data: -operand(data)
        if isinstance(node.op, ast.UAdd):
            return lambda data: +operand(data)
        raise self.fail(node, "the operator ~")

    def _BinOp(self, node: ast.BinOp) -> Fn:
        op = _BINARY.get(type(node.op))
        if op is None:
            symbol = {ast.Pow: "**", ast.MatMult: "@"}.get(type(node.op), type(node.op).__name__)
            raise self.fail(node, f"the operator {symbol}")
        left, right = self.build(node.left), self.build(node.right)
        if isinstance(node.op, ast.Mult):

            def multiply(data: Any) -> Any:
                a, b = left(data), right(data)
                if not isinstance(a, int | float) or not isinstance(b, int | float):
                    raise ExprError(f"{self.source!r}: * works on numbers only")
                return a * b

            return multiply
        return lambda data: op(left(data), right(data))

    def _Compare(self, node: ast.Compare) -> Fn:
        first = self.build(node.left)
        chain = [
            (_COMPARE[type(op)], self.build(right))
            for op, right in zip(node.ops, node.comparators, strict=True)
        ]

        def compare(data: Any) -> bool:
            left = first(data)
            for op, right_fn in chain:
                right = right_fn(data)
                if not op(left, right):
                    return False
                left = right
            return True

        return compare

    def _IfExp(self, node: ast.IfExp) -> Fn:
        test, body, orelse = self.build(node.test), self.build(node.body), self.build(node.orelse)
        return lambda data: body(data) if test(data) else orelse(data)

    def _Call(self, node: ast.Call) -> Fn:
        if not isinstance(node.func, ast.Name) or node.func.id not in _FUNCTIONS:
            name = ast.unparse(node.func)
            raise self.fail(node, f'calling "{name}" (functions: {", ".join(_FUNCTIONS)})')
        if node.keywords:
            raise self.fail(node, "keyword arguments")
        fn = _FUNCTIONS[node.func.id]
        args = [self.build(arg) for arg in node.args]
        return lambda data: fn(*[arg(data) for arg in args])
