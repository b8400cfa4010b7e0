"""SympNets (Jin, Zhang, Zhu, Tang, Karniadakis 2020): learned one-step maps that are exactly symplectic.

A SympNet is a composition of shears of phase space, each the exact time-h flow of a Hamiltonian that depends
on q only or on p only, hence each exactly symplectic (unit-triangular Jacobian in (q, p) blocks), hence so is
their composition, for every value of the parameters:

- linear shears ``p ← p + h (S + Sᵀ) q`` ("low") and ``q ← q + h (S + Sᵀ) p`` ("up"), a few in a row
  followed by a translation ``z ← z + h b`` (LA-SympNet's *linear module*);
- activation shears ``p ← p + h a ⊙ σ(q)`` ("low") and ``q ← q + h a ⊙ σ(p)`` ("up") (LA-SympNet);
- gradient shears ``p ← p + h Kᵀ(a ⊙ σ(K q + b))`` ("low") and ``q ← q + h Kᵀ(a ⊙ σ(K p + b))`` ("up")
  (G-SympNet), the gradient of Σ_i a_i ∫σ(K_i·q + b_i).

hamid orders the state z = (q, p); the reference code of Jin et al. orders it (p, q): their "up" module
(p updated from q) is hamid's "low" one. ``h`` is the training step ``dt``: with small initial weights the map
starts near the identity whatever the step, and a model fitted on step ``dt`` only steps by ``dt``.

This module imports torch; ``import hamid`` does not import it.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from hamid.io import DataError, validate_data

from hamid.models.base import check_rollout_args

from ._base import ACTIVATIONS, NeuralModel

__all__ = ["LASympNet", "GSympNet", "LASympNetModule", "GSympNetModule", "MapModelMixin"]


def get_activation(name):
    """A fresh activation module from :data:`hamid.models.neural.ACTIVATIONS`; the error lists valid names."""
    if not isinstance(name, str) or name not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; valid names: {', '.join(ACTIVATIONS)}")
    return ACTIVATIONS[name]()


# --------------------------------------------------------------------------------------------- torch modules

class _Shear(nn.Module):
    """Base of the shears: ``up`` updates q from p, otherwise p from q. ``forward(q, p, h) -> (q, p)``."""

    def __init__(self, up):
        super().__init__()
        self.up = bool(up)

    def increment(self, x, h):  # pragma: no cover - abstract
        raise NotImplementedError

    def forward(self, q, p, h):
        if self.up:
            return q + self.increment(p, h), p
        return q, p + self.increment(q, h)


class LinearShear(_Shear):
    """``x_other ← x_other + h (S + Sᵀ) x`` with S of shape (d, d)."""

    def __init__(self, d, up, init_scale, generator, dtype):
        super().__init__(up)
        self.S = nn.Parameter(torch.randn(d, d, generator=generator, dtype=dtype) * init_scale)

    def increment(self, x, h):
        return h * x @ (self.S + self.S.T)  # (S + Sᵀ) is symmetric: row-vector form equals (S + Sᵀ) x


class ActivationShear(_Shear):
    """``x_other ← x_other + h a ⊙ σ(x)`` with a of shape (d,)."""

    def __init__(self, d, up, activation, init_scale, generator, dtype):
        super().__init__(up)
        self.act = get_activation(activation)
        self.a = nn.Parameter(torch.randn(d, generator=generator, dtype=dtype) * init_scale)

    def increment(self, x, h):
        return h * self.a * self.act(x)


class GradientShear(_Shear):
    """``x_other ← x_other + h Kᵀ(a ⊙ σ(K x + b))`` with K (width, d), a and b (width,)."""

    def __init__(self, d, width, up, activation, init_scale, generator, dtype):
        super().__init__(up)
        self.act = get_activation(activation)
        # K of unit scale so that σ(K x + b) varies over the data from the start; a small, so that the map
        # starts close to the identity
        self.K = nn.Parameter(torch.randn(width, d, generator=generator, dtype=dtype) / np.sqrt(d))
        self.a = nn.Parameter(torch.randn(width, generator=generator, dtype=dtype) * init_scale)
        self.b = nn.Parameter(torch.zeros(width, dtype=dtype))

    def increment(self, x, h):
        return h * (self.a * self.act(x @ self.K.T + self.b)) @ self.K


class Translation(nn.Module):
    """``z ← z + h b``: identity Jacobian, symplectic."""

    def __init__(self, d, dtype):
        super().__init__()
        self.bq = nn.Parameter(torch.zeros(d, dtype=dtype))
        self.bp = nn.Parameter(torch.zeros(d, dtype=dtype))

    def forward(self, q, p, h):
        return q + h * self.bq, p + h * self.bp


class _SympNetModule(nn.Module):
    """A composition of shears acting on z = (q, p) of shape (n, 2d); ``forward(z, h)``."""

    def __init__(self, d):
        super().__init__()
        self.d = int(d)
        self.shears = nn.ModuleList()

    def forward(self, z, h):
        q, p = z[..., :self.d], z[..., self.d:]
        for shear in self.shears:
            q, p = shear(q, p, h)
        return torch.cat([q, p], dim=-1)


class LASympNetModule(_SympNetModule):
    """LA-SympNet: ``layers - 1`` pairs (linear module, activation shear) and a final linear module.

    Each linear module is ``sublayers`` linear shears alternating low/up (the first updates p), then a
    translation; the activation shears alternate low/up (the first updates p).
    """

    def __init__(self, d, layers=3, sublayers=2, activation="sigmoid", init_scale=0.01, seed=0,
                 dtype=torch.float64):
        super().__init__(d)
        get_activation(activation)
        gen = torch.Generator().manual_seed(int(seed))

        def linear_module():
            for j in range(sublayers):
                self.shears.append(LinearShear(d, up=j % 2 == 1, init_scale=init_scale, generator=gen, dtype=dtype))
            self.shears.append(Translation(d, dtype))

        for i in range(layers - 1):
            linear_module()
            self.shears.append(ActivationShear(d, up=i % 2 == 1, activation=activation, init_scale=init_scale,
                                               generator=gen, dtype=dtype))
        linear_module()


class GSympNetModule(_SympNetModule):
    """G-SympNet: ``layers`` gradient shears of width ``width`` alternating low/up (the first updates p)."""

    def __init__(self, d, layers=3, width=20, activation="sigmoid", init_scale=0.01, seed=0, dtype=torch.float64):
        super().__init__(d)
        get_activation(activation)
        gen = torch.Generator().manual_seed(int(seed))
        for i in range(layers):
            self.shears.append(GradientShear(d, width, up=i % 2 == 1, activation=activation, init_scale=init_scale,
                                             generator=gen, dtype=dtype))


# ---------------------------------------------------------------------------------------------- estimators

def uniform_step(t, name="t"):
    """The step of uniformly spaced times ``t`` (relative tolerance 1e-6), else a :class:`DataError`."""
    t = np.asarray(t, dtype=np.float64)
    if t.ndim != 1 or t.shape[0] < 2:
        raise DataError(f"map-based models train on consecutive pairs: {name} needs at least 2 time points, "
                        f"got shape {t.shape}")
    steps = np.diff(t)
    dt = (t[-1] - t[0]) / (t.shape[0] - 1)
    if not np.allclose(steps, dt, rtol=1e-6, atol=0.0):
        raise DataError(f"map-based models learn one step of fixed size: {name} must be uniformly spaced, got "
                        f"steps from {steps.min():.6g} to {steps.max():.6g}")
    return float(dt)


class MapModelMixin:
    """Shared behaviour of the learned one-step maps (SympNets, LocSympNets).

    A fitted map steps by exactly the training step ``dt_``: :meth:`step_map` applies it once,
    :meth:`simulate` repeatedly. There is no vector field and no energy.
    """

    _extra_fitted = ("dt_",)

    @property
    def vector_field(self):
        raise AttributeError(f"{type(self).__name__} is a map-based model: it learns one step of size dt_, not "
                             "a vector field; use step_map(z) or simulate(z0, dt_, n_steps)")

    def _state_dim(self):
        return int(self.n_features_in_)

    def _pair_loss_fns(self, z, train_idx, val_idx, dt):
        """Losses on consecutive pairs (z_n, z_{n+1}) of the training and validation trajectories.

        ``z`` has shape (n_traj, n_time, D); the training samples are all pairs of the training trajectories.
        """
        D = z.shape[-1]
        x_tr = self._tensor(z[train_idx, :-1].reshape(-1, D))
        y_tr = self._tensor(z[train_idx, 1:].reshape(-1, D))

        def loss_fn(idx):
            return ((self.module_(x_tr[idx], dt) - y_tr[idx]) ** 2).mean()

        val_fn = None
        if len(val_idx):
            x_va = self._tensor(z[val_idx, :-1].reshape(-1, D))
            y_va = self._tensor(z[val_idx, 1:].reshape(-1, D))

            def val_fn():
                with torch.no_grad():
                    return ((self.module_(x_va, dt) - y_va) ** 2).mean()

        return loss_fn, val_fn, x_tr.shape[0]

    def _check_map_state(self, z, name):
        self._check_fitted()
        D = self._state_dim()
        shape = tuple(z.shape) if isinstance(z, torch.Tensor) else np.shape(z)
        if len(shape) not in (1, 2) or shape[-1] != D:
            raise ValueError(f"{name} must have shape (n, {D}) or ({D},), got {shape}")
        if not isinstance(z, torch.Tensor):
            z = np.asarray(z, dtype=np.float64)
            if not np.all(np.isfinite(z)):
                raise ValueError(f"{name} contains NaN or inf")
        return z, len(shape) == 1

    def step_map(self, z):
        """Apply the learned map once: z_n -> z_{n+1} with step ``dt_``.

        Parameters
        ----------
        z : ndarray or torch.Tensor, shape (n, D) or (D,)
            States (D = 2d, ordered (q, p), for SympNets).

        Returns
        -------
        Same type and shape as ``z``. Torch in -> torch out, differentiable in ``z`` and the weights;
        numpy in -> float64 numpy out.
        """
        z, one = self._check_map_state(z, "z")
        if isinstance(z, torch.Tensor):
            x = z.to(dtype=self._torch_dtype(), device=self._torch_device())
            out = self.module_(x[None] if one else x, self.dt_)
            return out[0] if one else out
        with torch.no_grad():
            out = self.module_(self._tensor(z[None] if one else z), self.dt_).cpu().numpy().astype(np.float64)
        return out[0] if one else out

    #: ``simulate`` methods a map model accepts (None is the same: its own learned map)
    map_methods = ("map",)

    def simulate(self, z0, dt=None, n_steps=None, *, method=None, save_every=1):
        """Iterate the learned map from ``z0``.

        Parameters
        ----------
        z0 : ndarray, shape (n, D) or (D,)
        dt : float, optional
            None or the training step ``dt_`` (relative tolerance 1e-9): the map is one step of that size;
            any other value raises ``ValueError``.
        n_steps : int
        method : {None, "map"}
            A map-based model steps its own learned map; any integrator name raises ``ValueError``.
        save_every : int

        Returns
        -------
        ndarray, shape (n, n_steps // save_every + 1, D), or (n_steps // save_every + 1, D) for 1-D ``z0``
        """
        self._check_fitted()
        if method is not None and method not in self.map_methods:
            raise ValueError(f"{type(self).__name__} is a learned one-step map and steps only its own map: "
                             f"method must be None or 'map', got {method!r}")
        dt, n_steps, save_every = check_rollout_args(dt, n_steps, save_every, need_dt=False)
        if dt is not None and not np.isclose(dt, self.dt_, rtol=1e-9, atol=0.0):
            raise ValueError(f"{type(self).__name__} learned one step of dt_ = {self.dt_!r}; it cannot step by "
                             f"dt = {dt!r} (pass dt=None or dt_, or refit on data sampled at that step)")
        z0, one = self._check_map_state(np.asarray(z0, dtype=np.float64), "z0")
        z = self._tensor(z0[None] if one else z0)
        out = [z]
        with torch.no_grad():
            for i in range(1, n_steps + 1):
                z = self.module_(z, self.dt_)
                if i % save_every == 0:
                    out.append(z)
        traj = torch.stack(out, dim=1).cpu().numpy().astype(np.float64)
        return traj[0] if one else traj


class _SympNetBase(MapModelMixin, NeuralModel):
    """fit/validation shared by the two SympNets (data: trajectories (n_traj, n_time, d) with uniform t)."""

    def _validate(self, q, p, t=None, dq=None, dp=None):
        data = validate_data(q, p, t=t, dq=dq, dp=dp)
        if not data.is_trajectory or data.t is None:
            raise DataError(f"{type(self).__name__} learns a one-step map from consecutive states: pass "
                            "trajectories q, p of shape (n_traj, n_time, d) with uniformly spaced times t")
        uniform_step(data.t)
        return data

    def _fit_module(self, data, train_idx, val_idx):
        dt = uniform_step(data.t)
        self.dt_ = dt
        loss_fn, val_fn, n = self._pair_loss_fns(data.states(), train_idx, val_idx, dt)
        return self._train(loss_fn, n, val_fn)

    def _validate_params(self):
        super()._validate_params()
        for name in self._int_params:
            v = getattr(self, name)
            if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < 1:
                raise ValueError(f"{name} must be a positive integer, got {v!r}")
        if not isinstance(self.init_scale, (int, float)) or not self.init_scale > 0:
            raise ValueError(f"init_scale must be a positive number, got {self.init_scale!r}")


class LASympNet(_SympNetBase):
    """LA-SympNet: linear modules alternating with activation shears; an exactly symplectic one-step map.

    Parameters
    ----------
    layers : int
        Number of linear modules; ``layers - 1`` activation shears sit between them.
    sublayers : int
        Linear shears per linear module (alternately updating p and q), each followed by a translation.
    activation : str
        σ of the activation shears (default ``"sigmoid"``, as in Jin et al.).
    init_scale : float
        Standard deviation of the initial S and a (biases start at 0): the map starts near the identity.
    max_steps : int
        Default 20000 (the maps are small and cheap; 5000 steps left the LA-SympNet's rollouts on the pendulum
        within 10 % for only 1.2 s, 20000 for the whole 10 s tested: docs/neural.md).
    lr, weight_decay, batch_size, lr_schedule, patience, validation_fraction, eval_every, optimizer, device, dtype,
    seed, verbose
        See :class:`hamid.models.neural.NeuralModel`.

    Attributes
    ----------
    dt_ : float
        The training step; the map steps by exactly this.
    module_ : LASympNetModule

    Notes
    -----
    ``fit(q, p, t)`` takes trajectories (n_traj, n_time, d) with uniformly spaced ``t`` and trains on all
    consecutive pairs (z_n, z_{n+1}) by MSE; ``dq, dp`` are accepted and ignored.

    Examples
    --------
    >>> import numpy as np
    >>> t = np.linspace(0, 3, 30)
    >>> r = np.linspace(0.3, 1.0, 8)[:, None, None]
    >>> q, p = r * np.sin(2 * t)[None, :, None], r * np.cos(2 * t)[None, :, None]
    >>> model = LASympNet(max_steps=50).fit(q, p, t)
    >>> model.simulate(np.array([0.0, 1.0]), model.dt_, 10).shape
    (11, 2)
    """

    _int_params = ("layers", "sublayers")

    def __init__(self, layers=3, sublayers=2, activation="sigmoid", init_scale=0.01, max_steps=20000, lr=3e-3,
                 weight_decay=0.0, batch_size=None, lr_schedule="cosine", patience="auto", validation_fraction="auto",
                 eval_every=10, optimizer="adam", device="cpu", dtype="float64", seed=0, verbose=False):
        super().__init__(hidden=(), activation=activation, max_steps=max_steps, lr=lr, weight_decay=weight_decay,
                         batch_size=batch_size, lr_schedule=lr_schedule, patience=patience,
                         validation_fraction=validation_fraction, eval_every=eval_every, optimizer=optimizer,
                         device=device, dtype=dtype, seed=seed, verbose=verbose)
        self.layers = layers
        self.sublayers = sublayers
        self.init_scale = init_scale

    def _build_module(self, n_dof):
        return LASympNetModule(n_dof, layers=int(self.layers), sublayers=int(self.sublayers),
                               activation=self.activation, init_scale=float(self.init_scale), seed=int(self.seed),
                               dtype=self._torch_dtype()).to(self._torch_device())


class GSympNet(_SympNetBase):
    """G-SympNet: gradient shears alternating low/up; an exactly symplectic one-step map.

    Parameters
    ----------
    layers : int
        Number of gradient shears (the first updates p from q, the next q from p, ...).
    width : int
        Width m of each shear: K ∈ R^{m×d}, a, b ∈ R^m.
    activation : str
        σ (default ``"sigmoid"``, as in Jin et al.).
    init_scale : float
        Standard deviation of the initial a (K starts at unit scale, b at 0): the map starts near the identity.
    max_steps : int
        Default 20000 (the maps are small and cheap; 5000 steps left the LA-SympNet's rollouts on the pendulum
        within 10 % for only 1.2 s, 20000 for the whole 10 s tested: docs/neural.md).
    lr, weight_decay, batch_size, lr_schedule, patience, validation_fraction, eval_every, optimizer, device, dtype,
    seed, verbose
        See :class:`hamid.models.neural.NeuralModel`.

    Attributes
    ----------
    dt_ : float
        The training step; the map steps by exactly this.
    module_ : GSympNetModule

    Notes
    -----
    Same data contract as :class:`LASympNet`.

    Examples
    --------
    >>> import numpy as np
    >>> t = np.linspace(0, 3, 30)
    >>> r = np.linspace(0.3, 1.0, 8)[:, None, None]
    >>> q, p = r * np.sin(2 * t)[None, :, None], r * np.cos(2 * t)[None, :, None]
    >>> model = GSympNet(max_steps=50).fit(q, p, t)
    >>> model.step_map(np.array([[0.0, 1.0]])).shape
    (1, 2)
    """

    _int_params = ("layers", "width")

    def __init__(self, layers=4, width=20, activation="sigmoid", init_scale=0.01, max_steps=20000, lr=3e-3,
                 weight_decay=0.0, batch_size=None, lr_schedule="cosine", patience="auto", validation_fraction="auto",
                 eval_every=10, optimizer="adam", device="cpu", dtype="float64", seed=0, verbose=False):
        super().__init__(hidden=(), activation=activation, max_steps=max_steps, lr=lr, weight_decay=weight_decay,
                         batch_size=batch_size, lr_schedule=lr_schedule, patience=patience,
                         validation_fraction=validation_fraction, eval_every=eval_every, optimizer=optimizer,
                         device=device, dtype=dtype, seed=seed, verbose=verbose)
        self.layers = layers
        self.width = width
        self.init_scale = init_scale

    def _build_module(self, n_dof):
        return GSympNetModule(n_dof, layers=int(self.layers), width=int(self.width), activation=self.activation,
                              init_scale=float(self.init_scale), seed=int(self.seed),
                              dtype=self._torch_dtype()).to(self._torch_device())
