"""Unit tests of the converter's pieces: shape rules, text printing, the
safetensors writer, type promotion."""
import json
import os
import struct

import skip_guard

skip_guard.require("torch", "numpy")

import numpy as np  # noqa: E402
import torch  # noqa: E402

import harness  # noqa: E402
from switchyard_torch import aten, ir  # noqa: E402
from switchyard_torch.safetensors import save_safetensors  # noqa: E402


class ShapeRulesTest(harness.unittest.TestCase):
    def test_broadcast(self):
        self.assertEqual(ir.broadcast_shapes(("N", 1, 4), (3, 1)), ("N", 3, 4))
        self.assertEqual(ir.broadcast_shapes((None, 4), (5, 4)), (5, 4))
        self.assertIsNone(ir.broadcast_shapes(None, (2,)))
        with self.assertRaises(ir.ConversionError):
            ir.broadcast_shapes((2, 3), (4, 3))
        with self.assertRaises(ir.NeedStaticBatch):
            ir.broadcast_shapes(("N", 3), (5, 3))

    def test_reshape(self):
        self.assertEqual(ir.infer_reshape(("N", 4, 6), ["N", -1]), ["N", 24])
        self.assertEqual(ir.infer_reshape(("N", 4, 6), [-1, 6]), [None, 6])
        self.assertEqual(ir.infer_reshape(("N", 4, 6), [0, 3, -1]), ["N", 3, 8])
        self.assertEqual(ir.infer_reshape((2, 12), [-1, 4, 3]), [2, 4, 3])
        self.assertEqual(ir.infer_reshape(("N", 24), [-1, 24]), ["N", 24])
        with self.assertRaises(ir.ConversionError):
            ir.infer_reshape((2, 12), [5, -1])
        with self.assertRaises(ir.NeedStaticBatch):
            ir.infer_reshape(("N", 6), [2, 6])  # a traced view(2, 6) fixes the batch

    def test_matmul(self):
        self.assertEqual(ir.infer_matmul(("N", 4, 5), (5, 3)), ("N", 4, 3))
        self.assertEqual(ir.infer_matmul((5,), (2, 5, 3)), (2, 3))
        self.assertEqual(ir.infer_matmul((2, 4, 5), (5,)), (2, 4))
        with self.assertRaises(ir.ConversionError):
            ir.infer_matmul((4, 5), (6, 3))

    def test_pool_out(self):
        # ceil_mode sizes as torch.nn.functional.max_pool1d gives them (a last
        # window that would start in the right padding is dropped).
        for (size, k, s, p), want in [((6, 3, 2, 1), 4), ((9, 3, 2, 1), 5), ((5, 2, 2, 0), 3), ((7, 3, 3, 1), 3)]:
            self.assertEqual(ir._conv_out(size, k, s, p, p, 1, ceil_mode=True), want)
        self.assertEqual(ir._conv_out(5, 3, 1, 1, 1, 1), 5)
        self.assertIsNone(ir._conv_out("N", 3, 1, 1, 1, 1))


class TextTest(harness.unittest.TestCase):
    def test_attributes_and_names(self):
        self.assertEqual(ir.fmt_attr(1e-05), "1e-05")
        self.assertEqual(ir.fmt_attr(float("-inf")), "-inf")
        self.assertEqual(ir.fmt_attr([1, 2]), "[1, 2]")
        self.assertEqual(ir.fmt_attr('a"b\\c\né'), '"a\\"b\\\\c\\n\\xC3\\xA9"')
        self.assertEqual(ir.TensorLiteral("bool", (2,), [True, False]).text(), "tensor<bool[2]>[true, false]")
        em = ir.Emitter()
        self.assertEqual(em.fresh("self.fc.weight"), "self.fc.weight")
        self.assertEqual(em.fresh("self.fc.weight"), "self.fc.weight_1")
        self.assertEqual(em.fresh("x:y"), "x_y")
        self.assertEqual(em.fresh(".5"), "v.5")

    def test_print_graph(self):
        em = ir.Emitter()
        x = ir.Value("x", ir.Type("f32", ("N", 3)))
        y = em.one("relu", [x], {}, x.type, "y")
        text = em.print_graph("g", [x], [y])
        self.assertEqual(text, "graph @g(%x: f32[N, 3]) {\n  %y = relu(%x) : f32[N, 3]\n  return %y\n}\n")


class SafetensorsTest(harness.unittest.TestCase):
    def test_layout(self):
        path = os.path.join(harness.scratch("units"), "w.safetensors")
        t = {"b": torch.arange(3, dtype=torch.int64), "a": torch.tensor([[1.5, -2.0]]),
             "m": torch.tensor([True, False, True]), "h": torch.tensor([1.0, 2.0], dtype=torch.bfloat16)}
        save_safetensors(t, path)
        with open(path, "rb") as f:
            data = f.read()
        (n,) = struct.unpack("<Q", data[:8])
        self.assertEqual(n % 8, 0)
        header = json.loads(data[8:8 + n])
        body = data[8 + n:]
        self.assertEqual(header["a"], {"dtype": "F32", "shape": [1, 2], "data_offsets": [0, 8]})
        self.assertEqual(header["b"]["dtype"], "I64")
        self.assertEqual(header["m"]["dtype"], "BOOL")
        self.assertEqual(header["h"]["dtype"], "BF16")
        b0, b1 = header["b"]["data_offsets"]
        self.assertEqual(np.frombuffer(body[b0:b1], dtype="<i8").tolist(), [0, 1, 2])
        m0, m1 = header["m"]["data_offsets"]
        self.assertEqual(list(body[m0:m1]), [1, 0, 1])
        with self.assertRaises(ValueError):
            save_safetensors({"u": torch.zeros(2, dtype=torch.uint8)}, path)


class PromotionTest(harness.unittest.TestCase):
    def test_like_pytorch(self):
        def v(dtype, rank, number=None):
            return ir.Value("v", ir.Type(dtype, [2] * rank), number=number)
        cases = [((v("f32", 2), 1), "f32"), ((v("i64", 2), 1.5), "f32"), ((v("i64", 2), v("f32", 0)), "f32"),
                 ((v("f16", 2), v("f32", 0)), "f16"), ((v("i32", 2), v("i64", 0)), "i32"), ((1, 2), "i64"),
                 ((v("i64", 0, "int"), v("f32", 0, "float")), "f32"), ((v("bool", 1), v("bool", 1)), "bool"),
                 ((v("i8", 1), v("i64", 1)), "i64")]
        for args, want in cases:
            self.assertEqual(aten.result_dtype(*args), want, args)


if __name__ == "__main__":
    harness.main()
