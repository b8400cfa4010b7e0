"""Sparse symbolic regression of Hamiltonians (SINDy-style, with exact symbolic gradients).

The public entry point is :class:`SparseHamiltonian`. Its parts live by role: ``formulations`` (derivative,
integral and implicit-midpoint linear systems), ``differentiation`` (derivative estimation),
``optimizers`` (sparse regression back ends), ``selection`` (sparsity selection and diagnostics on Gram
matrices) and ``serialization`` (JSON save/load through the safe parser).
"""
from .estimator import CollinearityWarning, SparseHamiltonian, UnderdeterminedWarning, snap_value
from .misfit import LibraryMisfitWarning
from .lagrangian import SparseLagrangian
from .port import SparsePortHamiltonian
from .optimizers import OPTIMIZERS, AutoSelect, LassoRefit, LeastSquares, PySINDyOptimizer, get_optimizer

__all__ = ["SparseHamiltonian", "SparsePortHamiltonian", "SparseLagrangian", "CollinearityWarning", "UnderdeterminedWarning", "LibraryMisfitWarning", "snap_value", "OPTIMIZERS",
           "AutoSelect", "LassoRefit", "LeastSquares", "PySINDyOptimizer", "get_optimizer"]
