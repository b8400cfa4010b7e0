"""The interface every hamid model shares, sparse or neural, so that scripts can swap one for another.

A model follows scikit-learn's estimator conventions: the constructor only stores its keyword arguments,
``fit`` validates its input through :func:`hamid.io.validate_data` and returns ``self``, learned state
ends in ``_``, ``get_params``/``set_params`` work (so ``sklearn.base.clone`` and grid searches work), and
using an unfitted model raises :class:`NotFittedError`.

The base class re-implements ``get_params``/``set_params`` instead of inheriting
``sklearn.base.BaseEstimator`` because importing scikit-learn costs over a second, which would dominate
``hamid discover`` on small data; the behaviour (parameters read from the constructor's signature,
``deep`` parameters of nested estimators as ``outer__inner``) is the same.

Model contract
--------------
Every model class (:class:`~hamid.models.sparse.SparseHamiltonian`, the neural fields ``MLPField``, ``HNN``,
``LNN``, ``FrictionHNN``, ``NeuralSymplecticForm``, ``SRNN`` and the learned maps ``LASympNet``, ``GSympNet``,
``LocSympNet``) provides:

- ``fit(q, p, t=None, dq=None, dp=None) -> self`` for canonical data: ``q, p`` of shape (n_traj, n_time, d) or
  (n_samples, d), ``t`` (n_time,), derivatives shaped like ``q``. Exceptions with their own named data:
  ``LNN.fit(q, qdot, t=None, *, qddot=None)`` (velocities and accelerations; passing ``p``, ``dq`` or ``dp``,
  or a fourth positional array, raises ``TypeError``), and ``LocSympNet.fit(y, t=t)`` (whole states of any
  dimension D; ``fit(q, p, t)`` also accepted). Map models and SRNN need trajectories with uniform ``t``.
- ``simulate(z0, dt, n_steps, *, method=None, save_every=1)``: ``z0`` of shape (n, D) gives
  (n, n_steps // save_every + 1, D) with ``z0`` first; a 1-D ``z0`` of shape (D,) gives
  (n_steps // save_every + 1, D). ``method=None`` is the model's own default integrator (sparse: leapfrog
  for a separable H, else implicit midpoint; neural fields: ``"rk4"``; SRNN: its ``test_integrator``; maps:
  their learned map). Map models (LASympNet, GSympNet, LocSympNet) step by their training step ``dt_``:
  ``dt`` may be None or equal to ``dt_``; another ``dt`` or a ``method`` other than None/``"map"`` raises a
  ``ValueError`` naming what they support. The state is (q, p), except the LNN's (q, q̇) and LocSympNet's y.
- ``save(path) -> pathlib.Path`` writes ONE file: JSON with ``format = "hamid-model"``, the class name, the
  constructor parameters, the fitted metadata and (neural models) the weights as base64-encoded little-endian
  arrays; no pickle. ``Class.load(path)`` reads it back (predictions identical); :func:`load_model` (also
  ``hamid.load_model``) dispatches on the stored class name through :data:`MODEL_CLASSES`. Files written by
  earlier versions of ``SparseHamiltonian.save`` (JSON with ``format = "hamid.SparseHamiltonian"``) load too.
- ``energy(z)`` (n, D) -> (n,) where the model has a scalar invariant (not MLPField, not the maps);
  ``vector_field(z)`` (n, D) -> (n, D) for continuous-time models (not the maps: accessing it raises
  ``AttributeError``); ``n_parameters_``: the number of fitted quantities (trainable weights of a neural
  model, non-zero terms of a sparse one); ``fit_time_`` (seconds).
- Fitted models survive ``copy.deepcopy``, ``pickle`` and ``joblib`` with identical predictions.
- ``fit`` never mutates its inputs and leaves the global numpy and torch random states as they were; the same
  ``seed`` / ``random_state`` gives the same fit.

Capabilities a model may have besides:

- ``hamiltonian_gradient(z)``: ∇H at ``z`` (numpy or torch) -> same type, shape (n, D); used by
  :func:`hamid.integrate` to drive the symplectic integrators. ``separable`` tells whether H = T(p) + V(q).
- ``step_map(z)``: one learned step for map-based models (SympNets, LocSympNets).
"""
from __future__ import annotations

import base64
import inspect
import json
from pathlib import Path

import numpy as np

__all__ = ["HamidModel", "NotFittedError", "check_is_fitted", "load_model", "MODEL_CLASSES", "ModelFileError",
           "FORMAT", "FORMAT_VERSION", "check_rollout_args", "encode_array", "decode_array"]

#: the ``format`` field of every model file
FORMAT = "hamid-model"
#: highest model-file version this hamid reads and the one it writes
FORMAT_VERSION = 1

#: class name -> class of every model that can be loaded; filled when a subclass of :class:`HamidModel` is
#: defined. The classes shipped with hamid are also found through :data:`_SHIPPED` without importing them first.
MODEL_CLASSES: dict = {}

# class name -> module to import to register it (imported by name from this table only: a model file can never
# make hamid import an arbitrary module)
_SHIPPED = {"SparseHamiltonian": "hamid.models.sparse"}
_SHIPPED.update({name: "hamid.models.neural" for name in (
    "MLPField", "HNN", "LNN", "FrictionHNN", "NeuralSymplecticForm", "SRNN", "LASympNet", "GSympNet", "LocSympNet")})
_SHIPPED["TrajectoryHNN"] = "hamid.models.neural.trajectory_loss"

# the legacy format of SparseHamiltonian files (before the common format); still read
_LEGACY_SPARSE_FORMAT = "hamid.SparseHamiltonian"

_ARRAY_DTYPES = ("float64", "float32", "int64", "int32", "bool")


class ModelFileError(ValueError):
    """A model file is missing or malformed; the message names the problem."""


class NotFittedError(ValueError, AttributeError):
    """A model was used before ``fit`` (same bases as scikit-learn's ``NotFittedError``)."""


class HamidModel:
    """Base class: scikit-learn parameter handling plus the fitted-state check."""

    #: attribute whose presence marks a fitted model
    _fitted_attribute = "n_features_in_"

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if not cls.__name__.startswith("_"):
            MODEL_CLASSES[cls.__name__] = cls

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

    # ---------------------------------------------------------------------------------------- persistence
    def _to_document(self) -> dict:  # pragma: no cover - abstract
        """The class-specific part of the model file (JSON values only)."""
        raise NotImplementedError

    @classmethod
    def _from_document(cls, doc: dict, **options):  # pragma: no cover - abstract
        """Rebuild a fitted model from :meth:`_to_document` output."""
        raise NotImplementedError

    def save(self, path):
        """Write the fitted model to ONE file (JSON, atomically); ``load`` restores identical predictions.

        Parameters
        ----------
        path : str or Path
            The file (any suffix; ``.json`` is conventional). Its parent directory must exist.

        Returns
        -------
        pathlib.Path
        """
        from hamid import __version__
        from hamid.io import atomic_write

        self._check_fitted()
        path = Path(path)
        if path.is_dir():
            raise ValueError(f"cannot save into {path}: it is a directory (a hamid model is one file)")
        if not path.parent.exists():
            raise ValueError(f"cannot save into {path}: parent directory {path.parent} does not exist")
        doc = {"format": FORMAT, "format_version": FORMAT_VERSION, "class": type(self).__name__,
               "hamid_version": __version__, "model": self._to_document()}
        text = json.dumps(doc, indent=1)
        return atomic_write(path, lambda fh: fh.write(text.encode()))

    @classmethod
    def load(cls, path, **options):
        """Read a model written by :meth:`save` (of this class or a subclass).

        Parameters
        ----------
        path : str or Path
        **options
            Passed to the class's loader (neural models: ``device="cpu"`` to override the saved device).

        Raises
        ------
        ModelFileError
            Missing or malformed file, another format, an unknown class, or a class that is not ``cls``.
        """
        return _load(path, cls, options)


def check_is_fitted(model, attribute):
    """Raise :class:`NotFittedError` unless ``model`` has ``attribute``."""
    if not hasattr(model, attribute):
        raise NotFittedError(
            f"this {type(model).__name__} instance is not fitted yet; call fit(q, p, ...) before using it"
        )


def _read_document(path):
    path = Path(path)
    if path.is_dir():
        raise ModelFileError(f"{path} is a directory; a hamid model is one file written by model.save(path)")
    if not path.exists():
        raise ModelFileError(f"model file {path} does not exist")
    try:
        doc = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelFileError(f"cannot read {path} as a hamid model file (JSON): {exc}") from None
    except RecursionError:  # a hostile file of deeply nested brackets
        raise ModelFileError(f"cannot read {path} as a hamid model file: its JSON is nested too deeply") from None
    if not isinstance(doc, dict):
        raise ModelFileError(f"{path} is not a hamid model file")
    if doc.get("format") == _LEGACY_SPARSE_FORMAT:
        return "SparseHamiltonian", doc
    if doc.get("format") != FORMAT:
        raise ModelFileError(f"{path} is not a hamid model file (format field {doc.get('format')!r}, "
                             f"expected {FORMAT!r})")
    version = doc.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise ModelFileError(f"{path} has format version {version!r}; this hamid reads up to {FORMAT_VERSION}")
    if not isinstance(doc.get("model"), dict):
        raise ModelFileError(f"{path} lacks the 'model' section")
    return doc.get("class"), doc["model"]


def model_class(name):
    """The registered model class called ``name`` (shipped classes are imported on demand).

    Raises
    ------
    ModelFileError
        Unknown name; the message lists the known ones.
    """
    import importlib

    if not isinstance(name, str):
        raise ModelFileError(f"model class name must be a string, got {name!r}")
    if name not in MODEL_CLASSES and name in _SHIPPED:
        importlib.import_module(_SHIPPED[name])
    if name not in MODEL_CLASSES:
        known = sorted(set(MODEL_CLASSES) | set(_SHIPPED))
        raise ModelFileError(f"unknown model class {name!r}; known: {', '.join(known)}")
    return MODEL_CLASSES[name]


def _load(path, cls, options):
    name, doc = _read_document(path)
    klass = model_class(name)
    if not issubclass(klass, cls):
        raise ModelFileError(f"{path} holds a {name}, not a {cls.__name__}")
    return klass._from_document(doc, **options)


def load_model(path, **options):
    """Load any hamid model file, whatever its class (dispatch on the stored class name).

    Parameters
    ----------
    path : str or Path
        A file written by ``model.save(path)``.
    **options
        Passed to the class's loader (neural models: ``device``).

    Returns
    -------
    HamidModel
        A fitted model of the stored class.

    Examples
    --------
    >>> import numpy as np, tempfile, os
    >>> from hamid.models.sparse import SparseHamiltonian
    >>> q, p = np.random.default_rng(0).uniform(-1, 1, (2, 100))
    >>> m = SparseHamiltonian(library="poly:2").fit(q, p, dq=p, dp=-q)
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     back = load_model(m.save(os.path.join(tmp, "m.json")))
    >>> type(back).__name__, bool(np.all(back.coef_ == m.coef_))
    ('SparseHamiltonian', True)
    """
    return _load(path, HamidModel, options)


def encode_array(a) -> dict:
    """A numpy array as JSON: dtype, shape and base64 of its little-endian bytes (exact, no pickle)."""
    a = np.asarray(a)
    name = a.dtype.name
    if name not in _ARRAY_DTYPES:
        raise TypeError(f"cannot store arrays of dtype {name}; supported: {', '.join(_ARRAY_DTYPES)}")
    data = np.ascontiguousarray(a, dtype=a.dtype.newbyteorder("<")).tobytes()
    return {"dtype": name, "shape": list(a.shape), "data": base64.b64encode(data).decode("ascii")}


def decode_array(doc) -> np.ndarray:
    """Inverse of :func:`encode_array`; raises :class:`ModelFileError` on malformed input."""
    try:
        name, shape, data = doc["dtype"], tuple(int(n) for n in doc["shape"]), doc["data"]
        if name not in _ARRAY_DTYPES:
            raise ValueError(f"unsupported dtype {name!r}")
        raw = base64.b64decode(data.encode("ascii"), validate=True)
        arr = np.frombuffer(raw, dtype=np.dtype(name).newbyteorder("<"))
        return arr.reshape(shape).astype(np.dtype(name), copy=True)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ModelFileError(f"malformed array in model file: {exc}") from None


def check_rollout_args(dt, n_steps, save_every, need_dt=True):
    """Validate the common arguments of ``simulate``; returns (dt or None, n_steps, save_every).

    Raises
    ------
    TypeError
        ``n_steps`` missing, or ``dt`` missing where the model has no step of its own.
    ValueError
        Non-positive or non-finite ``dt``, negative ``n_steps``, ``save_every`` < 1.
    """
    import math

    if n_steps is None:
        raise TypeError("simulate needs n_steps (the number of steps)")
    if isinstance(n_steps, bool) or not isinstance(n_steps, (int, np.integer)) or n_steps < 0:
        raise ValueError(f"n_steps must be a non-negative integer, got {n_steps!r}")
    if isinstance(save_every, bool) or not isinstance(save_every, (int, np.integer)) or save_every < 1:
        raise ValueError(f"save_every must be a positive integer, got {save_every!r}")
    if dt is None:
        if need_dt:
            raise TypeError("simulate needs dt (the step size)")
    else:
        if isinstance(dt, bool) or not isinstance(dt, (int, float, np.floating, np.integer)):
            raise ValueError(f"dt must be a positive number, got {dt!r}")
        dt = float(dt)
        if not (math.isfinite(dt) and dt > 0):
            raise ValueError(f"dt must be a positive finite number, got {dt!r}")
    return dt, int(n_steps), int(save_every)
