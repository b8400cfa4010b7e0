import numpy as np
import pytest

from hamid.io import DataError, load_data, save_data, validate_data


def _traj(rng, n_traj=3, n_time=6, d=2, derivs=True):
    shape = (n_traj, n_time, d)
    extra = dict(dq=rng.normal(size=shape), dp=rng.normal(size=shape)) if derivs else {}
    return validate_data(rng.normal(size=shape), rng.normal(size=shape), t=np.linspace(0, 1, n_time), **extra)


@pytest.mark.parametrize("suffix", [".npz", ".csv"])
@pytest.mark.parametrize("derivs", [True, False])
def test_roundtrip_exact(tmp_path, suffix, derivs):
    data = _traj(np.random.default_rng(1), derivs=derivs)
    path = save_data(tmp_path / f"d{suffix}", data)
    back = load_data(path)
    for key in ("q", "p", "t", "dq", "dp"):
        a, b = getattr(data, key), getattr(back, key)
        assert (a is None) == (b is None)
        if a is not None:
            np.testing.assert_array_equal(a, b)


def test_samples_roundtrip_csv(tmp_path):
    rng = np.random.default_rng(2)
    data = validate_data(rng.normal(size=(10, 1)), rng.normal(size=(10, 1)))
    back = load_data(save_data(tmp_path / "s.csv", data))
    assert back.t is None and back.q.shape == (10, 1)
    np.testing.assert_array_equal(back.p, data.p)


def test_csv_with_single_dof_names(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("traj,t,q,p\n0,0.0,1.0,0.0\n0,0.1,0.9,-0.1\n1,0.0,0.5,0.0\n1,0.1,0.4,-0.05\n")
    data = load_data(path)
    assert data.q.shape == (2, 2, 1) and np.allclose(data.t, [0, 0.1])


def test_inputs_not_mutated():
    q = np.ones((4, 1))
    p = np.zeros((4, 1))
    data = validate_data(q, p)
    data.q[0, 0] = 5.0
    assert q[0, 0] == 1.0


@pytest.mark.parametrize("kwargs, match", [
    (dict(q=np.zeros((3, 2)), p=np.zeros((3, 1))), "same shape"),
    (dict(q=np.zeros((2, 3, 1)), p=np.zeros((2, 3, 1)), t=[0, 1, 1]), "strictly increasing"),
    (dict(q=np.zeros((2, 3, 1)), p=np.zeros((2, 3, 1)), t=[0, 1]), r"t must have shape \(n_time,\)"),
    (dict(q=np.zeros((2, 3, 1)), p=np.zeros((2, 3, 1))), "need sample times t"),
    (dict(q=np.zeros((3, 1)), p=np.zeros((3, 1)), dq=np.zeros((3, 1))), "dq was given without dp"),
    (dict(q=np.zeros((3, 1)), p=np.zeros((3, 1)), dq=np.zeros((3, 1)), dp=np.zeros((4, 1))), "dp must have the shape"),
    (dict(q=np.zeros((2, 2, 2, 2)), p=np.zeros((2, 2, 2, 2))), "must have shape"),
    (dict(q=[[0.0], [np.inf]], p=[[0.0], [0.0]]), r"q contains inf values at \(sample,\) \(1,\)"),
])
def test_validation_names_the_problem(kwargs, match):
    with pytest.raises(DataError, match=match):
        validate_data(**kwargs)


def test_nan_rows_are_reported():
    q = np.zeros((2, 4, 1))
    q[1, 3, 0] = np.nan
    with pytest.raises(DataError, match=r"NaN values at \(traj, time\) \(1, 3\)"):
        validate_data(q, np.zeros_like(q), t=np.arange(4.0))


def test_npz_missing_and_unknown_keys(tmp_path):
    np.savez(tmp_path / "a.npz", q=np.zeros((3, 1)))
    with pytest.raises(DataError, match=r"missing required key\(s\) \['p'\]"):
        load_data(tmp_path / "a.npz")
    np.savez(tmp_path / "b.npz", q=np.zeros((3, 1)), p=np.zeros((3, 1)), x=np.zeros(3))
    with pytest.raises(DataError, match="unknown key"):
        load_data(tmp_path / "b.npz")
    with pytest.raises(DataError, match="does not exist"):
        load_data(tmp_path / "none.npz")


def test_csv_errors(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("traj,t,q1,p1,dq1\n0,0,1,2,3\n")
    with pytest.raises(DataError, match="dq columns given without dp"):
        load_data(path)
    path.write_text("q1,p1\n1,abc\n")
    with pytest.raises(DataError, match="line 2, column p1"):
        load_data(path)


def test_atomic_write_leaves_old_file_on_failure(tmp_path):
    from hamid.io import atomic_write

    target = tmp_path / "out.bin"
    target.write_bytes(b"old")

    def boom(fh):
        fh.write(b"partial")
        raise RuntimeError("fail")

    with pytest.raises(RuntimeError):
        atomic_write(target, boom)
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.bin"]
