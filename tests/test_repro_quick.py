"""Core functions of the reproduction scripts that are cheap enough to test (examples/repro_001_*.py)."""
import importlib.util
from pathlib import Path

import numpy as np
import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def _load(name):
    import sys

    sys.path.insert(0, str(EXAMPLES))  # the scripts import their sibling _repro_common
    try:
        spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(EXAMPLES))
    return module


@pytest.fixture(scope="module")
def lin():
    return _load("repro_001_linear_backward_error")


@pytest.mark.parametrize("method", ["euler", "midpoint"])
def test_modified_field_reproduces_the_exact_flow_at_the_learning_step(lin, method):
    from scipy.linalg import expm

    for dt in (0.5, 0.1, 0.02):
        step = lin.step_matrix(lin.modified_matrix(dt, method), dt, method)
        np.testing.assert_allclose(step, expm(dt * lin.M), atol=1e-13)
        assert lin.backward_error(dt, dt, method) < 1e-11


@pytest.mark.parametrize("method, order", [("euler", 1.0), ("midpoint", 2.0)])
def test_error_off_the_diagonal_converges_with_the_method_order(lin, method, order):
    h = np.array([0.1, 0.05, 0.025])
    err = [lin.backward_error(a, 0.001, method) for a in h]
    assert abs(lin.slope(h, err) - order) < 0.15


def test_structure_breaks_euler_but_not_midpoint(lin):
    # symmetric part of J M̃: Euler's modified field is not Hamiltonian, the midpoint one is
    for dt in (0.2, 0.05):
        m = lin.modified_matrix(dt, "midpoint")
        np.testing.assert_allclose(lin.modified_matrix(dt, "midpoint", structure=True), m, atol=1e-13)
        e, es = lin.modified_matrix(dt, "euler"), lin.modified_matrix(dt, "euler", structure=True)
        assert np.abs(e - es).max() > 0.4 * dt      # the dropped term is (cos Δt − 1)/Δt I ≈ −Δt/2 I
    err = [lin.backward_error(h, h, "euler", structure=True) for h in (0.1, 0.05, 0.025)]
    assert abs(lin.slope([0.1, 0.05, 0.025], err) - 1.0) < 0.15


def test_backward_error_rejects_a_step_that_does_not_divide_T(lin):
    with pytest.raises(ValueError, match="integer"):
        lin.backward_error(0.1, 0.3, "euler")
    with pytest.raises(ValueError, match="valid names"):
        lin.modified_matrix(0.1, "rk4")
