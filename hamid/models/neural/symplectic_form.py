"""Neural symplectic form (Chen, Matsubara, Yaguchi 2021; seed 001): learn a symplectic potential and H."""
from __future__ import annotations

import torch

from ._base import NeuralModel, check_flag, check_solver_params, solve_checked

__all__ = ["NeuralSymplecticForm"]


class SymplecticFormNet(torch.nn.Module):
    """A_θ(z): R^{2d} -> R^{2d} (symplectic potential) and H_θ(z): R^{2d} -> R."""

    def __init__(self, n_dof, make, canonical_offset=True):
        super().__init__()
        self.n_dof = n_dof
        self.canonical_offset = canonical_offset
        self.potential_net = make(2 * n_dof, 2 * n_dof)
        self.hamiltonian = make(2 * n_dof, 1)
        if canonical_offset:
            # start from the canonical form exactly: zero output layer, A = (p, 0)
            last = self.potential_net[-1]
            torch.nn.init.zeros_(last.weight)
            if last.bias is not None:
                torch.nn.init.zeros_(last.bias)

    def potential(self, z):
        """A(z), shape (..., 2d) -> (..., 2d); with the canonical offset A = (p, 0) + A_θ(z)."""
        a = self.potential_net(z)
        if self.canonical_offset:
            d = self.n_dof
            a = a + torch.cat([z[..., d:], torch.zeros_like(z[..., d:])], dim=-1)
        return a

    def energy(self, z):
        return self.hamiltonian(z)[..., 0]

    def form(self, z):
        """W(z) = DA(z)^T − DA(z), shape (n, 2d, 2d), with DA_ij = ∂A_i/∂z_j (vmap of jacrev)."""
        jac = torch.func.vmap(torch.func.jacrev(lambda zi: self.potential(zi[None])[0]))(z)
        return jac.transpose(-1, -2) - jac

    def parts(self, z):
        """(W(z), ∇H(z)) for a batch."""
        grad_h = torch.func.vmap(torch.func.grad(lambda zi: self.hamiltonian(zi[None])[0, 0]))(z)
        return self.form(z), grad_h


class NeuralSymplecticForm(NeuralModel):
    """Non-canonical Hamiltonian dynamics dz/dt = W_θ(z)^{-1} ∇H_θ(z) with W_θ = DA_θ^T − DA_θ.

    A_θ: R^{2d} -> R^{2d} is a learned symplectic potential (one-form θ = Σ A_i dz_i, so W = dθ is closed and
    antisymmetric by construction) and H_θ a learned scalar; both are MLPs of widths ``hidden``
    (Chen, Matsubara, Yaguchi 2021; seed 001). The canonical case is A = (p, 0), W = [[0, −I], [I, 0]],
    W^{-1} = J. Lotka–Volterra dx/dt = x(1 − y), dy/dt = y(x − 2) has W = [[0, 1/(xy)], [−1/(xy), 0]]
    and H = x − 2 ln x + y − ln y: pass its state as q = x, p = y.

    The loss is the MSE between the field and observed dz/dt (``dq``/``dp``, or finite differences along
    trajectories with ``t``). W is checked on every solve: singular or ill-conditioned forms raise (or warn, or
    give NaN; ``on_singular``), never a silent pseudo-inverse. H_θ is conserved by the exact flow; note that
    A_θ is only determined up to a gradient (gauge) — the field depends on W only.

    Parameters
    ----------
    canonical_offset : bool
        ``True`` (default): A(z) = (p, 0) + A_θ(z) with the output layer of A_θ initialized to zero, so that
        training starts from the canonical form W = −J^{-1} = [[0, −I], [I, 0]] (an HNN) and deforms it. With
        ``False`` a randomly initialized W(z) typically changes sign inside the data domain, the field has poles
        there, and training stalls (seen on Lotka–Volterra: loss stuck at the variance of the targets).
    rcond : float
        W is flagged when s_min(W) <= ``rcond`` × s_max(W).
    on_singular : {"raise", "warn", "nan"}
    hidden, activation, ...
        See :class:`hamid.models.neural.NeuralModel`.

    Attributes
    ----------
    module_ : SymplecticFormNet
        ``module_.potential`` (A_θ) and ``module_.hamiltonian`` (H_θ).
    history_, n_features_in_, n_dof_, fit_time_
        See :class:`NeuralModel`.
    """

    def __init__(self, canonical_offset=True, rcond=1e-10, on_singular="raise", hidden=(200, 200), activation="tanh",
                 max_steps=5000, lr=3e-3, weight_decay=0.0, batch_size=None, lr_schedule="cosine", patience="auto",
                 validation_fraction="auto", eval_every=10, optimizer="adam", device="cpu", dtype="float64", seed=0,
                 verbose=False):
        self.canonical_offset = canonical_offset
        self.rcond = rcond
        self.on_singular = on_singular
        super().__init__(hidden=hidden, activation=activation, max_steps=max_steps, lr=lr,
                         weight_decay=weight_decay, batch_size=batch_size, lr_schedule=lr_schedule,
                         patience=patience, validation_fraction=validation_fraction, eval_every=eval_every,
                         optimizer=optimizer, device=device, dtype=dtype, seed=seed, verbose=verbose)

    def _validate_params(self):
        super()._validate_params()
        check_flag("canonical_offset", self.canonical_offset)
        check_solver_params(self.rcond, self.on_singular)

    def _build_module(self, n_dof):
        return SymplecticFormNet(n_dof, self._mlp, canonical_offset=self.canonical_offset)

    def _field_torch(self, z, create_graph=False):
        w, grad_h = self.module_.parts(z)
        return solve_checked(w, grad_h, rcond=float(self.rcond), policy=self.on_singular,
                             what="symplectic form W")

    def hamiltonian(self, z):
        """Learned H_θ, shape (n, 2d) -> (n,)."""
        return self._apply(lambda x: self.module_.energy(x), z)

    energy = hamiltonian

    def symplectic_form(self, z):
        """W_θ(z) = DA^T − DA, shape (n, 2d) -> (n, 2d, 2d) (antisymmetric)."""
        return self._apply(lambda x: self.module_.form(x), z)
