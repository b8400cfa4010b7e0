"""Hamiltonian-recovery benchmark: hamid against pysindy (STLSQ, strong and weak form) through the sweep engine.

The tasks, methods and scoring rule are fixed in ``benchmarks/recovery_benchmark.yaml`` (its ``version``);
this script runs that sweep (resuming: jobs already in the results file are skipped), writes the report
(``hamid sweep-report``) and prints the solved counts per method, data setting and noise level, with the
wall time of the run.

Run: ``OMP_NUM_THREADS=1 python benchmarks/recovery_benchmark.py --workers 2`` (writes
``examples/output/benchmark/``; the table in ``docs/benchmark.md`` came from this command).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
CONFIG = HERE / "recovery_benchmark.yaml"


def main(argv=None):
    from hamid.sweep import load_config, run_sweep
    from hamid.sweep.report import benchmark_frame, build_report, results_frame, to_markdown

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="examples/output/benchmark", help="output directory")
    parser.add_argument("--workers", type=int, default=2, help="joblib worker processes (default 2)")
    parser.add_argument("--scheduler", default=None, help="'local' or a Dask scheduler address (default joblib)")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results = out / "benchmark.jsonl"
    config = load_config(CONFIG)
    start = time.perf_counter()
    summary = run_sweep(config, results, workers=args.workers, scheduler=args.scheduler,
                        log=lambda line: print(line, file=sys.stderr))
    elapsed = time.perf_counter() - start
    build_report(results, out)
    frame = results_frame(results)
    print(f"{config['name']} version {config['version']}: {summary['total']} jobs ({summary['skipped']} already "
          f"done, {summary['run']} run in {elapsed:.0f} s with {args.workers} workers, {summary['failed']} failed)")
    print(to_markdown(benchmark_frame(frame)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
