"""Benchmark: hamid's integrators against hand-written numpy, scipy and torch.

Run ``python benchmarks/bench_integrators.py`` (``--quick`` for a smaller, faster run; ``--section`` to run
one part). Every section times its variants in interleaved rounds (every variant once per round, so that
load changes on a shared machine hit all alike), reports the best of k and prints ratios against a named
reference measured in the same run.

``pendulum``
    Pendulum H = p²/2 − cos q, N = 10,000 initial conditions × 1,000 steps of dt = 0.01, every state saved
    (output of shape (N, 1001, 2)). Reference: a hand-written in-place numpy leapfrog. Also a
    ``scipy.integrate.solve_ivp`` loop over trajectories (a subset timed and extrapolated linearly; the
    output says so) and hamid's torch backend.
``codegen``
    The generated force code: leapfrog, final state only, on the pendulum, Hénon–Heiles and the FPUT-β chain
    with d = 10, N = 10,000 × 500 steps. Reference: a hand-written in-place numpy leapfrog per system
    (coordinates as contiguous rows, preallocated buffers, kicks fused across steps like hamid's).
``accuracy``
    Accuracy per second at equal final-state error: hamid's methods at the step that reaches the target
    error, against ``scipy.integrate.solve_ivp`` (DOP853) called once on the whole flattened batch (the
    strongest scipy usage) and, extrapolated, once per trajectory.
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import time

import numpy as np
import sympy as sp

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir))

from hamid.integrators import integrate  # noqa: E402
from hamid.symbolic import state_symbols  # noqa: E402


def interleaved_times(variants, repeats):
    """Time each callable of ``variants`` once per round for ``repeats`` rounds.

    Interleaving the variants makes load changes on a shared machine hit all of them alike. Returns the seconds of
    every round per key and the result of each variant's last call.
    """
    times = {k: [] for k in variants}
    results = {}
    for _ in range(repeats):
        for key, fn in variants.items():
            t0 = time.perf_counter()
            results[key] = fn()
            times[key].append(time.perf_counter() - t0)
    return times, results


def handwritten_leapfrog(z0, dt, n_steps):
    """Reference: kick–drift–kick leapfrog for the pendulum, in place, force reused across steps.

    z0 (N, 2) -> trajectory (N, n_steps + 1, 2), every state saved with synchronized p.
    """
    q = z0[:, 0].copy()
    p = z0[:, 1].copy()
    out = np.empty((z0.shape[0], n_steps + 1, 2))
    out[:, 0, 0] = q
    out[:, 0, 1] = p
    force = np.sin(q)  # ∂H/∂q = sin q
    tmp = np.empty_like(q)
    half = 0.5 * dt
    for k in range(1, n_steps + 1):
        np.multiply(force, half, out=tmp)
        p -= tmp                       # half kick
        np.multiply(p, dt, out=tmp)
        q += tmp                       # drift
        np.sin(q, out=force)
        np.multiply(force, half, out=tmp)
        p -= tmp                       # half kick
        out[:, k, 0] = q
        out[:, k, 1] = p
    return out


def handwritten_leapfrog_final(z0, dt, n_steps):
    """Reference without saving: the same loop, returning only the final states (N, 2)."""
    q = z0[:, 0].copy()
    p = z0[:, 1].copy()
    force = np.sin(q)
    tmp = np.empty_like(q)
    half = 0.5 * dt
    for _ in range(n_steps):
        np.multiply(force, half, out=tmp)
        p -= tmp
        np.multiply(p, dt, out=tmp)
        q += tmp
        np.sin(q, out=force)
        np.multiply(force, half, out=tmp)
        p -= tmp
    return np.column_stack([q, p])


def best_of(fn, repeats):
    times = []
    result = None
    for _ in range(repeats):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return min(times), result


def pendulum_section(args):

    n, steps = (2_000, 200) if args.quick else (10_000, 1_000)
    repeats = args.repeats or (3 if args.quick else 5)
    dt = 0.01
    rng = np.random.default_rng(0)
    z0 = np.column_stack([rng.uniform(-2.5, 2.5, n), rng.uniform(-1.0, 1.0, n)])
    (q,), (p,) = state_symbols(1)
    H = p**2 / 2 - sp.cos(q)

    print(f"pendulum H = {H}; N = {n} initial conditions x {steps} steps, dt = {dt}, all states saved; "
          f"best of {repeats}")

    try:
        import torch
    except ImportError:  # pragma: no cover
        torch = None
    if torch is not None:
        torch.set_num_threads(args.threads)
        zt = torch.as_tensor(z0, dtype=torch.float64)

    def hamid_torch(save_every):
        with torch.no_grad():
            return integrate(H, zt, dt=dt, n_steps=steps, save_every=save_every, backend="torch")

    integrate(H, z0[:10], dt=dt, n_steps=3)  # compile once, outside the timings
    variants = {
        "ref": lambda: handwritten_leapfrog(z0, dt, steps),
        "np": lambda: integrate(H, z0, dt=dt, n_steps=steps, method="leapfrog"),
        "ref_final": lambda: handwritten_leapfrog_final(z0, dt, steps),
        "np_final": lambda: integrate(H, z0, dt=dt, n_steps=steps, save_every=steps),
    }
    if torch is not None:
        hamid_torch(1)
        variants["torch"] = lambda: hamid_torch(1)
        variants["torch_final"] = lambda: hamid_torch(steps)
    times, results = interleaved_times(variants, repeats)
    results = {k: r if k in ("ref", "ref_final") else np.asarray(r) for k, r in results.items()}
    best = {k: min(v) for k, v in times.items()}
    t_ref, t_np = best["ref"], best["np"]
    ref = results["ref"]
    diff_np = float(np.abs(results["np"] - ref).max())
    rows = [("hand-written numpy leapfrog (reference)", t_ref, "")]
    rows.append(("hamid leapfrog, numpy backend", t_np, f"max |diff| vs reference {diff_np:.1e}"))

    # scipy: one solve_ivp call per trajectory, RK45 with tolerances that reach leapfrog-like accuracy
    from scipy.integrate import solve_ivp

    def rhs(t, y):
        return np.array([y[1], -np.sin(y[0])])

    subset = min(args.scipy_subset, n)
    t_eval = np.arange(steps + 1) * dt

    def scipy_loop():
        for z in z0[:subset]:
            solve_ivp(rhs, (0.0, steps * dt), z, t_eval=t_eval, rtol=1e-6, atol=1e-9)

    t_sub, _ = best_of(scipy_loop, max(1, repeats // 2))
    t_scipy = t_sub * n / subset
    rows.append((f"scipy solve_ivp (RK45, rtol 1e-6) loop, {subset} trajectories timed, x{n // subset} extrapolated",
                 t_scipy, f"measured {t_sub:.3f} s for {subset}"))
    if torch is not None:
        t_t = best["torch"]
        diff_t = float(np.abs(results["torch"] - ref).max())
        rows.append((f"hamid leapfrog, torch backend (cpu, float64, {torch.get_num_threads()} threads, no_grad)",
                     t_t, f"max |diff| vs reference {diff_t:.1e}"))

    width = max(len(r[0]) for r in rows)
    print(f"{'variant (all states saved)'.ljust(width)}  {'time [s]':>9}  {'/ reference':>11}")
    for label, t, note in rows:
        print(f"{label.ljust(width)}  {t:9.4f}  {t / t_ref:10.2f}x  {note}")
    print(f"hamid numpy / hand-written: {t_np / t_ref:.2f}x (target <= 1.2x)")
    print(f"scipy loop (extrapolated) / hamid numpy: {t_scipy / t_np:.0f}x (one solve_ivp call per trajectory; "
          "against one call on the whole batch see --section accuracy)")
    if torch is not None:
        print(f"hamid torch / hamid numpy: {t_t / t_np:.2f}x (target < 1: torch faster)")

    # the same runs keeping only the final state: the cost of stepping without the strided output writes
    t_ref_f = best["ref_final"]
    rows_f = [("hand-written numpy leapfrog, final state only (reference)", t_ref_f, ""),
              ("hamid numpy, save_every = n_steps", best["np_final"],
               f"max |diff| {float(np.abs(results['np_final'][:, -1] - results['ref_final']).max()):.1e}")]
    if torch is not None:
        rows_f.append(("hamid torch, save_every = n_steps", best["torch_final"], ""))
    width = max(len(r[0]) for r in rows_f)
    print(f"{'variant (final state only)'.ljust(width)}  {'time [s]':>9}  {'/ reference':>11}")
    for label, t, note in rows_f:
        print(f"{label.ljust(width)}  {t:9.4f}  {t / t_ref_f:10.2f}x  {note}")
    return 0


def _soa_leapfrog(force, z0, dt, n_steps):
    """Hand-written in-place leapfrog on coordinates stored as contiguous rows ``q[i]`` (d, N).

    ``force(q, f)`` writes ∂V/∂q into ``f`` (d, N) in place. Kicks are fused across steps (half kick, then
    n − 1 (drift, full kick), drift, half kick): one force evaluation per step, like hamid's executor.
    Returns the final states (N, 2d).
    """
    d = z0.shape[1] // 2
    q = np.ascontiguousarray(z0[:, :d].T)
    p = np.ascontiguousarray(z0[:, d:].T)
    f = np.empty_like(q)
    tmp = np.empty_like(q)
    force(q, f)
    np.multiply(f, 0.5 * dt, out=tmp)
    p -= tmp
    for k in range(n_steps):
        np.multiply(p, dt, out=tmp)
        q += tmp
        force(q, f)
        np.multiply(f, dt if k < n_steps - 1 else 0.5 * dt, out=tmp)
        p -= tmp
    return np.concatenate([q.T, p.T], axis=1)


def _pendulum_force(q, f):
    np.sin(q, out=f)


def _henon_heiles_force(lam):
    def force(q, f, _t={}):
        t = _t.get(q.shape)
        if t is None:
            t = _t[q.shape] = np.empty(q.shape[1])
        q1, q2 = q
        np.multiply(q1, q2, out=f[0])    # ∂V/∂q1 = q1 + 2λ q1 q2
        f[0] *= 2 * lam
        f[0] += q1
        np.multiply(q1, q1, out=f[1])    # ∂V/∂q2 = q2 + λ (q1² − q2²)
        np.multiply(q2, q2, out=t)
        f[1] -= t
        f[1] *= lam
        f[1] += q2
    return force


def _fpu_force(beta):
    def force(q, f, _buf={}):
        d, n = q.shape
        bufs = _buf.get(q.shape)
        if bufs is None:
            bufs = _buf[q.shape] = (np.empty((d + 1, n)), np.empty((d + 1, n)))
        r, g = bufs
        r[0] = q[0]                       # bond stretches r_i = q_{i+1} − q_i, fixed ends q_0 = q_{d+1} = 0
        np.subtract(q[1:], q[:-1], out=r[1:d])
        np.negative(q[d - 1], out=r[d])
        np.multiply(r, r, out=g)          # φ'(r) = r + β r³
        g *= r
        g *= beta
        g += r
        np.subtract(g[:-1], g[1:], out=f)  # ∂V/∂q_i = φ'(r_{i−1}) − φ'(r_i)
    return force


def codegen_section(args):
    """Generated force code against hand-written in-place numpy (leapfrog, final state only)."""
    from hamid.systems import get_system

    n, steps = (2_000, 100) if args.quick else (10_000, 500)
    repeats = args.repeats or (3 if args.quick else 7)
    dt = 0.01
    rng = np.random.default_rng(0)
    hh = get_system("henon_heiles")
    fpu = get_system("fpu", n=10)
    (q,), (p,) = state_symbols(1)
    cases = {
        "pendulum": (p**2 / 2 - sp.cos(q), _pendulum_force,
                     np.column_stack([rng.uniform(-2.5, 2.5, n), rng.uniform(-1.0, 1.0, n)])),
        "henon_heiles": (hh.hamiltonian, _henon_heiles_force(hh.constants["lam"]), rng.uniform(-0.3, 0.3, (n, 4))),
        "fpu d=10": (fpu.hamiltonian, _fpu_force(fpu.constants["beta"]),
                     np.concatenate([rng.uniform(-0.5, 0.5, (n, 10)), rng.uniform(-1, 1, (n, 10))], axis=1)),
    }
    print(f"leapfrog, N = {n} x {steps} steps of dt = {dt}, final state only (save_every = n_steps); "
          f"best of {repeats}, interleaved rounds")
    variants = {}
    for name, (H, force, z0) in cases.items():
        integrate(H, z0[:4], dt=dt, n_steps=2)  # compile outside the timings
        variants[(name, "ref")] = (lambda f=force, z=z0: _soa_leapfrog(f, z, dt, steps))
        variants[(name, "hamid")] = (lambda H=H, z=z0: integrate(H, z, dt=dt, n_steps=steps,
                                                                 save_every=steps)[:, -1])
    times, results = interleaved_times(variants, repeats)
    print(f"{'system':14s} {'hand-written [s]':>17s} {'hamid [s]':>10s} {'hamid / ref':>12s}  max |diff|")
    for name in cases:
        t_ref, t_h = min(times[(name, "ref")]), min(times[(name, "hamid")])
        diff = float(np.abs(results[(name, "ref")] - results[(name, "hamid")]).max())
        print(f"{name:14s} {t_ref:17.4f} {t_h:10.4f} {t_h / t_ref:11.2f}x  {diff:.1e}")
    print("target: hamid / hand-written <= 1.1x, results identical to round-off")


def accuracy_section(args):
    """Accuracy per second: time to reach a final-state error of 1e-9, batched solve_ivp as the reference."""
    from scipy.integrate import solve_ivp

    from hamid.integrators import get_method
    from hamid.symbolic.codegen import compile_exprs
    from hamid.systems import get_system

    n = 500 if args.quick else 2_000
    repeats = args.repeats or (2 if args.quick else 3)
    T, target = 10.0, 1e-9
    rng = np.random.default_rng(3)
    (q,), (p,) = state_symbols(1)
    hh = get_system("henon_heiles")
    cases = {
        "pendulum": (p**2 / 2 - sp.cos(q), np.column_stack([rng.uniform(-2.0, 2.0, n), rng.uniform(-1.0, 1.0, n)])),
        "henon_heiles": (hh.hamiltonian, rng.uniform(-0.3, 0.3, (n, 4))),
    }
    print(f"N = {n} trajectories to t = {T}, final state only; error = max over trajectories and components of "
          f"|z(T) - reference| (reference: batched DOP853 at rtol 1e-13); target error {target:g}; "
          f"best of {repeats}, interleaved rounds")
    for name, (H, z0) in cases.items():
        D = z0.shape[1]
        d = D // 2
        qs, ps = state_symbols(d)
        field = compile_exprs([sp.diff(H, s) for s in ps] + [-sp.diff(H, s) for s in qs], list(qs) + list(ps))

        def scipy_batch(rtol, z0=z0, field=field, D=D):
            sol = solve_ivp(lambda t, y: field(y.reshape(-1, D)).reshape(-1), (0.0, T), z0.reshape(-1),
                            method="DOP853", t_eval=[T], rtol=rtol, atol=rtol * 1e-3)
            return sol.y[:, -1].reshape(-1, D)

        def scipy_one(rtol, z, field=field):
            sol = solve_ivp(lambda t, y: field(y[None])[0], (0.0, T), z, method="DOP853", t_eval=[T],
                            rtol=rtol, atol=rtol * 1e-3)
            return sol.y[:, -1]

        ref = scipy_batch(1e-13)

        def err(zT):
            return float(np.abs(zT - ref).max())

        # tune each variant to the target: the loosest tolerance / largest step that reaches it
        chosen = {}
        for rtol in (1e-8, 1e-9, 1e-10, 1e-11, 1e-12):
            e = err(scipy_batch(rtol))
            if e <= target:
                chosen["scipy DOP853, one call on the batch (reference)"] = (lambda r=rtol: scipy_batch(r),
                                                                             f"rtol {rtol:g}", e)
                break
        for rtol in (1e-8, 1e-9, 1e-10, 1e-11, 1e-12):
            e = float(np.abs(np.array([scipy_one(rtol, z) for z in z0[:50]]) - ref[:50]).max())
            if e <= target:
                loop_rtol = rtol
                break
        for rtol in (1e-8, 1e-9, 1e-10, 1e-11, 1e-12):
            m = get_method("dop853", rtol=rtol, atol=rtol * 1e-3)
            e = err(integrate(H, z0, dt=T, n_steps=1, method=m)[:, -1])
            if e <= target:
                chosen["hamid dop853"] = (lambda m=m: integrate(H, z0, dt=T, n_steps=1, method=m)[:, -1],
                                          f"rtol {rtol:g}", e)
                break
        for method in ("rk4", "yoshida4"):
            order = get_method(method).order
            steps = 200
            for _ in range(4):  # error ~ dt^order: rescale the step count towards the target
                e = err(integrate(H, z0, dt=T / steps, n_steps=steps, save_every=steps, method=method)[:, -1])
                if e <= target and e > target / 4:
                    break
                steps = max(1, int(np.ceil(steps * (e / (0.7 * target)) ** (1.0 / order))))
            e = err(integrate(H, z0, dt=T / steps, n_steps=steps, save_every=steps, method=method)[:, -1])
            chosen[f"hamid {method}"] = (lambda s=steps, mth=method: integrate(H, z0, dt=T / s, n_steps=s,
                                                                               save_every=s, method=mth)[:, -1],
                                         f"{steps} steps", e)
        times, _ = interleaved_times({k: fn for k, (fn, _, _) in chosen.items()}, repeats)
        subset = min(args.scipy_subset, n)
        t0 = time.perf_counter()
        for z in z0[:subset]:
            scipy_one(loop_rtol, z)
        t_loop = (time.perf_counter() - t0) * n / subset
        best = {k: min(v) for k, v in times.items()}
        t_ref = best["scipy DOP853, one call on the batch (reference)"]
        print(f"-- {name}")
        width = max(len(k) for k in chosen) + 2
        for key, (_, setting, e) in chosen.items():
            print(f"{key.ljust(width)} {best[key]:8.4f} s  {best[key] / t_ref:7.2f}x  error {e:.1e}  ({setting})")
        print(f"{'scipy DOP853, one call per trajectory'.ljust(width)} {t_loop:8.4f} s  {t_loop / t_ref:7.2f}x  "
              f"(rtol {loop_rtol:g}; {subset} trajectories timed once, x{n / subset:g} extrapolated)")


SECTIONS = {"pendulum": pendulum_section, "codegen": codegen_section, "accuracy": accuracy_section}

def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="N = 2,000 and 200 steps, fewer repeats")
    parser.add_argument("--repeats", type=int, default=None, help="best-of-k repeats (default 5, quick 3)")
    parser.add_argument("--scipy-subset", type=int, default=50, help="trajectories timed with solve_ivp")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch.set_num_threads for the torch runs (default 1: elementwise ops on 10^4 numbers "
                             "are below torch's parallel grain size, and extra threads only add contention)")
    parser.add_argument("--section", choices=("all",) + tuple(SECTIONS), default="all")
    args = parser.parse_args(argv)
    print(f"python {platform.python_version()}, numpy {np.__version__}, machine {platform.machine()}, "
          f"{os.cpu_count()} CPUs visible, OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}")
    for name, section in SECTIONS.items():
        if args.section in ("all", name):
            print(f"\n== {name} ==")
            section(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
