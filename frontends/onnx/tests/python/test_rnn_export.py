"""torch.nn.LSTM and torch.nn.GRU (2 layers, bidirectional), exported to ONNX by
Debian's PyTorch, import and match PyTorch on the reference interpreter and the
cpu plugin (`switchyard run --expect`). Run by /usr/bin/python3 from ctest
(onnx_rnn_export); exits with 77 (skipped) and a printed reason when torch or
onnx cannot be imported. The models are generated here, in SY_TEST_TMP."""
import os
import subprocess
import sys
import tempfile
import unittest

try:
    import numpy as np
    import torch
except ImportError as e:  # pragma: no cover - depends on the machine
    print(f"SKIP: {sys.executable} cannot import torch/numpy ({e}); install Debian's python3-torch")
    sys.exit(77)

SWITCHYARD = os.environ.get("SY_SWITCHYARD", "")
PLUGIN_DIR = os.environ.get("SY_PLUGIN_DIR", "")
RTOL, ATOL = 1e-4, 2e-5


def scratch():
    d = os.path.join(os.environ.get("SY_TEST_TMP") or tempfile.gettempdir(), "onnx_rnn_export")
    os.makedirs(d, exist_ok=True)
    return d


def backends():
    out = ["reference"]
    if PLUGIN_DIR and os.path.exists(os.path.join(PLUGIN_DIR, "libsy_plugin_cpu.so")):
        out.append("cpu")
    return out


class Net(torch.nn.Module):
    def __init__(self, kind, batch_first):
        super().__init__()
        cls = torch.nn.LSTM if kind == "lstm" else torch.nn.GRU
        self.kind = kind
        self.rnn = cls(input_size=5, hidden_size=7, num_layers=2, bidirectional=True, batch_first=batch_first)

    def forward(self, x, h0, *c0):
        if self.kind == "lstm":
            y, (h, c) = self.rnn(x, (h0, c0[0]))
            return y, h, c
        y, h = self.rnn(x, h0)
        return y, h


class RnnExportTest(unittest.TestCase):
    def check(self, kind, batch_first):
        torch.manual_seed(0)
        net = Net(kind, batch_first).eval()
        seq, batch = 6, 3
        x = torch.randn((batch, seq, 5) if batch_first else (seq, batch, 5))
        h0 = torch.randn(4, batch, 7)  # layers * directions
        args = (x, h0) + ((torch.randn(4, batch, 7),) if kind == "lstm" else ())
        names_in = ["x", "h0"] + (["c0"] if kind == "lstm" else [])
        names_out = ["y", "h"] + (["c"] if kind == "lstm" else [])
        with torch.no_grad():
            want = net(*args)
        folder = scratch()
        stem = f"{kind}_{'batch_first' if batch_first else 'seq_first'}"
        path = os.path.join(folder, stem + ".onnx")
        torch.onnx.export(net, args, path, input_names=names_in, output_names=names_out, opset_version=14)
        # The export really uses the ONNX recurrent op (not an unrolled loop).
        with open(path, "rb") as f:
            self.assertIn(kind.upper().encode(), f.read())
        cmd_base = [SWITCHYARD, "run", path, "--rtol", str(RTOL), "--atol", str(ATOL)]
        for name, t in zip(names_in, args):
            p = os.path.join(folder, f"{stem}_in_{name}.npy")
            np.save(p, t.numpy())
            cmd_base += ["--input", f"{name}={p}"]
        for name, t in zip(names_out, want):
            p = os.path.join(folder, f"{stem}_expected_{name}.npy")
            np.save(p, t.numpy())
            cmd_base += ["--expect", f"{name}={p}"]
        env = dict(os.environ)
        if PLUGIN_DIR:
            env["SWITCHYARD_PLUGIN_PATH"] = PLUGIN_DIR
        for backend in backends():
            with self.subTest(backend=backend):
                r = subprocess.run(cmd_base + ["--backends", backend], capture_output=True, text=True, env=env,
                                   timeout=300)
                if r.returncode != 0:
                    self.fail(f"{' '.join(cmd_base)} --backends {backend}\nexit {r.returncode}\n{r.stdout}\n{r.stderr}")

    def test_lstm(self):
        self.check("lstm", False)

    def test_lstm_batch_first(self):
        self.check("lstm", True)

    def test_gru(self):
        self.check("gru", False)

    def test_gru_batch_first(self):
        self.check("gru", True)


if __name__ == "__main__":
    if not SWITCHYARD or not os.path.exists(SWITCHYARD):
        print(f"SY_SWITCHYARD={SWITCHYARD!r} is not a switchyard binary")
        sys.exit(1)
    if len(backends()) == 1:
        print(f"note: no cpu plugin in SY_PLUGIN_DIR={PLUGIN_DIR!r}; only the reference interpreter is checked")
    unittest.main(verbosity=2)
