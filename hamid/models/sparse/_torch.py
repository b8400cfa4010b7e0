"""Torch export of a symbolic Hamiltonian (imported only by ``SparseHamiltonian.to_torch``)."""
from __future__ import annotations

import torch

from ...structures import CanonicalStructure
from ...symbolic.codegen import compile_exprs


class SymbolicHamiltonianModule(torch.nn.Module):
    """``forward(z) -> H(z)`` of shape (n,) and ``field(z) -> B(z)∇H(z)`` of shape (n, D) for ``z`` (n, D).

    Parameters
    ----------
    hamiltonian : sympy.Expr
        In the state symbols of ``structure``.
    n_dof : int or None
        Degrees of freedom of a canonical state (ignored when ``structure`` is given).
    structure : hamid.structures.Structure, optional
        Default: canonical (J∇H on the symbols of :func:`hamid.symbolic.state_symbols`).
    """

    def __init__(self, hamiltonian, n_dof, structure=None):
        super().__init__()
        structure = CanonicalStructure(n_dof) if structure is None else structure
        self.n_dof = n_dof
        self.structure = structure
        self.symbols = structure.symbols
        self.hamiltonian = hamiltonian
        self._h = compile_exprs([hamiltonian], self.symbols, "torch")
        self._f = compile_exprs(structure.hamiltonian_field(hamiltonian), self.symbols, "torch")

    def forward(self, z):
        return self._h(z)[..., 0]

    def field(self, z):
        return self._f(z)

    def extra_repr(self):
        return f"H = {self.hamiltonian}, structure {self.structure.spec}"
