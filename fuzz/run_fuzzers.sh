#!/usr/bin/env bash
# Builds the libFuzzer targets (preset `fuzz`, clang, ASan+UBSan) and runs each
# for SECONDS (default 30) on a seed corpus collected from examples/ and
# configs/, with its dictionary from fuzz/dicts/. Exits 1 on the first target
# with a finding (crash, sanitizer report, timeout, out-of-memory, leak) and
# prints the reproducer path; docs/fuzzing.md says how to run longer and how
# to reproduce.
#
#   fuzz/run_fuzzers.sh [SECONDS] [TARGET...]    e.g. fuzz/run_fuzzers.sh 600 fuzz_npy
#
# The working corpus of each target (build-fuzz/corpus/<target>) is kept
# between runs, so that longer runs build on shorter ones; crash files go to
# build-fuzz/artifacts/<target>/.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${1:-30}"
shift || true
all_targets=(fuzz_sy_parser fuzz_onnx_import fuzz_npy fuzz_safetensors fuzz_config)
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=("${all_targets[@]}")

build=build-fuzz
cmake --preset fuzz >/dev/null
cmake --build "$build" --target "${targets[@]}" -- -j"$(nproc)"

# Seeds: copied fresh from the sources on every run (never committed twice).
seed_root="$build/seeds"
rm -rf "$seed_root"
mkdir -p "$seed_root"
collect() {  # collect TARGET FILE...
  local dir="$seed_root/$1"
  shift
  mkdir -p "$dir"
  local f
  for f in "$@"; do
    [ -f "$f" ] && cp "$f" "$dir/$(echo "$f" | tr '/' '_')"
  done
  return 0
}
shopt -s nullglob
collect fuzz_sy_parser examples/*.sy fuzz/regressions/fuzz_sy_parser/*
collect fuzz_npy examples/models/*/*.npy fuzz/regressions/fuzz_npy/*
collect fuzz_safetensors examples/*.safetensors fuzz/regressions/fuzz_safetensors/*
collect fuzz_config configs/*.yaml fuzz/regressions/fuzz_config/*
# The importer also starts from a slice of the ONNX backend node tests (small
# one-op models covering many ops), when libonnx-testdata is installed.
node_models=(/usr/include/onnx/backend/test/data/node/*/model.onnx)
collect fuzz_onnx_import examples/models/*/model.onnx fuzz/regressions/fuzz_onnx_import/* "${node_models[@]:0:300}"
shopt -u nullglob

# Per target: the largest input libFuzzer builds (the seeds fit in it).
max_len() {
  case "$1" in
    fuzz_onnx_import) echo 65536 ;;
    fuzz_npy) echo 8192 ;;
    *) echo 4096 ;;
  esac
}
dict() {
  case "$1" in
    fuzz_sy_parser) echo fuzz/dicts/sy.dict ;;
    fuzz_onnx_import) echo fuzz/dicts/onnx.dict ;;
    fuzz_npy) echo fuzz/dicts/npy.dict ;;
    fuzz_safetensors) echo fuzz/dicts/safetensors.dict ;;
    fuzz_config) echo fuzz/dicts/config.dict ;;
  esac
}

export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"

summary=()
failed=0
for t in "${targets[@]}"; do
  corpus="$build/corpus/$t"
  artifacts="$build/artifacts/$t/"
  log="$build/logs/$t.log"
  mkdir -p "$corpus" "$artifacts" "$(dirname "$log")"
  echo "== $t: ${seconds} s, max_len $(max_len "$t"), seeds $(ls "$seed_root/$t" | wc -l) =="
  # -malloc_limit_mb: one allocation over 512 MiB from inputs of at most
  # 64 KiB is a parser trusting a declared size; it is reported as a finding.
  rc=0
  "$build/bin/$t" -max_total_time="$seconds" -max_len="$(max_len "$t")" -timeout=10 \
      -rss_limit_mb=2048 -malloc_limit_mb=512 -dict="$(dict "$t")" \
      -artifact_prefix="$artifacts" -print_final_stats=1 -print_pcs=0 \
      "$corpus" "$seed_root/$t" >"$log" 2>&1 || rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
  if [ "$rc" -ne 0 ]; then
    failed=1
    crash=$(grep -o 'Test unit written to .*' "$log" | tail -1 | sed 's/Test unit written to //')
    echo "FINDING in $t (exit $rc); reproducer: ${crash:-none written}"
    echo "  reproduce: $build/bin/$t ${crash:-<file>}"
    grep -m1 -E 'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error:|fuzz check failed|==ERROR' "$log" || true
    echo "--- last lines of $log:"
    tail -40 "$log"
    summary+=("$t: FINDING after ${execs:-?} executions (coverage ${cov:-?}): ${crash:-see $log}")
  else
    summary+=("$t: ${execs:-?} executions, coverage ${cov:-?}, no finding")
  fi
done

echo "== fuzz summary (${seconds} s per target) =="
printf '  %s\n' "${summary[@]}"
exit "$failed"
