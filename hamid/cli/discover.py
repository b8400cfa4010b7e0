"""``hamid discover DATA``: fit a sparse Hamiltonian to a data file and print it.

Contract (scripts depend on it):

- ``--library SPEC`` (repeatable, concatenated): ``poly:DEG``, ``trig``, ``custom:EXPR,EXPR,...``; default ``poly:4``.
- ``--json`` prints exactly one JSON object on stdout with ``hamiltonian`` (a string that ``sympy.sympify``
  parses back into H in the symbols ``q, p`` or ``q1..qd, p1..pd``), ``latex``, ``terms`` (a list of
  ``{term, coefficient}``), ``equations`` and ``diagnostics``. Warnings go to stderr, one line each.
- Bad data or options: exit code 2 and one line on stderr (handled by :func:`hamid.cli.main`).
"""
from __future__ import annotations

import json
import sys

__all__ = ["register", "run"]


#: the names of hamid.models.sparse.differentiation.DIFFERENTIATORS, listed here so that building the parser
#: (``hamid --help``) does not import the estimator; tests/test_defects_user.py checks that they agree
DIFFERENTIATION_NAMES = ("auto", "spline", "finite_difference", "savgol")


def register(subparsers):
    parser = subparsers.add_parser(
        "discover",
        help="fit a sparse Hamiltonian to data",
        description="Recover a closed-form Hamiltonian H = sum_k xi_k theta_k from a data file (.npz or .csv "
                    "following the data contract: q, p and either dq, dp or trajectories with t).",
    )
    parser.add_argument("data", metavar="DATA", help="data file (.npz or .csv)")
    parser.add_argument("--library", action="append", metavar="SPEC", default=None,
                        help="candidate terms: poly:DEG, trig, custom:EXPR,EXPR,... (repeat to concatenate; "
                             "default poly:4)")
    parser.add_argument("--optimizer", default="auto", metavar="NAME",
                        help="auto (default), lasso, stlsq, sr3, ssr, ensemble, lstsq")
    parser.add_argument("--formulation", default="auto", metavar="NAME",
                        help="auto (default), derivative, integral, midpoint")
    parser.add_argument("--differentiation", default=None, metavar="NAME",
                        help="estimate dq/dt, dp/dt from the trajectories with " + ", ".join(DIFFERENTIATION_NAMES)
                             + " (implies --formulation derivative; without it, data without derivatives use the "
                             "integral form)")
    parser.add_argument("--snap", type=float, default=None, metavar="TOL",
                        help="snap coefficients to simple rationals within this relative tolerance")
    parser.add_argument("--bootstrap", type=int, default=0, metavar="N",
                        help="report inclusion probabilities over N bootstrap refits")
    parser.add_argument("--seed", type=int, default=0, help="random seed (bootstrap, ensemble)")
    parser.add_argument("--save", metavar="PATH", default=None, help="also save the fitted model as JSON")
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    parser.add_argument("--latex", action="store_true", help="print H and the equations as LaTeX")
    parser.set_defaults(func=run)
    return parser


def run(args) -> int:
    import warnings

    from ..io import load_data
    from ..models.sparse import SparseHamiltonian
    from . import CLIError

    specs = args.library or ["poly:4"]
    formulation = args.formulation
    if args.differentiation is not None:
        from ..models.sparse.differentiation import DIFFERENTIATORS

        if args.differentiation not in DIFFERENTIATORS:
            raise CLIError(f"unknown --differentiation {args.differentiation!r}; valid names: "
                           f"{', '.join(DIFFERENTIATORS)}")
        if formulation == "auto":
            formulation = "derivative"
        elif formulation != "derivative":
            raise CLIError(f"--differentiation estimates derivatives for --formulation derivative; it has no "
                           f"effect with --formulation {formulation}")
    data = load_data(args.data)
    if args.differentiation is not None and data.has_derivatives:
        print(f"hamid: warning: --differentiation {args.differentiation} is not used: {args.data} gives dq, dp",
              file=sys.stderr)
    model = SparseHamiltonian(library=list(specs), optimizer=args.optimizer, formulation=formulation,
                              differentiation=args.differentiation, snap=args.snap, n_bootstrap=args.bootstrap,
                              random_state=args.seed)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(data.q, data.p, t=data.t, dq=data.dq, dp=data.dp)
    messages = []
    for w in caught:
        text = " ".join(str(w.message).split())
        messages.append(f"{w.category.__name__}: {text}")
        print(f"hamid: warning: {w.category.__name__}: {text}", file=sys.stderr)
    if args.save:
        model.save(args.save)
    if args.json:
        print(json.dumps(result_dict(model, messages), allow_nan=False))
        return 0
    print(model.summary(warnings=False))  # the warnings went to stderr above
    probabilities = model.diagnostics_.get("inclusion_probabilities")
    if probabilities:
        source = f"{args.bootstrap} bootstrap refits" if args.bootstrap else "the ensemble"
        print()
        print(f"inclusion probabilities over {source}:")
        for name, pr in sorted(probabilities.items(), key=lambda item: -item[1]):
            print(f"  {pr:5.2f}  {name}")
    if args.latex:
        print()
        print(model.latex("hamiltonian"))
        print(r"\begin{aligned}" + model.latex("equations").replace(" = ", " &= ") + r"\end{aligned}")
    return 0


def result_dict(model, warnings_list=()):
    """The JSON document printed by ``hamid discover --json``."""
    from ..models.sparse.serialization import _jsonable

    qs = [str(e.lhs.args[0].func) for e in model.equations()]
    return {
        "hamiltonian": str(model.hamiltonian_),
        "latex": model.latex("hamiltonian"),
        "equations": {f"d{name}/dt": str(e.rhs) for name, e in zip(qs, model.equations())},
        "equations_latex": model.latex("equations"),
        "terms": [{"term": name, "coefficient": float(c)} for name, c in zip(model.feature_names_, model.coef_)
                  if c != 0],
        "n_dof": int(model.n_dof_),
        "library_terms": list(model.feature_names_),
        "diagnostics": _jsonable(dict(model.diagnostics_, warnings=list(warnings_list),
                                      selection_path=[{k: v for k, v in e.items() if k != "support"}
                                                      for e in model.selection_path_][:40])),
    }
