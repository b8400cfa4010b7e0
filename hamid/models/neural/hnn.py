"""HNN (Greydanus, Dzamba, Yosinski 2019): a scalar network H_θ(z) whose symplectic gradient is the field."""
from __future__ import annotations

import torch

from ._base import NeuralModel, check_flag

__all__ = ["HNN", "HamiltonianNet"]


class HamiltonianNet(torch.nn.Module):
    """H_θ(z) for z = (q, p) of shape (n, 2d) -> (n,).

    ``separable=False``: one MLP on z. ``separable=True``: H = T_θ(p) + V_θ(q), two MLPs on d inputs.
    """

    def __init__(self, n_dof, make, separable=False):
        super().__init__()
        self.n_dof = n_dof
        self.separable = separable
        if separable:
            self.kinetic = make(n_dof, 1)
            self.potential = make(n_dof, 1)
        else:
            self.net = make(2 * n_dof, 1)

    def forward(self, z):
        d = self.n_dof
        if self.separable:
            return self.kinetic(z[..., d:])[..., 0] + self.potential(z[..., :d])[..., 0]
        return self.net(z)[..., 0]

    def gradient(self, z, create_graph=False):
        """∇H at ``z`` (n, 2d) by autograd, graph kept when ``create_graph`` (training)."""
        with torch.enable_grad():
            if not z.requires_grad:
                z = z.detach().requires_grad_(True)
            h = self(z)
            (g,) = torch.autograd.grad(h.sum(), z, create_graph=create_graph)
        return g


def symplectic_gradient(grad, n_dof):
    """J ∇H = (∂H/∂p, −∂H/∂q) for ``grad`` of shape (n, 2d) (the map lives in hamid.structures)."""
    from ...structures import CanonicalStructure

    return CanonicalStructure(n_dof).apply(grad)


class HNN(NeuralModel):
    """Hamiltonian neural network: learn H_θ(z), predict dz/dt = J ∇H_θ(z) (Greydanus et al. 2019).

    The loss is the MSE between J∇H_θ and observed dz/dt; the gradient is taken with ``create_graph=True`` during
    training so that the loss can be differentiated with respect to θ. Predictions always run with gradients
    enabled (never under ``torch.no_grad``), since the field *is* a gradient.

    Derivatives: ``dq``/``dp`` when given, else finite differences along trajectories with ``t`` (see
    :class:`MLPField`).

    Parameters
    ----------
    separable : bool
        ``True`` builds H = T_θ(p) + V_θ(q) (two MLPs of widths ``hidden``); explicit leapfrog is then exact for
        the learned H.
    hidden, activation, ...
        See :class:`hamid.models.neural.NeuralModel`. Reference recipe (Greydanus 2019): ``hidden=(200, 200)``,
        tanh, orthogonal init, Adam ``lr=1e-3``, ``weight_decay=1e-4``, full batch, 2000 steps.

    Attributes
    ----------
    module_ : HamiltonianNet
    history_, n_features_in_, n_dof_, fit_time_
        See :class:`NeuralModel`.

    Examples
    --------
    >>> import numpy as np
    >>> from hamid.models.neural import HNN
    >>> z = np.random.default_rng(0).uniform(-1, 1, size=(200, 2))
    >>> m = HNN(hidden=(32,), max_steps=300, lr=1e-2).fit(z[:, :1], z[:, 1:], dq=z[:, 1:], dp=-z[:, :1])
    >>> m.hamiltonian_gradient(z[:2]).shape, m.energy(z[:2]).shape
    ((2, 2), (2,))
    """

    def __init__(self, separable=False, hidden=(200, 200), activation="tanh", max_steps=5000, lr=3e-3,
                 weight_decay=0.0, batch_size=None, lr_schedule="cosine", patience="auto", validation_fraction="auto",
                 eval_every=10, optimizer="adam", device="cpu", dtype="float64", seed=0, verbose=False):
        self.separable = separable
        super().__init__(hidden=hidden, activation=activation, max_steps=max_steps, lr=lr,
                         weight_decay=weight_decay, batch_size=batch_size, lr_schedule=lr_schedule,
                         patience=patience, validation_fraction=validation_fraction, eval_every=eval_every,
                         optimizer=optimizer, device=device, dtype=dtype, seed=seed, verbose=verbose)

    def _validate_params(self):
        super()._validate_params()
        check_flag("separable", self.separable)

    def _build_module(self, n_dof):
        return HamiltonianNet(n_dof, self._mlp, separable=self.separable)

    def _field_torch(self, z, create_graph=False):
        return symplectic_gradient(self.module_.gradient(z, create_graph=create_graph), self.module_.n_dof)

    def hamiltonian(self, z):
        """Learned H_θ (defined up to an additive constant).

        Parameters
        ----------
        z : ndarray or torch.Tensor, shape (n, 2d) or (2d,)

        Returns
        -------
        Same type, shape (n,) (or scalar-shaped () for 1-D input).
        """
        return self._apply(lambda x: self.module_(x), z)

    energy = hamiltonian

    def hamiltonian_gradient(self, z):
        """∇H_θ(z) = (∂H/∂q, ∂H/∂p), numpy in -> numpy out, torch in -> torch out; shape (n, 2d).

        Used by :func:`hamid.integrators.integrate` (e.g. leapfrog, exact for ``separable=True``).
        """
        if isinstance(z, torch.Tensor):
            return self._apply(lambda x: self.module_.gradient(x, create_graph=torch.is_grad_enabled()), z)
        return self._apply(lambda x: self.module_.gradient(x, create_graph=False), z)
