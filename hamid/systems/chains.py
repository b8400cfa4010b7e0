"""Chains of masses: the SRNN spring chain with random constants and the FPUT-beta chain."""
from __future__ import annotations

import numbers

import numpy as np

from ..symbolic.symbols import state_symbols
from ._base import (
    BoxDomain,
    System,
    SystemConfigError,
    _check_float,
    _check_positive_int,
    canonical_J,
    separable_lagrangian,
    to_sympy_number as num,
)

__all__ = ["SpringChain", "FPUChain", "srnn_chain_constants"]


def srnn_chain_constants(n: int, seed: int = 0):
    """Random masses and spring constants drawn as in the SRNN reference code (Chen et al. 2020).

    ``k_j = 5 * max(0.2, 1 + N(0, 1)/4)`` for the ``n + 1`` springs, then ``m_i = max(0.2, 1 + N(0, 1)/4)``
    for the ``n`` masses, from ``numpy.random.default_rng(seed)`` (springs drawn first). The reference code
    uses the same distributions with torch's global RNG, so the values themselves differ.

    Returns
    -------
    masses : tuple of float, length n
    springs : tuple of float, length n + 1
    """
    rng = np.random.default_rng(seed)
    springs = np.maximum(rng.standard_normal(n + 1) / 4 + 1, 0.2) * 5
    masses = np.maximum(rng.standard_normal(n) / 4 + 1, 0.2)
    return tuple(float(m) for m in masses), tuple(float(k) for k in springs)


def _positive_tuple(name, values, length):
    if isinstance(values, (str, bytes)) or not hasattr(values, "__len__"):
        raise SystemConfigError(f"{name} must be a sequence of {length} positive numbers, got {values!r}")
    if len(values) != length:
        raise SystemConfigError(f"{name} must have length {length}, got {len(values)}")
    return tuple(_check_float(f"{name}[{i}]", v, positive=True) for i, v in enumerate(values))


class SpringChain(System):
    """Chain of ``n`` masses moving vertically, neighbours joined by springs, both ends tied to the ground.

    ``H = Σ_i p_i^2 / (2 m_i) + k_0 q_1^2 / 2 + Σ_{i=1}^{n-1} k_i (q_{i+1} - q_i)^2 / 2 + k_n q_n^2 / 2``.

    Constants: ``n = 20`` masses; ``masses`` (length n) and ``springs`` (length n + 1) default to the SRNN
    draws of :func:`srnn_chain_constants` with ``constants_seed = 0``; pass them explicitly to override. The
    values used are listed in ``constants``. Domain: ``q_i, p_i ~ U[-2.5, 2.5]`` (SRNN's initial states;
    unlike the reference code, the end masses are not pinned at zero). ``default_dt = 0.1`` (SRNN Δt).
    """

    name = "spring_chain"
    description = "spring chain of n masses with fixed ends and SRNN-style random masses and spring constants"
    default_constants = {"n": 20, "constants_seed": 0, "masses": None, "springs": None}

    def _validate_constants(self, c):
        n = _check_positive_int("n", c["n"])
        seed = c["constants_seed"]
        if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
            raise SystemConfigError(f"constants_seed must be a non-negative integer, got {seed!r}")
        masses, springs = srnn_chain_constants(n, int(seed))
        if c["masses"] is not None:
            masses = _positive_tuple("masses", c["masses"], n)
        if c["springs"] is not None:
            springs = _positive_tuple("springs", c["springs"], n + 1)
        return {"n": n, "constants_seed": int(seed), "masses": masses, "springs": springs}

    def _build(self):
        n = self.constants["n"]
        qs, ps = state_symbols(n)
        self.symbols = qs + ps
        self.structure_matrix = canonical_J(n)
        m = [num(v) for v in self.constants["masses"]]
        k = [num(v) for v in self.constants["springs"]]
        V = k[0] * qs[0] ** 2 / 2 + k[n] * qs[-1] ** 2 / 2
        for i in range(n - 1):
            V += k[i + 1] * (qs[i + 1] - qs[i]) ** 2 / 2
        self.hamiltonian = sum(p**2 / (2 * mi) for p, mi in zip(ps, m)) + V
        self.lagrangian = separable_lagrangian(m, V, n)
        self.domain = BoxDomain([-2.5] * (2 * n), [2.5] * (2 * n))


class FPUChain(System):
    """Fermi–Pasta–Ulam–Tsingou beta chain of ``n`` unit masses with fixed ends ``q_0 = q_{n+1} = 0``.

    ``H = Σ_i p_i^2 / 2 + Σ_{i=0}^{n} [ (q_{i+1} - q_i)^2 / 2 + beta (q_{i+1} - q_i)^4 / 4 ]``.

    Constants: ``n = 4``, ``beta = 1``. Domain: ``q_i ~ U[-0.5, 0.5]``, ``p_i ~ U[-1, 1]``.
    """

    name = "fpu"
    description = "FPUT-beta chain with fixed ends, unit masses and springs"
    default_constants = {"n": 4, "beta": 1.0}

    def _validate_constants(self, c):
        return {"n": _check_positive_int("n", c["n"]), "beta": _check_float("beta", c["beta"], nonnegative=True)}

    def _build(self):
        n = self.constants["n"]
        qs, ps = state_symbols(n)
        self.symbols = qs + ps
        self.structure_matrix = canonical_J(n)
        beta = num(self.constants["beta"])
        padded = (0,) + tuple(qs) + (0,)
        V = 0
        for i in range(n + 1):
            r = padded[i + 1] - padded[i]
            V += r**2 / 2 + beta * r**4 / 4
        self.hamiltonian = sum(p**2 for p in ps) / 2 + V
        self.lagrangian = separable_lagrangian([1] * n, V, n)
        self.domain = BoxDomain([-0.5] * n + [-1.0] * n, [0.5] * n + [1.0] * n, "q_i ~ U[-0.5, 0.5], p_i ~ U[-1, 1]")
