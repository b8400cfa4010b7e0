"""hamid.plot: the plotted data (lines, meshes, error bars), not pixels."""
import subprocess
import sys

import numpy as np
import pytest

import hamid
from hamid import plot as hplot
from hamid.metrics import energy_drift, rollout_mse
from hamid.systems import get_system


@pytest.fixture(scope="module")
def setup():
    system = get_system("pendulum")
    train = system.generate(n_traj=8, n_time=30, dt=0.1, seed=0)
    test = system.generate(n_traj=3, n_time=41, dt=0.1, seed=1)
    model = hamid.SparseHamiltonian(library=["poly:2", "trig"]).fit(train.q, train.p, t=train.t, dq=train.dq,
                                                                   dp=train.dp)
    return system, train, test, model


def test_importing_hamid_plot_does_not_import_matplotlib():
    code = "import sys, hamid.plot; print('matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_phase_portrait_draws_each_trajectory_and_the_truth(setup):
    system, _, test, _ = setup
    ref = test.states()
    learned = ref + 0.01
    fig = hplot.phase_portrait({"model": learned}, reference=ref, index=None)
    ax = fig.axes[0]
    lines = ax.get_lines()
    assert len(lines) == 6
    np.testing.assert_array_equal(lines[0].get_xdata(), learned[0, :, 0])
    np.testing.assert_array_equal(lines[0].get_ydata(), learned[0, :, 1])
    np.testing.assert_array_equal(lines[3].get_ydata(), ref[0, :, 1])
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["model", "true"]
    # drawing into a given Axes returns its figure and adds no axes
    other = hplot.new_figure(ncols=2)
    assert hplot.phase_portrait(learned, ax=other.axes[1]) is other and len(other.axes) == 2
    assert len(other.axes[1].get_lines()) == 1 and len(other.axes[0].get_lines()) == 0


def test_energy_and_rollout_error_plot_the_metrics(setup):
    system, _, test, model = setup
    ref = test.states()
    pred = model.simulate(ref[:, 0], 0.1, 40, method="euler")
    fig = hplot.energy_error({"euler": pred}, system.energy, t=test.t)
    ax = fig.axes[0]
    (line,) = ax.get_lines()
    np.testing.assert_allclose(line.get_xdata(), test.t[1:])
    np.testing.assert_allclose(line.get_ydata(), energy_drift(system.energy, pred).max(axis=0)[1:])
    assert ax.get_yscale() == "log"
    fig = hplot.rollout_error({"euler": (test.t[::2], pred[:, ::2])}, ref, test.t)
    (line,) = fig.axes[0].get_lines()
    np.testing.assert_allclose(line.get_xdata(), test.t[::2])
    np.testing.assert_allclose(line.get_ydata()[1:], rollout_mse(pred[:, ::2], ref[:, ::2])[1:])
    with pytest.raises(ValueError, match="not sample times"):
        hplot.rollout_error({"x": (test.t + 0.05, pred)}, ref, test.t)


def test_field_error_mesh_holds_the_log_error(setup):
    system = setup[0]

    def shifted(z):
        return system.vector_field(z) + np.array([0.1, 0.0])

    fig = hplot.field_error(shifted, system, ((-2, 2), (-1, 1)), n=11, center=np.zeros(2))
    mesh = fig.axes[0].collections[0]
    values = np.asarray(mesh.get_array()).reshape(11, 11)
    np.testing.assert_allclose(values, np.log10(0.1), atol=1e-12)


def test_coefficients_with_bootstrap_intervals_and_truth(setup):
    system, train, _, model = setup
    samples = np.tile(model.coef_, (30, 1)) + np.random.default_rng(0).normal(0, 1e-3, (30, 7)) * (model.coef_ != 0)
    fig = hplot.coefficients(model, samples=samples, truth=system.hamiltonian)
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.get_xticklabels()]
    assert labels == ["p**2", "cos(q)"]
    point = ax.containers[0].lines[0]
    np.testing.assert_allclose(point.get_ydata(), model.coef_[model.coef_ != 0])
    bars = ax.containers[0].lines[2][0].get_segments()
    k = model.feature_names_.index("cos(q)")
    lo, hi = np.quantile(samples[:, k], [0.05, 0.95])
    np.testing.assert_allclose([bars[1][0][1], bars[1][1][1]], [lo, hi])
    true_line = [ln for ln in ax.get_lines() if ln.get_label() == "true"][0]
    np.testing.assert_allclose(true_line.get_ydata(), [0.5, -1.0])


def test_selection_path_shows_errors_by_size_and_the_choice(setup):
    model = setup[3]
    fig = hplot.selection_path(model)
    ax = fig.axes[0]
    cv = [ln for ln in ax.get_lines() if ln.get_label() == "cv error"][0]
    sizes = [e["size"] for e in model.selection_path_ if e["cv_error"] is not None]
    np.testing.assert_array_equal(cv.get_xdata(), sizes)
    chosen = [ln for ln in ax.get_lines() if ln.get_label().startswith("chosen")][0]
    assert chosen.get_xdata()[0] == 2


def test_comparison_plot_summary_and_kinds(setup):
    system, _, test, model = setup
    result = hamid.compare({"sparse": model}, test, truth=system)
    fig = result.plot()
    assert len(fig.axes) == 3
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == ["phase portrait", "rollout error", "energy error (true H)"]
    with pytest.raises(ValueError, match="valid kinds"):
        result.plot("histogram")


def test_diverged_rollouts_are_left_out_of_log_axes(setup):
    import io

    system, _, test, _ = setup
    ref = test.states()
    blown = ref.copy()
    blown[:, 20:] = np.inf  # a rollout that left the floats at step 20
    blown[:, 19] = 1e250    # and came close to the float limit just before
    fig = hplot.energy_error({"blown": blown}, system.energy, t=test.t)
    y = fig.axes[0].get_lines()[0].get_ydata()
    assert np.all(np.isfinite(y[:18])) and np.all(np.isnan(y[18:]))
    fig.savefig(io.BytesIO(), format="png")  # an infinite value would break the log axis' ticks here
    fig = hplot.rollout_error({"blown": blown}, ref, test.t)
    assert np.isnan(fig.axes[0].get_lines()[0].get_ydata()[-1])
    fig.savefig(io.BytesIO(), format="png")
    hplot.phase_portrait({"blown": blown}, reference=ref).savefig(io.BytesIO(), format="png")
