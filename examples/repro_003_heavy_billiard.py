"""Seed 003 §6: the heavy billiard with perfect rebound — SRNN with the rebound module (n̄, α, γ) vs SRNN without.

System: a point mass in the unit square [0, 1]², gravity G downwards, H = |p|²/2 + G q_y, perfect (elastic)
rebound on the four walls (the momentum component normal to the wall is reversed). Ground truth is exact:
ballistic arcs between analytically computed wall-hit times.

Models (seed 003 §6, App. A.3, reduced as stated): a separable H-NET H_θ = K_θ(p) + V_θ(q), two MLPs 2-32-1 tanh,
trained recurrently through leapfrog on windows of HORIZON steps of Δt = 0.1.
- "SRNN": hamid.models.neural.SRNN (recurrent, leapfrog) — no rebound mechanism.
- "SRNN + rebound module": each leapfrog step is augmented as eqs. (5)-(9): a tentative step gives q̃_{t+Δt}; the
  module computes n = γ n̄ and α from *visual cues* — patches of a wall image (1 inside the walls, 0 in the free
  space) sampled on a PATCH × PATCH grid of spacing PIXEL around q_t and q̃_{t+Δt} (n̄, α) and a 2 × 2 patch around
  q̃_{t+Δt} (γ); then leapfrog over αΔt, p ← p − 2(p·n)n, leapfrog over (1 − α)Δt. n̄: normalized output of an MLP
  2·PATCH² → 128 → 32 → 2; α: an MLP sharing the first hidden layer → 32 → 1; γ: sigmoid of an MLP 4 → 16 → 16 → 1;
  tanh inside. Loss: trajectory MSE + GAMMA_L1 · mean γ (the paper's ‖γ‖₁ that switches the module off when no
  rebound happens). Deviations: the α output goes through a sigmoid (paper: ReLU), to keep α in [0, 1]; γ's output
bias starts at −4 (γ ≈ 0.02), since at γ ≈ 1/2 a random n̄ kicks every step and training stalled (measured).
Training: Adam lr 5e-3 with hamid's exponential schedule (to 5e-5; paper ExponentialLR 0.99 per epoch down to
1e-4), minibatches of BATCH windows, STEPS steps (paper: 1500 epochs over 5000 trajectories of 10 steps).
Test: N_TEST trajectories of TEST_STEPS steps (paper 32 of 60) from their exact first state; metric: mean L2
position error over the steps, mean and median over the test trajectories. The paper reports the comparison as
figures (App. F): claim checked = the rebound module beats SRNN without it.

Run: OMP_NUM_THREADS=1 python examples/repro_003_heavy_billiard.py [--out examples/output] [--quick] [--set K=V]
``--quick`` (about a minute of one core; numbers not meaningful) uses QUICK below; the printed settings are those
it ran. The verdict is printed; the exit status is 0 whenever the run completed.
"""
import time

import numpy as np

from _repro_common import parse_args, print_settings, pyplot, savefig, verdict_line, run_settings, write_table

SETTINGS = dict(gravity=1.0, dt=0.1, n_train=1000, horizon=10, n_test=32, test_steps=60, hidden=(32,), patch=10,
                pixel=0.015, gamma_l1=1e-3, lr=5e-3, schedule="exponential", steps=1500, batch=128)
QUICK = dict(n_train=200, n_test=8, test_steps=30, steps=100, batch=64)
SPEED_RANGE = (-1.0, 1.0)


# ------------------------------------------------------------------------------------------ exact billiard

def exact_billiard(z0, dt, n_steps, g):
    """Exact trajectories (n, n_steps + 1, 4) of z = (qx, qy, px, py) in [0, 1]² with elastic walls."""
    out = np.empty((len(z0), n_steps + 1, 4))
    for i, z in enumerate(np.asarray(z0, dtype=np.float64)):
        q, p = z[:2].copy(), z[2:].copy()
        out[i, 0] = z
        for k in range(1, n_steps + 1):
            left = dt
            for _ in range(100):   # wall hits within one step (at most a few, near corners)
                hits = []
                for ax in (0, 1):
                    acc = -g if ax == 1 else 0.0
                    for wall in (0.0, 1.0):
                        # q + p s + acc s²/2 = wall, earliest root s in (1e-12, left]
                        a, b, c = 0.5 * acc, p[ax], q[ax] - wall
                        if abs(a) < 1e-15:
                            roots = [-c / b] if abs(b) > 1e-15 else []
                        else:
                            disc = b * b - 4 * a * c
                            roots = [] if disc < 0 else [(-b - np.sqrt(disc)) / (2 * a), (-b + np.sqrt(disc)) / (2 * a)]
                        for s in roots:
                            v = b + 2 * a * s        # velocity at the hit: must point into the wall
                            if 1e-12 < s <= left and (v < 0 if wall == 0.0 else v > 0):
                                hits.append((s, ax))
                if not hits:
                    break
                s, ax = min(hits)
                q = q + p * s + 0.5 * np.array([0.0, -g]) * s * s
                p = p + np.array([0.0, -g]) * s
                p[ax] = -p[ax]
                q[ax] = np.clip(q[ax], 0.0, 1.0)
                left -= s
            q = q + p * left + 0.5 * np.array([0.0, -g]) * left * left
            p = p + np.array([0.0, -g]) * left
            out[i, k, :2], out[i, k, 2:] = q, p
    return out


def initial_states(n, rng):
    return np.concatenate([rng.uniform(0.1, 0.9, (n, 2)), rng.uniform(*SPEED_RANGE, (n, 2))], axis=1)


# ------------------------------------------------------------------------------------- augmented SRNN (torch)

def build_rebound_srnn(c, seed):
    import torch
    from torch import nn

    from hamid.models.neural import make_mlp
    from hamid.models.neural.srnn import SeparableHNet

    torch.manual_seed(seed)
    k = int(c["patch"])
    offs = (np.arange(k) - (k - 1) / 2) * c["pixel"]
    offs2 = (np.arange(2) - 0.5) * c["pixel"]

    class ReboundSRNN(nn.Module):
        """Separable H-NET + the rebound module of seed 003 §6 (see the script docstring)."""

        def __init__(self):
            super().__init__()
            self.H = SeparableHNet(2, make_mlp(2, 1, c["hidden"]), make_mlp(2, 1, c["hidden"]))
            self.shared = nn.Sequential(nn.Linear(2 * k * k, 128), nn.Tanh())
            self.n_head = nn.Sequential(nn.Linear(128, 32), nn.Tanh(), nn.Linear(32, 2))
            self.a_head = nn.Sequential(nn.Linear(128, 32), nn.Tanh(), nn.Linear(32, 1))
            self.g_net = make_mlp(4, 1, (16, 16), init="default")
            with torch.no_grad():   # start with the module off (γ ≈ 0.02): a random n = n̄/2 kicks every step
                self.g_net[-1].bias.fill_(-4.0)
            grid = np.stack(np.meshgrid(offs, offs, indexing="ij"), -1).reshape(-1, 2)
            grid2 = np.stack(np.meshgrid(offs2, offs2, indexing="ij"), -1).reshape(-1, 2)
            self.register_buffer("grid", torch.as_tensor(grid))
            self.register_buffer("grid2", torch.as_tensor(grid2))
            self.double()

        @staticmethod
        def wall_image(pts):
            # the background image: 1 on the walls (outside the free square), 0 inside; a pixel lookup, no gradient
            return ((pts < 0) | (pts > 1)).any(dim=-1).to(pts.dtype)

        def patch(self, q, grid):
            return self.wall_image(q[:, None, :] + grid[None]).detach()

        def leapfrog(self, q, p, h):
            p = p - 0.5 * h * self.H.dV(q, True)
            q = q + h * self.H.dK(p, True)
            p = p - 0.5 * h * self.H.dV(q, True)
            return q, p

        def step(self, z, dt):
            q, p = z[:, :2], z[:, 2:]
            h = torch.full((z.shape[0], 1), dt, dtype=z.dtype)
            q_t, _ = self.leapfrog(q, p, h)                      # tentative step, eq. (9)
            hid = self.shared(torch.cat([self.patch(q, self.grid), self.patch(q_t, self.grid)], dim=1))
            n_bar = torch.nn.functional.normalize(self.n_head(hid), dim=1)
            alpha = torch.sigmoid(self.a_head(hid))
            gamma = torch.sigmoid(self.g_net(self.patch(q_t, self.grid2)))
            n = gamma * n_bar
            q1, p1 = self.leapfrog(q, p, alpha * h)              # eq. (6)
            p1 = p1 - 2 * (p1 * n).sum(dim=1, keepdim=True) * n  # eq. (7)
            q2, p2 = self.leapfrog(q1, p1, (1 - alpha) * h)      # eq. (8)
            return torch.cat([q2, p2], dim=1), gamma

        def forward(self, z0, dt, n_steps):
            zs, gs = [z0], []
            z = z0
            for _ in range(n_steps):
                z, g = self.step(z, dt)
                zs.append(z)
                gs.append(g)
            return torch.stack(zs, dim=1), torch.stack(gs, dim=1)

    return ReboundSRNN()


def main():
    args, out = parse_args(__doc__.splitlines()[0])
    import torch

    from hamid.models.neural import SRNN, train

    c = run_settings(args, SETTINGS, QUICK)
    line = print_settings("Seed 003: heavy billiard, SRNN with and without the rebound module", c, args.quick)
    rng = np.random.default_rng(args.seed)
    dt, T = float(c["dt"]), int(c["horizon"])
    train_z = exact_billiard(initial_states(c["n_train"], rng), dt, T, c["gravity"])
    test_z = exact_billiard(initial_states(c["n_test"], rng), dt, c["test_steps"], c["gravity"])
    t = np.arange(T + 1) * dt
    n_rebound = int(np.sum(np.diff(np.sign(train_z[:, :, 2:]), axis=1) != 0))

    rows, preds = [], {}
    base = SRNN(hidden=c["hidden"], activation="tanh", recurrent=True, horizon=T, train_integrator="leapfrog",
                test_integrator="leapfrog", max_steps=int(c["steps"]), lr=float(c["lr"]),
                lr_schedule=c["schedule"], batch_size=int(c["batch"]), validation_fraction=0.0, patience=None,
                seed=args.seed)
    t0 = time.perf_counter()
    base.fit(train_z[..., :2], train_z[..., 2:], t)
    fit_base = time.perf_counter() - t0
    preds["SRNN (no rebound module)"] = (base.simulate(test_z[:, 0], dt=dt, n_steps=c["test_steps"],
                                                       method="leapfrog"), fit_base)

    net = build_rebound_srnn(c, args.seed)
    w = torch.as_tensor(train_z)

    def loss_fn(idx):
        pred, gamma = net(w[idx, 0], dt, T)
        return ((pred - w[idx]) ** 2).mean() + c["gamma_l1"] * gamma.mean()

    t0 = time.perf_counter()
    hist = train(net, loss_fn, w.shape[0], max_steps=int(c["steps"]), lr=float(c["lr"]), lr_schedule=c["schedule"],
                 batch_size=int(c["batch"]), seed=args.seed, eval_every=50, verbose=False)
    fit_aug = time.perf_counter() - t0
    with torch.enable_grad():
        pred_aug = []
        for chunk in torch.as_tensor(test_z[:, 0]).split(64):
            pz, _ = net(chunk, dt, int(c["test_steps"]))
            pred_aug.append(pz.detach().numpy())
    preds["SRNN + rebound module"] = (np.concatenate(pred_aug), fit_aug)

    curves = {}
    for name, (pred, fit_s) in preds.items():
        with np.errstate(over="ignore", invalid="ignore"):
            err = np.linalg.norm(pred[:, 1:, :2] - test_z[:, 1:, :2], axis=-1)
        err = np.where(np.isfinite(err), err, np.inf)
        per = err.mean(axis=1)
        curves[name] = err.mean(axis=0)
        rows.append({"model": name, "pos_err_mean": float(per.mean()), "pos_err_std": float(per.std()),
                     "pos_err_median": float(np.median(per)),
                     "pos_err_first_10_steps": float(err[:, :10].mean()), "fit_s": fit_s})
        print(rows[-1], flush=True)
    by = {r["model"]: r for r in rows}
    holds = (by["SRNN + rebound module"]["pos_err_mean"] < by["SRNN (no rebound module)"]["pos_err_mean"]
             and by["SRNN + rebound module"]["pos_err_median"] < by["SRNN (no rebound module)"]["pos_err_median"])
    md = write_table(out, "seed003_heavy_billiard", rows,
                     ["model", "pos_err_mean", "pos_err_std", "pos_err_median", "pos_err_first_10_steps", "fit_s"],
                     title="Seed 003: heavy billiard with perfect rebound"
                           + (" [--quick smoke run]" if args.quick else ""),
                     notes=[line, f"seed {args.seed}; {n_rebound} velocity-component sign changes (rebounds) in the "
                                  f"training windows; final training loss of the augmented model "
                                  f"{hist.train_loss[-1]:.3g}",
                            verdict_line("SRNN + rebound module beats SRNN without it (mean and median)", holds)])
    print(md)
    plt = pyplot()
    fig, ax = plt.subplots(1, 2, figsize=(10, 4.5))
    for k, name in enumerate(preds):
        ax[0].plot(np.arange(1, c["test_steps"] + 1), curves[name], label=name)
    ax[0].set(xlabel="step (Δt = 0.1)", ylabel="mean position error", title="test error")
    ax[0].legend()
    ax[1].plot(test_z[0, :, 0], test_z[0, :, 1], "k-", lw=2, label="truth")
    for name, (pred, _) in preds.items():
        ax[1].plot(pred[0, :, 0], pred[0, :, 1], "--", label=name)
    ax[1].set(xlim=(-0.1, 1.1), ylim=(-0.1, 1.1), aspect="equal", title="test trajectory 0")
    ax[1].legend(fontsize=7)
    savefig(fig, out, "seed003_heavy_billiard")
    plt.close(fig)


if __name__ == "__main__":
    main()
