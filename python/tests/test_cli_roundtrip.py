"""A NumPy-array round trip: the profile of a 12-head attention map computed
here equals, key for key and number for number, the JSON report of the `ess`
command for the same .npy file."""

import json
import os
import shutil
import struct
import subprocess
from pathlib import Path

import numpy as np
import pytest

import effective_state_size as ess
import oracles

REPO = Path(__file__).resolve().parents[2]


def ess_cli(*args):
    """Runs `ess` (ESS_CLI=path/to/ess, or `cargo run --release -p ess-cli`)."""
    exe = os.environ.get("ESS_CLI")
    if exe:
        cmd = [exe, *args]
    elif shutil.which("cargo") and (REPO / "cli" / "Cargo.toml").exists():
        cmd = ["cargo", "run", "--quiet", "--release", "-p", "ess-cli", "--", *args]
    else:
        pytest.skip("no cargo and no ESS_CLI: cannot run the ess command")
    out = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=1800)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


@pytest.fixture(scope="module")
def attention_file(tmp_path_factory):
    rng = np.random.default_rng(12)
    attn = oracles.attention_maps(rng, heads=12, L=32, d=16)
    path = tmp_path_factory.mktemp("roundtrip") / "attn.npy"
    np.save(path, attn)
    return path, attn


def test_twelve_head_attention_equals_the_cli_json(attention_file):
    path, attn = attention_file
    cli = ess_cli("profile", str(path), "--format", "json")
    mine = ess.profiles(np.load(path)).to_dict(file=str(path))
    assert mine == cli
    # The arrays behind it.
    assert len(cli["channels"]) == 12
    p = ess.entropy(attn)
    np.testing.assert_array_equal(p.values, np.array([c["entropy_ess"] for c in cli["channels"]]))


def test_float32_fortran_order_options_and_tss_equal_the_cli_json(attention_file):
    path, attn = attention_file
    f32 = path.with_name("attn32.npy")
    np.save(f32, np.asfortranarray(attn.astype(np.float32)))
    cli = ess_cli("profile", str(f32), "--format", "json", "--tol-rank", "--indices", "stride:4", "--tss", "8")
    ps = ess.profiles(np.load(f32), ["numerical_rank", "entropy"], indices="stride:4", tss=8)
    assert ps.to_dict(file=str(f32)) == cli
    assert cli["dtype"] == "f32" and ps[0].dtype == "float32"


def test_a_batch_equals_the_cli_json_of_a_4d_tensor(tmp_path):
    rng = np.random.default_rng(13)
    attn = np.stack([oracles.attention_maps(rng, heads=3, L=16) for _ in range(4)])  # (B, C, L, L)
    path = tmp_path / "batch.npy"
    np.save(path, attn)
    cli = ess_cli("profile", str(path), "--format", "json")
    mine = ess.profiles(attn).to_dict(file=str(path))
    assert cli["batch"] == 4 and mine == cli


def test_block_operators_equal_the_cli_json(tmp_path):
    rng = np.random.default_rng(14)
    p, m, L = 2, 3, 8
    rows = np.arange(p * L)[:, None] // p
    cols = np.arange(m * L)[None, :] // m
    t = np.where(cols <= rows, rng.standard_normal((2, p * L, m * L)), 0.0)
    path = tmp_path / "blocks.npy"
    np.save(path, t)
    cli = ess_cli("profile", str(path), "--format", "json", "--block", f"{p},{m}", "--tss", "5")
    assert ess.profiles(t, block=(p, m), tss=5).to_dict(file=str(path)) == cli


def save_safetensors(path, tensors):
    """A .safetensors file of float64 tensors, written by hand (no dependency)."""
    header, blobs, offset = {}, [], 0
    for name, array in tensors.items():
        data = np.ascontiguousarray(array, dtype="<f8").tobytes()
        header[name] = {"dtype": "F64", "shape": list(np.shape(array)), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    path.write_bytes(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def test_family_files_of_the_cli_are_the_python_layouts(tmp_path):
    # `ess profile --family` reads the tensors of one layer without their batch
    # axis; the Python constructors take the same arrays and give the same JSON.
    rng = np.random.default_rng(15)
    L, D, N, H, d = 24, 3, 4, 2, 3
    A = -np.exp(rng.standard_normal((D, N)))
    delta = np.log1p(np.exp(rng.standard_normal((L, D))))
    B, C = rng.standard_normal((L, N)), rng.standard_normal((L, N))
    q, k = rng.standard_normal((L, H, d)), rng.standard_normal((L, H, d))
    alpha = rng.uniform(0.6, 1.0, (L, H, d))
    dt, A2 = np.log1p(np.exp(rng.standard_normal((L, H)))), -np.exp(rng.standard_normal(H))
    cases = [
        ("mamba", {"A": A, "delta": delta, "B": B, "C": C}, ess.mamba(A, delta, B, C)),
        ("gla", {"q": q, "k": k, "alpha": alpha}, ess.gated_linear_attention(q, k, alpha)),
        ("ssd", {"A": A2, "dt": dt, "B": B, "C": C}, ess.mamba2(A2, dt, B, C)),
    ]
    for family, tensors, op in cases:
        path = tmp_path / f"{family}.safetensors"
        save_safetensors(path, tensors)
        cli = ess_cli("profile", str(path), "--family", family, "--format", "json")
        assert ess.profiles(op).to_dict(file=str(path)) == cli, family


def load_safetensors(path):
    raw = Path(path).read_bytes()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8 : 8 + n])
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        a, b = info["data_offsets"]
        out[name] = np.frombuffer(raw[8 + n + a : 8 + n + b], dtype="<f8").reshape(info["shape"])
    return out


def test_markers_and_sweep_equal_the_cli_json(attention_file):
    path, attn = attention_file
    cli = ess_cli(
        "profile", str(path), "--format", "json", "--mark", "5,20", "--mark-window", "2", "--sweep", "0.1,0.001",
        "--sweep-abs", "0.01",
    )
    ps = ess.profiles(attn)
    for name in ("tolerance", "entropy"):
        mine = ps[name].marker_modulation([5, 20], window=2).to_dict()
        assert mine["positions"] == cli["markers"]["positions"] and mine["window"] == cli["markers"]["window"]
        assert mine[name] == cli["markers"][name]
        assert [c[f"{name}_delta"] for c in mine["channels"]] == [c[f"{name}_delta"] for c in cli["markers"]["channels"]]
    assert ess.tolerance_sweep(attn, rel=[0.1, 0.001], abs=0.01).to_dict()["sweep"] == cli["sweep"]


def test_reduce_equals_the_cli(tmp_path, attention_file):
    _, attn = attention_file
    path = tmp_path / "one.npy"
    np.save(path, attn[:2])
    out = tmp_path / "red.safetensors"
    cli = ess_cli("reduce", str(path), "--order", "3", "--out", str(out), "--format", "json")
    red = ess.reduce(attn[:2], order=3)
    assert red.to_dict() == cli
    saved = load_safetensors(out)
    for name in "ABCD":
        np.testing.assert_array_equal(getattr(red, name), saved[name])
