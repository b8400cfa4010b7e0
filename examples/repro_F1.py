"""F1: damped pendulum of seed 004 (HNN + friction network): MLP baseline, HNN, HNN + friction.

What seed 004 states (quoted constants; everything else below is marked as OUR choice):
- damped pendulum dp/dt + λ1 p + λ2 sin q = 0, i.e. dp/dt = −∂H/∂q − friction; no values of λ1, λ2 given;
- built on "the existing HNN code" (Greydanus et al. 2019), whose pendulum is H = 3(1 − cos q) + p²
  (dq/dt = 2p, dp/dt = −3 sin q), hence λ2 = 3;
- HNN + friction loss, eq. (2): ‖∂H/∂q + F(q, p) + ṗ‖² + ‖∂H/∂p − q̇‖² (F a separate network), as in the
  damped-pendulum listing; the trajectory loss L_total = L_HNN + α L_traj + λ‖W‖² with the one-step RK4 loss
  (next state predicted from the observed state, loss at each trajectory's end set to 0), α = 100 "best" on the
  spring and pendulum. The slides do not say whether the damped-pendulum model used α > 0, so both readings are
  run: α = 0 (eq. (2) only) and α = 100 (one-step loss);
- metric: average energy MSE over test rollouts, with its error (we report std and standard error).
Published: energy MSE baseline NN 4.156e-2 (± 6.90e-3), HNN + friction 2.951e-3 (± 0.22e-3),
HNN 1.238 (± 0.327).

Recipe (all constants here):
- λ1 = GAMMA = 0.1 (OUR choice: the seed gives no value): dq/dt = 2p, dp/dt = −3 sin q − 0.1 p.
- Data as in the Greydanus pendulum task the students extended (same as examples/repro_G2.py): 50 trajectories of
  45 points on t ∈ [0, 3], initial radius r ~ U[1.3, 2.3] in (q, p), uniform angle; Gaussian noise σ = 0.1 on q
  and p; derivative targets from the true (damped) field at the clean states; 50/50 split by trajectory. The
  one-step loss uses the noisy states, as the seed's code does (x[1:] vs next_pts[:-1]), step 3/44.
- All networks 200-200 tanh, orthogonal init; Adam lr 1e-3, weight decay 1e-4 (λ‖W‖²), full batch, 2000 steps
  (Greydanus defaults); the friction network F(q, p) has the same widths.
- Energy MSE: 15 fresh initial states (same radius law), models and truth rolled out with RK4 dt = 0.01 to
  t = 20 (every 10th state kept; truth by DOP853), per rollout the mean over time of (H(model) − H(truth))² with
  the TRUE H; reported: mean over the 15 rollouts, their std and standard error. One data/model seed per
  run (--seed; docs/neural.md reports seeds 0, 1, 2).
- Diagnostics: ∂F/∂p averaged over the test states (the identifiable part of the friction: ≈ γ = 0.1 when learned
  right), and the one-step RK4 loss of the TRUE field on the noisy training states (the floor of L_traj).
- --recipe reference|converged|both (default reference): "reference" is the Greydanus recipe above; "converged"
  is the recipe adopted on T1 (examples/repro_T1.py), applied unchanged to EVERY model here and fixed before any
  F1 result was seen: Adam lr 3e-3, cosine decay to 1 %, no weight decay, 5000 full-batch steps. --models picks
  a subset of mlp, hnn, friction0, friction100, dissipative0, constant0 (default all; the α = 100 fit alone is
  ~6 min at 2000 steps); --skip-alpha100 is all but friction100. A model's result does
  not depend on which others run.
- Structured friction (OUR additions, not in seed 004; hamid's FrictionHNN friction_form): "dissipative" F =
  D_φ(q, p) ∂H_θ/∂p with D_φ >= 0 a network, and "constant" F = D ∂H_θ/∂p with one learned D >= 0
  (port-Hamiltonian constant dissipation). The seed's model is friction_form="free".
- --noise S replaces σ = 0.1 (the seed gives no noise level; the trajectories and test states are the same for
  every S, only the noise amplitude changes). docs/neural.md reports σ = 0.1 and σ = 0.01.
- Diagnostics also include rms F(q, 0) on the test states: force that does not vanish at rest, i.e.
  conservative force taken over by the friction network.

    OMP_NUM_THREADS=1 .venv/bin/python examples/repro_F1.py --out examples/output
    OMP_NUM_THREADS=1 .venv/bin/python examples/repro_F1.py --recipe converged --skip-alpha100 \\
        --out examples/output/converged_seed0
    OMP_NUM_THREADS=1 .venv/bin/python examples/repro_F1.py --noise 0.01 --skip-alpha100 \\
        --out examples/output/F1_noise0.01
"""
import argparse
import sys

import numpy as np

from _repro_common import greydanus_data, parse_args, pyplot, rollout, savefig, solve, timed_fit, write_table

GAMMA = 0.1
N_TRAJ, T, RADIUS, NOISE = 50, np.linspace(0, 3, 45), (1.3, 2.3), 0.1
HIDDEN, ALPHA = (200, 200), 100.0
# the two recipes, identical to examples/repro_T1.py; the same recipe is applied to every model
RECIPES = {"reference": dict(lr=1e-3, lr_schedule="constant", weight_decay=1e-4, max_steps=2000,
                             validation_fraction=0.0),
           "converged": dict(lr=3e-3, lr_schedule="cosine", weight_decay=0.0, max_steps=5000,
                             validation_fraction=0.0)}
N_ROLL, T_END, DT_ROLL, SAVE_EVERY = 15, 20.0, 0.01, 10
MODEL_KEYS = ("mlp", "hnn", "friction0", "friction100", "dissipative0", "constant0")
PUBLISHED = {"MLP": (4.156e-2, 6.90e-3), "HNN": (1.238, 3.27e-1), "HNN + friction (alpha = 0)": (2.951e-3, 2.2e-4),
             f"HNN + friction (alpha = {ALPHA:g})": (2.951e-3, 2.2e-4),
             "HNN + dissipative friction (alpha = 0)": (2.951e-3, 2.2e-4),
             "HNN + constant damping (alpha = 0)": (2.951e-3, 2.2e-4)}


def field(z):
    return np.stack([2 * z[:, 1], -3 * np.sin(z[:, 0]) - GAMMA * z[:, 1]], axis=1)


def energy(z):
    return 3 * (1 - np.cos(z[:, 0])) + z[:, 1] ** 2


def rk4_step(f, z, h):
    k1 = f(z)
    k2 = f(z + h / 2 * k1)
    k3 = f(z + h / 2 * k2)
    k4 = f(z + h * k3)
    return z + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)


def _own_args():
    """Parse this script's own options and remove them from sys.argv before the shared parser runs."""
    own = argparse.ArgumentParser(add_help=False)
    own.add_argument("--recipe", choices=("reference", "converged", "both"), default="reference")
    own.add_argument("--noise", type=float, default=NOISE,
                     help=f"std of the Gaussian noise on the training states (default {NOISE}, Greydanus's)")
    own.add_argument("--skip-alpha100", action="store_true", help="all models but friction100")
    own.add_argument("--models", default=",".join(MODEL_KEYS),
                     help="comma-separated subset of " + ", ".join(MODEL_KEYS))
    mine, rest = own.parse_known_args()
    mine.models = {m.strip() for m in mine.models.split(",") if m.strip()}
    unknown = mine.models - set(MODEL_KEYS)
    if unknown:
        raise ValueError(f"unknown model names in --models: {sorted(unknown)}")
    if mine.skip_alpha100:
        mine.models.discard("friction100")
    sys.argv = sys.argv[:1] + rest
    return mine


def main():
    mine = _own_args()
    args, out = parse_args(__doc__.splitlines()[0] + " (extra options: --recipe reference|converged|both, "
                           "--models mlp,hnn,friction0,friction100, --skip-alpha100)")
    from hamid.models.neural import HNN, FrictionHNN, MLPField

    recipes = ("reference", "converged") if mine.recipe == "both" else (mine.recipe,)
    hidden = (16, 16) if args.quick else HIDDEN
    rng = np.random.default_rng(args.seed)
    noisy, clean, dz = greydanus_data(field, N_TRAJ, T, RADIUS, mine.noise, rng)
    n_tr = N_TRAJ // 2
    q, p, dq, dp = noisy[:n_tr, :, :1], noisy[:n_tr, :, 1:], dz[:n_tr, :, :1], dz[:n_tr, :, 1:]
    r = rng.uniform(*RADIUS, N_ROLL)
    ang = rng.uniform(0, 2 * np.pi, N_ROLL)
    z0 = np.stack([r * np.cos(ang), r * np.sin(ang)], axis=1)
    n_steps = int(round(T_END / DT_ROLL))
    t_roll = np.arange(0, n_steps + 1, SAVE_EVERY) * DT_ROLL
    truth = solve(field, z0, t_roll)
    e_true = energy(truth.reshape(-1, 2)).reshape(truth.shape[:2])
    # floor of the one-step loss (seed 004's normalization): the true field stepped from noisy states
    h = T[1] - T[0]
    pred = rk4_step(field, noisy[:n_tr, :-1].reshape(-1, 2), h)
    traj_floor = float(np.sum((pred - noisy[:n_tr, 1:].reshape(-1, 2)) ** 2) / noisy[:n_tr].size)
    models = {}
    for recipe in recipes:
        kw = dict(RECIPES[recipe])
        if args.quick:
            kw["max_steps"] = 20
        common = dict(hidden=hidden, seed=args.seed, **kw)
        if "mlp" in mine.models:
            models[(recipe, "MLP")] = MLPField(**common)
        if "hnn" in mine.models:
            models[(recipe, "HNN")] = HNN(**common)
        if "friction0" in mine.models:
            models[(recipe, "HNN + friction (alpha = 0)")] = FrictionHNN(alpha=0.0, rollout_steps=1, **common)
        if "friction100" in mine.models:
            models[(recipe, f"HNN + friction (alpha = {ALPHA:g})")] = FrictionHNN(alpha=ALPHA, rollout_steps=1,
                                                                                **common)
        if "dissipative0" in mine.models:
            models[(recipe, "HNN + dissipative friction (alpha = 0)")] = FrictionHNN(
                alpha=0.0, rollout_steps=1, friction_form="dissipative", **common)
        if "constant0" in mine.models:
            models[(recipe, "HNN + constant damping (alpha = 0)")] = FrictionHNN(
                alpha=0.0, rollout_steps=1, friction_form="constant", **common)
    rows, curves = [], {}
    te = slice(n_tr, None)
    z_te = clean[te].reshape(-1, 2)
    for (recipe, label), model in models.items():
        kw = dict(dq=dq, dp=dp)
        if isinstance(model, FrictionHNN):
            kw["t"] = T
        fit_s = timed_fit(model, q, p, **kw)
        times, traj = rollout(model, z0, T_END, DT_ROLL, SAVE_EVERY)
        e = energy(traj.reshape(-1, 2)).reshape(traj.shape[:2])
        per_roll = np.mean((e - e_true) ** 2, axis=1)
        curves[(recipe, label)] = (times, e)
        row = {"recipe": recipe, "model": label, "published_energy_mse": PUBLISHED[label][0],
               "published_error": PUBLISHED[label][1],
               "energy_mse": float(per_roll.mean()), "energy_mse_std": float(per_roll.std()),
               "energy_mse_stderr": float(per_roll.std() / np.sqrt(N_ROLL)),
               "energy_mse_median": float(np.median(per_roll)),
               "rollout_mse": float(np.mean((traj - truth) ** 2)),
               "test_mse_clean": float(np.mean((model.vector_field(z_te) - dz[te].reshape(-1, 2)) ** 2)),
               "final_loss": float(model.history_.train_loss[-1]),
               "fit_s": fit_s, "n_params": model.n_parameters_}
        if isinstance(model, FrictionHNN):
            eps = 1e-6
            dfdp = (model.friction(z_te + [0, eps]) - model.friction(z_te - [0, eps]))[:, 0] / (2 * eps)
            row["dF_dp_mean"] = float(dfdp.mean())
            # F at p = 0 is force that does not depend on motion: conservative force absorbed by the friction net
            row["F_at_p0_rms"] = float(np.sqrt(np.mean(model.friction(z_te * [1, 0])[:, 0] ** 2)))
        rows.append(row)
        print(recipe, label, {k: v for k, v in row.items() if k not in ("recipe", "model")}, flush=True)
    cols = ["recipe", "model", "published_energy_mse", "published_error", "energy_mse", "energy_mse_std",
            "energy_mse_stderr", "energy_mse_median", "rollout_mse", "test_mse_clean", "dF_dp_mean", "F_at_p0_rms",
            "final_loss", "fit_s", "n_params"]
    md = write_table(out, "F1_summary", rows, cols, title="F1 damped pendulum (seed 004)", notes=[
        "recipes: " + "; ".join(f"{r}: {RECIPES[r]}" for r in recipes) + " (same recipe for every model)",
        f"seed {args.seed}; gamma = {GAMMA}; noise sigma = {mine.noise}; {N_ROLL} rollouts to t = {T_END}, RK4 dt = "
        f"{DT_ROLL}; energy MSE per rollout, then mean / std / standard error over rollouts",
        f"one-step RK4 loss of the TRUE field on the noisy training states (floor of L_traj): {traj_floor:.3g}; "
        f"times alpha = {ALPHA:g}: {ALPHA * traj_floor:.3g}",
        f"true dF/dp = gamma = {GAMMA}"])
    print(md)
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(t_roll, e_true.mean(0), "k-", lw=2, label="truth")
    colors = {"MLP": "r", "HNN": "g", "HNN + friction (alpha = 0)": "c", f"HNN + friction (alpha = {ALPHA:g})": "b",
              "HNN + dissipative friction (alpha = 0)": "m", "HNN + constant damping (alpha = 0)": "y"}
    for (recipe, label), (times, e) in curves.items():
        style = colors.get(label, "b") + ("--" if recipe == "reference" else "-")
        ax.plot(times, e.mean(0), style, label=f"{label} [{recipe}]" if len(recipes) > 1 else label)
    ax.set(xlabel="t", ylabel="mean true energy over rollouts", title="F1 damped pendulum")
    ax.legend()
    savefig(fig, out, "F1")
    plt.close(fig)


if __name__ == "__main__":
    main()
