"""Correctness of the fast paths: product powers in generated code, the downdated backward elimination,
Gram-fed pysindy optimizers and the batched DOP853 integrator."""
import inspect
import pickle

import numpy as np
import pytest
import sympy as sp

from hamid.symbolic import compile_exprs, state_symbols
from hamid.symbolic.codegen import MAX_PRODUCT_POWER, _numpy_printer

# ------------------------------------------------------------------------------------------ codegen


def _mixed_exprs():
    x, y = sp.symbols("x y")
    return [x, y], [x**3, 2 * y / x**3, (x - y)**4 / 4, x**-2, sp.sqrt(x), x**9, sp.cos(x)**3 * y**2,
                    3 * x**2 * y**5, x**sp.Rational(3, 2), sp.Integer(2), 1 / (x + y), (x + y)**-3,
                    sp.exp(-(x * y)**2) * (x**2 + y**2)**-2, (x - 2 * y)**8, sp.Max(x, y)**2,
                    sp.Piecewise((x**3, x > 1), (y, True)), sp.pi * sp.atan2(x, y), sp.Abs(x - y)**3]


def test_product_powers_match_pow_to_round_off():
    syms, exprs = _mixed_exprs()
    f = compile_exprs(exprs, syms)
    plain = sp.lambdify(syms, exprs, modules="numpy", cse=True)  # numpy pow, the previous code
    Z = np.random.default_rng(0).uniform(0.3, 2.0, (500, 2))
    got = f(Z)
    want = np.column_stack([np.broadcast_to(v, (500,)) for v in plain(Z[:, 0], Z[:, 1])])
    rel = np.abs(got - want) / np.maximum(np.abs(want), 1e-300)
    assert rel.max() < 4e-15
    src = inspect.getsource(sp.lambdify(syms, exprs, modules="numpy", cse=True, printer=_numpy_printer()))
    for k in range(2, MAX_PRODUCT_POWER + 1):
        assert f"**{k}" not in src and f"**(-{k}" not in src
    assert "**9" in src  # larger powers keep pow


@pytest.mark.parametrize("name, kwargs", [("henon_heiles", {}), ("fpu", {"n": 10}), ("pendulum", {})])
def test_generated_fields_identical_to_round_off(name, kwargs):
    from hamid.systems import get_system

    system = get_system(name, **kwargs)
    H = system.hamiltonian
    qs, ps = state_symbols(system.n_dof)
    syms = list(qs) + list(ps)
    grads = [sp.diff(H, s) for s in syms]
    Z = np.random.default_rng(1).uniform(-0.8, 0.8, (300, len(syms)))
    want = np.column_stack([np.broadcast_to(v, (300,)) for v in
                            sp.lambdify(syms, grads, modules="numpy", cse=True)(*Z.T)])
    got = compile_exprs(grads, syms)(Z)
    assert np.abs(got - want).max() <= 1e-14 * max(1.0, np.abs(want).max())
    # column-major input (as the integrators pass it) gives the same numbers, column-major
    got_f = compile_exprs(grads, syms)(np.asfortranarray(Z))
    assert np.array_equal(got_f, got) and got_f.flags.f_contiguous


def test_compiled_functions_pickle():
    syms, exprs = _mixed_exprs()
    f = compile_exprs(exprs, syms)
    g = pickle.loads(pickle.dumps(f))
    Z = np.random.default_rng(2).uniform(0.5, 1.5, (7, 2))
    assert np.array_equal(g(Z), f(Z))
    assert g.exprs == f.exprs and g.symbols == f.symbols and g.backend == "numpy"


# ------------------------------------------------------------------------------------------ selection


def _reference_backward_path(G, b, yy):
    """The previous implementation (explicit inverse, recomputed every 16 steps, copied on every step)."""
    from scipy import linalg

    m = G.shape[0]
    S = list(range(m))
    ridge = 0.0
    try:
        np.linalg.cholesky(G)
    except np.linalg.LinAlgError:
        ridge = 1e-12
    P = None
    out = []
    for step in range(m):
        if P is None or step % 16 == 0:
            Gs = G[np.ix_(S, S)] + ridge * np.eye(len(S))
            try:
                P = linalg.inv(Gs, check_finite=False)
            except linalg.LinAlgError:
                P = linalg.pinvh(Gs)
        xi = P @ b[S]
        out.append((tuple(S), max(float(yy - b[S] @ xi), 0.0)))
        if len(S) == 1:
            break
        cost = xi ** 2 / np.maximum(np.diag(P), 1e-300)
        k = int(np.argmin(cost))
        keep = np.arange(len(S)) != k
        pk = P[keep, k]
        P = P[np.ix_(keep, keep)] - np.outer(pk, pk) / P[k, k]
        del S[k]
    return out


def _random_gram(n, m, seed, collinear=False):
    from hamid.models.sparse.selection import normalize_gram

    rng = np.random.default_rng(seed)
    A = rng.standard_normal((n, m)) @ (np.eye(m) + 0.3 * rng.standard_normal((m, m)) / np.sqrt(m))
    if collinear:
        A[:, -1] = A[:, 0] + A[:, 1]
    xt = np.zeros(m)
    xt[rng.choice(m, 6, replace=False)] = rng.standard_normal(6)
    y = A @ xt + 0.1 * rng.standard_normal(n)
    G, b, _ = normalize_gram(A.T @ A, A.T @ y)
    return G, b, float(y @ y)


@pytest.mark.parametrize("m, seed", [(7, 0), (90, 1), (260, 2)])  # 260 > _SMALL: the LAPACK inverse
def test_backward_path_matches_reference(m, seed):
    from hamid.models.sparse.selection import backward_path

    G, b, yy = _random_gram(3 * m + 50, m, seed)
    new, ref = backward_path(G, b, yy), _reference_backward_path(G, b, yy)
    assert [S for S, _ in new] == [S for S, _ in ref]
    assert max(abs(r1 - r2) for (_, r1), (_, r2) in zip(new, ref)) <= 1e-12 * yy


def test_backward_path_singular_gram():
    from hamid.models.sparse.selection import backward_path

    G, b, yy = _random_gram(200, 40, 3, collinear=True)
    new, ref = backward_path(G, b, yy), _reference_backward_path(G, b, yy)
    assert [S for S, _ in new] == [S for S, _ in ref]
    assert all(len(S) == 40 - i for i, (S, _) in enumerate(new))
    # supports with a regular Gram matrix: the residual equals a direct least-squares solve to round-off
    n_regular = 0
    for S, r in new:
        Gs = G[np.ix_(S, S)]
        if np.linalg.cond(Gs) < 1e8:
            n_regular += 1
            x = np.linalg.solve(Gs, b[list(S)])
            assert abs(r - (yy - b[list(S)] @ x)) <= 1e-12 * yy
    assert n_regular >= 30


def test_variance_inflation_matches_eigendecomposition():
    from hamid.models.sparse.selection import variance_inflation

    G, _, _ = _random_gram(300, 50, 4)
    w, V = np.linalg.eigh(G)
    assert np.allclose(variance_inflation(G), np.einsum("kj,j,kj->k", V, 1 / w, V), rtol=1e-10)
    G, _, _ = _random_gram(300, 50, 4, collinear=True)
    vif = variance_inflation(G)
    assert np.isinf(vif[[0, 1, 49]]).all() and np.isfinite(vif[2:49]).all()


# ------------------------------------------------------------------------------ Gram-fed pysindy


class _BlockSystem:
    """The Gram interface of hamid's LinearSystem, built from a dense design cut into blocks."""

    def __init__(self, A, y, n_blocks):
        parts = np.array_split(np.arange(A.shape[0]), n_blocks)
        self.gram = np.stack([A[i].T @ A[i] for i in parts])
        self.rhs = np.stack([A[i].T @ y[i] for i in parts])
        self.yy = np.array([y[i] @ y[i] for i in parts])
        self.n_rows = np.array([len(i) for i in parts])

    @property
    def total(self):
        return self.gram.sum(0), self.rhs.sum(0), float(self.yy.sum()), int(self.n_rows.sum())


def _sparse_problem(n=4000, m=30, seed=5):
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((n, m)) * rng.uniform(0.1, 10.0, m)  # columns of very different scales
    A[:, 1] += 0.5 * A[:, 0] / A[:, 0].std() * A[:, 1].std()     # some correlation
    xt = np.zeros(m)
    xt[[0, 3, 7, 12, 20]] = np.array([1.0, -0.8, 0.6, 1.5, -1.0]) / A[:, [0, 3, 7, 12, 20]].std(0)
    y = A @ xt + 0.05 * rng.standard_normal(n)
    return A, y, xt


@pytest.mark.parametrize("name", ["stlsq", "sr3", "ssr"])
def test_gram_fed_pysindy_equals_dense(name):
    pytest.importorskip("pysindy")
    from hamid.models.sparse.optimizers import get_optimizer

    A, y, xt = _sparse_problem()
    wrapper = get_optimizer(name)
    coef, info = wrapper.solve(_BlockSystem(A, y, 10), normalize=True)
    assert "compressed" in info["criterion"]
    # the previous implementation: the optimizer on the dense, column-normalized design, then a refit
    s = np.sqrt(np.mean(A ** 2, axis=0))
    ys = np.sqrt(np.mean(y ** 2))
    import copy

    opt = copy.deepcopy(wrapper.opt)
    with np.errstate(all="ignore"):
        opt.fit(A / s, y / ys)
    dense = np.asarray(opt.coef_).reshape(-1) * ys / s
    support = np.flatnonzero(dense)
    ref = np.zeros_like(dense)
    ref[support] = np.linalg.lstsq(A[:, support], y, rcond=None)[0]
    assert np.array_equal(np.flatnonzero(coef), support)
    assert np.allclose(coef, ref, rtol=1e-9, atol=1e-12)
    if name == "stlsq":
        assert np.array_equal(support, np.flatnonzero(xt))


def test_gram_fed_ensemble_bags_blocks():
    pytest.importorskip("pysindy")
    from hamid.models.sparse.optimizers import get_optimizer

    A, y, xt = _sparse_problem(seed=6)
    system = _BlockSystem(A, y, 10)
    c1, info1 = get_optimizer("ensemble").solve(system, random_state=3)
    c2, info2 = get_optimizer("ensemble").solve(system, random_state=3)
    assert np.array_equal(c1, c2) and info1 == info2  # seeded, reproducible
    incl = np.array(info1["ensemble_inclusion"])
    assert incl.shape == (A.shape[1],) and np.all(incl[np.flatnonzero(xt)] == 1.0)
    assert np.array_equal(np.flatnonzero(c1), np.flatnonzero(xt))


# ------------------------------------------------------------------------------------------ dop853


def test_dop853_batched_accuracy_and_tolerance_scaling():
    from hamid.integrators import get_method, integrate
    from hamid.systems import get_system

    H = get_system("henon_heiles").hamiltonian
    z0 = np.random.default_rng(7).uniform(-0.3, 0.3, (16, 4))
    # reference: Yoshida 4 at a small step (error ~1e-12 over t = 5)
    ref = integrate(H, z0, dt=2.5e-3, n_steps=2000, method="yoshida4", save_every=200)
    errors = []
    for rtol in (1e-6, 1e-8, 1e-10):
        out = integrate(H, z0, dt=0.5, n_steps=10, method=get_method("dop853", rtol=rtol, atol=rtol * 1e-2))
        assert out.shape == ref.shape and np.array_equal(out[:, 0], z0)
        errors.append(np.abs(out - ref).max())
    assert errors[2] < 1e-9 and errors[0] > errors[1] > errors[2]
    # the output grid, not the step: a finer grid gives the same states at the common times
    fine = integrate(H, z0, dt=0.25, n_steps=20, method="dop853")
    assert np.abs(fine[:, ::2] - integrate(H, z0, dt=0.5, n_steps=10, method="dop853")).max() < 1e-9
