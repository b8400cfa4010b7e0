"""Write the small example datasets bundled with hamid into ``hamid/data/``.

Each dataset is described in :data:`hamid.systems.BUNDLED_DATA` (system, constants, generator arguments,
true Hamiltonian); ``tests/test_systems.py`` checks that the committed files match a fresh generation to
1e-12.

- ``pendulum.npz``: pendulum ``H = p^2/2 + 1 - cos q``, 20 trajectories x 50 samples, dt = 0.1, initial
  radius ``|(q, p)| ~ U[0.2, 1.8]``, exact derivatives ``dq, dp``, no noise (seed 0).
- ``duffing.npz``: double well ``H = p^2/2 + q^4/4 - q^2/2 + 1/4``, same layout (seed 1).
- ``pendulum_noisy.npz``: the pendulum with 1% relative Gaussian noise on states and derivatives (seed 2).

Why a fresh generation is not always bit-identical to the committed files: generation is deterministic
(the same code gives the same bits on every run, for every ``PYTHONHASHSEED`` and thread count; ``np.savez``
stamps its zip entries with a fixed date), but its last bits depend on how the field is evaluated. A change
of hamid's code generator (``x**3`` evaluated as ``x*x*x`` instead of ``pow``), of scipy's DOP853 or of
numpy's vectorized ``sin``/``cos`` (which may differ by an ulp between CPUs) moves the data by 1e-14 to
1e-13 (measured: 1.4e-14 on ``duffing.npz`` after the code generator began to expand small powers into
products). Rewriting the files for such a difference would change tracked binaries for nothing, so this
script keeps a committed file whose data a
fresh generation reproduces to ``--tolerance`` (default 1e-12, the test's tolerance) and says so; it
rewrites a file only when its data really changed (or with ``--force``).

Run from the repository root::

    python examples/make_bundled_data.py            # regenerate; files within 1e-12 are kept as they are
    python examples/make_bundled_data.py --check    # write nothing; exit 1 if a file is out of date
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from hamid.io import load_data, save_data
from hamid.systems import BUNDLED_DATA, get_system

DATA_DIR = Path(__file__).resolve().parent.parent / "hamid" / "data"
_FIELDS = ("q", "p", "t", "dq", "dp")


def max_relative_difference(a, b) -> float:
    """The largest |a - b| / max(|b|, 1) over every array of two datasets (inf if their layouts differ)."""
    worst = 0.0
    for name in _FIELDS:
        x, y = getattr(a, name), getattr(b, name)
        if (x is None) != (y is None):
            return float("inf")
        if x is None:
            continue
        if x.shape != y.shape:
            return float("inf")
        if x.size:
            worst = max(worst, float(np.max(np.abs(x - y) / np.maximum(np.abs(y), 1.0))))
    return worst


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if a file is out of date")
    parser.add_argument("--force", action="store_true", help="rewrite every file, even if it is reproduced")
    parser.add_argument("--tolerance", type=float, default=1e-12,
                        help="keep a committed file that a fresh generation reproduces to this relative "
                             "difference (default 1e-12)")
    parser.add_argument("--data-dir", type=Path, default=DATA_DIR, help="where the .npz files live")
    args = parser.parse_args(argv)
    args.data_dir.mkdir(exist_ok=True)
    stale = []
    for name, meta in sorted(BUNDLED_DATA.items()):
        system = get_system(meta["system"], **meta["constants"])
        fresh = system.generate(**meta["generate"])
        path = args.data_dir / f"{name}.npz"
        diff = max_relative_difference(fresh, load_data(path)) if path.exists() else float("inf")
        if diff == 0.0 and not args.force:
            print(f"{path}: unchanged (a fresh generation is bit-identical)")
            continue
        if diff <= args.tolerance and not args.force:
            print(f"{path}: kept; a fresh generation differs by at most {diff:.1e} relative (<= {args.tolerance:g}: "
                  "floating-point evaluation order, see this script's docstring); --force rewrites it")
            continue
        if args.check:
            stale.append(name)
            print(f"{path}: OUT OF DATE, a fresh generation differs by {diff:.1e} relative", file=sys.stderr)
            continue
        save_data(path, fresh)
        why = "forced" if args.force else ("new" if diff == float("inf") else f"data changed by {diff:.1e}")
        print(f"{path}: wrote ({why}); {meta['system']} H = {system.hamiltonian}; q {fresh.q.shape}, "
              f"{path.stat().st_size / 1024:.1f} KiB")
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
