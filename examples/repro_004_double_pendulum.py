"""Seed 004: HNN on the double pendulum over a short and a long period (MLP baseline beside it).

Claim checked (seed 004, "HNN-Results": figures "performance of HNN over a short period" and "over a long
period", no numbers): an HNN trained on (z, dz/dt) of the chaotic double pendulum follows the true trajectory over a
short period and departs from it over a long one, while its energy stays near the initial value; the MLP baseline
(dz/dt = f_θ(z)) drifts in energy. Measured: state error over [0, T_SHORT] and [0, T_LONG], valid prediction time
(first time ‖z_model − z_true‖ / rms‖z_true‖ exceeds VPT_THRESHOLD), max relative energy error with the TRUE H.

Recipe (every constant below, printed): hamid.systems "double_pendulum" (m1 = m2 = l1 = l2 = 1, g = 9.8,
canonical (q1, q2, p1, p2), angles from the downward vertical); training states from N_TRAJ trajectories of N_TIME
points every DT_DATA from its box domain (q_i ~ U[−π/2, π/2], p_i ~ U[−1, 1]), exact derivative targets, no
noise. HNN and MLPField: 200-200 tanh, Adam lr 1e-3 with cosine decay, minibatches of 256 states, STEPS steps,
no weight decay. Test: N_TEST fresh initial states of the same law, RK4 dt = 0.01 to T_LONG (every 10th state
kept); the same RK4 on the true field is the floor. Energy scale of the relative error: 29.4 = the potential's
half-range (m1 + m2) g l1 + m2 g l2, as in L1.

Run: OMP_NUM_THREADS=1 python examples/repro_004_double_pendulum.py [--out examples/output] [--quick] [--seed S]
``--quick`` (about a minute of one core; numbers not meaningful) uses QUICK below; ``--set KEY=VALUE`` overrides
one setting. The printed settings are those it ran; the verdict is printed, the exit status is 0 when it ran.
"""
import numpy as np
from hamid.integrators import allow_nonfinite

from _repro_common import (parse_args, print_settings, pyplot, savefig, timed_fit, verdict_line,
                           run_settings, write_table)

SETTINGS = dict(n_traj=50, n_time=50, dt_data=0.05, hidden=(200, 200), lr=1e-3, schedule="cosine", batch=256,
                steps=3000, n_test=5, rollout_dt=0.01, save_every=10, t_short=2.0, t_long=20.0, vpt_threshold=0.1,
                energy_scale=29.4)
QUICK = dict(n_traj=10, hidden=(32, 32), steps=200, n_test=3, t_long=5.0)


class TrueField:
    """The true field behind the same RK4 as the models (the integrator floor)."""

    def __init__(self, system):
        self.system = system

    def simulate(self, z0, dt, n_steps, method="rk4", save_every=1):
        from hamid.integrators import integrate_field

        return integrate_field(self.system.vector_field, z0, dt=dt, n_steps=n_steps, method=method,
                               save_every=save_every)


def main():
    args, out = parse_args(__doc__.splitlines()[0])
    from hamid.models.neural import HNN, MLPField
    from hamid.systems import get_system

    c = run_settings(args, SETTINGS, QUICK)
    line = print_settings("Seed 004: HNN on the double pendulum, short and long period", c, args.quick)
    system = get_system("double_pendulum")
    train = system.generate(n_traj=c["n_traj"], n_time=c["n_time"], dt=c["dt_data"], seed=args.seed)
    z, dz = train.states(), train.derivatives()
    z0 = system.sample_states(c["n_test"], seed=args.seed + 1000)
    n_steps = int(round(c["t_long"] / c["rollout_dt"]))
    times = np.arange(0, n_steps + 1, c["save_every"]) * c["rollout_dt"]
    truth = system.simulate(z0, times)
    e_true0 = system.energy(z0)
    scale = np.sqrt(np.mean(np.sum(truth ** 2, axis=-1)))
    common = dict(hidden=c["hidden"], lr=c["lr"], lr_schedule=c["schedule"], batch_size=c["batch"],
                  max_steps=c["steps"], weight_decay=0.0, validation_fraction=0.0, patience=None, seed=args.seed)
    models = {"HNN": HNN(**common), "MLP": MLPField(**common), "true field (RK4 floor)": TrueField(system)}
    rows, curves = [], {}
    short = times <= c["t_short"] + 1e-9
    for label, model in models.items():
        fit_s, field_mse = 0.0, 0.0
        if hasattr(model, "fit"):
            fit_s = timed_fit(model, z[..., :2], z[..., 2:], dq=dz[..., :2], dp=dz[..., 2:])
            zz = z.reshape(-1, 4)
            field_mse = float(np.mean((model.vector_field(zz) - dz.reshape(-1, 4)) ** 2))
        with allow_nonfinite():  # a diverging rollout is measured (valid time), not an error
            traj = model.simulate(z0, dt=c["rollout_dt"], n_steps=n_steps, method="rk4",
                                  save_every=c["save_every"])
        with np.errstate(over="ignore", invalid="ignore"):
            err = np.linalg.norm(traj - truth, axis=-1)                       # (n_test, n_times)
            e = system.energy(traj.reshape(-1, 4)).reshape(traj.shape[:2])
        err = np.where(np.isfinite(err), err, np.inf)
        rel_e = np.abs(e - e_true0[:, None]) / c["energy_scale"]
        rel_e = np.where(np.isfinite(rel_e), rel_e, np.inf)
        passed = err / scale > c["vpt_threshold"]
        vpt = np.where(passed.any(axis=1), times[np.argmax(passed, axis=1)], times[-1])
        curves[label] = (err, rel_e)
        rows.append({"model": label, "state_err_short": float(np.mean(err[:, short])),
                     "state_err_long": float(np.mean(err)), "vpt_median": float(np.median(vpt)),
                     "rel_energy_err_max_short": float(np.median(rel_e[:, short].max(axis=1))),
                     "rel_energy_err_max_long": float(np.median(rel_e.max(axis=1))),
                     "train_field_mse": field_mse, "fit_s": fit_s})
        print({k: (round(v, 4) if isinstance(v, float) else v) for k, v in rows[-1].items()}, flush=True)
    by = {r["model"]: r for r in rows}
    verdicts = [
        verdict_line("HNN short-period state error < 1/5 of its long-period error",
                     by["HNN"]["state_err_short"] < 0.2 * by["HNN"]["state_err_long"]),
        verdict_line("HNN max relative energy error over the long period < 1%",
                     by["HNN"]["rel_energy_err_max_long"] < 0.01),
        verdict_line("HNN energy error over the long period < MLP's",
                     by["HNN"]["rel_energy_err_max_long"] < by["MLP"]["rel_energy_err_max_long"]),
    ]
    md = write_table(out, "seed004_double_pendulum", rows,
                     ["model", "state_err_short", "state_err_long", "vpt_median", "rel_energy_err_max_short",
                      "rel_energy_err_max_long", "train_field_mse", "fit_s"],
                     title="Seed 004: double pendulum, HNN over a short and a long period"
                           + (" [--quick smoke run]" if args.quick else ""),
                     notes=[line, f"seed {args.seed}; state errors: mean L2 over test states and saved times; "
                                  "energy errors: median over test states of the max over the period"] + verdicts)
    print(md)
    plt = pyplot()
    fig, ax = plt.subplots(1, 2, figsize=(10, 4))
    for label, style in (("HNN", "b-"), ("MLP", "r--"), ("true field (RK4 floor)", "k:")):
        err, rel_e = curves[label]
        ax[0].semilogy(times, np.median(err, axis=0) + 1e-16, style, label=label)
        ax[1].semilogy(times, np.median(rel_e, axis=0) + 1e-16, style, label=label)
    ax[0].axvline(c["t_short"], color="grey", lw=0.5)
    ax[0].set(xlabel="t", ylabel="‖z − z_true‖ (median)", title="double pendulum: state error")
    ax[1].set(xlabel="t", ylabel="|H(t) − H(0)| / 29.4 (median)", title="energy error (true H)")
    ax[0].legend()
    savefig(fig, out, "seed004_double_pendulum")
    plt.close(fig)


if __name__ == "__main__":
    main()
