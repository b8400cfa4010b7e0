"""The sparse symbolic estimator: H = Σ ξ_k θ_k with a sparse ξ, recovered from phase-space data."""
from __future__ import annotations

import time
import warnings

import numpy as np
import sympy as sp

from ...io import validate_data, validate_states
from ...structures import (CanonicalStructure, PortHamiltonianStructure, StructureError, casimir_directions,
                           compile_library, get_structure)
from ...symbolic.libraries import Library, PolynomialLibrary, parse_library_spec
from ...symbolic.symbols import state_symbols
from ..base import HamidModel
from .differentiation import differentiate, get_differentiator
from .formulations import FORMULATIONS, build_system, field_design, get_formulation, sampling_resolution
from .optimizers import get_optimizer
from .selection import normalize_gram, variance_inflation

__all__ = ["SparseHamiltonian", "CollinearityWarning", "UnderdeterminedWarning", "LibraryMisfitWarning",
           "snap_value"]


class CollinearityWarning(UserWarning):
    """Library columns are nearly linearly dependent on the data: the selected terms may be traded for others."""


class UnderdeterminedWarning(UserWarning):
    """The data do not determine every library coefficient (fewer independent equations than terms)."""


from .misfit import LibraryMisfitWarning  # noqa: E402  (defined with the diagnostic; re-exported here)


def _resolve_library(library):
    if library is None:
        return PolynomialLibrary(4)
    if isinstance(library, Library):
        return library
    if isinstance(library, str) or (isinstance(library, (list, tuple)) and all(isinstance(s, str) for s in library)):
        return parse_library_spec(library)
    raise TypeError(
        "library must be a hamid Library (PolynomialLibrary, TrigLibrary, CustomLibrary, ... or a sum of them), "
        f"a spec string such as 'poly:4' or a list of specs; got {type(library).__name__}"
    )


#: relative residual (‖r‖/‖y‖) of the integral form above which the states count as noisy (the level the
#: ``auto`` selection treats as exact: quadrature and round-off error stay below it)
_NOISE_FLOOR = 1e-3


def _check_work(compiled, Z, n_blocks):
    """Bound a fit's work and memory before the system is built: terms x samples x equations evaluations of
    library derivatives, and the per-block Gram matrices (n_blocks x m x m)."""
    from ... import limits

    m, D = compiled.n_terms, Z.shape[-1]
    n = int(np.prod(Z.shape[:-1]))
    limits.check_count(m * n * D, "MAX_DESIGN_ENTRIES",
                       f"the design (library terms x samples x equations = {m} x {n} x {D})")
    limits.check_array_bytes((min(n_blocks, n), m, m), "the Gram matrices of the fit")


def _check_finite_system(system, compiled):
    """Library columns that overflow float64 on the data (q ~ 1e300 makes q**2 infinite) would otherwise give
    H = 0 with a zero residual: refuse them, naming the term."""
    diag = np.einsum("bkk->k", system.gram)
    bad = np.flatnonzero(~np.isfinite(diag))
    if bad.size:
        names = ", ".join(compiled.names[k] for k in bad[:5]) + (f" and {bad.size - 5} more" if bad.size > 5 else "")
        raise ValueError(f"library term(s) {names} overflow float64 on these data (their derivatives or their "
                         "squares are infinite or NaN); rescale the data or drop those terms")
    if not (np.all(np.isfinite(system.rhs)) and np.all(np.isfinite(system.yy))):
        raise ValueError("the regression targets overflow float64 on these data; rescale the data")


def _relative_residual(system, coef):
    G, b, yy, _ = system.total
    res = max(yy - 2 * coef @ b + coef @ G @ coef, 0.0)
    return float(np.sqrt(res / yy)) if yy > 0 else 0.0


def _field_jacobian(compiled, coef, Z, structure=None):
    """Jacobian of the field B∇H (H = Σ coef_k θ_k, B from ``structure``, canonical by default) at states
    ``Z`` (..., D) -> (..., D, D), from the exact second derivatives of H (compiled once per fitted H)."""
    from ...symbolic.codegen import compile_exprs

    D = Z.shape[-1]
    if structure is None:
        structure = CanonicalStructure(D // 2)
    syms = list(compiled.symbols)
    H = sp.Add(*[sp.Float(repr(float(coef[k]))) * compiled.expressions[k] for k in np.flatnonzero(coef)])
    exprs = list(structure.jacobian_exprs(H))
    flat = Z.reshape(-1, D)
    values = compile_exprs(exprs, syms, "numpy")(flat)
    return np.asarray(values, dtype=float).reshape(Z.shape + (D,))


def _whitened_scale(system, coef):
    """Per component, the RMS of the whitened residuals (1 when the assumed noise level is right)."""
    D = system.n_equations
    ss = np.zeros(D)
    n = 0
    for _, cols, X, y in system._rows():
        r = y - X @ coef[cols]
        ss += np.bincount(np.arange(r.shape[0]) % D, weights=r ** 2, minlength=D)
        n += r.shape[0] // D
    dof = n - getattr(system, "n_segments", 0)  # one free offset per segment and component
    out = np.sqrt(ss / max(dof, 1))
    return np.where(out > 0, out, 1.0)


def _round_floats(expr, digits):
    """``expr`` with every Float rounded to ``digits`` significant digits (None: unchanged)."""
    if digits is None:
        return expr
    return expr.xreplace({f: sp.Float(float(f"{float(f):.{int(digits)}g}")) for f in expr.atoms(sp.Float)})


def snap_value(value, tolerance, max_denominator=12):
    """The simplest rational p/q (smallest q <= ``max_denominator``) within ``tolerance·|value|`` of ``value``.

    Returns a :class:`sympy.Rational`, or None when no such rational exists.
    """
    value = float(value)
    if value == 0.0:
        return sp.Integer(0)
    for q in range(1, int(max_denominator) + 1):
        p = round(value * q)
        if p != 0 and abs(p / q - value) <= tolerance * abs(value):
            return sp.Rational(p, q)
    return None


class SparseHamiltonian(HamidModel):
    """Sparse regression of a Hamiltonian over a library of candidate terms.

    H(z) = Σ_k ξ_k θ_k(z) with few nonzero ξ_k. Hamilton's equations dz/dt = J∇H are linear in ξ, so all 2d
    equations at all samples form one linear system ``A ξ = y`` with ``A = J∇θ`` stacked (one coefficient
    vector shared by every equation), solved by a sparse regression (see :mod:`.optimizers`).

    Parameters
    ----------
    library : Library, str, list of str or None
        Candidate terms: a :class:`hamid.symbolic.Library` or CLI-style specs (``"poly:4"``, ``"trig"``,
        ``"custom:EXPR,..."``; a list is concatenated). None means ``poly:4``. Constant terms never occur.
    optimizer : str or object or None
        ``"auto"`` (default: stepwise supports chosen by blocked cross-validation, least-squares refit),
        ``"lasso"``, ``"stlsq"``, ``"sr3"``, ``"ssr"``, ``"ensemble"``, ``"lstsq"``, a hamid optimizer, or a
        pysindy / scikit-learn regressor (``fit(A, y)``, ``coef_``).
    differentiation : str or object or None
        How derivatives are estimated when the derivative formulation is used without ``dq, dp``:
        ``"auto"`` (default, also None: per component the GCV smoothing spline or a high-order local
        polynomial, whichever predicts held-out samples better), ``"spline"`` (GCV smoothing spline),
        ``"finite_difference"``, ``"savgol"``, a pysindy
        differentiation object, a ``derivative`` package object or a callable ``f(x, t)``.
    formulation : {"auto", "derivative", "integral", "midpoint"}
        ``auto`` uses the derivatives when given, and otherwise the integral form (exact for coarse
        sampling, and at least as accurate as estimated derivatives on finely sampled or noisy data).
    normalize_columns : bool, default True
        Scale library columns (and the target) to unit RMS before the sparse regression.
    quadrature_order : int, default 8
        Samples per interpolating stencil of the integral form.
    n_blocks : int, default 10
        Blocks of whole trajectories (or segments) used as cross-validation folds and bootstrap units.
    snap : float or None
        If set, coefficients within this relative tolerance of a simple rational (denominator <= 12) are
        replaced by it, e.g. 0.49997 -> 1/2 with ``snap=1e-3``.
    collinearity_threshold : float, default 1e6
        Warn (:class:`CollinearityWarning`) when a column's variance inflation factor on the data exceeds it.
    n_bootstrap : int, default 0
        If > 0, refit on that many bootstrap resamples of the blocks and report inclusion probabilities.
    random_state : int or None
        Seed of the bootstrap and of randomized optimizers.
    structure : str or hamid.structures.Structure, default "canonical"
        How ∇H becomes the field: ``"canonical"`` (J∇H on q, p), ``"poisson:NAME"`` or
        ``"poisson:[[...]]"`` (B(z)∇H on z1..zD, data given as ``fit(z=..., dz=..., t=...)``), or a
        :class:`hamid.structures.PortHamiltonianStructure` with a known R. Poisson fits find the Casimir
        directions inside the library (``casimirs_``) and report H in the gauge where the last library term
        of each has coefficient 0 (``gauge_terms_``); H + f(C) gives the same field for every Casimir C.
        An unknown R: :class:`SparsePortHamiltonian`; Lagrangians: :class:`SparseLagrangian`.

    Attributes
    ----------
    hamiltonian_ : sympy.Expr
        The fitted H (no constant term).
    coef_ : ndarray, shape (m,)
        One coefficient per library term (zeros off the support).
    terms_ : list of str
        The selected terms.
    support_ : ndarray of bool, shape (m,)
    feature_names_ : list of str
        All library terms, in the order of ``coef_``.
    library_ : CompiledLibrary
    n_dof_ : int
    n_features_in_ : int
        2d.
    formulation_ : str
    diagnostics_ : dict
        Fit diagnostics (formulation, rows, residual, collinearity, rank, sampling resolution, fit time, ...).
    selection_path_ : list of dict
        Candidate supports and their errors (optimizers that report one).
    inclusion_probabilities_ : ndarray of shape (m,) or None

    Examples
    --------
    >>> import numpy as np
    >>> from hamid.models.sparse import SparseHamiltonian
    >>> rng = np.random.default_rng(0)
    >>> q, p = rng.uniform(-1, 1, (2, 200))
    >>> model = SparseHamiltonian(library="poly:3").fit(q, p, dq=p, dp=-q)
    >>> model.terms_
    ['q**2', 'p**2']
    >>> print(model.latex())  # 10 significant digits; coef_ keeps all of them (0.5000000000000001)
    H = 0.5 p^{2} + 0.5 q^{2}
    >>> model.snap_coefficients().hamiltonian_  # exact rationals within 1e-3
    p**2/2 + q**2/2
    """

    _fitted_attribute = "coef_"

    def __init__(self, library=None, optimizer=None, differentiation=None, formulation="auto",
                 normalize_columns=True, quadrature_order=8, n_blocks=10, snap=None,
                 collinearity_threshold=1e6, n_bootstrap=0, random_state=None, structure="canonical"):
        self.structure = structure
        self.library = library
        self.optimizer = optimizer
        self.differentiation = differentiation
        self.formulation = formulation
        self.normalize_columns = normalize_columns
        self.quadrature_order = quadrature_order
        self.n_blocks = n_blocks
        self.snap = snap
        self.collinearity_threshold = collinearity_threshold
        self.n_bootstrap = n_bootstrap
        self.random_state = random_state

    # ------------------------------------------------------------------------------------------ fitting
    def _check_params(self):
        if self.formulation not in FORMULATIONS:
            raise ValueError(f"unknown formulation {self.formulation!r}; valid names: {', '.join(FORMULATIONS)}")
        for name, low in (("quadrature_order", 2), ("n_blocks", 1)):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < low:
                raise ValueError(f"{name} must be an integer >= {low}, got {v!r}")
        if isinstance(self.n_bootstrap, bool) or not isinstance(self.n_bootstrap, (int, np.integer)) or self.n_bootstrap < 0:
            raise ValueError(f"n_bootstrap must be an integer >= 0, got {self.n_bootstrap!r}")
        from ... import limits

        limits.check_count(int(self.n_bootstrap), "MAX_RESAMPLES", "n_bootstrap")
        if self.snap is not None and not (isinstance(self.snap, (int, float)) and 0 <= self.snap < 1):
            raise ValueError(f"snap must be None or a relative tolerance in [0, 1), got {self.snap!r}")

    def _validated(self, q, p, t, dq, dp, z, dz):
        """(Z, dZ or None, t or None, is_trajectory) from either (q, p, dq, dp) or (z, dz)."""
        if z is not None:
            if q is not None or p is not None or dq is not None or dp is not None:
                raise ValueError("give the states either as q, p (canonical) or as z, not both")
            data = validate_states(z, t=t, dz=dz)
            self._data_bounds = None
            return data.z, data.dz, data.t, data.is_trajectory
        if q is None or p is None:
            raise ValueError("no data: pass q and p (canonical states) or z (non-canonical states)")
        data = validate_data(q, p, t=t, dq=dq, dp=dp, allow_ragged=True)
        # ragged trajectories arrive concatenated (1, N, D): where each starts, for the formulations and the
        # differentiation (scratch for the current fit/score call, not fitted state)
        self._data_bounds = data.bounds
        return data.states(), data.derivatives(), data.t, data.is_trajectory

    def _resolve_structure(self, D):
        structure = get_structure(self.structure, dim=D)
        if structure.kind == "lagrangian":
            raise StructureError("the Lagrangian structure is fitted by SparseLagrangian (data q, qdot), not "
                                 "SparseHamiltonian")
        if structure.kind == "port" and type(self) is SparseHamiltonian and isinstance(self.structure, str):
            raise StructureError("structure 'port' estimates R as well: use SparsePortHamiltonian (or pass a "
                                 "PortHamiltonianStructure with a known damping matrix)")
        return structure

    def fit(self, q=None, p=None, t=None, dq=None, dp=None, *, z=None, dz=None):
        """Fit H to data.

        Parameters
        ----------
        q, p : array_like, shape (n_traj, n_time, d), (n_samples, d) or (n_samples,)
            Canonical states (structures ``canonical`` and ``port``).
        t : array_like, shape (n_time,), optional
            Sample times; needed for trajectories without derivatives.
        dq, dp : array_like shaped like ``q``, optional
            Time derivatives. Without them the data must be trajectories with ``t``.
        z, dz : array_like, shape (n_traj, n_time, D) or (n_samples, D), keyword only
            Non-canonical states (and optional derivatives) in the symbols z1..zD, instead of q, p.

        Returns
        -------
        self
        """
        start = time.perf_counter()
        self._check_params()
        Z, dZ_given, t, is_traj = self._validated(q, p, t, dq, dp, z, dz)
        structure = self._resolve_structure(Z.shape[-1])
        library = _resolve_library(self.library)
        optimizer = get_optimizer(self.optimizer)
        compiled = compile_library(library, structure)
        _check_work(compiled, Z, int(self.n_blocks))
        form, dZ, estimated, chosen_differentiation = self._prepare_targets(Z, dZ_given, t, is_traj)
        resolution = self._resolution(Z) if is_traj else float("nan")
        fit_lib, keep, casimir_info = self._gauge(compiled, structure, Z)
        coef_r, system, info, noise_sigma, weights = self._solve_linear(fit_lib, structure, form, Z, dZ, t,
                                                                         optimizer)
        coef = np.zeros(compiled.n_terms)
        coef[keep] = coef_r
        diagnostics = system.diagnostics
        self.structure_ = structure
        self.library_ = compiled
        self.n_dof_ = structure.n_dof if structure.partitioned or structure.kind == "port" else None
        self.n_features_in_ = Z.shape[-1]
        self.feature_names_ = list(compiled.names)
        self.formulation_ = form.name
        self._store_casimirs(structure, casimir_info)
        self._set_coefficients(coef, None)
        if self.snap is not None:
            self._snap_inplace(float(self.snap), 12)
        G, b, yy, n = system.total
        c = self.coef_[keep]
        res = max(yy - 2 * c @ b + c @ G @ c, 0.0)
        diagnostics.update({
            "formulation": form.name,
            "structure": structure.spec,
            "derivatives": "given" if dZ_given is not None and form.name == "derivative" else (
                "estimated" if estimated else "not used"),
            "optimizer": type(optimizer).__name__,
            "criterion": info.get("criterion"),
            "n_dof": self.n_dof_,
            "n_rows": n,
            "n_library_terms": compiled.n_terms,
            "n_selected_terms": int(self.support_.sum()),
            "relative_residual": float(np.sqrt(res / yy)) if yy > 0 else 0.0,
            "sampling_resolution": None if np.isnan(resolution) else resolution,
        })
        if self.casimirs_:
            diagnostics["casimirs"] = [str(c) for c in self.casimirs_]
            diagnostics["gauge_terms"] = list(self.gauge_terms_)
        if noise_sigma is not None:
            diagnostics["noise_model"] = "whitened integral form (generalized least squares)"
            diagnostics["noise_std"] = [float(v) for v in noise_sigma]
        if chosen_differentiation is not None:
            diagnostics["differentiation"] = list(chosen_differentiation)
        self.selection_path_ = info.get("path", [])
        self.inclusion_probabilities_ = None
        if "ensemble_inclusion" in info:
            self.inclusion_probabilities_ = self._expand(np.asarray(info["ensemble_inclusion"]), keep)
        if self.n_bootstrap > 0:
            self.inclusion_probabilities_ = self._expand(self._bootstrap(system, optimizer), keep)
        if self.inclusion_probabilities_ is not None:
            diagnostics["inclusion_probabilities"] = {
                name: float(pr) for name, pr in zip(self.feature_names_, self.inclusion_probabilities_) if pr > 0
            }
        self._assess_misfit(diagnostics, structure, Z, t, is_traj, system, keep, optimizer)
        self.fit_time_ = time.perf_counter() - start
        diagnostics["fit_time_s"] = self.fit_time_
        self.diagnostics_ = diagnostics
        return self

    def _assess_misfit(self, diagnostics, structure, Z, t, is_traj, system=None, keep=None, optimizer=None):
        """``diagnostics["misfit"]``: True when the fitted H leaves a residual beyond the noise level estimated
        from the data's high-frequency content (:mod:`.misfit`), with a :class:`LibraryMisfitWarning`; None
        when it cannot be assessed (samples without trajectories and times).

        With the ``auto`` optimizer a flagged fit first walks on along its selection path: the sparsest
        larger candidate support whose least-squares H does explain the data within the noise (a discrepancy
        principle) replaces it, recorded in ``diagnostics["support_refined"]``; only when none does is the
        fit a misfit."""
        from .misfit import LibraryMisfitWarning, assess_misfit

        bounds = getattr(self, "_data_bounds", None)
        order = int(self.quadrature_order)
        result = assess_misfit(self.hamiltonian_, structure, Z, t, bounds, order=order) \
            if is_traj and t is not None else None
        if result is not None and result["misfit"] and system is not None and type(optimizer).__name__ == "AutoSelect":
            refined = self._refine_support(system, keep, structure, Z, t, bounds, order)
            if refined is not None:
                coef, result, before = refined
                self._set_coefficients(coef, None)
                if self.snap is not None:
                    self._snap_inplace(float(self.snap), 12)
                G, b, yy, _ = system.total
                c = self.coef_[keep]
                diagnostics["relative_residual"] = float(np.sqrt(max(yy - 2 * c @ b + c @ G @ c, 0.0) / yy)) \
                    if yy > 0 else 0.0
                diagnostics["n_selected_terms"] = int(self.support_.sum())
                diagnostics["support_refined"] = (f"{before} -> {int(self.support_.sum())} terms: the "
                                                  "cross-validated support left a residual beyond the noise level")
        diagnostics["misfit"] = None if result is None else result["misfit"]
        if result is None:
            return
        diagnostics["misfit_ratio"] = result["ratio"]
        diagnostics["misfit_threshold"] = result["threshold"]
        diagnostics["noise_std_independent"] = result["noise_std"]
        if result["misfit"]:
            diagnostics.setdefault("warnings", []).append(f"LibraryMisfitWarning: {result['reason']}")
            warnings.warn(result["reason"], LibraryMisfitWarning, stacklevel=3)

    def _resolution(self, Z):
        bounds = getattr(self, "_data_bounds", None)
        if bounds is None:
            return sampling_resolution(Z)
        edges = list(bounds) + [Z.shape[1]]
        values = [sampling_resolution(Z[:, a:b]) for a, b in zip(edges[:-1], edges[1:])]
        values = [v for v in values if not np.isnan(v)]
        return float(np.median(values)) if values else float("nan")

    #: at most this many larger supports of the selection path are tried when a fit is a misfit
    _MAX_REFINEMENTS = 6

    def _refine_support(self, system, keep, structure, Z, t, bounds, order):
        """The sparsest support on the selection path, larger than the selected one, whose least-squares H
        passes the misfit test: ``(coef, misfit result, previous size)``, or None."""
        from .misfit import assess_misfit

        path = getattr(self, "selection_path_", None) or []
        current = int(self.support_.sum())
        G, b, _, _ = system.total
        tried = 0
        for entry in sorted(path, key=lambda e: len(e.get("support", ()))):
            s = np.asarray(entry.get("support", ()), dtype=int)
            if s.size <= current:
                continue
            if tried >= self._MAX_REFINEMENTS:
                break
            tried += 1
            sol = np.linalg.lstsq(G[np.ix_(s, s)], b[s], rcond=None)[0]
            coef = np.zeros(len(self.feature_names_))
            coef[keep[s]] = sol
            H = sp.Add(*[sp.Float(repr(float(coef[k]))) * self.library_.expressions[k] for k in np.flatnonzero(coef)])
            result = assess_misfit(H, structure, Z, t, bounds, order=order)
            if result is not None and not result["misfit"]:
                return coef, result, current
        return None

    @staticmethod
    def _expand(values, keep):
        out = np.zeros(len(keep))
        out[keep] = values
        return out

    def _prepare_targets(self, Z, dZ_given, t, is_traj):
        """Resolve the formulation; estimate derivatives when the derivative form needs them."""
        name = self.formulation
        if name == "auto":
            name = "derivative" if dZ_given is not None else "integral"
        form = get_formulation(name)
        if form.needs_trajectory and not (is_traj and t is not None):
            raise ValueError(f"the {form.name} formulation needs trajectories of shape (n_traj, n_time, D) with "
                             "sample times t")
        dZ, estimated, chosen = None, False, None
        if form.name == "derivative":
            if dZ_given is not None:
                dZ = dZ_given
            else:
                if not (is_traj and t is not None):
                    raise ValueError("without derivatives the data must be trajectories (n_traj, n_time, D) with "
                                     "times t")
                differentiator = get_differentiator(self.differentiation)
                bounds = getattr(self, "_data_bounds", None)
                if bounds is None:
                    dZ = differentiate(differentiator, Z, t)
                else:  # each ragged trajectory on its own: never smooth across a boundary
                    edges = list(bounds) + [Z.shape[1]]
                    dZ = np.concatenate([differentiate(differentiator, Z[:, a:b], t[a:b])
                                         for a, b in zip(edges[:-1], edges[1:])], axis=1)
                estimated = True
                chosen = getattr(differentiator, "choices_", None)
        return form, dZ, estimated, chosen

    def _gauge(self, compiled, structure, Z):
        """For structures with Casimirs: drop one library term per Casimir direction (the gauge).

        Returns the library to fit, the indices of its terms in ``compiled`` and the Casimir information.
        """
        keep = np.arange(compiled.n_terms)
        if structure.partitioned:
            return compiled, keep, None
        flat = Z.reshape(-1, Z.shape[-1])
        step = max(1, flat.shape[0] // 2000)
        F = field_design(compiled, flat[::step], structure)  # (n, D, m)
        directions, pivots, exprs = casimir_directions(F.reshape(-1, compiled.n_terms), compiled.names,
                                                       compiled.expressions)
        info = {"directions": directions, "pivots": pivots, "exprs": exprs}
        if not pivots:
            return compiled, keep, info
        keep = np.array([k for k in range(compiled.n_terms) if k not in set(pivots)], dtype=int)
        if keep.size == 0:
            raise StructureError("every library term is a Casimir of this structure: its field is identically "
                                 "zero, so H cannot be identified; add other terms")
        from ...structures import SymbolLibrary

        return SymbolLibrary([compiled.expressions[k] for k in keep], compiled.symbols), keep, info

    def _store_casimirs(self, structure, info):
        known = list(structure.casimirs)
        self.casimir_directions_ = None if info is None else info["directions"]
        self.gauge_terms_ = [] if info is None else [self.feature_names_[k] for k in info["pivots"]]
        found = [] if info is None else list(info["exprs"])
        out = list(known)
        for e in found:
            if not any(sp.simplify(e - c) == 0 or sp.simplify(e + c) == 0 for c in out):
                out.append(e)
        self.casimirs_ = out

    def _weights(self, target, D):
        rms = np.sqrt(np.mean(target.reshape(-1, D) ** 2, axis=0))
        if not np.all(np.isfinite(rms)):
            top = float(np.max(np.abs(target)))
            raise ValueError(f"the regression targets reach {top:.3g} in magnitude: their squares overflow float64; "
                             "rescale the data (e.g. to values of order 1)")
        positive = rms[rms > 0]
        return 1.0 / np.where(rms > 0, rms, positive.max() if positive.size else 1.0)

    def _solve_linear(self, compiled, structure, form, Z, dZ, t, optimizer, weights=None, whiten=True):
        """Build and solve the linear system of ``form`` for ``structure``; the GLS refit for noisy states."""
        D = Z.shape[-1]
        if weights is None:
            weights = self._weights(form.target(Z, dZ, t), D)
        kw = dict(weights=weights, order=int(self.quadrature_order), n_blocks=int(self.n_blocks),
                  structure=structure, boundaries=getattr(self, "_data_bounds", None))
        system = build_system(compiled, form, Z, dZ, t, **kw)
        _check_finite_system(system, compiled)
        system.diagnostics = self._diagnose(system, compiled)
        coef, info = optimizer.solve(system, normalize=bool(self.normalize_columns), random_state=self.random_state)
        coef = np.asarray(coef, dtype=float).reshape(-1)
        noise_sigma = None
        if whiten and form.name == "integral" and _relative_residual(system, coef) > _NOISE_FLOOR:
            # noisy states: refit with the rows whitened by the integral form's own noise model (generalized
            # least squares), the field's Jacobian from the previous fit, the noise level re-estimated
            sigma = 1.0 / weights
            diagnostics = system.diagnostics
            for step in range(2):
                if step:
                    sigma = sigma * _whitened_scale(system, coef)
                model_jac = _field_jacobian(compiled, coef, Z, structure)
                system = build_system(compiled, form, Z, dZ, t, noise_model={"jacobian": model_jac, "sigma": sigma},
                                      **kw)
                coef, info = optimizer.solve(system, normalize=bool(self.normalize_columns),
                                             random_state=self.random_state)
                coef = np.asarray(coef, dtype=float).reshape(-1)
            system.diagnostics = diagnostics
            noise_sigma = sigma
        return coef, system, info, noise_sigma, weights

    def _diagnose(self, system, compiled):
        G, b, yy, n = system.total
        m = compiled.n_terms
        Gn, _, _ = normalize_gram(G, b)
        w = np.linalg.eigvalsh(Gn)
        rank = int(np.sum(w > max(w[-1], 1e-300) * 1e-12))
        out = {"rank": rank, "condition_number": float(w[-1] / w[0]) if w[0] > 0 else float("inf"),
               "warnings": []}

        def warn(message, category):
            # kept in diagnostics_["warnings"] too, as "Category: message" (the form hamid discover prints)
            out["warnings"].append(f"{category.__name__}: {message}")
            warnings.warn(message, category, stacklevel=4)

        if n < m or rank < m:
            why = (f"{n} equations for {m} library terms" if n < m else
                   f"the design has rank {rank} < {m} library terms on these data")
            warn(f"underdetermined system: {why}; some coefficients are not identifiable from the data",
                 UnderdeterminedWarning)
            out["underdetermined"] = True
        else:
            out["underdetermined"] = False
        vif = variance_inflation(Gn)
        flagged = np.flatnonzero(~(vif <= self.collinearity_threshold))
        out["max_vif"] = float(np.max(vif)) if np.all(np.isfinite(vif)) else float("inf")
        out["collinear_terms"] = [compiled.names[k] for k in flagged]
        if flagged.size:
            # the worst few by name: a poly:30 library flags hundreds of terms, and the warning is one line
            worst = flagged[np.argsort(-vif[flagged], kind="stable")][:6]
            shown = ", ".join(f"{compiled.names[k]} (VIF {vif[k]:.1e})" for k in worst)
            if flagged.size > worst.size:
                shown += f" and {flagged.size - worst.size} more (diagnostics_['collinear_terms'] lists all)"
            warn(
                f"library columns are nearly collinear on these data: {shown}; each is reproduced by the others to "
                "within 1/sqrt(VIF), so a fit may trade one for a combination of others (e.g. cos q for its Taylor "
                "terms on a small domain). Sample a wider domain or remove redundant terms.",
                CollinearityWarning,
            )
        return out

    def _bootstrap(self, system, optimizer):
        from .formulations import LinearSystem

        # refuse before any resampling work (the check used to sit inside the loop)
        if not hasattr(optimizer, "solve") or type(optimizer).__name__ == "PySINDyOptimizer":
            raise ValueError("n_bootstrap works with the Gram-based optimizers (auto, lasso, lstsq); pysindy's "
                             "'ensemble' reports its own inclusion probabilities")
        rng = np.random.default_rng(self.random_state)
        B = system.gram.shape[0]
        m = system.gram.shape[1]
        counts = np.zeros(m)
        for _ in range(int(self.n_bootstrap)):
            w = rng.multinomial(B, np.full(B, 1.0 / B)).astype(float)
            keep = w > 0
            boot = LinearSystem(m, int(keep.sum()), system._rows, system.n_equations, system.description)
            boot.gram = system.gram[keep] * w[keep, None, None]
            boot.rhs = system.rhs[keep] * w[keep, None]
            boot.yy = system.yy[keep] * w[keep]
            boot.n_rows = (system.n_rows[keep] * w[keep]).astype(np.int64)
            coef, _ = optimizer.solve(boot, normalize=bool(self.normalize_columns), random_state=None)
            counts += np.abs(np.asarray(coef)) > 0
        return counts / int(self.n_bootstrap)

    def _set_coefficients(self, coef, exact):
        """Store coefficients; ``exact`` optionally maps index -> sympy.Rational (snapped values)."""
        exact = exact or {}
        self.coef_ = coef
        self.support_ = coef != 0.0
        self.terms_ = [name for name, s in zip(self.feature_names_, self.support_) if s]
        self.rational_coef_ = dict(exact)
        parts = []
        for k in np.flatnonzero(self.support_):
            c = exact.get(int(k))
            c = sp.Float(repr(float(coef[k]))) if c is None else c
            parts.append(c * self.library_.expressions[k])
        self.hamiltonian_ = sp.Add(*parts)

    def _snap_inplace(self, tolerance, max_denominator):
        coef = self.coef_.copy()
        exact = dict(getattr(self, "rational_coef_", {}))
        for k in np.flatnonzero(coef):
            r = snap_value(coef[k], tolerance, max_denominator)
            if r is not None:
                exact[int(k)] = r
                coef[k] = float(r)
        self._set_coefficients(coef, exact)

    def snap_coefficients(self, tolerance=1e-3, max_denominator=12):
        """Return a copy whose coefficients within ``tolerance`` (relative) of a simple rational are replaced by it.

        Parameters
        ----------
        tolerance : float
        max_denominator : int

        Returns
        -------
        SparseHamiltonian
            A fitted copy; the original is unchanged.
        """
        import copy

        self._check_fitted()
        other = copy.deepcopy(self)
        other._snap_inplace(float(tolerance), int(max_denominator))
        return other

    # ------------------------------------------------------------------------------------------ results
    @property
    def separable(self) -> bool:
        """True when the fitted H is a sum T(p) + V(q) (no term mixes positions and momenta)."""
        self._check_fitted()
        if not self._structure().partitioned:
            return False
        qs, ps = state_symbols(self.n_dof_)
        Q, P = set(qs), set(ps)
        for term in sp.Add.make_args(self.hamiltonian_):
            free = term.free_symbols
            if free & Q and free & P:
                return False
        return True

    def _structure(self):
        # models fitted (or loaded) before structures existed are canonical
        structure = getattr(self, "structure_", None)
        return CanonicalStructure(self.n_dof_) if structure is None else structure

    def equations(self):
        """The equations of motion of the fitted H in its structure, dz/dt = B(z)∇H.

        Returns
        -------
        list of sympy.Eq, length D
            One ``Derivative(z_i(t), t) = (B∇H)_i`` per state symbol (canonical: ``dq_i/dt = ∂H/∂p_i`` then
            ``dp_i/dt = -∂H/∂q_i``), right-hand sides in the plain state symbols.
        """
        self._check_fitted()
        structure = self._structure()
        t = sp.Symbol("t")
        field = structure.hamiltonian_field(self.hamiltonian_)
        return [sp.Eq(sp.Derivative(sp.Function(str(s))(t), t), f) for s, f in zip(structure.symbols, field)]

    def latex(self, which="hamiltonian", digits=10):
        """LaTeX of ``H = ...`` (``which="hamiltonian"``) or of Hamilton's equations (``"equations"``, one
        ``\\dot{x} = ...`` line each, joined by ``\\\\``).

        Coefficients are shown to ``digits`` significant digits (``None``: every digit), so that a fit of
        0.5000000000000001 reads 0.5; :attr:`hamiltonian_` and :attr:`coef_` keep full precision.
        """
        self._check_fitted()
        H = _round_floats(self.hamiltonian_, digits)
        if which == "hamiltonian":
            return "H = " + sp.latex(H, full_prec=False)
        if which == "equations":
            structure = self._structure()
            # differentiate at full precision, then round: rounding H first turns 3 * 0.33333333333333337 into
            # 0.9999999999 where the equations (hamid discover's "equations") say 1.0000000000000001
            field = structure.hamiltonian_field(self.hamiltonian_)
            lines = [rf"\dot{{{sp.latex(s)}}} = {sp.latex(_round_floats(f, digits), full_prec=False)}"
                     for s, f in zip(structure.symbols, field)]
            return r" \\ ".join(lines)
        raise ValueError(f"unknown latex target {which!r}; valid: hamiltonian, equations")

    def energy(self, z):
        """H at states ``z`` of shape (n, D) -> (n,)."""
        self._check_fitted()
        z = np.asarray(z, dtype=float)
        return self.library_.evaluate(z) @ self.coef_

    def hamiltonian_gradient(self, z):
        """∇H at states ``z`` of shape (n, D) -> (n, D) (numpy)."""
        self._check_fitted()
        z = np.asarray(z, dtype=float)
        return np.einsum("...kc,k->...c", self.library_.gradient(z), self.coef_)

    def vector_field(self, z):
        """dz/dt = B(z)∇H (J∇H for canonical data) at states ``z`` of shape (n, D) -> (n, D)."""
        self._check_fitted()
        z = np.asarray(z, dtype=float)
        return self._structure().apply(self.hamiltonian_gradient(z), z)

    def simulate(self, z0, dt=None, n_steps=None, *, method=None, save_every=1, backend="numpy"):
        """Integrate the fitted equations of motion with :func:`hamid.integrate`.

        Parameters
        ----------
        z0 : array_like, shape (n, D) or (D,)
        dt : float
        n_steps : int
        method : str or None
            An integrator name; None (or ``"auto"``) is the model's default: ``"leapfrog"`` for a separable H
            and ``"implicit_midpoint"`` otherwise.
        save_every : int
        backend : {"numpy", "torch"}

        Returns
        -------
        ndarray, shape (n, n_steps // save_every + 1, D), or (n_steps // save_every + 1, D) for 1-D ``z0``
        """
        from ...integrators import integrate
        from ..base import check_rollout_args

        self._check_fitted()
        dt, n_steps, save_every = check_rollout_args(dt, n_steps, save_every)
        if method is None or method == "auto":
            method = "leapfrog" if self.separable else "implicit_midpoint"
        one = np.ndim(z0) == 1
        out = integrate(self.hamiltonian_, z0, dt=dt, n_steps=n_steps, method=method, backend=backend,
                        save_every=save_every, structure=self._structure())
        return out[0] if one else out

    def score(self, q=None, p=None, t=None, dq=None, dp=None, *, z=None, dz=None):
        """Coefficient of determination R² of the fitted equations on data (q, p or z as in :meth:`fit`).

        With derivatives: R² of the predicted dz/dt (pooled over components). Without: R² of the
        integral-form residual (states predicted from the integrated fitted field, per-segment offsets free).

        Returns
        -------
        float
        """
        self._check_fitted()
        Z, dZ, t, is_traj = self._validated(q, p, t, dq, dp, z, dz)
        D = self.n_features_in_
        if Z.shape[-1] != D:
            raise ValueError(f"the model has state width {D}, the data {Z.shape[-1]}")
        if dZ is not None:
            y = dZ.reshape(-1, D)
            pred = self.vector_field(Z.reshape(-1, D))
            return float(1.0 - np.sum((y - pred) ** 2) / np.sum((y - y.mean(axis=0)) ** 2))
        if not (is_traj and t is not None):
            raise ValueError("score needs derivatives or trajectories with times t")
        system = build_system(self.library_, get_formulation("integral"), Z, None, t, weights=np.ones(D),
                              order=int(self.quadrature_order), n_blocks=1, structure=self._structure(),
                              boundaries=self._data_bounds)
        G, b, yy, n = system.total
        res = max(yy - 2 * self.coef_ @ b + self.coef_ @ G @ self.coef_, 0.0)
        return float(1.0 - res / yy) if yy > 0 else 0.0

    def to_torch(self):
        """A ``torch.nn.Module`` with ``forward(z) -> H`` (n,) and ``field(z) -> J∇H`` (n, 2d), float64 buffers.

        The gradient is the exact symbolic one, compiled for torch (differentiable in ``z``).
        """
        from ._torch import SymbolicHamiltonianModule

        self._check_fitted()
        return SymbolicHamiltonianModule(self.hamiltonian_, self.n_dof_, structure=self._structure())

    # ------------------------------------------------------------------------------------------ persistence
    def save(self, path):
        """Write the fitted model to ONE JSON file (atomically), the format of every hamid model
        (:mod:`hamid.models.base`); coefficients round-trip exactly.

        Returns
        -------
        pathlib.Path
        """
        return super().save(path)

    @classmethod
    def load(cls, path):
        """Read a model written by :meth:`save` (or by earlier hamid versions, plain sparse JSON); term strings
        go through the safe parser, no code is run."""
        return super().load(path)

    def _to_document(self):
        from .serialization import model_to_dict

        return model_to_dict(self)

    @classmethod
    def _from_document(cls, doc):
        from .serialization import model_from_dict

        return model_from_dict(doc, cls)

    @property
    def n_parameters_(self) -> int:
        """Number of fitted quantities: the non-zero coefficients (selected terms)."""
        self._check_fitted()
        return int(np.count_nonzero(self.coef_))

    def __repr__(self):
        text = super().__repr__()
        if hasattr(self, "coef_") and hasattr(self, "hamiltonian_"):
            H = sp.sstr(_round_floats(self.hamiltonian_, 6), full_prec=False)
            if len(H) > 200:
                H = H[:197] + "..."
            text += f"  # fitted: H = {H}"
        return text

    def __getstate__(self):
        # the compiled library caches compiled callables (local functions, not picklable): store its terms and
        # rebuild it on unpickling; compiled functions are recompiled lazily on first use (and cached)
        state = self.__dict__.copy()
        lib = state.pop("library_", None)
        if lib is not None:
            state["_library_terms"] = (type(lib).__name__, tuple(lib.expressions), tuple(lib.symbols),
                                       getattr(lib, "n_dof", None))
        return state

    def __setstate__(self, state):
        state = dict(state)
        terms = state.pop("_library_terms", None)
        self.__dict__.update(state)
        if terms is not None:
            from .serialization import rebuild_library

            self.library_ = rebuild_library(*terms)

    def summary(self, warnings=True):
        """A readable multi-line description of the fit.

        Parameters
        ----------
        warnings : bool, default True
            End with one line per diagnostic warning (collinear terms, at most six named; an underdetermined
            system). ``hamid discover`` passes False: it reports warnings on stderr.
        """
        self._check_fitted()
        dg = self.diagnostics_
        H = sp.sstr(_round_floats(self.hamiltonian_, 10), full_prec=False)
        lines = [f"H = {H}", "", f"{len(self.terms_)} of {len(self.feature_names_)} library terms:"]
        for name, c in zip(self.feature_names_, self.coef_):
            if c != 0:
                lines.append(f"  {c: .10g}  {name}")
        lines.append("")
        lines.append(f"formulation: {dg.get('formulation')} (derivatives {dg.get('derivatives')}), "
                     f"optimizer: {dg.get('optimizer')}, rows: {dg.get('n_rows')}")
        lines.append(f"relative residual: {dg.get('relative_residual', float('nan')):.3g}, "
                     f"fit time: {dg.get('fit_time_s', float('nan')):.3f} s")
        collinear = dg.get("collinear_terms") or []
        if warnings and collinear:
            more = f" and {len(collinear) - 6} more" if len(collinear) > 6 else ""
            lines.append(f"warning: nearly collinear terms: {', '.join(collinear[:6])}{more}")
        if warnings and dg.get("underdetermined"):
            lines.append("warning: underdetermined system")
        if warnings and dg.get("misfit"):
            lines.append(f"warning: library misfit (residual {dg.get('misfit_ratio', float('nan')):.3g}x the noise "
                         "level estimated from the data)")
        return "\n".join(lines)
