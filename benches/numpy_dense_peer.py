#!/usr/bin/env python3
"""The dense ESS profile against NumPy/LAPACK, in one run, on the same matrix.

Times, interleaved repetition by repetition:

* NumPy, one thread: ``np.linalg.svd(T[i:, :i], compute_uv=False)`` for every
  ``i = 1..L-1`` with OpenBLAS pinned to one thread (``OPENBLAS_NUM_THREADS=1``
  is set before NumPy is imported), plus both measures (entropy-ESS and
  tolerance-ESS, relative 1e-3) from the values;
* NumPy over two processes (a pool started once; the indices dealt alternately
  so both halves carry the same work);
* this crate (``examples/dense_peer.rs``, release build) with
  ``RAYON_NUM_THREADS=1`` and with ``RAYON_NUM_THREADS=2``; it times only the
  ``ess::profiles`` call, as NumPy's timing excludes its start-up.

and prints the median of the per-repetition ratios (NumPy time / ours: above 1
means the crate is faster) with their range. Quote ratios, not absolute times:
the machine may be shared. Where a ratio wobbles, compare instruction counts
(``valgrind --tool=callgrind``) instead.

    python3 benches/numpy_dense_peer.py [--len 512] [--reps 5] [--backend nalgebra|bidiagonal]

Run from the repository root (it builds the example with cargo first).
"""

import os

os.environ["OPENBLAS_NUM_THREADS"] = "1"
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import argparse  # noqa: E402
import multiprocessing as mp  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

_T = None


def _measures(s):
    """Entropy-ESS and tolerance-ESS (relative 1e-3) of one spectrum."""
    total = s.sum()
    if total == 0.0:
        return 0.0, 0
    p = s[s > 0] / total
    return float(np.exp(-(p * np.log(p)).sum())), int((s > 1e-3 * s[0]).sum())


def _profile(indices):
    t = _T
    out = []
    for i in indices:
        s = np.linalg.svd(t[i:, :i], compute_uv=False)
        out.append(_measures(s))
    return out


def _init(path, n):
    global _T
    _T = np.fromfile(path, dtype="<f8").reshape(n, n)


def numpy_one(n):
    start = time.perf_counter()
    _profile(range(1, n))
    return time.perf_counter() - start


def numpy_two(pool, n):
    halves = [list(range(1, n, 2)), list(range(2, n, 2))]
    start = time.perf_counter()
    pool.map(_profile, halves)
    return time.perf_counter() - start


def ours(binary, path, n, threads, backend):
    env = dict(os.environ, RAYON_NUM_THREADS=str(threads))
    if backend:
        env["ESS_BACKEND"] = backend
    out = subprocess.run([binary, path, str(n), "1"], env=env, check=True, capture_output=True, text=True).stdout
    return float(out.split()[1])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--len", type=int, default=512)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--backend", choices=["nalgebra", "bidiagonal"], default=None)
    ap.add_argument("--no-build", action="store_true")
    args = ap.parse_args()
    n = args.len
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    if not args.no_build:
        subprocess.run(["cargo", "build", "--release", "--quiet", "--example", "dense_peer"], cwd=root, check=True)
    binary = os.path.join(root, "target", "release", "examples", "dense_peer")

    rng = np.random.default_rng(args.seed)
    t = np.tril(rng.uniform(-1.0, 1.0, (n, n)))
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "t.f64")
        t.astype("<f8").tofile(path)
        _init(path, n)
        ctx = mp.get_context("fork")
        with ctx.Pool(2, initializer=_init, initargs=(path, n)) as pool:
            numpy_two(pool, min(n, 16))  # warm the workers
            ratios = {"1 thread vs NumPy 1 thread": [], "2 threads vs NumPy 2 processes": []}
            for rep in range(args.reps):
                a = numpy_one(n)
                b = ours(binary, path, n, 1, args.backend)
                c = numpy_two(pool, n)
                d = ours(binary, path, n, 2, args.backend)
                ratios["1 thread vs NumPy 1 thread"].append(a / b)
                ratios["2 threads vs NumPy 2 processes"].append(c / d)
                print(f"rep {rep + 1}: NumPy/ours 1 thread {a / b:.2f}, 2 cores {c / d:.2f}", file=sys.stderr)
    backend = args.backend or "default backend"
    print(f"L = {n}, every index, entropy + tolerance(rel 1e-3), {backend}, NumPy {np.__version__}")
    for name, r in ratios.items():
        print(f"  {name}: NumPy time / ours = {statistics.median(r):.2f} (median of {len(r)}, range {min(r):.2f}-{max(r):.2f}; above 1: ours is faster)")


if __name__ == "__main__":
    main()
