"""Sweep configurations: validation and expansion of a grid into jobs.

A configuration is a mapping (usually read from YAML) with the sections ``systems``, ``data``, ``seeds``,
``models``, ``test`` and ``scoring`` (see ``docs/sweeps.md``). Any list is a grid axis, except the value of a
list-valued parameter (``library``, ``hidden``): there a flat list is one value and a list of lists an axis.
Everything is checked, and the grid size bounded, before any job runs. This module imports only the
standard library (PyYAML when a file is read); the estimator classes are imported to check parameter names.
"""
from __future__ import annotations

import copy
import hashlib
import inspect
import itertools
import json
import math
import numbers
import os
from pathlib import Path

__all__ = [
    "SweepConfigError", "SweepConfig", "MAX_JOBS", "load_config", "validate_config", "grid_size", "expand_jobs",
    "job_key", "describe", "model_kinds", "model_class", "TOP_KEYS", "DATA_KEYS", "TEST_KEYS", "SYSTEM_KEYS", "SCORING_KEYS",
]

#: Default bound on the number of jobs one configuration may expand to (``max_jobs`` raises it, up to
#: ``HARD_MAX_JOBS``): a typo such as a 1000-element seed list fails up front instead of queueing for days.
MAX_JOBS = 5000
HARD_MAX_JOBS = 100_000

TOP_KEYS = ("name", "version", "description", "systems", "data", "seeds", "models", "test", "scoring",
            "max_jobs")
SYSTEM_KEYS = ("name", "file", "constants", "library", "data", "hamiltonian")
DATA_KEYS = ("name", "n_traj", "n_time", "dt", "noise", "noise_on", "noise_mode", "derivatives")
TEST_KEYS = ("n_traj", "horizon", "dt", "threshold", "method")
SCORING_KEYS = ("tolerance",)
DATA_DEFAULTS = {"name": "default", "n_traj": 10, "n_time": 50, "dt": None, "noise": 0.0, "noise_on": "both",
                 "noise_mode": "relative", "derivatives": True}
TEST_DEFAULTS = {"n_traj": 4, "horizon": None, "dt": None, "threshold": 0.1, "method": None}
#: parameters whose single value is itself a list: a flat list is one value, a list of lists a grid axis
LIST_VALUED = frozenset({"library", "hidden"})

# kind -> (module, class): the model names of `hamid fit --model` / `hamid compare --models` (hamid.comparison.MODELS,
# one registry for every command) less LNN, which is fitted on velocities, not on (q, p); plus pysindy's baseline
# (hamid.sweep.baselines). The spellings the sweep used first stay accepted as aliases.
_KIND_ALIASES = {"la_sympnet": "lasympnet", "g_sympnet": "gsympnet", "friction_hnn": "friction"}
_EXTRA_KINDS = {"pysindy": ("hamid.sweep.baselines", "PySINDyField")}


def _model_kinds_table():
    from hamid.comparison import MODELS

    table = {name: where for name, where in MODELS.items() if name != "lnn"}
    table.update(_EXTRA_KINDS)
    table.update({alias: table[name] for alias, name in _KIND_ALIASES.items()})
    return table


SYMBOLIC_KINDS = frozenset({"sparse", "pysindy"})


class SweepConfigError(ValueError):
    """An invalid sweep configuration; the message names the offending entry."""


class SweepConfig(dict):
    """A validated, normalized configuration (what :func:`validate_config` returns)."""


def model_kinds() -> list[str]:
    """Valid model kinds (``models: {LABEL: {kind: ...}}`` or a label equal to a kind)."""
    return sorted(_model_kinds_table())


def model_class(kind: str):
    """The estimator class of a model kind (imports its module: torch for the neural kinds)."""
    import importlib

    table = _model_kinds_table()
    if kind not in table:
        raise SweepConfigError(f"unknown model kind {kind!r}; valid kinds: {', '.join(model_kinds())}")
    module, name = table[kind]
    return getattr(importlib.import_module(module), name)


# ---------------------------------------------------------------------------------------------- reading

def load_config(source) -> dict:
    """Read and validate a sweep configuration.

    Parameters
    ----------
    source : str, os.PathLike or dict
        A YAML file or an already parsed mapping (copied, never modified).

    Returns
    -------
    dict
        The validated configuration with defaults filled in (see :func:`validate_config`).

    Raises
    ------
    SweepConfigError
        Unreadable YAML, unknown keys (the valid ones are listed), bad values, or a grid larger than its bound.
    FileNotFoundError
        A missing configuration file.
    """
    if isinstance(source, dict):
        raw = copy.deepcopy(source)
        base = Path.cwd()
    else:
        import yaml

        path = Path(source)
        if not path.is_file():
            raise FileNotFoundError(f"sweep configuration not found: {path}")
        try:
            raw = yaml.safe_load(path.read_text())
        except yaml.YAMLError as exc:
            raise SweepConfigError(f"{path}: not valid YAML: {' '.join(str(exc).split())}") from None
        base = path.resolve().parent
    return validate_config(raw, base_dir=base)


def _check_keys(where, mapping, valid):
    if not isinstance(mapping, dict):
        raise SweepConfigError(f"{where} must be a mapping, got {type(mapping).__name__}")
    unknown = [k for k in mapping if k not in valid]
    if unknown:
        raise SweepConfigError(f"unknown key{'s' if len(unknown) > 1 else ''} "
                               f"{', '.join(repr(k) for k in unknown)} in {where}; valid keys: {', '.join(valid)}")


def _is_axis(key, value):
    if not isinstance(value, list):
        return False
    if key in LIST_VALUED:
        return len(value) > 0 and all(isinstance(v, list) for v in value)
    return True


def _axis_values(where, key, value):
    """The values of one parameter: a list axis or a single value (a one-element list)."""
    if _is_axis(key, value):
        if not value:
            raise SweepConfigError(f"{where}.{key} is an empty list: a grid axis needs at least one value")
        return list(value)
    return [value]


def _grid(where, mapping):
    """All combinations of a mapping's list axes, as a list of plain dicts (keys in the given order)."""
    keys = list(mapping)
    axes = [_axis_values(where, k, mapping[k]) for k in keys]
    n = math.prod(len(a) for a in axes)
    if n > HARD_MAX_JOBS:
        raise SweepConfigError(f"{where} alone expands to {n} combinations, more than the hard limit {HARD_MAX_JOBS}")
    return [dict(zip(keys, combo)) for combo in itertools.product(*axes)]


def _grid_len(where, mapping):
    return math.prod(len(_axis_values(where, k, v)) for k, v in mapping.items())


def _real(where, value, *, positive=False, nonnegative=False, allow_none=False):
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(float(value)):
        raise SweepConfigError(f"{where} must be a finite number, got {value!r}")
    value = float(value)
    if positive and value <= 0:
        raise SweepConfigError(f"{where} must be > 0, got {value!r}")
    if nonnegative and value < 0:
        raise SweepConfigError(f"{where} must be >= 0, got {value!r}")
    return value


def _int(where, value, minimum=1):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise SweepConfigError(f"{where} must be an integer >= {minimum}, got {value!r}")
    return int(value)


# ---------------------------------------------------------------------------------------------- validation

def _validate_data_setting(where, setting):
    _check_keys(where, setting, DATA_KEYS)
    for combo in _grid(where, setting):
        _check_data_values(where, combo)


def _check_data_values(where, d):
    if "name" in d and not isinstance(d["name"], str):
        raise SweepConfigError(f"{where}.name must be a string, got {d['name']!r}")
    if "n_traj" in d:
        _int(f"{where}.n_traj", d["n_traj"])
    if "n_time" in d:
        _int(f"{where}.n_time", d["n_time"], minimum=2)
    if "dt" in d:
        _real(f"{where}.dt", d["dt"], positive=True, allow_none=True)
    if "noise" in d:
        _real(f"{where}.noise", d["noise"], nonnegative=True)
    if "noise_on" in d and d["noise_on"] not in ("both", "states", "derivatives"):
        raise SweepConfigError(f"{where}.noise_on must be one of both, states, derivatives; got {d['noise_on']!r}")
    if "noise_mode" in d and d["noise_mode"] not in ("relative", "absolute"):
        raise SweepConfigError(f"{where}.noise_mode must be relative or absolute; got {d['noise_mode']!r}")
    if "derivatives" in d and not isinstance(d["derivatives"], bool):
        raise SweepConfigError(f"{where}.derivatives must be true or false, got {d['derivatives']!r}")


def _normalize_data(d):
    out = dict(DATA_DEFAULTS)
    out.update(d)
    out["n_traj"], out["n_time"] = int(out["n_traj"]), int(out["n_time"])
    out["noise"] = float(out["noise"])
    out["dt"] = None if out["dt"] is None else float(out["dt"])
    return out


def _validate_system(where, entry, base_dir):
    """One ``systems`` entry -> a normalized dict with either ``name`` or ``file``."""
    from hamid.systems import get_system, list_systems

    if isinstance(entry, str):
        entry = {"file": entry} if entry.lower().endswith((".npz", ".csv")) else {"name": entry}
    _check_keys(where, entry, SYSTEM_KEYS)
    if ("name" in entry) == ("file" in entry):
        raise SweepConfigError(f"{where} needs exactly one of 'name' (a catalogue system) or 'file' (a data file)")
    out = {k: copy.deepcopy(v) for k, v in entry.items()}
    if "library" in out and out["library"] is not None:
        lib = out["library"]
        if not (isinstance(lib, str) or (isinstance(lib, list) and lib and all(isinstance(s, str) for s in lib))):
            raise SweepConfigError(f"{where}.library must be a spec string or a list of spec strings, got {lib!r}")
    if "data" in out:
        _check_keys(f"{where}.data", out["data"], tuple(out["data"]))
        for name, overrides in out["data"].items():
            _check_keys(f"{where}.data.{name}", overrides, tuple(k for k in DATA_KEYS if k != "name"))
            _check_data_values(f"{where}.data.{name}", overrides)
    if "name" in out:
        if "hamiltonian" in out:
            raise SweepConfigError(f"{where}: 'hamiltonian' is only for data files (a catalogue system has its own)")
        constants = out.get("constants") or {}
        _check_keys(f"{where}.constants", constants, tuple(constants))
        for combo in _grid(f"{where}.constants", constants):
            try:
                system = get_system(out["name"], **combo)
            except ValueError as exc:
                raise SweepConfigError(f"{where}: {exc}") from None
            if not system.canonical:
                canonical = [n for n in list_systems() if get_system(n).canonical]
                raise SweepConfigError(f"{where}: {system.name} is non-canonical; sweeps fit (q, p) data of "
                                       f"canonical systems: {', '.join(canonical)}")
        out["name"] = system.name
        out["constants"] = constants
    else:
        if "constants" in out:
            raise SweepConfigError(f"{where}: 'constants' only apply to catalogue systems, not to data files")
        path = Path(out["file"])
        if not path.is_absolute():
            path = base_dir / path
        if not path.is_file():
            raise SweepConfigError(f"{where}: data file not found: {path}")
        out["file"] = str(path)
        # the file's content is part of the job key: changed data are new jobs
        out["sha256"] = hashlib.sha256(path.read_bytes()).hexdigest()
        if "hamiltonian" in out:
            from hamid.io import load_data
            from hamid.symbolic import state_symbols
            from hamid.symbolic.symbols import parse_expression

            if not isinstance(out["hamiltonian"], str):
                raise SweepConfigError(f"{where}.hamiltonian must be an expression string")
            qs, ps = state_symbols(load_data(path).n_dof)
            parse_expression(out["hamiltonian"], tuple(qs) + tuple(ps))
    return out


def _validate_model(label, params):
    where = f"models.{label}"
    if params is None:
        params = {}
    if not isinstance(params, dict):
        raise SweepConfigError(f"{where} must be a mapping of parameters (or empty), got {type(params).__name__}")
    params = copy.deepcopy(params)
    kind = params.pop("kind", label)
    if kind not in _model_kinds_table():
        raise SweepConfigError(f"{where}: unknown model kind {kind!r} (give 'kind:' when the label is not a kind); "
                               f"valid kinds: {', '.join(model_kinds())}")
    cls = model_class(kind)
    valid = [n for n in inspect.signature(cls.__init__).parameters if n != "self"]
    _check_keys(where, params, valid)
    for key, value in params.items():
        if key in LIST_VALUED and isinstance(value, list):
            for v in _axis_values(where, key, value):
                if not isinstance(v, list):
                    raise SweepConfigError(f"{where}.{key}: a grid over list values is a list of lists, got {value!r}")
    return {"label": label, "kind": kind, "params": params}


def _validate_test(test):
    if test is None:
        return None
    _check_keys("test", test, TEST_KEYS)
    for k, v in test.items():
        if isinstance(v, list):
            raise SweepConfigError(f"test.{k}: the test section is not a grid axis (one value per sweep)")
    out = dict(TEST_DEFAULTS)
    out.update(test)
    out["n_traj"] = _int("test.n_traj", out["n_traj"])
    if out["horizon"] is None:
        raise SweepConfigError("test.horizon (the rollout length in time units) is required")
    out["horizon"] = _real("test.horizon", out["horizon"], positive=True)
    out["dt"] = _real("test.dt", out["dt"], positive=True, allow_none=True)
    out["threshold"] = _real("test.threshold", out["threshold"], positive=True)
    if out["method"] is not None and not isinstance(out["method"], str):
        raise SweepConfigError(f"test.method must be an integrator name, got {out['method']!r}")
    return out


def _validate_scoring(scoring):
    if scoring is None:
        return None
    _check_keys("scoring", scoring, SCORING_KEYS)
    tol = scoring.get("tolerance")
    if not isinstance(tol, dict) or not tol:
        raise SweepConfigError("scoring.tolerance must map noise levels to relative coefficient tolerances, "
                               "e.g. {0.0: 1.0e-3, 0.01: 0.02}")
    table = {}
    for noise, value in tol.items():
        table[str(_real("scoring.tolerance (noise level)", noise, nonnegative=True))] = _real(
            f"scoring.tolerance[{noise}]", value, positive=True)
    return {"tolerance": dict(sorted(table.items(), key=lambda kv: float(kv[0])))}


def validate_config(raw, base_dir=None) -> dict:
    """Check a parsed configuration and return it normalized (defaults filled, systems resolved).

    Parameters
    ----------
    raw : dict
        The parsed YAML (not modified).
    base_dir : path, optional
        Directory that relative data-file paths are resolved against (the configuration file's).

    Returns
    -------
    dict
        Keys of :data:`TOP_KEYS`; ``systems``, ``data`` and ``models`` as lists of normalized entries.
    """
    base_dir = Path.cwd() if base_dir is None else Path(base_dir)
    if not isinstance(raw, dict):
        raise SweepConfigError(f"a sweep configuration is a mapping with keys {', '.join(TOP_KEYS)}; "
                               f"got {type(raw).__name__}")
    _check_keys("the configuration", raw, TOP_KEYS)
    for required in ("systems", "models"):
        if required not in raw:
            raise SweepConfigError(f"the configuration needs '{required}'")
    systems = raw["systems"] if isinstance(raw["systems"], list) else [raw["systems"]]
    if not systems:
        raise SweepConfigError("systems is empty")
    data = raw.get("data") or {}
    settings = data if isinstance(data, list) else [data]
    if not settings:
        raise SweepConfigError("data is an empty list")
    for i, s in enumerate(settings):
        _validate_data_setting(f"data[{i}]" if isinstance(data, list) else "data", s)
    seeds = raw.get("seeds", [0])
    seeds = seeds if isinstance(seeds, list) else [seeds]
    if not seeds:
        raise SweepConfigError("seeds is an empty list")
    seeds = [_int("seeds[]", s, minimum=0) for s in seeds]
    if len(set(seeds)) != len(seeds):
        raise SweepConfigError(f"seeds repeat: {seeds}")
    models = raw["models"]
    if not isinstance(models, dict) or not models:
        raise SweepConfigError("models must be a non-empty mapping LABEL: {parameters}")
    max_jobs = _int("max_jobs", raw.get("max_jobs", MAX_JOBS))
    if max_jobs > HARD_MAX_JOBS:
        raise SweepConfigError(f"max_jobs = {max_jobs} exceeds the hard limit {HARD_MAX_JOBS}")
    config = SweepConfig({
        "name": raw.get("name"), "version": raw.get("version"), "description": raw.get("description"),
        "systems": [_validate_system(f"systems[{i}]", s, base_dir) for i, s in enumerate(systems)],
        "data": [copy.deepcopy(s) for s in settings],
        "seeds": seeds,
        "models": [_validate_model(label, params) for label, params in models.items()],
        "test": _validate_test(raw.get("test")),
        "scoring": _validate_scoring(raw.get("scoring")),
        "max_jobs": max_jobs,
    })
    names = [_data_name(s) for s in config["data"]]
    if len(set(names)) != len(names):
        raise SweepConfigError(f"data settings need distinct names, got {names}")
    for i, s in enumerate(config["systems"]):
        unknown = set(s.get("data", {})) - set(names)
        if unknown:
            raise SweepConfigError(f"systems[{i}].data overrides unknown data settings {sorted(unknown)}; "
                                   f"settings: {', '.join(names)}")
    n = grid_size(config)
    if n > max_jobs:
        raise SweepConfigError(f"the configuration expands to {n} jobs, more than max_jobs = {max_jobs}; "
                               "shrink a grid axis or raise max_jobs")
    return config


def _data_name(setting):
    name = setting.get("name", DATA_DEFAULTS["name"])
    return name if isinstance(name, str) else str(name)


# ---------------------------------------------------------------------------------------------- expansion

def grid_size(config) -> int:
    """Number of jobs a validated configuration expands to, computed without expanding it."""
    n_systems = sum(_grid_len("constants", s.get("constants") or {}) for s in config["systems"])
    n_data = sum(_grid_len("data", s) for s in config["data"])
    n_models = sum(_grid_len(f"models.{m['label']}", m["params"]) for m in config["models"])
    return n_systems * n_data * len(config["seeds"]) * n_models


def _canonical_json(obj) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)


def job_key(job_config) -> str:
    """Stable key of a job: the first 16 hex digits of the SHA-256 of its canonical JSON configuration."""
    return hashlib.sha256(_canonical_json(job_config).encode()).hexdigest()[:16]


def expand_jobs(config) -> list[dict]:
    """Expand a validated configuration into jobs.

    Returns
    -------
    list of dict
        Each ``{"key": str, "config": dict}``, in a deterministic order (systems, data, seeds, models);
        ``config`` holds everything the job depends on: ``system``, ``data``, ``seed``, ``model``, ``test``,
        ``scoring``.
    """
    jobs = []
    seen = set()
    for system in config["systems"]:
        constant_grid = _grid("constants", system.get("constants") or {}) if "name" in system else [None]
        for constants in constant_grid:
            sys_cfg = ({"name": system["name"], "constants": constants} if constants is not None else
                       {"file": system["file"], "sha256": system["sha256"], "hamiltonian": system.get("hamiltonian")})
            for setting in config["data"]:
                name = _data_name(setting)
                overrides = system.get("data", {}).get(name, {})
                for combo in _grid("data", setting):
                    data_cfg = _normalize_data({**combo, **overrides, "name": name})
                    for seed in config["seeds"]:
                        for model in config["models"]:
                            for params in _grid(f"models.{model['label']}", model["params"]):
                                if model["kind"] in SYMBOLIC_KINDS and "library" not in params:
                                    params = {**params, "library": system.get("library")}
                                job = {
                                    "system": sys_cfg, "data": data_cfg, "seed": seed,
                                    "model": {"label": model["label"], "kind": model["kind"], "params": params},
                                    "test": config["test"], "scoring": config["scoring"],
                                }
                                try:
                                    key = job_key(job)
                                except (TypeError, ValueError) as exc:
                                    raise SweepConfigError(f"a job configuration is not plain JSON data: {exc}")
                                if key in seen:
                                    raise SweepConfigError(f"two jobs share one configuration: {_canonical_json(job)}")
                                seen.add(key)
                                jobs.append({"key": key, "config": job})
    return jobs


def describe(job_config) -> str:
    """One short line naming a job (system, data setting, noise, seed, model)."""
    s = job_config["system"]
    system = s.get("name") or os.path.basename(s.get("file", "?"))
    d = job_config["data"]
    return f"{system} {d['name']} noise={d['noise']:g} seed={job_config['seed']} {job_config['model']['label']}"
