"""JSON persistence of fitted :class:`SparseHamiltonian` models.

The file holds the library terms as strings, one coefficient per term as a JSON number (Python writes floats
with ``repr``, the shortest string that reads back to the same double, so coefficients round-trip exactly),
snapped rationals as ``"p/q"`` strings, the estimator's parameters where they are JSON values, and the fit
diagnostics. Loading parses every term with the safe whitelist parser :func:`hamid.symbolic.parse_expression`;
no code is evaluated.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import sympy as sp

from ...io import atomic_write
from ...symbolic.libraries import CompiledLibrary, CustomLibrary
from ...symbolic.symbols import parse_expression, state_symbols

__all__ = ["FORMAT", "model_to_dict", "model_from_dict", "save_model", "load_model"]

FORMAT = "hamid.SparseHamiltonian"
VERSION = 1


class ModelFileError(ValueError):
    """A model file is malformed; the message names the problem."""


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


def model_to_dict(model) -> dict:
    """The JSON-ready dictionary of a fitted model."""
    params = {}
    for key, value in model.get_params(deep=False).items():
        if key == "library":
            continue  # replaced by the explicit terms
        params[key] = value if (value is None or isinstance(value, (bool, int, float, str))) else None
    rational = {str(k): str(v) for k, v in getattr(model, "rational_coef_", {}).items()}
    return {
        "format": FORMAT,
        "version": VERSION,
        "n_dof": int(model.n_dof_),
        "terms": [str(e) for e in model.library_.expressions],
        "coef": [float(c) for c in model.coef_],
        "rational": rational,
        "hamiltonian": str(model.hamiltonian_),
        "formulation": model.formulation_,
        "params": params,
        "diagnostics": _jsonable(model.diagnostics_),
    }


def save_model(model, path) -> Path:
    """Write ``model`` to ``path`` as JSON (atomically)."""
    text = json.dumps(model_to_dict(model), indent=1, allow_nan=False)
    return atomic_write(path, lambda fh: fh.write(text.encode()))


def model_from_dict(doc, cls):
    """Rebuild a fitted model from :func:`model_to_dict` output (safe parsing only)."""
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise ModelFileError(f"not a {FORMAT} file (missing or wrong 'format' field)")
    if doc.get("version") != VERSION:
        raise ModelFileError(f"unsupported model file version {doc.get('version')!r}; this hamid reads {VERSION}")
    try:
        d = doc["n_dof"]
        terms, coef = doc["terms"], doc["coef"]
    except KeyError as exc:
        raise ModelFileError(f"model file lacks the field {exc.args[0]!r}") from None
    if isinstance(d, bool) or not isinstance(d, int) or d < 1:
        raise ModelFileError(f"n_dof must be a positive integer, got {d!r}")
    if not isinstance(terms, list) or not all(isinstance(t, str) for t in terms) or not terms:
        raise ModelFileError("'terms' must be a non-empty list of expression strings")
    if (not isinstance(coef, list) or len(coef) != len(terms)
            or not all(isinstance(c, (int, float)) and not isinstance(c, bool) for c in coef)):
        raise ModelFileError(f"'coef' must be a list of {len(terms)} numbers")
    qs, ps = state_symbols(d)
    exprs = tuple(parse_expression(t, qs + ps) for t in terms)
    params = {k: v for k, v in (doc.get("params") or {}).items() if k in cls._get_param_names()}
    model = cls(library=CustomLibrary(list(terms)), **params)
    model.library_ = CompiledLibrary(exprs, d)
    model.n_dof_ = d
    model.n_features_in_ = 2 * d
    model.feature_names_ = list(model.library_.names)
    model.formulation_ = doc.get("formulation")
    rational = {}
    for k, v in (doc.get("rational") or {}).items():
        r = parse_expression(str(v), [])
        if not r.is_Rational:
            raise ModelFileError(f"snapped coefficient {v!r} is not a rational number")
        rational[int(k)] = r
    model._set_coefficients(np.asarray(coef, dtype=float), rational)
    model.diagnostics_ = doc.get("diagnostics") or {}
    model.selection_path_ = []
    model.inclusion_probabilities_ = None
    return model


def load_model(path, cls):
    """Read a model file written by :func:`save_model`."""
    path = Path(path)
    if not path.exists():
        raise ModelFileError(f"model file {path} does not exist")
    try:
        doc = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelFileError(f"cannot read {path} as JSON: {exc}") from None
    return model_from_dict(doc, cls)
