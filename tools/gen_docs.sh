#!/usr/bin/env bash
# Regenerates the op reference in docs/ir.md from the registry.
set -euo pipefail
cd "$(dirname "$0")/.."
bin="${1:-build/bin/switchyard}"
{
  sed -n '1,/^<!-- BEGIN GENERATED OP REFERENCE -->$/p' docs/ir.md
  "$bin" ops --markdown
  echo "<!-- END GENERATED OP REFERENCE -->"
} > docs/ir.md.new
mv docs/ir.md.new docs/ir.md
