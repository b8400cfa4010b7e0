"""The command line of the comparison: hamid compare end to end, hamid fit, hamid simulate --model."""
import csv
import json

import numpy as np
import pytest

from hamid.cli import main


@pytest.fixture(scope="module")
def pendulum_files(tmp_path_factory):
    root = tmp_path_factory.mktemp("pendulum")
    train, test = root / "train.npz", root / "test.npz"
    assert main(["generate", "pendulum", "--out", str(train), "--n-traj", "10", "--n-time", "40", "--dt", "0.1",
                 "--seed", "0"]) == 0
    assert main(["generate", "pendulum", "--out", str(test), "--n-traj", "3", "--n-time", "101", "--dt", "0.1",
                 "--seed", "1"]) == 0
    return root, train, test


def test_compare_end_to_end_writes_report_csv_latex_and_loadable_models(pendulum_files, capsys):
    root, train, test = pendulum_files
    out = root / "report"
    code = main(["compare", str(train), "--test", str(test), "--models", "sparse,hnn", "--library", "poly:2",
                 "--library", "trig", "--system", "pendulum", "--param", "hnn.hidden=16,16",
                 "--param", "max_steps=100", "--param", "hnn.lr=1e-2", "--out", str(out)])
    printed = capsys.readouterr().out
    assert code == 0
    assert printed.startswith("| model | integrator |")
    rows = {r["model"]: r for r in csv.DictReader(open(out / "results.csv"))}
    assert set(rows) == {"sparse", "hnn"}
    drift = [c for c in next(iter(rows.values())) if "drift" in c][0]
    sparse, hnn = float(rows["sparse"][drift]), float(rows["hnn"][drift])
    assert sparse < 1e-6 and sparse < 1e-4 * hnn
    assert rows["sparse"]["integrator"] == rows["hnn"]["integrator"] == "rk4, dt = 0.025 (common)"
    report = (out / "report.md").read_text()
    assert "| model | integrator |" in report and "H = 0.5" in report
    for png in ("phase.png", "rollout.png", "energy.png", "selection_path_sparse.png"):
        assert f"]({png})" in report and (out / png).stat().st_size > 1000
    tex = (out / "table.tex").read_text()
    assert r"\toprule" in tex and r"\bottomrule" in tex and "hnn" in tex
    # every fitted model goes through hamid simulate --model
    for saved in ("sparse.json", "hnn.json"):
        assert main(["simulate", "--model", str(out / "models" / saved), "--z0", "1,0", "--dt", "0.1",
                     "--steps", "20"]) == 0
        assert "z0(T = 2)" in capsys.readouterr().out


def test_compare_rejects_unknown_models_and_params(pendulum_files, capsys):
    root, train, test = pendulum_files
    base = ["compare", str(train), "--test", str(test), "--out", str(root / "x")]
    assert main(base + ["--models", "sparse,resnet"]) == 2
    assert "valid models: sparse, hnn" in capsys.readouterr().err
    assert main(base + ["--models", "mlp", "--param", "mlp.widths=3"]) == 2
    assert "valid parameters:" in capsys.readouterr().err
    assert not (root / "x").exists()


def test_fit_json_saves_a_model_that_simulate_loads(pendulum_files, capsys):
    root, train, _ = pendulum_files
    saved = root / "mlp_model"
    code = main(["fit", str(train), "--model", "mlp", "--param", "hidden=8", "--param", "max_steps=20",
                 "--save", str(saved), "--json"])
    captured = capsys.readouterr()
    assert code == 0
    doc = json.loads(captured.out)
    assert doc["class"] == "MLPField" and doc["n_parameters"] == 2 * 8 + 8 + 8 * 2 + 2
    assert "it/s" not in captured.err  # no progress bar off a terminal
    assert main(["simulate", "--model", str(saved), "--z0", "1,0", "--dt", "0.1", "--steps", "5"]) == 0
    assert main(["fit", str(train), "--model", "mlp", "--param", "hiden=8", "--save", str(saved)]) == 2
    err = capsys.readouterr().err
    assert "unknown parameter(s) hiden" in err and "hidden" in err


def test_fit_sparse_prints_h(pendulum_files, capsys):
    root, train, _ = pendulum_files
    assert main(["fit", str(train), "--model", "sparse", "--library", "poly:2", "--library", "trig",
                 "--save", str(root / "sparse.json")]) == 0
    assert "H = 0.5" in capsys.readouterr().out and (root / "sparse.json").exists()


def test_simulate_refuses_a_bad_out_before_integrating(tmp_path, capsys):
    # 10^9 leapfrog steps would take minutes: the refusal must come first
    code = main(["simulate", "-H", "p**2/2 - cos(q)", "--z0", "1,0", "--dt", "0.01", "--steps", "1000000000",
                 "--out", str(tmp_path / "sim.txt")])
    err = capsys.readouterr().err
    assert code == 2 and ".npz" in err and ".csv" in err and "sim.txt" in err
    assert not (tmp_path / "sim.txt").exists()


def test_simulate_labels_saved_states_with_their_time(tmp_path, capsys):
    out = tmp_path / "sim.npz"
    assert main(["simulate", "-H", "p**2/2 - cos(q)", "--z0", "1,0", "--dt", "0.1", "--steps", "15",
                 "--save-every", "10", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "z0(T = 1)" in printed and "T = 1.5" not in printed
    import hamid

    exact = hamid.integrate("p**2/2 - cos(q)", np.array([[1.0, 0.0]]), dt=0.1, n_steps=10)[0, -1]
    line = [ln for ln in printed.splitlines() if ln.startswith("z0(T = 1)")][0]
    values = [float(v) for v in line.split("[")[1].rstrip("]").split(",")]
    np.testing.assert_allclose(values, exact, rtol=1e-9)
    with np.load(out) as data:
        np.testing.assert_allclose(data["t"], [0.0, 1.0])
