"""The defects a new user met (issue 15), each with the check that would have caught it."""
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import sympy as sp

from hamid.cli import main
from hamid.io import DataError, Dataset, load_data, save_data

ROOT = Path(__file__).resolve().parents[1]
PENDULUM = ROOT / "hamid" / "data" / "pendulum.npz"
ENV = dict(os.environ, PYTHONWARNINGS="ignore")


# 1 ------------------------------------------------------------------------- `hamid systems | head -1`

@pytest.mark.parametrize("argv", [["systems"], ["--help"], ["systems", "pendulum"]])
def test_closed_stdout_pipe_exits_0_quietly(argv):
    # the reader closes its end before hamid writes anything, as `head -1` does once it has its line
    proc = subprocess.Popen([sys.executable, "-m", "hamid", *argv], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=ENV)
    proc.stdout.close()
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err.decode()
    assert err.decode().strip() == ""


# 2 ------------------------------------------------------------------------- print(load_data(...))

def test_dataset_repr_is_one_short_line():
    data = load_data(PENDULUM)
    text = repr(data)
    assert "\n" not in text and len(text) < 120, text
    assert text == "Dataset(20 trajectories x 50 samples, d=1, t=[0, 4.9], with dq, dp)"
    samples = Dataset(q=np.zeros((7, 2)), p=np.ones((7, 2)))
    assert repr(samples) == "Dataset(7 samples, d=2, no derivatives)"
    assert str(data) == text


# 3 ------------------------------------------------------------------------- a CSV with an extra column

def test_csv_with_an_extra_column_is_an_error(tmp_path):
    path = tmp_path / "extra.csv"
    rows = ["q,p,dq,dp,energy"] + [f"{q},{-q},{-q},{-q},{q * q}" for q in np.linspace(0.1, 1, 5)]
    path.write_text("\n".join(rows) + "\n")
    with pytest.raises(DataError, match="energy"):
        load_data(path)
    assert main(["discover", str(path)]) == 2


# 4 ------------------------------------------------------------------------- --library "poly:2 + trig"

def test_sum_specs_parse_like_repeated_options():
    from hamid.symbolic import parse_library_spec

    assert (parse_library_spec("poly:2 + trig").expressions(1)
            == parse_library_spec(["poly:2", "trig"]).expressions(1))
    assert parse_library_spec("trig+poly:1").expressions(1) == parse_library_spec(["trig", "poly:1"]).expressions(1)
    # a + inside a custom expression stays in the expression
    kepler = parse_library_spec("poly:2:nocross + custom:1/sqrt((q1-q3)**2+(q2-q4)**2)").expressions(4)
    q1, q2, q3, q4 = sp.symbols("q1:5")
    assert 1 / sp.sqrt((q1 - q3) ** 2 + (q2 - q4) ** 2) in kepler
    with pytest.raises(ValueError, match="expected poly:DEG"):
        parse_library_spec("poly:2 + ")


def test_every_library_the_docs_tables_print_parses():
    from hamid.symbolic import parse_library_spec
    from hamid.systems import get_system

    table = [line for line in (ROOT / "docs" / "recovery" / "recovery_table.md").read_text().splitlines()[2:]
             if line.startswith("|")]
    seen = set()
    for row in table:
        cells = [c.strip() for c in row.strip("|").split("|")]
        if (cells[0], cells[1]) in seen:
            continue
        seen.add((cells[0], cells[1]))
        system = get_system(cells[0])
        assert parse_library_spec(cells[1]).expressions(system.dim // 2), row
    assert len(seen) >= 8 and sum(" + " in lib for _, lib in seen) >= 2


def test_discover_accepts_the_sum_form(capsys):
    assert main(["discover", str(PENDULUM), "--library", "poly:2 + trig", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert {t["term"] for t in doc["terms"]} == {"p**2", "cos(q)"}
    assert doc["library_terms"] == ["q", "p", "q**2", "p*q", "p**2", "sin(q)", "cos(q)"]


# 6 ------------------------------------------------------------------------- --library poly:30

@pytest.fixture(scope="module")
def collinear_file(tmp_path_factory):
    # 60 samples and 90 terms of poly:12: 73 of them nearly collinear with the others (VIF > 1e6), like
    # poly:30 on the bundled pendulum (495 terms) at a tenth of the cost, and not underdetermined (which
    # hamid discover refuses without --allow-underdetermined)
    rng = np.random.default_rng(0)
    q, p = rng.uniform(-1, 1, (2, 60))
    path = tmp_path_factory.mktemp("collinear") / "small.npz"
    save_data(path, Dataset(q=q[:, None], p=p[:, None], dq=p[:, None], dp=-np.sin(q)[:, None]))
    return path


def test_many_collinear_terms_warn_on_stderr_briefly(collinear_file, capsys):
    assert main(["discover", str(collinear_file), "--library", "poly:12"]) == 0
    out, err = capsys.readouterr()
    assert max(len(line) for line in out.splitlines()) < 200
    assert "collinear" not in out and "warning" not in out
    lines = [line for line in err.splitlines() if "CollinearityWarning" in line]
    assert len(lines) == 1 and len(lines[0]) < 700 and "more" in lines[0]


def test_collinearity_is_in_diagnostics_warnings(collinear_file, capsys):
    import warnings

    from hamid.models.sparse import SparseHamiltonian

    assert main(["discover", str(collinear_file), "--library", "poly:12", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    kinds = [w.split(":")[0] for w in doc["diagnostics"]["warnings"]]
    assert "CollinearityWarning" in kinds
    assert len(doc["diagnostics"]["collinear_terms"]) > 6  # the full list stays in the diagnostics
    data = load_data(collinear_file)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = SparseHamiltonian(library="poly:12").fit(data.q, data.p, dq=data.dq, dp=data.dp)
    assert [w.split(":")[0] for w in model.diagnostics_["warnings"]] == ["CollinearityWarning"]
    summary = model.summary()
    assert max(len(line) for line in summary.splitlines()) < 200 and "more" in summary


# 7 ------------------------------------------------------------------------- --bootstrap N in plain output

def test_bootstrap_probabilities_in_plain_output(capsys):
    assert main(["discover", str(PENDULUM), "--library", "poly:2", "--library", "trig", "--bootstrap", "5"]) == 0
    out = capsys.readouterr().out
    assert "inclusion probabilities over 5 bootstrap refits:" in out
    block = out.split("inclusion probabilities over 5 bootstrap refits:")[1]
    probs = dict((name, float(pr)) for pr, name in re.findall(r"^\s+([\d.]+)\s+(\S+)$", block, flags=re.M))
    assert probs["p**2"] == 1.0 and probs["cos(q)"] == 1.0


# 8 ------------------------------------------------------------------------- equations_latex rounding

def _rounded(expr, digits=10):
    return expr.xreplace({f: sp.Float(float(f"{float(f):.{digits}g}")) for f in expr.atoms(sp.Float)})


def test_equations_latex_rounds_like_the_equations(tmp_path, capsys):
    from hamid.systems import get_system

    path = tmp_path / "hh.npz"
    save_data(path, get_system("henon_heiles").generate(n_traj=20, n_time=100, dt=0.05, seed=1))
    assert main(["discover", str(path), "--library", "poly:3", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert "0.9999999999" not in doc["equations_latex"]
    lines = doc["equations_latex"].split(r" \\ ")
    for line, (lhs, rhs) in zip(lines, doc["equations"].items()):
        expected = sp.latex(_rounded(sp.sympify(rhs)), full_prec=False)
        assert line.split(" = ", 1)[1] == expected, (lhs, rhs, line)


# 9 ------------------------------------------------------------------------- make_bundled_data.py

def _bundled_script():
    spec = importlib.util.spec_from_file_location("make_bundled_data", ROOT / "examples" / "make_bundled_data.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_regenerating_bundled_data_leaves_committed_files_bit_identical(tmp_path, capsys):
    script = _bundled_script()
    for path in (ROOT / "hamid" / "data").glob("*.npz"):
        shutil.copy(path, tmp_path / path.name)
    before = {p.name: p.read_bytes() for p in tmp_path.glob("*.npz")}
    assert script.main(["--data-dir", str(tmp_path)]) == 0
    assert {p.name: p.read_bytes() for p in tmp_path.glob("*.npz")} == before
    out = capsys.readouterr().out
    assert all(("unchanged" in line or "kept" in line) for line in out.strip().splitlines()), out
    # a file whose data really changed is reported by --check and rewritten by a plain run
    data = load_data(tmp_path / "duffing.npz")
    save_data(tmp_path / "duffing.npz", Dataset(q=data.q + 1e-6, p=data.p, t=data.t, dq=data.dq, dp=data.dp))
    assert script.main(["--data-dir", str(tmp_path), "--check"]) == 1
    assert "OUT OF DATE" in capsys.readouterr().err
    assert script.main(["--data-dir", str(tmp_path)]) == 0
    assert script.max_relative_difference(load_data(tmp_path / "duffing.npz"), data) <= 1e-12


# 10 ------------------------------------------------------------------------ CLI surface

def test_no_command_exits_2_with_usage():
    result = subprocess.run([sys.executable, "-m", "hamid"], capture_output=True, text=True, env=ENV, timeout=120)
    assert result.returncode == 2
    assert "usage: hamid" in result.stderr and "discover" in result.stderr
    assert result.stdout == ""


def test_systems_lists_aliases(capsys):
    from hamid import systems

    assert main(["systems"]) == 0
    out = capsys.readouterr().out
    for alias, name in systems._ALIASES.items():
        row = next(line for line in out.splitlines() if line.startswith(name + " "))
        assert alias in row, (alias, row)
    assert main(["systems", "duffing"]) == 0
    assert "aliases: duffing" in capsys.readouterr().out


def _help(command):
    from hamid.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    return " ".join(sub.choices[command].format_help().split())


def test_method_help_lists_every_integrator():
    from hamid.cli import simulate
    from hamid.integrators import ALIASES, METHODS, method_names

    assert (simulate.METHOD_NAMES, simulate.METHOD_ALIASES) == (tuple(METHODS), tuple(ALIASES)), \
        "update METHOD_NAMES / METHOD_ALIASES in hamid/cli/simulate.py to the integrator registry"
    text = _help("simulate").replace("- ", "-")
    for name in method_names():
        assert re.search(rf"\b{name}\b", text), name


def test_discover_differentiation_choices_and_effect(tmp_path, capsys):
    from hamid.cli import discover
    from hamid.models.sparse.differentiation import DIFFERENTIATORS

    assert discover.DIFFERENTIATION_NAMES == tuple(DIFFERENTIATORS), \
        "update DIFFERENTIATION_NAMES in hamid/cli/discover.py to the differentiation registry"
    text = _help("discover")
    assert all(name in text for name in DIFFERENTIATORS)
    full = load_data(PENDULUM)
    path = tmp_path / "states.npz"
    save_data(path, Dataset(q=full.q, p=full.p, t=full.t))  # no derivatives
    assert main(["discover", str(path), "--library", "poly:2 + trig", "--differentiation", "finite_difference",
                 "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["diagnostics"]["formulation"] == "derivative"
    assert doc["diagnostics"]["derivatives"] == "estimated"
    assert {t["term"] for t in doc["terms"]} == {"p**2", "cos(q)"}
    assert main(["discover", str(path), "--differentiation", "magic"]) == 2
    assert "valid names: auto, spline" in capsys.readouterr().err
    assert main(["discover", str(path), "--differentiation", "spline", "--formulation", "integral"]) == 2


def test_generate_sets_constants_and_time_span(tmp_path, capsys):
    out = tmp_path / "pend.npz"
    assert main(["generate", "pendulum", "--out", str(out), "--n-traj", "3", "--n-time", "21", "--t-span", "2",
                 "--param", "g=4", "--param", "l=1"]) == 0
    data = load_data(out)
    np.testing.assert_array_equal(data.t, np.linspace(0, 2, 21))
    np.testing.assert_allclose(data.dp, -4.0 * np.sin(data.q), rtol=1e-12, atol=1e-12)  # m = l = 1, g = 4
    assert main(["generate", "pendulum", "--out", str(out), "--t-span", "1,3", "--n-time", "5"]) == 0
    np.testing.assert_array_equal(load_data(out).t, np.linspace(1, 3, 5))
    capsys.readouterr()
    for argv, message in [(["--param", "gg=4"], "valid constants: g, l, m"), (["--param", "g"], "NAME=VALUE"),
                          (["--t-span", "2", "--dt", "0.1"], "not both"), (["--t-span", "-1"], "T > 0")]:
        assert main(["generate", "pendulum", "--out", str(out)] + argv) == 2
        assert message in capsys.readouterr().err
