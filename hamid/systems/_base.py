"""Common machinery of the system catalogue: the :class:`System` base class, domains and the data generator.

A system is defined by its symbolic truth: a Hamiltonian ``H`` (SymPy), a structure matrix ``B`` (the
canonical ``J`` or a state-dependent Poisson matrix) and optionally a damping matrix ``R``. The vector field
``dz/dt = (B - R) ∇H`` is derived symbolically once and compiled with
:func:`hamid.symbolic.codegen.compile_exprs`; trajectories come from ``scipy.integrate.solve_ivp`` (DOP853)
integrating all trajectories of a batch as one large ODE system.
"""
from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from fractions import Fraction
from functools import cached_property

import numpy as np
import sympy as sp

from ..symbolic.codegen import compile_exprs

__all__ = [
    "System",
    "Trajectories",
    "Domain",
    "BoxDomain",
    "RadiusDomain",
    "EnergyShellDomain",
    "FunctionDomain",
    "canonical_J",
    "velocity_symbols",
    "SystemConfigError",
]

NOISE_ON = ("both", "states", "derivatives")
NOISE_MODES = ("relative", "absolute")


class SystemConfigError(ValueError):
    """Invalid system name, constant or generator argument; the message names the problem."""


# ---------------------------------------------------------------------------------------------- helpers

def canonical_J(n_dof: int) -> sp.Matrix:
    """The canonical structure matrix ``J = [[0, I], [-I, 0]]`` of shape (2d, 2d) as a SymPy Matrix."""
    eye = sp.eye(n_dof)
    zero = sp.zeros(n_dof)
    return sp.Matrix(sp.BlockMatrix([[zero, eye], [-eye, zero]]))


def velocity_symbols(n_dof: int) -> tuple[sp.Symbol, ...]:
    """Generalized velocity symbols for Lagrangians: ``qdot`` for d = 1, ``qdot1..qdotd`` otherwise."""
    if n_dof == 1:
        return (sp.Symbol("qdot"),)
    return tuple(sp.Symbol(f"qdot{i}") for i in range(1, n_dof + 1))


def to_sympy_number(value) -> sp.Expr:
    """Exact SymPy number for ``value`` when it is a short rational (9.8 -> 49/5, 2/3 -> 2/3), else a Float."""
    if isinstance(value, sp.Basic):
        return value
    if isinstance(value, numbers.Integral):
        return sp.Integer(int(value))
    value = float(value)
    frac = Fraction(value).limit_denominator(1000)
    if float(frac) == value:
        return sp.Rational(frac.numerator, frac.denominator)
    return sp.Float(value, 17)


def _check_positive_int(name, value, minimum=1):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise SystemConfigError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _check_float(name, value, positive=False, nonnegative=False):
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise SystemConfigError(f"{name} must be a real number, got {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise SystemConfigError(f"{name} must be finite, got {value!r}")
    if positive and value <= 0:
        raise SystemConfigError(f"{name} must be > 0, got {value!r}")
    if nonnegative and value < 0:
        raise SystemConfigError(f"{name} must be >= 0, got {value!r}")
    return value


def _rng_pair(seed):
    """Two independent generators (initial states, noise) from one seed; never the global RNG."""
    if isinstance(seed, np.random.Generator):
        children = seed.spawn(2)
        return children[0], children[1]
    if isinstance(seed, bool) or (seed is not None and not isinstance(seed, (numbers.Integral, np.random.SeedSequence))):
        raise SystemConfigError(f"seed must be None, an int, a SeedSequence or a numpy Generator, got {seed!r}")
    ss = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
    a, b = ss.spawn(2)
    return np.random.default_rng(a), np.random.default_rng(b)


# ---------------------------------------------------------------------------------------------- domains

class Domain:
    """A distribution of initial states.

    Subclasses implement :meth:`sample`. ``description`` is a one-line human-readable statement used in
    the docs and in ``System.summary()``.
    """

    description = ""

    def sample(self, system, n: int, rng: np.random.Generator) -> np.ndarray:
        """Draw ``n`` states, shape (n, D), for ``system`` using ``rng``."""
        raise NotImplementedError

    def __repr__(self):
        return f"{type(self).__name__}({self.description})"


class BoxDomain(Domain):
    """Independent uniform draws per coordinate: ``z_k ~ U[low_k, high_k]``.

    Parameters
    ----------
    low, high : array_like, shape (D,)
    """

    def __init__(self, low, high, description=None):
        self.low = np.asarray(low, dtype=float)
        self.high = np.asarray(high, dtype=float)
        if self.low.shape != self.high.shape or self.low.ndim != 1 or np.any(self.high < self.low):
            raise SystemConfigError(f"BoxDomain needs low <= high of equal shape (D,), got {self.low} and {self.high}")
        self.description = description or _box_text(self.low, self.high)

    def sample(self, system, n, rng):
        if self.low.shape[0] != system.dim:
            raise SystemConfigError(f"BoxDomain has dimension {self.low.shape[0]}, system {system.name} has {system.dim}")
        return self.low + (self.high - self.low) * rng.random((n, self.low.shape[0]))


def _box_text(low, high):
    if np.all(low == low[0]) and np.all(high == high[0]):
        return f"every coordinate ~ U[{low[0]:g}, {high[0]:g}]"
    ranges = ", ".join(f"U[{a:g}, {b:g}]" for a, b in zip(low, high))
    return f"coordinates ~ ({ranges}) independently"


class RadiusDomain(Domain):
    """States at a uniform radius ``|z - center| ~ U[r_min, r_max]`` in a direction uniform on the sphere.

    This is the HNN recipe (Greydanus et al. 2019: spring radius U[0.1, 1], pendulum U[1.3, 2.3]) except that
    the direction is uniform on the sphere (Gaussian draw normalized) rather than a normalized box draw.

    Parameters
    ----------
    r_min, r_max : float
    center : array_like, shape (D,), optional
        Defaults to the origin.
    """

    def __init__(self, r_min, r_max, center=None):
        self.r_min = _check_float("r_min", r_min, nonnegative=True)
        self.r_max = _check_float("r_max", r_max, nonnegative=True)
        if self.r_max < self.r_min:
            raise SystemConfigError(f"RadiusDomain needs r_min <= r_max, got {r_min} > {r_max}")
        self.center = None if center is None else np.asarray(center, dtype=float)
        where = "" if center is None else f" around {self.center.tolist()}"
        self.description = f"radius |z| ~ U[{self.r_min:g}, {self.r_max:g}]{where}, direction uniform on the sphere"

    def sample(self, system, n, rng):
        d = rng.standard_normal((n, system.dim))
        d /= np.linalg.norm(d, axis=1, keepdims=True)
        r = self.r_min + (self.r_max - self.r_min) * rng.random((n, 1))
        z = r * d
        return z if self.center is None else z + self.center


class EnergyShellDomain(Domain):
    """Uniform draws in a box kept only when the true energy lies in ``[e_min, e_max]`` (rejection sampling).

    Parameters
    ----------
    low, high : array_like, shape (D,)
        The proposal box.
    e_min, e_max : float
        Accepted energy range of ``system.energy``.
    """

    def __init__(self, low, high, e_min, e_max, max_rounds=1000):
        self.box = BoxDomain(low, high)
        self.e_min, self.e_max = float(e_min), float(e_max)
        self.max_rounds = max_rounds
        self.description = f"{self.box.description}, kept when H in [{self.e_min:g}, {self.e_max:g}] (rejection)"

    def sample(self, system, n, rng):
        out, count = np.empty((n, system.dim)), 0
        for _ in range(self.max_rounds):
            z = self.box.sample(system, max(2 * (n - count), 16), rng)
            e = system.energy(z)
            keep = z[(e >= self.e_min) & (e <= self.e_max)][: n - count]
            out[count:count + len(keep)] = keep
            count += len(keep)
            if count == n:
                return out
        raise RuntimeError(f"EnergyShellDomain: could not draw {n} states with H in [{self.e_min}, {self.e_max}]")


class FunctionDomain(Domain):
    """A domain given by a function ``sample(system, n, rng) -> (n, D)`` and a description."""

    def __init__(self, sample, description):
        self._sample = sample
        self.description = description

    def sample(self, system, n, rng):
        return self._sample(system, n, rng)


# ---------------------------------------------------------------------------------------------- data

@dataclass(frozen=True)
class Trajectories:
    """Trajectories of a non-canonical system (state not split into ``q`` and ``p``).

    Attributes
    ----------
    t : ndarray, shape (n_time,)
    z : ndarray, shape (n_traj, n_time, D)
        States (noisy when noise was requested on the states).
    dz : ndarray, shape (n_traj, n_time, D)
        Time derivatives: the exact field at the clean states (plus noise when requested).
    state_names : tuple of str, length D
    """

    t: np.ndarray
    z: np.ndarray
    dz: np.ndarray
    state_names: tuple = ()

    @property
    def n_traj(self) -> int:
        return self.z.shape[0]

    @property
    def n_time(self) -> int:
        return self.z.shape[1]

    @property
    def dim(self) -> int:
        return self.z.shape[2]

    def states(self) -> np.ndarray:
        """States, shape (n_traj, n_time, D) (mirrors :meth:`hamid.io.Dataset.states`)."""
        return self.z

    def derivatives(self) -> np.ndarray:
        """Derivatives, shape (n_traj, n_time, D)."""
        return self.dz

    def flat(self):
        """Samples view ``(z, dz)``, each of shape (n_traj * n_time, D)."""
        return self.z.reshape(-1, self.dim), self.dz.reshape(-1, self.dim)


# ---------------------------------------------------------------------------------------------- system

class System:
    """A dynamical system with known symbolic truth.

    Subclasses set the class attributes ``name``, ``description``, ``default_constants`` and implement
    :meth:`_build`, which fills ``symbols``, ``hamiltonian``, ``structure_matrix`` and optionally ``damping``,
    ``lagrangian``, ``casimirs``, ``domain``.

    Attributes
    ----------
    name : str
        Registry name.
    description : str
    constants : dict
        Physical constants actually used (defaults updated by the user's keyword arguments).
    canonical : bool
        True when the state is ``z = (q, p)`` with ``q, p`` from :func:`hamid.symbolic.state_symbols` and
        the structure matrix is the canonical ``J``. Damped systems can be canonical (``J - R``).
    conservative : bool
        True when ``damping`` is None (``H`` is conserved along trajectories).
    dim : int
        State dimension D.
    n_dof : int or None
        Degrees of freedom d = D / 2 for canonical systems; None for non-canonical ones.
    symbols : tuple of sympy.Symbol, length D
        State symbols in column order.
    state_names : tuple of str, length D
    hamiltonian : sympy.Expr
        ``H`` in ``symbols``.
    structure_matrix : sympy.Matrix, shape (D, D)
        ``J`` for canonical systems, the Poisson matrix ``B(z)`` otherwise.
    damping : sympy.Matrix of shape (D, D) or None
        Positive semi-definite ``R`` of the port-Hamiltonian form ``dz/dt = (B - R) ∇H``.
    lagrangian : sympy.Expr or None
        ``L(q, qdot)`` in ``qs`` and :attr:`velocity_symbols` where the system has one.
    casimirs : tuple of sympy.Expr
        Functions ``C`` with ``B ∇C = 0`` (conserved for every ``H``).
    field_exprs : tuple of sympy.Expr, length D
        The symbolic vector field ``(B - R) ∇H``.
    domain : Domain
        Distribution of initial states used by :meth:`sample_states` and :meth:`generate`.
    default_dt : float
        Sampling step used by :meth:`generate` when neither ``dt`` nor ``t_span`` is given.
    """

    name = "system"
    description = ""
    default_constants: dict = {}
    canonical = True
    default_dt = 0.1

    def __init__(self, **constants):
        unknown = sorted(set(constants) - set(self.default_constants))
        if unknown:
            valid = ", ".join(sorted(self.default_constants)) or "(none)"
            raise SystemConfigError(f"unknown constant(s) {unknown} for system {self.name!r}; valid constants: {valid}")
        merged = dict(self.default_constants)
        merged.update(constants)
        self.constants = self._validate_constants(merged)
        self.damping = None
        self.lagrangian = None
        self.casimirs = ()
        self.domain = None
        self._build()
        self.symbols = tuple(self.symbols)
        self.state_names = tuple(str(s) for s in self.symbols)
        D = len(self.symbols)
        if self.structure_matrix.shape != (D, D):
            raise AssertionError(f"{self.name}: structure matrix shape {self.structure_matrix.shape} != ({D}, {D})")

    # -- to be provided by subclasses -----------------------------------------------------------------
    def _validate_constants(self, constants: dict) -> dict:
        """Check and normalize constants; default: every constant a finite positive float."""
        return {k: _check_float(k, v, positive=True) for k, v in constants.items()}

    def _build(self):  # pragma: no cover - abstract
        raise NotImplementedError

    # -- structure ------------------------------------------------------------------------------------
    @property
    def dim(self) -> int:
        return len(self.symbols)

    @property
    def n_dof(self):
        return self.dim // 2 if self.canonical else None

    @property
    def conservative(self) -> bool:
        return self.damping is None

    @property
    def velocity_symbols(self):
        """Velocity symbols of :attr:`lagrangian` (``qdot`` or ``qdot1..qdotd``), or None."""
        return velocity_symbols(self.n_dof) if self.canonical else None

    @cached_property
    def field_exprs(self) -> tuple:
        grad = sp.Matrix([sp.diff(self.hamiltonian, s) for s in self.symbols])
        matrix = self.structure_matrix if self.damping is None else self.structure_matrix - self.damping
        exprs = matrix * grad
        if not self.canonical:
            exprs = exprs.applyfunc(sp.expand)
        return tuple(exprs)

    def field_function(self, backend: str = "numpy"):
        """Compiled vector field ``f(Z)``: (n, D) -> (n, D), numpy or (differentiable) torch."""
        return compile_exprs(self.field_exprs, self.symbols, backend)

    def energy_function(self, backend: str = "numpy"):
        """Compiled Hamiltonian ``f(Z)``: (n, D) -> (n, 1)."""
        return compile_exprs([self.hamiltonian], self.symbols, backend)

    # -- numerics -------------------------------------------------------------------------------------
    def _as_states(self, z, name="z"):
        z = np.asarray(z, dtype=float)
        if z.ndim == 1 and z.shape[0] == self.dim:
            z = z[None, :]
        if z.ndim < 2 or z.shape[-1] != self.dim:
            raise SystemConfigError(f"{name} must have shape (n, {self.dim}) for system {self.name!r}, got {z.shape}")
        return z

    def vector_field(self, z) -> np.ndarray:
        """True vector field ``dz/dt``.

        Parameters
        ----------
        z : array_like, shape (n, D) (or (..., D))

        Returns
        -------
        ndarray, shape like ``z``
        """
        z = self._as_states(z)
        return self.field_function("numpy")(z)

    def energy(self, z) -> np.ndarray:
        """True Hamiltonian ``H(z)``.

        Parameters
        ----------
        z : array_like, shape (n, D) (or (..., D))

        Returns
        -------
        ndarray, shape (n,) (or (...,))
        """
        z = self._as_states(z)
        return self.energy_function("numpy")(z)[..., 0]

    def casimir_values(self, z) -> np.ndarray:
        """Casimir functions at ``z``: (n, D) -> (n, len(casimirs)); (n, 0) when there are none."""
        z = self._as_states(z)
        return compile_exprs(list(self.casimirs), self.symbols, "numpy")(z)

    @property
    def structure_spec(self) -> str:
        """The :func:`hamid.structures.get_structure` alias of this system's structure: ``canonical``,
        ``port`` (damped), ``poisson:NAME`` (a named matrix) or ``poisson:[[...]]`` in the symbols z1..zD."""
        if self.canonical:
            return "canonical" if self.damping is None else "port"
        from ..structures import POISSON_MATRICES, poisson_symbols

        if self.name in POISSON_MATRICES:
            return f"poisson:{self.name}"
        B = self.structure_matrix.subs(dict(zip(self.symbols, poisson_symbols(self.dim))), simultaneous=True)
        return "poisson:" + str([[str(e) for e in row] for row in B.tolist()]).replace("'", "")

    # -- Lagrangian side ------------------------------------------------------------------------------
    def _need_lagrangian(self):
        if self.lagrangian is None:
            raise SystemConfigError(f"system {self.name!r} has no Lagrangian")

    @cached_property
    def _lagrangian_exprs(self):
        qs = self.symbols[: self.n_dof]
        vs = self.velocity_symbols
        L = self.lagrangian
        momenta = [sp.diff(L, v) for v in vs]
        M = sp.Matrix([[sp.diff(pi, vj) for vj in vs] for pi in momenta])
        rhs = sp.Matrix([sp.diff(L, qi) - sum(sp.diff(momenta[i], qj) * vj for qj, vj in zip(qs, vs))
                         for i, qi in enumerate(qs)])
        if M.is_diagonal():
            acc = [rhs[i] / M[i, i] for i in range(len(qs))]
        else:
            acc = list(M.LUsolve(rhs))
        return tuple(momenta), tuple(acc)

    def momenta(self, x) -> np.ndarray:
        """Legendre transform ``(q, qdot) -> (q, p)`` with ``p = ∂L/∂qdot``.

        Parameters
        ----------
        x : array_like, shape (n, 2d)
            Positions and velocities.

        Returns
        -------
        z : ndarray, shape (n, 2d)
        """
        self._need_lagrangian()
        x = self._as_states(x, "x")
        p = compile_exprs(self._lagrangian_exprs[0], self.symbols[: self.n_dof] + self.velocity_symbols)(x)
        return np.concatenate([x[..., : self.n_dof], p], axis=-1)

    def velocities(self, z) -> np.ndarray:
        """Inverse Legendre transform ``(q, p) -> (q, qdot)`` with ``qdot = ∂H/∂p``: (n, 2d) -> (n, 2d)."""
        self._need_lagrangian()
        z = self._as_states(z)
        if self.damping is not None:
            raise SystemConfigError("velocities() is defined for conservative systems only")
        dz = self.vector_field(z)
        return np.concatenate([z[..., : self.n_dof], dz[..., : self.n_dof]], axis=-1)

    def accelerations(self, x) -> np.ndarray:
        """Euler–Lagrange accelerations ``qddot = M^{-1}(∇_q L - (∇_qdot ∇_q L) qdot)``.

        Parameters
        ----------
        x : array_like, shape (n, 2d)
            Positions and velocities ``(q, qdot)``.

        Returns
        -------
        ndarray, shape (n, d)
        """
        self._need_lagrangian()
        x = self._as_states(x, "x")
        return compile_exprs(self._lagrangian_exprs[1], self.symbols[: self.n_dof] + self.velocity_symbols)(x)

    # -- sampling and generation ----------------------------------------------------------------------
    def sample_states(self, n: int, seed=None, domain: Domain | None = None) -> np.ndarray:
        """Draw ``n`` initial states from the system's domain.

        Parameters
        ----------
        n : int
        seed : int, SeedSequence, numpy Generator or None
            Seeds ``numpy.random.default_rng`` (through the same ``SeedSequence.spawn`` split as
            :meth:`generate`, so ``sample_states(n, seed=s)`` are the initial states of
            ``generate(n_traj=n, seed=s)``); the global RNG is never used.
        domain : Domain, optional
            Overrides :attr:`domain`.

        Returns
        -------
        ndarray, shape (n, D)
        """
        n = _check_positive_int("n", n)
        rng, _ = _rng_pair(seed)
        return self._sample(n, rng, domain)

    def _sample(self, n, rng, domain):
        domain = self.domain if domain is None else domain
        if not isinstance(domain, Domain):
            raise SystemConfigError(f"domain must be a hamid.systems Domain, got {type(domain).__name__}")
        z = np.asarray(domain.sample(self, n, rng), dtype=float)
        if z.shape != (n, self.dim):
            raise AssertionError(f"domain returned shape {z.shape}, expected {(n, self.dim)}")
        return z

    def simulate(self, z0, t, rtol: float = 1e-10, atol: float = 1e-12, max_batch: int | None = None) -> np.ndarray:
        """Integrate the true field from ``z0`` and return the states at times ``t``.

        All trajectories of a batch are integrated as one ODE system with ``solve_ivp(method="DOP853")``.
        ``solve_ivp`` controls the RMS of the scaled error over all components, so the tolerances are divided
        by ``sqrt(batch_size * D)``: ``rtol`` and ``atol`` then bound every single component as if it were
        integrated alone.

        Parameters
        ----------
        z0 : array_like, shape (n, D) or (D,)
        t : array_like, shape (n_time,)
            Increasing times; integration starts at ``t[0]`` from ``z0``.
        rtol, atol : float
            Per-component tolerances (defaults 1e-10 and 1e-12).
        max_batch : int, optional
            Most trajectories per ODE system (default: about 4096 components per batch).

        Returns
        -------
        ndarray, shape (n, n_time, D)
        """
        from scipy.integrate import solve_ivp

        z0 = self._as_states(z0, "z0")
        if z0.ndim != 2:
            raise SystemConfigError(f"z0 must have shape (n, {self.dim}), got {z0.shape}")
        if not np.all(np.isfinite(z0)):
            raise SystemConfigError("z0 contains NaN or inf")
        t = np.asarray(t, dtype=float)
        if t.ndim != 1 or t.size < 1 or not np.all(np.isfinite(t)):
            raise SystemConfigError(f"t must be a finite 1-d array of times, got shape {t.shape}")
        if t.size > 1 and np.any(np.diff(t) <= 0):
            raise SystemConfigError("t must be strictly increasing")
        rtol = _check_float("rtol", rtol, positive=True)
        atol = _check_float("atol", atol, positive=True)
        n, D = z0.shape
        if max_batch is None:
            max_batch = max(1, 4096 // D)
        max_batch = _check_positive_int("max_batch", max_batch)
        f = self.field_function("numpy")
        out = np.empty((n, t.size, D))
        if t.size == 1:
            out[:, 0] = z0
            return out
        for start in range(0, n, max_batch):
            block = z0[start:start + max_batch]
            b = block.shape[0]
            scale = math.sqrt(b * D)
            rt = max(rtol / scale, 1e-13)
            at = atol / scale

            def rhs(_t, y, _b=b):
                return f(y.reshape(_b, D)).ravel()

            sol = solve_ivp(rhs, (t[0], t[-1]), block.ravel(), method="DOP853", t_eval=t, rtol=rt, atol=at)
            if sol.status != 0 or sol.y.shape[1] != t.size:
                raise RuntimeError(f"{self.name}: integration failed for trajectories {start}..{start + b - 1}: "
                                   f"{sol.message}")
            out[start:start + b] = sol.y.T.reshape(t.size, b, D).transpose(1, 0, 2)
        return out

    def generate(self, n_traj=None, n_time=50, dt=None, t_span=None, noise=0.0, noise_on="both",
                 noise_mode="relative", seed=None, z0=None, domain=None, rtol=1e-10, atol=1e-12):
        """Seeded trajectories with exact derivatives and optional Gaussian noise.

        Initial states are drawn from :attr:`domain` (or ``domain``) unless ``z0`` is given, integrated with
        :meth:`simulate` (DOP853, per-component ``rtol``/``atol``), and the derivatives are the exact true
        field at the clean states.

        Noise model: with ``noise_mode="relative"`` (default), coordinate ``k`` of the states receives
        independent ``N(0, (noise * s_k)^2)`` noise, where ``s_k`` is the standard deviation of the clean
        coordinate ``k`` over all trajectories and times of this call (``numpy.std``, ddof = 0); derivatives
        likewise with the std of the clean derivative ``k``. With ``noise_mode="absolute"`` the standard
        deviation is ``noise`` itself for every coordinate (the HNN recipe "sigma = 0.1 on q, p").
        ``noise_on`` selects the arrays that receive noise: ``"both"``, ``"states"`` (derivative targets stay
        exact at the clean states) or ``"derivatives"``.

        The seed is split (``SeedSequence.spawn``) into one stream for the initial states and one for the noise,
        so the clean data for a seed does not depend on the noise settings: ``generate(seed=s)`` is the clean
        version of ``generate(seed=s, noise=0.1)``.

        Parameters
        ----------
        n_traj : int, optional
            Number of trajectories (default 10, or ``len(z0)``).
        n_time : int
            Samples per trajectory (>= 2).
        dt : float, optional
            Sample spacing: ``t = dt * arange(n_time)``. Default :attr:`default_dt`.
        t_span : (float, float), optional
            Alternatively ``t = linspace(t_span[0], t_span[1], n_time)``. Not together with ``dt``.
        noise : float
            Noise level (>= 0), relative or absolute per ``noise_mode``.
        noise_on : {"both", "states", "derivatives"}
        noise_mode : {"relative", "absolute"}
        seed : int, SeedSequence, numpy Generator or None
        z0 : array_like, shape (n_traj, D) or (D,), optional
            Initial states; skips sampling.
        domain : Domain, optional
            Overrides :attr:`domain`.
        rtol, atol : float
            Integration tolerances per component.

        Returns
        -------
        hamid.io.Dataset or Trajectories
            Canonical systems: a ``Dataset`` with ``q, p, dq, dp`` of shape (n_traj, n_time, d) and ``t`` of
            shape (n_time,). Non-canonical systems: :class:`Trajectories` with ``t``, ``z``, ``dz`` of shape
            (n_traj, n_time, D).
        """
        n_time = _check_positive_int("n_time", n_time, minimum=2)
        noise = _check_float("noise", noise, nonnegative=True)
        if noise_on not in NOISE_ON:
            raise SystemConfigError(f"noise_on must be one of {NOISE_ON}, got {noise_on!r}")
        if noise_mode not in NOISE_MODES:
            raise SystemConfigError(f"noise_mode must be one of {NOISE_MODES}, got {noise_mode!r}")
        from ..limits import check_array_bytes

        # states and derivatives, (n_traj, n_time, D) each, bounded before the time grid is even allocated
        rows = len(z0) if z0 is not None and np.ndim(z0) == 2 else (1 if z0 is not None else n_traj or 10)
        check_array_bytes((2, _check_positive_int("n_traj", rows), n_time, self.dim),
                          "the generated states and derivatives (2 x trajectories x samples x state width)")
        t = self._time_grid(n_time, dt, t_span)
        rng_states, rng_noise = _rng_pair(seed)
        if z0 is not None:
            z_init = self._as_states(z0, "z0")
            if z_init.ndim != 2:
                raise SystemConfigError(f"z0 must have shape (n_traj, {self.dim}), got {z_init.shape}")
            if n_traj is not None and _check_positive_int("n_traj", n_traj) != z_init.shape[0]:
                raise SystemConfigError(f"n_traj={n_traj} but z0 holds {z_init.shape[0]} initial states")
        else:
            n_traj = 10 if n_traj is None else _check_positive_int("n_traj", n_traj)
            z_init = self._sample(n_traj, rng_states, domain)
        z = self.simulate(z_init, t, rtol=rtol, atol=atol)
        dz = self.vector_field(z)
        if noise > 0:
            z, dz = self._add_noise(z, dz, noise, noise_on, noise_mode, rng_noise)
        return self._package(t, z, dz)

    def _time_grid(self, n_time, dt, t_span):
        if dt is not None and t_span is not None:
            raise SystemConfigError("give either dt or t_span, not both")
        if t_span is not None:
            try:
                t0, t1 = (float(v) for v in t_span)
            except (TypeError, ValueError):
                raise SystemConfigError(f"t_span must be a pair (t0, t1), got {t_span!r}") from None
            if not (math.isfinite(t0) and math.isfinite(t1)) or t1 <= t0:
                raise SystemConfigError(f"t_span must satisfy t0 < t1 (finite), got {t_span!r}")
            return np.linspace(t0, t1, n_time)
        dt = self.default_dt if dt is None else _check_float("dt", dt, positive=True)
        return dt * np.arange(n_time)

    @staticmethod
    def _add_noise(z, dz, noise, noise_on, noise_mode, rng):
        def noisy(a):
            if noise_mode == "relative":
                sigma = noise * a.reshape(-1, a.shape[-1]).std(axis=0)
            else:
                sigma = np.full(a.shape[-1], noise)
            return a + sigma * rng.standard_normal(a.shape)

        if noise_on in ("both", "states"):
            z = noisy(z)
        if noise_on in ("both", "derivatives"):
            dz = noisy(dz)
        return z, dz

    def _package(self, t, z, dz):
        if self.canonical:
            from ..io import validate_data

            d = self.n_dof
            return validate_data(z[..., :d], z[..., d:], t=t, dq=dz[..., :d], dp=dz[..., d:])
        return Trajectories(t=t, z=z, dz=dz, state_names=self.state_names)

    # -- presentation ---------------------------------------------------------------------------------
    def summary(self) -> str:
        """Multi-line text: name, description, constants, H, structure, domain."""
        lines = [f"{self.name}: {self.description}",
                 f"  state ({self.dim}): {', '.join(self.state_names)}",
                 f"  constants: {self.constants}",
                 f"  H = {self.hamiltonian}",
                 f"  canonical: {self.canonical}, conservative: {self.conservative}",
                 f"  domain: {self.domain.description if self.domain is not None else None}"]
        if self.lagrangian is not None:
            lines.append(f"  L = {self.lagrangian}")
        if self.casimirs:
            lines.append(f"  Casimirs: {', '.join(str(c) for c in self.casimirs)}")
        return "\n".join(lines)

    def __repr__(self):
        consts = ", ".join(f"{k}={v!r}" for k, v in self.constants.items() if not isinstance(v, tuple))
        return f"<{type(self).__name__} {self.name!r} D={self.dim} {consts}>"


def separable_lagrangian(masses, potential, n_dof):
    """``L = Σ m_i qdot_i^2 / 2 - V(q)`` for ``H = Σ p_i^2 / (2 m_i) + V(q)``."""
    vs = velocity_symbols(n_dof)
    return sum(to_sympy_number(m) * v**2 / 2 for m, v in zip(masses, vs)) - potential

