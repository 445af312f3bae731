#!/usr/bin/env python3
"""Writes the weights of the example .sy programs as safetensors.

Uses only the Python standard library, so it runs anywhere. The weights are
seeded, so the output is byte-for-byte reproducible; the files are committed
and this script only needs to run when an example changes.
"""
import json
import random
import struct
from pathlib import Path

HERE = Path(__file__).resolve().parent


def save_safetensors(path, tensors):
    header, blobs, offset = {}, [], 0
    for name in sorted(tensors):
        shape, values = tensors[name]
        data = struct.pack("<%df" % len(values), *values)
        header[name] = {"dtype": "F32", "shape": shape, "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    path.write_bytes(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def uniform(rng, shape, scale):
    n = 1
    for d in shape:
        n *= d
    return (shape, [rng.uniform(-scale, scale) for _ in range(n)])


def main():
    rng = random.Random(20261127)
    save_safetensors(HERE / "mlp.safetensors", {
        "fc1.weight": uniform(rng, [8, 16], 0.35),
        "fc1.bias": uniform(rng, [16], 0.1),
        "fc2.weight": uniform(rng, [16, 4], 0.25),
        "fc2.bias": uniform(rng, [4], 0.1),
    })
    save_safetensors(HERE / "recurrent.safetensors", {
        "cell.weight": uniform(rng, [4, 4], 0.5),
        "cell.bias": uniform(rng, [4], 0.1),
    })


if __name__ == "__main__":
    main()
