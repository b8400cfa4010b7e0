"""F1: damped pendulum of seed 004: MLP baseline, HNN and HNN + friction (α-weighted one-step RK4 loss).

Recipe (all constants here): H = 3(1 − cos q) + p², damped dynamics dq/dt = 2p, dp/dt = −3 sin q − γ p with
γ = 0.1. 50 trajectories of 30 points on t ∈ [0, 3], initial radius r ~ U[1.3, 2.3] in (q, p), uniform angle,
Gaussian noise σ = 0.05 on q and p, clean derivative targets; 50/50 split by trajectory. All networks 100-100
(REDUCED from 200-200 to fit a few CPU minutes) tanh, orthogonal init; Adam lr 1e-3, weight decay 1e-4, full
batch, 2000 steps. HNN + friction: a second network F(q, p) of the same widths, loss L_HNN + α L_traj with
α = 100 (seed 004's best) and the one-step RK4 trajectory loss (k = 1, dt = 3/29). Energy MSE: 15 fresh initial
states (same radius law), RK4 dt = 0.01 to t = 10 (every 10th state kept), mean over rollouts and times of
(H(model state) − H(true state))² with the TRUE H. One seed.
Published (seed 004): energy MSE baseline 4.2e-2, HNN 1.24, HNN + friction 2.95e-3.

    OMP_NUM_THREADS=1 python examples/repro_F1.py --out examples/output
"""
import numpy as np

from _repro_common import (greydanus_data, parse_args, pyplot, rollout, savefig, solve, timed_fit,
                           write_table)

GAMMA = 0.1
N_TRAJ, T, RADIUS, NOISE = 50, np.linspace(0, 3, 30), (1.3, 2.3), 0.05
HIDDEN, LR, WD, STEPS, ALPHA = (100, 100), 1e-3, 1e-4, 2000, 100.0
N_ROLL, T_END, DT_ROLL, SAVE_EVERY = 15, 10.0, 0.01, 10
PUBLISHED = {"MLP": 4.2e-2, "HNN": 1.24, "HNN + friction": 2.95e-3}


def field(z):
    return np.stack([2 * z[:, 1], -3 * np.sin(z[:, 0]) - GAMMA * z[:, 1]], axis=1)


def energy(z):
    return 3 * (1 - np.cos(z[:, 0])) + z[:, 1] ** 2


def main():
    args, out = parse_args(__doc__.splitlines()[0])
    from hamid.models.neural import HNN, FrictionHNN, MLPField

    steps = 20 if args.quick else STEPS
    hidden = (16, 16) if args.quick else HIDDEN
    rng = np.random.default_rng(args.seed)
    noisy, clean, dz = greydanus_data(field, N_TRAJ, T, RADIUS, NOISE, rng)
    n_tr = N_TRAJ // 2
    q, p, dq, dp = noisy[:n_tr, :, :1], noisy[:n_tr, :, 1:], dz[:n_tr, :, :1], dz[:n_tr, :, 1:]
    r = rng.uniform(*RADIUS, N_ROLL)
    ang = rng.uniform(0, 2 * np.pi, N_ROLL)
    z0 = np.stack([r * np.cos(ang), r * np.sin(ang)], axis=1)
    n_steps = int(round(T_END / DT_ROLL))
    t_roll = np.arange(0, n_steps + 1, SAVE_EVERY) * DT_ROLL
    truth = solve(field, z0, t_roll)
    e_true = energy(truth.reshape(-1, 2)).reshape(truth.shape[:2])
    common = dict(hidden=hidden, lr=LR, weight_decay=WD, max_steps=steps, seed=args.seed)
    models = {"MLP": MLPField(**common), "HNN": HNN(**common),
              "HNN + friction": FrictionHNN(alpha=ALPHA, rollout_steps=1, **common)}
    rows, curves = [], {}
    te = slice(n_tr, None)
    for label, model in models.items():
        kw = dict(dq=dq, dp=dp)
        if isinstance(model, FrictionHNN):
            kw["t"] = T
        fit_s = timed_fit(model, q, p, **kw)
        times, traj = rollout(model, z0, T_END, DT_ROLL, SAVE_EVERY)
        e = energy(traj.reshape(-1, 2)).reshape(traj.shape[:2])
        curves[label] = (times, e)
        rows.append({"model": label, "published_energy_mse": PUBLISHED[label],
                     "energy_mse": float(np.mean((e - e_true) ** 2)),
                     "rollout_mse": float(np.mean((traj - truth) ** 2)),
                     "test_mse_clean": float(np.mean((model.vector_field(clean[te].reshape(-1, 2))
                                                      - dz[te].reshape(-1, 2)) ** 2)),
                     "fit_s": fit_s, "n_params": model.n_parameters()})
    md = write_table(out, "F1_summary", rows, ["model", "published_energy_mse", "energy_mse", "rollout_mse",
                                               "test_mse_clean", "fit_s", "n_params"],
                     title="F1 damped pendulum", notes=[f"seed {args.seed}; gamma = {GAMMA}; alpha = {ALPHA}"])
    print(md)
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(t_roll, e_true.mean(0), "k-", lw=2, label="truth")
    for label, style in (("MLP", "r--"), ("HNN", "g-."), ("HNN + friction", "b-")):
        times, e = curves[label]
        ax.plot(times, e.mean(0), style, label=label)
    ax.set(xlabel="t", ylabel="mean true energy over rollouts", title="F1 damped pendulum")
    ax.legend()
    savefig(fig, out, "F1")
    plt.close(fig)


if __name__ == "__main__":
    main()
