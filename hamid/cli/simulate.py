"""``hamid simulate``: integrate a Hamiltonian given as an expression from a batch of initial states."""
from __future__ import annotations

import sys


def register(subparsers):
    parser = subparsers.add_parser(
        "simulate",
        help="integrate a Hamiltonian expression from initial states",
        description="Integrate Hamilton's equations of an expression H(q, p) with one of hamid's integrators. "
                    "Prints H in LaTeX and the maximum relative energy error; --out writes the trajectories "
                    "in the data contract (q, p, t).",
    )
    parser.add_argument("--hamiltonian", "-H", required=True, metavar="EXPR",
                        help="H in the state symbols: q, p for one degree of freedom, q1..qd, p1..pd otherwise, "
                             "e.g. 'p**2/2 - cos(q)'")
    parser.add_argument("--z0", required=True, action="append", metavar="Q1,..,P1,..",
                        help="an initial state (q1..qd, p1..pd) as comma-separated numbers; repeat for a batch, "
                             "or separate states with ';'")
    parser.add_argument("--dt", type=float, required=True, help="time step")
    parser.add_argument("--steps", type=int, required=True, help="number of steps")
    parser.add_argument("--method", default="leapfrog", help="integration method (default: leapfrog)")
    parser.add_argument("--backend", default="numpy", choices=("numpy", "torch"))
    parser.add_argument("--save-every", type=int, default=1, metavar="K", help="keep every K-th state")
    parser.add_argument("--out", metavar="FILE", help="write trajectories to FILE (.npz or .csv)")
    parser.set_defaults(func=run)


def _parse_states(items):
    from hamid.cli import CLIError

    states = []
    for item in items:
        for chunk in item.split(";"):
            if not chunk.strip():
                continue
            try:
                states.append([float(x) for x in chunk.split(",")])
            except ValueError:
                raise CLIError(f"--z0 {chunk!r}: expected comma-separated numbers") from None
    if not states:
        raise CLIError("--z0: no initial state given")
    widths = {len(s) for s in states}
    if len(widths) != 1:
        raise CLIError(f"--z0: all initial states need the same length, got lengths {sorted(widths)}")
    width = widths.pop()
    if width % 2:
        raise CLIError(f"--z0: a state has 2d entries (q1..qd, p1..pd); got {width}")
    return states


def run(args):
    import numpy as np
    import sympy as sp

    from hamid.cli import CLIError
    from hamid.integrators import integrate
    from hamid.io import save_data, validate_data
    from hamid.symbolic import compile_exprs, parse_expression, state_symbols

    z0 = np.array(_parse_states(args.z0))
    d = z0.shape[1] // 2
    qs, ps = state_symbols(d)
    H = parse_expression(args.hamiltonian, qs + ps)
    if not H.free_symbols:
        raise CLIError(f"--hamiltonian {args.hamiltonian!r} is constant: nothing moves")
    trajectory = integrate(H, z0, dt=args.dt, n_steps=args.steps, method=args.method, backend=args.backend,
                           save_every=args.save_every)
    if args.backend == "torch":
        trajectory = trajectory.detach().cpu().numpy()
    energy = compile_exprs([H], qs + ps)(trajectory.reshape(-1, 2 * d)).reshape(trajectory.shape[:2])
    scale = np.maximum(np.abs(energy[:, :1]), np.finfo(float).tiny)
    rel_error = np.abs(energy - energy[:, :1]) / scale
    print(f"H = {H}")
    print(f"LaTeX: {sp.latex(H)}")
    print(f"method {args.method}, dt = {args.dt}, {args.steps} steps, {z0.shape[0]} initial state(s)")
    print(f"max relative energy error: {rel_error.max():.3e}")
    final = trajectory[:, -1]
    for i, z in enumerate(final[:5]):
        print(f"z{i}(T = {args.dt * args.steps:g}) = [{', '.join(f'{v:.10g}' for v in z)}]")
    if args.out:
        t = np.arange(trajectory.shape[1]) * args.dt * args.save_every
        data = validate_data(trajectory[..., :d], trajectory[..., d:], t=t)
        save_data(args.out, data)
        print(f"wrote {args.out}", file=sys.stderr)
    return 0
