"""Neural baselines (torch): one training loop, one base class, one interface for every network.

Importing this package imports torch; ``import hamid`` does not.

Shared infrastructure: :func:`train`, :class:`TrainingHistory`, :class:`TrainingDivergedError`
(``training.py``) and :class:`NeuralModel`, :func:`make_mlp`, :func:`solve_checked` (``_base.py``).

Models: :class:`MLPField` (unstructured baseline), :class:`HNN`, :class:`LNN`, :class:`FrictionHNN`,
:class:`NeuralSymplecticForm`; map-based models (SympNets, SRNN, LocSympNets) are added below them.
"""
from ._base import (ACTIVATIONS, NeuralModel, SingularMatrixError, finite_difference_derivatives, make_mlp,
                    solve_checked)
from .friction import FrictionHNN
from .hnn import HNN
from .lnn import LNN
from .mlp import MLPField
from .symplectic_form import NeuralSymplecticForm
from .training import LR_SCHEDULES, TrainingDivergedError, TrainingHistory, train

__all__ = [
    "ACTIVATIONS", "LR_SCHEDULES", "NeuralModel", "SingularMatrixError", "TrainingDivergedError",
    "TrainingHistory", "finite_difference_derivatives", "make_mlp", "solve_checked", "train",
    "FrictionHNN", "HNN", "LNN", "MLPField", "NeuralSymplecticForm",
]

# Map-based models (other modules) are exported here:
from .locsympnet import LocSympNet  # noqa: E402
from .srnn import SRNN  # noqa: E402
from .sympnet import GSympNet, LASympNet  # noqa: E402

__all__ += ["GSympNet", "LASympNet", "LocSympNet", "SRNN"]
