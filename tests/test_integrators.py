"""Integrators: declared orders, symplecticity, energy behaviour, backends, fields, gradients, validation."""
import subprocess
import sys

import numpy as np
import pytest
import sympy as sp
from scipy.integrate import solve_ivp

from hamid.integrators import (ALIASES, METHODS, IntegratorError, Method, Tao, get_method, integrate,
                               integrate_field, method_names)
from hamid.symbolic import state_symbols

torch = pytest.importorskip("torch")

(q,), (p,) = state_symbols(1)
PENDULUM = p**2 / 2 - sp.cos(q)
NONSEP = (q**2 + p**2) / 2 + q**2 * p**2 / 4 + sp.sin(q) * p / 2   # ∂²H/∂q∂p = q p + cos(q)/2 ≠ 0
Z0 = np.array([[1.0, 0.3], [-0.5, 0.8], [2.0, -0.4]])
ALL = sorted(METHODS)
SYMPLECTIC = [m for m in ALL if METHODS[m].symplectic]


def hamiltonian_for(name):
    """Pendulum for methods that need separability, a non-separable H for the others."""
    return PENDULUM if METHODS[name].requires_separable else NONSEP


def exact_field(H):
    qs, ps = state_symbols(1)
    f = sp.lambdify((qs[0], ps[0]), [sp.diff(H, ps[0]), -sp.diff(H, qs[0])])
    return lambda t, y: f(*y)


@pytest.fixture(scope="module")
def reference():
    """Tight DOP853 solutions at T = 1 for both test Hamiltonians."""
    out = {}
    for H in (PENDULUM, NONSEP):
        rhs = exact_field(H)
        out[H] = np.array([solve_ivp(rhs, (0.0, 1.0), z, method="DOP853", rtol=1e-13, atol=1e-13).y[:, -1]
                           for z in Z0])
    return out


# ------------------------------------------------------------------------------------------- registry


def test_registry_declares_properties():
    for name, m in METHODS.items():
        assert isinstance(m, Method) and m.name == name
        assert isinstance(m.order, int) and m.order >= 1
        for flag in ("symplectic", "requires_separable", "explicit"):
            assert isinstance(getattr(m, flag), bool)
    assert get_method("verlet") is METHODS["leapfrog"] is get_method("stormer_verlet")
    assert set(ALIASES.values()) <= set(METHODS)
    with pytest.raises(IntegratorError) as err:
        get_method("rk5")
    for name in method_names():
        assert name in str(err.value)
    assert get_method("tao", omega=5.0).omega == 5.0
    with pytest.raises(IntegratorError, match="omega"):
        get_method("tao", omeg=5.0)


# ------------------------------------------------------------------------------------------ accuracy


@pytest.mark.parametrize("name", [m for m in ALL if not METHODS[m].adaptive])  # dop853: tests/test_performance_paths.py
def test_empirical_order_matches_declared(name, reference):
    H = hamiltonian_for(name)
    dts = np.array([0.1, 0.05, 0.025, 0.0125])
    errors = []
    for dt in dts:
        out = integrate(H, Z0, dt=dt, n_steps=int(round(1.0 / dt)), method=name, save_every=int(round(0.1 / dt)))
        errors.append(np.abs(out[:, -1] - reference[H]).max())
    slope = np.polyfit(np.log(dts), np.log(errors), 1)[0]
    assert abs(slope - METHODS[name].order) < 0.3, (name, slope, errors)


def step_jacobian(H, name, z, dt=0.1, d=1):
    def step(x):
        return integrate(H, x[None], dt=dt, n_steps=1, method=name, backend="torch")[0, 1]

    return torch.autograd.functional.jacobian(step, torch.tensor(z, dtype=torch.float64))


def J_matrix(d):
    I = torch.eye(d, dtype=torch.float64)
    Z = torch.zeros(d, d, dtype=torch.float64)
    return torch.cat([torch.cat([Z, I], 1), torch.cat([-I, Z], 1)], 0)


@pytest.mark.parametrize("name", SYMPLECTIC)
def test_one_step_is_symplectic(name):
    cases = [(PENDULUM, [0.7, -0.4]), (PENDULUM, [2.5, 1.1])]
    if not METHODS[name].requires_separable:
        cases.append((NONSEP, [0.7, -0.4]))
    q1, q2, p1, p2 = sp.symbols("q1 q2 p1 p2")
    if METHODS[name].requires_separable:   # a coupled 2-DOF separable H
        cases.append(((p1**2 + 2 * p2**2) / 2 - sp.cos(q1) - sp.cos(q2) + sp.cos(q1 - q2) / 3, [0.3, -1.0, 0.5, 0.2]))
    else:
        cases.append((p1**2 * (1 + q2**2) / 2 + p2**2 / 2 + q1**4 / 4 + sp.sin(q1 * p2), [0.3, -1.0, 0.5, 0.2]))
    for H, z in cases:
        d = len(z) // 2
        M = step_jacobian(H, name, z)
        J = J_matrix(d)
        assert torch.allclose(M, torch.eye(2 * d, dtype=torch.float64), atol=1e-3) is False
        assert float((M.T @ J @ M - J).abs().max()) < 1e-10, (name, H)


@pytest.mark.parametrize("name", ["euler", "rk4", "tao"])
def test_non_symplectic_methods_are_detected_as_such(name):
    M = step_jacobian(NONSEP, name, [0.7, -0.4], dt=0.2)
    J = J_matrix(1)
    assert float((M.T @ J @ M - J).abs().max()) > 1e-6


def test_tao_extended_map_is_symplectic():
    from hamid.integrators._ops import TorchOps
    from hamid.integrators._systems import sympy_system

    x0 = torch.tensor([0.7, -0.2, -0.4, 0.1], dtype=torch.float64)  # (q, x, p, y): canonical pairs (q,p), (x,y)
    ops = TorchOps(x0, recording=True)
    system = sympy_system(NONSEP, 1, "torch")
    tao = Tao(omega=7.0)

    def step(w):
        s = tao.extended_step(system, [w[0:1, None], w[2:3, None], w[1:2, None], w[3:4, None]], 0.1, ops)
        return torch.cat([s[0][0], s[2][0], s[1][0], s[3][0]])

    M = torch.autograd.functional.jacobian(step, x0)
    J = J_matrix(2)
    assert float((M.T @ J @ M - J).abs().max()) < 1e-12


def test_leapfrog_energy_error_bounded_and_not_growing():
    z0 = np.array([[1.0, 0.0], [2.0, 0.5], [0.3, -1.2]])
    H0 = z0[:, 1] ** 2 / 2 - np.cos(z0[:, 0])
    worst = {}
    for dt in (0.1, 0.05):
        out = integrate(PENDULUM, z0, dt=dt, n_steps=100_000, method="leapfrog", save_every=7)
        err = np.abs(out[..., 1] ** 2 / 2 - np.cos(out[..., 0]) - H0[:, None])
        half = err.shape[1] // 2
        first, second = err[:, :half].max(axis=1), err[:, half:].max(axis=1)
        assert np.all(second <= 1.05 * first + 1e-12)  # no drift over 10^5 steps
        assert err.max() < 0.5 * dt**2
        worst[dt] = err.max()
    assert 3.0 < worst[0.1] / worst[0.05] < 5.0  # error ∝ dt²


def test_implicit_midpoint_solves_its_equation_to_roundoff():
    from hamid.integrators._systems import sympy_system

    f = sympy_system(NONSEP, 1, "numpy").field
    out = integrate(NONSEP, Z0, dt=0.2, n_steps=20, method="implicit_midpoint")
    z0, z1 = out[:, :-1].reshape(-1, 2), out[:, 1:].reshape(-1, 2)
    residual = z1 - z0 - 0.2 * f((z0 + z1) / 2)
    assert np.abs(residual).max() < 1e-13


# ----------------------------------------------------------------------------- fusion and save_every


def naive_kdk(z0, dt, n):
    q, p = z0[:, 0].copy(), z0[:, 1].copy()
    out = [z0.copy()]
    for _ in range(n):
        p = p - dt / 2 * np.sin(q)
        q = q + dt * p
        p = p - dt / 2 * np.sin(q)
        out.append(np.stack([q, p], axis=1))
    return np.stack(out, axis=1)


@pytest.mark.parametrize("save_every", [1, 3, 10])
def test_fused_leapfrog_matches_unfused_at_every_save_point(save_every):
    ref = naive_kdk(Z0, 0.05, 30)
    out = integrate(PENDULUM, Z0, dt=0.05, n_steps=30, method="leapfrog", save_every=save_every)
    assert out.shape == (3, 30 // save_every + 1, 2)
    np.testing.assert_allclose(out, ref[:, ::save_every], rtol=0, atol=1e-13)


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_save_every_subsamples_the_full_run(name, backend):
    H = hamiltonian_for(name)
    full = np.asarray(integrate(H, Z0, dt=0.05, n_steps=12, method=name, backend=backend))
    sub = np.asarray(integrate(H, Z0, dt=0.05, n_steps=14, method=name, backend=backend, save_every=4))
    assert full.shape == (3, 13, 2) and sub.shape == (3, 4, 2)
    np.testing.assert_allclose(sub, full[:, ::4], rtol=0, atol=1e-13)
    np.testing.assert_array_equal(sub[:, 0], Z0)
    zero = integrate(H, Z0[0], dt=0.05, n_steps=0, method=name, backend=backend)
    assert tuple(zero.shape) == (1, 1, 2)


# ------------------------------------------------------------------------------------------ backends


@pytest.mark.parametrize("name", ALL)
def test_numpy_and_torch_agree(name):
    H = hamiltonian_for(name)
    a = integrate(H, Z0, dt=0.05, n_steps=40, method=name, save_every=2)
    b = integrate(H, Z0, dt=0.05, n_steps=40, method=name, save_every=2, backend="torch")
    zg = torch.tensor(Z0, requires_grad=True)  # the recording (out-of-place) path
    if METHODS[name].adaptive:  # scipy's solve_ivp: no graph
        with pytest.raises(IntegratorError, match="not differentiable"):
            integrate(H, zg, dt=0.05, n_steps=40, method=name, save_every=2, backend="torch")
        zg = zg.detach()
    c = integrate(H, zg, dt=0.05, n_steps=40, method=name, save_every=2, backend="torch")
    assert isinstance(b, torch.Tensor) and b.dtype == torch.float64 and c.requires_grad != METHODS[name].adaptive
    np.testing.assert_allclose(b.numpy(), a, rtol=0, atol=1e-12)
    np.testing.assert_allclose(c.detach().numpy(), a, rtol=0, atol=1e-12)


def test_torch_keeps_dtype_and_does_not_touch_input():
    z32 = torch.tensor(Z0, dtype=torch.float32)
    before = z32.clone()
    out = integrate(PENDULUM, z32, dt=0.1, n_steps=5, backend="torch")
    assert out.dtype == torch.float32 and out.device == z32.device
    assert torch.equal(z32, before)
    zn = Z0.copy()
    integrate(PENDULUM, zn, dt=0.1, n_steps=5, method="rk4")
    np.testing.assert_array_equal(zn, Z0)


def test_import_hamid_does_not_import_torch():
    code = ("import sys, numpy as np, sympy as sp, hamid, hamid.integrators as I; "
            "q, p = sp.symbols('q p'); I.integrate(p**2/2 - sp.cos(q), np.ones((2, 2)), dt=0.1, n_steps=3); "
            "assert 'torch' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)


# -------------------------------------------------------------------------------------------- fields


def test_integrate_field_odd_dimension_linear_system():
    from scipy.linalg import expm

    A = np.array([[-0.5, 1.0, 0.0], [-1.0, -0.1, 0.3], [0.0, -0.3, -0.2]])
    z0 = np.array([[1.0, 0.0, -1.0], [0.2, 0.4, 0.6]])
    exact = z0 @ expm(A * 2.0).T
    for name, tol in (("rk4", 1e-8), ("implicit_midpoint", 1e-3), ("euler", 5e-2)):
        out = integrate_field(lambda z: z @ A.T, z0, dt=0.01, n_steps=200, method=name, save_every=50)
        assert out.shape == (2, 5, 3)
        assert np.abs(out[:, -1] - exact).max() < tol, name
    with pytest.raises(IntegratorError, match="even"):
        integrate_field(lambda z: z @ A.T, z0, dt=0.01, n_steps=2, method="leapfrog", separable=True)


def test_field_separable_methods_need_declaration():
    field = lambda z: np.stack([z[:, 1], -np.sin(z[:, 0])], axis=1)  # noqa: E731
    with pytest.raises(IntegratorError, match="leapfrog") as err:
        integrate_field(field, Z0, dt=0.1, n_steps=3, method="leapfrog")
    assert "field" in str(err.value) and "separable" in str(err.value)
    out = integrate_field(field, Z0, dt=0.05, n_steps=30, method="leapfrog", separable=True)
    np.testing.assert_allclose(out, naive_kdk(Z0, 0.05, 30), rtol=0, atol=1e-13)


class TinyField(torch.nn.Module):
    """A learned-like field: separable (dq = tanh(A p) + b, dp = -tanh(B q)) or fully coupled."""

    def __init__(self, separable):
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.separable = separable
        self.A = torch.nn.Parameter(torch.randn(2, 2, generator=g, dtype=torch.float64) * 0.5)
        self.B = torch.nn.Parameter(torch.randn(2, 2, generator=g, dtype=torch.float64) * 0.5)
        self.b = torch.nn.Parameter(torch.randn(2, generator=g, dtype=torch.float64) * 0.1)
        self.C = torch.nn.Parameter(torch.randn(4, 4, generator=g, dtype=torch.float64) * 0.3)

    def forward(self, z):
        q, p = z[:, :2], z[:, 2:]
        if self.separable:
            return torch.cat([torch.tanh(p @ self.A.T) + self.b, -torch.tanh(q @ self.B.T)], dim=1)
        return torch.tanh(z @ self.C.T) + torch.cat([self.b, -self.b])


@pytest.mark.parametrize("name,separable", [
    ("rk4", False), ("euler", False), ("implicit_midpoint", False),
    (get_method("implicit_midpoint", solver="fixed_point"), False),
    ("leapfrog", True), ("yoshida4", True), ("tao", False)], ids=str)
def test_integrate_field_gradients_match_finite_differences(name, separable):
    field = TinyField(separable)
    z0 = torch.tensor([[0.3, -0.2, 0.5, 0.1], [-0.4, 0.6, 0.0, -0.3]], dtype=torch.float64, requires_grad=True)
    target = torch.linspace(-1, 1, 8, dtype=torch.float64).reshape(2, 4)

    def loss():
        out = integrate_field(field, z0, dt=0.1, n_steps=6, method=name, backend="torch", save_every=2,
                              separable=separable)
        return ((out[:, 1:] - target[:, None]) ** 2).sum()

    value = loss()
    value.backward()
    param = field.A if separable else field.C
    checks = [(param, (0, 1)), (field.b, (1,)), (z0, (1, 2))]
    for tensor, idx in checks:
        analytic = tensor.grad[idx].item()
        with torch.no_grad():
            old = tensor[idx].item()
            tensor[idx] = old + 1e-6
            up = loss().item()
            tensor[idx] = old - 1e-6
            down = loss().item()
            tensor[idx] = old
        assert analytic == pytest.approx((up - down) / 2e-6, rel=1e-6, abs=1e-9), (name, idx)


def test_implicit_midpoint_warns_when_the_solver_does_not_converge():
    method = get_method("implicit_midpoint", solver="fixed_point", max_iter=5)
    with pytest.warns(RuntimeWarning, match="did not reach tol"):
        integrate_field(lambda z: -30.0 * z, np.ones((2, 3)), dt=0.1, n_steps=2, method=method)
    with pytest.raises(IntegratorError, match="fixed_point"):
        integrate_field(lambda z: -z, np.ones((2, 3)), dt=0.1, n_steps=2, method=get_method(
            "implicit_midpoint", solver="newton"))


# --------------------------------------------------------------------------------------- model objects


class SymbolicModel:
    hamiltonian_ = PENDULUM


class GradientModel:
    def __init__(self, separable):
        self.separable = separable

    def hamiltonian_gradient(self, z):
        lib = torch if isinstance(z, torch.Tensor) else np
        return lib.stack([lib.sin(z[:, 0]), z[:, 1]], 1)


@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_integrate_accepts_fitted_models(backend):
    expected = integrate(PENDULUM, Z0, dt=0.05, n_steps=20, method="leapfrog")
    for model in (SymbolicModel(), GradientModel(separable=True)):
        out = np.asarray(integrate(model, Z0, dt=0.05, n_steps=20, method="leapfrog", backend=backend))
        np.testing.assert_allclose(out, expected, rtol=0, atol=1e-13)
    # without the separable flag, only non-separable methods are allowed
    with pytest.raises(IntegratorError, match="leapfrog.*GradientModel"):
        integrate(GradientModel(separable=False), Z0, dt=0.05, n_steps=2, backend=backend)
    mid = integrate(PENDULUM, Z0, dt=0.05, n_steps=20, method="implicit_midpoint")
    out = np.asarray(integrate(GradientModel(False), Z0, dt=0.05, n_steps=20, method="implicit_midpoint",
                               backend=backend))
    np.testing.assert_allclose(out, mid, rtol=0, atol=1e-12)  # fixed point (numpy) / autograd Newton (torch)


# ------------------------------------------------------------------------------------------ validation


def test_separability_error_names_method_and_hamiltonian():
    with pytest.raises(IntegratorError) as err:
        integrate(NONSEP, Z0, dt=0.1, n_steps=2, method="yoshida4")
    message = str(err.value)
    assert "'yoshida4'" in message and str(NONSEP) in message and "implicit_midpoint" in message


@pytest.mark.parametrize("kwargs,error,pattern", [
    (dict(dt=0.0), IntegratorError, "dt"),
    (dict(dt=float("inf")), IntegratorError, "dt"),
    (dict(dt="0.1"), TypeError, "dt"),
    (dict(n_steps=-1), IntegratorError, "n_steps"),
    (dict(n_steps=2.0), TypeError, "n_steps"),
    (dict(save_every=0), IntegratorError, "save_every"),
    (dict(method="leapfrogg"), IntegratorError, "valid names: euler, rk4"),
    (dict(backend="jax"), IntegratorError, "valid backends: numpy, torch"),
])
def test_bad_arguments_raise(kwargs, error, pattern):
    args = dict(dt=0.1, n_steps=3)
    args.update(kwargs)
    with pytest.raises(error, match=pattern):
        integrate(PENDULUM, Z0, **args)


def test_bad_states_raise():
    bad = Z0.copy()
    bad[1, 0] = np.nan
    with pytest.raises(IntegratorError, match="NaN"):
        integrate(PENDULUM, bad, dt=0.1, n_steps=3)
    with pytest.raises(IntegratorError, match="even"):
        integrate(PENDULUM, np.ones((2, 3)), dt=0.1, n_steps=3)
    with pytest.raises(IntegratorError, match="shape"):
        integrate(PENDULUM, np.ones((2, 2, 2)), dt=0.1, n_steps=3)
    with pytest.raises(TypeError, match="backend='torch'"):
        integrate(PENDULUM, torch.ones(2, 2), dt=0.1, n_steps=3)
    with pytest.raises(IntegratorError, match="q1"):
        integrate(sp.Symbol("q1") ** 2 + p**2, Z0, dt=0.1, n_steps=3)
