"""Neural baselines (torch): one training loop, one base class, one interface for every network.

Importing this package imports torch; ``import hamid`` does not.

Shared infrastructure: :func:`train`, :class:`TrainingHistory`, :class:`TrainingDivergedError`
(``training.py``) and :class:`NeuralModel`, :func:`make_mlp` (``_base.py``).
"""
from ._base import ACTIVATIONS, NeuralModel, finite_difference_derivatives, make_mlp
from .training import LR_SCHEDULES, TrainingDivergedError, TrainingHistory, train

__all__ = [
    "ACTIVATIONS", "LR_SCHEDULES", "NeuralModel", "TrainingDivergedError", "TrainingHistory",
    "finite_difference_derivatives", "make_mlp", "train",
]
