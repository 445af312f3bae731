"""`switchyard serve` against the standard KServe v2 clients (tritonclient's
HTTP and gRPC clients): health, metadata, inference with JSON and with binary
data on both transports for every example model (outputs compared with the
PyTorch outputs stored beside the model), dynamic batching under concurrent
callers, the repository extension (unload/load), /metrics, and a clean exit 0
on SIGTERM. The server listens on 127.0.0.1 only."""

import argparse
import concurrent.futures
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.request

import numpy as np
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException

from serve_harness import EXAMPLE_MODELS, Checks, Server, cleanup, load_npy_set, make_repository

DTYPES = {np.dtype("float32"): "FP32", np.dtype("float16"): "FP16", np.dtype("int64"): "INT64",
          np.dtype("int32"): "INT32", np.dtype("int8"): "INT8", np.dtype("bool"): "BOOL"}
# Also exercises an inline device config (the reference interpreter only).
BATCHED = ("device:\n  backends: [reference]\n  plugin_paths: []\n  default_plugin_paths: false\n"
           "max_batch_size: 64\ninstance_count: 1\n"
           "dynamic_batching:\n  max_queue_delay_us: 20000\n")


def infer(client, module, model, inputs, binary, outputs=None):
    ins = []
    for name, array in inputs.items():
        i = module.InferInput(name, list(array.shape), DTYPES[array.dtype])
        if module is httpclient:
            i.set_data_from_numpy(array, binary_data=binary)
        else:
            i.set_data_from_numpy(array)
        ins.append(i)
    outs = None
    if outputs:
        outs = [module.InferRequestedOutput(o, binary_data=binary) if module is httpclient
                else module.InferRequestedOutput(o) for o in outputs]
    return client.infer(model, ins, outputs=outs, request_id="req-1")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--switchyard", required=True)
    ap.add_argument("--source-dir", required=True)
    args = ap.parse_args()
    c = Checks()
    repo = make_repository(args.source_dir, extra={"mlp_batched": ("mlp", BATCHED)})
    # A Switchyard program (.sy + .safetensors) as version 3 of a model; its
    # expected output comes from `switchyard run` in process.
    os.makedirs(os.path.join(repo, "sy_mlp", "3"))
    shutil.copy(os.path.join(args.source_dir, "examples", "mlp.sy"), os.path.join(repo, "sy_mlp", "3", "model.sy"))
    shutil.copy(os.path.join(args.source_dir, "examples", "mlp.safetensors"),
                os.path.join(repo, "sy_mlp", "3", "model.safetensors"))
    scratch = tempfile.mkdtemp(prefix="sy-serve-client-")
    sy_x = np.random.RandomState(0).randn(3, 8).astype(np.float32)
    np.save(os.path.join(scratch, "x.npy"), sy_x)
    subprocess.run([args.switchyard, "run", os.path.join(args.source_dir, "examples", "mlp.sy"),
                    "--input", "x=" + os.path.join(scratch, "x.npy"), "--output-dir", scratch],
                   check=True, capture_output=True, timeout=60)
    sy_expected = np.load(os.path.join(scratch, "p.npy"))
    try:
        with Server(args.switchyard, repo) as server:
            print("server: HTTP", server.http, "gRPC", server.grpc, flush=True)
            h = httpclient.InferenceServerClient(url=server.http, concurrency=16)
            g = grpcclient.InferenceServerClient(url=server.grpc)

            # Health and metadata.
            for name, client in (("http", h), ("grpc", g)):
                c.check(client.is_server_live(), name + ": server live")
                c.check(client.is_server_ready(), name + ": server ready")
                meta = client.get_server_metadata()
                meta = meta if isinstance(meta, dict) else {"name": meta.name, "extensions": list(meta.extensions)}
                c.check(meta["name"] == "switchyard", name + ": server metadata name")
                c.check("binary_tensor_data" in meta["extensions"], name + ": extensions")
                for model in EXAMPLE_MODELS:
                    c.check(client.is_model_ready(model), "%s: %s ready" % (name, model))
                    c.check(client.is_model_ready(model, "1"), "%s: %s version 1 ready" % (name, model))
                c.check(not client.is_model_ready("no_such_model"), name + ": unknown model not ready")

            for model in EXAMPLE_MODELS:
                data = load_npy_set(args.source_dir, model)
                hm = h.get_model_metadata(model)
                gm = g.get_model_metadata(model)
                c.check(hm["name"] == model and hm["versions"] == ["1"], "http metadata of " + model)
                c.check(sorted(i["name"] for i in hm["inputs"]) == sorted(data["inputs"]), "http inputs of " + model)
                c.check(sorted(o["name"] for o in hm["outputs"]) == sorted(data["outputs"]), "http outputs of " + model)
                c.check(gm.name == model and [i.name for i in gm.inputs] == [i["name"] for i in hm["inputs"]],
                        "grpc metadata of " + model)
                for i in hm["inputs"]:
                    a = data["inputs"][i["name"]]
                    c.check(i["datatype"] == DTYPES[a.dtype], "%s input %s datatype %s" % (model, i["name"], i["datatype"]))
                    c.check(len(i["shape"]) == a.ndim and all(d in (-1, s) for d, s in zip(i["shape"], a.shape)),
                            "%s input %s shape %s fits %s" % (model, i["name"], i["shape"], a.shape))

                # Inference: HTTP JSON, HTTP binary, gRPC; outputs against PyTorch's.
                for label, client, module, binary in (("http json", h, httpclient, False),
                                                      ("http binary", h, httpclient, True),
                                                      ("grpc", g, grpcclient, True)):
                    for requested in (None, list(data["outputs"])):
                        if requested is None and label == "http json":
                            continue  # with no outputs listed, tritonclient asks for binary
                        try:
                            result = infer(client, module, model, data["inputs"], binary, requested)
                        except InferenceServerException as e:
                            c.check(False, "%s infer %s: %s" % (label, model, e))
                            continue
                        for name, expected in data["outputs"].items():
                            got = result.as_numpy(name)
                            ok = got is not None and got.shape == expected.shape and \
                                np.allclose(got, expected, rtol=1e-4, atol=1e-5)
                            c.check(ok, "%s %s output %s matches PyTorch (max diff %s)" % (
                                label, model, name,
                                None if got is None or got.shape != expected.shape
                                else float(np.max(np.abs(got.astype(np.float64) - expected)))))
                        resp = result.get_response()
                        rid = resp["id"] if isinstance(resp, dict) else resp.id
                        c.check(rid == "req-1", "%s %s: request id echoed" % (label, model))

            # The .sy model: metadata and inference on both transports.
            meta = h.get_model_metadata("sy_mlp")
            c.check(meta["platform"] == "switchyard_sy" and meta["versions"] == ["3"], "sy_mlp metadata: %s" % meta)
            c.check(meta["inputs"][0]["shape"] == [-1, 8], "sy_mlp input shape [-1, 8]: %s" % meta["inputs"])
            for label, client, module in (("http", h, httpclient), ("grpc", g, grpcclient)):
                r = infer(client, module, "sy_mlp", {"x": sy_x}, True)
                got = r.as_numpy(meta["outputs"][0]["name"])
                c.check(got is not None and np.allclose(got, sy_expected, rtol=1e-5, atol=1e-6),
                        "%s: sy_mlp output matches switchyard run" % label)

            # Dynamic batching: 24 concurrent callers with 1..3 rows each.
            data = load_npy_set(args.source_dir, "mlp")
            x = data["inputs"]["x"]
            y = data["outputs"][next(iter(data["outputs"]))]
            out_name = next(iter(data["outputs"]))
            rows = x.shape[0]

            def batch_inputs(i, module):
                lo = i % rows
                hi = min(rows, lo + 1 + i % 3)
                part = np.ascontiguousarray(x[lo:hi])
                inp = module.InferInput("x", list(part.shape), "FP32")
                inp.set_data_from_numpy(part)
                return [inp], y[lo:hi]

            # HTTP: tritonclient.http is gevent-based, so concurrency comes from async_infer.
            pending = []
            for i in range(24):
                ins, want = batch_inputs(i, httpclient)
                pending.append((h.async_infer("mlp_batched", ins), want))
            results = [np.allclose(p.get_result().as_numpy(out_name), want, rtol=1e-4, atol=1e-5)
                       for p, want in pending]

            # gRPC: threads sharing one client.
            def one_grpc(i):
                ins, want = batch_inputs(i, grpcclient)
                return np.allclose(g.infer("mlp_batched", ins).as_numpy(out_name), want, rtol=1e-4, atol=1e-5)

            with concurrent.futures.ThreadPoolExecutor(12) as pool:
                results += list(pool.map(one_grpc, range(24)))
            c.check(all(results), "dynamic batching: %d of 48 answers match" % sum(results))
            metrics = urllib.request.urlopen("http://%s/metrics" % server.http, timeout=10).read().decode()
            execs = succ = 0
            for line in metrics.splitlines():
                if line.startswith('sy_inference_executions_total{model="mlp_batched"'):
                    execs = int(line.split()[-1])
                if line.startswith('sy_inference_requests_success_total{model="mlp_batched"'):
                    succ = int(line.split()[-1])
            print("mlp_batched: %d requests in %d executions" % (succ, execs), flush=True)
            c.check(succ == 48, "metrics: 48 successful mlp_batched requests (got %d)" % succ)
            c.check(0 < execs < succ, "metrics: dynamic batching merged requests (%d executions)" % execs)
            for name in ("sy_inference_queue_duration_seconds_bucket", "sy_inference_compute_duration_seconds_sum",
                         "sy_inference_batch_size_count", "sy_inference_requests_failure_total"):
                c.check(name in metrics, "metrics has " + name)

            # Repository extension: unload, then load again.
            h.unload_model("cnn")
            c.check(not h.is_model_ready("cnn"), "cnn unloaded")
            try:
                infer(h, httpclient, "cnn", load_npy_set(args.source_dir, "cnn")["inputs"], True)
                c.check(False, "infer on an unloaded model fails")
            except InferenceServerException as e:
                c.check("cnn" in str(e), "infer on an unloaded model fails: " + str(e))
            index = h.get_model_repository_index()
            c.check(any(e["name"] == "cnn" and e["state"] == "UNAVAILABLE" for e in index), "index shows cnn unavailable")
            h.load_model("cnn")
            c.check(h.is_model_ready("cnn") and g.is_model_ready("cnn"), "cnn loaded again")
            cnn = load_npy_set(args.source_dir, "cnn")
            r = infer(g, grpcclient, "cnn", cnn["inputs"], True)
            k = next(iter(cnn["outputs"]))
            c.check(np.allclose(r.as_numpy(k), cnn["outputs"][k], rtol=1e-4, atol=1e-5), "cnn answers after reload")
            h.close()
            g.close()
            code = server.stop()
            c.check(code == 0, "exit code 0 after SIGTERM (got %s)" % code)
    finally:
        cleanup(repo)
        cleanup(scratch)
    return c.finish("serve_client_test")


if __name__ == "__main__":
    sys.exit(main())
