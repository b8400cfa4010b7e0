"""The data contract: validated containers for phase-space data, and .npz/.csv reading and writing.

Two layouts are accepted. Trajectories: ``q``, ``p`` (and optional ``dq``, ``dp``) of shape
(n_traj, n_time, d) with times ``t`` of shape (n_time,). Samples: the same arrays of shape (n_samples, d)
and no ``t``. Everything is validated once here, so that estimators and the CLI can rely on it.
"""
from __future__ import annotations

import csv
import io
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["Dataset", "DataError", "validate_data", "load_data", "save_data", "atomic_write"]


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


def _as_float_array(name, value):
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


def validate_data(q, p, t=None, dq=None, dp=None) -> Dataset:
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
    if (dq is None) != (dp is None):
        given, missing = ("dq", "dp") if dq is not None else ("dp", "dq")
        raise DataError(f"{given} was given without {missing}: pass both derivatives or neither")
    if dq is not None:
        dq, dp = _as_float_array("dq", dq), _as_float_array("dp", dp)
        if dq.ndim == 1:
            dq = dq[:, None]
        if dp.ndim == 1:
            dp = dp[:, None]
        for name, arr in (("dq", dq), ("dp", dp)):
            if arr.shape != q.shape:
                raise DataError(f"{name} must have the shape of q {q.shape}, got {arr.shape}")
    for name, arr in (("q", q), ("p", p), ("dq", dq), ("dp", dp)):
        if arr is not None:
            _check_finite(name, arr)
    if t is not None:
        t = _as_float_array("t", t)
        if q.ndim != 3:
            raise DataError(f"t is only meaningful for trajectories of shape (n_traj, n_time, d); q has shape {q.shape}")
        if t.ndim != 1 or t.shape[0] != q.shape[1]:
            raise DataError(f"t must have shape (n_time,) = ({q.shape[1]},), got {t.shape}")
        if not np.all(np.isfinite(t)):
            raise DataError(f"t contains NaN or inf at indices {np.flatnonzero(~np.isfinite(t))[:5].tolist()}")
        steps = np.diff(t)
        if np.any(steps <= 0):
            first = int(np.flatnonzero(steps <= 0)[0])
            raise DataError(f"t must be strictly increasing; t[{first}] = {t[first]} >= t[{first + 1}] = {t[first + 1]}")
    elif q.ndim == 3 and dq is None:
        raise DataError("trajectories without dq/dp need sample times t of shape (n_time,)")
    return Dataset(q=q, p=p, t=t, dq=dq, dp=dp)


# ---------------------------------------------------------------------------------------------- files

def atomic_write(path, write) -> Path:
    """Write a file through ``write(fileobj)`` into a temporary sibling, then rename it into place.

    A crash or an exception leaves either the old file or none, never a truncated one.
    """
    path = Path(path)
    directory = path.parent if str(path.parent) else Path(".")
    if not directory.exists():
        raise DataError(f"cannot write {path}: directory {directory} does not exist")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    try:
        # mkstemp creates the file private (0600); give it the permissions a plain open() would
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return path


def save_data(path, data: Dataset) -> Path:
    """Write ``data`` to ``path`` (``.npz`` or ``.csv``, chosen by suffix), atomically."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".npz":
        arrays = {k: getattr(data, k) for k in ("q", "p", "t", "dq", "dp") if getattr(data, k) is not None}
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
        try:
            with np.load(path, allow_pickle=False) as npz:
                arrays = {k: npz[k] for k in npz.files}
        except Exception as exc:  # zipfile/ValueError/OSError: all mean "not a readable npz"
            raise DataError(f"cannot read {path} as .npz: {exc}") from None
        missing = [k for k in ("q", "p") if k not in arrays]
        if missing:
            raise DataError(f"{path} is missing required key(s) {missing}; found {sorted(arrays)}")
        unknown = sorted(set(arrays) - {"q", "p", "t", "dq", "dp"})
        if unknown:
            raise DataError(f"{path} has unknown key(s) {unknown}; allowed: q, p, t, dq, dp")
        return validate_data(**arrays)
    if suffix == ".csv":
        return _from_csv(path)
    raise DataError(f"unsupported file type {suffix!r} for {path}; use .npz or .csv")


def _column_names(d, prefix):
    return [f"{prefix}{i}" for i in range(1, d + 1)]


def _to_csv(data: Dataset) -> str:
    d = data.n_dof
    header = _column_names(d, "q") + _column_names(d, "p")
    blocks = [data.q, data.p]
    if data.dq is not None:
        header += _column_names(d, "dq") + _column_names(d, "dp")
        blocks += [data.dq, data.dp]
    values = np.concatenate(blocks, axis=-1)
    if data.is_trajectory:
        n_traj, n_time = data.q.shape[:2]
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
    aliases = {"q": "q1", "p": "p1", "dq": "dq1", "dp": "dp1"}
    header = [aliases.get(h, h) for h in header]
    index = {h: i for i, h in enumerate(header)}
    if len(index) != len(header):
        raise DataError(f"{path} has duplicate column names: {header}")
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
