"""Test-session settings.

pytest-xdist runs two workers on CI's two cores; each torch (and BLAS) process would otherwise start one
thread per core, and four busy threads on two cores made single tests two orders of magnitude slower.
The environment is set before any test module imports torch or numpy's BLAS.
"""
import os

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
os.environ.setdefault("MPLBACKEND", "Agg")
