"""G1: ideal mass–spring of Greydanus et al. 2019, MLP baseline vs HNN; also seconds per 1,000 training steps.

Recipe (all constants here): H = q² + p² (dq/dt = 2p, dp/dt = −2q); 50 trajectories of 30 points on t ∈ [0, 3];
initial radius r ~ U[0.1, 1.0], uniform angle; Gaussian noise σ = 0.1 on q and p, clean derivative targets;
50/50 split by trajectory. Networks 200-200 tanh, orthogonal init; Adam lr 1e-3, weight decay 1e-4 (L2), full
batch, 2000 steps. Energy MSE: 15 fresh initial states (same radius law), RK4 dt = 0.01 to t = 20 (every 10th
state kept), mean over rollouts and times of (H(model state) − H(true state))² with the TRUE H. 3 seeds.
Published (Greydanus 2019, Table 1): energy MSE MLP 1.71e-1, HNN 3.84e-4.

Speed: every model of hamid.models.neural trained 200 steps on the G1 training set (750 states, 200-200),
reported as wall seconds per 1,000 steps (single thread).

    OMP_NUM_THREADS=1 python examples/repro_G1.py --out examples/output
"""
import numpy as np

from _repro_common import greydanus_run, parse_args, seconds_per_1000_steps, write_table, greydanus_data


def field(z):
    return np.stack([2 * z[:, 1], -2 * z[:, 0]], axis=1)


def energy(z):
    return z[:, 0] ** 2 + z[:, 1] ** 2


CFG = dict(n_traj=50, t=np.linspace(0, 3, 30), radius=(0.1, 1.0), noise=0.1, hidden=(200, 200), lr=1e-3,
           weight_decay=1e-4, max_steps=2000, n_rollouts=15, rollout_t_end=20.0, rollout_dt=0.01, save_every=10,
           grid_lim=1.2, n_seeds=3)
PUBLISHED = {"MLP": 1.71e-1, "HNN": 3.84e-4}
SPEED_STEPS = 200


def speed_table(args, out):
    from hamid.models.neural import HNN, LNN, FrictionHNN, MLPField, NeuralSymplecticForm

    rng = np.random.default_rng(args.seed)
    noisy, clean, dz = greydanus_data(field, CFG["n_traj"], CFG["t"], CFG["radius"], CFG["noise"], rng)
    tr = slice(0, CFG["n_traj"] // 2)
    q, p, dq, dp = noisy[tr, :, :1], noisy[tr, :, 1:], dz[tr, :, :1], dz[tr, :, 1:]
    common = dict(hidden=CFG["hidden"], lr=CFG["lr"], weight_decay=CFG["weight_decay"], seed=args.seed,
                  lr_schedule="constant", validation_fraction=0.0)
    t = CFG["t"]
    cases = [
        ("MLPField", lambda n: MLPField(max_steps=n, **common), (q, p), dict(dq=dq, dp=dp)),
        ("HNN", lambda n: HNN(max_steps=n, **common), (q, p), dict(dq=dq, dp=dp)),
        ("HNN separable", lambda n: HNN(separable=True, max_steps=n, **common), (q, p), dict(dq=dq, dp=dp)),
        # LNN state (q, q̇): q̇ = 2p, q̈ = −4q for this H; the paper's plain network (no kinetic prior)
        ("LNN", lambda n: LNN(kinetic_prior=0.0, max_steps=n, **common), (q, 2 * p), dict(qddot=-4 * q)),
        ("FrictionHNN (alpha=100, 1-step RK4 loss)", lambda n: FrictionHNN(alpha=100.0, max_steps=n, **common),
         (q, p), dict(t=t, dq=dq, dp=dp)),
        ("NeuralSymplecticForm", lambda n: NeuralSymplecticForm(max_steps=n, **common), (q, p), dict(dq=dq, dp=dp)),
    ]
    rows = []
    for label, make, fa, fk in cases:
        s = seconds_per_1000_steps(make, fa, fk, n_steps=10 if args.quick else SPEED_STEPS)
        rows.append({"model": label, "seconds_per_1000_steps": s, "n_train_states": q.size})
        print(f"{label}: {s:.1f} s / 1000 steps", flush=True)
    return write_table(out, "speed_G1", rows, ["model", "seconds_per_1000_steps", "n_train_states"],
                       title="Training speed on the G1 recipe (CPU, 1 thread, float64, full batch)")


def main():
    args, out = parse_args(__doc__.splitlines()[0])
    cfg = dict(CFG)
    if args.quick:
        cfg.update(max_steps=20, n_seeds=1, hidden=(16, 16))
    md, _ = greydanus_run("G1", field, energy, cfg, args, out, "G1 mass-spring", PUBLISHED)
    print(md)
    print(speed_table(args, out))


if __name__ == "__main__":
    main()
