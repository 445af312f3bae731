#!/usr/bin/env python3
"""Builds the small real models in examples/models/ with PyTorch and exports them to ONNX.

Each model goes to examples/models/<name>/:
    model.onnx            the exported model
    input_<name>.npy      one file per model input (the ONNX input name)
    output_<name>.npy     one file per model output, computed by PyTorch

The models:
    mlp           Linear -> ReLU -> Linear -> GELU -> Linear -> Softmax, dynamic batch (opset 13)
    cnn           conv stem, two pre-activation residual blocks with batch norm
                  (one downsampling), global average pool, linear head (opset 14)
    transformer   one encoder block: multi-head attention written out with
                  matmul/softmax and a boolean key-padding mask, layer norms,
                  a GELU feed-forward, residual connections (opset 17)
    control_flow  torch.jit.script with data-dependent control flow: a for
                  loop whose body has an `if` on the data, and a `while` loop
                  whose condition depends on the data (ONNX Loop and If, opset 16)

Needs PyTorch and ONNX from Debian:  apt-get install -y python3-torch python3-onnx
Everything is seeded; run it again only when a model changes (the outputs are
committed). Usage:  python3 examples/make_models.py [--out DIR]
Then check them:    build/bin/switchyard run examples/models/mlp/model.onnx \
                        --input x=examples/models/mlp/input_x.npy \
                        --expect y=examples/models/mlp/output_y.npy
"""
import argparse
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _import_or_explain():
    try:
        import numpy  # noqa: F401
        import onnx  # noqa: F401
        import torch  # noqa: F401
        return
    except ImportError as e:
        missing = e.name
    # Debian's packages live in the system interpreter; a pyenv/venv python on
    # PATH does not see them. Re-run under /usr/bin/python3 once if that helps.
    system = "/usr/bin/python3"
    if os.path.exists(system) and os.path.realpath(sys.executable) != os.path.realpath(system) \
            and not os.environ.get("SY_MAKE_MODELS_REEXEC"):
        os.environ["SY_MAKE_MODELS_REEXEC"] = "1"
        os.execv(system, [system, __file__] + sys.argv[1:])
    sys.exit(f"make_models.py: error: Python module '{missing}' is missing.\n"
             "Install PyTorch and ONNX from Debian:  apt-get install -y python3-torch python3-onnx\n"
             "and run this script with the system interpreter (/usr/bin/python3).")


_import_or_explain()

import numpy as np  # noqa: E402
import onnx  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402


# ---------------------------------------------------------------- models

class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(16, 32)
        self.fc2 = nn.Linear(32, 32)
        self.fc3 = nn.Linear(32, 10)

    def forward(self, x):
        h = F.relu(self.fc1(x))
        h = F.gelu(self.fc2(h))
        return torch.softmax(self.fc3(h), dim=-1)


class PreActBlock(nn.Module):
    """BN -> ReLU -> Conv -> BN -> ReLU -> Conv, plus a skip (1x1 conv when the shape changes)."""

    def __init__(self, cin, cout, stride):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(cin)
        self.conv1 = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.skip = None if stride == 1 and cin == cout else nn.Conv2d(cin, cout, 1, stride=stride, bias=False)

    def forward(self, x):
        h = F.relu(self.bn1(x))
        skip = x if self.skip is None else self.skip(h)
        h = self.conv1(h)
        h = self.conv2(F.relu(self.bn2(h)))
        return h + skip


class SmallCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.block1 = PreActBlock(8, 8, 1)
        self.block2 = PreActBlock(8, 16, 2)
        self.bn = nn.BatchNorm2d(16)
        self.head = nn.Linear(16, 10)

    def forward(self, x):
        h = self.stem(x)
        h = self.block2(self.block1(h))
        h = F.relu(self.bn(h))
        h = F.adaptive_avg_pool2d(h, 1).flatten(1)
        return self.head(h)


class EncoderBlock(nn.Module):
    def __init__(self, d_model=32, heads=4, ffn=64):
        super().__init__()
        self.heads, self.dh = heads, d_model // heads
        self.q = nn.Linear(d_model, d_model)
        self.k = nn.Linear(d_model, d_model)
        self.v = nn.Linear(d_model, d_model)
        self.o = nn.Linear(d_model, d_model)
        self.ln1 = nn.LayerNorm(d_model)
        self.ln2 = nn.LayerNorm(d_model)
        self.ff1 = nn.Linear(d_model, ffn)
        self.ff2 = nn.Linear(ffn, d_model)

    def split(self, t):
        b, s, _ = t.shape
        return t.reshape(b, s, self.heads, self.dh).transpose(1, 2)  # [B, H, S, Dh]

    def forward(self, x, mask):
        # x: [B, S, D]; mask: [B, S] bool, True = attend to this key.
        b, s, d = x.shape
        q, k, v = self.split(self.q(x)), self.split(self.k(x)), self.split(self.v(x))
        scores = torch.matmul(q, k.transpose(-2, -1)) / (self.dh ** 0.5)
        scores = scores.masked_fill(~mask[:, None, None, :], -1e4)
        attn = torch.softmax(scores, dim=-1)
        ctx = torch.matmul(attn, v).transpose(1, 2).reshape(b, s, d)
        h = self.ln1(x + self.o(ctx))
        return self.ln2(h + self.ff2(F.gelu(self.ff1(h))))


class ControlFlow(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(8, 8)

    def forward(self, x):
        h = x
        for _ in range(3):
            h = torch.tanh(self.lin(h))
            if h.sum() > 0:
                h = h * 0.5 + 1.0
            else:
                h = h - 1.0
        # Halve until small enough (or 10 times): the trip count depends on the data.
        i = 0
        while bool(h.abs().max() > 0.1) and i < 10:
            h = h * 0.5
            i += 1
        return h


# ---------------------------------------------------------------- export

def randomize_batch_norm(model, gen):
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            with torch.no_grad():
                m.running_mean.copy_(torch.randn(m.num_features, generator=gen) * 0.1)
                m.running_var.copy_(torch.rand(m.num_features, generator=gen) * 0.5 + 0.75)
                m.weight.copy_(torch.rand(m.num_features, generator=gen) * 0.5 + 0.75)
                m.bias.copy_(torch.randn(m.num_features, generator=gen) * 0.1)


def export(out_dir, name, model, inputs, input_names, output_names, opset, dynamic_axes=None):
    d = out_dir / name
    d.mkdir(parents=True, exist_ok=True)
    model.eval()
    with torch.no_grad():
        outputs = model(*inputs)
    if isinstance(outputs, torch.Tensor):
        outputs = (outputs,)
    torch.onnx.export(model, tuple(inputs), str(d / "model.onnx"), opset_version=opset,
                      input_names=input_names, output_names=output_names,
                      dynamic_axes=dynamic_axes or {})
    onnx.checker.check_model(onnx.load(str(d / "model.onnx")))
    for n, t in zip(input_names, inputs):
        np.save(d / f"input_{n}.npy", t.numpy())
    for n, t in zip(output_names, outputs):
        np.save(d / f"output_{n}.npy", t.numpy())
    ops = sorted({node.op_type for node in onnx.load(str(d / "model.onnx")).graph.node})
    size = sum(f.stat().st_size for f in d.iterdir())
    print(f"{name:13s} opset {opset}  {size / 1024:7.1f} KiB  ops: {' '.join(ops)}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=HERE / "models", help="output folder (default: examples/models)")
    args = ap.parse_args()

    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(1)

    export(args.out, "mlp", MLP(), [torch.randn(4, 16, generator=gen)], ["x"], ["y"], 13,
           dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}})

    cnn = SmallCNN()
    randomize_batch_norm(cnn, gen)
    export(args.out, "cnn", cnn, [torch.randn(2, 3, 16, 16, generator=gen)], ["x"], ["y"], 14)

    x = torch.randn(2, 8, 32, generator=gen)
    mask = torch.ones(2, 8, dtype=torch.bool)
    mask[1, 5:] = False  # the second sequence is padded after 5 tokens
    export(args.out, "transformer", EncoderBlock(), [x, mask], ["x", "mask"], ["y"], 17)

    cf = torch.jit.script(ControlFlow().eval())
    xin = torch.randn(2, 8, generator=gen)
    export(args.out, "control_flow", cf, [xin], ["x"], ["y"], 16)

    total = sum(f.stat().st_size for f in args.out.rglob("*") if f.is_file())
    print(f"total {total / 1024:.1f} KiB in {args.out}")


if __name__ == "__main__":
    main()
