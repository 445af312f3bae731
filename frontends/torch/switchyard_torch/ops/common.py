"""Shared pieces of the op table: the registry (`lowers`), argument helpers,
type promotion, and emit helpers that know each IR op's shape rule."""
import torch

from .. import ir
from ..convert import SY_TO_TORCH, TORCH_TO_SY, ListV, NodeError, TensorConst
from ..ir import Type


TABLE = {}


DOC = {}  # kind -> (ir ops, note)


def lowers(*kinds, to="", note=""):
    def deco(fn):
        for k in kinds:
            TABLE[k] = fn
            DOC[k] = (to, note)
        return fn
    return deco


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


def _transposed_weight(cx, w):
    """w^T for linear: transposed once at conversion when w is a constant."""
    if isinstance(w, TensorConst) and w.tensor.dim() == 2:
        return cx.tensor_const(TensorConst(w.tensor.t().contiguous(), w.hint))
    w = cx.tensor(w)
    return transpose_v(cx, w, [1, 0])


def _dims_arg(v):
    if v is None:
        return None
    if isinstance(v, int):
        return [v]
    return int_list(v, "dim")


def _tensor_list(cx, v):
    if isinstance(v, ListV):
        return [cx.tensor(i) for i in v.items]
    if isinstance(v, (list, tuple)):
        return [cx.tensor(i) for i in v]
    raise NodeError("expected a list of tensors built in the graph")


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


def _named_args(n, a):
    try:
        names = [arg.name for arg in torch._C.parse_schema(n.schema()).arguments]
    except Exception:  # noqa: BLE001
        raise NodeError("cannot read the op's schema") from None
    return dict(zip(names, a))


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
