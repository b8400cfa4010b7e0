"""The system catalogue: dynamical systems with their symbolic ground truth and seeded data generators.

>>> from hamid.systems import get_system, list_systems
>>> "pendulum" in list_systems()
True
>>> system = get_system("pendulum", g=9.8)
>>> data = system.generate(n_traj=4, n_time=20, dt=0.1, seed=0)   # hamid.io.Dataset
>>> data.q.shape
(4, 20, 1)

Canonical systems (state ``z = (q, p)`` in the symbols of :func:`hamid.symbolic.state_symbols`) generate a
:class:`hamid.io.Dataset`; non-canonical ones (``lotka_volterra``, ``rigid_body``, ``advection``) generate
:class:`Trajectories` (``t``, ``z``, ``dz``) in their own symbols. See ``docs/systems.md``.
"""
from __future__ import annotations

from pathlib import Path

from ._base import (
    BoxDomain,
    Domain,
    EnergyShellDomain,
    FunctionDomain,
    RadiusDomain,
    System,
    SystemConfigError,
    Trajectories,
    canonical_J,
    velocity_symbols,
)
from .chains import FPUChain, SpringChain, srnn_chain_constants
from .gravity import Kepler, ThreeBody
from .mechanical import (
    CoupledOscillators,
    DampedDuffing,
    DampedPendulum,
    DoublePendulum,
    DoubleWell,
    HarmonicOscillator,
    HenonHeiles,
    NonSeparable,
    Pendulum,
)
from .poisson import Advection, LotkaVolterra, RigidBody

__all__ = [
    "list_systems",
    "get_system",
    "register_system",
    "bundled_data_path",
    "BUNDLED_DATA",
    "System",
    "Trajectories",
    "SystemConfigError",
    "Domain",
    "BoxDomain",
    "RadiusDomain",
    "EnergyShellDomain",
    "FunctionDomain",
    "canonical_J",
    "velocity_symbols",
    "srnn_chain_constants",
    "HarmonicOscillator",
    "Pendulum",
    "DampedPendulum",
    "DampedDuffing",
    "DoubleWell",
    "NonSeparable",
    "HenonHeiles",
    "CoupledOscillators",
    "DoublePendulum",
    "SpringChain",
    "FPUChain",
    "Kepler",
    "ThreeBody",
    "LotkaVolterra",
    "RigidBody",
    "Advection",
]

_REGISTRY: dict[str, type[System]] = {}
_ALIASES = {"duffing": "double_well", "two_body": "kepler", "fput": "fpu", "hénon_heiles": "henon_heiles"}


def register_system(cls: type[System]) -> type[System]:
    """Add a :class:`System` subclass to the registry under ``cls.name`` (usable as a decorator)."""
    if not (isinstance(cls, type) and issubclass(cls, System)):
        raise TypeError(f"register_system expects a System subclass, got {cls!r}")
    if cls.name in _REGISTRY and _REGISTRY[cls.name] is not cls:
        raise SystemConfigError(f"a system named {cls.name!r} is already registered")
    _REGISTRY[cls.name] = cls
    return cls


for _cls in (HarmonicOscillator, Pendulum, DoubleWell, HenonHeiles, CoupledOscillators, SpringChain, Kepler,
             ThreeBody, DoublePendulum, LotkaVolterra, RigidBody, DampedPendulum, Advection, NonSeparable,
             FPUChain, DampedDuffing):
    register_system(_cls)


def list_systems() -> list[str]:
    """Names of the registered systems, sorted."""
    return sorted(_REGISTRY)


def get_system(name: str, **constants) -> System:
    """Instantiate a system by name.

    Parameters
    ----------
    name : str
        One of :func:`list_systems` (case-insensitive; ``-`` and spaces read as ``_``; aliases ``duffing``,
        ``two_body``, ``fput``).
    **constants
        Physical constants overriding the defaults (see each system's ``default_constants``).

    Returns
    -------
    System

    Raises
    ------
    SystemConfigError (a ValueError)
        Unknown name (the message lists the valid names), unknown constant (named, with the valid ones) or
        an invalid constant value.
    """
    if isinstance(name, System):
        if constants:
            raise SystemConfigError("constants can only be given together with a system name")
        return name
    if not isinstance(name, str):
        raise SystemConfigError(f"system name must be a string, got {type(name).__name__}")
    key = name.strip().lower().replace("-", "_").replace(" ", "_")
    key = _ALIASES.get(key, key)
    if key not in _REGISTRY:
        raise SystemConfigError(f"unknown system {name!r}; valid systems: {', '.join(list_systems())}")
    return _REGISTRY[key](**constants)


# ---------------------------------------------------------------------------------------------- bundled data

#: Bundled example datasets written by ``examples/make_bundled_data.py``: name -> how they were made.
BUNDLED_DATA = {
    "pendulum": {
        "system": "pendulum", "constants": {"m": 1.0, "l": 1.0, "g": 1.0},
        "generate": {"n_traj": 20, "n_time": 50, "dt": 0.1, "noise": 0.0, "seed": 0},
        "hamiltonian": "p**2/2 + 1 - cos(q)",
    },
    "duffing": {
        "system": "double_well", "constants": {"alpha": 1.0, "beta": 1.0},
        "generate": {"n_traj": 20, "n_time": 50, "dt": 0.1, "noise": 0.0, "seed": 1},
        "hamiltonian": "p**2/2 + q**4/4 - q**2/2 + 1/4",
    },
    "pendulum_noisy": {
        "system": "pendulum", "constants": {"m": 1.0, "l": 1.0, "g": 1.0},
        "generate": {"n_traj": 20, "n_time": 50, "dt": 0.1, "noise": 0.01, "noise_on": "both", "seed": 2},
        "hamiltonian": "p**2/2 + 1 - cos(q)",
    },
}


def bundled_data_path(name: str) -> Path:
    """Path of a bundled example dataset (``hamid/data/<name>.npz``); load it with :func:`hamid.io.load_data`.

    Raises
    ------
    SystemConfigError
        For an unknown name (the valid names are listed).
    """
    if name not in BUNDLED_DATA:
        raise SystemConfigError(f"unknown bundled dataset {name!r}; available: {', '.join(sorted(BUNDLED_DATA))}")
    return Path(__file__).resolve().parent.parent / "data" / f"{name}.npz"
