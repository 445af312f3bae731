#!/usr/bin/env python3
"""Switchyard vs ONNX Runtime vs OpenVINO vs PyTorch on whole models, same inputs, same threads.

Models: the examples of examples/models (mlp, cnn, transformer, control_flow) at
every batch size asked for, and any ONNX model given as a path (a file, or a
folder searched for */model.onnx and *.onnx) -- e.g. the real-size set that
bench/make_bench_models.py writes to build/bench-models. Each runs four ways:

    switchyard   `switchyard bench MODEL --config <generated> --json` (backends from
                 --backends, default the CPU plugin with `threads: T`)
    onnxruntime  InferenceSession on the CPU execution provider, intra_op_num_threads=T,
                 inter_op_num_threads=1, sequential execution, all graph optimisations
    openvino     openvino.Core().compile_model on the CPU device with
                 INFERENCE_NUM_THREADS=T, NUM_STREAMS=1, PERFORMANCE_HINT=LATENCY
    pytorch      for the examples, the nn.Module from examples/make_models.py, rebuilt
                 with the seeds that script uses (checked against the shipped
                 output_*.npy); for a model path, the TorchScript `model.pt` beside it
                 when there is one (else no PyTorch column); torch.set_num_threads(T),
                 under torch.inference_mode()

Inputs of a model path: input_<name>.npy beside the model when present, else
random ones from the model's declared inputs (symbolic dims from --dim, default 1).

It first checks that the systems give the same outputs (max |diff| printed; the
reference is PyTorch, or ONNX Runtime where there is no PyTorch module), then
times them in rounds: each round runs a block of warm-up runs and then a block
of timed runs per system, in a rotating order, so that noise from the other
tenants of the machine lands on all of them. A system's latency is the median of
its per-round medians; the ratios Switchyard / ONNX Runtime, / OpenVINO and /
the better of the two are what to read (docs/benchmarks.md).

--noisy-neighbour adds a process that burns one core for the whole run (a
shared server); compare the ratios of two runs with and without it.

Run it through the wrapper, bench/compare_peers; see --help.
"""
import argparse
import contextlib
import io
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
VENV = HERE / ".venv"
# onnxruntime 1.20.1 has wheels for CPython 3.11 and works with Debian 12's
# NumPy 1.24 (torch 1.13 from Debian is built against NumPy 1.x: NumPy 2 must
# not be pulled into the venv, or importing torch breaks).
# openvino 2026.4.1 accepts NumPy 1.x; transformers is for bench/make_bench_models.py.
REQUIREMENTS = ["onnxruntime==1.20.1", "openvino==2026.4.1", "transformers==4.36.2", "numpy>=1.21.6,<2"]
IMPORTS = "import onnxruntime, openvino, numpy, torch, onnx, transformers"
MODELS = ["mlp", "cnn", "transformer", "control_flow"]
NOISY = 1.5  # a system's slowest round median over its fastest: above this the row is flagged


def die(msg):
    sys.exit(f"compare_peers: error: {msg}")


# ---------------------------------------------------------------- environment

def in_venv():
    return Path(sys.prefix).resolve() == VENV.resolve()


def ensure_venv():
    """Creates bench/.venv (with the system site packages, for Debian's torch) and
    installs onnxruntime into it when missing, then re-runs this script inside it."""
    py = VENV / "bin" / "python"
    if in_venv():
        try:
            import onnxruntime  # noqa: F401
            import openvino  # noqa: F401
            import transformers  # noqa: F401
            return
        except ImportError:  # a venv whose pip install did not finish: install below
            pass
    if not py.exists():
        base = "/usr/bin/python3" if Path("/usr/bin/python3").exists() else sys.executable
        probe = subprocess.run([base, "-c", "import torch, onnx"], capture_output=True)
        if probe.returncode != 0:
            die(f"{base} cannot import torch and onnx; install them from Debian:\n"
                "    apt-get install -y python3-torch python3-onnx")
        print(f"compare_peers: creating {VENV} (from {base}, --system-site-packages)", file=sys.stderr)
        subprocess.run([base, "-m", "venv", "--system-site-packages", str(VENV)], check=True)
    have = subprocess.run([str(py), "-c", IMPORTS], capture_output=True)
    if have.returncode != 0:
        print(f"compare_peers: pip install {' '.join(REQUIREMENTS)} into {VENV}", file=sys.stderr)
        subprocess.run([str(py), "-m", "pip", "install", "--disable-pip-version-check", "-q", *REQUIREMENTS],
                       check=True)
        have = subprocess.run([str(py), "-c", IMPORTS], capture_output=True, text=True)
        if have.returncode != 0:
            die(f"the venv still cannot {IMPORTS}:\n{have.stderr}")
    os.execv(str(py), [str(py), str(Path(__file__).resolve()), *sys.argv[1:]])


def fix_openblas_core():
    """Note [OpenBLAS on CPUs it does not know] (bench/cpu_kernels_bench.cpp): Debian's
    PyTorch and NumPy use OpenBLAS, whose 0.3.21 takes CPUs newer than itself for a
    Prescott (SSE3 kernels, a fifth of the speed). When OPENBLAS_CORETYPE is unset and
    that happens on a CPU with AVX2, re-run this script with the core type it can take.
    Returns the OpenBLAS core in use (None when OpenBLAS is not found)."""
    import ctypes
    import ctypes.util
    try:
        lib = ctypes.CDLL(ctypes.util.find_library("openblas") or "libopenblas.so.0")
        lib.openblas_get_corename.restype = ctypes.c_char_p
        core = lib.openblas_get_corename().decode()
    except (OSError, AttributeError):
        return None
    if os.environ.get("OPENBLAS_CORETYPE") or core != "Prescott":
        return core
    flags = set()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
                break
    better = "SkylakeX" if "avx512f" in flags else "Haswell" if "avx2" in flags else None
    if better is None:
        return core
    print(f"compare_peers: OpenBLAS took this CPU for a Prescott; running again with OPENBLAS_CORETYPE={better}",
          file=sys.stderr)
    os.environ["OPENBLAS_CORETYPE"] = better
    os.execv(sys.executable, [sys.executable, str(Path(__file__).resolve()), *sys.argv[1:]])


def set_openblas_threads(threads):
    """Debian's PyTorch multiplies matrices with OpenBLAS (openblas-pthread), whose own
    thread pool torch.set_num_threads does not touch: at --threads 1 its matmuls ran on
    every core (a 128x768x3072 product: 4.1 ms wall for 7.9 ms CPU; 7.9 ms on one
    thread), so the PyTorch column was not a T-thread peer. Sets OpenBLAS's threads to T
    in this process (the library torch loaded) and returns what OpenBLAS then reports
    (None when OpenBLAS is not found)."""
    import ctypes
    import ctypes.util
    try:
        lib = ctypes.CDLL(ctypes.util.find_library("openblas") or "libopenblas.so.0")
        lib.openblas_set_num_threads(ctypes.c_int(threads))
        lib.openblas_get_num_threads.restype = ctypes.c_int
        return int(lib.openblas_get_num_threads())
    except (OSError, AttributeError):
        return None


def cpu_model():
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def usable_cores():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


# ---------------------------------------------------------------- the PyTorch models

def rebuild_torch_models():
    """The models exactly as examples/make_models.py builds them: its main() runs
    with export() replaced by a recorder, so the construction order (and thus
    every seeded weight) is the script's own. Returns name -> dict(module,
    inputs, input_names, output_names, opset, dynamic_axes)."""
    import torch  # noqa: F401  (make_models imports it; fail here with a clear message)
    sys.path.insert(0, str(ROOT / "examples"))
    try:
        import make_models
    finally:
        sys.path.pop(0)
    recorded = {}

    def record(out_dir, name, model, inputs, input_names, output_names, opset, dynamic_axes=None):
        model.eval()
        recorded[name] = dict(module=model, inputs=inputs, input_names=input_names,
                              output_names=output_names, opset=opset, dynamic_axes=dynamic_axes or {})

    make_models.export = record
    argv = sys.argv
    with tempfile.TemporaryDirectory() as tmp:
        sys.argv = ["make_models.py", "--out", tmp]
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                make_models.main()
        finally:
            sys.argv = argv
    return recorded


# ---------------------------------------------------------------- one case

def shipped_inputs(model_dir, names):
    import numpy as np
    return {n: np.load(model_dir / f"input_{n}.npy") for n in names}


def make_inputs(shipped, batch, rng):
    """Inputs for `batch`: floats random normal (seeded), other dtypes (the
    transformer's padding mask) tiled from the shipped example along the batch."""
    import numpy as np
    out = {}
    for name, ref in shipped.items():
        shape = (batch,) + ref.shape[1:]
        if np.issubdtype(ref.dtype, np.floating):
            out[name] = rng.standard_normal(shape).astype(ref.dtype)
        else:
            reps = -(-batch // ref.shape[0])
            out[name] = np.ascontiguousarray(np.concatenate([ref] * reps, axis=0)[:batch])
    return out


def batch_fits(onnx_path, batch):
    """Whether every input of the ONNX model accepts `batch` as its first dim."""
    import onnxruntime as ort
    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    return all(not i.shape or not isinstance(i.shape[0], int) or i.shape[0] == batch for i in sess.get_inputs())


def export_for_batch(spec, inputs, path):
    """Re-exports the recorded module with inputs of another batch size, with the
    opset, names and dynamic axes make_models.py used."""
    import torch
    path.parent.mkdir(parents=True, exist_ok=True)
    targs = tuple(torch.from_numpy(inputs[n]) for n in spec["input_names"])
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        torch.onnx.export(spec["module"], targs, str(path), opset_version=spec["opset"],
                          input_names=spec["input_names"], output_names=spec["output_names"],
                          dynamic_axes=spec["dynamic_axes"])


def write_config(path, backends, threads, build_dir):
    """The device config for the Switchyard runs (docs/config.md): the listed
    backends in order, `threads: T` for the CPU plugin, reference fallback."""
    lines = ["# Generated by bench/compare_peers.", "backends:"]
    for b in backends:
        if b == "cpu":
            lines.append(f"  - name: cpu\n    options: {{threads: {threads}}}")
        else:
            lines.append(f"  - {b}")
    lines.append("fallback: reference")
    lines.append(f"plugin_paths: [\"{(build_dir / 'plugins').resolve()}\"]")
    path.write_text("\n".join(lines) + "\n")


class Switchyard:
    def __init__(self, exe, config, model, input_files, env):
        self.exe, self.config, self.model, self.env = exe, config, model, env
        self.input_args = [a for n, f in input_files.items() for a in ("--input", f"{n}={f}")]
        self.last = None
        self.warnings = []

    def _run(self, args):
        p = subprocess.run([str(self.exe), *args, str(self.model), "--config", str(self.config), *self.input_args],
                           capture_output=True, text=True, env=self.env)
        if p.returncode != 0:
            die(f"switchyard {args[0]} failed (exit {p.returncode}) on {self.model}:\n{p.stderr}{p.stdout}")
        for line in p.stderr.splitlines():  # compile fallbacks, plugins that did not load
            if "warning:" in line and line not in self.warnings:
                self.warnings.append(line)
        return p

    def outputs(self, out_dir, names):
        import numpy as np
        self._run(["run", "--output-dir", str(out_dir)])
        return [np.load(out_dir / f"{n}.npy") for n in names]

    def block(self, warmup, iterations):
        """One `switchyard bench` process: its median latency in ms."""
        p = self._run(["bench", "--warmup", str(warmup), "--iterations", str(iterations), "--json"])
        line = [l for l in p.stdout.splitlines() if l.startswith("{")][-1]
        self.last = json.loads(line)
        return self.last["latency_ms"]["median"]


def timed_block(fn, warmup, iterations):
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(iterations):
        t0 = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(samples)


def agreement(a, b):
    """max |a - b| over all outputs, and whether allclose(rtol=1e-3, atol=1e-4) holds."""
    import numpy as np
    worst, ok = 0.0, True
    for x, y in zip(a, b):
        if x.shape != y.shape:
            return float("inf"), False
        x64, y64 = x.astype(np.float64), y.astype(np.float64)
        if x.size:
            worst = max(worst, float(np.max(np.abs(x64 - y64))))
        ok = ok and bool(np.allclose(x64, y64, rtol=1e-3, atol=1e-4))
    return worst, ok


def ort_session(model_path, threads):
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(str(model_path), so, providers=["CPUExecutionProvider"])


def openvino_runner(model_path, threads, inputs, out_names):
    """OpenVINO on the CPU device, T inference threads, one stream, latency hint.
    Returns a callable giving the outputs in `out_names` order."""
    import openvino as ov
    core = ov.Core()
    compiled = core.compile_model(str(model_path), "CPU", {
        "INFERENCE_NUM_THREADS": threads, "NUM_STREAMS": 1, "PERFORMANCE_HINT": "LATENCY",
        # f32 like the other systems: newer CPUs would otherwise run bf16/f16 inside.
        "INFERENCE_PRECISION_HINT": "f32"})
    request = compiled.create_infer_request()
    feeds = {}
    for port in compiled.inputs:
        # A port can carry several tensor names (OpenVINO merges names when it
        # fuses): feed it by whichever of them is a model input.
        names = [n for n in port.get_names() if n in inputs]
        if not names:
            die(f"openvino: {model_path} wants an input named {sorted(port.get_names())}, "
                "which the case does not have")
        feeds[port] = inputs[names[0]]
    ports = []
    for n in out_names:
        match = [o for o in compiled.outputs if n in o.get_names()]
        ports.append(match[0] if match else None)

    def run():
        request.infer(feeds)
        return [request.get_tensor(p).data.copy() if p is not None else None for p in ports]
    return run


class Case:
    """One model at one batch size, ready to run: its ONNX file, inputs (also
    saved as .npy for switchyard), output names, and an optional PyTorch callable."""

    def __init__(self, label, batch, model_path, origin, inputs, out_names, torch_fn, work):
        import numpy as np
        self.label, self.batch, self.model_path, self.origin = label, batch, model_path, origin
        self.inputs, self.out_names, self.torch_fn = inputs, out_names, torch_fn
        self.dir = work / f"{label}_b{batch}"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.input_files = {}
        for n, a in inputs.items():
            self.input_files[n] = self.dir / f"input_{n}.npy"
            np.save(self.input_files[n], a)


def example_case(name, batch, spec, args, work):
    import numpy as np
    import torch
    shipped_dir = ROOT / "examples" / "models" / name
    shipped_model = shipped_dir / "model.onnx"
    rng = np.random.default_rng(args.seed)
    inputs = make_inputs(shipped_inputs(shipped_dir, spec["input_names"]), batch, rng)
    case_dir = work / f"{name}_b{batch}"
    if batch_fits(shipped_model, batch):
        model_path, origin = shipped_model, "shipped"
    else:
        model_path, origin = case_dir / "model.onnx", "re-exported"
        export_for_batch(spec, inputs, model_path)
    module = spec["module"]
    targs = tuple(torch.from_numpy(inputs[n]) for n in spec["input_names"])

    def torch_run():
        with torch.inference_mode():
            return module(*targs)
    sess = ort_session(model_path, 1)
    out_names = [o.name for o in sess.get_outputs()]
    return Case(name, batch, model_path, origin, inputs, out_names, torch_run, work)


ORT_TYPES = {"tensor(float)": "float32", "tensor(double)": "float64", "tensor(float16)": "float16",
             "tensor(int64)": "int64", "tensor(int32)": "int32", "tensor(int8)": "int8",
             "tensor(uint8)": "uint8", "tensor(bool)": "bool"}


def path_case(model_path, args, work):
    """A case for any ONNX file: inputs from input_<name>.npy beside it, else random;
    PyTorch from a TorchScript model.pt beside it, when there is one."""
    import numpy as np
    import torch
    sess = ort_session(model_path, 1)
    rng = np.random.default_rng(args.seed)
    inputs = {}
    for i in sess.get_inputs():
        f = model_path.parent / f"input_{i.name}.npy"
        if f.exists():
            inputs[i.name] = np.load(f)
            continue
        shape = []
        for d in i.shape:
            if isinstance(d, int) and d >= 0:
                shape.append(d)
            elif isinstance(d, str) and d in args.dim:
                shape.append(args.dim[d])
            else:
                shape.append(1)
        dt = ORT_TYPES.get(i.type)
        if dt is None:
            die(f"{model_path}: input '{i.name}' has type {i.type}, which this script cannot make up; "
                f"put an input_{i.name}.npy beside the model")
        if dt.startswith("float"):
            inputs[i.name] = rng.standard_normal(shape).astype(dt)
        elif dt == "bool":
            inputs[i.name] = np.ones(shape, dtype=bool)
        else:
            inputs[i.name] = rng.integers(0, 100, size=shape).astype(dt)
    out_names = [o.name for o in sess.get_outputs()]
    torch_fn = None
    pt = model_path.parent / "model.pt"
    if pt.exists() and model_path.name == "model.onnx":
        module = torch.jit.load(str(pt)).eval()
        targs = tuple(torch.from_numpy(inputs[i.name]) for i in sess.get_inputs())

        def torch_fn():
            with torch.inference_mode():
                return module(*targs)
    label = model_path.parent.name if model_path.name == "model.onnx" else model_path.stem
    batch = next(iter(inputs.values())).shape[0] if inputs and next(iter(inputs.values())).ndim else 1
    return Case(label, batch, model_path, "path", inputs, out_names, torch_fn, work)


def run_case(case, args, backends, sy_exe, config, env):
    sess = ort_session(case.model_path, args.threads)
    feeds = {i.name: case.inputs[i.name] for i in sess.get_inputs()}

    def ort_run():
        return sess.run(case.out_names, feeds)

    ov_run = openvino_runner(case.model_path, args.threads, case.inputs, case.out_names)
    sy = Switchyard(sy_exe, config, case.model_path, case.input_files, env)

    # Correctness first: the same outputs from every system, against PyTorch (or ONNX Runtime).
    as_list = lambda y: [t.numpy() for t in (y if isinstance(y, (tuple, list)) else (y,))]
    y_ort = ort_run()
    y_ref, ref_name = (as_list(case.torch_fn()), "pytorch") if case.torch_fn else (y_ort, "onnxruntime")
    y_sy = sy.outputs(case.dir, case.out_names)
    y_ov = ov_run()
    diffs, agree = {}, True
    for sysname, y in (("switchyard", y_sy), ("onnxruntime", y_ort), ("openvino", y_ov)):
        if sysname == ref_name:
            continue
        d, ok = agreement(y, y_ref)
        diffs[f"{sysname}_vs_{ref_name}"] = d
        agree = agree and ok

    # A backend that did not load is skipped by switchyard (everything then runs on
    # the reference fallback): refuse to time that as if it were the backend.
    sy.block(0, 1)
    missing = [b for b in backends if b not in sy.last.get("backends", [])]
    if missing:
        die(f"switchyard did not get backend(s) {', '.join(missing)} (it has {sy.last.get('backends')}):\n  "
            + "\n  ".join(sy.warnings or ["(no warning printed)"]))

    # Timing: rounds, a rotating order of the systems in each.
    per_round = max(1, -(-args.iterations // args.rounds))
    systems = {
        "switchyard": lambda: sy.block(args.warmup, per_round),
        "onnxruntime": lambda: timed_block(ort_run, args.warmup, per_round),
        "openvino": lambda: timed_block(ov_run, args.warmup, per_round),
    }
    if case.torch_fn:
        systems["pytorch"] = lambda: timed_block(case.torch_fn, args.warmup, per_round)
    order = list(systems)
    medians = {s: [] for s in systems}
    for r in range(args.rounds):
        k = r % len(order)
        for s in order[k:] + order[:k]:
            medians[s].append(systems[s]())
    result = {
        "model": case.label,
        "batch": case.batch,
        "onnx": str(case.model_path.relative_to(ROOT) if case.model_path.is_relative_to(ROOT) else case.model_path),
        "onnx_origin": case.origin,
        "inputs": {n: {"shape": list(a.shape), "dtype": str(a.dtype)} for n, a in case.inputs.items()},
        "runs_per_system": per_round * args.rounds,
        "switchyard_regions": sy.last.get("regions", {}),
        "switchyard_backends": sy.last.get("backends", []),
        "reference_outputs": ref_name,
        "max_abs_diff": diffs,
        "switchyard_warnings": sy.warnings,
        "outputs_agree": agree,
        "latency_ms": {},
    }
    for s, m in medians.items():
        result["latency_ms"][s] = {"median": statistics.median(m), "round_medians": m,
                                   "min_round": min(m), "max_round": max(m)}
    lat = {s: result["latency_ms"][s]["median"] for s in systems}
    result["ratio_switchyard_over_onnxruntime"] = lat["switchyard"] / lat["onnxruntime"]
    result["ratio_switchyard_over_openvino"] = lat["switchyard"] / lat["openvino"]
    result["ratio_switchyard_over_best_peer"] = lat["switchyard"] / min(lat["onnxruntime"], lat["openvino"])
    if "pytorch" in lat:
        result["ratio_switchyard_over_pytorch"] = lat["switchyard"] / lat["pytorch"]
    return result


# ---------------------------------------------------------------- report

def placement(regions):
    return ",".join(f"{b}:{n}" for b, n in sorted(regions.items())) or "-"


def geomean(xs):
    import math
    xs = [x for x in xs if x > 0]
    return math.exp(sum(math.log(x) for x in xs) / len(xs)) if xs else float("nan")


def print_table(results, backends):
    head = ["model", "batch", "switchyard ms", "onnxruntime ms", "openvino ms", "pytorch ms", "sy/ort", "sy/ov",
            "sy/best", "max|diff|", "noisy", f"regions ({'+'.join(backends)})"]
    short = {"switchyard": "sy", "onnxruntime": "ort", "openvino": "ov", "pytorch": "torch"}
    rows = []
    for r in results:
        l = r["latency_ms"]
        rows.append([r["model"], str(r["batch"]) + ("*" if r["onnx_origin"] == "re-exported" else ""),
                     f"{l['switchyard']['median']:.4f}", f"{l['onnxruntime']['median']:.4f}",
                     f"{l['openvino']['median']:.4f}",
                     f"{l['pytorch']['median']:.4f}" if "pytorch" in l else "-",
                     f"{r['ratio_switchyard_over_onnxruntime']:.2f}", f"{r['ratio_switchyard_over_openvino']:.2f}",
                     f"{r['ratio_switchyard_over_best_peer']:.2f}",
                     (f"{max(r['max_abs_diff'].values()):.1e}" if r["max_abs_diff"] else "-")
                     + ("" if r["outputs_agree"] else " MISMATCH"),
                     ",".join(short[k] for k, v in l.items() if v["max_round"] > NOISY * v["min_round"]) or "-",
                     placement(r["switchyard_regions"])])
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(head)]
    fmt = lambda cells: "  ".join(c.rjust(w) if i not in (0, 10, 11) else c.ljust(w)
                                  for i, (c, w) in enumerate(zip(cells, widths)))
    print(fmt(head))
    print(fmt(["-" * w for w in widths]))
    for row in rows:
        print(fmt(row))
    if len(results) > 1:
        print(f"geometric mean: sy/ort {geomean([r['ratio_switchyard_over_onnxruntime'] for r in results]):.2f}, "
              f"sy/ov {geomean([r['ratio_switchyard_over_openvino'] for r in results]):.2f}, "
              f"sy/best {geomean([r['ratio_switchyard_over_best_peer'] for r in results]):.2f}")
    for r in results:
        for w in r["switchyard_warnings"]:
            print(f"{r['model']} batch {r['batch']}: {w}")
    if any(v["max_round"] > NOISY * v["min_round"] for r in results for v in r["latency_ms"].values()):
        print(f"noisy: round medians of that system differ by more than {NOISY}x (load on the machine); "
              "the median of rounds hides a minority of bad rounds, not a majority")
    if any(r["onnx_origin"] == "re-exported" for r in results):
        print("* the shipped model has a fixed batch: re-exported from make_models.py's module for this batch")
    print("max|diff|: largest |output - reference| of the other systems; the reference is PyTorch where "
          "there is a module, else ONNX Runtime")


def model_paths(items):
    """ONNX files named on the command line; a folder stands for its */model.onnx and *.onnx."""
    out = []
    for item in items:
        p = Path(item)
        if p.is_dir():
            found = sorted(p.glob("*/model.onnx")) + sorted(p.glob("*.onnx"))
            if not found:
                die(f"{p}: no */model.onnx or *.onnx in this folder")
            out.extend(found)
        elif p.is_file():
            out.append(p)
        else:
            die(f"{p}: no such file or folder")
    return [x.resolve() for x in out]


class NoisyNeighbour:
    """A process that burns one core until stopped (a busy tenant of a shared server)."""

    def __enter__(self):
        self.proc = subprocess.Popen([sys.executable, "-c", "while True: pass"])
        return self

    def __exit__(self, *exc):
        self.proc.kill()
        self.proc.wait()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="Latency: median of per-round medians (single caller). See docs/benchmarks.md.")
    ap.add_argument("paths", nargs="*",
                    help="ONNX models to run besides (or, without --models, instead of) the examples: files, "
                         "or folders searched for */model.onnx and *.onnx (e.g. build/bench-models)")
    ap.add_argument("--build-dir", type=Path, default=ROOT / "build",
                    help="the Switchyard build folder with bin/switchyard and plugins/ (default: build)")
    ap.add_argument("--backends", default="cpu",
                    help="Switchyard backends in priority order, comma-separated (default: cpu); "
                         "'reference' tests the script without the CPU plugin")
    ap.add_argument("--threads", type=int, default=usable_cores(),
                    help="threads for every system (default: the usable cores, %(default)s here)")
    ap.add_argument("--iterations", "-n", type=int, default=100, help="timed runs per system and case (default 100)")
    ap.add_argument("--rounds", type=int, default=5, help="rounds the timed runs are split into (default 5)")
    ap.add_argument("--warmup", type=int, default=5, help="untimed runs before each round's block (default 5)")
    ap.add_argument("--batches", default="1,16", help="batch sizes of the examples, comma-separated (default 1,16)")
    ap.add_argument("--models", default=None,
                    help=f"examples to run (default {','.join(MODELS)} when no path is given, none otherwise)")
    ap.add_argument("--dim", action="append", default=[], metavar="SYM=N",
                    help="value of a symbolic input dim for random inputs of a model path (default 1)")
    ap.add_argument("--noisy-neighbour", action="store_true",
                    help="run a process burning one core for the whole measurement")
    ap.add_argument("--seed", type=int, default=0, help="seed of the random inputs (default 0)")
    ap.add_argument("--setup-only", action="store_true", help="create bench/.venv and exit")
    ap.add_argument("--json", type=Path, default=None,
                    help="write the results here (default: BUILD_DIR/reports/compare_peers.json)")
    args = ap.parse_args()
    if args.threads < 1 or args.iterations < 1 or args.rounds < 1 or args.warmup < 0:
        ap.error("--threads, --iterations and --rounds must be positive, --warmup non-negative")
    dims = {}
    for d in args.dim:
        k, _, v = d.partition("=")
        if not k or not v.isdigit():
            ap.error(f"--dim {d}: expected SYM=N")
        dims[k] = int(v)
    args.dim = dims
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    batches = [int(b) for b in args.batches.split(",")]
    if args.models is None:
        models = [] if args.paths else list(MODELS)
    else:
        models = [m.strip() for m in args.models.split(",") if m.strip()]
    for m in models:
        if m not in MODELS:
            ap.error(f"unknown model '{m}' (known: {', '.join(MODELS)})")
    paths = model_paths(args.paths)

    ensure_venv()
    if args.setup_only:
        print(f"compare_peers: {VENV} is ready")
        return 0
    openblas_core = fix_openblas_core()

    import numpy as np
    import onnxruntime as ort
    import openvino as ov
    import torch

    build_dir = args.build_dir if args.build_dir.is_absolute() else (Path.cwd() / args.build_dir)
    sy_exe = build_dir / "bin" / "switchyard"
    if not sy_exe.exists():
        die(f"{sy_exe} not found; build it: ninja -C {args.build_dir} switchyard")
    torch.set_num_threads(args.threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass
    openblas_threads = set_openblas_threads(args.threads)

    work = build_dir / "reports" / "compare_peers"
    work.mkdir(parents=True, exist_ok=True)
    config = work / "config.yaml"
    write_config(config, backends, args.threads, build_dir)
    env = dict(os.environ)
    env.pop("SWITCHYARD_BACKENDS", None)  # the generated config decides

    specs = rebuild_torch_models() if models else {}
    # The rebuilt modules must be the exported ones: compare with the shipped outputs.
    for name in models:
        spec = specs[name]
        d = ROOT / "examples" / "models" / name
        with torch.inference_mode():
            y = spec["module"](*(torch.from_numpy(np.load(d / f"input_{n}.npy")) for n in spec["input_names"]))
        y = y if isinstance(y, (tuple, list)) else (y,)
        for n, t in zip(spec["output_names"], y):
            diff = float(np.max(np.abs(t.numpy() - np.load(d / f"output_{n}.npy"))))
            if diff > 1e-4:
                die(f"{name}: the module rebuilt from make_models.py differs from the shipped "
                    f"output_{n}.npy by {diff:g}; regenerate examples/models or fix the rebuild")

    print(f"threads {args.threads}, {args.iterations} timed runs per system in {args.rounds} rounds "
          f"(+{args.warmup} warm-up runs per round); switchyard backends: {','.join(backends)}; "
          f"onnxruntime {ort.__version__}, openvino {ov.__version__}, torch {torch.__version__} "
          f"(OpenBLAS core {openblas_core}, {openblas_threads} OpenBLAS threads); {cpu_model()}"
          + ("; with a noisy neighbour burning one core" if args.noisy_neighbour else ""),
          flush=True)
    cases = []
    for name in models:
        for batch in batches:
            cases.append(lambda name=name, batch=batch: example_case(name, batch, specs[name], args, work))
    for p in paths:
        cases.append(lambda p=p: path_case(p, args, work))
    results = []
    with NoisyNeighbour() if args.noisy_neighbour else contextlib.nullcontext():
        for make in cases:
            case = make()
            print(f"  {case.label} batch {case.batch} ...", file=sys.stderr, flush=True)
            results.append(run_case(case, args, backends, sy_exe, config, env))
    print_table(results, backends)

    out = args.json or (work.parent / "compare_peers.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    report = {
        "tool": "bench/compare_peers",
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": {"cpu": cpu_model(), "usable_cores": usable_cores(), "python": platform.python_version()},
        "versions": {"onnxruntime": ort.__version__, "openvino": ov.__version__, "torch": torch.__version__,
                     "numpy": np.__version__, "openblas_core (pytorch)": openblas_core},
        "settings": {"threads": args.threads, "backends": backends, "iterations": args.iterations,
                     "rounds": args.rounds, "warmup_per_round": args.warmup, "seed": args.seed,
                     "noisy_neighbour": args.noisy_neighbour,
                     "build_dir": str(build_dir), "config": config.read_text(),
                     "latency": "median of per-round medians, single caller, ms"},
        "results": results,
    }
    if len(results) > 1:
        report["geomean"] = {k: geomean([r[f"ratio_switchyard_over_{k}"] for r in results])
                             for k in ("onnxruntime", "openvino", "best_peer")}
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {out}")
    if not all(r["outputs_agree"] for r in results):
        print("compare_peers: some outputs disagree (MISMATCH above): those timings compare different results",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
