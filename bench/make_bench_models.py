#!/usr/bin/env python3
"""Builds the real-size benchmark model set (random weights) for bench/compare_peers.

Each model goes to OUT/<name>/ (default build/bench-models/<name>/):
    model.onnx          exported with torch.onnx.export (opset 17, batch 1, static shapes)
    model.pt            the same module traced with torch.jit.trace (compare_peers' PyTorch peer)
    input_<name>.npy    one file per model input
    output_<name>.npy   PyTorch's outputs for those inputs

The set (docs/benchmarks.md), at the sizes these architectures are used at:
    resnet18, resnet50, mobilenet_v3_large, efficientnet_b0   torchvision, 1x3x224x224
    bert_base_t128, bert_base_t512      Hugging Face BertModel (BertConfig(): 12 layers, d=768,
                                        12 heads), input_ids + attention_mask, T = 128 / 512
    gpt2_small_t128                     Hugging Face GPT2Model (GPT2Config(): 12 layers, d=768),
                                        input_ids, T = 128, no KV cache

Nothing is downloaded: torchvision builds its models with weights=None and the
Hugging Face models are built from their config objects. Weights are random
(seeded); the files are large (BERT-base is 440 MB) and are never committed.

PyTorch and torchvision come from Debian (python3-torch 1.13, python3-torchvision);
transformers==4.36.2 from PyPI, in bench/.venv (made with --system-site-packages).
Run it through that venv, which compare_peers creates:
    bench/compare_peers --setup-only && bench/.venv/bin/python bench/make_bench_models.py
or simply `bench/make_bench_models.py`, which finds the venv itself.
"""
import argparse
import contextlib
import io
import os
import sys
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

IMAGE_MODELS = ["resnet18", "resnet50", "mobilenet_v3_large", "efficientnet_b0"]
TEXT_MODELS = {"bert_base_t128": ("bert", 128), "bert_base_t512": ("bert", 512), "gpt2_small_t128": ("gpt2", 128)}
ALL = IMAGE_MODELS + list(TEXT_MODELS)


def die(msg):
    sys.exit(f"make_bench_models: error: {msg}")


def image_model(name):
    import torchvision
    ctor = getattr(torchvision.models, name)
    return ctor(weights=None), ["x"], ["y"]


def text_model(kind):
    import torch
    from torch import nn
    try:
        import transformers
    except ImportError:
        die("transformers is missing: run this script with bench/.venv/bin/python "
            "(bench/compare_peers --setup-only creates it)")
    if kind == "bert":
        inner = transformers.BertModel(transformers.BertConfig())
        names = ["input_ids", "attention_mask"]
    else:
        inner = transformers.GPT2Model(transformers.GPT2Config(use_cache=False))
        names = ["input_ids"]

    class LastHidden(nn.Module):
        """Returns the last hidden state alone, so that trace and ONNX export see
        one tensor rather than a ModelOutput."""

        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, *args):
            return self.m(*args, return_dict=False)[0]

    vocab = inner.config.vocab_size
    return LastHidden(inner), names, ["hidden"], vocab


def build(name, out_dir, opset):
    import numpy as np
    import torch
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    if name in IMAGE_MODELS:
        module, in_names, out_names = image_model(name)
        inputs = {"x": rng.standard_normal((1, 3, 224, 224)).astype(np.float32)}
    else:
        kind, t = TEXT_MODELS[name]
        module, in_names, out_names, vocab = text_model(kind)
        inputs = {"input_ids": rng.integers(0, vocab, size=(1, t), dtype=np.int64)}
        if "attention_mask" in in_names:
            mask = np.ones((1, t), dtype=np.int64)
            mask[:, t - t // 8:] = 0  # the last eighth is padding, as in a real batch
            inputs["attention_mask"] = mask
    module.eval()
    targs = tuple(torch.from_numpy(inputs[n]) for n in in_names)
    d = out_dir / name
    d.mkdir(parents=True, exist_ok=True)
    with torch.inference_mode():
        y = module(*targs)
    ys = y if isinstance(y, (tuple, list)) else (y,)
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        torch.onnx.export(module, targs, str(d / "model.onnx"), opset_version=opset,
                          input_names=in_names, output_names=out_names, do_constant_folding=True)
        with torch.no_grad():
            traced = torch.jit.trace(module, targs, check_trace=False)
        traced.save(str(d / "model.pt"))
    for n, a in inputs.items():
        np.save(d / f"input_{n}.npy", a)
    for n, t in zip(out_names, ys):
        np.save(d / f"output_{n}.npy", t.numpy())
    size = (d / "model.onnx").stat().st_size
    print(f"{name}: {d / 'model.onnx'} ({size / 1e6:.0f} MB), inputs "
          + ", ".join(f"{n}{list(a.shape)}" for n, a in inputs.items()), flush=True)


def reexec_in_venv():
    """Runs again inside bench/.venv (which has transformers) when this interpreter lacks it."""
    try:
        import transformers  # noqa: F401
        import torch  # noqa: F401
        return
    except ImportError:
        pass
    py = HERE / ".venv" / "bin" / "python"
    if not py.exists():
        die(f"{py} does not exist: create it with `bench/compare_peers --setup-only`")
    if Path(sys.prefix).resolve() == (HERE / ".venv").resolve():
        die("bench/.venv cannot import transformers and torch: run `bench/compare_peers --setup-only` again")
    os.execv(str(py), [str(py), str(Path(__file__).resolve()), *sys.argv[1:]])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=ROOT / "build" / "bench-models",
                    help="output folder (default build/bench-models)")
    ap.add_argument("--models", default=",".join(ALL), help=f"comma-separated subset of: {', '.join(ALL)}")
    ap.add_argument("--opset", type=int, default=17, help="ONNX opset (default 17, the newest PyTorch 1.13 writes)")
    ap.add_argument("--force", action="store_true", help="rebuild models that already exist")
    args = ap.parse_args()
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    for m in models:
        if m not in ALL:
            ap.error(f"unknown model '{m}' (known: {', '.join(ALL)})")
    reexec_in_venv()
    for m in models:
        if not args.force and (args.out / m / "model.onnx").exists() and (args.out / m / "model.pt").exists():
            print(f"{m}: exists (use --force to rebuild)")
            continue
        build(m, args.out, args.opset)
    return 0


if __name__ == "__main__":
    sys.exit(main())
