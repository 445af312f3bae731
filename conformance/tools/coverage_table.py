#!/usr/bin/env python3
"""Per-op coverage table from switchyard-conformance JSON reports.

    conformance/tools/coverage_table.py build/reports/conformance-cpu.json \
        build/reports/conformance-opencl.json ... > coverage.md

One column per report (named by its plugin), one row per op of the `ops`
scope: "passed/total" cases, with failures called out. Cases not passed and
not failed were declined by the plugin or skipped by a declaration. The api
and engine scopes are summarised in the first rows (the engine row also adds
up the compute nodes the plugin took over all models).
"""
import collections
import json
import sys


def load(path):
    with open(path, encoding="utf-8") as f:
        report = json.load(f)
    ops = collections.defaultdict(collections.Counter)
    api = collections.Counter()
    engine = collections.Counter()
    taken = total = 0
    for case in report["cases"]:
        if case["scope"] == "ops":
            ops[case.get("op") or case["id"].split(".")[1]][case["outcome"]] += 1
        elif case["scope"] == "api":
            api[case["outcome"]] += 1
        elif case["scope"] == "engine":
            engine[case["outcome"]] += 1
            details = case.get("details") or {}
            taken += details.get("taken", 0)
            total += details.get("compute_nodes", 0)
    return report.get("plugin", path), api, ops, (engine, taken, total)


def engine_cell(engine):
    counter, taken, total = engine
    if not counter:
        return "-"
    return cell(counter) + (f", {taken}/{total} nodes" if total else "")


def cell(counter):
    passed = counter.get("passed", 0)
    failed = counter.get("failed", 0)
    total = sum(counter.values())
    text = f"{passed}/{total}" if total else "-"
    return text + (f" ({failed} failed)" if failed else "")


def main(paths):
    if not paths:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    reports = [load(p) for p in paths]
    names = [r[0] for r in reports]
    print("| op | " + " | ".join(names) + " |")
    print("|---|" + "---|" * len(names))
    print("| *api scope* | " + " | ".join(cell(r[1]) for r in reports) + " |")
    print("| *engine scope* | " + " | ".join(engine_cell(r[3]) for r in reports) + " |")
    for op in sorted(set().union(*(r[2].keys() for r in reports))):
        print(f"| {op} | " + " | ".join(cell(r[2][op]) if op in r[2] else "-" for r in reports) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
