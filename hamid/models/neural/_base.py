"""Common base of the neural baselines: parameters, data handling, training, simulation, save/load.

Subclasses implement

- ``_build_module(n_dof)`` -> ``torch.nn.Module``: the network(s); everything needed at prediction time
  (weights, normalization constants) must live in the module as parameters or buffers, so that the state dict
  alone restores a fitted model;
- ``_fit_module(data, train_idx, val_idx)`` -> TrainingHistory: build the losses and call :meth:`_train`
  (the default implementation fits ``dz/dt`` at states with MSE through ``_field_torch``);
- ``_field_torch(z)``: dz/dt for a tensor ``z`` of shape (n, 2d), differentiable;
- optionally ``_energy_torch(z)`` -> (n,) for models with a scalar invariant.

and list every constructor argument explicitly in their own ``__init__`` (scikit-learn's ``get_params`` reads
the signature), passing the common ones to ``NeuralModel.__init__``.

This module imports torch; ``import hamid`` does not import it.
"""
from __future__ import annotations

import math
import time

import numpy as np
import torch

from hamid.io import DataError, validate_data
from hamid.models.base import (MODEL_CLASSES, HamidModel, ModelFileError, check_rollout_args, decode_array,
                               encode_array)

from .training import LR_SCHEDULES, OPTIMIZERS, TrainingHistory, train

__all__ = ["NeuralModel", "make_mlp", "ACTIVATIONS", "DTYPES", "finite_difference_derivatives", "solve_checked",
           "SingularMatrixError", "SINGULAR_POLICIES"]

#: activation name -> torch module class
ACTIVATIONS = {
    "tanh": torch.nn.Tanh,
    "softplus": torch.nn.Softplus,
    "sigmoid": torch.nn.Sigmoid,
    "relu": torch.nn.ReLU,
    "elu": torch.nn.ELU,
    "gelu": torch.nn.GELU,
    "silu": torch.nn.SiLU,
}

#: dtype name -> torch dtype
DTYPES = {"float64": torch.float64, "float32": torch.float32}

#: class name -> class of every model (shared with :mod:`hamid.models.base`); used by ``load``
_REGISTRY = MODEL_CLASSES

#: what ``validation_fraction="auto"`` holds out, and from how many trajectories / samples on
AUTO_VALIDATION_FRACTION = 0.2
AUTO_VALIDATION_MIN_TRAJECTORIES = 5
AUTO_VALIDATION_MIN_SAMPLES = 50
#: ``patience="auto"``: evaluations without improvement before early stopping (when data are held out)
AUTO_PATIENCE = 100


def make_mlp(in_dim, out_dim, hidden=(200, 200), activation="tanh", init="orthogonal", bias_out=True):
    """A plain multilayer perceptron ``in_dim -> hidden... -> out_dim``.

    Parameters
    ----------
    in_dim, out_dim : int
    hidden : sequence of int
        Widths of the hidden layers (may be empty: a linear map).
    activation : str
        A key of :data:`ACTIVATIONS`.
    init : {"orthogonal", "default"}
        ``"orthogonal"`` (as in the HNN reference code) uses orthogonal weights and zero biases.
    bias_out : bool
        Bias on the output layer.

    Returns
    -------
    torch.nn.Sequential
        In the default dtype of torch; callers cast with ``.to(dtype)``.
    """
    if activation not in ACTIVATIONS:
        raise ValueError(f"unknown activation {activation!r}; valid names: {', '.join(ACTIVATIONS)}")
    layers = []
    width = in_dim
    for h in hidden:
        layers += [torch.nn.Linear(width, h), ACTIVATIONS[activation]()]
        width = h
    layers.append(torch.nn.Linear(width, out_dim, bias=bias_out))
    if init == "orthogonal":
        for layer in layers:
            if isinstance(layer, torch.nn.Linear):
                torch.nn.init.orthogonal_(layer.weight)
                if layer.bias is not None:
                    torch.nn.init.zeros_(layer.bias)
    elif init != "default":
        raise ValueError(f"unknown init {init!r}; valid names: orthogonal, default")
    return torch.nn.Sequential(*layers)


def finite_difference_derivatives(x, t):
    """Time derivatives of trajectories by second-order finite differences (``numpy.gradient``).

    Parameters
    ----------
    x : ndarray, shape (n_traj, n_time, k)
    t : ndarray, shape (n_time,)
        Strictly increasing (non-uniform spacing allowed); needs n_time >= 3.

    Returns
    -------
    ndarray, shape (n_traj, n_time, k)
        Central differences inside, one-sided second-order differences at both ends. Biased by O(dt²)
        and amplifies noise: pass exact derivatives when you have them.
    """
    if x.shape[1] < 3:
        raise DataError(f"finite differences need at least 3 time points per trajectory, got {x.shape[1]}")
    return np.gradient(x, t, axis=1, edge_order=2)


def _is_int(x):
    return isinstance(x, (int, np.integer)) and not isinstance(x, bool)


def check_network_size(hidden, n_in, what="the network"):
    """Refuse, before any allocation, hidden widths whose dense layers ``n_in -> hidden... -> n_in`` would hold
    more than ``hamid.limits.MAX_NETWORK_PARAMETERS`` parameters (an estimate of the size of every network
    hamid builds from ``hidden``)."""
    from ... import limits

    widths = [int(n_in)] + [int(h) for h in hidden] + [int(n_in)]
    n = sum(a * b + b for a, b in zip(widths, widths[1:]))
    limits.check_count(n, "MAX_NETWORK_PARAMETERS", f"the parameter count of {what} (hidden = {list(hidden)})")


def check_flag(name, value):
    """Raise unless ``value`` is exactly True or False (so that 0/1 or "yes" are not taken silently)."""
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be True or False, got {value!r}")


def check_solver_params(rcond, on_singular):
    """Validate the (rcond, on_singular) pair of models that solve with :func:`solve_checked`."""
    if not isinstance(rcond, (int, float)) or isinstance(rcond, bool) or not 0 <= rcond < 1:
        raise ValueError(f"rcond must be a number in [0, 1), got {rcond!r}")
    if on_singular not in SINGULAR_POLICIES:
        raise ValueError(f"unknown on_singular {on_singular!r}; valid names: {', '.join(SINGULAR_POLICIES)}")


class NeuralModel(HamidModel):
    """Base class of the neural baselines (torch, float64 by default).

    Parameters
    ----------
    hidden : tuple of int
        Hidden layer widths of each network.
    activation : str
        One of :data:`ACTIVATIONS` (``"tanh"``, ``"softplus"``, ...).
    max_steps : int
        Optimization steps (see :func:`hamid.models.neural.training.train`). Default 5000.
    lr : float
        Learning rate (default 3e-3).
    weight_decay : float
        L2 penalty (Adam) or decoupled decay (``optimizer="adamw"``).
    batch_size : int or None
        None: full batch.
    lr_schedule : {"cosine", "constant", "step", "exponential"}
        Default ``"cosine"``: the learning rate decays from ``lr`` to ``lr / 100`` over ``max_steps``.
    patience : int, None or "auto"
        Early stopping after this many evaluations without improvement of the validation loss; needs held-out
        data. ``"auto"`` (default): 100 evaluations when data are held out, else None.
    validation_fraction : float in [0, 1) or "auto"
        Held-out fraction; whole trajectories are held out when data are trajectories. ``"auto"`` (default):
        0.2 when the data have at least 5 trajectories (or 50 samples), else 0. The weights of the best
        evaluation (validation loss when data are held out, training loss otherwise) are restored.
    eval_every : int
        Steps between evaluations.
    optimizer : {"adam", "adamw", "sgd"}
    device : str
        Torch device, e.g. ``"cpu"`` or ``"cuda"``.
    dtype : {"float64", "float32"}
    seed : int
        Seeds initialization, the train/validation split and minibatches.
    verbose : bool
        Progress bar during ``fit``.

    Attributes
    ----------
    module_ : torch.nn.Module
    history_ : TrainingHistory
    n_features_in_ : int
        State dimension 2d.
    n_dof_ : int
        d.
    fit_time_ : float
        Seconds spent in ``fit``.
    validation_fraction_, patience_ : float, int or None
        The values used (``"auto"`` resolved).
    fit_summary_ : str
        One line: when and why training stopped, the best score and which weights were kept (also
        ``history_.stop_reason``; printed when ``verbose``).
    n_parameters_ : int
        Trainable parameters of the fitted module.
    """

    #: model-specific fitted attributes (plain JSON values) saved in the config besides the common ones
    _extra_fitted = ()

    #: ``simulate``'s integrator when ``method=None``
    _default_method = "rk4"

    def __init__(self, hidden=(200, 200), activation="tanh", max_steps=5000, lr=3e-3, weight_decay=0.0,
                 batch_size=None, lr_schedule="cosine", patience="auto", validation_fraction="auto", eval_every=10,
                 optimizer="adam", device="cpu", dtype="float64", seed=0, verbose=False):
        self.hidden = hidden
        self.activation = activation
        self.max_steps = max_steps
        self.lr = lr
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.lr_schedule = lr_schedule
        self.patience = patience
        self.validation_fraction = validation_fraction
        self.eval_every = eval_every
        self.optimizer = optimizer
        self.device = device
        self.dtype = dtype
        self.seed = seed
        self.verbose = verbose

    # ------------------------------------------------------------------------------------------ validation

    def _validate_params(self):
        """Check the common constructor arguments (called by ``fit``); subclasses extend it."""
        hidden = self.hidden
        if isinstance(hidden, (int, np.integer)):
            raise ValueError(f"hidden must be a sequence of positive ints such as (200, 200), got {hidden!r}")
        try:
            hidden = tuple(hidden)
        except TypeError:
            raise ValueError(f"hidden must be a sequence of positive ints, got {hidden!r}") from None
        if not all(_is_int(h) and h > 0 for h in hidden):
            raise ValueError(f"hidden must be a sequence of positive ints, got {self.hidden!r}")
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation {self.activation!r}; valid names: {', '.join(ACTIVATIONS)}")
        if not _is_int(self.max_steps) or self.max_steps < 0:
            raise ValueError(f"max_steps must be a non-negative integer, got {self.max_steps!r}")
        if not isinstance(self.lr, (int, float)) or not (self.lr > 0 and math.isfinite(self.lr)):
            raise ValueError(f"lr must be a positive finite number, got {self.lr!r}")
        if not isinstance(self.weight_decay, (int, float)) or not self.weight_decay >= 0:
            raise ValueError(f"weight_decay must be a number >= 0, got {self.weight_decay!r}")
        if self.batch_size is not None and (not _is_int(self.batch_size) or self.batch_size < 1):
            raise ValueError(f"batch_size must be None or a positive integer, got {self.batch_size!r}")
        if self.lr_schedule not in LR_SCHEDULES:
            raise ValueError(f"unknown lr_schedule {self.lr_schedule!r}; valid names: {', '.join(LR_SCHEDULES)}")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"unknown optimizer {self.optimizer!r}; valid names: {', '.join(OPTIMIZERS)}")
        if self.patience is not None and self.patience != "auto" and (not _is_int(self.patience)
                                                                       or self.patience < 1):
            raise ValueError(f"patience must be None, 'auto' or a positive integer, got {self.patience!r}")
        vf = self.validation_fraction
        if vf != "auto" and (not isinstance(vf, (int, float)) or isinstance(vf, bool) or not 0 <= vf < 1):
            raise ValueError(f"validation_fraction must be 'auto' or a number in [0, 1), got {vf!r}")
        if self.patience not in (None, "auto") and vf == 0:
            raise ValueError("patience (early stopping) needs validation_fraction > 0")
        if not _is_int(self.eval_every) or self.eval_every < 1:
            raise ValueError(f"eval_every must be a positive integer, got {self.eval_every!r}")
        if not _is_int(self.seed):
            raise ValueError(f"seed must be an integer, got {self.seed!r}")
        self._torch_dtype()
        self._torch_device()

    def _torch_dtype(self):
        if isinstance(self.dtype, torch.dtype) and self.dtype in DTYPES.values():
            return self.dtype
        if self.dtype not in DTYPES:
            raise ValueError(f"unknown dtype {self.dtype!r}; valid names: {', '.join(DTYPES)}")
        return DTYPES[self.dtype]

    def _torch_device(self):
        try:
            dev = torch.device(self.device)
        except (RuntimeError, TypeError) as exc:
            raise ValueError(f"invalid device {self.device!r}: {exc}") from None
        if dev.type == "cuda" and not torch.cuda.is_available():
            raise ValueError(f"device {self.device!r} requested but CUDA is not available")
        return dev

    def _seed_everything(self):
        """Seed torch's global RNG (network initialization) and return a seeded ``torch.Generator``."""
        torch.manual_seed(int(self.seed))
        return torch.Generator().manual_seed(int(self.seed))

    def _hidden(self):
        return tuple(int(h) for h in self.hidden)

    def _mlp(self, in_dim, out_dim, bias_out=True):
        """An MLP with this model's widths/activation, in its dtype and on its device."""
        net = make_mlp(in_dim, out_dim, self._hidden(), self.activation, bias_out=bias_out)
        return net.to(device=self._torch_device(), dtype=self._torch_dtype())

    # ----------------------------------------------------------------------------------------- conversion

    def _tensor(self, x, requires_grad=False):
        """numpy/array-like/tensor -> tensor in this model's dtype and device (a copy for numpy input)."""
        if not isinstance(x, torch.Tensor):
            x = np.asarray(x)
            if not x.flags.writeable:  # broadcast views: torch warns on read-only arrays
                x = x.copy()
        t = torch.as_tensor(x, dtype=self._torch_dtype(), device=self._torch_device())
        if requires_grad:
            t = t.detach().requires_grad_(True)
        return t

    def _check_state(self, z, name="z"):
        """Validate a batch of states: returns (array-like of shape (n, 2d), was_1d)."""
        self._check_fitted()
        shape = tuple(z.shape) if isinstance(z, torch.Tensor) else np.shape(z)
        if len(shape) == 1:
            if shape[0] != self.n_features_in_:
                raise ValueError(f"{name} must have shape (n, {self.n_features_in_}) or ({self.n_features_in_},),"
                                 f" got {shape}")
            return z[None, :], True
        if len(shape) != 2 or shape[1] != self.n_features_in_:
            raise ValueError(f"{name} must have shape (n, {self.n_features_in_}), got {shape}")
        if not isinstance(z, torch.Tensor):
            arr = np.asarray(z, dtype=np.float64)
            if not np.all(np.isfinite(arr)):
                raise ValueError(f"{name} contains NaN or inf")
            return arr, False
        return z, False

    def _apply(self, fn, z, name="z"):
        """Run ``fn(tensor)`` on numpy or torch input, returning the input's type (numpy: float64)."""
        z2, was_1d = self._check_state(z, name)
        if isinstance(z, torch.Tensor):
            out = fn(z2.to(dtype=self._torch_dtype(), device=self._torch_device()))
            return out[0] if was_1d else out
        with torch.enable_grad():
            out = fn(self._tensor(z2))
        out = out.detach().cpu().numpy().astype(np.float64)
        return out[0] if was_1d else out

    # -------------------------------------------------------------------------------------------- data

    def _validate(self, q, p, t=None, dq=None, dp=None):
        return validate_data(q, p, t=t, dq=dq, dp=dp)

    def _targets(self, data, what="dz/dt"):
        """States and derivative targets, estimating derivatives by finite differences when only t is given.

        Returns
        -------
        z, dz : ndarray, shape (n_traj, n_time, 2d) or (n_samples, 2d)
        """
        z = data.states()
        dz = data.derivatives()
        if dz is None:
            if data.t is None:
                raise DataError(f"{type(self).__name__} needs {what}: pass dq and dp, or trajectories with t "
                                "(derivatives are then estimated by finite differences)")
            dz = finite_difference_derivatives(z, data.t)
        return z, dz

    def _split(self, data):
        """Train/validation split: whole trajectories for trajectory data, samples otherwise.

        Returns
        -------
        train_idx, val_idx : ndarray of int
            Indices into the first axis (trajectories or samples); ``val_idx`` empty when
            ``validation_fraction == 0``.
        """
        n = data.q.shape[0]
        vf, patience = self._resolve_validation(n, data.is_trajectory)
        self.validation_fraction_, self.patience_ = vf, patience
        n_val = int(round(vf * n))
        if vf > 0 and n_val == 0:
            n_val = 1
        if n_val >= n:
            unit = "trajectories" if data.is_trajectory else "samples"
            raise DataError(f"validation_fraction={self.validation_fraction} leaves no training data "
                            f"({n} {unit})")
        perm = np.random.default_rng(int(self.seed)).permutation(n)
        return np.sort(perm[n_val:]), np.sort(perm[:n_val])

    def _resolve_validation(self, n, is_trajectory):
        """(validation_fraction, patience) with "auto" resolved for ``n`` trajectories or samples."""
        vf = self.validation_fraction
        if vf == "auto":
            enough = n >= (AUTO_VALIDATION_MIN_TRAJECTORIES if is_trajectory else AUTO_VALIDATION_MIN_SAMPLES)
            vf = AUTO_VALIDATION_FRACTION if enough else 0.0
        patience = self.patience
        if patience == "auto":
            patience = AUTO_PATIENCE if vf > 0 else None
        return float(vf), patience

    # ---------------------------------------------------------------------------------------------- fit

    def fit(self, q, p, t=None, dq=None, dp=None):
        """Fit the model to phase-space data.

        Parameters
        ----------
        q, p : array_like, shape (n_traj, n_time, d) or (n_samples, d)
        t : array_like, shape (n_time,), optional
            Sample times of trajectories.
        dq, dp : array_like, shape like ``q``, optional
            Time derivatives; estimated by finite differences along trajectories when omitted and ``t`` given
            (see each model for what it needs).

        Returns
        -------
        self
        """
        self._validate_params()
        data = self._validate(q, p, t=t, dq=dq, dp=dp)
        start = time.perf_counter()
        check_network_size(self._hidden(), 2 * data.n_dof, type(self).__name__)
        with self._private_rng():
            n_dof = data.n_dof
            module = self._build_module(n_dof)
            self.module_ = module
            try:
                train_idx, val_idx = self._split(data)
                history = self._fit_module(data, train_idx, val_idx)
            except BaseException:
                self._forget_fit()
                raise
        self._finish_fit(history, n_dof, 2 * n_dof, start)
        return self

    #: attributes a failed fit removes
    _fitted_names = ("module_", "n_features_in_", "n_dof_", "history_", "fit_time_", "fit_summary_",
                     "validation_fraction_", "patience_")

    def _forget_fit(self):
        for name in self._fitted_names + tuple(self._extra_fitted):
            self.__dict__.pop(name, None)

    def _finish_fit(self, history, n_dof, n_features, start):
        self.history_ = history
        self.n_dof_ = n_dof
        self.n_features_in_ = n_features
        self.fit_time_ = time.perf_counter() - start
        self.fit_summary_ = history.stop_reason

    def _private_rng(self):
        """Context in which torch's global RNG is seeded with ``seed``; the caller's RNG state is restored after.

        Network initializers draw from torch's global generator; forking it keeps ``fit`` from changing the
        random state of the user's program (numpy's global RNG is never used).
        """
        import contextlib

        @contextlib.contextmanager
        def ctx():
            dev = self._torch_device()
            devices = [dev.index if dev.index is not None else torch.cuda.current_device()] if dev.type == "cuda" \
                else []
            with torch.random.fork_rng(devices=devices):
                self._seed_everything()
                yield

        return ctx()

    @property
    def n_parameters_(self) -> int:
        """Number of trainable parameters of the fitted module."""
        self._check_fitted()
        return int(sum(p.numel() for p in self.module_.parameters() if p.requires_grad))

    def _train(self, loss_fn, n_train, val_loss_fn=None, desc=None, **overrides):
        """Run :func:`train` on ``self.module_`` with this model's settings."""
        kwargs = dict(val_loss_fn=val_loss_fn, max_steps=int(self.max_steps), lr=float(self.lr),
                      weight_decay=float(self.weight_decay), batch_size=self.batch_size,
                      lr_schedule=self.lr_schedule, patience=getattr(self, "patience_", None), seed=int(self.seed),
                      verbose=bool(self.verbose), desc=desc or type(self).__name__, optimizer=self.optimizer,
                      eval_every=int(self.eval_every))
        kwargs.update(overrides)
        return train(self.module_, loss_fn, n_train, **kwargs)

    def _fit_module(self, data, train_idx, val_idx):
        """Default: MSE between ``_field_torch(z)`` and dz/dt targets over samples."""
        z, dz = self._targets(data)
        d2 = z.shape[-1]
        z_tr = self._tensor(z[train_idx].reshape(-1, d2))
        dz_tr = self._tensor(dz[train_idx].reshape(-1, d2))

        def loss_fn(idx):
            return ((self._field_torch(z_tr[idx], create_graph=True) - dz_tr[idx]) ** 2).mean()

        val_fn = None
        if len(val_idx):
            z_va = self._tensor(z[val_idx].reshape(-1, d2))
            dz_va = self._tensor(dz[val_idx].reshape(-1, d2))

            def val_fn():
                return ((self._field_torch(z_va, create_graph=False) - dz_va) ** 2).mean().detach()

        return self._train(loss_fn, z_tr.shape[0], val_fn)

    # --------------------------------------------------------------------------------------- prediction

    def _field_torch(self, z, create_graph=False):  # pragma: no cover - abstract
        raise NotImplementedError

    def vector_field(self, z):
        """dz/dt of the learned model.

        Parameters
        ----------
        z : ndarray or torch.Tensor, shape (n, 2d) or (2d,)

        Returns
        -------
        Same type as ``z``, same shape. Numpy in -> float64 numpy out (no graph kept); torch in -> torch out,
        differentiable with respect to ``z`` and the weights.
        """
        if isinstance(z, torch.Tensor):
            return self._apply(lambda x: self._field_torch(x, create_graph=torch.is_grad_enabled()), z)
        return self._apply(lambda x: self._field_torch(x, create_graph=False), z)

    def __call__(self, z):
        """Alias of :meth:`vector_field`, so a fitted model can be handed to integrators as a field."""
        return self.vector_field(z)

    # --------------------------------------------------------------------------------------- simulation

    def simulate(self, z0, dt=None, n_steps=None, *, method=None, save_every=1):
        """Integrate the learned dynamics from ``z0`` with the project integrators.

        Models exposing ``hamiltonian_gradient`` go through :func:`hamid.integrators.integrate` (so symplectic
        methods such as leapfrog use ∇H directly); others through :func:`hamid.integrators.integrate_field`
        on :meth:`vector_field`.

        Parameters
        ----------
        z0 : ndarray, shape (n, D) or (D,)
        dt : float
            Step size (required).
        n_steps : int
        method : str or None
            An integrator name of :mod:`hamid.integrators` (e.g. ``"rk4"``, ``"leapfrog"``); None: the model's
            default (``"rk4"``).
        save_every : int
            Keep every ``save_every``-th state.

        Returns
        -------
        ndarray, shape (n, n_steps // save_every + 1, D), or (n_steps // save_every + 1, D) for 1-D ``z0``
        """
        self._check_fitted()
        from hamid import integrators

        dt, n_steps, save_every = check_rollout_args(dt, n_steps, save_every)
        method = self._default_method if method is None else method
        z0 = np.asarray(z0, dtype=np.float64)
        z0_2d, one = self._check_state(z0, "z0")
        if hasattr(self, "hamiltonian_gradient") and getattr(self, "_integrate_via_gradient", True):
            out = integrators.integrate(self, z0_2d, dt=dt, n_steps=n_steps, method=method, save_every=save_every)
        else:
            out = integrators.integrate_field(self.vector_field, z0_2d, dt=dt, n_steps=n_steps, method=method,
                                              save_every=save_every, separable=False)
        out = np.asarray(out)
        return out[0] if one else out

    # ------------------------------------------------------------------------------------- persistence

    def _to_document(self):
        """Constructor parameters, fitted metadata and the module's state dict (base64 arrays) as JSON values."""
        params = {}
        for k, v in self.get_params(deep=False).items():
            if isinstance(v, tuple):
                v = list(v)
            elif isinstance(v, torch.dtype):
                v = {v: n for n, v in DTYPES.items()}[v]
            params[k] = v
        fitted = {"n_features_in_": int(self.n_features_in_), "n_dof_": int(self.n_dof_),
                  "fit_time_": float(self.fit_time_),
                  "validation_fraction_": getattr(self, "validation_fraction_", None),
                  "patience_": getattr(self, "patience_", None),
                  "history_": self.history_.to_dict() if self.history_ is not None else None}
        for name in self._extra_fitted:
            fitted[name] = getattr(self, name)
        weights = {k: encode_array(v.detach().cpu().numpy()) for k, v in self.module_.state_dict().items()}
        return {"params": params, "fitted": fitted, "weights": weights}

    @classmethod
    def _from_document(cls, doc, device=None):
        """Rebuild a fitted model from :meth:`_to_document` output (``device`` overrides the saved one)."""
        try:
            params = {k: (tuple(v) if isinstance(v, list) else v) for k, v in doc["params"].items()}
            fitted, weights = doc["fitted"], doc["weights"]
        except (KeyError, TypeError, AttributeError) as exc:
            raise ModelFileError(f"malformed {cls.__name__} model file: missing {exc}") from None
        if device is not None:
            params["device"] = device
        unknown = set(params) - set(cls._get_param_names())
        if unknown:
            raise ModelFileError(f"{cls.__name__} file has unknown parameters: {', '.join(sorted(unknown))}")
        model = cls(**params)
        model._validate_params()
        # the whole file is checked before anything is allocated: keys, sizes, finite weights
        missing = [k for k in ("n_dof_", "n_features_in_", "fit_time_", *cls._extra_fitted)
                   if not isinstance(fitted, dict) or k not in fitted]
        if missing:
            raise ModelFileError(f"malformed {cls.__name__} model file: the 'fitted' section lacks "
                                 f"{', '.join(missing)}")
        if not isinstance(weights, dict):
            raise ModelFileError(f"malformed {cls.__name__} model file: 'weights' is not a mapping")
        from ... import limits

        n_dof = fitted["n_dof_"]
        if not _is_int(n_dof) or not 1 <= n_dof <= limits.MAX_N_DOF:
            raise ModelFileError(f"{cls.__name__} file: n_dof_ must be an integer in [1, {limits.MAX_N_DOF}], "
                                 f"got {n_dof!r}")
        try:
            check_network_size(model._hidden(), 2 * n_dof, f"the {cls.__name__} in the file")
        except limits.ResourceLimitError as exc:
            raise ModelFileError(str(exc)) from None
        arrays = {k: decode_array(v) for k, v in weights.items()}
        bad = [k for k, a in arrays.items() if a.dtype.kind in "fc" and not np.all(np.isfinite(a))]
        if bad:
            raise ModelFileError(f"{cls.__name__} file: weights {', '.join(bad)} contain NaN or inf values")
        for key in cls._extra_fitted:
            value = fitted[key]
            setattr(model, key, tuple(value) if isinstance(value, list) else value)
        with model._private_rng():
            module = model._build_module(int(fitted["n_dof_"]))
        state = {k: torch.from_numpy(a).to(model._torch_device()) for k, a in arrays.items()}
        try:
            module.load_state_dict(state)
        except RuntimeError as exc:
            raise ModelFileError(f"the weights in the file do not fit a {cls.__name__}: {exc}") from None
        model.module_ = module
        model.n_dof_ = int(fitted["n_dof_"])
        model.n_features_in_ = int(fitted["n_features_in_"])
        model.fit_time_ = float(fitted["fit_time_"])
        model.validation_fraction_ = fitted.get("validation_fraction_")
        model.patience_ = fitted.get("patience_")
        h = fitted.get("history_")
        model.history_ = TrainingHistory.from_dict(h) if h is not None else None
        model.fit_summary_ = model.history_.stop_reason if model.history_ is not None else ""
        return model

    def load(cls, path, device=None):
        """Rebuild a model saved by :meth:`save`; predictions round-trip exactly.

        Parameters
        ----------
        path : str or Path
            File written by :meth:`save` (JSON; the weights are base64-encoded arrays, nothing is unpickled).
        device : str, optional
            Override the saved ``device`` (e.g. load a GPU-trained model on ``"cpu"``).

        Raises
        ------
        hamid.models.base.ModelFileError
            Missing or malformed file, or a class that is not ``cls`` (or a subclass).
        """
        return HamidModel.load.__func__(cls, path, **({} if device is None else {"device": device}))

    load = classmethod(load)

    def _build_module(self, n_dof):  # pragma: no cover - abstract
        raise NotImplementedError


# --------------------------------------------------------------------------------- checked linear solves

#: what to do with singular or ill-conditioned matrices in :func:`solve_checked`
SINGULAR_POLICIES = ("raise", "warn", "nan", "regularize")


class SingularMatrixError(ValueError):
    """A batch of matrices to invert contained singular or ill-conditioned members.

    Attributes
    ----------
    n_bad : int
        How many matrices failed the check.
    n_total : int
        Batch size.
    indices : list of int
        Up to 10 offending batch indices.
    """

    def __init__(self, message, n_bad=0, n_total=0, indices=()):
        super().__init__(message)
        self.n_bad = n_bad
        self.n_total = n_total
        self.indices = list(indices)


def solve_checked(mats, rhs, rcond=1e-10, policy="raise", what="matrix", counts=None):
    """Solve ``mats[i] x[i] = rhs[i]`` for a batch, detecting singular/ill-conditioned matrices.

    A matrix is flagged when its singular values are not finite or ``s_min <= rcond * s_max``. Flagged members
    are never silently pseudo-inverted: ``policy="raise"`` raises :class:`SingularMatrixError` with the count,
    ``"warn"`` emits a RuntimeWarning with the count and solves those members by least squares
    (minimum-norm, i.e. a pseudo-inverse, announced), ``"nan"`` returns NaN for them, ``"regularize"``
    solves them by Tikhonov regularization, x = (AᵀA + λ²I)⁻¹ Aᵀb with λ = rcond · s_max (a damped solve whose
    norm is at most |b| / (2λ); differentiable), counted in ``counts`` rather than announced one by one.
    Matrices with non-finite entries give NaN rows under "regularize".

    Parameters
    ----------
    mats : torch.Tensor, shape (n, k, k)
    rhs : torch.Tensor, shape (n, k)
    rcond : float
    policy : {"raise", "warn", "nan"}
    what : str
        Name used in messages (e.g. "Hessian d²L/dq̇²").
    counts : dict, optional
        ``counts["flagged"]`` and ``counts["total"]`` are incremented by the number of flagged matrices and
        the batch size (the caller's running record, whatever the policy).

    Returns
    -------
    torch.Tensor, shape (n, k)
        Differentiable with respect to ``mats`` and ``rhs``.
    """
    import warnings

    if policy not in SINGULAR_POLICIES:
        raise ValueError(f"unknown singular-matrix policy {policy!r}; valid names: {', '.join(SINGULAR_POLICIES)}")
    with torch.no_grad():
        s = torch.linalg.svdvals(mats.detach())
        smax, smin = s[..., 0], s[..., -1]
        bad = ~torch.isfinite(s).all(dim=-1) | (smin <= rcond * smax)
    n_bad = int(bad.sum())
    if counts is not None:
        counts["flagged"] = counts.get("flagged", 0) + n_bad
        counts["total"] = counts.get("total", 0) + int(mats.shape[0])
    if n_bad == 0:
        return torch.linalg.solve(mats, rhs[..., None])[..., 0]
    n = mats.shape[0]
    idx = torch.nonzero(bad).flatten()[:10].tolist()
    msg = (f"{n_bad} of {n} {what} matrices are singular or ill-conditioned (s_min <= {rcond:g} * s_max, or not "
           f"finite); first indices {idx}")
    if policy == "raise":
        raise SingularMatrixError(msg, n_bad=n_bad, n_total=n, indices=idx)
    good = ~bad
    if policy == "regularize":
        finite = torch.isfinite(mats).all(dim=(-1, -2))
        m_safe = torch.where(finite[:, None, None], mats, torch.zeros_like(mats))
        eye = torch.eye(mats.shape[-1], dtype=mats.dtype, device=mats.device)
        lam2 = (rcond * torch.where(torch.isfinite(smax), smax, torch.ones_like(smax))) ** 2
        lam2 = torch.clamp(lam2, min=torch.finfo(mats.dtype).tiny)
        # well-conditioned members: plain solve on the matrix itself; flagged ones: the normal equations
        mt = m_safe.transpose(-1, -2)
        normal = mt @ m_safe + lam2[:, None, None] * eye
        a_eff = torch.where(good[:, None, None], m_safe, normal)
        b_eff = torch.where(good[:, None], rhs, (mt @ rhs[..., None])[..., 0])
        out = torch.linalg.solve(a_eff, b_eff[..., None])[..., 0]
        return torch.where(finite[:, None], out, torch.full_like(out, float("nan")))
    eye = torch.eye(mats.shape[-1], dtype=mats.dtype, device=mats.device)
    safe = torch.where(good[:, None, None], mats, eye)
    out = torch.linalg.solve(safe, rhs[..., None])[..., 0]
    if policy == "warn":
        warnings.warn(msg + "; solving those by least squares (pseudo-inverse)", RuntimeWarning, stacklevel=3)
        finite = torch.isfinite(mats).all(dim=(-1, -2))[:, None]
        m_bad = torch.where(finite[..., None], mats, torch.zeros_like(mats))
        alt = torch.linalg.pinv(m_bad, rtol=rcond) @ rhs[..., None]
        return torch.where(good[:, None], out, alt[..., 0])
    return torch.where(good[:, None], out, torch.full_like(out, float("nan")))
