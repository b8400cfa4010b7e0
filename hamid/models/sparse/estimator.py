"""The sparse symbolic estimator: H = Σ ξ_k θ_k with a sparse ξ, recovered from phase-space data."""
from __future__ import annotations

import time
import warnings

import numpy as np
import sympy as sp

from ...io import validate_data
from ...symbolic.libraries import Library, PolynomialLibrary, parse_library_spec
from ...symbolic.symbols import state_symbols
from ..base import HamidModel
from .differentiation import differentiate, get_differentiator
from .formulations import FORMULATIONS, build_system, sampling_resolution
from .optimizers import get_optimizer
from .selection import normalize_gram, variance_inflation

__all__ = ["SparseHamiltonian", "CollinearityWarning", "UnderdeterminedWarning", "snap_value"]


class CollinearityWarning(UserWarning):
    """Library columns are nearly linearly dependent on the data: the selected terms may be traded for others."""


class UnderdeterminedWarning(UserWarning):
    """The data do not determine every library coefficient (fewer independent equations than terms)."""


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


def _relative_residual(system, coef):
    G, b, yy, _ = system.total
    res = max(yy - 2 * coef @ b + coef @ G @ coef, 0.0)
    return float(np.sqrt(res / yy)) if yy > 0 else 0.0


def _field_jacobian(compiled, coef, Z):
    """Jacobian of the field J∇H (H = Σ coef_k θ_k) at states ``Z`` (..., 2d) -> (..., 2d, 2d), from the
    exact second derivatives of H (compiled once per fitted H)."""
    from ...symbolic.codegen import compile_exprs

    D = Z.shape[-1]
    d = D // 2
    syms = list(compiled.symbols)
    H = sp.Add(*[sp.Float(repr(float(coef[k]))) * compiled.expressions[k] for k in np.flatnonzero(coef)])
    grad = [sp.diff(H, v) for v in syms]
    field = grad[d:] + [-g for g in grad[:d]]
    exprs = [sp.diff(f, v) for f in field for v in syms]
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
    >>> model.hamiltonian_
    0.5*p**2 + 0.5*q**2
    """

    _fitted_attribute = "coef_"

    def __init__(self, library=None, optimizer=None, differentiation=None, formulation="auto",
                 normalize_columns=True, quadrature_order=8, n_blocks=10, snap=None,
                 collinearity_threshold=1e6, n_bootstrap=0, random_state=None):
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
        if self.snap is not None and not (isinstance(self.snap, (int, float)) and 0 <= self.snap < 1):
            raise ValueError(f"snap must be None or a relative tolerance in [0, 1), got {self.snap!r}")

    def fit(self, q, p, t=None, dq=None, dp=None):
        """Fit H to phase-space data.

        Parameters
        ----------
        q, p : array_like, shape (n_traj, n_time, d), (n_samples, d) or (n_samples,)
        t : array_like, shape (n_time,), optional
            Sample times; needed for trajectories without derivatives.
        dq, dp : array_like shaped like ``q``, optional
            Time derivatives. Without them the data must be trajectories with ``t``.

        Returns
        -------
        self
        """
        start = time.perf_counter()
        self._check_params()
        data = validate_data(q, p, t=t, dq=dq, dp=dp)
        library = _resolve_library(self.library)
        optimizer = get_optimizer(self.optimizer)
        d = data.n_dof
        compiled = library.compile(d)
        Z = data.states()
        form = self.formulation
        if form == "auto":
            form = "derivative" if data.has_derivatives else "integral"
        if form in ("integral", "midpoint") and not (data.is_trajectory and data.t is not None):
            raise ValueError(f"the {form} formulation needs trajectories q, p of shape (n_traj, n_time, d) with "
                             "sample times t")
        resolution = sampling_resolution(Z) if data.is_trajectory else float("nan")
        dZ = None
        estimated = False
        chosen_differentiation = None
        if form == "derivative":
            if data.has_derivatives:
                dZ = data.derivatives()
            else:
                if not (data.is_trajectory and data.t is not None):
                    raise ValueError("without dq, dp the data must be trajectories (n_traj, n_time, d) with times t")
                differentiator = get_differentiator(self.differentiation)
                dZ = differentiate(differentiator, Z, data.t)
                estimated = True
                chosen_differentiation = getattr(differentiator, "choices_", None)
            target = dZ
        elif form == "integral":
            target = Z - Z.mean(axis=1, keepdims=True)
        else:
            target = np.diff(Z, axis=1) / np.diff(data.t)[None, :, None]
        rms = np.sqrt(np.mean(target.reshape(-1, 2 * d) ** 2, axis=0))
        positive = rms[rms > 0]
        weights = 1.0 / np.where(rms > 0, rms, positive.max() if positive.size else 1.0)
        system = build_system(compiled, form, Z, dZ, data.t, weights=weights, order=int(self.quadrature_order),
                              n_blocks=int(self.n_blocks))
        diagnostics = self._diagnose(system, compiled)
        coef, info = optimizer.solve(system, normalize=bool(self.normalize_columns), random_state=self.random_state)
        coef = np.asarray(coef, dtype=float).reshape(-1)
        noise_sigma = None
        if form == "integral" and _relative_residual(system, coef) > _NOISE_FLOOR:
            # noisy states: refit with the rows whitened by the integral form's own noise model (generalized
            # least squares), the field's Jacobian from the previous fit, the noise level re-estimated
            sigma = 1.0 / weights
            for step in range(2):
                if step:
                    sigma = sigma * _whitened_scale(system, coef)
                model_jac = _field_jacobian(compiled, coef, Z)
                system = build_system(compiled, form, Z, dZ, data.t, weights=weights,
                                      order=int(self.quadrature_order), n_blocks=int(self.n_blocks),
                                      noise_model={"jacobian": model_jac, "sigma": sigma})
                coef, info = optimizer.solve(system, normalize=bool(self.normalize_columns),
                                             random_state=self.random_state)
                coef = np.asarray(coef, dtype=float).reshape(-1)
            noise_sigma = sigma
        self.library_ = compiled
        self.n_dof_ = d
        self.n_features_in_ = 2 * d
        self.feature_names_ = list(compiled.names)
        self.formulation_ = form
        self._set_coefficients(coef, None)
        if self.snap is not None:
            self._snap_inplace(float(self.snap), 12)
        G, b, yy, n = system.total
        res = max(yy - 2 * self.coef_ @ b + self.coef_ @ G @ self.coef_, 0.0)
        diagnostics.update({
            "formulation": form,
            "derivatives": "given" if data.has_derivatives and form == "derivative" else (
                "estimated" if estimated else "not used"),
            "optimizer": type(optimizer).__name__,
            "criterion": info.get("criterion"),
            "n_dof": d,
            "n_rows": n,
            "n_library_terms": compiled.n_terms,
            "n_selected_terms": int(self.support_.sum()),
            "relative_residual": float(np.sqrt(res / yy)) if yy > 0 else 0.0,
            "sampling_resolution": None if np.isnan(resolution) else resolution,
        })
        if noise_sigma is not None:
            diagnostics["noise_model"] = "whitened integral form (generalized least squares)"
            diagnostics["noise_std"] = [float(v) for v in noise_sigma]
        if chosen_differentiation is not None:
            diagnostics["differentiation"] = list(chosen_differentiation)
        self.selection_path_ = info.get("path", [])
        self.inclusion_probabilities_ = None
        if "ensemble_inclusion" in info:
            self.inclusion_probabilities_ = np.asarray(info["ensemble_inclusion"])
        if self.n_bootstrap > 0:
            self.inclusion_probabilities_ = self._bootstrap(system, optimizer)
        if self.inclusion_probabilities_ is not None:
            diagnostics["inclusion_probabilities"] = {
                name: float(pr) for name, pr in zip(self.feature_names_, self.inclusion_probabilities_) if pr > 0
            }
        self.fit_time_ = time.perf_counter() - start
        diagnostics["fit_time_s"] = self.fit_time_
        self.diagnostics_ = diagnostics
        return self

    def _diagnose(self, system, compiled):
        G, b, yy, n = system.total
        m = compiled.n_terms
        Gn, _, _ = normalize_gram(G, b)
        w = np.linalg.eigvalsh(Gn)
        rank = int(np.sum(w > max(w[-1], 1e-300) * 1e-12))
        out = {"rank": rank, "condition_number": float(w[-1] / w[0]) if w[0] > 0 else float("inf")}
        if n < m or rank < m:
            why = (f"{n} equations for {m} library terms" if n < m else
                   f"the design has rank {rank} < {m} library terms on these data")
            warnings.warn(f"underdetermined system: {why}; some coefficients are not identifiable from the data",
                          UnderdeterminedWarning, stacklevel=3)
            out["underdetermined"] = True
        else:
            out["underdetermined"] = False
        vif = variance_inflation(Gn)
        flagged = np.flatnonzero(~(vif <= self.collinearity_threshold))
        out["max_vif"] = float(np.max(vif)) if np.all(np.isfinite(vif)) else float("inf")
        out["collinear_terms"] = [compiled.names[k] for k in flagged]
        if flagged.size and not out["underdetermined"]:
            worst = flagged[np.argsort(-vif[flagged])][:6]
            shown = ", ".join(f"{compiled.names[k]} (VIF {vif[k]:.1e})" for k in worst)
            warnings.warn(
                f"library columns are nearly collinear on these data: {shown}; each is reproduced by the others to "
                "within 1/sqrt(VIF), so a fit may trade one for a combination of others (e.g. cos q for its Taylor "
                "terms on a small domain). Sample a wider domain or remove redundant terms.",
                CollinearityWarning, stacklevel=3,
            )
        return out

    def _bootstrap(self, system, optimizer):
        from .formulations import LinearSystem

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
            if not hasattr(optimizer, "solve") or type(optimizer).__name__ == "PySINDyOptimizer":
                raise ValueError("n_bootstrap works with the Gram-based optimizers (auto, lasso, lstsq); pysindy's "
                                 "'ensemble' reports its own inclusion probabilities")
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
        qs, ps = state_symbols(self.n_dof_)
        Q, P = set(qs), set(ps)
        for term in sp.Add.make_args(self.hamiltonian_):
            free = term.free_symbols
            if free & Q and free & P:
                return False
        return True

    def equations(self):
        """Hamilton's equations of the fitted H.

        Returns
        -------
        list of sympy.Eq, length 2d
            ``Derivative(q_i(t), t) = ∂H/∂p_i`` then ``Derivative(p_i(t), t) = -∂H/∂q_i`` (right-hand sides
            in the plain state symbols).
        """
        self._check_fitted()
        qs, ps = state_symbols(self.n_dof_)
        t = sp.Symbol("t")
        out = []
        for qi, pi in zip(qs, ps):
            out.append(sp.Eq(sp.Derivative(sp.Function(str(qi))(t), t), sp.diff(self.hamiltonian_, pi)))
        for qi, pi in zip(qs, ps):
            out.append(sp.Eq(sp.Derivative(sp.Function(str(pi))(t), t), -sp.diff(self.hamiltonian_, qi)))
        return out

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
            qs, ps = state_symbols(self.n_dof_)
            lines = [rf"\dot{{{sp.latex(qi)}}} = {sp.latex(sp.diff(H, pi), full_prec=False)}" for qi, pi in zip(qs, ps)]
            lines += [rf"\dot{{{sp.latex(pi)}}} = {sp.latex(-sp.diff(H, qi), full_prec=False)}" for qi, pi in zip(qs, ps)]
            return r" \\ ".join(lines)
        raise ValueError(f"unknown latex target {which!r}; valid: hamiltonian, equations")

    def energy(self, z):
        """H at states ``z`` of shape (n, 2d) -> (n,)."""
        self._check_fitted()
        z = np.asarray(z, dtype=float)
        return self.library_.evaluate(z) @ self.coef_

    def hamiltonian_gradient(self, z):
        """∇H at states ``z`` of shape (n, 2d) -> (n, 2d) (numpy)."""
        self._check_fitted()
        z = np.asarray(z, dtype=float)
        return np.einsum("...kc,k->...c", self.library_.gradient(z), self.coef_)

    def vector_field(self, z):
        """dz/dt = J∇H at states ``z`` of shape (n, 2d) -> (n, 2d)."""
        g = self.hamiltonian_gradient(z)
        d = self.n_dof_
        return np.concatenate([g[..., d:], -g[..., :d]], axis=-1)

    def simulate(self, z0, dt, n_steps, method="auto", backend="numpy", save_every=1):
        """Integrate the fitted Hamilton's equations with :func:`hamid.integrate`.

        Parameters
        ----------
        z0 : array_like, shape (n, 2d) or (2d,)
        dt : float
        n_steps : int
        method : str
            An integrator name; ``"auto"`` is ``"leapfrog"`` for a separable H and ``"implicit_midpoint"``
            otherwise.
        backend : {"numpy", "torch"}
        save_every : int

        Returns
        -------
        ndarray, shape (n, n_steps // save_every + 1, 2d)
        """
        from ...integrators import integrate

        self._check_fitted()
        if method == "auto":
            method = "leapfrog" if self.separable else "implicit_midpoint"
        return integrate(self.hamiltonian_, z0, dt=dt, n_steps=n_steps, method=method, backend=backend,
                         save_every=save_every)

    def score(self, q, p, t=None, dq=None, dp=None):
        """Coefficient of determination R² of the fitted equations on data.

        With derivatives: R² of the predicted dz/dt (pooled over components). Without: R² of the
        integral-form residual (states predicted from the integrated fitted field, per-segment offsets free).

        Returns
        -------
        float
        """
        self._check_fitted()
        data = validate_data(q, p, t=t, dq=dq, dp=dp)
        if data.n_dof != self.n_dof_:
            raise ValueError(f"the model has d = {self.n_dof_} degrees of freedom, the data d = {data.n_dof}")
        Z = data.states()
        if data.has_derivatives:
            y = data.derivatives().reshape(-1, 2 * self.n_dof_)
            pred = self.vector_field(Z.reshape(-1, 2 * self.n_dof_))
            return float(1.0 - np.sum((y - pred) ** 2) / np.sum((y - y.mean(axis=0)) ** 2))
        if not (data.is_trajectory and data.t is not None):
            raise ValueError("score needs derivatives dq, dp or trajectories with times t")
        system = build_system(self.library_, "integral", Z, None, data.t, weights=np.ones(2 * self.n_dof_),
                              order=int(self.quadrature_order), n_blocks=1)
        G, b, yy, n = system.total
        res = max(yy - 2 * self.coef_ @ b + self.coef_ @ G @ self.coef_, 0.0)
        return float(1.0 - res / yy) if yy > 0 else 0.0

    def to_torch(self):
        """A ``torch.nn.Module`` with ``forward(z) -> H`` (n,) and ``field(z) -> J∇H`` (n, 2d), float64 buffers.

        The gradient is the exact symbolic one, compiled for torch (differentiable in ``z``).
        """
        from ._torch import SymbolicHamiltonianModule

        self._check_fitted()
        return SymbolicHamiltonianModule(self.hamiltonian_, self.n_dof_)

    # ------------------------------------------------------------------------------------------ persistence
    def save(self, path):
        """Write the fitted model to a JSON file (atomically); coefficients round-trip exactly."""
        from .serialization import save_model

        self._check_fitted()
        return save_model(self, path)

    @classmethod
    def load(cls, path):
        """Read a model written by :meth:`save`; term strings go through the safe parser, no code is run."""
        from .serialization import load_model

        return load_model(path, cls)

    def summary(self):
        """A readable multi-line description of the fit."""
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
        if dg.get("collinear_terms"):
            lines.append(f"warning: nearly collinear terms: {', '.join(dg['collinear_terms'])}")
        if dg.get("underdetermined"):
            lines.append("warning: underdetermined system")
        return "\n".join(lines)
