#!/usr/bin/env python3
"""PyTorch CUDA (eager) beside `switchyard bench` on cuda, for device_check.sh.

  torch_bench.py --make-large DIR
      writes DIR/large_matmul.sy and DIR/large_conv.sy with their weights
      (safetensors, made with numpy here: too large to carry in the bundle)
  torch_bench.py --examples DIR --large DIR --switchyard RESULTS.jsonl [--json OUT]
      times PyTorch eager on CUDA on the same models (the example models'
      architectures from examples/make_models.py, the large cases from the
      same weights), measures cuBLAS's own SGEMM rate in this run (the
      roofline: torch.mm on 8192 x 8192 f32, TF32 off, then on), and prints
      one Markdown table with the switchyard numbers beside them.
Only numpy and torch are needed (no onnx).
"""
import argparse
import json
import statistics
import sys
import time
import types
from pathlib import Path

import numpy as np

LARGE_MM = dict(rows=1024, width=4096, layers=4)
LARGE_CONV = dict(batch=32, channels=64, size=56, layers=4)


def write_safetensors(path, tensors):
    header, offset, blobs = {}, 0, []
    for name, a in tensors.items():
        a = np.ascontiguousarray(a, dtype=np.float32)
        header[name] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [offset, offset + a.nbytes]}
        offset += a.nbytes
        blobs.append(a.tobytes())
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(len(h).to_bytes(8, "little"))
        f.write(h)
        for b in blobs:
            f.write(b)


def large_weights():
    rng = np.random.default_rng(3)
    mm = {f"w{i}": rng.standard_normal((LARGE_MM["width"],) * 2, dtype=np.float32) / np.sqrt(LARGE_MM["width"])
          for i in range(LARGE_MM["layers"])}
    c = LARGE_CONV["channels"]
    conv = {}
    for i in range(LARGE_CONV["layers"]):
        conv[f"w{i}"] = rng.standard_normal((c, c, 3, 3), dtype=np.float32) / np.sqrt(9 * c)
        conv[f"b{i}"] = rng.standard_normal((c,), dtype=np.float32) * 0.1
    return mm, conv


def make_large(out):
    out.mkdir(parents=True, exist_ok=True)
    mm, conv = large_weights()
    r, w, n = LARGE_MM["rows"], LARGE_MM["width"], LARGE_MM["layers"]
    lines = [f"# {n} chained f32 matmuls: [{r}, {w}] x [{w}, {w}], then a row mean (device_check.sh)",
             f"graph @large_matmul(%x: f32[{r}, {w}]) {{"]
    lines += [f'  %w{i} = weight() {{name = "w{i}"}} : f32[{w}, {w}]' for i in range(n)]
    prev = "%x"
    for i in range(n):
        lines.append(f"  %y{i} = matmul({prev}, %w{i}) : f32[{r}, {w}]")
        prev = f"%y{i}"
    lines += [f"  %s = reduce_mean({prev}) {{axes = [1], keepdims = 0}} : f32[{r}]", "  return %s", "}"]
    (out / "large_matmul.sy").write_text("\n".join(lines) + "\n")
    write_safetensors(out / "large_matmul.safetensors", mm)

    b, c, s, n = LARGE_CONV["batch"], LARGE_CONV["channels"], LARGE_CONV["size"], LARGE_CONV["layers"]
    t = f"f32[{b}, {c}, {s}, {s}]"
    lines = [f"# {n} 3x3 convs + relu on {t}, then a global average pool (device_check.sh)",
             f"graph @large_conv(%x: {t}) {{"]
    prev = "%x"
    for i in range(n):
        lines += [f'  %w{i} = weight() {{name = "w{i}"}} : f32[{c}, {c}, 3, 3]',
                  f'  %b{i} = weight() {{name = "b{i}"}} : f32[{c}]',
                  f"  %c{i} = conv({prev}, %w{i}, %b{i}) {{pads = [1, 1, 1, 1]}} : {t}",
                  f"  %r{i} = relu(%c{i}) : {t}"]
        prev = f"%r{i}"
    lines += [f"  %g = global_avg_pool({prev}) : f32[{b}, {c}, 1, 1]", "  return %g", "}"]
    (out / "large_conv.sy").write_text("\n".join(lines) + "\n")
    write_safetensors(out / "large_conv.safetensors", conv)
    print(f"wrote {out}/large_matmul.sy and {out}/large_conv.sy")


def import_example_models(examples):
    # make_models.py imports onnx for exporting; the classes need only torch.
    sys.modules.setdefault("onnx", types.ModuleType("onnx"))
    sys.path.insert(0, str(examples))
    import make_models  # noqa: E402
    return make_models


def time_cuda(torch, fn, seconds=2.0, warmup=5):
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    times, t_end = [], time.perf_counter() + seconds
    while time.perf_counter() < t_end or len(times) < 10:
        t0 = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times), len(times)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--make-large", type=Path)
    ap.add_argument("--examples", type=Path)
    ap.add_argument("--large", type=Path)
    ap.add_argument("--switchyard", type=Path)
    ap.add_argument("--json", type=Path)
    a = ap.parse_args()
    if a.make_large:
        return make_large(a.make_large)

    import torch
    if not torch.cuda.is_available():
        sys.exit("torch_bench: PyTorch sees no CUDA device")
    dev = torch.device("cuda")
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    mm_models = import_example_models(a.examples)
    torch.manual_seed(0)
    cases = {}

    def add(name, model, inputs, flops=None):
        model = model.to(dev).eval()
        inputs = [x.to(dev) for x in inputs]
        with torch.no_grad():
            ms, runs = time_cuda(torch, lambda: model(*inputs))
        cases[name] = {"torch_ms": ms, "torch_runs": runs, "flops": flops}

    add("mlp", mm_models.MLP(), [torch.randn(4, 16)])
    add("cnn", mm_models.SmallCNN(), [torch.randn(2, 3, 16, 16)])
    mask = torch.ones(2, 8, dtype=torch.bool)
    mask[1, 5:] = False
    add("transformer", mm_models.EncoderBlock(), [torch.randn(2, 8, 32), mask])

    mm, conv = large_weights()
    ws = [torch.from_numpy(mm[f"w{i}"]).to(dev) for i in range(LARGE_MM["layers"])]

    class LargeMatmul(torch.nn.Module):
        def forward(self, x):
            for w in ws:
                x = x @ w
            return x.mean(dim=1)

    r, w = LARGE_MM["rows"], LARGE_MM["width"]
    add("large_matmul", LargeMatmul(), [torch.randn(r, w)], flops=2.0 * r * w * w * LARGE_MM["layers"])

    class LargeConv(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.convs = torch.nn.ModuleList()
            for i in range(LARGE_CONV["layers"]):
                c = torch.nn.Conv2d(LARGE_CONV["channels"], LARGE_CONV["channels"], 3, padding=1)
                c.weight.data = torch.from_numpy(conv[f"w{i}"])
                c.bias.data = torch.from_numpy(conv[f"b{i}"])
                self.convs.append(c)

        def forward(self, x):
            for c in self.convs:
                x = torch.relu(c(x))
            return x.mean(dim=(2, 3), keepdim=True)

    b, c, s = LARGE_CONV["batch"], LARGE_CONV["channels"], LARGE_CONV["size"]
    add("large_conv", LargeConv(), [torch.randn(b, c, s, s)], flops=2.0 * b * c * s * s * c * 9 * LARGE_CONV["layers"])

    # cuBLAS's own GEMM rate in this run (the roofline of the matmul case).
    n = 8192
    x, y = torch.randn(n, n, device=dev), torch.randn(n, n, device=dev)
    roof = {}
    for tf32 in (False, True):
        torch.backends.cuda.matmul.allow_tf32 = tf32
        ms, _ = time_cuda(torch, lambda: torch.mm(x, y), seconds=1.5)
        roof["tf32" if tf32 else "f32"] = 2.0 * n ** 3 / (ms * 1e-3) / 1e12
    torch.backends.cuda.matmul.allow_tf32 = False

    sy = {}
    if a.switchyard and a.switchyard.exists():
        for line in a.switchyard.read_text().splitlines():
            if line.strip():
                r_ = json.loads(line)
                sy[r_["name"]] = r_["result"]

    print(f"GPU: {torch.cuda.get_device_name(0)}; PyTorch {torch.__version__}, CUDA {torch.version.cuda}")
    print(f"cuBLAS SGEMM {n}^3 in this run: {roof['f32']:.1f} TFLOP/s (f32), {roof['tf32']:.1f} TFLOP/s (TF32)")
    print()
    print("| model | switchyard cuda median ms (incl. host<->device copies) | regions | PyTorch CUDA eager median ms"
          " (device-resident) | switchyard / PyTorch | switchyard TFLOP/s | PyTorch TFLOP/s | cuBLAS SGEMM TFLOP/s |")
    print("|---|---|---|---|---|---|---|---|")
    for name, c_ in cases.items():
        s_ = sy.get(name)
        sy_ms = s_["latency_ms"]["median"] if s_ else None
        regions = ",".join(f"{k}:{v}" for k, v in s_.get("regions", {}).items()) if s_ else "-"
        f = c_["flops"]
        row = [name, f"{sy_ms:.3f}" if sy_ms else "-", regions, f"{c_['torch_ms']:.3f}",
               f"{sy_ms / c_['torch_ms']:.2f}" if sy_ms else "-",
               f"{f / (sy_ms * 1e-3) / 1e12:.1f}" if (f and sy_ms) else "-",
               f"{f / (c_['torch_ms'] * 1e-3) / 1e12:.1f}" if f else "-",
               f"{roof['f32']:.1f}" if name == "large_matmul" else "-"]
        print("| " + " | ".join(row) + " |")
    if a.json:
        a.json.write_text(json.dumps({"cases": cases, "switchyard": sy, "cublas_tflops": roof}, indent=1))


if __name__ == "__main__":
    main()
