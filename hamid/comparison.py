"""Compare fitted models on the same test trajectories with the same metrics: :func:`compare` and
:class:`Comparison`, plus the model registry and fitting helpers the command line uses.

How models are rolled out
-------------------------
Every model that has a vector field (sparse, MLP, HNN, LNN, SRNN, friction HNN, neural symplectic form) is
integrated twice from the first state of each test trajectory:

1. **the common reading** (the table's main columns): the same integrator for every field model,
   by default classical RK4 at a quarter of the data step (``substeps = 4``;
   :func:`hamid.integrators.integrate_field`). The sparse model's row shows what that costs: rolled out with
   it, an exact H drifts by ~1e-9 over hundreds of steps on the catalogue systems, far below any neural
   model's error, so differences between rows are differences between models, not integrators;
2. **the own reading** (columns ending in ``_own``): each model's own :meth:`simulate` (the sparse model's
   leapfrog or implicit midpoint, an SRNN's leapfrog, ...) at the data step.

Map models (SympNets, LocSympNets) have no vector field: both readings are their own map at their own trained
step ``dt_``; the ``integrator`` column says so. A trained step that is an integer fraction or multiple of the
data step is compared at the common sample times.

Energies are measured with the TRUE Hamiltonian when one is given (``truth``): a SymPy expression, a string
for the safe parser, or a catalogue system (name or :class:`hamid.systems.System`). Without it the
energy columns are NaN. Lagrangian models (LNN) work in (q, q̇): their initial states are converted with
q̇ = ∂H/∂p and their rollouts back with the inverse Legendre transform of the true H (Newton's method), so
they need ``truth``; their field error is measured in (q, q̇) coordinates against (q̇, q̈).
"""
from __future__ import annotations

import importlib
import math
import pickle
import warnings

import numpy as np

from .metrics import (count_parameters, energy_drift, energy_mse, rollout_mse, valid_prediction_time,
                      vector_field_mse)

__all__ = ["compare", "Comparison", "Truth", "resolve_truth", "term_errors", "MODELS", "model_class",
           "make_model", "parse_param_value", "fit_model", "fit_models", "bootstrap_coefficients",
           "DEFAULT_METHOD", "DEFAULT_SUBSTEPS"]

#: the common integrator of field models, and the substeps per data step
DEFAULT_METHOD = "rk4"
DEFAULT_SUBSTEPS = 4

#: CLI / registry name -> (module, class)
MODELS = {
    "sparse": ("hamid.models.sparse", "SparseHamiltonian"),
    "hnn": ("hamid.models.neural", "HNN"),
    "mlp": ("hamid.models.neural", "MLPField"),
    "lnn": ("hamid.models.neural", "LNN"),
    "lasympnet": ("hamid.models.neural", "LASympNet"),
    "gsympnet": ("hamid.models.neural", "GSympNet"),
    "srnn": ("hamid.models.neural", "SRNN"),
    "locsympnet": ("hamid.models.neural", "LocSympNet"),
    "friction": ("hamid.models.neural", "FrictionHNN"),
    "symplectic_form": ("hamid.models.neural", "NeuralSymplecticForm"),
}


# ------------------------------------------------------------------------------------------- registry

def model_class(name):
    """The model class registered under ``name`` (see :data:`MODELS`).

    Raises
    ------
    ValueError
        For an unknown name; the message lists the valid names.
    """
    key = str(name).strip().lower().replace("-", "_")
    if key not in MODELS:
        raise ValueError(f"unknown model {name!r}; valid models: {', '.join(MODELS)}")
    module, cls = MODELS[key]
    return getattr(importlib.import_module(module), cls)


def make_model(name, **params):
    """Instantiate the model ``name`` with constructor parameters ``params``.

    Raises
    ------
    ValueError
        Unknown model name, or a parameter the class does not take (the valid parameters are listed).
    """
    cls = model_class(name)
    valid = cls._get_param_names()
    unknown = sorted(set(params) - set(valid))
    if unknown:
        raise ValueError(f"unknown parameter(s) {', '.join(unknown)} for model {name!r} ({cls.__name__}); "
                         f"valid parameters: {', '.join(valid)}")
    return cls(**params)


def parse_param_value(text):
    """Parse a ``--param`` value without evaluating code.

    ``64`` -> int, ``1e-3`` -> float, ``true``/``false`` -> bool, ``none`` -> None, ``64,64`` -> tuple of
    parsed items (``64,`` for a one-element tuple), anything else -> the string itself.
    """
    text = str(text).strip()
    if "," in text:
        items = [s for s in text.split(",")]
        if items and items[-1].strip() == "":
            items = items[:-1]
        return tuple(parse_param_value(s) for s in items)
    low = text.lower()
    if low in ("true", "false"):
        return low == "true"
    if low in ("none", "null"):
        return None
    try:
        return int(text)
    except ValueError:
        pass
    try:
        value = float(text)
    except ValueError:
        return text
    return value


# ------------------------------------------------------------------------------------------------ truth

class Truth:
    """The true Hamiltonian of the data: energy, field and the Legendre maps needed by Lagrangian models.

    Parameters
    ----------
    hamiltonian : sympy.Expr
        H in the state symbols of :func:`hamid.symbolic.state_symbols` (``n_dof`` degrees of freedom).
    n_dof : int
    name : str, optional
        How tables and reports name it.
    """

    def __init__(self, hamiltonian, n_dof, name=None):
        import sympy as sp

        from .symbolic import compile_exprs, state_symbols

        self.n_dof = int(n_dof)
        qs, ps = state_symbols(self.n_dof)
        self.symbols = tuple(qs) + tuple(ps)
        self.hamiltonian = sp.sympify(hamiltonian)
        extra = self.hamiltonian.free_symbols - set(self.symbols)
        if extra:
            raise ValueError(f"the true Hamiltonian uses symbols {sorted(map(str, extra))} that are not state "
                             f"symbols {', '.join(map(str, self.symbols))}")
        self.name = name or str(self.hamiltonian)
        H = self.hamiltonian
        grad = [sp.diff(H, s) for s in self.symbols]
        d = self.n_dof
        field = grad[d:] + [-g for g in grad[:d]]
        dH_dp = grad[d:]
        # q̈ = d/dt (∂H/∂p) along the flow
        accel = [sum(sp.diff(v, s) * f for s, f in zip(self.symbols, field)) for v in dH_dp]
        hess_pp = [sp.diff(v, pj) for v in dH_dp for pj in ps]
        self._energy = compile_exprs([H], self.symbols)
        self._field = compile_exprs(field, self.symbols)
        self._velocity = compile_exprs(dH_dp, self.symbols)
        self._accel = compile_exprs(accel, self.symbols)
        self._hess_pp = compile_exprs(hess_pp, self.symbols)

    @property
    def dim(self):
        return 2 * self.n_dof

    def _states(self, z):
        z = np.asarray(z, dtype=float)
        if z.shape[-1] != self.dim:
            raise ValueError(f"states must have {self.dim} columns (q, p), got shape {z.shape}")
        return z.reshape(-1, self.dim), z.shape[:-1]

    def energy(self, z):
        """H at states ``z`` of shape (..., 2d) -> (...)."""
        flat, lead = self._states(z)
        return self._energy(flat)[:, 0].reshape(lead)

    def vector_field(self, z):
        """J∇H at ``z`` of shape (..., 2d) -> (..., 2d)."""
        flat, lead = self._states(z)
        return self._field(flat).reshape(lead + (self.dim,))

    def to_velocity_states(self, z):
        """(q, p) -> (q, q̇) with q̇ = ∂H/∂p; shape (..., 2d) -> (..., 2d)."""
        flat, lead = self._states(z)
        out = np.concatenate([flat[:, :self.n_dof], self._velocity(flat)], axis=1)
        return out.reshape(lead + (self.dim,))

    def velocity_field(self, z):
        """(q̇, q̈) at canonical states ``z`` (..., 2d): the true field in (q, q̇) coordinates."""
        flat, lead = self._states(z)
        out = np.concatenate([self._velocity(flat), self._accel(flat)], axis=1)
        return out.reshape(lead + (self.dim,))

    def accelerations(self, z):
        """q̈ at canonical states ``z`` (..., 2d) -> (..., d)."""
        flat, lead = self._states(z)
        return self._accel(flat).reshape(lead + (self.n_dof,))

    def to_canonical(self, x, max_iter=30, tol=1e-12):
        """(q, q̇) -> (q, p) by solving ∂H/∂p(q, p) = q̇ for p with Newton's method (one step when the
        kinetic energy is quadratic in p). Rows that do not converge (or are not finite) come back as NaN.

        Parameters
        ----------
        x : ndarray, shape (..., 2d)

        Returns
        -------
        ndarray, shape (..., 2d)
        """
        flat, lead = self._states(x)
        d = self.n_dof
        z = flat.copy()
        ok = np.all(np.isfinite(flat), axis=1)
        z[~ok] = 0.0
        target = z[:, d:].copy()
        for _ in range(max_iter):
            r = self._velocity(z) - target
            if np.all(np.abs(r[ok]) <= tol * (1 + np.abs(target[ok]))):
                break
            Hpp = self._hess_pp(z).reshape(-1, d, d)
            try:
                step = np.linalg.solve(Hpp, r[..., None])[..., 0]
            except np.linalg.LinAlgError:
                step = np.einsum("nij,nj->ni", np.linalg.pinv(Hpp), r)
            z[:, d:] -= step
        r = self._velocity(z) - target
        bad = ~ok | ~np.all(np.abs(r) <= 1e-8 * (1 + np.abs(target)), axis=1)
        z[bad] = np.nan
        return z.reshape(lead + (self.dim,))


def resolve_truth(truth, n_dof):
    """Turn a user's ``truth`` into a :class:`Truth` (None stays None).

    Parameters
    ----------
    truth : None, str, sympy.Expr, hamid.systems.System or Truth
        A catalogue system name (``"pendulum"``), a System, or H as an expression/string in the state
        symbols (``q, p`` or ``q1..qd, p1..pd``).
    n_dof : int
        Degrees of freedom of the data.
    """
    if truth is None or isinstance(truth, Truth):
        if isinstance(truth, Truth) and truth.n_dof != n_dof:
            raise ValueError(f"the true Hamiltonian has {truth.n_dof} degrees of freedom, the data {n_dof}")
        return truth
    import sympy as sp

    from .systems import System, SystemConfigError, get_system

    system = None
    if isinstance(truth, System):
        system = truth
    elif isinstance(truth, str):
        try:
            system = get_system(truth)
        except SystemConfigError:
            system = None
    if system is not None:
        if not system.canonical:
            raise ValueError(f"system {system.name!r} is not canonical: compare needs H(q, p) in canonical "
                             "coordinates")
        if system.n_dof != n_dof:
            raise ValueError(f"system {system.name!r} has {system.n_dof} degrees of freedom, the data {n_dof}")
        return Truth(system.hamiltonian, n_dof, name=system.name)
    if isinstance(truth, str):
        from .symbolic import parse_expression, state_symbols

        qs, ps = state_symbols(n_dof)
        return Truth(parse_expression(truth, list(qs) + list(ps)), n_dof)
    if isinstance(truth, sp.Expr):
        return Truth(truth, n_dof)
    raise TypeError("truth must be None, a catalogue system name or System, a SymPy expression or a string; "
                    f"got {type(truth).__name__}")


def _term_dict(expr):
    import sympy as sp

    out = {}
    for term in sp.Add.make_args(sp.expand(expr)):
        coeff, basis = term.as_coeff_Mul()
        if basis.is_number:
            continue  # H is identifiable only up to a constant
        out[basis] = out.get(basis, 0.0) + float(coeff)
    return {k: v for k, v in out.items() if v != 0.0}


def term_errors(fitted, true):
    """Support recovery and coefficient error of a symbolic fit against the true H.

    Both expressions are expanded into sums ``c_k · basis_k`` (constants dropped: H is identifiable up to a
    constant) and matched by basis.

    Parameters
    ----------
    fitted, true : sympy.Expr

    Returns
    -------
    dict
        ``extra_terms`` (bases in the fit, not in the truth), ``missing_terms`` (in the truth, not in the fit),
        both lists of str, and ``max_coef_rel_error``: max over the true terms of |c_fit − c_true| / |c_true|
        (a missing term counts as 1).
    """
    f, t = _term_dict(fitted), _term_dict(true)
    extra = sorted(str(k) for k in f if k not in t)
    missing = sorted(str(k) for k in t if k not in f)
    errors = [abs(f.get(k, 0.0) - c) / abs(c) for k, c in t.items()]
    return {"extra_terms": extra, "missing_terms": missing,
            "max_coef_rel_error": float(max(errors)) if errors else float("nan")}


# -------------------------------------------------------------------------------------------- fitting

def _is_lagrangian(model):
    return type(model).__name__ == "LNN"


def _is_map(model):
    return not hasattr(model, "vector_field")


def fit_model(model, data, truth=None):
    """Fit ``model`` on a :class:`hamid.io.Dataset` in the data form it takes.

    Canonical models get ``fit(q, p, t, dq, dp)``. A Lagrangian model (LNN) gets ``(q, q̇)`` states with
    q̇ = dq (or ∂H/∂p of ``truth``) and accelerations q̈ from ``truth`` when given (otherwise it estimates
    them by finite differences along the trajectories).

    Returns
    -------
    The fitted model.
    """
    if _is_lagrangian(model):
        truth = resolve_truth(truth, data.n_dof)
        z = data.states()
        if truth is not None:
            x = truth.to_velocity_states(z)
            qddot = truth.accelerations(z)
        elif data.dq is not None:
            x = np.concatenate([data.q, data.dq], axis=-1)
            qddot = None
            if data.t is None:
                raise ValueError("the LNN needs accelerations: give trajectories with t, or the true H")
        else:
            raise ValueError("the LNN trains on (q, qdot): give data with dq (= qdot) or the true H to convert "
                             "momenta to velocities")
        d = data.n_dof
        return model.fit(x[..., :d], x[..., d:], t=data.t, qddot=qddot)
    return model.fit(data.q, data.p, t=data.t, dq=data.dq, dp=data.dp)


def _fit_worker(model, data, truth):
    fitted = fit_model(model, data, truth)
    try:
        pickle.dumps(fitted)
    except Exception:  # a model that does not pickle is refitted in the parent process
        return None
    return fitted


def fit_models(models, data, truth=None, n_jobs=1):
    """Fit several models on the same data, in parallel processes with joblib when ``n_jobs != 1``.

    Parameters
    ----------
    models : dict of str -> unfitted model
    data : hamid.io.Dataset
    truth : optional
        See :func:`resolve_truth` (used by Lagrangian models only).
    n_jobs : int
        Worker processes (joblib); 1 fits in this process. A fitted model that does not pickle is refitted
        here.

    Returns
    -------
    dict of str -> fitted model (the given objects themselves when fitted in this process)
    """
    if not isinstance(n_jobs, (int, np.integer)) or isinstance(n_jobs, bool) or n_jobs == 0:
        raise ValueError(f"n_jobs must be a nonzero integer, got {n_jobs!r}")
    names = list(models)
    if n_jobs == 1 or len(names) < 2:
        return {name: fit_model(models[name], data, truth) for name in names}
    from joblib import Parallel, delayed

    results = Parallel(n_jobs=int(n_jobs))(delayed(_fit_worker)(models[n], data, truth) for n in names)
    out = {}
    for name, fitted in zip(names, results):
        out[name] = fitted if fitted is not None else fit_model(models[name], data, truth)
    return out


def bootstrap_coefficients(model, data, n_bootstrap=50, seed=0):
    """Coefficients of a sparse model refitted on bootstrap resamples of whole trajectories.

    Parameters
    ----------
    model : SparseHamiltonian (fitted or not; it is cloned, never changed)
    data : hamid.io.Dataset
        Trajectories (n_traj, n_time, d) (resampled with replacement) or samples (resampled likewise).
    n_bootstrap : int
    seed : int

    Returns
    -------
    ndarray, shape (n_bootstrap, m)
        One row of library coefficients per resample, in the order of ``feature_names_`` of a fit on the
        full data.
    """
    import copy

    from .io import validate_data

    if not isinstance(n_bootstrap, (int, np.integer)) or n_bootstrap < 1:
        raise ValueError(f"n_bootstrap must be a positive integer, got {n_bootstrap!r}")
    rng = np.random.default_rng(seed)
    n = data.q.shape[0]
    rows = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(int(n_bootstrap)):
            idx = rng.integers(0, n, n)
            sub = validate_data(data.q[idx], data.p[idx], t=data.t,
                                dq=None if data.dq is None else data.dq[idx],
                                dp=None if data.dp is None else data.dp[idx])
            m = copy.deepcopy(model)
            for attr in [a for a in vars(m) if a.endswith("_") and not a.startswith("_")]:
                delattr(m, attr)
            fit_model(m, sub)
            rows.append(np.asarray(m.coef_, dtype=float))
    return np.stack(rows)


# ------------------------------------------------------------------------------------------- rollouts

def _as_reference(test, t):
    """(states (n, T, D), t (T,), derivatives or None) from a Dataset or an array."""
    from .io import Dataset

    if isinstance(test, Dataset):
        if not test.is_trajectory:
            raise ValueError("compare needs test trajectories: q, p of shape (n_traj, n_time, d) with times t")
        if t is None:
            t = test.t
        z, dz = test.states(), test.derivatives()
    else:
        z = np.asarray(test, dtype=float)
        dz = None
        if z.ndim != 3:
            raise ValueError(f"test trajectories must have shape (n_traj, n_time, D), got {z.shape}")
    if t is None:
        raise ValueError("compare needs the sample times t of the test trajectories")
    t = np.asarray(t, dtype=float)
    if t.shape != (z.shape[1],):
        raise ValueError(f"t must have shape ({z.shape[1]},), got {t.shape}")
    if z.shape[1] < 2:
        raise ValueError("test trajectories need at least 2 samples")
    steps = np.diff(t)
    h = float((t[-1] - t[0]) / (len(t) - 1))
    if not np.allclose(steps, h, rtol=1e-6, atol=0):
        raise ValueError("test trajectories must be sampled at a uniform step (rollouts step by it)")
    if not np.all(np.isfinite(z)):
        raise ValueError("test trajectories contain NaN or inf")
    if z.shape[-1] % 2:
        raise ValueError(f"states must be (q, p) with an even width 2d, got {z.shape[-1]}")
    return z, t, h, dz


def _step_ratio(own_dt, h):
    """(k, mode): the model steps k times per data step ("sub") or once per k data steps ("super")."""
    r = h / own_dt
    if abs(r - round(r)) <= 1e-6 * r and round(r) >= 1:
        return int(round(r)), "sub"
    r = own_dt / h
    if abs(r - round(r)) <= 1e-6 * r and round(r) >= 1:
        return int(round(r)), "super"
    return None, None


def _fmt_step(x):
    return f"{x:.6g}"


class _Reading:
    """One rollout of one model: trajectory in (q, p), its times and how it was made."""

    def __init__(self, traj=None, t=None, how="", error=None):
        self.traj, self.t, self.how, self.error = traj, t, how, error


def _rollout(model, z0, h, n_steps, truth, common, method, substeps):
    """A reading of ``model`` from canonical initial states ``z0`` (n, D) over ``n_steps`` data steps."""
    from .integrators import allow_nonfinite

    with allow_nonfinite():  # a diverging rollout is a result here (valid time), not an integration error
        return _rollout_states(model, z0, h, n_steps, truth, common, method, substeps)


def _rollout_states(model, z0, h, n_steps, truth, common, method, substeps):
    from .integrators import integrate_field

    lagr = _is_lagrangian(model)
    start = truth.to_velocity_states(z0) if lagr else z0
    try:
        if _is_map(model):
            own_dt = float(model.dt_)
            k, mode = _step_ratio(own_dt, h)
            how = f"own map, dt = {_fmt_step(own_dt)}"
            if k is None:
                return _Reading(how=how, error=f"trained step {own_dt:g} is not commensurate with the data "
                                               f"step {h:g}")
            if mode == "sub":
                traj = model.simulate(start, own_dt, n_steps * k, save_every=k)
                idx = np.arange(n_steps + 1)
            else:
                traj = model.simulate(start, own_dt, n_steps // k)
                idx = np.arange(n_steps // k + 1) * k
        elif common:
            how = f"{method}, dt = {_fmt_step(h / substeps)} (common)"
            traj = integrate_field(model.vector_field, start, dt=h / substeps, n_steps=n_steps * substeps,
                                   method=method, save_every=substeps)
            idx = np.arange(n_steps + 1)
        else:
            own_dt = float(getattr(model, "dt_", h))
            k, mode = _step_ratio(own_dt, h)
            if k is None or mode == "super":
                own_dt, k = h, 1
            how = f"own ({_own_method_name(model)}), dt = {_fmt_step(own_dt)}"
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                traj = model.simulate(start, own_dt, n_steps * k, save_every=k)
            idx = np.arange(n_steps + 1)
    except Exception as exc:  # a failed rollout is a result (reported), not a crash of the comparison
        return _Reading(how=locals().get("how", ""), error=f"{type(exc).__name__}: {' '.join(str(exc).split())}")
    traj = np.asarray(traj.detach().cpu().numpy() if hasattr(traj, "detach") else traj, dtype=float)
    if traj.ndim == 2:
        traj = traj[None]
    if lagr:
        traj = truth.to_canonical(traj)
    return _Reading(traj=traj, t=idx, how=how)


def _own_method_name(model):
    name = type(model).__name__
    if name == "SparseHamiltonian":
        try:
            return "leapfrog" if model.separable else "implicit midpoint"
        except Exception:
            return "default"
    if hasattr(model, "test_integrator"):
        return str(model.test_integrator)
    import inspect

    try:
        default = inspect.signature(model.simulate).parameters["method"].default
    except (KeyError, TypeError, ValueError):
        default = None
    return default if isinstance(default, str) else "default"


def _grid(lo, hi, max_points=4096):
    """A regular grid over the box [lo, hi] (D,) with at most ``max_points`` points -> (n, D)."""
    D = lo.shape[0]
    k = max(2, int(math.floor(max_points ** (1.0 / D) + 1e-9)))
    axes = [np.linspace(a, b, k) for a, b in zip(lo, hi)]
    mesh = np.meshgrid(*axes, indexing="ij")
    return np.stack([m.ravel() for m in mesh], axis=1)


def _metrics(reading, reference, t, truth, threshold, suffix=""):
    out = {f"rollout_mse{suffix}": np.nan, f"max_energy_drift{suffix}": np.nan, f"valid_time{suffix}": np.nan}
    if not suffix:
        out["energy_mse"] = np.nan
    if reading.traj is None:
        return out
    ref = reference[:, reading.t]
    tt = t[reading.t]
    pred = reading.traj
    if pred.shape != ref.shape:
        reading.error = f"rollout shape {pred.shape} differs from the reference {ref.shape}"
        return out
    with np.errstate(all="ignore"):
        finite = np.all(np.isfinite(pred))
        out[f"rollout_mse{suffix}"] = float(rollout_mse(pred, ref)[-1]) if finite else np.inf
        out[f"valid_time{suffix}"] = float(np.mean(valid_prediction_time(np.nan_to_num(pred, nan=1e300),
                                                                         ref, tt, threshold)))
        if truth is not None:
            if finite:
                drift = energy_drift(truth.energy, pred)
                # NaN here is inf - inf in H along a rollout that overflowed: a diverged energy
                out[f"max_energy_drift{suffix}"] = float(np.max(np.where(np.isnan(drift), np.inf, drift)))
                if not suffix:
                    out["energy_mse"] = energy_mse(truth.energy, pred, ref)
            else:
                out[f"max_energy_drift{suffix}"] = np.inf
                if not suffix:
                    out["energy_mse"] = np.inf
    return out


def compare(models, test, t=None, *, truth=None, method=DEFAULT_METHOD, substeps=DEFAULT_SUBSTEPS, own=True,
            threshold=0.1, grid_points=4096):
    """Score fitted models on the same test trajectories with the same metrics.

    Parameters
    ----------
    models : dict of str -> fitted model, or a list of fitted models (named by class)
        Any hamid model: sparse, neural fields, neural maps, Lagrangian (see the module notes).
    test : hamid.io.Dataset or array_like, shape (n_traj, n_time, D)
        Reference trajectories, uniformly sampled; rollouts start from their first states and run over
        their whole span.
    t : array_like, shape (n_time,), optional
        Sample times (taken from a Dataset when omitted).
    truth : None, str, sympy.Expr or hamid.systems.System
        The true Hamiltonian (see :func:`resolve_truth`). Needed for the energy columns, the grid field
        error, the term errors of symbolic fits and for Lagrangian models.
    method : str
        The common integrator of field models (default ``"rk4"``), any name of :mod:`hamid.integrators`
        that works for a general field.
    substeps : int
        Integrator steps per data step in the common reading (default 4).
    own : bool
        Also roll out each model with its own integrator (columns ``*_own``).
    threshold : float
        Normalized error that ends the valid prediction time (:func:`hamid.metrics.valid_prediction_time`).
    grid_points : int
        Size of the regular grid over the bounding box of the test states for ``grid_field_mse``.

    Returns
    -------
    Comparison

    Examples
    --------
    >>> import hamid
    >>> from hamid.systems import get_system
    >>> system = get_system("harmonic_oscillator")
    >>> train = system.generate(n_traj=4, n_time=20, dt=0.1, seed=0)
    >>> test = system.generate(n_traj=2, n_time=50, dt=0.1, seed=1)
    >>> model = hamid.SparseHamiltonian(library="poly:2").fit(train.q, train.p, t=train.t, dq=train.dq, dp=train.dp)
    >>> result = hamid.compare({"sparse": model}, test, truth="harmonic_oscillator")
    >>> bool(result["sparse"]["max_energy_drift"] < 1e-8)
    True
    >>> result["sparse"]["integrator"]
    'rk4, dt = 0.025 (common)'
    """
    if not isinstance(models, dict):
        try:
            items = list(models)
        except TypeError:
            raise TypeError(f"models must be a dict name -> fitted model or a list of models, got "
                            f"{type(models).__name__}") from None
        named = {}
        for m in items:
            base = type(m).__name__
            name, k = base, 2
            while name in named:
                name, k = f"{base}_{k}", k + 1
            named[name] = m
        models = named
    if not models:
        raise ValueError("models is empty: nothing to compare")
    if isinstance(substeps, bool) or not isinstance(substeps, (int, np.integer)) or substeps < 1:
        raise ValueError(f"substeps must be a positive integer, got {substeps!r}")
    from .integrators import get_method
    from .models.base import check_is_fitted

    get_method(method)
    reference, t, h, dz_test = _as_reference(test, t)
    n, T, D = reference.shape
    d = D // 2
    truth = resolve_truth(truth, d)
    for name, model in models.items():
        check_is_fitted(model, getattr(model, "_fitted_attribute", "n_features_in_"))
        width = getattr(model, "n_features_in_", D)
        if width != D:
            raise ValueError(f"model {name!r} works on states of width {width}, the test data have {D}")
        if _is_lagrangian(model) and truth is None:
            raise ValueError(f"model {name!r} is Lagrangian (states (q, qdot)): compare needs the true H to "
                             "convert its states (pass truth=...)")
    z0 = reference[:, 0]
    states = reference.reshape(-1, D)
    field_ref = truth.vector_field(states) if truth is not None else (
        None if dz_test is None else dz_test.reshape(-1, D))
    grid = None
    if truth is not None:
        grid = _grid(states.min(axis=0), states.max(axis=0), grid_points)
    rows, readings, notes = [], {}, {}
    for name, model in models.items():
        lagr, is_map = _is_lagrangian(model), _is_map(model)
        row = {"model": name, "class": type(model).__name__, "kind": "map" if is_map else (
            "lagrangian field" if lagr else "field")}
        main = _rollout(model, z0, h, T - 1, truth, common=not is_map, method=method, substeps=substeps)
        row["integrator"] = main.how
        row.update({"field_mse": np.nan, "grid_field_mse": np.nan})
        if not is_map:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                try:
                    if field_ref is not None:
                        if lagr:
                            row["field_mse"] = vector_field_mse(model, truth.to_velocity_states(states),
                                                                truth.velocity_field(states))
                        else:
                            row["field_mse"] = vector_field_mse(model, states, field_ref)
                    if grid is not None:
                        if lagr:
                            row["grid_field_mse"] = vector_field_mse(model, truth.to_velocity_states(grid),
                                                                     truth.velocity_field(grid))
                        else:
                            row["grid_field_mse"] = vector_field_mse(model, grid, truth.vector_field(grid))
                except Exception as exc:  # e.g. a singular Hessian of an LNN somewhere on the grid
                    notes.setdefault(name, []).append(f"field error: {type(exc).__name__}: {exc}")
        row.update(_metrics(main, reference, t, truth, threshold))
        second = main
        if own and not is_map:
            second = _rollout(model, z0, h, T - 1, truth, common=False, method=method, substeps=substeps)
        row["integrator_own"] = second.how
        row.update(_metrics(second, reference, t, truth, threshold, suffix="_own"))
        for reading in (main, second) if second is not main else (main,):
            if reading.error:
                notes.setdefault(name, []).append(f"{reading.how}: {reading.error}")
        try:
            row["n_parameters"] = count_parameters(model)
        except TypeError:
            row["n_parameters"] = np.nan
        row["fit_time_s"] = float(getattr(model, "fit_time_", np.nan))
        H = getattr(model, "hamiltonian_", None)
        if truth is not None and H is not None and hasattr(H, "free_symbols"):
            errs = term_errors(H, truth.hamiltonian)
            row["n_extra_terms"] = len(errs["extra_terms"])
            row["n_missing_terms"] = len(errs["missing_terms"])
            row["max_coef_rel_error"] = errs["max_coef_rel_error"]
            row["extra_terms"] = "; ".join(errs["extra_terms"])
            row["missing_terms"] = "; ".join(errs["missing_terms"])
        row["notes"] = " | ".join(notes.get(name, []))
        rows.append(row)
        readings[name] = (main, second)
    info = {"method": method, "substeps": int(substeps), "data_step": h, "n_traj": n, "n_time": T,
            "horizon": float(t[-1] - t[0]), "threshold": threshold,
            "truth": None if truth is None else truth.name}
    return Comparison(rows, reference, t, readings, truth, info, models)


# ----------------------------------------------------------------------------------------- Comparison

#: columns shown by :meth:`Comparison.to_markdown` / :meth:`Comparison.to_latex` by default (when present)
DISPLAY_COLUMNS = ("model", "integrator", "field_mse", "grid_field_mse", "rollout_mse", "energy_mse",
                   "max_energy_drift", "max_energy_drift_own", "valid_time", "valid_time_own", "n_parameters",
                   "fit_time_s", "n_extra_terms", "n_missing_terms", "max_coef_rel_error")

_INT_COLUMNS = {"n_parameters", "n_extra_terms", "n_missing_terms"}


def _format(value, column, digits):
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, (float, np.floating)) and math.isnan(value):
        return "–"
    if column in _INT_COLUMNS and float(value).is_integer():
        return str(int(value))
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    v = float(value)
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    if column in ("fit_time_s", "valid_time", "valid_time_own"):
        return f"{v:.{digits}g}"
    return f"{v:.{digits - 1}e}" if v != 0 else "0"


class Comparison:
    """The result of :func:`compare`: one row of metrics per model, with the rollouts behind them.

    Attributes
    ----------
    rows : list of dict
        One dict per model (see :meth:`to_frame` for the columns).
    reference : ndarray, shape (n_traj, n_time, D)
    t : ndarray, shape (n_time,)
    truth : Truth or None
    info : dict
        Integrator, substeps, data step, horizon, threshold and the name of the truth.
    models : dict of str -> model

    Notes
    -----
    The columns: ``model``, ``class``, ``kind`` (field / lagrangian field / map), ``integrator`` (the reading of the main
    columns), ``field_mse`` (at the test states, against the true field or else the test derivatives),
    ``grid_field_mse`` (on a regular grid over the test states' bounding box; needs the truth),
    ``rollout_mse`` (MSE at the horizon), ``energy_mse`` and ``max_energy_drift`` (true H along the rollout:
    max over trajectories and times of |H(z_t) − H(z_0)|/|H(z_0)|), ``valid_time`` (mean valid prediction
    time), the same three with ``_own`` for the model's own integrator, ``n_parameters`` (weights, or
    nonzero terms), ``fit_time_s``; for symbolic fits against a known H ``n_extra_terms``,
    ``n_missing_terms``, ``max_coef_rel_error``, ``extra_terms``, ``missing_terms``; ``notes`` (failed
    rollouts and why).
    """

    def __init__(self, rows, reference, t, readings, truth, info, models):
        self.rows = rows
        self.reference = reference
        self.t = t
        self._readings = readings
        self.truth = truth
        self.info = info
        self.models = models

    def __len__(self):
        return len(self.rows)

    def __getitem__(self, name):
        for row in self.rows:
            if row["model"] == name:
                return row
        raise KeyError(f"no model {name!r}; models: {', '.join(r['model'] for r in self.rows)}")

    @property
    def columns(self):
        cols = []
        for row in self.rows:
            cols += [c for c in row if c not in cols]
        return cols

    def trajectories(self, which="main"):
        """Rollouts per model in (q, p): dict name -> (t (m,), trajectory (n, m, D)); failed ones left out.

        Parameters
        ----------
        which : {"main", "own"}
        """
        if which not in ("main", "own"):
            raise ValueError(f"which must be 'main' or 'own', got {which!r}")
        out = {}
        for name, (main, second) in self._readings.items():
            r = main if which == "main" else second
            if r.traj is not None:
                out[name] = (self.t[r.t], r.traj)
        return out

    def drift_ratio(self, model, others=None, column="max_energy_drift"):
        """Best (smallest) ``column`` among ``others`` divided by ``model``'s: how many times ``model`` drifts
        less than the best of the others (default: every model without a symbolic ``hamiltonian_``)."""
        mine = float(self[model][column])
        if others is None:
            others = [r["model"] for r in self.rows if r["model"] != model
                      and getattr(self.models.get(r["model"]), "hamiltonian_", None) is None]
        values = [float(self[o][column]) for o in others]
        values = [v for v in values if not math.isnan(v)]
        if not values:
            raise ValueError("no other model with a finite value to compare with")
        return min(values) / mine if mine > 0 else float("inf")

    # ---------------------------------------------------------------------------------------- output
    def to_frame(self):
        """The table as a pandas DataFrame (pandas is imported here)."""
        import pandas as pd

        return pd.DataFrame(self.rows, columns=self.columns)

    def _display(self, columns):
        if columns is None:
            present = set(self.columns)
            columns = [c for c in DISPLAY_COLUMNS if c in present]
            if not self.info.get("truth"):
                columns = [c for c in columns if c not in ("grid_field_mse", "energy_mse", "max_energy_drift",
                                                           "max_energy_drift_own")]
        else:
            unknown = [c for c in columns if c not in self.columns]
            if unknown:
                raise ValueError(f"unknown column(s) {unknown}; columns: {', '.join(self.columns)}")
        return list(columns)

    def to_markdown(self, columns=None, digits=3):
        """A GitHub-flavoured markdown table (written here, no extra dependency)."""
        columns = self._display(columns)
        lines = ["| " + " | ".join(columns) + " |",
                 "|" + "|".join("---" if c in ("model", "integrator") else "---:" for c in columns) + "|"]
        for row in self.rows:
            cells = [_format(row.get(c), c, digits).replace("|", "\\|") for c in columns]
            lines.append("| " + " | ".join(cells) + " |")
        return "\n".join(lines)

    def to_latex(self, columns=None, digits=3, caption=None, label=None):
        """A booktabs LaTeX table (``\\toprule``/``\\midrule``/``\\bottomrule``; needs ``\\usepackage{booktabs}``)."""
        columns = self._display(columns)

        def esc(s):
            for a, b in (("\\", r"\textbackslash{}"), ("&", r"\&"), ("%", r"\%"), ("$", r"\$"), ("#", r"\#"),
                         ("_", r"\_"), ("{", r"\{"), ("}", r"\}"), ("~", r"\textasciitilde{}"),
                         ("^", r"\textasciicircum{}"), ("–", "--")):
                s = s.replace(a, b)
            return s

        align = "".join("l" if c in ("model", "integrator") else "r" for c in columns)
        lines = [r"\begin{table}[ht]", r"\centering"]
        if caption:
            lines.append(rf"\caption{{{esc(caption)}}}")
        if label:
            lines.append(rf"\label{{{label}}}")
        lines += [rf"\begin{{tabular}}{{{align}}}", r"\toprule", " & ".join(esc(c) for c in columns) + r" \\",
                  r"\midrule"]
        for row in self.rows:
            lines.append(" & ".join(esc(_format(row.get(c), c, digits)) for c in columns) + r" \\")
        lines += [r"\bottomrule", r"\end{tabular}", r"\end{table}"]
        return "\n".join(lines) + "\n"

    def to_csv(self, path=None):
        """Write every column as CSV (one row per model) to ``path`` atomically; returns the CSV text."""
        import csv
        import io as _io

        buf = _io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=self.columns, lineterminator="\n")
        writer.writeheader()
        for row in self.rows:
            writer.writerow({k: (repr(float(v)) if isinstance(v, (float, np.floating)) else v)
                             for k, v in row.items()})
        text = buf.getvalue()
        if path is not None:
            from .io import atomic_write

            atomic_write(path, lambda fh: fh.write(text.encode()))
        return text

    def plot(self, kind="summary", ax=None, **kwargs):
        """Plot the comparison (:mod:`hamid.plot`): ``"phase"``, ``"energy"`` (needs the truth), ``"rollout"``,
        or ``"summary"`` (the three side by side). Returns a matplotlib Figure."""
        from . import plot as hplot

        trajs = self.trajectories()
        if kind == "phase":
            return hplot.phase_portrait({k: v[1] for k, v in trajs.items()}, reference=self.reference, ax=ax,
                                        **kwargs)
        if kind == "energy":
            if self.truth is None:
                raise ValueError("the energy plot needs the true Hamiltonian (compare(..., truth=...))")
            return hplot.energy_error(trajs, self.truth.energy, ax=ax, **kwargs)
        if kind == "rollout":
            return hplot.rollout_error(trajs, self.reference, self.t, ax=ax, **kwargs)
        if kind == "summary":
            if ax is not None:
                raise ValueError("the summary plot makes its own axes; pass ax= to a single kind")
            fig = hplot.new_figure(figsize=(15, 4.2), ncols=3 if self.truth is not None else 2)
            axes = fig.axes
            self.plot("phase", ax=axes[0])
            self.plot("rollout", ax=axes[1])
            if self.truth is not None:
                self.plot("energy", ax=axes[2])
            fig.tight_layout()
            return fig
        raise ValueError(f"unknown plot kind {kind!r}; valid kinds: summary, phase, energy, rollout")

    def __repr__(self):
        return f"Comparison of {len(self.rows)} model(s)\n" + self.to_markdown()
