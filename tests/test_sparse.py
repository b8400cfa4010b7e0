"""SparseHamiltonian: recovery of known Hamiltonians, formulations, diagnostics, results and persistence.

Data come from scipy's DOP853 on the true equations (independent of hamid's own integrators and catalogue).
"""
import json
import subprocess
import sys
import warnings

import numpy as np
import pytest
import sympy as sp
from scipy.integrate import solve_ivp
from sklearn.base import clone
from hamid.models.base import NotFittedError

import hamid
from hamid.models.sparse import CollinearityWarning, SparseHamiltonian, UnderdeterminedWarning, snap_value
from hamid.symbolic import state_symbols

(q,), (p,) = state_symbols(1)
(q1, q2), (p1, p2) = state_symbols(2)

SYSTEMS = {
    "oscillator": (1, p**2 / 2 + 2 * q**2, ["poly:3"], 1.0),
    "pendulum": (1, p**2 / 2 - sp.cos(q), ["poly:2", "trig"], 1.5),
    "double_well": (1, p**2 / 2 + q**4 / 4 - q**2 / 2, ["poly:4"], 1.4),
    "nonseparable": (1, (q**2 + p**2) / 2 + q**2 * p**2 / 2, ["poly:4"], 0.9),
    "henon_heiles": (2, (p1**2 + p2**2 + q1**2 + q2**2) / 2 + q1**2 * q2 - q2**3 / 3, ["poly:3"], 0.35),
}


def trajectories(H, d, n_traj, n_time, dt, radius, seed=0):
    """Exact trajectories (n_traj, n_time, 2d), times (n_time,) and derivatives of dz/dt = J∇H."""
    qs, ps = state_symbols(d)
    syms = qs + ps
    field = [sp.diff(H, v) for v in ps] + [-sp.diff(H, v) for v in qs]
    f = sp.lambdify(syms, field, "numpy")
    rng = np.random.default_rng(seed)
    z0 = rng.uniform(-radius, radius, (n_traj, 2 * d))
    t = dt * np.arange(n_time)
    Z = np.empty((n_traj, n_time, 2 * d))
    for i in range(n_traj):
        sol = solve_ivp(lambda _t, z: f(*z), (0, t[-1]), z0[i], t_eval=t, method="DOP853", rtol=1e-12, atol=1e-12)
        Z[i] = sol.y.T
    dZ = np.stack([np.asarray(np.broadcast_arrays(*f(*np.moveaxis(Z, -1, 0))), dtype=float)], 0)[0]
    return Z, t, np.moveaxis(dZ, 0, -1)


def split(Z, d):
    return Z[..., :d], Z[..., d:]


def max_rel_error(model, H):
    truth = sp.Poly(sp.expand(H), *model.library_.symbols) if H.is_polynomial(*model.library_.symbols) else None
    coeffs = dict(zip(model.feature_names_, model.coef_))
    errs = []
    expected = sp.expand(H).as_coefficients_dict()
    for term, c in expected.items():
        if term == 1:
            continue
        errs.append(abs(coeffs.get(str(term), 0.0) - float(c)) / abs(float(c)))
    del truth
    return max(errs)


def exact_support(model, H):
    expected = {str(t) for t in sp.expand(H).as_coefficients_dict() if t != 1}
    return set(model.terms_) == expected


@pytest.fixture(scope="module")
def data():
    out = {}
    for name, (d, H, lib, r) in SYSTEMS.items():
        out[name] = trajectories(H, d, n_traj=12, n_time=40, dt=0.1, radius=r)
    return out


@pytest.mark.parametrize("name", list(SYSTEMS))
def test_recovery_with_derivatives(name, data):
    d, H, lib, _ = SYSTEMS[name]
    Z, t, dZ = data[name]
    (qq, pp), (dq, dp) = split(Z, d), split(dZ, d)
    model = SparseHamiltonian(library=lib).fit(qq, pp, dq=dq, dp=dp)
    assert exact_support(model, H), model.hamiltonian_
    assert max_rel_error(model, H) < 1e-8


@pytest.mark.parametrize("name", list(SYSTEMS))
def test_recovery_from_states_only(name, data):
    d, H, lib, _ = SYSTEMS[name]
    Z, t, _ = data[name]
    qq, pp = split(Z, d)
    model = SparseHamiltonian(library=lib).fit(qq, pp, t=t)
    assert model.formulation_ == "integral"
    assert exact_support(model, H), model.hamiltonian_
    assert max_rel_error(model, H) < 1e-5


def test_recovery_samples_layout_and_noise():
    rng = np.random.default_rng(3)
    qq, pp = rng.uniform(-1.5, 1.5, (2, 2000))
    dq, dp = pp.copy(), -(qq ** 3 - qq)
    noise = 0.01
    model = SparseHamiltonian(library="poly:4").fit(
        qq, pp, dq=dq + noise * dq.std() * rng.standard_normal(2000), dp=dp + noise * dp.std() * rng.standard_normal(2000))
    H = p**2 / 2 + q**4 / 4 - q**2 / 2
    assert exact_support(model, H)
    assert max_rel_error(model, H) < 0.05


def test_coarse_pendulum_dt025_12_samples():
    H = p**2 / 2 - sp.cos(q)
    Z, t, _ = trajectories(H, 1, n_traj=10, n_time=12, dt=0.25, radius=1.5, seed=1)
    model = SparseHamiltonian(library=["poly:2", "trig"]).fit(Z[..., :1], Z[..., 1:], t=t)
    assert exact_support(model, H), model.hamiltonian_
    assert max_rel_error(model, H) < 1e-3
    # the trapezoid rule (quadrature_order=2) is not enough at this step: the default is not cosmetic
    low = SparseHamiltonian(library=["poly:2", "trig"], optimizer="lstsq", quadrature_order=2)
    low.fit(Z[..., :1], Z[..., 1:], t=t)
    exact = SparseHamiltonian(library=["poly:2", "trig"], optimizer="lstsq").fit(Z[..., :1], Z[..., 1:], t=t)
    assert np.abs(low.coef_ - exact.coef_).max() > 1e-3 > np.abs(exact.coef_[[4, 6]] - [0.5, -1]).max()


def test_midpoint_and_estimated_derivatives(data):
    d, H, lib, _ = SYSTEMS["pendulum"]
    Z, t, _ = trajectories(H, 1, n_traj=8, n_time=200, dt=0.01, radius=1.5, seed=2)
    for kw in ({"formulation": "midpoint"}, {"formulation": "derivative"},
               {"formulation": "derivative", "differentiation": "finite_difference"}):
        model = SparseHamiltonian(library=lib, **kw).fit(Z[..., :1], Z[..., 1:], t=t)
        assert exact_support(model, H), (kw, model.hamiltonian_)
        assert max_rel_error(model, H) < 1e-3, kw
    assert model.diagnostics_["derivatives"] == "estimated"


@pytest.mark.parametrize("optimizer", ["lasso", "stlsq", "sr3", "ssr", "ensemble", "auto"])
def test_optimizers_recover_double_well(optimizer, data):
    d, H, lib, _ = SYSTEMS["double_well"]
    Z, t, dZ = data["double_well"]
    model = SparseHamiltonian(library=lib, optimizer=optimizer, random_state=0)
    model.fit(Z[..., :1], Z[..., 1:], dq=dZ[..., :1], dp=dZ[..., 1:])
    assert exact_support(model, H), model.hamiltonian_
    assert max_rel_error(model, H) < 1e-8


def test_pysindy_object_and_ensemble_seeded(data):
    from pysindy.optimizers import STLSQ

    Z, t, dZ = data["oscillator"]
    args = (Z[..., :1], Z[..., 1:])
    kw = dict(dq=dZ[..., :1], dp=dZ[..., 1:])
    model = SparseHamiltonian(library="poly:3", optimizer=STLSQ(threshold=0.05)).fit(*args, **kw)
    assert model.terms_ == ["q**2", "p**2"]
    state = np.random.get_state()[1].copy()
    a = SparseHamiltonian(library="poly:3", optimizer="ensemble", random_state=5).fit(*args, **kw)
    b = SparseHamiltonian(library="poly:3", optimizer="ensemble", random_state=5).fit(*args, **kw)
    assert np.array_equal(a.inclusion_probabilities_, b.inclusion_probabilities_)
    assert np.array_equal(np.random.get_state()[1], state)  # the global RNG is left as it was


def test_bootstrap_inclusion_probabilities(data):
    d, H, lib, _ = SYSTEMS["double_well"]
    Z, t, _ = data["double_well"]
    kw = dict(library=lib, n_bootstrap=8, random_state=1)
    a = SparseHamiltonian(**kw).fit(Z[..., :1], Z[..., 1:], t=t)
    b = SparseHamiltonian(**kw).fit(Z[..., :1], Z[..., 1:], t=t)
    assert np.array_equal(a.inclusion_probabilities_, b.inclusion_probabilities_)
    probs = dict(zip(a.feature_names_, a.inclusion_probabilities_))
    assert probs["q**4"] == probs["q**2"] == probs["p**2"] == 1.0
    assert a.diagnostics_["inclusion_probabilities"]["q**4"] == 1.0


def test_collinearity_warning_cos_vs_taylor():
    rng = np.random.default_rng(0)
    qq, pp = rng.uniform(-0.3, 0.3, (2, 300))
    with pytest.warns(CollinearityWarning, match="cos"):
        model = SparseHamiltonian(library=["poly:4", "trig"]).fit(qq, pp, dq=pp, dp=-np.sin(qq))
    assert "cos(q)" in model.diagnostics_["collinear_terms"]
    # on a wide domain the same library is fine
    qq, pp = rng.uniform(-2, 2, (2, 300))
    with warnings.catch_warnings():
        warnings.simplefilter("error", CollinearityWarning)
        SparseHamiltonian(library=["poly:2", "trig"]).fit(qq, pp, dq=pp, dp=-np.sin(qq))


def test_underdetermined_warning():
    rng = np.random.default_rng(0)
    qq, pp = rng.uniform(-1, 1, (2, 3))
    with pytest.warns(UnderdeterminedWarning, match="underdetermined"):
        SparseHamiltonian(library="poly:4").fit(qq, pp, dq=pp, dp=-qq)


def test_unknown_aliases_list_valid_names():
    qq, pp = np.ones(5), np.ones(5)
    with pytest.raises(ValueError, match="valid names: auto, lasso, stlsq, sr3, ssr, ensemble, lstsq"):
        SparseHamiltonian(optimizer="nope").fit(qq, pp, dq=pp, dp=pp)
    with pytest.raises(ValueError, match="valid names: auto, derivative, integral, midpoint"):
        SparseHamiltonian(formulation="nope").fit(qq, pp, dq=pp, dp=pp)
    Z = np.zeros((2, 10, 2))
    with pytest.raises(ValueError, match="valid names: auto, spline, finite_difference, savgol"):
        SparseHamiltonian(formulation="derivative", differentiation="nope").fit(Z[..., :1], Z[..., 1:], t=np.arange(10.0))
    with pytest.raises(ValueError, match="unknown library kind"):
        SparseHamiltonian(library="nope:3").fit(qq, pp, dq=pp, dp=pp)


def test_params_clone_and_not_fitted(data):
    model = SparseHamiltonian(library="poly:3", optimizer="lasso", snap=1e-3)
    params = model.get_params()
    assert params["library"] == "poly:3" and params["optimizer"] == "lasso" and params["snap"] == 1e-3
    model.set_params(optimizer="auto", quadrature_order=6)
    assert model.optimizer == "auto" and model.quadrature_order == 6
    c = clone(model)
    assert c.get_params() == model.get_params() and not hasattr(c, "coef_")
    for call in (lambda: model.hamiltonian_gradient(np.zeros((1, 2))), model.equations, model.latex,
                 lambda: model.save("x.json"), lambda: model.simulate(np.zeros((1, 2)), dt=0.1, n_steps=2)):
        with pytest.raises(NotFittedError):
            call()
    Z, t, dZ = data["oscillator"]
    assert model.fit(Z[..., :1], Z[..., 1:], dq=dZ[..., :1], dp=dZ[..., 1:]) is model
    assert not hasattr(clone(model), "coef_")


def test_fit_does_not_mutate_input(data):
    Z, t, dZ = data["pendulum"]
    qq, pp = Z[..., :1].copy(), Z[..., 1:].copy()
    before = (qq.copy(), pp.copy(), t.copy())
    SparseHamiltonian(library=["poly:2", "trig"]).fit(qq, pp, t=t)
    assert all(np.array_equal(a, b) for a, b in zip(before, (qq, pp, t)))


def test_json_round_trip_exact(tmp_path, data):
    d, H, lib, _ = SYSTEMS["henon_heiles"]
    Z, t, _ = data["henon_heiles"]
    model = SparseHamiltonian(library=lib).fit(Z[..., :2], Z[..., 2:], t=t)
    path = model.save(tmp_path / "model.json")
    loaded = SparseHamiltonian.load(path)
    assert np.array_equal(loaded.coef_, model.coef_)
    assert loaded.hamiltonian_ == model.hamiltonian_
    assert loaded.terms_ == model.terms_
    z = np.random.default_rng(0).normal(size=(5, 4))
    assert np.array_equal(loaded.vector_field(z), model.vector_field(z))
    doc = json.loads(path.read_text())
    assert doc["format"] == "hamid-model" and doc["class"] == "SparseHamiltonian"
    assert [float(c) for c in doc["model"]["coef"]] == model.coef_.tolist()


def test_load_never_evaluates_code(tmp_path, data):
    Z, t, dZ = data["oscillator"]
    model = SparseHamiltonian(library="poly:2").fit(Z[..., :1], Z[..., 1:], dq=dZ[..., :1], dp=dZ[..., 1:])
    path = model.save(tmp_path / "m.json")
    doc = json.loads(path.read_text())
    doc["model"]["terms"][0] = "__import__('os').system('echo pwned')"
    path.write_text(json.dumps(doc))
    with pytest.raises(ValueError, match="not allowed|unknown name"):
        SparseHamiltonian.load(path)


def test_snap_to_rationals(data):
    assert snap_value(0.49999, 1e-3) == sp.Rational(1, 2)
    assert snap_value(-0.33331, 1e-3) == sp.Rational(-1, 3)
    assert snap_value(0.123456, 1e-4) is None
    d, H, lib, _ = SYSTEMS["henon_heiles"]
    Z, t, _ = data["henon_heiles"]
    model = SparseHamiltonian(library=lib).fit(Z[..., :2], Z[..., 2:], t=t)
    snapped = model.snap_coefficients(1e-3)
    assert sp.simplify(snapped.hamiltonian_ - sp.expand(H)) == 0
    assert snapped.hamiltonian_ != model.hamiltonian_  # the original keeps its floats
    in_fit = SparseHamiltonian(library=lib, snap=1e-3).fit(Z[..., :2], Z[..., 2:], t=t)
    assert sp.simplify(in_fit.hamiltonian_ - sp.expand(H)) == 0


def test_equations_and_latex(data):
    Z, t, dZ = data["pendulum"]
    model = SparseHamiltonian(library=["poly:2", "trig"], snap=1e-6).fit(Z[..., :1], Z[..., 1:], dq=dZ[..., :1], dp=dZ[..., 1:])
    assert model.hamiltonian_ == p**2 / 2 - sp.cos(q)
    eqs = model.equations()
    assert [e.rhs for e in eqs] == [p, -sp.sin(q)]
    assert model.latex() == r"H = \frac{p^{2}}{2} - \cos{\left(q \right)}"
    assert model.latex("equations") == r"\dot{q} = p \\ \dot{p} = - \sin{\left(q \right)}"
    with pytest.raises(ValueError, match="valid: hamiltonian, equations"):
        model.latex("nope")


def test_simulate_integrate_and_torch(data):
    import torch

    d, H, lib, _ = SYSTEMS["nonseparable"]
    Z, t, dZ = data["nonseparable"]
    model = SparseHamiltonian(library=lib).fit(Z[..., :1], Z[..., 1:], dq=dZ[..., :1], dp=dZ[..., 1:])
    z0 = Z[:3, 0]
    traj = model.simulate(z0, dt=0.01, n_steps=100)  # non-separable: implicit midpoint
    assert traj.shape == (3, 101, 2)
    assert np.abs(traj[:, 10] - Z[:3, 1]).max() < 1e-4
    via_api = hamid.integrate(model, z0, dt=0.01, n_steps=100, method="implicit_midpoint")
    assert np.allclose(via_api, traj)
    module = model.to_torch()
    zt = torch.tensor(Z[0], dtype=torch.float64)
    assert np.allclose(module(zt).numpy(), model.energy(Z[0]))
    assert np.allclose(module.field(zt).numpy(), model.vector_field(Z[0]))
    assert model.score(Z[..., :1], Z[..., 1:], dq=dZ[..., :1], dp=dZ[..., 1:]) > 1 - 1e-12
    assert model.score(Z[..., :1], Z[..., 1:], t=t) > 1 - 1e-8


def test_bad_input_messages():
    with pytest.raises(ValueError, match="needs trajectories"):
        SparseHamiltonian(formulation="integral").fit(np.ones(5), np.ones(5), dq=np.ones(5), dp=np.ones(5))
    with pytest.raises(ValueError, match="dq was given without dp"):
        SparseHamiltonian().fit(np.ones(5), np.ones(5), dq=np.ones(5))
    with pytest.raises(TypeError, match="library must be"):
        SparseHamiltonian(library=3).fit(np.ones(5), np.ones(5), dq=np.ones(5), dp=np.ones(5))


def test_import_hamid_stays_light():
    code = ("import sys, hamid; hamid.SparseHamiltonian; "
            "print(sorted(m for m in ('torch', 'pysindy') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
    code = "import sys, hamid; print(sorted(m for m in ('torch', 'pysindy', 'sklearn') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_auto_derivative_picks_polynomial_on_clean_and_spline_on_noisy_data():
    from hamid.models.sparse.differentiation import AutoDerivative, SplineDerivative, differentiate

    d, H, lib, radius = SYSTEMS["double_well"]
    Z, t, dZ = trajectories(H, d, n_traj=4, n_time=120, dt=0.02, radius=radius, seed=3)
    auto = AutoDerivative()
    est = differentiate(auto, Z, t)
    assert all(c.startswith("polynomial") for c in auto.choices_), auto.choices_
    spline_err = np.abs(differentiate(SplineDerivative(), Z, t) - dZ).max()
    assert np.abs(est - dZ).max() < 1e-6 < spline_err
    noisy = Z + 0.01 * Z.std(axis=(0, 1)) * np.random.default_rng(0).standard_normal(Z.shape)
    differentiate(auto, noisy, t)
    assert auto.choices_ == ["spline", "spline"]


def test_integral_form_whitens_noisy_states():
    from hamid.models.sparse.formulations import integral_weights, whiten_segment

    d, H, lib, radius = SYSTEMS["double_well"]
    Z, t, _ = trajectories(H, d, n_traj=20, n_time=12, dt=0.25, radius=radius, seed=4)
    sigma = 0.02
    noisy = Z + sigma * np.random.default_rng(1).standard_normal(Z.shape)
    model = SparseHamiltonian(library=lib).fit(*split(noisy, d), t=t)
    assert exact_support(model, H), model.hamiltonian_
    assert max_rel_error(model, H) < 0.05
    # the noise level (absolute here, the same on q and p) is re-estimated from the whitened residuals
    assert "noise_model" in model.diagnostics_
    np.testing.assert_allclose(model.diagnostics_["noise_std"], sigma, rtol=0.3)
    clean = SparseHamiltonian(library=lib).fit(*split(Z, d), t=t)
    assert "noise_model" not in clean.diagnostics_ and max_rel_error(clean, H) < 1e-3
    # with the true field Jacobian and noise level, the whitened residuals of the true coefficients have unit variance
    C = np.vstack([np.zeros((1, 12)), np.cumsum(integral_weights(t, 8), axis=0)])
    res = []
    for i in range(20):
        z = noisy[i]
        Fk = np.zeros((12, 2, 1))  # one column: the true field J∇H
        Fk[:, 0, 0] = z[:, 1]
        Fk[:, 1, 0] = -(z[:, 0] ** 3 - z[:, 0])
        jac = np.zeros((12, 2, 2))
        jac[:, 0, 1] = 1.0
        jac[:, 1, 0] = -(3 * z[:, 0] ** 2 - 1)
        X, y = whiten_segment(C, Fk, z, jac, np.full(2, sigma))
        res.append(y - X[:, 0])
    res = np.concatenate(res)
    assert 0.8 < np.sqrt(np.mean(res ** 2) * 24 / 22) < 1.25
