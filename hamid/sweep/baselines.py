"""pysindy as a sweep baseline: an unconstrained sparse fit of dz/dt on the same candidate library.

:class:`PySINDyField` takes a hamid library of candidate *Hamiltonian* terms and offers pysindy the basis
functions of their gradients (:func:`hamid.sweep.recovery.field_basis`: for ``poly:2 + trig`` on the
pendulum ``1, q, p, cos q, sin q``), so both methods search the same function space: a field ``J∇H`` with H in
the span of the library is in the span of the pysindy library. pysindy fits each of the 2d components
separately (no shared coefficients, no Hamiltonian structure). Importing this module imports pysindy.
"""
from __future__ import annotations

import time
import warnings

import numpy as np
import sympy as sp

__all__ = ["PySINDyField", "PYSINDY_OPTIMIZERS", "PYSINDY_DIFFERENTIATION"]

PYSINDY_OPTIMIZERS = ("stlsq",)
PYSINDY_DIFFERENTIATION = ("finite_difference", "smoothed_finite_difference")


class PySINDyField:
    """pysindy's SINDy (STLSQ) on the gradient basis of a hamid library, strong or weak form.

    Parameters
    ----------
    library : str, list of str or hamid Library, optional
        Candidate Hamiltonian terms (as for :class:`hamid.SparseHamiltonian`; default ``poly:4``).
    optimizer : {"stlsq"}
        pysindy's sequentially thresholded least squares.
    threshold : float, default 0.05
        STLSQ threshold on the coefficients.
    alpha : float, default 0.05
        STLSQ ridge penalty.
    weak : bool, default False
        Use pysindy's weak form (``WeakPDELibrary`` over time, states only; derivatives are not used).
    K : int, default 100
        Number of weak-form test-function subdomains per trajectory.
    p : int, default 4
        Exponent of the weak-form test functions.
    differentiation : {"finite_difference", "smoothed_finite_difference"}
        How the strong form estimates dz/dt when the data carry no derivatives.
    H_xt : float, optional
        Half-width of the weak-form subdomains. Default: pysindy's (a twentieth of the time span), raised to
        1.5 sample spacings where that leaves a subdomain fewer than two samples (pysindy 2.1 then resamples
        its centre with an assignment numpy 2 rejects, so coarse trajectories would always fail).
    random_state : int, optional
        Seed of the weak form's random subdomain centres. pysindy draws them from numpy's global RNG: the
        fit seeds it and restores its previous state afterwards.

    Attributes
    ----------
    coef_ : ndarray, shape (2d, n_basis)
    basis_ : list of sympy.Expr
    field_exprs_ : list of sympy.Expr, length 2d
        The fitted field.
    symbols_ : tuple of sympy.Symbol
    fit_time_ : float
    """

    def __init__(self, library=None, optimizer="stlsq", threshold=0.05, alpha=0.05, weak=False, K=100, p=4,
                 differentiation="finite_difference", H_xt=None, random_state=None):
        self.library = library
        self.optimizer = optimizer
        self.threshold = threshold
        self.alpha = alpha
        self.weak = weak
        self.K = K
        self.p = p
        self.differentiation = differentiation
        self.H_xt = H_xt
        self.random_state = random_state

    def fit(self, q, p, t=None, dq=None, dp=None):
        """Fit dz/dt on trajectories ``q, p`` of shape (n_traj, n_time, d) with times ``t`` (n_time,).

        Returns
        -------
        self
        """
        import pysindy as ps

        from hamid.io import validate_data
        from hamid.models.sparse.estimator import _resolve_library

        from .recovery import field_basis

        if self.optimizer not in PYSINDY_OPTIMIZERS:
            raise ValueError(f"unknown pysindy optimizer {self.optimizer!r}; valid: {', '.join(PYSINDY_OPTIMIZERS)}")
        if self.differentiation not in PYSINDY_DIFFERENTIATION:
            raise ValueError(f"unknown differentiation {self.differentiation!r}; valid: "
                             f"{', '.join(PYSINDY_DIFFERENTIATION)}")
        start = time.perf_counter()
        data = validate_data(q, p, t=t, dq=dq, dp=dp)
        if not (data.is_trajectory and data.t is not None):
            raise ValueError("PySINDyField needs trajectories (n_traj, n_time, d) with sample times t")
        compiled = _resolve_library(self.library).compile(data.n_dof)
        symbols = tuple(compiled.symbols)
        basis = field_basis(compiled)
        functions = [sp.lambdify(symbols, b, "numpy") for b in basis]  # arity 2d: applied once to (q, p)
        names = [(lambda s: (lambda *_: s))(str(b)) for b in basis]
        Z = data.states()
        xs = [z for z in Z]

        def custom():
            return ps.CustomLibrary(library_functions=functions, function_names=names, interaction_only=True)

        optimizer = ps.STLSQ(threshold=float(self.threshold), alpha=float(self.alpha))
        with warnings.catch_warnings():
            # pysindy 2 warns about axis labels of 1-D time grids on every weak fit; not ours to fix
            warnings.filterwarnings("ignore", message=".*axes labeled.*")
            if self.weak:
                span = float(data.t[-1] - data.t[0])
                h = span / 20.0 if self.H_xt is None else float(self.H_xt)
                if self.H_xt is None:
                    h = max(h, 1.5 * float(np.max(np.diff(data.t))))
                saved = np.random.get_state()
                try:
                    np.random.seed(self.random_state)
                    library = ps.WeakPDELibrary(function_library=custom(), spatiotemporal_grid=data.t,
                                                K=int(self.K), p=int(self.p), H_xt=h)
                    model = ps.SINDy(feature_library=library, optimizer=optimizer)
                    model.fit(xs, t=data.t)
                finally:
                    np.random.set_state(saved)
            else:
                diff = (ps.FiniteDifference() if self.differentiation == "finite_difference"
                        else ps.SmoothedFiniteDifference())
                model = ps.SINDy(feature_library=custom(), optimizer=optimizer, differentiation_method=diff)
                x_dot = [dz for dz in data.derivatives()] if data.has_derivatives else None
                model.fit(xs, t=data.t, x_dot=x_dot)
        coef = np.asarray(model.coefficients(), dtype=float)
        if coef.shape != (2 * data.n_dof, len(basis)):
            raise RuntimeError(f"pysindy returned coefficients of shape {coef.shape}, expected "
                               f"{(2 * data.n_dof, len(basis))}")
        self.coef_ = coef
        self.basis_ = basis
        self.symbols_ = symbols
        self.field_exprs_ = [sum((float(c) * b for c, b in zip(row, basis) if c != 0), sp.Integer(0)) for row in coef]
        self.n_dof_ = data.n_dof
        self.fit_time_ = time.perf_counter() - start
        return self

    def vector_field(self, z):
        """Fitted dz/dt at states ``z`` of shape (n, 2d) -> (n, 2d)."""
        from hamid.symbolic.codegen import compile_exprs

        if not hasattr(self, "coef_"):
            from hamid.models.base import NotFittedError

            raise NotFittedError("PySINDyField is not fitted; call fit first")
        z = np.asarray(z, dtype=float)
        theta = compile_exprs(self.basis_, self.symbols_)(z.reshape(-1, z.shape[-1]))
        return (theta @ self.coef_.T).reshape(z.shape)

    def simulate(self, z0, dt, n_steps, method="rk4", save_every=1):
        """Integrate the fitted field (not Hamiltonian: a general-purpose method) -> (n, n_saved, 2d)."""
        from hamid.integrators import integrate_field

        return integrate_field(self.vector_field, z0, dt=dt, n_steps=n_steps, method=method or "rk4",
                               save_every=save_every)
