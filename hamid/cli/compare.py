"""``hamid compare TRAIN --test TEST --models sparse,hnn,...``: fit several models on the same data, score them
on the same test trajectories with :func:`hamid.compare`, and write a report.

Writes into ``--out DIR``:

- ``report.md``: the settings, the results table, the fitted H of symbolic models, and the plots;
- ``results.csv``: one row per model, every column of :class:`hamid.comparison.Comparison` (``model``,
  ``max_energy_drift`` = maximum relative drift of the true energy, ...);
- ``table.tex``: the table in booktabs LaTeX;
- ``phase.png``, ``rollout.png``, ``energy.png`` (with a true H), ``selection_path_<model>.png`` (sparse);
- ``models/<name>.json``: every fitted model, loadable with ``hamid simulate --model``.

``--param NAME.KEY=VALUE`` sets a constructor parameter of one model, ``--param KEY=VALUE`` of every chosen
model that takes it.
"""
from __future__ import annotations

import sys

__all__ = ["register", "run"]


def register(subparsers):
    parser = subparsers.add_parser(
        "compare", help="fit sparse and neural models on the same data and compare them",
        description="Fit each model of --models on TRAIN, roll every model out from the first states of the "
                    "TEST trajectories (field models with the same integrator, RK4 at a quarter of the data step "
                    "by default, plus each model's own; map models at their own step) and write report.md, "
                    "results.csv, table.tex, plots and the fitted models into --out.",
    )
    parser.add_argument("train", metavar="TRAIN", help="training data (.npz or .csv)")
    parser.add_argument("--test", required=True, metavar="TEST",
                        help="test trajectories (.npz or .csv, uniformly sampled, with t)")
    parser.add_argument("--models", required=True, metavar="NAMES",
                        help="comma-separated: sparse, hnn, mlp, lnn, lasympnet, gsympnet, srnn, locsympnet, "
                             "friction, symplectic_form")
    parser.add_argument("--library", action="append", default=None, metavar="SPEC",
                        help="candidate terms of the sparse model (repeatable; default poly:4)")
    truth = parser.add_mutually_exclusive_group()
    truth.add_argument("--system", metavar="NAME", help="catalogue system the data come from: its H is the truth "
                                                        "for energy errors and term recovery")
    truth.add_argument("--hamiltonian", "-H", metavar="EXPR", help="the true H as an expression")
    parser.add_argument("--param", action="append", default=[], metavar="[NAME.]KEY=VALUE",
                        help="constructor parameter of one model (hnn.hidden=64,64) or of every model that "
                             "takes it (max_steps=2000); repeatable")
    parser.add_argument("--method", default=None, metavar="NAME",
                        help="common integrator of the field models (default rk4)")
    parser.add_argument("--substeps", type=int, default=None, metavar="K",
                        help="common-integrator steps per data step (default 4)")
    parser.add_argument("--jobs", type=int, default=1, metavar="N", help="fit models in N parallel processes")
    parser.add_argument("--out", required=True, metavar="DIR", help="output directory (created)")
    parser.add_argument("--json", action="store_true", help="print the results as one JSON object on stdout")
    parser.set_defaults(func=run)
    return parser


def _model_params(names, items):
    """Split ``--param`` items into per-model constructor parameters, checking every key."""
    from hamid.cli import CLIError
    from hamid.comparison import model_class, parse_param_value

    per = {n: {} for n in names}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise CLIError(f"--param {item!r}: expected [NAME.]KEY=VALUE")
        target, dot, sub = key.partition(".")
        value = parse_param_value(value)
        if dot:
            if target not in per:
                raise CLIError(f"--param {item!r}: model {target!r} is not in --models ({', '.join(names)})")
            valid = model_class(target)._get_param_names()
            if sub not in valid:
                raise CLIError(f"--param {item!r}: unknown parameter {sub!r} for {target}; valid parameters: "
                               f"{', '.join(valid)}")
            per[target][sub] = value
        else:
            takers = [n for n in names if key in model_class(n)._get_param_names()]
            if not takers:
                raise CLIError(f"--param {item!r}: no model of --models takes a parameter {key!r}")
            for n in takers:
                per[n].setdefault(key, value)
    return per


def _save_name(name, model):
    # every hamid model saves to one JSON file
    return f"{name}.json"


def run(args) -> int:
    import json
    import warnings
    from pathlib import Path

    from hamid.cli import CLIError
    from hamid.cli.fit import clean_json, coerce_params, user_warnings
    from hamid.comparison import DEFAULT_METHOD, DEFAULT_SUBSTEPS, compare, fit_models, make_model, model_class
    from hamid.io import atomic_write, load_data

    names = [n.strip().lower() for n in args.models.split(",") if n.strip()]
    if not names:
        raise CLIError("--models: no model named")
    if len(set(names)) != len(names):
        raise CLIError(f"--models names a model twice: {args.models}")
    for n in names:
        model_class(n)  # unknown names fail here, listing the valid ones
    if args.library and "sparse" not in names:
        raise CLIError("--library applies to the sparse model, which is not in --models")
    if args.jobs == 0:
        raise CLIError("--jobs must be a nonzero integer")
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise CLIError(f"--out {out} exists and is not a directory")
    params = _model_params(names, args.param)
    if "sparse" in names and args.library:
        params["sparse"]["library"] = list(args.library)
    train = load_data(args.train)
    test = load_data(args.test)
    if not test.is_trajectory or test.t is None:
        raise CLIError(f"--test {args.test}: needs trajectories with sample times t")
    truth = args.system or args.hamiltonian
    models = {n: make_model(n, **coerce_params(model_class(n), params[n])) for n in names}
    out.mkdir(parents=True, exist_ok=True)
    (out / "models").mkdir(exist_ok=True)

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fitted = fit_models(models, train, truth=truth, n_jobs=args.jobs)
        result = compare(fitted, test, truth=truth, method=args.method or DEFAULT_METHOD,
                         substeps=args.substeps or DEFAULT_SUBSTEPS)
    for text in user_warnings(caught):
        print(f"hamid: warning: {text}", file=sys.stderr)
    saved = {}
    for name, model in fitted.items():
        path = out / "models" / _save_name(name, model)
        model.save(path)
        saved[name] = path
    result.to_csv(out / "results.csv")
    atomic_write(out / "table.tex", lambda fh: fh.write(result.to_latex(
        caption=f"hamid compare: {args.train} vs {args.test}").encode()))
    figures = _write_figures(result, fitted, out)
    report = _report(args, result, fitted, saved, figures, out)
    atomic_write(out / "report.md", lambda fh: fh.write(report.encode()))
    if args.json:
        print(json.dumps(clean_json({"out": str(out), "rows": result.rows, "info": result.info}),
                         allow_nan=False, default=str))
    else:
        print(result.to_markdown())
        print(f"wrote {out / 'report.md'}, results.csv, table.tex, {len(figures)} figure(s) and "
              f"{len(saved)} model(s) under {out / 'models'}", file=sys.stderr)
    return 0


def _write_figures(result, fitted, out):
    from hamid import plot as hplot

    figures = []
    kinds = ["phase", "rollout"] + (["energy"] if result.truth is not None else [])
    for kind in kinds:
        fig = result.plot(kind)
        fig.tight_layout()
        fig.savefig(out / f"{kind}.png", dpi=110)
        figures.append((kind, f"{kind}.png"))
    for name, model in fitted.items():
        if getattr(model, "selection_path_", None):
            fig = hplot.selection_path(model)
            fig.tight_layout()
            fig.savefig(out / f"selection_path_{name}.png", dpi=110)
            figures.append((f"selection path of {name}", f"selection_path_{name}.png"))
    return figures


def _report(args, result, fitted, saved, figures, out):
    info = result.info
    lines = [
        "# hamid compare", "",
        f"- training data: `{args.train}`; test data: `{args.test}` ({info['n_traj']} trajectories x "
        f"{info['n_time']} samples, step {info['data_step']:g}, horizon {info['horizon']:g})",
        f"- true H: {('`' + info['truth'] + '`') if info['truth'] else 'not given (energy columns empty)'}",
        f"- field models rolled out with {info['method']} at the data step / {info['substeps']} (the same for "
        "every model); `_own` columns: each model's own integrator at the data step; map models step their own "
        "map at their trained step (column `integrator`).",
        f"- valid time: first time the normalized error passes {info['threshold']:g} (mean over trajectories); "
        "drift: max over trajectories and times of |H(z_t) - H(z_0)| / |H(z_0)| with the true H.",
        "", "## Results", "", result.to_markdown(), "",
    ]
    symbolic = [(n, m) for n, m in fitted.items() if getattr(m, "hamiltonian_", None) is not None]
    if symbolic:
        lines += ["## Symbolic fits", ""]
        for name, model in symbolic:
            lines.append(f"- **{name}**: `H = {model.hamiltonian_}`")
            row = result[name]
            if "n_extra_terms" in row:
                lines.append(f"  - extra terms: {row['extra_terms'] or 'none'}; missing terms: "
                             f"{row['missing_terms'] or 'none'}; max relative coefficient error "
                             f"{row['max_coef_rel_error']:.3g}")
                others = [r["model"] for r in result.rows if r["model"] != name
                          and getattr(fitted[r["model"]], "hamiltonian_", None) is None]
                if others and row.get("max_energy_drift", float("nan")) == row.get("max_energy_drift"):
                    try:
                        ratio = result.drift_ratio(name, others)
                        lines.append(f"  - energy drift {ratio:.3g}x below the best other model's")
                    except ValueError:
                        pass
        lines.append("")
    noted = [r for r in result.rows if r.get("notes")]
    if noted:
        lines += ["## Notes", ""] + [f"- {r['model']}: {r['notes']}" for r in noted] + [""]
    lines += ["## Figures", ""] + [f"![{title}]({path})" for title, path in figures] + [""]
    lines += ["## Files", "", "- `results.csv`: every column, one row per model", "- `table.tex`: booktabs table"]
    lines += [f"- `{p.relative_to(out)}`: fitted {n} (`hamid simulate --model {p.relative_to(out)} ...`)"
              for n, p in saved.items()]
    return "\n".join(lines) + "\n"
