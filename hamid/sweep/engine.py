"""Run the jobs of a sweep on joblib (local processes) or a Dask distributed cluster, same code path.

Both executors take the pending jobs and yield finished records as they complete; the driver appends each
one to the results file at once (:class:`hamid.sweep.results.ResultsFile`), so an interrupted sweep loses
only the jobs that were running. Workers only ever run :func:`hamid.sweep.jobs.run_job` on plain dicts.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

from .config import SweepConfig, describe, expand_jobs, load_config
from .results import ResultsFile, read_results

__all__ = ["run_sweep", "pending_jobs", "SCHEDULERS"]

SCHEDULERS = ("joblib", "local", "ADDRESS (tcp://host:port)")


def pending_jobs(jobs, results_path, retry_failed=False):
    """Jobs whose key is not yet in the results file (with ``retry_failed``, also those recorded as failed).

    Returns
    -------
    (list of dict, int)
        The pending jobs in grid order and the number skipped.
    """
    done = {}
    for record in read_results(results_path):
        ok = record.get("status") == "ok"
        done[record["job"]] = done.get(record["job"], False) or ok
    keep = [j for j in jobs if j["key"] not in done or (retry_failed and not done[j["key"]])]
    return keep, len(jobs) - len(keep)


def _joblib_results(jobs, workers):
    from joblib import Parallel, delayed

    from .jobs import run_job

    if workers == 1:  # in this process: no pickling, easy to debug
        for job in jobs:
            yield run_job(job)
        return
    parallel = Parallel(n_jobs=workers, return_as="generator_unordered", backend="loky")
    yield from parallel(delayed(run_job)(job) for job in jobs)


def _dask_results(jobs, scheduler, workers):
    from distributed import Client, LocalCluster, as_completed

    from .jobs import run_job

    cluster = None
    own_client = True
    if isinstance(scheduler, Client):  # a client the caller made (and closes)
        client, own_client = scheduler, False
    elif scheduler == "local":
        # one thread per worker process: fits are single-threaded numpy/torch and must not contend
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None)
        client = Client(cluster)
    else:
        client = Client(scheduler, timeout="30s")
    try:
        futures = [client.submit(run_job, job, key=f"hamid-job-{job['key']}", pure=False) for job in jobs]
        for future in as_completed(futures):
            yield future.result()
            future.release()
    finally:
        if own_client:
            client.close()
        if cluster is not None:
            cluster.close()


def _is_dask_client(obj):
    module = type(obj).__module__ or ""
    return module.startswith("distributed") and type(obj).__name__ == "Client"


def run_sweep(config, out, *, scheduler=None, workers=None, retry_failed=False, limit=None, progress=None,
              log=None) -> dict:
    """Run every job of a configuration not yet in ``out``, appending one line per finished job.

    Parameters
    ----------
    config : str, os.PathLike or dict
        A YAML file or a mapping (see :func:`hamid.sweep.config.load_config`); validated before anything runs.
    out : str or os.PathLike
        The results file (JSON lines); created if missing, only ever appended to.
    scheduler : None, "local", str or distributed.Client
        None: local processes through joblib. ``"local"``: a Dask ``LocalCluster`` with ``workers`` worker
        processes. A string: the address of a running Dask scheduler (``tcp://host:8786``). A ``Client``:
        submit through it (the caller owns and closes it).
    workers : int, optional
        Worker processes for joblib and the LocalCluster (default: the number of CPUs).
    retry_failed : bool
        Also rerun jobs recorded with an error status (their new line is appended; the old one stays).
    limit : int, optional
        Run at most this many of the pending jobs.
    progress : bool or None
        A tqdm bar on stderr; None shows it only when stderr is a terminal.
    log : callable, optional
        Called with one line of text per finished job that failed.

    Returns
    -------
    dict
        ``total`` (jobs in the grid), ``skipped`` (already in the file), ``run``, ``ok``, ``failed``,
        ``repaired_bytes`` (a torn tail cut off the file).
    """
    cfg = config if isinstance(config, SweepConfig) else load_config(config)
    if workers is None:
        workers = os.cpu_count() or 1
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers must be an integer >= 1, got {workers!r}")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 0):
        raise ValueError(f"limit must be an integer >= 0, got {limit!r}")
    if scheduler is not None and not isinstance(scheduler, str) and not _is_dask_client(scheduler):
        raise TypeError(f"scheduler must be None, 'local', an address string or a distributed.Client, "
                        f"got {scheduler!r}")
    out = Path(out)
    jobs = expand_jobs(cfg)
    summary = {"total": len(jobs), "skipped": 0, "run": 0, "ok": 0, "failed": 0, "repaired_bytes": 0}
    with ResultsFile(out) as results:
        summary["repaired_bytes"] = results.repaired_bytes
        todo, summary["skipped"] = pending_jobs(jobs, out, retry_failed=retry_failed)
        if limit is not None:
            todo = todo[:limit]
        if not todo:
            return summary
        from tqdm.auto import tqdm

        bar = tqdm(total=len(jobs), initial=summary["skipped"], desc="sweep", unit="job", file=sys.stderr,
                   disable=(None if progress is None else not progress), dynamic_ncols=True)
        if scheduler is None or scheduler == "joblib":
            stream = _joblib_results(todo, min(workers, len(todo)))
        else:
            stream = _dask_results(todo, scheduler, workers)
        try:
            for record in stream:
                results.append(record)
                summary["run"] += 1
                if record["status"] == "ok":
                    summary["ok"] += 1
                else:
                    summary["failed"] += 1
                    if log is not None:
                        log(f"job {record['job']} ({describe(record['config'])}) failed: {record['status']}")
                bar.update(1)
                bar.set_postfix(failed=summary["failed"], refresh=False)
        finally:
            close = getattr(stream, "close", None)
            if close is not None:
                close()
            bar.close()
    return summary
