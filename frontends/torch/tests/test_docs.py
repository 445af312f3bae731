"""docs/pytorch.md's ATen op table is the converter's table (regenerate with
`python3 -m switchyard_torch.docs --write docs/pytorch.md`)."""
import os

import skip_guard

skip_guard.require("torch")

import harness  # noqa: E402
from switchyard_torch import docs, supported_ops  # noqa: E402

DOC = os.path.join(harness.HERE, "..", "..", "..", "docs", "pytorch.md")


class DocsTest(harness.unittest.TestCase):
    def test_table_is_current(self):
        with open(DOC) as f:
            text = f.read()
        self.assertEqual(docs.splice(text), text,
                         "docs/pytorch.md is out of date: run python3 -m switchyard_torch.docs --write docs/pytorch.md")

    def test_issue_coverage(self):
        ops = supported_ops()
        needed = ["aten::conv2d", "aten::_convolution", "aten::linear", "aten::addmm", "aten::matmul", "aten::bmm",
                  "aten::batch_norm", "aten::layer_norm", "aten::gelu", "aten::silu", "aten::hardswish",
                  "aten::softmax", "aten::max_pool2d", "aten::avg_pool2d", "aten::adaptive_avg_pool2d", "aten::view",
                  "aten::reshape", "aten::permute", "aten::transpose", "aten::contiguous", "aten::flatten",
                  "aten::cat", "aten::stack", "aten::slice", "aten::select", "aten::index", "aten::add",
                  "aten::mul", "aten::sum", "aten::mean", "aten::embedding", "aten::masked_fill", "aten::where",
                  "prim::ListConstruct", "prim::TupleConstruct", "prim::ListUnpack", "aten::size", "aten::dim"]
        self.assertEqual([k for k in needed if k not in ops], [])


if __name__ == "__main__":
    harness.main()
