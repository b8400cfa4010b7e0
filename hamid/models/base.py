"""The interface every hamid model shares, sparse or neural, so that scripts can swap one for another.

A model is a scikit-learn style estimator: the constructor only stores its keyword arguments, ``fit``
validates its input through :func:`hamid.io.validate_data` and returns ``self``, learned state ends in
``_``, and using an unfitted model raises :class:`NotFittedError`.

Capabilities a model may have (each optional, checked with ``hasattr``/the flags below):

- ``vector_field(z)``: dz/dt at states ``z`` of shape (n, D) -> (n, D).
- ``energy(z)``: the model's conserved quantity at ``z`` (n, D) -> (n,).
- ``hamiltonian_gradient(z)``: ∇H at ``z`` (numpy or torch) -> same type, shape (n, D); used by
  :func:`hamid.integrate` to drive the symplectic integrators. ``separable`` tells whether H = T(p) + V(q).
- ``step_map(z)``: one learned step for map-based models (SympNets, LocSympNets).
- ``simulate(z0, dt=..., n_steps=..., method=...)``: (n, D) -> (n, n_steps + 1, D).
- ``save(path)`` / ``load(path)`` (classmethod).
"""
from __future__ import annotations

from sklearn.base import BaseEstimator
from sklearn.exceptions import NotFittedError

__all__ = ["HamidModel", "NotFittedError", "check_is_fitted"]


class HamidModel(BaseEstimator):
    """Base class: scikit-learn parameter handling plus the fitted-state check."""

    #: attribute whose presence marks a fitted model
    _fitted_attribute = "n_features_in_"

    def _check_fitted(self):
        check_is_fitted(self, self._fitted_attribute)


def check_is_fitted(model, attribute):
    if not hasattr(model, attribute):
        raise NotFittedError(
            f"this {type(model).__name__} instance is not fitted yet; call fit(q, p, ...) before using it"
        )
