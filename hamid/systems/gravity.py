"""Planar gravitational N-body systems in full (not reduced) coordinates: two bodies and three bodies."""
from __future__ import annotations

import numpy as np
import sympy as sp

from ..symbolic.symbols import state_symbols
from ._base import FunctionDomain, System, canonical_J, separable_lagrangian, to_sympy_number as num

__all__ = ["Kepler", "ThreeBody"]


def _rotate(v, theta):
    """Rotate 2-vectors ``v`` (shape (n, 2)) counter-clockwise by ``theta``."""
    c, s = np.cos(theta), np.sin(theta)
    return np.stack([c * v[:, 0] - s * v[:, 1], s * v[:, 0] + c * v[:, 1]], axis=1)


class _NBody(System):
    n_bodies = 2

    def _build(self):
        nb = self.n_bodies
        d = 2 * nb
        qs, ps = state_symbols(d)
        self.symbols = qs + ps
        self.structure_matrix = canonical_J(d)
        masses = [num(self.constants[f"m{i + 1}"]) for i in range(nb)]
        G = num(self.constants["G"])
        V = 0
        for i in range(nb):
            for j in range(i + 1, nb):
                r = sp.sqrt((qs[2 * i] - qs[2 * j]) ** 2 + (qs[2 * i + 1] - qs[2 * j + 1]) ** 2)
                V -= G * masses[i] * masses[j] / r
        T = sum((ps[2 * i] ** 2 + ps[2 * i + 1] ** 2) / (2 * masses[i]) for i in range(nb))
        self.hamiltonian = T + V
        self.lagrangian = separable_lagrangian([m for m in masses for _ in range(2)], V, d)


class Kepler(_NBody):
    """Two bodies in the plane under gravity, full (not reduced) coordinates.

    State ``q = (x1, y1, x2, y2)`` (symbols ``q1..q4``) and ``p = (px1, py1, px2, py2)`` (``p1..p4``)::

        H = |p_body1|^2 / (2 m1) + |p_body2|^2 / (2 m2) - G m1 m2 / |r_body1 - r_body2|

    Constants: ``m1 = m2 = 1``, ``G = 1`` (target G4). Note the HNN code orders coordinates
    ``(x1, x2, y1, y2, ...)``; hamid orders them body by body.

    Domain (the HNN two-body recipe): ``pos ~ U[0.5, 1.5]^2`` componentwise; the bodies sit at
    ``m2/(m1+m2) * 2 pos`` and ``-m1/(m1+m2) * 2 pos`` (``±pos`` for equal masses) with the velocities of a
    circular orbit about their centre of mass (counter-clockwise), both scaled by one factor
    ``1 + 0.05 N(0, 1)`` per sample (slightly elliptical orbits). Total momentum is zero.
    """

    name = "kepler"
    description = "planar two-body problem (full coordinates, both bodies), m1 = m2 = G = 1 by default"
    default_constants = {"m1": 1.0, "m2": 1.0, "G": 1.0}
    n_bodies = 2

    def _build(self):
        super()._build()
        self.domain = FunctionDomain(
            _kepler_sample,
            "HNN two-body recipe: pos ~ U[0.5, 1.5]^2, circular-orbit velocities scaled by 1 + 0.05 N(0, 1)",
        )


def _kepler_sample(system, n, rng, orbit_noise=0.05, r_min=0.5, r_max=1.5):
    m1, m2, G = (system.constants[k] for k in ("m1", "m2", "G"))
    pos = r_min + (r_max - r_min) * rng.random((n, 2))
    sep = 2 * pos  # relative vector body1 - body2
    dist = np.linalg.norm(sep, axis=1, keepdims=True)
    tangent = np.stack([-sep[:, 1], sep[:, 0]], axis=1) / dist
    v_rel = np.sqrt(G * (m1 + m2) / dist) * (1 + orbit_noise * rng.standard_normal((n, 1)))
    mt = m1 + m2
    q1, q2 = m2 / mt * sep, -m1 / mt * sep
    v1, v2 = m2 / mt * v_rel * tangent, -m1 / mt * v_rel * tangent
    return np.concatenate([q1, q2, m1 * v1, m2 * v2], axis=1)


class ThreeBody(_NBody):
    """Three bodies in the plane under gravity.

    State ``q = (x1, y1, x2, y2, x3, y3)`` (``q1..q6``), ``p`` likewise (``p1..p6``)::

        H = Σ_i |p_i|^2 / (2 m_i) - Σ_{i<j} G m_i m_j / |r_i - r_j|

    Constants: ``m1 = m2 = m3 = 1``, ``G = 1`` (the HNN/SRNN setting).

    Domain (the HNN/SRNN recipe): body 1 at radius ``r ~ U[0.9, 1.2]`` in a uniformly random direction,
    bodies 2 and 3 rotated by 120° and 240°; velocities of the circular orbit of three equal masses
    ``sqrt(G m / (sqrt(3) r))`` (m = mean mass) tangent to the circle, then each velocity component multiplied by
    ``1 + 0.2 U[-1, 1]`` independently per sample, body and component (the reference code draws one factor
    per body shared by all samples). Momenta ``p_i = m_i v_i``.
    """

    name = "three_body"
    description = "planar three-body problem, m1 = m2 = m3 = G = 1 by default"
    default_constants = {"m1": 1.0, "m2": 1.0, "m3": 1.0, "G": 1.0}
    n_bodies = 3

    def _build(self):
        super()._build()
        self.domain = FunctionDomain(
            _three_body_sample,
            "HNN/SRNN recipe: triangle at radius U[0.9, 1.2], circular velocities times 1 + 0.2 U[-1, 1]",
        )


def _three_body_sample(system, n, rng, nu=0.2, r_min=0.9, r_max=1.2):
    masses = np.array([system.constants[f"m{i}"] for i in (1, 2, 3)])
    G = system.constants["G"]
    angle = 2 * np.pi * rng.random(n)
    r = r_min + (r_max - r_min) * rng.random(n)
    q1 = r[:, None] * np.stack([np.cos(angle), np.sin(angle)], axis=1)
    speed = np.sqrt(G * masses.mean() / (np.sqrt(3) * r))
    v1 = _rotate(q1, np.pi / 2) / r[:, None] * speed[:, None]
    qs = [q1, _rotate(q1, 2 * np.pi / 3), _rotate(q1, 4 * np.pi / 3)]
    vs = [v1, _rotate(v1, 2 * np.pi / 3), _rotate(v1, 4 * np.pi / 3)]
    vs = [v * (1 + nu * (2 * rng.random((n, 2)) - 1)) for v in vs]
    return np.concatenate(qs + [m * v for m, v in zip(masses, vs)], axis=1)
