"""Compile lists of SymPy expressions into batched numpy or torch functions.

Each list is generated once (``lambdify`` with common-subexpression elimination) and cached, so that
libraries, integrators and models that evaluate the same expressions share one compiled function.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np
import sympy as sp

__all__ = ["compile_exprs", "BACKENDS"]

BACKENDS = ("numpy", "torch")


def compile_exprs(exprs, symbols, backend: str = "numpy"):
    """Return ``f(Z)`` evaluating ``exprs`` on a batch of states.

    Parameters
    ----------
    exprs : sequence of sympy.Expr, length m
    symbols : sequence of sympy.Symbol, length D
        The order of the columns of ``Z``.
    backend : {"numpy", "torch"}

    Returns
    -------
    callable
        ``f(Z)`` with ``Z`` of shape (n, D) returns an array of shape (n, m) with the dtype (and, for
        torch, the device) of ``Z``. Constant expressions are broadcast to the batch, which plain
        ``lambdify`` does not do. The torch function is differentiable.
    """
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; valid backends: {', '.join(BACKENDS)}")
    return _compile(tuple(sp.sympify(e) for e in exprs), tuple(symbols), backend)


@lru_cache(maxsize=512)
def _compile(exprs, symbols, backend):
    raw = sp.lambdify(symbols, list(exprs), modules=("numpy" if backend == "numpy" else "torch"), cse=True)
    width = len(exprs)
    n_symbols = len(symbols)

    if backend == "numpy":
        def evaluate(Z):
            Z = np.asarray(Z)
            _check_width(Z, n_symbols)
            out = np.empty(Z.shape[:-1] + (width,), dtype=np.result_type(Z.dtype, np.float64) if Z.dtype.kind in "iub" else Z.dtype)
            values = raw(*(Z[..., i] for i in range(n_symbols)))
            for j, v in enumerate(values):
                out[..., j] = v  # broadcasting assignment also fills constant columns
            return out
    else:
        def evaluate(Z):
            import torch

            _check_width(Z, n_symbols)
            values = raw(*(Z[..., i] for i in range(n_symbols)))
            batch = Z.shape[:-1]
            columns = [
                torch.broadcast_to(
                    v if isinstance(v, torch.Tensor) else torch.as_tensor(v, dtype=Z.dtype, device=Z.device), batch
                )
                for v in values
            ]
            return torch.stack(columns, dim=-1) if columns else Z.new_zeros(batch + (0,))

    evaluate.exprs = exprs
    evaluate.symbols = symbols
    return evaluate


def _check_width(Z, n_symbols):
    if Z.ndim < 1 or Z.shape[-1] != n_symbols:
        raise ValueError(f"expected states with last dimension {n_symbols}, got shape {tuple(Z.shape)}")
