"""The public entry points: `export` and `supported_ops`."""
import os
import re

import torch

from . import aten, ir
from .convert import TORCH_TO_SY, Converter, frozen_graph, load_module, _graph_input_name
from .ir import ConversionError, NeedStaticBatch
from .safetensors import save_safetensors


class ExportResult:
    """What `export` wrote: the program and weights paths, the inputs and outputs
    as `(name, type text)` pairs, and notes (e.g. why the batch dim is static)."""

    def __init__(self, program, weights, inputs, outputs, dynamic_batch, notes):
        self.program = program
        self.weights = weights
        self.inputs = inputs
        self.outputs = outputs
        self.dynamic_batch = dynamic_batch
        self.notes = notes

    def __repr__(self):
        return (f"ExportResult(program={self.program!r}, weights={self.weights!r}, inputs={self.inputs}, "
                f"outputs={self.outputs}, dynamic_batch={self.dynamic_batch})")


class _Default:
    def __init__(self, value):
        self.value = value


def supported_ops():
    """{ATen op: (IR ops it becomes, note)} — the converter's own table."""
    return dict(sorted(aten.DOC.items()))


def _defaults(m, n_inputs):
    """The default value of each forward argument (self excluded), or _NO_DEFAULT."""
    out = [_NO_DEFAULT] * n_inputs
    try:
        schema = m.forward.schema if hasattr(m, "forward") else m.schema
        args = [a for a in schema.arguments if a.name != "self"]
    except Exception:  # noqa: BLE001 - traced functions and old files may have no schema
        return out
    for i, a in enumerate(args[:n_inputs]):
        if a.default_value is not None or "Optional" in str(a.type) or str(a.type).endswith("?"):
            out[i] = a.default_value
    return out


_NO_DEFAULT = object()


def _input_specs(graph_inputs, example_inputs, input_shapes, defaults):
    names = [_graph_input_name(v.debugName()) for v in graph_inputs]
    specs = []
    if example_inputs is not None:
        if isinstance(example_inputs, (torch.Tensor, int, float, bool)):
            example_inputs = (example_inputs,)
        example_inputs = tuple(example_inputs)
        # Trailing arguments with defaults may be left out.
        if len(example_inputs) < len(names) and all(d is not _NO_DEFAULT for d in defaults[len(example_inputs):]):
            example_inputs = example_inputs + tuple(_Default(d) for d in defaults[len(example_inputs):])
        if len(example_inputs) != len(names):
            raise ConversionError(f"the model takes {len(names)} inputs ({', '.join(names)}) but "
                                  f"{len(example_inputs)} example inputs were given")
        for name, x in zip(names, example_inputs):
            if x is None or isinstance(x, _Default):
                specs.append((name, None, None if x is None else x.value, "const"))
            elif isinstance(x, torch.Tensor):
                dt = x.dtype if x.dtype != torch.float64 else torch.float32
                if dt not in TORCH_TO_SY:
                    raise ConversionError(f"input {name}: dtype {x.dtype} has no Switchyard equivalent")
                specs.append((name, TORCH_TO_SY[dt], tuple(x.shape), None))
            elif isinstance(x, bool):
                specs.append((name, "bool", (), "bool"))
            elif isinstance(x, int):
                specs.append((name, "i64", (), "int"))
            elif isinstance(x, float):
                specs.append((name, "f32", (), "float"))
            else:
                raise ConversionError(f"input {name}: an example input of type {type(x).__name__} "
                                      "(tensors and numbers are supported)")
        return specs
    input_shapes = dict(input_shapes or {})
    for i, (name, v) in enumerate(zip(names, graph_inputs)):
        kind = v.type().kind()
        spec = input_shapes.pop(name, None)
        if spec is None and defaults[i] is not _NO_DEFAULT:
            specs.append((name, None, defaults[i], "const"))
            continue
        if kind in ("IntType", "FloatType", "BoolType"):
            specs.append((name, None, (), None))
            continue
        if spec is None:
            raise ConversionError(
                f"input {name}: its shape is unknown; pass example_inputs, or input_shapes "
                f"(--input-shape {name}=D0,D1,...[:dtype])")
        if isinstance(spec, tuple) and len(spec) == 2 and isinstance(spec[1], str):
            shape, dtype = spec
        else:
            shape, dtype = spec, "f32"
        if dtype not in ir.DTYPES:
            raise ConversionError(f"input {name}: dtype {dtype!r} is not one of {', '.join(ir.DTYPES)}")
        specs.append((name, dtype, tuple(int(d) for d in shape), None))
    if input_shapes:
        raise ConversionError(f"input shapes given for {', '.join(sorted(input_shapes))}, which the model "
                              f"does not take (its inputs: {', '.join(names)})")
    return specs


def _graph_name(m, out):
    name = getattr(m, "original_name", None) or os.path.splitext(os.path.basename(out))[0]
    name = re.sub(r"[^A-Za-z0-9_]", "_", name) or "model"
    return name


def export(module_or_path, example_inputs=None, out="model.sy", *, input_shapes=None, dynamic_batch=True,
           flatten_outputs=False, weight_threshold=16):
    """Converts a TorchScript module to a Switchyard program.

    module_or_path: the output of torch.jit.script or torch.jit.trace, or the path of
        a file written by torch.jit.save.
    example_inputs: a tensor or a tuple of tensors/numbers giving the inputs' dtypes and
        shapes (the values are not used). Without them, `input_shapes` must name each
        tensor input: {"x": (1, 3, 224, 224)} or {"ids": ((1, 16), "i64")}.
    out: the `.sy` path; the weights go to the `.safetensors` file of the same name.
    dynamic_batch: make dim 0 of every tensor input the symbol N where the graph
        allows it (otherwise, and where it does not, the shapes are static).
    flatten_outputs: a returned tuple of tensors gives one output each (by default a
        tuple output is an error).
    weight_threshold: tensor constants with more elements are stored as weights,
        smaller ones inline.
    Returns an ExportResult. Raises ConversionError with a message naming every
    unsupported op and its source line.
    """
    m = load_module(module_or_path)
    graph = frozen_graph(m)
    inputs = list(graph.inputs())
    if inputs and isinstance(inputs[0].type(), torch._C.ClassType):
        inputs = inputs[1:]
    specs = _input_specs(inputs, example_inputs, input_shapes, _defaults(m, len(inputs)))
    notes = []
    dyn = dynamic_batch
    while True:
        cx = Converter(graph, specs, dyn, aten.TABLE, weight_threshold)
        cx.flatten_outputs = flatten_outputs
        try:
            params, outs = cx.run()
            break
        except NeedStaticBatch as e:
            if not dyn:
                raise ConversionError(f"internal: static shapes still conflict ({e})") from None
            notes.append(f"the batch dim is static: {e}")
            dyn = False
    # Name the outputs "output" (or output0, output1, ...).
    seen = set()
    final = []
    for i, v in enumerate(outs):
        want = "output" if len(outs) == 1 else f"output{i}"
        if v.name in seen or v in params:
            v = cx.em.one("identity", [v], {}, v.type, want)
        else:
            cx.em.used.discard(v.name)
            if want in cx.em.used:
                want = cx.em.fresh(want)
            else:
                cx.em.used.add(want)
            v.name = want
        seen.add(v.name)
        final.append(v)
    text = cx.em.print_graph(_graph_name(m, out), params, final)
    out = os.fspath(out)
    stem = out[:-3] if out.endswith(".sy") else os.path.splitext(out)[0]
    weights_path = stem + ".safetensors"
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    header = "# Exported from TorchScript by switchyard_torch" + (
        "; " + "; ".join(notes) if notes else "") + "\n"
    if cx.em.weights:
        save_safetensors(cx.em.weights, weights_path)
    elif os.path.exists(weights_path):
        os.remove(weights_path)
    with open(out, "w") as f:
        f.write(header + text)
    return ExportResult(out, weights_path if cx.em.weights else None,
                        [(p.name, p.type.text()) for p in params], [(v.name, v.type.text()) for v in final],
                        dyn and any(p.type.shape and p.type.shape[0] == "N" for p in params), notes)
