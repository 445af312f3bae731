"""Neural-network ops: convolution, linear layers, normalisation, pooling,
interpolation, fused attention and recurrent layers."""
import math

import torch

from .. import ir
from ..convert import SY_TO_TORCH, ListV, NodeError, TensorConst, Unavailable
from ..ir import Type
from .common import (
    _copy_reshape, _linear_v, _named_args, _rows, _transposed_weight, binary, concat_v, const, gather_v,
    int_list, lowers, operands, rank_of, reduce_v, reshape_v, slice_v, static_dim, transpose_v, unary,
    unsqueeze_v,
)
from .arith import _arith


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
    extra = {"count_include_pad": int(bool(const(cip, "count_include_pad")))}
    return _pool(cx, "avg_pool", x, k, s, p, None, cm, extra)


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
