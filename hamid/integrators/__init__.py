"""Vectorized integrators for Hamiltonian systems and general vector fields, on numpy or torch.

Entry points
------------
- :func:`integrate` (H as a SymPy expression or a fitted model) and :func:`integrate_field` (any field).
- :data:`METHODS` (canonical name -> default :class:`Method`), :data:`ALIASES`, :func:`get_method`.

Methods: ``euler``, ``rk4``, ``symplectic_euler_a`` (kick then drift), ``symplectic_euler_b`` (drift then
kick), ``leapfrog`` (kick–drift–kick Störmer–Verlet), ``yoshida4``, ``implicit_midpoint``, ``tao``.
See ``docs/integrators.md``. torch is imported only when the torch backend is used.
"""
from ._api import BACKENDS, allow_nonfinite, integrate, integrate_field
from ._methods import (ALIASES, METHODS, RK4, Euler, ImplicitMidpoint, Leapfrog, Method, Splitting,
                       SymplecticEulerA, SymplecticEulerB, Tao, Yoshida4, DOP853, get_method, method_names)
from ._systems import IntegratorError

__all__ = ["integrate", "integrate_field", "allow_nonfinite", "Method", "METHODS", "ALIASES", "get_method",
           "method_names",
           "BACKENDS", "IntegratorError", "Euler", "RK4", "SymplecticEulerA", "SymplecticEulerB", "Leapfrog",
           "Yoshida4", "ImplicitMidpoint", "Tao", "DOP853", "Splitting"]
