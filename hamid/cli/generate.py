"""``hamid generate``: seeded trajectories of a catalogue system, written in the data contract."""
from __future__ import annotations

import sys


def register(subparsers):
    parser = subparsers.add_parser(
        "generate", help="generate trajectories of a catalogue system",
        description="Integrate a catalogue system from seeded initial states (DOP853, rtol 1e-10) and write "
                    "q, p, t, dq, dp (exact derivatives) to .npz or .csv. Non-canonical systems write t, z, dz "
                    "to .npz.",
    )
    parser.add_argument("system", help="a name from 'hamid systems'")
    parser.add_argument("--out", required=True, metavar="FILE", help="output file (.npz or .csv)")
    parser.add_argument("--n-traj", type=int, default=10, help="number of trajectories (default 10)")
    parser.add_argument("--n-time", type=int, default=50, help="samples per trajectory (default 50)")
    parser.add_argument("--dt", type=float, default=None, help="sample spacing (default: the system's)")
    parser.add_argument("--noise", type=float, default=0.0,
                        help="Gaussian noise, relative to each coordinate's standard deviation (default 0)")
    parser.add_argument("--noise-on", default="both", choices=("both", "states", "derivatives"))
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.set_defaults(func=run)


def run(args):
    import numpy as np

    from hamid.io import Dataset, atomic_write, save_data
    from hamid.cli import CLIError
    from hamid.systems import get_system

    system = get_system(args.system)
    data = system.generate(n_traj=args.n_traj, n_time=args.n_time, dt=args.dt, noise=args.noise,
                           noise_on=args.noise_on, seed=args.seed)
    if isinstance(data, Dataset):
        save_data(args.out, data)
        shape = data.q.shape
    else:
        if not str(args.out).lower().endswith(".npz"):
            raise CLIError(f"{system.name} is non-canonical: its data (t, z, dz) can only be written to .npz")
        arrays = {"t": data.t, "z": data.z, "dz": data.dz}
        atomic_write(args.out, lambda fh: np.savez(fh, **arrays))
        shape = data.z.shape
    print(f"{system.name}: wrote {args.out} with {shape[0]} trajectories x {shape[1]} samples "
          f"(state dimension {system.dim}, seed {args.seed}, noise {args.noise})", file=sys.stderr)
    return 0
