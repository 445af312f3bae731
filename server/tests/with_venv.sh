#!/usr/bin/env bash
# Runs a client test with the serve venv's Python:  with_venv.sh VENV SCRIPT ARGS...
# A missing venv fails in CI and skips (77) elsewhere, like setup_venv.sh.
set -uo pipefail
venv="$1"
shift
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import tritonclient.http, tritonclient.grpc' 2>/dev/null; then
  if [ -n "${CI:-}" ]; then
    echo "FAIL: no usable venv at $venv (serve_venv_setup must create it in CI)" >&2
    exit 1
  fi
  echo "SKIP: no usable venv at $venv (serve_venv_setup could not create it; see its output)" >&2
  exit 77
fi
exec "$venv/bin/python" "$@"
