"""The ATen op table of docs/pytorch.md, generated from the converter's own table.

    python3 -m switchyard_torch.docs --write docs/pytorch.md   # regenerate
    python3 -m switchyard_torch.docs --check docs/pytorch.md   # exit 1 when out of date
"""
import argparse
import sys

BEGIN = "<!-- BEGIN GENERATED ATEN TABLE -->"
END = "<!-- END GENERATED ATEN TABLE -->"


def ops_markdown():
    from . import aten
    # One row per lowering: in-place and alias spellings share the row of their op.
    groups = {}
    for kind in sorted(aten.TABLE):
        key = (id(aten.TABLE[kind]), aten.DOC[kind])
        groups.setdefault(key, []).append(kind)
    rows = sorted(groups.items(), key=lambda kv: kv[1][0])
    lines = [f"{len(aten.TABLE)} TorchScript op names (`aten::` and `prim::`, in-place forms included) "
             "are converted.", "",
             "| TorchScript op | Switchyard IR ops | notes |", "|---|---|---|"]
    for (_, (to, note)), kinds in rows:
        lines.append("| " + ", ".join(f"`{k}`" for k in kinds) + f" | {to} | {note} |")
    return "\n".join(lines) + "\n"


def splice(text):
    if BEGIN not in text or END not in text:
        raise ValueError(f"the markers {BEGIN} and {END} are missing")
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    return head + BEGIN + "\n" + ops_markdown() + END + tail


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m switchyard_torch.docs")
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--write", metavar="FILE")
    g.add_argument("--check", metavar="FILE")
    args = p.parse_args(argv)
    path = args.write or args.check
    with open(path) as f:
        text = f.read()
    new = splice(text)
    if args.write:
        if new != text:
            with open(path, "w") as f:
                f.write(new)
        return 0
    if new != text:
        print(f"{path}: the ATen op table is out of date; run "
              f"python3 -m switchyard_torch.docs --write {path}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
