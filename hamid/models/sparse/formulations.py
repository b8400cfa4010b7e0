"""Linear formulations of Hamiltonian regression: each turns data into ``A ξ ≈ y``, linear in ξ.

With H = Σ_k ξ_k θ_k the field is dz/dt = Σ_k ξ_k B∇θ_k(z), with B from a :class:`hamid.structures.Structure`
(canonical J by default; Poisson B(z); port-Hamiltonian J - R(z) with R given). Each formulation is a
:class:`Formulation` object in :data:`FORMULATION_REGISTRY`; they differ in what they compare:

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

__all__ = ["FORMULATIONS", "FORMULATION_REGISTRY", "Formulation", "DerivativeFormulation", "IntegralFormulation",
           "MidpointFormulation", "get_formulation", "field_design", "component_columns", "integral_weights",
           "sampling_resolution", "LinearSystem", "build_system", "whiten_segment"]

FORMULATIONS = ("auto", "derivative", "integral", "midpoint")

#: samples per chunk when streaming rows (bounds memory to a few tens of MB for large libraries)
_CHUNK_SAMPLES = 4096


def _structure_of(library, structure):
    from ...structures import CanonicalStructure

    return CanonicalStructure(library.n_dof) if structure is None else structure


def field_design(library, Z, structure=None):
    """Columns B∇θ_k evaluated at states (B from the structure; canonical J by default).

    Parameters
    ----------
    library : CompiledLibrary (or SymbolLibrary) with m terms over D state symbols
    Z : ndarray, shape (..., D)
    structure : hamid.structures.Structure or None
        None means the canonical structure of ``library.n_dof`` degrees of freedom.

    Returns
    -------
    F : ndarray, shape (..., D, m)
        ``F[..., i, k] = (B ∇θ_k(z))_i``.
    """
    structure = _structure_of(library, structure)
    G = library.gradient(Z)  # (..., m, D)
    return np.swapaxes(structure.apply(G, Z[..., None, :]), -1, -2)


def component_columns(library, structure=None):
    """Per equation c of dz/dt = B∇H: the library columns whose entry (B∇θ_k)_c is not identically zero,
    and a compiled function evaluating just those entries.

    Most entries vanish (for J: ∂θ_k/∂p_i = 0 for every term without p_i), so working per component on the
    nonzero columns only cuts the cost of building ``AᵀA`` by about four for polynomial libraries.

    Parameters
    ----------
    library : CompiledLibrary or SymbolLibrary
    structure : hamid.structures.Structure or None
        None means canonical.

    Returns
    -------
    list of (cols, f) of length D
        ``cols`` : ndarray of int; ``f(Z)`` : (n, D) -> (n, len(cols)).
    """
    from ...symbolic.codegen import compile_exprs

    structure = _structure_of(library, structure)
    cache = library.__dict__.setdefault("_hamid_component_columns", {})
    key = structure.key()
    if key in cache:
        return cache[key]
    fields = [structure.field_exprs(g) for g in library.gradient_exprs]  # (m, D) entries (B∇θ_k)_c
    out = []
    for c in range(len(library.symbols)):
        exprs = [fields[k][c] for k in range(library.n_terms)]
        cols = np.array([k for k, e in enumerate(exprs) if e != 0], dtype=int)
        f = compile_exprs([exprs[k] for k in cols], library.symbols, "numpy") if cols.size else None
        out.append((cols, f))
    cache[key] = out
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
        scale = t[n + 1] - t[n]
        for k in range(K, 1, -1):
            start = min(max(n - k // 2 + 1, 0), N - k)
            nodes = t[start:start + k]
            s = (nodes - t[n]) / scale  # local coordinate: the interval is [0, 1]
            p = powers[:k]
            V = s[None, :] ** p[:, None]  # (k, k): V[i, j] = s_j^i
            moments = 1.0 / (p + 1.0)  # ∫_0^1 s^i ds
            w = np.linalg.solve(V, moments)
            # irregular sampling: an interpolating stencil over unevenly spaced nodes can have large weights of
            # both signs that multiply the noise in the integrand (Σ|w|/h up to ~2000 for 8 nodes at uniformly
            # random times: 1% state noise then gave 18% coefficient errors); use the largest stencil whose
            # weights stay within 15x those of an even grid (measured: 1.5x costs exact data 1e-4 accuracy,
            # 15x keeps 1e-6 there and the noisy errors at 0.2-0.9%, docs/data.md)
            if k == 2 or np.abs(w).sum() <= 15.0 * _EVEN_GRID_AMPLIFICATION.get(k, np.inf):
                break
        W[n, start:start + k] = w * scale
    return W


#: max over intervals of Σ|w|/h for the stencils of :func:`integral_weights` on an evenly spaced grid
#: (the ends are the worst), by stencil size; 2-point stencils (the trapezoid rule) are always 1
_EVEN_GRID_AMPLIFICATION = {3: 1.1667, 4: 1.4167, 5: 1.7861, 6: 2.3486, 7: 3.2333, 8: 4.6656, 9: 7.0422,
                            10: 11.0674, 11: 18.0025, 12: 30.1231}


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


class Formulation:
    """A linear formulation: what the rows of ``A ξ ≈ y`` compare, for any structure whose field B(z)∇H is
    linear in the coefficients ξ of H (canonical, Poisson, port-Hamiltonian with a given R).

    Attributes
    ----------
    name : str
    needs_trajectory : bool
        True when the rows need trajectories with sample times (no derivatives used).
    description : str
        The row equation, for diagnostics.
    """

    name = "formulation"
    needs_trajectory = True
    description = ""

    def target(self, Z, dZ, t):
        """The left-hand side the rows fit, (n_traj, n_time, D) or (n, D); used to scale components."""
        raise NotImplementedError

    def build(self, library, Z, dZ, t, *, structure, weights, order, n_blocks, segment_length, noise_model,
              boundaries=None):
        raise NotImplementedError

    def __repr__(self):
        return f"<formulation {self.name!r}: {self.description}>"


class DerivativeFormulation(Formulation):
    """Rows ``dz/dt(z_s) = Σ_k ξ_k B∇θ_k(z_s)`` at every sample (derivatives given or estimated)."""

    name = "derivative"
    needs_trajectory = False
    description = "dz/dt = B grad(theta) xi"

    def target(self, Z, dZ, t):
        return dZ

    def build(self, library, Z, dZ, t, *, structure, weights, order, n_blocks, segment_length, noise_model,
              boundaries=None):
        D = Z.shape[-1]
        components = component_columns(library, structure)
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

        return LinearSystem(library.n_terms, nb, rows, D, self.description).accumulate()


class _TrajectoryFormulation(Formulation):
    """Shared blocking of the trajectory formulations (groups of trajectories, or segments of one)."""

    def _segments(self, n_time, segment_length, noise_model):
        return [(0, n_time)]

    def _prepare(self, library, Z, t, segments, structure, weights, order, noise_model):
        """Return ``unit_rows(Zc, a, b, s)`` yielding ``(c, cols, X, y)`` for a chunk of trajectories."""
        raise NotImplementedError

    def build(self, library, Z, dZ, t, *, structure, weights, order, n_blocks, segment_length, noise_model,
              boundaries=None):
        if Z.ndim != 3 or t is None:
            raise ValueError(f"the {self.name} formulation needs trajectories with sample times t")
        n_traj, n_time, D = Z.shape
        if boundaries is None:
            segments = self._segments(n_time, segment_length, noise_model)
        else:
            # ragged trajectories concatenated into one: segments are cut within each, never across a boundary
            edges = list(boundaries) + [n_time]
            segments = []
            for i, (a0, b0) in enumerate(zip(edges[:-1], edges[1:])):
                try:
                    segments += [(a0 + a, a0 + b) for a, b in self._segments(b0 - a0, segment_length, noise_model)]
                except ValueError as exc:
                    raise ValueError(f"trajectory {i}: {exc}") from None
        unit_rows = self._prepare(library, Z, t, segments, structure, weights, order, noise_model)
        # blocks: groups of whole trajectories when there are several, else the segments of the one trajectory
        if n_traj >= 2:
            tb, nb = _block_ids(n_traj, n_blocks)
            seg_block = None
        else:
            tb = np.zeros(1, dtype=int)
            seg_block, nb = _block_ids(len(segments), n_blocks)
        per_chunk = max(1, _CHUNK_SAMPLES // max(n_time, 1))
        if boundaries is not None and n_traj != 1:
            raise ValueError("boundaries need the trajectories concatenated into one, Z of shape (1, N, D)")

        def rows():
            for s, e in _chunks_within_blocks(tb, per_chunk):
                for i, (a, b) in enumerate(segments):
                    block = tb[s] if seg_block is None else seg_block[i]
                    for _, cols, X, y in unit_rows(Z[s:e, a:b], a, b, s):
                        yield block, cols, X, y

        out = LinearSystem(library.n_terms, nb, rows, D, self.description)
        out.n_segments = n_traj * len(segments) if self.name == "integral" else 0
        return out.accumulate()


class MidpointFormulation(_TrajectoryFormulation):
    """Rows ``(z_{n+1} - z_n) / h_n = Σ_k ξ_k B∇θ_k((z_n + z_{n+1}) / 2)`` (symplectic, O(h²) biased)."""

    name = "midpoint"
    description = "(z[n+1]-z[n])/h = B grad(theta)((z[n]+z[n+1])/2) xi"

    def target(self, Z, dZ, t):
        return np.diff(Z, axis=1) / np.diff(t)[None, :, None]

    def _segments(self, n_time, segment_length, noise_model):
        if n_time < 2:
            raise ValueError("the midpoint formulation needs at least 2 samples per trajectory")
        return [(0, n_time)]

    def _prepare(self, library, Z, t, segments, structure, weights, order, noise_model):
        if Z.shape[1] < 2:
            raise ValueError("the midpoint formulation needs at least 2 samples per trajectory")
        D = Z.shape[-1]
        h = np.diff(t)
        components = component_columns(library, structure)

        def unit_rows(Zc, a, b, s):  # Zc (k, L, D)
            Zm = (0.5 * (Zc[:, 1:] + Zc[:, :-1])).reshape(-1, D)
            Y = np.diff(Zc, axis=1) / h[a:b - 1, None]
            for c, (cols, f) in enumerate(components):
                X = f(Zm) * weights[c] if f is not None else np.zeros((Zm.shape[0], 0))
                yield c, cols, X, Y[..., c].reshape(-1) * weights[c]

        return unit_rows


class IntegralFormulation(_TrajectoryFormulation):
    """Rows ``z(t_n) - c = Σ_k ξ_k ∫ B∇θ_k(z(t)) dt`` per segment, offsets c eliminated by centring; with a
    noise model the rows of each segment are whitened (:func:`whiten_segment`)."""

    name = "integral"
    description = "z(t) - c = integral of B grad(theta) xi dt"

    def target(self, Z, dZ, t):
        return Z - Z.mean(axis=1, keepdims=True)

    def _segments(self, n_time, segment_length, noise_model):
        if n_time < 3:
            raise ValueError(f"the integral formulation needs at least 3 samples per trajectory, got {n_time}")
        if noise_model is not None:
            segment_length = min(segment_length, _GLS_SEGMENT)
        n_seg = max(1, int(np.ceil(n_time / segment_length)))
        cuts = np.linspace(0, n_time, n_seg + 1).round().astype(int)
        return [(int(a), int(b)) for a, b in zip(cuts[:-1], cuts[1:])]

    def _prepare(self, library, Z, t, segments, structure, weights, order, noise_model):
        D = Z.shape[-1]
        m = library.n_terms
        components = component_columns(library, structure)
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
                F = field_design(library, Zc, structure)  # (k, L, D, m)
                X, y = whiten_segment(cumulative[(a, b)], F, Zc, jac[s:s + Zc.shape[0], a:b], sigma)
                yield 0, all_cols, X.reshape(-1, m), y.reshape(-1)

            return unit_rows_gls

        def unit_rows(Zc, a, b, s):
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

        return unit_rows


#: the formulation registry: name -> Formulation (``auto`` is resolved by the estimators)
FORMULATION_REGISTRY = {f.name: f for f in (DerivativeFormulation(), IntegralFormulation(), MidpointFormulation())}


def get_formulation(name):
    """A :class:`Formulation` by name (or the object itself); unknown names list the valid ones."""
    if isinstance(name, Formulation):
        return name
    if name not in FORMULATION_REGISTRY:
        raise ValueError(f"unknown formulation {name!r}; valid: {', '.join(FORMULATION_REGISTRY)}")
    return FORMULATION_REGISTRY[name]


def build_system(library, formulation, Z, dZ=None, t=None, *, weights, order=6, n_blocks=10,
                 segment_length=256, noise_model=None, structure=None, boundaries=None):
    """Build the :class:`LinearSystem` of a formulation.

    Parameters
    ----------
    library : CompiledLibrary or SymbolLibrary (m terms over the D state symbols)
    formulation : {"derivative", "integral", "midpoint"} or Formulation
    Z : ndarray, shape (n_traj, n_time, D) or (n_samples, D)
    dZ : ndarray shaped like ``Z`` or None
        Derivatives (required by ``derivative``).
    t : ndarray, shape (n_time,) or None
        Sample times (required by ``integral`` and ``midpoint``).
    weights : ndarray, shape (D,)
        Row weight per component (equations are multiplied by it).
    order : int
        Stencil size of the integral quadrature.
    n_blocks : int
        Number of blocks (cross-validation folds / bootstrap units) to aim for.
    segment_length : int
        Trajectories longer than this are cut into segments (each with its own offsets) for the integral form.
    noise_model : dict or None
        Integral form only: ``{"jacobian": (n_traj, n_time, D, D), "sigma": (D,)}``, the Jacobian of the
        field B∇H at the samples (from a preliminary fit) and the noise standard deviation per component.
        The rows of each segment are then whitened (generalized least squares, see :func:`whiten_segment`)
        and ``weights`` is not used; segments are at most 16 samples long.
    structure : hamid.structures.Structure or None
        How ∇θ becomes a field column; None means canonical J.
    boundaries : sequence of int or None
        Ragged trajectories concatenated into one (``Z`` of shape (1, N, D), see
        :attr:`hamid.io.Dataset.bounds`): the sample index where each starts. The trajectory formulations cut
        their segments within each trajectory (no padding, nothing integrated or differenced across them).

    Returns
    -------
    LinearSystem
    """
    form = get_formulation(formulation)
    structure = _structure_of(library, structure)
    return form.build(library, Z, dZ, t, structure=structure, weights=np.asarray(weights, dtype=float),
                      order=order, n_blocks=n_blocks, segment_length=segment_length, noise_model=noise_model,
                      boundaries=boundaries)
