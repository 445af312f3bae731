#!/usr/bin/env python3
"""Per-node timings of OpenVINO's CPU plugin on one ONNX model, to put beside
`switchyard bench MODEL --profile` (docs/benchmarks.md, "Layer by layer").

    bench/.venv/bin/python bench/ov_layer_profile.py MODEL.onnx [--threads 1] [-n 20]
        [--warmup 3] [--rows 40] [--by-type] [--json out.json]

OpenVINO is compiled with the settings of bench/compare_peers.py's OpenVINO peer
(INFERENCE_NUM_THREADS=T, NUM_STREAMS=1, PERFORMANCE_HINT=LATENCY, f32 inference)
plus PERF_COUNT=True, so the timings are those of the graph the comparison runs.
Inputs: input_<name>.npy beside the model when present, else random data for
the declared shape (symbolic dims = 1).

Each executed node's real time is the median over the n timed runs
(`request.get_profiling_info()`; nodes OpenVINO fused away report NOT_RUN and
are skipped). Printed: the total, then the nodes by time with their node type,
exec type (the kernel OpenVINO picked, e.g. `jit_avx512_dw_FP32` or
`brgconv_avx512_1x1_FP32`) and output shape; --by-type sums the time per
(node type, exec type) instead, which is the quickest way to see e.g. how much
of a model is depthwise convolution, or reorders between layouts.
"""
import argparse
import json
import pathlib
import statistics
import sys
import time


def load_inputs(model_path, compiled, np):
    feeds = {}
    for port in compiled.inputs:
        names = sorted(port.get_names())
        found = None
        for n in names:
            f = model_path.parent / f"input_{n}.npy"
            if f.exists():
                found = np.load(f)
                break
        if found is None:
            shape = [d.get_length() if d.is_static else 1 for d in port.get_partial_shape()]
            et = port.get_element_type().to_dtype()
            rng = np.random.default_rng(0)
            found = rng.standard_normal(shape).astype(et) if np.issubdtype(et, np.floating) else np.zeros(shape, et)
        feeds[port] = found
    return feeds


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model", type=pathlib.Path)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("-n", "--iterations", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--rows", type=int, default=40, help="rows to print (0: all)")
    ap.add_argument("--by-type", action="store_true", help="sum per (node type, exec type) instead of per node")
    ap.add_argument("--json", type=pathlib.Path, help="also write every node's timings here")
    args = ap.parse_args()
    if not args.model.exists():
        sys.exit(f"ov_layer_profile: no model at {args.model}")
    if args.iterations < 1 or args.threads < 1:
        sys.exit("ov_layer_profile: -n and --threads must be >= 1")

    import numpy as np
    import openvino as ov

    core = ov.Core()
    compiled = core.compile_model(str(args.model), "CPU", {
        "INFERENCE_NUM_THREADS": args.threads, "NUM_STREAMS": 1, "PERFORMANCE_HINT": "LATENCY",
        "INFERENCE_PRECISION_HINT": "f32", "PERF_COUNT": True})
    request = compiled.create_infer_request()
    feeds = load_inputs(args.model, compiled, np)
    for _ in range(args.warmup):
        request.infer(feeds)

    per_node = {}  # name -> dict(type, exec, times[])
    order = []
    walls = []
    for _ in range(args.iterations):
        t0 = time.perf_counter()
        request.infer(feeds)
        walls.append((time.perf_counter() - t0) * 1e3)
        for p in request.get_profiling_info():
            if p.status != p.Status.EXECUTED:
                continue
            e = per_node.get(p.node_name)
            if e is None:
                e = per_node[p.node_name] = {"type": p.node_type, "exec": p.exec_type, "ms": []}
                order.append(p.node_name)
            e["ms"].append(p.real_time.total_seconds() * 1e3)

    # Output shapes of the executed graph's nodes, where the runtime model names them.
    shapes = {}
    try:
        for op in compiled.get_runtime_model().get_ops():
            outs = [str(op.get_output_partial_shape(i)) for i in range(op.get_output_size())]
            shapes[op.get_friendly_name()] = ", ".join(outs)
    except Exception:  # noqa: BLE001 -- shapes are a nicety; the timings stand without them
        pass

    rows = [{"node": n, "type": per_node[n]["type"], "exec": per_node[n]["exec"],
             "ms": statistics.median(per_node[n]["ms"]), "shape": shapes.get(n, "")} for n in order]
    total = sum(r["ms"] for r in rows)
    print(f"openvino {ov.__version__}, {args.model}, threads {args.threads}, "
          f"{args.iterations} runs: wall median {statistics.median(walls):.3f} ms, "
          f"sum of node medians {total:.3f} ms, {len(rows)} executed nodes")
    if args.by_type:
        groups = {}
        for r in rows:
            g = groups.setdefault((r["type"], r["exec"]), [0.0, 0])
            g[0] += r["ms"]
            g[1] += 1
        items = sorted(groups.items(), key=lambda kv: -kv[1][0])
        print(f"{'share':>6}  {'ms/run':>8}  {'count':>5}  {'node type':<22} exec type")
        for (t, e), (ms, c) in items[: args.rows or None]:
            print(f"{100 * ms / total:5.1f}%  {ms:8.4f}  {c:5d}  {t:<22} {e}")
    else:
        print(f"{'share':>6}  {'ms/run':>8}  {'node type':<18} {'exec type':<28} {'output':<22} node")
        for r in sorted(rows, key=lambda r: -r["ms"])[: args.rows or None]:
            print(f"{100 * r['ms'] / total:5.1f}%  {r['ms']:8.4f}  {r['type']:<18} {r['exec']:<28} "
                  f"{r['shape']:<22} {r['node']}")
    if args.json:
        args.json.write_text(json.dumps({"model": str(args.model), "threads": args.threads,
                                         "openvino": ov.__version__, "wall_median_ms": statistics.median(walls),
                                         "nodes": rows}, indent=1))
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
