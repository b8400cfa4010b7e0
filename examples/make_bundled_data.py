"""Write the small example datasets bundled with hamid into ``hamid/data/``.

Each dataset is described in :data:`hamid.systems.BUNDLED_DATA` (system, constants, generator arguments,
true Hamiltonian) and is regenerated bit-for-bit by this script; ``tests/test_systems.py`` checks that the
committed files match a fresh generation.

- ``pendulum.npz``: pendulum ``H = p^2/2 + 1 - cos q``, 20 trajectories x 50 samples, dt = 0.1, initial
  radius ``|(q, p)| ~ U[0.2, 1.8]``, exact derivatives ``dq, dp``, no noise (seed 0).
- ``duffing.npz``: double well ``H = p^2/2 + q^4/4 - q^2/2 + 1/4``, same layout (seed 1).
- ``pendulum_noisy.npz``: the pendulum with 1% relative Gaussian noise on states and derivatives (seed 2).

Run from the repository root::

    python examples/make_bundled_data.py
"""
from __future__ import annotations

from pathlib import Path

from hamid.io import save_data
from hamid.systems import BUNDLED_DATA, get_system

DATA_DIR = Path(__file__).resolve().parent.parent / "hamid" / "data"


def main():
    DATA_DIR.mkdir(exist_ok=True)
    for name, meta in sorted(BUNDLED_DATA.items()):
        system = get_system(meta["system"], **meta["constants"])
        data = system.generate(**meta["generate"])
        path = save_data(DATA_DIR / f"{name}.npz", data)
        print(f"{path}: {meta['system']} H = {system.hamiltonian}; q {data.q.shape}, "
              f"{path.stat().st_size / 1024:.1f} KiB")


if __name__ == "__main__":
    main()
