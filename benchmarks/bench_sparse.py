"""Speed of SparseHamiltonian, as ratios to references measured in the same run.

1. Fit: Hénon–Heiles (2 DOF), poly:4 library (69 terms), 1e5 samples with derivatives. Reference: one plain
   ``numpy.linalg.lstsq`` on the same (materialized) design matrix, 4e5 x 69. Target: fit < 0.2 s on 2 cores.
2. Fit without derivatives (integral form), same library, 1e5 samples in 1000 trajectories of 100.
3. ``hamid discover`` end to end (subprocess) on the bundled example data ``hamid/data/pendulum.npz`` (or a
   generated stand-in if it is missing). Reference: ``python -c "import numpy"`` in the same run.
   Target: < 2 s.

Run: ``OMP_NUM_THREADS=2 .venv/bin/python benchmarks/bench_sparse.py``
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def best_of(fn, repeat=5):
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def henon_heiles_samples(n, seed=0):
    rng = np.random.default_rng(seed)
    q1, q2, p1, p2 = rng.uniform(-0.5, 0.5, (4, n))
    dq = np.stack([p1, p2], -1)
    dp = np.stack([-q1 - 2 * q1 * q2, -q2 - q1**2 + q2**2], -1)
    return np.stack([q1, q2], -1), np.stack([p1, p2], -1), dq, dp


def main():
    from hamid.models.sparse import SparseHamiltonian
    from hamid.models.sparse.formulations import build_system
    from hamid.symbolic import PolynomialLibrary

    print(f"threads: OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}, cpus={os.cpu_count()}")
    n = 100_000
    q, p, dq, dp = henon_heiles_samples(n)
    model = SparseHamiltonian(library=PolynomialLibrary(4))
    model.fit(q, p, dq=dq, dp=dp)  # warm-up: symbolic gradients and code generation are cached
    t_fit = best_of(lambda: model.fit(q, p, dq=dq, dp=dp))
    print(f"[fit, derivatives] 2 DOF, poly:4 ({model.library_.n_terms} terms), {n} samples: {t_fit:.3f} s  "
          f"-> H = {model.hamiltonian_}")

    lib = model.library_
    Z = np.concatenate([q, p], -1)
    system = build_system(lib, "derivative", Z, np.concatenate([dq, dp], -1), weights=np.ones(4))
    A, y = system.rows()
    t_lstsq = best_of(lambda: np.linalg.lstsq(A, y, rcond=None), repeat=3)
    t_gram = best_of(lambda: A.T @ A, repeat=3)
    print(f"  reference numpy.linalg.lstsq on the same design {A.shape}: {t_lstsq:.3f} s; "
          f"A.T @ A alone: {t_gram:.3f} s")
    print(f"  ratio fit / lstsq = {t_fit / t_lstsq:.2f}  (target: fit < 0.2 s -> {'met' if t_fit < 0.2 else 'MISSED'})")

    # integral form (no derivatives)
    from scipy.integrate import solve_ivp

    def f(_t, z):
        z = z.reshape(4, -1)
        q1, q2, p1, p2 = z
        return np.concatenate([p1, p2, -q1 - 2 * q1 * q2, -q2 - q1**2 + q2**2])

    n_traj, n_time = 1000, 100
    rng = np.random.default_rng(1)
    z0 = rng.uniform(-0.3, 0.3, (4, n_traj))
    t = 0.1 * np.arange(n_time)
    sol = solve_ivp(f, (0, t[-1]), z0.ravel(), t_eval=t, rtol=1e-10, atol=1e-12, method="DOP853")
    Zt = sol.y.reshape(4, n_traj, n_time).transpose(1, 2, 0)
    m2 = SparseHamiltonian(library=PolynomialLibrary(4))
    m2.fit(Zt[..., :2], Zt[..., 2:], t=t)
    t_int = best_of(lambda: m2.fit(Zt[..., :2], Zt[..., 2:], t=t), repeat=3)
    print(f"[fit, integral form] {n_traj} x {n_time} samples: {t_int:.3f} s  (ratio to lstsq {t_int / t_lstsq:.2f})"
          f" -> {len(m2.terms_)} terms")

    # CLI end to end
    data = Path(__file__).resolve().parents[1] / "hamid" / "data" / "pendulum.npz"
    tmp = None
    if not data.exists():
        from hamid.systems import get_system
        from hamid.io import save_data

        tmp = tempfile.TemporaryDirectory()
        data = Path(tmp.name) / "pendulum.npz"
        save_data(data, get_system("pendulum").generate(n_traj=20, n_time=50, dt=0.1, seed=0))
        print("  (bundled hamid/data/pendulum.npz missing: using a generated stand-in)")
    cmd = [sys.executable, "-m", "hamid", "discover", str(data), "--library", "poly:2", "--library", "trig", "--json"]
    subprocess.run(cmd, check=True, capture_output=True)
    t_cli = best_of(lambda: subprocess.run(cmd, check=True, capture_output=True), repeat=3)
    t_py = best_of(lambda: subprocess.run([sys.executable, "-c", "import numpy"], check=True), repeat=3)
    print(f"[hamid discover] {data.name} end to end: {t_cli:.2f} s; reference `python -c 'import numpy'`: "
          f"{t_py:.2f} s; ratio {t_cli / t_py:.1f}  (target < 2 s -> {'met' if t_cli < 2 else 'MISSED'})")
    if tmp is not None:
        tmp.cleanup()


if __name__ == "__main__":
    main()
