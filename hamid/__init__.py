"""hamid: recover closed-form Hamiltonians from data, export them, compare them with neural baselines.

Heavy dependencies (torch, matplotlib, scikit-learn, pysindy) are imported only by the functions that
need them; ``import hamid`` stays light. Public names are resolved lazily on first access.
"""
from __future__ import annotations

import importlib

__version__ = "0.1.0"

# public name -> module that defines it
_EXPORTS = {
    "state_symbols": "hamid.symbolic.symbols",
    "parse_expression": "hamid.symbolic.symbols",
    "compile_exprs": "hamid.symbolic.codegen",
    "PolynomialLibrary": "hamid.symbolic.libraries",
    "TrigLibrary": "hamid.symbolic.libraries",
    "CustomLibrary": "hamid.symbolic.libraries",
    "parse_library_spec": "hamid.symbolic.libraries",
    "integrate": "hamid.integrators",
    "integrate_field": "hamid.integrators",
    "get_system": "hamid.systems",
    "list_systems": "hamid.systems",
    "SparseHamiltonian": "hamid.models.sparse",
    "SparsePortHamiltonian": "hamid.models.sparse",
    "SparseLagrangian": "hamid.models.sparse",
    "get_structure": "hamid.structures",
    "compare": "hamid.comparison",
    "Comparison": "hamid.comparison",
    "load_model": "hamid.models.base",
    "Dataset": "hamid.io",
    "DataError": "hamid.io",
    "validate_data": "hamid.io",
    "load_data": "hamid.io",
    "save_data": "hamid.io",
}

__all__ = sorted(_EXPORTS) + ["__version__"]


def __getattr__(name):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    if name in {"symbolic", "integrators", "systems", "io", "models", "cli", "metrics", "plot"}:
        return importlib.import_module(f"hamid.{name}")
    raise AttributeError(f"module 'hamid' has no attribute {name!r}")


def __dir__():
    return __all__
