"""The ATen op table: how each TorchScript op becomes Switchyard IR ops.

Each entry is registered with `@lowers("aten::x", ..., to="ir ops")` in one of
the modules of `ops/` (`nn`, `arith`, `shape`, `script`); `to` names the IR
ops it emits and feeds the generated table in docs/pytorch.md. A lowering gets
the converter, the TorchScript node and its converted inputs (see convert.py
for what a converted value can be) and returns the outputs. Only ops the IR
already has are used: an ATen op that needs anything else is left out of the
table and reported as unsupported.
"""
from . import ops  # noqa: F401 - registers the lowerings
from .ops.common import DOC, TABLE, lowers, result_dtype  # noqa: F401
