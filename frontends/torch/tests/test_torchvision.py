"""torchvision's resnet18, mobilenet_v3_small and efficientnet_b0 (random weights,
random batch-norm statistics, no downloads) convert, scripted and traced, and
match PyTorch on the reference interpreter and the cpu plugin. The input is
1x3x64x64 to keep the test short (the reference interpreter computes in double)."""
import os

import skip_guard

skip_guard.require("torch", "torchvision", "numpy")

import torch  # noqa: E402
import torchvision  # noqa: E402

import harness  # noqa: E402
import models  # noqa: E402
import switchyard_torch  # noqa: E402

SIZE = 64


class TorchvisionTest(harness.unittest.TestCase):
    def check(self, arch, mode, backends):
        torch.manual_seed(0)
        model = models.randomize_bn(getattr(torchvision.models, arch)(weights=None)).eval()
        x = torch.randn(1, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(1))
        with torch.no_grad():
            y = model(x)
            ts = torch.jit.script(model) if mode == "script" else torch.jit.trace(model, (x,))
        r = switchyard_torch.export(ts, (x,), out=os.path.join(harness.scratch("torchvision"), f"{arch}_{mode}.sy"))
        self.assertEqual(r.inputs, [("x", f"f32[N, 3, {SIZE}, {SIZE}]")])
        self.assertEqual(r.outputs, [("output", "f32[N, 1000]")])
        for backend in backends:
            with self.subTest(backend=backend):
                harness.check_run(self, r.program, {"x": x.numpy()}, {"output": y.numpy()}, backend)


def _add(arch, mode):
    def test(self):
        # Scripted: reference and cpu. Traced: the cpu plugin (the reference
        # already checked the same ops through the scripted export).
        bs = harness.backends() if mode == "script" else harness.backends()[-1:]
        self.check(arch, mode, bs)
    test.__name__ = f"test_{arch}_{mode}"
    setattr(TorchvisionTest, test.__name__, test)


for _a in ("resnet18", "mobilenet_v3_small", "efficientnet_b0"):
    for _m in ("script", "trace"):
        _add(_a, _m)


if __name__ == "__main__":
    harness.main()
