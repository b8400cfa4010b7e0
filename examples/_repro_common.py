"""Shared helpers of the reproduction scripts ``examples/repro_*.py`` (data, metrics, tables, plots).

Every constant of an experiment lives in its script; this module only holds mechanics. Ground truth comes from
``scipy.integrate.solve_ivp`` (DOP853, rtol = atol = 1e-10); learned models are rolled out with their own
``simulate`` (hamid integrators).
"""
from __future__ import annotations

import argparse
import csv
import io
import os
import time
from pathlib import Path

import numpy as np

# keep the shared machine usable: one thread per process unless the caller says otherwise
os.environ.setdefault("OMP_NUM_THREADS", "1")


def parse_args(description, default_out="examples/output"):
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--out", default=default_out, help="output folder (created if missing)")
    parser.add_argument("--seed", type=int, default=0, help="seed of data and models")
    parser.add_argument("--quick", action="store_true", help="tiny smoke-test sizes (numbers not meaningful)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override one setting of scripts that read them with apply_overrides (repeatable; "
                             "VALUE is a Python literal, e.g. --set steps=500 --set hidden='(64, 64)')")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    import torch

    torch.set_num_threads(1)
    return args, out


def apply_overrides(settings, overrides):
    """Apply ``--set KEY=VALUE`` overrides to the dict ``settings`` in place (VALUE: a Python literal).

    Unknown keys raise ``SystemExit`` listing the valid ones, so a typo cannot silently run the default.
    """
    import ast

    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep or key not in settings:
            raise SystemExit(f"--set {item!r}: expected KEY=VALUE with KEY one of {', '.join(settings)}")
        try:
            settings[key] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            settings[key] = value
    return settings


def run_settings(args, settings, quick):
    """The settings a run uses: ``settings``, updated by ``quick`` under ``--quick``, then by ``--set`` overrides.

    Returns a new dict (the module-level tables are left as they are).
    """
    chosen = dict(settings)
    if args.quick:
        chosen.update(quick)
    return apply_overrides(chosen, args.set)


def settings_line(settings):
    """One line ``settings: k=v, ...`` of the constants an experiment actually ran with (quick or full)."""
    return "settings: " + ", ".join(f"{k}={v}" for k, v in settings.items())


def print_settings(title, settings, quick=False):
    """Print the experiment's title and the settings it runs with; returns the settings line.

    ``quick`` marks a smoke run: its numbers check that the code runs, not the published claim.
    """
    line = settings_line(settings)
    tag = " [--quick smoke run: numbers not meaningful]" if quick else ""
    print(f"# {title}{tag}\n{line}", flush=True)
    return line


def verdict_line(claim, holds):
    """``claim: HOLDS`` or ``claim: FAILS``; scripts print it and still exit 0 (the verdict is not the status)."""
    return f"verdict: {claim}: {'HOLDS' if holds else 'FAILS'}"


def solve(field, z0, t, rtol=1e-10, atol=1e-10):
    """Reference solution of dz/dt = field(z) for each row of ``z0`` (n, D) at times ``t`` -> (n, len(t), D)."""
    from scipy.integrate import solve_ivp

    out = np.empty((len(z0), len(t), z0.shape[1]))
    for i, y0 in enumerate(z0):
        sol = solve_ivp(lambda _t, y: field(y[None])[0], (t[0], t[-1]), y0, t_eval=t, method="DOP853",
                        rtol=rtol, atol=atol)
        if not sol.success:
            raise RuntimeError(f"reference integration failed: {sol.message}")
        out[i] = sol.y.T
    return out


def rollout(model, z0, t_end, dt, save_every, method="rk4"):
    """Model rollout from ``z0`` (n, D) to ``t_end``; returns (times, states (n, m, D))."""
    n_steps = int(round(t_end / dt))
    traj = model.simulate(z0, dt=dt, n_steps=n_steps, method=method, save_every=save_every)
    times = np.arange(traj.shape[1]) * dt * save_every
    return times, traj


def timed_fit(model, *args, **kwargs):
    start = time.perf_counter()
    model.fit(*args, **kwargs)
    return time.perf_counter() - start


def seconds_per_1000_steps(make_model, fit_args, fit_kwargs, n_steps=200):
    """Train a fresh model for ``n_steps`` steps and return wall seconds per 1,000 steps (setup excluded)."""
    model = make_model(n_steps)
    model.fit(*fit_args, **fit_kwargs)
    return 1000.0 * model.history_.seconds / model.history_.n_steps


def write_table(out, name, rows, columns, title=None, notes=()):
    """Write ``rows`` (list of dicts) as ``<name>.csv`` and ``<name>.md`` in ``out``; returns the markdown."""
    from hamid.io import atomic_write

    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({c: row.get(c, "") for c in columns})
    text = buf.getvalue()
    atomic_write(Path(out) / f"{name}.csv", lambda fh: fh.write(text.encode()))

    def fmt(v):
        if isinstance(v, float):
            return f"{v:.3g}"
        return str(v)

    lines = []
    if title:
        lines += [f"### {title}", ""]
    lines.append("| " + " | ".join(columns) + " |")
    lines.append("|" + "---|" * len(columns))
    for row in rows:
        lines.append("| " + " | ".join(fmt(row.get(c, "")) for c in columns) + " |")
    if notes:
        lines.append("")
        lines += [f"- {n}" for n in notes]
    md = "\n".join(lines) + "\n"
    atomic_write(Path(out) / f"{name}.md", lambda fh: fh.write(md.encode()))
    return md


def savefig(fig, out, name):
    from hamid.io import atomic_write

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    atomic_write(Path(out) / f"{name}.png", lambda fh: fh.write(buf.getvalue()))


def pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


# ------------------------------------------------------------------------ Greydanus et al. 2019 recipe

def greydanus_data(field, n_traj, t, radius, noise, rng):
    """Trajectories of the HNN paper's toy tasks.

    Initial states: a uniformly random direction on the circle of radius r ~ U[radius]; states at times ``t``
    from the reference solver; Gaussian noise of std ``noise`` added to q and p; derivative targets computed
    from the true field at the *clean* states (as the reference code does).

    Returns
    -------
    z_noisy, z_clean, dz : ndarray, shape (n_traj, len(t), 2)
    """
    r = rng.uniform(radius[0], radius[1], n_traj)
    angle = rng.uniform(0, 2 * np.pi, n_traj)
    z0 = np.stack([r * np.cos(angle), r * np.sin(angle)], axis=1)
    clean = solve(field, z0, t)
    dz = field(clean.reshape(-1, 2)).reshape(clean.shape)
    noisy = clean + noise * rng.standard_normal(clean.shape)
    return noisy, clean, dz


def greydanus_run(name, field, energy, cfg, args, out, title, published):
    """Train MLPField and HNN with the reference recipe ``cfg`` and report the HNN paper's metrics.

    ``cfg`` keys: n_traj, t (array), radius (lo, hi), noise, hidden, lr, weight_decay, max_steps, n_rollouts,
    rollout_t_end, rollout_dt, grid_lim, n_seeds. ``published``: dict model -> published energy MSE.
    """
    from hamid.models.neural import HNN, MLPField

    rows, curves = [], {}
    seeds = range(args.seed, args.seed + cfg["n_seeds"])
    for seed in seeds:
        rng = np.random.default_rng(seed)
        noisy, clean, dz = greydanus_data(field, cfg["n_traj"], cfg["t"], cfg["radius"], cfg["noise"], rng)
        n_tr = cfg["n_traj"] // 2                       # 50/50 split by trajectory
        tr, te = slice(0, n_tr), slice(n_tr, None)
        q, p = noisy[tr, :, :1], noisy[tr, :, 1:]
        # rollouts: fresh initial states with the training radius distribution
        r = rng.uniform(cfg["radius"][0], cfg["radius"][1], cfg["n_rollouts"])
        ang = rng.uniform(0, 2 * np.pi, cfg["n_rollouts"])
        z0 = np.stack([r * np.cos(ang), r * np.sin(ang)], axis=1)
        n_steps = int(round(cfg["rollout_t_end"] / cfg["rollout_dt"]))
        t_roll = np.arange(0, n_steps + 1, cfg["save_every"]) * cfg["rollout_dt"]
        truth = solve(field, z0, t_roll)
        g = np.linspace(-cfg["grid_lim"], cfg["grid_lim"], 21)
        grid = np.stack(np.meshgrid(g, g), -1).reshape(-1, 2)
        for label, cls in (("MLP", MLPField), ("HNN", HNN)):
            model = cls(hidden=cfg["hidden"], lr=cfg["lr"], weight_decay=cfg["weight_decay"],
                        max_steps=cfg["max_steps"], seed=seed, lr_schedule="constant", validation_fraction=0.0)
            seconds = timed_fit(model, q, p, dq=dz[tr, :, :1], dp=dz[tr, :, 1:])
            flat = lambda a: a.reshape(-1, 2)  # noqa: E731
            times, traj = rollout(model, z0, cfg["rollout_t_end"], cfg["rollout_dt"], cfg["save_every"])
            e_model = energy(traj.reshape(-1, 2)).reshape(traj.shape[:2])
            e_true = energy(truth.reshape(-1, 2)).reshape(truth.shape[:2])
            rows.append({
                "model": label, "seed": seed,
                "train_mse_noisy": float(np.mean((model.vector_field(flat(noisy[tr])) - flat(dz[tr])) ** 2)),
                "test_mse_noisy": float(np.mean((model.vector_field(flat(noisy[te])) - flat(dz[te])) ** 2)),
                "test_mse_clean": float(np.mean((model.vector_field(flat(clean[te])) - flat(dz[te])) ** 2)),
                "grid_mse": float(np.mean((model.vector_field(grid) - field(grid)) ** 2)),
                "energy_mse": float(np.mean((e_model - e_true) ** 2)),
                "rollout_mse": float(np.mean((traj - truth) ** 2)),
                "fit_s": seconds, "n_params": model.n_parameters_,
            })
            if seed == args.seed:
                curves[label] = (times, traj, e_model)
        if seed == args.seed:   # plot the first seed: truth and models from the same initial states
            curves["truth"] = (t_roll, truth, energy(truth.reshape(-1, 2)).reshape(truth.shape[:2]))
            floor = float(np.mean((field(flat(noisy[te])) - flat(dz[te])) ** 2))
    summary = []
    for label in ("MLP", "HNN"):
        sel = [r for r in rows if r["model"] == label]
        agg = {k: float(np.mean([r[k] for r in sel])) for k in sel[0] if k not in ("model", "seed")}
        agg["energy_mse_std"] = float(np.std([r["energy_mse"] for r in sel]))
        summary.append({"model": label, "published_energy_mse": published[label], **agg})
    cols = ["model", "published_energy_mse", "energy_mse", "energy_mse_std", "rollout_mse", "test_mse_noisy",
            "test_mse_clean", "grid_mse", "train_mse_noisy", "fit_s", "n_params"]
    md = write_table(out, f"{name}_summary", summary, cols, title=title, notes=[
        f"mean over {cfg['n_seeds']} seeds ({', '.join(map(str, seeds))}); std of energy MSE across seeds",
        f"derivative MSE of the TRUE field at the noisy test inputs (noise floor): {floor:.3g}",
    ])
    write_table(out, f"{name}_per_seed", rows, ["model", "seed"] + cols[2:])
    plt = pyplot()
    fig, ax = plt.subplots(1, 2, figsize=(10, 4))
    tt, truth_traj, e_true = curves["truth"]
    ax[0].plot(truth_traj[0, :, 0], truth_traj[0, :, 1], "k-", lw=2, label="truth")
    for label, style in (("MLP", "r--"), ("HNN", "b-")):
        times, traj, e_model = curves[label]
        ax[0].plot(traj[0, :, 0], traj[0, :, 1], style, lw=1, label=label)
        ax[1].plot(times, e_model[0], style, label=label)
    ax[1].plot(tt, e_true[0], "k-", lw=2, label="truth")
    ax[0].set(xlabel="q", ylabel="p", title=f"{title}: rollout 0")
    ax[1].set(xlabel="t", ylabel="true H along rollout", title="energy")
    ax[0].legend()
    ax[1].legend()
    savefig(fig, out, name)
    plt.close(fig)
    return md, summary
