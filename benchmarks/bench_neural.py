"""Training speed of every neural baseline on the G1 recipe: seconds per 1,000 optimizer steps.

G1 (Greydanus 2019, spring H = q² + p²): 50 trajectories of 30 points on t ∈ [0, 3], radius U[0.1, 1], noise
σ = 0.1 on q, p (targets clean), the first 25 trajectories for training (750 states); 200-200 networks where
the model has an MLP (SympNets and LocSympNets use their own default sizes), float64, full batch, Adam
lr 1e-3. Each model trains for ``--steps`` steps after one untimed warm-up fit (first-use costs such as
torch's lazy imports are excluded); the time is the training loop's own clock (``history_.seconds``).

The reference, measured in the same run, is ``MLPField`` (the unstructured baseline): the ratio column
says how many MLP steps one step of each model costs.

Run: ``python benchmarks/bench_neural.py [--steps 200] [--threads 1] [--device cpu]``
"""
from __future__ import annotations

import argparse
import platform

import numpy as np


def g1_data(seed=0):
    rng = np.random.default_rng(seed)
    t = np.linspace(0, 3, 30)
    radius = rng.uniform(0.1, 1.0, size=(50, 1))
    phase = rng.uniform(0, 2 * np.pi, size=(50, 1))
    # exact flow of H = q² + p²: rotation at angular frequency 2
    q = radius * np.sin(2 * t + phase)
    p = radius * np.cos(2 * t + phase)
    dq, dp = 2 * p, -2 * q
    noisy_q = q + 0.1 * rng.normal(size=q.shape)
    noisy_p = p + 0.1 * rng.normal(size=p.shape)
    train = slice(0, 25)
    expand = lambda a: a[train, :, None]  # noqa: E731
    return t, expand(noisy_q), expand(noisy_p), expand(dq), expand(dp)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    import torch

    from hamid.models.neural import (GSympNet, HNN, LASympNet, LNN, SRNN, FrictionHNN, LocSympNet, MLPField,
                                     NeuralSymplecticForm)

    torch.set_num_threads(args.threads)
    t, q, p, dq, dp = g1_data()
    net = dict(hidden=(200, 200), lr=1e-3, device=args.device, lr_schedule="constant", validation_fraction=0.0)
    cases = [
        ("MLPField (reference)", lambda n: MLPField(max_steps=n, **net), (q, p), dict(dq=dq, dp=dp)),
        ("HNN", lambda n: HNN(max_steps=n, **net), (q, p), dict(dq=dq, dp=dp)),
        ("HNN separable", lambda n: HNN(separable=True, max_steps=n, **net), (q, p), dict(dq=dq, dp=dp)),
        # LNN state (q, q̇): q̇ = 2p and q̈ = −4q for this H
        ("LNN", lambda n: LNN(max_steps=n, **net), (q, 2 * p), dict(qddot=-4 * q)),
        ("FrictionHNN (alpha=100)", lambda n: FrictionHNN(alpha=100.0, max_steps=n, **net), (q, p),
         dict(t=t, dq=dq, dp=dp)),
        ("FrictionHNN (alpha=0)", lambda n: FrictionHNN(alpha=0.0, max_steps=n, **net), (q, p), dict(dq=dq, dp=dp)),
        ("FrictionHNN (alpha=0, dissipative)",
         lambda n: FrictionHNN(alpha=0.0, friction_form="dissipative", max_steps=n, **net), (q, p),
         dict(dq=dq, dp=dp)),
        ("FrictionHNN (alpha=0, constant)",
         lambda n: FrictionHNN(alpha=0.0, friction_form="constant", max_steps=n, **net), (q, p),
         dict(dq=dq, dp=dp)),
        ("NeuralSymplecticForm", lambda n: NeuralSymplecticForm(max_steps=n, **net), (q, p), dict(dq=dq, dp=dp)),
        ("SRNN (leapfrog, horizon 5)", lambda n: SRNN(horizon=5, max_steps=n, **net), (q, p), dict(t=t)),
        ("LASympNet", lambda n: LASympNet(max_steps=n, device=args.device), (q, p), dict(t=t)),
        ("GSympNet", lambda n: GSympNet(max_steps=n, device=args.device), (q, p), dict(t=t)),
        ("LocSympNet", lambda n: LocSympNet(max_steps=n, device=args.device), (q, p), dict(t=t)),
    ]
    print(f"G1 recipe, 750 training states, float64, {args.steps} steps per model, device {args.device}, "
          f"torch {torch.__version__}, {args.threads} thread(s), {platform.machine()}")
    print(f"{'model':36s} {'s / 1000 steps':>15s} {'/ MLPField':>11s}")
    reference = None
    for label, make, fit_args, fit_kwargs in cases:
        make(5).fit(*fit_args, **fit_kwargs)  # warm-up: lazy imports, allocator, autograd graph caches
        model = make(args.steps).fit(*fit_args, **fit_kwargs)
        seconds = 1000.0 * model.history_.seconds / model.history_.n_steps
        reference = reference or seconds
        print(f"{label:36s} {seconds:15.2f} {seconds / reference:10.2f}x", flush=True)


if __name__ == "__main__":
    main()
