"""Seed 001: the neural symplectic form on Lotka–Volterra; standard vs geometric (DVI) scheme; the gauge.

System: dx/dt = x(1 − y), dy/dt = y(x − 2) = W(z)⁻¹∇H with H = x − 2 ln x + y − ln y and
W = DAᵀ − DA = [[0, 1/(xy)], [−1/(xy), 0]] (z = (x, y), DA_ij = ∂A_i/∂z_j).

Claims checked (slides 3-9 of seed 001; figures, no numbers):
1. "Different architectures" / "the importance of structure": fitted on (z, dz/dt), the neural symplectic form
   (A_θ, H_θ) follows the solution from x(0) = y(0) = 1; an HNN (canonical J, divergence-free: cannot represent LV,
   whose divergence is x − y − 1) cannot; an unstructured MLP can over short times.
2. "The importance of the scheme": at Δt = 0.1 a standard scheme (explicit Euler, RK4) is good at short time and
   drifts at long time; the geometric scheme (degenerate variational integrator, DVI, Ellison et al. 2018) is the
   reverse — bounded energy error over long times.
3. "Failure of the scheme for learnt models" / "explaining the failure": the DVI needs A itself, not only
   W = DAᵀ − DA: the symmetric part of DA (the gauge, A → A + ∇φ) is invisible to the loss but enters the scheme's
   error. Shown on the TRUE system with three potentials of the same W (the local one-step error of the DVI on the
   exact orbit changes with the gauge, the dynamics do not), and on the learned A_θ (size of its symmetric part,
   DVI on the learned model).

DVI: the discrete Lagrangian L_d(a, b) = A(m)·(b − a) − Δt H(m), m = (a + b)/2, of the phase-space Lagrangian
A(z)·ż − H(z); the two-step scheme D₂L_d(z_{k−1}, z_k) + D₁L_d(z_k, z_{k+1}) = 0 solved by Newton (torch.func
Jacobians) for z_{k+1}, started with one RK4 step. Reference potentials of the true W: A¹ = (0, ln x / y),
A² = (−ln y / x, 0), A³ = A¹ + ∇φ with φ = (x³ + y³)/3 (a quadratic φ is exactly invisible to this midpoint
DVI: its A-terms telescope for a linear ∇φ).

Recipe (every constant below, printed): N_TRAIN states uniform in the box X_RANGE × Y_RANGE (it contains the orbit
through (1, 1): x ∈ [1, 5.36], y ∈ [0.36, 2.15]), exact dz/dt, no noise. Models (float64, tanh, Adam, cosine lr,
minibatches of BATCH): NeuralSymplecticForm (canonical_offset=True), HNN, MLPField, all with HIDDEN, STEPS, LR.
Truth: DOP853 (rtol = atol = 1e-10). Metrics from (1, 1): mean state error over [0, T_SHORT] and over [0, T_LONG],
max relative error of the TRUE H over [0, T_LONG].

Not done here: the goal-informed penalty ε‖r_Θ‖² and scheme learning from snapshot pairs with ε log10 κ(J_h).

Run: OMP_NUM_THREADS=1 python examples/repro_001_lotka_volterra.py [--out examples/output] [--quick] [--set K=V]
``--quick`` (about a minute of one core; numbers not meaningful) uses QUICK below; the printed settings are those
it ran. The verdicts are printed; the exit status is 0 whenever the run completed.
"""
import numpy as np

from _repro_common import (parse_args, print_settings, pyplot, savefig, solve, timed_fit,
                           verdict_line, run_settings, write_table)

SETTINGS = dict(n_train=1000, x_range=(0.5, 6.0), y_range=(0.25, 2.5), hidden=(64, 64), lr=3e-3, steps=3000,
                batch=256, dt=0.1, t_short=10.0, t_long=100.0, z0=(1.0, 1.0))
QUICK = dict(n_train=300, hidden=(32, 32), steps=300, t_short=5.0, t_long=10.0)


def true_field(z):
    x, y = z[:, 0], z[:, 1]
    return np.stack([x * (1 - y), y * (x - 2)], axis=1)


def true_energy(z):
    x, y = z[..., 0], z[..., 1]
    return x - 2 * np.log(x) + y - np.log(y)


# ------------------------------------------------------------------------------------------- DVI (torch)

def reference_potentials():
    """Three symplectic potentials A(z) of the true W, single-state torch callables (2,) -> (2,)."""
    import torch

    def a1(z):
        return torch.stack([torch.zeros_like(z[0]), torch.log(z[0]) / z[1]])

    def a2(z):
        return torch.stack([-torch.log(z[1]) / z[0], torch.zeros_like(z[0])])

    def a3(z):
        return a1(z) + z ** 2     # + ∇φ, φ = (x³ + y³) / 3 (a quadratic φ would be invisible to the midpoint DVI)

    return {"A1 = (0, ln x / y)": a1, "A2 = (-ln y / x, 0)": a2, "A3 = A1 + grad (x^3+y^3)/3": a3}


def true_grad_h():
    import torch

    return lambda z: torch.stack([1 - 2 / z[0], 1 - 1 / z[1]])


def dvi_residual(A, grad_h, dt):
    """R(z_prev, z, z_next) = D₂L_d(z_prev, z) + D₁L_d(z, z_next) for single states (2,)."""
    from torch.func import jacrev

    def d1(a, b):
        m = 0.5 * (a + b)
        return 0.5 * jacrev(A)(m).T @ (b - a) - A(m) - 0.5 * dt * grad_h(m)

    def d2(a, b):
        m = 0.5 * (a + b)
        return 0.5 * jacrev(A)(m).T @ (b - a) + A(m) - 0.5 * dt * grad_h(m)

    return lambda zp, z, zn: d2(zp, z) + d1(z, zn)


def dvi_step(residual, zp, z, guess, tol=1e-12, max_iter=25):
    """Newton for z_next with residual(zp, z, z_next) = 0; returns (z_next, converged)."""
    import torch
    from torch.func import jacrev

    zn = guess.clone()
    for _ in range(max_iter):
        r = residual(zp, z, zn)
        jac = jacrev(lambda w: residual(zp, z, w))(zn)
        try:
            delta = torch.linalg.solve(jac, r)
        except RuntimeError:
            return zn, False
        zn = zn - delta
        if not torch.isfinite(zn).all():
            return zn, False
        if float(delta.detach().abs().max()) < tol * (1 + float(zn.detach().abs().max())):
            return zn, True
    return zn, False


def dvi_solve(A, grad_h, z0, z1, dt, n_steps):
    """DVI trajectory (n_steps + 1, 2) from z0 and the starting step z1; NaN after a Newton failure."""
    import torch

    residual = dvi_residual(A, grad_h, dt)
    zs = [torch.as_tensor(z0, dtype=torch.float64), torch.as_tensor(z1, dtype=torch.float64)]
    out = np.full((n_steps + 1, 2), np.nan)
    out[0], out[1] = z0, z1
    for k in range(2, n_steps + 1):
        zn, ok = dvi_step(residual, zs[-2], zs[-1], 2 * zs[-1] - zs[-2])
        if not ok or float(zn.detach().min()) <= 0:
            break
        zs.append(zn.detach())
        out[k] = zn.detach().numpy()
    return out


def dvi_local_error(A, grad_h, orbit, dt):
    """Mean |z_{k+1}^DVI − z(t_{k+1})| when the DVI is fed the exact z(t_{k−1}), z(t_k) (local error)."""
    import torch

    residual = dvi_residual(A, grad_h, dt)
    zt = torch.as_tensor(orbit, dtype=torch.float64)
    errs = []
    for k in range(1, len(orbit) - 1):
        zn, ok = dvi_step(residual, zt[k - 1], zt[k], 2 * zt[k] - zt[k - 1])
        errs.append(float(torch.linalg.norm(zn - zt[k + 1])) if ok else np.inf)
    return float(np.mean(errs))


def gauge_ratio(A, zs):
    """mean ‖sym(DA)‖_F / ‖skew(DA)‖_F over states ``zs`` (n, 2): how much of DA the loss never sees."""
    import torch
    from torch.func import jacrev, vmap

    D = vmap(jacrev(A))(torch.as_tensor(zs, dtype=torch.float64))
    sym, skew = 0.5 * (D + D.transpose(-1, -2)), 0.5 * (D - D.transpose(-1, -2))
    return float((torch.linalg.norm(sym, dim=(-2, -1)) / torch.linalg.norm(skew, dim=(-2, -1))).mean())


# ------------------------------------------------------------------------------------------------- main

def rk4_first_step(field, z0, dt):
    from hamid.integrators import integrate_field

    return integrate_field(field, z0[None], dt=dt, n_steps=1, method="rk4")[0, 1]


def metrics(traj, truth, times, c):
    with np.errstate(over="ignore", invalid="ignore"):
        err = np.linalg.norm(traj - truth, axis=-1)
        rel_h = np.abs(true_energy(traj) - true_energy(truth[:1])) / abs(true_energy(truth[0]))
    err = np.where(np.isfinite(err), err, np.inf)
    rel_h = np.where(np.isfinite(rel_h), rel_h, np.inf)
    short = times <= c["t_short"] + 1e-9
    finite = np.isfinite(traj).all(axis=-1)
    return {"err_short": float(err[short].mean()), "err_long": float(err.mean()),
            "rel_H_err_max_long": float(rel_h.max()), "t_completed": float(times[finite].max())}


def main():
    args, out = parse_args(__doc__.splitlines()[0])
    import torch
    from hamid.integrators import allow_nonfinite, integrate_field
    from hamid.models.neural import HNN, MLPField, NeuralSymplecticForm

    c = run_settings(args, SETTINGS, QUICK)
    line = print_settings("Seed 001: neural symplectic form on Lotka-Volterra", c, args.quick)
    rng = np.random.default_rng(args.seed)
    z = np.stack([rng.uniform(*c["x_range"], c["n_train"]), rng.uniform(*c["y_range"], c["n_train"])], axis=1)
    dz = true_field(z)
    dt = float(c["dt"])
    n_steps = int(round(c["t_long"] / dt))
    times = np.arange(n_steps + 1) * dt
    z0 = np.asarray(c["z0"], dtype=np.float64)
    truth = solve(true_field, z0[None], times)[0]

    common = dict(hidden=c["hidden"], lr=c["lr"], lr_schedule="cosine", max_steps=c["steps"], batch_size=c["batch"],
                  weight_decay=0.0, validation_fraction=0.0, patience=None, dtype="float64", seed=args.seed)
    models = {"NeuralSymplecticForm": NeuralSymplecticForm(canonical_offset=True, **common),
              "HNN (canonical J)": HNN(**common), "MLP": MLPField(**common)}
    rows, trajs = [], {}
    fields = {"true field": true_field}
    for label, model in models.items():
        fit_s = timed_fit(model, z[:, :1], z[:, 1:], dq=dz[:, :1], dp=dz[:, 1:])
        fields[label] = model.vector_field
        rows.append({"model": label, "scheme": "(fit)", "field_mse": float(np.mean((model.vector_field(z) - dz) ** 2)),
                     "fit_s": fit_s})
        print(f"{label}: field MSE {rows[-1]['field_mse']:.3g}, fit {fit_s:.1f} s", flush=True)

    def nan_safe(field):
        # a diverging solution (explicit Euler spirals out of the positive quadrant) must end as NaN, not as an
        # error: the field is only evaluated on the finite rows
        def f(zz):
            ok = np.isfinite(zz).all(axis=1) & (zz > 0).all(axis=1)
            res = np.full_like(zz, np.nan)
            if ok.any():
                res[ok] = field(zz[ok])
            return res
        return f

    for label, field in fields.items():
        for scheme in ("euler", "rk4"):
            # the same hamid integrators as model.simulate (integrate_field on the model's vector field)
            with np.errstate(all="ignore"), allow_nonfinite():
                traj = integrate_field(nan_safe(field), z0[None], dt=dt, n_steps=n_steps, method=scheme)[0]
            trajs[(label, scheme)] = traj
            rows.append({"model": label, "scheme": scheme, **metrics(traj, truth, times, c)})
            print(rows[-1], flush=True)

    # geometric scheme: DVI with the reference potentials (true H) and with the learned (A_θ, H_θ)
    grad_h = true_grad_h()
    gauges = {}
    potentials = dict(reference_potentials())
    nsf = models["NeuralSymplecticForm"]
    net = nsf.module_
    learned_a = lambda zz: net.potential(zz[None])[0]                       # noqa: E731
    learned_gh = torch.func.grad(lambda zz: net.energy(zz[None])[0])
    z1_true = rk4_first_step(true_field, z0, dt)
    orbit = truth[: int(round(c["t_short"] / dt)) + 1]
    for name, A in potentials.items():
        traj = dvi_solve(A, grad_h, z0, z1_true, dt, n_steps)
        trajs[("true field", "DVI " + name)] = traj
        gauges[name] = {"gauge_ratio_on_data": gauge_ratio(A, z),
                        "dvi_local_err": dvi_local_error(A, grad_h, orbit, dt)}
        rows.append({"model": "true field", "scheme": "DVI " + name, **metrics(traj, truth, times, c), **gauges[name]})
        print(rows[-1], flush=True)
    z1 = rk4_first_step(nsf.vector_field, z0, dt)
    traj = dvi_solve(learned_a, learned_gh, z0, z1, dt, n_steps)
    trajs[("NeuralSymplecticForm", "DVI learned A")] = traj
    gl = {"gauge_ratio_on_data": gauge_ratio(learned_a, z),
          "dvi_local_err": dvi_local_error(learned_a, learned_gh, orbit, dt)}
    rows.append({"model": "NeuralSymplecticForm", "scheme": "DVI learned A", **metrics(traj, truth, times, c), **gl})
    print(rows[-1], flush=True)

    by = {(r["model"], r["scheme"]): r for r in rows}
    nsf_rk4, hnn_rk4 = by[("NeuralSymplecticForm", "rk4")], by[("HNN (canonical J)", "rk4")]
    ref_dvi = by[("true field", "DVI " + next(iter(potentials)))]
    local = [g["dvi_local_err"] for g in gauges.values()]
    verdicts = [
        verdict_line("structure: NSF + RK4 beats HNN + RK4 on the long-time state error",
                     nsf_rk4["err_long"] < hnn_rk4["err_long"]),
        verdict_line("scheme (true field, Δt = 0.1): DVI's long-time H error < explicit Euler's",
                     ref_dvi["rel_H_err_max_long"] < by[("true field", "euler")]["rel_H_err_max_long"]),
        verdict_line("gauge: the DVI local error on the exact orbit differs between potentials of one W (max/min > 2)",
                     max(local) > 2 * min(local)),
        verdict_line("learned model: DVI on (A_θ, H_θ) does worse at long time than RK4 on the same model",
                     by[("NeuralSymplecticForm", "DVI learned A")]["err_long"] > nsf_rk4["err_long"]),
    ]
    cols = ["model", "scheme", "field_mse", "fit_s", "err_short", "err_long", "rel_H_err_max_long", "t_completed",
            "gauge_ratio_on_data", "dvi_local_err"]
    md = write_table(out, "seed001_lotka_volterra", rows, cols,
                     title="Seed 001: Lotka-Volterra from (1, 1), Δt = 0.1"
                           + (" [--quick smoke run]" if args.quick else ""),
                     notes=[line, f"seed {args.seed}; err: L2 state error vs DOP853 truth (mean over the period); "
                                  "rel_H: |H(z_t) − H(z_0)| / |H(z_0)| with the true H; gauge ratio: mean "
                                  "‖sym DA‖/‖skew DA‖ on the training states; dvi_local_err: DVI fed the exact "
                                  f"z(t_(k-1)), z(t_k) on [0, {c['t_short']}]"] + verdicts)
    print(md)
    plt = pyplot()
    fig, ax = plt.subplots(1, 2, figsize=(11, 4.5))
    ax[0].plot(truth[:, 0], truth[:, 1], "k-", lw=2, label="truth")
    for key, style in ((("NeuralSymplecticForm", "rk4"), "b-"), (("HNN (canonical J)", "rk4"), "r--"),
                       (("NeuralSymplecticForm", "DVI learned A"), "g:"), (("true field", "euler"), "m-.")):
        ax[0].plot(trajs[key][:, 0], trajs[key][:, 1], style, lw=1, label=" + ".join(key))
    ax[0].set(xlabel="x", ylabel="y", title="solutions from (1, 1)", xlim=(0, 7), ylim=(0, 3))
    ax[0].legend(fontsize=7)
    for key in trajs:
        with np.errstate(all="ignore"):
            rel = np.abs(true_energy(trajs[key]) - true_energy(truth[0])) / abs(true_energy(truth[0]))
        ax[1].semilogy(times, rel + 1e-16, lw=0.8, label=" + ".join(key))
    ax[1].set(xlabel="t", ylabel="relative error of the true H", title="energy")
    ax[1].legend(fontsize=6)
    savefig(fig, out, "seed001_lotka_volterra")
    plt.close(fig)


if __name__ == "__main__":
    main()
