#!/usr/bin/env bash
# The CUDA plugin's check on a real NVIDIA GPU (README "Checking on a GPU").
# Runs from the folder prepare_device_check.sh made (it holds our binaries,
# plugins and the shared libraries they need), on a machine with the NVIDIA
# driver, the CUDA 13 runtime libraries (cuBLASLt, cuDNN 9, NVRTC: from the
# CUDA toolkit or PyTorch's nvidia-* wheels) and Python with PyTorch:
#   ./device_check.sh [OUT_DIR]
# It runs, each step bounded in time (8 minutes in all):
#   1. conformance api, ops and models on cuda (JSON reports in OUT_DIR);
#   2. every example model on cuda, checked against its PyTorch output;
#   3. `switchyard bench` on cuda for each example model, a large matmul chain
#      and a large conv stack, beside PyTorch CUDA eager on the same models and
#      cuBLAS's own SGEMM rate measured in the same run (torch_bench.py);
#   4. where NVIDIA's Vulkan / OpenCL drivers are there, the vulkan and opencl
#      plugins' conformance and example models on the GPU.
# and prints one table. Exit status: 0 when every check passed.
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="${1:-$here/device-check-results}"
mkdir -p "$out"
start=$(date +%s)
export LD_LIBRARY_PATH="$here/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export SWITCHYARD_PLUGIN_PATH="$here/plugins"
sy="$here/bin/switchyard"
conf="$here/bin/switchyard-conformance"
py="${PYTHON:-python3}"
rows=()
failures=0
row() { rows+=("$1|$2|$3"); [ "$2" = FAIL ] && failures=$((failures + 1)); echo "[device_check] $1: $2 $3"; }
left() { echo $(( 480 - ($(date +%s) - start) )); }
bounded() {  # bounded SECONDS CMD...: never past the 8-minute budget
  local s="$1"; shift
  local l; l=$(left)
  [ "$l" -lt 5 ] && { echo "out of time"; return 124; }
  [ "$s" -gt "$l" ] && s="$l"
  timeout --kill-after=5 "$s" "$@"
}

# CUDA libraries the plugin opens (cuBLASLt 13, cuDNN 9, NVRTC 13): the
# toolkit, or the nvidia-* wheels next to PyTorch.
libdirs=""
for d in /usr/local/cuda/lib64 /usr/local/cuda-13*/lib64 /usr/lib/x86_64-linux-gnu; do
  [ -d "$d" ] && libdirs="$libdirs:$d"
done
wheel_dirs="$("$py" - <<'PY' 2>/dev/null
import glob, os, site
roots = site.getsitepackages() + [site.getusersitepackages()]
seen = []
for r in roots:
    for d in glob.glob(os.path.join(r, "nvidia", "*", "lib")) + glob.glob(os.path.join(r, "nvidia", "cu13", "lib")):
        if d not in seen:
            seen.append(d)
print(":".join(seen))
PY
)"
export SY_CUDA_LIBRARY_PATH="${SY_CUDA_LIBRARY_PATH:-}${libdirs}${wheel_dirs:+:$wheel_dirs}"
# NVRTC's builtins library is found next to libnvrtc through the loader path.
export LD_LIBRARY_PATH="$LD_LIBRARY_PATH:${SY_CUDA_LIBRARY_PATH#:}"

echo "== machine =="
nvidia-smi -L 2>&1 | head -n 8
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1 | head -n 8
echo "SY_CUDA_LIBRARY_PATH=$SY_CUDA_LIBRARY_PATH"
echo "== switchyard devices =="
devices="$("$sy" devices 2>&1)"
echo "$devices"
if grep -qE "^  cuda .*ABI" <<<"$devices"; then
  row "cuda plugin loads, devices listed" PASS "$(grep -A1 -E '^  cuda ' <<<"$devices" | tail -n 1 | sed 's/^ *//')"
else
  row "cuda plugin loads, devices listed" FAIL "$(grep -E 'libsy_plugin_cuda' <<<"$devices" | sed 's/^ *//')"
fi

conformance() {  # conformance BACKEND SCOPES SECONDS
  local b="$1" scopes="$2" secs="$3"
  local log="$out/conformance-$b.log"
  local decl=()
  [ -f "$here/conformance/declarations/$b.txt" ] && decl=(--declarations "$here/conformance/declarations/$b.txt")
  bounded "$secs" "$conf" --plugin "$here/plugins/libsy_plugin_$b.so" --scope "$scopes" -j 4 --timeout 60 \
      --examples "$here/examples" "${decl[@]}" --json "$out/conformance-$b.json" >"$log" 2>&1
  local status=$?
  local last; last="$(tail -n 1 "$log")"
  if [ $status -eq 0 ] && grep -qE "^[1-9][0-9]* passed, 0 failed" <<<"$last"; then row "conformance $b ($scopes)" PASS "$last"
  else row "conformance $b ($scopes)" FAIL "exit $status: $last (see $log)"; fi
}

models() {  # models BACKEND: every example model, checked against PyTorch's output
  local b="$1"
  for m in "$here"/examples/models/*/; do
    local name; name="$(basename "$m")"
    local args=()
    for f in "$m"input_*.npy; do args+=(--input "$(basename "$f" .npy | sed 's/^input_//')=$f"); done
    for f in "$m"output_*.npy; do args+=(--expect "$(basename "$f" .npy | sed 's/^output_//')=$f"); done
    local log="$out/run-$b-$name.log" plan="$out/plan-$b-$name.txt"
    # --strict: the backend must load (no silent fallback to another one);
    # the plan says how many nodes it took (the rest ran on the reference).
    bounded 30 "$sy" plan "$m/model.onnx" --backends "$b" --strict >"$plan" 2>&1
    local nodes; nodes="$(grep -oE "on $b \([0-9]+ nodes\)" "$plan" | grep -oE "[0-9]+" | awk '{s += $1} END {print s + 0}')"
    if bounded 60 "$sy" run "$m/model.onnx" --backends "$b" --strict "${args[@]}" --rtol 1e-3 --atol 1e-4 >"$log" 2>&1; then
      row "$name on $b vs PyTorch" PASS "${nodes:-0} nodes on $b; $(grep -iE 'match|max' "$log" | tail -n 1 | sed 's/^ *//')"
    else
      row "$name on $b vs PyTorch" FAIL "$(tail -n 2 "$log" | tr '\n' ' ')"
    fi
  done
}

echo "== 1. conformance on cuda =="
conformance cuda api,ops,models,engine 180
echo "== 2. example models on cuda =="
models cuda

echo "== 3. benchmarks =="
work="$out/bench-models"
mkdir -p "$work"
# Large cases: a matmul chain (x [1024, 4096] through four 4096 x 4096
# weights) and a conv stack (four 3x3 convs, 64 channels, 32 x 56 x 56),
# weights generated here with numpy into safetensors.
"$py" "$here/torch_bench.py" --make-large "$work" >"$out/make-large.log" 2>&1 || echo "could not make the large models: $(tail -n 3 "$out/make-large.log")"
bench_json="$out/bench-switchyard.jsonl"
: >"$bench_json"
for model in "$here"/examples/models/mlp/model.onnx "$here"/examples/models/cnn/model.onnx \
             "$here"/examples/models/transformer/model.onnx "$work"/large_matmul.sy "$work"/large_conv.sy; do
  [ -f "$model" ] || continue
  name="$(basename "$(dirname "$model")")"
  case "$model" in *.sy) name="$(basename "$model" .sy)" ;; esac
  for b in cuda; do
    if r="$(bounded 60 "$sy" bench "$model" --backends "$b" --strict --warmup 5 --time 3 --json 2>"$out/bench-$b-$name.err")"; then
      echo "{\"name\": \"$name\", \"backend\": \"$b\", \"result\": $r}" >>"$bench_json"
    else
      row "bench $name on $b" FAIL "$(tail -n 2 "$out/bench-$b-$name.err" | tr '\n' ' ')"
    fi
  done
done
if bounded 90 "$py" "$here/torch_bench.py" --examples "$here/examples" --large "$work" \
     --switchyard "$bench_json" --json "$out/bench-torch.json" >"$out/bench.txt" 2>"$out/bench-torch.err"; then
  cat "$out/bench.txt"
  row "benchmarks (table above)" PASS "$out/bench.txt"
else
  row "benchmarks" FAIL "$(tail -n 3 "$out/bench-torch.err" | tr '\n' ' ')"
fi

echo "== 4. vulkan and opencl on the GPU, where NVIDIA's drivers are there =="
for b in vulkan opencl; do
  if [ ! -f "$here/plugins/libsy_plugin_$b.so" ]; then row "$b on the GPU" SKIP "plugin not in the bundle"; continue; fi
  if grep -A3 -E "^  $b " <<<"$devices" | grep -qi "nvidia"; then
    conformance "$b" api,ops,models,engine 75
    models "$b"
  else
    row "$b on the GPU" SKIP "no NVIDIA $b device listed"
  fi
done

echo
echo "== device_check summary ($(( $(date +%s) - start )) s) =="
printf '| %-44s | %-4s | %s\n' check result detail
printf '|%s|%s|%s\n' "----------------------------------------------" "------" "-------"
for r in "${rows[@]}"; do
  IFS='|' read -r a b c <<<"$r"
  printf '| %-44s | %-4s | %s\n' "$a" "$b" "$c"
done
[ "$failures" -eq 0 ]
