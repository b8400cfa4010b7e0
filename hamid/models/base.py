"""The interface every hamid model shares, sparse or neural, so that scripts can swap one for another.

A model follows scikit-learn's estimator conventions: the constructor only stores its keyword arguments,
``fit`` validates its input through :func:`hamid.io.validate_data` and returns ``self``, learned state
ends in ``_``, ``get_params``/``set_params`` work (so ``sklearn.base.clone`` and grid searches work), and
using an unfitted model raises :class:`NotFittedError`.

The base class re-implements ``get_params``/``set_params`` instead of inheriting
``sklearn.base.BaseEstimator`` because importing scikit-learn costs over a second, which would dominate
``hamid discover`` on small data; the behaviour (parameters read from the constructor's signature,
``deep`` parameters of nested estimators as ``outer__inner``) is the same.

Capabilities a model may have (each optional):

- ``vector_field(z)``: dz/dt at states ``z`` of shape (n, D) -> (n, D).
- ``energy(z)``: the model's conserved quantity at ``z`` (n, D) -> (n,).
- ``hamiltonian_gradient(z)``: ∇H at ``z`` (numpy or torch) -> same type, shape (n, D); used by
  :func:`hamid.integrate` to drive the symplectic integrators. ``separable`` tells whether H = T(p) + V(q).
- ``step_map(z)``: one learned step for map-based models (SympNets, LocSympNets).
- ``simulate(z0, dt=..., n_steps=..., method=...)``: (n, D) -> (n, n_steps + 1, D).
- ``save(path)`` / ``load(path)`` (classmethod).
"""
from __future__ import annotations

import inspect

__all__ = ["HamidModel", "NotFittedError", "check_is_fitted"]


class NotFittedError(ValueError, AttributeError):
    """A model was used before ``fit`` (same bases as scikit-learn's ``NotFittedError``)."""


class HamidModel:
    """Base class: scikit-learn parameter handling plus the fitted-state check."""

    #: attribute whose presence marks a fitted model
    _fitted_attribute = "n_features_in_"

    @classmethod
    def _get_param_names(cls):
        signature = inspect.signature(cls.__init__)
        names = []
        for name, param in signature.parameters.items():
            if name == "self":
                continue
            if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
                raise TypeError(f"{cls.__name__}.__init__ must name its parameters explicitly (no *args/**kwargs)")
            names.append(name)
        return sorted(names)

    def get_params(self, deep: bool = True) -> dict:
        """Constructor parameters as a dict (nested ones as ``outer__inner`` when ``deep``)."""
        params = {}
        for name in self._get_param_names():
            value = getattr(self, name)
            if deep and hasattr(value, "get_params") and not isinstance(value, type):
                params.update({f"{name}__{k}": v for k, v in value.get_params(deep=True).items()})
            params[name] = value
        return params

    def set_params(self, **params):
        """Set constructor parameters (``outer__inner`` reaches nested estimators); returns self."""
        valid = self._get_param_names()
        nested = {}
        for key, value in params.items():
            name, _, sub = key.partition("__")
            if name not in valid:
                raise ValueError(
                    f"invalid parameter {name!r} for {type(self).__name__}; valid parameters: {', '.join(valid)}"
                )
            if sub:
                nested.setdefault(name, {})[sub] = value
            else:
                setattr(self, name, value)
        for name, sub_params in nested.items():
            getattr(self, name).set_params(**sub_params)
        return self

    def __repr__(self):
        defaults = {
            name: param.default for name, param in inspect.signature(type(self).__init__).parameters.items()
        }
        shown = []
        for name, value in self.get_params(deep=False).items():
            default = defaults.get(name, inspect.Parameter.empty)
            try:
                same = value is default or (type(value) is type(default) and bool(value == default))
            except Exception:  # arrays and other objects without a plain truth value
                same = False
            if not same:
                shown.append(f"{name}={value!r}")
        return f"{type(self).__name__}({', '.join(shown)})"

    def _check_fitted(self):
        check_is_fitted(self, self._fitted_attribute)


def check_is_fitted(model, attribute):
    """Raise :class:`NotFittedError` unless ``model`` has ``attribute``."""
    if not hasattr(model, attribute):
        raise NotFittedError(
            f"this {type(model).__name__} instance is not fitted yet; call fit(q, p, ...) before using it"
        )
