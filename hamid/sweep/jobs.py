"""One sweep job: generate data -> fit -> score. Runs in any process; takes and returns plain data.

:func:`run_job` never raises for a failing fit: the error becomes the record's ``status``, so one bad
combination does not stop a sweep. Metrics come from :mod:`hamid.metrics` (vector-field error, rollout error
at the horizon, energy drift under the true H, valid prediction time, parameter count) and, for symbolic
fits with a known true H, from :mod:`hamid.sweep.recovery`.
"""
from __future__ import annotations

import contextlib
import os
import socket
import sys
import threading
import time
import traceback
import warnings

import numpy as np

__all__ = ["run_job", "make_model"]


def make_model(model_cfg, seed):
    """Instantiate the estimator of a job's ``model`` entry.

    The job seed becomes the model's ``random_state`` (sparse) or ``seed`` (neural) unless given.
    """
    from .config import model_class

    cls = model_class(model_cfg["kind"])
    params = dict(model_cfg["params"])
    import inspect

    names = inspect.signature(cls.__init__).parameters
    for seed_name in ("random_state", "seed"):
        if seed_name in names and seed_name not in params:
            params[seed_name] = seed
    if "hidden" in params and isinstance(params["hidden"], list):
        params["hidden"] = tuple(params["hidden"])
    return cls(**params)


def _load_system_data(cfg):
    """(system or None, Dataset for fitting, Dataset held out or None, true H or None, symbols)."""
    from hamid.symbolic import state_symbols

    sys_cfg, data_cfg = cfg["system"], cfg["data"]
    if "name" in sys_cfg:
        from hamid.systems import get_system

        system = get_system(sys_cfg["name"], **sys_cfg["constants"])
        data = system.generate(n_traj=data_cfg["n_traj"], n_time=data_cfg["n_time"], dt=data_cfg["dt"],
                               noise=data_cfg["noise"], noise_on=data_cfg["noise_on"],
                               noise_mode=data_cfg["noise_mode"], seed=cfg["seed"])
        qs, ps = state_symbols(system.n_dof)
        return system, data, system.hamiltonian, tuple(qs) + tuple(ps)
    from hamid.io import load_data

    data = load_data(sys_cfg["file"])
    qs, ps = state_symbols(data.n_dof)
    truth = None
    if sys_cfg.get("hamiltonian"):
        from hamid.symbolic.symbols import parse_expression

        truth = parse_expression(sys_cfg["hamiltonian"], tuple(qs) + tuple(ps))
    return None, data, truth, tuple(qs) + tuple(ps)


def _fit_args(data, use_derivatives):
    args = {"t": data.t}
    if use_derivatives and data.has_derivatives:
        args.update(dq=data.dq, dp=data.dp)
    return args


def _symbolic_field(model):
    """The fitted field as SymPy expressions, or None for non-symbolic models."""
    if hasattr(model, "field_exprs_"):
        return list(model.field_exprs_)
    if hasattr(model, "library_") and hasattr(model, "coef_"):
        grads = model.library_.gradient_exprs  # (m, 2d)
        d = model.n_dof_
        coef = np.asarray(model.coef_, dtype=float)
        grad_h = [sum((float(c) * row[j] for c, row in zip(coef, grads) if c != 0), 0) for j in range(2 * d)]
        return grad_h[d:] + [-g for g in grad_h[:d]]
    return None


def _recovery(model, kind, truth, symbols, scoring, noise):
    from .recovery import field_recovery, hamiltonian_recovery, tolerance_for, true_field_exprs

    out = {}
    fitted_field = _symbolic_field(model)
    if fitted_field is None:
        return out
    if kind == "sparse":
        out["hamiltonian"] = str(model.hamiltonian_)
        out.update(hamiltonian_recovery(truth, model.library_, model.feature_names_, model.coef_))
    else:
        out["field"] = [str(e) for e in fitted_field]
    out.update(field_recovery(true_field_exprs(truth, symbols), fitted_field, symbols))
    if scoring is not None:
        tol = tolerance_for(scoring, noise)
        out["tolerance"] = tol
        out["solved"] = bool(out["field_exact_support"] and out["field_max_rel_error"] <= tol)
    return out


def _test_metrics(model, system, test, data_dt, seed):
    from hamid.metrics import energy_drift, rollout_mse, valid_prediction_time, vector_field_mse

    dt = test["dt"] if test["dt"] is not None else data_dt
    n_steps = max(1, int(round(test["horizon"] / dt)))
    # held-out initial states: a stream of its own, never the training states of this seed
    z0 = system.sample_states(test["n_traj"], seed=np.random.SeedSequence([seed, 0x7E57]))
    t = dt * np.arange(n_steps + 1)
    reference = system.simulate(z0, t)
    kwargs = {} if test["method"] is None else {"method": test["method"]}
    out = {"test_dt": dt, "test_n_steps": n_steps}
    states = reference.reshape(-1, reference.shape[-1])
    try:
        out["vector_field_mse"] = vector_field_mse(model, states, system.vector_field(states))
    except AttributeError:  # map-based models learn a step, not a field
        out["vector_field_mse"] = None
    from hamid.integrators import allow_nonfinite

    # a diverging rollout is a measurement here (valid time, rollout error), not an integration error
    with np.errstate(all="ignore"), allow_nonfinite():
        predicted = np.asarray(model.simulate(z0, dt=dt, n_steps=n_steps, **kwargs), dtype=float)
        if predicted.shape != reference.shape:
            raise ValueError(f"the model's rollout has shape {predicted.shape}, expected {reference.shape}")
        out["rollout_mse"] = float(rollout_mse(predicted, reference)[-1])
        out["valid_time"] = float(np.mean(valid_prediction_time(predicted, reference, t, test["threshold"])))
        try:
            out["max_energy_drift"] = float(np.max(energy_drift(system.energy, predicted)))
        except ValueError:  # a trajectory starting at H = 0 has no relative drift
            out["max_energy_drift"] = None
    return out


def _dask_worker():
    """Address of the Dask worker running this job, or None outside Dask."""
    if "distributed" not in sys.modules:
        return None
    try:
        from distributed import get_worker

        return get_worker().address
    except ValueError:
        return None


def _runs_alone() -> bool:
    """Whether no other job can run in this process now (the main thread, or a one-thread Dask worker)."""
    if threading.current_thread() is threading.main_thread():
        return True
    if "distributed" not in sys.modules:
        return False
    try:
        from distributed import Worker, get_worker

        # several workers can share a process (LocalCluster(processes=False)): count them all
        return get_worker().state.nthreads == 1 and len(list(Worker._instances)) == 1
    except (ImportError, ValueError, AttributeError):
        return False


def run_job(job) -> dict:
    """Run one job and return its result record.

    Parameters
    ----------
    job : dict
        ``{"key": str, "config": dict}`` from :func:`hamid.sweep.config.expand_jobs`.

    Returns
    -------
    dict
        ``job`` (the key), ``status`` (``"ok"`` or ``"ErrorType: message"``), ``config``, ``metrics``,
        ``warnings`` (category names), ``time_s``, ``host``, ``pid``, ``hamid_version`` and, for failures,
        ``traceback`` (its last lines).
    """
    from hamid import __version__
    from hamid.metrics import count_parameters

    cfg = job["config"]
    start = time.perf_counter()
    record = {"job": job["key"], "config": cfg, "hamid_version": __version__, "host": socket.gethostname(),
              "pid": os.getpid(), "worker": _dask_worker()}
    metrics = {}
    caught = []
    # catch_warnings swaps process-global state: only safe when no other thread runs jobs (a Dask worker
    # with several threads runs several at once; there warnings are not recorded)
    main_thread = _runs_alone()
    recorder = warnings.catch_warnings(record=True) if main_thread else contextlib.nullcontext([])
    try:
        with recorder as caught:
            if main_thread:
                warnings.simplefilter("always")
            system, data, truth, symbols = _load_system_data(cfg)
            kind = cfg["model"]["kind"]
            model = make_model(cfg["model"], cfg["seed"])
            t0 = time.perf_counter()
            model.fit(data.q, data.p, **_fit_args(data, cfg["data"]["derivatives"]))
            metrics["fit_time_s"] = time.perf_counter() - t0
            metrics["n_parameters"] = count_parameters(model)
            metrics["dt"] = float(data.t[1] - data.t[0]) if data.t is not None and len(data.t) > 1 else None
            if truth is not None:
                metrics.update(_recovery(model, kind, truth, symbols, cfg["scoring"], cfg["data"]["noise"]))
            if cfg["test"] is not None and system is not None:
                metrics.update(_test_metrics(model, system, cfg["test"], metrics["dt"], cfg["seed"]))
        record["status"] = "ok"
    except Exception as exc:  # a failing job is a result, not the end of the sweep
        record["status"] = f"{type(exc).__name__}: {' '.join(str(exc).split())}"[:2000]
        record["traceback"] = traceback.format_exc().splitlines()[-12:]
    record["metrics"] = metrics
    record["warnings"] = sorted({w.category.__name__ for w in caught}) if main_thread else None
    record["time_s"] = time.perf_counter() - start
    return record
