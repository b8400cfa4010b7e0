"""Sparse Lagrangian regression: L(q, q̇) = Σ ξ_k θ_k from the Euler-Lagrange equations, H by Legendre transform."""
from __future__ import annotations

import time
import warnings

import numpy as np
import sympy as sp

from ...io import validate_lagrangian
from ...structures import (LagrangianStructure, StructureError, casimir_directions, compile_library,
                           legendre_transform)
from ...symbolic.codegen import compile_exprs
from ..base import HamidModel
from .differentiation import differentiate, get_differentiator
from .estimator import _resolve_library, _round_floats
from .formulations import LinearSystem, _block_ids, _chunks_within_blocks, integral_weights
from .optimizers import get_optimizer

__all__ = ["SparseLagrangian"]


class SparseLagrangian(HamidModel):
    """Sparse regression of a Lagrangian L(q, q̇) over a library, through the Euler-Lagrange residual.

    For L = Σ ξ_k θ_k the residual ``E_i = Σ_j ∂²L/∂q̇_i∂q̇_j q̈_j + Σ_j ∂²L/∂q̇_i∂q_j q̇_j - ∂L/∂q_i`` is
    linear and homogeneous in ξ (cξ fits as well, and total time derivatives such as q q̇ have E ≡ 0). The scale
    is fixed by normalization: the coefficient of one term (``normalize``, default the first ``qdot_i**2`` of
    the library) is set to ``scale`` (default 1/2, the unit-mass convention) and its residual columns become the
    target, ``Σ_{k≠n} ξ_k E_k = -scale·E_n``, solved by total least squares with backward elimination (see
    ``selection``). Combinations whose residual vanishes identically (null Lagrangians, e.g. total time
    derivatives) are removed along their last term and reported. H follows by Legendre transform
    (:func:`hamid.structures.legendre_transform`).

    Parameters
    ----------
    library : Library, str or list of str
        Over the symbols ``q1..qd, qdot1..qdotd`` (``q, qdot`` for d = 1): ``poly`` covers every monomial in
        q and qdot, ``trig`` the positions, ``custom:`` any expression (e.g. ``qdot1*qdot2*cos(q1 - q2)``).
    normalize : str or None
        The term whose coefficient is fixed (a library term, compared as an expression); None: the first
        ``qdot_i**2`` in the library.
    scale : float, default 0.5
        Its coefficient.
    formulation : {"auto", "derivative", "integral"}
        ``derivative``: the residual above at every sample (q̈ given, or estimated from q̇ with
        ``differentiation``). ``integral`` (derivative-free, trajectories with ``t``): the time integral of the
        Euler-Lagrange equations, ``∂L/∂q̇(t_n) - c = ∫ ∂L/∂q dt`` per trajectory segment (offsets c eliminated
        by centring, the integral by the high-order quadrature of the Hamiltonian integral form). ``auto``:
        derivative when ``qddot`` is given, else integral.
    quadrature_order : int, default 8
        Samples per interpolating stencil of the integral form.
    selection : {"tls", "optimizer"}, default "tls"
        ``tls``: total least squares, which treats the normalized column like every other (noise enters all
        columns of the residual, so ordinary least squares with one column as target is biased towards zero:
        7 % low at 1 % noise on the double pendulum, 0.1 % with TLS). Backward elimination: starting from every
        term, drop the one contributing least to the smallest right singular vector of the column-normalized
        design, and keep the sparsest support whose smallest singular value stays within ``(1 + tol)`` of the
        full library's (plus 1e-10); the coefficients are that singular vector scaled to ``scale``.
        ``optimizer``: the sparse regression ``optimizer`` on the normalized target.
    tol : float, default 0.1
        The TLS selection tolerance.
    optimizer, differentiation, normalize_columns, n_blocks, snap : as :class:`SparseHamiltonian`

    Attributes
    ----------
    lagrangian_ : sympy.Expr
    hamiltonian_ : sympy.Expr or None
        The Legendre transform of ``lagrangian_`` in the canonical symbols (None when L is not quadratic in the
        velocities or degenerate; a warning says why).
    coef_ : ndarray, shape (m,)
    feature_names_ : list of str
    terms_ : list of str
    null_terms_ : list of str
        The terms removed along null Lagrangians (the last term of each; not identifiable).
    null_lagrangians_ : list of sympy.Expr
        The null Lagrangians found in the library.
    diagnostics_ : dict
    """

    _fitted_attribute = "coef_"

    def __init__(self, library=None, normalize=None, scale=0.5, optimizer=None, differentiation=None,
                 normalize_columns=True, n_blocks=10, snap=None, formulation="auto", quadrature_order=8,
                 selection="tls", tol=0.1):
        self.selection = selection
        self.tol = tol
        self.formulation = formulation
        self.quadrature_order = quadrature_order
        self.library = library
        self.normalize = normalize
        self.scale = scale
        self.optimizer = optimizer
        self.differentiation = differentiation
        self.normalize_columns = normalize_columns
        self.n_blocks = n_blocks
        self.snap = snap

    def _euler_lagrange(self, structure, compiled):
        return [structure.euler_lagrange_exprs(e) for e in compiled.expressions]

    def _normal_index(self, compiled, structure):
        if self.normalize is None:
            squares = {v ** 2 for v in structure.velocities}
            for k, e in enumerate(compiled.expressions):
                if e.as_coeff_Mul()[1] in squares:
                    return k
            raise ValueError("no qdot_i**2 term in the library to normalize by; pass normalize=TERM")
        from ...symbolic.symbols import parse_expression

        target = parse_expression(self.normalize, structure.symbols).as_coeff_Mul()[1]
        for k, e in enumerate(compiled.expressions):
            if sp.simplify(e.as_coeff_Mul()[1] - target) == 0:
                return k
        raise ValueError(f"normalize term {self.normalize!r} is not in the library; terms: {compiled.names}")

    def fit(self, q, qdot, t=None, qddot=None):
        """Fit L to positions and velocities.

        Parameters
        ----------
        q, qdot : array_like, shape (n_traj, n_time, d) or (n_samples, d)
        t : array_like, shape (n_time,), optional
            Needed to estimate ``qddot`` when it is not given.
        qddot : array_like shaped like ``q``, optional

        Returns
        -------
        self
        """
        start = time.perf_counter()
        if not (isinstance(self.scale, (int, float)) and not isinstance(self.scale, bool) and self.scale != 0
                and np.isfinite(self.scale)):
            raise ValueError(f"scale must be a nonzero finite number, got {self.scale!r}")
        data = validate_lagrangian(q, qdot, t=t, qddot=qddot)
        d = data.n_dof
        structure = LagrangianStructure(d)
        compiled = compile_library(_resolve_library(self.library), structure)
        optimizer = get_optimizer(self.optimizer)
        form = self.formulation
        if form not in ("auto", "derivative", "integral"):
            raise ValueError(f"unknown formulation {form!r}; valid: auto, derivative, integral")
        if form == "auto":
            form = "derivative" if data.qddot is not None else "integral"
        if form == "integral" and not (data.is_trajectory and data.t is not None):
            raise ValueError("the integral formulation needs trajectories (n_traj, n_time, d) with times t")
        if self.selection not in ("tls", "optimizer"):
            raise ValueError(f"unknown selection {self.selection!r}; valid: tls, optimizer")
        el = self._euler_lagrange(structure, compiled)  # (m, d) expressions
        n_idx = self._normal_index(compiled, structure)
        null, null_exprs = self._null_lagrangians(structure, compiled, el, data)
        if n_idx in null:
            raise ValueError(f"the normalization term {compiled.names[n_idx]} is part of a null Lagrangian "
                             f"({null_exprs}); normalize by another term")
        free = [k for k in range(compiled.n_terms) if k != n_idx and k not in null]
        self.null_lagrangians_ = null_exprs
        acc = data.qddot
        estimated = False
        if form == "integral":
            system = self._integral_system(structure, compiled, data, free, n_idx)
        else:
            if acc is None:
                if not (data.is_trajectory and data.t is not None):
                    raise ValueError("without qddot the data must be trajectories with times t")
                acc = differentiate(get_differentiator(self.differentiation), data.qdot, data.t)
                estimated = True
            system = self._derivative_system(structure, data, acc, el, free, n_idx)
        if self.selection == "tls":
            coef_free, info = self._tls(system)
        else:
            coef_free, info = optimizer.solve(system, normalize=bool(self.normalize_columns), random_state=None)
        self._finish(compiled, structure, coef_free, free, n_idx, null, system, info, optimizer, start,
                     "estimated" if estimated else ("given" if form == "derivative" else "not used"), form)
        return self

    @staticmethod
    def _null_lagrangians(structure, compiled, el, data):
        """Combinations of library terms whose Euler-Lagrange residual vanishes identically (total time
        derivatives such as d(q1 q2)/dt = q1 qdot2 + q2 qdot1): found at random points of (q, qdot, qddot) —
        not at the data, where the true L itself has a zero residual — and removed along their last term."""
        d = structure.n_dof
        m = compiled.n_terms
        rng = np.random.default_rng(0)
        X = data.states().reshape(-1, 2 * d)
        lo, hi = X.min(axis=0), X.max(axis=0)
        span = np.where(hi > lo, hi - lo, 1.0)
        pts = np.concatenate([rng.uniform(lo - 0.1 * span, hi + 0.1 * span, (64, 2 * d)),
                              rng.uniform(-1, 1, (64, d))], axis=1)
        symbols = structure.positions + structure.velocities + structure.accelerations
        values = compile_exprs([el[k][i] for i in range(d) for k in range(m)], symbols, "numpy")(pts)
        A = values.reshape(64, d, m).reshape(64 * d, m)
        _, pivots, exprs = casimir_directions(A, compiled.names, compiled.expressions)
        return list(pivots), exprs

    def _tls(self, system):
        """Total-least-squares backward elimination (see ``selection``) on the rows of ``system``."""
        if not (isinstance(self.tol, (int, float)) and self.tol >= 0):
            raise ValueError(f"tol must be a number >= 0, got {self.tol!r}")
        A, y = system.rows()
        B = np.column_stack([A, -y])  # B [xi; 1] = 0
        nf = A.shape[1]

        def smallest(active):
            cols = B[:, active + [nf]]
            norm = np.linalg.norm(cols, axis=0)
            norm = np.where(norm > 0, norm, 1.0)
            _, sv, vt = np.linalg.svd(cols / norm, full_matrices=False)
            return sv[-1], vt[-1] / norm, vt[-1]

        active = list(range(nf))
        path = []
        while True:
            sigma, v, vn = smallest(active)
            path.append({"support": tuple(active), "sigma": float(sigma), "v": v})
            if not active:
                break
            active = [a for i, a in enumerate(active) if i != int(np.argmin(np.abs(vn[:-1])))]
        limit = (1 + float(self.tol)) * path[0]["sigma"] + 1e-10
        # supports whose singular vector leaves the normalized term out (|v_n| ~ 0) fit a null direction of the
        # data instead of the Euler-Lagrange equations: not candidates
        ok = [e for e in path if e["sigma"] <= limit and abs(e["v"][-1]) > 1e-8 * np.max(np.abs(e["v"]))]
        if not ok:
            raise ValueError("the normalization term does not enter any fitted Lagrangian (its coefficient in the "
                             "smallest singular vector vanishes): the data are too noisy for this library, or "
                             "normalize by another term")
        chosen = ok[-1]
        coef = np.zeros(nf)
        v = chosen["v"]
        coef[list(chosen["support"])] = v[:-1] / v[-1]
        return coef, {"criterion": f"total least squares, backward elimination (tol {self.tol})",
                      "path": [{"n_terms": len(e["support"]), "sigma": e["sigma"]} for e in path]}

    def _derivative_system(self, structure, data, acc, el, free, n_idx):
        d = data.n_dof
        X = np.concatenate([data.q, data.qdot, acc], axis=-1)
        symbols = structure.positions + structure.velocities + structure.accelerations
        f_free = compile_exprs([el[k][i] for i in range(d) for k in free], symbols, "numpy")
        f_norm = compile_exprs([el[n_idx][i] for i in range(d)], symbols, "numpy")
        flat = X.reshape(-1, 3 * d)
        target = -float(self.scale) * f_norm(flat)  # (N, d)
        rms = np.sqrt(np.mean(target ** 2, axis=0))
        weights = 1.0 / np.where(rms > 0, rms, 1.0)
        if data.is_trajectory and data.q.shape[0] >= 2:
            tb, nb = _block_ids(data.q.shape[0], int(self.n_blocks))
            sample_block = np.repeat(tb, data.q.shape[1])
        else:
            sample_block, nb = _block_ids(flat.shape[0], int(self.n_blocks))
        cols = np.arange(len(free))

        def rows():
            for s, e in _chunks_within_blocks(sample_block, 4096):
                A = f_free(flat[s:e]).reshape(e - s, d, len(free))
                y = target[s:e]
                for i in range(d):
                    yield sample_block[s], cols, A[:, i, :] * weights[i], y[:, i] * weights[i]

        return LinearSystem(len(free), nb, rows, d, "sum_k xi_k EL(theta_k) = -scale EL(theta_n)").accumulate()

    def _integral_system(self, structure, compiled, data, free, n_idx):
        """Rows of ∂L/∂q̇(t_n) - c - ∫_{t_0}^{t_n} ∂L/∂q dt = 0 per trajectory (offsets eliminated by centring)."""
        d = data.n_dof
        qs, vs = structure.positions, structure.velocities
        P = compile_exprs([sp.diff(compiled.expressions[k], vs[i]) for i in range(d) for k in free + [n_idx]],
                          structure.symbols, "numpy")
        F = compile_exprs([sp.diff(compiled.expressions[k], qs[i]) for i in range(d) for k in free + [n_idx]],
                          structure.symbols, "numpy")
        Z = data.states()  # (n_traj, n_time, 2d)
        n_traj, n_time = Z.shape[:2]
        if n_time < 3:
            raise ValueError(f"the integral formulation needs at least 3 samples per trajectory, got {n_time}")
        n_seg = max(1, int(np.ceil(n_time / 256)))
        cuts = np.linspace(0, n_time, n_seg + 1).round().astype(int)
        segments = [(int(a), int(b)) for a, b in zip(cuts[:-1], cuts[1:])]
        ops = {}
        for a, b in segments:
            W = integral_weights(data.t[a:b], int(self.quadrature_order))
            C = np.vstack([np.zeros((1, b - a)), np.cumsum(W, axis=0)])
            ops[(a, b)] = C - C.mean(axis=0, keepdims=True)
        nf = len(free)
        # the row weights: the RMS of the target column per dof, from one pass over the data
        tb, nb = _block_ids(n_traj, int(self.n_blocks)) if n_traj >= 2 else (np.zeros(1, dtype=int), 1)
        cols = np.arange(nf)

        def design():
            for j in range(n_traj):
                for a, b in segments:
                    x = Z[j, a:b]
                    Pv = P(x).reshape(b - a, d, nf + 1)
                    Fv = F(x).reshape(b - a, d, nf + 1)
                    A = (Pv - Pv.mean(axis=0, keepdims=True)) - np.einsum("nl,lik->nik", ops[(a, b)], Fv)
                    yield tb[j] if n_traj >= 2 else 0, A

        ss = np.zeros(d)
        for _, A in design():
            ss += np.sum(A[:, :, nf] ** 2, axis=0)
        w = 1.0 / np.sqrt(np.where(ss > 0, ss, 1.0) / (n_traj * n_time)) / abs(float(self.scale))

        def rows():
            for block, A in design():
                for i in range(d):
                    yield block, cols, A[:, i, :nf] * w[i], -float(self.scale) * A[:, i, nf] * w[i]

        return LinearSystem(nf, nb, rows, d, "dL/dqdot(t) - c = integral of dL/dq dt").accumulate()

    def _finish(self, compiled, structure, coef_free, free, n_idx, null, system, info, optimizer, start,
                accelerations, form):
        d = structure.n_dof
        coef = np.zeros(compiled.n_terms)
        coef[free] = np.asarray(coef_free, dtype=float).reshape(-1)
        coef[n_idx] = float(self.scale)
        if self.snap is not None:
            from .estimator import snap_value

            for k in np.flatnonzero(coef):
                r = snap_value(coef[k], float(self.snap))
                if r is not None:
                    coef[k] = float(r)
        self.structure_ = structure
        self.library_ = compiled
        self.n_dof_ = d
        self.n_features_in_ = 2 * d
        self.feature_names_ = list(compiled.names)
        self.coef_ = coef
        self.support_ = coef != 0
        self.terms_ = [n for n, s in zip(self.feature_names_, self.support_) if s]
        self.null_terms_ = [compiled.names[k] for k in null]
        self.normalized_term_ = compiled.names[n_idx]
        self.lagrangian_ = sp.Add(*[sp.Float(repr(float(coef[k]))) * compiled.expressions[k]
                                    for k in np.flatnonzero(coef)])
        try:
            self.hamiltonian_ = legendre_transform(self.lagrangian_, d)
        except StructureError as exc:
            warnings.warn(f"no Hamiltonian: {exc}", UserWarning, stacklevel=2)
            self.hamiltonian_ = None
        G, b, yy, n = system.total
        c = coef[free]
        res = max(yy - 2 * c @ b + c @ G @ c, 0.0)
        self.fit_time_ = time.perf_counter() - start
        self.formulation_ = form
        self.diagnostics_ = {
            "structure": "lagrangian", "formulation": form,
            "accelerations": accelerations, "optimizer": type(optimizer).__name__,
            "criterion": info.get("criterion"), "n_dof": d, "n_rows": n, "n_library_terms": compiled.n_terms,
            "n_selected_terms": int(self.support_.sum()), "normalized_term": self.normalized_term_,
            "scale": float(self.scale), "null_terms": self.null_terms_,
            "relative_residual": float(np.sqrt(res / yy)) if yy > 0 else 0.0, "fit_time_s": self.fit_time_,
        }
        self.selection_path_ = info.get("path", [])

    def equations(self):
        """The Euler-Lagrange equations of the fitted L: d expressions in (q, qdot, qddot) equal to zero."""
        self._check_fitted()
        return [sp.Eq(e, 0) for e in self.structure_.euler_lagrange_exprs(self.lagrangian_)]

    def latex(self, which="lagrangian", digits=10):
        """LaTeX of ``L = ...`` (``"lagrangian"``) or ``H = ...`` (``"hamiltonian"``)."""
        self._check_fitted()
        if which == "lagrangian":
            return "L = " + sp.latex(_round_floats(self.lagrangian_, digits), full_prec=False)
        if which == "hamiltonian":
            if self.hamiltonian_ is None:
                raise ValueError("the fitted L has no closed-form Legendre transform")
            return "H = " + sp.latex(_round_floats(self.hamiltonian_, digits), full_prec=False)
        raise ValueError(f"unknown latex target {which!r}; valid: lagrangian, hamiltonian")

    def accelerations(self, x):
        """q̈ of the fitted L at ``x = (q, qdot)`` of shape (n, 2d) -> (n, d) (the velocity Hessian must be
        invertible there)."""
        self._check_fitted()
        s = self.structure_
        el = s.euler_lagrange_exprs(self.lagrangian_)
        M = sp.Matrix([[sp.diff(e, a) for a in s.accelerations] for e in el])
        rest = sp.Matrix([e.subs({a: 0 for a in s.accelerations}) for e in el])
        x = np.asarray(x, dtype=float)
        Mv = compile_exprs(tuple(M), s.symbols, "numpy")(x).reshape(-1, s.n_dof, s.n_dof)
        rv = compile_exprs(tuple(rest), s.symbols, "numpy")(x)
        return np.linalg.solve(Mv, -rv[..., None])[..., 0]

    def summary(self):
        self._check_fitted()
        lines = [f"L = {sp.sstr(_round_floats(self.lagrangian_, 10), full_prec=False)}"]
        if self.hamiltonian_ is not None:
            lines.append(f"H = {sp.sstr(_round_floats(self.hamiltonian_, 10), full_prec=False)}")
        lines.append(f"normalized: coefficient of {self.normalized_term_} = {self.scale}")
        if self.null_terms_:
            lines.append(f"null Lagrangian terms (not identifiable): {', '.join(self.null_terms_)}")
        dg = self.diagnostics_
        lines.append(f"accelerations {dg['accelerations']}, rows {dg['n_rows']}, relative residual "
                     f"{dg['relative_residual']:.3g}, fit time {dg['fit_time_s']:.3f} s")
        return "\n".join(lines)
