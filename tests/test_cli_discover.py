"""The `hamid discover` contract: --json output, readable summary, one-line errors."""
import json
import subprocess
import sys

import numpy as np
import pytest
import sympy as sp

from hamid.cli import main
from hamid.io import Dataset, save_data
from hamid.models.sparse import SparseHamiltonian


@pytest.fixture(scope="module")
def pendulum_file(tmp_path_factory):
    rng = np.random.default_rng(0)
    q, p = rng.uniform(-2, 2, (2, 400))
    path = tmp_path_factory.mktemp("data") / "pendulum.npz"
    save_data(path, Dataset(q=q[:, None], p=p[:, None], dq=p[:, None], dp=-np.sin(q)[:, None]))
    return path


@pytest.fixture(scope="module")
def hh_states_file(tmp_path_factory):
    """Hénon–Heiles trajectories without derivatives (leapfrog-free: RK45 at tight tolerance)."""
    from scipy.integrate import solve_ivp

    def f(_t, z):
        q1, q2, p1, p2 = z
        return [p1, p2, -q1 - 2 * q1 * q2, -q2 - q1**2 + q2**2]

    rng = np.random.default_rng(1)
    t = np.arange(30) * 0.2
    Z = np.stack([solve_ivp(f, (0, t[-1]), rng.uniform(-0.3, 0.3, 4), t_eval=t, method="DOP853",
                            rtol=1e-12, atol=1e-12).y.T for _ in range(8)])
    path = tmp_path_factory.mktemp("data") / "hh.npz"
    save_data(path, Dataset(q=Z[..., :2], p=Z[..., 2:], t=t))
    return path


def test_json_contract(pendulum_file, capsys):
    rc = main(["discover", str(pendulum_file), "--library", "poly:2", "--library", "trig", "--json"])
    out, err = capsys.readouterr()
    assert rc == 0
    doc = json.loads(out)  # exactly one JSON object, nothing else
    for key in ("hamiltonian", "latex", "terms", "diagnostics", "equations"):
        assert key in doc
    q, p = sp.symbols("q p")
    H = sp.sympify(doc["hamiltonian"])
    data = np.load(pendulum_file)
    model = SparseHamiltonian(library=["poly:2", "trig"]).fit(data["q"], data["p"], dq=data["dq"], dp=data["dp"])
    assert H == model.hamiltonian_
    assert H.free_symbols == {q, p}
    assert abs(float(H.coeff(sp.cos(q))) + 1) < 1e-9 and abs(float(H.coeff(p**2)) - 0.5) < 1e-9
    assert {t["term"] for t in doc["terms"]} == {"p**2", "cos(q)"}
    assert doc["diagnostics"]["formulation"] == "derivative"


def test_json_states_only_two_dof_default_library(hh_states_file, capsys):
    rc = main(["discover", str(hh_states_file), "--json"])
    out, _ = capsys.readouterr()
    assert rc == 0
    doc = json.loads(out)
    H = sp.sympify(doc["hamiltonian"])
    q1, q2, p1, p2 = sp.symbols("q1 q2 p1 p2")
    truth = (p1**2 + p2**2 + q1**2 + q2**2) / 2 + q1**2 * q2 - q2**3 / 3
    assert set(sp.Poly(H, q1, q2, p1, p2).monoms()) == set(sp.Poly(truth, q1, q2, p1, p2).monoms())
    assert doc["diagnostics"]["formulation"] == "integral"
    assert doc["diagnostics"]["n_library_terms"] == 69  # poly:4 in 4 variables


def test_custom_library_and_text_summary(pendulum_file, capsys):
    rc = main(["discover", str(pendulum_file), "--library", "custom:p**2,cos(q),q**2", "--latex", "--snap", "1e-6"])
    out, _ = capsys.readouterr()
    assert rc == 0
    assert "H = p**2/2 - cos(q)" in out
    assert r"\cos{\left(q \right)}" in out


def test_warnings_go_to_stderr(tmp_path, capsys):
    rng = np.random.default_rng(0)
    q, p = rng.uniform(-0.3, 0.3, (2, 300))
    path = tmp_path / "small.npz"
    save_data(path, Dataset(q=q[:, None], p=p[:, None], dq=p[:, None], dp=-np.sin(q)[:, None]))
    rc = main(["discover", str(path), "--library", "poly:4", "--library", "trig", "--json"])
    out, err = capsys.readouterr()
    assert rc == 0
    json.loads(out)
    assert "CollinearityWarning" in err


@pytest.mark.parametrize("argv, message", [
    (["--library", "bogus:1"], "unknown library kind"),
    (["--optimizer", "bogus"], "valid names: auto, lasso"),
    (["--library", "custom:__import__('os')"], "not allowed"),
])
def test_bad_options_one_line(pendulum_file, capsys, argv, message):
    rc = main(["discover", str(pendulum_file)] + argv)
    out, err = capsys.readouterr()
    assert rc == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and message in err


def test_bad_data_subprocess(tmp_path):
    bad = tmp_path / "bad.npz"
    np.savez(bad, q=np.ones((5, 1)), p=np.ones((4, 1)))
    for path in (bad, tmp_path / "missing.npz"):
        proc = subprocess.run([sys.executable, "-m", "hamid", "discover", str(path), "--json"],
                              capture_output=True, text=True)
        assert proc.returncode != 0
        assert proc.stdout == ""
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("hamid: error:") and "Traceback" not in proc.stderr


def test_subprocess_json_parses(pendulum_file):
    proc = subprocess.run([sys.executable, "-m", "hamid", "discover", str(pendulum_file), "--library", "poly:2",
                           "--library", "trig", "--json"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert sp.sympify(doc["hamiltonian"]).free_symbols == set(sp.symbols("q p"))
