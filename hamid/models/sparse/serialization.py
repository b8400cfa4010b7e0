"""JSON persistence of fitted :class:`SparseHamiltonian` models.

This module builds the class-specific ``model`` section of the common hamid model file (format ``hamid-model``,
see :mod:`hamid.models.base`; written by ``model.save(path)``, read by ``SparseHamiltonian.load`` and
:func:`hamid.load_model`). Files of the earlier sparse-only format (``format = "hamid.SparseHamiltonian"`` at the
top level) are the same dictionary and still load.

The section holds the library terms as strings, one coefficient per term as a JSON number (Python writes floats
with ``repr``, the shortest string that reads back to the same double, so coefficients round-trip exactly),
snapped rationals as ``"p/q"`` strings, the estimator's parameters where they are JSON values, and the fit
diagnostics. Loading parses every term with the safe whitelist parser :func:`hamid.symbolic.parse_expression`;
no code is evaluated.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import sympy as sp

from ...symbolic.libraries import CompiledLibrary, CustomLibrary
from ...symbolic.symbols import parse_expression, state_symbols
from ..base import ModelFileError

__all__ = ["FORMAT", "model_to_dict", "model_from_dict", "save_model", "load_model", "rebuild_library",
           "ModelFileError"]

FORMAT = "hamid.SparseHamiltonian"
VERSION = 1


def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (np.floating, float)):
        v = float(value)
        return v if math.isfinite(v) else str(v)
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if value is None or isinstance(value, (bool, int, str)):
        return value
    return repr(value)


def _structure_spec(model):
    structure = getattr(model, "structure_", None)
    return "canonical" if structure is None else str(structure.spec)


def model_to_dict(model) -> dict:
    """The JSON-ready dictionary of a fitted model."""
    params = {}
    for key, value in model.get_params(deep=False).items():
        if key == "library":
            continue  # replaced by the explicit terms
        params[key] = value if (value is None or isinstance(value, (bool, int, float, str))) else None
    rational = {str(k): str(v) for k, v in getattr(model, "rational_coef_", {}).items()}
    spec = _structure_spec(model)
    if spec.split(":")[0] not in ("canonical", "poisson"):
        raise ValueError(f"saving a model of structure {spec!r} is not supported (canonical and poisson only)")
    return {
        "format": FORMAT,
        "version": VERSION,
        "n_dof": None if model.n_dof_ is None else int(model.n_dof_),
        "n_features_in": int(model.n_features_in_),
        "structure": spec,
        "terms": [str(e) for e in model.library_.expressions],
        "coef": [float(c) for c in model.coef_],
        "rational": rational,
        "hamiltonian": str(model.hamiltonian_),
        "formulation": model.formulation_,
        "fit_time": float(getattr(model, "fit_time_", float("nan"))),
        "params": params,
        "diagnostics": _jsonable(model.diagnostics_),
    }


def save_model(model, path) -> Path:
    """Write ``model`` to ``path`` (same as ``model.save(path)``: the common hamid model file)."""
    return model.save(path)


def rebuild_library(kind, expressions, symbols, n_dof):
    """The compiled library of ``expressions`` in ``symbols`` (kind: the class name it had)."""
    if kind == "CompiledLibrary":
        return CompiledLibrary(tuple(expressions), n_dof)
    from ...structures import SymbolLibrary

    return SymbolLibrary(tuple(expressions), tuple(symbols))


def model_from_dict(doc, cls):
    """Rebuild a fitted model from :func:`model_to_dict` output (safe parsing only)."""
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise ModelFileError(f"not a {FORMAT} model (missing or wrong 'format' field)")
    if doc.get("version") != VERSION:
        raise ModelFileError(f"unsupported model file version {doc.get('version')!r}; this hamid reads {VERSION}")
    try:
        d = doc["n_dof"]
        terms, coef = doc["terms"], doc["coef"]
    except KeyError as exc:
        raise ModelFileError(f"model file lacks the field {exc.args[0]!r}") from None
    spec = doc.get("structure", "canonical")
    D = doc.get("n_features_in", None if d is None else 2 * d)
    if isinstance(D, bool) or not isinstance(D, int) or D < 1:
        raise ModelFileError(f"n_features_in must be a positive integer, got {D!r}")
    if spec == "canonical" and (isinstance(d, bool) or not isinstance(d, int) or d < 1 or 2 * d != D):
        raise ModelFileError(f"n_dof must be a positive integer with 2 n_dof = n_features_in, got {d!r}")
    if not isinstance(terms, list) or not all(isinstance(t, str) for t in terms) or not terms:
        raise ModelFileError("'terms' must be a non-empty list of expression strings")
    if (not isinstance(coef, list) or len(coef) != len(terms)
            or not all(isinstance(c, (int, float)) and not isinstance(c, bool) for c in coef)):
        raise ModelFileError(f"'coef' must be a list of {len(terms)} numbers")
    _check_document(doc, d, D, terms, coef)
    params = {k: v for k, v in (doc.get("params") or {}).items() if k in cls._get_param_names()}
    if spec == "canonical":
        structure = None
        qs, ps = state_symbols(d)
        exprs = tuple(_parse_term(i, t, qs + ps) for i, t in enumerate(terms))
        library = CompiledLibrary(exprs, d)
    else:
        from ...structures import SymbolLibrary, get_structure

        if not isinstance(spec, str) or spec.split(":")[0] != "poisson":
            raise ModelFileError(f"unsupported structure {spec!r} in model file")
        structure = get_structure(spec, dim=D)
        exprs = tuple(_parse_term(i, t, list(structure.symbols)) for i, t in enumerate(terms))
        library = SymbolLibrary(exprs, structure.symbols)
    model = cls(library=CustomLibrary(list(terms)), **params)
    try:
        model._check_params()
    except ValueError as exc:
        raise ModelFileError(f"model file parameters are invalid: {exc}") from None
    if structure is not None:
        model.structure_ = structure
    model.library_ = library
    model.n_dof_ = d
    model.n_features_in_ = D
    model.feature_names_ = list(model.library_.names)
    model.formulation_ = doc.get("formulation")
    rational = {}
    for k, v in (doc.get("rational") or {}).items():
        try:
            r = parse_expression(v, []) if isinstance(v, str) else None
        except ValueError:
            r = None
        if r is None or not r.is_Rational:
            raise ModelFileError(f"snapped coefficient {k}: {v!r} is not a rational number 'p/q'")
        # the float coefficient is the snapped value itself (what energy and vector_field use): a rational
        # that differs from it would print, export and simulate another H
        if float(r) != float(coef[int(k)]):
            raise ModelFileError(f"snapped coefficient {k} = {v} does not match coef[{k}] = {coef[int(k)]!r}")
        rational[int(k)] = r
    model._set_coefficients(np.asarray(coef, dtype=float), rational)
    if "hamiltonian" in doc and doc["hamiltonian"] != str(model.hamiltonian_):
        raise ModelFileError(f"the file's hamiltonian {str(doc['hamiltonian'])[:80]!r} is not the one its terms and "
                             f"coefficients give ({str(model.hamiltonian_)[:80]!r})")
    model.diagnostics_ = doc.get("diagnostics") or {}
    fit_time = doc.get("fit_time", model.diagnostics_.get("fit_time_s"))
    model.fit_time_ = float(fit_time) if isinstance(fit_time, (int, float)) else float("nan")
    model.selection_path_ = []
    model.inclusion_probabilities_ = None
    return model


def _parse_term(i, text, symbols):
    try:
        return parse_expression(text, symbols)
    except ValueError as exc:
        raise ModelFileError(f"model file term {i}: {exc}") from None


def _check_document(doc, d, D, terms, coef):
    """Validate what :func:`model_from_dict` has not yet checked, before any term is parsed or symbol made:
    bounds (n_dof, terms), finite coefficients, the types of the optional sections and the indices of the
    snapped coefficients."""
    from ... import limits

    if D > 2 * limits.MAX_N_DOF or (isinstance(d, int) and d > limits.MAX_N_DOF):
        raise ModelFileError(f"model file has n_dof = {d}, n_features_in = {D}; at most {limits.MAX_N_DOF} degrees "
                             "of freedom are read (raise hamid.limits.MAX_N_DOF)")
    if len(terms) > limits.MAX_LIBRARY_TERMS:
        raise ModelFileError(f"model file has {len(terms)} terms; the limit is {limits.MAX_LIBRARY_TERMS} "
                             "(hamid.limits.MAX_LIBRARY_TERMS)")
    bad = [i for i, c in enumerate(coef) if not math.isfinite(c)]
    if bad:
        raise ModelFileError(f"model file coefficients {bad[:5]} are not finite (NaN, inf or beyond float64)")
    for key, kinds in (("rational", dict), ("params", dict), ("diagnostics", dict), ("formulation", str),
                       ("hamiltonian", str), ("structure", str), ("fit_time", (int, float))):
        value = doc.get(key)
        if value is not None and (not isinstance(value, kinds) or isinstance(value, bool)):
            kind = kinds.__name__ if isinstance(kinds, type) else "a number"
            raise ModelFileError(f"model file field {key!r} must be {kind} or absent, got {type(value).__name__}")
    for k in (doc.get("rational") or {}):
        if not (isinstance(k, str) and k.isdigit() and int(k) < len(terms)):
            raise ModelFileError(f"snapped coefficient index {k!r} is not a term index in [0, {len(terms)})")


def load_model(path, cls):
    """Read a model file written by :func:`save_model` (same as ``cls.load(path)``)."""
    return cls.load(path)
