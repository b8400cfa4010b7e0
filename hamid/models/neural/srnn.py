"""SRNN (Chen, Zhang, Arjovsky, Bottou, ICLR 2020; seed 003): a separable H-NET trained through an integrator.

H_θ(q, p) = K_θ(p) + V_θ(q), two MLPs. The model's trajectory is produced by a numerical integrator driven by
∂K/∂p and ∂V/∂q (autograd), and the loss is the mean squared distance between the whole predicted trajectory
and the observed one (recurrent training, back-propagation through the integrator) or between single steps
(single-step training). Training and testing integrators are chosen separately, so the paper's "E-E", "E-L"
and "L-L" rows can be rebuilt:

- ``"leapfrog"``: kick–drift–kick Störmer–Verlet, exactly symplectic for the separable H_θ;
- ``"euler"``: explicit (forward) Euler, both derivatives at the old state — what the paper and its reference
  code call "Euler" (and what HNN uses); it is *not* symplectic;
- ``"symplectic_euler"``: p ← p − h V'(q), then q ← q + h K'(p_new).

Initial-state optimization (ISO): the observed initial states are noisy, so each training window gets its own
estimated initial state ẑ_0, refined by L-BFGS-B (scipy) on the trajectory loss with θ fixed, every
``iso_every`` steps once ``iso_start`` steps are done; at test time :meth:`SRNN.fit_initial_state` does the same
on the first observed steps of a noisy trajectory before prediction.

The stepping below is the model's own rather than :func:`hamid.integrate`: training differentiates through
every step (``create_graph=True`` on ∇K, ∇V) and the leapfrog reuses V'(q_{n+1}) of one step as the first
half-kick of the next, 2 gradient evaluations per step instead of 3 — a fusion a generic integrator that
sees only ``hamiltonian_gradient`` cannot do.

This module imports torch; ``import hamid`` does not import it.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from hamid.io import DataError, validate_data

from hamid.models.base import check_rollout_args

from ._base import NeuralModel
from .sympnet import uniform_step

__all__ = ["SRNN", "SeparableHNet", "INTEGRATORS", "rollout"]

#: integrator names accepted for training and testing
INTEGRATORS = ("leapfrog", "euler", "symplectic_euler")


def check_integrator(name, what="integrator"):
    if name not in INTEGRATORS:
        raise ValueError(f"unknown {what} {name!r}; valid names: {', '.join(INTEGRATORS)}")
    return name


class SeparableHNet(nn.Module):
    """H_θ(q, p) = K_θ(p) + V_θ(q) from two networks R^d -> R^1.

    ``kinetic(p)``, ``potential(q)``, ``forward(z)`` -> (n,); ``dK(p)``, ``dV(q)`` -> (n, d) by autograd
    (``create_graph=True`` keeps them differentiable, as training needs).
    """

    def __init__(self, d, kinetic_net, potential_net, dtype=torch.float64):
        super().__init__()
        self.d = int(d)
        self.K = kinetic_net
        self.V = potential_net
        # normalization: K_θ(p) = k_scale · K_net(p / p_scale), V_θ(q) = v_scale · V_net(q / q_scale); buffers
        # (saved with the weights), set from the training data by SRNN.fit so that ∇K, ∇V start at the size of
        # the observed velocities and forces instead of O(1)
        self.register_buffer("q_scale", torch.ones(d, dtype=dtype))
        self.register_buffer("p_scale", torch.ones(d, dtype=dtype))
        self.register_buffer("k_scale", torch.ones((), dtype=dtype))
        self.register_buffer("v_scale", torch.ones((), dtype=dtype))

    def kinetic(self, p):
        return self.k_scale * self.K(p / self.p_scale)[..., 0]

    def potential(self, q):
        return self.v_scale * self.V(q / self.q_scale)[..., 0]

    def forward(self, z):
        return self.kinetic(z[..., self.d:]) + self.potential(z[..., :self.d])

    @staticmethod
    def _grad(net, x, create_graph):
        """∇_x net(x) for a scalar network: analytic backward pass when possible, else autograd."""
        if _analytic_ok(net):
            g = _mlp_input_gradient(net, x)
            return g if create_graph else g.detach()
        with torch.enable_grad():
            if not x.requires_grad:
                x = x.detach().requires_grad_(True)
            (g,) = torch.autograd.grad(net(x)[..., 0].sum(), x, create_graph=create_graph)
        return g

    def dK(self, p, create_graph=False):
        return (self.k_scale / self.p_scale) * self._grad(self.K, p / self.p_scale, create_graph)

    def dV(self, q, create_graph=False):
        return (self.v_scale / self.q_scale) * self._grad(self.V, q / self.q_scale, create_graph)


# derivative of each supported activation, written in terms of its input a and output y
_ACT_DERIVATIVES = {
    nn.Tanh: lambda a, y: 1.0 - y * y,
    nn.Sigmoid: lambda a, y: y * (1.0 - y),
    nn.Softplus: lambda a, y: torch.sigmoid(a),
}


def _analytic_ok(net):
    if not isinstance(net, nn.Sequential) or len(net) == 0 or not isinstance(net[-1], nn.Linear):
        return False
    if net[-1].out_features != 1:
        return False
    for layer in net:
        if isinstance(layer, nn.Softplus) and (layer.beta != 1 or layer.threshold != 20):
            return False
        if not isinstance(layer, (nn.Linear, *_ACT_DERIVATIVES)):
            return False
    return True


def _mlp_input_gradient(net, x):
    """∇_x of a scalar MLP (Linear/activation layers) by an explicit backward pass.

    Equivalent to ``autograd.grad(net(x).sum(), x, create_graph=True)`` but built from ordinary tensor ops, so
    training differentiates it with plain first-order autograd (no double backward): several times faster for
    the recurrent rollouts, and usable under ``torch.func`` transforms. (Softplus: ``beta = 1`` only; its
    linear region above ``threshold`` is ignored, a difference below 2e-9 in the derivative.)
    """
    derivs = []
    h = x
    for layer in net:
        if isinstance(layer, nn.Linear):
            h = layer(h)
        else:
            a = h
            h = layer(a)
            derivs.append(_ACT_DERIVATIVES[type(layer)](a, h))
    linears = [layer for layer in net if isinstance(layer, nn.Linear)]
    g = linears[-1].weight[0].expand(*x.shape[:-1], -1)  # d out / d (last hidden)
    for lin, dact in zip(reversed(linears[:-1]), reversed(derivs)):
        g = (g * dact) @ lin.weight
    return g


def rollout(net, z0, h, n_steps, method="leapfrog", create_graph=False):
    """Integrate the separable H_θ of ``net`` from ``z0`` (n, 2d) for ``n_steps`` steps of size ``h``.

    Returns a tensor of shape (n, n_steps + 1, 2d) including ``z0``. With ``create_graph=False`` every step is
    detached (prediction: memory stays O(n d) per stored state); with ``create_graph=True`` the whole rollout
    is differentiable in θ and z0 (training, ISO, Jacobians).
    """
    check_integrator(method)
    d = net.d
    q, p = z0[..., :d], z0[..., d:]
    out = [z0]
    keep = (lambda x: x) if create_graph else (lambda x: x.detach())
    if method == "leapfrog":
        dv = net.dV(q, create_graph)
        for _ in range(n_steps):
            p_half = p - 0.5 * h * dv
            q = keep(q + h * net.dK(p_half, create_graph))
            dv = net.dV(q, create_graph)  # reused as the next step's first half-kick
            p = keep(p_half - 0.5 * h * dv)
            dv = keep(dv)
            out.append(torch.cat([q, p], dim=-1))
    elif method == "euler":
        for _ in range(n_steps):
            dv, dk = net.dV(q, create_graph), net.dK(p, create_graph)
            q, p = keep(q + h * dk), keep(p - h * dv)
            out.append(torch.cat([q, p], dim=-1))
    else:  # symplectic_euler
        for _ in range(n_steps):
            p = keep(p - h * net.dV(q, create_graph))
            q = keep(q + h * net.dK(p, create_graph))
            out.append(torch.cat([q, p], dim=-1))
    return torch.stack(out, dim=-2)


def _windows(z, T):
    """Cut trajectories (n_traj, n_time, D) into windows of T + 1 points starting every T steps.

    Returns an array of shape (n_traj * n_windows, T + 1, D) (consecutive windows share their end points, so
    single-step windows are all consecutive pairs, as in the paper's single-step training).
    """
    n_time = z.shape[1]
    starts = range(0, n_time - T, T)
    return np.stack([z[:, s:s + T + 1] for s in starts], axis=1).reshape(-1, T + 1, z.shape[-1])


class SRNN(NeuralModel):
    """Symplectic recurrent neural network: a separable H-NET trained through an integrator.

    Parameters
    ----------
    hidden : tuple of int
        Hidden widths of each of the two MLPs K_θ(p) and V_θ(q).
    activation : str
        A smooth activation (default ``"tanh"``, as in the paper).
    train_integrator, test_integrator : {"leapfrog", "euler", "symplectic_euler"}
        Integrator used through training, and by :meth:`simulate` / :meth:`fit_initial_state` by default.
        ``"euler"`` is explicit Euler, the paper's "E" (see the module notes).
    recurrent : bool
        True: roll out ``horizon`` steps from each window's initial state and fit the whole window (SRNN).
        False: single-step training on consecutive pairs (the paper's "single-step").
    horizon : int or None
        Steps per training window when recurrent; None: the whole trajectory (n_time − 1).
    iso : bool
        Initial-state optimization during training: every window's initial state becomes an estimate
        refined by L-BFGS-B with θ fixed.
    iso_start : int or None
        Optimization steps before the first ISO (None: ``max_steps // 10``, the paper's 100 of 1000 epochs).
    iso_every : int
        Optimization steps between two ISO passes.
    iso_max_iter : int
        L-BFGS-B iterations per ISO pass.
    max_steps, lr, weight_decay, batch_size, lr_schedule, patience, validation_fraction, eval_every, optimizer,
    device, dtype, seed, verbose
        See :class:`hamid.models.neural.NeuralModel`. ``batch_size`` counts windows.

    Attributes
    ----------
    module_ : SeparableHNet
    dt_ : float
        Training step (prediction may use any step).
    initial_states_ : ndarray, shape (n_windows, 2d)
        With ``iso=True``: the optimized initial states of the training windows (not saved by :meth:`save`).
    separable : bool
        Always True: H = K(p) + V(q).

    Notes
    -----
    ``fit(q, p, t)`` takes trajectories (n_traj, n_time, d) with uniformly spaced ``t``; ``dq, dp`` are
    accepted and ignored. The loss is the mean squared error over every point of every window (the window's
    first point included, which only matters with ISO). Validation windows start from their observed states.

    Examples
    --------
    >>> import numpy as np
    >>> t = np.linspace(0, 3, 30)
    >>> r = np.linspace(0.3, 1.0, 8)[:, None, None]
    >>> q, p = r * np.sin(2 * t)[None, :, None], r * np.cos(2 * t)[None, :, None]
    >>> model = SRNN(hidden=(16,), max_steps=20, horizon=5).fit(q, p, t)
    >>> model.simulate(np.array([0.0, 1.0]), model.dt_, 10).shape
    (11, 2)
    """

    separable = True
    _extra_fitted = ("dt_",)

    def __init__(self, hidden=(64, 64), activation="tanh", train_integrator="leapfrog",
                 test_integrator="leapfrog", recurrent=True, horizon=None, iso=False, iso_start=None,
                 iso_every=50, iso_max_iter=10, max_steps=5000, lr=3e-3, weight_decay=0.0, batch_size=None,
                 lr_schedule="cosine", patience="auto", validation_fraction="auto", eval_every=10, optimizer="adam",
                 device="cpu", dtype="float64", seed=0, verbose=False):
        super().__init__(hidden=hidden, activation=activation, max_steps=max_steps, lr=lr, weight_decay=weight_decay,
                         batch_size=batch_size, lr_schedule=lr_schedule, patience=patience,
                         validation_fraction=validation_fraction, eval_every=eval_every, optimizer=optimizer,
                         device=device, dtype=dtype, seed=seed, verbose=verbose)
        self.train_integrator = train_integrator
        self.test_integrator = test_integrator
        self.recurrent = recurrent
        self.horizon = horizon
        self.iso = iso
        self.iso_start = iso_start
        self.iso_every = iso_every
        self.iso_max_iter = iso_max_iter

    # ----------------------------------------------------------------------------------------- fitting

    def _validate_params(self):
        super()._validate_params()
        check_integrator(self.train_integrator, "train_integrator")
        check_integrator(self.test_integrator, "test_integrator")

        def pos_int(name, allow_none=False, allow_zero=False):
            v = getattr(self, name)
            if v is None and allow_none:
                return
            if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < (0 if allow_zero else 1):
                raise ValueError(f"{name} must be a {'non-negative' if allow_zero else 'positive'} integer"
                                 f"{' or None' if allow_none else ''}, got {v!r}")

        pos_int("horizon", allow_none=True)
        pos_int("iso_start", allow_none=True, allow_zero=True)
        pos_int("iso_every")
        pos_int("iso_max_iter")
        for name in ("recurrent", "iso"):
            if not isinstance(getattr(self, name), (bool, np.bool_)):
                raise ValueError(f"{name} must be True or False, got {getattr(self, name)!r}")

    def _validate(self, q, p, t=None, dq=None, dp=None):
        data = validate_data(q, p, t=t, dq=dq, dp=dp)
        if not data.is_trajectory or data.t is None:
            raise DataError("SRNN trains through an integrator on observed trajectories: pass q, p of shape "
                            "(n_traj, n_time, d) with uniformly spaced times t")
        uniform_step(data.t)
        T = self._window_steps(data.q.shape[1])
        if data.q.shape[1] < T + 1:
            raise DataError(f"horizon={self.horizon} needs trajectories of at least {T + 1} points, "
                            f"got {data.q.shape[1]}")
        return data

    def _window_steps(self, n_time):
        if not self.recurrent:
            return 1
        return n_time - 1 if self.horizon is None else int(self.horizon)

    def _build_module(self, n_dof):
        return SeparableHNet(n_dof, self._mlp(n_dof, 1), self._mlp(n_dof, 1), dtype=self._torch_dtype()).to(
            self._torch_device())

    def _set_scales(self, z, dt):
        """Input scales = std of q and p; output scales so that |∇K| ~ rms Δq/Δt and |∇V| ~ rms Δp/Δt."""
        d = self.module_.d
        std = z.reshape(-1, 2 * d).std(axis=0)
        std = np.where(std > 1e-12, std, 1.0)
        rate = np.sqrt(np.mean((np.diff(z, axis=1) / dt) ** 2, axis=(0, 1)))
        m = self.module_
        with torch.no_grad():
            m.q_scale.copy_(self._tensor(std[:d]))
            m.p_scale.copy_(self._tensor(std[d:]))
            # ∇_p K = k_scale / p_scale · ∇K_net with |∇K_net| ~ 1: k_scale ~ p_scale · rate_q
            m.k_scale.fill_(float(np.sqrt(np.mean((std[d:] * rate[:d]) ** 2))) or 1.0)
            m.v_scale.fill_(float(np.sqrt(np.mean((std[:d] * rate[d:]) ** 2))) or 1.0)

    def _fit_module(self, data, train_idx, val_idx):
        dt = uniform_step(data.t)
        z = data.states()
        T = self._window_steps(z.shape[1])
        self._set_scales(z[train_idx], dt)
        w_tr = self._tensor(_windows(z[train_idx], T))
        method = self.train_integrator
        z0_hat = w_tr[:, 0].clone()
        iso_start = self.max_steps // 10 if self.iso_start is None else int(self.iso_start)
        calls = [0]

        def loss_fn(idx):
            # train() calls loss_fn exactly once per optimization step: count the steps here to schedule ISO
            step = calls[0]
            calls[0] += 1
            if self.iso and step >= iso_start and (step - iso_start) % int(self.iso_every) == 0:
                z0_hat.copy_(self._optimize_initial_states(w_tr, z0_hat, dt, method, int(self.iso_max_iter)))
            pred = rollout(self.module_, z0_hat[idx], dt, T, method, create_graph=True)
            return ((pred - w_tr[idx]) ** 2).mean()

        val_fn = None
        if len(val_idx):
            w_va = self._tensor(_windows(z[val_idx], T))

            def val_fn():
                pred = rollout(self.module_, w_va[:, 0], dt, T, method, create_graph=False)
                return ((pred - w_va) ** 2).mean()

        history = self._train(loss_fn, w_tr.shape[0], val_fn)
        self.dt_ = dt
        if self.iso:
            self.initial_states_ = z0_hat.cpu().numpy().astype(np.float64)
        return history

    def _optimize_initial_states(self, targets, z_init, dt, method, max_iter):
        """L-BFGS-B (scipy) on the initial states, θ fixed.

        Minimizes Σ_windows mean_(t, k) (rollout(ẑ_0)_t − targets_t)²: a sum of independent per-window
        problems, solved jointly (one L-BFGS-B run; its objective is separable).

        Parameters
        ----------
        targets : Tensor, shape (n, T + 1, 2d)
        z_init : Tensor, shape (n, 2d)

        Returns
        -------
        Tensor, shape (n, 2d)
        """
        from scipy.optimize import minimize

        n, T1, D = targets.shape
        targets = targets.detach()
        module = self.module_
        requires = [p.requires_grad for p in module.parameters()]
        for p in module.parameters():
            p.requires_grad_(False)

        def fun(x):
            z0 = self._tensor(x.reshape(n, D), requires_grad=True)
            pred = rollout(module, z0, dt, T1 - 1, method, create_graph=True)
            loss = ((pred - targets) ** 2).mean(dim=(1, 2)).sum()
            (g,) = torch.autograd.grad(loss, z0)
            return float(loss.detach()), g.detach().cpu().numpy().astype(np.float64).ravel()

        try:
            x0 = z_init.detach().cpu().numpy().astype(np.float64).ravel()
            res = minimize(fun, x0, jac=True, method="L-BFGS-B", options={"maxiter": int(max_iter)})
            x = res.x if np.all(np.isfinite(res.x)) and res.fun <= fun(x0)[0] else x0
        finally:
            for p, r in zip(module.parameters(), requires):
                p.requires_grad_(r)
        return self._tensor(x.reshape(n, D))

    def fit_initial_state(self, observations, dt=None, method=None, max_iter=100):
        """Estimate the clean initial state of noisy observed trajectories (test-time ISO).

        Parameters
        ----------
        observations : ndarray, shape (n, n_obs, 2d) or (n_obs, 2d)
            The first ``n_obs`` observed states z = (q, p) of each trajectory, sampled every ``dt``.
        dt : float, optional
            Observation step; default ``dt_``.
        method : str, optional
            Integrator; default ``test_integrator``.
        max_iter : int
            L-BFGS-B iterations.

        Returns
        -------
        ndarray, shape (n, 2d) (or (2d,) for 2-D input)
            The states from which the model's rollout best matches the observations (least squares).
        """
        self._check_fitted()
        obs = np.asarray(observations, dtype=np.float64)
        one = obs.ndim == 2
        if one:
            obs = obs[None]
        if obs.ndim != 3 or obs.shape[-1] != self.n_features_in_ or obs.shape[1] < 1:
            raise ValueError(f"observations must have shape (n, n_obs, {self.n_features_in_}), got "
                             f"{np.shape(observations)}")
        if not np.all(np.isfinite(obs)):
            raise ValueError("observations contain NaN or inf")
        method = check_integrator(self.test_integrator if method is None else method, "method")
        dt = self.dt_ if dt is None else float(dt)
        target = self._tensor(obs)
        z0 = self._optimize_initial_states(target, target[:, 0], dt, method, max_iter)
        out = z0.cpu().numpy().astype(np.float64)
        return out[0] if one else out

    # -------------------------------------------------------------------------------------- prediction

    def _field_torch(self, z, create_graph=False):
        d = self.n_dof_
        return torch.cat([self.module_.dK(z[:, d:], create_graph), -self.module_.dV(z[:, :d], create_graph)], dim=1)

    def _energy_torch(self, z):
        return self.module_(z)

    def energy(self, z):
        """The learned Hamiltonian H_θ(q, p) = K_θ(p) + V_θ(q) (defined up to a constant).

        Parameters
        ----------
        z : ndarray or torch.Tensor, shape (n, 2d) or (2d,)

        Returns
        -------
        Same type; shape (n,) (or scalar for 1-D input).
        """
        return self._apply(self._energy_torch, z)

    def hamiltonian_gradient(self, z):
        """∇H_θ = (∂V/∂q, ∂K/∂p) at ``z``.

        Parameters
        ----------
        z : ndarray or torch.Tensor, shape (n, 2d) or (2d,)

        Returns
        -------
        Same type and shape; torch output is differentiable when grad mode is on.
        """
        self._check_fitted()
        d = self.n_dof_

        def grad(x, create_graph):
            return torch.cat([self.module_.dV(x[:, :d], create_graph), self.module_.dK(x[:, d:], create_graph)], 1)

        if isinstance(z, torch.Tensor):
            return self._apply(lambda x: grad(x, torch.is_grad_enabled()), z)
        return self._apply(lambda x: grad(x, False), z)

    def simulate(self, z0, dt=None, n_steps=None, *, method=None, save_every=1):
        """Predict trajectories with the learned H_θ.

        Parameters
        ----------
        z0 : ndarray, shape (n, 2d) or (2d,)
        dt : float, optional
            Step; default the training step ``dt_`` (any step is allowed: H_θ is a continuous-time model).
        n_steps : int
        method : str, optional
            ``"leapfrog"``, ``"euler"`` or ``"symplectic_euler"`` use the model's own stepping (default
            ``test_integrator``); any other name goes to :func:`hamid.integrators.integrate`.
        save_every : int

        Returns
        -------
        ndarray, shape (n, n_steps // save_every + 1, 2d), or (n_steps // save_every + 1, 2d) for 1-D ``z0``
        """
        self._check_fitted()
        dt, n_steps, save_every = check_rollout_args(dt, n_steps, save_every, need_dt=False)
        dt = self.dt_ if dt is None else dt
        method = self.test_integrator if method is None else method
        if method not in INTEGRATORS:
            return super().simulate(z0, dt=dt, n_steps=n_steps, method=method, save_every=save_every)
        z0 = np.asarray(z0, dtype=np.float64)
        z2, one = self._check_state(z0, "z0")
        traj = rollout(self.module_, self._tensor(z2), dt, int(n_steps), method, create_graph=False)
        out = traj[:, ::save_every].detach().cpu().numpy().astype(np.float64)
        return out[0] if one else out
