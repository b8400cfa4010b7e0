"""Port-Hamiltonian (dissipative) sparse regression: dz/dt = (J - R(z))∇H with a sparse H and R ⪰ 0."""
from __future__ import annotations

import time
import warnings

import numpy as np
import sympy as sp

from ...structures import PortHamiltonianStructure, StructureError
from ...symbolic.symbols import parse_expression, state_symbols
from .estimator import SparseHamiltonian, _resolve_library
from .formulations import build_system
from .optimizers import get_optimizer

__all__ = ["SparsePortHamiltonian"]


class _DissipationColumns:
    """Field columns of the dissipation given H, in the library interface the formulations read.

    Term 0 is H itself (column J∇H, coefficient fixed to 1); term (i, j) has the column
    -e_{p_i} φ_j(z) ∂H/∂p_i, written as the "gradient" whose J-image it is (J g puts -g_{q_i} in the p_i slot).
    """

    def __init__(self, H, phis, n_dof):
        qs, ps = state_symbols(n_dof)
        self.symbols = qs + ps
        self.n_dof = n_dof
        grads = [tuple(sp.diff(H, s) for s in self.symbols)]
        self.index = []
        for i in range(n_dof):
            dHdp = sp.diff(H, ps[i])
            for j, phi in enumerate(phis):
                g = [sp.Integer(0)] * (2 * n_dof)
                g[i] = phi * dHdp
                grads.append(tuple(g))
                self.index.append((i, j))
        self.gradient_exprs = tuple(grads)
        self.expressions = tuple(sp.Integer(0) for _ in grads)  # unused: the columns are given directly
        self.names = ["H"] + [f"R[p{i}] {phis[j]}" for i, j in self.index]

    @property
    def n_terms(self):
        return len(self.gradient_exprs)

    def gradient(self, Z, backend="numpy"):
        from ...symbolic.codegen import compile_exprs

        flat = tuple(g for row in self.gradient_exprs for g in row)
        out = compile_exprs(flat, self.symbols, backend)(Z)
        return out.reshape(tuple(out.shape[:-1]) + (self.n_terms, len(self.symbols)))


def _nnls_gram(G, b):
    """argmin_{c >= 0} cᵀGc - 2bᵀc through scipy's NNLS on a Cholesky factor of G."""
    from scipy.optimize import nnls

    m = G.shape[0]
    jitter = 1e-12 * max(np.trace(G) / max(m, 1), 1e-300)
    L = np.linalg.cholesky(G + jitter * np.eye(m))
    c, _ = nnls(L.T, np.linalg.solve(L, b))
    return c


class SparsePortHamiltonian(SparseHamiltonian):
    """Sparse H and a positive semidefinite dissipation R(z) from damped data: dz/dt = (J - R(z))∇H.

    R acts on the momenta: ``R = diag(0, ..., 0, r_1(z), ..., r_d(z))`` with ``r_i(z) = Σ_j c_ij φ_j(z)``,
    coefficients ``c_ij >= 0`` and basis functions φ_j that are nonnegative on the data (checked), so R ⪰ 0
    there by construction; ``dH/dt = -Σ_i r_i(z) (∂H/∂p_i)²``. The field is bilinear in (ξ, c): the fit
    alternates the sparse regression of ξ with R fixed (a linear structure) and the nonnegative least-squares
    fit of c with H fixed, until the coefficients stop changing.

    Parameters
    ----------
    dissipation : str or sequence of str, default "constant"
        The φ_j: ``"constant"`` (φ = 1, viscous damping ``r_i = c_i``) or expressions in the state
        symbols (e.g. ``["1", "p**2"]``), read with the safe parser.
    n_iter : int, default 30
        Most alternations.
    tol : float, default 1e-10
        Stop when the relative change of (ξ, c) falls below it.
    **kwargs
        As :class:`SparseHamiltonian` (``library``, ``optimizer``, ``formulation``, ...).

    Attributes
    ----------
    dissipation_ : sympy.Matrix, shape (2d, 2d)
        The fitted R(z).
    dissipation_coef_ : ndarray, shape (d, n_basis)
        The c_ij.
    structure_ : PortHamiltonianStructure
        With the fitted R.

    Examples
    --------
    >>> from hamid.systems import get_system
    >>> data = get_system("damped_pendulum").generate(n_traj=10, n_time=40, seed=0)
    >>> model = SparsePortHamiltonian(library=["poly:2", "trig"]).fit(data.q, data.p, dq=data.dq, dp=data.dp)
    >>> model.dissipation_.evalf(6)  # to 6 digits: the fit gives 0.09999999999987495 for gamma = 0.1
    Matrix([
    [0,   0],
    [0, 0.1]])
    """

    def __init__(self, library=None, optimizer=None, differentiation=None, formulation="auto",
                 normalize_columns=True, quadrature_order=8, n_blocks=10, snap=None, collinearity_threshold=1e6,
                 n_bootstrap=0, random_state=None, structure="port", dissipation="constant", n_iter=30, tol=1e-10):
        super().__init__(library=library, optimizer=optimizer, differentiation=differentiation,
                         formulation=formulation, normalize_columns=normalize_columns,
                         quadrature_order=quadrature_order, n_blocks=n_blocks, snap=snap,
                         collinearity_threshold=collinearity_threshold, n_bootstrap=n_bootstrap,
                         random_state=random_state, structure=structure)
        self.dissipation = dissipation
        self.n_iter = n_iter
        self.tol = tol

    def _basis(self, n_dof):
        qs, ps = state_symbols(n_dof)
        spec = self.dissipation
        if spec == "constant":
            return [sp.Integer(1)]
        if isinstance(spec, str):
            spec = [s.strip() for s in spec.split(",") if s.strip()]
        if not spec:
            raise ValueError("dissipation needs at least one basis function")
        return [parse_expression(s, qs + ps) if isinstance(s, str) else sp.sympify(s) for s in spec]

    def fit(self, q=None, p=None, t=None, dq=None, dp=None, *, z=None, dz=None):
        """Fit H and R to damped canonical data ``q, p`` (shapes as :meth:`SparseHamiltonian.fit`).

        Returns
        -------
        self
        """
        start = time.perf_counter()
        self._check_params()
        if z is not None:
            raise StructureError("port-Hamiltonian data are canonical: pass q, p (and dq, dp), not z")
        if self.structure not in ("port", None) and not isinstance(self.structure, PortHamiltonianStructure):
            raise StructureError(f"SparsePortHamiltonian fits structure 'port', got {self.structure!r}")
        for name, v, low in (("n_iter", self.n_iter, 1),):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < low:
                raise ValueError(f"{name} must be an integer >= {low}, got {v!r}")
        Z, dZ_given, t, is_traj = self._validated(q, p, t, dq, dp, None, None)
        D = Z.shape[-1]
        d = D // 2
        phis = self._basis(d)
        from ...symbolic.codegen import compile_exprs

        values = compile_exprs(phis, state_symbols(d)[0] + state_symbols(d)[1], "numpy")(Z.reshape(-1, D))
        negative = [str(phi) for phi, col in zip(phis, values.T) if np.min(col) < 0]
        if negative:
            raise ValueError(f"dissipation basis function(s) {negative} take negative values on the data; R would "
                             "not stay positive semidefinite (use squares, constants or other nonnegative terms)")
        library = _resolve_library(self.library)
        optimizer = get_optimizer(self.optimizer)
        compiled = library.compile(d)
        form, dZ, estimated, chosen = self._prepare_targets(Z, dZ_given, t, is_traj)
        weights = self._weights(form.target(Z, dZ, t), D)
        c = np.zeros((d, len(phis)))
        coef = np.zeros(compiled.n_terms)
        history = []
        for it in range(int(self.n_iter)):
            structure = self._port_structure(d, phis, c)
            # the whitened (GLS) integral rows cost more than a plain solve: only the final fits use them
            coef_new, system, info, noise_sigma, _ = self._solve_linear(compiled, structure, form, Z, dZ, t,
                                                                        optimizer, weights=weights, whiten=False)
            c_new = self._dissipation_step(compiled, coef_new, phis, d, form, Z, dZ, t, weights)
            change = (np.linalg.norm(coef_new - coef) + np.linalg.norm(c_new - c)) / max(
                np.linalg.norm(coef_new) + np.linalg.norm(c_new), 1e-300)
            coef, c = coef_new, c_new
            history.append(float(change))
            if change < self.tol:
                break
        else:
            warnings.warn(f"the port-Hamiltonian alternation did not converge in {self.n_iter} iterations "
                          f"(last relative change {history[-1]:.2e})", RuntimeWarning, stacklevel=2)
        structure = self._port_structure(d, phis, c)
        coef, system, info, noise_sigma, _ = self._solve_linear(compiled, structure, form, Z, dZ, t, optimizer,
                                                                weights=weights)
        if noise_sigma is not None:  # H moved under the whitened fit: refit R once, then H once more
            c = self._dissipation_step(compiled, coef, phis, d, form, Z, dZ, t, weights)
            structure = self._port_structure(d, phis, c)
            coef, system, info, noise_sigma, _ = self._solve_linear(compiled, structure, form, Z, dZ, t, optimizer,
                                                                    weights=weights)
        diagnostics = system.diagnostics
        self.structure_ = structure
        self.library_ = compiled
        self.n_dof_ = d
        self.n_features_in_ = D
        self.feature_names_ = list(compiled.names)
        self.formulation_ = form.name
        self.casimirs_, self.gauge_terms_, self.casimir_directions_ = [], [], None
        self._set_coefficients(coef, None)
        if self.snap is not None:
            self._snap_inplace(float(self.snap), 12)
        self.dissipation_coef_ = c
        self.dissipation_basis_ = phis
        self.dissipation_ = structure.damping
        G, b, yy, n = system.total
        res = max(yy - 2 * self.coef_ @ b + self.coef_ @ G @ self.coef_, 0.0)
        diagnostics.update({
            "formulation": form.name, "structure": "port",
            "derivatives": "given" if dZ_given is not None and form.name == "derivative" else (
                "estimated" if estimated else "not used"),
            "optimizer": type(optimizer).__name__, "criterion": info.get("criterion"), "n_dof": d, "n_rows": n,
            "n_library_terms": compiled.n_terms, "n_selected_terms": int(self.support_.sum()),
            "relative_residual": float(np.sqrt(res / yy)) if yy > 0 else 0.0,
            "alternations": len(history), "alternation_changes": history,
            "dissipation": [[str(e) for e in row] for row in self.dissipation_.tolist()],
        })
        if noise_sigma is not None:
            diagnostics["noise_model"] = "whitened integral form (generalized least squares)"
        self.selection_path_ = info.get("path", [])
        self.inclusion_probabilities_ = None
        self.fit_time_ = time.perf_counter() - start
        diagnostics["fit_time_s"] = self.fit_time_
        self.diagnostics_ = diagnostics
        return self

    def _dissipation_step(self, compiled, coef, phis, d, form, Z, dZ, t, weights):
        """The nonnegative least-squares fit of the c_ij with H = Σ coef_k θ_k fixed."""
        H = compiled.hamiltonian(coef)
        if H == 0:
            raise ValueError("the fit selected no term (H = 0); the dissipation cannot be estimated")
        cols = _DissipationColumns(H, phis, d)
        csys = build_system(cols, form, Z, dZ, t, weights=weights, order=int(self.quadrature_order), n_blocks=1)
        G, b, _, _ = csys.total
        return _nnls_gram(G[1:, 1:], b[1:] - G[1:, 0]).reshape(d, len(phis))

    @staticmethod
    def _port_structure(d, phis, c):
        D = 2 * d
        R = sp.zeros(D, D)
        for i in range(d):
            R[d + i, d + i] = sp.Add(*[sp.Float(repr(float(c[i, j]))) * phi for j, phi in enumerate(phis)
                                       if c[i, j] != 0])
        return PortHamiltonianStructure(d, R)

    def energy_rate(self, z):
        """dH/dt = -∇Hᵀ R ∇H of the fitted model at states ``z`` (n, 2d) -> (n,) (≤ 0)."""
        self._check_fitted()
        z = np.asarray(z, dtype=float)
        return self.structure_.energy_rate(self.hamiltonian_gradient(z), z)
