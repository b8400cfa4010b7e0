"""Plots for comparing learned and true dynamics (matplotlib, imported when a function is called).

Every function returns a :class:`matplotlib.figure.Figure` and, when ``ax=`` is given, draws into that Axes
(and returns its figure). Figures are made with :class:`matplotlib.figure.Figure` directly, never through
``pyplot``: no global figure state and no GUI backend, so they work headless (save with
``fig.savefig(path)``).

- :func:`phase_portrait`: learned against true trajectories in one (q_i, p_i) plane;
- :func:`energy_error`: |H(z_t) − H(z_0)| / |H(z_0)| of the true H against time (log scale);
- :func:`rollout_error`: the rollout MSE against time (log scale);
- :func:`field_error`: ‖f_model − f_true‖ on a grid of one (q_i, p_i) plane;
- :func:`coefficients`: fitted coefficients with bootstrap (or ensemble) intervals, and the truth;
- :func:`selection_path`: training and cross-validated error against the number of terms.
"""
from __future__ import annotations

import warnings

import numpy as np

__all__ = ["new_figure", "phase_portrait", "energy_error", "rollout_error", "field_error", "coefficients",
           "selection_path"]


#: values beyond this are a diverged rollout, not data: left out of the plots
_CEILING = 1e100


def new_figure(figsize=(6, 4.5), nrows=1, ncols=1):
    """A pyplot-free Figure with ``nrows × ncols`` axes (``fig.axes``)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize)
    fig.subplots(nrows, ncols, squeeze=False)
    return fig


def _axes(ax, figsize=(6, 4.5)):
    if ax is None:
        fig = new_figure(figsize)
        return fig, fig.axes[0]
    return ax.figure, ax


def _named(trajectories):
    if isinstance(trajectories, dict):
        return dict(trajectories)
    return {"model": trajectories}


def _split_time(value):
    """(t or None, trajectory) from a value that is an array or a (t, trajectory) pair."""
    if isinstance(value, tuple) and len(value) == 2:
        return np.asarray(value[0], dtype=float), np.asarray(value[1], dtype=float)
    return None, np.asarray(value, dtype=float)


def _check_traj(name, traj):
    if traj.ndim == 2:
        traj = traj[None]
    if traj.ndim != 3:
        raise ValueError(f"trajectory {name!r} must have shape (n, n_time, D), got {traj.shape}")
    return traj


def phase_portrait(trajectories, reference=None, *, dof=0, index=0, ax=None):
    """Learned trajectories against the true ones in the (q_dof, p_dof) plane.

    Parameters
    ----------
    trajectories : dict of str -> array (n, n_time, D) or (t, array) pairs; or one array
        Rollouts in (q, p) coordinates.
    reference : array_like, shape (n, n_time, D), optional
        True trajectories, drawn as a dashed black line labelled "true".
    dof : int
        Which degree of freedom to show.
    index : int or sequence of int or None
        Which trajectories of the batch to draw (None: all).
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib.figure.Figure
        One line per model and trajectory (``xdata`` q_dof, ``ydata`` p_dof).
    """
    fig, ax = _axes(ax)
    items = _named(trajectories)
    sel = slice(None) if index is None else np.atleast_1d(index)
    D = None
    for k, (name, value) in enumerate(items.items()):
        _, traj = _split_time(value)
        traj = _check_traj(name, traj)
        D = traj.shape[-1]
        if not 0 <= dof < D // 2:
            raise ValueError(f"dof must be in [0, {D // 2}), got {dof}")
        for j, z in enumerate(traj[sel]):
            # a diverged rollout ends where it left the plottable range
            z = np.where(np.isfinite(z) & (np.abs(z) < _CEILING), z, np.nan)
            ax.plot(z[:, dof], z[:, D // 2 + dof], color=f"C{k}", lw=1.2, label=name if j == 0 else None)
    if reference is not None:
        ref = _check_traj("reference", np.asarray(reference, dtype=float))
        D = ref.shape[-1]
        for j, z in enumerate(ref[sel]):
            ax.plot(z[:, dof], z[:, D // 2 + dof], "k--", lw=1.0, label="true" if j == 0 else None)
    if D is not None:
        suffix = "" if D == 2 else str(dof + 1)
        ax.set_xlabel(f"q{suffix}")
        ax.set_ylabel(f"p{suffix}")
    ax.set_title("phase portrait")
    ax.legend(fontsize="small")
    return fig


def energy_error(trajectories, energy, t=None, *, reduce="max", floor=1e-17, ax=None):
    """Relative error of the true energy, |H(z_t) − H(z_0)| / |H(z_0)|, against time (log scale).

    Parameters
    ----------
    trajectories : dict of str -> array (n, n_time, D) or (t, array) pairs
    energy : callable
        The TRUE Hamiltonian, states (m, D) -> (m,).
    t : array_like, shape (n_time,), optional
        Times of arrays given without their own (default: sample index).
    reduce : {"max", "mean", "median"}
        How the batch of trajectories is summarized at each time.
    floor : float
        Values below it are drawn at ``floor`` (a log axis cannot show 0).
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib.figure.Figure
        One line per model: ``xdata`` the times after the first, ``ydata`` the reduced relative error there
        (clipped at ``floor``).
    """
    from .metrics import energy_drift

    reducer = _reducer(reduce)
    fig, ax = _axes(ax)
    for k, (name, value) in enumerate(_named(trajectories).items()):
        tt, traj = _split_time(value)
        traj = _check_traj(name, traj)
        tt = _times(tt, t, traj.shape[1])
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN times of a diverged rollout
            err = reducer(energy_drift(energy, traj), axis=0)
        # from the first step on: the error at t_0 is 0 by definition and has no place on a log axis
        ax.plot(tt[1:], _positive(err[1:], floor), color=f"C{k}", label=name)
    ax.set_yscale("log")
    ax.set_xlabel("t")
    ax.set_ylabel(f"{reduce} |H(z_t) - H(z_0)| / |H(z_0)|")
    ax.set_title("energy error (true H)")
    ax.legend(fontsize="small")
    return fig


def rollout_error(trajectories, reference, t=None, *, floor=1e-17, ax=None):
    """MSE between rollouts and the reference trajectories against time (log scale).

    Parameters
    ----------
    trajectories : dict of str -> array (n, m, D) or (t, array) pairs
        An array given with its own times is compared with the reference at those times (which must be
        among ``t``); without, it must match the reference's shape.
    reference : array_like, shape (n, n_time, D)
    t : array_like, shape (n_time,), optional
        Times of the reference (default: sample index).
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib.figure.Figure
        One line per model: ``xdata`` times, ``ydata`` the MSE over trajectories and components.
    """
    from .metrics import rollout_mse

    ref = _check_traj("reference", np.asarray(reference, dtype=float))
    t_ref = _times(None, t, ref.shape[1])
    fig, ax = _axes(ax)
    for k, (name, value) in enumerate(_named(trajectories).items()):
        tt, traj = _split_time(value)
        traj = _check_traj(name, traj)
        if tt is None:
            tt, sub = t_ref, ref
        else:
            idx = np.searchsorted(t_ref, tt)
            if np.any(idx >= len(t_ref)) or not np.allclose(t_ref[np.minimum(idx, len(t_ref) - 1)], tt):
                raise ValueError(f"the times of {name!r} are not sample times of the reference")
            sub = ref[:, idx]
        with np.errstate(all="ignore"):
            mse = rollout_mse(traj, sub)
        ax.plot(tt, _positive(mse, floor), color=f"C{k}", label=name)
    ax.set_yscale("log")
    ax.set_xlabel("t")
    ax.set_ylabel("rollout MSE")
    ax.set_title("rollout error")
    ax.legend(fontsize="small")
    return fig


def field_error(model, true_field, bounds, *, dof=0, n=41, center=None, ax=None):
    """‖f_model(z) − f_true(z)‖ on a grid of the (q_dof, p_dof) plane, other coordinates at ``center``.

    Parameters
    ----------
    model : fitted model with ``vector_field`` or a callable (m, D) -> (m, D)
    true_field : callable or object with ``vector_field``
        The true field, (m, D) -> (m, D).
    bounds : ((q_min, q_max), (p_min, p_max))
    dof : int
    n : int
        Grid points per axis.
    center : array_like, shape (D,), optional
        The coordinates held fixed (default zeros); needed to know D for a plain callable when D > 2.
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib.figure.Figure
        A ``pcolormesh`` whose array holds log10 of the error norm at the n × n grid points (row i: p_i,
        column j: q_j).
    """
    f = model.vector_field if hasattr(model, "vector_field") else model
    g = true_field.vector_field if hasattr(true_field, "vector_field") else true_field
    if not callable(f) or not callable(g):
        raise TypeError("model and true_field must be callables or have vector_field")
    D = int(np.asarray(center).shape[0]) if center is not None else int(getattr(model, "n_features_in_", 2))
    if not 0 <= dof < D // 2:
        raise ValueError(f"dof must be in [0, {D // 2}), got {dof}")
    (q0, q1), (p0, p1) = bounds
    qs, ps = np.linspace(q0, q1, n), np.linspace(p0, p1, n)
    Q, P = np.meshgrid(qs, ps)
    Z = np.tile(np.zeros(D) if center is None else np.asarray(center, dtype=float), (Q.size, 1))
    Z[:, dof] = Q.ravel()
    Z[:, D // 2 + dof] = P.ravel()
    err = np.linalg.norm(np.asarray(f(Z), dtype=float) - np.asarray(g(Z), dtype=float), axis=1).reshape(Q.shape)
    fig, ax = _axes(ax)
    mesh = ax.pcolormesh(Q, P, np.log10(np.maximum(err, 1e-300)), shading="nearest", cmap="viridis")
    fig.colorbar(mesh, ax=ax, label="log10 |f_model - f_true|")
    suffix = "" if D == 2 else str(dof + 1)
    ax.set_xlabel(f"q{suffix}")
    ax.set_ylabel(f"p{suffix}")
    ax.set_title("vector field error")
    return fig


def coefficients(model, samples=None, truth=None, *, level=0.9, ax=None):
    """Fitted coefficients of a sparse model with bootstrap or ensemble intervals, and the true ones.

    Parameters
    ----------
    model : fitted SparseHamiltonian
    samples : ndarray, shape (B, m), optional
        Coefficient vectors over resamples (:func:`hamid.comparison.bootstrap_coefficients`) or an ensemble;
        drawn as the central ``level`` interval. Without, the point estimates only.
    truth : sympy.Expr or str, optional
        The true H: its coefficients on the same terms are drawn as crosses.
    level : float in (0, 1)
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib.figure.Figure
        Terms on the x axis (those selected in the fit, in any sample, or in the truth). The errorbar line
        has ``ydata`` the point estimates; its bars span the interval.
    """
    if not 0 < level < 1:
        raise ValueError(f"level must lie in (0, 1), got {level!r}")
    coef = np.asarray(model.coef_, dtype=float)
    names = list(model.feature_names_)
    keep = coef != 0
    if samples is not None:
        samples = np.asarray(samples, dtype=float)
        if samples.ndim != 2 or samples.shape[1] != coef.shape[0]:
            raise ValueError(f"samples must have shape (B, {coef.shape[0]}), got {samples.shape}")
        keep |= np.any(samples != 0, axis=0)
    true_coef = None
    if truth is not None:
        true_coef = _true_coefficients(model, truth)
        keep |= true_coef != 0
    idx = np.flatnonzero(keep)
    x = np.arange(idx.size)
    fig, ax = _axes(ax, figsize=(max(5, 0.7 * idx.size + 2), 4))
    if samples is not None:
        lo, hi = np.quantile(samples[:, idx], [(1 - level) / 2, (1 + level) / 2], axis=0)
        yerr = np.vstack([np.maximum(coef[idx] - lo, 0), np.maximum(hi - coef[idx], 0)])
        ax.errorbar(x, coef[idx], yerr=yerr, fmt="o", capsize=4, color="C0",
                    label=f"fit ({int(level * 100)} % interval, {samples.shape[0]} resamples)")
    else:
        ax.errorbar(x, coef[idx], fmt="o", color="C0", label="fit")
    if true_coef is not None:
        ax.plot(x, true_coef[idx], "x", color="k", ms=9, label="true")
    ax.axhline(0, color="0.7", lw=0.8)
    ax.set_xticks(x)
    ax.set_xticklabels([names[i] for i in idx], rotation=45, ha="right")
    ax.set_ylabel("coefficient")
    ax.set_title("coefficients")
    ax.legend(fontsize="small")
    fig.tight_layout()
    return fig


def _true_coefficients(model, truth):
    """The true H's coefficients on the model's library terms (terms it lacks count 0)."""
    import sympy as sp

    from .comparison import _term_dict

    if isinstance(truth, str):
        from .symbolic import parse_expression, state_symbols

        qs, ps = state_symbols(model.n_dof_)
        truth = parse_expression(truth, list(qs) + list(ps))
    true_terms = _term_dict(truth)
    out = np.zeros(len(model.feature_names_))
    for k, expr in enumerate(model.library_.expressions):
        parts = _term_dict(expr)
        if len(parts) == 1:
            (basis, c), = parts.items()
            out[k] = true_terms.get(basis, 0.0) / c
        else:
            out[k] = true_terms.get(sp.expand(expr), 0.0)
    return out


def selection_path(model, *, ax=None):
    """Training and cross-validated error of the candidate supports against their size.

    Parameters
    ----------
    model : fitted SparseHamiltonian with a ``selection_path_`` (the default ``auto`` and ``lasso``
        optimizers record one)
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib.figure.Figure
        Lines "cv error" and (when recorded) "train error" with ``xdata`` the support sizes, and a vertical
        line at the chosen size.
    """
    path = list(getattr(model, "selection_path_", None) or [])
    if not path:
        raise ValueError(f"{type(model).__name__} has no selection path (use the 'auto' or 'lasso' optimizer)")
    sizes = np.array([e["size"] for e in path], dtype=float)
    fig, ax = _axes(ax)
    for key, style in (("cv_error", "o-"), ("train_error", "s--")):
        vals = np.array([np.nan if e.get(key) is None else e[key] for e in path], dtype=float)
        if key in path[0] and np.any(np.isfinite(vals)):
            ok = np.isfinite(vals)
            ax.plot(sizes[ok], np.maximum(vals[ok], 1e-300), style, label=key.replace("_", " "))
    chosen = int(np.count_nonzero(model.coef_))
    ax.axvline(chosen, color="k", lw=0.8, ls=":", label=f"chosen ({chosen} terms)")
    ax.set_yscale("log")
    ax.set_xlabel("number of terms")
    ax.set_ylabel("relative residual")
    ax.set_title("sparsity-error path")
    ax.legend(fontsize="small")
    return fig


def _positive(values, floor):
    """Values for a log axis: clipped below at ``floor``; non-finite ones and those above :data:`_CEILING` (a
    diverged rollout) become NaN, which matplotlib leaves out (an infinite value, or a finite one near the
    float limit, would overflow the axis' tick computation)."""
    values = np.asarray(values, dtype=float)
    return np.where(np.isfinite(values) & (values < _CEILING), np.maximum(values, floor), np.nan)


def _reducer(reduce):
    table = {"max": np.nanmax, "mean": np.nanmean, "median": np.nanmedian}
    if reduce not in table:
        raise ValueError(f"unknown reduce {reduce!r}; valid: {', '.join(table)}")
    return table[reduce]


def _times(own, t, n_time):
    if own is not None:
        if own.shape != (n_time,):
            raise ValueError(f"times must have shape ({n_time},), got {own.shape}")
        return own
    if t is None:
        return np.arange(n_time, dtype=float)
    t = np.asarray(t, dtype=float)
    if t.shape != (n_time,):
        raise ValueError(f"t must have shape ({n_time},), got {t.shape}")
    return t
