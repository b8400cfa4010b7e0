"""Low-dimensional canonical systems: oscillators, pendulums, double well, Hénon–Heiles, a non-separable H."""
from __future__ import annotations

import numpy as np
import sympy as sp

from ..symbolic.symbols import state_symbols
from ._base import (
    BoxDomain,
    EnergyShellDomain,
    RadiusDomain,
    System,
    canonical_J,
    separable_lagrangian,
    to_sympy_number as num,
    velocity_symbols,
)

__all__ = [
    "HarmonicOscillator",
    "Pendulum",
    "DampedPendulum",
    "DoubleWell",
    "NonSeparable",
    "HenonHeiles",
    "CoupledOscillators",
    "DoublePendulum",
]


class _Canonical(System):
    """Helper: a canonical system with ``n_dof`` degrees of freedom."""

    n_dof_default = 1

    def _canonical(self, d):
        qs, ps = state_symbols(d)
        self.symbols = qs + ps
        self.structure_matrix = canonical_J(d)
        return qs, ps


class HarmonicOscillator(_Canonical):
    """Harmonic oscillator ``H = p^2 / (2 m) + k q^2 / 2``.

    Constants: ``m = 1``, ``k = 1``. The HNN spring (target G1, ``H = q^2 + p^2``) is ``m = 0.5, k = 2``.
    Domain: radius ``|(q, p)| ~ U[0.1, 1]`` (the HNN recipe), direction uniform.

    Examples
    --------
    >>> from hamid.systems import get_system
    >>> get_system("harmonic_oscillator", m=0.5, k=2).hamiltonian
    p**2 + q**2
    """

    name = "harmonic_oscillator"
    description = "harmonic oscillator H = p^2/(2m) + k q^2/2"
    default_constants = {"m": 1.0, "k": 1.0}

    def _build(self):
        (q,), (p,) = self._canonical(1)
        m, k = num(self.constants["m"]), num(self.constants["k"])
        V = k * q**2 / 2
        self.hamiltonian = p**2 / (2 * m) + V
        self.lagrangian = separable_lagrangian([self.constants["m"]], V, 1)
        self.domain = RadiusDomain(0.1, 1.0)


class Pendulum(_Canonical):
    """Simple pendulum ``H = p^2 / (2 m l^2) + m g l (1 - cos q)``.

    Constants: ``m = l = g = 1`` (seed 000's unit pendulum ``H = p^2/2 + 1 - cos q``). The HNN pendulum
    (target G2, ``H = 3(1 - cos q) + p^2``) is ``m = 0.5, l = 1, g = 6``. Domain: radius
    ``|(q, p)| ~ U[0.2, 1.8]`` (all librations for the default constants).
    """

    name = "pendulum"
    description = "simple pendulum H = p^2/(2 m l^2) + m g l (1 - cos q)"
    default_constants = {"m": 1.0, "l": 1.0, "g": 1.0}

    def _potential(self, q):
        m, l, g = (num(self.constants[k]) for k in ("m", "l", "g"))
        return m * g * l * (1 - sp.cos(q))

    def _build(self):
        (q,), (p,) = self._canonical(1)
        m, l = num(self.constants["m"]), num(self.constants["l"])
        V = self._potential(q)
        self.hamiltonian = p**2 / (2 * m * l**2) + V
        self.lagrangian = separable_lagrangian([m * l**2], V, 1)
        self.domain = RadiusDomain(0.2, 1.8)


class DampedPendulum(Pendulum):
    """Pendulum with viscous friction in port-Hamiltonian form ``dz/dt = (J - R) ∇H``.

    ``H`` as :class:`Pendulum`; ``R = [[0, 0], [0, gamma]]``, so ``dq/dt = p / (m l^2)`` and
    ``dp/dt = -m g l sin q - gamma * dq/dt`` (friction torque proportional to the angular velocity).
    Constants: ``m = l = g = 1``, ``gamma = 0.1``. ``H`` decreases along trajectories:
    ``dH/dt = -gamma (dq/dt)^2``. No Lagrangian is attached (the dissipation is not Lagrangian).
    """

    name = "damped_pendulum"
    description = "damped pendulum, dz/dt = (J - R) grad H with R = diag(0, gamma)"
    default_constants = {"m": 1.0, "l": 1.0, "g": 1.0, "gamma": 0.1}

    def _build(self):
        super()._build()
        self.lagrangian = None
        self.damping = sp.Matrix([[0, 0], [0, num(self.constants["gamma"])]])


class DoubleWell(_Canonical):
    """Double well / unforced undamped Duffing ``H = p^2/2 + beta q^4/4 - alpha q^2/2 + alpha^2/(4 beta)``.

    The constant makes ``H >= 0`` (zero at the minima ``q = ±sqrt(alpha/beta)``): for the defaults
    ``alpha = beta = 1``, ``H = p^2/2 + (q^2 - 1)^2 / 4``. Domain: box ``q ~ U[-1.5, 1.5]``, ``p ~ U[-1, 1]``.
    """

    name = "double_well"
    description = "double well (Duffing) H = p^2/2 + beta q^4/4 - alpha q^2/2 + alpha^2/(4 beta)"
    default_constants = {"alpha": 1.0, "beta": 1.0}

    def _build(self):
        (q,), (p,) = self._canonical(1)
        a, b = num(self.constants["alpha"]), num(self.constants["beta"])
        V = b * q**4 / 4 - a * q**2 / 2 + a**2 / (4 * b)
        self.hamiltonian = p**2 / 2 + V
        self.lagrangian = separable_lagrangian([1], V, 1)
        self.domain = BoxDomain([-1.5, -1.0], [1.5, 1.0])


class DampedDuffing(DoubleWell):
    """Double well (unforced Duffing) with viscous friction, port-Hamiltonian ``dz/dt = (J - R) ∇H``.

    ``H`` as :class:`DoubleWell`; ``R = [[0, 0], [0, gamma]]``: ``dp/dt = alpha q - beta q^3 - gamma p``.
    Constants ``alpha = beta = 1``, ``gamma = 0.1``; ``dH/dt = -gamma p^2``. No Lagrangian is attached.
    """

    name = "damped_duffing"
    description = "damped Duffing (double well), dz/dt = (J - R) grad H with R = diag(0, gamma)"
    default_constants = {"alpha": 1.0, "beta": 1.0, "gamma": 0.1}

    def _build(self):
        super()._build()
        self.lagrangian = None
        self.damping = sp.Matrix([[0, 0], [0, num(self.constants["gamma"])]])


class NonSeparable(_Canonical):
    """Non-separable polynomial Hamiltonian ``H = (q^2 + p^2)/2 + a q^2 p^2 / 2``.

    Constant ``a = 1``. Level sets are closed curves; leapfrog is not exact for it (use implicit midpoint).
    Domain: box ``q, p ~ U[-1, 1]``.
    """

    name = "nonseparable"
    description = "non-separable polynomial H = (q^2 + p^2)/2 + a q^2 p^2/2"
    default_constants = {"a": 1.0}

    def _build(self):
        (q,), (p,) = self._canonical(1)
        a = num(self.constants["a"])
        self.hamiltonian = (q**2 + p**2) / 2 + a * q**2 * p**2 / 2
        self.domain = BoxDomain([-1.0, -1.0], [1.0, 1.0])


class HenonHeiles(_Canonical):
    """Hénon–Heiles ``H = (p1^2 + p2^2)/2 + (q1^2 + q2^2)/2 + lam (q1^2 q2 - q2^3 / 3)``.

    Constant ``lam = 1`` (escape energy ``1 / (6 lam^2)``). Domain: uniform in the box
    ``|q_i|, |p_i| <= 0.5 / lam`` restricted to ``H in [0.02, 0.12] / lam^2`` (bounded orbits inside the
    triangle; mixed regular and chaotic motion).
    """

    name = "henon_heiles"
    description = "Henon-Heiles H = |p|^2/2 + |q|^2/2 + lam (q1^2 q2 - q2^3/3)"
    default_constants = {"lam": 1.0}

    def _build(self):
        (q1, q2), (p1, p2) = self._canonical(2)
        lam = num(self.constants["lam"])
        V = (q1**2 + q2**2) / 2 + lam * (q1**2 * q2 - q2**3 / 3)
        self.hamiltonian = (p1**2 + p2**2) / 2 + V
        self.lagrangian = separable_lagrangian([1, 1], V, 2)
        s = 0.5 / self.constants["lam"]
        e = 1.0 / self.constants["lam"] ** 2
        self.domain = EnergyShellDomain([-s] * 4, [s] * 4, 0.02 * e, 0.12 * e)


class CoupledOscillators(_Canonical):
    """Two masses, each tied to a wall, coupled by a spring:
    ``H = (p1^2 + p2^2)/(2m) + k (q1^2 + q2^2)/2 + kappa (q1 - q2)^2 / 2``.

    Constants: ``m = 1``, ``k = 1``, ``kappa = 0.5``. Domain: box ``q_i, p_i ~ U[-1, 1]``.
    """

    name = "coupled_oscillators"
    description = "two coupled oscillators H = |p|^2/(2m) + k |q|^2/2 + kappa (q1 - q2)^2/2"
    default_constants = {"m": 1.0, "k": 1.0, "kappa": 0.5}

    def _build(self):
        (q1, q2), (p1, p2) = self._canonical(2)
        m, k, kappa = (num(self.constants[c]) for c in ("m", "k", "kappa"))
        V = k * (q1**2 + q2**2) / 2 + kappa * (q1 - q2) ** 2 / 2
        self.hamiltonian = (p1**2 + p2**2) / (2 * m) + V
        self.lagrangian = separable_lagrangian([m, m], V, 2)
        self.domain = BoxDomain([-1.0] * 4, [1.0] * 4)


class DoublePendulum(_Canonical):
    """Planar double pendulum; ``q1, q2`` are the angles of the two rods from the downward vertical.

    Lagrangian (velocities ``qdot1, qdot2``)::

        L = (m1 + m2) l1^2 qdot1^2 / 2 + m2 l2^2 qdot2^2 / 2 + m2 l1 l2 qdot1 qdot2 cos(q1 - q2)
            + (m1 + m2) g l1 cos q1 + m2 g l2 cos q2

    With the mass matrix ``M(q)`` of the kinetic term, ``p = M(q) qdot`` and
    ``H = p^T M(q)^{-1} p / 2 - (m1 + m2) g l1 cos q1 - m2 g l2 cos q2``, i.e.::

        H = (m2 l2^2 p1^2 + (m1 + m2) l1^2 p2^2 - 2 m2 l1 l2 p1 p2 cos(q1 - q2))
            / (2 m2 l1^2 l2^2 (m1 + m2 sin^2(q1 - q2))) - (m1 + m2) g l1 cos q1 - m2 g l2 cos q2

    Constants: ``m1 = m2 = l1 = l2 = 1``, ``g = 9.8`` (the LNN benchmark; the potential spans
    ``[-29.4, 29.4]``). Domain: box ``q_i ~ U[-pi/2, pi/2]``, ``p_i ~ U[-1, 1]``.
    """

    name = "double_pendulum"
    description = "double pendulum (angles from the vertical), m1 = m2 = l1 = l2 = 1, g = 9.8 by default"
    default_constants = {"m1": 1.0, "m2": 1.0, "l1": 1.0, "l2": 1.0, "g": 9.8}
    default_dt = 0.05

    def _build(self):
        (q1, q2), (p1, p2) = self._canonical(2)
        m1, m2, l1, l2, g = (num(self.constants[c]) for c in ("m1", "m2", "l1", "l2", "g"))
        v1, v2 = velocity_symbols(2)
        delta = q1 - q2
        V = -(m1 + m2) * g * l1 * sp.cos(q1) - m2 * g * l2 * sp.cos(q2)
        T_lag = ((m1 + m2) * l1**2 * v1**2 / 2 + m2 * l2**2 * v2**2 / 2
                 + m2 * l1 * l2 * v1 * v2 * sp.cos(delta))
        self.lagrangian = T_lag - V
        T_ham = ((m2 * l2**2 * p1**2 + (m1 + m2) * l1**2 * p2**2 - 2 * m2 * l1 * l2 * p1 * p2 * sp.cos(delta))
                 / (2 * m2 * l1**2 * l2**2 * (m1 + m2 * sp.sin(delta) ** 2)))
        self.hamiltonian = T_ham + V
        h = float(np.pi / 2)
        self.domain = BoxDomain([-h, -h, -1.0, -1.0], [h, h, 1.0, 1.0], "q_i ~ U[-pi/2, pi/2], p_i ~ U[-1, 1]")
