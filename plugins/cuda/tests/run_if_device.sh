#!/usr/bin/env bash
# Runs `SWITCHYARD ARGS...` unless the cuda plugin reports that this machine
# has no CUDA driver or device; then prints the plugin's reason and exits 77
# (ctest: skipped). Used by the example-model tests on cuda (tools/tests).
#   run_if_device.sh SWITCHYARD ARGS...
sy="$1"
shift
devices="$("$sy" devices 2>&1)"
reason="$(grep -E "not loaded: .*libsy_plugin_cuda\.so: plugin 'cuda': init: (no CUDA driver|cudaGetDeviceCount)" <<<"$devices" | head -n 1)"
if [ -n "$reason" ]; then
  echo "SKIP: no CUDA device here:${reason#*init:}"
  exit 77
fi
exec "$sy" "$@"
