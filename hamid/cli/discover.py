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
    parser.add_argument("--structure", default=None, metavar="SPEC",
                        help="canonical, poisson:NAME (rigid_body, lotka_volterra), poisson:\"[[...], [...]]\" (a "
                             "matrix of expressions in z1..zD), port (H and a PSD dissipation R) or lagrangian (L "
                             "from q, qdot); default: canonical for q, p data, lagrangian for q, qdot data, the "
                             "recorded structure for z data")
    parser.add_argument("--dissipation", default="constant", metavar="TERMS",
                        help="port only: nonnegative basis of the momentum damping, 'constant' (default) or "
                             "expressions such as '1,p**2'")
    parser.add_argument("--normalize", default=None, metavar="TERM=VALUE",
                        help="lagrangian only: fix the scale of L by a term's coefficient (default: the first "
                             "qdot**2 term = 0.5)")
    parser.add_argument("--snap", type=float, default=None, metavar="TOL",
                        help="snap coefficients to simple rationals within this relative tolerance")
    parser.add_argument("--bootstrap", type=int, default=0, metavar="N",
                        help="report inclusion probabilities over N bootstrap refits")
    parser.add_argument("--seed", type=int, default=0, help="random seed (bootstrap, ensemble)")
    parser.add_argument("--save", metavar="PATH", default=None, help="also save the fitted model as JSON")
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    parser.add_argument("--allow-underdetermined", action="store_true",
                        help="fit even when the data give fewer independent equations than library terms "
                             "(otherwise an error)")
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
    if args.save:  # a bad --save path fails now, not after the fit
        from ..io import check_writable

        check_writable(args.save)
    data = load_data(args.data)
    structure = resolve_structure(args, data)
    if structure != "canonical":
        return _run_structured(args, data, structure, specs, formulation)
    if args.differentiation is not None and data.has_derivatives:
        print(f"hamid: warning: --differentiation {args.differentiation} is not used: {args.data} gives dq, dp",
              file=sys.stderr)
    model = SparseHamiltonian(library=list(specs), optimizer=args.optimizer, formulation=formulation,
                              differentiation=args.differentiation, snap=args.snap, n_bootstrap=args.bootstrap,
                              random_state=args.seed)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(data.q, data.p, t=data.t, dq=data.dq, dp=data.dp)
    _check_determined(args, model)
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


def _check_determined(args, model):
    """Underdetermined fits are an error unless --allow-underdetermined: the coefficients the data do not
    determine are arbitrary, and a confident-looking H from 6 equations for 27 terms misleads."""
    from . import CLIError

    dg = getattr(model, "diagnostics_", {}) or {}
    if not dg.get("underdetermined") or getattr(args, "allow_underdetermined", False):
        return
    m = dg.get("n_library_terms", len(getattr(model, "feature_names_", [])))
    n, rank = dg.get("n_rows"), dg.get("rank")
    raise CLIError(f"underdetermined: the data give {rank} independent equations ({n} rows) for {m} library terms, "
                   "so some coefficients are not identifiable; give more (or longer) trajectories, a smaller "
                   "library (e.g. a lower poly degree), or pass --allow-underdetermined to fit anyway")


def result_dict(model, warnings_list=()):
    """The JSON document printed by ``hamid discover --json``."""
    from ..models.sparse.serialization import _jsonable

    qs = [str(e.lhs.args[0].func) for e in model.equations()]
    return {
        "hamiltonian": str(model.hamiltonian_),
        "structure": "canonical",
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


def resolve_structure(args, data):
    """The structure to fit: ``--structure`` checked against the kind of data, or inferred from it."""
    from ..io import LagrangianDataset, StateDataset
    from ..structures import POISSON_MATRICES, STRUCTURE_KINDS
    from . import CLIError

    spec = args.structure
    kind = None if spec is None else spec.strip().partition(":")[0].lower()
    if kind is not None and kind not in STRUCTURE_KINDS:
        raise CLIError(f"unknown --structure {spec!r}; valid: {'; '.join(STRUCTURE_KINDS.values())}")
    if isinstance(data, StateDataset):
        if spec is None:
            if data.structure is None:
                names = ", ".join(f"{n} (D = {v[0]})" for n, v in POISSON_MATRICES.items())
                raise CLIError(f"{args.data} holds non-canonical states z (D = {data.dim}) without a recorded "
                               f"structure: pass --structure poisson:NAME ({names}) or "
                               "--structure poisson:\"[[...], [...]]\" (expressions in z1..zD)")
            return data.structure
        if kind != "poisson":
            raise CLIError(f"{args.data} holds non-canonical states z; --structure {spec} needs "
                           f"{'q, qdot' if kind == 'lagrangian' else 'q, p'} data; use --structure poisson:...")
        return spec
    if isinstance(data, LagrangianDataset):
        if spec not in (None, "lagrangian"):
            raise CLIError(f"{args.data} holds Lagrangian data (q, qdot); --structure {spec} does not fit them: use "
                           "--structure lagrangian")
        return "lagrangian"
    if kind in (None, "canonical"):
        return "canonical"
    if kind == "poisson":
        raise CLIError(f"{args.data} holds canonical data q, p; a Poisson structure needs z data (z1..zD)")
    if kind == "lagrangian":
        raise CLIError(f"{args.data} holds q, p; --structure lagrangian needs q, qdot (hamid generate --as lagrangian)")
    return spec


def _run_structured(args, data, structure, specs, formulation):
    import warnings

    from ..models.sparse import SparseHamiltonian
    from ..models.sparse.lagrangian import SparseLagrangian
    from ..models.sparse.port import SparsePortHamiltonian
    from . import CLIError

    if structure == "lagrangian":
        normalize, scale = None, 0.5
        if args.normalize:
            term, sep, value = args.normalize.partition("=")
            try:
                scale = float(value) if sep else 0.5
            except ValueError:
                raise CLIError(f"--normalize {args.normalize!r}: expected TERM=VALUE, e.g. qdot1**2=1") from None
            normalize = term.strip()
        model = SparseLagrangian(library=list(specs), normalize=normalize, scale=scale, optimizer=args.optimizer,
                                 differentiation=args.differentiation, snap=args.snap)
        fit = lambda: model.fit(data.q, data.qdot, t=data.t, qddot=data.qddot)  # noqa: E731
    elif structure == "port":
        model = SparsePortHamiltonian(library=list(specs), optimizer=args.optimizer, formulation=formulation,
                                      differentiation=args.differentiation, snap=args.snap,
                                      dissipation=args.dissipation, random_state=args.seed)
        fit = lambda: model.fit(data.q, data.p, t=data.t, dq=data.dq, dp=data.dp)  # noqa: E731
    else:
        model = SparseHamiltonian(library=list(specs), optimizer=args.optimizer, formulation=formulation,
                                  differentiation=args.differentiation, snap=args.snap, n_bootstrap=args.bootstrap,
                                  random_state=args.seed, structure=structure)
        fit = lambda: model.fit(z=data.z, dz=data.dz, t=data.t)  # noqa: E731
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit()
    _check_determined(args, model)
    messages = []
    for w in caught:
        text = " ".join(str(w.message).split())
        messages.append(f"{w.category.__name__}: {text}")
        print(f"hamid: warning: {w.category.__name__}: {text}", file=sys.stderr)
    doc = structured_result(model, messages)
    if args.json:
        print(json.dumps(doc, allow_nan=False))
        return 0
    if structure == "lagrangian":
        print(model.summary())
    else:
        print(model.summary())
        if doc.get("dissipation") is not None:
            from ..models.sparse.estimator import _round_floats

            # the summary prints H at 10 significant digits; R the same way (the JSON keeps full precision)
            def show(entry):
                return f"{float(entry):.10g}" if entry.is_number else str(_round_floats(entry, 10))

            rows = [", ".join(show(e) for e in row) for row in model.dissipation_.tolist()]
            print("R = [" + ", ".join(f"[{row}]" for row in rows) + "]")
        if doc.get("casimirs"):
            print(f"Casimirs: {', '.join(doc['casimirs'])} (H is reported with the coefficients of "
                  f"{', '.join(model.gauge_terms_) or 'no term'} set to 0; H + f(C) gives the same field)")
    if args.latex:
        print()
        if structure == "lagrangian":
            print(model.latex("lagrangian"))
        if getattr(model, "hamiltonian_", None) is not None:
            print(model.latex("hamiltonian"))
        if structure != "lagrangian":
            print(r"\begin{aligned}" + model.latex("equations").replace(" = ", " &= ") + r"\end{aligned}")
    return 0


def structured_result(model, warnings_list=()):
    """The JSON document of a structured fit: ``hamiltonian`` (always; null only when a Lagrangian has no
    closed-form Legendre transform), ``structure``, ``lagrangian``, ``dissipation`` (R as a matrix of expression
    strings), ``casimirs``, ``terms``, ``latex`` and ``diagnostics``."""
    from ..models.sparse.serialization import _jsonable

    H = getattr(model, "hamiltonian_", None)
    structure = model.structure_
    doc = {
        "hamiltonian": None if H is None else str(H),
        "structure": structure.spec if structure.kind != "port" else "port",
        "state_symbols": [str(s) for s in structure.symbols],
        "lagrangian": str(model.lagrangian_) if hasattr(model, "lagrangian_") else None,
        "dissipation": ([[str(e) for e in row] for row in model.dissipation_.tolist()]
                        if hasattr(model, "dissipation_") else None),
        "casimirs": [str(c) for c in getattr(model, "casimirs_", [])],
        "gauge_terms": list(getattr(model, "gauge_terms_", [])),
        "latex": model.latex("hamiltonian") if H is not None else None,
        "terms": [{"term": name, "coefficient": float(c)} for name, c in zip(model.feature_names_, model.coef_)
                  if c != 0],
        "library_terms": list(model.feature_names_),
        "diagnostics": _jsonable(dict(model.diagnostics_, warnings=list(warnings_list))),
    }
    if hasattr(model, "lagrangian_"):
        doc["latex_lagrangian"] = model.latex("lagrangian")
    else:
        doc["equations"] = {f"d{e.lhs.args[0].func}/dt": str(e.rhs) for e in model.equations()}
    return doc
