"""Array operations the steppers need, for numpy and torch.

The steppers are written once against this small interface. ``inplace`` says whether updates may overwrite
the working arrays (always for numpy, whose arrays are private copies; for torch only when no gradient is
being recorded, since autograd forbids overwriting values it saved for the backward pass).
"""
from __future__ import annotations

import numpy as np

__all__ = ["NumpyOps", "TorchOps", "Saver"]


class NumpyOps:
    """numpy arrays; every update is in place on the integrator's own copies."""

    name = "numpy"
    inplace = True
    recording = False

    def __init__(self, dtype):
        self.dtype = dtype
        self.eps = float(np.finfo(dtype).eps)

    @staticmethod
    def axpy(x, a, y):
        """x + a*y, overwriting ``x``."""
        if a == 1.0:
            x += y
        else:
            x += a * y
        return x

    @staticmethod
    def add(x, a, y):
        """x + a*y as a new array."""
        return x + a * y

    @staticmethod
    def cat(parts):
        return np.concatenate(parts, axis=1)

    @staticmethod
    def copy(x):
        return np.array(x, copy=True)

    @staticmethod
    def solve(A, b):
        """Batched solve of A x = b; A (n, D, D), b (n, D)."""
        return np.linalg.solve(A, b[..., None])[..., 0]

    def eye(self, D):
        return np.eye(D, dtype=self.dtype)

    @staticmethod
    def max_abs(x):
        return float(np.max(np.abs(x))) if x.size else 0.0

    @staticmethod
    def detach(x):
        return x

    @staticmethod
    def is_array(x):
        return isinstance(x, np.ndarray)

    def empty(self, shape):
        return np.empty(shape, dtype=self.dtype)

    empty_output = empty


class TorchOps:
    """torch tensors on the device and with the dtype of the initial state."""

    name = "torch"

    def __init__(self, like, recording):
        import torch

        self.torch = torch
        self.dtype = like.dtype
        self.device = like.device
        self.eps = float(torch.finfo(like.dtype).eps)
        #: a graph is being recorded: no in-place updates of anything that may be saved for backward
        self.recording = bool(recording)
        self.inplace = not self.recording

    def axpy(self, x, a, y):
        if self.inplace:
            return x.add_(y, alpha=a)
        return x + a * y

    @staticmethod
    def add(x, a, y):
        return x + a * y

    def cat(self, parts):
        return self.torch.cat(parts, dim=1)

    @staticmethod
    def copy(x):
        return x.clone()

    def solve(self, A, b):
        return self.torch.linalg.solve(A, b.unsqueeze(-1)).squeeze(-1)

    def eye(self, D):
        return self.torch.eye(D, dtype=self.dtype, device=self.device)

    @staticmethod
    def max_abs(x):
        return float(x.detach().abs().max()) if x.numel() else 0.0

    @staticmethod
    def detach(x):
        return x.detach()

    def is_array(self, x):
        return isinstance(x, self.torch.Tensor)

    def empty(self, shape):
        return self.torch.empty(shape, dtype=self.dtype, device=self.device)

    def empty_output(self, shape):
        """A large output buffer. On the CPU it is allocated by numpy and shared with torch: numpy asks the
        kernel for transparent huge pages (madvise) on big arrays, which makes first touching a large
        trajectory buffer several times cheaper than torch's 4 KiB-page allocation."""
        np_dtype = {self.torch.float64: np.float64, self.torch.float32: np.float32,
                    self.torch.float16: np.float16}.get(self.dtype)
        if self.device.type == "cpu" and np_dtype is not None:
            return self.torch.from_numpy(np.empty(shape, dtype=np_dtype))
        return self.empty(shape)


class Saver:
    """Collects the saved states into the result of shape (n, n_saves + 1, D).

    Without a recorded graph the states go into one preallocated batch-first buffer; a time slice of it is
    a strided write (one short row per trajectory), the main cost of saving. numpy writes the parts of the
    state straight into the slice; torch, whose strided copies are slower, first gathers them in a contiguous
    (n, D) staging array and does one strided write. While a graph is recorded the states are kept in a list
    and stacked at the end (writing into a buffer would be an in-place op on the graph).
    """

    def __init__(self, ops, n, n_saves, D):
        self.ops = ops
        self.D = D
        self.stage = None
        if ops.recording:
            self.rows = []
            self.out = None
        else:
            self.out = ops.empty_output((n, n_saves + 1, D))
            if ops.name == "torch":
                self.stage = ops.empty((n, D))

    def save(self, j, parts):
        """Store the state made of ``parts`` (arrays (n, w_i), widths summing to D) at save index ``j``."""
        self.save_axpy(j, parts, None, 0.0, None)

    def save_axpy(self, j, parts, index, a, inc):
        """Like :meth:`save` with ``parts[index]`` replaced by ``parts[index] + a * inc``."""
        if self.out is None:
            parts = list(parts)
            if index is not None:
                parts[index] = parts[index] + a * inc
            self.rows.append(parts[0] if len(parts) == 1 else self.ops.cat(parts))
            return
        target = self.out[:, j] if self.stage is None else self.stage
        col = 0
        for i, part in enumerate(parts):
            w = part.shape[1]
            view = target[:, col:col + w]
            if i != index:
                view[...] = part
            elif self.stage is None:
                np.add(part, a * inc, out=view)  # one pass over the strided output slice
            else:
                view.copy_(part).add_(inc, alpha=a)
            col += w
        if self.stage is not None:
            self.out[:, j] = self.stage

    def result(self):
        if self.out is None:
            return self.ops.torch.stack(self.rows, dim=1)
        return self.out
