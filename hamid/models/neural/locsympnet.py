"""LocSympNets (Bajārs 2021, seed 002): volume-preserving one-step maps from locally-symplectic modules.

For a state y of any dimension D ≥ 2 (odd included: the free rigid body has D = 3), a *locally-symplectic*
module updates one component of y from a gradient that does not depend on that component (paper eqs. 26–27):

- Up, pair (y_k, y_{k+1}):  ``y_k ← y_k + h Ŵ^kᵀ diag(w) σ(W ŷ^k + b)``,
- Low, pair (y_k, y_{k+1}): ``y_{k+1} ← y_{k+1} − h Ŵ^kᵀ diag(w) σ(W ŷ^{k+1} + b)``,

where ŷ^j is y with component j removed (length D − 1), W ∈ R^{m×(D−1)}, w, b ∈ R^m, and Ŵ^k is column k of
W, the column that multiplies y_{k+1} in ŷ^k (Up) and y_k in ŷ^{k+1} (Low). Each module is the symplectic-Euler
flow of a Hamiltonian in the pair (y_k, y_{k+1}) that leaves the other components fixed; its Jacobian is the
identity plus one off-diagonal row, so det = 1 exactly. ``V_k = Low_k ∘ Up_k`` (own parameters for each),
one sweep is ``V_1 ∘ V_2 ∘ … ∘ V_{D−1}`` (V_{D−1} applied first, as eq. 31 composes), and the network repeats
the sweep K times (2 (D − 1) K modules). For D = 2 it is a G-SympNet.

The symmetric variant (SymLocSympNets) belongs to a later version of this work; the seed document (v1 of the
paper) does not describe it, so hamid does not implement it.

This module imports torch; ``import hamid`` does not import it.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from hamid.io import DataError

from ._base import NeuralModel
from .sympnet import MapModelMixin, get_activation, uniform_step

__all__ = ["LocSympNet", "LocSympNetModule"]


class _LocShear(nn.Module):
    """One locally-symplectic module acting on component ``target`` of y, for the pair (k, k + 1)."""

    def __init__(self, D, k, up, width, activation, init_scale, generator, dtype):
        super().__init__()
        self.D, self.k, self.up = int(D), int(k), bool(up)
        self.act = get_activation(activation)
        self.target = k if up else k + 1
        keep = [i for i in range(D) if i != self.target]
        self.register_buffer("keep", torch.tensor(keep, dtype=torch.long), persistent=False)
        # W of unit scale (σ varies over the data from the start), w small (the map starts near the identity)
        self.W = nn.Parameter(torch.randn(width, D - 1, generator=generator, dtype=dtype) / np.sqrt(D - 1))
        self.w = nn.Parameter(torch.randn(width, generator=generator, dtype=dtype) * init_scale)
        self.b = nn.Parameter(torch.zeros(width, dtype=dtype))

    def forward(self, y, h):
        y_hat = y.index_select(-1, self.keep)  # (n, D - 1): y without the updated component
        s = (self.w * self.act(y_hat @ self.W.T + self.b)) @ self.W[:, self.k]  # (n,)
        sign = 1.0 if self.up else -1.0
        new = y[..., self.target] + sign * h * s
        return torch.cat([y[..., :self.target], new[..., None], y[..., self.target + 1:]], dim=-1)


class LocSympNetModule(nn.Module):
    """The network (31) of the paper: K sweeps of ``V_1 ∘ … ∘ V_{D−1}``; ``forward(y, h)``, y of shape (n, D)."""

    def __init__(self, D, n_sweeps=2, width=16, activation="sigmoid", init_scale=0.01, seed=0,
                 dtype=torch.float64):
        super().__init__()
        if D < 2:
            raise ValueError(f"LocSympNet needs a state of dimension D >= 2, got D = {D}")
        get_activation(activation)
        gen = torch.Generator().manual_seed(int(seed))
        self.D = int(D)
        self.modules_ = nn.ModuleList()
        for _ in range(n_sweeps):
            for k in reversed(range(D - 1)):  # V_{D-1} first: V_1 ∘ … ∘ V_{D-1} applied right to left
                for up in (True, False):       # V_k = Low_k ∘ Up_k: Up first
                    self.modules_.append(_LocShear(D, k, up, width, activation, init_scale, gen, dtype))

    def forward(self, y, h):
        for module in self.modules_:
            y = module(y, h)
        return y


class LocSympNet(MapModelMixin, NeuralModel):
    """LocSympNet: a volume-preserving one-step map for states of any dimension D ≥ 2 (odd D included).

    Parameters
    ----------
    n_sweeps : int
        K of the paper: how many times the sweep ``V_1 ∘ … ∘ V_{D−1}`` is repeated (2 (D − 1) K modules).
    width : int
        m of the paper: width of each module (W ∈ R^{m×(D−1)}, w, b ∈ R^m).
    activation : str
        σ (default ``"sigmoid"``, as in the paper).
    init_scale : float
        Standard deviation of the initial w (W starts at unit scale, b at 0): the map starts near the identity.
    max_steps, lr, weight_decay, batch_size, lr_schedule, patience, validation_fraction, eval_every, optimizer,
    device, dtype, seed, verbose
        See :class:`hamid.models.neural.NeuralModel`.

    Attributes
    ----------
    dt_ : float
        The training step τ; the map steps by exactly this.
    n_features_in_ : int
        The state dimension D.
    n_dof_ : int
        Also D: a volume-preserving state has no (q, p) split; the base class rebuilds the network from it.
    module_ : LocSympNetModule

    Notes
    -----
    **Data contract (deviation from (q, p)).** ``fit(y, t=t)`` takes the whole state ``y`` of shape
    (n_traj, n_time, D) (the rigid body: D = 3 components of the angular momentum) with uniformly spaced ``t``;
    ``fit(q, p, t)`` with canonical data is also accepted and trains on y = (q, p). States passed to
    :meth:`step_map` and :meth:`simulate` have D components. Training minimizes the MSE of one step on all
    consecutive pairs (y_n, y_{n+1}).

    Examples
    --------
    >>> import numpy as np
    >>> t = np.linspace(0, 1, 11)
    >>> y = np.stack([np.cos(t), np.sin(t), np.zeros_like(t)], axis=-1)[None]   # (1, 11, 3)
    >>> model = LocSympNet(max_steps=20).fit(y, t=t)
    >>> model.simulate(y[0, 0], n_steps=5).shape
    (6, 3)
    """

    def __init__(self, n_sweeps=2, width=16, activation="sigmoid", init_scale=0.01, max_steps=5000, lr=3e-3,
                 weight_decay=0.0, batch_size=None, lr_schedule="cosine", patience="auto", validation_fraction="auto",
                 eval_every=10, optimizer="adam", device="cpu", dtype="float64", seed=0, verbose=False):
        super().__init__(hidden=(), activation=activation, max_steps=max_steps, lr=lr, weight_decay=weight_decay,
                         batch_size=batch_size, lr_schedule=lr_schedule, patience=patience,
                         validation_fraction=validation_fraction, eval_every=eval_every, optimizer=optimizer,
                         device=device, dtype=dtype, seed=seed, verbose=verbose)
        self.n_sweeps = n_sweeps
        self.width = width
        self.init_scale = init_scale

    def _validate_params(self):
        super()._validate_params()
        for name in ("n_sweeps", "width"):
            v = getattr(self, name)
            if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < 1:
                raise ValueError(f"{name} must be a positive integer, got {v!r}")
        if not isinstance(self.init_scale, (int, float)) or not self.init_scale > 0:
            raise ValueError(f"init_scale must be a positive number, got {self.init_scale!r}")

    def _build_module(self, n_dof):
        # n_dof is the state dimension D for this model (see the class notes)
        return LocSympNetModule(int(n_dof), n_sweeps=int(self.n_sweeps), width=int(self.width),
                                activation=self.activation, init_scale=float(self.init_scale), seed=int(self.seed),
                                dtype=self._torch_dtype()).to(self._torch_device())

    @staticmethod
    def _validate_states(y, p, t):
        try:
            y = np.array(y, dtype=np.float64, copy=True)
            if p is not None:
                p = np.array(p, dtype=np.float64, copy=True)
        except (TypeError, ValueError) as exc:
            raise DataError(f"states must be numeric: {exc}") from None
        if p is not None:
            if y.shape != p.shape:
                raise DataError(f"q and p must have the same shape, got q {y.shape} and p {p.shape}")
            y = np.concatenate([y, p], axis=-1)
        if y.ndim != 3:
            raise DataError(f"LocSympNet.fit takes trajectories y of shape (n_traj, n_time, D), got {y.shape}")
        if y.shape[-1] < 2:
            raise DataError(f"LocSympNet needs a state of dimension D >= 2, got D = {y.shape[-1]}")
        if y.shape[0] == 0:
            raise DataError(f"no trajectories in y (shape {y.shape})")
        bad = ~np.isfinite(y)
        if bad.any():
            where = tuple(int(i) for i in np.argwhere(bad)[0][:2])
            raise DataError(f"y contains NaN or inf, first at (traj, time) {where}")
        if t is None:
            raise DataError("LocSympNet learns a one-step map: pass the sample times t of shape (n_time,)")
        t = np.asarray(t, dtype=np.float64)
        if t.shape != (y.shape[1],):
            raise DataError(f"t must have shape (n_time,) = ({y.shape[1]},), got {t.shape}")
        if not np.all(np.isfinite(t)) or np.any(np.diff(t) <= 0):
            raise DataError("t must be finite and strictly increasing")
        return y, uniform_step(t)

    def fit(self, y, p=None, t=None, dq=None, dp=None):
        """Fit the map to trajectories.

        Parameters
        ----------
        y : array_like, shape (n_traj, n_time, D)
            Whole states; or q of shape (n_traj, n_time, d) when ``p`` is given (then D = 2d, y = (q, p)).
        p : array_like, shape like ``y``, optional
        t : array_like, shape (n_time,)
            Uniformly spaced sample times (required, keyword: ``fit(y, t=t)``).
        dq, dp : ignored
            Accepted for interface compatibility; a map trains on consecutive states only.

        Returns
        -------
        self

        Raises
        ------
        hamid.io.DataError
            Wrong shapes, NaN/inf, missing or non-uniform ``t``.
        """
        import time

        self._validate_params()
        y, dt = self._validate_states(y, p, t)
        start = time.perf_counter()
        D = y.shape[-1]
        with self._private_rng():
            self.module_ = self._build_module(D)
            shim = type("_Trajectories", (), {"q": y, "is_trajectory": True})()
            try:
                train_idx, val_idx = self._split(shim)
                loss_fn, val_fn, n = self._pair_loss_fns(y, train_idx, val_idx, dt)
                self.dt_ = dt
                history = self._train(loss_fn, n, val_fn)
            except BaseException:
                self._forget_fit()
                raise
        self._finish_fit(history, D, D, start)
        return self
