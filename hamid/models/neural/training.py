"""One training loop for every neural model in hamid.

:func:`train` optimizes the parameters of a ``torch.nn.Module`` against a user loss ``loss_fn(idx)`` over
``n_train`` samples (full batch or seeded minibatches), with learning-rate schedules, periodic validation,
early stopping that restores the best parameters, divergence detection (a NaN/inf loss stops training and restores
the best state so far; :class:`TrainingDivergedError` only when no finite state was ever seen) and graceful Ctrl-C
(the best state so far is kept and the history says ``interrupted=True``).

Every evaluation scores the parameters *before* the optimization step of that iteration (the same parameters the
training loss of that iteration was computed with), so ``best_step`` names exactly the parameters that are
snapshotted and restored: ``best_step = k`` means "the parameters after k completed steps". One line saying when
and why training stopped is stored in ``TrainingHistory.stop_reason`` (and printed when ``verbose``).

This module imports torch; ``import hamid`` does not import it.
"""
from __future__ import annotations

import copy
import math
import time
import warnings
from dataclasses import asdict, dataclass, field

import torch

__all__ = ["train", "TrainingHistory", "TrainingDivergedError", "LR_SCHEDULES", "OPTIMIZERS"]


class TrainingDivergedError(ValueError):
    """The training (or validation) loss became NaN or infinite.

    Attributes
    ----------
    step : int
        Optimization step (0-based) at which the non-finite loss appeared.
    last_finite_loss : float or None
        The last finite training loss seen before it, None if the very first loss was not finite.
    """

    def __init__(self, message, step=None, last_finite_loss=None):
        super().__init__(message)
        self.step = step
        self.last_finite_loss = last_finite_loss


@dataclass
class TrainingHistory:
    """What happened during :func:`train`.

    Attributes
    ----------
    train_loss : list of float
        Training loss of every step (on that step's batch), length ``n_steps``.
    val_loss : list of float
        Validation loss at every evaluation (empty without ``val_loss_fn``).
    val_steps : list of int
        Number of completed steps at each evaluation, same length as ``val_loss``.
    best_step : int or None
        Number of completed steps at the best evaluation (validation loss if given, else training loss at the
        evaluation points): the parameters after exactly that many steps, the ones restored at the end.
    best_val_loss : float or None
        Best validation loss (None without ``val_loss_fn``).
    n_steps : int
        Optimization steps actually taken.
    seconds : float
        Wall-clock duration of training.
    interrupted : bool
        True when a KeyboardInterrupt stopped training early.
    stopped_early : bool
        True when ``patience`` stopped training early.
    diverged : bool
        True when a non-finite loss stopped training (the best finite state was restored).
    stop_reason : str
        One line: when and why training stopped and which parameters were kept.
    """

    train_loss: list = field(default_factory=list)
    val_loss: list = field(default_factory=list)
    val_steps: list = field(default_factory=list)
    best_step: int | None = None
    best_val_loss: float | None = None
    n_steps: int = 0
    seconds: float = 0.0
    interrupted: bool = False
    stopped_early: bool = False
    diverged: bool = False
    stop_reason: str = ""

    def to_dict(self) -> dict:
        """Plain-JSON view (lists of floats, ints, bools)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "TrainingHistory":
        known = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        return cls(**known)


# ----------------------------------------------------------------------------------------------- schedules

def _constant(step, max_steps):
    return 1.0


def _cosine(step, max_steps):
    # cosine annealing from lr to lr/100 over max_steps
    frac = min(step / max(max_steps, 1), 1.0)
    return 0.01 + 0.99 * 0.5 * (1.0 + math.cos(math.pi * frac))


def _step(step, max_steps):
    # divide by 10 after each third of the run
    return 0.1 ** min(step // max(max_steps // 3, 1), 2)


def _exponential(step, max_steps):
    # smooth decay from lr to lr/100 over max_steps
    return 0.01 ** min(step / max(max_steps, 1), 1.0)


#: name -> factor(step, max_steps) multiplying the base learning rate
LR_SCHEDULES = {"constant": _constant, "cosine": _cosine, "step": _step, "exponential": _exponential}

#: accepted optimizer names
OPTIMIZERS = ("adam", "adamw", "sgd")


def _make_optimizer(name, params, lr, weight_decay):
    if name == "adam":  # L2 penalty coupled into the gradient, as in the HNN reference code
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    if name == "adamw":  # decoupled weight decay
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=0.9, weight_decay=weight_decay)
    raise ValueError(f"unknown optimizer {name!r}; valid names: {', '.join(OPTIMIZERS)}")


def _check_args(n_train, max_steps, lr, weight_decay, batch_size, lr_schedule, patience, eval_every, optimizer,
                clip_grad_norm):
    def is_int(x):
        return isinstance(x, int) and not isinstance(x, bool)

    if not is_int(n_train) or n_train < 1:
        raise ValueError(f"n_train must be a positive integer, got {n_train!r}")
    if not is_int(max_steps) or max_steps < 0:
        raise ValueError(f"max_steps must be a non-negative integer, got {max_steps!r}")
    if not isinstance(lr, (int, float)) or isinstance(lr, bool) or not lr > 0 or not math.isfinite(lr):
        raise ValueError(f"lr must be a positive finite number, got {lr!r}")
    if not isinstance(weight_decay, (int, float)) or isinstance(weight_decay, bool) or not weight_decay >= 0:
        raise ValueError(f"weight_decay must be a number >= 0, got {weight_decay!r}")
    if batch_size is not None and (not is_int(batch_size) or batch_size < 1):
        raise ValueError(f"batch_size must be None (full batch) or a positive integer, got {batch_size!r}")
    if lr_schedule not in LR_SCHEDULES:
        raise ValueError(f"unknown lr_schedule {lr_schedule!r}; valid names: {', '.join(LR_SCHEDULES)}")
    if patience is not None and (not is_int(patience) or patience < 1):
        raise ValueError(f"patience must be None or a positive integer (evaluations), got {patience!r}")
    if not is_int(eval_every) or eval_every < 1:
        raise ValueError(f"eval_every must be a positive integer, got {eval_every!r}")
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {optimizer!r}; valid names: {', '.join(OPTIMIZERS)}")
    if clip_grad_norm is not None and not (isinstance(clip_grad_norm, (int, float)) and clip_grad_norm > 0):
        raise ValueError(f"clip_grad_norm must be None or a positive number, got {clip_grad_norm!r}")


def _as_float(loss, what):
    if not isinstance(loss, torch.Tensor) or loss.numel() != 1:
        raise TypeError(f"{what} must return a scalar torch tensor, got {type(loss).__name__}"
                        + (f" of shape {tuple(loss.shape)}" if isinstance(loss, torch.Tensor) else ""))
    return float(loss.detach())


def _snapshot(module):
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def train(module, loss_fn, n_train, *, val_loss_fn=None, max_steps=2000, lr=1e-3, weight_decay=0.0,
          batch_size=None, lr_schedule="constant", patience=None, seed=0, verbose=True, desc="training",
          optimizer="adam", eval_every=10, clip_grad_norm=None, restore_best=None) -> TrainingHistory:
    """Optimize ``module``'s parameters to minimize ``loss_fn``.

    Parameters
    ----------
    module : torch.nn.Module
        Its parameters (``requires_grad=True`` ones) are optimized in place.
    loss_fn : callable(idx) -> scalar tensor
        ``idx`` is a LongTensor of sample indices in ``[0, n_train)`` on the module's device: all of them
        (``arange(n_train)``) when ``batch_size`` is None, else ``batch_size`` indices drawn without
        replacement from a ``torch.Generator`` seeded with ``seed`` (a fresh draw each step).
    n_train : int
        Number of training samples the indices refer to.
    val_loss_fn : callable() -> scalar tensor, optional
        Validation loss, evaluated on the parameters after 0, ``eval_every``, 2 ``eval_every``, ... completed
        steps and on the final parameters (gradients are
        enabled during the call, since models such as the HNN need autograd to produce predictions; they are
        not accumulated). With it, the parameters of the best evaluation are restored at the end.
    max_steps : int
        Maximum number of optimization steps.
    lr : float
        Base learning rate.
    weight_decay : float
        ``"adam"``: L2 penalty added to the gradients (``torch.optim.Adam``, as the HNN reference code does);
        ``"adamw"``: decoupled weight decay (``torch.optim.AdamW``).
    batch_size : int or None
        None for full batch; a value >= ``n_train`` also means full batch.
    lr_schedule : {"constant", "cosine", "step", "exponential"}
        Factor on ``lr`` at step s of ``max_steps``: constant 1; cosine from 1 to 0.01; step: 1, 0.1, 0.01 over
        the three thirds of the run; exponential: 0.01 ** (s / max_steps).
    patience : int or None
        Stop after this many evaluations without improvement of the validation loss (requires
        ``val_loss_fn``).
    seed : int
        Seeds the minibatch generator (model initialization is the caller's business).
    verbose : bool
        Show a tqdm progress bar.
    desc : str
        Progress bar label.
    optimizer : {"adam", "adamw", "sgd"}
    eval_every : int
        Steps between evaluations (validation, best-state tracking, progress bar update). Without
        ``val_loss_fn`` the training loss of that iteration (computed on the same parameters) is the score.
    clip_grad_norm : float or None
        Clip the global gradient norm to this value before each step.
    restore_best : bool or None
        Restore the best parameters at the end; default: True when ``val_loss_fn`` is given (without it the
        final parameters are kept, and ``best_step`` names the best *evaluated* ones). A KeyboardInterrupt or a
        divergence always restores the best state seen so far.

    Returns
    -------
    TrainingHistory

    Raises
    ------
    TrainingDivergedError
        A training or validation loss became NaN or inf before any finite evaluation; the message names the step
        and the last finite loss. After at least one finite evaluation a divergence does not raise: the best
        parameters so far are restored, ``diverged`` is set, a RuntimeWarning is emitted and ``stop_reason``
        says so.
    ValueError, TypeError
        Invalid arguments, or ``loss_fn`` returned something other than a scalar tensor.

    Examples
    --------
    >>> import torch
    >>> net = torch.nn.Linear(1, 1).double()
    >>> x = torch.linspace(-1, 1, 20, dtype=torch.float64)[:, None]
    >>> y = 3 * x
    >>> hist = train(net, lambda idx: ((net(x[idx]) - y[idx]) ** 2).mean(), 20, lr=0.1, max_steps=200,
    ...              verbose=False)
    >>> hist.train_loss[-1] < 1e-3
    True
    """
    _check_args(n_train, max_steps, lr, weight_decay, batch_size, lr_schedule, patience, eval_every, optimizer,
                clip_grad_norm)
    if not isinstance(module, torch.nn.Module):
        raise TypeError(f"module must be a torch.nn.Module, got {type(module).__name__}")
    params = [p for p in module.parameters() if p.requires_grad]
    if not params:
        raise ValueError("module has no trainable parameters")
    if patience is not None and val_loss_fn is None:
        raise ValueError("patience (early stopping) needs val_loss_fn")
    if restore_best is None:
        restore_best = val_loss_fn is not None
    device = params[0].device

    opt = _make_optimizer(optimizer, params, lr, weight_decay)
    factor = LR_SCHEDULES[lr_schedule]
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: factor(s, max_steps))
    gen = torch.Generator(device="cpu").manual_seed(int(seed))
    full = batch_size is None or batch_size >= n_train
    all_idx = torch.arange(n_train, device=device)

    hist = TrainingHistory()
    best_metric = math.inf
    best_state = None
    last_finite = None
    since_best = 0
    start = time.perf_counter()

    from tqdm.auto import tqdm

    bar = tqdm(total=max_steps, desc=desc, disable=not verbose, leave=False, dynamic_ncols=True)

    def evaluate(step_done, train_value):
        """Score the current parameters (after ``step_done`` steps), track the best; return True to stop."""
        nonlocal best_metric, best_state, since_best
        if val_loss_fn is not None:
            val = _as_float(val_loss_fn(), "val_loss_fn")
            if not math.isfinite(val):
                raise TrainingDivergedError(
                    f"{desc}: validation loss became {val} after {step_done} steps "
                    f"(last finite training loss {last_finite})", step=step_done, last_finite_loss=last_finite)
            hist.val_loss.append(val)
            hist.val_steps.append(step_done)
            metric = val
        else:
            metric = train_value
        if metric < best_metric:
            best_metric = metric
            best_state = _snapshot(module)
            hist.best_step = step_done
            if val_loss_fn is not None:
                hist.best_val_loss = metric
            since_best = 0
        else:
            since_best += 1
        if verbose:
            post = {"loss": f"{train_value:.3e}"}
            if val_loss_fn is not None:
                post["val"] = f"{hist.val_loss[-1]:.3e}"
            bar.set_postfix(post, refresh=False)
        return patience is not None and since_best >= patience

    def batch():
        if full:
            return all_idx
        return torch.randperm(n_train, generator=gen)[:batch_size].to(device)

    def checked_loss(idx, step):
        loss = loss_fn(idx)
        value = _as_float(loss, "loss_fn")
        if not math.isfinite(value):
            raise TrainingDivergedError(
                f"{desc}: training loss became {value} at step {step} "
                f"(last finite loss {last_finite})", step=step, last_finite_loss=last_finite)
        return loss, value

    what = "validation loss" if val_loss_fn is not None else "training loss"
    reason = None
    try:
        for step in range(max_steps):
            opt.zero_grad(set_to_none=True)
            loss, value = checked_loss(batch(), step)
            last_finite = value
            hist.train_loss.append(value)
            # the parameters that produced `value` are the ones scored and snapshotted here, before the step
            if step % eval_every == 0 and evaluate(step, value):
                hist.stopped_early = True
                reason = (f"early stopping at step {step}: no {what} improvement in {patience} evaluations "
                          f"({patience * eval_every} steps)")
                break
            loss.backward()
            if clip_grad_norm is not None:
                torch.nn.utils.clip_grad_norm_(params, clip_grad_norm)
            opt.step()
            sched.step()
            hist.n_steps = step + 1
            bar.update(1)
        else:
            if max_steps > 0 and val_loss_fn is not None:
                # score the final parameters too (validation only: loss_fn is called exactly once per step)
                evaluate(max_steps, last_finite)
            reason = f"reached max_steps = {max_steps}"
    except KeyboardInterrupt:
        hist.interrupted = True
        reason = f"interrupted (KeyboardInterrupt) after {hist.n_steps} steps"
        warnings.warn(f"{desc}: interrupted after {hist.n_steps} steps; keeping the best state so far "
                      f"(step {hist.best_step})", RuntimeWarning, stacklevel=2)
        if best_state is not None:
            module.load_state_dict(best_state)
    except TrainingDivergedError as exc:
        if best_state is None:
            bar.close()
            raise
        module.load_state_dict(best_state)
        hist.diverged = True
        reason = f"diverged after {hist.n_steps} steps ({exc})"
        warnings.warn(f"{exc}; keeping the best finite state (step {hist.best_step})", RuntimeWarning, stacklevel=2)
    else:
        if restore_best and best_state is not None:
            module.load_state_dict(best_state)
    finally:
        bar.close()
        hist.seconds = time.perf_counter() - start
    if best_state is None:
        hist.best_step = None
    restored = best_state is not None and (restore_best or hist.interrupted or hist.diverged)
    kept = f"the parameters of step {hist.best_step}" if restored else f"the final parameters (step {hist.n_steps})"
    score = (f"best {what} {best_metric:.3e} at step {hist.best_step}" if best_state is not None
             else "no evaluation")
    hist.stop_reason = (f"{desc}: stopped after {hist.n_steps} steps ({hist.seconds:.1f} s): {reason}; {score}; "
                        f"kept {kept}")
    if verbose:
        print(hist.stop_reason)
    return hist
