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
from scipy import linalg

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


def solve_support(G, b, S):
    """Least-squares coefficients on support ``S`` from the normal equations ``G_SS ξ = b_S``.

    Returns the full-length coefficient vector (zeros off the support)."""
    S = np.asarray(S, dtype=int)
    x = np.zeros(G.shape[0])
    if S.size == 0:
        return x
    Gs = G[np.ix_(S, S)]
    try:
        c = linalg.cho_factor(Gs, check_finite=False)
        x[S] = linalg.cho_solve(c, b[S], check_finite=False)
    except linalg.LinAlgError:
        x[S] = linalg.lstsq(Gs, b[S], cond=1e-13, check_finite=False)[0]
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
            try:
                c = linalg.cho_factor(G[np.ix_(S, S)], check_finite=False)
            except linalg.LinAlgError:
                break
            X = linalg.cho_solve(c, GS, check_finite=False)  # (k, m) = G_SS^-1 G_S,:
            xi = linalg.cho_solve(c, b[S], check_finite=False)
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


def backward_path(G, b, yy):
    """Backward elimination: from all terms, repeatedly drop the term whose removal raises the residual least.

    The inverse of ``G_SS`` is downdated in O(m²) per step (recomputed every 16 steps against drift); a
    singular full Gram matrix gets a tiny ridge (1e-12) so that elimination can start.

    Returns
    -------
    list of (tuple of int, float)
        Supports of sizes m, m-1, ..., 1 with their residual sums of squares.
    """
    m = G.shape[0]
    S = list(range(m))
    ridge = 0.0
    try:
        np.linalg.cholesky(G)
    except np.linalg.LinAlgError:
        ridge = 1e-12
    P = None
    out = []
    for step in range(m):
        if P is None or step % 16 == 0:
            Gs = G[np.ix_(S, S)] + ridge * np.eye(len(S))
            try:
                P = linalg.inv(Gs, check_finite=False)
            except linalg.LinAlgError:
                P = linalg.pinvh(Gs)
        xi = P @ b[S]
        out.append((tuple(S), max(float(yy - b[S] @ xi), 0.0)))
        if len(S) == 1:
            break
        cost = xi ** 2 / np.maximum(np.diag(P), 1e-300)
        k = int(np.argmin(cost))
        keep = np.arange(len(S)) != k
        pk = P[keep, k]
        P = P[np.ix_(keep, keep)] - np.outer(pk, pk) / P[k, k]
        del S[k]
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
        {"size": int(k), "support": [int(j) for j in S], "train_error": float(tr),
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
