#!/usr/bin/env python3
"""Builds recurrent benchmark models (random weights) for bench/compare_peers.

Each goes to OUT/<name>/ (default build/bench-models/<name>/) as model.onnx
and input_x.npy, like bench/make_bench_models.py's set (never committed):
    lstm2_h512_t128_b1, lstm2_h512_t128_b8   two stacked LSTM layers, input and
                                             hidden 512, 128 steps, batch 1 / 8
    bilstm2_h512_t128_b1                     the same, bidirectional layers (the
                                             second reads both directions' 1024)
    gru2_h512_t128_b8                        two GRU layers (linear_before_reset 1)
    convint8_c64_56_b1, convint8_c64_56_b4   three ConvInteger (int8) convolutions
The cpu plugin runs these on oneDNN's RNN primitives; at 2 threads a batch is
cut into chunks of sequences and a bidirectional layer of batch 1 into its
directions (Note [Split recurrent steps] in plugins/cpu/src/dnnl_steps.cpp),
and conv_integer into output rows or images. bench/threads_ab.py times them at
1 and 2 threads against ONNX Runtime.
Run with bench/.venv/bin/python (onnx, numpy; bench/compare_peers --setup-only).
"""
import argparse
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

ROOT = Path(__file__).resolve().parent.parent
MODELS = {
    # name: (op, layers, hidden, steps, batch, bidirectional)
    "lstm2_h512_t128_b1": ("LSTM", 2, 512, 128, 1, False),
    "lstm2_h512_t128_b8": ("LSTM", 2, 512, 128, 8, False),
    "bilstm2_h512_t128_b1": ("LSTM", 2, 512, 128, 1, True),
    "gru2_h512_t128_b8": ("GRU", 2, 512, 128, 8, False),
}
# int8 convolutions (ConvInteger: u8 x, i8 w, x_zero_point 128), all reading
# one input x [batch, 64, 56, 56]: 3x3 64 -> 64, 1x1 64 -> 256, 3x3 stride 2
# 64 -> 128 (ResNet's first stage sizes); three i32 outputs. ONNX Runtime
# 1.20 has no ConvInteger kernel for i8 weights.
INT8 = {"convint8_c64_56_b1": 1, "convint8_c64_56_b4": 4}


def build_int8(batch, rng):
    x = helper.make_tensor_value_info("x", TensorProto.UINT8, [batch, 64, 56, 56])
    inits = [numpy_helper.from_array(np.array(128, dtype=np.uint8), "xz")]
    nodes, outs = [], []
    for i, (m, k, s) in enumerate([(64, 3, 1), (256, 1, 1), (128, 3, 2)]):
        w = rng.integers(-64, 64, (m, 64, k, k)).astype(np.int8)
        inits.append(numpy_helper.from_array(w, f"w{i}"))
        p = k // 2
        nodes.append(helper.make_node("ConvInteger", ["x", f"w{i}", "xz"], [f"y{i}"], kernel_shape=[k, k],
                                      pads=[p, p, p, p], strides=[s, s]))
        o = (56 + 2 * p - k) // s + 1
        outs.append(helper.make_tensor_value_info(f"y{i}", TensorProto.INT32, [batch, m, o, o]))
    model = helper.make_model(helper.make_graph(nodes, "convint8", [x], outs, inits),
                              opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(model)
    return model


def build(op, layers, hidden, steps, batch, bidir, rng):
    gates = 4 if op == "LSTM" else 3
    dirs = 2 if bidir else 1
    scale = 1.0 / np.sqrt(hidden)
    nodes, inits = [], []
    x = "x"
    width = hidden
    if bidir:
        inits.append(numpy_helper.from_array(np.array([steps, batch, dirs * hidden], dtype=np.int64), "merged"))
    else:
        inits.append(numpy_helper.from_array(np.array([1], dtype=np.int64), "axis1"))
    for layer in range(layers):
        w = rng.uniform(-scale, scale, (dirs, gates * hidden, width)).astype(np.float32)
        r = rng.uniform(-scale, scale, (dirs, gates * hidden, hidden)).astype(np.float32)
        b = rng.uniform(-scale, scale, (dirs, 2 * gates * hidden)).astype(np.float32)
        names = [f"w{layer}", f"r{layer}", f"b{layer}"]
        for n, v in zip(names, (w, r, b)):
            inits.append(numpy_helper.from_array(v, n))
        attrs = {"hidden_size": hidden, "direction": "bidirectional" if bidir else "forward"}
        if op == "GRU":
            attrs["linear_before_reset"] = 1
        nodes.append(helper.make_node(op, [x] + names, [f"y{layer}"], **attrs))
        # Y [T, D, B, H] -> [T, B, D * H]
        if bidir:
            nodes.append(helper.make_node("Transpose", [f"y{layer}"], [f"t{layer}"], perm=[0, 2, 1, 3]))
            nodes.append(helper.make_node("Reshape", [f"t{layer}", "merged"], [f"h{layer}"]))
        else:
            nodes.append(helper.make_node("Squeeze", [f"y{layer}", "axis1"], [f"h{layer}"]))
        x = f"h{layer}"
        width = dirs * hidden
    nodes.append(helper.make_node("Identity", [x], ["y"]))
    graph = helper.make_graph(
        nodes, op.lower(), [helper.make_tensor_value_info("x", TensorProto.FLOAT, [steps, batch, hidden])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [steps, batch, dirs * hidden])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(model)
    return model


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=str(ROOT / "build" / "bench-models"))
    ap.add_argument("names", nargs="*", help=f"models to build (default all: {', '.join(MODELS)})")
    args = ap.parse_args()
    for name in args.names or list(MODELS) + list(INT8):
        if name in INT8:
            rng = np.random.default_rng(15)
            out = Path(args.out) / name
            out.mkdir(parents=True, exist_ok=True)
            onnx.save(build_int8(INT8[name], rng), str(out / "model.onnx"))
            np.save(out / "input_x.npy", rng.integers(0, 256, (INT8[name], 64, 56, 56)).astype(np.uint8))
            print(f"{out}: ConvInteger x3 on u8[{INT8[name]}, 64, 56, 56]")
            continue
        if name not in MODELS:
            raise SystemExit(f"make_rnn_models: error: unknown model '{name}' "
                             f"(known: {', '.join(list(MODELS) + list(INT8))})")
        rng = np.random.default_rng(15)
        op, layers, hidden, steps, batch, bidir = MODELS[name]
        out = Path(args.out) / name
        out.mkdir(parents=True, exist_ok=True)
        onnx.save(build(op, layers, hidden, steps, batch, bidir, rng), str(out / "model.onnx"))
        np.save(out / "input_x.npy", rng.uniform(-1, 1, (steps, batch, hidden)).astype(np.float32))
        print(f"{out}: {op} x{layers}, hidden {hidden}, {steps} steps, batch {batch}"
              f"{', bidirectional' if bidir else ''}")


if __name__ == "__main__":
    main()
