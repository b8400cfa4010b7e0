"""The data contract: validated containers for phase-space data, and .npz/.csv reading and writing.

Two layouts are accepted. Trajectories: ``q``, ``p`` (and optional ``dq``, ``dp``) of shape
(n_traj, n_time, d) with times ``t`` of shape (n_time,). Samples: the same arrays of shape (n_samples, d)
and no ``t``. Everything is validated once here, so that estimators and the CLI can rely on it.

Two more kinds of data (see ``docs/data.md``): non-canonical states ``z`` (+ optional ``dz``) of shape
(n_traj, n_time, D) or (n_samples, D), symbols ``z1..zD`` (:class:`StateDataset`, with an optional
``structure`` string such as ``"poisson:rigid_body"``), and Lagrangian data ``q``, ``qdot`` (+ optional
``qddot``), symbols ``q1..qd, qdot1..qdotd`` (:class:`LagrangianDataset`).
"""
from __future__ import annotations

import csv
import io
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["Dataset", "StateDataset", "LagrangianDataset", "DataError", "validate_data", "validate_states",
           "validate_lagrangian", "load_data", "save_data", "atomic_write", "check_writable"]


class DataError(ValueError):
    """Input data violates the data contract; the message names the problem."""


@dataclass(frozen=True)
class Dataset:
    """Validated phase-space data (float64 copies; the caller's arrays are never touched).

    Attributes
    ----------
    q, p : ndarray, shape (n_traj, n_time, d) or (n_samples, d)
    t : ndarray of shape (n_time,) or None
    dq, dp : ndarray shaped like ``q`` or None
        Time derivatives of ``q`` and ``p`` when known.
    """

    q: np.ndarray
    p: np.ndarray
    t: np.ndarray | None = None
    dq: np.ndarray | None = None
    dp: np.ndarray | None = None
    #: ragged data (trajectories of different lengths or with their own times): the trajectories are
    #: concatenated into one of shape (1, N, d) and ``bounds`` holds the sample index where each starts
    #: (``bounds[0] == 0``); ``t`` is then each trajectory's times shifted to follow the previous one
    bounds: tuple | None = None

    @property
    def n_dof(self) -> int:
        return self.q.shape[-1]

    @property
    def is_trajectory(self) -> bool:
        return self.q.ndim == 3

    @property
    def has_derivatives(self) -> bool:
        return self.dq is not None

    def states(self) -> np.ndarray:
        """Concatenated states ``z = (q, p)``, shape ``q.shape[:-1] + (2d,)``."""
        return np.concatenate([self.q, self.p], axis=-1)

    def derivatives(self) -> np.ndarray | None:
        """Concatenated ``dz/dt = (dq, dp)``, or None."""
        return None if self.dq is None else np.concatenate([self.dq, self.dp], axis=-1)

    def flat(self):
        """Samples view: ``(z, dz)`` of shapes (N, 2d) and (N, 2d) or None, trajectories flattened."""
        z = self.states().reshape(-1, 2 * self.n_dof)
        dz = self.derivatives()
        return z, (None if dz is None else dz.reshape(-1, 2 * self.n_dof))

    def __repr__(self):
        # one line: the dataclass default prints every array (4,000 lines for the bundled pendulum)
        if self.bounds is not None:
            layout = f"{len(self.bounds)} ragged trajectories, {self.q.shape[1]} samples in all"
            d = self.q.shape[-1]
        elif self.is_trajectory:
            n_traj, n_time, d = self.q.shape
            layout = f"{n_traj} trajectories x {n_time} samples"
        else:
            layout = f"{self.q.shape[0]} samples"
            d = self.q.shape[1]
        parts = [layout, f"d={d}"]
        if self.t is not None:
            parts.append(f"t=[{self.t[0]:.6g}, {self.t[-1]:.6g}]")
        parts.append("with dq, dp" if self.has_derivatives else "no derivatives")
        return f"Dataset({', '.join(parts)})"


def _as_float_array(name, value):
    # converting would silently drop imaginary parts, turn booleans into 0/1 and parse strings: refuse them
    kind = getattr(getattr(value, "dtype", None), "kind", None)
    if kind is None and not isinstance(value, (int, float, np.generic)):
        try:
            kind = np.asarray(value).dtype.kind
        except (TypeError, ValueError):
            kind = "O"
    if kind is not None and kind not in "iuf":
        names = {"c": "complex", "b": "boolean", "U": "string", "S": "bytes", "O": "object"}
        what = names.get(kind, f"dtype kind {kind!r}")
        raise DataError(f"{name} must hold real numbers (integer or float), got {what} values")
    try:
        arr = np.array(value, dtype=np.float64, copy=True)
    except (TypeError, ValueError) as exc:
        raise DataError(f"{name} must be numeric: {exc}") from None
    return arr


def _check_finite(name, arr):
    bad = ~np.isfinite(arr)
    if bad.any():
        rows = np.argwhere(bad.reshape(arr.shape[:-1] + (-1,)).any(axis=-1)) if arr.ndim > 1 else np.argwhere(bad)
        shown = ", ".join(str(tuple(int(i) for i in r)) for r in rows[:5])
        more = f" and {len(rows) - 5} more" if len(rows) > 5 else ""
        kind = "NaN" if np.isnan(arr[bad]).any() else "inf"
        index = "(traj, time)" if arr.ndim == 3 else "(sample,)"
        raise DataError(f"{name} contains {kind} values at {index} {shown}{more}")


def _is_trajectory_list(q, t):
    """A list/tuple of per-trajectory arrays (pysindy's multiple trajectories), not nested sample rows."""
    if not isinstance(q, (list, tuple)) or len(q) == 0:
        return False
    try:
        ndims = [np.ndim(x) for x in q]
        lengths = [len(x) if np.ndim(x) >= 1 else 0 for x in q]
    except (TypeError, ValueError):
        return False
    if any(n == 0 for n in ndims):
        return False
    return any(n >= 2 for n in ndims) or isinstance(t, (list, tuple)) or len(set(lengths)) > 1


def _uniform_times(name, dt, n_time):
    dt = float(_as_float_array(name, dt))
    if not np.isfinite(dt) or dt <= 0:
        raise DataError(f"a scalar {name} is the uniform time step and must be finite and > 0, got {dt}")
    return dt * np.arange(n_time)


def _validate_list(q, p, t, dq, dp, allow_ragged):
    n = len(q)
    for name, arr in (("p", p), ("dq", dq), ("dp", dp)):
        if arr is not None and (not isinstance(arr, (list, tuple)) or len(arr) != n):
            got = f"a list of {len(arr)}" if isinstance(arr, (list, tuple)) else type(arr).__name__
            raise DataError(f"q is a list of {n} trajectories, so {name} must be a list of {n} arrays too; got {got}")
    if isinstance(t, (list, tuple)):
        if len(t) != n:
            raise DataError(f"q is a list of {n} trajectories but t is a list of {len(t)} time arrays; give one per "
                            "trajectory (or one scalar step for all)")
        ts = list(t)
    elif t is None:
        ts = [None] * n
    elif np.ndim(t) == 0:
        ts = [t] * n
    else:
        raise DataError("q is a list of trajectories: give t as a list with one time array per trajectory, or as "
                        f"a scalar uniform step; got an array of shape {np.shape(t)}")
    parts = []
    for i in range(n):
        try:
            qi = _as_float_array(f"q[{i}]", q[i])
            if qi.ndim == 3:
                raise DataError(f"q[{i}] has shape {qi.shape}: each list entry is one trajectory of shape "
                                "(n_time, d) or (n_time,)")
            d = _validate_regular(q[i], p[i], t=None if ts[i] is None else ts[i], dq=None if dq is None else dq[i],
                                  dp=None if dp is None else dp[i], _one_trajectory=True)
        except DataError as exc:
            raise DataError(f"trajectory {i}: {exc}") from None
        parts.append(d)
    widths = {d.q.shape[-1] for d in parts}
    if len(widths) > 1:
        raise DataError(f"the trajectories have different numbers of degrees of freedom: {sorted(widths)}")
    return _combine(parts, allow_ragged)


def _combine(parts, allow_ragged):
    """Stack equal trajectories into (n_traj, n_time, d); otherwise concatenate them (ragged, ``bounds``)."""
    same_t = all(d.t is None for d in parts) or (
        all(d.t is not None for d in parts) and len({d.t.shape for d in parts}) == 1
        and all(np.array_equal(d.t, parts[0].t) for d in parts))
    same_len = len({d.q.shape[1] for d in parts}) == 1
    has_d = parts[0].dq is not None
    if same_len and same_t:
        cat = lambda name: np.concatenate([getattr(d, name) for d in parts])
        return Dataset(q=cat("q"), p=cat("p"), t=parts[0].t, dq=cat("dq") if has_d else None,
                       dp=cat("dp") if has_d else None)
    if not allow_ragged:
        lengths = sorted({d.q.shape[1] for d in parts})
        raise DataError(f"these trajectories have different lengths ({lengths}) or their own sample times; this "
                        "model needs trajectories of one length sharing one t (SparseHamiltonian accepts ragged "
                        "trajectories)")
    if any(d.t is None for d in parts) and not has_d:
        raise DataError("trajectories without dq/dp need sample times t (one array per trajectory, or a scalar step)")
    starts = np.cumsum([0] + [d.q.shape[1] for d in parts])
    times = None
    if all(d.t is not None for d in parts):
        # each trajectory's times shifted to follow the previous one (one mean step later): the formulations only
        # use time differences within a trajectory, and never integrate across a boundary
        times, end = [], None
        for d in parts:
            step = float(np.mean(np.diff(d.t))) if d.t.size > 1 else 1.0
            shift = 0.0 if end is None else end + step - d.t[0]
            times.append(d.t + shift)
            end = times[-1][-1]
        times = np.concatenate(times)
    cat = lambda name: np.concatenate([getattr(d, name)[0] for d in parts])[None]
    return Dataset(q=cat("q"), p=cat("p"), t=times, dq=cat("dq") if has_d else None, dp=cat("dp") if has_d else None,
                   bounds=tuple(int(s) for s in starts[:-1]))


def validate_data(q, p, t=None, dq=None, dp=None, *, allow_ragged=False) -> Dataset:
    """Check arrays against the data contract and return a :class:`Dataset` of float64 copies.

    Layouts (see ``docs/data.md``): trajectories ``(n_traj, n_time, d)`` with ``t`` of shape ``(n_time,)``,
    ``(n_traj, n_time)`` (each trajectory its own times) or a scalar (a uniform step); one trajectory
    ``(n_time, d)`` or ``(n_time,)`` with such a ``t``; samples ``(n_samples, d)`` without ``t``; a list of
    trajectories (pysindy's multiple trajectories) ``q=[q_a, q_b]``, ``p=[...]``, ``t=[t_a, t_b]`` (or a
    scalar step), each ``(n_time_i, d)``.

    Parameters
    ----------
    q, p : array_like or list of array_like
    t : array_like, float or list of array_like, optional
        Strictly increasing sample times; required for trajectories unless ``dq`` and ``dp`` are given.
    dq, dp : array_like (or lists) shaped like ``q``, optional
        Both or neither.
    allow_ragged : bool, default False
        Accept trajectories of different lengths or with their own times: they are concatenated into one
        ``(1, N, d)`` trajectory with :attr:`Dataset.bounds` marking where each starts (consumers must not
        integrate or differentiate across them). Otherwise such data are a :class:`DataError`.

    Raises
    ------
    DataError
        Naming the problem: mismatched shapes, NaN/inf (with their indices), non-increasing ``t``,
        ``dq`` without ``dp``, missing ``t``, lists of different lengths.
    """
    if _is_trajectory_list(q, t):
        return _validate_list(q, p, t, dq, dp, allow_ragged)
    if t is not None and not isinstance(t, (list, tuple)) and np.ndim(t) == 2:
        # (n_traj, n_time) times: every trajectory its own sampling
        tt = _as_float_array("t", t)
        qa = _as_float_array("q", q) if q is not None else None
        if qa is None or qa.ndim != 3 or tt.shape != qa.shape[:2]:
            raise DataError(f"t of shape {tt.shape} gives each trajectory its own times and needs q of shape "
                            f"(n_traj, n_time, d) = {tt.shape + ('d',)}; q has shape "
                            f"{None if qa is None else qa.shape}")
        split = lambda a: None if a is None else list(_as_float_array("d", a))
        return _validate_list(list(qa), split(p), list(tt), split(dq), split(dp), allow_ragged)
    return _validate_regular(q, p, t=t, dq=dq, dp=dp)


def _validate_regular(q, p, t=None, dq=None, dp=None, _one_trajectory=False) -> Dataset:
    """Check arrays against the data contract and return a :class:`Dataset` of float64 copies.

    Parameters
    ----------
    q, p : array_like, shape (n_traj, n_time, d), (n_samples, d) or (n_samples,) for d = 1
    t : array_like, shape (n_time,), optional
        Strictly increasing sample times; required for trajectories unless ``dq`` and ``dp`` are given.
    dq, dp : array_like, same shape as ``q``, optional
        Both or neither.

    Raises
    ------
    DataError
        Naming the problem: mismatched shapes, NaN/inf (with their indices), non-increasing ``t``,
        ``dq`` without ``dp``, missing ``t``.
    """
    if q is None or p is None:
        raise DataError("both q and p are required")
    q, p = _as_float_array("q", q), _as_float_array("p", p)
    if q.ndim == 1:
        q = q[:, None]
    if p.ndim == 1:
        p = p[:, None]
    if q.ndim not in (2, 3):
        raise DataError(f"q must have shape (n_traj, n_time, d) or (n_samples, d), got {q.shape}")
    if q.shape != p.shape:
        raise DataError(f"q and p must have the same shape, got q {q.shape} and p {p.shape}")
    if q.size == 0:
        raise DataError(f"q and p are empty (shape {q.shape})")
    if q.ndim == 2 and (_one_trajectory or t is not None):
        # one trajectory (n_time, d) with its times (a time axis makes the rows consecutive samples)
        q, p = q[None], p[None]
        one = True
    else:
        one = False
    if t is not None and np.ndim(t) == 0:
        t = _uniform_times("t", t, q.shape[1] if q.ndim == 3 else q.shape[0])
    if (dq is None) != (dp is None):
        given, missing = ("dq", "dp") if dq is not None else ("dp", "dq")
        raise DataError(f"{given} was given without {missing}: pass both derivatives or neither")
    if dq is not None:
        dq, dp = _as_float_array("dq", dq), _as_float_array("dp", dp)
        if dq.ndim == 1:
            dq = dq[:, None]
        if dp.ndim == 1:
            dp = dp[:, None]
        if one:
            dq, dp = dq[None], dp[None]
        for name, arr in (("dq", dq), ("dp", dp)):
            if arr.shape != q.shape:
                raise DataError(f"{name} must have the shape of q {q.shape}, got {arr.shape}")
    for name, arr in (("q", q), ("p", p), ("dq", dq), ("dp", dp)):
        if arr is not None:
            _check_finite(name, arr)
    if t is not None:
        t = _check_times(t, q.shape, dims="d", holder="q has")
    elif q.ndim == 3 and dq is None:
        raise DataError("trajectories without dq/dp need sample times t of shape (n_time,)")
    return Dataset(q=q, p=p, t=t, dq=dq, dp=dp)


@dataclass(frozen=True)
class StateDataset:
    """Validated non-canonical data: states ``z`` in the symbols z1..zD (float64 copies).

    Attributes
    ----------
    z : ndarray, shape (n_traj, n_time, D) or (n_samples, D)
    t : ndarray of shape (n_time,) or None
    dz : ndarray shaped like ``z`` or None
    structure : str or None
        The structure the data were generated with (e.g. ``"poisson:rigid_body"``), when recorded.
    """

    z: np.ndarray
    t: np.ndarray | None = None
    dz: np.ndarray | None = None
    structure: str | None = None

    @property
    def dim(self) -> int:
        return self.z.shape[-1]

    @property
    def is_trajectory(self) -> bool:
        return self.z.ndim == 3

    @property
    def has_derivatives(self) -> bool:
        return self.dz is not None

    def states(self) -> np.ndarray:
        return self.z

    def derivatives(self) -> np.ndarray | None:
        return self.dz


@dataclass(frozen=True)
class LagrangianDataset:
    """Validated Lagrangian data: positions and velocities (float64 copies).

    Attributes
    ----------
    q, qdot : ndarray, shape (n_traj, n_time, d) or (n_samples, d)
    t : ndarray of shape (n_time,) or None
    qddot : ndarray shaped like ``q`` or None
        Accelerations when known (otherwise estimated from trajectories with ``t``).
    """

    q: np.ndarray
    qdot: np.ndarray
    t: np.ndarray | None = None
    qddot: np.ndarray | None = None

    @property
    def n_dof(self) -> int:
        return self.q.shape[-1]

    @property
    def is_trajectory(self) -> bool:
        return self.q.ndim == 3

    def states(self) -> np.ndarray:
        """``(q, qdot)`` concatenated, shape ``q.shape[:-1] + (2d,)``."""
        return np.concatenate([self.q, self.qdot], axis=-1)


def _check_times(t, shape, dims="D", holder="the states have"):
    """``t`` as float64 (n_time,) for states of ``shape`` (n_traj, n_time, ·): finite, strictly increasing.

    ``dims`` and ``holder`` only word the error (canonical data name their last axis d and the array q).
    """
    t = _as_float_array("t", t)
    if len(shape) != 3:
        raise DataError(f"t is only meaningful for trajectories of shape (n_traj, n_time, {dims}); {holder} shape "
                        f"{shape}")
    if t.ndim != 1 or t.shape[0] != shape[1]:
        raise DataError(f"t must have shape (n_time,) = ({shape[1]},), got {t.shape}")
    if not np.all(np.isfinite(t)):
        raise DataError(f"t contains NaN or inf at indices {np.flatnonzero(~np.isfinite(t))[:5].tolist()}")
    steps = np.diff(t)
    if np.any(steps <= 0):
        first = int(np.flatnonzero(steps <= 0)[0])
        raise DataError(f"t must be strictly increasing; t[{first}] = {t[first]} >= t[{first + 1}] = {t[first + 1]}")
    return t


def _check_array(name, value, like=None):
    arr = _as_float_array(name, value)
    if arr.ndim == 1:
        arr = arr[:, None]
    if like is None:
        if arr.ndim not in (2, 3):
            raise DataError(f"{name} must have shape (n_traj, n_time, D) or (n_samples, D), got {arr.shape}")
        if arr.size == 0:
            raise DataError(f"{name} is empty (shape {arr.shape})")
    elif arr.shape != like.shape:
        raise DataError(f"{name} must have the shape of the states {like.shape}, got {arr.shape}")
    _check_finite(name, arr)
    return arr


def validate_states(z, t=None, dz=None, structure=None) -> StateDataset:
    """Check non-canonical data and return a :class:`StateDataset` of float64 copies.

    Parameters
    ----------
    z : array_like, shape (n_traj, n_time, D), (n_samples, D) or (n_samples,)
    t : array_like, shape (n_time,), optional
        Required for trajectories without ``dz``.
    dz : array_like shaped like ``z``, optional
    structure : str, optional

    Raises
    ------
    DataError
    """
    if z is None:
        raise DataError("the states z are required")
    z = _check_array("z", z)
    dz = None if dz is None else _check_array("dz", dz, z)
    if t is not None:
        t = _check_times(t, z.shape)
    elif z.ndim == 3 and dz is None:
        raise DataError("trajectories without dz need sample times t of shape (n_time,)")
    if structure is not None and not isinstance(structure, str):
        raise DataError(f"structure must be a string such as 'poisson:rigid_body', got {type(structure).__name__}")
    return StateDataset(z=z, t=t, dz=dz, structure=structure)


def validate_lagrangian(q, qdot, t=None, qddot=None) -> LagrangianDataset:
    """Check Lagrangian data and return a :class:`LagrangianDataset` of float64 copies.

    Parameters
    ----------
    q, qdot : array_like, shape (n_traj, n_time, d), (n_samples, d) or (n_samples,)
    t : array_like, shape (n_time,), optional
        Required for trajectories without ``qddot`` (the accelerations are then estimated).
    qddot : array_like shaped like ``q``, optional

    Raises
    ------
    DataError
    """
    if q is None or qdot is None:
        raise DataError("Lagrangian data need both q and qdot")
    q = _check_array("q", q)
    qdot = _check_array("qdot", qdot, q)
    qddot = None if qddot is None else _check_array("qddot", qddot, q)
    if t is not None:
        t = _check_times(t, q.shape)
    elif q.ndim == 3 and qddot is None:
        raise DataError("trajectories without qddot need sample times t of shape (n_time,)")
    return LagrangianDataset(q=q, qdot=qdot, t=t, qddot=qddot)


# ---------------------------------------------------------------------------------------------- files

def check_writable(path, suffixes=None) -> Path:
    """Check, before any work, that ``path`` can be written: its folder exists and is writable, the path is
    not a folder, and (optionally) its suffix is one of ``suffixes``.

    Commands that compute for a while and then write call this first, so a typo in ``--out`` fails in
    milliseconds instead of after the computation.

    Parameters
    ----------
    path : str or os.PathLike
    suffixes : sequence of str, optional
        Accepted lower-case suffixes, e.g. ``(".npz", ".csv")``.

    Returns
    -------
    pathlib.Path

    Raises
    ------
    DataError
        Naming the target path and what is wrong with it.
    """
    path = Path(path)
    if suffixes is not None and path.suffix.lower() not in suffixes:
        raise DataError(f"cannot write {path}: unsupported file type {path.suffix!r}; use {' or '.join(suffixes)}")
    directory = path.parent if str(path.parent) else Path(".")
    if not directory.exists():
        raise DataError(f"cannot write {path}: directory {directory} does not exist")
    if not directory.is_dir():
        raise DataError(f"cannot write {path}: {directory} is not a directory")
    if path.is_dir():
        raise DataError(f"cannot write {path}: it is a directory")
    if not os.access(directory, os.W_OK | os.X_OK):
        raise DataError(f"cannot write {path}: directory {directory} is not writable")
    return path


class _Terminated(BaseException):
    """Raised by the temporary SIGTERM handler of :func:`atomic_write` (not an Exception: nothing catches it)."""


def _temp_pattern(name):
    import re

    return re.compile(rf"^\.{re.escape(name)}\.(\d+)\.[^.]+\.tmp$")


def _remove_stale_temps(directory, name):
    """Remove temporary siblings of ``name`` left by writers that died (``kill -9``): their names carry the
    writer's process id, and only those of processes that no longer exist are removed."""
    pattern = _temp_pattern(name)
    try:
        entries = os.listdir(directory)
    except OSError:
        return
    for entry in entries:
        match = pattern.match(entry)
        if not match:
            continue
        pid = int(match.group(1))
        if pid == os.getpid():
            continue
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            try:
                os.unlink(directory / entry)
            except OSError:
                pass
        except (PermissionError, OSError, OverflowError):
            pass  # alive (another user's) or not a pid: leave it


def atomic_write(path, write) -> Path:
    """Write a file through ``write(fileobj)`` into a temporary sibling, then rename it into place.

    A crash or an exception leaves either the old file or none, never a truncated one. A SIGTERM while
    writing removes the temporary file, then the signal takes its course (the previous handler is restored
    and the signal re-sent); temporary files of writers killed outright (``kill -9``) are removed by the next
    write to the same path. Errors name ``path``, not the temporary file.

    Parameters
    ----------
    path : str or os.PathLike
        The target.
    write : callable
        ``write(fh)`` writes the content to a binary file object.

    Returns
    -------
    pathlib.Path

    Raises
    ------
    DataError
        When ``path`` cannot be written (see :func:`check_writable`), naming ``path``.
    """
    import signal
    import threading

    path = check_writable(path)
    directory = path.parent if str(path.parent) else Path(".")
    _remove_stale_temps(directory, path.name)
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.getsignal(signal.SIGTERM)
        if previous is signal.SIG_IGN or previous is None:  # ignored (or set outside Python): nothing to undo
            previous = None
        else:
            def _on_term(signum, frame):
                raise _Terminated()

            signal.signal(signal.SIGTERM, _on_term)
    tmp = None
    try:
        try:
            fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp", dir=directory)
        except OSError as exc:
            raise DataError(f"cannot write {path}: {exc.strerror or exc}") from None
        # mkstemp creates the file private (0600); give it the permissions a plain open() would
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.replace(tmp, path)
        except OSError as exc:
            raise DataError(f"cannot write {path}: {exc.strerror or exc}") from None
        tmp = None
    except _Terminated:
        _unlink_quietly(tmp)
        tmp = None
        signal.signal(signal.SIGTERM, previous)
        previous = None
        os.kill(os.getpid(), signal.SIGTERM)  # the previous disposition decides (the default ends the process)
        raise DataError(f"writing {path} was interrupted by SIGTERM; nothing was written") from None
    except OSError as exc:
        raise DataError(f"cannot write {path}: {exc.strerror or exc}") from None
    finally:
        _unlink_quietly(tmp)
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    return path


def _unlink_quietly(tmp):
    if tmp is not None:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass


_KEYS = {
    "Dataset": ("q", "p", "t", "dq", "dp"),
    "StateDataset": ("z", "t", "dz"),
    "LagrangianDataset": ("q", "qdot", "t", "qddot"),
}


def save_data(path, data) -> Path:
    """Write a :class:`Dataset`, :class:`StateDataset` or :class:`LagrangianDataset` to ``path`` (``.npz`` or
    ``.csv``, chosen by suffix), atomically. A StateDataset's ``structure`` is kept in ``.npz`` files only."""
    path = Path(path)
    suffix = path.suffix.lower()
    kind = type(data).__name__
    if kind not in _KEYS:
        raise TypeError(f"save_data expects a Dataset, StateDataset or LagrangianDataset, got {kind}")
    if getattr(data, "bounds", None) is not None:
        # the files hold rectangular data: written as one long trajectory, ragged data would come back joined
        raise DataError(f"this Dataset holds {len(data.bounds)} ragged trajectories (different lengths or own "
                        "times), which .npz/.csv files do not represent; save each trajectory to its own file")
    if suffix == ".npz":
        arrays = {k: getattr(data, k) for k in _KEYS[kind] if getattr(data, k) is not None}
        if kind == "StateDataset" and data.structure is not None:
            arrays["structure"] = np.array(data.structure)
        return atomic_write(path, lambda fh: np.savez(fh, **arrays))
    if suffix == ".csv":
        text = _to_csv(data)
        return atomic_write(path, lambda fh: fh.write(text.encode()))
    raise DataError(f"unsupported file type {suffix!r} for {path}; use .npz or .csv")


def load_data(path) -> Dataset:
    """Read and validate an ``.npz`` or ``.csv`` file following the data contract.

    Raises
    ------
    DataError
        If the file is missing, unreadable, lacks keys/columns or violates :func:`validate_data`.
    """
    path = Path(path)
    if not path.exists():
        raise DataError(f"data file {path} does not exist")
    suffix = path.suffix.lower()
    if suffix == ".npz":
        _check_npz_sizes(path)
        try:
            with np.load(path, allow_pickle=False) as npz:
                arrays = {k: npz[k] for k in npz.files}
        except Exception as exc:  # zipfile/ValueError/OSError: all mean "not a readable npz"
            raise DataError(f"cannot read {path} as .npz: {exc}") from None
        if "z" in arrays:
            unknown = sorted(set(arrays) - {"z", "t", "dz", "structure"})
            if unknown:
                raise DataError(f"{path} holds non-canonical states z and unknown key(s) {unknown}; allowed with z: "
                                "t, dz, structure")
            structure = arrays.pop("structure", None)
            if structure is not None:
                if structure.dtype.kind != "U" or structure.ndim != 0:
                    raise DataError(f"{path}: the key 'structure' must hold one string")
                structure = str(structure)
            return validate_states(**arrays, structure=structure)
        if "qdot" in arrays:
            unknown = sorted(set(arrays) - {"q", "qdot", "t", "qddot"})
            if unknown:
                raise DataError(f"{path} holds Lagrangian data (qdot) and unknown key(s) {unknown}; allowed: q, qdot, "
                                "t, qddot")
            return validate_lagrangian(arrays.get("q"), arrays["qdot"], t=arrays.get("t"), qddot=arrays.get("qddot"))
        missing = [k for k in ("q", "p") if k not in arrays]
        if missing:
            raise DataError(f"{path} is missing required key(s) {missing}; found {sorted(arrays)} (canonical data hold "
                            "q, p; non-canonical data z; Lagrangian data q, qdot)")
        unknown = sorted(set(arrays) - {"q", "p", "t", "dq", "dp"})
        if unknown:
            raise DataError(f"{path} has unknown key(s) {unknown}; allowed: q, p, t, dq, dp")
        return validate_data(**arrays)
    if suffix == ".csv":
        return _from_csv(path)
    raise DataError(f"unsupported file type {suffix!r} for {path}; use .npz or .csv")


def _check_npz_sizes(path):
    """Bound the arrays of an .npz by the sizes their .npy headers declare, before numpy allocates them: a
    small compressed file can declare (and decompress to) gigabytes."""
    import zipfile

    from .limits import check_array_bytes

    headers = []
    try:
        with zipfile.ZipFile(path) as zf:
            for info in zf.infolist():
                with zf.open(info) as fh:
                    version = np.lib.format.read_magic(fh)
                    read = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                            else np.lib.format.read_array_header_2_0)
                    shape, _, dtype = read(fh)
                headers.append((info.filename.removesuffix(".npy"), shape, dtype))
    except (zipfile.BadZipFile, ValueError, OSError, EOFError):
        return  # not a well-formed npz: np.load reports it in its own words
    for name, shape, dtype in headers:
        check_array_bytes(shape, f"array {name!r} of {path}", itemsize=max(dtype.itemsize, 1))


def _column_names(d, prefix):
    return [f"{prefix}{i}" for i in range(1, d + 1)]


def _csv_blocks(data):
    kind = type(data).__name__
    if kind == "StateDataset":
        D = data.dim
        header, blocks = _column_names(D, "z"), [data.z]
        if data.dz is not None:
            header += _column_names(D, "dz")
            blocks.append(data.dz)
        return header, blocks, data.z
    if kind == "LagrangianDataset":
        d = data.n_dof
        header, blocks = _column_names(d, "q") + _column_names(d, "qdot"), [data.q, data.qdot]
        if data.qddot is not None:
            header += _column_names(d, "qddot")
            blocks.append(data.qddot)
        return header, blocks, data.q
    d = data.n_dof
    header = _column_names(d, "q") + _column_names(d, "p")
    blocks = [data.q, data.p]
    if data.dq is not None:
        header += _column_names(d, "dq") + _column_names(d, "dp")
        blocks += [data.dq, data.dp]
    return header, blocks, data.q


def _to_csv(data) -> str:
    header, blocks, first = _csv_blocks(data)
    values = np.concatenate(blocks, axis=-1)
    if data.is_trajectory:
        n_traj, n_time = first.shape[:2]
        traj = np.repeat(np.arange(n_traj), n_time)[:, None]
        if data.t is not None:
            times = np.tile(data.t, n_traj)[:, None]
        else:
            times = np.tile(np.arange(n_time, dtype=float), n_traj)[:, None]
        values = np.concatenate([traj, times, values.reshape(n_traj * n_time, -1)], axis=1)
        header = ["traj", "t"] + header
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    for row in values:
        cells = [repr(float(v)) for v in row]
        if data.is_trajectory:
            cells[0] = str(int(row[0]))
        writer.writerow(cells)
    return buf.getvalue()


def _from_csv(path: Path) -> Dataset:
    try:
        with open(path, newline="") as fh:
            rows = list(csv.reader(fh))
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"cannot read {path} as .csv: {exc}") from None
    if not rows:
        raise DataError(f"{path} is empty")
    header = [h.strip() for h in rows[0]]
    body = rows[1:]
    if not body:
        raise DataError(f"{path} has a header but no data rows")
    # d = 1 files may name their columns q, p, dq, dp instead of q1, p1, dq1, dp1
    aliases = {"q": "q1", "p": "p1", "dq": "dq1", "dp": "dp1", "qdot": "qdot1", "qddot": "qddot1"}
    header = [aliases.get(h, h) for h in header]
    index = {h: i for i, h in enumerate(header)}
    if len(index) != len(header):
        raise DataError(f"{path} has duplicate column names: {header}")
    if "z1" in index or "qdot1" in index:
        return _from_csv_other(path, header, index, body)
    d = 0
    while f"q{d + 1}" in index:
        d += 1
    if d == 0:
        raise DataError(f"{path} has no q1 (or q) column; header: {header}")
    need = _column_names(d, "q") + _column_names(d, "p")
    missing = [c for c in need if c not in index]
    if missing:
        raise DataError(f"{path} is missing column(s) {missing}; header: {header}")
    has_dq = any(c.startswith("dq") for c in header)
    has_dp = any(c.startswith("dp") for c in header)
    if has_dq != has_dp:
        raise DataError(f"{path}: {'dq' if has_dq else 'dp'} columns given without {'dp' if has_dq else 'dq'} columns")
    if has_dq:
        need_d = _column_names(d, "dq") + _column_names(d, "dp")
        missing = [c for c in need_d if c not in index]
        if missing:
            raise DataError(f"{path} is missing column(s) {missing}; header: {header}")
        need += need_d
    trajectory = "traj" in index or "t" in index
    if trajectory and not ("traj" in index and "t" in index):
        raise DataError(f"{path}: columns traj and t go together; header: {header}")
    cols = (["traj", "t"] if trajectory else []) + need
    # every column must be one of the expected ones: q1, p1, q3, p3 would otherwise read as d = 1 with two
    # columns silently dropped
    unexpected = [h for h in header if h not in cols]
    if unexpected:
        raise DataError(
            f"{path} has unexpected column(s) {unexpected}; for d = {d} the header must be exactly "
            f"{', '.join(cols)} (traj, t only for trajectories; dq.., dp.. optional), got {', '.join(header)}"
        )
    table = np.empty((len(body), len(cols)))
    for r, row in enumerate(body, start=2):
        if len(row) != len(header):
            raise DataError(f"{path} line {r}: expected {len(header)} fields, got {len(row)}")
        for c, name in enumerate(cols):
            try:
                table[r - 2, c] = float(row[index[name]])
            except ValueError:
                raise DataError(f"{path} line {r}, column {name}: {row[index[name]]!r} is not a number") from None
    if not trajectory:
        values = table
        q, p = values[:, :d], values[:, d:2 * d]
        dq, dp = (values[:, 2 * d:3 * d], values[:, 3 * d:]) if has_dq else (None, None)
        return validate_data(q, p, dq=dq, dp=dp)
    traj_ids = table[:, 0]
    ids = np.unique(traj_ids)
    counts = [int((traj_ids == i).sum()) for i in ids]
    if len(set(counts)) != 1:
        raise DataError(f"{path}: trajectories have different numbers of rows {dict(zip(ids.astype(int).tolist(), counts))}")
    blocks = [table[traj_ids == i] for i in ids]
    t = blocks[0][:, 1]
    for i, block in zip(ids, blocks):
        if not np.array_equal(block[:, 1], t):
            raise DataError(f"{path}: trajectory {int(i)} is sampled at other times than trajectory {int(ids[0])}")
    stacked = np.stack([b[:, 2:] for b in blocks])  # (n_traj, n_time, 2d or 4d)
    q, p = stacked[..., :d], stacked[..., d:2 * d]
    dq, dp = (stacked[..., 2 * d:3 * d], stacked[..., 3 * d:]) if has_dq else (None, None)
    return validate_data(q, p, t=t, dq=dq, dp=dp)


def _read_table(path, header, index, body, cols):
    table = np.empty((len(body), len(cols)))
    for r, row in enumerate(body, start=2):
        if len(row) != len(header):
            raise DataError(f"{path} line {r}: expected {len(header)} fields, got {len(row)}")
        for c, name in enumerate(cols):
            try:
                table[r - 2, c] = float(row[index[name]])
            except ValueError:
                raise DataError(f"{path} line {r}, column {name}: {row[index[name]]!r} is not a number") from None
    return table


def _count(index, prefix):
    n = 0
    while f"{prefix}{n + 1}" in index:
        n += 1
    return n


def _from_csv_other(path, header, index, body):
    """Non-canonical (z1.., dz1..) or Lagrangian (q1.., qdot1.., qddot1..) CSV files."""
    if "z1" in index:
        D = _count(index, "z")
        groups = [("z", D, True), ("dz", D, False)]
    else:
        d = _count(index, "qdot")
        groups = [("q", d, True), ("qdot", d, True), ("qddot", d, False)]
    need, present = [], []
    for prefix, n, required in groups:
        names = _column_names(n, prefix)
        have = [c for c in names if c in index]
        if required or have:
            missing = [c for c in names if c not in index]
            if missing:
                raise DataError(f"{path} is missing column(s) {missing}; header: {header}")
            need += names
            present.append((prefix, n))
    trajectory = "traj" in index or "t" in index
    if trajectory and not ("traj" in index and "t" in index):
        raise DataError(f"{path}: columns traj and t go together; header: {header}")
    cols = (["traj", "t"] if trajectory else []) + need
    unexpected = [h for h in header if h not in cols]
    if unexpected:  # z1, z2, z4 would otherwise read as D = 2 with z4 silently dropped
        raise DataError(f"{path} has unexpected column(s) {unexpected}; the header must be exactly "
                        f"{', '.join(cols)} (traj, t only for trajectories), got {', '.join(header)}")
    table = _read_table(path, header, index, body, cols)
    t = None
    if trajectory:
        traj_ids = table[:, 0]
        ids = np.unique(traj_ids)
        counts = [int((traj_ids == i).sum()) for i in ids]
        if len(set(counts)) != 1:
            raise DataError(f"{path}: trajectories have different numbers of rows "
                            f"{dict(zip(ids.astype(int).tolist(), counts))}")
        blocks = [table[traj_ids == i] for i in ids]
        t = blocks[0][:, 1]
        for i, block in zip(ids, blocks):
            if not np.array_equal(block[:, 1], t):
                raise DataError(f"{path}: trajectory {int(i)} is sampled at other times than trajectory {int(ids[0])}")
        values = np.stack([b[:, 2:] for b in blocks])
    else:
        values = table
    arrays, start = {}, 0
    for prefix, n in present:
        arrays[prefix] = values[..., start:start + n]
        start += n
    if "z" in arrays:
        return validate_states(arrays["z"], t=t, dz=arrays.get("dz"))
    return validate_lagrangian(arrays["q"], arrays["qdot"], t=t, qddot=arrays.get("qddot"))
