"""State symbols and the safe parser for user-supplied expressions.

Strings reach hamid from custom library terms, CLI options and saved models. They are parsed with
Python's ``ast`` into a tree whose nodes are checked against a whitelist and then rebuilt as SymPy
objects node by node: no string ever reaches ``eval``/``sympify``, so ``__import__('os')`` or attribute
access cannot run.
"""
from __future__ import annotations

import ast
import io
import math
import sys
import tokenize
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
#: stated limits of the parser (docs/limits.md): characters, operator tokens (operators, calls, commas),
#: nesting depth (a chain of + - or * / counts once), |exponent| of every power after SymPy's folding, and
#: the magnitude of every numeric constant (what float64 can hold)
_MAX_LENGTH = 10_000
_MAX_OPERATIONS = 2_000
_MAX_DEPTH = 32
_MAX_EXPONENT = 64
_MAX_MAGNITUDE = sys.float_info.max
_LOG_MAX_MAGNITUDE = math.log(_MAX_MAGNITUDE)
_CHAIN = {ast.Add: "add", ast.Sub: "add", ast.Mult: "mul", ast.Div: "mul"}


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
        functions, unknown names, keywords), and beyond the stated limits, checked before SymPy does any
        work: at most 10 000 characters and 2 000 operator tokens, nesting depth at most 32 (a chain of
        ``+``/``-`` or ``*``/``/`` counts as one level), every exponent at most 64 in magnitude after
        folding (``(q**64)**64`` is ``q**4096`` and refused) and every numeric constant within float64's
        range (1.8e308) in magnitude.
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
    _check_tokens(source, text)
    try:
        tree = ast.parse(source, mode="eval")
    except SyntaxError as exc:
        raise ExpressionError(f"cannot parse expression {_short(text)!r}: {exc.msg}") from None
    except (RecursionError, MemoryError):  # the token bound should prevent it; never surface it raw
        raise ExpressionError(f"expression {_short(text)!r} is too large or nested too deeply to parse") from None
    depth = _depth(tree.body)
    if depth > _MAX_DEPTH:
        raise ExpressionError(
            f"expression {_short(text)!r} is nested {depth} levels deep; at most {_MAX_DEPTH} are accepted "
            "(a chain of + and - or of * and / counts as one level)"
        )
    return _build(tree.body, table, text)


def _short(text, limit=80):
    return text if len(text) <= limit else text[:limit] + "..."


def _check_tokens(source, text):
    """Count operator tokens with the tokenizer (no recursion, numbers such as 1e-5 read as one token)."""
    count = 0
    try:
        for tok in tokenize.generate_tokens(io.StringIO(source).readline):
            if tok.type == tokenize.OP:
                count += 1
                if count > _MAX_OPERATIONS:
                    raise ExpressionError(
                        f"expression {_short(text)!r} has more than {_MAX_OPERATIONS} operators, calls and "
                        "parentheses; split it into library terms or simplify it"
                    )
    except (tokenize.TokenError, SyntaxError, IndentationError):
        pass  # unbalanced brackets and the like: ast.parse reports them with a better message


def _depth(root):
    """Nesting depth of an expression tree, iteratively; chains of + - (or * /) count as one level."""
    deepest = 0
    stack = [(root, 1, None)]
    while stack:
        node, level, chain = stack.pop()
        if isinstance(node, ast.BinOp) and type(node.op) in _CHAIN:
            kind = _CHAIN[type(node.op)]
            here = level if chain == kind else level + 1
            deepest = max(deepest, here)
            stack.append((node.left, here, kind))
            stack.append((node.right, here, kind))
            continue
        deepest = max(deepest, level)
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.expr):
                stack.append((child, level + 1, None))
    return deepest


def _spine(node):
    """A left-associated chain ``((a op b) op c) ...`` of one kind as ``a, [(op, b), (op, c), ...]``."""
    kind = _CHAIN[type(node.op)]
    rest = []
    while isinstance(node, ast.BinOp) and _CHAIN.get(type(node.op)) == kind:
        rest.append((type(node.op), node.right))
        node = node.left
    rest.reverse()
    return node, rest


def _check_number(value, text):
    if value.is_Number and value.is_finite is not False:
        try:
            big = abs(value) > _MAX_MAGNITUDE
        except TypeError:  # pragma: no cover - a number without an order (not produced by the whitelist)
            big = False
        if big:
            raise ExpressionError(
                f"in {_short(text)!r}: the constant {_short(str(sp.Float(value, 3)))} exceeds {_MAX_MAGNITUDE:g} "
                "in magnitude, the largest float64"
            )


def _check_power(base, exponent, text):
    """Refuse powers beyond the exponent cap and numeric powers whose value leaves float64's range, before
    SymPy computes them (``(2**64)**64`` would otherwise be an exact 4096-bit integer, and a tower of five
    such levels a billion-bit one)."""
    if exponent.is_number:
        e = abs(complex(exponent))
        if e > _MAX_EXPONENT:
            raise ExpressionError(f"in {_short(text)!r}: exponent {_short(str(exponent))} exceeds {_MAX_EXPONENT}")
        if base.is_number:
            b = abs(complex(base))
            if b > 0 and e * abs(math.log(b)) > _LOG_MAX_MAGNITUDE:
                raise ExpressionError(
                    f"in {_short(text)!r}: the power {_short(str(base))}**{_short(str(exponent))} leaves the range "
                    f"of float64 (magnitudes up to {_MAX_MAGNITUDE:g})"
                )


def _check_folded(value, text):
    """SymPy folds nested and repeated powers ((q**64)**64 -> q**4096, q**64*q**64 -> q**128): the cap
    applies to the folded result."""
    for part in ((value,) + value.args) if value.is_Mul else (value,):
        if part.is_Pow and part.exp.is_number and abs(complex(part.exp)) > _MAX_EXPONENT:
            raise ExpressionError(
                f"in {_short(text)!r}: the power {_short(str(part))} has exponent {part.exp} after folding; at most "
                f"{_MAX_EXPONENT} is accepted"
            )


def _binary(op, left, right, text):
    if op is ast.Pow:
        _check_power(left, right, text)
    value = _BINARY[op](left, right)
    if op in (ast.Pow, ast.Mult, ast.Div):
        _check_folded(value, text)
    _check_number(value, text)
    return value


def _build(node, table, text):
    if isinstance(node, ast.Constant):
        if isinstance(node.value, bool) or not isinstance(node.value, (int, float)):
            raise ExpressionError(f"in {_short(text)!r}: only numeric constants are allowed, got {node.value!r}")
        if isinstance(node.value, float) and not math.isfinite(node.value):
            raise ExpressionError(f"in {_short(text)!r}: the constant {node.value!r} is not finite")
        value = sp.Integer(node.value) if isinstance(node.value, int) else sp.Float(node.value)
        _check_number(value, text)
        return value
    if isinstance(node, ast.Name):
        if node.id in table:
            return table[node.id]
        if node.id in _CONSTANTS:
            return _CONSTANTS[node.id]
        raise ExpressionError(
            f"in {_short(text)!r}: unknown name {node.id!r}; allowed symbols: {sorted(table)}, "
            f"constants: {sorted(_CONSTANTS)}, functions: {sorted(ALLOWED_FUNCTIONS)}"
        )
    if isinstance(node, ast.BinOp) and type(node.op) in _CHAIN:
        # a long sum or product is a left-leaning chain: fold it in a loop (recursion would hit Python's
        # limit at about a thousand terms)
        # and build it with one Add/Mul (sequential a + b + c ... costs quadratic time in SymPy)
        first, rest = _spine(node)
        parts = [_build(first, table, text)]
        for op, operand in rest:
            value = _build(operand, table, text)
            parts.append(-value if op is ast.Sub else sp.Pow(value, -1) if op is ast.Div else value)
        value = sp.Add(*parts) if type(node.op) in (ast.Add, ast.Sub) else sp.Mul(*parts)
        if value.is_Mul or value.is_Pow:
            _check_folded(value, text)
        _check_number(value, text)
        return value
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        left, right = _build(node.left, table, text), _build(node.right, table, text)
        return _binary(type(node.op), left, right, text)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        operand = _build(node.operand, table, text)
        return -operand if isinstance(node.op, ast.USub) else operand
    if isinstance(node, ast.Call):
        if not isinstance(node.func, ast.Name) or node.func.id not in ALLOWED_FUNCTIONS:
            name = node.func.id if isinstance(node.func, ast.Name) else ast.unparse(node.func)
            raise ExpressionError(
                f"in {_short(text)!r}: function {name!r} is not allowed; allowed: {sorted(ALLOWED_FUNCTIONS)}"
            )
        if node.keywords or len(node.args) != 1:
            raise ExpressionError(f"in {_short(text)!r}: {node.func.id} takes exactly one positional argument")
        return ALLOWED_FUNCTIONS[node.func.id](_build(node.args[0], table, text))
    raise ExpressionError(
        f"in {_short(text)!r}: {type(node).__name__} is not allowed in an expression ({_short(ast.unparse(node))!r})"
    )
