"""hamid sweep: configuration checks, the Dask path on a real LocalCluster, resume after a kill, reports."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from hamid.sweep import (SweepConfigError, expand_jobs, grid_size, load_config, read_results, run_sweep)
from hamid.sweep.results import ResultsFile, ResultsFileBusyError

ROOT = Path(__file__).resolve().parent.parent


def _config(**overrides):
    cfg = {
        "systems": ["pendulum", "harmonic_oscillator"],
        "data": {"n_traj": 6, "n_time": 30, "noise": [0.0, 0.01]},
        "seeds": [0],
        "models": {"sparse": {"library": ["poly:2", "trig"], "optimizer": "stlsq"}},
    }
    cfg.update(overrides)
    return cfg


# ---------------------------------------------------------------------------------------------- configuration

def test_grid_expansion_and_stable_keys():
    cfg = load_config(_config(seeds=[0, 1], models={"sparse": {"library": ["poly:2", "trig"]},
                                                    "lasso": {"kind": "sparse", "optimizer": ["lasso", "stlsq"]}}))
    # 2 systems x 2 noise levels x 2 seeds x (1 + 2 optimizer values); the flat library list is one value
    assert grid_size(cfg) == 2 * 2 * 2 * 3
    jobs = expand_jobs(cfg)
    assert len(jobs) == 24 and len({j["key"] for j in jobs}) == 24
    assert all(j["config"]["model"]["params"]["library"] == ["poly:2", "trig"] for j in jobs
               if j["config"]["model"]["label"] == "sparse")
    # keys depend on the configuration, not on how it is written: key order, 0 vs 0.0, defaults spelled out
    other = _config(seeds=[0, 1], models={"lasso": {"optimizer": ["lasso", "stlsq"], "kind": "sparse"},
                                          "sparse": {"library": ["poly:2", "trig"]}})
    other["data"] = {"noise": [0, 0.01], "n_time": 30, "n_traj": 6, "noise_on": "both"}
    assert {j["key"] for j in expand_jobs(load_config(other))} == {j["key"] for j in jobs}
    # a list of lists is a grid over list values
    cfg = load_config(_config(models={"sparse": {"library": [["poly:2", "trig"], ["poly:4"]]}}))
    assert sorted(str(j["config"]["model"]["params"]["library"]) for j in expand_jobs(cfg))[::4] == [
        "['poly:2', 'trig']", "['poly:4']"]


@pytest.mark.parametrize("change, message", [
    ({"sistems": ["pendulum"]}, r"unknown key 'sistems' in the configuration; valid keys: name, version"),
    ({"models": {"sparse": {"libary": "poly:2"}}}, r"unknown key 'libary' in models.sparse; valid keys: library"),
    ({"models": {"nope": {}}}, r"unknown model kind 'nope'.*valid kinds: .*hnn.*sparse"),
    ({"systems": ["pendulumm"]}, r"systems\[0\]: unknown system 'pendulumm'; valid systems"),
    ({"systems": ["lotka_volterra"]}, r"non-canonical"),
    ({"data": {"n_traj": 6, "noize": 0.1}}, r"unknown key 'noize' in data; valid keys: name, n_traj"),
    ({"data": {"noise": -0.1}}, r"data.noise must be >= 0"),
    ({"seeds": list(range(3000))}, r"expands to 12000 jobs, more than max_jobs = 5000"),
    ({"test": {"horizon": [1.0, 2.0]}}, r"test.horizon: the test section is not a grid axis"),
    ({"test": {"n_traj": 2}}, r"test.horizon .* is required"),
    ({"models": {"sindy": {"kind": "pysindy", "treshold": 0.1}}},
     r"unknown key 'treshold' in models.sindy; valid keys: library, optimizer, threshold"),
])
def test_config_errors_name_the_problem(change, message):
    with pytest.raises(SweepConfigError, match=message):
        load_config(_config(**change))


def test_yaml_file_and_cli_dry_run(tmp_path):
    path = tmp_path / "sweep.yaml"
    path.write_text("systems: [pendulum]\ndata: {n_traj: 4, noise: [0.0, 0.01, 0.05]}\nseeds: [0, 1]\n"
                    "models:\n  sparse: {library: [poly:2, trig]}\n")
    out = tmp_path / "r.jsonl"
    proc = subprocess.run([sys.executable, "-m", "hamid", "sweep", str(path), "--out", str(out), "--dry-run"],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"6 jobs, 0 already in {out}, 6 pending"
    path.write_text("systems: [pendulum]\nmodels: {sparse: {}}\nbogus: 1\n")
    proc = subprocess.run([sys.executable, "-m", "hamid", "sweep", str(path), "--out", str(out)],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 2 and "unknown key 'bogus'" in proc.stderr and not out.exists()


# ---------------------------------------------------------------------------------------------- running

@pytest.fixture(scope="module")
def dask_results(tmp_path_factory):
    """A sweep on a real dask.distributed LocalCluster with two workers (threads of this process: no
    interpreter start-up per worker on a 2-core machine), including one failing model."""
    distributed = pytest.importorskip("distributed")
    out = tmp_path_factory.mktemp("dask") / "results.jsonl"
    cfg = _config(models={"sparse": {"library": ["poly:2", "trig"], "optimizer": ["stlsq", "no_such_optimizer"]}},
                  test={"n_traj": 2, "horizon": 2.0},
                  scoring={"tolerance": {0.0: 1e-3, 0.01: 0.02}})
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                       dashboard_address=None)
    client = distributed.Client(cluster)
    try:
        assert len(client.scheduler_info()["workers"]) == 2
        workers = set(client.scheduler_info()["workers"])
        summary = run_sweep(cfg, out, scheduler=client, progress=False)
    finally:
        client.close()
        cluster.close()
    assert cluster.status.name == "closed"
    return cfg, out, summary, workers


def test_dask_local_cluster_sweep(dask_results):
    cfg, out, summary, workers = dask_results
    assert summary == {"total": 8, "skipped": 0, "run": 8, "ok": 4, "failed": 4, "repaired_bytes": 0}
    records = read_results(out)
    assert len(records) == 8
    assert {r["worker"] for r in records} == workers  # the jobs ran on both workers of the cluster
    by_status = {}
    for r in records:
        by_status.setdefault(r["status"] == "ok", []).append(r)
    for r in by_status[True]:
        m = r["metrics"]
        assert r["config"]["model"]["params"]["optimizer"] == "stlsq"
        assert m["exact_support"] is True and m["field_exact_support"] is True
        noise = r["config"]["data"]["noise"]
        assert m["max_rel_error"] < (1e-8 if noise == 0 else 0.02)
        assert m["solved"] is True and m["n_parameters"] == 2
        assert np.isfinite(m["rollout_mse"]) and m["rollout_mse"] < 1e-2 and m["valid_time"] > 0
    for r in by_status[False]:  # a failing job is recorded with its error and did not stop the sweep
        assert r["config"]["model"]["params"]["optimizer"] == "no_such_optimizer"
        assert r["status"].startswith("ValueError: unknown optimizer 'no_such_optimizer'")


def test_rerun_skips_and_retry_failed_appends(dask_results, tmp_path):
    cfg, out, _, _ = dask_results
    copy = tmp_path / "copy.jsonl"
    copy.write_bytes(out.read_bytes())
    before = copy.read_bytes()
    assert run_sweep(cfg, copy, workers=1, progress=False)["run"] == 0
    assert copy.read_bytes() == before
    summary = run_sweep(cfg, copy, workers=1, retry_failed=True, progress=False)
    assert summary["run"] == 4 and summary["failed"] == 4
    assert copy.read_bytes()[:len(before)] == before and len(read_results(copy)) == 12


def _kill_config(tmp_path):
    path = tmp_path / "kill.yaml"
    path.write_text("systems: [harmonic_oscillator]\ndata: {n_traj: 4, n_time: 20}\nseeds: " +
                    json.dumps(list(range(24))) + "\nmodels: {sparse: {library: poly:2, optimizer: stlsq}}\n")
    return path


def test_killed_sweep_resumes_without_torn_lines(tmp_path):
    config, out = _kill_config(tmp_path), tmp_path / "results.jsonl"
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.Popen([sys.executable, "-m", "hamid", "sweep", str(config), "--out", str(out),
                             "--workers", "1", "--no-progress"], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            if out.exists() and out.read_bytes().count(b"\n") >= 2:
                break
            time.sleep(0.005)
        proc.send_signal(signal.SIGKILL)  # no clean-up handlers run: whatever is on disk is what a kill leaves
    finally:
        proc.wait(timeout=60)
    stderr = proc.stderr.read().decode()
    proc.stderr.close()
    written = out.read_bytes()
    n_done = written.count(b"\n")
    assert 2 <= n_done < 24, stderr
    assert written.endswith(b"\n")
    # a torn line as a crash of the machine could leave it: ignored on reading, cut off before appending
    out.write_bytes(written + b'{"job": "0123456789abcdef", "status": "o')
    assert len(read_results(out)) == n_done
    summary = run_sweep(config, out, workers=1, progress=False)
    assert summary["skipped"] == n_done and summary["run"] == 24 - n_done and summary["failed"] == 0
    assert summary["repaired_bytes"] == len(b'{"job": "0123456789abcdef", "status": "o')
    final = out.read_bytes()
    assert final.startswith(written) and final.endswith(b"\n")
    records = [json.loads(line) for line in final.splitlines()]
    keys = [r["job"] for r in records]
    assert len(keys) == 24 and len(set(keys)) == 24 and all(r["status"] == "ok" for r in records)
    assert sorted(r["config"]["seed"] for r in records) == list(range(24))


def test_results_file_is_locked_and_limit(tmp_path):
    out = tmp_path / "r.jsonl"
    with ResultsFile(out) as results:
        results.append({"job": "a", "status": "ok", "metrics": {"x": float("nan")}})
        with pytest.raises(ResultsFileBusyError, match="in use by another sweep"):
            run_sweep(_config(), out, workers=1, progress=False)
    assert read_results(out) == [{"job": "a", "status": "ok", "metrics": {"x": None}}]  # strict JSON
    summary = run_sweep(_config(), out, workers=1, limit=1, progress=False)
    assert summary["run"] == 1 and len(read_results(out)) == 2


# ---------------------------------------------------------------------------------------------- report, baselines

def test_sweep_report(dask_results, tmp_path):
    pytest.importorskip("pandas")
    from hamid.sweep.report import build_report

    _, out, _, _ = dask_results
    written = {p.name for p in build_report(out, tmp_path / "report")}
    assert written == {"results.csv", "summary.csv", "summary.md", "benchmark.csv", "benchmark.md",
                       "solved_vs_noise.png", "exact_support_vs_noise.png", "max_energy_drift_vs_noise.png"}
    import pandas as pd

    summary = pd.read_csv(tmp_path / "report" / "summary.csv")
    # the optimizer axis of the one model is split out; only seeds would be averaged
    assert len(summary) == 8 and set(summary["jobs"]) == {1}
    failed = summary["param.optimizer"] == "no_such_optimizer"
    assert (summary["failed"] == failed.astype(int)).all()
    assert np.allclose(summary["solved"], np.where(failed, 0.0, 1.0))  # a failed job counts as unsolved
    bench = (tmp_path / "report" / "benchmark.md").read_text()
    assert "| sparse | default | no_such_optimizer | 0/2 | 0/2 | 0/4 |" in bench
    assert "| sparse | default | stlsq | 2/2 | 2/2 | 4/4 |" in bench


def test_pysindy_baseline_recovers_the_pendulum_field():
    from hamid.sweep.baselines import PySINDyField
    from hamid.sweep.recovery import field_recovery, true_field_exprs
    from hamid.systems import get_system

    system = get_system("pendulum")
    data = system.generate(n_traj=10, n_time=50, dt=0.1, seed=3)
    from hamid.symbolic import state_symbols

    qs, ps = state_symbols(1)
    symbols = tuple(qs) + tuple(ps)
    truth = true_field_exprs(system.hamiltonian, symbols)
    for weak in (False, True):
        state = np.random.get_state()[1].copy()
        model = PySINDyField(library=["poly:2", "trig"], weak=weak, alpha=1e-5, random_state=0).fit(
            data.q, data.p, t=data.t, dq=data.dq, dp=data.dp)
        assert np.array_equal(np.random.get_state()[1], state)  # pysindy's draws leave the global RNG as it was
        assert [str(b) for b in model.basis_] == ["1", "q", "p", "cos(q)", "sin(q)"]
        score = field_recovery(truth, model.field_exprs_, symbols)
        assert score["field_exact_support"], model.field_exprs_
        assert score["field_max_rel_error"] < (1e-8 if not weak else 1e-3)
        z = data.states()[:, 0]
        assert np.allclose(model.vector_field(z), system.vector_field(z), atol=1e-3)
    # 12 samples per trajectory: pysindy's default subdomains would hold < 2 samples and crash; widened here
    coarse = system.generate(n_traj=10, n_time=12, dt=0.25, seed=3)
    model = PySINDyField(library=["poly:2", "trig"], weak=True, alpha=1e-5, random_state=0).fit(
        coarse.q, coarse.p, t=coarse.t)
    assert field_recovery(truth, model.field_exprs_, symbols)["field_max_rel_error"] < 0.01


def test_import_stays_light():
    code = ("import sys, hamid.sweep, hamid.cli; hamid.cli.build_parser(); "
            "print(sorted(m for m in ('dask', 'distributed', 'pandas', 'yaml', 'torch', 'matplotlib', 'pysindy') "
            "if m in sys.modules))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


def test_data_file_system_with_its_true_hamiltonian(tmp_path):
    data = ROOT / "hamid" / "data" / "pendulum.npz"
    cfg = {"systems": [{"file": str(data), "hamiltonian": "p**2/2 + 1 - cos(q)", "library": ["poly:2", "trig"]}],
           "data": {"derivatives": [True, False]}, "models": {"sparse": {"optimizer": "stlsq"}}}
    out = tmp_path / "r.jsonl"
    assert run_sweep(cfg, out, workers=1, progress=False)["ok"] == 2
    for r in read_results(out):
        assert r["config"]["system"]["sha256"] and r["metrics"]["exact_support"] is True
        assert r["metrics"]["max_rel_error"] < 1e-6
    with pytest.raises(SweepConfigError, match="data file not found"):
        load_config({"systems": [str(tmp_path / "missing.npz")], "models": {"sparse": {}}})
