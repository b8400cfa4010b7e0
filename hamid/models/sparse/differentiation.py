"""Estimating time derivatives of sampled trajectories (for the derivative formulation without dq, dp).

Estimators are objects with ``__call__(x, t) -> dx/dt`` for ``x`` of shape (n_time, k); string aliases:

``spline`` (default)
    a cubic smoothing spline per component whose smoothing parameter is chosen by generalized
    cross-validation (``scipy.interpolate.make_smoothing_spline``): it interpolates clean data and smooths
    noisy data without a noise level to set.
``finite_difference``
    derivative of the local interpolating polynomial through ``order`` neighbouring samples (any spacing).
``savgol``
    pysindy's ``SmoothedFiniteDifference`` (Savitzky–Golay smoothing, then finite differences).

A pysindy differentiation object (``pysindy.differentiation.*``), an object of the ``derivative`` package
(anything with ``.d(x, t, axis)``) or any callable ``f(x, t)`` is accepted as well.
"""
from __future__ import annotations

import numpy as np

__all__ = ["DIFFERENTIATORS", "SplineDerivative", "PolynomialFiniteDifference", "get_differentiator",
           "differentiate"]


class SplineDerivative:
    """Cubic smoothing spline with GCV-chosen smoothing, differentiated analytically.

    Parameters
    ----------
    lam : float or None
        Smoothing parameter of ``make_smoothing_spline``; None selects it by GCV for each component.
    """

    def __init__(self, lam=None):
        self.lam = lam

    def __call__(self, x, t):
        """``x`` (n_time, k), ``t`` (n_time,) -> dx/dt (n_time, k)."""
        from scipy.interpolate import make_smoothing_spline

        x = np.asarray(x, dtype=float)
        out = np.empty_like(x)
        for j in range(x.shape[1]):
            spline = make_smoothing_spline(t, x[:, j], lam=self.lam)
            out[:, j] = spline.derivative()(t)
        return out

    def __repr__(self):
        return f"SplineDerivative(lam={self.lam!r})"


class PolynomialFiniteDifference:
    """Derivative of the interpolating polynomial through ``order`` neighbouring samples.

    Parameters
    ----------
    order : int
        Stencil size (accuracy O(h^(order-1))); centred, shifted inwards at the ends.
    """

    def __init__(self, order=5):
        self.order = order

    def weights(self, t):
        """Differentiation matrix ``D`` of shape (N, N): ``dx/dt(t_n) ≈ Σ_j D[n, j] x_j``."""
        t = np.asarray(t, dtype=float)
        N = t.shape[0]
        K = int(max(2, min(self.order, N)))
        D = np.zeros((N, N))
        powers = np.arange(K)
        for n in range(N):
            start = min(max(n - K // 2, 0), N - K)
            nodes = t[start:start + K]
            scale = (nodes[-1] - nodes[0]) / max(K - 1, 1)
            s = (nodes - t[n]) / scale
            V = s[None, :] ** powers[:, None]
            rhs = np.zeros(K)
            rhs[1] = 1.0  # d/ds s^k at s = 0
            D[n, start:start + K] = np.linalg.solve(V, rhs) / scale
        return D

    def __call__(self, x, t):
        return self.weights(t) @ np.asarray(x, dtype=float)

    def __repr__(self):
        return f"PolynomialFiniteDifference(order={self.order!r})"


def _savgol():
    from pysindy.differentiation import SmoothedFiniteDifference

    return SmoothedFiniteDifference()


DIFFERENTIATORS = {
    "spline": SplineDerivative,
    "finite_difference": PolynomialFiniteDifference,
    "savgol": _savgol,
}


def get_differentiator(spec):
    """Resolve a differentiation spec (alias, pysindy object, ``derivative`` object or callable) into a
    callable ``f(x, t)``; ``None`` and ``"auto"`` give the GCV smoothing spline.

    Raises
    ------
    ValueError
        Unknown alias (the message lists the valid ones).
    TypeError
        An object that is neither callable nor has ``.d``.
    """
    if spec is None or (isinstance(spec, str) and spec == "auto"):
        return SplineDerivative()
    if isinstance(spec, str):
        key = spec.strip().lower()
        if key not in DIFFERENTIATORS:
            raise ValueError(
                f"unknown differentiation {spec!r}; valid names: {', '.join(['auto'] + list(DIFFERENTIATORS))}"
            )
        return DIFFERENTIATORS[key]()
    if hasattr(spec, "d") and callable(spec.d):  # the `derivative` package
        return lambda x, t: np.asarray(spec.d(np.asarray(x).T, t, axis=1)).T
    if callable(spec):
        return spec
    raise TypeError(
        f"differentiation must be a name, a pysindy differentiation object, a `derivative` object or a callable "
        f"f(x, t); got {type(spec).__name__}"
    )


def differentiate(differentiator, Z, t):
    """Apply a differentiator to every trajectory.

    Parameters
    ----------
    differentiator : callable ``f(x, t)`` with ``x`` (n_time, k)
    Z : ndarray, shape (n_traj, n_time, D)
    t : ndarray, shape (n_time,)

    Returns
    -------
    ndarray, shape (n_traj, n_time, D)
    """
    out = np.empty_like(Z)
    for j in range(Z.shape[0]):
        dz = np.asarray(differentiator(Z[j], t), dtype=float)
        if dz.shape != Z[j].shape:
            raise ValueError(f"the differentiation method returned shape {dz.shape}, expected {Z[j].shape}")
        out[j] = dz
    return out
