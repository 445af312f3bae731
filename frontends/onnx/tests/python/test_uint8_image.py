"""A model that takes a uint8 NCHW image (what a camera or a decoded JPEG gives),
casts it to float, normalises it and runs a conv + relu, exported to ONNX by
Debian's PyTorch, runs end to end through `switchyard run` with a uint8 .npy
input (issue #14) and matches PyTorch: on the reference interpreter, and on the
cpu plugin alone with `fallback: error` (so the cpu plugin must take the uint8
input and the cast itself). Run by /usr/bin/python3 from ctest
(onnx_uint8_image); exits with 77 (skipped) and a printed reason when torch
cannot be imported. Everything is generated here, in SY_TEST_TMP."""
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
RTOL, ATOL = 1e-4, 1e-5


def scratch():
    d = os.path.join(os.environ.get("SY_TEST_TMP") or tempfile.gettempdir(), "onnx_uint8_image")
    os.makedirs(d, exist_ok=True)
    return d


class Preprocess(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1))
        self.conv = torch.nn.Conv2d(3, 8, 3, padding=1)

    def forward(self, img):
        x = img.float() / 255.0
        x = (x - self.mean) / self.std
        return torch.relu(self.conv(x))


class Uint8ImageTest(unittest.TestCase):
    def test_uint8_image_through_switchyard_run(self):
        torch.manual_seed(0)
        net = Preprocess().eval()
        img = torch.randint(0, 256, (2, 3, 17, 13), dtype=torch.uint8)
        img[0, 0, 0, :4] = torch.tensor([0, 1, 254, 255], dtype=torch.uint8)  # the ends of the range
        with torch.no_grad():
            want = net(img)
        folder = scratch()
        model = os.path.join(folder, "uint8_image.onnx")
        torch.onnx.export(net, (img,), model, input_names=["img"], output_names=["y"], opset_version=13)
        img_path = os.path.join(folder, "img.npy")
        want_path = os.path.join(folder, "y.npy")
        np.save(img_path, img.numpy())
        np.save(want_path, want.numpy())
        with open(img_path, "rb") as f:
            self.assertIn(b"'descr': '|u1'", f.read(128))  # NumPy's uint8

        env = dict(os.environ)
        # The imported graph takes the image as u8 and casts it itself.
        sy_path = os.path.join(folder, "uint8_image.sy")
        r = subprocess.run([SWITCHYARD, "convert", model, "-o", sy_path], capture_output=True, text=True, env=env,
                           timeout=120)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        with open(sy_path) as f:
            text = f.read()
        self.assertIn("%img: u8[2, 3, 17, 13]", text)
        self.assertIn('cast(%img) {to = "f32"}', text)

        run = [SWITCHYARD, "run", model, "--input", f"img={img_path}", "--expect", f"y={want_path}", "--rtol",
               str(RTOL), "--atol", str(ATOL)]
        configs = {"reference": None}
        if PLUGIN_DIR and os.path.exists(os.path.join(PLUGIN_DIR, "libsy_plugin_cpu.so")):
            cfg = os.path.join(folder, "cpu_only.yaml")
            with open(cfg, "w") as f:
                f.write(f"backends: [cpu]\nfallback: error\nplugin_paths: [{PLUGIN_DIR}]\ndefault_plugin_paths: false\n")
            configs["cpu"] = cfg
        else:
            print(f"note: no cpu plugin in SY_PLUGIN_DIR={PLUGIN_DIR!r}; only the reference interpreter is checked")
        for backend, cfg in configs.items():
            with self.subTest(backend=backend):
                cmd = run + (["--config", cfg] if cfg else ["--backends", backend])
                r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
                if r.returncode != 0:
                    self.fail(f"{' '.join(cmd)}\nexit {r.returncode}\n{r.stdout}\n{r.stderr}")
                self.assertIn("matches", r.stdout + r.stderr)

        # A wrong dtype is refused with a clear error, not reinterpreted.
        f32_path = os.path.join(folder, "img_f32.npy")
        np.save(f32_path, img.numpy().astype(np.float32))
        r = subprocess.run([SWITCHYARD, "run", model, "--input", f"img={f32_path}", "--backends", "reference"],
                           capture_output=True, text=True, env=env, timeout=120)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("u8", r.stdout + r.stderr)


if __name__ == "__main__":
    if not SWITCHYARD or not os.path.exists(SWITCHYARD):
        print(f"SY_SWITCHYARD={SWITCHYARD!r} is not a switchyard binary")
        sys.exit(1)
    unittest.main(verbosity=2)
