#!/usr/bin/env bash
# The built CUDA plugin on a machine without a usable GPU (this one, CI):
# it loads, `switchyard devices` lists it as not loaded with the reason, and
# the conformance api scope skips every case with that reason (0 failed).
# On a machine with a GPU the same conformance run must pass instead.
#   no_device_test.sh PLUGIN.so SWITCHYARD SWITCHYARD-CONFORMANCE
set -uo pipefail
plugin="$1" cli="$2" conformance="$3"
dir="$(dirname "$plugin")"
fail() { echo "FAIL: $*" >&2; exit 1; }

if ldd "$plugin" | grep -q "libcuda\.so"; then fail "libcuda.so is a hard dependency of $plugin"; fi

devices="$(SWITCHYARD_PLUGIN_PATH="$dir" "$cli" devices 2>&1)" || fail "switchyard devices failed: $devices"
echo "$devices"
cuda_line="$(grep -E "libsy_plugin_cuda\.so" <<<"$devices")"
[ -n "$cuda_line" ] || fail "switchyard devices does not mention the cuda plugin"

report="$(mktemp)"
trap 'rm -f "$report"' EXIT
out="$("$conformance" --plugin "$plugin" --scope api --json "$report" 2>&1)"
status=$?
echo "$out" | tail -n 15
last="$(tail -n 1 <<<"$out")"

if grep -qE "^  cuda .*ABI" <<<"$devices" && ! grep -q "no devices" <<<"$devices"; then
  # A GPU is here: the api scope must pass.
  [ $status -eq 0 ] || fail "conformance api on a GPU machine exited $status"
  grep -qE " 0 failed" <<<"$last" || fail "conformance api failed on a GPU machine: $last"
  echo "a CUDA device is present: conformance api passed"
  exit 0
fi

grep -qE "not loaded: .*libsy_plugin_cuda\.so: plugin 'cuda': init: (no CUDA driver: libcuda\.so\.1 not found|cudaGetDeviceCount: )" \
  <<<"$devices" || fail "the 'not loaded' line does not give the no-device reason"
[ $status -eq 0 ] || fail "conformance exited $status without a device (expected skips): $last"
grep -qE "^0 passed, 0 failed, [1-9][0-9]* skipped" <<<"$last" || fail "expected every api case skipped: $last"
grep -qE "no CUDA driver|cudaGetDeviceCount" <<<"$out" || fail "the conformance output does not give the reason"
echo "no CUDA device here: the plugin loads, says why, and conformance api skips with that reason"
exit 0
