"""Sparsity selection on Gram matrices: candidate supports, cross-validated errors, the selection rule,
collinearity diagnostics and bootstrap inclusion probabilities.

Everything here works on column-normalized Gram matrices (``diag(G) = 1``), so that it is independent of
the scale of the coefficients and of the library columns, and never needs the design matrix itself:
for N samples the cost is that of a few ``m × m`` factorizations per candidate, independent of N.

The default rule (used by :class:`hamid.models.sparse.optimizers.AutoSelect`):

1. candidate supports come from forward stepwise selection (add the term that lowers the residual most)
   and backward elimination (drop the term whose removal raises it least), both with least-squares
   coefficients on the support; for each size the support with the smallest residual is kept;
2. every candidate is scored by K-fold cross-validation over blocks of whole trajectories (or segments),
   as the held-out residual relative to the held-out signal ``Σ‖y‖²``;
3. the chosen model is the **sparsest candidate that no larger candidate beats by more than ``tol`` per
   extra term** in relative cross-validated error (default ``tol = 0.02``: a term must lower the held-out
   residual by at least 2 %), where residuals below ``floor = 1e-3`` of the signal (RMS) count as exact
   (the level of quadrature error at coarse sampling, and of round-off): ``e_i + floor² <= (e_j + floor²)(1 + tol (k_j - k_i))`` for every larger j.

A relative, per-term rule is used rather than an information criterion because the residuals here are
neither white nor independent (estimated derivatives, the integral form) and noisy regressors leave
systematic errors: with 10⁵ rows, AIC/BIC would add every term that explains 0.1 % of such an error, whereas
a true term of a Hamiltonian typically lowers the residual by a large factor. Terms whose effect on the data is
below 2 % of the noise-level residual are not resolved, by design.
"""
from __future__ import annotations

import numpy as np

__all__ = ["normalize_gram", "solve_support", "rss", "forward_path", "backward_path", "candidate_supports",
           "cv_errors", "select_support", "variance_inflation"]


def normalize_gram(G, b):
    """Column scaling ``s = sqrt(diag G)``: returns ``(G / s sᵀ, b / s, s)``; zero columns keep s = 1 and
    a unit diagonal so that they never enter a support with a nonzero coefficient."""
    diag = np.diag(G).copy()
    dead = diag <= 0
    s = np.sqrt(np.where(dead, 1.0, diag))
    Gn = G / np.outer(s, s)
    bn = b / s
    if dead.any():
        Gn[dead, :] = 0.0
        Gn[:, dead] = 0.0
        Gn[dead, dead] = 1.0
        bn[dead] = 0.0
    return Gn, bn, s


#: systems up to this size are solved with numpy alone (no scipy import: most fits have small libraries, and
#: importing scipy.linalg costs a tenth of a second, more than such a fit)
_SMALL = 200


def solve_support(G, b, S):
    """Least-squares coefficients on support ``S`` from the normal equations ``G_SS ξ = b_S``.

    Returns the full-length coefficient vector (zeros off the support)."""
    S = np.asarray(S, dtype=int)
    x = np.zeros(G.shape[0])
    if S.size == 0:
        return x
    Gs = G[np.ix_(S, S)]
    if S.size > _SMALL:
        from scipy import linalg

        try:
            c = linalg.cho_factor(Gs, check_finite=False)
            x[S] = linalg.cho_solve(c, b[S], check_finite=False)
            return x
        except linalg.LinAlgError:
            pass
    else:
        try:
            np.linalg.cholesky(Gs)  # positive definite: the plain solve is accurate
            x[S] = np.linalg.solve(Gs, b[S])
            return x
        except np.linalg.LinAlgError:
            pass
    x[S] = np.linalg.lstsq(Gs, b[S], rcond=1e-13)[0]
    return x


def rss(G, b, yy, x):
    """Residual sum of squares ``‖y - Aξ‖² = yy - 2ξᵀb + ξᵀGξ`` (clipped at 0)."""
    return max(float(yy - 2 * x @ b + x @ G @ x), 0.0)


def forward_path(G, b, yy, max_terms):
    """Forward stepwise selection on a normalized Gram matrix.

    Returns
    -------
    list of (tuple of int, float)
        Supports of sizes 1..k (k <= max_terms), each adding the term that lowers the residual most, with
        their residual sums of squares.
    """
    m = G.shape[0]
    S, out = [], []
    diag = np.diag(G)
    r_ss = float(yy)
    for _ in range(min(max_terms, m)):
        if S:
            GS = G[S, :]  # (k, m)
            Gss = G[np.ix_(S, S)]
            try:
                np.linalg.cholesky(Gss)  # positive definite, else the path stops here
            except np.linalg.LinAlgError:
                break
            sol = np.linalg.solve(Gss, np.column_stack([GS, b[S]]))  # G_SS^-1 [G_S,: | b_S]
            X, xi = sol[:, :m], sol[:, m]
            cond = diag - np.einsum("km,km->m", GS, X)
            r = b - GS.T @ xi
        else:
            cond, r = diag.copy(), b.copy()
        gain = np.where(cond > 1e-10, r ** 2 / np.maximum(cond, 1e-300), -1.0)
        gain[S] = -1.0
        j = int(np.argmax(gain))
        if gain[j] < 0:
            break
        S = S + [j]
        r_ss = max(r_ss - float(gain[j]), 0.0)
        out.append((tuple(sorted(S)), r_ss))
    return out


def _spd_inverse(A):
    """Inverse of a symmetric positive definite matrix from its Cholesky factor (LAPACK potrf + potri, a
    third of the work of an LU inverse); None when ``A`` is not numerically positive definite."""
    if A.shape[0] <= _SMALL:
        try:
            Li = np.linalg.inv(np.linalg.cholesky(A))
        except np.linalg.LinAlgError:
            return None
        return Li.T @ Li
    from scipy.linalg import lapack

    F = np.array(A, dtype=float, order="F")  # potrf/potri work in place on a Fortran array
    c, info = lapack.dpotrf(F, lower=1, overwrite_a=1, clean=0)
    if info != 0:
        return None
    inv, info = lapack.dpotri(c, lower=1, overwrite_c=1)
    if info != 0:
        return None
    P = inv.T  # C-ordered view; potri filled the Fortran lower triangle, i.e. this view's upper triangle
    _symmetrize_from_upper(P)
    return P


def _symmetrize_from_upper(P, block=512):
    """Copy the upper triangle of the square C-ordered ``P`` into its lower triangle, in place, blockwise
    (no m × m temporaries)."""
    m = P.shape[0]
    for i in range(0, m, block):
        j = min(i + block, m)
        P[j:, i:j] = P[i:j, j:].T
        D = P[i:j, i:j]
        low = np.tril_indices(j - i, -1)
        D[low] = D.T[low]


def _inverse_with_ridge(G, ridge):
    A = G + ridge * np.eye(G.shape[0]) if ridge else G
    P = _spd_inverse(A)
    if P is None:
        P = np.linalg.pinv(A, hermitian=True)
    return P


#: backward elimination refactorizes after this fraction of the support at the last factorization has been
#: removed (balances the O(s·t) column reconstructions against the O(s³) factorizations)
_REFRESH_FRACTION = 0.3


def backward_path(G, b, yy):
    """Backward elimination: from all terms, repeatedly drop the term whose removal raises the residual least.

    Removing term k from a support with inverse Gram matrix ``P = G_SS⁻¹`` gives
    ``P' = P₋ₖ₋ₖ − p pᵀ / P_kk`` (``p = P₋ₖ,ₖ``), so the coefficients ``ξ = P b_S`` and ``diag P`` (which
    give every candidate removal's cost ``ξ_j² / P_jj``) are downdated in O(|S|) per step:
    ``ξ' = ξ₋ₖ − p ξ_k / P_kk``, ``diag P' = diag P₋ₖ − p² / P_kk``. ``P`` itself is never updated: the one
    column needed per step is rebuilt from the last factorization ``P₀`` and the t columns removed since,
    ``p = P₀[:, k] − U ᵀ (U[:, k] / c)`` (one matrix-vector product), and ``P₀`` is recomputed (Cholesky)
    once t reaches ``_REFRESH_FRACTION`` of its size, which also bounds the round-off. A singular full Gram
    matrix gets a tiny ridge (1e-12) so that elimination can start.

    Returns
    -------
    list of (tuple of int, float)
        Supports of sizes m, m-1, ..., 1 (sorted tuples) with their residual sums of squares.
    """
    from bisect import bisect_left

    m = G.shape[0]
    b = np.asarray(b, dtype=float)
    P0 = _spd_inverse(G)
    ridge = 0.0
    if P0 is None:
        ridge = 1e-12
        P0 = _inverse_with_ridge(G, ridge)
    support = list(range(m))  # sorted active library indices (shared int objects keep the path small)
    out = [(tuple(support), 0.0)]
    idx = np.arange(m)  # library index of each row of P0
    while True:
        s0 = len(idx)
        xi = P0 @ b[idx]
        # the residual of the current support from the fresh factorization (more accurate than the downdates)
        out[-1] = (out[-1][0], max(float(yy - b[idx] @ xi), 0.0))
        if s0 == 1:
            break
        dP = np.diag(P0).copy()
        active = np.ones(s0, dtype=bool)
        t_max = max(1, min(s0 - 1, int(_REFRESH_FRACTION * s0)))
        if ridge:
            # downdates of a regularized inverse of a singular matrix carry its ~1e12 condition into later
            # steps: refactorize after every removal (every 16 for large libraries) until the support is regular
            t_max = 1 if s0 <= 500 else min(t_max, 16)
        U = np.empty((t_max, s0))  # removed columns p_j (rows), for the rank-1 corrections
        cinv = np.empty(t_max)
        bs = b[idx]
        for t in range(t_max):
            cost = np.where(active, xi ** 2 / np.maximum(dP, 1e-300), np.inf)
            k = int(np.argmin(cost))
            p = P0[k].copy()  # P0 is symmetric: row k is column k
            if t:
                p -= (U[:t, k] * cinv[:t]) @ U[:t]
            c = p[k]
            if not c > 0:  # round-off broke positive definiteness
                if t:
                    break  # refactorize now
                c = p[k] = max(abs(c), 1e-300)  # a fresh (pseudo-)inverse: remove the term regardless
            xi -= p * (xi[k] / c)
            dP -= p * p / c
            U[t], cinv[t] = p, 1.0 / c
            active[k] = False
            del support[bisect_left(support, int(idx[k]))]
            xi[k] = 0.0
            out.append((tuple(support), max(float(yy - bs[active] @ xi[active]), 0.0)))
        idx = idx[active]
        Gs = G[np.ix_(idx, idx)]
        P0 = _spd_inverse(Gs) if ridge else None
        if P0 is None:
            P0 = _inverse_with_ridge(Gs, ridge)
        else:
            ridge = 0.0
    return out


def candidate_supports(G, b, yy, max_terms=None):
    """The best support of each size found by the forward and backward paths.

    Parameters
    ----------
    G : ndarray, shape (m, m)
        Normalized Gram matrix.
    b : ndarray, shape (m,)
    yy : float
    max_terms : int or None
        Largest support size considered by the forward path (default: min(m, 40)); the backward path
        covers every size.

    Returns
    -------
    dict
        size -> (support tuple, training RSS), sorted by size.
    """
    m = G.shape[0]
    max_terms = min(m, 40) if max_terms is None else max(1, min(int(max_terms), m))
    best = {}
    for S, r in forward_path(G, b, yy, max_terms) + backward_path(G, b, yy):
        k = len(S)
        if k not in best or r < best[k][1]:
            best[k] = (S, r)
    return dict(sorted(best.items()))


def cv_errors(Gb, bb, yyb, s, supports):
    """K-fold cross-validated residuals of each support, folds = blocks.

    Parameters
    ----------
    Gb : ndarray, shape (B, m, m)
        Per-block Gram matrices (unnormalized); ``bb`` (B, m) and ``yyb`` (B,) likewise.
    s : ndarray, shape (m,)
        Column scales from :func:`normalize_gram` of the total.
    supports : list of tuple of int

    Returns
    -------
    err : ndarray, shape (n_supports, B)
        Held-out residual sum of squares per support and fold.
    """
    B = Gb.shape[0]
    # only the columns of the supports matter: work on that (usually small) sub-block of every Gram matrix
    cols = np.unique(np.concatenate([np.asarray(S, dtype=int) for S in supports] + [np.zeros(0, dtype=int)]))
    pos = np.zeros(Gb.shape[1], dtype=int)
    pos[cols] = np.arange(cols.size)
    supports = [pos[np.asarray(S, dtype=int)] for S in supports]
    Gb, bb, s = Gb[:, cols[:, None], cols[None, :]], bb[:, cols], s[cols]
    G, b = Gb.sum(0), bb.sum(0)
    outer = np.outer(s, s)
    err = np.zeros((len(supports), B))
    for f in range(B):
        Gt, bt = (G - Gb[f]) / outer, (b - bb[f]) / s
        Gf, bf = Gb[f] / outer, bb[f] / s
        for i, S in enumerate(supports):
            x = solve_support(Gt, bt, S)
            err[i, f] = max(float(yyb[f] - 2 * x @ bf + x @ Gf @ x), 0.0)
    return err


def select_support(Gb, bb, yyb, n_rows, *, tol=0.02, floor=1e-3, max_terms=None):
    """Choose the support by the rule described in the module docstring.

    Parameters
    ----------
    Gb, bb, yyb : per-block Gram matrices (B, m, m), right-hand sides (B, m), ``yᵀy`` (B,)
    n_rows : int
        Total number of rows (used by the GCV fallback when there are fewer than 3 blocks).
    tol : float
        Relative improvement of the cross-validated error per extra term below which terms are not worth
        adding.
    floor : float
        Relative residual level (‖r‖/‖y‖) below which fits count as exact.
    max_terms : int or None

    Returns
    -------
    support : tuple of int
    path : list of dict
        One entry per candidate size: ``size``, ``support``, ``train_error``, ``cv_error`` (both relative to
        ``Σ‖y‖²``).
    """
    G, b, yy = Gb.sum(0), bb.sum(0), float(yyb.sum())
    Gn, bn, s = normalize_gram(G, b)
    cands = candidate_supports(Gn, bn, yy, max_terms)
    sizes = list(cands)
    supports = [cands[k][0] for k in sizes]
    scale = max(yy, 1e-300)
    train = np.array([cands[k][1] for k in sizes]) / scale
    # only supports that could be chosen are cross-validated: up to the first size that passes the rule on
    # training errors, plus a margin of 10 sizes to locate better larger models
    stop = _first_acceptable(sizes, train, tol, floor)
    n_eval = min(len(sizes), stop + 11)
    B = Gb.shape[0]
    err = np.full(len(sizes), np.inf)
    if B >= 3:
        err[:n_eval] = cv_errors(Gb, bb, yyb, s, supports[:n_eval]).sum(axis=1) / scale
    else:  # generalized cross-validation: RSS / (1 - k/n)^2
        k = np.array(sizes[:n_eval], dtype=float)
        dof = np.clip(1.0 - k / max(n_rows, 1), 1e-3, None)
        err[:n_eval] = train[:n_eval] / dof ** 2
    chosen = _first_acceptable(sizes[:n_eval], err[:n_eval], tol, floor)
    path = [
        {"size": int(k), "support": list(map(int, S)), "train_error": float(tr),
         "cv_error": (float(e) if np.isfinite(e) else None)}
        for k, S, tr, e in zip(sizes, supports, train, err)
    ]
    return supports[chosen], path


def _first_acceptable(sizes, err, tol, floor):
    """Index of the sparsest candidate that no larger candidate beats by more than ``tol`` per extra term:
    ``err_i + floor² <= (err_j + floor²)(1 + tol (k_j - k_i))`` for every larger candidate j."""
    sizes = np.asarray(sizes, dtype=float)
    e = np.asarray(err, dtype=float) + floor ** 2
    for i in range(len(e)):
        later = slice(i + 1, None)
        if np.all(e[i] <= e[later] * (1.0 + tol * (sizes[later] - sizes[i]))):
            return i
    return len(e) - 1


def variance_inflation(G):
    """Variance inflation factors ``VIF_k = 1 / (1 - R²_k)`` of the columns (R²_k: column k regressed on the
    others), from the normalized Gram matrix: ``VIF = diag(G⁻¹)``. Infinite for exactly dependent columns.

    Parameters
    ----------
    G : ndarray, shape (m, m), normalized (unit diagonal)

    Returns
    -------
    ndarray, shape (m,)
    """
    m = G.shape[0]
    if m == 1:
        return np.ones(1)
    P = _spd_inverse(G)  # a Cholesky inverse: a tenth of the cost of the eigendecomposition at m = 1000s
    if P is not None:
        vif = np.diag(P).copy()
        if np.all(vif > 0) and vif.max() < 1e14:
            return vif
    # (numerically) dependent columns
    w, V = np.linalg.eigh(G)
    if w[0] <= w[-1] * 1e-15:
        # dependent columns: those with weight on (near-)null eigenvectors are infinitely inflated
        null = w <= w[-1] * 1e-15
        inf = (np.abs(V[:, null]) > 1e-8).any(axis=1)
        out = np.full(m, np.inf)
        ok = ~inf
        if ok.any():
            out[ok] = np.diag(np.linalg.pinv(G[np.ix_(ok, ok)], hermitian=True))
        return out
    return np.einsum("kj,j,kj->k", V, 1.0 / w, V)
