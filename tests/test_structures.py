"""Structures beyond canonical H: Poisson (rigid body, Lotka-Volterra), port-Hamiltonian, Lagrangian."""
import json

import numpy as np
import pytest
import sympy as sp

from hamid.cli import main
from hamid.integrators import IntegratorError, integrate
from hamid.io import load_data, save_data, validate_lagrangian, validate_states
from hamid.models.sparse import SparseHamiltonian, SparseLagrangian, SparsePortHamiltonian
from hamid.structures import (StructureError, get_structure, legendre_transform, poisson_symbols)
from hamid.systems import get_system

z1, z2, z3 = poisson_symbols(3)


def _coef(expr, term):
    return float(sp.Poly(sp.expand(expr), *sorted(expr.free_symbols, key=str)).coeff_monomial(term)) \
        if expr.is_polynomial() else float(expr.coeff(term))


@pytest.fixture(scope="module")
def rigid_body_data():
    return get_system("rigid_body").generate(n_traj=8, n_time=40, seed=0)


@pytest.fixture(scope="module")
def rigid_body_model(rigid_body_data):
    d = rigid_body_data
    return SparseHamiltonian(library="poly:2", structure="poisson:rigid_body").fit(z=d.z, dz=d.dz)


def test_rigid_body_recovered_in_the_documented_gauge(rigid_body_model):
    m = rigid_body_model
    # truth H = z1²/4 + z2²/2 + 3 z3²/4; the Casimir |z|² is removed along the last term it involves (z3²)
    truth = sp.Rational(1, 4) * z1**2 + sp.Rational(1, 2) * z2**2 + sp.Rational(3, 4) * z3**2
    gauge = sp.expand(truth - sp.Rational(3, 4) * (z1**2 + z2**2 + z3**2))
    assert m.gauge_terms_ == ["z3**2"]
    assert sp.expand(m.casimirs_[0] - (z1**2 + z2**2 + z3**2)) == 0
    assert set(m.terms_) == {"z1**2", "z2**2"}
    assert abs(float(m.hamiltonian_.coeff(z1**2)) - float(gauge.coeff(z1**2))) < 1e-9
    assert abs(float(m.hamiltonian_.coeff(z2**2)) - float(gauge.coeff(z2**2))) < 1e-9


def test_casimir_and_energy_conserved_by_implicit_midpoint(rigid_body_model):
    z0 = np.array([[np.cos(1.1), 0.0, np.sin(1.1)], [0.6, 0.8, 0.0]])
    traj = rigid_body_model.simulate(z0, dt=0.1, n_steps=500, method="implicit_midpoint")
    C = np.sum(traj ** 2, axis=-1)
    assert np.max(np.abs(C - C[:, :1])) < 1e-12
    E = rigid_body_model.energy(traj.reshape(-1, 3)).reshape(traj.shape[:2])
    assert np.max(np.abs(E - E[:, :1])) < 1e-12
    # and it follows the true dynamics
    ref = get_system("rigid_body").simulate(z0, 0.1 * np.arange(51))
    assert np.max(np.abs(traj[:, :51] - ref)) < 1e-2
    with pytest.raises(IntegratorError, match="canonical"):
        rigid_body_model.simulate(z0, dt=0.1, n_steps=5, method="leapfrog")


def test_lotka_volterra_from_states_only_with_log_terms():
    d = get_system("lotka_volterra").generate(n_traj=8, n_time=50, seed=1)
    m = SparseHamiltonian(library=["poly:2", "custom:log(z1),log(z2)"], structure="poisson:lotka_volterra")
    m.fit(z=d.z, t=d.t)
    assert m.diagnostics_["derivatives"] == "not used"
    assert set(m.terms_) == {"z1", "z2", "log(z1)", "log(z2)"}
    truth = {"z1": 1.0, "z2": 1.0, "log(z1)": -2.0, "log(z2)": -1.0}
    for name, c in zip(m.feature_names_, m.coef_):
        if name in truth:
            assert abs(c - truth[name]) < 1e-4 * abs(truth[name])
    assert m.casimirs_ == []


def test_poisson_matrix_parsing_is_safe_and_checked():
    s = get_structure("poisson:[[0, -z1*z2], [z1*z2, 0]]", dim=2)
    assert s.matrix() == sp.Matrix([[0, -z1 * z2], [z1 * z2, 0]])
    with pytest.raises(ValueError, match="not allowed|unknown name"):
        get_structure("poisson:[[0, __import__('os')], [0, 0]]")
    with pytest.raises(StructureError, match="skew"):
        get_structure("poisson:[[0, 1], [1, 0]]")
    with pytest.raises(StructureError, match="Jacobi"):
        get_structure("poisson:[[0, -1, -z1], [1, 0, -z2], [z1, z2, 0]]")  # hat(b), b = (z2, -z1, 1): b.curl b != 0
    with pytest.raises(StructureError, match="rigid_body, lotka_volterra"):
        get_structure("poisson:rigid_bdy")
    with pytest.raises(StructureError, match="valid: canonical"):
        get_structure("hamiltonian", dim=2)


@pytest.mark.parametrize("name, lib, truth", [
    ("damped_pendulum", ["poly:2", "trig"], {"p**2": 0.5, "cos(q)": -1.0}),
    ("damped_duffing", ["poly:4"], {"p**2": 0.5, "q**4": 0.25, "q**2": -0.5}),
])
def test_port_hamiltonian_recovers_h_r_and_the_energy_decay(name, lib, truth):
    system = get_system(name)
    d = system.generate(n_traj=8, n_time=40, seed=2)
    m = SparsePortHamiltonian(library=lib).fit(d.q, d.p, dq=d.dq, dp=d.dp)
    assert set(m.terms_) == set(truth)
    for k, c in zip(m.feature_names_, m.coef_):
        if k in truth:
            assert abs(c - truth[k]) < 1e-6
    R = np.array(m.dissipation_.tolist(), dtype=float)
    assert np.all(np.linalg.eigvalsh(R) >= 0)
    assert abs(R[1, 1] - 0.1) < 1e-6
    z = d.states().reshape(-1, 2)
    true_rate = -0.1 * z[:, 1] ** 2  # dH/dt = -gamma (dH/dp)^2 with dH/dp = p
    assert np.max(np.abs(m.energy_rate(z) - true_rate)) < 1e-6
    assert np.all(m.energy_rate(z) <= 1e-15)


def test_port_rejects_negative_dissipation_basis():
    d = get_system("damped_pendulum").generate(n_traj=3, n_time=10, seed=0)
    with pytest.raises(ValueError, match="negative values"):
        SparsePortHamiltonian(library="poly:2", dissipation="1, q - 10").fit(d.q, d.p, dq=d.dq, dp=d.dp)


@pytest.fixture(scope="module")
def double_pendulum_lagrangian_data():
    s = get_system("double_pendulum")
    d = s.generate(n_traj=8, n_time=30, dt=0.05, seed=0)
    z = d.states().reshape(-1, 4)
    x = s.velocities(z)
    acc = s.accelerations(x)
    return s, x, acc


def test_double_pendulum_lagrangian_and_legendre_transform(double_pendulum_lagrangian_data):
    s, x, acc = double_pendulum_lagrangian_data
    lib = ["poly:2", "trig", "custom:qdot1*qdot2*cos(q1 - q2),qdot1*qdot2*sin(q1 - q2),qdot1**2*cos(q1 - q2)"]
    m = SparseLagrangian(library=lib, normalize="qdot1**2", scale=1.0).fit(x[:, :2], x[:, 2:], qddot=acc)
    truth = {"qdot1**2": 1.0, "qdot2**2": 0.5, "qdot1*qdot2*cos(q1 - q2)": 1.0, "cos(q1)": 19.6, "cos(q2)": 9.8}
    assert set(m.terms_) == set(truth)
    for k, c in zip(m.feature_names_, m.coef_):
        if k in truth:
            assert abs(c - truth[k]) < 1e-6 * abs(truth[k])
    assert "q1*qdot1" in m.null_terms_  # a total derivative: no Euler-Lagrange residual
    # H by Legendre transform equals the catalogue's H at random phase-space points
    rng = np.random.default_rng(0)
    pts = rng.uniform(-1, 1, (50, 4))
    syms = sp.symbols("q1 q2 p1 p2")
    f_fit = sp.lambdify(syms, m.hamiltonian_, "numpy")
    f_true = sp.lambdify(syms, s.hamiltonian, "numpy")
    diff = f_fit(*pts.T) - f_true(*pts.T)
    assert np.max(np.abs(diff - diff.mean())) < 1e-8
    assert np.allclose(m.accelerations(x[:20]), acc[:20], atol=1e-8)


def test_legendre_transform_of_a_degenerate_lagrangian_is_refused():
    q, qdot = sp.symbols("q qdot")
    with pytest.raises(StructureError, match="not quadratic"):
        legendre_transform(qdot**4 - q**2, 1)
    assert sp.simplify(legendre_transform(qdot**2 / 2 + sp.cos(q), 1) - (sp.Symbol("p")**2 / 2 - sp.cos(q))) == 0


def test_structured_data_round_trip_npz_and_csv(tmp_path):
    rng = np.random.default_rng(0)
    s = validate_states(rng.normal(size=(2, 4, 3)), t=np.arange(4.0), dz=rng.normal(size=(2, 4, 3)),
                        structure="poisson:rigid_body")
    lag = validate_lagrangian(rng.normal(size=(2, 4, 2)), rng.normal(size=(2, 4, 2)), t=np.arange(4.0))
    for data, attrs in ((s, ("z", "dz")), (lag, ("q", "qdot"))):
        for ext in ("npz", "csv"):
            path = tmp_path / f"d_{attrs[0]}.{ext}"
            save_data(path, data)
            back = load_data(path)
            assert type(back) is type(data)
            for a in attrs:
                assert np.array_equal(getattr(back, a), getattr(data, a))
    assert load_data(tmp_path / "d_z.npz").structure == "poisson:rigid_body"


def test_cli_generate_and_discover_structures(tmp_path, capsys):
    rb = tmp_path / "rb.npz"
    assert main(["generate", "rigid_body", "--out", str(rb), "--n-traj", "6", "--n-time", "30"]) == 0
    capsys.readouterr()
    assert main(["discover", str(rb), "--library", "poly:2", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["structure"] == "poisson:rigid_body" and doc["casimirs"] == ["z1**2 + z2**2 + z3**2"]
    H = sp.sympify(doc["hamiltonian"])
    assert abs(float(H.coeff(z1**2)) + 0.5) < 1e-9 and abs(float(H.coeff(z2**2)) + 0.25) < 1e-9
    dp = tmp_path / "dp.csv"
    assert main(["generate", "damped_pendulum", "--out", str(dp), "--n-traj", "6", "--n-time", "30"]) == 0
    capsys.readouterr()
    assert main(["discover", str(dp), "--structure", "port", "--library", "poly:2", "--library", "trig",
                 "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["dissipation"][0] == ["0", "0"] and abs(float(doc["dissipation"][1][1]) - 0.1) < 1e-6
    # the plain output prints R rounded like H, as a matrix a reader can paste back
    assert main(["discover", str(dp), "--structure", "port", "--library", "poly:2", "--library", "trig"]) == 0
    assert "R = [[0, 0], [0, 0.1]]" in capsys.readouterr().out.splitlines()
    # data that do not fit the structure asked for: one line naming the fix
    assert main(["discover", str(rb), "--structure", "canonical"]) == 2
    assert "use --structure poisson" in capsys.readouterr().err


def test_cli_lagrangian_from_generated_data(tmp_path, capsys):
    path = tmp_path / "dbl.csv"
    assert main(["generate", "double_pendulum", "--as", "lagrangian", "--dt", "0.01", "--n-traj", "4",
                 "--n-time", "60", "--out", str(path)]) == 0
    capsys.readouterr()
    lib = "custom:qdot1**2,qdot2**2,qdot1*qdot2*cos(q1 - q2),cos(q1),cos(q2),q1**2,q1*qdot2"
    assert main(["discover", str(path), "--library", lib, "--normalize", "qdot1**2=1", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["structure"] == "lagrangian" and doc["hamiltonian"]
    L = sp.sympify(doc["lagrangian"])
    q1, q2, v1, v2 = sp.symbols("q1 q2 qdot1 qdot2")
    truth = v1**2 + v2**2 / 2 + v1 * v2 * sp.cos(q1 - q2) + 19.6 * sp.cos(q1) + 9.8 * sp.cos(q2)
    assert len(sp.Add.make_args(L)) == 5  # the distractors q1**2 and q1*qdot2 are not selected
    residual = sp.lambdify((q1, q2, v1, v2), L - truth, "numpy")(*np.random.default_rng(0).uniform(-1, 1, (4, 20)))
    assert np.max(np.abs(residual)) < 1e-6
    assert main(["discover", str(path), "--structure", "port"]) == 2
    assert "--structure lagrangian" in capsys.readouterr().err
