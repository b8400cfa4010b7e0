"""``hamid generate``: seeded trajectories of a catalogue system, written in the data contract."""
from __future__ import annotations

import sys


def register(subparsers):
    parser = subparsers.add_parser(
        "generate", help="generate trajectories of a catalogue system",
        description="Integrate a catalogue system from seeded initial states (DOP853, rtol 1e-10) and write "
                    "q, p, t, dq, dp (exact derivatives) to .npz or .csv. Non-canonical systems write z, dz, t "
                    "(and, in .npz, their structure, e.g. poisson:rigid_body); --as lagrangian writes q, qdot, "
                    "qddot, t for systems with a Lagrangian (double_pendulum, pendulum, ...).",
    )
    parser.add_argument("system", help="a name from 'hamid systems'")
    parser.add_argument("--out", required=True, metavar="FILE", help="output file (.npz or .csv)")
    parser.add_argument("--n-traj", type=int, default=10, help="number of trajectories (default 10)")
    parser.add_argument("--n-time", type=int, default=50, help="samples per trajectory (default 50)")
    parser.add_argument("--dt", type=float, default=None, help="sample spacing (default: the system's)")
    parser.add_argument("--t-span", default=None, metavar="T or T0,T1",
                        help="sample --n-time times evenly over [0, T] or [T0, T1] instead of --dt")
    parser.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                        help="set a system constant, e.g. --param g=9.81 (repeatable; 'hamid systems NAME' lists "
                             "the constants; a comma list gives a tuple, e.g. --param masses=1,2,1)")
    parser.add_argument("--noise", type=float, default=0.0,
                        help="Gaussian noise, relative to each coordinate's standard deviation (default 0)")
    parser.add_argument("--noise-on", default="both", choices=("both", "states", "derivatives"))
    parser.add_argument("--as", dest="form", default="auto", choices=("auto", "lagrangian"),
                        help="auto (default: q, p or z by the system) or lagrangian (q, qdot, qddot)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.set_defaults(func=run)


def lagrangian_data(system, n_traj, n_time, dt, noise, noise_on, seed, t_span=None):
    """(q, qdot, qddot, t) of a system with a Lagrangian, as a :class:`hamid.io.LagrangianDataset`.

    The clean trajectories are those of ``system.generate(seed=seed)``; velocities come from ∂H/∂p and the
    accelerations from the Euler-Lagrange equations; noise (relative to each array's standard deviation, the
    same rule as :meth:`hamid.systems.System.generate`) goes on q and qdot ("states") and/or qddot
    ("derivatives").
    """
    import numpy as np

    from hamid.io import validate_lagrangian
    from hamid.systems import SystemConfigError

    if system.lagrangian is None:
        raise SystemConfigError(f"system {system.name!r} has no Lagrangian; --as lagrangian needs one (e.g. "
                                "double_pendulum, pendulum, double_well)")
    data = system.generate(n_traj=n_traj, n_time=n_time, dt=dt, t_span=t_span, seed=seed)
    d = system.n_dof
    z = data.states()
    x = system.velocities(z.reshape(-1, 2 * d)).reshape(z.shape)
    acc = system.accelerations(x.reshape(-1, 2 * d)).reshape(z.shape[:-1] + (d,))
    q, v = x[..., :d], x[..., d:]
    if noise > 0:
        rng = np.random.default_rng(np.random.SeedSequence(seed).spawn(3)[2])

        def noisy(a):
            return a + noise * a.reshape(-1, d).std(axis=0) * rng.standard_normal(a.shape)

        if noise_on in ("both", "states"):
            q, v = noisy(q), noisy(v)
        if noise_on in ("both", "derivatives"):
            acc = noisy(acc)
    return validate_lagrangian(q, v, t=data.t, qddot=acc)


def _number(text):
    text = text.strip()
    try:
        return int(text)
    except ValueError:
        return float(text)


def _parse_params(items):
    """``["g=9.81", "masses=1,2"]`` -> ``{"g": 9.81, "masses": (1, 2)}``; ``none`` gives None."""
    from hamid.cli import CLIError

    out = {}
    for item in items:
        name, sep, value = item.partition("=")
        name = name.strip()
        if not sep or not name.isidentifier() or not value.strip():
            raise CLIError(f"--param {item!r}: expected NAME=VALUE, e.g. --param g=9.81")
        if name in out:
            raise CLIError(f"--param {name} is given twice")
        try:
            if value.strip().lower() == "none":
                out[name] = None
            elif "," in value:
                out[name] = tuple(_number(v) for v in value.split(","))
            else:
                out[name] = _number(value)
        except ValueError:
            raise CLIError(f"--param {item!r}: {value!r} is not a number or a comma list of numbers") from None
    return out


def _parse_t_span(text):
    """``"T"`` -> (0, T); ``"T0,T1"`` -> (T0, T1); None stays None."""
    from hamid.cli import CLIError

    if text is None:
        return None
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        raise CLIError(f"--t-span {text!r}: expected T or T0,T1") from None
    if len(values) == 1:
        values = [0.0] + values
    if len(values) != 2 or not values[1] > values[0]:
        raise CLIError(f"--t-span {text!r}: expected T > 0 or T0,T1 with T1 > T0")
    return tuple(values)


def run(args):
    from hamid.cli import CLIError
    from hamid.io import check_writable, save_data, validate_states
    from hamid.systems import get_system

    check_writable(args.out, (".npz", ".csv"))
    system = get_system(args.system, **_parse_params(args.param))
    t_span = _parse_t_span(args.t_span)
    if t_span is not None and args.dt is not None:
        raise CLIError("give --dt or --t-span, not both")
    if args.form == "lagrangian":
        data = lagrangian_data(system, args.n_traj, args.n_time, args.dt, args.noise, args.noise_on, args.seed,
                               t_span=t_span)
        shape, kind = data.q.shape, "q, qdot, qddot"
    else:
        data = system.generate(n_traj=args.n_traj, n_time=args.n_time, dt=args.dt, t_span=t_span,
                               noise=args.noise, noise_on=args.noise_on, seed=args.seed)
        if system.canonical:
            shape, kind = data.q.shape, "q, p, dq, dp"
        else:
            data = validate_states(data.z, t=data.t, dz=data.dz, structure=system.structure_spec)
            shape, kind = data.z.shape, f"z, dz (structure {system.structure_spec})"
    save_data(args.out, data)
    print(f"{system.name}: wrote {args.out} with {shape[0]} trajectories x {shape[1]} samples of {kind} "
          f"(state dimension {system.dim}, seed {args.seed}, noise {args.noise})", file=sys.stderr)
    return 0
