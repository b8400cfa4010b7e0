"""The system catalogue: symbolic truth vs compiled fields, conservation, generator contract, bundled data."""
import subprocess
import sys

import numpy as np
import pytest
import sympy as sp

from hamid.io import Dataset, load_data
from hamid.symbolic import parse_expression
from hamid.systems import (
    BUNDLED_DATA,
    RadiusDomain,
    SystemConfigError,
    Trajectories,
    bundled_data_path,
    get_system,
    list_systems,
    srnn_chain_constants,
)

REQUIRED = {
    "harmonic_oscillator", "pendulum", "double_well", "henon_heiles", "coupled_oscillators", "spring_chain",
    "kepler", "three_body", "double_pendulum", "lotka_volterra", "rigid_body", "damped_pendulum", "advection",
    "nonseparable", "fpu",
}
ALL = list_systems()
DAMPED = {"damped_pendulum", "damped_duffing"}
CONSERVATIVE = [n for n in ALL if n not in DAMPED]
NONCANONICAL = {"lotka_volterra", "rigid_body", "advection"}


def _reference_field(system, z):
    """(B - R) ∇H evaluated numerically from the symbolic truth, independently of the system's codegen."""
    syms = system.symbols
    grad = sp.lambdify(syms, [sp.diff(system.hamiltonian, s) for s in syms], "numpy")
    B = sp.lambdify(syms, system.structure_matrix, "numpy")
    R = None if system.damping is None else np.array(system.damping, dtype=float)
    out = np.empty_like(z)
    for i, row in enumerate(z):
        g = np.array(grad(*row), dtype=float)
        M = np.array(B(*row), dtype=float)
        if R is not None:
            M = M - R
        out[i] = M @ g
    return out


# --------------------------------------------------------------------------------------------- registry

def test_registry_lists_all_required_systems():
    assert REQUIRED <= set(ALL)


def test_unknown_system_lists_valid_names():
    with pytest.raises(ValueError, match="unknown system 'pendulm'.*valid systems:.*pendulum"):
        get_system("pendulm")


def test_unknown_constant_is_named():
    with pytest.raises(ValueError, match=r"unknown constant\(s\) \['mass'\].*valid constants: g, l, m"):
        get_system("pendulum", mass=2.0)


@pytest.mark.parametrize("name, kwargs, match", [
    ("pendulum", {"m": -1.0}, "m must be > 0"),
    ("pendulum", {"g": float("nan")}, "g must be finite"),
    ("rigid_body", {"I1": "2"}, "I1 must be a real number"),
    ("spring_chain", {"n": 0}, "n must be an integer >= 1"),
    ("spring_chain", {"n": 3, "masses": [1.0, 2.0]}, "masses must have length 3"),
    ("advection", {"n": 2}, "n >= 3"),
])
def test_invalid_constant_values(name, kwargs, match):
    with pytest.raises(ValueError, match=match):
        get_system(name, **kwargs)


def test_aliases_and_case():
    assert get_system("Duffing").name == "double_well"
    assert get_system("two-body").name == "kepler"


# --------------------------------------------------------------------------------------------- attributes

@pytest.mark.parametrize("name", ALL)
def test_system_states_its_truth(name):
    s = get_system(name)
    assert s.name == name and s.description and isinstance(s.constants, dict)
    assert s.dim == len(s.symbols) == len(s.state_names)
    assert isinstance(s.hamiltonian, sp.Expr)
    assert s.hamiltonian.free_symbols <= set(s.symbols)
    assert s.structure_matrix.shape == (s.dim, s.dim)
    assert sp.simplify(s.structure_matrix + s.structure_matrix.T) == sp.zeros(s.dim, s.dim)
    assert s.canonical == (name not in NONCANONICAL)
    assert s.conservative == (name not in DAMPED)
    if s.canonical:
        from hamid.symbolic import state_symbols

        qs, ps = state_symbols(s.n_dof)
        assert s.symbols == qs + ps
        assert s.structure_matrix == sp.Matrix(np.block([[np.zeros((s.n_dof,) * 2), np.eye(s.n_dof)],
                                                         [-np.eye(s.n_dof), np.zeros((s.n_dof,) * 2)]]).astype(int))
    else:
        assert s.n_dof is None
    assert s.domain.description


def test_reproduction_constants_give_the_reference_hamiltonians():
    q, p = sp.symbols("q p")
    assert sp.simplify(get_system("harmonic_oscillator", m=0.5, k=2).hamiltonian - (q**2 + p**2)) == 0
    assert sp.simplify(get_system("pendulum", m=0.5, l=1, g=6).hamiltonian - (3 * (1 - sp.cos(q)) + p**2)) == 0
    assert sp.simplify(get_system("pendulum").hamiltonian - (p**2 / 2 + 1 - sp.cos(q))) == 0


def test_lotka_volterra_matches_the_stated_equations():
    s = get_system("lotka_volterra")
    x, y = s.symbols
    assert sp.simplify(s.hamiltonian - (x - 2 * sp.log(x) + y - sp.log(y))) == 0
    assert s.structure_matrix == sp.Matrix([[0, -x * y], [x * y, 0]])
    fx, fy = s.field_exprs
    assert sp.simplify(fx - x * (1 - y)) == 0 and sp.simplify(fy - y * (x - 2)) == 0


def test_rigid_body_matches_euler_equations():
    s = get_system("rigid_body")
    assert s.constants == {"I1": 2.0, "I2": 1.0, "I3": 2.0 / 3.0}
    y1, y2, y3 = s.symbols
    I1, I2, I3 = sp.Integer(2), sp.Integer(1), sp.Rational(2, 3)
    expected = [(I2 - I3) / (I2 * I3) * y2 * y3, (I3 - I1) / (I3 * I1) * y3 * y1, (I1 - I2) / (I1 * I2) * y1 * y2]
    for got, want in zip(s.field_exprs, expected):
        assert sp.simplify(got - want) == 0
    assert s.casimirs == (y1**2 + y2**2 + y3**2,)


def test_double_pendulum_constants():
    s = get_system("double_pendulum")
    assert s.constants == {"m1": 1.0, "m2": 1.0, "l1": 1.0, "l2": 1.0, "g": 9.8}
    # potential at the top (q1 = q2 = pi, at rest) is +29.4, at the bottom -29.4
    assert np.isclose(s.energy(np.array([[np.pi, np.pi, 0, 0]]))[0], 29.4)
    assert np.isclose(s.energy(np.array([[0, 0, 0, 0]]))[0], -29.4)


# --------------------------------------------------------------------------------------------- vector fields

@pytest.mark.parametrize("name", ALL)
def test_vector_field_equals_structure_times_gradient(name):
    s = get_system(name)
    z = s.sample_states(25, seed=3)
    got = s.vector_field(z)
    assert got.shape == z.shape
    np.testing.assert_allclose(got, _reference_field(s, z), rtol=1e-12, atol=1e-12)
    e = s.energy(z)
    assert e.shape == (25,)
    H = sp.lambdify(s.symbols, s.hamiltonian, "numpy")
    np.testing.assert_allclose(e, [H(*row) for row in z], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", ["pendulum", "lotka_volterra", "three_body"])
def test_torch_field_matches_numpy(name):
    torch = pytest.importorskip("torch")
    s = get_system(name)
    z = s.sample_states(10, seed=0)
    got = s.field_function("torch")(torch.tensor(z, dtype=torch.float64)).numpy()
    np.testing.assert_allclose(got, s.vector_field(z), rtol=1e-12, atol=1e-12)


def test_vector_field_rejects_wrong_width():
    with pytest.raises(ValueError, match=r"shape \(n, 2\)"):
        get_system("pendulum").vector_field(np.zeros((3, 4)))


# --------------------------------------------------------------------------------------------- conservation

@pytest.mark.parametrize("name", CONSERVATIVE)
def test_energy_conserved_along_generated_trajectories(name):
    s = get_system(name)
    data = s.generate(n_traj=4, n_time=30, seed=11)
    z = data.states()
    e = s.energy(z)
    scale = np.maximum(np.abs(e[:, :1]), 1.0)
    assert np.max(np.abs(e - e[:, :1]) / scale) < 1e-8
    # the trajectories actually move
    assert np.max(np.abs(z[:, -1] - z[:, 0])) > 1e-3


@pytest.mark.parametrize("name", ["rigid_body", "advection"])
def test_casimirs_conserved(name):
    s = get_system(name, n=36) if name == "advection" else get_system(name)
    data = s.generate(n_traj=3, n_time=40, seed=5)
    c = s.casimir_values(data.z)
    assert c.shape[-1] == len(s.casimirs) >= 1
    np.testing.assert_allclose(c, np.broadcast_to(c[:, :1], c.shape), rtol=1e-9, atol=1e-10)
    # the Casimirs are in the kernel of B for every state, whatever H is
    zs = s.sample_states(5, seed=0)
    for C in s.casimirs:
        grad = sp.Matrix([sp.diff(C, v) for v in s.symbols])
        kernel = sp.lambdify(s.symbols, s.structure_matrix * grad, "numpy")
        for row in zs:
            assert np.allclose(np.array(kernel(*row), dtype=float), 0)


def test_rigid_body_reference_trajectory():
    s = get_system("rigid_body")
    y0 = np.array([[np.cos(1.1), 0.0, np.sin(1.1)]])
    data = s.generate(z0=y0, n_time=1001, dt=0.1)  # t in [0, 100]
    assert np.allclose(data.z[0, 0], y0[0])
    np.testing.assert_allclose(s.casimir_values(data.z)[..., 0], 1.0, rtol=1e-9)
    e = s.energy(data.z)
    assert np.max(np.abs(e - e[:, :1])) / e[0, 0] < 1e-8


def test_damped_pendulum_loses_energy_at_the_stated_rate():
    s = get_system("damped_pendulum")
    assert s.constants["gamma"] == 0.1
    assert s.damping == sp.Matrix([[0, 0], [0, sp.Rational(1, 10)]])
    data = s.generate(n_traj=5, n_time=100, dt=0.1, seed=2)
    e = s.energy(data.states())
    assert np.all(np.diff(e, axis=1) <= 1e-12)
    assert np.all(e[:, -1] < 0.5 * e[:, 0])  # about exp(-gamma t) over t = 9.9 for small oscillations
    # dH/dt = ∇H · f = -gamma (dq/dt)^2
    z = s.sample_states(20, seed=0)
    f = s.vector_field(z)
    grad = np.stack([np.sin(z[:, 0]), z[:, 1]], axis=1)  # m = l = g = 1
    np.testing.assert_allclose(np.sum(grad * f, axis=1), -0.1 * f[:, 0] ** 2, rtol=1e-12, atol=1e-14)


# --------------------------------------------------------------------------------------------- generator

def test_canonical_generator_returns_dataset_with_shapes():
    s = get_system("henon_heiles")
    data = s.generate(n_traj=3, n_time=17, dt=0.2, seed=0)
    assert isinstance(data, Dataset)
    assert data.q.shape == data.p.shape == data.dq.shape == data.dp.shape == (3, 17, 2)
    np.testing.assert_allclose(data.t, 0.2 * np.arange(17))
    data = s.generate(n_traj=2, n_time=11, t_span=(1.0, 3.0), seed=0)
    np.testing.assert_allclose(data.t, np.linspace(1.0, 3.0, 11))


@pytest.mark.parametrize("name", sorted(NONCANONICAL))
def test_noncanonical_generator_returns_trajectories(name):
    s = get_system(name)
    data = s.generate(n_traj=3, n_time=9, seed=0)
    assert isinstance(data, Trajectories)
    assert data.z.shape == data.dz.shape == (3, 9, s.dim)
    assert data.t.shape == (9,) and data.state_names == s.state_names
    z, dz = data.flat()
    assert z.shape == dz.shape == (27, s.dim)


@pytest.mark.parametrize("name", ["pendulum", "kepler", "lotka_volterra", "spring_chain"])
def test_derivatives_are_exact_and_consistent_with_the_trajectories(name):
    s = get_system(name)
    h = 1e-3
    data = s.generate(n_traj=3, n_time=21, dt=h, seed=4)
    z, dz = data.states(), data.derivatives()
    np.testing.assert_allclose(dz, s.vector_field(z), rtol=1e-13, atol=1e-13)
    # central differences of the integrated states agree with the field: the integrator solved the right ODE
    fd = (z[:, 2:] - z[:, :-2]) / (2 * h)
    scale = np.max(np.abs(dz))
    assert np.max(np.abs(fd - dz[:, 1:-1])) < 1e-5 * scale


def test_generator_is_deterministic_with_a_seed():
    s = get_system("double_well")
    a = s.generate(n_traj=4, n_time=10, seed=123, noise=0.05)
    b = s.generate(n_traj=4, n_time=10, seed=123, noise=0.05)
    c = s.generate(n_traj=4, n_time=10, seed=124, noise=0.05)
    np.testing.assert_array_equal(a.states(), b.states())
    np.testing.assert_array_equal(a.derivatives(), b.derivatives())
    assert not np.allclose(a.states(), c.states())
    # initial states are sample_states with the same seed
    np.testing.assert_array_equal(s.generate(n_traj=4, n_time=2, seed=9).states()[:, 0], s.sample_states(4, seed=9))


def test_generator_does_not_touch_the_global_rng():
    np.random.seed(0)
    expected = np.random.random()
    np.random.seed(0)
    get_system("pendulum").generate(n_traj=2, n_time=5, noise=0.1)
    assert np.random.random() == expected


@pytest.mark.parametrize("noise_on", ["both", "states", "derivatives"])
def test_relative_noise_level_matches_the_documented_model(noise_on):
    s = get_system("coupled_oscillators")
    kw = dict(n_traj=40, n_time=50, dt=0.1, seed=7)
    clean = s.generate(**kw)
    noisy = s.generate(noise=0.1, noise_on=noise_on, **kw)
    for arr in ("states", "derivatives"):
        c, n = getattr(clean, arr)().reshape(-1, 4), getattr(noisy, arr)().reshape(-1, 4)
        if noise_on in ("both", arr):
            ratio = (n - c).std(axis=0) / (0.1 * c.std(axis=0))
            np.testing.assert_allclose(ratio, 1.0, atol=0.06)  # 2000 samples per coordinate
            assert np.abs((n - c).mean(axis=0) / (0.1 * c.std(axis=0))).max() < 0.1
        else:
            np.testing.assert_array_equal(n, c)


def test_absolute_noise_and_noise_on_trajectories():
    s = get_system("rigid_body")
    kw = dict(n_traj=30, n_time=40, seed=1)
    clean, noisy = s.generate(**kw), s.generate(noise=0.05, noise_mode="absolute", noise_on="states", **kw)
    np.testing.assert_allclose((noisy.z - clean.z).reshape(-1, 3).std(axis=0), 0.05, rtol=0.08)
    np.testing.assert_array_equal(noisy.dz, clean.dz)


def test_generator_with_initial_states_and_domain_override():
    s = get_system("pendulum", m=0.5, g=6.0)
    z0 = np.array([[0.5, 0.0], [1.0, 0.2]])
    data = s.generate(z0=z0, n_time=5)
    np.testing.assert_allclose(data.states()[:, 0], z0)
    zz = s.sample_states(200, seed=0, domain=RadiusDomain(1.3, 2.3))
    r = np.linalg.norm(zz, axis=1)
    assert r.min() >= 1.3 and r.max() <= 2.3


@pytest.mark.parametrize("kwargs, match", [
    ({"n_time": 1}, "n_time must be an integer >= 2"),
    ({"n_traj": 0}, "n_traj must be an integer >= 1"),
    ({"noise": -0.1}, "noise must be >= 0"),
    ({"noise_on": "inputs"}, "noise_on must be one of"),
    ({"noise_mode": "sigma"}, "noise_mode must be one of"),
    ({"dt": 0.1, "t_span": (0, 1)}, "either dt or t_span"),
    ({"dt": -0.1}, "dt must be > 0"),
    ({"t_span": (1, 0)}, "t0 < t1"),
    ({"z0": np.zeros((2, 3))}, r"z0 must have shape \(n, 2\)"),
    ({"z0": np.zeros((2, 2)), "n_traj": 3}, "n_traj=3 but z0 holds 2"),
    ({"seed": "abc"}, "seed must be"),
])
def test_generator_rejects_invalid_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        get_system("pendulum").generate(**kwargs)


# --------------------------------------------------------------------------------------------- domains

def test_domains():
    hh = get_system("henon_heiles")
    e = hh.energy(hh.sample_states(300, seed=0))
    assert e.min() >= 0.02 and e.max() <= 0.12
    ho = get_system("harmonic_oscillator")
    r = np.linalg.norm(ho.sample_states(500, seed=0), axis=1)
    assert 0.1 <= r.min() < 0.15 and 0.95 < r.max() <= 1.0
    rb = np.linalg.norm(get_system("rigid_body").sample_states(50, seed=0), axis=1)
    np.testing.assert_allclose(rb, 1.0)


def test_kepler_initial_states_are_near_circular_with_zero_momentum():
    s = get_system("kepler")
    z = s.sample_states(200, seed=0)
    q, p = z[:, :4], z[:, 4:]
    np.testing.assert_allclose(p[:, :2] + p[:, 2:], 0, atol=1e-14)  # total momentum
    np.testing.assert_allclose(q[:, :2] + q[:, 2:], 0, atol=1e-14)  # centre of mass at the origin
    # bound orbits; the virial ratio 2T/|V| of a circular orbit is 1, perturbed by 1 + 0.05 N(0, 1)
    T = 0.5 * np.sum(p**2, axis=1)
    V = s.energy(z) - T
    assert np.all(s.energy(z) < 0)
    ratio = 2 * T / np.abs(V)
    assert abs(np.median(ratio) - 1) < 0.02 and ratio.max() < 1.5


def test_three_body_initial_states_are_near_circular():
    s = get_system("three_body")
    z = s.sample_states(100, seed=0)
    q = z[:, :6].reshape(-1, 3, 2)
    r = np.linalg.norm(q, axis=2)
    assert np.allclose(r, r[:, :1]) and r.min() >= 0.9 and r.max() <= 1.2
    T = 0.5 * np.sum(z[:, 6:] ** 2, axis=1)
    V = s.energy(z) - T
    ratio = 2 * T / np.abs(V)
    assert 0.6 < ratio.min() and ratio.max() < 1.5 and abs(np.median(ratio) - 1) < 0.1


def test_spring_chain_constants_are_stated_and_seeded():
    s = get_system("spring_chain")
    c = s.constants
    assert c["n"] == 20 and len(c["masses"]) == 20 and len(c["springs"]) == 21
    assert min(c["masses"]) >= 0.2 and min(c["springs"]) >= 1.0
    assert (c["masses"], c["springs"]) == srnn_chain_constants(20, 0)
    assert get_system("spring_chain", constants_seed=1).constants["masses"] != c["masses"]
    # the stated constants are the ones in H
    q1, p1 = sp.Symbol("q1"), sp.Symbol("p1")
    H = s.hamiltonian
    assert np.isclose(float(H.coeff(p1**2)), 1 / (2 * c["masses"][0]))
    assert np.isclose(float(sp.expand(H).coeff(q1**2)), (c["springs"][0] + c["springs"][1]) / 2)
    small = get_system("spring_chain", n=3, masses=[1, 2, 3], springs=[1, 1, 1, 1])
    assert small.dim == 6 and small.constants["masses"] == (1.0, 2.0, 3.0)


def test_fpu_hamiltonian():
    s = get_system("fpu", n=2, beta=0.5)
    q1, q2, p1, p2 = s.symbols
    r = [q1, q2 - q1, -q2]
    expected = (p1**2 + p2**2) / 2 + sum(x**2 / 2 + sp.Rational(1, 2) * x**4 / 4 for x in r)
    assert sp.expand(s.hamiltonian - expected) == 0


# --------------------------------------------------------------------------------------------- Lagrangians

def test_double_pendulum_lagrangian_agrees_with_hamiltonian():
    s = get_system("double_pendulum")
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.uniform(-np.pi, np.pi, (30, 2)), rng.uniform(-3, 3, (30, 2))], axis=1)
    z = s.momenta(x)
    np.testing.assert_allclose(s.velocities(z), x, rtol=1e-12, atol=1e-12)  # Legendre round trip
    # Euler-Lagrange accelerations, derived here independently from L, against d/dt (∂H/∂p) along the H field
    qs, vs = s.symbols[:2], s.velocity_symbols
    L = s.lagrangian
    M = sp.hessian(L, vs)
    rhs = sp.Matrix([sp.diff(L, qi) - sum(sp.diff(L, vi, qj) * vj for qj, vj in zip(qs, vs))
                     for qi, vi in zip(qs, vs)])
    el = sp.lambdify(qs + vs, list(M.inv() * rhs), "numpy")
    acc_el = np.array([np.array(el(*row), dtype=float).ravel() for row in x])
    qdot_exprs = s.field_exprs[:2]
    jac = sp.lambdify(s.symbols, sp.Matrix(qdot_exprs).jacobian(s.symbols), "numpy")
    f = s.vector_field(z)
    acc_h = np.array([np.array(jac(*zi), dtype=float) @ fi for zi, fi in zip(z, f)])
    np.testing.assert_allclose(acc_el, acc_h, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(s.accelerations(x), acc_h, rtol=1e-9, atol=1e-9)
    # the LNN reference dynamics (closed form, m = l = 1, g = 9.8)
    t1, t2, w1, w2 = x.T
    a1, a2 = 0.5 * np.cos(t1 - t2), np.cos(t1 - t2)
    f1 = -0.5 * w2**2 * np.sin(t1 - t2) - 9.8 * np.sin(t1)
    f2 = w1**2 * np.sin(t1 - t2) - 9.8 * np.sin(t2)
    ref = np.stack([(f1 - a1 * f2) / (1 - a1 * a2), (f2 - a2 * f1) / (1 - a1 * a2)], axis=1)
    np.testing.assert_allclose(s.accelerations(x), ref, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("name", [n for n in ALL if get_system(n).lagrangian is not None])
def test_hamiltonian_is_legendre_transform_of_lagrangian(name):
    s = get_system(name)
    z = s.sample_states(10, seed=1)
    x = s.velocities(z)
    np.testing.assert_allclose(s.momenta(x), z, rtol=1e-10, atol=1e-12)
    d = s.n_dof
    Lf = sp.lambdify(s.symbols[:d] + s.velocity_symbols, s.lagrangian, "numpy")
    L = np.array([Lf(*row) for row in x])
    np.testing.assert_allclose(np.sum(z[:, d:] * x[:, d:], axis=1) - L, s.energy(z), rtol=1e-10, atol=1e-10)


def test_system_without_lagrangian_says_so():
    with pytest.raises(ValueError, match="has no Lagrangian"):
        get_system("lotka_volterra").accelerations(np.zeros((1, 2)))


# --------------------------------------------------------------------------------------------- bundled data

@pytest.mark.parametrize("name", sorted(BUNDLED_DATA))
def test_bundled_data_is_reproducible(name):
    meta = BUNDLED_DATA[name]
    path = bundled_data_path(name)
    assert path.exists() and path.stat().st_size < 300_000
    data = load_data(path)
    s = get_system(meta["system"], **meta["constants"])
    fresh = s.generate(**meta["generate"])
    np.testing.assert_allclose(data.states(), fresh.states(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(data.derivatives(), fresh.derivatives(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(data.t, fresh.t)
    assert sp.simplify(s.hamiltonian - parse_expression(meta["hamiltonian"], s.symbols)) == 0


def test_bundled_data_unknown_name():
    with pytest.raises(ValueError, match="available: duffing"):
        bundled_data_path("nope")


def test_import_stays_light():
    code = ("import sys, hamid, hamid.systems; hamid.systems.get_system('pendulum').generate(n_traj=2, n_time=3);"
            "heavy = [m for m in ('torch', 'matplotlib', 'sklearn', 'pysindy') if m in sys.modules];"
            "assert not heavy, heavy")
    subprocess.run([sys.executable, "-c", code], check=True)
