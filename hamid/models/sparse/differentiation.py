"""Estimating time derivatives of sampled trajectories (for the derivative formulation without dq, dp).

Estimators are objects with ``__call__(x, t) -> dx/dt`` for ``x`` of shape (n_time, k); string aliases:

``auto`` (default)
    :class:`AutoDerivative`: per state component, the GCV smoothing spline or a high-order local polynomial
    (5, 7 or 9 point stencil), whichever predicts held-out samples better (every other sample held out,
    pooled over trajectories). On clean, smooth data the polynomial wins (derivative error O(h^(K-1)) instead
    of the cubic spline's O(h^3) with natural end conditions); on noisy data the spline's smoothing wins.
``spline``
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

__all__ = ["DIFFERENTIATORS", "AutoDerivative", "SplineDerivative", "PolynomialFiniteDifference",
           "get_differentiator",
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


def _interpolation_matrix(t_in, t_out, order):
    """``P`` (len(t_out), len(t_in)): value at ``t_out`` of the interpolating polynomial through the ``order``
    samples of ``t_in`` nearest to each output time (a contiguous stencil, shifted inwards at the ends)."""
    N = t_in.shape[0]
    K = int(max(1, min(order, N)))
    P = np.zeros((t_out.shape[0], N))
    powers = np.arange(K)
    for i, x in enumerate(t_out):
        c = int(np.searchsorted(t_in, x))
        start = min(max(c - K // 2, 0), N - K)
        nodes = t_in[start:start + K]
        scale = max((nodes[-1] - nodes[0]) / max(K - 1, 1), 1e-300)
        s = (nodes - x) / scale
        V = s[None, :] ** powers[:, None]
        rhs = np.zeros(K)
        rhs[0] = 1.0
        P[i, start:start + K] = np.linalg.solve(V, rhs)
    return P


class AutoDerivative:
    """Per component, the GCV smoothing spline or a high-order local polynomial, chosen on held-out samples.

    The choice is made once per state component for the whole data set: every other sample is held out, each
    candidate is built from the remaining samples (the spline with its own GCV smoothing on them, the local
    polynomials by interpolation through the ``K`` nearest remaining samples) and predicts the held-out
    ones; the candidate with the smallest squared prediction error, pooled over (up to ``max_check``)
    trajectories, differentiates that component on the full sampling. Nothing is tuned: on smooth noise-free
    data the high-order polynomial predicts best and its derivative is far more accurate than the cubic
    spline's; with noise the interpolating polynomial amplifies the noise and the spline is chosen.

    Parameters
    ----------
    orders : tuple of int
        Stencil sizes of the local-polynomial candidates.
    max_check : int
        At most this many trajectories (evenly spread) are used for the held-out comparison.

    Attributes
    ----------
    choices_ : list of str
        After a call on a data set: the estimator chosen for each component (``"spline"`` or
        ``"polynomial:K"``).
    """

    def __init__(self, orders=(5, 7, 9), max_check=8):
        self.orders = orders
        self.max_check = max_check

    def select(self, Z, t):
        """Choose an estimator per component: ``Z`` (n_traj, n_time, D), ``t`` (n_time,) -> list of
        ``None`` (spline) or stencil sizes."""
        from scipy.interpolate import make_smoothing_spline

        Z = np.asarray(Z, dtype=float)
        t = np.asarray(t, dtype=float)
        n_traj, n_time, D = Z.shape
        t_in, t_out = t[::2], t[1::2]
        orders = [int(K) for K in self.orders if int(K) <= t_in.shape[0]]
        if t_in.shape[0] < 5 or not orders:
            return [None] * D
        idx = np.unique(np.linspace(0, n_traj - 1, min(n_traj, int(self.max_check))).round().astype(int))
        P = {K: _interpolation_matrix(t_in, t_out, K) for K in orders}
        choice = []
        for c in range(D):
            X = Z[idx, :, c]  # (k, n_time)
            Xin, Xout = X[:, ::2], X[:, 1::2]
            err = {K: float(np.sum((Xin @ P[K].T - Xout) ** 2)) for K in orders}
            e_spline = 0.0
            for x_in, x_out in zip(Xin, Xout):
                e_spline += float(np.sum((make_smoothing_spline(t_in, x_in)(t_out) - x_out) ** 2))
            best = min(err, key=err.get)
            choice.append(best if err[best] < e_spline else None)
        return choice

    def differentiate_all(self, Z, t):
        """``Z`` (n_traj, n_time, D), ``t`` (n_time,) -> dZ/dt of the same shape."""
        Z = np.asarray(Z, dtype=float)
        choice = self.select(Z, t)
        self.choices_ = ["spline" if K is None else f"polynomial:{K}" for K in choice]
        out = np.empty_like(Z)
        spline = SplineDerivative()
        weights = {}
        for c, K in enumerate(choice):
            if K is None:
                for j in range(Z.shape[0]):
                    out[j, :, c] = spline(Z[j, :, c:c + 1], t)[:, 0]
            else:
                if K not in weights:
                    weights[K] = PolynomialFiniteDifference(K).weights(t)
                out[:, :, c] = Z[:, :, c] @ weights[K].T
        return out

    def __call__(self, x, t):
        """One trajectory ``x`` (n_time, k) -> dx/dt (the choice made on this trajectory alone)."""
        return self.differentiate_all(np.asarray(x, dtype=float)[None], t)[0]

    def __repr__(self):
        return f"AutoDerivative(orders={self.orders!r}, max_check={self.max_check!r})"


def _savgol():
    from pysindy.differentiation import SmoothedFiniteDifference

    return SmoothedFiniteDifference()


DIFFERENTIATORS = {
    "auto": AutoDerivative,
    "spline": SplineDerivative,
    "finite_difference": PolynomialFiniteDifference,
    "savgol": _savgol,
}


def get_differentiator(spec):
    """Resolve a differentiation spec (alias, pysindy object, ``derivative`` object or callable) into a
    callable ``f(x, t)``; ``None`` and ``"auto"`` give :class:`AutoDerivative`.

    Raises
    ------
    ValueError
        Unknown alias (the message lists the valid ones).
    TypeError
        An object that is neither callable nor has ``.d``.
    """
    if spec is None:
        return AutoDerivative()
    if isinstance(spec, str):
        key = spec.strip().lower()
        if key not in DIFFERENTIATORS:
            raise ValueError(
                f"unknown differentiation {spec!r}; valid names: {', '.join(DIFFERENTIATORS)}"
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
    if hasattr(differentiator, "differentiate_all"):  # chooses once for the whole data set
        out = np.asarray(differentiator.differentiate_all(Z, t), dtype=float)
        if out.shape != Z.shape:
            raise ValueError(f"the differentiation method returned shape {out.shape}, expected {Z.shape}")
        return out
    out = np.empty_like(Z)
    for j in range(Z.shape[0]):
        dz = np.asarray(differentiator(Z[j], t), dtype=float)
        if dz.shape != Z[j].shape:
            raise ValueError(f"the differentiation method returned shape {dz.shape}, expected {Z[j].shape}")
        out[j] = dz
    return out
