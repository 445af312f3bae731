"""Starts `switchyard serve` on 127.0.0.1 (ports picked by the OS) for a test,
and always stops it. Shared by serve_client_test.py, serve_bad_input_test.py
and bench/serve_load.py."""

import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

EXAMPLE_MODELS = ("mlp", "cnn", "transformer", "control_flow")


def make_repository(source_dir, models=EXAMPLE_MODELS, extra=None):
    """A model repository in a temp dir: <name>/1/model.onnx links to
    examples/models/<name>/model.onnx. `extra` maps a new model name to
    (example model, config.yaml text)."""
    root = tempfile.mkdtemp(prefix="sy-serve-repo-")
    entries = {m: (m, None) for m in models}
    entries.update(extra or {})
    for name, (example, config) in entries.items():
        os.makedirs(os.path.join(root, name, "1"))
        os.symlink(os.path.join(source_dir, "examples", "models", example, "model.onnx"),
                   os.path.join(root, name, "1", "model.onnx"))
        if config is not None:
            with open(os.path.join(root, name, "config.yaml"), "w") as f:
                f.write(config)
    return root


class Server:
    """`with Server(binary, repo, extra_args) as s:` gives s.http ("127.0.0.1:port") and s.grpc."""

    def __init__(self, binary, repository, extra_args=(), timeout=90):
        self.cmd = [binary, "serve", "--model-repository", repository, "--host", "127.0.0.1",
                    "--http-port", "0", "--grpc-port", "0", *extra_args]
        self.timeout = timeout
        self.proc = None
        self.lines = queue.Queue()
        self.output = []
        self.http = self.grpc = None

    def __enter__(self):
        self.proc = subprocess.Popen(self.cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        threading.Thread(target=self._pump, daemon=True).start()
        deadline = time.time() + self.timeout
        while time.time() < deadline:
            try:
                line = self.lines.get(timeout=0.5)
            except queue.Empty:
                if self.proc.poll() is not None:
                    break
                continue
            m = re.search(r"(HTTP|gRPC) listening on (\S+)", line)
            if m:
                if m.group(1) == "HTTP":
                    self.http = m.group(2)
                else:
                    self.grpc = m.group(2)
            if "switchyard serve: ready" in line:
                return self
        self.stop()
        raise RuntimeError("switchyard serve did not start:\n" + "".join(self.output))

    def _pump(self):
        for line in self.proc.stdout:
            self.output.append(line)
            self.lines.put(line)

    def stop(self, timeout=60):
        """SIGTERM, then wait; returns the exit code (kills after `timeout`)."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise RuntimeError("switchyard serve did not exit within %d s of SIGTERM" % timeout)

    def __exit__(self, *exc):
        try:
            self.stop()
        finally:
            if self.proc and self.proc.poll() is None:
                self.proc.kill()


def load_npy_set(source_dir, model):
    """{'inputs': {name: array}, 'outputs': {name: array}} from examples/models/<model>."""
    import numpy as np
    d = os.path.join(source_dir, "examples", "models", model)
    out = {"inputs": {}, "outputs": {}}
    for f in sorted(os.listdir(d)):
        m = re.match(r"(input|output)_(.+)\.npy$", f)
        if m:
            out[m.group(1) + "s"][m.group(2)] = np.load(os.path.join(d, f))
    return out


class Checks:
    """Counts checks; prints each failure; exit code at the end."""

    def __init__(self):
        self.passed = 0
        self.failed = []

    def check(self, cond, what):
        if cond:
            self.passed += 1
            if os.environ.get("SY_SERVE_VERBOSE"):
                print("ok:", what, flush=True)
        else:
            self.failed.append(what)
            print("FAIL:", what, flush=True)

    def finish(self, name):
        print("%s: %d checks passed, %d failed" % (name, self.passed, len(self.failed)), flush=True)
        return 1 if self.failed else 0


def cleanup(path):
    shutil.rmtree(path, ignore_errors=True)
