"""Discover the pendulum's Hamiltonian from states only, print it, simulate it and save it.

Uses the bundled ``hamid/data/pendulum.npz`` when present, otherwise generates 20 coarse trajectories
(12 samples at dt = 0.25) with :mod:`hamid.systems`.

Run: ``.venv/bin/python examples/discover_pendulum.py``
"""
from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from hamid.io import load_data
from hamid.models.sparse import SparseHamiltonian


def main():
    bundled = Path(__file__).resolve().parents[1] / "hamid" / "data" / "pendulum.npz"
    if bundled.exists():
        data = load_data(bundled)
        print(f"data: {bundled.name}, q shape {data.q.shape}, derivatives {'given' if data.dq is not None else 'no'}")
    else:
        from hamid.systems import get_system

        data = get_system("pendulum").generate(n_traj=20, n_time=12, dt=0.25, seed=0)
        print("data: 20 generated trajectories x 12 samples at dt = 0.25")
    # states only: the estimator picks the integral form (no derivative estimation needed)
    model = SparseHamiltonian(library=["poly:2", "trig"], snap=1e-3)
    model.fit(data.q, data.p, t=data.t)
    print(model.summary())
    print(model.latex())
    for eq in model.equations():
        print(eq)
    traj = model.simulate(np.array([[1.0, 0.0]]), dt=0.05, n_steps=200)
    energy = model.energy(traj[0])
    print(f"leapfrog rollout, 200 steps: energy drift {np.ptp(energy):.2e}")
    with tempfile.TemporaryDirectory() as tmp:
        path = model.save(Path(tmp) / "pendulum_model.json")
        again = SparseHamiltonian.load(path)
        print(f"saved and reloaded: identical coefficients = {np.array_equal(again.coef_, model.coef_)}")


if __name__ == "__main__":
    main()
