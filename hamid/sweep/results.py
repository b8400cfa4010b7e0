"""The results file: one JSON object per line, appended so that a killed sweep never leaves a torn line.

Each finished job is appended with a single ``os.write`` of the whole line (newline included) on a file
descriptor opened with ``O_APPEND``, then ``fsync``: a process killed between two writes leaves only whole
lines. A torn tail can still come from elsewhere (a full disk, a crash of the machine before the data
reached it): :func:`read_results` ignores a last line without its newline, and :class:`ResultsFile` cuts it
off before appending, so the next line starts on a line of its own. One sweep at a time may append to a file
(an exclusive ``flock``); lines already written are never rewritten.
"""
from __future__ import annotations

import json
import math
import os
import warnings
from pathlib import Path

__all__ = ["ResultsFile", "read_results", "encode_line", "ResultsFileBusyError"]


class ResultsFileBusyError(RuntimeError):
    """Another sweep holds the results file."""


def _plain(value):
    """JSON-safe copy: numpy scalars and arrays to Python, NaN and infinities to None (strict JSON)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if hasattr(value, "tolist") and not isinstance(value, (str, bytes)):
        return _plain(value.tolist())
    if isinstance(value, bool) or value is None or isinstance(value, (int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    return str(value)


def encode_line(record: dict) -> bytes:
    """One record as UTF-8 JSON bytes ending in a newline (no newline inside)."""
    return (json.dumps(_plain(record), sort_keys=True, ensure_ascii=True, allow_nan=False) + "\n").encode()


def read_results(path) -> list[dict]:
    """Records of a results file, in file order.

    A last line without its newline (a torn write) is ignored; a line that is not a JSON object is skipped
    with a :class:`UserWarning` naming its line number. A missing file has no records.

    Parameters
    ----------
    path : str or os.PathLike

    Returns
    -------
    list of dict
    """
    path = Path(path)
    if not path.exists():
        return []
    raw = path.read_bytes()
    lines = raw.split(b"\n")
    lines = lines[:-1]  # the part after the last newline is empty, or a torn line
    records = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:
            record = None
        if not isinstance(record, dict) or "job" not in record:
            warnings.warn(f"{path}: line {number} is not a result record; skipped", UserWarning, stacklevel=2)
            continue
        records.append(record)
    return records


class ResultsFile:
    """Append-only access to a results file for the duration of one sweep (a context manager).

    On entry the file is created if needed, locked against other sweeps, and a torn last line (bytes after
    the last newline) is cut off. :meth:`append` writes one record as one line.

    Parameters
    ----------
    path : str or os.PathLike
    """

    def __init__(self, path):
        self.path = Path(path)
        self._fd = None

    def __enter__(self):
        import fcntl

        if self.path.parent and not self.path.parent.exists():
            raise FileNotFoundError(f"directory of the results file does not exist: {self.path.parent}")
        fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise ResultsFileBusyError(f"{self.path} is in use by another sweep") from None
        self._fd = fd
        self.repaired_bytes = self._repair()
        return self

    def _repair(self) -> int:
        size = os.fstat(self._fd).st_size
        if size == 0:
            return 0
        # find the last newline, reading backwards in blocks
        end, block = size, 1 << 16
        while end > 0:
            start = max(0, end - block)
            chunk = os.pread(self._fd, end - start, start)
            i = chunk.rfind(b"\n")
            if i >= 0:
                keep = start + i + 1
                break
            end = start
        else:
            keep = 0
        if keep < size:
            os.ftruncate(self._fd, keep)
            os.fsync(self._fd)
        return size - keep

    def append(self, record: dict) -> None:
        """Append ``record`` as one line: a single ``os.write`` of the encoded line, then ``fsync``."""
        if self._fd is None:
            raise RuntimeError("ResultsFile.append outside its 'with' block")
        line = encode_line(record)
        written = os.write(self._fd, line)
        if written != len(line):  # only on a full disk and the like; the torn tail is cut on the next run
            raise OSError(f"short write to {self.path}: {written} of {len(line)} bytes")
        os.fsync(self._fd)

    def __exit__(self, *exc):
        if self._fd is not None:
            os.close(self._fd)  # closing releases the lock
            self._fd = None
        return False
