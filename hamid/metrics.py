"""Metrics every model reports the same way (the comparison over fitted models is :func:`hamid.compare`).

All functions take plain arrays or any hamid model (sparse or neural) through the shared interface:
``vector_field(z)``, ``simulate(z0, dt=..., n_steps=...)``, ``fit_time_``. Energies are always measured with
the TRUE Hamiltonian of the system the data came from, so that models are ranked on the same scale.
"""
from __future__ import annotations

import numpy as np

__all__ = [
    "vector_field_mse", "rollout_mse", "energy_drift", "energy_mse", "valid_prediction_time", "count_parameters",
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
    """Number of trained quantities: non-zero terms of a sparse model, weights of a neural one.

    Uses the model's own count when it has one: ``n_parameters_`` (every hamid model), or ``n_parameters``
    (a method or an attribute).
    """
    n = getattr(model, "n_parameters_", None)
    if n is None:
        n = getattr(model, "n_parameters", None)
    if n is not None:
        return int(n() if callable(n) else n)
    if hasattr(model, "coef_"):
        return int(np.count_nonzero(model.coef_))
    module = getattr(model, "module_", None)
    if module is not None:
        return int(sum(p.numel() for p in module.parameters()))
    raise TypeError(f"cannot count the parameters of {type(model).__name__}")


def __getattr__(name):
    # the comparison over fitted models moved to hamid.comparison (it returns a Comparison); the old name
    # keeps resolving to it
    if name in ("compare", "Comparison"):
        import importlib

        return getattr(importlib.import_module("hamid.comparison"), name)
    raise AttributeError(f"module 'hamid.metrics' has no attribute {name!r}")
