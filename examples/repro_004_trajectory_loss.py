"""Seed 004: HNN trained with the one-step and the full-trajectory loss beside the derivative loss (spring, pendulum).

Claim checked (seed 004, "Incorporating trajectory-based losses"): adding α L_traj (α = 100) to the HNN loss
improves the predicted trajectories; the one-step loss (RK4 from every observed state to the next) is what the
authors kept, the full-trajectory loss (RK4 rollout from the first state, errors propagating) was "not pursued
owing to the high compute power requirements". The seed gives figures, no numbers: this script measures the
ordering of rollout and energy errors and the training cost of the three losses.

Recipe (every constant below, printed): the G1 spring (H = q² + p²) and G2 pendulum (H = 3(1 − cos q) + p²) data
of Greydanus et al. (50 trajectories on t ∈ [0, 3] with 30 / 45 points, radius U[0.1, 1] / U[1.3, 2.3], noise
σ = 0.1 on q and p, clean derivative targets, 50/50 split by trajectory; see repro_G1.py / repro_G2.py).
Models: hamid.models.neural.trajectory_loss.TrajectoryHNN with trajectory_loss "none" (plain HNN), "one_step"
and "full", α = ALPHA, 200-200 tanh, Adam lr 1e-3, weight decay 1e-4, full batch, STEPS steps. Metrics (true H):
energy MSE and state MSE along 15 fresh rollouts (RK4 dt = 0.01 to t = 20, every 10th state), derivative MSE on
clean test states, fit seconds.

Run: OMP_NUM_THREADS=1 python examples/repro_004_trajectory_loss.py [--out examples/output] [--quick] [--seed S]
``--quick`` (about a minute of one core; numbers not meaningful) uses QUICK below; the printed settings are
those it ran; ``--set KEY=VALUE`` overrides one setting (e.g. ``--set steps=600 --set hidden='(64, 64)'``).
The verdict is printed; the exit status is 0 whenever the run completed. Cost: the full-trajectory loss is
sequential over the 29 / 44 RK4 steps of a trajectory, about 20x the one-step loss per optimization step.
"""
import numpy as np

import repro_G1
import repro_G2
from _repro_common import (greydanus_data, parse_args, print_settings, rollout, solve, timed_fit,
                           verdict_line, run_settings, write_table)

ALPHA = 100.0
LOSSES = ("none", "one_step", "full")
SETTINGS = dict(n_traj=50, hidden=(200, 200), lr=1e-3, weight_decay=1e-4, steps=2000, alpha=ALPHA, n_seeds=1,
                n_rollouts=15, rollout_t_end=20.0, rollout_dt=0.01, save_every=10)
QUICK = dict(n_traj=8, hidden=(32, 32), steps=60, n_rollouts=5, rollout_t_end=5.0)
SYSTEMS = {
    "spring": (repro_G1.field, repro_G1.energy, repro_G1.CFG),
    "pendulum": (repro_G2.field, repro_G2.energy, repro_G2.CFG),
}


def run_system(name, field, energy, data_cfg, c, seed):
    from hamid.models.neural.trajectory_loss import TrajectoryHNN

    rng = np.random.default_rng(seed)
    t = data_cfg["t"]
    noisy, clean, dz = greydanus_data(field, c["n_traj"], t, data_cfg["radius"], data_cfg["noise"], rng)
    n_tr = c["n_traj"] // 2
    tr, te = slice(0, n_tr), slice(n_tr, None)
    r = rng.uniform(*data_cfg["radius"], c["n_rollouts"])
    ang = rng.uniform(0, 2 * np.pi, c["n_rollouts"])
    z0 = np.stack([r * np.cos(ang), r * np.sin(ang)], axis=1)
    n_steps = int(round(c["rollout_t_end"] / c["rollout_dt"]))
    truth = solve(field, z0, np.arange(0, n_steps + 1, c["save_every"]) * c["rollout_dt"])
    e_true = energy(truth.reshape(-1, 2)).reshape(truth.shape[:2])
    rows = []
    for kind in LOSSES:
        model = TrajectoryHNN(trajectory_loss=kind, alpha=c["alpha"], hidden=c["hidden"], lr=c["lr"],
                              weight_decay=c["weight_decay"], max_steps=c["steps"], batch_size=None, seed=seed)
        fit_s = timed_fit(model, noisy[tr, :, :1], noisy[tr, :, 1:], t=t, dq=dz[tr, :, :1], dp=dz[tr, :, 1:])
        _, traj = rollout(model, z0, c["rollout_t_end"], c["rollout_dt"], c["save_every"], method="rk4")
        e = energy(traj.reshape(-1, 2)).reshape(traj.shape[:2])
        zt = clean[te].reshape(-1, 2)
        rows.append({"system": name, "loss": kind, "seed": seed,
                     "energy_mse": float(np.mean((e - e_true) ** 2)),
                     "rollout_mse": float(np.mean((traj - truth) ** 2)),
                     "test_field_mse_clean": float(np.mean((model.vector_field(zt) - dz[te].reshape(-1, 2)) ** 2)),
                     "fit_s": fit_s, "s_per_1000_steps": 1000 * fit_s / max(c["steps"], 1)})
        print(f"{name:8s} {kind:8s} energy MSE {rows[-1]['energy_mse']:.3g}  rollout MSE "
              f"{rows[-1]['rollout_mse']:.3g}  fit {fit_s:.1f} s", flush=True)
    return rows


def main():
    args, out = parse_args(__doc__.splitlines()[0])
    c = run_settings(args, SETTINGS, QUICK)
    line = print_settings("Seed 004: one-step vs full-trajectory loss (TrajectoryHNN)", c, args.quick)
    rows = []
    for name, (field, energy, data_cfg) in SYSTEMS.items():
        for seed in range(args.seed, args.seed + c["n_seeds"]):
            rows += run_system(name, field, energy, data_cfg, c, seed)
    summary = []
    for name in SYSTEMS:
        for kind in LOSSES:
            sel = [r for r in rows if r["system"] == name and r["loss"] == kind]
            summary.append({"system": name, "loss": kind,
                            **{k: float(np.mean([r[k] for r in sel])) for k in
                               ("energy_mse", "rollout_mse", "test_field_mse_clean", "fit_s", "s_per_1000_steps")}})
    verdicts = []
    for name in SYSTEMS:
        by = {r["loss"]: r for r in summary if r["system"] == name}
        verdicts.append(verdict_line(f"{name}: one-step loss beats plain HNN on rollout MSE",
                                     by["one_step"]["rollout_mse"] < by["none"]["rollout_mse"]))
        verdicts.append(verdict_line(f"{name}: full-trajectory loss beats plain HNN on rollout MSE",
                                     by["full"]["rollout_mse"] < by["none"]["rollout_mse"]))
        verdicts.append(verdict_line(f"{name}: full-trajectory loss costs more per step than one-step",
                                     by["full"]["s_per_1000_steps"] > by["one_step"]["s_per_1000_steps"]))
    md = write_table(out, "seed004_trajectory_loss", summary,
                     ["system", "loss", "energy_mse", "rollout_mse", "test_field_mse_clean", "fit_s",
                      "s_per_1000_steps"],
                     title="Seed 004 trajectory losses" + (" [--quick smoke run]" if args.quick else ""),
                     notes=[line, f"mean over seeds {args.seed}..{args.seed + c['n_seeds'] - 1}"] + verdicts)
    write_table(out, "seed004_trajectory_loss_per_seed", rows,
                ["system", "loss", "seed", "energy_mse", "rollout_mse", "test_field_mse_clean", "fit_s"])
    print(md)


if __name__ == "__main__":
    main()
