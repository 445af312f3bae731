"""Malformed, oversized and unanswerable requests of every kind, over HTTP
and gRPC, each answered with the right status and a message that says what was
wrong; then a good request must still be answered correctly, and SIGTERM must
drain a request in flight and exit 0. The server listens on 127.0.0.1 only."""

import argparse
import concurrent.futures
import http.client
import json
import socket
import struct
import sys
import threading
import time

import grpc
import numpy as np
from tritonclient.grpc import service_pb2, service_pb2_grpc

from serve_harness import Checks, Server, cleanup, load_npy_set, make_repository

LIMIT = 1 << 20  # --max-request-bytes
# A model whose requests wait 3 s in a queue of 2: the third concurrent one is refused.
SLOW = ("max_batch_size: 64\ninstance_count: 1\nmax_queue_size: 2\n"
        "dynamic_batching:\n  max_queue_delay_us: 3000000\n")


def post(addr, path, body, headers=None, method="POST"):
    conn = http.client.HTTPConnection(*addr.rsplit(":", 1), timeout=30)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        r = conn.getresponse()
        return r.status, r.read()
    finally:
        conn.close()


def json_infer(x, name="x", datatype="FP32", shape=None, data=None):
    return json.dumps({"inputs": [{"name": name, "datatype": datatype, "shape": list(shape or x.shape),
                                   "data": data if data is not None else x.flatten().tolist()}]})


def error_text(body):
    try:
        return json.loads(body)["error"]
    except Exception:
        return repr(body[:200])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--switchyard", required=True)
    ap.add_argument("--source-dir", required=True)
    args = ap.parse_args()
    c = Checks()
    mlp = load_npy_set(args.source_dir, "mlp")
    x = mlp["inputs"]["x"]
    y_name, y = next(iter(mlp["outputs"].items()))
    tr = load_npy_set(args.source_dir, "transformer")
    repo = make_repository(args.source_dir, models=("mlp", "transformer"), extra={"slow": ("mlp", SLOW)})
    try:
        with Server(args.switchyard, repo, ["--max-request-bytes", str(LIMIT)]) as server:
            addr = server.http
            infer = "/v2/models/mlp/infer"

            def expect(status, body, code, text, what):
                msg = error_text(body)
                c.check(status == code and text in msg, "%s: HTTP %s %r (want %d with %r)" % (what, status, msg, code, text))

            # --- HTTP ---
            s, b = post(addr, infer, "{not json")
            expect(s, b, 400, "malformed JSON", "malformed JSON")
            s, b = post(addr, infer, "[1, 2, 3]")
            expect(s, b, 400, "JSON object", "JSON array body")
            s, b = post(addr, infer, "{}")
            expect(s, b, 400, "'inputs'", "no inputs")
            s, b = post(addr, "/v2/models/nope/infer", json_infer(x))
            expect(s, b, 404, "unknown model 'nope'", "unknown model")
            s, b = post(addr, "/v2/models/mlp/versions/7/infer", json_infer(x))
            expect(s, b, 404, "no version '7'", "unknown version")
            s, b = post(addr, "/v2/models/nope", None, method="GET")
            expect(s, b, 404, "unknown model 'nope'", "metadata of unknown model")
            s, b = post(addr, infer, json_infer(x.astype(np.int64), datatype="INT64"))
            expect(s, b, 400, "input 'x': expected FP32", "wrong dtype")
            bad_shape = list(x.shape[:-1]) + [x.shape[-1] + 1]
            s, b = post(addr, infer, json_infer(x, shape=bad_shape, data=[0.0] * int(np.prod(bad_shape))))
            expect(s, b, 400, "input 'x': expected FP32 [-1, %d], got shape" % x.shape[-1], "wrong shape")
            s, b = post(addr, infer, json_infer(x, name="z"))
            expect(s, b, 400, "unknown input 'z'", "unknown input name")
            s, b = post(addr, "/v2/models/transformer/infer", json_infer(tr["inputs"]["x"]))
            expect(s, b, 400, "missing input 'mask'", "missing input")
            s, b = post(addr, infer, json_infer(x, data=[1.0, 2.0]))
            expect(s, b, 400, "values", "too few values")
            s, b = post(addr, infer, json_infer(x, datatype="FP64"))
            expect(s, b, 400, "FP64", "unsupported datatype")
            s, b = post(addr, infer, json.dumps({"inputs": json.loads(json_infer(x))["inputs"],
                                                 "outputs": [{"name": "nope"}]}))
            expect(s, b, 400, "unknown output 'nope'", "unknown output")
            hdr = json.dumps({"inputs": [{"name": "x", "datatype": "FP32", "shape": list(x.shape),
                                          "parameters": {"binary_data_size": x.nbytes}}]}).encode()
            s, b = post(addr, infer, hdr + x.tobytes()[:-4], {"Inference-Header-Content-Length": str(len(hdr))})
            expect(s, b, 400, "binary_data_size", "binary data cut short")
            s, b = post(addr, infer, hdr + x.tobytes() + b"xx", {"Inference-Header-Content-Length": str(len(hdr))})
            expect(s, b, 400, "after the inputs", "extra binary data")
            s, b = post(addr, infer, hdr + x.tobytes(), {"Inference-Header-Content-Length": "99999999"})
            expect(s, b, 400, "Inference-Header-Content-Length", "header length beyond the body")
            s, b = post(addr, infer, hdr + x.tobytes(), {"Inference-Header-Content-Length": "ten"})
            expect(s, b, 400, "not a byte count", "non-numeric header length")
            # Oversized: refused from Content-Length, before the body is read (so send only its start).
            host, port = addr.rsplit(":", 1)
            with socket.create_connection((host, int(port)), timeout=10) as sock:
                sock.sendall(b"POST /v2/models/mlp/infer HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n{"
                             % (LIMIT + 10))
                reply = b""
                while b"}" not in reply:
                    chunk = sock.recv(4096)
                    if not chunk:
                        break
                    reply += chunk
            c.check(reply.startswith(b"HTTP/1.1 413") and b"larger than the server's limit" in reply,
                    "oversized body: %r" % reply[:300])
            s, b = post(addr, "/v2/nothing/here", None, method="GET")
            expect(s, b, 404, "no such endpoint", "unknown endpoint")
            s, b = post(addr, "/v2/health/live", b"{}")
            expect(s, b, 405, "not allowed", "wrong method")
            s, b = post(addr, "/v2/repository/models/..%2f..%2fetc/load", b"")
            c.check(s in (400, 404), "load with a path in the name refused (%d %s)" % (s, error_text(b)))
            s, b = post(addr, "/v2/repository/models/nope/load", b"")
            expect(s, b, 404, "not in the repository", "load of a model that is not there")
            # Not HTTP at all, on a raw socket.
            with socket.create_connection((host, int(port)), timeout=10) as sock:
                sock.sendall(b"\x16\x03\x01\x02\x00garbage that is not HTTP\r\n\r\n")
                reply = sock.recv(4096)
            c.check(reply.startswith(b"HTTP/1.1 400"), "garbage on the socket: %r" % reply[:40])
            # Expect: 100-continue (curl sends it for large bodies): the body is asked for, then answered.
            with socket.create_connection((host, int(port)), timeout=10) as sock:
                body = json_infer(x).encode()
                sock.sendall(b"POST /v2/models/mlp/infer HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
                             b"Content-Length: %d\r\n\r\n" % len(body))
                first = sock.recv(4096)
                sock.sendall(body)
                second = sock.recv(4096)
            c.check(first.startswith(b"HTTP/1.1 100 Continue") and second.startswith(b"HTTP/1.1 200"),
                    "Expect: 100-continue: %r then %r" % (first[:25], second[:15]))
            # A connection that stops half-way through its body is closed by the server, not left hanging on others.
            with socket.create_connection((host, int(port)), timeout=10) as sock:
                sock.sendall(b"POST /v2/models/mlp/infer HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"inp")

            # Bounded queue: 6 concurrent requests to `slow` (queue of 2, 3 s delay): some 503, the rest 200.
            one = json_infer(x[:1])
            with concurrent.futures.ThreadPoolExecutor(6) as pool:
                codes = list(pool.map(lambda _: post(addr, "/v2/models/slow/infer", one)[0], range(6)))
            c.check(codes.count(503) >= 1 and codes.count(200) >= 2 and set(codes) <= {200, 503},
                    "queue full answers 503 to the overflow, 200 to the rest: %s" % sorted(codes))

            # --- gRPC ---
            channel = grpc.insecure_channel(server.grpc, options=[("grpc.max_send_message_length", 64 << 20)])
            stub = service_pb2_grpc.GRPCInferenceServiceStub(channel)

            def grpc_request(model="mlp", datatype="FP32", shape=None, raw=None, n_raw=1):
                req = service_pb2.ModelInferRequest(model_name=model)
                t = req.inputs.add(name="x", datatype=datatype)
                t.shape.extend(shape or list(x.shape))
                for _ in range(n_raw):
                    req.raw_input_contents.append(raw if raw is not None else x.tobytes())
                return req

            def expect_grpc(req, code, text, what):
                try:
                    stub.ModelInfer(req, timeout=30)
                    c.check(False, what + ": succeeded")
                except grpc.RpcError as e:
                    c.check(e.code() == code and text in e.details(),
                            "%s: %s %r (want %s with %r)" % (what, e.code(), e.details(), code, text))

            expect_grpc(grpc_request(model="nope"), grpc.StatusCode.NOT_FOUND, "unknown model", "grpc unknown model")
            expect_grpc(grpc_request(datatype="INT32"), grpc.StatusCode.INVALID_ARGUMENT, "expected FP32",
                        "grpc wrong dtype")
            expect_grpc(grpc_request(shape=[x.shape[0], x.shape[1] + 1]), grpc.StatusCode.INVALID_ARGUMENT,
                        "needs", "grpc raw size does not match the shape")
            expect_grpc(grpc_request(n_raw=2), grpc.StatusCode.INVALID_ARGUMENT, "raw_input_contents",
                        "grpc raw count mismatch")
            expect_grpc(grpc_request(datatype="BYTES"), grpc.StatusCode.INVALID_ARGUMENT, "BYTES",
                        "grpc unsupported datatype")
            typed = service_pb2.ModelInferRequest(model_name="mlp")
            t = typed.inputs.add(name="x", datatype="FP32")
            t.shape.extend(list(x.shape))
            t.contents.fp32_contents.extend([1.0, 2.0])
            expect_grpc(typed, grpc.StatusCode.INVALID_ARGUMENT, "fp32_contents", "grpc typed contents too short")
            expect_grpc(grpc_request(shape=[1, 1 << 20], raw=b"\0" * (4 << 20)), grpc.StatusCode.RESOURCE_EXHAUSTED,
                        "", "grpc oversized message")
            raw_call = channel.unary_unary("/inference.GRPCInferenceService/ModelInfer",
                                           request_serializer=lambda b: b, response_deserializer=lambda b: b)
            try:
                raw_call(b"\xff\xff\xff\xff\x0f garbage", timeout=10)
                c.check(False, "grpc garbage protobuf: succeeded")
            except grpc.RpcError as e:
                c.check(e.code() != grpc.StatusCode.OK, "grpc garbage protobuf refused: %s %s" % (e.code(), e.details()))
            slow_req = grpc_request(model="slow", shape=[1, x.shape[1]], raw=x[:1].tobytes())

            def grpc_code(_):
                try:
                    stub.ModelInfer(slow_req, timeout=30)
                    return "OK"
                except grpc.RpcError as e:
                    return e.code().name

            with concurrent.futures.ThreadPoolExecutor(6) as pool:
                gcodes = list(pool.map(grpc_code, range(6)))
            c.check(gcodes.count("UNAVAILABLE") >= 1 and gcodes.count("OK") >= 2 and set(gcodes) <= {"OK", "UNAVAILABLE"},
                    "grpc queue full answers UNAVAILABLE: %s" % sorted(gcodes))

            # --- Still healthy: a good request on each transport ---
            s, b = post(addr, "/v2/models/mlp/infer", json_infer(x))
            ok = s == 200
            if ok:
                out = json.loads(b)["outputs"][0]
                ok = np.allclose(np.array(out["data"], dtype=np.float32).reshape(out["shape"]), y, rtol=1e-4, atol=1e-5)
            c.check(ok, "HTTP good request after the bad ones is answered correctly (%d)" % s)
            r = stub.ModelInfer(grpc_request(), timeout=30)
            got = np.frombuffer(r.raw_output_contents[0], dtype=np.float32).reshape(list(r.outputs[0].shape))
            c.check(np.allclose(got, y, rtol=1e-4, atol=1e-5), "gRPC good request after the bad ones is answered correctly")
            metrics = post(addr, "/metrics", None, method="GET")[1].decode()
            c.check('sy_inference_requests_failure_total{model="slow",version="1",reason="unavailable"}' in metrics,
                    "metrics count the refused requests")
            channel.close()

            # --- SIGTERM drains: a request waiting in `slow` (3 s) is answered, then exit 0 ---
            result = {}

            def late():
                result["status"], result["body"] = post(addr, "/v2/models/slow/infer", one)

            th = threading.Thread(target=late)
            th.start()
            time.sleep(1.0)  # the request is queued by then, even on a loaded machine
            t0 = time.time()
            code = server.stop()
            th.join(30)
            c.check(result.get("status") == 200, "in-flight request answered during the drain (%s)" % result.get("status"))
            c.check(code == 0, "exit code 0 after SIGTERM (got %s, %.1f s)" % (code, time.time() - t0))
    finally:
        cleanup(repo)
    return c.finish("serve_bad_input_test")


if __name__ == "__main__":
    sys.exit(main())
