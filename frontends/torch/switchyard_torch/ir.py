"""Builds Switchyard IR text (`.sy`) with the output type of every node inferred.

The converter emits IR ops through `Emitter`; each helper here knows the op's
shape rule (the same rule as the op's schema in core/src/ops/), so every node
is written with its output types, as the text format requires. A dim is an
int, a symbol (str, e.g. "N") or None (written `?`, unknown until run time).

Note [static batch fallback]: the batch dim of the inputs is the symbol "N" by
default. When a shape rule meets a fact that ties the symbol to a number (a
reshape to a constant shape that has no -1, broadcasting "N" against 3, ...),
the graph does not allow a symbolic batch: the rule raises `NeedStaticBatch`
and the converter starts again with the example batch size.
"""
import math

DTYPES = ("f32", "f16", "bf16", "i8", "i32", "i64", "bool")
FLOAT_DTYPES = ("f32", "f16", "bf16")


class ConversionError(Exception):
    """A model that cannot be converted; the message says what and where."""


class NeedStaticBatch(Exception):
    """A shape rule tied the symbolic batch dim to a number (see Note [static batch fallback])."""


class Type:
    """A tensor type: dtype and shape (a tuple of dims, or None for unknown rank).
    `scalar` marks a scalar (`i64`), which the IR treats like a rank-0 tensor."""

    __slots__ = ("dtype", "shape", "scalar")

    def __init__(self, dtype, shape, scalar=False):
        assert dtype in DTYPES, dtype
        self.dtype = dtype
        self.shape = None if shape is None else tuple(shape)
        self.scalar = scalar

    @property
    def rank(self):
        return None if self.shape is None else len(self.shape)

    def text(self):
        if self.scalar:
            return self.dtype
        if self.shape is None:
            return self.dtype + "[*]"
        return self.dtype + "[" + ", ".join(dim_text(d) for d in self.shape) + "]"

    def with_dtype(self, dtype):
        return Type(dtype, self.shape)

    def __repr__(self):
        return self.text()


def dim_text(d):
    if d is None:
        return "?"
    return str(d)


def _merge_dim(a, b):
    return a if a == b else None


def merge_types(a, b):
    """The type that both a and b fit (for if outputs and loop-carried values)."""
    if a.dtype != b.dtype:
        raise ConversionError(f"branches give different dtypes ({a.text()} and {b.text()})")
    if a.shape is None or b.shape is None or len(a.shape) != len(b.shape):
        return Type(a.dtype, None)
    return Type(a.dtype, [_merge_dim(x, y) for x, y in zip(a.shape, b.shape)])


class Value:
    """An IR value. `const` holds its content when it is known at conversion time
    (small integer tensors used as shapes); `sym` is the dim an i64 scalar equals."""

    __slots__ = ("name", "type", "const", "sym", "as_1d", "number")

    def __init__(self, name, type_, const=None, sym=None, number=None):
        self.name = name
        self.type = type_
        self.const = const
        self.sym = sym
        self.as_1d = None
        # "int", "float" or "bool" when this holds a TorchScript number rather
        # than a tensor (it promotes like a Python scalar).
        self.number = number

    @property
    def dtype(self):
        return self.type.dtype

    @property
    def shape(self):
        return self.type.shape

    @property
    def rank(self):
        return self.type.rank

    def ref(self):
        return "%" + self.name

    def __repr__(self):
        return f"%{self.name}: {self.type.text()}"


class Node:
    __slots__ = ("op", "inputs", "attrs", "outputs", "blocks", "label")

    def __init__(self, op, inputs, attrs, outputs, label=None):
        self.op = op
        self.inputs = inputs
        self.attrs = attrs
        self.outputs = outputs
        self.blocks = []  # (label, params, nodes, yields)
        self.label = label


def _fmt_float(x):
    x = float(x)
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    r = repr(x)
    return r


def _fmt_str(s):
    out = []
    for ch in s:
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ord(ch) < 0x20 or ord(ch) > 0x7E:
            for b in ch.encode("utf-8"):
                out.append("\\x%02X" % b)
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


class TensorLiteral:
    """A small tensor written inline: `tensor<i64[2]>[1, 2]`."""

    def __init__(self, dtype, shape, values):
        self.dtype = dtype
        self.shape = tuple(shape)
        self.values = list(values)

    def text(self):
        if self.dtype == "bool":
            items = ["true" if v else "false" for v in self.values]
        elif self.dtype in FLOAT_DTYPES:
            items = [_fmt_float(v) for v in self.values]
        else:
            items = [str(int(v)) for v in self.values]
        return f"tensor<{Type(self.dtype, self.shape).text()}>[" + ", ".join(items) + "]"


def fmt_attr(v):
    if isinstance(v, TensorLiteral):
        return v.text()
    if isinstance(v, bool):
        return "1" if v else "0"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return _fmt_float(v)
    if isinstance(v, str):
        return _fmt_str(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(fmt_attr(x) for x in v) + "]"
    raise TypeError(f"cannot write attribute {v!r}")


def _name_ok(name):
    return bool(name) and all(c.isalnum() and c.isascii() or c in "_." for c in name)


# ---------------------------------------------------------------------------
# Shape rules


def norm_axis(axis, rank, what="dim"):
    if rank is None:
        if axis < 0:
            raise ConversionError(f"{what} {axis} needs a known rank")
        return axis
    if axis < -rank or axis >= rank:
        raise ConversionError(f"{what} {axis} is out of range for rank {rank}")
    return axis + rank if axis < 0 else axis


def broadcast_dims(a, b):
    if a == b:
        return a
    if a == 1:
        return b
    if b == 1:
        return a
    if isinstance(a, int) and isinstance(b, int):
        raise ConversionError(f"shapes do not broadcast: dims {a} and {b}")
    if isinstance(a, str) and isinstance(b, int) or isinstance(b, str) and isinstance(a, int):
        raise NeedStaticBatch(f"dim {a if isinstance(a, str) else b} meets dim "
                              f"{b if isinstance(a, str) else a} in a broadcast")
    if a is None:
        return b if isinstance(b, int) and b != 1 else None
    if b is None:
        return a if isinstance(a, int) and a != 1 else None
    return None


def broadcast_shapes(*shapes):
    if any(s is None for s in shapes):
        return None
    rank = max(len(s) for s in shapes)
    out = [1] * rank
    for s in shapes:
        padded = (1,) * (rank - len(s)) + tuple(s)
        out = [broadcast_dims(x, y) for x, y in zip(out, padded)]
    return tuple(out)


class _Product:
    """A product of dims: an int factor, symbols, and whether an unknown dim is in it."""

    def __init__(self, dims):
        self.k = 1
        self.syms = []
        self.unknown = False
        for d in dims:
            if d is None:
                self.unknown = True
            elif isinstance(d, str):
                self.syms.append(d)
            else:
                self.k *= d
        self.syms.sort()


def infer_reshape(in_shape, target, allowzero=False):
    """Output dims of reshape(in_shape, target); target entries are ints (with one -1
    and, unless allowzero, 0 = copy), symbols or None."""
    out = []
    for i, d in enumerate(target):
        if d == 0 and not allowzero and isinstance(d, int):
            out.append(in_shape[i] if in_shape is not None and i < len(in_shape) else None)
        else:
            out.append(d)
    if in_shape is None:
        return [None if d == -1 else d for d in out]
    pin = _Product(in_shape)
    if -1 in out:
        idx = out.index(-1)
        pout = _Product([d for i, d in enumerate(out) if i != idx])
        if pin.unknown or pout.unknown:
            out[idx] = None
            return out
        rest = list(pin.syms)
        for s in pout.syms:
            if s in rest:
                rest.remove(s)
            else:
                out[idx] = None
                return out
        if pout.k == 0 or pin.k % pout.k != 0:
            if pout.k != 0:
                if pin.syms:
                    raise NeedStaticBatch(f"reshape of {list(in_shape)} to {target}")
                raise ConversionError(f"cannot reshape {list(in_shape)} to {target}")
            out[idx] = None
            return out
        q = pin.k // pout.k
        if not rest:
            out[idx] = q
        elif len(rest) == 1 and q == 1:
            out[idx] = rest[0]
        else:
            out[idx] = None
        return out
    pout = _Product(out)
    if not pin.unknown and not pout.unknown:
        if pin.syms != pout.syms or (pin.syms and pin.k != pout.k):
            # A symbolic dim does not fit: the graph fixes its size.
            raise NeedStaticBatch(f"reshape of {list(in_shape)} to {target}")
        if pin.k != pout.k:
            raise ConversionError(f"cannot reshape {list(in_shape)} to {target}")
    return out


def _conv_out(d, k, s, p0, p1, dil, ceil_mode=False):
    if not isinstance(d, int):
        return None
    eff = dil * (k - 1) + 1
    num = d + p0 + p1 - eff
    if ceil_mode:
        o = -(-num // s) + 1
        if (o - 1) * s >= d + p0:
            o -= 1
        return o
    return num // s + 1


def infer_matmul(a, b):
    if a is None or b is None:
        return None
    if len(a) == 0 or len(b) == 0:
        raise ConversionError("matmul of a rank-0 tensor")
    a1 = len(a) == 1
    b1 = len(b) == 1
    A = (1,) + tuple(a) if a1 else tuple(a)
    B = tuple(b) + (1,) if b1 else tuple(b)
    k1, k2 = A[-1], B[-2]
    if isinstance(k1, int) and isinstance(k2, int) and k1 != k2:
        raise ConversionError(f"matmul of {list(a)} and {list(b)}: inner dims {k1} and {k2} differ")
    batch = broadcast_shapes(A[:-2], B[:-2])
    out = list(batch) + [A[-2], B[-1]]
    if b1:
        out.pop(-1)
    if a1:
        out.pop(-2 if not b1 else -1)
    return tuple(out)


class Block:
    def __init__(self):
        self.nodes = []


class Emitter:
    """Collects the nodes of one graph; `print_graph` writes the `.sy` text."""

    def __init__(self):
        self.used = set()
        self.blocks = [Block()]
        self.weights = {}  # name -> torch tensor
        self.const_cache = {}

    # -- names and blocks ---------------------------------------------------
    def fresh(self, hint="v"):
        base = "".join(c if (c.isalnum() and c.isascii()) or c in "_." else "_" for c in (hint or "v"))
        if not base or base[0] == ".":
            base = "v" + base
        name = base
        i = 1
        while name in self.used:
            name = f"{base}_{i}"
            i += 1
        self.used.add(name)
        return name

    def value(self, type_, hint="v", **kw):
        return Value(self.fresh(hint), type_, **kw)

    def push_block(self):
        self.blocks.append(Block())
        # Constants are cached per block: a cached value from an inner block is not
        # visible outside it.
        self.const_cache = {}

    def pop_block(self):
        self.const_cache = {}
        return self.blocks.pop()

    def node(self, op, inputs, attrs, out_types, hint="v", label=None):
        outs = [self.value(t, hint) for t in out_types]
        n = Node(op, list(inputs), dict(attrs or {}), outs, label)
        self.blocks[-1].nodes.append(n)
        return n

    def one(self, op, inputs, attrs, out_type, hint="v", label=None):
        return self.node(op, inputs, attrs, [out_type], hint, label).outputs[0]

    # -- constants and weights ----------------------------------------------
    def constant(self, dtype, shape, values, hint="c"):
        shape = tuple(shape)
        key = (dtype, shape, tuple(values), len(self.blocks))
        hit = self.const_cache.get(key)
        if hit is not None:
            return hit
        lit = TensorLiteral(dtype, shape, values)
        v = self.one("constant", [], {"value": lit}, Type(dtype, shape), hint)
        if dtype in ("i64", "i32") and len(shape) <= 1:
            v.const = [int(x) for x in values]
        self.const_cache[key] = v
        return v

    def scalar(self, dtype, x, hint="c"):
        return self.constant(dtype, (), [x], hint)

    def ints(self, values, hint="c"):
        return self.constant("i64", (len(values),), list(values), hint)

    def weight(self, name, tensor, type_):
        self.weights[name] = tensor
        return self.one("weight", [], {"name": name}, type_, hint=name)

    # -- text ----------------------------------------------------------------
    def print_graph(self, name, params, outputs):
        lines = []
        ps = ", ".join(f"%{p.name}: {p.type.text()}" for p in params)
        lines.append(f"graph @{name}({ps}) {{")
        self._print_nodes(self.blocks[0].nodes, lines, "  ")
        lines.append("  return " + ", ".join(v.ref() for v in outputs))
        lines.append("}")
        return "\n".join(lines) + "\n"

    def _print_nodes(self, nodes, lines, ind):
        for n in nodes:
            s = ind
            if n.outputs:
                s += ", ".join(v.ref() for v in n.outputs) + " = "
            s += n.op + "(" + ", ".join(v.ref() for v in n.inputs) + ")"
            if n.attrs:
                s += " {" + ", ".join(f"{k} = {fmt_attr(n.attrs[k])}" for k in sorted(n.attrs)) + "}"
            if n.outputs:
                s += " : " + ", ".join(v.type.text() for v in n.outputs)
            if n.label:
                s += " @" + _fmt_str(n.label)
            if n.blocks:
                s += " {"
                lines.append(s)
                for label, params, nodes2, yields in n.blocks:
                    hdr = ind + "^" + label
                    if params:
                        hdr += "(" + ", ".join(f"%{p.name}: {p.type.text()}" for p in params) + ")"
                    lines.append(hdr + ":")
                    self._print_nodes(nodes2, lines, ind + "  ")
                    lines.append(ind + "  yield" + ("" if not yields else " " + ", ".join(v.ref() for v in yields)))
                lines.append(ind + "}")
            else:
                lines.append(s)
