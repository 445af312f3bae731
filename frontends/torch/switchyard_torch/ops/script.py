"""TorchScript structure (lists, tuples, None checks) and the properties a
scripted module checks before choosing a path."""
import torch

from .. import ir
from ..convert import ListV, NodeError, TensorConst, TupleV
from .common import _dims_arg, binary, const, lowers, reduce_v, unary
from .arith import _arith
from .nn import _matmul


@lowers("prim::ListConstruct", to="(none)", note="resolved at conversion")
def _list(cx, n, a):
    return ListV(a)


@lowers("prim::TupleConstruct", to="(none)", note="resolved at conversion")
def _tuple(cx, n, a):
    return TupleV(a)


@lowers("prim::ListUnpack", "prim::TupleUnpack", to="(none)", note="resolved at conversion")
def _unpack(cx, n, a):
    v = a[0]
    items = v.items if isinstance(v, (ListV, TupleV)) else list(v)
    if len(items) != n.outputsSize():
        raise NodeError(f"unpacking {len(items)} items into {n.outputsSize()} values")
    return items


@lowers("aten::list", to="(none)", note="a copy of a list; resolved at conversion")
def _list_copy(cx, n, a):
    v = a[0]
    items = v.items if isinstance(v, (ListV, TupleV)) else list(v)
    return ListV(list(items))


@lowers("prim::TupleIndex", "aten::__getitem__", to="(none)", note="constant index; resolved at conversion")
def _getitem(cx, n, a):
    v = a[0]
    items = v.items if isinstance(v, (ListV, TupleV)) else v
    i = const(a[1], "index")
    if isinstance(items, (list, tuple)):
        return items[int(i)]
    raise NodeError("indexing something that is not a list or tuple")


@lowers("aten::__is__", "aten::__isnot__", to="(none)", note="None checks resolved at conversion")
def _is(cx, n, a):
    same = (a[0] is None) == (a[1] is None) if (a[0] is None or a[1] is None) else a[0] is a[1]
    return same if n.kind() == "aten::__is__" else not same


@lowers("prim::unchecked_cast", "prim::RaiseException", "aten::warn", "prim::Uninitialized", to="(none)",
        note="unchecked_cast: identity; warn: dropped")
def _misc(cx, n, a):
    kind = n.kind()
    if kind == "prim::unchecked_cast":
        return a[0]
    if kind == "prim::RaiseException":
        raise NodeError("the model raises an exception on a path taken at run time (data-dependent check)")
    if kind == "prim::Uninitialized":
        return None
    return []


@lowers("prim::device", "prim::dtype", "prim::layout", to="(none)", note="resolved at conversion")
def _prim_props(cx, n, a):
    if n.kind() == "prim::dtype":
        x = cx.tensor(a[0])
        codes = {"f32": 6, "f16": 5, "bf16": 15, "i8": 1, "i32": 3, "i64": 4, "bool": 11}  # ScalarType numbers
        return codes[x.dtype]
    return torch.device("cpu") if n.kind() == "prim::device" else 0


@lowers("aten::format", "aten::str", to="(none)", note="strings for messages")
def _format(cx, n, a):
    if isinstance(a[0], (ir.Value, ListV, TupleV)):
        return "<run-time value>"
    return str(a[0])


@lowers("aten::append", to="(none)", note="on lists built in the graph, outside loops")
def _append(cx, n, a):
    if not isinstance(a[0], ListV):
        raise NodeError("append to a list that is not built in the graph")
    if len(cx.em.blocks) > 1:
        raise NodeError("append inside a loop or a data-dependent if (lists built at run time are not supported)")
    a[0].items.append(a[1])
    return a[0]


@lowers("aten::__range_length", to="(none)", note="numbers known at conversion")
def _range_length(cx, n, a):
    lo, hi, step = (const(v, "range bound") for v in a)
    return len(range(lo, hi, step))


@lowers("aten::__derive_index", to="(none)", note="numbers known at conversion")
def _derive_index(cx, n, a):
    idx, start, step = a
    return _arith(cx, "add", start, _arith(cx, "mul", idx, step))


@lowers("aten::baddbmm", to="matmul, mul, add")
def _baddbmm(cx, n, a):
    inp, b1, b2, beta, alpha = a
    m = _matmul(cx, n, [b1, b2])
    m = _arith(cx, "mul", m, const(alpha, "alpha")) if const(alpha, "alpha") != 1 else m
    i = _arith(cx, "mul", inp, const(beta, "beta")) if const(beta, "beta") != 1 else inp
    return _arith(cx, "add", i, m)


@lowers("prim::is_cuda", "prim::is_nested", "prim::requires_grad", "prim::is_sparse", "prim::is_quantized",
        "prim::is_mkldnn", "prim::is_meta", "prim::is_xpu", "prim::is_mps", "aten::is_grad_enabled",
        "aten::is_autocast_enabled", "aten::is_autocast_cpu_enabled", "aten::is_inference_mode_enabled",
        "aten::has_torch_function", to="(none)",
        note="known at conversion: an exported program runs dense CPU-style tensors without autograd")
def _false_props(cx, n, a):
    return n.kind() == "aten::is_inference_mode_enabled"


@lowers("aten::is_floating_point", to="(none)", note="the dtype is known at conversion")
def _is_floating_point(cx, n, a):
    return cx.tensor(a[0]).dtype in ir.FLOAT_DTYPES


@lowers("aten::__contains__", "aten::find", "aten::all", "aten::any", "aten::startswith", "aten::endswith",
        to="reduce_min, reduce_max, cast", note="on lists and strings: at conversion; on tensors: a reduction")
def _py_seq(cx, n, a):
    kind = n.kind()
    if kind in ("aten::all", "aten::any") and isinstance(a[0], (ir.Value, TensorConst)):
        x = cx.tensor(a[0])
        dims = _dims_arg(a[1]) if len(a) > 1 else None
        keep = bool(const(a[2], "keepdim")) if len(a) > 2 else False
        xi = cx.cast(x if x.dtype == "bool" else binary(cx, "equal", x, cx.em.scalar(x.dtype, 0), "bool"), "i32") \
            if x.dtype != "bool" else cx.cast(x, "i32")
        if x.dtype != "bool":
            xi = cx.cast(unary(cx, "logical_not", cx.cast(xi, "bool")), "i32")
        r = reduce_v(cx, "reduce_min" if kind == "aten::all" else "reduce_max", xi, dims, keep)
        return cx.cast(r, "bool")
    vals = [(v.items if isinstance(v, ListV) else v) for v in a]
    for v in vals:
        items = v if isinstance(v, (list, tuple)) else [v]
        if any(isinstance(i, (ir.Value, TensorConst)) for i in items):
            raise NodeError(f"{kind} on values computed at run time")
    if kind == "aten::__contains__":
        return vals[1] in vals[0]
    if kind == "aten::find":
        return vals[0].find(vals[1], *(vals[2:4]))
    if kind == "aten::all":
        return all(vals[0])
    if kind == "aten::any":
        return any(vals[0])
    if kind == "aten::startswith":
        return vals[0].startswith(vals[1])
    return vals[0].endswith(vals[1])
