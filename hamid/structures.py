"""Geometric structures: how a gradient becomes a vector field, in one place.

A :class:`Structure` owns the map "∇H -> dz/dt" (symbolic and numeric, numpy or torch) and its Jacobian:

``canonical``
    dz/dt = J∇H, J = [[0, I], [-I, 0]], state (q1..qd, p1..pd).
``poisson:NAME`` or ``poisson:"[[...], [...]]"``
    dz/dt = B(z)∇H with a skew-symmetric B satisfying the Jacobi identity, state z1..zD. Named matrices:
    ``rigid_body`` (B(z) = ẑ, the hat map: B v = z × v) and ``lotka_volterra`` (B = [[0, -z1 z2], [z1 z2, 0]]).
    A matrix of expressions in z1..zD is read with the safe parser
    (:func:`hamid.symbolic.parse_expression`). H is determined only up to Casimirs C (B∇C = 0).
``port``
    dz/dt = (J - R(z))∇H with R ⪰ 0 (port-Hamiltonian / dissipative); state (q, p). ``R`` may be given
    (then the field is linear in the coefficients of H) or estimated (:class:`hamid.models.sparse.SparsePortHamiltonian`).
``lagrangian``
    Euler-Lagrange equations d/dt ∂L/∂q̇ - ∂L/∂q = 0 for L(q, q̇), state (q1..qd, qdot1..qdotd)
    (``q, qdot`` for d = 1); see :class:`LagrangianStructure`.

:func:`get_structure` resolves the string aliases; an unknown one raises a ValueError listing the valid forms.
Every numeric method works on batches of shape (..., D).
"""
from __future__ import annotations

import ast
import itertools

import numpy as np
import sympy as sp

from .symbolic.codegen import compile_exprs
from .symbolic.symbols import ExpressionError, parse_expression, state_symbols

__all__ = ["Structure", "CanonicalStructure", "PoissonStructure", "PortHamiltonianStructure",
           "LagrangianStructure", "StructureError", "get_structure", "STRUCTURE_KINDS", "POISSON_MATRICES",
           "poisson_symbols", "lagrangian_symbols", "compile_library", "SymbolLibrary", "casimir_directions",
           "legendre_transform"]


class StructureError(ValueError):
    """An unknown structure name, a malformed structure matrix, or data that do not fit the structure."""


def poisson_symbols(dim):
    """State symbols ``z1..zD`` of non-canonical data."""
    if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)) or dim < 1:
        raise StructureError(f"the state dimension must be a positive integer, got {dim!r}")
    return tuple(sp.Symbol(f"z{i}") for i in range(1, int(dim) + 1))


def lagrangian_symbols(n_dof):
    """``(qs, qdots, qddots)``: ``q, qdot, qddot`` for d = 1, else ``q1..qd, qdot1..qdotd, qddot1..qddotd``."""
    qs, _ = state_symbols(int(n_dof))
    if n_dof == 1:
        return qs, (sp.Symbol("qdot"),), (sp.Symbol("qddot"),)
    return (qs, tuple(sp.Symbol(f"qdot{i}") for i in range(1, n_dof + 1)),
            tuple(sp.Symbol(f"qddot{i}") for i in range(1, n_dof + 1)))


def _is_torch(x):
    return type(x).__module__.startswith("torch")


def _sum(terms):
    terms = [t for t in terms if t != 0]
    return sp.Add(*terms) if terms else sp.Integer(0)


class Structure:
    """Base class: a state space with its symbols and the map from ∇H to the vector field.

    Attributes
    ----------
    kind : str
        ``"canonical"``, ``"poisson"``, ``"port"`` or ``"lagrangian"``.
    spec : str
        The string alias that rebuilds this structure with :func:`get_structure`.
    symbols : tuple of sympy.Symbol, length D
        The state symbols in column order.
    dim : int
        D.
    partitioned : bool
        True when the state is canonical (q, p) and the field is J∇H, so that the symplectic splitting
        methods apply.
    casimirs : tuple of sympy.Expr
        Known Casimir functions (B∇C = 0); empty when none is known.
    """

    kind = "structure"
    partitioned = False
    casimirs = ()

    @property
    def dim(self):
        return len(self.symbols)

    @property
    def linear(self):
        """True when the field is linear in the coefficients of H (every structure whose matrix is known)."""
        return True

    def matrix(self):
        """The structure matrix B(z) (sympy.Matrix, D x D) with dz/dt = B(z)∇H."""
        raise NotImplementedError

    def key(self):
        """A hashable identity (used to cache compiled columns per structure)."""
        return (self.kind, self.symbols, tuple(self.matrix()))

    def field_exprs(self, grad):
        """The field B(z)·grad for a gradient given as D SymPy expressions -> tuple of D expressions."""
        B = self.matrix()
        D = self.dim
        if len(grad) != D:
            raise StructureError(f"a gradient of length {len(grad)} for a structure of dimension {D}")
        return tuple(_sum(B[i, j] * grad[j] for j in range(D) if B[i, j] != 0 and grad[j] != 0) for i in range(D))

    def hamiltonian_field(self, H):
        """The field of a Hamiltonian expression: B(z)∇H, D expressions."""
        return self.field_exprs(tuple(sp.diff(H, s) for s in self.symbols))

    def jacobian_exprs(self, H):
        """∂(B∇H)_i/∂z_j, row by row: D² expressions."""
        field = self.hamiltonian_field(H)
        return tuple(sp.diff(f, s) for f in field for s in self.symbols)

    def _matrix_values(self, z):
        backend = "torch" if _is_torch(z) else "numpy"
        flat = compile_exprs(tuple(self.matrix()), self.symbols, backend)(z)
        return flat.reshape(tuple(z.shape[:-1]) + (self.dim, self.dim))

    def apply(self, grad, z):
        """The field from a numeric gradient: ``grad`` and ``z`` of shape (..., D), numpy or torch -> (..., D)."""
        B = self._matrix_values(z)
        if _is_torch(grad):
            import torch

            return torch.einsum("...ij,...j->...i", B, grad)
        return np.einsum("...ij,...j->...i", B, grad)

    def __repr__(self):
        return f"<{type(self).__name__} {self.spec!r} D={self.dim}>"

    def __eq__(self, other):
        return isinstance(other, Structure) and self.key() == other.key()

    def __hash__(self):
        return hash(self.key())


class CanonicalStructure(Structure):
    """dz/dt = J∇H on (q1..qd, p1..pd), J = [[0, I], [-I, 0]].

    Parameters
    ----------
    n_dof : int
    """

    kind = "canonical"
    partitioned = True
    spec = "canonical"

    def __init__(self, n_dof):
        qs, ps = state_symbols(int(n_dof))
        self.n_dof = int(n_dof)
        self.symbols = qs + ps

    def key(self):
        return ("canonical", self.n_dof)

    def matrix(self):
        d = self.n_dof
        return sp.Matrix(sp.BlockMatrix([[sp.zeros(d), sp.eye(d)], [-sp.eye(d), sp.zeros(d)]]))

    def field_exprs(self, grad):
        d = self.n_dof
        if len(grad) != 2 * d:
            raise StructureError(f"a gradient of length {len(grad)} for a canonical state of width {2 * d}")
        grad = tuple(grad)
        return grad[d:] + tuple(-g for g in grad[:d])

    def apply(self, grad, z=None):
        d = self.n_dof
        if _is_torch(grad):
            import torch

            return torch.cat([grad[..., d:], -grad[..., :d]], dim=-1)
        return np.concatenate([grad[..., d:], -grad[..., :d]], axis=-1)


class PortHamiltonianStructure(Structure):
    """dz/dt = (J - R(z))∇H on (q, p), with a symmetric positive semidefinite dissipation matrix R.

    Parameters
    ----------
    n_dof : int
    damping : sympy.Matrix (2d x 2d), sequence of sequences of expressions/strings, or None
        R(z) in the canonical symbols; None means R = 0 (unknown R is estimated by
        :class:`hamid.models.sparse.SparsePortHamiltonian`). R must be symmetric; positive semidefiniteness
        is checked at the data by the estimators (it cannot be decided symbolically in general).
    """

    kind = "port"
    spec = "port"

    def __init__(self, n_dof, damping=None):
        qs, ps = state_symbols(int(n_dof))
        self.n_dof = int(n_dof)
        self.symbols = qs + ps
        D = 2 * self.n_dof
        if damping is None:
            R = sp.zeros(D, D)
        else:
            rows = damping.tolist() if isinstance(damping, sp.MatrixBase) else damping
            try:
                R = sp.Matrix([[parse_expression(e, self.symbols) if isinstance(e, str) else sp.sympify(e)
                                for e in row] for row in rows])
            except (TypeError, sp.SympifyError) as exc:
                raise StructureError(f"damping must be a {D}x{D} matrix of expressions: {exc}") from None
            if R.shape != (D, D):
                raise StructureError(f"damping must be {D}x{D} for d = {self.n_dof}, got {R.shape}")
            if any(sp.simplify(R[i, j] - R[j, i]) != 0 for i in range(D) for j in range(i + 1, D)):
                raise StructureError("the dissipation matrix R must be symmetric")
        self.damping = R
        self.partitioned = bool(R.is_zero_matrix)

    def key(self):
        return ("port", self.n_dof, tuple(self.damping))

    def matrix(self):
        return CanonicalStructure(self.n_dof).matrix() - self.damping

    def energy_rate(self, grad, z):
        """dH/dt = -∇Hᵀ R ∇H at states ``z`` (..., 2d) with gradients ``grad`` (..., 2d) -> (...)."""
        flat = compile_exprs(tuple(self.damping), self.symbols, "numpy")(np.asarray(z, dtype=float))
        R = flat.reshape(np.shape(z)[:-1] + (self.dim, self.dim))
        return -np.einsum("...i,...ij,...j->...", grad, R, grad)


def _check_poisson(B, symbols, label):
    D = len(symbols)
    if B.shape != (D, D):
        raise StructureError(f"{label}: the structure matrix must be square, got {B.shape}")
    for i in range(D):
        for j in range(i, D):
            if sp.simplify(B[i, j] + B[j, i]) != 0:
                raise StructureError(f"{label}: B is not skew-symmetric (B[{i}][{j}] = {B[i, j]}, "
                                     f"B[{j}][{i}] = {B[j, i]})")
    # Jacobi identity: Σ_l B_il ∂_l B_jk + B_jl ∂_l B_ki + B_kl ∂_l B_ij = 0 for all i < j < k
    for i, j, k in itertools.combinations(range(D), 3):
        s = sum(B[i, l] * sp.diff(B[j, k], symbols[l]) + B[j, l] * sp.diff(B[k, i], symbols[l])
                + B[k, l] * sp.diff(B[i, j], symbols[l]) for l in range(D))
        if sp.simplify(s) != 0:
            raise StructureError(f"{label}: B violates the Jacobi identity at indices ({i}, {j}, {k}): {s} != 0")


def _named_rigid_body(z):
    z1, z2, z3 = z
    return sp.Matrix([[0, -z3, z2], [z3, 0, -z1], [-z2, z1, 0]]), (z1**2 + z2**2 + z3**2,)


def _named_lotka_volterra(z):
    z1, z2 = z
    return sp.Matrix([[0, -z1 * z2], [z1 * z2, 0]]), ()


#: named Poisson matrices: name -> (state dimension, builder(symbols) -> (B, casimirs), description)
POISSON_MATRICES = {
    "rigid_body": (3, _named_rigid_body, "B(z) = hat(z) (B v = z x v), Casimir z1^2 + z2^2 + z3^2"),
    "lotka_volterra": (2, _named_lotka_volterra, "B = [[0, -z1*z2], [z1*z2, 0]]"),
}


class PoissonStructure(Structure):
    """dz/dt = B(z)∇H with a Poisson matrix B in the symbols z1..zD.

    Parameters
    ----------
    matrix : str, sympy.Matrix or sequence of sequences
        A name from :data:`POISSON_MATRICES`, a string ``"[[e11, e12], [e21, e22]]"`` whose entries are read
        with the safe parser, or a matrix of expressions (strings or SymPy) in ``z1..zD``.
    dim : int, optional
        D; required to check a named matrix against the data.

    Raises
    ------
    StructureError
        Unknown name (the valid ones are listed), malformed matrix, B not skew-symmetric or violating the Jacobi
        identity.
    """

    kind = "poisson"

    def __init__(self, matrix, dim=None):
        casimirs = ()
        if isinstance(matrix, str) and not matrix.strip().startswith("["):
            name = matrix.strip().lower()
            if name not in POISSON_MATRICES:
                raise StructureError(f"unknown Poisson matrix {matrix!r}; valid names: {', '.join(POISSON_MATRICES)}"
                                     ", or a matrix of expressions such as poisson:\"[[0, -z1*z2], [z1*z2, 0]]\"")
            D, build, _ = POISSON_MATRICES[name]
            if dim is not None and int(dim) != D:
                raise StructureError(f"the Poisson matrix {name!r} acts on {D} state components, the data have {dim}")
            symbols = poisson_symbols(D)
            B, casimirs = build(symbols)
            self.spec = f"poisson:{name}"
        else:
            rows = _parse_matrix_text(matrix) if isinstance(matrix, str) else (
                matrix.tolist() if isinstance(matrix, sp.MatrixBase) else matrix)
            try:
                rows = [list(r) for r in rows]
            except TypeError:
                raise StructureError(f"a Poisson matrix must be a list of rows, got {type(matrix).__name__}") from None
            D = len(rows)
            if dim is not None and int(dim) != D:
                raise StructureError(f"the Poisson matrix is {D}x{D}, the data have {dim} state components")
            if any(len(r) != D for r in rows):
                raise StructureError(f"a Poisson matrix must be square; row lengths {[len(r) for r in rows]}")
            symbols = poisson_symbols(D)
            B = sp.Matrix([[parse_expression(e if isinstance(e, (str, sp.Expr)) else str(e), symbols)
                            for e in r] for r in rows])
            self.spec = "poisson:" + str([[str(e) for e in r] for r in B.tolist()]).replace("'", "")
        _check_poisson(B, symbols, self.spec)
        self.symbols = symbols
        self._B = B
        if not casimirs:
            casimirs = _linear_casimirs(B, symbols)
        self.casimirs = tuple(casimirs)

    def matrix(self):
        return self._B


def _linear_casimirs(B, symbols):
    """Casimirs v·z for constant null vectors v of B (the ones found without integrating)."""
    out = []
    for v in B.nullspace():
        v = sp.simplify(v)
        if all(not e.free_symbols for e in v):
            out.append(sp.expand(sum(c * s for c, s in zip(v, symbols))))
    return out


def _parse_matrix_text(text):
    """Rows of expression strings from ``"[[a, b], [c, d]]"``; only the list syntax is read, never evaluated."""
    try:
        tree = ast.parse(text.strip(), mode="eval").body
    except SyntaxError as exc:
        raise StructureError(f"cannot read the matrix {text!r}: {exc.msg}") from None
    if not isinstance(tree, (ast.List, ast.Tuple)) or not all(isinstance(r, (ast.List, ast.Tuple)) for r in tree.elts):
        raise StructureError(f"a structure matrix must be written as [[e11, e12, ...], [e21, ...], ...], got {text!r}")
    return [[ast.unparse(e) for e in r.elts] for r in tree.elts]


class LagrangianStructure(Structure):
    """Euler-Lagrange equations of L(q, q̇): Σ_j ∂²L/∂q̇_i∂q̇_j q̈_j + Σ_j ∂²L/∂q̇_i∂q_j q̇_j - ∂L/∂q_i = 0.

    The state is (q1..qd, qdot1..qdotd) (``q, qdot`` for d = 1). The residual is linear in the coefficients of
    L = Σ ξ_k θ_k and homogeneous (ξ -> cξ solves it too, as does any total time derivative added to L):
    :class:`hamid.models.sparse.SparseLagrangian` fixes the scale by normalizing one term's coefficient.

    Parameters
    ----------
    n_dof : int
    """

    kind = "lagrangian"
    spec = "lagrangian"

    def __init__(self, n_dof):
        self.n_dof = int(n_dof)
        self.positions, self.velocities, self.accelerations = lagrangian_symbols(self.n_dof)
        self.symbols = self.positions + self.velocities

    def key(self):
        return ("lagrangian", self.n_dof)

    def matrix(self):
        raise StructureError("a Lagrangian structure has no Poisson matrix; use euler_lagrange_exprs")

    def euler_lagrange_exprs(self, L):
        """The d Euler-Lagrange residuals of ``L`` as expressions in (q, qdot, qddot)."""
        qs, vs, acc = self.positions, self.velocities, self.accelerations
        out = []
        for vi, qi in zip(vs, qs):
            pi = sp.diff(L, vi)
            out.append(_sum([sp.diff(pi, vj) * aj for vj, aj in zip(vs, acc)]
                            + [sp.diff(pi, qj) * vj for qj, vj in zip(qs, vs)] + [-sp.diff(L, qi)]))
        return tuple(out)

    def hamiltonian_field(self, H):  # pragma: no cover - not a J∇ structure
        raise StructureError("a Lagrangian structure has no gradient field; use euler_lagrange_exprs")


def legendre_transform(L, n_dof):
    """H(q, p) of a Lagrangian quadratic in the velocities, L = ½ q̇ᵀM(q)q̇ + b(q)ᵀq̇ - V(q).

    H = ½ (p - b)ᵀ M⁻¹ (p - b) + V in the canonical symbols of :func:`hamid.symbolic.state_symbols`.

    Raises
    ------
    StructureError
        When L is not quadratic in the velocities or M is singular (no Legendre transform in closed form).
    """
    qs, vs, _ = lagrangian_symbols(n_dof)
    _, ps = state_symbols(n_dof)
    L = sp.sympify(L)
    M = sp.Matrix([[sp.diff(L, vi, vj) for vj in vs] for vi in vs])
    if any(e.free_symbols & set(vs) for e in M):
        raise StructureError(f"L = {L} is not quadratic in the velocities: no closed-form Legendre transform")
    zero = {v: 0 for v in vs}
    b = sp.Matrix([sp.diff(L, v).subs(zero) for v in vs])
    V = -L.subs(zero)
    # no symbolic simplification (it can take minutes on a dense fitted L): the determinant by Berkowitz, the
    # inverse as adjugate / determinant, singularity checked numerically at random positions
    det = M.det(method="berkowitz")
    f_det = sp.lambdify(qs, det, "numpy")
    rng = np.random.default_rng(0)
    values = np.atleast_1d(np.asarray(f_det(*rng.uniform(-3, 3, (len(qs), 16))), dtype=float))
    if np.all(np.abs(values) < 1e-12 * max(1.0, float(np.max(np.abs(values))))):
        raise StructureError(f"the velocity Hessian of L = {L} is singular (det = 0): L is degenerate")
    u = sp.Matrix(ps) - b
    if n_dof == 1:
        T = u[0] ** 2 / (2 * M[0, 0])
    else:
        T = (u.T * M.adjugate(method="berkowitz") * u)[0, 0] / (2 * det)
    return sp.together(sp.expand(T)) + V


def get_structure(spec, dim=None):
    """Resolve a structure alias.

    Parameters
    ----------
    spec : str or Structure
        ``"canonical"``, ``"poisson:NAME"``, ``"poisson:[[...], [...]]"``, ``"port"``, ``"lagrangian"``
        (see :data:`STRUCTURE_KINDS`), or a :class:`Structure` (returned unchanged).
    dim : int, optional
        The state width D of the data (2d for canonical, port and Lagrangian states).

    Returns
    -------
    Structure

    Raises
    ------
    StructureError
        Unknown alias (the valid forms are listed) or a width that does not fit.
    """
    if isinstance(spec, Structure):
        if dim is not None and spec.dim != int(dim):
            raise StructureError(f"structure {spec.spec!r} has state dimension {spec.dim}, the data {dim}")
        return spec
    if spec is None:
        spec = "canonical"
    if not isinstance(spec, str):
        raise TypeError(f"structure must be a string alias or a Structure, got {type(spec).__name__}")
    kind, _, arg = spec.strip().partition(":")
    kind = kind.strip().lower()
    if kind == "poisson":
        if not arg.strip():
            raise StructureError(f"poisson needs a matrix: poisson:NAME ({', '.join(POISSON_MATRICES)}) or "
                                 "poisson:\"[[...], [...]]\"")
        return PoissonStructure(arg.strip().strip("'\""), dim=dim)
    if kind in ("canonical", "port", "lagrangian"):
        if arg:
            raise StructureError(f"structure {kind!r} takes no argument, got {spec!r}")
        if dim is None:
            raise StructureError(f"structure {kind!r} needs the state dimension")
        if int(dim) % 2:
            raise StructureError(f"structure {kind!r} needs an even state width 2d, got {dim}: non-canonical data "
                                 "need --structure poisson:NAME or poisson:\"[[...]]\"")
        cls = {"canonical": CanonicalStructure, "port": PortHamiltonianStructure,
               "lagrangian": LagrangianStructure}[kind]
        return cls(int(dim) // 2)
    raise StructureError(f"unknown structure {spec!r}; valid: {'; '.join(STRUCTURE_KINDS.values())}")


STRUCTURE_KINDS = {
    "canonical": "canonical - dz/dt = J grad H on (q, p)",
    "poisson": "poisson:NAME (" + ", ".join(POISSON_MATRICES) + ") or poisson:\"[[e11, ...], ...]\" - dz/dt = B(z) "
               "grad H on z1..zD",
    "port": "port - dz/dt = (J - R(z)) grad H with R PSD estimated",
    "lagrangian": "lagrangian - Euler-Lagrange equations of L(q, qdot)",
}


# --------------------------------------------------------------------------------- libraries on any symbols


class SymbolLibrary:
    """A library bound to arbitrary state symbols (the :class:`hamid.symbolic.CompiledLibrary` interface).

    Attributes
    ----------
    expressions : tuple of sympy.Expr, length m
    symbols : tuple of sympy.Symbol, length D
    gradient_exprs : tuple of tuple of sympy.Expr, shape (m, D)
    names : list of str
    n_dof : int or None
        D // 2 when D is even (unused by non-canonical structures).
    """

    def __init__(self, expressions, symbols):
        if not expressions:
            raise ValueError("the library has no terms")
        self.expressions = tuple(expressions)
        self.symbols = tuple(symbols)
        self.n_dof = len(self.symbols) // 2 if len(self.symbols) % 2 == 0 else None
        self.gradient_exprs = tuple(tuple(sp.diff(e, s) for s in self.symbols) for e in self.expressions)
        self.names = [str(e) for e in self.expressions]

    @property
    def n_terms(self):
        return len(self.expressions)

    def latex_names(self):
        return [sp.latex(e) for e in self.expressions]

    def evaluate(self, Z, backend="numpy"):
        """θ at states ``Z`` (n, D) -> (n, m)."""
        return compile_exprs(self.expressions, self.symbols, backend)(Z)

    def gradient(self, Z, backend="numpy"):
        """∇θ at ``Z`` (n, D) -> (n, m, D)."""
        flat = tuple(g for row in self.gradient_exprs for g in row)
        out = compile_exprs(flat, self.symbols, backend)(Z)
        return out.reshape(tuple(out.shape[:-1]) + (self.n_terms, len(self.symbols)))

    def hamiltonian(self, coef):
        coef = np.asarray(coef, dtype=float).ravel()
        return sp.Add(*(sp.Float(c) * e for c, e in zip(coef, self.expressions) if c != 0.0))


def _library_terms(library, symbols, positions):
    from .symbolic.libraries import (ConcatLibrary, CustomLibrary, PolynomialLibrary, ProductLibrary,
                                     TrigLibrary)

    if isinstance(library, PolynomialLibrary):
        for k in range(1, library.degree + 1):
            if library.cross_terms:
                for combo in itertools.combinations_with_replacement(symbols, k):
                    yield sp.Mul(*combo)
            else:
                for v in symbols:
                    yield v ** k
    elif isinstance(library, TrigLibrary):
        rest = tuple(s for s in symbols if s not in positions)
        chosen = {"positions": positions, "momenta": rest, "all": tuple(symbols)}[library.variables]
        for f in library.frequencies:
            k = sp.nsimplify(f)
            for v in chosen:
                yield sp.sin(k * v)
                yield sp.cos(k * v)
    elif isinstance(library, CustomLibrary):
        for term in library.terms:
            expr = parse_expression(term, symbols)
            if not expr.free_symbols:
                raise ExpressionError(f"custom term {term!r} is a constant; constant terms are not identifiable")
            yield expr
    elif isinstance(library, ConcatLibrary):
        for lib in library.libraries:
            yield from _library_terms(lib, symbols, positions)
    elif isinstance(library, ProductLibrary):
        left = list(_dedupe(_library_terms(library.left, symbols, positions)))
        right = list(_dedupe(_library_terms(library.right, symbols, positions)))
        for a in left:
            for b in right:
                yield a * b
    else:
        hook = getattr(library, "terms_over", None)
        if hook is None:
            raise TypeError(f"{type(library).__name__} cannot be bound to the symbols {[str(s) for s in symbols]}; "
                            "give it a terms_over(symbols, positions) method")
        yield from hook(symbols, positions)


def _dedupe(terms):
    seen = set()
    for term in terms:
        term = sp.sympify(term)
        if not term.free_symbols:
            continue
        key = term.as_coeff_Mul()[1]
        if key in seen:
            continue
        seen.add(key)
        yield term


def compile_library(library, structure):
    """Bind a :class:`hamid.symbolic.Library` to the state symbols of ``structure``.

    Canonical and port structures use the library's own :meth:`~hamid.symbolic.Library.compile` (cached);
    Poisson states use ``z1..zD`` (``trig`` then means every coordinate) and Lagrangian states
    ``(q, qdot)`` (``trig`` means the positions, ``poly`` every monomial in q and qdot).

    Returns
    -------
    CompiledLibrary or SymbolLibrary
    """
    if isinstance(structure, (CanonicalStructure, PortHamiltonianStructure)):
        return library.compile(structure.n_dof)
    positions = structure.positions if isinstance(structure, LagrangianStructure) else structure.symbols
    terms = tuple(_dedupe(_library_terms(library, structure.symbols, positions)))
    if not terms:
        raise ValueError("the library has no non-constant terms")
    return SymbolLibrary(terms, structure.symbols)


def casimir_directions(columns, names, expressions, tol=1e-9):
    """Combinations of library terms whose field columns vanish on the data (Casimirs within the library).

    Parameters
    ----------
    columns : ndarray, shape (n_rows, m)
        The design (field columns B∇θ_k evaluated at the samples, any row weighting).
    names : list of str, length m
    expressions : sequence of sympy.Expr, length m

    Returns
    -------
    directions : ndarray, shape (r, m)
        A basis of the null space in reduced row-echelon form with respect to the *last* term involved
        (its "pivot", coefficient 1).
    pivots : list of int, length r
        The pivot term of each direction; fits set their coefficients to 0 (the gauge).
    exprs : list of sympy.Expr
        Σ_k directions[i, k] θ_k, coefficients rounded to simple rationals where within 1e-8.
    """
    A = np.asarray(columns, dtype=float)
    scale = np.sqrt(np.mean(A ** 2, axis=0))
    scale = np.where(scale > 0, scale, 1.0)
    An = A / scale
    m = A.shape[1]
    # thin SVD when rows >= terms (the full one would build an n x n factor for nothing)
    _, s, vt = np.linalg.svd(An, full_matrices=An.shape[0] < m)
    smax = s[0] if s.size else 0.0
    rank = int(np.sum(s > tol * max(smax, 1e-300)))
    null = vt[rank:] / scale[None, :]  # back to raw coefficients
    rows = null.copy()
    pivots = []
    for i in range(rows.shape[0]):
        free = [k for k in range(m) if k not in pivots]
        row = rows[i]
        k = max(free, key=lambda j: (abs(row[j]) > 1e-8 * np.max(np.abs(row)), j))
        rows[i] = row / row[k]
        for j in range(rows.shape[0]):
            if j != i:
                rows[j] = rows[j] - rows[j, k] * rows[i]
        pivots.append(k)
    rows[np.abs(rows) < 1e-10] = 0.0
    from .models.sparse.estimator import snap_value

    exprs = []
    for row in rows:
        parts = []
        for c, e in zip(row, expressions):
            if c != 0:
                r = snap_value(c, 1e-8, 1000)
                parts.append((r if r is not None else sp.Float(c)) * e)
        exprs.append(sp.Add(*parts))
    return rows, pivots, exprs
