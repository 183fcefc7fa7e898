#!/usr/bin/env python3
"""Peak memory of `ess profile` on a large realization file, against another build.

Writes a `.safetensors` realization (tensors A, B, C in the standard form, f64,
seeded) of `--channels` channels with a diagonal A (C, L, N), B (C, L, N, 1) and
C (C, L, 1, N) (defaults: 8 channels, N = 16, L = 32,768: 96 MiB of values),
then runs each given `ess` binary on it in turn, `--rounds` times, with
`--indices stride:4096` (so that reading the file dominates), under
`/usr/bin/time`, and prints the wall time and the peak resident set size of
each run. The outputs of all binaries must be identical (checked).

    cargo build --release -p ess-cli
    python3 benches/realization_file_memory.py target/release/ess [OTHER_BUILD/ess ...]
"""

import argparse
import json
import os
import struct
import subprocess
import sys
import tempfile

import numpy as np


def write_realization(path, channels, length, state):
    rng = np.random.default_rng(0)
    tensors = {
        "A": rng.uniform(0.5, 0.99, (channels, length, state)),
        "B": rng.standard_normal((channels, length, state, 1)),
        "C": rng.standard_normal((channels, length, 1, state)),
    }
    header, blobs, offset = {}, [], 0
    for name, value in tensors.items():
        blob = np.ascontiguousarray(value, dtype="<f8").tobytes()
        header[name] = {"dtype": "F64", "shape": list(value.shape), "data_offsets": [offset, offset + len(blob)]}
        offset += len(blob)
        blobs.append(blob)
    text = json.dumps(header).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for blob in blobs:
            f.write(blob)
    return offset


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("binaries", nargs="+")
    ap.add_argument("--channels", type=int, default=8)
    ap.add_argument("--len", type=int, default=32768)
    ap.add_argument("--state", type=int, default=16)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "realization.safetensors")
        size = write_realization(path, args.channels, args.len, args.state)
        print(f"realization file: {size / 2**20:.1f} MiB of values")
        outputs = {}
        for r in range(args.rounds):
            for binary in args.binaries:
                timing = os.path.join(tmp, "time.txt")
                cmd = ["/usr/bin/time", "-f", "%e %M", "-o", timing, binary, "profile", "--indices", "stride:4096", path]
                out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
                outputs.setdefault(binary, out)
                if out != outputs[binary] or out != outputs[args.binaries[0]]:
                    sys.exit(f"{binary}: output differs")
                seconds, kib = open(timing).read().split()[-2:]
                print(f"round {r + 1} {binary}: {float(seconds):.2f} s, peak RSS {int(kib) / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
