"""Linear formulations of Hamiltonian regression: each turns data into ``A ξ ≈ y``, linear in ξ.

With H = Σ_k ξ_k θ_k the field is dz/dt = Σ_k ξ_k J∇θ_k(z). The formulations differ in what they compare:

``derivative``
    rows ``dz/dt(z_s) = Σ_k ξ_k J∇θ_k(z_s)`` at every sample (derivatives given or estimated).
``integral``
    rows ``z(t_n) - c = Σ_k ξ_k ∫_{t_0}^{t_n} J∇θ_k(z(t)) dt`` for every sample of every trajectory segment,
    with one free offset ``c`` per segment and component (so the noisy first sample is not privileged; the
    offsets are eliminated by centring). The integrals use a high-order quadrature over the observed samples:
    on each interval ``[t_n, t_{n+1}]`` the integrand is replaced by its interpolating polynomial through the
    ``order`` nearest samples (error O(h^{order+1}) per interval, e.g. O(h^7) for order 6). No derivative is
    estimated, so the form stays exact when sampling is coarse.
``midpoint``
    rows ``(z_{n+1} - z_n) / h_n = Σ_k ξ_k J∇θ_k((z_n + z_{n+1}) / 2)`` (the implicit-midpoint residual;
    symplectic, but biased at O(h²)).

Every formulation streams its rows in blocks (segments or runs of samples), so that the estimator can
accumulate Gram matrices ``AᵀA``, ``Aᵀy`` per block without holding ``A`` in memory, and use the blocks as
cross-validation folds or bootstrap units.
"""
from __future__ import annotations

import numpy as np

__all__ = ["FORMULATIONS", "field_design", "component_columns", "integral_weights", "sampling_resolution", "LinearSystem",
           "build_system", "whiten_segment"]

FORMULATIONS = ("auto", "derivative", "integral", "midpoint")

#: samples per chunk when streaming rows (bounds memory to a few tens of MB for large libraries)
_CHUNK_SAMPLES = 4096


def field_design(library, Z):
    """Columns J∇θ_k evaluated at states.

    Parameters
    ----------
    library : hamid.symbolic.CompiledLibrary with m terms, d degrees of freedom
    Z : ndarray, shape (..., 2d)

    Returns
    -------
    F : ndarray, shape (..., 2d, m)
        ``F[..., i, k] = (J ∇θ_k(z))_i``: ∂θ_k/∂p_i for i < d and -∂θ_k/∂q_{i-d} otherwise.
    """
    d = library.n_dof
    G = library.gradient(Z)  # (..., m, 2d)
    F = np.empty(G.shape[:-2] + (2 * d, G.shape[-2]))
    Gt = np.swapaxes(G, -1, -2)  # (..., 2d, m)
    F[..., :d, :] = Gt[..., d:, :]
    F[..., d:, :] = -Gt[..., :d, :]
    return F


def component_columns(library):
    """Per equation c of dz/dt = J∇H: the library columns whose entry (J∇θ_k)_c is not identically zero,
    and a compiled function evaluating just those entries.

    Most entries vanish (∂θ_k/∂p_i = 0 for every term without p_i), so working per component on the nonzero
    columns only cuts the cost of building ``AᵀA`` by about four for polynomial libraries.

    Returns
    -------
    list of (cols, f) of length 2d
        ``cols`` : ndarray of int; ``f(Z)`` : (n, 2d) -> (n, len(cols)).
    """
    from ...symbolic.codegen import compile_exprs

    cached = getattr(library, "_hamid_component_columns", None)
    if cached is not None:
        return cached
    d = library.n_dof
    out = []
    for c in range(2 * d):
        # (J∇θ)_c = ∂θ/∂p_c for c < d, -∂θ/∂q_{c-d} otherwise
        src, sign = (d + c, 1) if c < d else (c - d, -1)
        exprs = [sign * library.gradient_exprs[k][src] for k in range(library.n_terms)]
        cols = np.array([k for k, e in enumerate(exprs) if e != 0], dtype=int)
        f = compile_exprs([exprs[k] for k in cols], library.symbols, "numpy") if cols.size else None
        out.append((cols, f))
    library._hamid_component_columns = out
    return out


def integral_weights(t, order=6):
    """Quadrature weights for the integrals of a sampled function over each sampling interval.

    Parameters
    ----------
    t : ndarray, shape (N,)
        Strictly increasing sample times.
    order : int
        Number of samples in each interpolating stencil (the polynomial has degree ``order - 1``); capped
        at N. The stencil is centred on the interval and shifted inwards at the ends.

    Returns
    -------
    W : ndarray, shape (N - 1, N)
        ``∫_{t_n}^{t_{n+1}} f dt ≈ Σ_j W[n, j] f(t_j)``, exact for polynomials of degree < ``order``.
    """
    t = np.asarray(t, dtype=float)
    N = t.shape[0]
    K = int(max(2, min(order, N)))
    W = np.zeros((N - 1, N))
    powers = np.arange(K)
    for n in range(N - 1):
        start = min(max(n - K // 2 + 1, 0), N - K)
        nodes = t[start:start + K]
        scale = t[n + 1] - t[n]
        s = (nodes - t[n]) / scale  # local coordinate: the interval is [0, 1]
        V = s[None, :] ** powers[:, None]  # (K, K): V[k, j] = s_j^k
        moments = 1.0 / (powers + 1.0)  # ∫_0^1 s^k ds
        W[n, start:start + K] = np.linalg.solve(V, moments) * scale
    return W


def sampling_resolution(Z):
    """Typical phase advance per sample, estimated from the data: median ``|Δ²z| / |Δz|``.

    For a component oscillating at angular frequency ω sampled every h, ``|Δ²z| / |Δz| ≈ 2 sin(ωh/2) ≈ ωh``,
    so the value is the angle swept per sample (noise makes it larger, which also argues for the
    derivative-free form).

    Parameters
    ----------
    Z : ndarray, shape (n_traj, n_time, 2d)

    Returns
    -------
    float
        NaN when there are fewer than 3 samples per trajectory.
    """
    if Z.shape[1] < 3:
        return float("nan")
    d1 = np.abs(np.diff(Z, axis=1))
    d2 = np.abs(np.diff(Z, n=2, axis=1))
    num = np.sqrt(np.mean(d2 ** 2, axis=1))  # (n_traj, 2d)
    den = np.sqrt(np.mean(d1 ** 2, axis=1))
    ok = den > 0
    if not ok.any():
        return float("nan")
    return float(np.median(num[ok] / den[ok]))


class LinearSystem:
    """``A ξ ≈ y`` held as per-block Gram matrices, with the recipe to stream its rows again.

    Attributes
    ----------
    gram : ndarray, shape (n_blocks, m, m)
        ``A_bᵀ A_b`` per block (weighted rows).
    rhs : ndarray, shape (n_blocks, m)
        ``A_bᵀ y_b``.
    yy : ndarray, shape (n_blocks,)
        ``y_bᵀ y_b``.
    n_rows : ndarray of int, shape (n_blocks,)
    n_equations : int
        2d (components per sample).
    """

    def __init__(self, m, n_blocks, rows, n_equations, description):
        self.gram = np.zeros((n_blocks, m, m))
        self.rhs = np.zeros((n_blocks, m))
        self.yy = np.zeros(n_blocks)
        self.n_rows = np.zeros(n_blocks, dtype=np.int64)
        self._rows = rows  # callable yielding (block, cols, X (r, len(cols)), y (r,)); other columns are zero
        self.m = m
        self.n_equations = n_equations
        self.description = description

    def accumulate(self):
        for b, cols, X, y in self._rows():
            self.gram[b][np.ix_(cols, cols)] += X.T @ X
            self.rhs[b][cols] += X.T @ y
            self.yy[b] += y @ y
            self.n_rows[b] += y.shape[0]
        return self

    def rows(self):
        """Materialize the full design: ``A`` (n_rows, m) and ``y`` (n_rows,)."""
        As, ys = [], []
        for _, cols, X, y in self._rows():
            A = np.zeros((X.shape[0], self.m))
            A[:, cols] = X
            As.append(A)
            ys.append(y)
        return np.concatenate(As), np.concatenate(ys)

    @property
    def total(self):
        """Summed ``(AᵀA, Aᵀy, yᵀy, n_rows)``."""
        return self.gram.sum(0), self.rhs.sum(0), float(self.yy.sum()), int(self.n_rows.sum())


#: longest segment of the whitened (generalized least squares) integral form: its cost grows as the cube
_GLS_SEGMENT = 16


def whiten_segment(C, F, Zs, jac, sigma):
    """Generalized-least-squares rows of the integral form for segments with noisy states.

    With observed states ``z̃_n = z_n + e_n`` (independent noise, standard deviation ``sigma`` per component)
    the integral-form residual of the true ξ is ``r = z̃ - c - C F(z̃) ξ ≈ T e`` with
    ``T = I - (C ⊗ I) diag(A_n)`` (``A_n`` the Jacobian of the field at sample n): noise enters both the
    left-hand side and, integrated, the regressors, so the residuals are correlated along the segment
    (random-walk like) and ordinary least squares on them is inefficient. The rows are multiplied by
    ``(T S^{1/2})^{-1}`` (``S = diag(sigma²)``), which makes the residuals white, and the free offsets ``c``
    are then projected out in the whitened metric.

    Parameters
    ----------
    C : ndarray, shape (L, L)
        Cumulative integral operator of the segment (row n integrates from its first sample to sample n).
    F : ndarray, shape (k, L, D, m) or (L, D, m)
        J∇θ_k at the samples of k segments (or of one).
    Zs : ndarray, shape (k, L, D) or (L, D)
        Observed states.
    jac : ndarray, shape (k, L, D, D) or (L, D, D)
        Jacobian of the (preliminary) field J∇H at the samples.
    sigma : ndarray, shape (D,)
        Noise standard deviation per component.

    Returns
    -------
    X : ndarray, shape (k, L·D, m) or (L·D, m)
    y : ndarray, shape (k, L·D) or (L·D,)
        Rows ordered sample-major (row ``n·D + c`` belongs to component c).
    """
    single = F.ndim == 3
    if single:
        F, Zs, jac = F[None], Zs[None], jac[None]
    k, L, D, m = F.shape
    X = np.einsum("nj,kjcm->kncm", C, F).reshape(k, L * D, m)
    y = Zs.reshape(k, L * D)
    T = np.eye(L * D) - np.einsum("nj,kjcd->kncjd", C, jac).reshape(k, L * D, L * D)
    M = T * np.tile(sigma, L)[None, None, :]
    U = np.broadcast_to(np.tile(np.eye(D), (L, 1)), (k, L * D, D))
    sol = np.linalg.solve(M, np.concatenate([X, y[..., None], U], axis=2))
    Xw, yw, Uw = sol[..., :m], sol[..., m], sol[..., m + 1:]
    Qu = np.linalg.qr(Uw)[0]  # (k, L·D, D)
    Xw = Xw - Qu @ (np.swapaxes(Qu, 1, 2) @ Xw)
    yw = yw - (Qu @ (np.swapaxes(Qu, 1, 2) @ yw[..., None]))[..., 0]
    return (Xw[0], yw[0]) if single else (Xw, yw)


def _block_ids(n_units, n_blocks):
    """Assign ``n_units`` consecutive units to at most ``n_blocks`` contiguous blocks."""
    n_blocks = max(1, min(n_blocks, n_units))
    return (np.arange(n_units) * n_blocks) // n_units, n_blocks


def _chunks_within_blocks(block_ids, chunk):
    """Yield ``(start, end)`` ranges of at most ``chunk`` units that never straddle two blocks.

    ``block_ids`` (n_units,) is non-decreasing; rows of one range all belong to block ``block_ids[start]``.
    """
    n = len(block_ids)
    bounds = np.flatnonzero(np.diff(block_ids)) + 1
    for s0, e0 in zip(np.concatenate([[0], bounds]), np.concatenate([bounds, [n]])):
        for s in range(s0, e0, chunk):
            yield s, min(s + chunk, e0)


def build_system(library, formulation, Z, dZ=None, t=None, *, weights, order=6, n_blocks=10,
                 segment_length=256, noise_model=None):
    """Build the :class:`LinearSystem` of a formulation.

    Parameters
    ----------
    library : CompiledLibrary (m terms, d degrees of freedom)
    formulation : {"derivative", "integral", "midpoint"}
    Z : ndarray, shape (n_traj, n_time, 2d) or (n_samples, 2d)
    dZ : ndarray shaped like ``Z`` or None
        Derivatives (required by ``derivative``).
    t : ndarray, shape (n_time,) or None
        Sample times (required by ``integral`` and ``midpoint``).
    weights : ndarray, shape (2d,)
        Row weight per component (equations are multiplied by it).
    order : int
        Stencil size of the integral quadrature.
    n_blocks : int
        Number of blocks (cross-validation folds / bootstrap units) to aim for.
    segment_length : int
        Trajectories longer than this are cut into segments (each with its own offsets) for the integral form.
    noise_model : dict or None
        Integral form only: ``{"jacobian": (n_traj, n_time, 2d, 2d), "sigma": (2d,)}``, the Jacobian of the
        field J∇H at the samples (from a preliminary fit) and the noise standard deviation per component.
        The rows of each segment are then whitened (generalized least squares, see :func:`whiten_segment`)
        and ``weights`` is not used; segments are at most 16 samples long.

    Returns
    -------
    LinearSystem
    """
    D = Z.shape[-1]
    m = library.n_terms
    weights = np.asarray(weights, dtype=float)
    components = component_columns(library)
    if formulation == "derivative":
        Zf = Z.reshape(-1, D)
        Yf = dZ.reshape(-1, D)
        n = Zf.shape[0]
        # blocks: whole trajectories when there are several, else contiguous runs of samples
        if Z.ndim == 3 and Z.shape[0] >= 2:
            tb, nb = _block_ids(Z.shape[0], n_blocks)
            sample_block = np.repeat(tb, Z.shape[1])
        else:
            sample_block, nb = _block_ids(n, n_blocks)

        def rows():
            for s, e in _chunks_within_blocks(sample_block, _CHUNK_SAMPLES):
                Zc = Zf[s:e]
                for c, (cols, f) in enumerate(components):
                    y = Yf[s:e, c] * weights[c]
                    X = f(Zc) * weights[c] if f is not None else np.zeros((e - s, 0))
                    yield sample_block[s], cols, X, y

        return LinearSystem(m, nb, rows, D, "dz/dt = J grad(theta) xi").accumulate()

    if Z.ndim != 3 or t is None:
        raise ValueError(f"the {formulation} formulation needs trajectories with sample times t")
    n_traj, n_time = Z.shape[:2]
    if formulation == "midpoint":
        if n_time < 2:
            raise ValueError("the midpoint formulation needs at least 2 samples per trajectory")
        h = np.diff(t)

        def unit_rows(Zc, a, b):  # Zc (k, L, 2d)
            Zm = (0.5 * (Zc[:, 1:] + Zc[:, :-1])).reshape(-1, D)
            Y = np.diff(Zc, axis=1) / h[a:b - 1, None]
            for c, (cols, f) in enumerate(components):
                X = f(Zm) * weights[c] if f is not None else np.zeros((Zm.shape[0], 0))
                yield c, cols, X, Y[..., c].reshape(-1) * weights[c]

        segments = [(0, n_time)]
        description = "(z[n+1]-z[n])/h = J grad(theta)((z[n]+z[n+1])/2) xi"
    elif formulation == "integral":
        if n_time < 3:
            raise ValueError(f"the integral formulation needs at least 3 samples per trajectory, got {n_time}")
        if noise_model is not None:
            segment_length = min(segment_length, _GLS_SEGMENT)
        n_seg = max(1, int(np.ceil(n_time / segment_length)))
        cuts = np.linspace(0, n_time, n_seg + 1).round().astype(int)
        segments = [(int(a), int(b)) for a, b in zip(cuts[:-1], cuts[1:])]
        operators, cumulative = {}, {}
        for a, b in segments:
            # cumulative integral operator C (L, L): row n integrates from t_a to t_{a+n}; then centred,
            # which eliminates the free offset of each segment and component
            W = integral_weights(t[a:b], order)
            C = np.vstack([np.zeros((1, b - a)), np.cumsum(W, axis=0)])
            cumulative[(a, b)] = C
            operators[(a, b)] = C - C.mean(axis=0, keepdims=True)

        if noise_model is not None:
            jac = np.asarray(noise_model["jacobian"], dtype=float)
            sigma = np.asarray(noise_model["sigma"], dtype=float)
            all_cols = np.arange(m)

        def unit_rows_gls(Zc, a, b, s):
            F = field_design(library, Zc)  # (k, L, D, m)
            X, y = whiten_segment(cumulative[(a, b)], F, Zc, jac[s:s + Zc.shape[0], a:b], sigma)
            yield 0, all_cols, X.reshape(-1, m), y.reshape(-1)

        def unit_rows(Zc, a, b):
            k, L = Zc.shape[:2]
            Zflat = Zc.reshape(-1, D)
            Y = Zc - Zc.mean(axis=1, keepdims=True)
            op = operators[(a, b)]
            for c, (cols, f) in enumerate(components):
                if f is None:
                    X = np.zeros((k * L, 0))
                else:
                    X = np.matmul(op, f(Zflat).reshape(k, L, -1)).reshape(k * L, -1) * weights[c]
                yield c, cols, X, Y[..., c].reshape(-1) * weights[c]

        description = "z(t) - c = integral of J grad(theta) xi dt"
    else:
        raise ValueError(f"unknown formulation {formulation!r}; valid: {', '.join(FORMULATIONS)}")

    # blocks: groups of whole trajectories when there are several, else the segments of the one trajectory
    if n_traj >= 2:
        tb, nb = _block_ids(n_traj, n_blocks)
        seg_block = None
    else:
        tb = np.zeros(1, dtype=int)
        seg_block, nb = _block_ids(len(segments), n_blocks)
    per_chunk = max(1, _CHUNK_SAMPLES // max(n_time, 1))

    def rows():
        for s, e in _chunks_within_blocks(tb, per_chunk):
            for i, (a, b) in enumerate(segments):
                block = tb[s] if seg_block is None else seg_block[i]
                units = (unit_rows(Z[s:e, a:b], a, b) if noise_model is None or formulation != "integral"
                         else unit_rows_gls(Z[s:e, a:b], a, b, s))
                for _, cols, X, y in units:
                    yield block, cols, X, y

    out = LinearSystem(m, nb, rows, D, description)
    if formulation == "integral":
        out.n_segments = n_traj * len(segments)
    return out.accumulate()
