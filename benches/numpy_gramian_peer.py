#!/usr/bin/env python3
"""NumPy peer for the structured path: the Gramian method a researcher would write.

The system is the `tv-diagonal` (or `tv-dense`) one of `examples/structured_timing.rs`:
a time-varying state space with N = 16, L = 8192, SISO, whose A_t are diagonal but
stored as dense N x N matrices (the same closed-form values on both sides). The
peer propagates the Gramians themselves,

    P_1 = B_0 B_0^T,            P_{i+1} = A_i P_i A_i^T + B_i B_i^T   (reachability)
    Q_{L-1} = C_{L-1}^T C_{L-1}, Q_i    = A_i^T Q_{i+1} A_i + C_i^T C_i (observability)

in the standard form (C_t = Cbar_t A_t), and takes sigma = sqrt(eig(P_i Q_i)) at every
index (batched `np.linalg.eigvals`). This squares the condition number: every
singular value below about sqrt(eps)*sigma_1 (1.5e-8 sigma_1) is noise, so its
tolerance-ESS is unreliable for small tolerances; the script reports how far its
entropy-ESS and tolerance-ESS (relative 1e-3) are from the crate's exact values.

It times our crate in the same run, interleaving repetitions: the release example
`structured_timing` with RAYON_NUM_THREADS=1 and =2 (each repetition is one process
running the profile three times; its median counts, so that both sides are timed
warm: the NumPy side runs in this already warm process), and prints the ratios.

    cargo build --release --example structured_timing
    python3 benches/numpy_gramian_peer.py [--reps 5] [--kind tv-diagonal] [--len 8192]
"""

import argparse
import os
import re
import subprocess
import sys
import time

import numpy as np


def system(kind, n, length):
    """The closed-form system of examples/structured_timing.rs (one channel)."""
    t = np.arange(length, dtype=np.float64)
    j = np.arange(n, dtype=np.float64)
    delta = 0.001 + 0.099 * (0.5 + 0.5 * np.sin(0.7 * t))  # channel 0
    lam = 0.05 + 3.95 * j / (max(n, 2) - 1)
    a = np.zeros((length, n, n))
    a[:, np.arange(n), np.arange(n)] = np.exp(-delta[:, None] * lam[None, :])
    if kind == "tv-dense":
        jj, kk = np.meshgrid(j, j, indexing="ij")
        off = 0.01 * np.sin((t[:, None, None] + jj[None]) - kk[None])
        mask = ~np.eye(n, dtype=bool)
        a[:, mask] = off[:, mask]
    b = delta[:, None] * np.sin(0.3 * t[:, None] + 0.7 * j[None, :])  # (L, N): B_t = column
    cbar = np.cos(0.11 * t[:, None] + 1.3 * j[None, :])  # (L, N): Cbar_t = row
    return a, b, cbar


def numpy_gramian_profile(a, b, cbar, tol=1e-3):
    """Entropy-ESS and tolerance-ESS at i = 1..L-1 from sqrt(eig(P_i Q_i))."""
    length, n, _ = a.shape
    c = np.einsum("tj,tjk->tk", cbar, a)  # standard form: C_t = Cbar_t A_t
    # Observability Gramians Q_i, i = L-1 .. 1.
    q = np.empty((length, n, n))
    q[length - 1] = np.outer(c[length - 1], c[length - 1])
    for i in range(length - 2, 0, -1):
        q[i] = a[i].T @ q[i + 1] @ a[i] + np.outer(c[i], c[i])
    # Reachability Gramians P_i, i = 1 .. L-1.
    p = np.empty((length, n, n))
    p[1] = np.outer(b[0], b[0])
    for i in range(1, length - 1):
        p[i + 1] = a[i] @ p[i] @ a[i].T + np.outer(b[i], b[i])
    ev = np.linalg.eigvals(p[1:] @ q[1:])
    sigma = np.sqrt(np.clip(ev.real, 0.0, None))
    sigma = -np.sort(-sigma, axis=1)
    s1 = sigma[:, :1]
    tol_ess = (sigma > tol * s1).sum(axis=1)
    pk = sigma / np.where(sigma.sum(axis=1, keepdims=True) > 0, sigma.sum(axis=1, keepdims=True), 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        ent = np.exp(-np.where(pk > 0, pk * np.log(pk), 0.0).sum(axis=1))
    return ent, tol_ess


def settle(seconds=0.5):
    """Waits until NumPy's BLAS worker threads have gone to sleep: after a call
    they spin for a while (OpenBLAS: about 0.1 s), and a process started
    meanwhile shares the cores with them."""
    time.sleep(seconds)


def run_ours(binary, kind, n, length, threads, inner=3):
    """Median seconds of `inner` repetitions in one process (warm, as the NumPy
    side runs in this warm process), and the profiles' means."""
    env = dict(os.environ, RAYON_NUM_THREADS=str(threads))
    out = subprocess.run(
        [binary, kind, str(n), str(length), str(inner)], env=env, capture_output=True, text=True, check=True
    )
    runs = [dict(re.findall(r"(\w+)=([^ ]+)", line)) for line in out.stdout.strip().splitlines()]
    secs = float(np.median([float(f["seconds"]) for f in runs]))
    return secs, float(runs[-1]["mean_entropy"]), float(runs[-1]["mean_tol"])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--kind", default="tv-diagonal", choices=["tv-diagonal", "tv-dense"])
    ap.add_argument("--n", type=int, default=16)
    ap.add_argument("--len", type=int, default=8192)
    ap.add_argument(
        "--binary",
        default=os.path.join(os.path.dirname(__file__), "..", "target", "release", "examples", "structured_timing"),
    )
    args = ap.parse_args()
    if not os.path.exists(args.binary):
        sys.exit(f"build it first: cargo build --release --example structured_timing ({args.binary} missing)")
    a, b, cbar = system(args.kind, args.n, args.len)
    times = {"numpy": [], "ours_1t": [], "ours_2t": []}
    ours_means = None
    for _ in range(args.reps):  # interleaved repetitions
        settle()
        start = time.perf_counter()
        ent, tol = numpy_gramian_profile(a, b, cbar)
        times["numpy"].append(time.perf_counter() - start)
        for threads, key in [(1, "ours_1t"), (2, "ours_2t")]:
            settle()
            secs, m_ent, m_tol = run_ours(args.binary, args.kind, args.n, args.len, threads)
            times[key].append(secs)
            ours_means = (m_ent, m_tol)
    med = {k: float(np.median(v)) for k, v in times.items()}
    indices = args.len - 1
    print(f"system: {args.kind}, N = {args.n}, L = {args.len}, every index ({indices}), {args.reps} interleaved reps, medians")
    print(f"numpy (P, Q Gramians, sqrt(eig(P Q))): {med['numpy'] * 1e3:8.1f} ms  {med['numpy'] * 1e6 / indices:6.2f} us/index")
    for key, label in [("ours_1t", "ours, 1 thread "), ("ours_2t", "ours, 2 threads")]:
        print(
            f"{label}                        : {med[key] * 1e3:8.1f} ms  {med[key] * 1e6 / indices:6.2f} us/index"
            f"   numpy/ours = {med['numpy'] / med[key]:5.1f}x"
        )
    print(
        "accuracy of the NumPy method (inexact: eig(P Q) squares the condition number, "
        "values below ~1.5e-8 sigma_1 are noise):"
    )
    print(
        f"  mean entropy-ESS numpy {ent.mean():.6f} vs ours {ours_means[0]:.6f}; "
        f"mean tolerance-ESS (rel 1e-3) numpy {tol.mean():.6f} vs ours {ours_means[1]:.6f}"
    )


if __name__ == "__main__":
    main()
