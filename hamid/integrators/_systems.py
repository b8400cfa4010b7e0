"""What the steppers integrate: a vector field with optional partitioned pieces and Jacobian.

Three sources give a :class:`System`:

- a SymPy Hamiltonian: the field J∇H, ∂H/∂q compiled over the q symbols only and ∂H/∂p over the p symbols
  only (when H is separable), and the Jacobian J·Hess(H), all through :func:`hamid.symbolic.codegen.compile_exprs`
  (compiled once, cached);
- a model's ``hamiltonian_gradient(z)`` (∇H, numpy or torch) with its ``separable`` flag;
- a plain vector field ``field(z)`` (``integrate_field``), declared separable or not by the caller.
"""
from __future__ import annotations

from functools import lru_cache

import sympy as sp

from hamid.structures import CanonicalStructure
from hamid.symbolic.codegen import compile_exprs
from hamid.symbolic.symbols import parse_expression, state_symbols

__all__ = ["System", "IntegratorError", "sympy_system", "gradient_system", "field_system", "structure_system",
           "describe_expr", "separability_witness"]


class IntegratorError(ValueError):
    """Invalid input to an integrator; the message names the argument and the problem."""


class System:
    """A vector field on states of width ``dim`` plus what the structured methods need.

    Attributes
    ----------
    dim : int
        D, the width of a state.
    field : callable
        (n, D) -> (n, D), dz/dt.
    separable : bool
        dq/dt depends on p only and dp/dt on q only (for a Hamiltonian: H = T(p) + V(q)).
    drift_rate, kick_rate : callable or None
        ``(q, p) -> (n, d)``: dq/dt and ``kick_sign`` * dp/dt (separable systems only).
    jacobian : callable or None
        (n, D) -> (n, D, D), ∂(dz/dt)_i/∂z_j, when an exact one is available.
    label : str
        How error messages name the system.
    """

    def __init__(self, *, dim, field, separable, label, kind, drift_rate=None, kick_rate=None, kick_sign=1.0,
                 jacobian=None, expression=None):
        self.dim = dim
        self.field = field
        self.separable = separable
        self.label = label
        self.kind = kind
        self.drift_rate = drift_rate
        self.kick_rate = kick_rate
        self.kick_sign = kick_sign
        self.jacobian = jacobian
        self.expression = expression


@lru_cache(maxsize=256)
def describe_expr(expr, limit=120):
    # cached: printing H costs ~2 ms, more than 30 leapfrog steps of 10^4 Hénon–Heiles states
    text = str(expr)
    return text if len(text) <= limit else text[: limit - 3] + "..."


# ------------------------------------------------------------------------------------------- SymPy H


def as_expression(hamiltonian, d):
    """SymPy expression of ``hamiltonian`` (an Expr or a string for the safe parser) over the d-DOF symbols."""
    qs, ps = state_symbols(d)
    if isinstance(hamiltonian, str):
        return parse_expression(hamiltonian, qs + ps)
    if not isinstance(hamiltonian, sp.Expr):
        raise TypeError(f"hamiltonian must be a SymPy expression, got {type(hamiltonian).__name__}")
    allowed = set(qs + ps)
    unknown = sorted(str(s) for s in hamiltonian.free_symbols if s not in allowed)
    if unknown:
        raise IntegratorError(
            f"hamiltonian {describe_expr(hamiltonian)} uses symbol(s) {unknown} that are not state symbols of a "
            f"system with d = {d} degrees of freedom (z0 has {2 * d} columns); allowed: {[str(s) for s in qs + ps]}"
        )
    return hamiltonian


def _is_zero(expr):
    if expr == 0:
        return True
    simplified = sp.simplify(expr)
    return simplified == 0


@lru_cache(maxsize=256)
def separability_witness(H, d):
    """``None`` if all ∂²H/∂q_i∂p_j vanish identically, else ``(q_i, p_j, derivative)`` for one that does not."""
    qs, ps = state_symbols(d)
    for qi in qs:
        for pj in ps:
            mixed = sp.diff(H, qi, pj)
            if not _is_zero(mixed):
                return qi, pj, mixed
    return None


@lru_cache(maxsize=256)
def _sympy_parts(H, d):
    qs, ps = state_symbols(d)
    symbols = qs + ps
    dHdq = tuple(sp.diff(H, s) for s in qs)
    dHdp = tuple(sp.diff(H, s) for s in ps)
    field = CanonicalStructure(d).field_exprs(dHdq + dHdp)
    separable = separability_witness(H, d) is None
    return symbols, qs, ps, dHdq, dHdp, field, separable


@lru_cache(maxsize=256)
def _jacobian_exprs(H, d):
    """J·Hess(H) row by row: ∂(dz/dt)_i/∂z_j, D² expressions."""
    symbols, *_, field, _ = _sympy_parts(H, d)
    return tuple(sp.diff(f, s) for f in field for s in symbols)


def _lazy(exprs, symbols, backend):
    """``compile_exprs(exprs(), ...)`` on first use (a large Hessian is not compiled for a method that never needs it)."""
    cell = []

    def get():
        if not cell:
            cell.append(compile_exprs(exprs(), symbols, backend))
        return cell[0]

    return get


def sympy_system(H, d, backend):
    """System of Hamilton's equations dz/dt = J∇H for a SymPy ``H`` with ``d`` degrees of freedom."""
    symbols, qs, ps, dHdq, dHdp, field_exprs, separable = _sympy_parts(H, d)
    D = 2 * d
    field_fn = _lazy(lambda: field_exprs, symbols, backend)
    jac_fn = _lazy(lambda: _jacobian_exprs(H, d), symbols, backend)

    def field(z):
        return field_fn()(z)

    def jacobian(z):
        return jac_fn()(z).reshape(z.shape[0], D, D)

    drift_rate = kick_rate = None
    if separable:
        # ∂H/∂p from T(p) over the p symbols only, ∂H/∂q from V(q) over the q symbols only
        grad_T = compile_exprs(dHdp, ps, backend)
        grad_V = compile_exprs(dHdq, qs, backend)
        if dHdp == ps:  # T = |p|²/2: the velocity is p itself, nothing to evaluate
            def drift_rate(q, p):
                return p
        else:
            def drift_rate(q, p):
                return grad_T(p)

        def kick_rate(q, p):
            return grad_V(q)

    return System(dim=D, field=field, separable=separable, label=f"H = {describe_expr(H)}", kind="sympy",
                  drift_rate=drift_rate, kick_rate=kick_rate, kick_sign=-1.0, jacobian=jacobian, expression=H)


# ---------------------------------------------------------------------------------- user callables


def _checked(fn, ops, D, what):
    """Wrap a user callable (n, D) -> (n, D) with a type and shape check of its output."""

    def call(z):
        out = fn(z)
        if not ops.is_array(out):
            expected = "numpy.ndarray" if ops.name == "numpy" else "torch.Tensor"
            hint = "; use backend='torch'" if ops.name == "numpy" else ""
            raise TypeError(f"{what} returned {type(out).__name__} for {ops.name} input; expected {expected}{hint}")
        if tuple(out.shape) != (z.shape[0], D):
            raise IntegratorError(f"{what} returned shape {tuple(out.shape)} for states of shape "
                                  f"{tuple(z.shape)}; expected {(z.shape[0], D)}")
        return out

    return call


def _autograd_jacobian(field, ops):
    """Per-sample Jacobian of a row-wise field by D backward passes (torch only)."""
    torch = ops.torch

    def jacobian(z):
        D = z.shape[1]
        with torch.enable_grad():
            x = z.detach().requires_grad_(True)
            y = field(x)
            if not y.requires_grad:
                return torch.zeros(z.shape[0], D, D, dtype=z.dtype, device=z.device)
            rows = []
            for i in range(D):
                (g,) = torch.autograd.grad(y[:, i].sum(), x, retain_graph=i < D - 1, allow_unused=True)
                rows.append(torch.zeros_like(x) if g is None else g)
        return torch.stack(rows, dim=1).detach()

    return jacobian


def gradient_system(model, d, ops):
    """System of dz/dt = J∇H for an object with ``hamiltonian_gradient(z)`` -> ∇H of shape (n, 2d)."""
    D = 2 * d
    label = f"the Hamiltonian of {type(model).__name__} (hamiltonian_gradient)"
    grad = _checked(model.hamiltonian_gradient, ops, D, f"{type(model).__name__}.hamiltonian_gradient")
    separable = bool(getattr(model, "separable", False))

    structure = CanonicalStructure(d)

    def field(z):
        return structure.apply(grad(z), z)

    def drift_rate(q, p):
        return grad(ops.cat((q, p)))[:, d:]

    def kick_rate(q, p):
        return grad(ops.cat((q, p)))[:, :d]

    jacobian = _autograd_jacobian(field, ops) if ops.name == "torch" else None
    return System(dim=D, field=field, separable=separable, label=label, kind="gradient",
                  drift_rate=drift_rate if separable else None, kick_rate=kick_rate if separable else None,
                  kick_sign=-1.0, jacobian=jacobian)


def field_system(field, D, separable, ops):
    """System for a general vector field ``field(z)`` -> dz/dt of shape (n, D)."""
    name = getattr(field, "__qualname__", None) or type(field).__name__
    label = f"the field {name}"
    f = _checked(field, ops, D, f"field {name}")
    drift_rate = kick_rate = None
    if separable:
        d = D // 2

        def drift_rate(q, p):
            return f(ops.cat((q, p)))[:, :d]

        def kick_rate(q, p):
            return f(ops.cat((q, p)))[:, d:]

    jacobian = _autograd_jacobian(f, ops) if ops.name == "torch" else None
    return System(dim=D, field=f, separable=separable, label=label, kind="field", drift_rate=drift_rate,
                  kick_rate=kick_rate, kick_sign=1.0, jacobian=jacobian)


def structure_system(H, structure, backend):
    """System of dz/dt = B(z)∇H for a SymPy ``H`` and a non-canonical :class:`hamid.structures.Structure`
    (Poisson, or port-Hamiltonian with R ≠ 0): the field and its exact Jacobian come from the structure."""
    D = structure.dim
    symbols = structure.symbols
    field_fn = _lazy(lambda: structure.hamiltonian_field(H), symbols, backend)
    jac_fn = _lazy(lambda: structure.jacobian_exprs(H), symbols, backend)

    def field(z):
        return field_fn()(z)

    def jacobian(z):
        return jac_fn()(z).reshape(z.shape[0], D, D)

    return System(dim=D, field=field, separable=False,
                  label=f"H = {describe_expr(H)} with structure {structure.spec}", kind="structure",
                  jacobian=jacobian, expression=None)


def _structure_expression(hamiltonian, structure):
    if isinstance(hamiltonian, str):
        return parse_expression(hamiltonian, structure.symbols)
    expr = hamiltonian if isinstance(hamiltonian, sp.Expr) else getattr(hamiltonian, "hamiltonian_", None)
    if not isinstance(expr, sp.Expr):
        raise TypeError(f"with structure {structure.spec!r} the hamiltonian must be a SymPy expression, a string or "
                        f"a fitted model with a SymPy hamiltonian_, got {type(hamiltonian).__name__}")
    unknown = sorted(str(s) for s in expr.free_symbols if s not in set(structure.symbols))
    if unknown:
        raise IntegratorError(f"hamiltonian {describe_expr(expr)} uses symbol(s) {unknown} that are not state symbols "
                              f"of structure {structure.spec}: {[str(s) for s in structure.symbols]}")
    return expr


def hamiltonian_system(hamiltonian, d, ops, structure=None):
    """Resolve what :func:`hamid.integrators.integrate` accepts as a Hamiltonian into a :class:`System`.

    ``structure`` (a :class:`hamid.structures.Structure`) other than canonical gives dz/dt = B(z)∇H."""
    if structure is not None and not structure.partitioned:
        return structure_system(_structure_expression(hamiltonian, structure), structure, ops.name)
    if isinstance(hamiltonian, (sp.Expr, str)):
        return sympy_system(as_expression(hamiltonian, d), d, ops.name)
    try:
        expr = hamiltonian.hamiltonian_
    except AttributeError as exc:
        if type(exc).__name__ == "NotFittedError":
            raise
        expr = None
    if expr is not None:
        if not isinstance(expr, sp.Expr):
            raise TypeError(f"{type(hamiltonian).__name__}.hamiltonian_ must be a SymPy expression, "
                            f"got {type(expr).__name__}")
        return sympy_system(as_expression(expr, d), d, ops.name)
    if callable(getattr(hamiltonian, "hamiltonian_gradient", None)):
        return gradient_system(hamiltonian, d, ops)
    raise TypeError(
        "hamiltonian must be a SymPy expression, an expression string, or a fitted model with a SymPy "
        f"`hamiltonian_` attribute or a `hamiltonian_gradient(z)` method; got {type(hamiltonian).__name__}"
    )
