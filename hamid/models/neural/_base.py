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

import json
import math
import time
from pathlib import Path

import numpy as np
import torch

from hamid.io import DataError, atomic_write, validate_data
from hamid.models.base import HamidModel

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

#: class name -> class, filled by ``NeuralModel.__init_subclass__``; used by ``load`` (no import by path)
_REGISTRY: dict = {}

_FORMAT = "hamid-neural-model"
_FORMAT_VERSION = 1
_CONFIG_FILE = "config.json"
_WEIGHTS_FILE = "weights.pt"


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
        Optimization steps (see :func:`hamid.models.neural.training.train`).
    lr : float
        Learning rate.
    weight_decay : float
        L2 penalty (Adam) or decoupled decay (``optimizer="adamw"``).
    batch_size : int or None
        None: full batch.
    lr_schedule : {"constant", "cosine", "step", "exponential"}
    patience : int or None
        Early stopping after this many evaluations without improvement; needs ``validation_fraction > 0``.
    validation_fraction : float in [0, 1)
        Held-out fraction; whole trajectories are held out when data are trajectories.
    eval_every : int
        Steps between validation evaluations.
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
    """

    #: model-specific fitted attributes (plain JSON values) saved in the config besides the common ones
    _extra_fitted = ()

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        _REGISTRY[cls.__name__] = cls

    def __init__(self, hidden=(200, 200), activation="tanh", max_steps=2000, lr=1e-3, weight_decay=0.0,
                 batch_size=None, lr_schedule="constant", patience=None, validation_fraction=0.0, eval_every=10,
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
        if self.patience is not None and (not _is_int(self.patience) or self.patience < 1):
            raise ValueError(f"patience must be None or a positive integer, got {self.patience!r}")
        vf = self.validation_fraction
        if not isinstance(vf, (int, float)) or isinstance(vf, bool) or not 0 <= vf < 1:
            raise ValueError(f"validation_fraction must be in [0, 1), got {vf!r}")
        if self.patience is not None and vf == 0:
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
        t = torch.as_tensor(np.asarray(x) if not isinstance(x, torch.Tensor) else x,
                            dtype=self._torch_dtype(), device=self._torch_device())
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
        n_val = int(round(self.validation_fraction * n))
        if self.validation_fraction > 0 and n_val == 0:
            n_val = 1
        if n_val >= n:
            unit = "trajectories" if data.is_trajectory else "samples"
            raise DataError(f"validation_fraction={self.validation_fraction} leaves no training data "
                            f"({n} {unit})")
        perm = np.random.default_rng(int(self.seed)).permutation(n)
        return np.sort(perm[n_val:]), np.sort(perm[:n_val])

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
        self._seed_everything()
        n_dof = data.n_dof
        module = self._build_module(n_dof)
        self.module_ = module
        train_idx, val_idx = self._split(data)
        try:
            history = self._fit_module(data, train_idx, val_idx)
        except BaseException:
            for name in ("module_", "n_features_in_", "n_dof_", "history_", "fit_time_"):
                self.__dict__.pop(name, None)
            raise
        self.history_ = history
        self.n_dof_ = n_dof
        self.n_features_in_ = 2 * n_dof
        self.fit_time_ = time.perf_counter() - start
        return self

    def _train(self, loss_fn, n_train, val_loss_fn=None, desc=None, **overrides):
        """Run :func:`train` on ``self.module_`` with this model's settings."""
        kwargs = dict(val_loss_fn=val_loss_fn, max_steps=int(self.max_steps), lr=float(self.lr),
                      weight_decay=float(self.weight_decay), batch_size=self.batch_size,
                      lr_schedule=self.lr_schedule, patience=self.patience, seed=int(self.seed),
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

    def n_parameters(self) -> int:
        """Number of trainable parameters of the fitted module."""
        self._check_fitted()
        return int(sum(p.numel() for p in self.module_.parameters() if p.requires_grad))

    # --------------------------------------------------------------------------------------- simulation

    def simulate(self, z0, dt, n_steps, method="rk4", save_every=1):
        """Integrate the learned dynamics from ``z0`` with the project integrators.

        Models exposing ``hamiltonian_gradient`` go through :func:`hamid.integrators.integrate` (so symplectic
        methods such as leapfrog use ∇H directly); others through :func:`hamid.integrators.integrate_field`
        on :meth:`vector_field`.

        Parameters
        ----------
        z0 : ndarray, shape (n, 2d) or (2d,)
        dt : float
        n_steps : int
        method : str
            An integrator name of :mod:`hamid.integrators` (e.g. ``"rk4"``, ``"leapfrog"``).
        save_every : int

        Returns
        -------
        ndarray, shape (n, n_steps // save_every + 1, 2d) (or without the leading axis for 1-D ``z0``)
        """
        self._check_fitted()
        from hamid import integrators

        z0 = np.asarray(z0, dtype=np.float64)
        one = z0.ndim == 1
        z0_2d, _ = self._check_state(z0, "z0")
        if hasattr(self, "hamiltonian_gradient") and getattr(self, "_integrate_via_gradient", True):
            out = integrators.integrate(self, z0_2d, dt=dt, n_steps=n_steps, method=method, save_every=save_every)
        else:
            out = integrators.integrate_field(self.vector_field, z0_2d, dt=dt, n_steps=n_steps, method=method,
                                              save_every=save_every, separable=False)
        out = np.asarray(out)
        return out[0] if one else out

    # ------------------------------------------------------------------------------------- persistence

    def _config(self):
        params = {}
        for k, v in self.get_params(deep=False).items():
            if isinstance(v, tuple):
                v = list(v)
            elif isinstance(v, torch.dtype):
                v = {v: n for n, v in DTYPES.items()}[v]
            params[k] = v
        fitted = {"n_features_in_": int(self.n_features_in_), "n_dof_": int(self.n_dof_),
                  "fit_time_": float(self.fit_time_),
                  "history_": self.history_.to_dict() if self.history_ is not None else None}
        for name in self._extra_fitted:
            fitted[name] = getattr(self, name)
        return {"format": _FORMAT, "format_version": _FORMAT_VERSION, "class": type(self).__name__,
                "params": params, "fitted": fitted}

    def save(self, path):
        """Save the fitted model into the directory ``path`` (created if missing; its parent must exist).

        Writes ``config.json`` (class name, constructor parameters, fitted metadata) and ``weights.pt`` (the
        module's state dict only, via ``torch.save``), each atomically.

        Returns
        -------
        pathlib.Path
            The directory.
        """
        self._check_fitted()
        path = Path(path)
        if path.exists() and not path.is_dir():
            raise ValueError(f"cannot save into {path}: it exists and is not a directory")
        if not path.parent.exists():
            raise ValueError(f"cannot save into {path}: parent directory {path.parent} does not exist")
        path.mkdir(exist_ok=True)
        config = json.dumps(self._config(), indent=2)
        state = {k: v.detach().cpu() for k, v in self.module_.state_dict().items()}
        atomic_write(path / _WEIGHTS_FILE, lambda fh: torch.save(state, fh))
        atomic_write(path / _CONFIG_FILE, lambda fh: fh.write(config.encode()))
        return path

    @classmethod
    def load(cls, path, device=None):
        """Rebuild a model saved by :meth:`save`; predictions round-trip exactly.

        Parameters
        ----------
        path : str or Path
            Directory written by :meth:`save`.
        device : str, optional
            Override the saved ``device`` (e.g. load a GPU-trained model on ``"cpu"``).

        Raises
        ------
        ValueError
            Missing files, a config of another format, or a class that does not match ``cls``.
        """
        path = Path(path)
        cfg_file, w_file = path / _CONFIG_FILE, path / _WEIGHTS_FILE
        for f in (cfg_file, w_file):
            if not f.exists():
                raise ValueError(f"cannot load a model from {path}: {f.name} is missing")
        try:
            config = json.loads(cfg_file.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise ValueError(f"cannot read {cfg_file}: {exc}") from None
        if not isinstance(config, dict) or config.get("format") != _FORMAT:
            raise ValueError(f"{cfg_file} is not a hamid neural model config")
        if config.get("format_version", 0) > _FORMAT_VERSION:
            raise ValueError(f"{cfg_file} has format version {config.get('format_version')}; this hamid reads "
                             f"up to {_FORMAT_VERSION}")
        name = config.get("class")
        if name not in _REGISTRY:
            import hamid.models.neural  # noqa: F401  (registers every model class shipped with hamid)
        if name not in _REGISTRY:
            raise ValueError(f"{cfg_file} names unknown model class {name!r}; known: {', '.join(sorted(_REGISTRY))}")
        klass = _REGISTRY[name]
        if not issubclass(klass, cls):
            raise ValueError(f"{cfg_file} holds a {name}, not a {cls.__name__}")
        params = {k: (tuple(v) if isinstance(v, list) else v) for k, v in config["params"].items()}
        if device is not None:
            params["device"] = device
        model = klass(**params)
        model._validate_params()
        fitted = config["fitted"]
        for key in klass._extra_fitted:
            value = fitted[key]
            setattr(model, key, tuple(value) if isinstance(value, list) else value)
        torch.manual_seed(int(model.seed))
        module = model._build_module(int(fitted["n_dof_"]))
        state = torch.load(w_file, map_location=model._torch_device(), weights_only=True)
        module.load_state_dict(state)
        model.module_ = module
        model.n_dof_ = int(fitted["n_dof_"])
        model.n_features_in_ = int(fitted["n_features_in_"])
        model.fit_time_ = float(fitted["fit_time_"])
        h = fitted.get("history_")
        model.history_ = TrainingHistory.from_dict(h) if h is not None else None
        return model

    def _build_module(self, n_dof):  # pragma: no cover - abstract
        raise NotImplementedError


# --------------------------------------------------------------------------------- checked linear solves

#: what to do with singular or ill-conditioned matrices in :func:`solve_checked`
SINGULAR_POLICIES = ("raise", "warn", "nan")


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


def solve_checked(mats, rhs, rcond=1e-10, policy="raise", what="matrix"):
    """Solve ``mats[i] x[i] = rhs[i]`` for a batch, detecting singular/ill-conditioned matrices.

    A matrix is flagged when its singular values are not finite or ``s_min <= rcond * s_max``. Flagged members
    are never silently pseudo-inverted: ``policy="raise"`` raises :class:`SingularMatrixError` with the count,
    ``"warn"`` emits a RuntimeWarning with the count and solves those members by least squares
    (minimum-norm, i.e. a pseudo-inverse, announced), ``"nan"`` returns NaN for them.

    Parameters
    ----------
    mats : torch.Tensor, shape (n, k, k)
    rhs : torch.Tensor, shape (n, k)
    rcond : float
    policy : {"raise", "warn", "nan"}
    what : str
        Name used in messages (e.g. "Hessian d²L/dq̇²").

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
    if n_bad == 0:
        return torch.linalg.solve(mats, rhs[..., None])[..., 0]
    n = mats.shape[0]
    idx = torch.nonzero(bad).flatten()[:10].tolist()
    msg = (f"{n_bad} of {n} {what} matrices are singular or ill-conditioned (s_min <= {rcond:g} * s_max, or not "
           f"finite); first indices {idx}")
    if policy == "raise":
        raise SingularMatrixError(msg, n_bad=n_bad, n_total=n, indices=idx)
    good = ~bad
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
