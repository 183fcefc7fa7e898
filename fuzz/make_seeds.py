"""Writes small valid .npy and .safetensors files as fuzzing seeds (no NumPy needed).

    python3 fuzz/make_seeds.py
"""
import json
import os
import struct

here = os.path.dirname(os.path.abspath(__file__))


def npy(descr, fortran, shape, values):
    fmt = {"<f4": "<f", "<f8": "<d", "<i8": "<q"}[descr]
    header = "{'descr': '%s', 'fortran_order': %s, 'shape': (%s), }" % (
        descr,
        "True" if fortran else "False",
        "".join(f"{d}, " for d in shape),
    )
    pad = 64 - (10 + len(header) + 1) % 64
    header = header + " " * pad + "\n"
    data = b"".join(struct.pack(fmt, v) for v in values)
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode() + data


def lower(n, c=1):
    return [((r * 7 + k * 3) % 5 - 2) * 0.5 if k <= r else 0.0 for _ in range(c) for r in range(n) for k in range(n)]


seeds = {
    "f64_c_2d.npy": npy("<f8", False, (4, 4), lower(4)),
    "f32_c_3d.npy": npy("<f4", False, (2, 3, 3), lower(3, 2)),
    "f64_f_2d.npy": npy("<f8", True, (3, 3), lower(3)),
    "i64.npy": npy("<i8", False, (2, 2), [1, 2, 3, 4]),
}
for name, data in seeds.items():
    with open(os.path.join(here, "seeds", "npy_reader", name), "wb") as f:
        f.write(data)


def safetensors(tensors):
    header, blobs, offset = {}, [], 0
    for name, (dtype, shape, values) in tensors.items():
        fmt = {"F32": "<f", "F64": "<d"}[dtype]
        blob = b"".join(struct.pack(fmt, v) for v in values)
        header[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    return struct.pack("<Q", len(h)) + h + b"".join(blobs)


st = {
    "one.safetensors": safetensors({"attn": ("F64", (3, 3), lower(3))}),
    "two.safetensors": safetensors({"attn": ("F32", (2, 2, 2), lower(2, 2)), "gates": ("F64", (2,), [0.5, 0.25])}),
}
for name, data in st.items():
    with open(os.path.join(here, "seeds", "safetensors_reader", name), "wb") as f:
        f.write(data)
print("seeds written")
