"""Driver of bench/serve_load.sh: see there. Prints a Markdown table and
writes build/reports/serve_load.json. Each figure is the median of --rounds
rounds; a round runs every configuration once (in-process first), so drift of
this noisy machine spreads over all of them alike."""

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "server", "tests"))
from serve_harness import Server, cleanup, load_npy_set, make_repository  # noqa: E402

DTYPES = {np.dtype("float32"): "FP32", np.dtype("int64"): "INT64", np.dtype("bool"): "BOOL",
          np.dtype("int32"): "INT32", np.dtype("float16"): "FP16", np.dtype("int8"): "INT8"}
CONCURRENCY = (1, 4, 16)


def binary_body(data, path):
    inputs, blobs = [], []
    for name, a in data["inputs"].items():
        a = np.ascontiguousarray(a)
        inputs.append({"name": name, "datatype": DTYPES[a.dtype], "shape": list(a.shape),
                       "parameters": {"binary_data_size": a.nbytes}})
        blobs.append(a.tobytes())
    outputs = [{"name": n, "parameters": {"binary_data": True}} for n in data["outputs"]]
    header = json.dumps({"inputs": inputs, "outputs": outputs}).encode()
    with open(path, "wb") as f:
        f.write(header + b"".join(blobs))
    return len(header)


def run_wrk(http, model, body_path, header_len, conc, duration, lua):
    cmd = ["wrk", "-t%d" % min(conc, 2), "-c%d" % conc, "-d%ds" % duration, "--latency", "-s", lua,
           "http://%s/v2/models/%s/infer" % (http, model), "--", body_path, str(header_len)]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 60).stdout
    line = [l for l in out.splitlines() if l.startswith("{")][-1]
    r = json.loads(line)
    return {"rps": r["rps"], "p50_ms": r["p50_ms"], "p99_ms": r["p99_ms"], "errors": r["non2xx"] + r["socket_errors"]}


async def grpc_load(url, model, data, conc, duration):
    import tritonclient.grpc.aio as aio
    client = aio.InferenceServerClient(url)
    ins = []
    for name, a in data["inputs"].items():
        i = aio.InferInput(name, list(a.shape), DTYPES[a.dtype])
        i.set_data_from_numpy(np.ascontiguousarray(a))
        ins.append(i)
    latencies, errors = [], 0

    async def worker(end):
        nonlocal errors
        while time.perf_counter() < end:
            t0 = time.perf_counter()
            try:
                await client.infer(model, ins)
            except Exception:
                errors += 1
            latencies.append(time.perf_counter() - t0)

    await asyncio.gather(*[worker(time.perf_counter() + 0.5) for _ in range(conc)])  # warm-up
    latencies.clear()
    start = time.perf_counter()
    await asyncio.gather(*[worker(start + duration) for _ in range(conc)])
    elapsed = time.perf_counter() - start
    await client.close()
    lat = np.array(latencies) * 1000
    return {"rps": len(latencies) / elapsed, "p50_ms": float(np.percentile(lat, 50)),
            "p99_ms": float(np.percentile(lat, 99)), "errors": errors}


def in_process(binary, model_path, data, threads, duration, config):
    cmd = [binary, "bench", model_path, "--threads", str(threads), "--time", str(duration), "--json"]
    for name in data["inputs"]:
        cmd += ["--input", "%s=%s" % (name, data["paths"][name])]
    if config:
        cmd += ["--config", config]
    r = json.loads(subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=duration * 3 + 60).stdout)
    return {"rps": r["throughput"]["runs_per_second"], "p50_ms": r["latency_ms"]["median"],
            "backends": r["backends"]}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--switchyard", required=True)
    ap.add_argument("--source-dir", required=True)
    ap.add_argument("--models", default="mlp,cnn")
    ap.add_argument("--duration", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--config", default="", help="device config for the server and the in-process bench")
    ap.add_argument("--delay-us", type=int, default=500, help="dynamic batching max_queue_delay_us")
    args = ap.parse_args()
    lua = os.path.join(args.source_dir, "bench", "serve_load.lua")
    models = args.models.split(",")
    work = tempfile.mkdtemp(prefix="sy-serve-load-")
    results = {}  # key -> list of round results
    meta = {}
    batching_cfg = "max_batch_size: 64\ndynamic_batching:\n  max_queue_delay_us: %d\n" % args.delay_us
    extra = {}
    for m in models:
        data = load_npy_set(args.source_dir, m)
        d = os.path.join(args.source_dir, "examples", "models", m)
        data["paths"] = {n: os.path.join(d, "input_%s.npy" % n) for n in data["inputs"]}
        meta[m] = data
        meta[m]["header_len"] = binary_body(data, os.path.join(work, m + ".bin"))
        meta[m]["batchable"] = all(a.ndim >= 1 for a in data["inputs"].values()) and m == "mlp"
        if meta[m]["batchable"]:
            extra[m + "_batched"] = (m, batching_cfg)
    repo = make_repository(args.source_dir, models=models, extra=extra)
    server_args = ["--config", args.config] if args.config else []
    try:
        with Server(args.switchyard, repo, server_args) as server:
            for rnd in range(args.rounds):
                for m in models:
                    model_path = os.path.join(args.source_dir, "examples", "models", m, "model.onnx")
                    for c in CONCURRENCY:
                        r = in_process(args.switchyard, model_path, meta[m], c, args.duration, args.config)
                        meta[m]["backends"] = r.pop("backends")
                        results.setdefault((m, "in-process", "-", c), []).append(r)
                        for batching in ("off", "on") if meta[m]["batchable"] else ("off",):
                            name = m + "_batched" if batching == "on" else m
                            r = run_wrk(server.http, name, os.path.join(work, m + ".bin"), meta[m]["header_len"], c,
                                        args.duration, lua)
                            results.setdefault((m, "HTTP (wrk)", batching, c), []).append(r)
                            r = asyncio.run(grpc_load(server.grpc, name, meta[m], c, args.duration))
                            results.setdefault((m, "gRPC (tritonclient aio)", batching, c), []).append(r)
                print("round %d of %d done" % (rnd + 1, args.rounds), file=sys.stderr, flush=True)
            metrics = server_metrics(server.http)
            code = server.stop()
    finally:
        cleanup(repo)
        cleanup(work)
    med = {k: {f: statistics.median(r[f] for r in v) for f in v[0] if f != "errors"} | {"errors": sum(r.get("errors", 0) for r in v)}
           for k, v in results.items()}
    print("\n| model | path | dyn. batching | concurrency | req/s | p50 ms | p99 ms | in-process runs/s (threads = conc.) | in-process / server |")
    print("|---|---|---|---|---|---|---|---|---|")
    rows = []
    for (m, path, batching, c), r in sorted(med.items(), key=lambda kv: (kv[0][0], kv[0][3], kv[0][1], kv[0][2])):
        base = med[(m, "in-process", "-", c)]["rps"]
        ratio = base / r["rps"] if r["rps"] > 0 else float("inf")
        p99 = "%.2f" % r["p99_ms"] if "p99_ms" in r else "-"
        print("| %s | %s | %s | %d | %.0f | %.2f | %s | %.0f | %s |" % (
            m, path, batching, c, r["rps"], r["p50_ms"], p99, base, "-" if path == "in-process" else "%.2f" % ratio)
            + (" errors: %d" % r["errors"] if r.get("errors") else ""))
        rows.append({"model": m, "path": path, "dynamic_batching": batching, "concurrency": c, **r,
                     "in_process_rps": base, "ratio": ratio})
    print("\nbackends: " + ", ".join("%s: %s" % (m, "+".join(meta[m]["backends"])) for m in models))
    print("medians of %d rounds of %d s; server exit code after SIGTERM: %s" % (args.rounds, args.duration, code))
    for line in metrics:
        print(line)
    os.makedirs(os.path.join(args.source_dir, "build", "reports"), exist_ok=True)
    out = os.path.join(args.source_dir, "build", "reports", "serve_load.json")
    with open(out, "w") as f:
        json.dump({"rounds": args.rounds, "duration_s": args.duration, "rows": rows}, f, indent=1)
    print("wrote " + out)
    return 0 if code == 0 else 1


def server_metrics(http):
    """The batch-size means of the batched models, from /metrics."""
    import urllib.request
    text = urllib.request.urlopen("http://%s/metrics" % http, timeout=10).read().decode()
    sums, counts = {}, {}
    for line in text.splitlines():
        for name, store in (("sy_inference_batch_size_sum", sums), ("sy_inference_batch_size_count", counts)):
            if line.startswith(name + "{"):
                model = line.split('model="')[1].split('"')[0]
                store[model] = float(line.split()[-1])
    return ["%s: %d executions, mean batch %.1f rows" % (m, counts[m], sums[m] / counts[m])
            for m in sorted(counts) if counts[m] > 0]


if __name__ == "__main__":
    sys.exit(main())
