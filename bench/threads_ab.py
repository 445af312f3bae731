#!/usr/bin/env python3
"""Switchyard's cpu plugin at 1 and 2 threads against ONNX Runtime at the same
threads, in interleaved rounds within one run (issue #15).

Each round runs, per model, `switchyard bench` with `threads: T` and an
onnxruntime.InferenceSession with intra_op_num_threads = T, for T = 1 then 2
(the order alternates between rounds), -n timed runs each after --warmup;
the tables give the medians over rounds of each round's median, and the
fastest run of all (less sensitive to other processes on a shared machine),
with the 2-thread speedups and Switchyard over ONNX Runtime at each thread
count. Models are
folders with model.onnx and input_<name>.npy (bench/make_bench_models.py,
bench/make_rnn_models.py), or .onnx files with random inputs in [-1, 1).
ONNX Runtime comes from bench/.venv (bench/compare_peers --setup-only).

    bench/.venv/bin/python bench/threads_ab.py build/bench-models/lstm2_h512_t128_b8 --rounds 5 -n 10
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent


def inputs_of(model_dir):
    out = {}
    for f in sorted(Path(model_dir).glob("input_*.npy")):
        out[f.stem[len("input_"):]] = f
    return out


def sy_ms(build, model, inputs, threads, n, warmup, config_dir):
    cfg = Path(config_dir) / f"threads{threads}.yaml"
    if not cfg.exists():
        cfg.write_text(f"backends:\n  - name: cpu\n    options:\n      threads: {threads}\nfallback: reference\n")
    cmd = [str(Path(build) / "bin" / "switchyard"), "bench", str(model), "--config", str(cfg), "-n", str(n),
           "--warmup", str(warmup), "--json"]
    for name, f in inputs.items():
        cmd += ["-i", f"{name}={f}"]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"threads_ab: switchyard bench failed on {model}:\n{r.stderr[-2000:]}")
    lat = json.loads(r.stdout)["latency_ms"]
    return lat["median"], lat["min"]


def ort_ms(model, feeds, threads, n, warmup):
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.log_severity_level = 3
    sess = ort.InferenceSession(str(model), so, providers=["CPUExecutionProvider"])
    for _ in range(warmup):
        sess.run(None, feeds)
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        sess.run(None, feeds)
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times), min(times)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("models", nargs="+")
    ap.add_argument("--build-dir", default=str(ROOT / "build"))
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("-n", "--iterations", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2)
    args = ap.parse_args()
    cases = []
    for m in args.models:
        p = Path(m)
        model = p / "model.onnx" if p.is_dir() else p
        inputs = inputs_of(p) if p.is_dir() else {}
        if not model.exists():
            sys.exit(f"threads_ab: no model at {model}")
        if not inputs:
            import onnx
            g = onnx.load(str(model), load_external_data=False).graph
            inits = {i.name for i in g.initializer}
            tmp = Path(tempfile.mkdtemp(prefix="threads_ab_"))
            rng = np.random.default_rng(0)
            for v in g.input:
                if v.name in inits:
                    continue
                shape = [d.dim_value if d.dim_value > 0 else 1 for d in v.type.tensor_type.shape.dim]
                f = tmp / f"{v.name}.npy"
                np.save(f, rng.uniform(-1, 1, shape).astype(np.float32))
                inputs[v.name] = f
        feeds = {k: np.load(f) for k, f in inputs.items()}
        cases.append((p.name if p.is_dir() else p.stem, model, inputs, feeds))
    res = {(c[0], sys_, t): [] for c in cases for sys_ in ("sy", "ort") for t in (1, 2)}  # (median, min) per round
    with tempfile.TemporaryDirectory(prefix="threads_ab_cfg_") as cfgdir:
        for r in range(args.rounds):
            order = (1, 2) if r % 2 == 0 else (2, 1)
            for name, model, inputs, feeds in cases:
                for t in order:
                    res[(name, "sy", t)].append(sy_ms(args.build_dir, model, inputs, t, args.iterations, args.warmup,
                                                      cfgdir))
                    try:
                        res[(name, "ort", t)].append(ort_ms(model, feeds, t, args.iterations, args.warmup))
                    except Exception as e:  # e.g. ConvInteger with i8 weights: no ONNX Runtime kernel
                        if r == 0 and t == order[0]:
                            print(f"threads_ab: onnxruntime cannot run {name}: {str(e)[:200]}", file=sys.stderr)
            load = os.getloadavg()[0]
            print(f"round {r + 1}/{args.rounds} done (load average {load:.2f})", file=sys.stderr)
    nan = float("nan")
    for which, title, pick in ((0, "medians over rounds of per-round medians", statistics.median),
                               (1, "the fastest run of all rounds", min)):
        print(f"{args.rounds} interleaved rounds x {args.iterations} runs (+{args.warmup} warm-up); {title}, ms; "
              f"load average now {os.getloadavg()[0]:.2f}")
        hdr = f"{'model':24} {'sy 1t':>8} {'sy 2t':>8} {'sy 1/2':>7} {'ort 1t':>8} {'ort 2t':>8} {'ort 1/2':>7} " \
              f"{'sy/ort 1t':>9} {'sy/ort 2t':>9}"
        print(hdr)
        print("-" * len(hdr))
        for name, *_ in cases:
            m = {k: pick([v[which] for v in res[(name, k[0], k[1])]]) if res[(name, k[0], k[1])] else nan
                 for k in [("sy", 1), ("sy", 2), ("ort", 1), ("ort", 2)]}
            print(f"{name:24} {m[('sy', 1)]:8.2f} {m[('sy', 2)]:8.2f} {m[('sy', 1)] / m[('sy', 2)]:7.2f} "
                  f"{m[('ort', 1)]:8.2f} {m[('ort', 2)]:8.2f} {m[('ort', 1)] / m[('ort', 2)]:7.2f} "
                  f"{m[('sy', 1)] / m[('ort', 1)]:9.2f} {m[('sy', 2)] / m[('ort', 2)]:9.2f}")
        print()
    print("nan: ONNX Runtime has no kernel for the model")


if __name__ == "__main__":
    main()
