"""Sweeps: grids of systems x data settings x seeds x models, run on joblib or Dask, one JSON line per job.

>>> from hamid.sweep import load_config, expand_jobs
>>> cfg = load_config({"systems": ["pendulum"], "data": {"noise": [0.0, 0.01]}, "seeds": [0, 1],
...                    "models": {"sparse": {"library": ["poly:2", "trig"]}}})
>>> len(expand_jobs(cfg))
4

:func:`run_sweep` runs the pending jobs of a configuration and appends their records to a results file;
:func:`read_results` reads it back; :func:`hamid.sweep.report.build_report` turns it into tables and plots.
See ``docs/sweeps.md``. Importing this package imports neither dask nor pandas nor PyYAML: the executors,
the YAML reader and the report import them when they run.
"""
from __future__ import annotations

from .config import (MAX_JOBS, SweepConfig, SweepConfigError, expand_jobs, grid_size, job_key, load_config,
                     model_kinds, validate_config)
from .engine import pending_jobs, run_sweep
from .results import ResultsFile, ResultsFileBusyError, read_results

__all__ = [
    "MAX_JOBS", "SweepConfig", "SweepConfigError", "expand_jobs", "grid_size", "job_key", "load_config",
    "model_kinds", "validate_config", "pending_jobs", "run_sweep", "ResultsFile", "ResultsFileBusyError",
    "read_results",
]
