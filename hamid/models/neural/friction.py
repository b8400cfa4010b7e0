"""HNN + friction (seed 004): a Hamiltonian network plus a friction network, trained with a trajectory loss."""
from __future__ import annotations

import numpy as np
import torch

from hamid.io import DataError

from ._base import NeuralModel, check_flag
from .hnn import HamiltonianNet, symplectic_gradient

__all__ = ["FrictionHNN"]


FRICTION_FORMS = ("free", "dissipative", "constant")
# The constant form's D = softplus(c; beta=100) = log(1 + exp(100 c)) / 100, c = 0 at the start: D starts near zero
# (6.9e-3) and, unlike softplus(c) started at a very negative c, moves by ~lr per Adam step (the slope is 1/2 at
# c = 0 and 1 above), so it reaches an order-0.1 damping in a few hundred steps.
_CONSTANT_DAMPING_BETA = 100.0


class FrictionNet(torch.nn.Module):
    """H_θ(z) plus a friction force F(q, p) of shape (n, d).

    ``form="free"``: F = F_φ(q, p), any function (seed 004). ``form="dissipative"``: F = D_φ(q, p) ⊙ ∂H_θ/∂p with
    D_φ = softplus(MLP) >= 0 elementwise (Rayleigh-type damping), so dH_θ/dt = −Σ D_i (∂H_θ/∂p_i)² <= 0 and F
    cannot absorb a conservative force (F = 0 wherever ∂H_θ/∂p = 0). ``form="constant"``: the same with one
    learned constant D >= 0 per degree of freedom (the constant dissipation of port-Hamiltonian
    networks, Desai et al. 2021).
    """

    def __init__(self, n_dof, make, separable=False, form="free"):
        super().__init__()
        self.n_dof = n_dof
        self.form = form
        self.hamiltonian = HamiltonianNet(n_dof, make, separable=separable)
        if form == "constant":
            param = next(self.hamiltonian.parameters())
            self.damping_raw = torch.nn.Parameter(torch.zeros(n_dof, dtype=param.dtype, device=param.device))
        else:
            self.friction_net = make(2 * n_dof, n_dof)

    def _damping(self, z):
        if self.form == "constant":
            d = torch.nn.functional.softplus(self.damping_raw, beta=_CONSTANT_DAMPING_BETA)
            return d.expand(z.shape[0], self.n_dof)
        return torch.nn.functional.softplus(self.friction_net(z))

    def _force(self, z, grad):
        if self.form == "free":
            return self.friction_net(z)
        return self._damping(z) * grad[..., self.n_dof:]

    def field(self, z, create_graph=False):
        d = self.n_dof
        grad = self.hamiltonian.gradient(z, create_graph=create_graph)
        f = symplectic_gradient(grad, d)
        return torch.cat([f[:, :d], f[:, d:] - self._force(z, grad)], dim=-1)

    def friction(self, z):
        """F(q, p); the dissipative form needs ∂H_θ/∂p, so gradients must be enabled."""
        grad = self.hamiltonian.gradient(z) if self.form != "free" else None
        return self._force(z, grad)

    def damping(self, z):
        """D(q, p) >= 0 of the dissipative and constant forms, shape (n, d)."""
        if self.form == "free":
            raise AttributeError("damping coefficients exist only for friction_form 'dissipative' or 'constant'")
        return self._damping(z)


def rk4_step(field, z, dt):
    """One classical RK4 step of ``field`` for a batch ``z`` (n, D); ``dt`` scalar or (n, 1). Differentiable.

    The trajectory losses of FrictionHNN and TrajectoryHNN both step with it; the integrators' RK4 works through
    backend ops on whole trajectories and is not meant to carry a training graph.
    """
    k1 = field(z)
    k2 = field(z + 0.5 * dt * k1)
    k3 = field(z + 0.5 * dt * k2)
    k4 = field(z + dt * k3)
    return z + dt / 6.0 * (k1 + 2 * k2 + 2 * k3 + k4)


class FrictionHNN(NeuralModel):
    """HNN with a learned friction force: dq/dt = ∂H_θ/∂p, dp/dt = −∂H_θ/∂q − F_φ(q, p) (seed 004).

    Loss = L_HNN + α L_traj (plus weight decay through the optimizer): L_HNN is the MSE between the model field
    and observed dz/dt (seed 004's eq. (2): ‖∂H/∂q + F + ṗ‖² + ‖∂H/∂p − q̇‖², averaged); L_traj compares
    ``rollout_steps`` RK4 steps of the model field started at each observed state z(t_n) (step sizes from ``t``)
    with the observed states z(t_{n+1}), ..., z(t_{n+k}) (seed 004's "one-step loss" for k = 1). Windows never
    cross the end of a trajectory; as in seed 004's code (the prediction at a trajectory's end is overwritten by
    its target), the squared errors are averaged over ALL samples and coordinates of the batch, the last k points
    of each trajectory contributing zero. The friction network is unconstrained (as in seed 004): nothing forces
    F·∂H/∂p >= 0, unless ``friction_form`` is "dissipative" or "constant".

    Data: trajectories with ``t`` are needed when ``alpha > 0``; dz/dt from ``dq``/``dp`` or by finite
    differences along trajectories (see :class:`MLPField`). With ``alpha=0`` this is an HNN with a friction term
    fitted to derivatives only, and plain samples are accepted.

    Parameters
    ----------
    alpha : float
        Weight of the trajectory loss (seed 004 found α = 100 best on spring and pendulum).
    rollout_steps : int
        k, the number of integrated steps per window in L_traj.
    separable : bool
        H = T_θ(p) + V_θ(q) for the conservative part.
    friction_form : {"free", "dissipative", "constant"}
        ``"free"`` (seed 004): F = F_φ(q, p), an unconstrained network, which can also absorb part of the
        conservative force (H and F are then not identifiable). ``"dissipative"``: F = D_φ(q, p) ⊙ ∂H_θ/∂p with
        D_φ = softplus(F_φ) >= 0, so the learned flow can only lose H_θ (dH_θ/dt <= 0) and F vanishes where
        ∂H_θ/∂p does; linear damping γp of H = p²/(2m) + V is D = γm. ``"constant"``: F = D ⊙ ∂H_θ/∂p with
        one learned D >= 0 per degree of freedom (port-Hamiltonian constant dissipation; D = softplus(100 c)/100
        with c = 0 at the start, D = 6.9e-3, nearly frictionless). Only right when the true damping is linear in
        ∂H/∂p.
    hidden, activation, ...
        See :class:`hamid.models.neural.NeuralModel`; both networks use ``hidden``/``activation``.

    Attributes
    ----------
    module_ : FrictionNet
        ``module_.hamiltonian`` (a :class:`HamiltonianNet`) and ``module_.friction_net`` (an MLP (n, 2d) -> (n, d):
        F itself, or the pre-softplus damping of the dissipative form); ``module_.damping_raw`` (d,) instead of
        ``friction_net`` for the constant form.
    history_, n_features_in_, n_dof_, fit_time_
        See :class:`NeuralModel`.

    Notes
    -----
    ``simulate`` integrates the full (dissipative) field through :func:`hamid.integrators.integrate_field`;
    the model deliberately exposes no ``hamiltonian_gradient``, so that it cannot be mistaken for a
    conservative model by the symplectic integrators.
    """

    _integrate_via_gradient = False

    def __init__(self, alpha=100.0, rollout_steps=1, separable=False, friction_form="free", hidden=(200, 200),
                 activation="tanh", max_steps=5000, lr=3e-3, weight_decay=0.0, batch_size=None,
                 lr_schedule="cosine", patience="auto", validation_fraction="auto", eval_every=10, optimizer="adam",
                 device="cpu", dtype="float64", seed=0, verbose=False):
        self.alpha = alpha
        self.rollout_steps = rollout_steps
        self.separable = separable
        self.friction_form = friction_form
        super().__init__(hidden=hidden, activation=activation, max_steps=max_steps, lr=lr,
                         weight_decay=weight_decay, batch_size=batch_size, lr_schedule=lr_schedule,
                         patience=patience, validation_fraction=validation_fraction, eval_every=eval_every,
                         optimizer=optimizer, device=device, dtype=dtype, seed=seed, verbose=verbose)

    def _validate_params(self):
        super()._validate_params()
        if not isinstance(self.alpha, (int, float)) or isinstance(self.alpha, bool) or not self.alpha >= 0:
            raise ValueError(f"alpha must be a number >= 0, got {self.alpha!r}")
        if not isinstance(self.rollout_steps, (int, np.integer)) or self.rollout_steps < 1:
            raise ValueError(f"rollout_steps must be a positive integer, got {self.rollout_steps!r}")
        check_flag("separable", self.separable)
        if self.friction_form not in FRICTION_FORMS:
            raise ValueError(f"unknown friction_form {self.friction_form!r}; valid: {', '.join(FRICTION_FORMS)}")

    def _build_module(self, n_dof):
        return FrictionNet(n_dof, self._mlp, separable=self.separable, form=self.friction_form)

    def _field_torch(self, z, create_graph=False):
        return self.module_.field(z, create_graph=create_graph)

    def _windows(self, z, t, traj_idx):
        """Per-sample rollout windows for the trajectories ``traj_idx``.

        Returns z0 (N, 2d), targets (N, k, 2d), dt (N, k), valid (N,) with N = len(traj_idx) * n_time; samples
        too close to the end of their trajectory are marked invalid.
        """
        k = int(self.rollout_steps)
        zs = z[traj_idx]                                # (m, T, 2d)
        m, n_time, d2 = zs.shape
        if n_time <= k:
            raise DataError(f"rollout_steps={k} needs trajectories longer than {k} points, got {n_time}")
        steps = np.diff(t)                              # (T - 1,)
        targets = np.zeros((m, n_time, k, d2))
        dts = np.ones((n_time, k))
        valid = np.zeros((m, n_time), dtype=bool)
        valid[:, : n_time - k] = True
        for j in range(k):
            targets[:, : n_time - k, j] = zs[:, 1 + j: n_time - k + 1 + j]
            dts[: n_time - k, j] = steps[j: n_time - k + j]
        dts = np.broadcast_to(dts, (m, n_time, k))
        return (zs.reshape(-1, d2), targets.reshape(-1, k, d2), dts.reshape(-1, k), valid.reshape(-1))

    def _fit_module(self, data, train_idx, val_idx):
        alpha = float(self.alpha)
        if alpha > 0 and (not data.is_trajectory or data.t is None):
            raise DataError("FrictionHNN with alpha > 0 needs trajectories with sample times t "
                            "(or set alpha=0 to fit derivatives only)")
        z, dz = self._targets(data)
        d2 = z.shape[-1]
        k = int(self.rollout_steps)

        def pack(idx):
            zz = self._tensor(z[idx].reshape(-1, d2))
            dd = self._tensor(dz[idx].reshape(-1, d2))
            if alpha == 0:
                return zz, dd, None, None, None
            _, tg, dt, valid = self._windows(z, data.t, idx)
            return zz, dd, self._tensor(tg), self._tensor(dt), torch.as_tensor(valid, device=zz.device)

        def loss_of(zz, dd, tg, dt, valid, create_graph):
            field = self.module_.field(zz, create_graph=create_graph)
            loss = ((field - dd) ** 2).mean()
            if alpha > 0 and bool(valid.any()):
                # seed 004: the prediction at a trajectory's last point(s) is replaced by its target, so those
                # entries add zero to the mean; the mean runs over ALL samples of the batch, not only valid ones
                n_entries = zz.shape[0] * zz.shape[1]
                zc = zz[valid]
                err = 0.0
                for j in range(k):
                    zc = rk4_step(lambda x: self.module_.field(x, create_graph=create_graph), zc,
                                   dt[valid][:, j:j + 1])
                    err = err + ((zc - tg[valid][:, j]) ** 2).sum() / n_entries
                loss = loss + alpha * err / k
            return loss

        tr = pack(train_idx)

        def loss_fn(idx):
            zz, dd, tg, dt, valid = tr
            if alpha == 0:
                return loss_of(zz[idx], dd[idx], None, None, None, True)
            return loss_of(zz[idx], dd[idx], tg[idx], dt[idx], valid[idx], True)

        val_fn = None
        if len(val_idx):
            va = pack(val_idx)

            def val_fn():
                return loss_of(*va, False).detach()

        return self._train(loss_fn, tr[0].shape[0], val_fn)

    def hamiltonian(self, z):
        """Conservative part H_θ, shape (n, 2d) -> (n,)."""
        return self._apply(lambda x: self.module_.hamiltonian(x), z)

    energy = hamiltonian

    def friction(self, z):
        """Learned friction force F(q, p), shape (n, 2d) -> (n, d) (dp/dt contains −F)."""
        return self._apply(lambda x: self.module_.friction(x), z)

    def damping(self, z):
        """Learned damping D(q, p) >= 0 (``friction_form`` "dissipative" or "constant"), (n, 2d) -> (n, d)."""
        if self.friction_form == "free":
            raise AttributeError("damping() exists only for friction_form 'dissipative' or 'constant'")
        return self._apply(lambda x: self.module_.damping(x), z)
