"""Sparse regression back ends for :class:`~hamid.models.sparse.SparseHamiltonian`.

Every optimizer here solves the one linear system ``A ξ ≈ y`` built by a formulation (one coefficient vector
shared by all 2d equations) and returns coefficients in the units of the library terms. Aliases:

``auto`` (default)
    :class:`AutoSelect`: candidate supports from forward and backward stepwise least squares, chosen by
    blocked cross-validation (see :mod:`hamid.models.sparse.selection`), coefficients refitted by least
    squares on the support. Needs no threshold: the user passes only a library.
``lasso``
    :class:`LassoRefit`: scikit-learn's LASSO on normalized columns, followed by a least-squares refit on the
    selected support (LASSO alone shrinks the coefficients); the penalty is chosen along the LASSO path by
    the same cross-validation rule unless ``alpha`` is given.
``stlsq``, ``sr3``, ``ssr``, ``ensemble``
    pysindy optimizers (:class:`PySINDyOptimizer`) fitted on a compressed design with the same
    least-squares problem as the normalized design matrix (m rows from the Gram matrix, see
    :func:`compressed_design`; the N × m design is never built), with a least-squares refit on their
    support. ``ensemble`` bags STLSQ over bootstrap resamples of the blocks, seeded through
    ``random_state``.
``lstsq``
    :class:`LeastSquares`: plain least squares on every term (no sparsity), the reference.

Any pysindy optimizer instance or scikit-learn style regressor with ``fit(A, y)`` and ``coef_`` is accepted
too and wrapped in :class:`PySINDyOptimizer`.
"""
from __future__ import annotations

import contextlib

import numpy as np

from .selection import normalize_gram, select_support, solve_support

__all__ = ["OPTIMIZERS", "BaseOptimizer", "AutoSelect", "LassoRefit", "PySINDyOptimizer", "LeastSquares",
           "compressed_design", "get_optimizer"]


class BaseOptimizer:
    """Interface: ``solve(system, normalize=True, random_state=None) -> (coef (m,), info dict)``."""

    def solve(self, system, normalize=True, random_state=None):  # pragma: no cover - abstract
        raise NotImplementedError

    def get_params(self, deep=False):
        return dict(self.__dict__)

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.__dict__.items())
        return f"{type(self).__name__}({args})"

    def __eq__(self, other):
        return type(self) is type(other) and self.__dict__ == other.__dict__

    __hash__ = object.__hash__


def _refit(system, support, normalize=True):
    """Least-squares coefficients on ``support`` (library units)."""
    G, b, _, _ = system.total
    if normalize:
        Gn, bn, s = normalize_gram(G, b)
        return solve_support(Gn, bn, support) / s
    return solve_support(G, b, support)


class AutoSelect(BaseOptimizer):
    """Stepwise candidate supports chosen by blocked cross-validation, then a least-squares refit.

    Parameters
    ----------
    tol : float, default 0.02
        A term is kept only if it lowers the cross-validated residual by more than this fraction.
    floor : float, default 1e-3
        Relative residual (‖r‖/‖y‖) below which a fit counts as exact (quadrature/round-off level).
    max_terms : int or None
        Largest support of the forward path (default min(m, 40); backward elimination covers all sizes).
    """

    def __init__(self, tol=0.02, floor=1e-3, max_terms=None):
        self.tol = tol
        self.floor = floor
        self.max_terms = max_terms

    def solve(self, system, normalize=True, random_state=None):
        if not (np.isfinite(self.tol) and self.tol >= 0):
            raise ValueError(f"AutoSelect tol must be a finite number >= 0, got {self.tol!r}")
        support, path = select_support(system.gram, system.rhs, system.yy, int(system.n_rows.sum()),
                                       tol=self.tol, floor=self.floor, max_terms=self.max_terms)
        return _refit(system, support, normalize), {"criterion": "blocked cross-validation, sparsest within tol",
                                                     "path": path}


class LassoRefit(BaseOptimizer):
    """scikit-learn LASSO on normalized columns, then least squares on the selected support.

    Parameters
    ----------
    alpha : float or None
        Penalty relative to the smallest penalty that zeroes every coefficient (0 < alpha < 1). None picks
        the support along the LASSO path with the cross-validation rule of :class:`AutoSelect`.
    n_alphas : int
        Length of the path when ``alpha`` is None.
    tol, floor : float
        Selection rule parameters (see :class:`AutoSelect`).
    """

    def __init__(self, alpha=None, n_alphas=60, tol=0.02, floor=1e-3):
        self.alpha = alpha
        self.n_alphas = n_alphas
        self.tol = tol
        self.floor = floor

    def solve(self, system, normalize=True, random_state=None):
        from sklearn.linear_model import Lasso, lasso_path

        from .selection import _first_acceptable, cv_errors

        G, b, yy, n = system.total
        Gn, bn, s = normalize_gram(G, b)
        # compressed system with the same least-squares objective: R^T R = G, R^T y~ = b
        w, V = np.linalg.eigh(Gn)
        keep = w > w[-1] * 1e-14
        R = (np.sqrt(w[keep])[:, None] * V[:, keep].T)
        yt = (V[:, keep].T @ bn) / np.sqrt(w[keep])
        m_eff = R.shape[0]
        alpha_max = float(np.max(np.abs(R.T @ yt))) / m_eff
        if self.alpha is not None:
            if not (0 < self.alpha < 1):
                raise ValueError(f"LassoRefit alpha is relative to alpha_max and must lie in (0, 1), got {self.alpha!r}")
            model = Lasso(alpha=self.alpha * alpha_max, fit_intercept=False, max_iter=50_000, tol=1e-10)
            model.fit(R, yt)
            support = tuple(np.flatnonzero(np.abs(model.coef_) > 0))
            info = {"criterion": f"lasso alpha = {self.alpha} alpha_max"}
        else:
            alphas = alpha_max * np.logspace(0, -6, self.n_alphas)
            _, coefs, _ = lasso_path(R, yt, alphas=alphas, max_iter=50_000, tol=1e-10)
            supports, seen = [], set()
            for j in range(coefs.shape[1]):
                S = tuple(np.flatnonzero(np.abs(coefs[:, j]) > 0))
                if S and S not in seen:
                    seen.add(S)
                    supports.append(S)
            supports.sort(key=len)
            if system.gram.shape[0] >= 3:
                err = cv_errors(system.gram, system.rhs, system.yy, s, supports).sum(axis=1) / max(yy, 1e-300)
            else:
                err = np.array([max(yy - bn[list(S)] @ solve_support(Gn, bn, S)[list(S)], 0.0) for S in supports])
                err = err / max(yy, 1e-300)
            i = _first_acceptable([len(S) for S in supports], err, self.tol, self.floor)
            support = supports[i]
            info = {"criterion": "lasso path, blocked cross-validation of refitted supports",
                    "path": [{"size": len(S), "support": list(map(int, S)), "cv_error": float(e)}
                             for S, e in zip(supports, err)]}
        return _refit(system, support, normalize), info


class LeastSquares(BaseOptimizer):
    """Least squares on every library term (no sparsity)."""

    def solve(self, system, normalize=True, random_state=None):
        m = system.gram.shape[1]
        return _refit(system, tuple(range(m)), normalize), {"criterion": "none (all terms)"}


@contextlib.contextmanager
def _seeded_global_rng(seed):
    """Seed numpy's global RNG for the duration of the block and restore its previous state."""
    if seed is None:
        yield
        return
    state = np.random.get_state()
    np.random.seed(seed)
    try:
        yield
    finally:
        np.random.set_state(state)


def compressed_design(G, b, yy):
    """A small design with the same least-squares problem as the one behind a Gram system.

    With ``RᵀR = G`` (Cholesky; eigen-decomposition on the range of ``G`` when it is singular) and
    ``Rᵀỹ = b``, ``‖Aξ − y‖² = ‖Rξ − ỹ‖² + (yᵀy − ‖ỹ‖²)`` for every ξ, so any optimizer whose objective is
    the least-squares misfit plus a penalty on ξ (STLSQ, SR3, SSR, LASSO, ridge) finds the same ξ from the
    m × m system as from the N × m design.

    Parameters
    ----------
    G : ndarray, shape (m, m)
    b : ndarray, shape (m,)
    yy : float

    Returns
    -------
    R : ndarray, shape (r, m), r = rank(G) (usually m)
    y : ndarray, shape (r,)
    """
    try:
        L = np.linalg.cholesky(G)
    except np.linalg.LinAlgError:
        L = None
    if L is not None and np.all(np.diag(L) > np.sqrt(np.max(np.diag(G), initial=0.0)) * 1e-7):
        from scipy.linalg import solve_triangular

        return np.ascontiguousarray(L.T), solve_triangular(L, b, lower=True, check_finite=False)
    w, V = np.linalg.eigh(G)
    keep = w > max(w[-1], 1e-300) * 1e-14
    return np.sqrt(w[keep])[:, None] * V[:, keep].T, (V[:, keep].T @ b) / np.sqrt(w[keep])


def _is_bagging_ensemble(opt):
    return type(opt).__name__ == "EnsembleOptimizer" and bool(getattr(opt, "bagging", False))


class PySINDyOptimizer(BaseOptimizer):
    """A pysindy optimizer (or any regressor with ``fit(A, y)`` / ``coef_``) on the normalized system.

    Columns of ``A`` and ``y`` are scaled to unit RMS before the fit, so that thresholds mean "relative
    contribution of a term to the signal". The optimizer is cloned, never modified. It is fitted on the
    compressed design of :func:`compressed_design` (m rows built from the accumulated Gram matrix ``AᵀA``,
    the same least-squares problem as the N rows of ``A``), so the design matrix is never materialized: the
    cost is independent of the number of samples.

    A pysindy ``EnsembleOptimizer`` with ``bagging=True`` is run by hamid: each of its ``n_models`` bags is a
    bootstrap resample of the blocks (whole trajectories or runs of samples, as for ``n_blocks``) formed from
    the per-block Gram matrices, not of single rows; its inner optimizer is fitted on each bag's compressed
    design, and the coefficients are aggregated by its ``ensemble_aggregator`` (default: the median).

    Parameters
    ----------
    opt : object
        e.g. ``pysindy.STLSQ(threshold=0.05)``.
    refit : bool, default True
        Least squares on the optimizer's support afterwards (removes shrinkage).
    """

    def __init__(self, opt, refit=True):
        self.opt = opt
        self.refit = refit

    def _scaled(self, G, b, yy, n, normalize):
        if normalize:
            s = np.sqrt(np.maximum(np.diag(G), 0.0) / max(n, 1))  # column RMS
            s = np.where(s > 0, s, 1.0)
            ys = float(np.sqrt(max(yy, 0.0) / max(n, 1))) or 1.0
        else:
            s, ys = np.ones(G.shape[0]), 1.0
        # the design A / s against the target y / ys
        return G / np.outer(s, s), b / s / ys, yy / ys ** 2, s, ys

    def solve(self, system, normalize=True, random_state=None):
        import copy

        G, b, yy, n = system.total
        m = G.shape[0]
        Gs, bs, yys, s, ys = self._scaled(G, b, yy, n, normalize)
        opt = copy.deepcopy(self.opt)
        info = {}
        n_models = getattr(opt, "n_models", None)
        if isinstance(n_models, (int, np.integer)) and not isinstance(n_models, bool):
            from ... import limits

            limits.check_count(int(n_models), "MAX_RESAMPLES", f"the {type(opt).__name__}'s n_models")
        if _is_bagging_ensemble(opt):
            coef_s, coef_list = self._bagged(opt, system, s, ys, random_state)
            info["ensemble_inclusion"] = np.mean(np.abs(coef_list) > 0, axis=0).tolist()
            what = f"{type(opt.opt).__name__} on {opt.n_models} block-bootstrap bags of the Gram system"
        else:
            if random_state is not None and hasattr(opt, "random_state") and getattr(opt, "random_state") is None:
                opt.random_state = random_state
            R, yt = compressed_design(Gs, bs, yys)
            with _seeded_global_rng(random_state), np.errstate(all="ignore"):
                opt.fit(R, yt)
            coef_s = np.asarray(opt.coef_, dtype=float).reshape(-1)[:m]
            what = f"{type(opt).__name__} on the compressed Gram system ({R.shape[0]} rows for {n})"
            if hasattr(opt, "coef_list"):  # an ensemble over library terms only
                coefs = np.asarray(opt.coef_list, dtype=float).reshape(len(opt.coef_list), -1)
                info["ensemble_inclusion"] = np.mean(np.abs(coefs) > 0, axis=0).tolist()
        coef = coef_s * ys / s
        info["criterion"] = what
        if self.refit:
            support = tuple(np.flatnonzero(np.abs(coef) > 0))
            coef = _refit(system, support, normalize)
        return coef, info

    def _bagged(self, ens, system, s, ys, random_state):
        """Fit ``ens.opt`` (or ``ens`` without bagging, when it also drops library terms) on block-bootstrap
        bags; returns the aggregated scaled coefficients (m,) and the per-bag ones (n_models, m)."""
        import copy

        rng = np.random.default_rng(random_state)
        B = system.gram.shape[0]
        m = system.gram.shape[1]
        outer = np.outer(s, s)
        inner = ens.opt
        if getattr(ens, "library_ensemble", False):
            inner = copy.deepcopy(ens)
            inner.bagging, inner.n_models = False, 1
        coef_list = []
        for _ in range(int(ens.n_models)):
            w = rng.multinomial(B, np.full(B, 1.0 / B)).astype(float)
            Gb = np.tensordot(w, system.gram, axes=1) / outer
            bb = (w @ system.rhs) / s / ys
            yyb = float(w @ system.yy) / ys ** 2
            R, yt = compressed_design(Gb, bb, yyb)
            opt = copy.deepcopy(inner)
            with _seeded_global_rng(int(rng.integers(2 ** 31))), np.errstate(all="ignore"):
                opt.fit(R, yt)
            coef_list.append(np.asarray(opt.coef_, dtype=float).reshape(-1)[:m])
        coef_list = np.array(coef_list)
        agg = getattr(ens, "ensemble_aggregator", None)
        coef = np.median(coef_list, axis=0) if agg is None else np.asarray(agg(coef_list[:, None, :]), float).reshape(-1)
        return coef, coef_list


def _stlsq():
    from pysindy.optimizers import STLSQ

    return PySINDyOptimizer(STLSQ(threshold=0.05, alpha=1e-8))


def _sr3():
    from pysindy.optimizers import SR3

    return PySINDyOptimizer(SR3(reg_weight_lam=0.005, relax_coeff_nu=1.0, regularizer="L0", max_iter=100))


def _ssr():
    from pysindy.optimizers import SSR

    return PySINDyOptimizer(SSR(alpha=1e-8, kappa=1e-3))


def _ensemble():
    from pysindy.optimizers import STLSQ, EnsembleOptimizer

    return PySINDyOptimizer(EnsembleOptimizer(STLSQ(threshold=0.05, alpha=1e-8), bagging=True, n_models=20))


OPTIMIZERS = {
    "auto": AutoSelect,
    "lasso": LassoRefit,
    "stlsq": _stlsq,
    "sr3": _sr3,
    "ssr": _ssr,
    "ensemble": _ensemble,
    "lstsq": LeastSquares,
}


def get_optimizer(spec):
    """Resolve an optimizer spec: None/alias -> a fresh hamid optimizer; an object with ``solve`` is used as
    is; an object with ``fit`` (pysindy, scikit-learn) is wrapped in :class:`PySINDyOptimizer`.

    Raises
    ------
    ValueError
        Unknown alias (the message lists the valid names).
    TypeError
        An object without ``solve`` or ``fit``.
    """
    if spec is None:
        return AutoSelect()
    if isinstance(spec, str):
        key = spec.strip().lower()
        if key not in OPTIMIZERS:
            raise ValueError(f"unknown optimizer {spec!r}; valid names: {', '.join(OPTIMIZERS)}")
        return OPTIMIZERS[key]()
    if hasattr(spec, "solve"):
        return spec
    if hasattr(spec, "fit"):
        return PySINDyOptimizer(spec)
    raise TypeError(f"optimizer must be a name ({', '.join(OPTIMIZERS)}), a hamid optimizer or an object with "
                    f"fit(A, y) and coef_; got {type(spec).__name__}")
