"""Metrics every model reports the same way, and a comparison table over fitted models.

All functions take plain arrays or any hamid model (sparse or neural) through the shared interface:
``vector_field(z)``, ``simulate(z0, dt=..., n_steps=...)``, ``fit_time_``. Energies are always measured with
the TRUE Hamiltonian of the system the data came from, so that models are ranked on the same scale.
"""
from __future__ import annotations

import numpy as np

__all__ = [
    "vector_field_mse", "rollout_mse", "energy_drift", "energy_mse", "valid_prediction_time", "count_parameters",
    "compare",
]


def _numpy(x):
    if hasattr(x, "detach"):
        return x.detach().cpu().numpy()
    return np.asarray(x, dtype=float)


def vector_field_mse(field, z, dz_true) -> float:
    """Mean squared error of a vector field at states ``z``.

    Parameters
    ----------
    field : callable or model with ``vector_field``
        Maps states (n, D) -> dz/dt (n, D).
    z, dz_true : array_like, shape (n, D)
    """
    f = field.vector_field if hasattr(field, "vector_field") else field
    z, dz_true = np.asarray(z, dtype=float), np.asarray(dz_true, dtype=float)
    if z.shape != dz_true.shape:
        raise ValueError(f"z and dz_true must have the same shape, got {z.shape} and {dz_true.shape}")
    return float(np.mean((_numpy(f(z)) - dz_true) ** 2))


def rollout_mse(predicted, reference) -> np.ndarray:
    """MSE between two batches of trajectories at every saved time.

    Parameters
    ----------
    predicted, reference : array_like, shape (n, n_time, D)

    Returns
    -------
    ndarray, shape (n_time,)
    """
    predicted, reference = _numpy(predicted), _numpy(reference)
    if predicted.shape != reference.shape:
        raise ValueError(f"trajectories differ in shape: {predicted.shape} vs {reference.shape}")
    return np.mean((predicted - reference) ** 2, axis=(0, 2))


def energy_drift(energy, trajectories) -> np.ndarray:
    """Relative energy drift ``|H(z_t) − H(z_0)| / |H(z_0)|`` along trajectories.

    Parameters
    ----------
    energy : callable
        The true Hamiltonian, states (m, D) -> (m,).
    trajectories : array_like, shape (n, n_time, D)

    Returns
    -------
    ndarray, shape (n, n_time)
    """
    traj = _numpy(trajectories)
    H = np.asarray(energy(traj.reshape(-1, traj.shape[-1])), dtype=float).reshape(traj.shape[:2])
    scale = np.abs(H[:, :1])
    if np.any(scale == 0):
        raise ValueError("relative energy drift is undefined for trajectories that start at H = 0")
    return np.abs(H - H[:, :1]) / scale


def energy_mse(energy, predicted, reference) -> float:
    """MSE between the true energy along predicted and along reference trajectories (n, n_time, D)."""
    predicted, reference = _numpy(predicted), _numpy(reference)
    D = predicted.shape[-1]
    return float(np.mean((np.asarray(energy(predicted.reshape(-1, D))) - np.asarray(energy(reference.reshape(-1, D)))) ** 2))


def valid_prediction_time(predicted, reference, t, threshold=0.1) -> np.ndarray:
    """First time at which the normalized rollout error passes ``threshold``, per trajectory.

    The error at time t is ``‖ẑ(t) − z(t)‖ / rms‖z‖`` with the RMS norm of the reference trajectory;
    trajectories that stay within the threshold get the last time.

    Parameters
    ----------
    predicted, reference : array_like, shape (n, n_time, D)
    t : array_like, shape (n_time,)

    Returns
    -------
    ndarray, shape (n,)
    """
    predicted, reference, t = _numpy(predicted), _numpy(reference), np.asarray(t, dtype=float)
    if t.shape != (reference.shape[1],):
        raise ValueError(f"t must have shape ({reference.shape[1]},), got {t.shape}")
    scale = np.sqrt(np.mean(np.sum(reference ** 2, axis=-1), axis=1, keepdims=True))
    error = np.linalg.norm(predicted - reference, axis=-1) / np.maximum(scale, np.finfo(float).tiny)
    exceeded = error > threshold
    first = np.where(exceeded.any(axis=1), exceeded.argmax(axis=1), len(t) - 1)
    return t[first]


def count_parameters(model) -> int:
    """Number of trained quantities: non-zero terms of a sparse model, weights of a neural one."""
    if hasattr(model, "coef_"):
        return int(np.count_nonzero(model.coef_))
    module = getattr(model, "module_", None)
    if module is not None:
        return int(sum(p.numel() for p in module.parameters()))
    raise TypeError(f"cannot count the parameters of {type(model).__name__}")


def compare(models, system, z_test, *, dt, n_steps, method=None, threshold=0.1):
    """Score fitted models on the same held-out states with the same metrics.

    Parameters
    ----------
    models : dict of str -> fitted model
    system : hamid.systems.System
        Provides the true vector field, the true energy and the reference trajectories.
    z_test : array_like, shape (n, D)
        Initial states for rollouts; the vector-field error is measured at the states of the true
        trajectories from them.
    dt, n_steps : float, int
        Rollout step and length.
    method : str, optional
        Integration method passed to ``simulate`` (each model's default when None).
    threshold : float
        For :func:`valid_prediction_time`.

    Returns
    -------
    list of dict
        One row per model: ``model``, ``vector_field_mse``, ``rollout_mse`` (at the horizon),
        ``energy_mse``, ``max_energy_drift``, ``valid_time``, ``fit_time_s``, ``n_parameters``.
    """
    z_test = np.asarray(z_test, dtype=float)
    t = np.arange(n_steps + 1) * dt
    reference = system.simulate(z_test, t)
    states = reference.reshape(-1, reference.shape[-1])
    true_field = system.vector_field(states)
    rows = []
    for name, model in models.items():
        kwargs = {} if method is None else {"method": method}
        predicted = _numpy(model.simulate(z_test, dt=dt, n_steps=n_steps, **kwargs))
        rows.append({
            "model": name,
            "vector_field_mse": vector_field_mse(model, states, true_field) if hasattr(model, "vector_field") else float("nan"),
            "rollout_mse": float(rollout_mse(predicted, reference)[-1]),
            "energy_mse": energy_mse(system.energy, predicted, reference),
            "max_energy_drift": float(energy_drift(system.energy, predicted).max()),
            "valid_time": float(np.mean(valid_prediction_time(predicted, reference, t, threshold))),
            "fit_time_s": float(getattr(model, "fit_time_", float("nan"))),
            "n_parameters": count_parameters(model),
        })
    return rows
