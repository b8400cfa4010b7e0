"""V1: LocSympNet learns one trajectory of the free rigid body (seed 002, section 4.2.1).

Claim checked: the relative errors of both invariants, the energy H = ½ Σ y_i²/I_i and the Casimir
C = |y|², stay below 1% over t ∈ [0, 1000] when the trained LocSympNet is iterated from y0.

Recipe (every constant is below and printed): I = (2, 1, 2/3), y0 = (cos 1.1, 0, sin 1.1), τ = 0.1; exact
trajectory by DOP853 (rtol = atol = 1e-12; the paper used RK45 "to high precision"); training pairs on
t ∈ [0, 12] (120 pairs), validation on [12, 16] (40 pairs, reported only); LocSympNet with K = 2 sweeps,
m = 16, sigmoid, h = τ inside the modules (the paper's network); full-batch Adam at the paper's constant
learning rate LR = 1e-3 for STEPS = 20 000 steps, then LBFGS = 4000 L-BFGS iterations on the same loss (not in
the paper, which ran Adam for 200 000 epochs); prediction: 10 000 steps of the learned map from y0.
Structural checks printed with the result: det of the one-step Jacobian (must be 1), and that simulate()
iterates exactly the map whose one-step error is reported.

The paper's recipe is ``--steps 200000 --lbfgs 0`` (about 11 minutes of one core). Measured with it: max
relative errors 2.1% (H) and 1.95% (C), 1% first passed at t = 59.8: the claim narrowly fails (seeds 1 and 2:
873% / 749% and 63% / 68%, one-step MSE 2.2e-9 and 1.3e-9: they fail too). Along the seed-0 run
(same arithmetic, checkpoints every 20 000 steps) the maximum over [0, 1000] went 8.1%, 4.7%, 2.2%, 0.64%,
0.74%, 1.16%, 1.04%, 1.65%, 7.2% (a loss spike), 2.1%: constant-lr Adam oscillates around a one-step MSE of
1.3-2e-9 and the long-time invariant error follows it around the 1% line. An earlier version of this script used
lr 1e-2 decaying exponentially to 1e-4 over 60 000 steps: one-step MSE 7e-9 and errors ~60 (1% at t ≈ 71).
The model is not the cause (det = 1 to 4e-16, composition and Up/Low column indices as eqs. 26-31, h = τ, 120
training pairs at τ = 0.1, simulate() = the trained module applied repeatedly): one-step accuracy is. L-BFGS
brings the one-step MSE to 1e-11-2e-10 in a minute, and the invariant errors to 0.06-0.2% (seed 0 with 3000,
4000, 5000 iterations; seeds 1 and 2 with 4000); 2000 iterations gave 1.3% (fails).

Run: OMP_NUM_THREADS=1 python examples/repro_v1_rigid_body.py [--out examples/output] [--steps N] [--lbfgs N]
(about 2 minutes of one CPU core with the defaults)
"""
import argparse
import json
import time
from pathlib import Path

import numpy as np

from hamid.models.neural.locsympnet import LocSympNet
from hamid.systems import get_system

INERTIA = (2.0, 1.0, 2.0 / 3.0)
Y0 = (np.cos(1.1), 0.0, np.sin(1.1))
TAU = 0.1
T_TRAIN = 12.0
T_VAL = 16.0
T_END = 1000.0
N_SWEEPS = 2
WIDTH = 16
STEPS = 20_000
LBFGS = 4000
LR = 1e-3
SCHEDULE = "constant"
SEED = 0
PUBLISHED = "relative errors of both invariants < 1% on [0, 1000] (Fig. 4c-d; Adam, 200 000 epochs)"


def polish(model, y, n_iter):
    """L-BFGS on the one-step MSE of the fitted map's module (in place); y: (n_time, 3), one trajectory.

    The loss is divided by its value after Adam: torch's L-BFGS tolerances are absolute, and on the raw MSE
    (~1e-9) it stopped at the first iteration (measured).
    """
    import torch

    net = model.module_
    x, target = model._tensor(y[:-1]), model._tensor(y[1:])
    with torch.no_grad():
        scale = 1.0 / float(((net(x, model.dt_) - target) ** 2).mean())
    opt = torch.optim.LBFGS(net.parameters(), lr=1, max_iter=500, history_size=50, tolerance_grad=1e-14,
                            tolerance_change=1e-16, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = scale * ((net(x, model.dt_) - target) ** 2).mean()
        loss.backward()
        return loss

    for _ in range(max(n_iter // 500, 1)):
        opt.step(closure)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="examples/output")
    ap.add_argument("--steps", type=int, default=STEPS, help=f"Adam steps (default {STEPS})")
    ap.add_argument("--schedule", default=SCHEDULE, choices=("constant", "exponential", "cosine"),
                    help=f"learning-rate schedule (default {SCHEDULE!r}, the paper's; 'exponential' decays "
                         "LR to LR/100 over the run)")
    ap.add_argument("--seed", type=int, default=SEED, help=f"network initialization seed (default {SEED})")
    ap.add_argument("--tag", default="", help="suffix of the output file names")
    ap.add_argument("--lbfgs", type=int, default=LBFGS,
                    help="after Adam, this many L-BFGS iterations (strong Wolfe, history 50) on the same full-batch "
                         f"loss, in rounds of 500; not in the paper (default {LBFGS}; 0 with --steps 200000 is the "
                         "paper's recipe)")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    system = get_system("rigid_body", I1=INERTIA[0], I2=INERTIA[1], I3=INERTIA[2])
    n_val = int(round(T_VAL / TAU))
    data = system.generate(z0=np.array([Y0]), n_time=n_val + 1, dt=TAU, rtol=1e-12, atol=1e-12)
    y, t = data.z, data.t
    n_train = int(round(T_TRAIN / TAU))
    model = LocSympNet(n_sweeps=N_SWEEPS, width=WIDTH, activation="sigmoid", max_steps=args.steps, lr=LR,
                       lr_schedule=args.schedule, eval_every=1000, seed=args.seed,
                       validation_fraction=0.0)
    t0 = time.perf_counter()
    model.fit(y[:, :n_train + 1], t=t[:n_train + 1])
    adam_loss = model.history_.train_loss[-1]
    if args.lbfgs > 0:
        polish(model, y[0, :n_train + 1], args.lbfgs)
    fit_s = time.perf_counter() - t0
    val_pred = model.step_map(y[0, n_train:-1])
    val_mse = float(np.mean((val_pred - y[0, n_train + 1:]) ** 2))
    # structural checks on the fitted map: it is the map that simulate() iterates, and it preserves volume
    import torch

    train_mse = float(np.mean((model.step_map(y[0, :n_train]) - y[0, 1:n_train + 1]) ** 2))
    sim_pairs = model.simulate(y[0, :n_train], n_steps=1)[:, 1]
    same_map = bool(np.array_equal(sim_pairs, model.step_map(y[0, :n_train])))
    dets = [float(torch.linalg.det(torch.autograd.functional.jacobian(
        lambda v: model.step_map(v), torch.tensor(y[0, i])))) for i in range(0, n_train, 20)]
    det_err = float(max(abs(d - 1.0) for d in dets))

    n_steps = int(round(T_END / TAU))
    with np.errstate(over="ignore", invalid="ignore"):
        traj = model.simulate(np.array(Y0), n_steps=n_steps)
        I = np.array(INERTIA)
        energy = 0.5 * np.sum(traj**2 / I, axis=-1)
        casimir = np.sum(traj**2, axis=-1)
        rel_h = np.abs(energy / energy[0] - 1)
        rel_c = np.abs(casimir / casimir[0] - 1)
    rel_h = np.where(np.isfinite(rel_h), rel_h, np.inf)
    rel_c = np.where(np.isfinite(rel_c), rel_c, np.inf)
    times = TAU * np.arange(n_steps + 1)
    worst = np.maximum(rel_h, rel_c)
    first_bad = round(float(times[np.argmax(worst >= 0.01)]), 1) if np.any(worst >= 0.01) else None
    holds = bool(np.max(worst) < 0.01)
    result = {"max rel error H": float(np.max(rel_h)), "max rel error C": float(np.max(rel_c)),
              "first time either error >= 1%": first_bad, "train loss after Adam": adam_loss,
              "validation one-step MSE": val_mse,
              "training one-step MSE of the iterated map": train_mse, "simulate == step_map": same_map,
              "max |det J - 1| (6 training states)": det_err, "fit seconds": round(fit_s, 1), "claim holds": holds,
              "published": PUBLISHED}
    constants = dict(INERTIA=INERTIA, Y0=[float(v) for v in Y0], TAU=TAU, T_TRAIN=T_TRAIN, T_VAL=T_VAL, T_END=T_END,
                     N_SWEEPS=N_SWEEPS, WIDTH=WIDTH, STEPS=args.steps, LR=LR, SCHEDULE=args.schedule, SEED=args.seed,
                     LBFGS=args.lbfgs)
    lines = ["# V1 rigid body, LocSympNet, one trajectory (seed 002 §4.2.1)", "",
             "constants: " + ", ".join(f"{k}={v}" for k, v in constants.items()), "",
             "| quantity | measured | published |", "|---|---|---|",
             f"| max relative error of H on [0, {T_END:g}] | {result['max rel error H']:.3g} | < 1% |",
             f"| max relative error of C = |y|² on [0, {T_END:g}] | {result['max rel error C']:.3g} | < 1% |",
             f"| first time an error reaches 1% | {first_bad} | never |",
             f"| training one-step MSE after Adam | {adam_loss:.3g} | — |",
             f"| training one-step MSE of the final (iterated) map | {train_mse:.3g} | — |",
             f"| validation one-step MSE on [12, 16] | {val_mse:.3g} | — |",
             f"| max abs(det J − 1) of one step (6 states) | {det_err:.1e} | 0 (by construction) |",
             f"| simulate() iterates the fitted step_map | {same_map} | — |",
             f"| fit seconds | {result['fit seconds']} | — |", "",
             f"claim (both < 1% over [0, {T_END:g}]): {'HOLDS' if holds else 'FAILS'}"]
    (out / f"v1_rigid_body{args.tag}.md").write_text("\n".join(lines) + "\n")
    (out / f"v1_rigid_body{args.tag}.json").write_text(json.dumps({"constants": constants, "result": result}, indent=2))
    print("\n".join(lines))

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(1, 2, figsize=(10, 4))
    ax[0].semilogy(times, np.clip(rel_h, 1e-16, None), label="energy H")
    ax[0].semilogy(times, np.clip(rel_c, 1e-16, None), label="Casimir |y|²")
    ax[0].axhline(0.01, color="k", ls="--", lw=0.8, label="1%")
    ax[0].set_xlabel("t")
    ax[0].set_ylabel("relative error")
    ax[0].legend()
    ax[1].plot(model.history_.train_loss)
    ax[1].set_yscale("log")
    ax[1].set_xlabel("Adam step")
    ax[1].set_ylabel("training loss")
    fig.suptitle("V1 rigid body: LocSympNet (K=2, m=16)")
    fig.tight_layout()
    fig.savefig(out / f"v1_rigid_body{args.tag}.png", dpi=120)
    if not holds:
        raise SystemExit("claim does not hold at these settings")


if __name__ == "__main__":
    main()
