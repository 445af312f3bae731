"""Shared test plumbing: where the switchyard binary and plugins are, a scratch
folder, and `check_run`, which runs an exported program through
`switchyard run --expect` on one backend.

ctest passes SY_SWITCHYARD (the binary), SY_PLUGIN_DIR (build/plugins) and
SY_TEST_TMP (a folder in the build tree for generated models)."""
import os
import subprocess
import sys
import tempfile
import unittest
import warnings

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))  # the package, without installing it
sys.path.insert(0, HERE)

import numpy as np  # noqa: E402
import torch  # noqa: E402

# Tracing a model with Python control flow warns that the trace is specific to
# its example input: the tests do that on purpose.
warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)

RTOL, ATOL = 1e-4, 1e-5
SWITCHYARD = os.environ.get("SY_SWITCHYARD", "")
PLUGIN_DIR = os.environ.get("SY_PLUGIN_DIR", "")


def scratch(name):
    root = os.environ.get("SY_TEST_TMP") or tempfile.gettempdir()
    d = os.path.join(root, name)
    os.makedirs(d, exist_ok=True)
    return d


def have_cpu_plugin():
    return bool(PLUGIN_DIR) and os.path.exists(os.path.join(PLUGIN_DIR, "libsy_plugin_cpu.so"))


def to_numpy(t):
    a = t.detach().cpu().numpy()
    if a.dtype == np.float64:
        a = a.astype(np.float32)
    return a


def save_arrays(folder, prefix, named):
    paths = {}
    for name, arr in named.items():
        p = os.path.join(folder, f"{prefix}_{name}.npy")
        np.save(p, arr)
        paths[name] = p
    return paths


def check_run(test, program, inputs, expected, backend, extra=()):
    """Runs `switchyard run PROGRAM --backends BACKEND --input ... --expect ...` and
    fails the test (with switchyard's output) unless every output matches."""
    if not SWITCHYARD or not os.path.exists(SWITCHYARD):
        test.fail(f"SY_SWITCHYARD={SWITCHYARD!r} is not a switchyard binary")
    folder = os.path.dirname(program)
    stem = os.path.splitext(os.path.basename(program))[0]
    ins = save_arrays(folder, stem + "_in", inputs)
    exp = save_arrays(folder, stem + "_expected", expected)
    cmd = [SWITCHYARD, "run", program, "--backends", backend, "--rtol", str(RTOL), "--atol", str(ATOL)]
    for name, p in ins.items():
        cmd += ["--input", f"{name}={p}"]
    for name, p in exp.items():
        cmd += ["--expect", f"{name}={p}"]
    cmd += list(extra)
    env = dict(os.environ)
    if PLUGIN_DIR:
        env["SWITCHYARD_PLUGIN_PATH"] = PLUGIN_DIR
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    if r.returncode != 0:
        test.fail(f"{' '.join(cmd)}\nexit {r.returncode}\n{r.stdout}\n{r.stderr}")
    return r.stdout + r.stderr


def backends():
    out = ["reference"]
    if have_cpu_plugin():
        out.append("cpu")
    return out


def main():
    if not have_cpu_plugin():
        print(f"note: no cpu plugin in SY_PLUGIN_DIR={PLUGIN_DIR!r}; only the reference interpreter is checked")
    unittest.main(verbosity=2)
