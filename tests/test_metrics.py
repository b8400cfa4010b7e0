import numpy as np
import pytest

import hamid
from hamid.metrics import count_parameters, energy_drift, rollout_mse, valid_prediction_time, vector_field_mse
from hamid.systems import get_system


def test_valid_prediction_time_and_rollout_mse_on_known_errors():
    t = np.linspace(0, 1, 11)
    ref = np.ones((2, 11, 2))
    pred = ref.copy()
    pred[0, 4:] += 0.2          # error 0.2·√2/√2 = 0.2 relative from t = 0.4 on
    valid = valid_prediction_time(pred, ref, t, threshold=0.1)
    np.testing.assert_allclose(valid, [0.4, 1.0])
    mse = rollout_mse(pred, ref)
    assert mse[3] == 0 and mse[4] == pytest.approx(0.2**2 / 2)


def test_energy_drift_vanishes_on_exact_trajectories_and_not_on_euler():
    system = get_system("harmonic_oscillator")
    z0 = np.array([[1.0, 0.0], [0.0, 0.5]])
    exact = system.simulate(z0, np.linspace(0, 5, 51))
    assert energy_drift(system.energy, exact).max() < 1e-9
    euler = hamid.integrate(system.hamiltonian, z0, dt=0.1, n_steps=50, method="euler")
    # explicit Euler on the oscillator multiplies the energy by (1 + dt²) every step
    np.testing.assert_allclose(energy_drift(system.energy, euler)[:, -1], 1.01**50 - 1, rtol=1e-10)


def test_vector_field_mse_checks_shapes():
    with pytest.raises(ValueError, match="same shape"):
        vector_field_mse(lambda z: z, np.zeros((3, 2)), np.zeros((3, 3)))


def test_count_parameters_of_sparse_and_unknown_models():
    system = get_system("pendulum")
    data = system.generate(n_traj=4, n_time=20, dt=0.1, seed=0)
    model = hamid.SparseHamiltonian(library=["poly:2", "trig"]).fit(data.q, data.p, t=data.t, dq=data.dq, dp=data.dp)
    assert count_parameters(model) == 2
    with pytest.raises(TypeError, match="cannot count"):
        count_parameters(object())


def test_compare_ranks_the_true_model_first():
    system = get_system("pendulum")
    data = system.generate(n_traj=8, n_time=30, dt=0.1, seed=0)
    test = system.generate(n_traj=4, n_time=201, dt=0.05, seed=1)
    exact = hamid.SparseHamiltonian(library=["poly:2", "trig"]).fit(data.q, data.p, t=data.t, dq=data.dq, dp=data.dp)
    wrong = hamid.SparseHamiltonian(library="poly:2").fit(data.q, data.p, t=data.t, dq=data.dq, dp=data.dp)
    result = hamid.compare({"exact": exact, "poly": wrong}, test, truth=system)
    assert result["exact"]["field_mse"] < 1e-20 < result["poly"]["field_mse"]
    assert result["exact"]["rollout_mse"] < result["poly"]["rollout_mse"]
    assert result["exact"]["n_parameters"] == 2
    assert result["exact"]["valid_time"] == pytest.approx(10.0)
    # the old import path still resolves to the new comparison
    from hamid.metrics import compare

    import importlib

    assert compare is importlib.import_module("hamid.comparison").compare
