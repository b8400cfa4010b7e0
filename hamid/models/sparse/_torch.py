"""Torch export of a symbolic Hamiltonian (imported only by ``SparseHamiltonian.to_torch``)."""
from __future__ import annotations

import sympy as sp
import torch

from ...symbolic.codegen import compile_exprs
from ...symbolic.symbols import state_symbols


class SymbolicHamiltonianModule(torch.nn.Module):
    """``forward(z) -> H(z)`` of shape (n,) and ``field(z) -> J∇H(z)`` of shape (n, 2d) for ``z`` (n, 2d).

    Parameters
    ----------
    hamiltonian : sympy.Expr
        In the symbols of :func:`hamid.symbolic.state_symbols`.
    n_dof : int
    """

    def __init__(self, hamiltonian, n_dof):
        super().__init__()
        qs, ps = state_symbols(n_dof)
        self.n_dof = n_dof
        self.symbols = qs + ps
        self.hamiltonian = hamiltonian
        field = [sp.diff(hamiltonian, pi) for pi in ps] + [-sp.diff(hamiltonian, qi) for qi in qs]
        self._h = compile_exprs([hamiltonian], self.symbols, "torch")
        self._f = compile_exprs(field, self.symbols, "torch")

    def forward(self, z):
        return self._h(z)[..., 0]

    def field(self, z):
        return self._f(z)

    def extra_repr(self):
        return f"H = {self.hamiltonian}"
