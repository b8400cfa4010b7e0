"""Support recovery of symbolic fits against a known true Hamiltonian.

Two levels:

- **H level** (hamid's sparse fits): the true H is written on the fitted library's terms; exact support means
  the selected terms are exactly the true ones; the error is the largest relative coefficient error over the
  true terms.
- **field level** (any symbolic fit of dz/dt, hamid's or pysindy's): every component of the true field
  ``J∇H`` and of the fitted field is expanded into basis functions times numbers (the basis of
  :func:`field_basis`: the distinct terms of the gradients of the library's terms). Exact support means the
  same (component, basis function) pairs are nonzero; the error is the largest relative coefficient error
  over the true pairs. This is the rule that lets an unconstrained field fit (pysindy) be scored on the same
  scale as a Hamiltonian fit.
"""
from __future__ import annotations

import math

import numpy as np
import sympy as sp

__all__ = ["expand_terms", "field_basis", "hamiltonian_recovery", "field_recovery", "true_field_exprs"]


def expand_terms(expr, symbols) -> dict:
    """Split an expression into ``{basis function: coefficient}``.

    Polynomial parts are expanded fully; other factors (``cos q``, ``1/sqrt((q1-q3)**2 + ...)``) are kept as
    they are, so the same term always gets the same key. Numbers (the constant term) get the key ``1``.
    """
    out = {}
    for arg in sp.Add.make_args(sp.expand(sp.sympify(expr), deep=False)):
        parts = sp.Add.make_args(sp.expand(arg)) if arg.is_polynomial(*symbols) else (arg,)
        for part in parts:
            coeff, term = part.as_coeff_Mul()
            if coeff == 0:
                continue
            out[term] = out.get(term, 0.0) + float(coeff)
    return {k: v for k, v in out.items() if v != 0.0}


def field_basis(library) -> list:
    """Distinct basis functions of the gradients of a compiled library's terms (order of first occurrence).

    Parameters
    ----------
    library : hamid.symbolic.libraries.CompiledLibrary
        Its ``gradient_exprs`` has shape (m, 2d).
    """
    basis = {}
    for row in library.gradient_exprs:
        for g in row:
            for term in expand_terms(g, library.symbols):
                basis.setdefault(term, None)
    return list(basis)


def true_field_exprs(hamiltonian, symbols) -> list:
    """``J∇H`` as 2d SymPy expressions in ``symbols = (q1..qd, p1..pd)``."""
    d = len(symbols) // 2
    grad = [sp.diff(hamiltonian, s) for s in symbols]
    return grad[d:] + [-g for g in grad[:d]]


def _relative_errors(truth: dict, fitted: dict):
    return [abs(fitted.get(k, 0.0) - v) / abs(v) for k, v in truth.items()]


def hamiltonian_recovery(hamiltonian, library, feature_names, coef) -> dict:
    """Compare a fitted coefficient vector with the true H written on the library's terms.

    Parameters
    ----------
    hamiltonian : sympy.Expr
        The true H (constants are dropped: they are not identifiable).
    library : CompiledLibrary
    feature_names : list of str, length m
    coef : array_like, shape (m,)

    Returns
    -------
    dict
        ``exact_support`` (bool or None when the true H is not in the span of the library), ``n_true``,
        ``n_selected``, ``extra``, ``missing`` (term names), ``max_rel_error``.
    """
    by_expr = {sp.sympify(e): name for e, name in zip(library.expressions, library.names)}
    truth = {}
    outside = []
    for term, c in expand_terms(hamiltonian, library.symbols).items():
        if not term.free_symbols:
            continue
        if term not in by_expr:
            outside.append(str(term))
            continue
        truth[by_expr[term]] = truth.get(by_expr[term], 0.0) + c
    fitted = {name: float(c) for name, c in zip(feature_names, np.asarray(coef, dtype=float)) if c != 0}
    extra = sorted(set(fitted) - set(truth))
    missing = sorted(set(truth) - set(fitted)) + sorted(outside)
    errors = _relative_errors(truth, fitted)
    return {
        "exact_support": (not extra and not missing) if not outside else False,
        "n_true": len(truth) + len(outside), "n_selected": len(fitted), "extra": extra, "missing": missing,
        "max_rel_error": max(errors) if errors and not outside else math.inf,
    }


def field_recovery(true_exprs, fitted_exprs, symbols) -> dict:
    """Term-by-term comparison of two symbolic vector fields.

    Parameters
    ----------
    true_exprs, fitted_exprs : sequence of sympy.Expr, length 2d
    symbols : sequence of sympy.Symbol, length 2d

    Returns
    -------
    dict
        ``field_exact_support`` (bool), ``field_n_true``, ``field_n_selected``, ``field_extra``,
        ``field_missing`` (``"component:term"`` strings), ``field_max_rel_error``.
    """
    truth, fitted = {}, {}
    for i, (te, fe) in enumerate(zip(true_exprs, fitted_exprs)):
        name = str(symbols[i])
        for term, c in expand_terms(te, symbols).items():
            truth[f"d{name}:{term}"] = c
        for term, c in expand_terms(fe, symbols).items():
            fitted[f"d{name}:{term}"] = c
    extra = sorted(set(fitted) - set(truth))
    missing = sorted(set(truth) - set(fitted))
    errors = _relative_errors(truth, fitted)
    return {
        "field_exact_support": not extra and not missing, "field_n_true": len(truth),
        "field_n_selected": len(fitted), "field_extra": extra, "field_missing": missing,
        "field_max_rel_error": max(errors) if errors else 0.0,
    }


def tolerance_for(scoring, noise) -> float:
    """The coefficient tolerance of a scoring table at a noise level (the entry of the nearest level at or
    below it; levels below the smallest get the smallest level's tolerance)."""
    table = sorted((float(k), float(v)) for k, v in scoring["tolerance"].items())
    chosen = table[0][1]
    for level, tol in table:
        if noise + 1e-12 >= level:
            chosen = tol
    return chosen
