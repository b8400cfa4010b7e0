"""Seed 001: backward error analysis in the linear case (Euler and midpoint, with and without structure).

For ż = M z with M = J⁻¹ I₂ = [[0, 1], [−1, 0]] (the harmonic oscillator, H = |z|²/2), "learning" a vector field
from exact snapshot pairs (z, z(Δt)) with a one-step method Φ gives the *modified* field M̃_Δt whose numerical
step reproduces the exact flow (corrected backward error analysis, Chartier, Hairer, Vilmart 2010):

- explicit Euler, Φ_h = I + h M̃:            M̃_Δt = (e^{Δt M} − I) / Δt;
- implicit midpoint, Φ_h = (I − h M̃/2)⁻¹(I + h M̃/2):  M̃_Δt = (2/Δt)(e^{Δt M} − I)(e^{Δt M} + I)⁻¹.

The learned field is then simulated with the same method at a step δt, and the error at T = 5 is
err = ‖e^{T M} − Φ_δt^{T/δt}‖₂ (spectral norm). "With structure": the learned field is forced to be Hamiltonian
in the structure J, M̃ → J⁻¹ H̃ with H̃ = ½(J M̃ + (J M̃)ᵀ) (the symmetric part of J M̃), J = [[0, −1], [1, 0]].

Claims checked (slides 12-14 of seed 001): without structure the error vanishes (to round-off) on the diagonal
δt = Δt — "simulate with the same time step as for learning" — and grows like |Δt − δt| (Euler, order 1) or
|Δt² − δt²| (midpoint, order 2) off it; with structure, Euler loses that exactness (its modified field is not
Hamiltonian: the symmetric part removes the term that compensated Euler's growth, err = O(δt) whatever Δt), while
the midpoint rule, symplectic, already learns a Hamiltonian M̃ and nothing changes.

Everything is closed-form linear algebra (scipy.linalg.expm, matrix powers): the full grid runs in seconds, and
``--quick`` only shrinks the grid.

Run: python examples/repro_001_linear_backward_error.py [--out examples/output] [--quick]
"""
import numpy as np

from _repro_common import parse_args, print_settings, pyplot, savefig, verdict_line, run_settings, write_table

T_END = 5.0
M = np.array([[0.0, 1.0], [-1.0, 0.0]])
J = np.array([[0.0, -1.0], [1.0, 0.0]])            # seed 001's symplectic form: M = J⁻¹ I₂
SETTINGS = dict(T=T_END, n_steps=(5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000))   # Δt, δt = T / n
QUICK = dict(n_steps=(20, 50, 100, 200, 500, 2000))
METHODS = ("euler", "midpoint")


def modified_matrix(dt_learn, method, structure=False):
    """M̃_Δt learned from exact pairs with ``method``; ``structure`` projects it onto J⁻¹ (symmetric).

    Returns
    -------
    ndarray, shape (2, 2)
    """
    from scipy.linalg import expm

    E = expm(dt_learn * M)
    eye = np.eye(2)
    if method == "euler":
        Mt = (E - eye) / dt_learn
    elif method == "midpoint":
        Mt = (2.0 / dt_learn) * (E - eye) @ np.linalg.inv(E + eye)
    else:
        raise ValueError(f"unknown method {method!r}; valid names: {', '.join(METHODS)}")
    if structure:
        S = J @ Mt
        Mt = np.linalg.solve(J, 0.5 * (S + S.T))
    return Mt


def step_matrix(Mt, h, method):
    """One step of ``method`` with step ``h`` for ż = M̃ z, as a matrix."""
    eye = np.eye(2)
    if method == "euler":
        return eye + h * Mt
    return np.linalg.solve(eye - 0.5 * h * Mt, eye + 0.5 * h * Mt)


def backward_error(dt_learn, dt_sim, method, structure=False, T=T_END):
    """err = ‖e^{T M} − Φ_δt^{T/δt}‖₂ for the field learned at Δt = ``dt_learn``, simulated at δt = ``dt_sim``.

    ``T / dt_sim`` must be an integer (relative tolerance 1e-9).
    """
    from scipy.linalg import expm

    n = T / dt_sim
    if abs(n - round(n)) > 1e-9 * max(n, 1.0):
        raise ValueError(f"T / dt_sim must be an integer, got {T} / {dt_sim} = {n}")
    Phi = np.linalg.matrix_power(step_matrix(modified_matrix(dt_learn, method, structure), dt_sim, method),
                                 int(round(n)))
    return float(np.linalg.norm(expm(T * M) - Phi, 2))


def error_grid(steps, method, structure, T=T_END):
    """Errors for Δt = T / steps[i] (rows) and δt = T / steps[j] (columns), shape (len(steps), len(steps))."""
    h = [T / n for n in steps]
    return np.array([[backward_error(a, b, method, structure, T) for b in h] for a in h])


def slope(x, y):
    """Least-squares slope of log y against log x (an empirical convergence order)."""
    return float(np.polyfit(np.log(x), np.log(y), 1)[0])


def main():
    args, out = parse_args(__doc__.splitlines()[0])
    c = run_settings(args, SETTINGS, QUICK)
    line = print_settings("Seed 001: linear backward error analysis, T = 5", c, args.quick)
    steps, T = tuple(c["n_steps"]), float(c["T"])
    h = np.array([T / n for n in steps])
    grids, rows = {}, []
    for method in METHODS:
        for structure in (False, True):
            g = error_grid(steps, method, structure, T)
            grids[(method, structure)] = g
            diag = np.diag(g)
            # orders off the diagonal: steps from 0.25 (below, the error saturates at O(1)) down to 10x the
            # finest step (far from the diagonal, where the other step's error dominates)
            fit = (h <= 0.25 + 1e-12) & (h >= 10 * h.min() - 1e-12)
            rows.append({"method": method, "structure": "yes" if structure else "no",
                         "max_err_diagonal": float(diag.max()),
                         "order_diagonal": slope(h, np.maximum(diag, 1e-300)) if diag.max() > 1e-10 else float("nan"),
                         "order_in_dt_learn_at_finest_dt_sim": slope(h[fit], g[fit, -1]),
                         "order_in_dt_sim_at_finest_dt_learn": slope(h[fit], g[-1, fit]),
                         "err_dt_learn_0.1_dt_sim_0.1": backward_error(0.1, 0.1, method, structure, T),
                         "err_dt_learn_0.1_dt_sim_0.01": backward_error(0.1, 0.01, method, structure, T)})
    by = {(r["method"], r["structure"]): r for r in rows}
    same_mid = float(np.max(np.abs(grids[("midpoint", True)] - grids[("midpoint", False)])))
    verdicts = [
        verdict_line("no structure: error at δt = Δt is round-off (< 1e-10), both methods",
                     by[("euler", "no")]["max_err_diagonal"] < 1e-10
                     and by[("midpoint", "no")]["max_err_diagonal"] < 1e-10),
        verdict_line("no structure: order ≈ 1 (Euler) and ≈ 2 (midpoint) in Δt away from the diagonal",
                     abs(by[("euler", "no")]["order_in_dt_learn_at_finest_dt_sim"] - 1) < 0.2
                     and abs(by[("midpoint", "no")]["order_in_dt_learn_at_finest_dt_sim"] - 2) < 0.2),
        verdict_line("structure: Euler loses the diagonal exactness, error O(δt) on it",
                     by[("euler", "yes")]["max_err_diagonal"] > 1e-3
                     and abs(by[("euler", "yes")]["order_diagonal"] - 1) < 0.3),
        verdict_line(f"structure: midpoint unchanged (max difference {same_mid:.1e} < 1e-10)", same_mid < 1e-10),
    ]
    md = write_table(out, "seed001_linear_backward_error", rows,
                     ["method", "structure", "max_err_diagonal", "order_diagonal", "order_in_dt_learn_at_finest_dt_sim",
                      "order_in_dt_sim_at_finest_dt_learn", "err_dt_learn_0.1_dt_sim_0.1",
                      "err_dt_learn_0.1_dt_sim_0.01"],
                     title="Seed 001: error at T = 5 of the field learned at Δt, simulated at δt"
                           + (" [--quick smoke run]" if args.quick else ""),
                     notes=[line, "orders: log-log slopes over steps from 0.25 down to 10x the finest step"] + verdicts)
    print(md)
    plt = pyplot()
    fig, axes = plt.subplots(2, 2, figsize=(10, 8), sharex=True, sharey=True)
    for i, structure in enumerate((False, True)):
        for j, method in enumerate(METHODS):
            ax = axes[i, j]
            im = ax.pcolormesh(np.log10(h), np.log10(h), np.log10(grids[(method, structure)] + 1e-17).T,
                               shading="nearest", vmin=-16, vmax=1)
            ax.set(title=f"{method}, {'with' if structure else 'without'} structure", xlabel="log10 Δt (learning)",
                   ylabel="log10 δt (simulation)")
    fig.colorbar(im, ax=axes, label="log10 err at T = 5")
    savefig(fig, out, "seed001_linear_backward_error")
    plt.close(fig)


if __name__ == "__main__":
    main()
