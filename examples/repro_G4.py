"""G4: two-body problem of Greydanus et al. 2019, MLP baseline vs HNN (reduced size, stated below).

Recipe (all constants here): two unit masses, g = 1; z = (x1, y1, x2, y2, px1, py1, px2, py2),
H = (|p1|² + |p2|²)/2 − 1/|r1 − r2|. Orbits: body 1 at distance r ~ U[0.5, 1.5] from the origin at a uniform
angle, body 2 opposite; circular-orbit speeds 1/(2√r) perpendicular to the radius (opposite directions), both
scaled by one factor (1 + 0.05 ξ), ξ ~ N(0, 1) per orbit; 50 points on t ∈ [0, 20]; exact derivative targets,
no noise. REDUCED: 400 orbits (published: 1000), 50/50 split by orbit. Networks 200-200 tanh, orthogonal init;
Adam lr 1e-3, no weight decay, minibatches of 200 states, 5000 steps. Test MSE: derivative MSE on the test
orbits. Energy MSE: 15 test orbits rolled out from their first state with RK4 dt = 0.01 to t = 20 (every 10th
state kept), mean of (H(model) − H(truth))² with the TRUE H. One seed.
Published (Greydanus 2019, Table 1): test MSE MLP 2.96e-5, HNN 2.82e-6; energy MSE MLP 6.33e-2, HNN 3.88e-5.

    OMP_NUM_THREADS=1 python examples/repro_G4.py --out examples/output [--quick]

``--quick``: QUICK below (smoke run, seconds; numbers not meaningful); the settings printed are those it ran.
"""
import numpy as np

from _repro_common import (parse_args, print_settings, pyplot, rollout, savefig, settings_line, solve, timed_fit,
                           verdict_line, write_table)

N_ORBITS, T = 400, np.linspace(0, 20, 50)
R_RANGE, ORBIT_NOISE = (0.5, 1.5), 0.05
HIDDEN, LR, WD, STEPS, BATCH = (200, 200), 1e-3, 0.0, 5000, 200
N_ROLL, T_END, DT_ROLL, SAVE_EVERY = 15, 20.0, 0.01, 10
PUBLISHED = {"MLP": (2.96e-5, 6.33e-2), "HNN": (2.82e-6, 3.88e-5)}
QUICK = dict(n_orbits=20, steps=20, hidden=(16, 16))


def field(z):
    r = z[:, 0:2] - z[:, 2:4]
    f = -r / np.linalg.norm(r, axis=1, keepdims=True) ** 3     # force on body 1
    return np.concatenate([z[:, 4:8], f, -f], axis=1)


def energy(z):
    return 0.5 * (z[:, 4:] ** 2).sum(1) - 1 / np.linalg.norm(z[:, 0:2] - z[:, 2:4], axis=1)


def initial_states(n, rng):
    r = rng.uniform(*R_RANGE, n)
    a = rng.uniform(0, 2 * np.pi, n)
    pos = np.stack([r * np.cos(a), r * np.sin(a)], 1)
    speed = 1 / (2 * np.sqrt(r)) * (1 + ORBIT_NOISE * rng.standard_normal(n))
    vel = np.stack([-np.sin(a), np.cos(a)], 1) * speed[:, None]
    return np.concatenate([pos, -pos, vel, -vel], axis=1)


def main():
    args, out = parse_args(__doc__.splitlines()[0])
    from hamid.models.neural import HNN, MLPField

    c = dict(n_orbits=N_ORBITS, steps=STEPS, hidden=HIDDEN)
    if args.quick:
        c.update(QUICK)
    n_orbits, steps, hidden = c["n_orbits"], c["steps"], c["hidden"]
    settings = dict(n_orbits=n_orbits, points=len(T), t_end_data=T[-1], split="50/50", hidden=hidden, lr=LR,
                    weight_decay=WD, steps=steps, batch=BATCH,
                    n_rollouts=min(N_ROLL, n_orbits - n_orbits // 2), rollout=f"RK4 dt={DT_ROLL} to {T_END}",
                    seed=args.seed)
    title = f"G4 two-body (reduced: {n_orbits} orbits, {steps} minibatch steps, hidden {hidden})"
    print_settings(title, settings, args.quick)
    rng = np.random.default_rng(args.seed)
    z = solve(field, initial_states(n_orbits, rng), T)
    dz = field(z.reshape(-1, 8)).reshape(z.shape)
    n_tr = n_orbits // 2
    tr, te = slice(0, n_tr), slice(n_tr, None)
    z0 = z[n_tr:n_tr + N_ROLL, 0]
    t_roll = np.arange(0, int(round(T_END / DT_ROLL)) + 1, SAVE_EVERY) * DT_ROLL
    truth = solve(field, z0, t_roll)
    e_true = energy(truth.reshape(-1, 8)).reshape(truth.shape[:2])
    rows, curves = [], {}
    for label, cls in (("MLP", MLPField), ("HNN", HNN)):
        model = cls(hidden=hidden, lr=LR, weight_decay=WD, max_steps=steps, batch_size=BATCH, seed=args.seed,
                    lr_schedule="constant", validation_fraction=0.0)
        fit_s = timed_fit(model, z[tr, :, :4], z[tr, :, 4:], dq=dz[tr, :, :4], dp=dz[tr, :, 4:])
        times, traj = rollout(model, z0, T_END, DT_ROLL, SAVE_EVERY)
        e = energy(traj.reshape(-1, 8)).reshape(traj.shape[:2])
        curves[label] = (times, traj, e)
        rows.append({"model": label, "published_test_mse": PUBLISHED[label][0],
                     "test_mse": float(np.mean((model.vector_field(z[te].reshape(-1, 8)) - dz[te].reshape(-1, 8))
                                               ** 2)),
                     "published_energy_mse": PUBLISHED[label][1],
                     "energy_mse": float(np.mean((e - e_true) ** 2)),
                     "rollout_mse": float(np.mean((traj - truth) ** 2)), "fit_s": fit_s})
    md = write_table(out, "G4_summary", rows, ["model", "published_test_mse", "test_mse", "published_energy_mse",
                                               "energy_mse", "rollout_mse", "fit_s"],
                     title=title + (" [--quick smoke run]" if args.quick else ""),
                     notes=[settings_line(settings), verdict_line(
                         "ordering HNN < MLP on test MSE and on energy MSE",
                         rows[1]["test_mse"] < rows[0]["test_mse"] and rows[1]["energy_mse"] < rows[0]["energy_mse"])])
    print(md)
    plt = pyplot()
    fig, ax = plt.subplots(1, 2, figsize=(10, 4))
    ax[0].plot(truth[0, :, 0], truth[0, :, 1], "k-", lw=2, label="truth body 1")
    for label, style in (("MLP", "r--"), ("HNN", "b-")):
        times, traj, e = curves[label]
        ax[0].plot(traj[0, :, 0], traj[0, :, 1], style, lw=1, label=label)
        ax[1].plot(times, e.mean(0), style, label=label)
    ax[1].plot(t_roll, e_true.mean(0), "k-", lw=2, label="truth")
    ax[0].set(xlabel="x", ylabel="y", title="test orbit 0", aspect="equal")
    ax[1].set(xlabel="t", ylabel="mean true energy", title="energy along rollouts")
    ax[0].legend()
    ax[1].legend()
    savefig(fig, out, "G4")
    plt.close(fig)


if __name__ == "__main__":
    main()
