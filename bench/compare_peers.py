#!/usr/bin/env python3
"""Switchyard vs ONNX Runtime vs PyTorch on the example models, same inputs, same threads.

For every model of examples/models (mlp, cnn, transformer, control_flow) and every
batch size asked for, this runs the same computation three ways:

    switchyard   `switchyard bench MODEL --config <generated> --json` (backends from
                 --backends, default the CPU plugin with `threads: T`)
    onnxruntime  InferenceSession on the CPU execution provider, intra_op_num_threads=T,
                 inter_op_num_threads=1, sequential execution, all graph optimisations
    pytorch      the nn.Module from examples/make_models.py, rebuilt with the seeds
                 that script uses (checked against the shipped output_*.npy), with
                 torch.set_num_threads(T), under torch.inference_mode()

It first checks that the three give the same outputs (max |diff| printed), then
times them in rounds: each round runs a block of warm-up runs and then a block of
timed runs per system, the three in a rotating order, so that noise from the other
tenants of the machine lands on all three. A system's latency is the median of its
per-round medians; the ratio Switchyard / ONNX Runtime is what to read (docs/benchmarks.md).

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
REQUIREMENTS = ["onnxruntime==1.20.1", "numpy>=1.21.6,<2"]
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
    have = subprocess.run([str(py), "-c", "import onnxruntime, numpy, torch, onnx"], capture_output=True)
    if have.returncode != 0:
        print(f"compare_peers: pip install {' '.join(REQUIREMENTS)} into {VENV}", file=sys.stderr)
        subprocess.run([str(py), "-m", "pip", "install", "--disable-pip-version-check", "-q", *REQUIREMENTS],
                       check=True)
        have = subprocess.run([str(py), "-c", "import onnxruntime, numpy, torch, onnx"],
                              capture_output=True, text=True)
        if have.returncode != 0:
            die(f"the venv still cannot import onnxruntime, numpy, torch and onnx:\n{have.stderr}")
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


def run_case(name, batch, spec, args, backends, work, sy_exe, config, env):
    import numpy as np
    import onnxruntime as ort
    import torch

    shipped_dir = ROOT / "examples" / "models" / name
    shipped_model = shipped_dir / "model.onnx"
    case_dir = work / f"{name}_b{batch}"
    case_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(args.seed)
    inputs = make_inputs(shipped_inputs(shipped_dir, spec["input_names"]), batch, rng)
    if batch_fits(shipped_model, batch):
        model_path, model_origin = shipped_model, "shipped"
    else:
        model_path, model_origin = case_dir / "model.onnx", "re-exported"
        export_for_batch(spec, inputs, model_path)
    input_files = {}
    for n, a in inputs.items():
        input_files[n] = case_dir / f"input_{n}.npy"
        np.save(input_files[n], a)

    # ONNX Runtime.
    so = ort.SessionOptions()
    so.intra_op_num_threads = args.threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    sess = ort.InferenceSession(str(model_path), so, providers=["CPUExecutionProvider"])
    feeds = {i.name: inputs[i.name] for i in sess.get_inputs()}
    out_names = [o.name for o in sess.get_outputs()]

    # PyTorch.
    module = spec["module"]
    targs = tuple(torch.from_numpy(inputs[n]) for n in spec["input_names"])

    def torch_run():
        with torch.inference_mode():
            return module(*targs)

    def ort_run():
        return sess.run(out_names, feeds)

    sy = Switchyard(sy_exe, config, model_path, input_files, env)

    # Correctness first: the same outputs from all three.
    y_torch = torch_run()
    y_torch = [t.numpy() for t in (y_torch if isinstance(y_torch, (tuple, list)) else (y_torch,))]
    y_ort = ort_run()
    y_sy = sy.outputs(case_dir, out_names)
    diff_sy, ok_sy = agreement(y_sy, y_torch)
    diff_ort, ok_ort = agreement(y_ort, y_torch)

    # A backend that did not load is skipped by switchyard (everything then runs on
    # the reference fallback): refuse to time that as if it were the backend.
    sy.block(0, 1)
    missing = [b for b in backends if b not in sy.last.get("backends", [])]
    if missing:
        die(f"switchyard did not get backend(s) {', '.join(missing)} (it has {sy.last.get('backends')}):\n  "
            + "\n  ".join(sy.warnings or ["(no warning printed)"]))

    # Timing: rounds, a rotating order of the three systems in each.
    per_round = max(1, -(-args.iterations // args.rounds))
    systems = {
        "switchyard": lambda: sy.block(args.warmup, per_round),
        "onnxruntime": lambda: timed_block(ort_run, args.warmup, per_round),
        "pytorch": lambda: timed_block(torch_run, args.warmup, per_round),
    }
    order = list(systems)
    medians = {s: [] for s in systems}
    for r in range(args.rounds):
        for s in order[r % 3:] + order[:r % 3]:
            medians[s].append(systems[s]())
    result = {
        "model": name,
        "batch": batch,
        "onnx": str(model_path.relative_to(ROOT) if model_path.is_relative_to(ROOT) else model_path),
        "onnx_origin": model_origin,
        "inputs": {n: {"shape": list(a.shape), "dtype": str(a.dtype)} for n, a in inputs.items()},
        "runs_per_system": per_round * args.rounds,
        "switchyard_regions": sy.last.get("regions", {}),
        "switchyard_backends": sy.last.get("backends", []),
        "max_abs_diff": {"switchyard_vs_pytorch": diff_sy, "onnxruntime_vs_pytorch": diff_ort},
        "switchyard_warnings": sy.warnings,
        "outputs_agree": ok_sy and ok_ort,
        "latency_ms": {},
    }
    for s, m in medians.items():
        result["latency_ms"][s] = {"median": statistics.median(m), "round_medians": m,
                                   "min_round": min(m), "max_round": max(m)}
    lat = {s: result["latency_ms"][s]["median"] for s in systems}
    result["ratio_switchyard_over_onnxruntime"] = lat["switchyard"] / lat["onnxruntime"]
    result["ratio_switchyard_over_pytorch"] = lat["switchyard"] / lat["pytorch"]
    return result


# ---------------------------------------------------------------- report

def placement(regions):
    return ",".join(f"{b}:{n}" for b, n in sorted(regions.items())) or "-"


def print_table(results, backends):
    head = ["model", "batch", "switchyard ms", "onnxruntime ms", "pytorch ms", "sy/ort", "sy/torch",
            "|sy-torch|", "|ort-torch|", "noisy", f"regions ({'+'.join(backends)})"]
    short = {"switchyard": "sy", "onnxruntime": "ort", "pytorch": "torch"}
    rows = []
    for r in results:
        l = r["latency_ms"]
        rows.append([r["model"], str(r["batch"]) + ("*" if r["onnx_origin"] == "re-exported" else ""),
                     f"{l['switchyard']['median']:.4f}", f"{l['onnxruntime']['median']:.4f}",
                     f"{l['pytorch']['median']:.4f}",
                     f"{r['ratio_switchyard_over_onnxruntime']:.2f}", f"{r['ratio_switchyard_over_pytorch']:.2f}",
                     f"{r['max_abs_diff']['switchyard_vs_pytorch']:.1e}",
                     f"{r['max_abs_diff']['onnxruntime_vs_pytorch']:.1e}" + ("" if r["outputs_agree"] else " MISMATCH"),
                     ",".join(short[k] for k, v in l.items() if v["max_round"] > NOISY * v["min_round"]) or "-",
                     placement(r["switchyard_regions"])])
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(head)]
    fmt = lambda cells: "  ".join(c.rjust(w) if i not in (0, 9, 10) else c.ljust(w)
                                  for i, (c, w) in enumerate(zip(cells, widths)))
    print(fmt(head))
    print(fmt(["-" * w for w in widths]))
    for row in rows:
        print(fmt(row))
    for r in results:
        for w in r["switchyard_warnings"]:
            print(f"{r['model']} batch {r['batch']}: {w}")
    if any(v["max_round"] > NOISY * v["min_round"] for r in results for v in r["latency_ms"].values()):
        print(f"noisy: round medians of that system differ by more than {NOISY}x (load on the machine); "
              "the median of rounds hides a minority of bad rounds, not a majority")
    if any(r["onnx_origin"] == "re-exported" for r in results):
        print("* the shipped model has a fixed batch: re-exported from make_models.py's module for this batch")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="Latency: median of per-round medians (single caller). See docs/benchmarks.md.")
    ap.add_argument("--build-dir", type=Path, default=ROOT / "build",
                    help="the Switchyard build folder with bin/switchyard and plugins/ (default: build)")
    ap.add_argument("--backends", default="cpu",
                    help="Switchyard backends in priority order, comma-separated (default: cpu); "
                         "'reference' tests the script without the CPU plugin")
    ap.add_argument("--threads", type=int, default=usable_cores(),
                    help="threads for all three systems (default: the usable cores, %(default)s here)")
    ap.add_argument("--iterations", "-n", type=int, default=100, help="timed runs per system and case (default 100)")
    ap.add_argument("--rounds", type=int, default=5, help="rounds the timed runs are split into (default 5)")
    ap.add_argument("--warmup", type=int, default=5, help="untimed runs before each round's block (default 5)")
    ap.add_argument("--batches", default="1,16", help="batch sizes, comma-separated (default 1,16)")
    ap.add_argument("--models", default=",".join(MODELS), help=f"models (default {','.join(MODELS)})")
    ap.add_argument("--seed", type=int, default=0, help="seed of the random inputs (default 0)")
    ap.add_argument("--json", type=Path, default=None,
                    help="write the results here (default: BUILD_DIR/reports/compare_peers.json)")
    args = ap.parse_args()
    if args.threads < 1 or args.iterations < 1 or args.rounds < 1 or args.warmup < 0:
        ap.error("--threads, --iterations and --rounds must be positive, --warmup non-negative")
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    batches = [int(b) for b in args.batches.split(",")]
    models = [m.strip() for m in args.models.split(",")]
    for m in models:
        if m not in MODELS:
            ap.error(f"unknown model '{m}' (known: {', '.join(MODELS)})")

    ensure_venv()
    openblas_core = fix_openblas_core()

    import numpy as np
    import onnxruntime as ort
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

    work = build_dir / "reports" / "compare_peers"
    work.mkdir(parents=True, exist_ok=True)
    config = work / "config.yaml"
    write_config(config, backends, args.threads, build_dir)
    env = dict(os.environ)
    env.pop("SWITCHYARD_BACKENDS", None)  # the generated config decides

    specs = rebuild_torch_models()
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
          f"onnxruntime {ort.__version__}, torch {torch.__version__} (OpenBLAS core {openblas_core}); {cpu_model()}",
          flush=True)
    results = []
    for name in models:
        for batch in batches:
            print(f"  {name} batch {batch} ...", file=sys.stderr, flush=True)
            results.append(run_case(name, batch, specs[name], args, backends, work, sy_exe, config, env))
    print_table(results, backends)

    out = args.json or (work.parent / "compare_peers.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    report = {
        "tool": "bench/compare_peers",
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": {"cpu": cpu_model(), "usable_cores": usable_cores(), "python": platform.python_version()},
        "versions": {"onnxruntime": ort.__version__, "torch": torch.__version__, "numpy": np.__version__,
                     "openblas_core (pytorch)": openblas_core},
        "settings": {"threads": args.threads, "backends": backends, "iterations": args.iterations,
                     "rounds": args.rounds, "warmup_per_round": args.warmup, "seed": args.seed,
                     "build_dir": str(build_dir), "config": config.read_text(),
                     "latency": "median of per-round medians, single caller, ms"},
        "results": results,
    }
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {out}")
    if not all(r["outputs_agree"] for r in results):
        print("compare_peers: some outputs disagree (MISMATCH above): those timings compare different results",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
