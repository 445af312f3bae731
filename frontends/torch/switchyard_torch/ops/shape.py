"""Sizes, views, slicing, indexing, joining and splitting, padding, creation
and dtype conversion."""
import torch

from .. import ir
from ..convert import TORCH_TO_SY, ListV, NodeError, TensorConst
from ..ir import Type
from .common import (
    _dims_arg, _tensor_list, _torch_dtype, all_python, binary, concat_v, const, dyn_int_list, expand_v,
    gather_v, int_list, lowers, out_number, rank_of, reshape_v, result_dtype, slice_v, squeeze_v, static_dim,
    transpose_v, unsqueeze_v,
)
from .arith import _arith


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
    s, e, st = (cx.em.one("squeeze", [v], {"axes": [0]}, Type(dtype, ()), "s") if v.rank == 1 else v
                for v in (s, e, st))
    return cx.em.one("range", [s, e, st], {}, Type(dtype, (length,)), "arange")


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
