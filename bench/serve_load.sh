#!/usr/bin/env bash
# Load benchmark of `switchyard serve` (issue #18): throughput and p50/p99
# latency at concurrency 1, 4 and 16, with and without dynamic batching, over
# HTTP (wrk posting a binary-data request, bench/serve_load.lua) and gRPC (an
# asyncio driver on tritonclient's gRPC client), beside in-process
# `switchyard bench --threads N` on the same model in the same invocation.
#
#   bench/serve_load.sh [--models mlp,cnn] [--duration 3] [--rounds 3] [--config FILE]
#
# Needs a build with the server (./run.sh build), wrk (installed here when
# missing) and the tritonclient venv (build/serve-venv, created when missing).
# Everything runs on 127.0.0.1; the load generators share the machine's cores
# with the server, which the table's notes say.
set -euo pipefail
cd "$(dirname "$0")/.."
build="${SY_BUILD_DIR:-build}"
bin="$build/bin/switchyard"
if [ ! -x "$bin" ] || ! "$bin" serve --help >/dev/null 2>&1; then
  echo "serve_load: $bin has no 'serve' command; build it first (./run.sh build; needs libgrpc++-dev)" >&2
  exit 1
fi
if ! command -v wrk >/dev/null; then
  echo "serve_load: installing wrk"
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get install -y -qq wrk >/dev/null
fi
venv="${SY_SERVE_VENV:-build/serve-venv}"
bash server/tests/setup_venv.sh "$venv" >&2 || { echo "serve_load: no tritonclient venv" >&2; exit 1; }
exec "$venv/bin/python" bench/serve_load.py --switchyard "$bin" --source-dir "$PWD" "$@"
