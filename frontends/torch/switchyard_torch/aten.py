"""The ATen op table: how each TorchScript op becomes Switchyard IR ops.

Each entry is registered with `@lowers("aten::x", ..., to="ir ops")`; `to`
names the IR ops it emits and feeds the generated table in docs/pytorch.md.
A lowering gets the converter, the TorchScript node and its converted inputs
(see convert.py for what a converted value can be) and returns the outputs.
Only ops the IR already has are used: an ATen op that needs anything else is
left out of the table and reported as unsupported.
"""
import math

import torch

from . import ir
from .convert import TORCH_TO_SY, SY_TO_TORCH, ListV, NodeError, TensorConst, TupleV, Unavailable
from .ir import Type

TABLE = {}
DOC = {}  # kind -> (ir ops, note)


def lowers(*kinds, to="", note=""):
    def deco(fn):
        for k in kinds:
            TABLE[k] = fn
            DOC[k] = (to, note)
        return fn
    return deco


# ---------------------------------------------------------------------------
# Argument helpers


def const(v, what):
    """v must be known at conversion time."""
    if isinstance(v, ir.Value):
        if v.const is not None and v.rank == 0:
            return v.const[0]
        raise NodeError(f"{what} must be known when converting (it is computed at run time)")
    if isinstance(v, TensorConst):
        if v.tensor.numel() == 1:
            return v.tensor.item()
        raise NodeError(f"{what} must be a number")
    return v


def int_list(v, what):
    if isinstance(v, ListV):
        return [int(const(i, what)) for i in v.items]
    if isinstance(v, (list, tuple)):
        return [int(i) for i in v]
    if isinstance(v, int):
        return [v]
    raise NodeError(f"{what} must be a list of ints known when converting")


def dyn_int_list(cx, v):
    """A list of sizes whose items may be computed at run time."""
    if isinstance(v, ListV):
        out = []
        for i in v.items:
            if isinstance(i, ir.Value):
                if i.rank not in (0, None) and not (i.rank == 1 and i.shape[0] == 1):
                    raise NodeError("a size must be a number")
                out.append(i if i.rank == 0 else cx.em.one("squeeze", [i], {"axes": [0]}, Type(i.dtype, ()), "s"))
            elif isinstance(i, TensorConst):
                out.append(int(i.tensor.item()))
            else:
                out.append(int(i))
        return out
    if isinstance(v, (list, tuple)):
        return [int(i) for i in v]
    if isinstance(v, ir.Value) and v.rank == 1:
        return v  # a whole shape tensor
    raise NodeError("expected a list of sizes")


def static_dim(x, d, what):
    """Dim d of x as an int; a symbolic batch dim makes the converter retry with a
    static batch (Note [static batch fallback] in ir.py)."""
    size = x.shape[d] if x.shape is not None else None
    if isinstance(size, int):
        return size
    if isinstance(size, str):
        raise ir.NeedStaticBatch(f"{what} needs the size of dim {d} ({size}) when converting")
    raise NodeError(f"{what} needs the size of dim {d}, which is known only at run time")


def rank_of(x):
    if x.rank is None:
        raise NodeError("the rank of the input must be known")
    return x.rank


def proto(v):
    """Something torch.result_type takes, standing for v (for type promotion)."""
    if isinstance(v, ir.Value):
        td = SY_TO_TORCH[v.dtype]
        if v.number == "int":
            return 1
        if v.number == "float":
            return 1.0
        if v.number == "bool":
            return True
        return torch.zeros([1] * (v.rank if v.rank is not None else 1), dtype=td)
    if isinstance(v, TensorConst):
        return torch.zeros([1] * v.tensor.dim(), dtype=v.tensor.dtype)
    if isinstance(v, (bool, int, float)):
        return v
    raise NodeError(f"expected a tensor or a number, got {type(v).__name__}")


def _as_tensor(p):
    if isinstance(p, torch.Tensor):
        return p
    dt = torch.bool if isinstance(p, bool) else (torch.int64 if isinstance(p, int) else torch.float32)
    return torch.zeros([], dtype=dt)


def result_dtype(*vals):
    """PyTorch's type promotion of the operands (torch.result_type, pairwise):
    numbers and 0-dim tensors promote within their category only."""
    protos = [proto(v) for v in vals]
    acc = protos[0]
    for q in protos[1:]:
        if not isinstance(acc, torch.Tensor) and not isinstance(q, torch.Tensor):
            acc = _as_tensor(acc)  # two numbers: the first as a 0-dim tensor
        dt = torch.result_type(acc, q)
        dims = max((x.dim() for x in (acc, q) if isinstance(x, torch.Tensor)), default=0)
        acc = torch.zeros([1] * min(dims, 1), dtype=dt)
    dt = _as_tensor(acc).dtype
    if dt == torch.float64:
        dt = torch.float32
    if dt not in TORCH_TO_SY:
        raise NodeError(f"dtype {dt} has no Switchyard equivalent")
    return TORCH_TO_SY[dt]


def is_number(v):
    return isinstance(v, (bool, int, float)) or (isinstance(v, ir.Value) and v.number is not None)


def all_python(*vals):
    return all(isinstance(v, (bool, int, float)) for v in vals)


def out_number(dtype):
    return {"i64": "int", "f32": "float", "bool": "bool"}.get(dtype)


# ---------------------------------------------------------------------------
# Emit helpers (each knows its op's shape rule)


def unary(cx, op, x, attrs=None, dtype=None, hint=None):
    out = cx.em.one(op, [x], attrs or {}, Type(dtype or x.dtype, x.shape), hint or op)
    out.number = x.number if dtype is None else None
    return out


def binary(cx, op, a, b, out_dtype=None):
    shape = ir.broadcast_shapes(a.shape, b.shape)
    out = cx.em.one(op, [a, b], {}, Type(out_dtype or a.dtype, shape), op)
    if a.number is not None and b.number is not None:
        out.number = out_number(out.type.dtype)
    return out


def operands(cx, a, b, dtype=None):
    """Both operands as IR tensors of the promoted dtype."""
    dt = dtype or result_dtype(a, b)
    return cx.tensor(a, dt), cx.tensor(b, dt), dt


def transpose_v(cx, x, perm):
    shape = None if x.shape is None else tuple(x.shape[p] for p in perm)
    if list(perm) == list(range(len(perm))):
        return x
    return cx.em.one("transpose", [x], {"perm": list(perm)}, Type(x.dtype, shape), "t")


def reshape_v(cx, x, items, allowzero=False):
    """reshape to a list of ints (with -1) and IR scalars, or to a 1-D shape tensor."""
    if isinstance(items, ir.Value):
        n = items.shape[0] if items.shape else None
        dims = [None] * n if isinstance(n, int) else None
        shape_t = items
        if dims is None:
            return cx.em.one("reshape", [x, shape_t], {}, Type(x.dtype, None), "r")
    else:
        shape_t, dims = cx.shape_tensor(items)
    out_dims = ir.infer_reshape(x.shape, dims, allowzero=True)
    attrs = {"allowzero": 1} if allowzero else {}
    if not allowzero and 0 in [d for d in dims if isinstance(d, int)]:
        attrs = {"allowzero": 1}
    return cx.em.one("reshape", [x, shape_t], attrs, Type(x.dtype, out_dims), "r")


def unsqueeze_v(cx, x, axis):
    r = rank_of(x)
    axis = ir.norm_axis(axis, r + 1)
    shape = list(x.shape)
    shape.insert(axis, 1)
    return cx.em.one("unsqueeze", [x], {"axes": [axis]}, Type(x.dtype, shape), "u")


def squeeze_v(cx, x, axes):
    shape = [d for i, d in enumerate(x.shape) if i not in axes]
    out = cx.em.one("squeeze", [x], {"axes": list(axes)}, Type(x.dtype, shape), "sq")
    out.number = x.number
    return out


def concat_v(cx, xs, axis):
    r = rank_of(xs[0])
    axis = ir.norm_axis(axis, r)
    shape = list(xs[0].shape)
    total = 0
    for x in xs:
        d = x.shape[axis]
        total = total + d if isinstance(total, int) and isinstance(d, int) else None
    shape[axis] = total
    for i in range(r):
        if i != axis:
            ds = [x.shape[i] for x in xs]
            shape[i] = ds[0] if all(d == ds[0] for d in ds) else next((d for d in ds if isinstance(d, int)), None)
    if len(xs) == 1:
        return xs[0]
    return cx.em.one("concat", xs, {"axis": axis}, Type(xs[0].dtype, shape), "cat")


def slice_v(cx, x, dim, start, end, step):
    r = rank_of(x)
    dim = ir.norm_axis(dim, r)
    size = x.shape[dim]
    INT_MAX = 2 ** 63 - 1
    if start is None:
        start = 0
    if end is None:
        end = INT_MAX
    if isinstance(start, int) and isinstance(end, int) and isinstance(step, int):
        if start == 0 and end >= INT_MAX and step == 1:
            return x
        if isinstance(size, int):
            s, e, _ = slice(start, min(end, INT_MAX), step).indices(size)
            if s == 0 and e == size and step == 1:
                return x
            n = len(range(s, e, step))
        else:
            n = None
    else:
        n = None
    if not isinstance(step, int) or step <= 0:
        raise NodeError("slice step must be a positive number known when converting")
    starts = cx.one_d(start) if isinstance(start, ir.Value) else cx.em.ints([start])
    ends = cx.one_d(end) if isinstance(end, ir.Value) else cx.em.ints([min(end, INT_MAX)])
    shape = list(x.shape)
    shape[dim] = n
    return cx.em.one("slice", [x, starts, ends, cx.em.ints([dim]), cx.em.ints([step])], {},
                     Type(x.dtype, shape), "sl")


def gather_v(cx, x, idx, axis):
    r = rank_of(x)
    axis = ir.norm_axis(axis, r)
    if idx.shape is None:
        shape = None
    else:
        shape = list(x.shape[:axis]) + list(idx.shape) + list(x.shape[axis + 1:])
    if idx.dtype not in ("i64", "i32"):
        raise NodeError(f"indices must be integers, got {idx.dtype}")
    return cx.em.one("gather", [x, idx], {"axis": axis}, Type(x.dtype, shape), "g")


def reduce_v(cx, op, x, axes, keepdim):
    r = rank_of(x)
    if axes is None or axes == []:
        axes = list(range(r))
    axes = sorted(ir.norm_axis(a, r) for a in axes)
    if keepdim:
        shape = [1 if i in axes else d for i, d in enumerate(x.shape)]
    else:
        shape = [d for i, d in enumerate(x.shape) if i not in axes]
    return cx.em.one(op, [x], {"axes": axes, "keepdims": int(bool(keepdim))}, Type(x.dtype, shape), "red")


def expand_v(cx, x, items):
    shape_t, dims = cx.shape_tensor(items)
    shape = ir.broadcast_shapes(x.shape, tuple(d if d != -1 else 1 for d in dims))
    return cx.em.one("expand", [x, shape_t], {}, Type(x.dtype, shape), "ex")


def float_input(cx, x, what="input"):
    x = cx.tensor(x)
    if x.dtype not in ir.FLOAT_DTYPES:
        x = cx.cast(x, "f32")
    return x


# ---------------------------------------------------------------------------
# Neural-network ops


def _conv(cx, x, w, b, stride, padding, dilation, groups, transposed=False, output_padding=None):
    x = cx.tensor(x)
    w = cx.tensor(w)
    nsp = rank_of(w) - 2
    if nsp < 1:
        raise NodeError("weight must have at least 3 dims")
    stride = int_list(stride, "stride")
    dilation = int_list(dilation, "dilation")
    stride = stride * nsp if len(stride) == 1 else stride
    dilation = dilation * nsp if len(dilation) == 1 else dilation
    ks = list(w.shape[2:])
    attrs = {"strides": stride, "dilations": dilation, "group": int(const(groups, "groups"))}
    if isinstance(padding, str):
        if padding == "valid":
            pads = [0] * (2 * nsp)
        elif padding == "same":
            total = [d * (k - 1) for d, k in zip(dilation, ks)]
            pads = [t // 2 for t in total] + [t - t // 2 for t in total]
        else:
            raise NodeError(f"padding {padding!r}")
    else:
        p = int_list(padding, "padding")
        p = p * nsp if len(p) == 1 else p
        pads = p + p
    attrs["pads"] = pads
    attrs["kernel_shape"] = ks
    inputs = [x, w]
    if b is not None:
        inputs.append(cx.tensor(b))
    N = x.shape[0] if x.shape else None
    sp = list(x.shape[2:]) if x.shape else [None] * nsp
    if transposed:
        op_ = list(output_padding or [0] * nsp)
        op_ = op_ * nsp if len(op_) == 1 else op_
        attrs["output_padding"] = op_
        M = w.shape[1] * attrs["group"] if isinstance(w.shape[1], int) else None
        out_sp = [s * (d - 1) + op_[i] + dilation[i] * (ks[i] - 1) + 1 - pads[i] - pads[nsp + i]
                  if isinstance(d, int) else None for i, (d, s) in enumerate(zip(sp, stride))]
        return cx.em.one("conv_transpose", inputs, attrs, Type(x.dtype, [N, M] + out_sp), "convt")
    M = w.shape[0]
    out_sp = [ir._conv_out(d, ks[i], stride[i], pads[i], pads[nsp + i], dilation[i]) for i, d in enumerate(sp)]
    return cx.em.one("conv", inputs, attrs, Type(x.dtype, [N, M] + out_sp), "conv")


@lowers("aten::conv1d", "aten::conv2d", "aten::conv3d", to="conv")
def _conv_nd(cx, n, a):
    x, w, b, stride, padding, dilation, groups = a
    return _conv(cx, x, w, b, stride, padding, dilation, groups)


@lowers("aten::_convolution", "aten::convolution", to="conv, conv_transpose")
def _convolution(cx, n, a):
    x, w, b, stride, padding, dilation, transposed, output_padding, groups = a[:9]
    return _conv(cx, x, w, b, stride, padding, dilation, groups, bool(const(transposed, "transposed")),
                 int_list(output_padding, "output_padding"))


@lowers("aten::conv_transpose1d", "aten::conv_transpose2d", "aten::conv_transpose3d", to="conv_transpose")
def _conv_t(cx, n, a):
    x, w, b, stride, padding, output_padding, groups, dilation = a
    return _conv(cx, x, w, b, stride, padding, dilation, groups, True, int_list(output_padding, "output_padding"))


def _transposed_weight(cx, w):
    """w^T for linear: transposed once at conversion when w is a constant."""
    if isinstance(w, TensorConst) and w.tensor.dim() == 2:
        return cx.tensor_const(TensorConst(w.tensor.t().contiguous(), w.hint))
    w = cx.tensor(w)
    return transpose_v(cx, w, [1, 0])


@lowers("aten::linear", to="matmul, add", note="a constant weight is stored transposed")
def _linear(cx, n, a):
    x, w, b = a
    x = cx.tensor(x)
    wt = _transposed_weight(cx, w)
    y = cx.em.one("matmul", [x, wt], {}, Type(x.dtype, ir.infer_matmul(x.shape, wt.shape)), "mm")
    if b is not None:
        y = binary(cx, "add", y, cx.tensor(b))
    return y


@lowers("aten::matmul", "aten::mm", "aten::bmm", to="matmul")
def _matmul(cx, n, a):
    x, y, _ = operands(cx, a[0], a[1])
    return cx.em.one("matmul", [x, y], {}, Type(x.dtype, ir.infer_matmul(x.shape, y.shape)), "mm")


@lowers("aten::addmm", to="gemm")
def _addmm(cx, n, a):
    bias, m1, m2, beta, alpha = a
    m1, m2, _ = operands(cx, m1, m2)
    c = cx.tensor(bias, m1.dtype)
    shape = ir.infer_matmul(m1.shape, m2.shape)
    return cx.em.one("gemm", [m1, m2, c], {"alpha": float(const(alpha, "alpha")), "beta": float(const(beta, "beta"))},
                     Type(m1.dtype, shape), "gemm")


@lowers("aten::batch_norm", to="batch_norm", note="inference mode (running statistics)")
def _batch_norm(cx, n, a):
    x, w, b, mean, var, training, momentum, eps = a[:8]
    x = cx.tensor(x)
    if const(training, "training"):
        raise NodeError("batch_norm in training mode (call model.eval() before exporting)")
    mean = cx.tensor(mean, x.dtype)
    var = cx.tensor(var, x.dtype)
    C = mean.shape[0]
    w = cx.tensor(w, x.dtype) if w is not None else cx.em.constant(x.dtype, (C,), [1.0] * C)
    b = cx.tensor(b, x.dtype) if b is not None else cx.em.constant(x.dtype, (C,), [0.0] * C)
    return cx.em.one("batch_norm", [x, w, b, mean, var], {"epsilon": float(const(eps, "eps"))},
                     Type(x.dtype, x.shape), "bn")


@lowers("aten::layer_norm", to="layer_norm")
def _layer_norm(cx, n, a):
    x, shape, w, b, eps = a[:5]
    x = cx.tensor(x)
    shape = int_list(shape, "normalized_shape")
    numel = 1
    for s in shape:
        numel *= s
    w = cx.tensor(w, x.dtype) if w is not None else cx.em.constant(x.dtype, shape, [1.0] * numel)
    inputs = [x, w]
    if b is not None:
        inputs.append(cx.tensor(b, x.dtype))
    return cx.em.one("layer_norm", inputs, {"axis": -len(shape), "epsilon": float(const(eps, "eps"))},
                     Type(x.dtype, x.shape), "ln")


@lowers("aten::instance_norm", to="instance_norm", note="without running statistics")
def _instance_norm(cx, n, a):
    x, w, b, rm, rv, use_input_stats, momentum, eps = a[:8]
    x = cx.tensor(x)
    if not const(use_input_stats, "use_input_stats"):
        raise NodeError("instance_norm with running statistics")
    C = x.shape[1]
    if not isinstance(C, int):
        raise NodeError("instance_norm needs a static channel count")
    w = cx.tensor(w, x.dtype) if w is not None else cx.em.constant(x.dtype, (C,), [1.0] * C)
    b = cx.tensor(b, x.dtype) if b is not None else cx.em.constant(x.dtype, (C,), [0.0] * C)
    return cx.em.one("instance_norm", [x, w, b], {"epsilon": float(const(eps, "eps"))}, Type(x.dtype, x.shape), "in")


@lowers("aten::group_norm", to="reshape, instance_norm, mul, add",
        note="groups normalised as instances of a [N, G, -1] view")
def _group_norm(cx, n, a):
    x, groups, w, b, eps = cx.tensor(a[0]), int(const(a[1], "num_groups")), a[2], a[3], float(const(a[4], "eps"))
    if x.dtype not in ir.FLOAT_DTYPES:
        raise NodeError("group_norm of a non-float tensor")
    r = rank_of(x)
    C = static_dim(x, 1, "group_norm")
    if C % groups:
        raise NodeError(f"{C} channels do not split into {groups} groups")
    g = _copy_reshape(cx, x, [0, groups, -1])
    ones = cx.em.constant(x.dtype, (groups,), [1.0] * groups)
    zeros = cx.em.constant(x.dtype, (groups,), [0.0] * groups)
    y = cx.em.one("instance_norm", [g, ones, zeros], {"epsilon": eps}, g.type, "gn")
    y = reshape_v(cx, y, [cx.dim_of(x, i) for i in range(r)])
    per_channel = [C] + [1] * (r - 2)
    if w is not None:
        y = binary(cx, "mul", y, reshape_v(cx, cx.tensor(w, x.dtype), per_channel))
    if b is not None:
        y = binary(cx, "add", y, reshape_v(cx, cx.tensor(b, x.dtype), per_channel))
    return y


def _pool(cx, op, x, kernel, stride, padding, dilation, ceil_mode, extra=None):
    x = cx.tensor(x)
    kernel = int_list(kernel, "kernel_size")
    nsp = rank_of(x) - 2
    kernel = kernel * nsp if len(kernel) == 1 else kernel
    stride = int_list(stride, "stride") if stride is not None else []
    stride = kernel if not stride else (stride * nsp if len(stride) == 1 else stride)
    p = int_list(padding, "padding")
    p = p * nsp if len(p) == 1 else p
    dil = int_list(dilation, "dilation") if dilation is not None else [1] * nsp
    dil = dil * nsp if len(dil) == 1 else dil
    cm = bool(const(ceil_mode, "ceil_mode"))
    attrs = {"kernel_shape": kernel, "strides": stride, "pads": p + p, "ceil_mode": int(cm)}
    if op == "max_pool":
        attrs["dilations"] = dil
    attrs.update(extra or {})
    sp = x.shape[2:]
    out_sp = [ir._conv_out(d, kernel[i], stride[i], p[i], p[i], dil[i], cm) for i, d in enumerate(sp)]
    return cx.em.one(op, [x], attrs, Type(x.dtype, list(x.shape[:2]) + out_sp), "pool")


@lowers("aten::max_pool1d", "aten::max_pool2d", "aten::max_pool3d", to="max_pool")
def _max_pool(cx, n, a):
    x, k, s, p, d, cm = a
    return _pool(cx, "max_pool", x, k, s, p, d, cm)


@lowers("aten::avg_pool1d", "aten::avg_pool2d", "aten::avg_pool3d", to="avg_pool",
        note="divisor_override unsupported")
def _avg_pool(cx, n, a):
    x, k, s, p, cm, cip = a[:6]
    if len(a) > 6 and a[6] is not None:
        raise NodeError("avg_pool with divisor_override")
    return _pool(cx, "avg_pool", x, k, s, p, None, cm, {"count_include_pad": int(bool(const(cip, "count_include_pad")))})


def _adaptive(cx, x, out_size, is_max):
    x = cx.tensor(x)
    nsp = rank_of(x) - 2
    out = [None if o is None else int(o) for o in (out_size.items if isinstance(out_size, ListV) else
                                                  (out_size if isinstance(out_size, (list, tuple)) else [out_size]))]
    out = out * nsp if len(out) == 1 else out
    sp = list(x.shape[2:])
    out = [sp[i] if o is None else o for i, o in enumerate(out)]
    if all(o == 1 for o in out):
        op = "global_max_pool" if is_max else "global_avg_pool"
        return cx.em.one(op, [x], {}, Type(x.dtype, list(x.shape[:2]) + [1] * nsp), "gap")
    if not all(isinstance(d, int) and isinstance(o, int) and d % o == 0 for d, o in zip(sp, out)):
        return _adaptive_general(cx, x, sp, out, is_max)
    k = [d // o for d, o in zip(sp, out)]
    attrs = {"kernel_shape": k, "strides": k}
    op = "max_pool" if is_max else "avg_pool"
    return cx.em.one(op, [x], attrs, Type(x.dtype, list(x.shape[:2]) + out), "pool")


def _adaptive_windows(size, out):
    """PyTorch's adaptive windows: output i covers [floor(i*size/out), ceil((i+1)*size/out))."""
    return [((i * size) // out, -(-((i + 1) * size) // out)) for i in range(out)]


def _adaptive_general(cx, x, sp, out, is_max):
    """Adaptive pooling whose windows differ in size (or overlap). Average: one
    matmul per spatial dim with a constant averaging matrix. Max: the max of
    each window along one dim at a time, joined with concat."""
    for d, o in zip(sp, out):
        if not isinstance(d, int) or not isinstance(o, int):
            raise NodeError("adaptive pooling over dims known only at run time")
    if not is_max and len(sp) > 2:
        raise NodeError("adaptive average pooling of 3-D inputs to sizes that do not divide them")
    y = x
    r = rank_of(x)
    for j, (d, o) in enumerate(zip(sp, out)):
        axis = 2 + j
        if d == o:
            continue
        wins = _adaptive_windows(d, o)
        if is_max:
            parts = [reduce_v(cx, "reduce_max", slice_v(cx, y, axis, a, b, 1), [axis], True) for a, b in wins]
            y = concat_v(cx, parts, axis)
            continue
        # P[i, k] = 1 / window size for k in window i.
        P = torch.zeros(o, d)
        for i, (a, b) in enumerate(wins):
            P[i, a:b] = 1.0 / (b - a)
        if axis == r - 1:  # the last dim: y @ P^T
            m = cx.tensor_const(TensorConst(P.t().contiguous().to(SY_TO_TORCH[x.dtype]), f"adaptive_pool_{d}_{o}_t"))
            y = cx.em.one("matmul", [y, m], {}, Type(x.dtype, ir.infer_matmul(y.shape, m.shape)), "apool")
        else:  # the dim before it: P @ y
            m = cx.tensor_const(TensorConst(P.to(SY_TO_TORCH[x.dtype]), f"adaptive_pool_{d}_{o}"))
            y = cx.em.one("matmul", [m, y], {}, Type(x.dtype, ir.infer_matmul(m.shape, y.shape)), "apool")
    return y


@lowers("aten::adaptive_avg_pool1d", "aten::adaptive_avg_pool2d", "aten::adaptive_avg_pool3d",
        to="global_avg_pool, avg_pool, matmul", note="static spatial sizes; uneven windows by a constant matmul")
def _aap(cx, n, a):
    return _adaptive(cx, a[0], a[1], False)


@lowers("aten::adaptive_max_pool1d", "aten::adaptive_max_pool2d",
        to="global_max_pool, max_pool, slice, reduce_max, concat", note="values only; static spatial sizes")
def _amp(cx, n, a):
    y = _adaptive(cx, a[0], a[1], True)
    return [y] + [Unavailable("the indices of adaptive_max_pool")] * (len(list(n.outputs())) - 1)


@lowers("aten::embedding", to="gather")
def _embedding(cx, n, a):
    w, idx = cx.tensor(a[0]), cx.tensor(a[1])
    return gather_v(cx, w, idx, 0)


@lowers("aten::dropout", "aten::dropout_", "aten::feature_dropout", "aten::alpha_dropout",
        "aten::feature_alpha_dropout", to="(none)", note="identity at inference")
def _dropout(cx, n, a):
    return a[0]


# ---------------------------------------------------------------------------
# Activations and unary math

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
    return unary(cx, "clip", cx.tensor(a[0]), {"min": float(const(a[1], "min_val")), "max": float(const(a[2], "max_val"))})


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


# ---------------------------------------------------------------------------
# Arithmetic (tensors, and TorchScript numbers)

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


# ---------------------------------------------------------------------------
# Reductions


def _dims_arg(v):
    if v is None:
        return None
    if isinstance(v, int):
        return [v]
    return int_list(v, "dim")


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
    shape = [1 if i == d else s for i, s in enumerate(x.shape)] if keep else [s for i, s in enumerate(x.shape) if i != d]
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


# ---------------------------------------------------------------------------
# Shapes and data movement


@lowers("aten::size", to="shape", note="a static dim becomes a number at conversion")
def _size(cx, n, a):
    x = cx.tensor(a[0])
    if len(a) == 1:
        return ListV([cx.dim_of(x, i) for i in range(rank_of(x))])
    return cx.dim_of(x, int(const(a[1], "dim")))


@lowers("aten::dim", to="(none)", note="the rank is known at conversion")
def _dim(cx, n, a):
    return rank_of(cx.tensor(a[0]))


@lowers("aten::numel", to="(none)", note="static shapes only")
def _numel(cx, n, a):
    x = cx.tensor(a[0])
    p = 1
    for i in range(rank_of(x)):
        p *= static_dim(x, i, "numel")
    return p


@lowers("aten::len", to="shape", note="of a tensor: its first dim")
def _len(cx, n, a):
    v = a[0]
    if isinstance(v, ListV):
        return len(v.items)
    if isinstance(v, (list, tuple, str)):
        return len(v)
    return cx.dim_of(cx.tensor(v), 0)


@lowers("aten::view", "aten::reshape", to="reshape")
def _view(cx, n, a):
    x = cx.tensor(a[0])
    sizes = dyn_int_list(cx, a[1])
    return reshape_v(cx, x, sizes)


@lowers("aten::view_as", "aten::reshape_as", to="reshape")
def _view_as(cx, n, a):
    x, y = cx.tensor(a[0]), cx.tensor(a[1])
    return reshape_v(cx, x, [cx.dim_of(y, i) for i in range(rank_of(y))])


@lowers("aten::flatten", to="reshape")
def _flatten(cx, n, a):
    x = cx.tensor(a[0])
    r = rank_of(x)
    s = ir.norm_axis(int(const(a[1], "start_dim")), max(r, 1)) if len(a) > 1 else 0
    e = ir.norm_axis(int(const(a[2], "end_dim")), max(r, 1)) if len(a) > 2 else max(r, 1) - 1
    if r == 0:
        return reshape_v(cx, x, [1])
    if s == e:
        return x
    # 0 copies the input dim at the same position (reshape without allowzero).
    items = [0] * s + [-1] + [cx.dim_of(x, i) for i in range(e + 1, r)]
    if any(isinstance(i, int) and i == 0 for i in items[s + 1:]):
        raise NodeError("flatten of a tensor with a zero-size dim")
    shape_t, dims = cx.shape_tensor(items)
    out = [x.shape[i] for i in range(s)] + [-1] + dims[s + 1:]
    out_dims = ir.infer_reshape(x.shape, out, allowzero=True)
    return cx.em.one("reshape", [x, shape_t], {}, Type(x.dtype, out_dims), "flat")


@lowers("aten::permute", to="transpose")
def _permute(cx, n, a):
    x = cx.tensor(a[0])
    r = rank_of(x)
    return transpose_v(cx, x, [ir.norm_axis(d, r) for d in int_list(a[1], "dims")])


@lowers("aten::transpose", "aten::swapaxes", to="transpose")
def _transpose(cx, n, a):
    x = cx.tensor(a[0])
    r = rank_of(x)
    d0, d1 = ir.norm_axis(int(const(a[1], "dim0")), r), ir.norm_axis(int(const(a[2], "dim1")), r)
    perm = list(range(r))
    perm[d0], perm[d1] = perm[d1], perm[d0]
    return transpose_v(cx, x, perm)


@lowers("aten::t", "aten::numpy_T", to="transpose")
def _t(cx, n, a):
    x = cx.tensor(a[0])
    r = rank_of(x)
    return transpose_v(cx, x, list(reversed(range(r))))


@lowers("aten::contiguous", "aten::detach", "aten::clone", "aten::alias", "prim::data", "aten::lift_fresh",
        to="(none)", note="identity")
def _identity(cx, n, a):
    return a[0]


@lowers("aten::unsqueeze", "aten::unsqueeze_", to="unsqueeze")
def _unsqueeze(cx, n, a):
    return unsqueeze_v(cx, cx.tensor(a[0]), int(const(a[1], "dim")))


@lowers("aten::squeeze", "aten::squeeze_", to="squeeze", note="a dim that is not 1 is kept, as in PyTorch")
def _squeeze(cx, n, a):
    x = cx.tensor(a[0])
    r = rank_of(x)
    if len(a) == 1:
        axes = [i for i, d in enumerate(x.shape) if d == 1]
        for i in range(r):
            static_dim(x, i, "squeeze() without a dim")
    else:
        axes = []
        for d in _dims_arg(a[1]):
            d = ir.norm_axis(d, r)
            if x.shape[d] == 1:
                axes.append(d)
            elif not isinstance(x.shape[d], int):
                raise NodeError(f"squeeze of dim {d}, whose size is known only at run time")
    if not axes:
        return x
    return squeeze_v(cx, x, axes)


def _tensor_list(cx, v):
    if isinstance(v, ListV):
        return [cx.tensor(i) for i in v.items]
    if isinstance(v, (list, tuple)):
        return [cx.tensor(i) for i in v]
    raise NodeError("expected a list of tensors built in the graph")


@lowers("aten::cat", "aten::concat", to="concat")
def _cat(cx, n, a):
    xs = _tensor_list(cx, a[0])
    dt = result_dtype(*[x for x in xs]) if len(xs) > 1 else xs[0].dtype
    xs = [cx.cast(x, dt) for x in xs]
    return concat_v(cx, xs, int(const(a[1], "dim")))


@lowers("aten::stack", to="unsqueeze, concat")
def _stack(cx, n, a):
    xs = _tensor_list(cx, a[0])
    dt = result_dtype(*xs) if len(xs) > 1 else xs[0].dtype
    d = int(const(a[1], "dim"))
    r = rank_of(xs[0])
    d = ir.norm_axis(d, r + 1)
    return concat_v(cx, [unsqueeze_v(cx, cx.cast(x, dt), d) for x in xs], d)


@lowers("aten::slice", to="slice")
def _slice(cx, n, a):
    if isinstance(a[0], ListV) or isinstance(a[0], list):
        items = a[0].items if isinstance(a[0], ListV) else a[0]
        s, e, st = (const(v, "slice bound") if v is not None else None for v in a[1:4])
        return ListV(items[s:e:st])
    x = cx.tensor(a[0])
    dim, start, end, step = a[1], a[2], a[3], a[4]
    return slice_v(cx, x, int(const(dim, "dim")), start, end, const(step, "step"))


@lowers("aten::narrow", to="slice")
def _narrow(cx, n, a):
    x = cx.tensor(a[0])
    start, length = a[2], a[3]
    end = _arith(cx, "add", start, length)
    return slice_v(cx, x, int(const(a[1], "dim")), start, end, 1)


@lowers("aten::select", to="gather", note="with a scalar index")
def _select(cx, n, a):
    x = cx.tensor(a[0])
    idx = a[2]
    idx = cx.em.scalar("i64", int(idx)) if isinstance(idx, int) else cx.tensor(idx, "i64")
    if idx.rank not in (0, None):
        idx = cx.em.one("squeeze", [idx], {"axes": [0]}, Type("i64", ()), "idx")
    return gather_v(cx, x, idx, int(const(a[1], "dim")))


@lowers("aten::index", to="gather", note="one integer index tensor (other positions None)")
def _index(cx, n, a):
    x = cx.tensor(a[0])
    idxs = a[1].items if isinstance(a[1], ListV) else list(a[1])
    used = [(i, v) for i, v in enumerate(idxs) if v is not None]
    if len(used) != 1:
        raise NodeError("indexing with several index tensors (advanced indexing)")
    pos, idx = used[0]
    idx = cx.tensor(idx)
    if idx.dtype == "bool":
        raise NodeError("indexing with a boolean mask (its result shape depends on the data)")
    return gather_v(cx, x, idx, pos)


@lowers("aten::index_select", to="gather")
def _index_select(cx, n, a):
    return gather_v(cx, cx.tensor(a[0]), cx.tensor(a[2]), int(const(a[1], "dim")))


@lowers("aten::expand", to="expand")
def _expand(cx, n, a):
    x = cx.tensor(a[0])
    sizes = dyn_int_list(cx, a[1])
    if isinstance(sizes, ir.Value):
        raise NodeError("expand to a shape tensor")
    r = rank_of(x)
    # -1 keeps the input's dim; the IR's expand broadcasts, so 1 does the same.
    lead = len(sizes) - r
    items = [1 if (isinstance(s, int) and s == -1 and i >= lead) else s for i, s in enumerate(sizes)]
    return expand_v(cx, x, items)


@lowers("aten::expand_as", to="expand")
def _expand_as(cx, n, a):
    x, y = cx.tensor(a[0]), cx.tensor(a[1])
    return expand_v(cx, x, [cx.dim_of(y, i) for i in range(rank_of(y))])


@lowers("aten::repeat", to="tile, reshape")
def _repeat(cx, n, a):
    x = cx.tensor(a[0])
    reps = int_list(a[1], "repeats")
    r = rank_of(x)
    if len(reps) > r:
        x = reshape_v(cx, x, [1] * (len(reps) - r) + [0] * 0 + [cx.dim_of(x, i) for i in range(r)])
    shape = [d * k if isinstance(d, int) else (d if k == 1 else None) for d, k in zip(x.shape, reps)]
    return cx.em.one("tile", [x, cx.em.ints(reps)], {}, Type(x.dtype, shape), "tile")


@lowers("aten::split", "aten::split_with_sizes", "aten::chunk", "aten::unbind", "aten::tensor_split",
        to="split, squeeze", note="sizes known at conversion")
def _split(cx, n, a):
    x = cx.tensor(a[0])
    r = rank_of(x)
    kind = n.kind()
    if kind == "aten::unbind":
        dim = ir.norm_axis(int(const(a[1], "dim")), r)
    else:
        dim = ir.norm_axis(int(const(a[2], "dim")), r)
    size = static_dim(x, dim, "split")
    if kind == "aten::unbind":
        sizes = [1] * size
    elif kind == "aten::chunk":
        k = int(const(a[1], "chunks"))
        each = -(-size // k)
        sizes = []
        left = size
        while left > 0:
            sizes.append(min(each, left))
            left -= each
    elif kind == "aten::split" and isinstance(a[1], int):
        each = a[1]
        sizes = []
        left = size
        while left > 0:
            sizes.append(min(each, left))
            left -= each
    else:
        sizes = int_list(a[1], "split_size")
    if sum(sizes) != size:
        raise NodeError(f"split sizes {sizes} do not add up to {size}")
    types = []
    for s in sizes:
        shape = list(x.shape)
        shape[dim] = s
        types.append(Type(x.dtype, shape))
    if len(sizes) == 1:
        parts = [x]
    else:
        parts = cx.em.node("split", [x, cx.em.ints(sizes)], {"axis": dim}, types, "part").outputs
    if kind == "aten::unbind":
        parts = [squeeze_v(cx, p, [dim]) for p in parts]
    return ListV(parts)


@lowers("aten::pad", "aten::constant_pad_nd", to="pad", note="constant mode")
def _pad(cx, n, a):
    x = cx.tensor(a[0])
    p = int_list(a[1], "pad")
    mode = "constant"
    value = 0.0
    if n.kind() == "aten::pad":
        mode = a[2]
        value = a[3] if a[3] is not None else 0.0
    else:
        value = a[2]
    r = rank_of(x)
    begins = [0] * r
    ends = [0] * r
    for i in range(len(p) // 2):
        d = r - 1 - i
        begins[d], ends[d] = p[2 * i], p[2 * i + 1]
    irmode = {"constant": "constant", "reflect": "reflect", "replicate": "edge"}.get(mode)
    if irmode is None:
        raise NodeError(f"pad mode {mode!r}")
    shape = [d + b + e if isinstance(d, int) else (d if b == 0 and e == 0 else None)
             for d, b, e in zip(x.shape, begins, ends)]
    inputs = [x, cx.em.ints(begins + ends)]
    if irmode == "constant":
        inputs.append(cx.em.scalar(x.dtype, value))
    return cx.em.one("pad", inputs, {"mode": irmode}, Type(x.dtype, shape), "pad")


# ---------------------------------------------------------------------------
# Creation and dtype


def _torch_dtype(code):
    """TorchScript passes dtypes as ScalarType numbers."""
    if code is None:
        return None
    if isinstance(code, torch.dtype):
        td = code
    else:
        table = {0: torch.uint8, 1: torch.int8, 2: torch.int16, 3: torch.int32, 4: torch.int64, 5: torch.float16,
                 6: torch.float32, 7: torch.float64, 11: torch.bool, 15: torch.bfloat16}
        td = table.get(int(code))
    if td == torch.float64:
        td = torch.float32
    if td not in TORCH_TO_SY:
        raise NodeError(f"dtype {td or code} has no Switchyard equivalent")
    return TORCH_TO_SY[td]


@lowers("aten::to", "aten::type_as", to="cast", note="dtype conversions; devices are ignored")
def _to(cx, n, a):
    x = cx.tensor(a[0])
    if n.kind() == "aten::type_as":
        return cx.cast(x, cx.tensor(a[1]).dtype)
    dt = None
    for v in a[1:3]:
        if isinstance(v, int) and not isinstance(v, bool):
            dt = _torch_dtype(v)
            break
        if isinstance(v, ir.Value) or isinstance(v, TensorConst):  # to(other)
            dt = cx.tensor(v).dtype
            break
    return x if dt is None else cx.cast(x, dt)


def _make_to(dtype):
    def fn(cx, n, a):
        return cx.cast(cx.tensor(a[0]), dtype)
    return fn


lowers("aten::float", to="cast")(_make_to("f32"))
lowers("aten::long", to="cast")(_make_to("i64"))
lowers("aten::int", to="cast")(_make_to("i32"))
lowers("aten::bool", to="cast")(_make_to("bool"))
lowers("aten::half", to="cast")(_make_to("f16"))


@lowers("aten::Int", "aten::Float", "aten::Bool", "aten::ScalarImplicit", "aten::item", "prim::NumToTensor",
        "aten::scalar_tensor", "aten::IntImplicit", "aten::FloatImplicit", to="cast",
        note="numbers and 0-dim tensors are the same in the IR")
def _scalar_conv(cx, n, a):
    v = a[0]
    kind = n.kind()
    if isinstance(v, TensorConst) and v.tensor.numel() == 1:
        v = v.tensor.item()
    if isinstance(v, (bool, int, float)):
        if kind in ("aten::Int", "aten::IntImplicit"):
            return int(v)
        if kind in ("aten::Float", "aten::FloatImplicit"):
            return float(v)
        if kind == "aten::Bool":
            return bool(v)
        if kind == "aten::scalar_tensor":
            dt = _torch_dtype(a[1]) if len(a) > 1 and a[1] is not None else "f32"
            return cx.em.scalar(dt, v)
        return v
    x = cx.tensor(v)
    target = {"aten::Int": "i64", "aten::IntImplicit": "i64", "aten::Float": "f32", "aten::FloatImplicit": "f32",
              "aten::Bool": "bool"}.get(kind)
    if kind == "aten::scalar_tensor" and len(a) > 1 and a[1] is not None:
        target = _torch_dtype(a[1])
    if x.rank not in (0, None):
        # An item of a 1-element tensor.
        x = reshape_v(cx, x, [])
    out = cx.cast(x, target) if target else x
    if out is x and x.number is None and kind in ("aten::Int", "aten::Float", "aten::Bool", "aten::item",
                                                  "aten::ScalarImplicit", "aten::IntImplicit", "aten::FloatImplicit"):
        out = cx.em.one("identity", [x], {}, Type(x.dtype, x.shape), "num")
        out.sym = x.sym
    if kind in ("prim::NumToTensor", "aten::scalar_tensor"):
        if out is x:
            out = cx.em.one("identity", [x], {}, Type(x.dtype, x.shape), "t")
            out.sym = x.sym
        out.number = None
    else:
        out.number = out_number(out.dtype) or "float"
    return out


def _full(cx, shape_items, value, dtype):
    if isinstance(shape_items, ir.Value):
        raise NodeError("a shape tensor")
    if all(isinstance(i, int) for i in shape_items):
        numel = 1
        for i in shape_items:
            numel *= i
        if numel <= 64:
            return cx.em.constant(dtype, shape_items, [value] * numel)
    shape_t, dims = cx.shape_tensor(shape_items)
    lit = ir.TensorLiteral(dtype, (1,), [value])
    return cx.em.one("constant_of_shape", [shape_t], {"value": lit}, Type(dtype, dims), "full")


def _default_dtype(v):
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int):
        return "i64"
    return "f32"


@lowers("aten::zeros", "aten::ones", "aten::full", to="constant, constant_of_shape")
def _zeros(cx, n, a):
    kind = n.kind()
    sizes = dyn_int_list(cx, a[0])
    if kind == "aten::full":
        value = const(a[1], "fill_value")
        dtype = _torch_dtype(a[2]) or _default_dtype(value)
    else:
        value = 0.0 if kind == "aten::zeros" else 1.0
        dtype = _torch_dtype(a[1]) or "f32"
    if dtype in ("i8", "i32", "i64"):
        value = int(value)
    elif dtype == "bool":
        value = bool(value)
    return _full(cx, sizes, value, dtype)


@lowers("aten::zeros_like", "aten::ones_like", "aten::full_like", to="constant, constant_of_shape")
def _zeros_like(cx, n, a):
    x = cx.tensor(a[0])
    kind = n.kind()
    if kind == "aten::full_like":
        value, dtype = const(a[1], "fill_value"), _torch_dtype(a[2])
    else:
        value, dtype = (0 if kind == "aten::zeros_like" else 1), _torch_dtype(a[1])
    dtype = dtype or x.dtype
    value = bool(value) if dtype == "bool" else (float(value) if dtype in ir.FLOAT_DTYPES else int(value))
    return _full(cx, [cx.dim_of(x, i) for i in range(rank_of(x))], value, dtype)


@lowers("aten::arange", to="range")
def _arange(cx, n, a):
    # arange(end, dtype, ...), arange(start, end, dtype, ...), arange(start, end, step, dtype, ...)
    nums = []
    rest = []
    for v in a:
        if len(nums) < 3 and (isinstance(v, (int, float)) and not isinstance(v, bool) or isinstance(v, ir.Value)):
            nums.append(v)
        else:
            rest.append(v)
    kinds = [x for x in n.inputs()]
    n_num = sum(1 for v in kinds[:3] if v.type().kind() in ("IntType", "FloatType", "NumberType"))
    nums = a[:n_num]
    dtype_code = a[n_num] if len(a) > n_num else None
    if len(nums) == 1:
        start, end, step = 0, nums[0], 1
    elif len(nums) == 2:
        start, end, step = nums[0], nums[1], 1
    else:
        start, end, step = nums
    dtype = _torch_dtype(dtype_code) if dtype_code is not None else (
        "f32" if any(isinstance(v, float) or (isinstance(v, ir.Value) and v.dtype in ir.FLOAT_DTYPES)
                     for v in (start, end, step)) else "i64")
    if all_python(start, end, step):
        vals = list(torch.arange(start, end, step).tolist())
        if len(vals) <= 64:
            return cx.em.constant(dtype, (len(vals),), vals)
        length = len(vals)
    else:
        length = None
    if dtype not in ("f32", "i32", "i64"):
        raise NodeError(f"arange of dtype {dtype}")
    s, e, st = (cx.tensor(v, dtype) for v in (start, end, step))
    s, e, st = (cx.em.one("squeeze", [v], {"axes": [0]}, Type(dtype, ()), "s") if v.rank == 1 else v for v in (s, e, st))
    return cx.em.one("range", [s, e, st], {}, Type(dtype, (length,)), "arange")


def _named_args(n, a):
    try:
        names = [arg.name for arg in torch._C.parse_schema(n.schema()).arguments]
    except Exception:  # noqa: BLE001
        raise NodeError("cannot read the op's schema") from None
    return dict(zip(names, a))


@lowers("aten::upsample_nearest1d", "aten::upsample_nearest2d", "aten::upsample_nearest3d",
        "aten::upsample_linear1d", "aten::upsample_bilinear2d", "aten::upsample_trilinear3d", to="resize",
        note="F.interpolate nearest/linear; static spatial sizes")
def _upsample(cx, n, a):
    x = cx.tensor(a[0])
    args = _named_args(n, a)
    nsp = rank_of(x) - 2
    sp = [static_dim(x, 2 + i, "interpolate") for i in range(nsp)]
    size = args.get("output_size")
    if size is not None:
        out = int_list(size, "output_size")
    else:
        scales = args.get("scale_factors")
        if scales is None:
            scales = [args.get(k) for k in ("scales_d", "scales_h", "scales_w", "scales") if k in args]
        scales = [float(const(v, "scale")) for v in (scales.items if isinstance(scales, ListV) else scales)]
        if len(scales) != nsp:
            raise NodeError("interpolate without an output size or one scale per spatial dim")
        out = [int(math.floor(d * f)) for d, f in zip(sp, scales)]
    if "nearest" in n.kind():
        attrs = {"mode": "nearest", "coordinate_transformation_mode": "asymmetric", "nearest_mode": "floor"}
    else:
        ac = bool(const(args.get("align_corners"), "align_corners"))
        attrs = {"mode": "linear", "coordinate_transformation_mode": "align_corners" if ac else "pytorch_half_pixel"}
    lead = cx.em.one("shape", [x], {"start": 0, "end": 2}, Type("i64", (2,)), "nc")
    sizes = cx.em.one("concat", [lead, cx.em.ints(out)], {"axis": 0}, Type("i64", (2 + nsp,)), "sizes")
    return cx.em.one("resize", [x, sizes], attrs, Type(x.dtype, list(x.shape[:2]) + out), "resize")


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


@lowers("aten::triu", "aten::tril", to="range, unsqueeze, sub, greater_equal, less_equal, where",
        note="masks built from the positions (e.g. causal attention)")
def _triangle(cx, n, a):
    x = cx.tensor(a[0])
    k = int(const(a[1], "diagonal")) if len(a) > 1 else 0
    r = rank_of(x)
    if r < 2:
        raise NodeError("triu/tril of a tensor with fewer than 2 dims")
    rows, cols = cx.dim_of(x, r - 2), cx.dim_of(x, r - 1)

    def positions(size):
        if isinstance(size, int):
            return cx.em.constant("i64", (size,), list(range(size)))
        return cx.em.one("range", [cx.em.scalar("i64", 0), cx.tensor(size, "i64"), cx.em.scalar("i64", 1)], {},
                         Type("i64", (size.sym,)), "pos")

    row = unsqueeze_v(cx, positions(rows), 1)
    col = unsqueeze_v(cx, positions(cols), 0)
    diff = binary(cx, "sub", col, row)
    op = "greater_equal" if n.kind() == "aten::triu" else "less_equal"
    keep = binary(cx, op, diff, cx.em.scalar("i64", k), "bool")
    zero = cx.em.scalar(x.dtype, False if x.dtype == "bool" else 0)
    return cx.em.one("where", [keep, x, zero], {}, Type(x.dtype, ir.broadcast_shapes(keep.shape, x.shape)), "tri")


@lowers("aten::tensor", "aten::as_tensor", to="constant", note="from numbers known at conversion")
def _tensor(cx, n, a):
    data = a[0]
    if isinstance(data, ListV):
        data = [const(i, "tensor data") for i in data.items]
    if isinstance(data, ir.Value):
        dt = _torch_dtype(a[1]) if len(a) > 1 and a[1] is not None else data.dtype
        return cx.cast(data, dt)
    t = torch.tensor(data)
    dt = _torch_dtype(a[1]) if len(a) > 1 and a[1] is not None else TORCH_TO_SY.get(
        t.dtype if t.dtype != torch.float64 else torch.float32)
    flat = t.flatten().tolist()
    return cx.em.constant(dt, tuple(t.shape), flat)


# ---------------------------------------------------------------------------
# TorchScript structure: lists, tuples, None checks


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
        return {v: k for k, v in {6: "f32", 5: "f16", 15: "bf16", 1: "i8", 3: "i32", 4: "i64", 11: "bool"}.items()}[x.dtype]
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


# ---------------------------------------------------------------------------
# Properties a scripted module checks before choosing a path (nn.Transformer*
# picks a fused fast path this way). An exported program runs for inference on
# plain dense tensors, so these are known when converting.


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


# ---------------------------------------------------------------------------
# The fused attention ops that nn.MultiheadAttention and nn.TransformerEncoderLayer
# choose at inference, written out with matmul/softmax.


def _linear_v(cx, x, w, b):
    wt = _transposed_weight(cx, w)
    y = cx.em.one("matmul", [x, wt], {}, Type(x.dtype, ir.infer_matmul(x.shape, wt.shape)), "mm")
    return binary(cx, "add", y, cx.tensor(b, x.dtype)) if b is not None else y


def _rows(cx, w, start, stop):
    """Rows [start, stop) of a weight or bias (sliced at conversion when constant)."""
    if isinstance(w, TensorConst):
        return TensorConst(w.tensor[start:stop].contiguous(), f"{w.hint}.{start}_{stop}")
    return slice_v(cx, cx.tensor(w), 0, start, stop, 1)


def _copy_reshape(cx, x, items):
    """reshape where 0 copies the input dim (keeps a symbolic batch dim)."""
    shape_t = cx.em.ints(items)
    dims = ir.infer_reshape(x.shape, items, allowzero=False)
    return cx.em.one("reshape", [x, shape_t], {}, Type(x.dtype, dims), "r")


def _attention(cx, query, key, value, E, H, w_qkv, b_qkv, w_o, b_o, mask, mask_type, need_weights=False,
               average=True):
    """Batch-first multi-head attention; inputs [B, T, E]. Returns (output, weights)."""
    q_in = cx.tensor(query)
    if E % H:
        raise NodeError(f"embed_dim {E} is not a multiple of num_heads {H}")
    hd = E // H
    if query is key and key is value:
        qkv = _linear_v(cx, q_in, w_qkv, b_qkv)
        shape = list(qkv.shape)
        shape[-1] = E
        q, k, v = cx.em.node("split", [qkv, cx.em.ints([E, E, E])], {"axis": rank_of(qkv) - 1},
                             [Type(q_in.dtype, shape)] * 3, "qkv").outputs
    else:
        q = _linear_v(cx, q_in, _rows(cx, w_qkv, 0, E), _rows(cx, b_qkv, 0, E))
        k = _linear_v(cx, cx.tensor(key), _rows(cx, w_qkv, E, 2 * E), _rows(cx, b_qkv, E, 2 * E))
        v = _linear_v(cx, cx.tensor(value), _rows(cx, w_qkv, 2 * E, 3 * E), _rows(cx, b_qkv, 2 * E, 3 * E))
    if rank_of(q) != 3:
        raise NodeError("fused attention on inputs that are not [batch, sequence, embed]")
    q = transpose_v(cx, _copy_reshape(cx, q, [0, 0, H, hd]), [0, 2, 1, 3])
    k = transpose_v(cx, _copy_reshape(cx, k, [0, 0, H, hd]), [0, 2, 3, 1])
    v = transpose_v(cx, _copy_reshape(cx, v, [0, 0, H, hd]), [0, 2, 1, 3])
    s = cx.em.one("matmul", [q, k], {}, Type(q.dtype, ir.infer_matmul(q.shape, k.shape)), "scores")
    s = binary(cx, "div", s, cx.em.scalar(q.dtype, math.sqrt(hd)))
    if mask is not None:
        m = cx.tensor(mask)
        if mask_type == 1 or (mask_type is None and rank_of(m) == 2 and m.shape[0] != m.shape[1]):
            m = unsqueeze_v(cx, unsqueeze_v(cx, m, 1), 1)  # key padding [B, Tk] -> [B, 1, 1, Tk]
        if m.dtype == "bool":
            s = cx.em.one("where", [m, cx.em.scalar(s.dtype, float("-inf")), s], {},
                          Type(s.dtype, ir.broadcast_shapes(m.shape, s.shape)), "masked")
        else:
            s = binary(cx, "add", s, cx.cast(m, s.dtype))
    p = unary(cx, "softmax", s, {"axis": 3})
    o = cx.em.one("matmul", [p, v], {}, Type(q.dtype, ir.infer_matmul(p.shape, v.shape)), "att")
    o = _copy_reshape(cx, transpose_v(cx, o, [0, 2, 1, 3]), [0, 0, E])
    out = _linear_v(cx, o, w_o, b_o)
    weights = None
    if need_weights:
        weights = reduce_v(cx, "reduce_mean", p, [1], False) if average else p
    return out, weights


@lowers("aten::_native_multi_head_attention", to="matmul, add, split, reshape, transpose, div, where, softmax",
        note="nn.MultiheadAttention's inference path (batch first)")
def _native_mha(cx, n, a):
    q, k, v, E, H, w_qkv, b_qkv, w_o, b_o = a[:9]
    mask = a[9] if len(a) > 9 else None
    need_weights = bool(const(a[10], "need_weights")) if len(a) > 10 else True
    average = bool(const(a[11], "average_attn_weights")) if len(a) > 11 else True
    mask_type = const(a[12], "mask_type") if len(a) > 12 else None
    out, w = _attention(cx, q, k, v, int(const(E, "embed_dim")), int(const(H, "num_head")), w_qkv, b_qkv, w_o, b_o,
                        mask, mask_type, need_weights, average)
    return [out, w]


@lowers("aten::_transformer_encoder_layer_fwd", to="layer_norm, matmul, add, softmax, gelu, relu, ...",
        note="nn.TransformerEncoderLayer's inference path, written out")
def _encoder_layer(cx, n, a):
    (src, E, H, w_qkv, b_qkv, w_o, b_o, use_gelu, norm_first, eps, ln1_w, ln1_b, ln2_w, ln2_b,
     w1, b1, w2, b2) = a[:18]
    mask = a[18] if len(a) > 18 else None
    mask_type = const(a[19], "mask_type") if len(a) > 19 else None
    E, H = int(const(E, "embed_dim")), int(const(H, "num_heads"))
    eps = float(const(eps, "eps"))
    x = cx.tensor(src)

    def ln(t, w, b):
        return cx.em.one("layer_norm", [t, cx.tensor(w, t.dtype), cx.tensor(b, t.dtype)],
                         {"axis": -1, "epsilon": eps}, Type(t.dtype, t.shape), "ln")

    def attn(t):
        return _attention(cx, t, t, t, E, H, w_qkv, b_qkv, w_o, b_o, mask, mask_type)[0]

    def ffn(t):
        h = _linear_v(cx, t, w1, b1)
        h = unary(cx, "gelu", h, {"approximate": "none"}) if const(use_gelu, "use_gelu") else unary(cx, "relu", h)
        return _linear_v(cx, h, w2, b2)

    if const(norm_first, "norm_first"):
        x = binary(cx, "add", x, attn(ln(x, ln1_w, ln1_b)))
        return binary(cx, "add", x, ffn(ln(x, ln2_w, ln2_b)))
    x = ln(binary(cx, "add", x, attn(x)), ln1_w, ln1_b)
    return ln(binary(cx, "add", x, ffn(x)), ln2_w, ln2_b)


# ---------------------------------------------------------------------------
# Recurrent layers (nn.LSTM, nn.GRU, nn.RNN): each layer and direction is one
# IR loop over time carrying the state, its outputs a scan. The input
# projection of every step is one matmul before the loop.


def _step_index(cx, i, T, reverse):
    if not reverse:
        return i
    last = _arith(cx, "sub", T, 1)
    return _arith(cx, "sub", last, i)


def _recurrent_direction(cx, kind, xw, h0, c0, w_hh, b_hh, T, reverse):
    """One direction of one layer. xw: [T, B, G*H] (input projections); h0, c0: [B, H].
    Returns (outputs [T, B, H] in time order, final h, final c)."""
    dt = xw.dtype
    H = h0.shape[1]
    G = {"lstm": 4, "gru": 3}.get(kind, 1)
    w_hh_t = _transposed_weight(cx, w_hh)
    b_hh_v = cx.tensor(b_hh, dt) if b_hh is not None else None
    trip = cx.tensor(T, "i64")
    carried = [h0] + ([c0] if kind == "lstm" else [])
    cx.em.push_block()
    it = cx.em.value(Type("i64", (), scalar=True), "t", number="int")
    cond = cx.em.value(Type("bool", (), scalar=True), "cond", number="bool")
    states = [cx.em.value(v.type, "h" if j == 0 else "c") for j, v in enumerate(carried)]
    h = states[0]
    xt = gather_v(cx, xw, cx.tensor(_step_index(cx, it, T, reverse), "i64"), 0)  # [B, G*H]
    hw = cx.em.one("matmul", [h, w_hh_t], {}, Type(dt, ir.infer_matmul(h.shape, w_hh_t.shape)), "hw")
    if b_hh_v is not None:
        hw = binary(cx, "add", hw, b_hh_v)

    def chunks(v):
        if G == 1:
            return [v]
        shape = [v.shape[0], H]
        return cx.em.node("split", [v, cx.em.ints([H] * G)], {"axis": 1}, [Type(dt, shape)] * G, "gate").outputs

    if kind == "lstm":
        i_g, f_g, g_g, o_g = chunks(binary(cx, "add", xt, hw))
        c_new = binary(cx, "add", binary(cx, "mul", unary(cx, "sigmoid", f_g), states[1]),
                       binary(cx, "mul", unary(cx, "sigmoid", i_g), unary(cx, "tanh", g_g)))
        h_new = binary(cx, "mul", unary(cx, "sigmoid", o_g), unary(cx, "tanh", c_new))
        new = [h_new, c_new]
    elif kind == "gru":
        xr, xz, xn = chunks(xt)
        hr, hz, hn = chunks(hw)
        r = unary(cx, "sigmoid", binary(cx, "add", xr, hr))
        z = unary(cx, "sigmoid", binary(cx, "add", xz, hz))
        n_ = unary(cx, "tanh", binary(cx, "add", xn, binary(cx, "mul", r, hn)))
        h_new = binary(cx, "add", n_, binary(cx, "mul", z, binary(cx, "sub", h, n_)))
        new = [h_new]
    else:
        h_new = unary(cx, "tanh" if kind == "rnn_tanh" else "relu", binary(cx, "add", xt, hw))
        new = [h_new]
    true = cx.em.scalar("bool", True)
    ys = [true] + new + [new[0]]
    blk = cx.em.pop_block()
    T_dim = T if isinstance(T, int) else (T.sym if isinstance(T, ir.Value) else None)
    out_types = [Type(v.dtype, v.shape) for v in carried] + [Type(dt, [T_dim] + list(h0.shape))]
    node = ir.Node("loop", [trip, cx.em.scalar("bool", True)] + carried, {},
                   [cx.em.value(t, "rnn") for t in out_types])
    node.blocks.append(("body", [it, cond] + states, blk.nodes, ys))
    cx.em.blocks[-1].nodes.append(node)
    outs = node.outputs
    seq = outs[-1]
    if reverse:  # the scan is in iteration order: put it back in time order
        if isinstance(T, int):
            idx = cx.em.constant("i64", (T,), list(range(T - 1, -1, -1)))
        else:
            start = cx.tensor(_arith(cx, "sub", T, 1), "i64")
            idx = cx.em.one("range", [start, cx.em.scalar("i64", -1), cx.em.scalar("i64", -1)], {},
                            Type("i64", (T_dim,)), "rev")
        seq = gather_v(cx, seq, idx, 0)
    return seq, outs[0], (outs[1] if kind == "lstm" else None)


def _recurrent(cx, n, kind, x, hx, params, has_biases, layers, bidir, batch_first):
    x = cx.tensor(x)
    if rank_of(x) != 3:
        raise NodeError("a recurrent layer on an input that is not [sequence, batch, features] (unbatched)")
    params = params.items if isinstance(params, ListV) else list(params)
    has_biases, layers = bool(const(has_biases, "has_biases")), int(const(layers, "num_layers"))
    bidir, batch_first = bool(const(bidir, "bidirectional")), bool(const(batch_first, "batch_first"))
    D = 2 if bidir else 1
    per = 4 if has_biases else 2
    if len(params) != layers * D * per:
        raise NodeError("recurrent layer with projections (proj_size) or an unexpected weight list")
    if batch_first:
        x = transpose_v(cx, x, [1, 0, 2])
    T = cx.dim_of(x, 0)
    hs = [cx.tensor(h, x.dtype) for h in (hx.items if isinstance(hx, ListV) else [hx])]
    layer_in = x
    final_h, final_c = [], []
    for layer in range(layers):
        outs = []
        for d in range(D):
            k = layer * D + d
            w_ih, w_hh = params[k * per], params[k * per + 1]
            b_ih, b_hh = (params[k * per + 2], params[k * per + 3]) if has_biases else (None, None)
            xw = _linear_v(cx, layer_in, w_ih, b_ih)
            kk = cx.em.scalar("i64", k)
            h0 = gather_v(cx, hs[0], kk, 0)
            c0 = gather_v(cx, hs[1], kk, 0) if kind == "lstm" else None
            seq, hT, cT = _recurrent_direction(cx, kind, xw, h0, c0, w_hh, b_hh, T, d == 1)
            outs.append(seq)
            final_h.append(unsqueeze_v(cx, hT, 0))
            if cT is not None:
                final_c.append(unsqueeze_v(cx, cT, 0))
        layer_in = concat_v(cx, outs, 2)
    out = transpose_v(cx, layer_in, [1, 0, 2]) if batch_first else layer_in
    res = [out, concat_v(cx, final_h, 0)]
    if kind == "lstm":
        res.append(concat_v(cx, final_c, 0))
    return res


@lowers("aten::lstm", "aten::gru", "aten::rnn_tanh", "aten::rnn_relu", to="loop, matmul, split, sigmoid, tanh, ...",
        note="nn.LSTM/GRU/RNN (inference, no proj_size, not packed): one loop per layer and direction")
def _rnn(cx, n, a):
    kind = n.kind().split("::")[1]
    if len(a) != 9 or isinstance(a[1], ir.Value) and a[1].dtype == "i64" and a[1].rank == 1:
        raise NodeError("packed sequences")
    x, hx, params, has_biases, layers, dropout, train, bidir, batch_first = a
    if const(train, "train"):
        raise NodeError("a recurrent layer in training mode")
    return _recurrent(cx, n, kind, x, hx, params, has_biases, layers, bidir, batch_first)
