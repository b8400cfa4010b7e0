"""``hamid fit DATA --model NAME``: fit any hamid model (sparse or neural) to a data file and save it.

Contract:

- ``--model``: one of ``sparse``, ``hnn``, ``mlp``, ``lnn``, ``lasympnet``, ``gsympnet``, ``srnn``,
  ``locsympnet``, ``friction``, ``symplectic_form``.
- ``--param KEY=VALUE`` (repeatable): a constructor parameter; values are parsed without evaluating code
  (ints, floats, ``true``/``false``, ``none``, tuples as ``64,64``, strings otherwise); an unknown key is an
  error that lists the valid ones.
- ``--save PATH``: where the fitted model goes (``hamid simulate --model PATH`` reads it back).
- A progress bar on stderr only when stderr is a terminal and ``--json`` is not given; ``--json`` prints
  one JSON object on stdout.
- The LNN trains on (q, q̇): velocities are the data's dq (or ∂H/∂p of ``--system``/``--hamiltonian``),
  accelerations come from the true H when given, else finite differences along the trajectories.
"""
from __future__ import annotations

import json
import sys

__all__ = ["register", "run", "parse_params"]


def register(subparsers):
    parser = subparsers.add_parser(
        "fit", help="fit a sparse or neural model to data and save it",
        description="Fit one model to a data file (.npz or .csv in the data contract) and save it for "
                    "'hamid simulate --model' and 'hamid compare'.",
    )
    parser.add_argument("data", metavar="DATA", help="data file (.npz or .csv)")
    parser.add_argument("--model", required=True, metavar="NAME",
                        help="sparse, hnn, mlp, lnn, lasympnet, gsympnet, srnn, locsympnet, friction, "
                             "symplectic_form")
    parser.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                        help="constructor parameter (repeatable), e.g. hidden=64,64 max_steps=2000 lr=3e-3; "
                             "for sparse also library=poly:2 (repeat --library instead for several specs)")
    parser.add_argument("--library", action="append", default=None, metavar="SPEC",
                        help="sparse model only: candidate terms (poly:DEG, trig, custom:EXPR,...; repeatable)")
    truth = parser.add_mutually_exclusive_group()
    truth.add_argument("--system", metavar="NAME", help="catalogue system the data come from (LNN: velocities "
                                                        "and accelerations from its H)")
    truth.add_argument("--hamiltonian", "-H", metavar="EXPR", help="the true H as an expression (LNN, as "
                                                                   "--system)")
    parser.add_argument("--save", required=True, metavar="PATH", help="where to save the fitted model")
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout; no progress bar")
    parser.set_defaults(func=run)
    return parser


def parse_params(items, name=None):
    """``["KEY=VALUE", ...]`` -> dict, values through :func:`hamid.comparison.parse_param_value`."""
    from hamid.cli import CLIError
    from hamid.comparison import parse_param_value

    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise CLIError(f"--param {item!r}: expected KEY=VALUE")
        out[key] = parse_param_value(value)
    return out


def coerce_params(cls, params):
    """A scalar given for a parameter whose default is a tuple becomes a one-element tuple
    (``--param hidden=64`` means one hidden layer of 64)."""
    import inspect

    defaults = {k: v.default for k, v in inspect.signature(cls.__init__).parameters.items()}
    return {k: ((v,) if isinstance(defaults.get(k), tuple) and not isinstance(v, (tuple, list)) and v is not None
                else v) for k, v in params.items()}


def _build(name, params, library, progress):
    from hamid.cli import CLIError
    from hamid.comparison import make_model, model_class

    cls = model_class(name)
    params = coerce_params(cls, params)
    if library:
        if cls.__name__ != "SparseHamiltonian":
            raise CLIError(f"--library applies to the sparse model only, not {name!r}")
        params["library"] = list(library)
    if "verbose" in cls._get_param_names() and "verbose" not in params:
        params["verbose"] = progress
    return make_model(name, **params)


def summary_dict(name, model, path):
    """The JSON document of ``hamid fit --json`` (also used by ``hamid compare``)."""
    from hamid.metrics import count_parameters

    doc = {"model": name, "class": type(model).__name__, "saved": str(path),
           "fit_time_s": float(getattr(model, "fit_time_", float("nan"))),
           "n_parameters": count_parameters(model)}
    H = getattr(model, "hamiltonian_", None)
    if H is not None:
        doc["hamiltonian"] = str(H)
        doc["terms"] = list(getattr(model, "terms_", []))
    history = getattr(model, "history_", None)
    if history is not None:
        doc["training"] = {"n_steps": history.n_steps, "best_step": history.best_step,
                           "final_train_loss": history.train_loss[-1] if history.train_loss else None,
                           "best_val_loss": history.best_val_loss, "stop_reason": history.stop_reason}
    if hasattr(model, "dt_"):
        doc["dt"] = float(model.dt_)
    return doc


def user_warnings(caught):
    """One line per distinct warning worth a user's attention: libraries' deprecation notices (torch's
    about its own internals, for instance) are left out."""
    seen = []
    for w in caught:
        if issubclass(w.category, (DeprecationWarning, PendingDeprecationWarning)):
            continue
        text = f"{w.category.__name__}: {' '.join(str(w.message).split())}"
        if text not in seen:
            seen.append(text)
    return seen


def clean_json(obj):
    """``obj`` with non-finite floats as None and tuples as lists (strict JSON)."""
    import math

    if isinstance(obj, dict):
        return {str(k): clean_json(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [clean_json(v) for v in obj]
    if isinstance(obj, float) or type(obj).__module__ == "numpy" and hasattr(obj, "item"):
        obj = obj.item() if hasattr(obj, "item") else obj
        if isinstance(obj, float) and not math.isfinite(obj):
            return None
    return obj


def run(args) -> int:
    import warnings

    from hamid.cli import CLIError
    from hamid.comparison import fit_model
    from hamid.io import check_writable, load_data

    check_writable(args.save)  # a bad --save path fails now, not after the fit
    data = load_data(args.data)
    progress = sys.stderr.isatty() and not args.json
    params = parse_params(args.param)
    model = _build(args.model, params, args.library, progress)
    truth = args.system or args.hamiltonian
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit_model(model, data, truth=truth)
    for text in user_warnings(caught):
        print(f"hamid: warning: {text}", file=sys.stderr)
    try:
        saved = model.save(args.save)
    except OSError as exc:
        raise CLIError(f"cannot save to {args.save}: {exc}") from None
    doc = summary_dict(args.model, model, saved or args.save)
    if args.json:
        print(json.dumps(clean_json(doc), allow_nan=False, default=str))
        return 0
    print(f"{doc['class']}: fitted in {doc['fit_time_s']:.2f} s, {doc['n_parameters']} parameters")
    if "hamiltonian" in doc:
        print(f"H = {doc['hamiltonian']}")
    if "training" in doc and doc["training"]["stop_reason"]:
        print(doc["training"]["stop_reason"])
    print(f"saved to {doc['saved']}")
    return 0
