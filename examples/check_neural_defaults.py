"""Seed 000's pendulum check with the neural models at their DEFAULTS: ``HNN()`` against ``MLPField()``.

Claim (seed 000, tutorial §4.5): train on 4 s of pendulum derivatives, roll out to 25 s; the HNN's relative
energy error stays below 1e-2, the vanilla MLP's grows. Set-up (fixed before running):

- system: the catalogue pendulum, H = p²/2 + 1 − cos q (``hamid.get_system("pendulum")``);
- training data: 25 trajectories on t ∈ [0, 4] every 0.1 s (41 points), q0 ~ U(−1.5, 1.5), p0 ~ U(−1, 1)
  (``numpy.random.default_rng(seed)``), exact derivatives, no noise;
- test: 10 unseen initial states of the same law (drawn after the training states), rolled out to t = 25 with
  each model's default integrator (RK4) at dt = 0.01, every 10th state kept;
- metric: max over [0, 25] of |H(z_t) − H(z0)| / H(z0) with the TRUE H;
- models: ``HNN()`` and ``MLPField()`` with no arguments except ``seed`` (defaults: 200-200 tanh, Adam lr 3e-3
  with cosine decay, 5000 steps, 20 % of the trajectories held out, best weights restored);
- verdict: PASS when the HNN is below 1e-2 in 10/10 rollouts AND the MLP's median error is at least 3× the
  HNN's median (also printed: in how many rollouts the MLP is 3× worse than the HNN on the same state).

    OMP_NUM_THREADS=2 .venv/bin/python examples/check_neural_defaults.py
    OMP_NUM_THREADS=2 .venv/bin/python examples/check_neural_defaults.py --seed 1

``--hidden``/``--max-steps`` override the defaults (a reduced check, e.g. in the test suite); the printed settings
say so.

``--check lnn`` runs the second check: ``LNN()`` against ``MLPField()`` on the catalogue double pendulum
(g = 9.8), 25 trajectories of 41 points every 0.05 s from the catalogue domain, states (q, q̇) and targets q̈
from ``system.velocities`` / ``system.accelerations``; 5 more trajectories are the test set. Reported: the
relative MSE of q̈ on the test states for both (the LNN should be lower), and 10 rollouts of the LNN from test
states over 5 s (RK4, dt = 0.01): no exception, all finite, and the number of regularized (near-singular)
Hessian solves (``singular_counts_``).

    OMP_NUM_THREADS=2 .venv/bin/python examples/check_neural_defaults.py --check lnn

``--check maps`` fits ``LASympNet()`` and ``GSympNet()`` on the same pendulum training data and reports the valid
prediction time (relative state error < 0.1, ``hamid.metrics.valid_prediction_time``) of 10 rollouts over 10 s
from the test states, against the true solution (``--max-steps`` overrides their default step count).

    OMP_NUM_THREADS=1 .venv/bin/python examples/check_neural_defaults.py --check maps
"""
import argparse
import sys
import time

import numpy as np

N_TRAIN, N_TEST, T_TRAIN, DT_DATA = 25, 10, 4.0, 0.1
Q0, P0 = (-1.5, 1.5), (-1.0, 1.0)
T_END, DT_ROLL, SAVE_EVERY = 25.0, 0.01, 10
HNN_LIMIT, MLP_FACTOR = 1e-2, 3.0


def make_data(seed):
    """Training Dataset (25 trajectories, exact derivatives) and the 10 test initial states (10, 2)."""
    import hamid

    system = hamid.get_system("pendulum")
    rng = np.random.default_rng(seed)
    z = np.stack([rng.uniform(*Q0, N_TRAIN + N_TEST), rng.uniform(*P0, N_TRAIN + N_TEST)], axis=1)
    n_time = int(round(T_TRAIN / DT_DATA)) + 1
    data = system.generate(z0=z[:N_TRAIN], n_time=n_time, dt=DT_DATA)
    return system, data, z[N_TRAIN:]


def max_relative_energy_error(system, model, z0, t_end=T_END, dt=DT_ROLL, save_every=SAVE_EVERY):
    """Max over time of |H(z_t) − H(z0)| / H(z0) (true H) for each rollout: (n,)."""
    n_steps = int(round(t_end / dt))
    traj = model.simulate(z0, dt, n_steps, save_every=save_every)
    h = system.energy(traj.reshape(-1, 2)).reshape(traj.shape[:2])
    rel = np.abs(h - h[:, :1]) / np.abs(h[:, :1])
    rel = np.where(np.isfinite(rel), rel, np.inf)
    return rel.max(axis=1)


def run(seed=0, overrides=None, t_end=T_END, verbose=True):
    """Fit both models, roll out, and return a dict of results (see the module docstring)."""
    from hamid.models.neural import HNN, MLPField

    overrides = dict(overrides or {})
    system, data, z_test = make_data(seed)
    out = {"seed": seed, "overrides": overrides, "models": {}}
    for name, cls in (("HNN", HNN), ("MLPField", MLPField)):
        model = cls(seed=seed, **overrides)
        start = time.perf_counter()
        model.fit(data.q, data.p, data.t, data.dq, data.dp)
        fit_s = time.perf_counter() - start
        err = max_relative_energy_error(system, model, z_test, t_end=t_end)
        out["models"][name] = {"model": model, "errors": err, "fit_s": fit_s, "summary": model.fit_summary_}
        if verbose:
            print(f"{name}: fit {fit_s:.1f} s; {model.fit_summary_}", flush=True)
    hnn, mlp = out["models"]["HNN"]["errors"], out["models"]["MLPField"]["errors"]
    out["hnn_below"] = int(np.sum(hnn < HNN_LIMIT))
    out["median_ratio"] = float(np.median(mlp) / np.median(hnn))
    out["pairwise_3x"] = int(np.sum(mlp >= MLP_FACTOR * hnn))
    out["passed"] = out["hnn_below"] == len(hnn) and out["median_ratio"] >= MLP_FACTOR
    return out


def lagrangian_data(n_traj, seed):
    """Double-pendulum trajectories as (q, qdot, qddot), each (n_traj, 41, 2), and t (41,)."""
    import hamid

    system = hamid.get_system("double_pendulum")
    data = system.generate(n_traj=n_traj, n_time=41, dt=0.05, seed=seed)
    x = system.velocities(data.states().reshape(-1, 4))
    acc = system.accelerations(x).reshape(n_traj, 41, 2)
    x = x.reshape(n_traj, 41, 4)
    return system, x[..., :2], x[..., 2:], acc, data.t


def run_lnn(seed=0, overrides=None, verbose=True):
    """LNN vs MLPField on the double pendulum: field errors and LNN rollouts (see the module docstring)."""
    from hamid.models.neural import LNN, MLPField

    overrides = dict(overrides or {})
    _, q, qdot, acc, t = lagrangian_data(25, seed)
    _, q_te, qdot_te, acc_te, _ = lagrangian_data(5, seed + 1000)
    x_te = np.concatenate([q_te, qdot_te], -1).reshape(-1, 4)
    a_te = acc_te.reshape(-1, 2)
    out = {"seed": seed, "overrides": overrides}
    lnn = LNN(seed=seed, **overrides).fit(q, qdot, t, qddot=acc)
    mlp = MLPField(seed=seed, **overrides).fit(q, qdot, t, qdot, acc)   # the MLP sees (q, qdot) -> (qdot, qddot)
    scale = np.mean(a_te ** 2)
    out["lnn_field_error"] = float(np.mean((lnn.vector_field(x_te)[:, 2:] - a_te) ** 2) / scale)
    out["mlp_field_error"] = float(np.mean((mlp.vector_field(x_te)[:, 2:] - a_te) ** 2) / scale)
    out["lnn_summary"], out["mlp_summary"] = lnn.fit_summary_, mlp.fit_summary_
    out["fit_s"] = {"LNN": lnn.fit_time_, "MLPField": mlp.fit_time_}
    out["fit_singular"] = lnn.singular_counts_["fit"]
    x0 = np.concatenate([q_te[:, 0], qdot_te[:, 0]], -1)
    x0 = np.concatenate([x0, np.concatenate([q_te[:, 20], qdot_te[:, 20]], -1)])
    traj = lnn.simulate(x0, 0.01, 500, save_every=10)
    out["rollouts_finite"] = int(np.all(np.isfinite(traj), axis=(1, 2)).sum())
    out["n_rollouts"] = len(x0)
    out["predict_singular"] = lnn.singular_counts_["predict"]
    out["passed"] = (out["lnn_field_error"] < out["mlp_field_error"] and out["rollouts_finite"] == len(x0))
    if verbose:
        print(f"LNN: {lnn.fit_summary_}\nMLPField: {mlp.fit_summary_}", flush=True)
    return out


def main_lnn(seed, overrides):
    import torch

    print("settings: double pendulum (g = 9.8), 25 training + 5 test trajectories x 41 points every 0.05 s, "
          f"states (q, qdot), targets qddot; seed {seed}; torch threads {torch.get_num_threads()}; models LNN(), "
          "MLPField() " + (f"with overrides {overrides}" if overrides else "at their defaults"))
    res = run_lnn(seed, overrides)
    print()
    print("| model | relative MSE of qddot on test states | fit s |")
    print("|---|---|---|")
    print(f"| LNN | {res['lnn_field_error']:.3e} | {res['fit_s']['LNN']:.1f} |")
    print(f"| MLPField | {res['mlp_field_error']:.3e} | {res['fit_s']['MLPField']:.1f} |")
    print()
    print(f"LNN rollouts (5 s, RK4 dt = 0.01): {res['rollouts_finite']}/{res['n_rollouts']} finite, no exception; "
          f"regularized Hessian solves: {res['fit_singular']} during training, {res['predict_singular']} in the "
          "rollouts")
    print("verdict:", "PASS" if res["passed"] else "FAIL")
    return 0 if res["passed"] else 1


def main_maps(seed, overrides):
    from hamid.metrics import valid_prediction_time
    from hamid.models.neural import GSympNet, LASympNet

    overrides = {k: v for k, v in overrides.items() if k != "hidden"}
    system, data, z_test = make_data(seed)
    t = DT_DATA * np.arange(101)
    ref = system.simulate(z_test, t)
    print(f"settings: pendulum data of the seed-000 check (seed {seed}); rollouts of 10 s from the 10 test states; "
          "models LASympNet(), GSympNet() " + (f"with overrides {overrides}" if overrides else "at their defaults"))
    for cls in (LASympNet, GSympNet):
        model = cls(seed=seed, **overrides).fit(data.q, data.p, data.t)
        valid = valid_prediction_time(model.simulate(z_test, None, 100), ref, t)
        print(f"{cls.__name__}: valid time median {np.median(valid):.1f} s, min {valid.min():.1f} s (of 10 s); "
              f"fit {model.fit_time_:.1f} s; {model.fit_summary_}", flush=True)
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--check", choices=("pendulum", "lnn", "maps"), default="pendulum")
    parser.add_argument("--hidden", type=int, nargs="+", default=None, help="override the default widths")
    parser.add_argument("--max-steps", type=int, default=None, help="override the default number of steps")
    args = parser.parse_args(argv)
    import torch

    overrides = {}
    if args.hidden:
        overrides["hidden"] = tuple(args.hidden)
    if args.max_steps is not None:
        overrides["max_steps"] = args.max_steps
    if args.check == "lnn":
        return main_lnn(args.seed, overrides)
    if args.check == "maps":
        return main_maps(args.seed, overrides)
    print("settings: pendulum H = p^2/2 + 1 - cos q; train 25 trajectories x 41 points on [0, 4] (exact "
          "derivatives), q0 ~ U(-1.5, 1.5), p0 ~ U(-1, 1); test 10 unseen states, RK4 dt = 0.01 to t = 25; "
          f"seed {args.seed}; torch threads {torch.get_num_threads()}; models HNN(), MLPField() "
          + (f"with overrides {overrides}" if overrides else "at their defaults"))
    res = run(args.seed, overrides)
    hnn, mlp = res["models"]["HNN"]["errors"], res["models"]["MLPField"]["errors"]
    print()
    print("| rollout | HNN max rel. energy error | MLPField max rel. energy error | MLP / HNN |")
    print("|---|---|---|---|")
    for i, (a, b) in enumerate(zip(hnn, mlp)):
        print(f"| {i} | {a:.2e} | {b:.2e} | {b / a:.1f} |")
    print(f"| median | {np.median(hnn):.2e} | {np.median(mlp):.2e} | {res['median_ratio']:.1f} |")
    print()
    print(f"HNN < {HNN_LIMIT:g} in {res['hnn_below']}/{len(hnn)} rollouts; MLP median / HNN median = "
          f"{res['median_ratio']:.1f} (>= {MLP_FACTOR:g} required); MLP >= {MLP_FACTOR:g}x HNN in "
          f"{res['pairwise_3x']}/{len(hnn)} rollouts")
    print(f"fit times: HNN {res['models']['HNN']['fit_s']:.1f} s, MLPField {res['models']['MLPField']['fit_s']:.1f} s")
    print("verdict:", "PASS" if res["passed"] else "FAIL")
    return 0 if res["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
