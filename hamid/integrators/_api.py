"""The two entry points: :func:`integrate` (Hamiltonians) and :func:`integrate_field` (any vector field)."""
from __future__ import annotations

import contextlib
import contextvars
import math
import numbers

import numpy as np

from ._methods import get_method
from ._ops import NumpyOps, TorchOps
from ._systems import IntegratorError, field_system, hamiltonian_system

__all__ = ["integrate", "integrate_field", "BACKENDS", "allow_nonfinite"]

BACKENDS = ("numpy", "torch")

_NONFINITE_OK = contextvars.ContextVar("hamid_integrators_nonfinite_ok", default=False)


@contextlib.contextmanager
def allow_nonfinite():
    """Context (or decorator) in which :func:`integrate` and :func:`integrate_field` return trajectories with
    NaN/inf states instead of raising: for callers that measure divergence themselves, such as the valid
    prediction time of :mod:`hamid.comparison`."""
    token = _NONFINITE_OK.set(True)
    try:
        yield
    finally:
        _NONFINITE_OK.reset(token)


def integrate(hamiltonian, z0, *, dt, n_steps, method="leapfrog", backend="numpy", save_every=1, structure=None):
    """Integrate Hamilton's equations dz/dt = J∇H(z) (or B(z)∇H in another structure) from a batch of states.

    Parameters
    ----------
    hamiltonian : sympy.Expr, str, or fitted model
        H in the state symbols of :func:`hamid.symbolic.state_symbols` (``q, p`` for d = 1,
        ``q1..qd, p1..pd`` otherwise), or a string for the safe parser, or an object with a SymPy attribute
        ``hamiltonian_`` (used as the expression), or with a method ``hamiltonian_gradient(z)`` returning
        ∇H of shape (n, 2d) in the type of ``z`` (numpy or torch) and an optional boolean attribute
        ``separable`` (default False) telling whether H = T(p) + V(q).
    z0 : array_like or torch.Tensor, shape (n, 2d) or (2d,)
        Initial states ordered (q1..qd, p1..pd); d = z0.shape[-1] // 2. Never modified.
    dt : float
        Step size, > 0 and finite.
    n_steps : int
        Number of steps, >= 0.
    method : str or Method
        A name from :data:`METHODS`/:data:`ALIASES` (default ``"leapfrog"``) or a configured
        :class:`Method`, e.g. ``get_method("tao", omega=50)``.
    backend : {"numpy", "torch"}
        ``"torch"`` keeps the device and floating dtype of a tensor ``z0`` (numpy input becomes float64 on
        the CPU) and is differentiable with respect to ``z0`` and to parameters inside the Hamiltonian.
    save_every : int
        Keep every ``save_every``-th state (>= 1). Steps after the last kept state are not computed.
    structure : str or hamid.structures.Structure, optional
        ``None``/``"canonical"`` (default) for J∇H; otherwise e.g. ``"poisson:rigid_body"`` or a
        :class:`~hamid.structures.PortHamiltonianStructure` with its R: dz/dt = B(z)∇H with H in the
        structure's symbols (z1..zD), and only the methods that do not split (q, p) apply (``euler``,
        ``rk4``, ``implicit_midpoint``; the midpoint rule conserves quadratic Casimirs such as |z|²).

    Returns
    -------
    ndarray or torch.Tensor, shape (n, n_steps // save_every + 1, D)
        The trajectory; index 0 is ``z0``. A 1-D ``z0`` still gives n = 1.

    Raises
    ------
    IntegratorError (a ValueError)
        Bad shapes, non-finite ``z0``, bad ``dt``/``n_steps``/``save_every``, unknown method or backend, a
        method needing a separable H given a non-separable one (the message names both).
    TypeError
        Arguments of the wrong type.

    Examples
    --------
    >>> import numpy as np, sympy as sp
    >>> from hamid.integrators import integrate
    >>> q, p = sp.symbols("q p")
    >>> traj = integrate(p**2 / 2 - sp.cos(q), np.array([[1.0, 0.0]]), dt=0.01, n_steps=100)
    >>> traj.shape
    (1, 101, 2)
    """
    method = get_method(method)
    backend = _check_backend(backend)
    dt, n_steps, save_every = _check_steps(dt, n_steps, save_every)
    z = _prepare_state(z0, backend)
    D = z.shape[1]
    if structure is not None:
        from ..structures import StructureError, get_structure

        try:
            structure = get_structure(structure, dim=D)
        except StructureError as exc:
            raise IntegratorError(f"structure: {exc}") from None
        if structure.kind == "lagrangian":
            raise IntegratorError("integrate needs a Hamiltonian structure; Lagrangians: use the Legendre transform "
                                  "(hamid.structures.legendre_transform) and integrate H")
        if not structure.partitioned and method.partitioned:
            raise IntegratorError(f"method {method.name!r} splits the state into (q, p) and needs the canonical "
                                  f"structure; with {structure.spec} use euler, rk4 or implicit_midpoint")
    if D % 2 and (structure is None or structure.partitioned):
        raise IntegratorError(f"z0 must have an even number of columns 2d (q1..qd, p1..pd); got {D}")
    _check_memory(z, n_steps // save_every + 1)
    ops = _make_ops(backend, z, symbolic=_is_symbolic(hamiltonian))
    system = hamiltonian_system(hamiltonian, D // 2, ops, structure)
    method.check(system)
    out = method.run(system, _own(z, ops), dt, n_steps // save_every, save_every, ops)
    return _check_finite_result(out, dt, save_every)


def integrate_field(field, z0, *, dt, n_steps, method="rk4", backend="numpy", save_every=1, separable=False):
    """Integrate dz/dt = field(z) — learned or non-Hamiltonian fields — with the same steppers.

    Parameters
    ----------
    field : callable
        ``field(z)`` with ``z`` of shape (n, D) returns dz/dt of shape (n, D), numpy for the numpy backend
        and torch for the torch backend. It should act row by row (the Newton solver of implicit midpoint
        relies on it).
    z0 : array_like or torch.Tensor, shape (n, D) or (D,)
        Initial states. D may be odd for the non-partitioned methods (euler, rk4, implicit_midpoint).
    dt : float
        Step size, > 0 and finite.
    n_steps : int
        Number of steps, >= 0.
    method : str or Method
        Default ``"rk4"``. ``"euler"``, ``"rk4"`` and ``"implicit_midpoint"`` work for any field;
        ``"symplectic_euler_a"``, ``"symplectic_euler_b"``, ``"leapfrog"``, ``"yoshida4"`` need
        ``separable=True``; ``"tao"`` needs an even D (it treats the halves as (q, p)).
    backend : {"numpy", "torch"}
        The torch backend is differentiable: gradients flow to ``z0`` and to parameters used by ``field``.
    save_every : int
        Keep every ``save_every``-th state (>= 1).
    separable : bool
        The caller's declaration that D = 2d, dq/dt = field(z)[:, :d] depends on p = z[:, d:] only and
        dp/dt = field(z)[:, d:] on q only. Not verified.

    Returns
    -------
    ndarray or torch.Tensor, shape (n, n_steps // save_every + 1, D)

    Raises
    ------
    IntegratorError (a ValueError), TypeError
        As for :func:`integrate`; also when a separable-only method is asked for with ``separable=False``.

    Examples
    --------
    >>> import numpy as np
    >>> from hamid.integrators import integrate_field
    >>> decay = lambda z: -z
    >>> out = integrate_field(decay, np.ones((4, 3)), dt=0.1, n_steps=10)
    >>> out.shape, round(float(out[0, -1, 0]), 5)  # exp(-1) = 0.367879...
    ((4, 11, 3), 0.36788)
    """
    if not callable(field):
        raise TypeError(f"field must be callable, got {type(field).__name__}")
    if not isinstance(separable, (bool, np.bool_)):
        raise TypeError(f"separable must be a bool, got {type(separable).__name__}")
    method = get_method(method)
    backend = _check_backend(backend)
    dt, n_steps, save_every = _check_steps(dt, n_steps, save_every)
    z = _prepare_state(z0, backend)
    D = z.shape[1]
    if separable and D % 2:
        raise IntegratorError(f"separable=True needs an even state width 2d, got {D}")
    _check_memory(z, n_steps // save_every + 1)
    ops = _make_ops(backend, z, symbolic=False)
    system = field_system(field, D, bool(separable), ops)
    method.check(system)
    out = method.run(system, _own(z, ops), dt, n_steps // save_every, save_every, ops)
    return _check_finite_result(out, dt, save_every)


# ------------------------------------------------------------------------------------------ helpers


def _check_memory(z, n_saved):
    """Refuse, before any step, a trajectory (n, n_saved, D) beyond the stated array limit."""
    from ..limits import check_array_bytes

    itemsize = z.dtype.itemsize if isinstance(z, np.ndarray) else z.element_size()
    check_array_bytes((z.shape[0], n_saved, z.shape[1]), "the trajectory (initial states x saved states x "
                      "state width)", itemsize=itemsize)


def _check_finite_result(out, dt, save_every):
    """A trajectory that overflowed is an error naming the first step where it did (unless the caller asked
    for non-finite states with :func:`allow_nonfinite`)."""
    if _NONFINITE_OK.get():
        return out
    # one flat reduction first: the per-state reduction over the short last axis costs as much as the
    # integration itself on small systems (pendulum, all states saved: 8 of 19 ms), and is needed only to
    # name the failing step
    if isinstance(out, np.ndarray):
        if np.isfinite(out).all():
            return out
        finite = np.isfinite(out).all(axis=-1)
    else:
        import torch

        if bool(torch.isfinite(out.detach()).all()):
            return out
        finite = torch.isfinite(out.detach()).all(dim=-1).cpu().numpy()
    j = int(np.argmax(~finite.all(axis=0)))  # first saved index with a non-finite state
    i = int(np.argmax(~finite[:, j]))
    step = j * save_every
    where = f"at step {step}" if save_every == 1 else f"between steps {step - save_every + 1} and {step}"
    raise IntegratorError(
        f"the integration produced non-finite states (overflow or NaN) {where} (t = {step * dt:g}) of initial "
        f"state {i}; reduce dt (here {dt:g}) or check the Hamiltonian and the initial states"
    )


def _is_symbolic(hamiltonian):
    import sympy as sp

    if isinstance(hamiltonian, (sp.Expr, str)):
        return True
    try:
        return isinstance(hamiltonian.hamiltonian_, sp.Expr)
    except AttributeError:
        return False


def _check_backend(backend):
    if backend not in BACKENDS:
        raise IntegratorError(f"unknown backend {backend!r}; valid backends: {', '.join(BACKENDS)}")
    return backend


def _check_steps(dt, n_steps, save_every):
    if isinstance(dt, (bool, np.bool_)) or not isinstance(dt, numbers.Real):
        raise TypeError(f"dt must be a real number, got {type(dt).__name__}")
    dt = float(dt)
    if not math.isfinite(dt) or dt <= 0:
        raise IntegratorError(f"dt must be positive and finite, got {dt!r}")
    for name, value, low in (("n_steps", n_steps, 0), ("save_every", save_every, 1)):
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
            raise TypeError(f"{name} must be an integer, got {type(value).__name__}")
        if value < low:
            raise IntegratorError(f"{name} must be >= {low}, got {value}")
    return dt, int(n_steps), int(save_every)


def _as_numpy(z0):
    arr = np.asarray(z0)
    if arr.dtype.kind == "b" or arr.dtype.kind not in "fiu":
        raise TypeError(f"z0 must hold real numbers, got dtype {arr.dtype}")
    if arr.dtype.kind != "f":
        arr = arr.astype(np.float64)
    return arr


def _prepare_state(z0, backend):
    """Validate ``z0``; return it as a 2-D array/tensor of the backend (not yet copied)."""
    is_torch = type(z0).__module__.startswith("torch") and type(z0).__name__ == "Tensor"
    if backend == "numpy":
        if is_torch:
            raise TypeError("z0 is a torch.Tensor but backend='numpy'; pass backend='torch' (or a numpy array)")
        z = _as_numpy(z0)
        finite = bool(np.all(np.isfinite(z)))
    else:
        import torch

        if isinstance(z0, torch.Tensor):
            z = z0
            if z.is_complex() or z.dtype == torch.bool:
                raise TypeError(f"z0 must hold real numbers, got dtype {z.dtype}")
            if not z.is_floating_point():
                z = z.to(torch.float64)
        else:
            z = torch.as_tensor(_as_numpy(z0), dtype=torch.float64)
        finite = bool(torch.isfinite(z).all())
    if z.ndim == 1:
        z = z.reshape(1, -1)
    if z.ndim != 2 or z.shape[0] < 1 or z.shape[1] < 1:
        raise IntegratorError(f"z0 must have shape (n, D) or (D,) with n, D >= 1; got shape {tuple(np.shape(z0))}")
    if not finite:
        raise IntegratorError("z0 contains NaN or infinite values")
    return z


def _make_ops(backend, z, symbolic):
    if backend == "numpy":
        return NumpyOps(z.dtype)
    import torch

    # record a graph when autograd is on and something may require grad: z0, or parameters inside a
    # user callable (a SymPy H has none)
    recording = torch.is_grad_enabled() and (z.requires_grad or not symbolic)
    return TorchOps(z, recording)


def _own(z, ops):
    """A private copy of the initial states when the steppers will overwrite them."""
    if ops.name == "numpy":
        return np.array(z, copy=True)
    return z.clone() if ops.inplace else z
