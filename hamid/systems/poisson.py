"""Non-canonical (Poisson / Lie–Poisson) systems: ``dz/dt = B(z) ∇H(z)`` with their own state symbols.

Their generators return :class:`hamid.systems.Trajectories` (``t``, ``z``, ``dz``), not a ``Dataset``:
the state is not a ``(q, p)`` pair.
"""
from __future__ import annotations

import numpy as np
import sympy as sp

from ._base import (
    BoxDomain,
    FunctionDomain,
    System,
    SystemConfigError,
    _check_float,
    _check_positive_int,
    to_sympy_number as num,
)

__all__ = ["LotkaVolterra", "RigidBody", "Advection"]


class LotkaVolterra(System):
    """Lotka–Volterra predator–prey model in Poisson form.

    ``dx/dt = x (alpha - beta y)``, ``dy/dt = y (delta x - gamma)`` equals ``B(z) ∇H`` with
    ``H = delta x - gamma ln x + beta y - alpha ln y`` and ``B = [[0, -x y], [x y, 0]]``. State symbols
    ``x, y`` (positive populations). Defaults ``alpha = beta = delta = 1``, ``gamma = 2``: ``dx/dt = x(1 - y)``,
    ``dy/dt = y(x - 2)``, ``H = x - 2 ln x + y - ln y``, equilibrium ``(2, 1)``.
    (In ``Q = ln x, P = ln y`` the system is canonical up to a sign: ``dQ/dt = -∂H/∂P``, ``dP/dt = ∂H/∂Q``.)
    Domain: box ``x ~ U[0.5, 3]``, ``y ~ U[0.5, 2]``.
    """

    name = "lotka_volterra"
    description = "Lotka-Volterra, non-canonical: dz/dt = [[0, -xy], [xy, 0]] grad H, H = delta x - gamma ln x + beta y - alpha ln y"
    default_constants = {"alpha": 1.0, "beta": 1.0, "gamma": 2.0, "delta": 1.0}
    canonical = False

    def _build(self):
        x, y = sp.Symbol("x"), sp.Symbol("y")
        a, b, g, d = (num(self.constants[k]) for k in ("alpha", "beta", "gamma", "delta"))
        self.symbols = (x, y)
        self.hamiltonian = d * x - g * sp.log(x) + b * y - a * sp.log(y)
        self.structure_matrix = sp.Matrix([[0, -x * y], [x * y, 0]])
        self.domain = BoxDomain([0.5, 0.5], [3.0, 2.0])


class RigidBody(System):
    """Free rigid body (Euler equations) in Lie–Poisson form ``dy/dt = y × ∇H``.

    State: body angular momentum ``y1, y2, y3``; ``H = (y1^2/I1 + y2^2/I2 + y3^2/I3) / 2``;
    ``B(y) = [[0, -y3, y2], [y3, 0, -y1], [-y2, y1, 0]]``; Casimir ``C = y1^2 + y2^2 + y3^2``.
    Constants: ``I1 = 2``, ``I2 = 1``, ``I3 = 2/3`` (LocSympNets, target V1 with ``y0 = (cos 1.1, 0, sin 1.1)``
    and ``tau = 0.1 = default_dt``). Domain: uniform on the unit sphere.
    """

    name = "rigid_body"
    description = "free rigid body, Lie-Poisson dy/dt = y x grad H, H = sum y_i^2/(2 I_i), Casimir |y|^2"
    default_constants = {"I1": 2.0, "I2": 1.0, "I3": 2.0 / 3.0}
    canonical = False

    def _build(self):
        y1, y2, y3 = sp.symbols("y1 y2 y3")
        inertia = [num(self.constants[k]) for k in ("I1", "I2", "I3")]
        self.symbols = (y1, y2, y3)
        self.hamiltonian = sum(yi**2 / (2 * Ii) for yi, Ii in zip(self.symbols, inertia))
        self.structure_matrix = sp.Matrix([[0, -y3, y2], [y3, 0, -y1], [-y2, y1, 0]])
        self.casimirs = (y1**2 + y2**2 + y3**2,)
        self.domain = FunctionDomain(_unit_sphere, "uniform on the unit sphere |y| = 1")


def _unit_sphere(system, n, rng):
    z = rng.standard_normal((n, system.dim))
    return z / np.linalg.norm(z, axis=1, keepdims=True)


class Advection(System):
    """Semi-discretized linear advection ``u_t + c u_x = 0`` on ``[-1, 1)``, periodic, central differences.

    ``du_i/dt = -c (u_{i+1} - u_{i-1}) / (2 dx)``, ``dx = 2 / n``, indices mod n (LocSympNets eq. 34). Written
    as ``du/dt = B ∇H`` with ``H = |u|^2 / 2`` and the constant skew-symmetric
    ``B = -c/(2 dx) (S - S^T)``, ``(S u)_i = u_{i+1}``. Linear and volume-preserving (trace 0); ``H`` and the
    Casimir ``Σ u_i`` (plus ``Σ (-1)^i u_i`` for even ``n``) are conserved. State symbols ``u1..un``.
    Constants: ``n = 35`` grid points, ``c = 1``. Domain: ``u_i ~ N(0, 1)`` i.i.d.; ``default_dt = 0.01``
    (LocSympNets' ``tau``).
    """

    name = "advection"
    description = "semi-discretized periodic linear advection (central differences), du/dt = B grad(|u|^2/2)"
    default_constants = {"n": 35, "c": 1.0}
    canonical = False
    default_dt = 0.01

    def _validate_constants(self, c):
        n = _check_positive_int("n", c["n"])
        if n < 3:
            raise SystemConfigError(f"advection needs n >= 3 grid points, got {n}")
        return {"n": n, "c": _check_float("c", c["c"])}

    def _build(self):
        n = self.constants["n"]
        us = tuple(sp.Symbol(f"u{i}") for i in range(1, n + 1))
        self.symbols = us
        coef = -num(self.constants["c"]) * n / 4  # -c / (2 dx) with dx = 2/n
        B = sp.zeros(n, n)
        for i in range(n):
            B[i, (i + 1) % n] += coef
            B[i, (i - 1) % n] -= coef
        self.structure_matrix = B
        self.hamiltonian = sum(u**2 for u in us) / 2
        casimirs = [sum(us)]
        if n % 2 == 0:
            casimirs.append(sum((-1) ** i * u for i, u in enumerate(us)))
        self.casimirs = tuple(casimirs)
        self.domain = FunctionDomain(lambda system, k, rng: rng.standard_normal((k, system.dim)),
                                     "u_i ~ N(0, 1) i.i.d.")
