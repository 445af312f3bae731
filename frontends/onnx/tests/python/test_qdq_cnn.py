"""A small CNN (conv, relu, maxpool, strided conv, global average pool, gemm)
built with the onnx helpers, calibrated on ONNX Runtime (activation ranges of
the float model) and quantized to QDQ here (u8 asymmetric activations, i8
symmetric per-channel weights, i32 biases: the format of ONNX Runtime's
quantize_static, whose Python tool needs a newer `onnx` than Debian's 1.12),
matches ONNX Runtime's output on the reference interpreter and the cpu plugin
within one quantization step of the output.

It runs in bench/.venv (onnxruntime from PyPI, made by `bench/compare_peers
--setup-only`), re-executing itself there. When CI is set (.ci/run sets it)
and the venv is missing, it makes it first, and failing to is a failure;
otherwise, without onnxruntime, it exits with 77 (skipped) and prints why. The
models are generated here, in SY_TEST_TMP, never committed."""
import os
import subprocess
import sys
import tempfile
import unittest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..", ".."))
VENV_PY = os.path.join(ROOT, "bench", ".venv", "bin", "python")


def skip_or_fail(why):
    print(f"SKIP: {why} (make bench/.venv with: bench/compare_peers --setup-only)")
    sys.exit(77)


def make_venv_in_ci():
    """In CI (CI set) the test must run: make bench/.venv as bench/compare_peers does."""
    if not os.environ.get("CI") or os.path.exists(VENV_PY):
        return
    print("CI: making bench/.venv with bench/compare_peers --setup-only", flush=True)
    r = subprocess.run(["sh", os.path.join(ROOT, "bench", "compare_peers"), "--setup-only"], timeout=900)
    if r.returncode != 0 or not os.path.exists(VENV_PY):
        print(f"FAIL: bench/compare_peers --setup-only exited with {r.returncode}; CI must run this test")
        sys.exit(1)


try:
    import numpy as np
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper
except ImportError as e:
    in_venv = os.path.realpath(sys.prefix) == os.path.realpath(os.path.dirname(os.path.dirname(VENV_PY)))
    if not in_venv:
        make_venv_in_ci()
        if os.path.exists(VENV_PY):
            os.execv(VENV_PY, [VENV_PY, os.path.abspath(__file__), *sys.argv[1:]])
    if os.environ.get("CI"):
        print(f"FAIL: {sys.executable} cannot import numpy, onnx and onnxruntime ({e}); CI must run this test")
        sys.exit(1)
    skip_or_fail(f"{sys.executable} cannot import numpy, onnx and onnxruntime ({e})")

SWITCHYARD = os.environ.get("SY_SWITCHYARD", "")
PLUGIN_DIR = os.environ.get("SY_PLUGIN_DIR", "")


def scratch():
    d = os.path.join(os.environ.get("SY_TEST_TMP") or tempfile.gettempdir(), "onnx_qdq_cnn")
    os.makedirs(d, exist_ok=True)
    return d


def backends():
    out = ["reference"]
    if PLUGIN_DIR and os.path.exists(os.path.join(PLUGIN_DIR, "libsy_plugin_cpu.so")):
        out.append("cpu")
    return out


def u8_params(lo, hi):
    """Asymmetric u8 scale and zero point of the range [lo, hi] widened to hold 0."""
    lo, hi = min(lo, 0.0), max(hi, 0.0)
    scale = np.float32((hi - lo) / 255.0) if hi > lo else np.float32(1.0)
    zp = np.uint8(np.clip(np.rint(-lo / scale), 0, 255))
    return scale, zp


class Builder:
    def __init__(self):
        self.nodes, self.inits = [], []

    def const(self, name, arr):
        self.inits.append(numpy_helper.from_array(arr, name))
        return name

    def qdq(self, value, scale, zp):
        """value -> QuantizeLinear -> DequantizeLinear; returns the dequantized name."""
        s = self.const(value + "_scale", np.array(scale, np.float32))
        z = self.const(value + "_zp", np.array(zp, np.uint8))
        self.nodes.append(helper.make_node("QuantizeLinear", [value, s, z], [value + "_q"]))
        self.nodes.append(helper.make_node("DequantizeLinear", [value + "_q", s, z], [value + "_dq"]))
        return value + "_dq"

    def weight(self, name, w, axis=0):
        """Symmetric i8 per-channel (along `axis`) weights behind a DequantizeLinear; returns (name, scales)."""
        moved = np.moveaxis(w, axis, 0).reshape(w.shape[axis], -1)
        scales = (np.maximum(np.abs(moved).max(axis=1), 1e-8) / 127.0).astype(np.float32)
        shape = [1] * w.ndim
        shape[axis] = -1
        q = np.clip(np.rint(w / scales.reshape(shape)), -127, 127).astype(np.int8)
        self.const(name + "_q", q)
        self.const(name + "_scale", scales)
        self.const(name + "_zp", np.zeros(w.shape[axis], np.int8))
        self.nodes.append(helper.make_node("DequantizeLinear", [name + "_q", name + "_scale", name + "_zp"],
                                           [name + "_dq"], axis=axis))
        return name + "_dq", scales

    def bias(self, name, b, in_scale, w_scales):
        """i32 bias at scale in_scale * w_scale (per channel) behind a DequantizeLinear."""
        scales = (np.float32(in_scale) * w_scales).astype(np.float32)
        self.const(name + "_q", np.rint(b / scales).astype(np.int32))
        self.const(name + "_scale", scales)
        self.nodes.append(helper.make_node("DequantizeLinear", [name + "_q", name + "_scale"], [name + "_dq"], axis=0))
        return name + "_dq"


def make_models(folder, calib):
    rng = np.random.default_rng(0)
    w1 = (rng.standard_normal((8, 3, 3, 3)) * 0.3).astype(np.float32)
    b1 = (rng.standard_normal(8) * 0.1).astype(np.float32)
    w2 = (rng.standard_normal((16, 8, 3, 3)) * 0.15).astype(np.float32)
    b2 = (rng.standard_normal(16) * 0.1).astype(np.float32)
    w3 = (rng.standard_normal((10, 16)) * 0.3).astype(np.float32)
    b3 = (rng.standard_normal(10) * 0.1).astype(np.float32)
    x_info = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 16, 16])
    y_info = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 10])

    def save(nodes, inits, outputs, path, check=True):
        graph = helper.make_graph(nodes, "qdq_cnn", [x_info], outputs, inits)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
        model.ir_version = 8
        if check:  # the calibration model's extra outputs have no declared shapes
            onnx.checker.check_model(model)
        onnx.save(model, path)

    # Float model, every activation an output, for calibration.
    acts = ["r1", "p1", "r2", "g", "f", "y"]
    fnodes = [
        helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c1"], ["r1"]),
        helper.make_node("MaxPool", ["r1"], ["p1"], kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Conv", ["p1", "w2", "b2"], ["c2"], pads=[1, 1, 1, 1], strides=[2, 2]),
        helper.make_node("Relu", ["c2"], ["r2"]),
        helper.make_node("GlobalAveragePool", ["r2"], ["g"]),
        helper.make_node("Flatten", ["g"], ["f"]),
        helper.make_node("Gemm", ["f", "w3", "b3"], ["y"], transB=1),
    ]
    finits = [numpy_helper.from_array(a, n) for n, a in [("w1", w1), ("b1", b1), ("w2", w2), ("b2", b2), ("w3", w3), ("b3", b3)]]
    fp32 = os.path.join(folder, "cnn_fp32_calib.onnx")
    save(fnodes, finits, [helper.make_tensor_value_info(a, TensorProto.FLOAT, None) for a in acts], fp32, check=False)
    sess = ort.InferenceSession(fp32, providers=["CPUExecutionProvider"])
    ranges = {a: [np.inf, -np.inf] for a in acts + ["x"]}
    for batch in calib:
        outs = dict(zip(acts, sess.run(acts, {"x": batch})))
        outs["x"] = batch
        for a, v in outs.items():
            ranges[a] = [min(ranges[a][0], float(v.min())), max(ranges[a][1], float(v.max()))]
    params = {a: u8_params(*r) for a, r in ranges.items()}
    params["p1"] = params["r1"]  # max pooling keeps its input's quantization

    # The QDQ model.
    b = Builder()
    xq = b.qdq("x", *params["x"])
    w1q, s1 = b.weight("w1", w1)
    b.nodes.append(helper.make_node("Conv", [xq, w1q, b.bias("b1", b1, params["x"][0], s1)], ["c1"], pads=[1, 1, 1, 1]))
    b.nodes.append(helper.make_node("Relu", ["c1"], ["r1"]))
    r1 = b.qdq("r1", *params["r1"])
    b.nodes.append(helper.make_node("MaxPool", [r1], ["p1"], kernel_shape=[2, 2], strides=[2, 2]))
    p1 = b.qdq("p1", *params["p1"])
    w2q, s2 = b.weight("w2", w2)
    b.nodes.append(helper.make_node("Conv", [p1, w2q, b.bias("b2", b2, params["p1"][0], s2)], ["c2"], pads=[1, 1, 1, 1],
                                    strides=[2, 2]))
    b.nodes.append(helper.make_node("Relu", ["c2"], ["r2"]))
    r2 = b.qdq("r2", *params["r2"])
    b.nodes.append(helper.make_node("GlobalAveragePool", [r2], ["g"]))
    g = b.qdq("g", *params["g"])
    b.nodes.append(helper.make_node("Flatten", [g], ["f"]))
    f = b.qdq("f", *params["f"])
    w3q, s3 = b.weight("w3", w3, axis=0)
    b.nodes.append(helper.make_node("Gemm", [f, w3q, b.bias("b3", b3, params["f"][0], s3)], ["yf"], transB=1))
    ys, yzp = params["y"]
    s = b.const("y_scale", np.array(ys, np.float32))
    z = b.const("y_zp", np.array(yzp, np.uint8))
    b.nodes.append(helper.make_node("QuantizeLinear", ["yf", s, z], ["y_q"]))
    b.nodes.append(helper.make_node("DequantizeLinear", ["y_q", s, z], ["y"]))
    qdq = os.path.join(folder, "cnn_qdq.onnx")
    save(b.nodes, b.inits, [y_info], qdq)
    return qdq, float(ys)


class QdqCnnTest(unittest.TestCase):
    def test_qdq_cnn_matches_onnxruntime(self):
        folder = scratch()
        rng = np.random.default_rng(1)
        calib = [rng.standard_normal((1, 3, 16, 16)).astype(np.float32) for _ in range(8)]
        qdq, step = make_models(folder, calib)
        env = dict(os.environ)
        if PLUGIN_DIR:
            env["SWITCHYARD_PLUGIN_PATH"] = PLUGIN_DIR
        for k in range(3):
            x = rng.standard_normal((1, 3, 16, 16)).astype(np.float32)
            # ONNX Runtime with graph optimizations off runs the Q/DQ nodes as written.
            opts = ort.SessionOptions()
            opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
            want = ort.InferenceSession(qdq, opts, providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
            self.assertGreater(float(np.max(np.abs(want))), 4 * step, "the output should span several steps")
            xp, yp = os.path.join(folder, f"x{k}.npy"), os.path.join(folder, f"y{k}_ort.npy")
            np.save(xp, x)
            np.save(yp, want)
            for backend in backends():
                with self.subTest(input=k, backend=backend):
                    # One quantization step of y (plus float noise): a rounding that lands on the
                    # other side of a tie may differ by one step, nothing more.
                    cmd = [SWITCHYARD, "run", qdq, "--backends", backend, "--input", f"x={xp}", "--expect",
                           f"y={yp}", "--rtol", "0", "--atol", repr(1.001 * step)]
                    r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
                    if r.returncode != 0:
                        self.fail(f"{' '.join(cmd)}\nexit {r.returncode}\n{r.stdout}\n{r.stderr}")
                    print(backend, [ln.strip() for ln in r.stdout.splitlines() if "matches" in ln])


if __name__ == "__main__":
    if not SWITCHYARD or not os.path.exists(SWITCHYARD):
        print(f"SY_SWITCHYARD={SWITCHYARD!r} is not a switchyard binary")
        sys.exit(1)
    unittest.main(verbosity=2)
