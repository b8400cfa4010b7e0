"""Libraries of candidate Hamiltonian terms with exact, compiled derivatives.

A library is a recipe for SymPy terms θ_1..θ_m; binding it to a number of degrees of freedom d with
:meth:`Library.compile` gives a :class:`CompiledLibrary` that evaluates θ, ∇θ and (on demand) the Hessians
of θ on batches of states, in numpy or torch. Libraries compose like pysindy's: ``a + b`` concatenates
(duplicates removed), ``a * b`` forms every pairwise product.

Constant terms are never produced: H is identifiable from dz/dt = J∇H only up to an additive constant.
"""
from __future__ import annotations

import itertools
import math
import re
from functools import lru_cache

import numpy as np
import sympy as sp

from .codegen import compile_exprs
from .symbols import ExpressionError, parse_expression, state_symbols

__all__ = [
    "Library", "PolynomialLibrary", "TrigLibrary", "CustomLibrary", "ConcatLibrary", "ProductLibrary",
    "CompiledLibrary", "parse_library_spec", "LIBRARY_KINDS",
]


class Library:
    """Base class for libraries of candidate terms.

    Subclasses implement :meth:`_raw_terms`; the base class removes constants and duplicates (two terms
    that differ only by a numeric factor count as duplicates: their columns would be collinear).
    """

    def _raw_terms(self, n_dof):  # pragma: no cover - abstract
        raise NotImplementedError

    def size_estimate(self, n_dof: int):
        """An upper bound of the number of terms for ``n_dof`` degrees of freedom, computed without building
        them (None when unknown)."""
        return None

    def check_size(self, n_dof: int):
        """Refuse a library whose :meth:`size_estimate` exceeds ``hamid.limits.MAX_LIBRARY_TERMS``, before any
        term is built (``poly:100000`` would otherwise build billions of monomials one by one)."""
        from .. import limits

        n = self.size_estimate(n_dof)
        if n is not None and n > limits.MAX_LIBRARY_TERMS:
            shown = f"{n:,}" if n < 10**15 else f"about 10^{len(str(n)) - 1}"
            name = repr(self) if len(repr(self)) <= 100 else repr(self)[:100] + "..."
            raise limits.ResourceLimitError(
                f"library {name} would have {shown} candidate terms for d = {n_dof}; the limit is "
                f"{limits.MAX_LIBRARY_TERMS:,} (raise it with hamid.limits.MAX_LIBRARY_TERMS)"
            )

    def expressions(self, n_dof: int) -> tuple:
        """The library's terms for ``n_dof`` degrees of freedom, as SymPy expressions (no constants)."""
        self.check_size(n_dof)
        qs, ps = state_symbols(n_dof)
        allowed = set(qs + ps)
        seen, terms = set(), []
        for term in self._raw_terms(n_dof):
            term = sp.sympify(term)
            extra = term.free_symbols - allowed
            if extra:
                raise ExpressionError(
                    f"library term {term} uses symbol(s) {sorted(map(str, extra))} that are not state symbols "
                    f"for d = {n_dof}: {[str(s) for s in qs + ps]}"
                )
            if not term.free_symbols:
                continue  # constants are not identifiable
            key = term.as_coeff_Mul()[1]
            if key in seen:
                continue
            seen.add(key)
            terms.append(term)
        return tuple(terms)

    def compile(self, n_dof: int) -> "CompiledLibrary":
        """Bind to ``n_dof`` degrees of freedom.

        Compiled libraries are cached by their expressions: differentiating and compiling a large library
        takes a noticeable fraction of a second, and estimators compile the same library repeatedly.
        """
        return _compiled_library(self.expressions(n_dof), n_dof)

    def __add__(self, other):
        if not isinstance(other, Library):
            return NotImplemented
        return ConcatLibrary(self, other)

    def __mul__(self, other):
        if not isinstance(other, Library):
            return NotImplemented
        return ProductLibrary(self, other)

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self._params().items())
        return f"{type(self).__name__}({args})"

    def _params(self):
        return {}

    def __eq__(self, other):
        return type(self) is type(other) and self._params() == other._params()

    def __hash__(self):
        return hash((type(self).__name__, repr(self)))


class PolynomialLibrary(Library):
    """Monomials in (q, p) of total degree 1..``degree``.

    Parameters
    ----------
    degree : int >= 1
    cross_terms : bool, default True
        If False, only powers of single variables (q_i**k, p_i**k) are kept.
    """

    def __init__(self, degree: int = 2, cross_terms: bool = True):
        if isinstance(degree, bool) or not isinstance(degree, (int, np.integer)) or degree < 1:
            raise ValueError(f"polynomial degree must be an integer >= 1, got {degree!r}")
        self.degree = int(degree)
        self.cross_terms = bool(cross_terms)

    def _params(self):
        return {"degree": self.degree, "cross_terms": self.cross_terms}

    def size_estimate(self, n_dof):
        n_vars = 2 * n_dof
        if not self.cross_terms:
            return n_vars * self.degree
        return math.comb(n_vars + self.degree, self.degree) - 1  # monomials of degree 1..degree

    def _raw_terms(self, n_dof):
        qs, ps = state_symbols(n_dof)
        variables = qs + ps
        for k in range(1, self.degree + 1):
            if self.cross_terms:
                for combo in itertools.combinations_with_replacement(variables, k):
                    yield sp.Mul(*combo)
            else:
                for v in variables:
                    yield v ** k


class TrigLibrary(Library):
    """sin(k x) and cos(k x) for each frequency k and each chosen variable.

    Parameters
    ----------
    frequencies : sequence of positive numbers, default (1,)
    variables : {"positions", "momenta", "all"}, default "positions"
    """

    _VARIABLES = ("positions", "momenta", "all")

    def __init__(self, frequencies=(1,), variables: str = "positions"):
        self.frequencies = tuple(frequencies)
        self.variables = variables
        if not self.frequencies or any(not np.isfinite(float(f)) or float(f) <= 0 for f in self.frequencies):
            raise ValueError(f"trig frequencies must be positive numbers, got {frequencies!r}")
        if variables not in self._VARIABLES:
            raise ValueError(f"unknown trig variables {variables!r}; valid: {', '.join(self._VARIABLES)}")
        from .. import limits

        if max(float(f) for f in self.frequencies) > limits.MAX_TRIG_FREQUENCY:
            raise limits.ResourceLimitError(
                f"trig frequency {max(self.frequencies, key=float):g} exceeds {limits.MAX_TRIG_FREQUENCY:g}: its "
                "derivatives overflow the regression and sin(k q) is aliased at any sampling (raise the limit "
                "with hamid.limits.MAX_TRIG_FREQUENCY)"
            )

    def _params(self):
        return {"frequencies": self.frequencies, "variables": self.variables}

    def size_estimate(self, n_dof):
        per = {"positions": n_dof, "momenta": n_dof, "all": 2 * n_dof}[self.variables]
        return 2 * per * len(self.frequencies)

    def _raw_terms(self, n_dof):
        qs, ps = state_symbols(n_dof)
        chosen = {"positions": qs, "momenta": ps, "all": qs + ps}[self.variables]
        for f in self.frequencies:
            k = sp.nsimplify(f)
            for v in chosen:
                yield sp.sin(k * v)
                yield sp.cos(k * v)


class CustomLibrary(Library):
    """User terms, given as SymPy expressions or strings in the state symbols.

    Strings are parsed by the safe whitelist parser (:func:`hamid.symbolic.parse_expression`).

    Parameters
    ----------
    terms : sequence of str or sympy.Expr
    """

    def __init__(self, terms):
        if isinstance(terms, (str, sp.Basic)):
            terms = [terms]
        self.terms = tuple(terms)
        if not self.terms:
            raise ValueError("a custom library needs at least one term")

    def _params(self):
        return {"terms": tuple(str(t) for t in self.terms)}

    def size_estimate(self, n_dof):
        return len(self.terms)

    def _raw_terms(self, n_dof):
        qs, ps = state_symbols(n_dof)
        for term in self.terms:
            expr = parse_expression(term, qs + ps)
            if not expr.free_symbols:
                raise ExpressionError(
                    f"custom term {term!r} is a constant; H is only identifiable up to a constant, so constant "
                    "terms are not allowed"
                )
            yield expr


class ConcatLibrary(Library):
    """Concatenation of libraries (``a + b``), duplicates removed."""

    def __init__(self, *libraries):
        flat = []
        for lib in libraries:
            flat.extend(lib.libraries if isinstance(lib, ConcatLibrary) else [lib])
        self.libraries = tuple(flat)

    def _params(self):
        return {"libraries": self.libraries}

    def size_estimate(self, n_dof):
        sizes = [lib.size_estimate(n_dof) for lib in self.libraries]
        return None if any(n is None for n in sizes) else sum(sizes)

    def _raw_terms(self, n_dof):
        for lib in self.libraries:
            yield from lib.expressions(n_dof)


class ProductLibrary(Library):
    """All pairwise products of the terms of two libraries (``a * b``)."""

    def __init__(self, left, right):
        self.left, self.right = left, right

    def _params(self):
        return {"left": self.left, "right": self.right}

    def size_estimate(self, n_dof):
        a, b = self.left.size_estimate(n_dof), self.right.size_estimate(n_dof)
        return None if a is None or b is None else a * b

    def _raw_terms(self, n_dof):
        for a in self.left.expressions(n_dof):
            for b in self.right.expressions(n_dof):
                yield a * b


class CompiledLibrary:
    """A library bound to d degrees of freedom, with compiled evaluation of θ, ∇θ and Hessians.

    Attributes
    ----------
    expressions : tuple of sympy.Expr, length m
    symbols : tuple of sympy.Symbol, length 2d, ordered (q1..qd, p1..pd)
    gradient_exprs : tuple of tuple of sympy.Expr, shape (m, 2d)
        Exact ∂θ_k/∂z_i.
    names : list of str
    """

    def __init__(self, expressions, n_dof):
        if not expressions:
            raise ValueError("the library has no terms")
        self.expressions = tuple(expressions)
        self.n_dof = n_dof
        qs, ps = state_symbols(n_dof)
        self.symbols = qs + ps
        self.gradient_exprs = tuple(tuple(sp.diff(e, s) for s in self.symbols) for e in self.expressions)
        self.names = [str(e) for e in self.expressions]

    @property
    def n_terms(self) -> int:
        return len(self.expressions)

    def latex_names(self):
        return [sp.latex(e) for e in self.expressions]

    def evaluate(self, Z, backend: str = "numpy"):
        """θ at states ``Z`` of shape (n, 2d) -> (n, m)."""
        return compile_exprs(self.expressions, self.symbols, backend)(Z)

    def gradient(self, Z, backend: str = "numpy"):
        """∇θ at ``Z`` (n, 2d) -> (n, m, 2d): entry [:, k, i] is ∂θ_k/∂z_i."""
        flat = tuple(g for row in self.gradient_exprs for g in row)
        out = compile_exprs(flat, self.symbols, backend)(Z)
        return out.reshape(tuple(out.shape[:-1]) + (self.n_terms, 2 * self.n_dof))

    def hessian(self, Z, backend: str = "numpy"):
        """Hessians of θ at ``Z`` (n, 2d) -> (n, m, 2d, 2d)."""
        out = compile_exprs(self._hessian_exprs(), self.symbols, backend)(Z)
        D = 2 * self.n_dof
        return out.reshape(tuple(out.shape[:-1]) + (self.n_terms, D, D))

    def _hessian_exprs(self):
        return _hessian_exprs(self.gradient_exprs, self.symbols)

    def hamiltonian(self, coef) -> sp.Expr:
        """H = Σ coef_k θ_k as a SymPy expression (zero coefficients dropped)."""
        coef = np.asarray(coef, dtype=float).ravel()
        if coef.shape[0] != self.n_terms:
            raise ValueError(f"expected {self.n_terms} coefficients, got {coef.shape[0]}")
        return sp.Add(*(sp.Float(c) * e for c, e in zip(coef, self.expressions) if c != 0.0))


@lru_cache(maxsize=64)
def _compiled_library(expressions, n_dof):
    return CompiledLibrary(expressions, n_dof)


@lru_cache(maxsize=64)
def _hessian_exprs(gradient_exprs, symbols):
    return tuple(sp.diff(g, s) for row in gradient_exprs for g in row for s in symbols)


# ------------------------------------------------------------------------------------------ spec parsing

LIBRARY_KINDS = {
    "poly": "poly:DEG - every monomial of degree 1..DEG in q and p (poly:DEG:nocross drops cross terms)",
    "trig": "trig or trig:F1,F2,... - sin and cos of each position at the given frequencies (default 1)",
    "custom": "custom:EXPR,EXPR,... - expressions in the state symbols",
}


def _split_sum(spec: str) -> list:
    """``"poly:2 + trig"`` -> ``["poly:2", "trig"]``: split at the ``+`` signs that start another spec.

    A ``+`` inside a custom expression (``custom:1/sqrt(q1**2+q2**2)``) is not followed by a library kind
    and a colon (or the end of the spec), so it stays part of the expression.
    """
    kinds = "|".join(sorted(map(re.escape, LIBRARY_KINDS), key=len, reverse=True))
    return re.split(rf"\s*\+\s*(?=(?:{kinds})\s*(?::|$|\+))", spec.strip(), flags=re.IGNORECASE)


def parse_library_spec(spec) -> Library:
    """Build a library from a CLI-style spec, or several specs concatenated.

    Parameters
    ----------
    spec : str or sequence of str
        ``poly:DEG``, ``poly:DEG:nocross``, ``trig``, ``trig:1,2``, ``custom:EXPR,EXPR,...``. A sum written
        with ``+`` (``"poly:2 + trig"``, the form the documentation's tables print) and a sequence of specs
        are concatenated.

    Returns
    -------
    Library

    Raises
    ------
    ValueError
        Unknown kind (the message lists the valid ones) or a malformed argument.

    Examples
    --------
    >>> from hamid.symbolic import parse_library_spec
    >>> parse_library_spec("poly:2 + trig").expressions(1)
    (q, p, q**2, p*q, p**2, sin(q), cos(q))
    >>> parse_library_spec(["poly:1", "custom:1/sqrt(1+q**2)"]).expressions(1)
    (q, p, 1/sqrt(q**2 + 1))
    """
    if not isinstance(spec, str):
        specs = list(spec)
        if not specs:
            raise ValueError("no library spec given")
        libs = [parse_library_spec(s) for s in specs]
        return libs[0] if len(libs) == 1 else ConcatLibrary(*libs)
    if not spec.strip():
        raise ValueError("empty library spec; valid: " + "; ".join(LIBRARY_KINDS.values()))
    parts = _split_sum(spec)
    if len(parts) > 1:
        return parse_library_spec(parts)
    kind, _, arg = spec.strip().partition(":")
    kind = kind.strip().lower()
    if kind == "poly":
        parts = arg.split(":") if arg else []
        if not parts or not parts[0].strip().isdigit() or int(parts[0]) < 1:
            raise ValueError(f"library spec {spec!r}: expected poly:DEG with an integer DEG >= 1")
        extra = [x.strip().lower() for x in parts[1:]]
        if extra not in ([], ["nocross"]):
            raise ValueError(f"library spec {spec!r}: the only option after poly:DEG is ':nocross'")
        return PolynomialLibrary(int(parts[0]), cross_terms=not extra)
    if kind == "trig":
        if not arg:
            return TrigLibrary()
        try:
            freqs = tuple(float(x) for x in arg.split(","))
        except ValueError:
            raise ValueError(f"library spec {spec!r}: frequencies must be numbers, e.g. trig:1,2") from None
        return TrigLibrary(tuple(int(f) if f.is_integer() else f for f in freqs))
    if kind == "custom":
        terms = [t.strip() for t in arg.split(",") if t.strip()]
        if not terms:
            raise ValueError(f"library spec {spec!r}: expected custom:EXPR,EXPR,...")
        return CustomLibrary(terms)
    valid = "; ".join(LIBRARY_KINDS.values())
    raise ValueError(f"unknown library kind {kind!r} in spec {spec!r}; valid: {valid}")
