"""Bad input gives one clear error: a file that is not TorchScript, a module with
unsupported ops (all of them listed, each with its source line), a tuple output."""
import os
import subprocess
import sys

import skip_guard

skip_guard.require("torch", "numpy")

import torch  # noqa: E402

import harness  # noqa: E402
import models  # noqa: E402
import switchyard_torch  # noqa: E402
from switchyard_torch import ConversionError  # noqa: E402

MODELS_PY = os.path.join(harness.HERE, "models.py")


def _line_of(text):
    with open(MODELS_PY) as f:
        for i, line in enumerate(f, 1):
            if text in line:
                return i
    raise AssertionError(text)


class ErrorsTest(harness.unittest.TestCase):
    def setUp(self):
        self.folder = harness.scratch("errors")

    def test_not_torchscript(self):
        bad = os.path.join(self.folder, "notes.pt")
        with open(bad, "w") as f:
            f.write("this is not a model\n")
        with self.assertRaises(ConversionError) as cm:
            switchyard_torch.export(bad, out=os.path.join(self.folder, "x.sy"))
        self.assertIn("notes.pt: not a TorchScript file written by torch.jit.save", str(cm.exception))
        # A state dict saved with torch.save is a zip too, but not TorchScript.
        sd = os.path.join(self.folder, "state_dict.pt")
        torch.save(models.MLP().state_dict(), sd)
        with self.assertRaises(ConversionError) as cm:
            switchyard_torch.export(sd, out=os.path.join(self.folder, "x.sy"))
        self.assertIn("state_dict.pt: not a TorchScript file", str(cm.exception))
        # The command line says the same and exits with 1.
        env = dict(os.environ, PYTHONPATH=os.path.dirname(harness.HERE))
        p = subprocess.run([sys.executable, "-m", "switchyard_torch", bad, "-o", os.path.join(self.folder, "x.sy")],
                           capture_output=True, text=True, env=env)
        self.assertEqual(p.returncode, 1)
        self.assertIn("switchyard_torch: error:", p.stderr)
        self.assertIn("not a TorchScript file", p.stderr)
        self.assertNotIn("Traceback", p.stderr)
        self.assertFalse(os.path.exists(os.path.join(self.folder, "x.sy")))

    def test_missing_file(self):
        with self.assertRaises(ConversionError) as cm:
            switchyard_torch.export(os.path.join(self.folder, "nope.pt"))
        self.assertIn("nope.pt: no such file", str(cm.exception))

    def test_plain_module(self):
        with self.assertRaises(ConversionError) as cm:
            switchyard_torch.export(models.MLP(), (torch.randn(1, 8),))
        self.assertIn("torch.jit.script(model)", str(cm.exception))

    def test_unsupported_ops_all_listed_with_lines(self):
        for mode in ("script", "trace"):
            with self.subTest(mode=mode):
                m = models.Unsupported().eval()
                x = torch.randn(2, 4)
                ts = torch.jit.script(m) if mode == "script" else torch.jit.trace(m, (x,))
                with self.assertRaises(ConversionError) as cm:
                    switchyard_torch.export(ts, (x,), out=os.path.join(self.folder, f"unsupported_{mode}.sy"))
                msg = str(cm.exception)
                self.assertIn("3 unsupported op(s)", msg)
                self.assertIn("aten::cumsum", msg)
                self.assertIn("aten::fft_fft", msg)
                self.assertIn("aten::real", msg)
                self.assertIn(f"models.py:{_line_of('y = torch.cumsum(x, dim=1)')}", msg)
                self.assertIn(f"models.py:{_line_of('z = torch.fft.fft(y).real')}", msg)
                self.assertIn(f"models.py:{_line_of('return torch.cumsum(z, dim=0)')}", msg)
                self.assertNotIn("aten::relu", msg)
                self.assertFalse(os.path.exists(os.path.join(self.folder, f"unsupported_{mode}.sy")))

    def test_tuple_output(self):
        m = torch.jit.script(models.TupleOut())
        x = torch.randn(2, 3)
        with self.assertRaises(ConversionError) as cm:
            switchyard_torch.export(m, (x,), out=os.path.join(self.folder, "tuple.sy"))
        self.assertIn("the model returns a tuple", str(cm.exception))
        self.assertIn("flatten_outputs=True", str(cm.exception))
        # Asked for, each item becomes an output.
        r = switchyard_torch.export(m, (x,), out=os.path.join(self.folder, "tuple.sy"), flatten_outputs=True)
        self.assertEqual([n for n, _ in r.outputs], ["output0", "output1"])
        harness.check_run(self, r.program, {"x": x.numpy()}, {"output0": (x + 1).numpy(), "output1": (x * 2).numpy()},
                          "reference")

    def test_input_shapes_needed_and_checked(self):
        pt = os.path.join(self.folder, "mlp.pt")
        torch.jit.save(torch.jit.script(models.MLP()), pt)
        with self.assertRaises(ConversionError) as cm:
            switchyard_torch.export(pt, out=os.path.join(self.folder, "mlp.sy"))
        self.assertIn("input x: its shape is unknown", str(cm.exception))
        with self.assertRaises(ConversionError) as cm:
            switchyard_torch.export(pt, out=os.path.join(self.folder, "mlp.sy"), input_shapes={"x": (1, 8), "y": (2,)})
        self.assertIn("input shapes given for y, which the model does not take", str(cm.exception))
        with self.assertRaises(ConversionError) as cm:
            switchyard_torch.export(pt, out=os.path.join(self.folder, "mlp.sy"), input_shapes={"x": (1, 7)})
        self.assertIn("matmul", str(cm.exception))

    def test_wrong_number_of_example_inputs(self):
        with self.assertRaises(ConversionError) as cm:
            switchyard_torch.export(torch.jit.script(models.MLP()), (torch.randn(1, 8), torch.randn(1)))
        self.assertIn("takes 1 inputs (x) but 2 example inputs were given", str(cm.exception))


if __name__ == "__main__":
    harness.main()
