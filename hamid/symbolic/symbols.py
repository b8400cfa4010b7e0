"""State symbols and the safe parser for user-supplied expressions.

Strings reach hamid from custom library terms, CLI options and saved models. They are parsed with
Python's ``ast`` into a tree whose nodes are checked against a whitelist and then rebuilt as SymPy
objects node by node: no string ever reaches ``eval``/``sympify``, so ``__import__('os')`` or attribute
access cannot run.
"""
from __future__ import annotations

import ast
from functools import lru_cache

import sympy as sp

__all__ = ["state_symbols", "parse_expression", "ALLOWED_FUNCTIONS", "ExpressionError"]


class ExpressionError(ValueError):
    """A user expression uses something outside the whitelist or is malformed."""


@lru_cache(maxsize=None)
def state_symbols(n_dof: int) -> tuple[tuple[sp.Symbol, ...], tuple[sp.Symbol, ...]]:
    """Position and momentum symbols for ``n_dof`` degrees of freedom.

    ``q, p`` for one degree of freedom, ``q1..qd, p1..pd`` otherwise. Symbols carry no assumptions so that
    ``sympy.sympify`` of a printed Hamiltonian gives back the very same symbols.

    Parameters
    ----------
    n_dof : int
        Number of degrees of freedom d >= 1.

    Returns
    -------
    qs, ps : tuple of sympy.Symbol, each of length d
    """
    if not isinstance(n_dof, (int,)) or isinstance(n_dof, bool) or n_dof < 1:
        raise ValueError(f"n_dof must be a positive integer, got {n_dof!r}")
    if n_dof == 1:
        return (sp.Symbol("q"),), (sp.Symbol("p"),)
    qs = tuple(sp.Symbol(f"q{i}") for i in range(1, n_dof + 1))
    ps = tuple(sp.Symbol(f"p{i}") for i in range(1, n_dof + 1))
    return qs, ps


ALLOWED_FUNCTIONS = {
    "sin": sp.sin, "cos": sp.cos, "tan": sp.tan,
    "sinh": sp.sinh, "cosh": sp.cosh, "tanh": sp.tanh,
    "asin": sp.asin, "acos": sp.acos, "atan": sp.atan,
    "exp": sp.exp, "log": sp.log, "sqrt": sp.sqrt, "Abs": sp.Abs, "abs": sp.Abs,
}
_CONSTANTS = {"pi": sp.pi, "E": sp.E}
_BINARY = {
    ast.Add: lambda a, b: a + b,
    ast.Sub: lambda a, b: a - b,
    ast.Mult: lambda a, b: a * b,
    ast.Div: lambda a, b: a / b,
    ast.Pow: lambda a, b: a ** b,
}
_MAX_LENGTH = 10_000
_MAX_EXPONENT = 64


def parse_expression(text: str, symbols) -> sp.Expr:
    """Parse ``text`` into a SymPy expression over the allowed ``symbols``.

    Parameters
    ----------
    text : str
        An arithmetic expression: numbers, the named symbols, ``+ - * / ** ^``, parentheses, the
        constants ``pi`` and ``E`` and the functions in :data:`ALLOWED_FUNCTIONS`.
    symbols : iterable of sympy.Symbol or str
        The names the expression may use.

    Returns
    -------
    sympy.Expr

    Raises
    ------
    ExpressionError
        On a syntax error or on anything outside the whitelist (attribute access, calls of other
        functions, unknown names, keywords, huge exponents).
    """
    if isinstance(text, sp.Expr):
        allowed = {str(s) for s in symbols}
        unknown = sorted(str(s) for s in text.free_symbols if str(s) not in allowed)
        if unknown:
            raise ExpressionError(f"expression {text} uses unknown symbol(s) {unknown}; allowed: {sorted(allowed)}")
        return text
    if not isinstance(text, str):
        raise ExpressionError(f"expected an expression string, got {type(text).__name__}")
    if len(text) > _MAX_LENGTH:
        raise ExpressionError(f"expression is {len(text)} characters long; at most {_MAX_LENGTH} are accepted")
    table = {str(s): (s if isinstance(s, sp.Symbol) else sp.Symbol(str(s))) for s in symbols}
    source = text.strip().replace("^", "**")
    if not source:
        raise ExpressionError("empty expression")
    try:
        tree = ast.parse(source, mode="eval")
    except SyntaxError as exc:
        raise ExpressionError(f"cannot parse expression {text!r}: {exc.msg}") from None
    return _build(tree.body, table, text)


def _build(node, table, text):
    if isinstance(node, ast.Constant):
        if isinstance(node.value, bool) or not isinstance(node.value, (int, float)):
            raise ExpressionError(f"in {text!r}: only numeric constants are allowed, got {node.value!r}")
        return sp.Integer(node.value) if isinstance(node.value, int) else sp.Float(node.value)
    if isinstance(node, ast.Name):
        if node.id in table:
            return table[node.id]
        if node.id in _CONSTANTS:
            return _CONSTANTS[node.id]
        raise ExpressionError(
            f"in {text!r}: unknown name {node.id!r}; allowed symbols: {sorted(table)}, "
            f"constants: {sorted(_CONSTANTS)}, functions: {sorted(ALLOWED_FUNCTIONS)}"
        )
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        left, right = _build(node.left, table, text), _build(node.right, table, text)
        if isinstance(node.op, ast.Pow) and right.is_number and abs(float(right)) > _MAX_EXPONENT:
            raise ExpressionError(f"in {text!r}: exponent {right} exceeds {_MAX_EXPONENT}")
        return _BINARY[type(node.op)](left, right)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        operand = _build(node.operand, table, text)
        return -operand if isinstance(node.op, ast.USub) else operand
    if isinstance(node, ast.Call):
        if not isinstance(node.func, ast.Name) or node.func.id not in ALLOWED_FUNCTIONS:
            name = node.func.id if isinstance(node.func, ast.Name) else ast.unparse(node.func)
            raise ExpressionError(
                f"in {text!r}: function {name!r} is not allowed; allowed: {sorted(ALLOWED_FUNCTIONS)}"
            )
        if node.keywords or len(node.args) != 1:
            raise ExpressionError(f"in {text!r}: {node.func.id} takes exactly one positional argument")
        return ALLOWED_FUNCTIONS[node.func.id](_build(node.args[0], table, text))
    raise ExpressionError(f"in {text!r}: {type(node).__name__} is not allowed in an expression ({ast.unparse(node)!r})")
