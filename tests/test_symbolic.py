import numpy as np
import pytest
import sympy as sp

from hamid.symbolic import (
    CustomLibrary, ExpressionError, PolynomialLibrary, TrigLibrary, compile_exprs, parse_expression,
    parse_library_spec, state_symbols,
)


def test_state_symbols_naming():
    assert [str(s) for s in sum(state_symbols(1), ())] == ["q", "p"]
    assert [str(s) for s in sum(state_symbols(2), ())] == ["q1", "q2", "p1", "p2"]
    # no assumptions: sympify of a printed expression gives back the same symbols
    q, = state_symbols(1)[0]
    assert sp.sympify("q") == q
    with pytest.raises(ValueError, match="positive integer"):
        state_symbols(0)


@pytest.mark.parametrize("text", [
    "__import__('os').system('echo pwned')",
    "q.__class__",
    "(lambda: 1)()",
    "[q for q in p]",
    "open('x')",
    "exp(q, p)",
    "sin(x=q)",
    "q if p else 1",
    "'a'",
])
def test_parser_rejects_anything_outside_whitelist(text):
    with pytest.raises(ExpressionError):
        parse_expression(text, ["q", "p"])


def test_parser_builds_expected_expression():
    q, p = sp.symbols("q p")
    expr = parse_expression("p^2/2 - 3*cos(2*q) + exp(-q**2) + pi", [q, p])
    assert sp.simplify(expr - (p**2 / 2 - 3 * sp.cos(2 * q) + sp.exp(-q**2) + sp.pi)) == 0


def test_parser_names_unknown_symbol_and_limits_exponent():
    with pytest.raises(ExpressionError, match="unknown name 'x'"):
        parse_expression("x + q", ["q", "p"])
    with pytest.raises(ExpressionError, match="exponent"):
        parse_expression("q**100000", ["q", "p"])


def test_polynomial_library_terms_and_no_constant():
    lib = PolynomialLibrary(2).compile(1)
    assert lib.names == ["q", "p", "q**2", "p*q", "p**2"]
    lib2 = PolynomialLibrary(3).compile(2)
    # number of monomials of degree 1..3 in 4 variables: C(4+3, 3) - 1
    assert lib2.n_terms == 34
    nocross = PolynomialLibrary(3, cross_terms=False).compile(2)
    assert nocross.n_terms == 12 and all(len(e.free_symbols) == 1 for e in nocross.expressions)


def test_composition_removes_duplicates_and_products():
    lib = (PolynomialLibrary(1) + PolynomialLibrary(2) + CustomLibrary(["2*q", "q*p"])).compile(1)
    assert lib.names == ["q", "p", "q**2", "p*q", "p**2"]
    prod = (PolynomialLibrary(1) * TrigLibrary()).compile(1)
    assert prod.names == ["q*sin(q)", "q*cos(q)", "p*sin(q)", "p*cos(q)"]


def test_custom_constant_rejected():
    with pytest.raises(ExpressionError, match="constant"):
        CustomLibrary(["1 + 0*q", "q"]).compile(1)


def test_gradients_match_finite_differences_numpy_and_torch():
    torch = pytest.importorskip("torch")
    lib = (PolynomialLibrary(3) + TrigLibrary((1, 2)) + CustomLibrary(["exp(-q1*p2)"])).compile(2)
    rng = np.random.default_rng(0)
    Z = rng.normal(size=(7, 4))
    G = lib.gradient(Z)
    assert G.shape == (7, lib.n_terms, 4)
    h = 1e-6
    for i in range(4):
        e = np.zeros(4)
        e[i] = h
        fd = (lib.evaluate(Z + e) - lib.evaluate(Z - e)) / (2 * h)
        np.testing.assert_allclose(G[:, :, i], fd, rtol=1e-6, atol=1e-7)
    Gt = lib.gradient(torch.tensor(Z), backend="torch")
    np.testing.assert_allclose(Gt.numpy(), G, rtol=1e-13, atol=1e-13)
    H = lib.hessian(Z)
    for i in range(4):
        e = np.zeros(4)
        e[i] = h
        fd = (lib.gradient(Z + e) - lib.gradient(Z - e)) / (2 * h)
        np.testing.assert_allclose(H[:, :, :, i], fd, rtol=1e-5, atol=1e-6)


def test_constant_derivatives_are_broadcast():
    torch = pytest.importorskip("torch")
    lib = PolynomialLibrary(1).compile(1)  # gradients are constants 1 and 0
    G = lib.gradient(np.zeros((5, 2)))
    assert G.shape == (5, 2, 2) and G.dtype == np.float64
    np.testing.assert_array_equal(G[:, 0, :], np.tile([1.0, 0.0], (5, 1)))
    Gt = lib.gradient(torch.zeros(5, 2, dtype=torch.float64), backend="torch")
    assert Gt.shape == (5, 2, 2) and Gt.dtype == torch.float64


def test_torch_codegen_is_differentiable():
    torch = pytest.importorskip("torch")
    q, p = state_symbols(1)[0][0], state_symbols(1)[1][0]
    f = compile_exprs([sp.sin(q) * p**2], [q, p], "torch")
    Z = torch.tensor([[0.3, 1.2]], dtype=torch.float64, requires_grad=True)
    f(Z).sum().backward()
    np.testing.assert_allclose(Z.grad.numpy(), [[np.cos(0.3) * 1.44, 2 * np.sin(0.3) * 1.2]], rtol=1e-14)


def test_codegen_rejects_wrong_width_and_unknown_backend():
    q, p = sp.symbols("q p")
    with pytest.raises(ValueError, match="last dimension 2"):
        compile_exprs([q], [q, p])(np.zeros((3, 3)))
    with pytest.raises(ValueError, match="valid backends"):
        compile_exprs([q], [q, p], backend="jax")


def test_library_spec_parsing():
    assert parse_library_spec("poly:3").compile(1).n_terms == 9
    assert parse_library_spec(["poly:1", "trig"]).compile(1).names == ["q", "p", "sin(q)", "cos(q)"]
    assert parse_library_spec("trig:1,2").compile(1).n_terms == 4
    assert parse_library_spec("custom:q**2*p**2, sin(q)*p").compile(1).names == ["p**2*q**2", "p*sin(q)"]
    with pytest.raises(ValueError, match="valid: poly"):
        parse_library_spec("fourier:3")
    with pytest.raises(ValueError, match="poly:DEG"):
        parse_library_spec("poly:x")
    with pytest.raises(ExpressionError):
        parse_library_spec("custom:__import__('os').system('true')").compile(1)


def test_hamiltonian_from_coefficients():
    lib = PolynomialLibrary(2).compile(1)
    H = lib.hamiltonian([0, 0, 0.5, 0, 0.5])
    q, p = sp.symbols("q p")
    assert sp.simplify(H - (q**2 + p**2) / 2) == 0
