"""hamid.compare: the same integrator for every field model, map models at their step, tables, term recovery."""
import csv
import io

import numpy as np
import pytest
import sympy as sp

import hamid
from hamid.comparison import (Truth, bootstrap_coefficients, fit_models, make_model, model_class, parse_param_value,
                           resolve_truth, term_errors)
from hamid.systems import get_system


@pytest.fixture(scope="module")
def pendulum():
    system = get_system("pendulum")
    train = system.generate(n_traj=8, n_time=30, dt=0.1, seed=0)
    test = system.generate(n_traj=3, n_time=81, dt=0.1, seed=1)
    exact = hamid.SparseHamiltonian(library=["poly:2", "trig"]).fit(train.q, train.p, t=train.t, dq=train.dq,
                                                                   dp=train.dp)
    return system, train, test, exact


class ExactFieldEulerModel:
    """The true pendulum field, with a deliberately poor own integrator (explicit Euler)."""

    n_features_in_ = 2
    fit_time_ = 0.0
    n_parameters = 0

    def __init__(self, system):
        self.system = system

    def vector_field(self, z):
        return self.system.vector_field(z)

    def simulate(self, z0, dt, n_steps, save_every=1):
        return hamid.integrate_field(self.vector_field, z0, dt=dt, n_steps=n_steps, method="euler",
                                     save_every=save_every)


class ExactMap:
    """A map model (no vector field) that steps the exact flow by its own step dt_."""

    n_features_in_ = 2
    fit_time_ = 0.0
    n_parameters = 0

    def __init__(self, system, dt):
        self.system, self.dt_ = system, dt
        self.calls = []

    def simulate(self, z0, dt, n_steps, save_every=1):
        self.calls.append((dt, n_steps, save_every))
        assert dt == self.dt_
        t = np.arange(n_steps + 1) * dt
        return self.system.simulate(np.atleast_2d(z0), t)[:, ::save_every]


def test_every_field_model_gets_the_same_integrator_and_its_own_as_second_reading(pendulum):
    system, _, test, exact = pendulum
    result = hamid.compare({"sparse": exact, "euler-model": ExactFieldEulerModel(system)}, test, truth="pendulum")
    a, b = result["sparse"], result["euler-model"]
    # both hold the exact field: with the same integrator every rollout metric agrees
    assert a["integrator"] == b["integrator"] == "rk4, dt = 0.025 (common)"
    assert a["max_energy_drift"] == pytest.approx(b["max_energy_drift"], rel=1e-4)
    assert a["rollout_mse"] == pytest.approx(b["rollout_mse"], rel=1e-4, abs=1e-24)
    assert a["max_energy_drift"] < 1e-8
    # their own integrators differ: leapfrog keeps the energy, explicit Euler at the data step does not
    assert a["integrator_own"] == "own (leapfrog), dt = 0.1"
    assert a["max_energy_drift_own"] < 1e-2 < b["max_energy_drift_own"]
    assert result.drift_ratio("sparse", ["euler-model"]) == pytest.approx(1.0, rel=1e-4)


def test_symbolic_fit_reports_term_recovery_against_the_truth(pendulum):
    system, train, test, exact = pendulum
    poly = hamid.SparseHamiltonian(library="poly:4").fit(train.q, train.p, t=train.t, dq=train.dq, dp=train.dp)
    result = hamid.compare({"exact": exact, "poly": poly}, test, truth=system)
    assert result["exact"]["n_extra_terms"] == 0 and result["exact"]["n_missing_terms"] == 0
    assert result["exact"]["max_coef_rel_error"] < 1e-8
    assert result["poly"]["missing_terms"] == "cos(q)"
    assert result["poly"]["max_coef_rel_error"] == 1.0
    assert result["poly"]["n_extra_terms"] >= 1
    assert result["exact"]["grid_field_mse"] < 1e-20 < result["poly"]["grid_field_mse"]


def test_term_errors_on_known_expressions():
    q, p = sp.symbols("q p")
    out = term_errors(0.5 * p**2 - 0.99 * sp.cos(q) + 0.01 * q**2, p**2 / 2 + 1 - sp.cos(q))
    assert out["extra_terms"] == ["q**2"] and out["missing_terms"] == []
    assert out["max_coef_rel_error"] == pytest.approx(0.01)


def test_map_models_step_their_own_map_and_say_so(pendulum):
    system, _, _, exact = pendulum
    test = system.generate(n_traj=2, n_time=41, dt=0.05, seed=3)
    coarse, fine = ExactMap(system, 0.1), ExactMap(system, 0.025)
    result = hamid.compare({"coarse": coarse, "fine": fine, "sparse": exact}, test, truth=system)
    assert result["coarse"]["kind"] == "map" and result["coarse"]["integrator"] == "own map, dt = 0.1"
    assert coarse.calls == [(0.1, 20, 1)]            # one map step per two data steps, compared at those
    assert fine.calls == [(0.025, 80, 2)]            # two map steps per data step, every second state kept
    for name in ("coarse", "fine"):
        assert result[name]["rollout_mse"] < 1e-14 and result[name]["max_energy_drift"] < 1e-8
        assert np.isnan(result[name]["field_mse"])
    times = dict(result.trajectories())
    assert times["coarse"][0].shape == (21,) and times["fine"][0].shape == (41,)
    # a step that does not divide the data step: a note, not a crash
    odd = hamid.compare({"odd": ExactMap(system, 0.03)}, test, truth=system)
    assert "not commensurate" in odd["odd"]["notes"] and np.isnan(odd["odd"]["rollout_mse"])


def test_user_arrays_without_truth_and_input_checks(pendulum):
    system, _, test, exact = pendulum
    z = test.states()
    result = hamid.compare([exact], z, t=test.t)
    row = result["SparseHamiltonian"]
    assert np.isnan(row["max_energy_drift"]) and np.isnan(row["field_mse"])
    assert row["rollout_mse"] < 1e-12
    assert "max_energy_drift" not in result.to_markdown()
    with pytest.raises(ValueError, match="sample times"):
        hamid.compare([exact], z)
    t_bad = test.t.copy()
    t_bad[5] += 0.01
    with pytest.raises(ValueError, match="uniform"):
        hamid.compare([exact], z, t=t_bad)
    with pytest.raises(ValueError, match="width"):
        hamid.compare([exact], np.zeros((2, 5, 4)), t=np.arange(5.0))
    with pytest.raises(ValueError, match="empty"):
        hamid.compare({}, test)
    with pytest.raises(ValueError, match="Lagrangian"):
        lnn = make_model("lnn")
        lnn.n_features_in_ = 2  # marks it fitted for the check that must come first
        hamid.compare({"lnn": lnn}, test)


def test_outputs_markdown_latex_csv_frame(pendulum, tmp_path):
    system, _, test, exact = pendulum
    result = hamid.compare({"sparse": exact}, test, truth=system)
    md = result.to_markdown().splitlines()
    assert md[0].startswith("| model | integrator |") and md[1].startswith("|---|---|---:")
    assert md[2].startswith("| sparse | rk4, dt = 0.025 (common) |")
    tex = result.to_latex(caption="pendulum")
    assert tex.count(r"\toprule") == tex.count(r"\midrule") == tex.count(r"\bottomrule") == 1
    assert r"max\_energy\_drift" in tex and r"\caption{pendulum}" in tex
    text = result.to_csv(tmp_path / "r.csv")
    assert (tmp_path / "r.csv").read_text() == text
    rows = list(csv.DictReader(io.StringIO(text)))
    assert rows[0]["model"] == "sparse"
    assert float(rows[0]["max_energy_drift"]) == result["sparse"]["max_energy_drift"]
    frame = result.to_frame()
    assert frame.shape[0] == 1 and frame.loc[0, "model"] == "sparse"
    assert frame.loc[0, "n_parameters"] == 2


def test_truth_legendre_maps_match_the_catalogue_double_pendulum():
    system = get_system("double_pendulum")
    truth = resolve_truth("double_pendulum", 2)
    z = system.sample_states(20, seed=0)
    x = truth.to_velocity_states(z)
    np.testing.assert_allclose(x, system.velocities(z), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(truth.to_canonical(x), z, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(truth.accelerations(z), system.accelerations(x), rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(truth.energy(z), system.energy(z), rtol=1e-12)
    # a string is parsed safely in the state symbols; a catalogue name resolves to the system's H
    assert isinstance(resolve_truth("p**2/2 - cos(q)", 1), Truth)
    with pytest.raises(ValueError, match="degrees of freedom"):
        resolve_truth("pendulum", 2)


def test_registry_and_param_parsing():
    assert parse_param_value("64,64") == (64, 64) and parse_param_value("64,") == (64,)
    assert parse_param_value("1e-3") == 1e-3 and parse_param_value("200") == 200
    assert parse_param_value("true") is True and parse_param_value("none") is None
    assert parse_param_value("cosine") == "cosine"
    assert parse_param_value("__import__('os')") == "__import__('os')"
    with pytest.raises(ValueError, match="valid models: sparse, hnn"):
        model_class("resnet")
    with pytest.raises(ValueError, match="valid parameters: .*hidden"):
        make_model("mlp", hiden=(8,))
    assert type(make_model("sparse", library="poly:2")).__name__ == "SparseHamiltonian"


def test_fit_models_in_parallel_matches_serial(pendulum):
    _, train, _, _ = pendulum
    specs = {"a": dict(library="poly:2"), "b": dict(library=["poly:2", "trig"])}
    serial = fit_models({k: make_model("sparse", **v) for k, v in specs.items()}, train)
    parallel = fit_models({k: make_model("sparse", **v) for k, v in specs.items()}, train, n_jobs=2)
    for k in specs:
        np.testing.assert_array_equal(serial[k].coef_, parallel[k].coef_)


def test_bootstrap_coefficients_bracket_the_truth(pendulum):
    system = pendulum[0]
    noisy = system.generate(n_traj=12, n_time=30, dt=0.1, noise=0.01, seed=5)
    model = hamid.SparseHamiltonian(library=["poly:2", "trig"])
    samples = bootstrap_coefficients(model, noisy, n_bootstrap=20, seed=0)
    assert samples.shape == (20, 7) and not hasattr(model, "coef_")
    fitted = hamid.SparseHamiltonian(library=["poly:2", "trig"]).fit(noisy.q, noisy.p, t=noisy.t, dq=noisy.dq,
                                                                    dp=noisy.dp)
    k = fitted.feature_names_.index("cos(q)")
    lo, hi = np.quantile(samples[:, k], [0.0, 1.0])
    assert lo < -0.95 and hi > -1.05 and hi - lo > 1e-6
