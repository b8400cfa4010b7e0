"""LNN (Cranmer et al. 2020): a scalar network L_θ(q, q̇) whose Euler–Lagrange equations give q̈."""
from __future__ import annotations

import numpy as np
import torch

from hamid.io import DataError

from ._base import NeuralModel, check_solver_params, finite_difference_derivatives, solve_checked

__all__ = ["LNN", "LagrangianNet"]


class LagrangianNet(torch.nn.Module):
    """L_θ(x) = net(x) + ½ c |q̇|² for x = (q, q̇) of shape (n, 2d) -> (n,), c = ``kinetic_prior`` >= 0.

    The fixed term ½ c |q̇|² makes the Hessian ∂²L/∂q̇² start at c·I (the small initial network adds little), a
    well-conditioned mass matrix, instead of the near-singular, indefinite Hessian of a freshly initialized
    network; the network learns the correction. c is a buffer, so it travels in the state dict.
    """

    def __init__(self, n_dof, make, kinetic_prior=0.0):
        super().__init__()
        self.n_dof = n_dof
        self.net = make(2 * n_dof, 1)
        self.register_buffer("kinetic_prior", torch.tensor(float(kinetic_prior)))

    def forward(self, x):
        qdot = x[..., self.n_dof:]
        return self.net(x)[..., 0] + 0.5 * self.kinetic_prior.to(x.dtype) * (qdot ** 2).sum(-1)


def lagrangian_acceleration(lagrangian, x, n_dof, rcond=1e-10, on_singular="raise", counts=None):
    """q̈ from the Euler–Lagrange equations of a scalar ``lagrangian`` (a module or function (n, 2d) -> (n,)).

    q̈ = (∇_q̇∇_q̇ L)^{-1} (∇_q L − (∇_q̇∇_q L) q̇), vectorized over the batch with ``torch.func.vmap``; the
    gradient and the Hessian come from one forward-over-reverse pass (``jacfwd`` of ``grad`` with the gradient
    as auxiliary output). The d×d Hessians are checked by :func:`solve_checked` with policy ``on_singular``
    (never silently pseudo-inverted; ``counts`` records how many were flagged).

    Parameters
    ----------
    x : torch.Tensor, shape (n, 2d)
        States (q, q̇).

    Returns
    -------
    torch.Tensor, shape (n, d), differentiable with respect to the parameters of ``lagrangian`` and ``x``.
    """
    d = n_dof

    def scalar(xi):
        return lagrangian(xi[None])[0]

    def grad_twice(xi):
        g = torch.func.grad(scalar)(xi)
        return g, g

    hess, g = torch.func.vmap(torch.func.jacfwd(grad_twice, has_aux=True))(x)
    qdot = x[:, d:]
    h_vv = hess[:, d:, d:]          # ∂²L/∂q̇_i∂q̇_j
    h_vq = hess[:, d:, :d]          # ∂²L/∂q̇_i∂q_j
    rhs = g[:, :d] - (h_vq @ qdot[..., None])[..., 0]
    return solve_checked(h_vv, rhs, rcond=rcond, policy=on_singular, what="Hessian d2L/dqdot2", counts=counts)


class LNN(NeuralModel):
    """Lagrangian neural network: learn L_θ(q, q̇), predict q̈ from the Euler–Lagrange equations.

    **Data contract for the LNN** (the state is (q, q̇), not (q, p)): ``fit(q, qdot, t=None, *, qddot=None)``.
    The second array holds *velocities* q̇; the training targets are accelerations q̈ from ``qddot``, else
    finite differences of ``qdot`` along trajectories with ``t``. Canonical arguments are refused with a
    ``TypeError`` (``p=``, ``dq=``, ``dp=`` or a fourth positional array, as in ``fit(q, p, t, dq, dp)``), so that
    momenta are never taken for velocities nor dp/dt for q̈. Every state-valued method (``vector_field``,
    ``energy``, ``simulate``) takes x = (q, q̇) of shape (n, 2d); ``vector_field`` returns (q̇, q̈) and
    ``simulate(x0, dt, n_steps)`` returns (q, q̇) trajectories. :meth:`momenta` maps (q, q̇) to the model's
    canonical (q, p = ∂L_θ/∂q̇). Users with canonical (q, p) data convert momenta to velocities first (a catalogue
    system: ``system.velocities(z)``; its accelerations: ``system.accelerations(x)``).

    Angles are not wrapped (no hard-coded ``q % 2π``): wrap your data yourself if your system needs it.

    **Near-singular Hessians.** q̈ needs the inverse of the d×d Hessian ∂²L/∂q̇². A Hessian is flagged when
    ``s_min <= rcond · s_max``; by default (``on_singular="regularize"``) flagged rows are solved by Tikhonov
    regularization (λ = rcond · s_max, see :func:`hamid.models.neural.solve_checked`), which keeps training and
    rollouts finite where the learned mass matrix degenerates. Every flagged row is counted in
    :attr:`singular_counts_` (``"fit"``: over all training-loss evaluations; ``"predict"``: over predictions
    since the fit), so a rollout that relied on regularization is visible.

    **Kinetic prior.** L_θ(q, q̇) = net_θ(q, q̇) + ½ ``kinetic_prior`` |q̇|² (default 1.0; 0 gives the plain
    Cranmer et al. network). Without it the Hessian ∂²L/∂q̇² of a freshly initialized network is tiny and
    indefinite, the solve amplifies ∇_qL into huge q̈ and training stalls: on the catalogue double pendulum
    (64-64 network, 1000 steps, ``examples/check_neural_defaults.py --check lnn``) the relative q̈ error was 0.48
    without the prior and 0.010 with it (MLPField 0.025). The prior is in the units of the data; data whose
    velocities are far from unit scale may want ``kinetic_prior`` of the order of their mass matrix.

    Parameters
    ----------
    kinetic_prior : float
        Coefficient c >= 0 of the fixed term ½ c |q̇|² added to the network (default 1.0).
    rcond : float
        A Hessian ∂²L/∂q̇² is flagged when its smallest singular value is <= ``rcond`` × the largest
        (default 1e-6).
    on_singular : {"regularize", "raise", "warn", "nan"}
        ``"regularize"`` (default): Tikhonov-regularized solve, counted; ``"raise"``:
        :class:`hamid.models.neural.SingularMatrixError` with the count; ``"warn"``: a RuntimeWarning with the
        count, those rows solved by least squares; ``"nan"``: NaN rows.
    hidden, activation, ...
        See :class:`hamid.models.neural.NeuralModel` (default activation ``"softplus"``, smooth second
        derivatives as Cranmer et al. use; defaults lr 3e-3 cosine, 5000 steps, early stopping on held-out
        trajectories).

    Attributes
    ----------
    module_ : LagrangianNet
    singular_counts_ : dict
        ``{"fit": n, "predict": n}``: flagged (regularized, warned or NaN) Hessians during training and in
        predictions since.
    history_, n_features_in_, n_dof_, fit_time_
        See :class:`NeuralModel`.

    Examples
    --------
    >>> import numpy as np
    >>> from hamid.models.neural import LNN
    >>> x = np.random.default_rng(0).uniform(-1, 1, size=(100, 2))
    >>> m = LNN(hidden=(32,), max_steps=50, lr=1e-2).fit(x[:, :1], x[:, 1:], qddot=-x[:, :1])
    >>> m.acceleration(x[:3, :1], x[:3, 1:]).shape
    (3, 1)
    """

    #: saved with the model (a JSON object)
    _extra_fitted = ("singular_counts_",)

    def __init__(self, kinetic_prior=1.0, rcond=1e-6, on_singular="regularize", hidden=(200, 200), activation="softplus",
                 max_steps=5000, lr=3e-3, weight_decay=0.0, batch_size=None, lr_schedule="cosine", patience="auto",
                 validation_fraction="auto", eval_every=10, optimizer="adam", device="cpu", dtype="float64", seed=0,
                 verbose=False):
        self.kinetic_prior = kinetic_prior
        self.rcond = rcond
        self.on_singular = on_singular
        super().__init__(hidden=hidden, activation=activation, max_steps=max_steps, lr=lr,
                         weight_decay=weight_decay, batch_size=batch_size, lr_schedule=lr_schedule,
                         patience=patience, validation_fraction=validation_fraction, eval_every=eval_every,
                         optimizer=optimizer, device=device, dtype=dtype, seed=seed, verbose=verbose)

    def _validate_params(self):
        super()._validate_params()
        check_solver_params(self.rcond, self.on_singular)
        c = self.kinetic_prior
        if isinstance(c, bool) or not isinstance(c, (int, float, np.integer, np.floating)) or not np.isfinite(c) \
                or c < 0:
            raise ValueError(f"kinetic_prior must be a finite number >= 0, got {c!r}")

    def fit(self, q, qdot=None, t=None, *args, qddot=None, p=None, dq=None, dp=None):
        """Fit L_θ to accelerations.

        Parameters
        ----------
        q : array_like, shape (n_traj, n_time, d) or (n_samples, d)
            Generalized coordinates.
        qdot : array_like, same shape
            Generalized velocities (the second half of the state).
        t : array_like, shape (n_time,), optional
            Trajectory times; used to estimate q̈ by finite differences of ``qdot`` when ``qddot`` is not given.
        qddot : array_like, same shape, optional (keyword)
            Accelerations q̈, the training targets.

        Returns
        -------
        self

        Raises
        ------
        TypeError
            Canonical arguments (``p``, ``dq``, ``dp``, or more than three positional arrays): the LNN's
            data are (q, q̇, q̈), see the class notes.
        """
        canonical = [name for name, v in (("p", p), ("dq", dq), ("dp", dp)) if v is not None]
        if args or canonical:
            given = f"{len(args)} extra positional array(s)" if args else "canonical " + ", ".join(canonical)
            raise TypeError(f"LNN.fit takes (q, qdot, t=None, *, qddot=None): positions, velocities and "
                            f"accelerations, not canonical (q, p, t, dq, dp) data (got {given}). Convert momenta "
                            f"to velocities first (catalogue systems: system.velocities(z), "
                            f"system.accelerations(x)) and pass qddot by keyword")
        if qdot is None:
            raise TypeError("LNN.fit needs the velocities qdot (second argument)")
        self.singular_counts_ = {"fit": 0, "predict": 0}
        self._counts_key = "fit"
        try:
            return super().fit(q, qdot, t=t, dq=None if qddot is None else qdot, dp=qddot)
        finally:
            self._counts_key = "predict"

    def _build_module(self, n_dof):
        return LagrangianNet(n_dof, self._mlp, kinetic_prior=float(self.kinetic_prior))

    def _accel(self, x):
        counts = {}
        out = lagrangian_acceleration(self.module_, x, self.module_.n_dof, rcond=float(self.rcond),
                                      on_singular=self.on_singular, counts=counts)
        record = self.__dict__.setdefault("singular_counts_", {"fit": 0, "predict": 0})
        key = getattr(self, "_counts_key", "predict")
        record[key] = record.get(key, 0) + counts.get("flagged", 0)
        return out

    def _field_torch(self, z, create_graph=False):
        d = self.module_.n_dof
        return torch.cat([z[:, d:], self._accel(z)], dim=-1)

    def _fit_module(self, data, train_idx, val_idx):
        d = data.n_dof
        x = data.states()
        if data.dp is not None:
            acc = data.dp
        else:
            if data.t is None:
                raise DataError("LNN needs accelerations: pass qddot=..., or trajectories with t")
            acc = finite_difference_derivatives(data.p, data.t)
        x_tr = self._tensor(x[train_idx].reshape(-1, 2 * d))
        a_tr = self._tensor(acc[train_idx].reshape(-1, d))

        def loss_fn(idx):
            return ((self._accel(x_tr[idx]) - a_tr[idx]) ** 2).mean()

        val_fn = None
        if len(val_idx):
            x_va = self._tensor(x[val_idx].reshape(-1, 2 * d))
            a_va = self._tensor(acc[val_idx].reshape(-1, d))

            def val_fn():
                return ((self._accel(x_va) - a_va) ** 2).mean().detach()

        return self._train(loss_fn, x_tr.shape[0], val_fn)

    def acceleration(self, q, qdot):
        """q̈ predicted at (q, q̇).

        Parameters
        ----------
        q, qdot : ndarray or torch.Tensor, shape (n, d)

        Returns
        -------
        Same type, shape (n, d).
        """
        if isinstance(q, torch.Tensor):
            x = torch.cat([q, qdot], dim=-1)
        else:
            x = np.concatenate([np.asarray(q, dtype=np.float64), np.asarray(qdot, dtype=np.float64)], axis=-1)
        return self._apply(self._accel, x, name="(q, qdot)")

    def lagrangian(self, z):
        """L_θ at z = (q, q̇), shape (n, 2d) -> (n,)."""
        return self._apply(lambda x: self.module_(x), z)

    def energy(self, z):
        """Energy function E = q̇·∂L/∂q̇ − L at z = (q, q̇), shape (n, 2d) -> (n,); conserved by the flow."""
        keep_graph = isinstance(z, torch.Tensor) and torch.is_grad_enabled()

        def fn(x):
            d = self.module_.n_dof
            with torch.enable_grad():
                xg = x if x.requires_grad else x.detach().requires_grad_(True)
                lag = self.module_(xg)
                (g,) = torch.autograd.grad(lag.sum(), xg, create_graph=keep_graph)
            return (xg[:, d:] * g[:, d:]).sum(-1) - lag

        out = self._apply(fn, z)
        return out

    def momenta(self, z):
        """Canonical momenta of the learned Lagrangian: (q, q̇) -> (q, p) with p = ∂L_θ/∂q̇.

        Parameters
        ----------
        z : ndarray or torch.Tensor, shape (n, 2d) or (2d,)
            States (q, q̇).

        Returns
        -------
        Same type and shape: (q, p).
        """
        keep_graph = isinstance(z, torch.Tensor) and torch.is_grad_enabled()

        def fn(x):
            d = self.module_.n_dof
            with torch.enable_grad():
                xg = x if x.requires_grad else x.detach().requires_grad_(True)
                (g,) = torch.autograd.grad(self.module_(xg).sum(), xg, create_graph=keep_graph)
            return torch.cat([x[:, :d], g[:, d:]], dim=-1)

        return self._apply(fn, z)
