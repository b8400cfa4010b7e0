"""Hostile and malformed inputs (issue 11): each case is refused up front with one clear error, in bounded time
and memory, or handled exactly. One registry of cases, one parametrized test; add a case for every new finding.

Each case gets a :class:`Ctx` (tmp_path, capsys, monkeypatch) and asserts the refusal: the exception type and
the words of its message (Python API), or exit code 2 and one stderr line (command line, ``hamid.cli.main``).
"""
from __future__ import annotations

import base64
import copy
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass

import numpy as np
import pytest

import hamid
from hamid.cli import main
from hamid.io import DataError, atomic_write, load_data
from hamid.symbolic import ExpressionError, PolynomialLibrary, parse_expression, state_symbols

PENDULUM = os.path.join(os.path.dirname(hamid.__file__), "data", "pendulum.npz")
QS, PS = state_symbols(1)

CASES = {}


def case(name):
    def register(func):
        assert name not in CASES, name
        CASES[name] = func
        return func
    return register


@dataclass
class Ctx:
    tmp: object
    capsys: object
    monkeypatch: object

    def cli(self, *argv):
        """Run the CLI; returns (exit code, stderr)."""
        self.capsys.readouterr()
        rc = main([str(a) for a in argv])
        return rc, self.capsys.readouterr().err


def _refused(ctx, argv, *words, seconds=None):
    start = time.perf_counter()
    rc, err = ctx.cli(*argv)
    elapsed = time.perf_counter() - start
    assert rc == 2, (rc, err)
    assert err.startswith("hamid: error: ") and err.count("\n") == 1, err
    for word in words:
        assert word in err, (word, err)
    if seconds is not None:
        assert elapsed < seconds, elapsed
    return err


def _samples(scale=1.0, n=100):
    rng = np.random.default_rng(0)
    q, p = rng.uniform(-1, 1, (2, n))
    return q * scale, p * scale


def _sparse():
    from hamid.models.sparse import SparseHamiltonian

    return SparseHamiltonian


def _model_file_error():
    from hamid.models.sparse.serialization import ModelFileError  # the one of hamid.models.base

    return ModelFileError


def _limit_error():
    from hamid.limits import ResourceLimitError  # imported per case: each case stands alone

    return ResourceLimitError


# ------------------------------------------------------------------------------------ silent wrong answers

def _refuse_dtype(values, word):
    q, p = _samples()
    with pytest.raises(DataError, match=word):
        _sparse()(library="poly:2").fit(values(q), p, dq=p, dp=-q)


@case("api-complex-q")
def _(ctx):
    _refuse_dtype(lambda q: q + 1j * q, "complex")


@case("api-bool-q")
def _(ctx):
    _refuse_dtype(lambda q: q > 0, "boolean")


@case("api-string-q")
def _(ctx):
    _refuse_dtype(lambda q: q.astype(str), "string")


@case("api-object-q")
def _(ctx):
    _refuse_dtype(lambda q: q.astype(object), "object")


@case("api-complex-derivative")
def _(ctx):
    q, p = _samples()
    with pytest.raises(DataError, match="dq must hold real numbers.*complex"):
        hamid.io.validate_data(q, p, dq=p + 0j, dp=-q)


@case("cli-complex-npz")
def _(ctx):
    q, p = _samples()
    path = ctx.tmp / "complex.npz"
    np.savez(path, q=q + 1j, p=p, dq=p, dp=-q)
    _refused(ctx, ["discover", path, "--library", "poly:2"], "complex")


@case("api-npz-declares-terabytes")
def _(ctx):
    import zipfile

    path = ctx.tmp / "bomb.npz"
    with zipfile.ZipFile(path, "w") as zf:
        for key in ("q", "p"):
            with zf.open(f"{key}.npy", "w") as fh:  # a header declaring 10^12 float64, and no data
                np.lib.format.write_array_header_1_0(fh, {"descr": "<f8", "fortran_order": False,
                                                          "shape": (10 ** 12,)})
    with pytest.raises(_limit_error(), match="array 'q' of .* would need 7.28 TiB"):
        load_data(path)


@case("api-magnitude-1e300")
def _(ctx):
    q, p = _samples(1e300)
    with pytest.raises(ValueError, match="overflow"):
        _sparse()(library="poly:2").fit(q, p, dq=p, dp=-q)


@case("api-library-term-overflow-named")
def _(ctx):
    q, p = _samples()
    with pytest.raises(ValueError, match=r"term\(s\) q\*\*2.*overflow float64"):
        _sparse()(library="poly:2").fit(q * 1e200, p, dq=p, dp=-q)


@case("cli-trig-1e308")
def _(ctx):
    _refused(ctx, ["discover", PENDULUM, "--library", "trig:1e308"], "frequency", "MAX_TRIG_FREQUENCY")


def _csv(ctx, text, name="data.csv"):
    path = ctx.tmp / name
    path.write_text(textwrap.dedent(text).lstrip())
    return path


@case("cli-csv-q1-p1-q3-p3")
def _(ctx):
    path = _csv(ctx, """
        traj,t,q1,p1,q3,p3
        0,0.0,1,2,3,4
        0,0.1,1,2,3,4
        0,0.2,1,2,3,4
    """)
    _refused(ctx, ["discover", path, "--library", "poly:1"], "unexpected column(s) ['q3', 'p3']")


@case("api-csv-extra-column")
def _(ctx):
    path = _csv(ctx, """
        q,p,dq,dp,extra
        1,2,2,-1,5
        0.5,1,1,-0.5,5
    """)
    with pytest.raises(DataError, match=r"unexpected column\(s\) \['extra'\]"):
        load_data(path)


@case("api-csv-noncanonical-gap")
def _(ctx):
    path = _csv(ctx, """
        z1,z2,z4
        1,2,3
        0.5,1,1
    """)
    with pytest.raises(DataError, match=r"unexpected column\(s\) \['z4'\]"):
        load_data(path)


@case("cli-simulate-dt-1e300")
def _(ctx):
    _refused(ctx, ["simulate", "-H", "p**2/2 + q**4", "--z0", "1,0", "--dt", "1e300", "--steps", "5"],
             "non-finite", "step 1")


@case("api-integrate-field-blowup")
def _(ctx):
    from hamid.integrators import IntegratorError, allow_nonfinite, integrate_field

    # z' = z**2 from 1 with Euler steps of 0.5 overflows at step 13
    with pytest.raises(IntegratorError, match=r"non-finite states .* between steps 11 and 20 \(t = 10\)"):
        integrate_field(lambda z: z ** 2, np.ones((2, 1)), dt=0.5, n_steps=100, method="euler", save_every=10)
    with allow_nonfinite():  # callers measuring divergence get the states
        out = integrate_field(lambda z: z ** 2, np.ones((2, 1)), dt=0.5, n_steps=100, method="euler")
    assert out.shape == (2, 101, 1) and not np.isfinite(out[:, -1]).any()


# ----------------------------------------------------------------------------------------- unbounded work

@case("cli-poly-100000")
def _(ctx):
    _refused(ctx, ["discover", PENDULUM, "--library", "poly:100000"], "5,000,150,000 candidate terms",
             "MAX_LIBRARY_TERMS", seconds=1.0)


@case("api-poly-degree-1e300")
def _(ctx):
    start = time.perf_counter()
    with pytest.raises(_limit_error(), match="about 10\\^"):
        PolynomialLibrary(10 ** 300).compile(3)
    assert time.perf_counter() - start < 1.0


@case("api-product-library-size")
def _(ctx):
    lib = PolynomialLibrary(20) * PolynomialLibrary(20)
    with pytest.raises(_limit_error(), match="candidate terms"):
        lib.expressions(2)


@case("cli-bootstrap-1e9")
def _(ctx):
    _refused(ctx, ["discover", PENDULUM, "--library", "poly:2", "--bootstrap", "1000000000"], "n_bootstrap",
             "MAX_RESAMPLES", seconds=2.0)


@case("api-ensemble-n-models-1e9")
def _(ctx):
    class Bagger:  # any regressor with an ensemble size (a pysindy EnsembleOptimizer(n_models=...))
        n_models = 10 ** 9

        def fit(self, A, y):
            raise AssertionError("the regressor ran before its ensemble size was checked")

    q, p = _samples()
    with pytest.raises(_limit_error(), match="n_models is 1,000,000,000.*MAX_RESAMPLES"):
        _sparse()(library="poly:2", optimizer=Bagger()).fit(q, p, dq=p, dp=-q)


@case("cli-simulate-steps-1e12")
def _(ctx):
    _refused(ctx, ["simulate", "-H", "p**2/2 - cos(q)", "--z0", "1,0", "--dt", "0.1", "--steps", "1000000000000"],
             "TiB", "HAMID_MAX_ARRAY_BYTES", seconds=2.0)


@case("cli-generate-n-time-1e12")
def _(ctx):
    _refused(ctx, ["generate", "pendulum", "--out", ctx.tmp / "big.npz", "--n-time", "1000000000000"],
             "TiB", "HAMID_MAX_ARRAY_BYTES", seconds=2.0)
    assert not (ctx.tmp / "big.npz").exists()


@case("api-integrate-memory-limit")
def _(ctx):
    from hamid.integrators import integrate

    ctx.monkeypatch.setenv("HAMID_MAX_ARRAY_BYTES", "1000")
    with pytest.raises(_limit_error(), match=r"3 x 101 x 2 entries"):
        integrate("p**2/2 + q**2/2", np.ones((3, 2)), dt=0.1, n_steps=100)
    assert integrate("p**2/2 + q**2/2", np.ones((3, 2)), dt=0.1, n_steps=10).shape == (3, 11, 2)


def _parse_refused(text, pattern, seconds=1.0):
    start = time.perf_counter()
    with pytest.raises(ExpressionError, match=pattern):
        parse_expression(text, QS + PS)
    assert time.perf_counter() - start < seconds


@case("expr-folded-exponent")
def _(ctx):
    _parse_refused("(q**64)**64", "exponent 4096 after folding")


@case("expr-product-folded-exponent")
def _(ctx):
    _parse_refused("q**64 * q**64", "exponent 128 after folding")


@case("expr-symbolic-tower-5")
def _(ctx):
    _parse_refused("((((q**64)**64)**64)**64)**64", "exponent")


@case("expr-numeric-tower-5")
def _(ctx):
    _parse_refused("((((2**64)**64)**64)**64)**64", "range of float64")


@case("expr-huge-literal")
def _(ctx):
    _parse_refused("9" * 400 + "*q", "exceeds")


@case("expr-5000-terms")
def _(ctx):
    _parse_refused("+".join(["q"] * 5000), "more than 2000 operators")
    # while long sums are legitimate (a fitted H of a few hundred terms): built in a loop, not by recursion
    text = " + ".join(f"{k + 1}*q**{k % 7 + 1}*p**{k % 5}" for k in range(400))
    start = time.perf_counter()
    expr = parse_expression(text, QS + PS)
    assert time.perf_counter() - start < 5.0
    assert expr.subs({QS[0]: 1, PS[0]: 1}) == sum(range(1, 401))


@case("expr-200-nested-calls")
def _(ctx):
    _parse_refused("sin(" * 200 + "q" + ")" * 200, "nested 201 levels deep")


@case("expr-long-unary-chain")
def _(ctx):
    _parse_refused("-" * 1500 + "q", "levels deep")


@case("cli-simulate-tower")
def _(ctx):
    _refused(ctx, ["simulate", "-H", "((((q**64)**64)**64)**64)**64 + p**2", "--z0", "1,0", "--dt", "0.1",
                   "--steps", "5"], "after folding", seconds=2.0)


# ------------------------------------------------------------------------------------- saved sparse models

@pytest.fixture(scope="module")
def sparse_file(tmp_path_factory):
    q, p = _samples(2.0, 200)
    model = _sparse()(library=["poly:2", "trig"], snap=1e-3).fit(q, p, dq=p, dp=-np.sin(q))
    assert model.rational_coef_  # the tampering cases need snapped coefficients
    path = tmp_path_factory.mktemp("sparse") / "model.json"
    model.save(path)
    return json.loads(path.read_text())


def _tampered_sparse(ctx, doc, change, *words):
    path = ctx.tmp / "intact.json"
    path.write_text(json.dumps(doc))
    intact = _sparse().load(path)  # the untouched file loads exactly what was saved
    section = doc["model"] if "model" in doc else doc
    assert str(intact.hamiltonian_) == section["hamiltonian"] and intact.coef_.tolist() == section["coef"]
    doc = copy.deepcopy(doc)
    change(doc["model"] if "model" in doc else doc)  # the section of the common file (or a legacy file)
    path = ctx.tmp / "tampered.json"
    path.write_text(json.dumps(doc))
    start = time.perf_counter()
    with pytest.raises(_model_file_error()) as info:
        _sparse().load(path)
    assert time.perf_counter() - start < 2.0
    for word in words:
        assert word in str(info.value), (word, str(info.value))


SPARSE_TAMPERING = {
    "rational-changes-h": (lambda s: s["rational"].update({k: "3/7" for k in s["rational"]}), "does not match"),
    "rational-index-out-of-range": (lambda s: s["rational"].update({"99": "1/2"}), "term index"),
    "rational-index-negative": (lambda s: s["rational"].update({"-1": "1/2"}), "term index"),
    "rational-not-a-mapping": (lambda s: s.update(rational=[1, 2]), "'rational' must be dict"),
    "rational-index-not-an-integer": (lambda s: s["rational"].update({"x": "1/2"}), "term index"),
    "coef-nan": (lambda s: s["coef"].__setitem__(0, float("nan")), "not finite"),
    "coef-1e400": (lambda s: s["coef"].__setitem__(1, float("inf")), "not finite"),
    "params-not-a-mapping": (lambda s: s.update(params="x"), "'params' must be dict"),
    "params-invalid": (lambda s: s["params"].update(formulation="bogus"), "unknown formulation"),
    "n-dof-1e6": (lambda s: s.update(n_dof=10 ** 6, n_features_in=2 * 10 ** 6), "MAX_N_DOF"),
    "hamiltonian-inconsistent": (lambda s: s.update(hamiltonian="p**2"), "is not the one"),
    "diagnostics-not-a-mapping": (lambda s: s.update(diagnostics=[1]), "'diagnostics' must be dict"),
    "term-nested-too-deep": (lambda s: s["terms"].__setitem__(0, "sin(" * 100 + "q" + ")" * 100), "term 0"),
    "term-unknown-symbol": (lambda s: s["terms"].__setitem__(0, "q1"), "unknown name 'q1'"),
}


def _sparse_case(name, change, words):
    @case(f"load-sparse-{name}")
    def _(ctx):
        _tampered_sparse(ctx, ctx.sparse, change, *words)


for _name, (_change, *_words) in SPARSE_TAMPERING.items():
    _sparse_case(_name, _change, _words)


@case("load-sparse-json-nan-literal")
def _(ctx):
    text = json.dumps(ctx.sparse).replace('"coef": [', '"coef": [NaN, ', 1)
    doc = json.loads(text)
    section = doc["model"] if "model" in doc else doc
    section["coef"].pop()
    path = ctx.tmp / "nan.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(_model_file_error(), match="not finite"):
        _sparse().load(path)


@case("load-json-nested-100000-deep")
def _(ctx):
    path = ctx.tmp / "deep.json"
    path.write_text('{"format": ' + "[" * 100_000 + "]" * 100_000 + "}")
    with pytest.raises(_model_file_error(), match="nested too deeply"):
        _sparse().load(path)


# ------------------------------------------------------------------------------------- saved neural models

@pytest.fixture(scope="module")
def neural_file(tmp_path_factory):
    from hamid.models.neural import HNN

    q, p = _samples(1.0, 64)
    model = HNN(hidden=(8,), max_steps=3, seed=0).fit(q[:, None], p[:, None], dq=p[:, None], dp=-q[:, None])
    path = tmp_path_factory.mktemp("neural") / "hnn.json"
    model.save(path)
    return json.loads(path.read_text())


def _tampered_neural(ctx, change, *words):
    from hamid.models.neural import HNN

    doc = copy.deepcopy(ctx.neural)
    change(doc["model"] if "model" in doc else doc)
    path = ctx.tmp / "tampered_hnn.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(_model_file_error()) as info:
        HNN.load(path)
    for word in words:
        assert word in str(info.value), (word, str(info.value))


def _nan_first_weight(section):
    entry = next(iter(section["weights"].values()))
    values = np.frombuffer(base64.b64decode(entry["data"]), dtype="<f8").copy()
    values[0] = np.nan
    entry["data"] = base64.b64encode(values.tobytes()).decode("ascii")


@case("load-neural-hidden-huge")
def _(ctx):
    # 10^12 parameters (8 TB): refused from the config, nothing allocated
    _tampered_neural(ctx, lambda s: s["params"].update(hidden=[10 ** 6, 10 ** 6]), "MAX_NETWORK_PARAMETERS")


@case("load-neural-missing-key")
def _(ctx):
    _tampered_neural(ctx, lambda s: s["fitted"].pop("n_dof_"), "lacks n_dof_")


@case("load-neural-nan-weights")
def _(ctx):
    _tampered_neural(ctx, _nan_first_weight, "NaN or inf")


# ---------------------------------------------------------------------------------------------------- files

_SLOW_WRITER = textwrap.dedent("""
    import sys, time
    from hamid.io import atomic_write

    def write(fh):
        fh.write(b"partial")
        print("writing", flush=True)
        time.sleep(60)

    atomic_write(sys.argv[1], write)
""")


def _kill_while_writing(target, sig):
    proc = subprocess.Popen([sys.executable, "-c", _SLOW_WRITER, str(target)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "writing"
        temps = [f for f in os.listdir(target.parent) if f.endswith(".tmp")]
        assert len(temps) == 1, temps
        proc.send_signal(sig)
        assert proc.wait(timeout=20) == -sig
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return temps[0]


@case("atomic-write-sigterm-removes-temp")
def _(ctx):
    target = ctx.tmp / "big.npz"
    _kill_while_writing(target, signal.SIGTERM)
    assert os.listdir(ctx.tmp) == []


@case("atomic-write-kill9-temp-cleaned-next-write")
def _(ctx):
    target = ctx.tmp / "big.npz"
    temp = _kill_while_writing(target, signal.SIGKILL)
    assert os.listdir(ctx.tmp) == [temp]  # nothing can run on kill -9 ...
    atomic_write(target, lambda fh: fh.write(b"done"))  # ... the next write to the path removes it
    assert sorted(os.listdir(ctx.tmp)) == ["big.npz"] and target.read_bytes() == b"done"


@case("atomic-write-handler-only-while-writing")
def _(ctx):
    def mine(signum, frame):  # pragma: no cover - never delivered
        pass

    previous = signal.signal(signal.SIGTERM, mine)
    try:
        seen = []
        atomic_write(ctx.tmp / "x.bin", lambda fh: seen.append(signal.getsignal(signal.SIGTERM)))
        assert seen[0] is not mine  # a cleanup handler was installed while writing
        assert signal.getsignal(signal.SIGTERM) is mine  # and the caller's restored afterwards
    finally:
        signal.signal(signal.SIGTERM, previous)


@case("atomic-write-error-names-target")
def _(ctx):
    target = ctx.tmp / "adir"
    target.mkdir()
    with pytest.raises(DataError) as info:
        atomic_write(target, lambda fh: fh.write(b"x"))
    assert str(target) in str(info.value) and ".tmp" not in str(info.value)
    assert os.listdir(target) == [] and os.listdir(ctx.tmp) == ["adir"]


@case("check-writable")
def _(ctx):
    from hamid.io import check_writable

    (ctx.tmp / "file").write_text("")
    (ctx.tmp / "dir.npz").mkdir()
    for path, word in ((ctx.tmp / "missing" / "x.npz", "does not exist"),
                       (ctx.tmp / "file" / "x.npz", "not a directory"),
                       (ctx.tmp / "dir.npz", "is a directory"), (ctx.tmp / "x.txt", "unsupported file type")):
        with pytest.raises(DataError, match=word):
            check_writable(path, (".npz", ".csv"))
    assert check_writable(ctx.tmp / "x.npz", (".npz",)) == ctx.tmp / "x.npz"


def _forbid(ctx, owner, name):
    calls = []

    def forbidden(*args, **kwargs):
        calls.append(name)
        raise AssertionError(f"{name} ran before the output path was checked")

    ctx.monkeypatch.setattr(owner, name, forbidden)
    return calls


@case("cli-discover-save-checked-before-fit")
def _(ctx):
    calls = _forbid(ctx, _sparse(), "fit")
    _refused(ctx, ["discover", PENDULUM, "--library", "poly:2", "--save", ctx.tmp / "missing" / "m.json"],
             str(ctx.tmp / "missing" / "m.json"), "does not exist")
    assert calls == []


@case("cli-fit-save-checked-before-fit")
def _(ctx):
    import hamid.comparison

    calls = _forbid(ctx, hamid.comparison, "fit_model")
    _refused(ctx, ["fit", PENDULUM, "--model", "sparse", "--save", ctx.tmp / "missing" / "m.json"],
             str(ctx.tmp / "missing" / "m.json"), "does not exist")
    assert calls == []


@case("cli-generate-out-checked-before-generating")
def _(ctx):
    from hamid.systems._base import System

    calls = _forbid(ctx, System, "generate")
    _refused(ctx, ["generate", "pendulum", "--out", ctx.tmp / "missing" / "d.npz"], "does not exist")
    assert calls == []


@case("cli-simulate-out-checked-before-integrating")
def _(ctx):
    import hamid.integrators

    calls = _forbid(ctx, hamid.integrators, "integrate")
    (ctx.tmp / "taken.npz").mkdir()
    _refused(ctx, ["simulate", "-H", "p**2/2 - cos(q)", "--z0", "1,0", "--dt", "0.1", "--steps", "10",
                   "--out", ctx.tmp / "taken.npz"], "is a directory")
    assert calls == []


# ------------------------------------------------------------------------------------------------ the test

@pytest.mark.parametrize("name", sorted(CASES))
def test_fuzz(name, tmp_path, capsys, monkeypatch, request):
    ctx = Ctx(tmp_path, capsys, monkeypatch)
    if name.startswith("load-sparse-"):
        ctx.sparse = request.getfixturevalue("sparse_file")
    if name.startswith("load-neural-"):
        ctx.neural = request.getfixturevalue("neural_file")
    CASES[name](ctx)
