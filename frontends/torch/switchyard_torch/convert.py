"""TorchScript -> Switchyard: loads and freezes the module, then walks its graph.

The walk keeps, for every TorchScript value, what it became:
  - a Python object (int, float, bool, None, str, list of ints, ...) when the
    value is known at conversion time: constants, `aten::size` of a static dim,
    `aten::dim`, arithmetic on those. Such values never reach the IR unless an
    op needs them as a tensor.
  - `TensorConst`: a tensor constant (a frozen parameter or buffer); it becomes
    a `weight` (or a small inline `constant`) the first time an op uses it.
  - `ir.Value`: a value computed at run time.
  - `ListV` / `TupleV`: `prim::ListConstruct` / `prim::TupleConstruct` whose
    items are any of the above.
`prim::If` on a condition known at conversion time keeps only the branch taken
(this removes the rank checks scripted modules carry); otherwise it becomes the
IR's `if`. `prim::Loop` becomes the IR's `loop`.
"""
import os
import re

import torch

from . import ir
from .ir import ConversionError, NeedStaticBatch, Type

TORCH_TO_SY = {
    torch.float32: "f32",
    torch.float16: "f16",
    torch.bfloat16: "bf16",
    torch.int8: "i8",
    torch.int32: "i32",
    torch.int64: "i64",
    torch.bool: "bool",
}
SY_TO_TORCH = {v: k for k, v in TORCH_TO_SY.items()}
BATCH_SYMBOL = "N"


class TensorConst:
    """A tensor known at conversion time (frozen parameter, buffer or constant)."""

    def __init__(self, tensor, hint):
        self.tensor = tensor
        self.hint = hint


class ListV:
    def __init__(self, items):
        self.items = list(items)


class TupleV:
    def __init__(self, items):
        self.items = list(items)


class Opaque:
    """The result of a node that could not be converted; ops using it are skipped
    so that every unsupported op is found in one run."""


OPAQUE = Opaque()


class Unavailable:
    """An output the converter does not compute (e.g. pooling indices); an error
    only when something uses it as a tensor."""

    def __init__(self, what):
        self.what = what


_NOT_CONST = object()
_MAX_UNROLL = 256  # a loop over a known range is unrolled when its body needs the index
_MAX_UNROLL_PURE = 100000  # iterations of a loop on conversion-time numbers
# Ops never evaluated at conversion: their value is a property of the run, or
# folding would only store a bigger constant.
_NO_FOLD = {"aten::size", "aten::dim", "aten::len", "aten::expand", "aten::expand_as", "aten::repeat",
            "aten::zeros_like", "aten::ones_like", "aten::full_like"}


class NodeError(Exception):
    """An error converting one node (bad or non-constant arguments)."""


def source_location(node):
    """'file:line' (and the source line when scripted) that TorchScript recorded for a
    node; for a node without one, that of the node computing its first input."""
    loc = _own_location(node)
    if not loc:
        for v in node.inputs():
            if v.node().kind() not in ("prim::Constant", "prim::Param"):
                loc = _own_location(v.node())
                if loc:
                    return loc + " (the line of its input)"
    return loc


def _own_location(node):
    try:
        sr = node.sourceRange()
    except Exception:  # noqa: BLE001 - older builds lack it
        return ""
    if not sr:
        return ""
    m = re.search(r'File "([^"]+)", line (\d+)', sr)
    if m:
        lines = sr.splitlines()
        code = ""
        for i, ln in enumerate(lines):
            if "~" in ln and "<--- HERE" in ln and i > 0:
                code = lines[i - 1].strip()
                break
        loc = f"{m.group(1)}:{m.group(2)}"
        return loc + (f": {code}" if code else "")
    # Traced graphs record the Python stack: "file.py(12): forward". The first frame
    # that is not inside torch is the user's line.
    torch_dir = os.path.dirname(os.path.abspath(torch.__file__)) + os.sep
    for ln in sr.splitlines():
        m = re.match(r"(.+)\((\d+)\): (\S+)", ln.strip())
        if m and not os.path.abspath(m.group(1)).startswith(torch_dir):
            return f"{m.group(1)}:{m.group(2)} (in {m.group(3)})"
    return sr.splitlines()[0].strip()


def _same_block(value, node):
    try:
        return value.node().owningBlock() == node.owningBlock()
    except Exception:  # noqa: BLE001 - graph inputs have no owning block in some builds
        return False


def _graph_input_name(debug):
    name = re.sub(r"\.\d+$", "", debug or "")
    return name or "input"


class Converter:
    def __init__(self, graph, input_specs, dynamic_batch, table, weight_threshold=16):
        self.graph = graph
        self.input_specs = input_specs
        self.dynamic_batch = dynamic_batch
        self.table = table
        self.weight_threshold = weight_threshold
        self.em = ir.Emitter()
        self.env = {}
        self.errors = []  # (kind, location, reason)
        self.unsupported = {}  # kind -> [locations]
        self.tensor_cache = {}
        self._converted = {}
        self.node = None
        self.notes = []
        self.flatten_outputs = False

    # -- entry ----------------------------------------------------------------
    def run(self):
        params = []
        inputs = [v for v in self.graph.inputs()]
        if inputs and isinstance(inputs[0].type(), torch._C.ClassType):
            inputs = inputs[1:]
        if len(inputs) != len(self.input_specs):
            raise ConversionError(f"the model's forward takes {len(inputs)} inputs "
                                  f"({', '.join(_graph_input_name(v.debugName()) for v in inputs)}) "
                                  f"but {len(self.input_specs)} were described")
        batch_size = None
        for v, spec in zip(inputs, self.input_specs):
            name, dtype, shape, number = spec
            if number == "const":
                # An argument bound at conversion (None for an optional tensor, or
                # its default value): not an input of the program.
                self.env[v.unique()] = shape
                continue
            ty = v.type()
            kind = ty.kind()
            if kind == "OptionalType":  # Optional[Tensor] given a tensor
                ty = ty.getElementType()
                kind = ty.kind()
            if kind == "TensorType":
                if number:
                    raise ConversionError(f"input {name}: the model takes a tensor but a {number} was given")
            elif kind in ("IntType", "FloatType", "BoolType"):
                number = {"IntType": "int", "FloatType": "float", "BoolType": "bool"}[kind]
                dtype = {"int": "i64", "float": "f32", "bool": "bool"}[number]
                shape = ()
            else:
                raise ConversionError(f"input {name}: type {ty} is not supported (tensors, int, float, bool are)")
            if self.dynamic_batch and shape and not number:
                # Dim 0 of the first tensor input is the batch; another input's dim 0
                # is the batch too when its example size is the same.
                if batch_size is None:
                    batch_size = shape[0]
                if shape[0] == batch_size:
                    shape = (BATCH_SYMBOL,) + tuple(shape[1:])
            val = ir.Value(self.em.fresh(name), Type(dtype, shape, scalar=bool(number)), number=number)
            params.append(val)
            self.env[v.unique()] = val
        self.convert_block(self.graph.block() if hasattr(self.graph, "block") else self.graph)
        outs = [self.env.get(v.unique(), OPAQUE) for v in self.graph.outputs()]
        self.check_errors()
        results = []
        for i, o in enumerate(outs):
            if isinstance(o, TupleV) and self.flatten_outputs:
                results.extend(o.items)
                continue
            if isinstance(o, TupleV):
                raise ConversionError(
                    "the model returns a tuple; a Switchyard program returns tensors. Return one tensor, "
                    "or export with flatten_outputs=True (--flatten-outputs) to give each tuple item "
                    "its own output")
            results.append(o)
        out_vals = []
        for o in results:
            if isinstance(o, (ListV, TupleV)):
                raise ConversionError("the model returns a list; a Switchyard program returns tensors")
            if o is None:
                raise ConversionError("the model returns None")
            try:
                out_vals.append(self.tensor(o))
            except NodeError as e:
                raise ConversionError(f"output {len(out_vals)}: {e}") from None
        return params, out_vals

    def check_errors(self):
        if not self.unsupported and not self.errors:
            return
        lines = []
        if self.unsupported:
            lines.append(f"{len(self.unsupported)} unsupported op(s):")
            for kind in sorted(self.unsupported):
                locs = self.unsupported[kind]
                shown = "; ".join(locs[:3]) + (f"; and {len(locs) - 3} more" if len(locs) > 3 else "")
                lines.append(f"  {kind}  at {shown or '(no source location)'}")
        if self.errors:
            lines.append(f"{len(self.errors)} op(s) could not be converted:")
            for kind, loc, reason in self.errors:
                lines.append(f"  {kind}: {reason}  at {loc or '(no source location)'}")
        raise ConversionError("\n".join(lines))

    # -- walking ----------------------------------------------------------------
    def convert_block(self, block):
        for n in block.nodes():
            self.convert_node(n)

    def get(self, v):
        return self.env.get(v.unique(), OPAQUE)

    def set_outputs(self, node, results):
        outs = list(node.outputs())
        if len(results) != len(outs):
            raise NodeError(f"lowering gave {len(results)} results for {len(outs)} outputs")
        for o, r in zip(outs, results):
            self.env[o.unique()] = r

    def convert_node(self, n):
        kind = n.kind()
        args = [self.get(v) for v in n.inputs()]
        self.node = n
        if kind == "prim::Constant":
            self.set_outputs(n, [self.constant_of(n)])
            return
        if kind in ("prim::If", "prim::Loop"):
            try:
                if kind == "prim::If":
                    self.convert_if(n, args)
                else:
                    self.convert_loop(n, args)
            except NodeError as e:
                self.errors.append((kind, source_location(n), str(e)))
                self.set_outputs(n, [OPAQUE] * n.outputsSize())
            return
        fn = self.table.get(kind)
        folded = self.fold_constant(n, args, in_table=fn is not None)
        if folded is not None:
            self.set_outputs(n, folded)
            return
        if fn is None:
            self.unsupported.setdefault(kind, []).append(source_location(n))
            self.set_outputs(n, [OPAQUE] * len(list(n.outputs())))
            return
        if any(a is OPAQUE for a in args) or any(isinstance(a, (ListV, TupleV)) and any(
                i is OPAQUE for i in a.items) for a in args):
            # Fed by an op that failed: skipped, so that one run finds every problem.
            self.set_outputs(n, [OPAQUE] * len(list(n.outputs())))
            return
        try:
            res = fn(self, n, args)
            if not isinstance(res, (list, tuple)):
                res = [res]
            self.set_outputs(n, list(res))
        except NeedStaticBatch:
            raise
        except (NodeError, ConversionError) as e:
            self.errors.append((kind, source_location(n), str(e)))
            self.set_outputs(n, [OPAQUE] * len(list(n.outputs())))
        except Exception as e:  # noqa: BLE001 - a lowering that did not expect these arguments
            self.errors.append((kind, source_location(n), f"arguments this converter does not handle "
                                f"({type(e).__name__}: {e})"))
            self.set_outputs(n, [OPAQUE] * len(list(n.outputs())))
        # In-place ops write their first input: later uses of it see the result.
        # Inside an if/loop block that would change a value of the enclosing block,
        # which SSA cannot say: refused.
        if kind.endswith("_") and not kind.endswith("__") and n.inputsSize() > 0 and kind != "aten::append":
            first = n.inputsAt(0)
            out = self.get(n.outputsAt(0)) if n.outputsSize() else OPAQUE
            if len(self.em.blocks) > 1 and not _same_block(first, n):
                self.errors.append((kind, source_location(n), "an in-place op inside an if or a loop on a "
                                    "tensor from outside it"))
            elif isinstance(self.get(first), (ir.Value, TensorConst)):
                self.env[first.unique()] = out

    def fold_constant(self, n, args, in_table):
        """Evaluates an ATen op with torch when all its inputs are known at conversion
        and one is a tensor constant (or the op is not in the table): its result is a
        constant of the program. Returns the outputs, or None when not folded."""
        kind = n.kind()
        if not kind.startswith("aten::") or n.outputsSize() != 1 or n.isNondeterministic():
            return None
        if kind.endswith("_") or kind in _NO_FOLD:
            return None

        def plain(v):
            if isinstance(v, TensorConst):
                return v.tensor
            if isinstance(v, ListV):
                items = [plain(i) for i in v.items]
                return None if any(i is _NOT_CONST for i in items) else items
            if v is None or isinstance(v, (bool, int, float, str)):
                return v
            return _NOT_CONST

        vals = [plain(a) for a in args]
        if any(v is _NOT_CONST for v in vals):
            return None
        has_tensor = any(isinstance(a, TensorConst) or isinstance(a, ListV) and
                         any(isinstance(i, TensorConst) for i in a.items) for a in args)
        if in_table and not has_tensor:
            return None
        out_kind = n.outputsAt(0).type().kind()
        if out_kind not in ("TensorType", "IntType", "FloatType", "BoolType"):
            return None
        try:
            op = getattr(torch.ops.aten, kind.split("::", 1)[1])
            with torch.no_grad():
                res = op(*vals)
        except Exception:  # noqa: BLE001 - any failure: convert the op normally
            return None
        if isinstance(res, torch.Tensor):
            return [TensorConst(res.detach(), n.outputsAt(0).debugName())]
        if isinstance(res, (bool, int, float)):
            return [res]
        return None

    def constant_of(self, n):
        out = n.output()
        ty = out.type()
        if ty.kind() == "NoneType":
            return None
        if ty.kind() == "TensorType":
            t = n.t("value")
            return TensorConst(t, out.debugName())
        try:
            v = out.toIValue()
        except Exception:  # noqa: BLE001
            v = None
        if isinstance(v, torch.Tensor):
            return TensorConst(v, out.debugName())
        if isinstance(v, (list, tuple)) and any(isinstance(x, torch.Tensor) for x in v):
            items = [TensorConst(x, out.debugName()) if isinstance(x, torch.Tensor) else x for x in v]
            return ListV(items) if isinstance(v, list) else TupleV(items)
        if isinstance(v, tuple):
            return TupleV(list(v))
        return v

    # -- control flow -----------------------------------------------------------
    def materialize_like(self, v, ty_hint=None):
        """A run-time IR value for v (constants become `constant` nodes)."""
        if isinstance(v, ir.Value):
            return v
        if isinstance(v, (bool, int, float)):
            return self.number(v)
        if isinstance(v, TensorConst):
            return self.tensor(v)
        raise NodeError(f"a {type(v).__name__} cannot flow through control flow (only tensors and numbers can)")

    def convert_if(self, n, args):
        cond = args[0]
        blocks = list(n.blocks())
        outs = list(n.outputs())
        if cond is OPAQUE:
            for b in blocks:
                self.em.push_block()
                self.convert_block(b)
                self.em.pop_block()
            self.set_outputs(n, [OPAQUE] * len(outs))
            return
        if isinstance(cond, (bool, int)):
            b = blocks[0] if cond else blocks[1]
            self.convert_block(b)
            self.set_outputs(n, [self.get(v) for v in b.outputs()])
            return
        if not outs:
            # An if without outputs has no effect in a program without side effects
            # (scripted modules use it for checks that raise).
            return
        cond_v = self.as_bool_scalar(cond)
        branch_results = []
        branch_nodes = []
        for b in blocks:
            self.em.push_block()
            self.convert_block(b)
            res = [self.get(v) for v in b.outputs()]
            branch_results.append(res)
            branch_nodes.append(self.em.pop_block())
        final = []
        need_ir = []
        for i in range(len(outs)):
            a, b = branch_results[0][i], branch_results[1][i]
            if a is OPAQUE or b is OPAQUE:
                final.append(OPAQUE)
                continue
            if not isinstance(a, ir.Value) and not isinstance(b, ir.Value) and type(a) is type(b) and \
                    not isinstance(a, (TensorConst, ListV, TupleV)) and a == b:
                final.append(a)
                continue
            final.append(None)
            need_ir.append(i)
        if any(f is OPAQUE for f in final):
            self.set_outputs(n, [OPAQUE] * len(outs))
            return
        yields = [[], []]
        for bi in range(2):
            self.em.blocks.append(branch_nodes[bi])
            saved_cache, self.em.const_cache = self.em.const_cache, {}
            try:
                for i in need_ir:
                    yields[bi].append(self.materialize_like(branch_results[bi][i]))
            finally:
                self.em.blocks.pop()
                self.em.const_cache = saved_cache
        types = []
        for j, i in enumerate(need_ir):
            ta, tb = yields[0][j].type, yields[1][j].type
            if ta.dtype != tb.dtype:
                raise NodeError(f"output {i} of the if is {ta.text()} in one branch and {tb.text()} in the other")
            types.append(ir.merge_types(ta, tb))
        node = ir.Node("if", [cond_v], {}, [self.em.value(t, "if") for t in types])
        node.blocks.append(("then", [], branch_nodes[0].nodes, yields[0]))
        node.blocks.append(("else", [], branch_nodes[1].nodes, yields[1]))
        self.em.blocks[-1].nodes.append(node)
        for j, i in enumerate(need_ir):
            number = yields[0][j].number
            node.outputs[j].number = number
            final[i] = node.outputs[j]
        self.set_outputs(n, final)

    def convert_loop(self, n, args):
        outs = list(n.outputs())
        if any(a is OPAQUE for a in args):
            self.em.push_block()
            self.convert_block(n.blocks().__next__())
            self.em.pop_block()
            self.set_outputs(n, [OPAQUE] * len(outs))
            return
        max_trip, cond0, carried = args[0], args[1], args[2:]
        if isinstance(cond0, bool) and not cond0:
            self.set_outputs(n, carried)
            return
        known_trips = isinstance(max_trip, int) and not isinstance(max_trip, bool) and cond0 is True
        if known_trips and all(isinstance(c, (bool, int, float, str, type(None))) for c in carried):
            # Arithmetic on numbers known at conversion (e.g. a module's size checks).
            return self.unroll_loop(n, max_trip, carried)
        err_mark = len(self.errors)
        unsupported_mark = {k: len(v) for k, v in self.unsupported.items()}
        block = self.em.blocks[-1]
        node_mark = len(block.nodes)
        env_mark = dict(self.env)
        failure = None
        try:
            self.emit_loop(n, args)
        except NodeError as e:
            failure = e
        failed = failure is not None or len(self.errors) > err_mark
        grew = any(len(v) > unsupported_mark.get(k, 0) for k, v in self.unsupported.items())
        if failed and known_trips and max_trip <= _MAX_UNROLL and not grew:
            # The body needs its index known when converting (list[i], a size
            # check): undo the IR loop and unroll it instead.
            del self.errors[err_mark:]
            self.env = env_mark
            self.drop_nodes(block, node_mark)
            self.unroll_loop(n, max_trip, carried)
        elif failure is not None:
            raise failure

    def drop_nodes(self, block, mark):
        dropped = block.nodes[mark:]
        del block.nodes[mark:]
        gone = {id(v) for nd in dropped for v in nd.outputs}
        for key in [k for k, (_, v) in self.tensor_cache.items() if id(v) in gone]:
            del self.tensor_cache[key]
        for nd in dropped:
            if nd.op == "weight":
                self.em.weights.pop(nd.attrs["name"], None)
        self.em.const_cache = {}

    def unroll_loop(self, n, trips, carried):
        body = next(n.blocks())
        body_in = list(body.inputs())
        body_out = list(body.outputs())
        state = list(carried)
        i = 0
        while i < trips:
            if i >= _MAX_UNROLL_PURE:
                raise NodeError(f"a loop on numbers known at conversion ran {i} times without ending")
            self.env[body_in[0].unique()] = i
            for tin, v in zip(body_in[1:], state):
                self.env[tin.unique()] = v
            self.convert_block(body)
            res = [self.get(v) for v in body_out]
            state = res[1:]
            i += 1
            if res[0] is True:
                continue
            if res[0] is False:
                break
            raise NodeError("a loop whose condition is computed at run time but whose values are all known "
                            "when converting")
        self.set_outputs(n, state)

    def emit_loop(self, n, args):
        outs = list(n.outputs())
        max_trip, cond0, carried = args[0], args[1], args[2:]
        body = next(n.blocks())
        body_in = list(body.inputs())
        body_out = list(body.outputs())
        trip_v = self.materialize_like(max_trip if max_trip is not None else -1)
        cond_v = self.as_bool_scalar(cond0)
        init = [self.materialize_like(c) for c in carried]
        types = [Type(v.type.dtype, v.type.shape, scalar=v.type.scalar) for v in init]
        for attempt in range(4):
            self.em.push_block()
            it = self.em.value(Type("i64", (), scalar=True), "i", number="int")
            c = self.em.value(Type("bool", (), scalar=True), "cond", number="bool")
            params = [it, c]
            self.env[body_in[0].unique()] = it
            for tin, ty, v0 in zip(body_in[1:], types, init):
                p = self.em.value(ty, _graph_input_name(tin.debugName()) if tin.debugName() else "state",
                                  number=v0.number)
                params.append(p)
                self.env[tin.unique()] = p
            self.convert_block(body)
            res = [self.get(v) for v in body_out]
            if any(r is OPAQUE for r in res):
                self.em.pop_block()
                self.set_outputs(n, [OPAQUE] * len(outs))
                return
            ys = [self.as_bool_scalar(res[0])] + [self.materialize_like(r) for r in res[1:]]
            blk = self.em.pop_block()
            new_types = []
            for y, ty in zip(ys[1:], types):
                if y.type.dtype != ty.dtype:
                    raise NodeError(f"a loop-carried value starts as {ty.text()} and becomes {y.type.text()}")
                m = ir.merge_types(ty, y.type)
                new_types.append(Type(m.dtype, m.shape, scalar=ty.scalar))
            if all(a.text() == b.text() for a, b in zip(new_types, types)):
                break
            types = new_types
        else:
            raise NodeError("the loop-carried types do not settle")
        outs_v = [self.em.value(Type(t.dtype, t.shape), "loop") for t in types]
        node = ir.Node("loop", [trip_v, cond_v] + init, {}, outs_v)
        node.blocks.append(("body", params, blk.nodes, ys))
        self.em.blocks[-1].nodes.append(node)
        for o, v0 in zip(node.outputs, init):
            o.number = v0.number
        self.set_outputs(n, node.outputs)

    # -- helpers used by the op table ------------------------------------------------
    def number(self, x):
        """A Python number as an IR scalar (int -> i64, float -> f32, bool -> bool)."""
        if isinstance(x, bool):
            v = self.em.scalar("bool", x, "c")
            kind = "bool"
        elif isinstance(x, int):
            v = self.em.scalar("i64", x, "c")
            kind = "int"
        elif isinstance(x, float):
            v = self.em.scalar("f32", x, "c")
            kind = "float"
        else:
            raise NodeError(f"expected a number, got {x!r}")
        if v.number is None:
            v.number = kind
        return v

    def as_bool_scalar(self, v):
        if isinstance(v, (bool, int)):
            return self.number(bool(v))
        v = self.tensor(v)
        if v.dtype != "bool":
            v = self.em.one("cast", [v], {"to": "bool"}, Type("bool", v.shape), "b")
        return v

    def tensor(self, v, dtype=None):
        """v as an IR tensor value; Python numbers become constants (of `dtype` if given)."""
        if isinstance(v, ir.Value):
            out = v
        elif isinstance(v, TensorConst):
            if dtype is not None and TORCH_TO_SY.get(v.tensor.dtype) != dtype:
                # Convert the constant now rather than casting it at run time.
                conv = self._converted.get((id(v.tensor), dtype))
                if conv is None:
                    conv = TensorConst(v.tensor.to(SY_TO_TORCH[dtype]), v.hint)
                    self._converted[(id(v.tensor), dtype)] = conv
                v = conv
            out = self.tensor_const(v)
        elif isinstance(v, (bool, int, float)):
            if dtype is not None:
                out = self.em.scalar(dtype, v, "c")
                return out
            out = self.number(v)
        elif isinstance(v, (ListV, list, tuple)):
            items = v.items if isinstance(v, ListV) else list(v)
            if all(isinstance(i, (int, ir.Value)) and not isinstance(i, bool) for i in items) and \
                    all(not isinstance(i, ir.Value) or i.rank == 0 for i in items):
                out = self.shape_tensor(items)[0]
            elif all(isinstance(i, float) for i in items):
                out = self.em.constant("f32", (len(items),), items)
            else:
                raise NodeError("a list of tensors cannot be used as one tensor")
        elif v is None:
            raise NodeError("expected a tensor, got None")
        elif isinstance(v, Unavailable):
            raise NodeError(f"{v.what} are not supported")
        else:
            raise NodeError(f"expected a tensor, got {type(v).__name__}")
        if dtype is not None and out.dtype != dtype:
            out = self.cast(out, dtype)
        return out

    def cast(self, v, dtype):
        if v.dtype == dtype:
            return v
        out = self.em.one("cast", [v], {"to": dtype}, Type(dtype, v.shape), "cast")
        out.number = v.number if v.number is None else {"bool": "bool", "i64": "int"}.get(dtype, "float")
        return out

    def tensor_const(self, c):
        t = c.tensor
        key = id(t)
        hit = self.tensor_cache.get(key)
        if hit is not None:
            return hit[1]
        if t.dtype == torch.float64:
            t = t.to(torch.float32)
        if t.dtype == torch.uint8:
            raise NodeError("uint8 tensors have no Switchyard dtype")
        if t.dtype not in TORCH_TO_SY:
            raise NodeError(f"tensor constant of dtype {t.dtype} has no Switchyard dtype")
        dtype = TORCH_TO_SY[t.dtype]
        shape = tuple(t.shape)
        saved = self.em.blocks
        saved_cache = self.em.const_cache
        self.em.blocks = saved[:1]  # constants and weights live at the top level
        self.em.const_cache = {}
        try:
            if t.numel() <= self.weight_threshold:
                vals = t.flatten().tolist()
                v = self.em.constant(dtype, shape, vals, "c")
            else:
                name = c.hint if c.hint and not c.hint.isdigit() else "const"
                name = name[5:] if name.startswith("self.") else name
                wname = name
                i = 1
                while wname in self.em.weights:
                    wname = f"{name}_{i}"
                    i += 1
                v = self.em.weight(wname, t.contiguous(), Type(dtype, shape))
        finally:
            self.em.blocks = saved
            self.em.const_cache = saved_cache
        self.tensor_cache[key] = (c.tensor, v)
        return v

    def shape_tensor(self, items):
        """A 1-D i64 tensor from a list of ints and IR i64 scalars; also the dims it
        stands for (int, symbol or None) for shape inference."""
        dims = []
        for i in items:
            if isinstance(i, ir.Value):
                dims.append(i.sym if i.sym is not None else (i.const[0] if i.const and len(i.const) == 1 else None))
            else:
                dims.append(int(i))
        if all(not isinstance(i, ir.Value) for i in items):
            return self.em.ints([int(i) for i in items]), dims
        pieces = []
        run = []
        for i in items:
            if isinstance(i, ir.Value):
                if run:
                    pieces.append(self.em.ints(run))
                    run = []
                pieces.append(self.one_d(i))
            else:
                run.append(int(i))
        if run:
            pieces.append(self.em.ints(run))
        if len(pieces) == 1:
            return pieces[0], dims
        out = self.em.one("concat", pieces, {"axis": 0}, Type("i64", (len(items),)), "shape")
        return out, dims

    def one_d(self, v):
        """An i64 scalar as a 1-element 1-D tensor (cached)."""
        if v.rank == 1:
            return v
        if v.as_1d is not None:
            return v.as_1d
        if v.dtype != "i64":
            v = self.cast(v, "i64")
        out = self.em.one("unsqueeze", [v], {"axes": [0]}, Type("i64", (1,)), "d")
        return out

    def dim_of(self, x, d):
        """Dim d of x: an int when static, else an IR i64 scalar (tagged with its symbol)."""
        d = ir.norm_axis(d, x.rank)
        size = x.shape[d] if x.shape is not None else None
        if isinstance(size, int):
            return size
        s = self.em.one("shape", [x], {"start": d, "end": d + 1}, Type("i64", (1,)), "dim")
        v = self.em.one("squeeze", [s], {"axes": [0]}, Type("i64", ()), "size")
        v.sym = size
        v.number = "int"
        v.as_1d = s
        return v

    def node_location(self):
        return source_location(self.node) if self.node is not None else ""


def load_module(module_or_path):
    """A ScriptModule from a module (scripted or traced), a ScriptFunction, or a path
    written by torch.jit.save."""
    if isinstance(module_or_path, (str, os.PathLike)):
        path = os.fspath(module_or_path)
        if not os.path.exists(path):
            raise ConversionError(f"{path}: no such file")
        try:
            return torch.jit.load(path, map_location="cpu")
        except Exception as e:  # noqa: BLE001 - torch raises RuntimeError/ValueError/zip errors
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise ConversionError(f"{path}: not a TorchScript file written by torch.jit.save ({first})") from None
    m = module_or_path
    if isinstance(m, (torch.jit.ScriptModule, torch.jit.ScriptFunction)):
        return m
    if isinstance(m, torch.nn.Module):
        raise ConversionError("expected a TorchScript module: pass torch.jit.script(model) or "
                              "torch.jit.trace(model, example_inputs), or a file written by torch.jit.save")
    raise ConversionError(f"expected a TorchScript module or a path, got {type(m).__name__}")


def frozen_graph(m):
    """The forward graph after inlining, freezing (parameters become constants) and
    constant propagation, with in-place ops turned functional where TorchScript can."""
    if isinstance(m, torch.jit.ScriptFunction):
        g = m.graph.copy()
        torch._C._jit_pass_inline(g)
    else:
        m = m.eval()
        try:
            m = torch.jit.freeze(m)
        except Exception as e:  # noqa: BLE001
            raise ConversionError(f"torch.jit.freeze failed: {str(e).strip().splitlines()[0]}") from None
        g = m.graph.copy()
        torch._C._jit_pass_inline(g)
    torch._C._jit_pass_remove_mutation(g)
    torch._C._jit_pass_constant_propagation(g)
    torch._C._jit_pass_dce(g)
    return g
