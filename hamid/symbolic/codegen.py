"""Compile lists of SymPy expressions into batched numpy or torch functions.

Each list is generated once (``lambdify`` with common-subexpression elimination) and cached, so that
libraries, integrators and models that evaluate the same expressions share one compiled function.

The numpy code writes small integer powers as products (``x**3`` becomes ``(x*x*x)``, ``x**-2`` becomes
``(1/(x*x))``): numpy evaluates ``x**n`` through the general ``pow`` (about 50 ns per element against about
1 ns per multiplication; only ``x**2`` has a fast path), which made the generated leapfrog forces of
Hénon–Heiles and of the FPUT chain (d = 10) 1.4-2.6x and 12-19x slower than hand-written numpy (now
1.1-1.4x and 2.0-2.2x, ``benchmarks/bench_integrators.py --section codegen``). Products differ from ``pow`` by a few units
in the last place.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np
import sympy as sp

__all__ = ["compile_exprs", "CompiledExprs", "BACKENDS"]

BACKENDS = ("numpy", "torch")

#: integer powers with |exponent| up to this are written as products in numpy code (beyond it the rounding
#: error of repeated multiplication, ~|n|/2 ulp, starts to exceed pow's)
MAX_PRODUCT_POWER = 8

_PRINTER = None


def _numpy_printer():
    """A NumPyPrinter class that writes small integer powers as products (built lazily: sympy's printing
    modules are only imported when something is compiled)."""
    global _PRINTER
    if _PRINTER is None:
        from sympy.printing.numpy import NumPyPrinter

        class ProductPowerPrinter(NumPyPrinter):
            def _print_Pow(self, expr, rational=False):
                e = expr.exp
                n = abs(int(e)) if e.is_Integer else 0
                if 1 <= n <= MAX_PRODUCT_POWER and (n >= 2 or e < 0):
                    base = self._print(expr.base)
                    if expr.base.is_Symbol:
                        first = name = base
                    else:
                        # evaluate a compound base once: an assignment expression names it for the
                        # repeated factors (cse leaves a base that occurs only once inside its power)
                        self._power_bases = getattr(self, "_power_bases", 0) + 1
                        name = f"_pow_base{self._power_bases}"
                        first = f"({name} := {base})"
                    prod = "*".join([first] + [name] * (n - 1))
                    # parenthesized: the result may be a factor of a quotient (a/(x*x*x))
                    return f"({prod})" if e > 0 else f"(1/({prod}))"
                return super()._print_Pow(expr, rational=rational)

        _PRINTER = ProductPowerPrinter
    return _PRINTER


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
    CompiledExprs
        A picklable callable: ``f(Z)`` with ``Z`` of shape (n, D) returns an array of shape (n, m) with the dtype (and, for
        torch, the device) of ``Z``. Constant expressions are broadcast to the batch, which plain
        ``lambdify`` does not do. The torch function is differentiable.
    """
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; valid backends: {', '.join(BACKENDS)}")
    return _compile(tuple(sp.sympify(e) for e in exprs), tuple(symbols), backend)


@lru_cache(maxsize=512)
def _compile(exprs, symbols, backend):
    if backend == "numpy":
        # a printer instance with lambdify's own settings (names unqualified, each imported by name through
        # the printer's module_imports), and a namespace without ``from numpy import *``: that star import
        # loads every lazy numpy submodule (numpy.f2py, ...), a tenth of the start-up of `hamid discover`
        printer = _numpy_printer()({"fully_qualified_modules": False, "inline": True,
                                    "allow_unknown_functions": True, "user_functions": {}})
        raw = sp.lambdify(symbols, list(exprs), modules=[{"I": 1j}], cse=_cse, printer=printer)
    else:
        raw = sp.lambdify(symbols, list(exprs), modules="torch", cse=_cse)
    return CompiledExprs(exprs, symbols, backend, raw)


class CompiledExprs:
    """A compiled list of expressions: call it on states ``Z`` (n, D) to get (n, m).

    Made by :func:`compile_exprs`; ``exprs``, ``symbols`` and ``backend`` say what it evaluates. Pickling
    stores only those (the generated code is rebuilt, through the cache, when it is unpickled), so models
    holding compiled functions can be pickled and sent to worker processes.
    """

    def __init__(self, exprs, symbols, backend, raw):
        self.exprs = exprs
        self.symbols = symbols
        self.backend = backend
        self._raw = raw
        self._width = len(exprs)

    def __reduce__(self):
        return compile_exprs, (self.exprs, self.symbols, self.backend)

    def __repr__(self):
        return f"CompiledExprs({self._width} expressions in {len(self.symbols)} symbols, backend={self.backend!r})"

    def __call__(self, Z):
        n_symbols = len(self.symbols)
        if self.backend == "numpy":
            Z = np.asarray(Z)
            _check_width(Z, n_symbols)
            dtype = np.result_type(Z.dtype, np.float64) if Z.dtype.kind in "iub" else Z.dtype
            values = self._raw(*(Z[..., i] for i in range(n_symbols)))
            # column-major input (the integrators keep q and p so) and wide outputs get column-major output,
            # so that every column read and written is contiguous
            if Z.ndim == 2 and (self._width >= _WIDE or (Z.flags.f_contiguous and not Z.flags.c_contiguous)):
                out_t = np.empty((self._width, Z.shape[0]), dtype=dtype)
                for j, v in enumerate(values):
                    out_t[j] = v  # broadcasting assignment also fills constant columns
                return out_t.T
            out = np.empty(Z.shape[:-1] + (self._width,), dtype=dtype)
            for j, v in enumerate(values):
                out[..., j] = v
            return out
        import torch

        _check_width(Z, n_symbols)
        values = self._raw(*(Z[..., i] for i in range(n_symbols)))
        batch = Z.shape[:-1]
        columns = [
            torch.broadcast_to(
                v if isinstance(v, torch.Tensor) else torch.as_tensor(v, dtype=Z.dtype, device=Z.device), batch
            )
            for v in values
        ]
        return torch.stack(columns, dim=-1) if columns else Z.new_zeros(batch + (0,))


def _cse(exprs):
    # the same elimination as lambdify(cse=True), which calls cse(..., list=False): that path is 4-5x slower
    # on hundreds of expressions (2.1 s against 0.45 s for the 455 gradient entries of a 12-variable poly:4)
    return sp.cse(exprs)


#: outputs at least this wide are filled row by row in a (width, n) buffer and returned transposed (a
#: column-major (n, width) array): filling hundreds of columns of a row-major array one by one is a strided
#: write per column, several times the cost of the evaluation itself for library design matrices
_WIDE = 32


def _check_width(Z, n_symbols):
    if Z.ndim < 1 or Z.shape[-1] != n_symbols:
        raise ValueError(f"expected states with last dimension {n_symbols}, got shape {tuple(Z.shape)}")
