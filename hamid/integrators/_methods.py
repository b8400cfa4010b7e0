"""Integration methods: objects that declare their properties, and a registry keyed by name.

Every method declares ``name``, ``order``, ``symplectic``, ``requires_separable`` and ``explicit`` (plus
``partitioned``: it splits the state into halves (q, p) and needs an even width). Partitioned splitting
methods are written as a sequence of kicks (p += a h dp/dt(q)) and drifts (q += b h dq/dt(p)); the executor
fuses the last sub-step of one step with the first of the next (leapfrog: half kick, n−1 (drift, full kick)
pairs, drift, half kick) and, at a save point, evaluates the fused sub-step's increment once, writes the
synchronized state into the output and continues with the fused update.
"""
from __future__ import annotations

import math
import warnings

import numpy as np

from ._ops import Saver
from ._systems import IntegratorError, describe_expr, separability_witness

__all__ = ["Method", "Euler", "RK4", "SymplecticEulerA", "SymplecticEulerB", "Leapfrog", "Yoshida4",
           "ImplicitMidpoint", "Tao", "DOP853", "Splitting", "METHODS", "ALIASES", "get_method", "method_names"]


class Method:
    """Base class of the integration methods.

    Subclasses set the class attributes below and implement ``_integrate``. Instances are immutable
    descriptions (options are set in the constructor); one instance can be used for many integrations.

    Attributes
    ----------
    name : str
        Registry name.
    order : int
        Classical order of convergence (global error O(dt**order)).
    symplectic : bool
        The one-step map of (q, p) is symplectic for Hamiltonian systems.
    requires_separable : bool
        Needs H = T(p) + V(q) (a field with dq/dt = f(p), dp/dt = g(q)).
    explicit : bool
        No nonlinear solve per step.
    partitioned : bool
        Works on the halves (q, p) of the state, so the state width must be even.

    Examples
    --------
    >>> from hamid.integrators import get_method
    >>> m = get_method("leapfrog")
    >>> (m.order, m.symplectic, m.requires_separable)
    (2, True, True)
    """

    name = "method"
    order = 0
    symplectic = False
    requires_separable = False
    explicit = True
    partitioned = False
    #: step sizes chosen by error control (``dt`` then sets only the output grid)
    adaptive = False

    def options(self):
        """Options given to the constructor, as a dict."""
        return {}

    def __repr__(self):
        opts = ", ".join(f"{k}={v!r}" for k, v in self.options().items())
        return f"{type(self).__name__}({opts})"

    def __eq__(self, other):
        return type(self) is type(other) and self.options() == other.options()

    def __hash__(self):
        return hash((type(self), tuple(sorted(self.options().items()))))

    # ------------------------------------------------------------------------------------------ checks

    def check(self, system):
        """Raise if this method cannot integrate ``system``."""
        if self.partitioned and system.dim % 2:
            raise IntegratorError(
                f"method {self.name!r} splits the state into (q, p) and needs an even state width; "
                f"got width {system.dim}"
            )
        if self.requires_separable and not system.separable:
            why = ""
            if system.expression is not None:
                qi, pj, mixed = separability_witness(system.expression, system.dim // 2)
                why = f" (∂²H/∂{qi}∂{pj} = {describe_expr(mixed, 60)} is not identically zero)"
            elif system.kind == "gradient":
                why = " (its `separable` attribute is not True)"
            elif system.kind == "field":
                why = " (pass separable=True only if dq/dt depends on p alone and dp/dt on q alone)"
            others = ", ".join(repr(n) for n, m in METHODS.items() if not m.requires_separable)
            raise IntegratorError(
                f"method {self.name!r} requires a separable system H = T(p) + V(q), but {system.label} is not "
                f"separable{why}; methods that do not need separability: {others}"
            )

    # ------------------------------------------------------------------------------------------- run

    def run(self, system, z, h, n_saves, save_every, ops):
        """Integrate ``n_saves * save_every`` steps of size ``h`` from ``z`` (n, D).

        Returns the saved states, shape (n, n_saves + 1, D), ``z`` at index 0.
        """
        saver = Saver(ops, z.shape[0], n_saves, system.dim)
        saver.save(0, (z,))
        if n_saves > 0:
            self._integrate(system, z, h, n_saves, save_every, ops, saver)
        return saver.result()

    def _integrate(self, system, z, h, n_saves, save_every, ops, saver):  # pragma: no cover - abstract
        raise NotImplementedError


# ------------------------------------------------------------------------------ one-step methods


class _OneStep(Method):
    """Methods written as z_{k+1} = step(z_k) on the whole state."""

    def _integrate(self, system, z, h, n_saves, save_every, ops, saver):
        state = self._start(system, z, ops)
        for j in range(1, n_saves + 1):
            for _ in range(save_every):
                z = self._step(system, z, h, ops, state)
            saver.save(j, (z,))
        self._finish(state)

    def _start(self, system, z, ops):
        return None

    def _finish(self, state):
        pass


class Euler(_OneStep):
    """Explicit (forward) Euler: z ← z + h f(z). Order 1, not symplectic; works for any field."""

    name = "euler"
    order = 1

    def _step(self, system, z, h, ops, state):
        return ops.axpy(z, h, system.field(z))


class RK4(_OneStep):
    """The classical 4-stage Runge–Kutta method. Order 4, not symplectic; works for any field."""

    name = "rk4"
    order = 4

    def _step(self, system, z, h, ops, state):
        f = system.field
        k1 = f(z)
        k2 = f(ops.add(z, 0.5 * h, k1))
        k3 = f(ops.add(z, 0.5 * h, k2))
        k4 = f(ops.add(z, h, k3))
        return ops.axpy(z, h / 6.0, k1 + 2.0 * k2 + 2.0 * k3 + k4)


class ImplicitMidpoint(_OneStep):
    """Implicit midpoint rule z₁ = z₀ + h f((z₀ + z₁)/2). Order 2, symplectic, for any (non-separable) H.

    The midpoint m = (z₀ + z₁)/2 solves G(m) = m − z₀ − (h/2) f(m) = 0, started from the explicit Euler
    predictor m = z₀ + (h/2) f(z₀).

    Parameters
    ----------
    solver : {"auto", "newton", "fixed_point"}
        ``"newton"``: m ← m − (I − (h/2) Df(m))⁻¹ G(m), with the exact Jacobian Df = J·Hess(H) compiled from
        a SymPy Hamiltonian, or, on the torch backend, the per-sample Jacobian of the field by autograd
        (D backward passes; the field must act row by row). No finite differences anywhere.
        ``"fixed_point"``: m ← z₀ + (h/2) f(m); converges linearly when h·Lip(f)/2 < 1, needs no
        Jacobian (the only choice for a numpy field or a numpy ``hamiltonian_gradient``).
        ``"auto"`` (default) takes Newton when a Jacobian is available, else fixed point.
    tol : float
        Stop when the largest update is below ``tol * (1 + max|m|)`` (``tol`` is raised to 8 machine
        epsilons of the dtype for low-precision inputs). Default 1e-14.
    max_iter : int
        Iteration cap per step; steps that hit it trigger one ``RuntimeWarning`` per call.

    Notes
    -----
    Differentiability (torch): with Newton the iteration runs on detached values, and one extra Newton step
    from the converged, detached midpoint is recorded; at a converged root this step's derivative equals
    the implicit-function derivative, so gradients to z₀ and to the field's parameters are exact (not
    unrolled). With fixed point the iterations are recorded (unrolled differentiation).
    """

    name = "implicit_midpoint"
    order = 2
    symplectic = True
    explicit = False
    SOLVERS = ("auto", "newton", "fixed_point")

    def __init__(self, solver="auto", tol=1e-14, max_iter=100):
        if solver not in self.SOLVERS:
            raise IntegratorError(f"unknown solver {solver!r} for implicit_midpoint; valid: {', '.join(self.SOLVERS)}")
        if not (isinstance(tol, (int, float)) and math.isfinite(tol) and tol > 0):
            raise IntegratorError(f"tol must be a positive finite number, got {tol!r}")
        if isinstance(max_iter, bool) or not isinstance(max_iter, int) or max_iter < 1:
            raise IntegratorError(f"max_iter must be a positive integer, got {max_iter!r}")
        self.solver = solver
        self.tol = float(tol)
        self.max_iter = max_iter

    def options(self):
        return {"solver": self.solver, "tol": self.tol, "max_iter": self.max_iter}

    def _start(self, system, z, ops):
        solver = self.solver
        if solver == "auto":
            solver = "newton" if system.jacobian is not None else "fixed_point"
        elif solver == "newton" and system.jacobian is None:
            raise IntegratorError(
                f"implicit_midpoint with solver='newton' needs the Jacobian of {system.label}: it is available "
                "for SymPy Hamiltonians (exact Hessian) and on the torch backend (autograd); use "
                "solver='fixed_point' here"
            )
        return {"solver": solver, "tol": max(self.tol, 8 * ops.eps), "failed": 0, "worst": 0.0,
                "eye": ops.eye(system.dim), "ops": ops}

    def _finish(self, state):
        if state["failed"]:
            warnings.warn(
                f"implicit_midpoint ({state['solver']}): {state['failed']} step(s) did not reach tol "
                f"{state['tol']:.1e} within {self.max_iter} iterations (largest final update "
                f"{state['worst']:.2e})", RuntimeWarning, stacklevel=4)

    def _converged(self, delta, m, state):
        ops = state["ops"]
        size = ops.max_abs(delta)
        if size <= state["tol"] * (1.0 + ops.max_abs(m)):
            return True
        if not math.isfinite(size):
            state["failed"] += 1
            state["worst"] = math.inf
            return True  # give up on this step: the NaN propagates into the result
        return False

    def _step(self, system, z, h, ops, state):
        f = system.field
        half = 0.5 * h
        if state["solver"] == "newton":
            # iterate on detached values (the field is called normally, as models that differentiate
            # internally need grad mode; its output is detached)
            detach = ops.detach
            zd = detach(z)
            m = ops.add(zd, half, detach(f(zd)))
            for _ in range(self.max_iter):
                G = m - zd - half * detach(f(m))
                delta = ops.solve(state["eye"] - half * detach(system.jacobian(m)), G)
                m = m - delta
                if self._converged(delta, m, state):
                    break
            else:
                state["failed"] += 1
                state["worst"] = max(state["worst"], ops.max_abs(delta))
            if ops.recording:
                # one recorded Newton step from the detached root: exact implicit-function derivative
                A = state["eye"] - half * detach(system.jacobian(m))
                m = m - ops.solve(A, m - z - half * f(m))
        else:
            m = ops.add(z, half, f(z))
            for _ in range(self.max_iter):
                m_new = z + half * f(m)
                delta = ops.detach(m_new - m)
                m = m_new
                if self._converged(delta, m, state):
                    break
            else:
                state["failed"] += 1
                state["worst"] = max(state["worst"], ops.max_abs(delta))
        return 2.0 * m - z


# ------------------------------------------------------------------------------ splitting methods


class _Kick:
    """p ← p + a·dp/dt(q); the increment depends on q only (separable systems)."""

    def __init__(self, system, ops):
        self.rate, self.sign, self.ops = system.kick_rate, system.kick_sign, ops

    def increment(self, s):
        return self.rate(s[0], s[1])

    def apply(self, s, a, inc):
        s[1] = self.ops.axpy(s[1], self.sign * a, inc)

    def save(self, saver, j, s, a, inc):
        saver.save_axpy(j, (s[0], s[1]), 1, self.sign * a, inc)


class _Drift:
    """q ← q + a·dq/dt(p); the increment depends on p only (separable systems)."""

    def __init__(self, system, ops):
        self.rate, self.ops = system.drift_rate, ops

    def increment(self, s):
        return self.rate(s[0], s[1])

    def apply(self, s, a, inc):
        s[0] = self.ops.axpy(s[0], a, inc)

    def save(self, saver, j, s, a, inc):
        saver.save_axpy(j, (s[0], s[1]), 0, a, inc)


def _normalize(sequence):
    """Merge adjacent sub-steps of the same kind and drop zero coefficients."""
    out = []
    for kind, c in sequence:
        if c == 0:
            continue
        if out and out[-1][0] == kind:
            out[-1] = (kind, out[-1][1] + c)
        else:
            out.append((kind, c))
    return out


def _run_composition(flows, sequence, state, h, n_saves, save_every, saver):
    """Run ``n_saves * save_every`` steps of the composition ``sequence`` of (flow key, coefficient).

    When the step ends with the flow it starts with, the two are fused into one sub-step of coefficient
    c_last + c_first (one increment evaluation); at save points the synchronized state (after c_last only)
    is written to the output from that same increment.
    """
    seq = [(flows[k], c) for k, c in sequence]
    wrap = len(seq) > 1 and sequence[0][0] == sequence[-1][0]
    if wrap:
        edge, c_first = seq[0]
        c_last = seq[-1][1]
        body = seq[1:-1]
        edge.apply(state, c_first * h, edge.increment(state))
    else:
        body = seq
    for j in range(1, n_saves + 1):
        for s in range(save_every):
            for flow, c in body:
                flow.apply(state, c * h, flow.increment(state))
            if wrap:
                inc = edge.increment(state)
                if s == save_every - 1:
                    edge.save(saver, j, state, c_last * h, inc)
                    if j == n_saves:
                        break
                edge.apply(state, (c_last + c_first) * h, inc)
        if not wrap:
            saver.save(j, (state[0], state[1]))


def _split(z, d, ops):
    q, p = z[:, :d], z[:, d:]
    if ops.name == "numpy":
        # column-major copies: each coordinate q_i is then one contiguous array, so the generated force
        # code (which works column by column) reads and writes contiguous memory, like a hand-written
        # loop over separate arrays q1, q2, ... (row-major (n, d) halves cost 1.3-1.6x on Henon-Heiles)
        return [np.array(q, order="F"), np.array(p, order="F")]
    if ops.inplace:
        q, p = ops.copy(q).contiguous(), ops.copy(p).contiguous()
    return [q, p]


class Splitting(Method):
    """A symplectic splitting method for separable systems, given as kicks and drifts.

    Parameters
    ----------
    sequence : sequence of (str, float)
        Sub-steps of one step, applied left to right: ``("kick", a)`` is p ← p + a·h·dp/dt(q),
        ``("drift", b)`` is q ← q + b·h·dq/dt(p). The coefficients of each kind should sum to 1.
    name : str
    order : int

    Examples
    --------
    >>> from hamid.integrators import Splitting
    >>> m = Splitting([("kick", 0.5), ("drift", 1.0), ("kick", 0.5)], name="my_leapfrog", order=2)
    >>> m.order
    2
    """

    symplectic = True
    requires_separable = True
    partitioned = True
    SEQUENCE = ()

    def __init__(self, sequence=None, name=None, order=None):
        if sequence is None:
            if not self.SEQUENCE:
                raise IntegratorError("Splitting needs a sequence of ('kick' | 'drift', coefficient) pairs")
            sequence = self.SEQUENCE
        else:
            if name is None or order is None:
                raise IntegratorError("a custom Splitting needs a name and an order")
            kinds = {k for k, _ in sequence}
            if not kinds <= {"kick", "drift"}:
                raise IntegratorError(f"sub-step kinds must be 'kick' or 'drift', got {sorted(kinds)}")
            self.name, self.order = str(name), int(order)
            self._custom = True
        self.sequence = tuple(_normalize([(k, float(c)) for k, c in sequence]))

    def options(self):
        return {"sequence": self.sequence, "name": self.name, "order": self.order} if getattr(self, "_custom", False) else {}

    def _integrate(self, system, z, h, n_saves, save_every, ops, saver):
        flows = {"kick": _Kick(system, ops), "drift": _Drift(system, ops)}
        _run_composition(flows, self.sequence, _split(z, system.dim // 2, ops), h, n_saves, save_every, saver)


class SymplecticEulerA(Splitting):
    """Symplectic Euler, "A" variant (Hairer–Lubich–Wanner, eq. VI.3.1): kick, then drift.

    p₁ = p₀ − h ∂H/∂q(q₀), then q₁ = q₀ + h ∂H/∂p(p₁). Order 1, symplectic, separable H only.
    """

    name = "symplectic_euler_a"
    order = 1
    SEQUENCE = (("kick", 1.0), ("drift", 1.0))


class SymplecticEulerB(Splitting):
    """Symplectic Euler, "B" variant (the adjoint of "A", HLW eq. VI.3.2): drift, then kick.

    q₁ = q₀ + h ∂H/∂p(p₀), then p₁ = p₀ − h ∂H/∂q(q₁). Order 1, symplectic, separable H only.
    """

    name = "symplectic_euler_b"
    order = 1
    SEQUENCE = (("drift", 1.0), ("kick", 1.0))


class Leapfrog(Splitting):
    """Störmer–Verlet / leapfrog in kick–drift–kick form (velocity Verlet). Order 2, symplectic, separable H.

    Over n steps without intermediate saves it runs half kick, n−1 (drift, full kick) pairs, drift, half
    kick: one force evaluation per step.
    """

    name = "leapfrog"
    order = 2
    SEQUENCE = (("kick", 0.5), ("drift", 1.0), ("kick", 0.5))


_CBRT2 = 2.0 ** (1.0 / 3.0)
_W1 = 1.0 / (2.0 - _CBRT2)
_W0 = -_CBRT2 / (2.0 - _CBRT2)


class Yoshida4(Splitting):
    """Yoshida's 4th-order composition of three leapfrog steps of sizes w₁h, w₀h, w₁h.

    w₁ = 1/(2 − 2^(1/3)), w₀ = −2^(1/3)/(2 − 2^(1/3)) (Yoshida 1990; the same scheme as Forest–Ruth).
    Order 4, symplectic, separable H; 3 force evaluations per step after fusion.
    """

    name = "yoshida4"
    order = 4
    SEQUENCE = (("kick", _W1 / 2), ("drift", _W1), ("kick", (_W1 + _W0) / 2), ("drift", _W0),
                ("kick", (_W0 + _W1) / 2), ("drift", _W1), ("kick", _W1 / 2))


# ----------------------------------------------------------------------------------------------- Tao


class _TaoA:
    """Flow of H(q, y): p ← p + a f_p(q, y), x ← x + a f_q(q, y)."""

    def __init__(self, system, ops):
        self.f, self.ops, self.d = system.field, ops, system.dim // 2

    def increment(self, s):
        return self.f(self.ops.cat((s[0], s[3])))

    def apply(self, s, a, inc):
        d = self.d
        s[1] = self.ops.axpy(s[1], a, inc[:, d:])
        s[2] = self.ops.axpy(s[2], a, inc[:, :d])

    def save(self, saver, j, s, a, inc):
        saver.save_axpy(j, (s[0], s[1]), 1, a, inc[:, self.d:])


class _TaoB:
    """Flow of H(x, p): q ← q + a f_q(x, p), y ← y + a f_p(x, p)."""

    def __init__(self, system, ops):
        self.f, self.ops, self.d = system.field, ops, system.dim // 2

    def increment(self, s):
        return self.f(self.ops.cat((s[2], s[1])))

    def apply(self, s, a, inc):
        d = self.d
        s[0] = self.ops.axpy(s[0], a, inc[:, :d])
        s[3] = self.ops.axpy(s[3], a, inc[:, d:])

    def save(self, saver, j, s, a, inc):
        saver.save_axpy(j, (s[0], s[1]), 0, a, inc[:, :self.d])


class _TaoC:
    """Exact flow of the coupling ω(|q − x|² + |p − y|²)/2: a rotation of (q − x, p − y) by 2ωa."""

    def __init__(self, omega):
        self.omega = omega

    def increment(self, s):
        return None

    def apply(self, s, a, inc):
        q, p, x, y = s
        c, sn = math.cos(2.0 * self.omega * a), math.sin(2.0 * self.omega * a)
        u, v, sq, sp_ = q - x, p - y, q + x, p + y
        u, v = c * u + sn * v, c * v - sn * u
        s[0], s[2] = 0.5 * (sq + u), 0.5 * (sq - u)
        s[1], s[3] = 0.5 * (sp_ + v), 0.5 * (sp_ - v)


class Tao(Method):
    """Tao's explicit method for non-separable H in an extended phase space (Tao 2016, order 2).

    The state is doubled to (q, p, x, y), x = q and y = p initially, and
    H̄ = H(q, y) + H(x, p) + ω(‖q − x‖² + ‖p − y‖²)/2 is split into three exactly solvable flows
    φ_A (of H(q, y)), φ_B (of H(x, p)) and φ_C (the coupling, a rotation). One step is
    φ_A(h/2) φ_B(h/2) φ_C(h) φ_B(h/2) φ_A(h/2); consecutive φ_A(h/2) are fused, so 3 field evaluations per
    step. The copies (x, y) are carried from step to step; the output is (q, p).

    Parameters
    ----------
    omega : float
        Coupling ω > 0 binding the two copies. Default 20. Larger ω keeps the copies closer (the error
        constant of the (q, p) solution grows like ω·h² for moderate ω; very small ω lets the copies drift
        apart). Tao recommends h ≪ ω^(-1/2); avoid 2ωh near a multiple of π.

    Notes
    -----
    The map on the extended space (q, p, x, y) is symplectic. Its restriction to (q, p) with x = q, y = p is
    not exactly symplectic, so ``symplectic`` is False here: long-time energy behaviour is good in practice
    but not guaranteed by a symplectic (q, p) map. Works for any field with (q, p) halves.
    """

    name = "tao"
    order = 2
    symplectic = False
    partitioned = True

    def __init__(self, omega=20.0):
        if isinstance(omega, bool) or not isinstance(omega, (int, float)) or not math.isfinite(omega) or omega <= 0:
            raise IntegratorError(f"tao: omega must be a positive finite number, got {omega!r}")
        self.omega = float(omega)

    def options(self):
        return {"omega": self.omega}

    SEQUENCE = (("A", 0.5), ("B", 0.5), ("C", 1.0), ("B", 0.5), ("A", 0.5))

    def _integrate(self, system, z, h, n_saves, save_every, ops, saver):
        q, p = _split(z, system.dim // 2, ops)
        state = [q, p, ops.copy(q), ops.copy(p)]
        flows = {"A": _TaoA(system, ops), "B": _TaoB(system, ops), "C": _TaoC(self.omega)}
        _run_composition(flows, self.SEQUENCE, state, h, n_saves, save_every, saver)

    def extended_step(self, system, state, h, ops):
        """One unfused step on the extended state ``[q, p, x, y]`` (each (n, d)); returns the new list.

        Exposed for checking that the extended map is symplectic.
        """
        state = list(state)
        flows = {"A": _TaoA(system, ops), "B": _TaoB(system, ops), "C": _TaoC(self.omega)}
        for key, c in self.SEQUENCE:
            flows[key].apply(state, c * h, flows[key].increment(state))
        return state


# --------------------------------------------------------------------------------- adaptive (scipy)


class DOP853(Method):
    """Dormand–Prince 8(5,3) with adaptive steps: ``scipy.integrate.solve_ivp(method="DOP853")`` called once
    on the whole batch, flattened into one state vector. Order 8, not symplectic; works for any field.
    On the torch backend the batch goes through numpy (float64 on the CPU) and back, without a graph: it is
    not differentiable.

    ``dt`` sets only the output grid (a state every ``save_every * dt``); the steps are chosen by the error
    control. Parameters: ``rtol`` (default 1e-10), ``atol`` (default 1e-12).

    Notes
    -----
    One call for the batch amortizes scipy's per-step Python overhead over all trajectories (the field is
    evaluated on the (n, D) batch), which is what makes it fast; but the error control then sees the whole
    batch: the step is accepted when the RMS over all n·D components of the scaled local error is below 1, so
    the batch advances with the step size of its hardest trajectories while an individual trajectory's error
    may exceed the tolerance by up to about ``sqrt(n·D)``. Check the error on the problem at hand (the
    accuracy section of ``benchmarks/bench_integrators.py`` does). The saved states are held twice in
    memory while the result is assembled (scipy's (n·D, n_saves) array and the output).
    """

    name = "dop853"
    order = 8
    adaptive = True

    def __init__(self, rtol=1e-10, atol=1e-12):
        for label, v in (("rtol", rtol), ("atol", atol)):
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v <= 0:
                raise IntegratorError(f"dop853: {label} must be a positive finite number, got {v!r}")
        self.rtol = float(rtol)
        self.atol = float(atol)

    def options(self):
        return {"rtol": self.rtol, "atol": self.atol}

    def _integrate(self, system, z, h, n_saves, save_every, ops, saver):
        if ops.recording:
            raise IntegratorError("method 'dop853' (scipy solve_ivp) is not differentiable; use a fixed-step "
                                  "method such as 'rk4' or 'yoshida4' while gradients are recorded, or torch.no_grad()")
        from scipy.integrate import solve_ivp

        n, D = z.shape
        field = system.field
        if ops.name == "numpy":
            def rhs(_t, y):
                return field(y.reshape(n, D)).reshape(-1)

            z_flat = z.reshape(-1)
        else:
            torch = ops.torch

            def rhs(_t, y):
                zt = torch.from_numpy(y.reshape(n, D)).to(device=ops.device, dtype=ops.dtype)
                return field(zt).detach().cpu().to(torch.float64).numpy().reshape(-1)

            z_flat = z.detach().cpu().to(torch.float64).numpy().reshape(-1)

        t_eval = h * save_every * np.arange(1, n_saves + 1)
        sol = solve_ivp(rhs, (0.0, float(t_eval[-1])), z_flat, method="DOP853", t_eval=t_eval,
                        rtol=self.rtol, atol=self.atol)
        if sol.status != 0 or sol.y.shape[1] != n_saves:
            raise IntegratorError(f"dop853: solve_ivp failed: {sol.message}")
        for j in range(1, n_saves + 1):
            zj = sol.y[:, j - 1].reshape(n, D)
            if ops.name != "numpy":
                zj = ops.torch.from_numpy(np.ascontiguousarray(zj)).to(device=ops.device, dtype=ops.dtype)
            saver.save(j, (zj,))


# ---------------------------------------------------------------------------------------- registry

METHODS = {m.name: m for m in (Euler(), RK4(), SymplecticEulerA(), SymplecticEulerB(), Leapfrog(), Yoshida4(),
                                ImplicitMidpoint(), Tao(), DOP853())}
"""Registry: canonical name -> default instance."""

ALIASES = {
    "explicit_euler": "euler",
    "forward_euler": "euler",
    "runge_kutta4": "rk4",
    "symplectic_euler": "symplectic_euler_a",
    "verlet": "leapfrog",
    "stormer_verlet": "leapfrog",
    "velocity_verlet": "leapfrog",
    "yoshida": "yoshida4",
    "midpoint": "implicit_midpoint",
    "solve_ivp": "dop853",
}
"""Alternative names -> canonical name."""


def method_names():
    """All accepted method names, canonical first then aliases."""
    return list(METHODS) + list(ALIASES)


def get_method(name, **options):
    """Return the method registered as ``name`` (or an alias), configured with ``options``.

    Parameters
    ----------
    name : str or Method
        A registry name (see :data:`METHODS`, :data:`ALIASES`) or a :class:`Method` instance (returned as is).
    **options
        Constructor options of the method, e.g. ``omega`` for ``"tao"`` or ``solver``, ``tol``,
        ``max_iter`` for ``"implicit_midpoint"``.

    Returns
    -------
    Method

    Raises
    ------
    IntegratorError
        Unknown name (the message lists every valid one) or unknown option.
    """
    if isinstance(name, Method):
        if options:
            raise IntegratorError("options can only be given together with a method name")
        return name
    if not isinstance(name, str):
        raise TypeError(f"method must be a name or a Method instance, got {type(name).__name__}")
    key = ALIASES.get(name.lower(), name.lower())
    if key not in METHODS:
        raise IntegratorError(f"unknown method {name!r}; valid names: {', '.join(method_names())}")
    if not options:
        return METHODS[key]
    cls = type(METHODS[key])
    valid = list(METHODS[key].options())
    bad = sorted(set(options) - set(valid))
    if bad:
        raise IntegratorError(f"unknown option(s) {bad} for method {key!r}; valid options: {valid or 'none'}")
    return cls(**options)
