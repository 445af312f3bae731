"""python -m switchyard_torch MODEL.pt -o MODEL.sy [--input-shape NAME=D0,D1,...[:dtype]]..."""
import argparse
import sys

from .api import export, supported_ops
from .ir import ConversionError


def _parse_shape(text):
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"{text!r}: expected NAME=D0,D1,...[:dtype], e.g. x=1,3,224,224")
    name, rest = text.split("=", 1)
    dtype = "f32"
    if ":" in rest:
        rest, dtype = rest.rsplit(":", 1)
    try:
        dims = tuple(int(d) for d in rest.split(",") if d.strip() != "")
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: dims must be integers, e.g. x=1,3,224,224") from None
    if any(d < 0 for d in dims):
        raise argparse.ArgumentTypeError(f"{text!r}: dims must not be negative")
    return name.strip().lstrip("%"), (dims, dtype)


def main(argv=None):
    p = argparse.ArgumentParser(
        prog="python -m switchyard_torch",
        description="Convert a TorchScript file (torch.jit.save) to a Switchyard program (.sy + .safetensors).",
        epilog="example: python -m switchyard_torch resnet.pt -o resnet.sy --input-shape x=1,3,224,224")
    p.add_argument("model", nargs="?", help="a file written by torch.jit.save")
    p.add_argument("-o", "--output", default=None, help="the .sy to write (default: MODEL with .sy)")
    p.add_argument("--input-shape", action="append", type=_parse_shape, default=[], metavar="NAME=D0,D1,...[:dtype]",
                   help="shape (and dtype, default f32) of a tensor input; once per input")
    p.add_argument("--static-batch", action="store_true", help="keep dim 0 of the inputs static")
    p.add_argument("--flatten-outputs", action="store_true", help="a returned tuple gives one output per item")
    p.add_argument("--list-ops", action="store_true", help="print the supported ATen ops and exit")
    args = p.parse_args(argv)
    if args.list_ops:
        try:
            for k, (to, note) in supported_ops().items():
                print(f"{k}\t{to}\t{note}")
        except BrokenPipeError:  # `| head`
            sys.stderr.close()
        return 0
    if not args.model:
        p.error("the model file is required")
    out = args.output or (args.model.rsplit(".", 1)[0] + ".sy")
    try:
        r = export(args.model, out=out, input_shapes=dict(args.input_shape), dynamic_batch=not args.static_batch,
                   flatten_outputs=args.flatten_outputs)
    except ConversionError as e:
        print(f"switchyard_torch: error: {e}", file=sys.stderr)
        return 1
    print(f"wrote {r.program}" + (f" and {r.weights}" if r.weights else ""))
    for n, t in r.inputs:
        print(f"  input  %{n}: {t}")
    for n, t in r.outputs:
        print(f"  output %{n}: {t}")
    for note in r.notes:
        print(f"  note: {note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
