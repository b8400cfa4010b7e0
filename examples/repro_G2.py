"""G2: ideal pendulum of Greydanus et al. 2019, MLP baseline vs HNN.

Recipe (all constants here): H = 3(1 − cos q) + p² (dq/dt = 2p, dp/dt = −3 sin q); 50 trajectories of 45 points
on t ∈ [0, 3]; initial radius r ~ U[1.3, 2.3] in the (q, p) plane, uniform angle; Gaussian noise σ = 0.1 on q
and p, clean derivative targets; 50/50 split by trajectory. Networks 200-200 tanh, orthogonal init; Adam lr 1e-3,
weight decay 1e-4 (L2), full batch, 2000 steps. Energy MSE: 15 fresh initial states (same radius law), RK4
dt = 0.01 to t = 20 (every 10th state kept), mean of (H(model) − H(truth))² with the TRUE H. 3 seeds.
Published (Greydanus 2019, Table 1): energy MSE MLP 4.15e-2, HNN 2.49e-2.

    OMP_NUM_THREADS=1 python examples/repro_G2.py --out examples/output
"""
import numpy as np

from _repro_common import greydanus_run, parse_args


def field(z):
    return np.stack([2 * z[:, 1], -3 * np.sin(z[:, 0])], axis=1)


def energy(z):
    """H for states of any leading shape (..., 2)."""
    return 3 * (1 - np.cos(z[..., 0])) + z[..., 1] ** 2


CFG = dict(n_traj=50, t=np.linspace(0, 3, 45), radius=(1.3, 2.3), noise=0.1, hidden=(200, 200), lr=1e-3,
           weight_decay=1e-4, max_steps=2000, n_rollouts=15, rollout_t_end=20.0, rollout_dt=0.01, save_every=10,
           grid_lim=3.0, n_seeds=3)
PUBLISHED = {"MLP": 4.15e-2, "HNN": 2.49e-2}


def main():
    args, out = parse_args(__doc__.splitlines()[0])
    cfg = dict(CFG)
    if args.quick:
        cfg.update(max_steps=20, n_seeds=1, hidden=(16, 16))
    md, _ = greydanus_run("G2", field, energy, cfg, args, out, "G2 pendulum", PUBLISHED)
    print(md)


if __name__ == "__main__":
    main()
