"""``hamid simulate``: integrate a Hamiltonian expression (``--hamiltonian``) or any saved model (``--model``)
from a batch of initial states."""
from __future__ import annotations

import sys

#: file types ``--out`` can write (the data contract)
OUT_SUFFIXES = (".npz", ".csv")


#: hamid.integrators.METHODS and ALIASES, listed here so that building the parser (``hamid --help``) does not
#: import the integrators; tests/test_defects_user.py checks that they agree
METHOD_NAMES = ("euler", "rk4", "symplectic_euler_a", "symplectic_euler_b", "leapfrog", "yoshida4",
                "implicit_midpoint", "tao", "dop853")
METHOD_ALIASES = ("explicit_euler", "forward_euler", "runge_kutta4", "symplectic_euler", "verlet", "stormer_verlet",
                  "velocity_verlet", "yoshida", "midpoint", "solve_ivp")


def register(subparsers):
    parser = subparsers.add_parser(
        "simulate",
        help="integrate a Hamiltonian expression or a saved model from initial states",
        description="Integrate Hamilton's equations of an expression H(q, p), or roll out a model saved by "
                    "'hamid fit' / 'hamid compare' / model.save(). Prints the final states at their times and "
                    "the maximum relative error of the conserved quantity (H, or the model's own energy); "
                    "--out writes the trajectories in the data contract (q, p, t).",
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--hamiltonian", "-H", metavar="EXPR",
                        help="H in the state symbols: q, p for one degree of freedom, q1..qd, p1..pd otherwise, "
                             "e.g. 'p**2/2 - cos(q)'")
    source.add_argument("--model", metavar="PATH",
                        help="a model file written by model.save(), 'hamid fit' or 'hamid compare'; a Lagrangian "
                             "model (LNN) takes and returns states (q, qdot)")
    parser.add_argument("--z0", required=True, action="append", metavar="Q1,..,P1,..",
                        help="an initial state (q1..qd, p1..pd) as comma-separated numbers; repeat for a batch, "
                             "or separate states with ';'")
    parser.add_argument("--dt", type=float, default=None,
                        help="time step (required for --hamiltonian; a map model's default is its trained step)")
    parser.add_argument("--steps", type=int, required=True, help="number of steps")
    parser.add_argument("--method", default=None, metavar="NAME",
                        help="integration method: " + ", ".join(METHOD_NAMES) + "; aliases "
                             + ", ".join(METHOD_ALIASES) + " (default: leapfrog for --hamiltonian, the model's own "
                             "for --model)")
    parser.add_argument("--backend", default="numpy", choices=("numpy", "torch"),
                        help="--hamiltonian only: numpy (default) or torch")
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


def load_any_model(path):
    """Load a model saved by any hamid model's ``save`` (:func:`hamid.load_model`)."""
    from pathlib import Path

    from hamid.cli import CLIError
    from hamid.models.base import load_model

    path = Path(path)
    if not path.exists():
        raise CLIError(f"--model {path}: no such file")
    return load_model(path)


def _check_out(out):
    from pathlib import Path

    from hamid.cli import CLIError

    if out is None:
        return
    path = Path(out)
    if path.suffix.lower() not in OUT_SUFFIXES:
        raise CLIError(f"--out {out}: unsupported file type {path.suffix or '(none)'!r}; allowed extensions: "
                       f"{', '.join(OUT_SUFFIXES)}")
    if not (path.parent if str(path.parent) else Path(".")).is_dir():
        raise CLIError(f"--out {out}: directory {path.parent} does not exist")
    from hamid.io import check_writable

    check_writable(path)  # writable folder, not a folder itself


def run(args):
    import numpy as np

    from hamid.cli import CLIError

    # everything a user can get wrong is checked before integrating
    _check_out(args.out)
    if args.steps < 0:
        raise CLIError(f"--steps must be >= 0, got {args.steps}")
    if args.save_every < 1:
        raise CLIError(f"--save-every must be >= 1, got {args.save_every}")
    z0 = np.array(_parse_states(args.z0))
    if args.hamiltonian is not None:
        trajectory, dt, describe, energy, lagrangian = _run_expression(args, z0)
    else:
        trajectory, dt, describe, energy, lagrangian = _run_model(args, z0)
    d = z0.shape[1] // 2
    # the k-th saved state is the state after k * save_every steps
    t = np.arange(trajectory.shape[1]) * dt * args.save_every
    print(describe)
    print(f"method {args.method or 'default'}, dt = {dt:g}, {args.steps} steps, {z0.shape[0]} initial state(s)"
          + (f", every {args.save_every}-th state kept" if args.save_every > 1 else ""))
    if energy is not None:
        with np.errstate(all="ignore"):
            values = np.asarray(energy(trajectory.reshape(-1, 2 * d)), dtype=float).reshape(trajectory.shape[:2])
            scale = np.maximum(np.abs(values[:, :1]), np.finfo(float).tiny)
            rel_error = np.abs(values - values[:, :1]) / scale
        print(f"max relative energy error: {np.nanmax(rel_error):.3e}")
    final = trajectory[:, -1]
    for i, z in enumerate(final[:5]):
        print(f"z{i}(T = {t[-1]:g}) = [{', '.join(f'{v:.10g}' for v in z)}]")
    if args.out:
        from hamid.io import save_data, validate_data

        data = validate_data(trajectory[..., :d], trajectory[..., d:], t=t)
        save_data(args.out, data)
        note = " (second half of each state is qdot: Lagrangian model)" if lagrangian else ""
        print(f"wrote {args.out}{note}", file=sys.stderr)
    return 0


def _run_expression(args, z0):
    import numpy as np
    import sympy as sp

    from hamid.cli import CLIError
    from hamid.integrators import integrate
    from hamid.symbolic import compile_exprs, parse_expression, state_symbols

    if args.dt is None:
        raise CLIError("--dt is required with --hamiltonian")
    method = args.method or "leapfrog"
    args.method = method
    d = z0.shape[1] // 2
    qs, ps = state_symbols(d)
    H = parse_expression(args.hamiltonian, qs + ps)
    if not H.free_symbols:
        raise CLIError(f"--hamiltonian {args.hamiltonian!r} is constant: nothing moves")
    trajectory = integrate(H, z0, dt=args.dt, n_steps=args.steps, method=method, backend=args.backend,
                           save_every=args.save_every)
    if args.backend == "torch":
        trajectory = trajectory.detach().cpu().numpy()
    energy = compile_exprs([H], qs + ps)

    def H_values(z):
        return energy(z)[:, 0]

    describe = f"H = {H}\nLaTeX: {sp.latex(H)}"
    return np.asarray(trajectory), float(args.dt), describe, H_values, False


def _run_model(args, z0):
    import numpy as np

    from hamid.cli import CLIError

    if args.backend != "numpy":
        raise CLIError("--backend applies to --hamiltonian only")
    model = load_any_model(args.model)
    width = getattr(model, "n_features_in_", z0.shape[1])
    if z0.shape[1] != width:
        raise CLIError(f"--z0: the model works on states of {width} entries, got {z0.shape[1]}")
    is_map = not hasattr(model, "vector_field")
    dt = args.dt
    if dt is None:
        if not hasattr(model, "dt_"):
            raise CLIError(f"--dt is required for a {type(model).__name__}")
        dt = float(model.dt_)
    if is_map and not np.isclose(dt, float(model.dt_), rtol=1e-9, atol=0):
        raise CLIError(f"{type(model).__name__} learned one step of dt = {model.dt_:g}; --dt must be that step "
                       f"(got {dt:g})")
    kwargs = {} if args.method is None else {"method": args.method}
    trajectory = model.simulate(z0, dt, args.steps, save_every=args.save_every, **kwargs)
    trajectory = np.asarray(trajectory, dtype=float)
    if trajectory.ndim == 2:
        trajectory = trajectory[None]
    energy = getattr(model, "energy", None) if not is_map else None
    lagrangian = type(model).__name__ == "LNN"
    H = getattr(model, "hamiltonian_", None)
    describe = f"{type(model).__name__} from {args.model}" + (f"\nH = {H}" if H is not None else "")
    if energy is not None:
        describe += "\n(energy error measured with the model's own conserved quantity)"
    return trajectory, float(dt), describe, energy, lagrangian
