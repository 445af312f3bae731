"""Elementwise math, activations, comparisons, reductions and einsum."""
import math

from .. import ir
from ..convert import ListV, NodeError, TensorConst, TupleV
from ..ir import Type
from .common import (
    _dims_arg, _tensor_list, _torch_dtype, all_python, binary, const, float_input, is_number, lowers,
    operands, out_number, rank_of, reduce_v, reshape_v, result_dtype, squeeze_v, static_dim, transpose_v,
    unary, unsqueeze_v,
)


_UNARY = {
    "relu": "relu", "sigmoid": "sigmoid", "tanh": "tanh", "exp": "exp", "log": "log", "sqrt": "sqrt",
    "rsqrt": "rsqrt", "abs": "abs", "neg": "neg", "erf": "erf", "sin": "sin", "cos": "cos", "floor": "floor",
    "ceil": "ceil", "round": "round", "reciprocal": "reciprocal", "sign": "sign", "silu": "silu",
}


_FLOAT_ONLY = {"sigmoid", "tanh", "exp", "log", "sqrt", "rsqrt", "erf", "sin", "cos", "reciprocal", "silu"}


def _make_unary(name, op):
    def fn(cx, n, a):
        x = a[0]
        if isinstance(x, (int, float)) and not isinstance(x, bool) and op in ("neg", "abs"):
            return -x if op == "neg" else abs(x)
        x = float_input(cx, x) if op in _FLOAT_ONLY else cx.tensor(x)
        return unary(cx, op, x)
    return fn


for _name, _op in _UNARY.items():
    lowers(f"aten::{_name}", f"aten::{_name}_", to=_op)(_make_unary(_name, _op))


@lowers("aten::gelu", "aten::gelu_", to="gelu")
def _gelu(cx, n, a):
    approx = a[1] if len(a) > 1 else "none"
    return unary(cx, "gelu", float_input(cx, a[0]), {"approximate": approx})


@lowers("aten::leaky_relu", "aten::leaky_relu_", to="leaky_relu")
def _leaky(cx, n, a):
    return unary(cx, "leaky_relu", float_input(cx, a[0]), {"alpha": float(const(a[1], "negative_slope"))})


@lowers("aten::hardtanh", "aten::hardtanh_", to="clip")
def _hardtanh(cx, n, a):
    bounds = {"min": float(const(a[1], "min_val")), "max": float(const(a[2], "max_val"))}
    return unary(cx, "clip", cx.tensor(a[0]), bounds)


@lowers("aten::relu6", "aten::relu6_", to="clip")
def _relu6(cx, n, a):
    return unary(cx, "clip", cx.tensor(a[0]), {"min": 0.0, "max": 6.0})


def _hardsigmoid_v(cx, x):
    # relu6(x + 3) / 6, written as PyTorch computes it.
    t = binary(cx, "add", x, cx.em.scalar(x.dtype, 3.0))
    c = unary(cx, "clip", t, {"min": 0.0, "max": 6.0})
    return binary(cx, "div", c, cx.em.scalar(x.dtype, 6.0))


@lowers("aten::hardsigmoid", "aten::hardsigmoid_", to="add, clip, div")
def _hardsigmoid(cx, n, a):
    return _hardsigmoid_v(cx, float_input(cx, a[0]))


@lowers("aten::hardswish", "aten::hardswish_", to="add, clip, div, mul")
def _hardswish(cx, n, a):
    x = float_input(cx, a[0])
    return binary(cx, "mul", x, _hardsigmoid_v(cx, x))


@lowers("aten::elu", "aten::elu_", to="exp, sub, mul, greater, where", note="scale and input_scale 1")
def _elu(cx, n, a):
    x = float_input(cx, a[0])
    alpha = float(const(a[1], "alpha"))
    if len(a) > 2 and (float(const(a[2], "scale")) != 1.0 or float(const(a[3], "input_scale")) != 1.0):
        raise NodeError("elu with scale or input_scale other than 1")
    e = unary(cx, "exp", x)
    em1 = binary(cx, "sub", e, cx.em.scalar(x.dtype, 1.0))
    neg = binary(cx, "mul", em1, cx.em.scalar(x.dtype, alpha))
    pos = binary(cx, "greater", x, cx.em.scalar(x.dtype, 0.0), "bool")
    return cx.em.one("where", [pos, x, neg], {}, Type(x.dtype, x.shape), "elu")


@lowers("aten::softplus", to="exp, add, log, greater, where", note="beta and threshold as PyTorch")
def _softplus(cx, n, a):
    x = float_input(cx, a[0])
    beta = float(const(a[1], "beta"))
    thr = float(const(a[2], "threshold"))
    bx = binary(cx, "mul", x, cx.em.scalar(x.dtype, beta)) if beta != 1.0 else x
    sp = unary(cx, "log", binary(cx, "add", unary(cx, "exp", bx), cx.em.scalar(x.dtype, 1.0)))
    if beta != 1.0:
        sp = binary(cx, "div", sp, cx.em.scalar(x.dtype, beta))
    big = binary(cx, "greater", bx, cx.em.scalar(x.dtype, thr), "bool")
    return cx.em.one("where", [big, x, sp], {}, Type(x.dtype, x.shape), "softplus")


@lowers("aten::softmax", "aten::_softmax", to="softmax")
def _softmax(cx, n, a):
    x = float_input(cx, a[0])
    return unary(cx, "softmax", x, {"axis": ir.norm_axis(int(const(a[1], "dim")), rank_of(x))})


@lowers("aten::log_softmax", "aten::_log_softmax", to="log_softmax")
def _log_softmax(cx, n, a):
    x = float_input(cx, a[0])
    return unary(cx, "log_softmax", x, {"axis": ir.norm_axis(int(const(a[1], "dim")), rank_of(x))})


@lowers("aten::clamp", "aten::clamp_", "aten::clip", "aten::clip_", to="clip, maximum, minimum")
def _clamp(cx, n, a):
    x = cx.tensor(a[0])
    lo, hi = a[1], a[2]
    if (lo is None or isinstance(lo, (int, float))) and (hi is None or isinstance(hi, (int, float))):
        attrs = {}
        if lo is not None:
            attrs["min"] = float(lo)
        if hi is not None:
            attrs["max"] = float(hi)
        return unary(cx, "clip", x, attrs)
    y = x
    if lo is not None:
        y = binary(cx, "maximum", y, cx.tensor(lo, x.dtype))
    if hi is not None:
        y = binary(cx, "minimum", y, cx.tensor(hi, x.dtype))
    return y


@lowers("aten::clamp_min", "aten::clamp_min_", to="clip")
def _clamp_min(cx, n, a):
    return unary(cx, "clip", cx.tensor(a[0]), {"min": float(const(a[1], "min"))})


@lowers("aten::clamp_max", "aten::clamp_max_", to="clip")
def _clamp_max(cx, n, a):
    return unary(cx, "clip", cx.tensor(a[0]), {"max": float(const(a[1], "max"))})


_PY_BIN = {
    "add": lambda x, y: x + y, "sub": lambda x, y: x - y, "mul": lambda x, y: x * y,
    "div": lambda x, y: x / y, "floordiv": lambda x, y: x // y, "remainder": lambda x, y: x % y,
    "pow": lambda x, y: x ** y,
}


def _arith(cx, op, a, b, alpha=1):
    if all_python(a, b) and (alpha == 1 or alpha is None):
        return _PY_BIN[op](a, b)
    if alpha not in (1, None):
        alpha = const(alpha, "alpha")
        if alpha != 1:
            b = _arith(cx, "mul", b, alpha)
    if op == "div":
        dt = result_dtype(a, b)
        if dt not in ir.FLOAT_DTYPES:
            dt = "f32"  # true division
        x, y, dt = operands(cx, a, b, dt)
        out = binary(cx, "div", x, y)
        if is_number(a) and is_number(b):
            out.number = "float"
        return out
    if op == "floordiv":
        x, y, dt = operands(cx, a, b)
        if dt in ir.FLOAT_DTYPES:
            return unary(cx, "floor", binary(cx, "div", x, y))
        return _int_floordiv(cx, x, y, dt)
    ir_op = {"add": "add", "sub": "sub", "mul": "mul", "remainder": "mod", "pow": "pow"}[op]
    x, y, dt = operands(cx, a, b)
    out = binary(cx, ir_op, x, y)
    if is_number(a) and is_number(b):
        out.number = out_number(dt)
    return out


def _int_floordiv(cx, x, y, dt):
    # The IR's integer div truncates toward zero; Python's // floors: subtract one
    # where the remainder (sign of the dividend) is non-zero and the signs differ.
    q = binary(cx, "div", x, y)
    r = cx.em.one("mod", [x, y], {"fmod": 1}, Type(dt, ir.broadcast_shapes(x.shape, y.shape)), "rem")
    zero = cx.em.scalar(dt, 0)
    nz = unary(cx, "logical_not", binary(cx, "equal", r, zero, "bool"))
    diff = unary(cx, "logical_not", binary(cx, "equal", binary(cx, "less", r, zero, "bool"),
                                           binary(cx, "less", y, zero, "bool"), "bool"))
    adj = binary(cx, "logical_and", nz, diff, "bool")
    one = cx.em.scalar(dt, 1)
    out = cx.em.one("where", [adj, binary(cx, "sub", q, one), q], {}, Type(dt, q.shape), "fdiv")
    out.number = q.number
    return out


@lowers("aten::add", "aten::add_", to="add")
def _add(cx, n, a):
    if isinstance(a[0], ListV) or isinstance(a[0], list):  # list concatenation
        items = a[0].items if isinstance(a[0], ListV) else a[0]
        more = a[1].items if isinstance(a[1], ListV) else a[1]
        return ListV(list(items) + list(more))
    if isinstance(a[0], str):
        return a[0] + a[1]
    return _arith(cx, "add", a[0], a[1], a[2] if len(a) > 2 else 1)


@lowers("aten::sub", "aten::sub_", to="sub")
def _sub(cx, n, a):
    return _arith(cx, "sub", a[0], a[1], a[2] if len(a) > 2 else 1)


@lowers("aten::rsub", to="sub")
def _rsub(cx, n, a):
    return _arith(cx, "sub", a[1], a[0], a[2] if len(a) > 2 else 1)


@lowers("aten::mul", "aten::mul_", to="mul")
def _mul(cx, n, a):
    return _arith(cx, "mul", a[0], a[1])


@lowers("aten::div", "aten::div_", to="div, floor", note="rounding_mode 'trunc' unsupported for floats")
def _div(cx, n, a):
    mode = a[2] if len(a) > 2 else None
    if mode is None:
        return _arith(cx, "div", a[0], a[1])
    if mode == "floor":
        return _arith(cx, "floordiv", a[0], a[1])
    if mode == "trunc" and all_python(a[0], a[1]):
        return int(a[0] / a[1])
    dt = result_dtype(a[0], a[1])
    if mode == "trunc" and dt not in ir.FLOAT_DTYPES:
        x, y, _ = operands(cx, a[0], a[1])
        return binary(cx, "div", x, y)
    raise NodeError(f"div with rounding_mode {mode!r} on floats")


@lowers("aten::floordiv", "aten::floor_divide", to="div, mod, where")
def _floordiv(cx, n, a):
    return _arith(cx, "floordiv", a[0], a[1])


@lowers("aten::remainder", "aten::__mod__", to="mod")
def _remainder(cx, n, a):
    return _arith(cx, "remainder", a[0], a[1])


@lowers("aten::fmod", to="mod")
def _fmod(cx, n, a):
    if all_python(a[0], a[1]):
        return math.fmod(a[0], a[1])
    x, y, dt = operands(cx, a[0], a[1])
    return cx.em.one("mod", [x, y], {"fmod": 1}, Type(dt, ir.broadcast_shapes(x.shape, y.shape)), "fmod")


@lowers("aten::pow", to="pow")
def _pow(cx, n, a):
    if all_python(a[0], a[1]):
        return a[0] ** a[1]
    dt = result_dtype(a[0], a[1])
    x, y, dt = operands(cx, a[0], a[1], dt)
    return binary(cx, "pow", x, y)


@lowers("aten::maximum", "aten::minimum", "aten::max.other", to="maximum, minimum")
def _maxmin_bin(cx, n, a):
    op = "maximum" if "max" in n.kind() else "minimum"
    x, y, dt = operands(cx, a[0], a[1])
    return binary(cx, op, x, y)


_CMP = {"eq": "equal", "ne": "equal", "lt": "less", "le": "less_equal", "gt": "greater", "ge": "greater_equal"}


_PY_CMP = {"eq": lambda x, y: x == y, "ne": lambda x, y: x != y, "lt": lambda x, y: x < y,
           "le": lambda x, y: x <= y, "gt": lambda x, y: x > y, "ge": lambda x, y: x >= y}


def _same_items(x, y):
    """Whether two lists (shapes, mostly) are equal, or None when that is known only
    at run time. Sizes with the same symbol are equal (a symbol has one size per run)."""
    xs = x.items if isinstance(x, (ListV, TupleV)) else list(x)
    ys = y.items if isinstance(y, (ListV, TupleV)) else list(y)
    if len(xs) != len(ys):
        return False
    for a, b in zip(xs, ys):
        if a is b:
            continue
        if isinstance(a, ir.Value) or isinstance(b, ir.Value):
            sa = a.sym if isinstance(a, ir.Value) else a
            sb = b.sym if isinstance(b, ir.Value) else b
            if sa is None or sb is None:
                return None
            if sa != sb:
                if isinstance(sa, str) or isinstance(sb, str):
                    return None
                return False
            continue
        if isinstance(a, (ListV, TupleV, list, tuple)):
            r = _same_items(a, b)
            if r is not True:
                return r
            continue
        if a != b:
            return False
    return True


def _make_cmp(name):
    def fn(cx, n, a):
        x, y = a[0], a[1]
        if not isinstance(x, (ir.Value, TensorConst)) and not isinstance(y, (ir.Value, TensorConst)):
            if isinstance(x, (ListV, TupleV, list, tuple)) or isinstance(y, (ListV, TupleV, list, tuple)):
                if name not in ("eq", "ne"):
                    raise NodeError("ordering lists")
                same = _same_items(x, y)
                if same is None:
                    raise NodeError("comparing lists whose items are known only at run time")
                return same if name == "eq" else not same
            return _PY_CMP[name](x, y)
        xs, ys, dt = operands(cx, x, y)
        out = binary(cx, _CMP[name], xs, ys, "bool")
        if name == "ne":
            out = unary(cx, "logical_not", out)
        if is_number(x) and is_number(y):
            out.number = "bool"
        return out
    return fn


for _c in _CMP:
    lowers(f"aten::{_c}", f"aten::{_c}_", to=_CMP[_c] + (", logical_not" if _c == "ne" else ""))(_make_cmp(_c))


def _make_logic(op):
    def fn(cx, n, a):
        if all_python(a[0], a[1]):
            return {"logical_and": a[0] and a[1], "logical_or": a[0] or a[1],
                    "logical_xor": bool(a[0]) != bool(a[1])}[op]
        x, y = cx.tensor(a[0], "bool"), cx.tensor(a[1], "bool")
        return binary(cx, op, x, y, "bool")
    return fn


lowers("aten::logical_and", "aten::__and__", "aten::bitwise_and", to="logical_and",
       note="bool operands")(_make_logic("logical_and"))


lowers("aten::logical_or", "aten::__or__", "aten::bitwise_or", to="logical_or",
       note="bool operands")(_make_logic("logical_or"))


lowers("aten::logical_xor", "aten::__xor__", "aten::bitwise_xor", to="logical_xor",
       note="bool operands")(_make_logic("logical_xor"))


@lowers("aten::logical_not", "aten::bitwise_not", "aten::__not__", to="logical_not", note="bool operands")
def _not(cx, n, a):
    if isinstance(a[0], bool):
        return not a[0]
    x = cx.tensor(a[0])
    if x.dtype != "bool":
        if n.kind() == "aten::bitwise_not":
            raise NodeError("bitwise_not on integers")
        x = cx.cast(x, "bool")
    return unary(cx, "logical_not", x)


@lowers("aten::where", to="where")
def _where(cx, n, a):
    if len(a) == 1:
        raise NodeError("where(condition) with one argument (nonzero)")
    c = cx.tensor(a[0], "bool")
    x, y, dt = operands(cx, a[1], a[2])
    shape = ir.broadcast_shapes(c.shape, x.shape, y.shape)
    return cx.em.one("where", [c, x, y], {}, Type(dt, shape), "where")


@lowers("aten::masked_fill", "aten::masked_fill_", to="where")
def _masked_fill(cx, n, a):
    x = cx.tensor(a[0])
    m = cx.tensor(a[1], "bool")
    v = a[2]
    if isinstance(v, (int, float, bool)):
        fill = cx.em.scalar(x.dtype, v)
    else:
        fill = cx.tensor(v, x.dtype)
    shape = ir.broadcast_shapes(m.shape, x.shape, fill.shape)
    return cx.em.one("where", [m, fill, x], {}, Type(x.dtype, shape), "masked")


def _make_reduce(op):
    def fn(cx, n, a):
        x = cx.tensor(a[0])
        dims = _dims_arg(a[1]) if len(a) > 1 else None
        keep = bool(const(a[2], "keepdim")) if len(a) > 2 else False
        dtype = a[3] if len(a) > 3 else None
        if len(a) == 2 and not isinstance(a[1], (ListV, list, int)) and a[1] is not None:
            dims = None  # sum(x, dtype)
            dtype = a[1]
        if dtype is not None:
            dtype = _torch_dtype(dtype)
            x = cx.cast(x, dtype)
        elif op in ("reduce_sum", "reduce_prod") and x.dtype in ("bool", "i8", "i32"):
            x = cx.cast(x, "i64")
        elif op == "reduce_mean" and x.dtype not in ir.FLOAT_DTYPES:
            raise NodeError("mean of an integer tensor")
        return reduce_v(cx, op, x, dims, keep)
    return fn


lowers("aten::sum", to="reduce_sum")(_make_reduce("reduce_sum"))


lowers("aten::mean", to="reduce_mean")(_make_reduce("reduce_mean"))


lowers("aten::prod", to="reduce_prod")(_make_reduce("reduce_prod"))


@lowers("aten::amax", to="reduce_max")
def _amax(cx, n, a):
    return reduce_v(cx, "reduce_max", cx.tensor(a[0]), _dims_arg(a[1]), bool(const(a[2], "keepdim")))


@lowers("aten::amin", to="reduce_min")
def _amin(cx, n, a):
    return reduce_v(cx, "reduce_min", cx.tensor(a[0]), _dims_arg(a[1]), bool(const(a[2], "keepdim")))


def _arg(cx, op, x, dim, keep):
    x = cx.tensor(x)
    r = rank_of(x)
    if dim is None:
        x = reshape_v(cx, x, [-1])
        dim, r, keep = 0, 1, False
    d = ir.norm_axis(int(dim), r)
    if keep:
        shape = [1 if i == d else s for i, s in enumerate(x.shape)]
    else:
        shape = [s for i, s in enumerate(x.shape) if i != d]
    return cx.em.one(op, [x], {"axis": d, "keepdims": int(bool(keep))}, Type("i64", shape), "arg")


@lowers("aten::max", "aten::min", to="reduce_max, reduce_min, argmax, argmin, maximum, minimum")
def _maxmin(cx, n, a):
    is_max = n.kind() == "aten::max"
    if len(a) == 1:
        if isinstance(a[0], ListV) or isinstance(a[0], list):  # max(list of ints)
            items = a[0].items if isinstance(a[0], ListV) else a[0]
            if all_python(*items):
                return max(items) if is_max else min(items)
            raise NodeError("max of a list computed at run time")
        return reduce_v(cx, "reduce_max" if is_max else "reduce_min", cx.tensor(a[0]), None, False)
    if len(a) == 2 and not isinstance(a[1], int):
        if all_python(a[0], a[1]):
            return max(a[0], a[1]) if is_max else min(a[0], a[1])
        x, y, dt = operands(cx, a[0], a[1])
        return binary(cx, "maximum" if is_max else "minimum", x, y)
    x = cx.tensor(a[0])
    dim = int(const(a[1], "dim"))
    keep = bool(const(a[2], "keepdim")) if len(a) > 2 else False
    vals = reduce_v(cx, "reduce_max" if is_max else "reduce_min", x, [dim], keep)
    idx = _arg(cx, "argmax" if is_max else "argmin", x, dim, keep)
    return [vals, idx]


@lowers("prim::max", "prim::min", to="maximum, minimum")
def _prim_maxmin(cx, n, a):
    is_max = n.kind() == "prim::max"
    if len(a) == 1:
        items = a[0].items if isinstance(a[0], ListV) else a[0]
        if all_python(*items):
            return max(items) if is_max else min(items)
        raise NodeError("max of a list computed at run time")
    if all_python(a[0], a[1]):
        return max(a[0], a[1]) if is_max else min(a[0], a[1])
    x, y, dt = operands(cx, a[0], a[1])
    return binary(cx, "maximum" if is_max else "minimum", x, y)


@lowers("aten::argmax", to="argmax")
def _argmax(cx, n, a):
    return _arg(cx, "argmax", a[0], a[1], const(a[2], "keepdim"))


@lowers("aten::argmin", to="argmin")
def _argmin(cx, n, a):
    return _arg(cx, "argmin", a[0], a[1], const(a[2], "keepdim"))


@lowers("aten::var", "aten::std", to="reduce_mean, sub, mul, div, sqrt",
        note="var/std(x, dim, unbiased, keepdim)")
def _var(cx, n, a):
    x = float_input(cx, a[0])
    if len(a) == 2:
        dims, unbiased, keep = None, bool(const(a[1], "unbiased")), False
    else:
        dims, unbiased, keep = _dims_arg(a[1]), const(a[2], "unbiased"), bool(const(a[3], "keepdim"))
        if isinstance(unbiased, int) and not isinstance(unbiased, bool):  # the correction overload
            unbiased = unbiased != 0
        unbiased = True if unbiased is None else bool(unbiased)
    r = rank_of(x)
    axes = list(range(r)) if not dims else [ir.norm_axis(d, r) for d in dims]
    count = 1
    for d in axes:
        count *= static_dim(x, d, "var/std")
    mean = reduce_v(cx, "reduce_mean", x, axes, True)
    dev = binary(cx, "sub", x, mean)
    sq = binary(cx, "mul", dev, dev)
    var = reduce_v(cx, "reduce_mean", sq, axes, keep)
    if unbiased:
        var = binary(cx, "mul", var, cx.em.scalar(x.dtype, count / max(count - 1, 1)))
    return unary(cx, "sqrt", var) if n.kind() == "aten::std" else var


def _einsum_labels(spec, rank, what):
    if "..." in spec:
        raise NodeError("einsum with '...'")
    labels = list(spec)
    if len(labels) != rank:
        raise NodeError(f"einsum: {what} has {len(labels)} labels for {rank} dims")
    if len(set(labels)) != len(labels):
        raise NodeError("einsum with a label repeated in one operand (a diagonal)")
    return labels


def _to_order(cx, x, labels, order):
    """x (dims named by labels) transposed to `order`, with size-1 dims for labels
    of `order` it lacks."""
    present = [l for l in order if l in labels]
    x = transpose_v(cx, x, [labels.index(l) for l in present])
    for i, l in enumerate(order):
        if l not in labels:
            x = unsqueeze_v(cx, x, i)
    return x


@lowers("aten::einsum", to="transpose, matmul, mul, reduce_sum",
        note="one or two operands, explicit output, no '...' or diagonals")
def _einsum(cx, n, a):
    eq = a[0].replace(" ", "")
    ops = _tensor_list(cx, a[1])
    if "->" not in eq:
        raise NodeError("einsum without an explicit output ('->')")
    ins, out = eq.split("->")
    specs = ins.split(",")
    if len(specs) != len(ops) or len(ops) not in (1, 2):
        raise NodeError("einsum with more than two operands")
    dt = result_dtype(*ops) if len(ops) > 1 else ops[0].dtype
    ops = [cx.cast(o, dt) for o in ops]
    labels = [_einsum_labels(sp, rank_of(o), f"operand {i}") for i, (sp, o) in enumerate(zip(specs, ops))]
    out_l = list(out)
    # Sum out labels that appear in one operand only and not in the output.
    for i in range(len(ops)):
        others = set(out_l).union(*[set(l) for j, l in enumerate(labels) if j != i])
        gone = [k for k, l in enumerate(labels[i]) if l not in others]
        if gone:
            ops[i] = reduce_v(cx, "reduce_sum", ops[i], gone, False)
            labels[i] = [l for l in labels[i] if l not in [labels[i][k] for k in gone]]
    if len(ops) == 1:
        return _to_order(cx, ops[0], labels[0], out_l)
    la, lb = labels
    contract = [l for l in la if l in lb and l not in out_l]
    batch = [l for l in out_l if l in la and l in lb]
    fa = [l for l in out_l if l in la and l not in lb]
    fb = [l for l in out_l if l in lb and l not in la]
    if len(contract) == 1 and len(fa) <= 1 and len(fb) <= 1:
        # [batch, m, k] @ [batch, k, n] (a missing m or n is a size-1 dim).
        A = _to_order(cx, ops[0], la, batch + (fa or ["_m"]) + contract)
        B = _to_order(cx, ops[1], lb, batch + contract + (fb or ["_n"]))
        y = cx.em.one("matmul", [A, B], {}, Type(dt, ir.infer_matmul(A.shape, B.shape)), "einsum")
        drop = ([len(batch)] if not fa else []) + ([len(batch) + 1] if not fb else [])
        if drop:
            y = squeeze_v(cx, y, drop)
        return _to_order(cx, y, batch + fa + fb, out_l)
    # General case: broadcast both to [output labels..., contracted...], multiply, sum.
    full = out_l + contract
    y = binary(cx, "mul", _to_order(cx, ops[0], la, full), _to_order(cx, ops[1], lb, full))
    if contract:
        y = reduce_v(cx, "reduce_sum", y, list(range(len(out_l), len(full))), False)
    return y
