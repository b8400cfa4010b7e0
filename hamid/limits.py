"""Stated resource limits, checked before work starts (see docs/limits.md).

Each limit is a module attribute read at the moment of the check, so a program can raise it
(``hamid.limits.MAX_ARRAY_BYTES = 64 * 2**30``); the memory limit can also be set from the environment
(``HAMID_MAX_ARRAY_BYTES``), which is how the command line raises it. A request beyond a limit raises
:class:`ResourceLimitError` (a ``ValueError``) whose message states the size asked for, the limit and how
to raise it.
"""
from __future__ import annotations

import math
import os

__all__ = [
    "ResourceLimitError", "MAX_ARRAY_BYTES", "MAX_LIBRARY_TERMS", "MAX_DESIGN_ENTRIES", "MAX_TRIG_FREQUENCY",
    "MAX_RESAMPLES", "MAX_N_DOF", "MAX_NETWORK_PARAMETERS", "max_array_bytes", "check_array_bytes",
    "check_count",
]

#: largest single array (trajectories of ``integrate``/``generate``, Gram matrices of a fit), in bytes
MAX_ARRAY_BYTES = 8 * 2**30
#: most candidate terms of a library (counted before the terms are built)
MAX_LIBRARY_TERMS = 5_000
#: most evaluations of library derivatives in one fit: terms × samples × equations
MAX_DESIGN_ENTRIES = 10**10
#: highest frequency of a trigonometric library term sin(k x), cos(k x)
MAX_TRIG_FREQUENCY = 1e4
#: most bootstrap resamples or ensemble members of one fit
MAX_RESAMPLES = 10_000
#: most degrees of freedom of a saved model (a file cannot make hamid build millions of symbols)
MAX_N_DOF = 1_000
#: most parameters of a neural network built from a configuration (saved or given)
MAX_NETWORK_PARAMETERS = 10**8


class ResourceLimitError(ValueError):
    """A request exceeds a stated resource limit; the message names it and how to raise it."""


def max_array_bytes() -> int:
    """The array-size limit in bytes: ``HAMID_MAX_ARRAY_BYTES`` if set, else :data:`MAX_ARRAY_BYTES`."""
    env = os.environ.get("HAMID_MAX_ARRAY_BYTES")
    if env:
        try:
            return int(float(env))
        except ValueError:
            raise ResourceLimitError(f"HAMID_MAX_ARRAY_BYTES must be a number of bytes, got {env!r}") from None
    return int(MAX_ARRAY_BYTES)


def _bytes(n):
    for unit, size in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= size:
            return f"{n / size:.3g} {unit}"
    return f"{int(n)} bytes"


def check_array_bytes(shape, what, itemsize=8):
    """Refuse an array of ``shape`` (``itemsize`` bytes per entry) larger than :func:`max_array_bytes`.

    Parameters
    ----------
    shape : sequence of int
    what : str
        What the array is, for the message (e.g. ``"the trajectory"``).
    itemsize : int

    Raises
    ------
    ResourceLimitError
    """
    n = itemsize * math.prod(int(s) for s in shape)
    limit = max_array_bytes()
    if n > limit:
        dims = " x ".join(str(int(s)) for s in shape)
        raise ResourceLimitError(
            f"{what} would need {_bytes(n)} ({dims} entries of {itemsize} bytes); the limit is {_bytes(limit)} "
            "(raise it with the environment variable HAMID_MAX_ARRAY_BYTES or hamid.limits.MAX_ARRAY_BYTES)"
        )


def check_count(value, limit_name, what):
    """Refuse ``value`` above the limit ``hamid.limits.<limit_name>``; ``what`` names the quantity."""
    limit = globals()[limit_name]
    if value > limit:
        raise ResourceLimitError(
            f"{what} is {value:,}; the limit is {limit:,} (raise it with hamid.limits.{limit_name})"
        )
