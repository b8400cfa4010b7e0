"""L1: double pendulum of Cranmer et al. 2020, MLP baseline vs LNN on q̈ targets (reduced size, stated).

Recipe (all constants here): m1 = m2 = l1 = l2 = 1, g = 9.8; L = q̇1² + q̇2²/2 + q̇1 q̇2 cos(q1 − q2)
+ 2g cos q1 + g cos q2; energy E = T + V. Training states: 30 trajectories from rest at q1, q2 ~ U[−1, 1]
(E <= −15.9 < −9.8, so neither link can flip and no angle wrapping is involved), t ∈ [0, 10] every 0.1 s
(3030 states), exact accelerations q̈ as targets, no noise. LNN: L_θ(q, q̇) 128-128 softplus; MLP: (q, q̇) ->
(q̇, q̈) 128-128 tanh (fits q̇ too). Both: Adam lr 3e-3 with cosine decay to 3e-5, minibatches of 256, 3000
steps, no weight decay. REDUCED (published LNN: 4 hidden layers of 500, much longer training). Test: 3 fresh
initial states of the same law, RK4 dt = 0.01 to T = 100; metric |E(T) − E(0)| / 29.4 with the TRUE energy
(29.4 = max potential energy (m1 + m2) g l1 + m2 g l2), median over the 3 rollouts. The same integrator on the
true field is reported as the floor. One seed.
Published (Cranmer 2020): relative energy error at T = 100: MLP 0.074, LNN 0.0043.

    OMP_NUM_THREADS=1 python examples/repro_L1.py --out examples/output [--quick]

``--quick``: QUICK below (smoke run, seconds; numbers not meaningful); the settings printed are those it ran.
"""
import numpy as np

from _repro_common import (parse_args, print_settings, pyplot, rollout, savefig, settings_line, solve, timed_fit,
                           verdict_line, write_table)

G = 9.8
N_TRAJ, T_TRAJ, DT_DATA, Q_RANGE = 30, 10.0, 0.1, (-1.0, 1.0)
HIDDEN, LR, STEPS, BATCH = (128, 128), 3e-3, 3000, 256
N_TEST, T_END, DT_ROLL, SAVE_EVERY, E_SCALE = 3, 100.0, 0.01, 100, 29.4
PUBLISHED = {"MLP": 0.074, "LNN": 0.0043, "true field (RK4 floor)": "-"}
QUICK = dict(steps=20, hidden=(16, 16), t_end=1.0)


def accel(z):
    t1, t2, w1, w2 = z.T
    d = t1 - t2
    den = 2 - np.cos(d) ** 2
    a1 = (-np.sin(d) * (w2 ** 2 + w1 ** 2 * np.cos(d)) - 2 * G * np.sin(t1) + G * np.sin(t2) * np.cos(d)) / den
    a2 = (2 * np.sin(d) * w1 ** 2 + 2 * G * np.sin(t1) * np.cos(d) - 2 * G * np.sin(t2)
          + w2 ** 2 * np.sin(d) * np.cos(d)) / den
    return np.stack([a1, a2], 1)


def field(z):
    return np.concatenate([z[:, 2:], accel(z)], axis=1)


def energy(z):
    t1, t2, w1, w2 = z.T
    kin = w1 ** 2 + 0.5 * w2 ** 2 + w1 * w2 * np.cos(t1 - t2)
    return kin - 2 * G * np.cos(t1) - G * np.cos(t2)


def initial_states(n, rng):
    return np.concatenate([rng.uniform(*Q_RANGE, size=(n, 2)), np.zeros((n, 2))], axis=1)


class TrueField:
    def simulate(self, z0, dt, n_steps, method="rk4", save_every=1):
        from hamid.integrators import integrate_field

        return integrate_field(field, z0, dt=dt, n_steps=n_steps, method=method, save_every=save_every)


def main():
    args, out = parse_args(__doc__.splitlines()[0])
    from hamid.models.neural import LNN, MLPField

    c = dict(steps=STEPS, hidden=HIDDEN, t_end=T_END)
    if args.quick:
        c.update(QUICK)
    steps, hidden, t_end = c["steps"], c["hidden"], c["t_end"]
    settings = dict(n_traj=N_TRAJ, t_traj=T_TRAJ, dt_data=DT_DATA, q_range=Q_RANGE, hidden=hidden, lr=LR,
                    schedule="cosine", steps=steps, batch=BATCH, n_test=N_TEST,
                    rollout=f"RK4 dt={DT_ROLL} to T={t_end}", seed=args.seed)
    title = f"L1 double pendulum (reduced: {hidden} nets, {steps} minibatch steps, T = {t_end})"
    print_settings(title, settings, args.quick)
    rng = np.random.default_rng(args.seed)
    t = np.arange(0, T_TRAJ + 1e-9, DT_DATA)
    z = solve(field, initial_states(N_TRAJ, rng), t)
    acc = accel(z.reshape(-1, 4)).reshape(z.shape[:2] + (2,))
    z0 = initial_states(N_TEST, rng)
    common = dict(hidden=hidden, lr=LR, max_steps=steps, batch_size=BATCH, lr_schedule="cosine", seed=args.seed,
                  validation_fraction=0.0)
    # the LNN is the paper's plain network (no kinetic prior), as when the documented numbers were measured
    models = {"MLP": MLPField(**common), "LNN": LNN(activation="softplus", kinetic_prior=0.0, **common),
              "true field (RK4 floor)": TrueField()}
    rows, curves = [], {}
    for label, model in models.items():
        fit_s, acc_mse = 0.0, 0.0
        if isinstance(model, LNN):
            fit_s = timed_fit(model, z[..., :2], z[..., 2:], qddot=acc)
        elif hasattr(model, "fit"):
            fit_s = timed_fit(model, z[..., :2], z[..., 2:], dq=z[..., 2:], dp=acc)
        if hasattr(model, "fit"):
            zz = z.reshape(-1, 4)[::5]
            acc_mse = float(np.mean((model.vector_field(zz)[:, 2:] - accel(zz)) ** 2))
        times, traj = rollout(model, z0, t_end, DT_ROLL, SAVE_EVERY)
        e = energy(traj.reshape(-1, 4)).reshape(traj.shape[:2])
        err = np.abs(e - e[:, :1]) / E_SCALE
        curves[label] = (times, err)
        rows.append({"model": label, "published": PUBLISHED[label],
                     "rel_energy_err_T100_median": float(np.median(err[:, -1])),
                     "rel_energy_err_max_median": float(np.median(err.max(axis=1))),
                     "train_acc_mse": acc_mse, "fit_s": fit_s})
        print(rows[-1], flush=True)
    md = write_table(out, "L1_summary", rows, ["model", "published", "rel_energy_err_T100_median",
                                               "rel_energy_err_max_median", "train_acc_mse", "fit_s"],
                     title=title + (" [--quick smoke run]" if args.quick else ""),
                     notes=[settings_line(settings), verdict_line(
                         f"ordering LNN < MLP on the relative energy error at T = {t_end:g}",
                         rows[1]["rel_energy_err_T100_median"] < rows[0]["rel_energy_err_T100_median"])])
    print(md)
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    for label, style in (("MLP", "r-"), ("LNN", "b-"), ("true field (RK4 floor)", "k:")):
        times, err = curves[label]
        ax.semilogy(times, np.median(err, axis=0) + 1e-16, style, label=label)
    ax.set(xlabel="t", ylabel="|E(t) − E(0)| / 29.4 (median)", title="L1 double pendulum")
    ax.legend()
    savefig(fig, out, "L1")
    plt.close(fig)


if __name__ == "__main__":
    main()
