"""One contract suite for every model class (the idea of scikit-learn's ``check_estimator``).

Each model is fitted on small exact oscillator data with a tiny recipe; the suite checks what
``hamid.models.base`` promises for all of them: ``fit`` returns self, ``simulate`` shapes for 2-D and 1-D initial
states and ``save_every``, map models refusing steps and methods they cannot honour, one-file save/load through
the class and through ``hamid.load_model``, pickle/deepcopy/joblib round trips with identical predictions,
``get_params``/``sklearn.base.clone``, ``NotFittedError``, seeded determinism, inputs left unmodified and the
global numpy/torch random states left as they were.
"""
import copy
import pickle

import joblib
import numpy as np
import pytest
import torch

import hamid
from hamid.models.base import NotFittedError
from hamid.models.neural import (GSympNet, HNN, LASympNet, LNN, FrictionHNN, LocSympNet, MLPField,
                                 NeuralSymplecticForm, SRNN)
from hamid.models.neural.trajectory_loss import TrajectoryHNN
from hamid.models.sparse import SparseHamiltonian

DT = 0.1
TINY = dict(max_steps=30, eval_every=5, seed=3)

# name -> (factory, data kind, has energy, has vector field, is a map)
MODELS = {
    "SparseHamiltonian": (lambda **kw: SparseHamiltonian(library="poly:2", **kw), "canonical", True, True, False),
    "MLPField": (lambda **kw: MLPField(hidden=(8,), **TINY, **kw), "canonical", False, True, False),
    "HNN": (lambda **kw: HNN(hidden=(8,), **TINY, **kw), "canonical", True, True, False),
    "LNN": (lambda **kw: LNN(hidden=(8,), **TINY, **kw), "lagrangian", True, True, False),
    "FrictionHNN": (lambda **kw: FrictionHNN(hidden=(8,), **TINY, **kw), "canonical", True, True, False),
    "TrajectoryHNN": (lambda **kw: TrajectoryHNN(hidden=(8,), **TINY, **kw), "canonical", True, True, False),
    "NeuralSymplecticForm": (lambda **kw: NeuralSymplecticForm(hidden=(8,), **TINY, **kw), "canonical", True, True,
                             False),
    "SRNN": (lambda **kw: SRNN(hidden=(8,), horizon=4, **TINY, **kw), "canonical", True, True, False),
    "LASympNet": (lambda **kw: LASympNet(layers=2, sublayers=1, **TINY, **kw), "canonical", False, False, True),
    "GSympNet": (lambda **kw: GSympNet(layers=2, width=4, **TINY, **kw), "canonical", False, False, True),
    "LocSympNet": (lambda **kw: LocSympNet(n_sweeps=1, width=4, **TINY, **kw), "canonical", False, False, True),
}
NAMES = list(MODELS)
NEURAL = [n for n in NAMES if n != "SparseHamiltonian"]


def _data():
    """6 exact oscillator trajectories (H = (q² + p²)/2) of 21 points, step DT: q, p, t, dq, dp."""
    rng = np.random.default_rng(11)
    t = DT * np.arange(21)
    r = rng.uniform(0.4, 1.0, size=(6, 1, 1))
    phase = rng.uniform(0, 2 * np.pi, size=(6, 1, 1))
    q = r * np.sin(t[None, :, None] + phase)
    p = r * np.cos(t[None, :, None] + phase)
    return q, p, t, p.copy(), -q.copy()


DATA = _data()
Z0 = np.array([[0.5, 0.1], [-0.3, 0.4], [0.2, -0.6]])


def _fit(name, model=None, data=DATA):
    factory, kind = MODELS[name][:2]
    model = factory() if model is None else model
    q, p, t, dq, dp = data
    if name == "SparseHamiltonian":
        return model.fit(q, p, t, dq, dp)
    if kind == "lagrangian":  # the state is (q, qdot); for the unit oscillator qdot = p and qddot = -q
        return model.fit(q, p, t, qddot=dp)
    if name in ("LASympNet", "GSympNet", "LocSympNet", "SRNN"):
        return model.fit(q, p, t)
    return model.fit(q, p, t, dq, dp)


_CACHE = {}


def fitted(name):
    if name not in _CACHE:
        _CACHE[name] = _fit(name)
    return _CACHE[name]


def _predictions(model, name):
    """Everything a model predicts at Z0, as a dict of arrays."""
    out = {"simulate": model.simulate(Z0, DT, 6)}
    if MODELS[name][2]:
        out["energy"] = model.energy(Z0)
    if MODELS[name][3]:
        out["vector_field"] = model.vector_field(Z0)
    return out


def _assert_same(a, b):
    assert a.keys() == b.keys()
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)


@pytest.mark.parametrize("name", NAMES)
def test_fit_returns_self_and_sets_the_common_attributes(name):
    model = MODELS[name][0]()
    assert _fit(name, model) is model
    assert model.n_features_in_ == 2
    assert isinstance(model.n_parameters_, int) and model.n_parameters_ > 0
    assert isinstance(model.fit_time_, float) and model.fit_time_ >= 0
    if name != "SparseHamiltonian":
        assert model.fit_summary_ == model.history_.stop_reason and "stopped after" in model.fit_summary_


@pytest.mark.parametrize("name", NAMES)
def test_simulate_shapes_for_2d_and_1d_initial_states(name):
    model = fitted(name)
    out = model.simulate(Z0, DT, 6)
    assert out.shape == (3, 7, 2)
    np.testing.assert_allclose(out[:, 0], Z0)
    assert np.all(np.isfinite(out))
    assert model.simulate(Z0, DT, 6, save_every=2).shape == (3, 4, 2)
    assert model.simulate(Z0, DT, 7, save_every=3).shape == (3, 3, 2)
    one = model.simulate(Z0[1], DT, 6)
    assert one.shape == (7, 2)
    np.testing.assert_allclose(one, out[1], rtol=1e-12, atol=1e-12)
    assert model.simulate(Z0[1], DT, 6, save_every=2).shape == (4, 2)
    # method=None is the model's own default integrator, the same as not passing it
    np.testing.assert_array_equal(model.simulate(Z0, DT, 6, method=None), out)


@pytest.mark.parametrize("name", [n for n in NAMES if MODELS[n][4]])
def test_map_models_refuse_steps_and_methods_they_cannot_honour(name):
    model = fitted(name)
    np.testing.assert_array_equal(model.simulate(Z0, None, 4), model.simulate(Z0, model.dt_, 4))
    with pytest.raises(ValueError, match="dt_"):
        model.simulate(Z0, 2 * DT, 4)
    with pytest.raises(ValueError, match="method must be None or 'map'"):
        model.simulate(Z0, DT, 4, method="rk4")
    with pytest.raises(AttributeError, match="map-based"):
        model.vector_field(Z0)


@pytest.mark.parametrize("name", [n for n in NAMES if not MODELS[n][4]])
def test_field_models_check_simulate_arguments(name):
    model = fitted(name)
    with pytest.raises(ValueError, match="n_steps"):
        model.simulate(Z0, DT, -1)
    with pytest.raises(ValueError, match="save_every"):
        model.simulate(Z0, DT, 4, save_every=0)
    with pytest.raises(ValueError, match="dt"):
        model.simulate(Z0, -DT, 4)
    with pytest.raises(ValueError):
        model.simulate(Z0, DT, 4, method="no_such_integrator")


@pytest.mark.parametrize("name", NAMES)
def test_save_load_is_one_file_with_identical_predictions(name, tmp_path):
    model = fitted(name)
    path = model.save(tmp_path / "model.json")
    assert path.is_file() and sorted(p.name for p in tmp_path.iterdir()) == ["model.json"]
    expected = _predictions(model, name)
    for loaded in (type(model).load(path), hamid.load_model(path)):
        assert type(loaded) is type(model)
        assert loaded.get_params() == model.get_params() or name == "SparseHamiltonian"
        _assert_same(_predictions(loaded, name), expected)
        assert loaded.n_parameters_ == model.n_parameters_
        assert loaded.fit_time_ == model.fit_time_


def test_load_refuses_another_class_and_bad_files(tmp_path):
    path = fitted("HNN").save(tmp_path / "hnn.json")
    with pytest.raises(ValueError, match="holds a HNN, not a SparseHamiltonian"):
        SparseHamiltonian.load(path)
    with pytest.raises(ValueError, match="holds a HNN, not a MLPField"):
        MLPField.load(path)
    (tmp_path / "bad.json").write_text('{"format": "hamid-model", "format_version": 1, "class": "os.system", '
                                       '"model": {}}')
    with pytest.raises(ValueError, match="unknown model class 'os.system'; known: .*HNN"):
        hamid.load_model(tmp_path / "bad.json")
    with pytest.raises(ValueError, match="does not exist"):
        hamid.load_model(tmp_path / "missing.json")
    with pytest.raises(ValueError, match="directory"):
        hamid.load_model(tmp_path)


@pytest.mark.parametrize("name", NAMES)
def test_pickle_deepcopy_and_joblib_round_trips(name, tmp_path):
    model = fitted(name)
    expected = _predictions(model, name)
    joblib.dump(model, tmp_path / "m.joblib")
    for other in (copy.deepcopy(model), pickle.loads(pickle.dumps(model)), joblib.load(tmp_path / "m.joblib")):
        _assert_same(_predictions(other, name), expected)
    _assert_same(_predictions(model, name), expected)   # the original is untouched


@pytest.mark.parametrize("name", NAMES)
def test_get_params_clone_and_not_fitted(name, tmp_path):
    from sklearn.base import clone

    model = fitted(name)
    twin = clone(model)
    assert type(twin) is type(model) and twin.get_params() == model.get_params()
    assert not hasattr(twin, "n_features_in_") or name == "SparseHamiltonian" and not hasattr(twin, "coef_")
    checks = [lambda: twin.simulate(Z0, DT, 3), lambda: twin.save(tmp_path / "x.json"),
              lambda: twin.n_parameters_]
    if MODELS[name][2]:
        checks.append(lambda: twin.energy(Z0))
    if MODELS[name][3]:
        checks.append(lambda: twin.vector_field(Z0))
    for check in checks:
        with pytest.raises(NotFittedError, match="not fitted"):
            check()
    assert not (tmp_path / "x.json").exists()


@pytest.mark.parametrize("name", NEURAL)
def test_same_seed_same_fit_other_seed_other_fit(name):
    a = _predictions(_fit(name), name)
    _assert_same(_predictions(_fit(name), name), a)
    b = _predictions(_fit(name, MODELS[name][0]().set_params(seed=4)), name)
    assert not np.array_equal(a["simulate"], b["simulate"])


@pytest.mark.parametrize("name", NAMES)
def test_fit_does_not_mutate_inputs_or_touch_global_random_state(name):
    data = tuple(np.array(a) for a in DATA)
    np_state = np.random.get_state()
    torch.manual_seed(1)
    _fit(name, data=data)
    after_1 = torch.rand(1)
    torch.manual_seed(2)
    _fit(name, data=data)
    after_2 = torch.rand(1)
    torch.manual_seed(1)
    assert after_1 == torch.rand(1)          # fit drew nothing from (and reseeded nothing in) torch's generator
    assert after_1 != after_2
    state_now = np.random.get_state()
    assert np_state[0] == state_now[0] and np.array_equal(np_state[1], state_now[1])
    for a, b in zip(data, DATA):
        np.testing.assert_array_equal(a, b)


def test_lnn_refuses_canonical_data():
    q, p, t, dq, dp = DATA
    with pytest.raises(TypeError, match="not canonical"):
        LNN(**TINY).fit(q, p, t, dq, dp)
    with pytest.raises(TypeError, match="canonical dp"):
        LNN(**TINY).fit(q, p, t, dp=dp)
    with pytest.raises(TypeError, match="canonical p"):
        LNN(**TINY).fit(q, p=p, t=t)


def test_lnn_states_are_positions_and_velocities():
    model = fitted("LNN")
    x = Z0
    field = model.vector_field(x)
    np.testing.assert_array_equal(field[:, :1], x[:, 1:])               # dq/dt = qdot, the state's own half
    np.testing.assert_allclose(field[:, 1:], model.acceleration(x[:, :1], x[:, 1:]))
    z = model.momenta(x)
    assert z.shape == x.shape and np.array_equal(z[:, :1], x[:, :1])
    assert model.energy(x).shape == (3,)
    assert set(model.singular_counts_) == {"fit", "predict"}


def test_sparse_repr_shows_the_fitted_hamiltonian():
    model = fitted("SparseHamiltonian")
    text = repr(model)
    assert text.startswith("SparseHamiltonian(library='poly:2')") and "H = 0.5*p**2 + 0.5*q**2" in text
    assert repr(SparseHamiltonian(library="poly:2")) == "SparseHamiltonian(library='poly:2')"
