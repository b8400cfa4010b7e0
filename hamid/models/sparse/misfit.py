"""Library misfit: does the fitted H explain the trajectories to within their noise?

A sparse fit always returns some H; when the library does not contain the truth (a pendulum offered
polynomials only) the residual is larger than the noise, but on noisy data the residual alone cannot tell
(at 5% noise a wrong library's relative residual equals a right one's). So the noise level is estimated
independently of the fit, from the data's high-frequency content, and compared with the fit's residual:

- noise: per state component, the difference-based estimator ``σ² ≈ mean((Δᵏ z)²) / C(2k, k)`` along each
  trajectory (k = 6: white noise passes Δᵏ with variance C(2k, k) σ², while a smooth signal sampled with
  phase advance ωh contributes only about (ωh)ᵏ of its amplitude);
- fit: per component, the RMS of the integral-form residual ``z̃(t_n) - c - ∫ J∇H(z̃) dt`` of the fitted H
  on segments of ``WHITENED_SIZE // D`` samples (whole trajectories of a few hundred samples), whitened with
  that noise level by the GLS noise model (:func:`~hamid.models.sparse.formulations.whiten_segment`, the
  field's Jacobian from the fitted H), free offsets per segment, degrees of freedom corrected.

For the true H the whitened residual is white with unit variance whatever the segment length (the noise
integrated through the field is accounted for), so the ratio is about 1; a library that cannot represent
the dynamics leaves a systematic drift that grows along each segment. The fit is flagged when the ratio
exceeds ``RATIO_THRESHOLD + SE_FACTOR * se`` on some component (``se`` the ratio's sampling error for the
data's size) and the residual exceeds :data:`RESIDUAL_FLOOR` of that component's spread (so exact data fitted
to quadrature accuracy are never flagged). Thresholds and their measurements: ``docs/sparse.md``.
"""
from __future__ import annotations

from math import comb

import numpy as np

__all__ = ["LibraryMisfitWarning", "noise_level", "assess_misfit"]


class LibraryMisfitWarning(UserWarning):
    """No sparse combination of the library explains the data within their estimated noise level."""


#: difference order of the noise estimator
ORDER = 6
#: misfit when the whitened residual / noise ratio exceeds ``RATIO_THRESHOLD + SE_FACTOR * se`` on a
#: component, ``se`` the ratio's sampling error for the data's size (measurements: docs/sparse.md)
RATIO_THRESHOLD = 1.03
SE_FACTOR = 3.5
#: rows (samples x components) per whitened segment: longer segments let a wrong H drift further from the data
#: (more sensitive) while the whitening keeps the true H's residual at the noise level
WHITENED_SIZE = 1024
#: work bound of the whitened residual (flops of the dense solves), and the fewest segments always used
MAX_FLOPS = 3e9
MIN_SEGMENTS = 20
#: a misfit also needs the residual above this fraction of the component's standard deviation
RESIDUAL_FLOOR = 1e-4


def noise_level(Z, bounds=None, order=ORDER):
    """Per-component noise standard deviation from high-order differences along the trajectories.

    Parameters
    ----------
    Z : ndarray, shape (n_traj, n_time, D)
        Sampled states (evenly or nearly evenly sampled; the estimate ignores the times).
    bounds : sequence of int or None
        Ragged trajectories concatenated in ``Z`` of shape (1, N, D): where each starts.
    order : int

    Returns
    -------
    ndarray, shape (D,), or None when no trajectory has more than ``order`` samples.
    """
    D = Z.shape[-1]
    if bounds is None:
        pieces = [Z[i] for i in range(Z.shape[0])]
    else:
        edges = list(bounds) + [Z.shape[1]]
        pieces = [Z[0, a:b] for a, b in zip(edges[:-1], edges[1:])]
    ss, n = np.zeros(D), 0
    for piece in pieces:
        if piece.shape[0] <= order:
            continue
        d = np.diff(piece, n=order, axis=0)
        ss += np.sum(d ** 2, axis=0)
        n += d.shape[0]
    if n == 0:
        return None
    return np.sqrt(ss / n / comb(2 * order, order))


def assess_misfit(H, structure, Z, t, bounds=None, order=8):
    """Compare the fitted H's integral-form residual with the independent noise level.

    Parameters
    ----------
    H : sympy.Expr
        The fitted Hamiltonian in the structure's symbols.
    structure : hamid.structures.Structure
    Z : ndarray, shape (n_traj, n_time, D)
    t : ndarray, shape (n_time,) (or (N,) for ragged data)
    bounds : sequence of int or None
    order : int
        Quadrature stencil size.

    Returns
    -------
    dict or None
        ``misfit`` (bool), ``noise_std`` and ``residual_std`` (per component), ``ratio`` (max over
        components), ``reason`` (one line, when ``misfit``); None when the data cannot be assessed (no
        trajectories with times, or too short).
    """
    import sympy as sp

    if Z.ndim != 3 or t is None:
        return None
    noise = noise_level(Z, bounds)
    if noise is None:
        return None
    D = Z.shape[-1]
    spread = Z.reshape(-1, D).std(axis=0)
    got = _whitened_residual(sp.sympify(H), structure, Z, t, bounds, order, np.maximum(noise, 1e-12 * spread + 1e-300))
    if got is None:
        return None
    fit, dof = got
    n_diff = _n_differences(Z, bounds)
    # sampling error of the ratio: the whitened residual's mean square has relative variance 2/dof, the
    # difference estimator's 2·C(4k,2k)/C(2k,k)²/n (its terms are correlated, 3.17 for k = 6); the ratio is
    # a square root (half the relative error)
    k = ORDER
    se = 0.5 * np.sqrt(2.0 / dof + 2.0 * comb(4 * k, 2 * k) / comb(2 * k, k) ** 2 / max(n_diff, 1))
    threshold = RATIO_THRESHOLD + SE_FACTOR * se
    # ``fit`` is the residual in units of the estimated noise (1 for the true H); in state units for the floor
    floor = RESIDUAL_FLOOR * np.where(spread > 0, spread, 1.0)
    ratio = fit
    fit = fit * noise
    flagged = (ratio > threshold) & (fit > floor)
    out = {"misfit": bool(flagged.any()), "noise_std": [float(v) for v in noise],
           "residual_std": [float(v) for v in fit], "ratio": float(np.max(ratio)), "threshold": float(threshold)}
    if flagged.any():
        c = int(np.argmax(np.where(flagged, ratio, -np.inf)))
        name = str(structure.symbols[c])
        out["reason"] = (f"the fitted H leaves a residual {ratio[c]:.3g}x (threshold {threshold:.3g}) the noise level "
                         f"estimated from the data's high-frequency content on {name} ({fit[c]:.3g} vs "
                         f"{noise[c]:.3g}): no sparse combination of this library explains the dynamics; add the "
                         "missing kinds of terms (e.g. trig, cross terms) or check the structure")
    return out



def _whitened_residual(H, structure, Z, t, bounds, order, sigma):
    """Per component, the RMS of the integral-form residual of ``H`` whitened by the noise model of
    :func:`~hamid.models.sparse.formulations.whiten_segment` with noise ``sigma``: 1 when ``H`` is right and
    ``sigma`` is the noise level, whatever the segment length (the integrated noise is accounted for), larger
    when ``H`` drifts from the data. Segments of ``max(16, 256 // D)`` samples, at most :data:`MAX_SEGMENTS`
    of them (evenly chosen), bound the cost."""
    import sympy as sp

    from ...structures import SymbolLibrary
    from ...symbolic.codegen import compile_exprs
    from .formulations import field_design, integral_weights, whiten_segment

    D = Z.shape[-1]
    L = max(16, WHITENED_SIZE // D)
    if bounds is None:
        pieces = [(i, 0, Z.shape[1]) for i in range(Z.shape[0])]
    else:
        edges = list(bounds) + [Z.shape[1]]
        pieces = [(0, a, b) for a, b in zip(edges[:-1], edges[1:])]
    segments = []
    for i, a0, b0 in pieces:
        n = b0 - a0
        if n < 3:
            continue
        k = max(1, int(np.ceil(n / L)))
        cuts = np.linspace(a0, b0, k + 1).round().astype(int)
        segments += [(i, int(a), int(b)) for a, b in zip(cuts[:-1], cuts[1:]) if b - a >= 3]
    if not segments:
        return None
    # bounded work: each segment is a dense solve of size (L·D)², about (L·D)³/3 flops
    cap = max(MIN_SEGMENTS, int(MAX_FLOPS / ((L * D) ** 3 / 3)))
    if len(segments) > cap:
        segments = [segments[j] for j in np.linspace(0, len(segments) - 1, cap).round().astype(int)]
    if H == 0 or not H.free_symbols:
        lib, coef = SymbolLibrary([structure.symbols[0]], structure.symbols), np.zeros(1)
    else:
        lib, coef = SymbolLibrary([H], structure.symbols), np.ones(1)
    # the Jacobian of the field B∇H, compiled once (the noise model of the whitening)
    jac_f = compile_exprs(list(structure.jacobian_exprs(H if coef[0] else sp.Integer(0))), list(structure.symbols),
                          "numpy")
    ss, dof = np.zeros(D), 0
    for i, a, b in segments:
        Zs = Z[i, a:b]
        W = integral_weights(t[a:b], order)
        C = np.vstack([np.zeros((1, b - a)), np.cumsum(W, axis=0)])
        F = field_design(lib, Zs, structure)  # (L, D, 1)
        jac = np.asarray(jac_f(Zs), dtype=float).reshape(b - a, D, D)
        X, y = whiten_segment(C, F, Zs, jac, sigma)
        r = (y - X @ coef).reshape(b - a, D)
        ss += np.sum(r ** 2, axis=0)
        dof += b - a - 1  # one free offset per segment and component
    return np.sqrt(ss / max(dof, 1)), dof


def _n_differences(Z, bounds, order=ORDER):
    if bounds is None:
        return Z.shape[0] * max(Z.shape[1] - order, 0)
    edges = list(bounds) + [Z.shape[1]]
    return sum(max(b - a - order, 0) for a, b in zip(edges[:-1], edges[1:]))
