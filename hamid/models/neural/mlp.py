"""MLPField ("O-NET"): the unstructured baseline, an MLP that maps z directly to dz/dt."""
from __future__ import annotations

import torch

from ._base import NeuralModel

__all__ = ["MLPField"]


class _FieldNet(torch.nn.Module):
    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, z):
        return self.net(z)


class MLPField(NeuralModel):
    """Unstructured baseline: ``f_θ(z) ≈ dz/dt`` with a plain MLP (the "baseline NN" of Greydanus et al. 2019).

    Nothing ties the learned field to a Hamiltonian: it has no energy, and long rollouts drift.

    Derivatives: ``fit`` uses ``dq``/``dp`` when given; for trajectories given with ``t`` but without
    derivatives it estimates them by second-order finite differences along each trajectory
    (:func:`hamid.models.neural.finite_difference_derivatives`; O(dt²) biased, noise amplified); samples without
    derivatives are an error.

    Parameters
    ----------
    hidden, activation, max_steps, lr, weight_decay, batch_size, lr_schedule, patience, validation_fraction,
    eval_every, optimizer, device, dtype, seed, verbose
        See :class:`hamid.models.neural.NeuralModel`. Reference recipe: ``hidden=(200, 200)``, tanh, Adam
        ``lr=1e-3``, ``weight_decay=1e-4``, full batch, 2000 steps.

    Attributes
    ----------
    module_ : torch.nn.Module
        ``module_.net`` maps (n, 2d) -> (n, 2d).
    history_, n_features_in_, n_dof_, fit_time_
        See :class:`NeuralModel`.

    Examples
    --------
    >>> import numpy as np
    >>> from hamid.models.neural import MLPField
    >>> z = np.random.default_rng(0).normal(size=(200, 2))
    >>> m = MLPField(hidden=(32,), max_steps=300, lr=1e-2).fit(z[:, :1], z[:, 1:], dq=z[:, 1:], dp=-z[:, :1])
    >>> m.vector_field(z[:3]).shape
    (3, 2)
    """

    def __init__(self, hidden=(200, 200), activation="tanh", max_steps=5000, lr=3e-3, weight_decay=0.0,
                 batch_size=None, lr_schedule="cosine", patience="auto", validation_fraction="auto", eval_every=10,
                 optimizer="adam", device="cpu", dtype="float64", seed=0, verbose=False):
        super().__init__(hidden=hidden, activation=activation, max_steps=max_steps, lr=lr,
                         weight_decay=weight_decay, batch_size=batch_size, lr_schedule=lr_schedule,
                         patience=patience, validation_fraction=validation_fraction, eval_every=eval_every,
                         optimizer=optimizer, device=device, dtype=dtype, seed=seed, verbose=verbose)

    def _build_module(self, n_dof):
        return _FieldNet(self._mlp(2 * n_dof, 2 * n_dof))

    def _field_torch(self, z, create_graph=False):
        return self.module_(z)
