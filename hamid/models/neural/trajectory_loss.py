"""HNN trained with a trajectory loss beside the derivative loss (seed 004): one-step or full-trajectory.

Seed 004 adds to the HNN loss L_HNN (MSE between J∇H_θ and observed dz/dt) a trajectory term α L_traj, where the
model field is integrated with classical RK4 between the observed sample times:

- ``"one_step"``: from every observed state z(t_n), one RK4 step to t_{n+1}, compared with z(t_{n+1});
- ``"full"``: from the FIRST state z(t_0) of each trajectory, RK4 steps through all sample times, the predicted
  state of one step feeding the next (errors propagate), every predicted state compared with the observed one.

As in seed 004's code, the squared errors are summed and divided by the number of entries of the whole batch
(states × coordinates, a trajectory's last point contributing zero for the one-step loss), so α weighs both losses
on the same scale. The full-trajectory loss costs n_time − 1 sequential RK4 steps per optimization step with a
graph through all of them (seed 004: "we didn't pursue this owing to the high compute power requirements").

This module imports torch; ``import hamid`` does not import it.
"""
from __future__ import annotations

import numpy as np
import torch

from hamid.io import DataError

from .friction import rk4_step
from .hnn import HNN, symplectic_gradient
# the explicit backward pass of a scalar MLP (first-order autograd only); it lives in srnn.py and would belong in
# _base.py beside make_mlp
from .srnn import _analytic_ok, _mlp_input_gradient

__all__ = ["TrajectoryHNN", "TRAJECTORY_LOSSES", "rk4_step"]

#: trajectory-loss names accepted by :class:`TrajectoryHNN`
TRAJECTORY_LOSSES = ("none", "one_step", "full")


class TrajectoryHNN(HNN):
    """HNN with loss L_HNN + α L_traj, L_traj the one-step or the full-trajectory RK4 loss of seed 004.

    Parameters
    ----------
    trajectory_loss : {"none", "one_step", "full"}
        ``"none"``: a plain HNN (α ignored). ``"one_step"``: RK4 from every observed state to the next one.
        ``"full"``: RK4 rollout from each trajectory's first state through all its sample times.
    alpha : float
        Weight α >= 0 of L_traj (seed 004 found α = 100 best on spring and pendulum with the one-step loss).
    separable, hidden, activation, max_steps, lr, weight_decay, batch_size, lr_schedule, patience,
    validation_fraction, eval_every, optimizer, device, dtype, seed, verbose
        See :class:`HNN`. ``batch_size`` counts trajectories (the full-trajectory loss needs whole ones).

    Attributes
    ----------
    module_, history_, n_features_in_, n_dof_, fit_time_
        See :class:`HNN`.

    Notes
    -----
    ``fit(q, p, t, dq=None, dp=None)`` needs trajectories (n_traj, n_time, d) with sample times ``t`` (any
    spacing) whenever ``trajectory_loss != "none"``; dz/dt from ``dq``/``dp`` or by finite differences along the
    trajectories. With noisy states the trajectory targets are the noisy states (as in seed 004), and the full
    loss starts every rollout from a noisy first state.

    Examples
    --------
    >>> import numpy as np
    >>> t = np.linspace(0, 1, 11)
    >>> r = np.linspace(0.5, 1.0, 4)[:, None, None]
    >>> q, p = r * np.sin(t)[None, :, None], r * np.cos(t)[None, :, None]
    >>> m = TrajectoryHNN("full", alpha=10.0, hidden=(16,), max_steps=5).fit(q, p, t, dq=p, dp=-q)
    >>> m.simulate(np.array([0.0, 1.0]), dt=0.1, n_steps=3, method="rk4").shape
    (4, 2)
    """

    def __init__(self, trajectory_loss="full", alpha=100.0, separable=False, hidden=(200, 200), activation="tanh",
                 max_steps=2000, lr=1e-3, weight_decay=0.0, batch_size=None, lr_schedule="constant", patience=None,
                 validation_fraction=0.0, eval_every=10, optimizer="adam", device="cpu", dtype="float64", seed=0,
                 verbose=False):
        self.trajectory_loss = trajectory_loss
        self.alpha = alpha
        super().__init__(separable=separable, hidden=hidden, activation=activation, max_steps=max_steps, lr=lr,
                         weight_decay=weight_decay, batch_size=batch_size, lr_schedule=lr_schedule,
                         patience=patience, validation_fraction=validation_fraction, eval_every=eval_every,
                         optimizer=optimizer, device=device, dtype=dtype, seed=seed, verbose=verbose)

    def _validate_params(self):
        super()._validate_params()
        if self.trajectory_loss not in TRAJECTORY_LOSSES:
            raise ValueError(f"unknown trajectory_loss {self.trajectory_loss!r}; valid names: "
                             f"{', '.join(TRAJECTORY_LOSSES)}")
        a = self.alpha
        if not isinstance(a, (int, float)) or isinstance(a, bool) or not (a >= 0 and np.isfinite(a)):
            raise ValueError(f"alpha must be a finite number >= 0, got {a!r}")

    def _fit_module(self, data, train_idx, val_idx):
        kind = self.trajectory_loss
        alpha = float(self.alpha) if kind != "none" else 0.0
        if alpha > 0 and (not data.is_trajectory or data.t is None):
            raise DataError(f"trajectory_loss={kind!r} needs trajectories q, p of shape (n_traj, n_time, d) with "
                            "sample times t (or use trajectory_loss='none')")
        z, dz = self._targets(data)
        if alpha == 0:
            return super()._fit_module(data, train_idx, val_idx)
        h = self._tensor(np.diff(np.asarray(data.t, dtype=np.float64)))  # (n_time - 1,)

        net = self.module_
        if not net.separable and _analytic_ok(net.net):
            # same numbers as autograd with create_graph=True, but no double backward through every RK4 stage:
            # the full-trajectory loss stacks 4 (n_time - 1) field evaluations in one graph
            def field(x, create_graph):
                return symplectic_gradient(_mlp_input_gradient(net.net, x), net.n_dof)
        else:
            def field(x, create_graph):
                return self._field_torch(x, create_graph=create_graph)

        def loss_of(zb, dzb, create_graph):
            m, n_time, D = zb.shape
            n_entries = m * n_time * D
            loss = ((field(zb.reshape(-1, D), create_graph) - dzb.reshape(-1, D)) ** 2).mean()
            if kind == "one_step":
                x0 = zb[:, :-1].reshape(-1, D)
                hh = h.repeat(m)[:, None]
                pred = rk4_step(lambda x: field(x, create_graph), x0, hh)
                err = ((pred - zb[:, 1:].reshape(-1, D)) ** 2).sum()
            else:
                zc, err = zb[:, 0], 0.0
                for j in range(n_time - 1):
                    zc = rk4_step(lambda x: field(x, create_graph), zc, h[j])
                    err = err + ((zc - zb[:, j + 1]) ** 2).sum()
            return loss + alpha * err / n_entries

        z_tr, dz_tr = self._tensor(z[train_idx]), self._tensor(dz[train_idx])

        def loss_fn(idx):
            return loss_of(z_tr[idx], dz_tr[idx], True)

        val_fn = None
        if len(val_idx):
            z_va, dz_va = self._tensor(z[val_idx]), self._tensor(dz[val_idx])

            def val_fn():
                return loss_of(z_va, dz_va, False).detach()

        return self._train(loss_fn, z_tr.shape[0], val_fn)
