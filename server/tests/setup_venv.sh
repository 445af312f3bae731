#!/usr/bin/env bash
# Creates (once) the Python venv the server's client tests use: tritonclient
# with its HTTP and gRPC clients, and numpy. Idempotent: an existing venv that
# imports them is kept.
#
#   setup_venv.sh VENV_DIR
#
# Without network access to PyPI this fails when CI is set (CI must run the
# client tests), and otherwise skips (exit 77) with the reason.
set -uo pipefail
venv="${1:?usage: setup_venv.sh VENV_DIR}"
check='import tritonclient.http, tritonclient.grpc, numpy, grpc'

if [ -x "$venv/bin/python" ] && "$venv/bin/python" -c "$check" 2>/dev/null; then
  echo "serve venv: $venv is ready"
  exit 0
fi
skip_or_fail() {
  echo "serve venv: $1" >&2
  if [ -n "${CI:-}" ]; then
    echo "serve venv: CI is set, so this is a failure (the client tests must run in CI)" >&2
    exit 1
  fi
  echo "SKIP: the client tests need the venv; not in CI, so they are skipped" >&2
  exit 77
}
python="$(command -v python3 || true)"
[ -n "$python" ] || skip_or_fail "no python3 on PATH"
rm -rf "$venv"
"$python" -m venv "$venv" || skip_or_fail "python3 -m venv $venv failed (install python3-venv)"
"$venv/bin/python" -m pip install -q --disable-pip-version-check 'tritonclient[http,grpc]' numpy \
  || skip_or_fail "pip could not install tritonclient[http,grpc] and numpy (is PyPI reachable?)"
"$venv/bin/python" -c "$check" || skip_or_fail "the venv does not import tritonclient"
echo "serve venv: created $venv ($("$venv/bin/python" -m pip show tritonclient 2>/dev/null | grep ^Version))"
