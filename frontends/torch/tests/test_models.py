"""Exports scripted and traced versions of the small models, and one loaded back
from torch.jit.save, and runs each through `switchyard run` on the reference
interpreter and the cpu plugin against PyTorch's output (rtol 1e-4, atol 1e-5)."""
import os
import subprocess
import sys

import skip_guard

skip_guard.require("torch", "numpy")

import torch  # noqa: E402

import harness  # noqa: E402
import models  # noqa: E402
import switchyard_torch  # noqa: E402

MODELS = ["mlp", "cnn", "encoder", "decoder", "control_flow", "rnn"]


def _inputs_dict(result, example):
    return {name: harness.to_numpy(x) for (name, _), x in zip(result.inputs, example)}


def _outputs_dict(result, y):
    ys = y if isinstance(y, (tuple, list)) else (y,)
    return {name: harness.to_numpy(t) for (name, _), t in zip(result.outputs, ys)}


class ModelsTest(harness.unittest.TestCase):
    def export_and_check(self, name, mode, inputs_list=None):
        model, example = models.build(name)
        with torch.no_grad():
            if mode == "script":
                ts = torch.jit.script(model)
            else:
                ts = torch.jit.trace(model, example)
        out = os.path.join(harness.scratch("models"), f"{name}_{mode}.sy")
        r = switchyard_torch.export(ts, example, out=out)
        for inputs in inputs_list or [example]:
            with torch.no_grad():
                y = model(*inputs)
            for backend in harness.backends():
                with self.subTest(backend=backend):
                    harness.check_run(self, r.program, _inputs_dict(r, inputs), _outputs_dict(r, y), backend)
        return r


def _add(name, mode):
    def test(self):
        inputs_list = None
        if name == "control_flow" and mode == "script":
            # Both branches of the data-dependent if, and another row count.
            _, ex = models.build(name)
            inputs_list = [ex, (-ex[0] - 3.0,), (torch.randn(7, 6),), (torch.full((2, 6), 2.0),)]
        if name == "decoder" and mode == "script":
            _, ex = models.build(name)
            inputs_list = [ex, (torch.randn(3, 5, 24),)]  # another batch size
        if name == "torch_recurrent" and mode == "script":
            _, ex = models.build(name)
            inputs_list = [ex, (torch.randn(2, 7, 5),)]  # another batch size
        if name == "rnn" and mode == "script":
            _, ex = models.build(name)
            inputs_list = [ex, (torch.randn(9, 2, 5),)]  # a longer sequence: the loop runs 9 times
        r = self.export_and_check(name, mode, inputs_list)
        if not (name == "control_flow" and mode == "trace"):
            self.assertTrue(r.inputs[0][1].startswith(r.inputs[0][1].split("[")[0] + "[N"), r.inputs)
    test.__name__ = f"test_{name}_{mode}"
    setattr(ModelsTest, test.__name__, test)


for _n in MODELS:
    for _m in ("script", "trace"):
        _add(_n, _m)
# torch.jit.trace itself refuses the fused path's graph (its trace check differs
# between runs), so PyTorch's own layers are checked scripted.
_add("torch_layers", "script")
_add("torch_recurrent", "script")
_add("torch_recurrent", "trace")


class SymbolicBatchTest(harness.unittest.TestCase):
    def test_batch_other_than_the_example(self):
        model, example = models.build("encoder")
        r = switchyard_torch.export(torch.jit.script(model), example,
                                    out=os.path.join(harness.scratch("models"), "encoder_batch.sy"))
        self.assertEqual(r.inputs, [("x", "f32[N, 6, 32]"), ("mask", "bool[N, 6]")])
        x = torch.randn(5, 6, 32)
        mask = torch.zeros(5, 6, dtype=torch.bool)
        mask[3, 2:] = True
        with torch.no_grad():
            y = model(x, mask)
        harness.check_run(self, r.program, {"x": x.numpy(), "mask": mask.numpy()}, {"output": y.numpy()},
                          "reference")

    def test_static_batch_when_asked(self):
        model, example = models.build("mlp")
        r = switchyard_torch.export(torch.jit.script(model), example, dynamic_batch=False,
                                    out=os.path.join(harness.scratch("models"), "mlp_static.sy"))
        self.assertEqual(r.inputs, [("x", "f32[3, 8]")])

    def test_traced_loop_over_the_batch_falls_back_to_static(self):
        model, example = models.build("control_flow")
        ts = torch.jit.trace(model, example)
        r = switchyard_torch.export(ts, example, out=os.path.join(harness.scratch("models"), "cf_static.sy"))
        self.assertEqual(r.inputs, [("x", "f32[4, 6]")])
        self.assertTrue(any("batch dim is static" in n for n in r.notes), r.notes)


class SavedModuleTest(harness.unittest.TestCase):
    def test_jit_save_then_export_and_cli(self):
        folder = harness.scratch("saved")
        model, example = models.build("cnn")
        pt = os.path.join(folder, "cnn.pt")
        torch.jit.save(torch.jit.script(model), pt)
        with torch.no_grad():
            y = model(*example)
        # The Python API, given the path and input shapes (no example tensors).
        r = switchyard_torch.export(pt, out=os.path.join(folder, "cnn_api.sy"),
                                    input_shapes={"x": tuple(example[0].shape)})
        self.assertEqual(r.inputs, [("x", "f32[N, 3, 16, 16]")])
        for backend in harness.backends():
            harness.check_run(self, r.program, {"x": example[0].numpy()}, {"output": y.numpy()}, backend)
        # The command line.
        out = os.path.join(folder, "cnn_cli.sy")
        env = dict(os.environ, PYTHONPATH=os.path.dirname(harness.HERE))
        p = subprocess.run([sys.executable, "-m", "switchyard_torch", pt, "-o", out,
                            "--input-shape", "x=2,3,16,16"], capture_output=True, text=True, env=env)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("input  %x: f32[N, 3, 16, 16]", p.stdout)
        self.assertTrue(os.path.exists(os.path.join(folder, "cnn_cli.safetensors")))
        harness.check_run(self, out, {"x": example[0].numpy()}, {"output": y.numpy()}, "reference")

    def test_traced_and_saved_with_integer_input(self):
        folder = harness.scratch("saved")
        model, example = models.build("encoder")
        pt = os.path.join(folder, "encoder_traced.pt")
        torch.jit.save(torch.jit.trace(model, example), pt)
        loaded = torch.jit.load(pt)
        r = switchyard_torch.export(pt, out=os.path.join(folder, "encoder_traced.sy"),
                                    input_shapes={"x": (2, 6, 32), "mask": ((2, 6), "bool")})
        with torch.no_grad():
            y = loaded(*example)
        harness.check_run(self, r.program, {"x": example[0].numpy(), "mask": example[1].numpy()},
                          {"output": y.numpy()}, harness.backends()[-1])


if __name__ == "__main__":
    harness.main()
