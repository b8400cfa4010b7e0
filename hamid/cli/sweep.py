"""``hamid sweep`` and ``hamid sweep-report``: run a grid of fits, then tabulate and plot its results."""
from __future__ import annotations

import sys


def register(subparsers):
    parser = subparsers.add_parser(
        "sweep", help="run a grid of generate -> fit -> score jobs (joblib or Dask)",
        description="Expand a YAML grid (systems x data settings x seeds x models; any list is a grid axis) into "
                    "jobs and run those not yet in the results file, appending one JSON line per finished job. "
                    "A rerun resumes: jobs already recorded are skipped and their lines left untouched. "
                    "See docs/sweeps.md.",
    )
    parser.add_argument("config", help="the sweep configuration (YAML)")
    parser.add_argument("--out", required=True, metavar="RESULTS.jsonl", help="results file (JSON lines, appended)")
    parser.add_argument("--scheduler", default=None, metavar="local|ADDRESS",
                        help="run on Dask: 'local' starts a LocalCluster with --workers processes, an address "
                             "(tcp://host:8786) uses a running scheduler; default: local processes through joblib")
    parser.add_argument("--workers", type=int, default=None,
                        help="worker processes for joblib and the LocalCluster (default: the number of CPUs)")
    parser.add_argument("--retry-failed", action="store_true", help="also rerun jobs recorded as failed")
    parser.add_argument("--limit", type=int, default=None, metavar="N", help="run at most N pending jobs")
    parser.add_argument("--dry-run", action="store_true",
                        help="validate the configuration and print the number of jobs and pending jobs; run nothing")
    progress = parser.add_mutually_exclusive_group()
    progress.add_argument("--progress", dest="progress", action="store_true", default=None,
                          help="always show the progress bar (default: only when stderr is a terminal)")
    progress.add_argument("--no-progress", dest="progress", action="store_false")
    parser.set_defaults(func=run)

    report = subparsers.add_parser(
        "sweep-report", help="tables (CSV, markdown) and plots of a sweep's results",
        description="Read a results file written by 'hamid sweep' and write results.csv (one row per job), "
                    "summary.csv and summary.md (means over seeds per system, data setting, noise and model), "
                    "benchmark.md when the jobs were scored, and plots of recovery and energy drift against "
                    "noise.",
    )
    report.add_argument("results", help="results file (JSON lines)")
    report.add_argument("--out", required=True, metavar="DIR", help="output directory (created)")
    report.add_argument("--no-plots", action="store_true", help="tables only")
    report.set_defaults(func=run_report)


def run(args):
    from hamid.cli import CLIError
    from hamid.sweep import expand_jobs, load_config, pending_jobs, run_sweep
    from hamid.sweep.results import ResultsFileBusyError

    if args.workers is not None and args.workers < 1:
        raise CLIError(f"--workers must be >= 1, got {args.workers}")
    if args.limit is not None and args.limit < 0:
        raise CLIError(f"--limit must be >= 0, got {args.limit}")
    config = load_config(args.config)
    if args.dry_run:
        jobs = expand_jobs(config)
        todo, skipped = pending_jobs(jobs, args.out, retry_failed=args.retry_failed)
        print(f"{len(jobs)} jobs, {skipped} already in {args.out}, {len(todo)} pending")
        return 0

    def log(line):
        print(f"hamid sweep: {line}", file=sys.stderr)

    try:
        summary = run_sweep(config, args.out, scheduler=args.scheduler, workers=args.workers,
                            retry_failed=args.retry_failed, limit=args.limit, progress=args.progress, log=log)
    except ResultsFileBusyError as exc:
        raise CLIError(str(exc)) from None
    if summary["repaired_bytes"]:
        log(f"cut a torn last line ({summary['repaired_bytes']} bytes) off {args.out}")
    print(f"{summary['total']} jobs: {summary['skipped']} already done, {summary['run']} run "
          f"({summary['ok']} ok, {summary['failed']} failed); results in {args.out}")
    return 0


def run_report(args):
    from hamid.sweep.report import build_report

    written = build_report(args.results, args.out, plots=not args.no_plots)
    for path in written:
        print(path)
    return 0
