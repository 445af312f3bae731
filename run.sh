#!/usr/bin/env bash
# Switchyard's one entry point: installs what the build needs (Debian packages,
# idempotent and quiet when all is there), configures, builds, then runs.
#
#   ./run.sh                 the main job: run the example transformer (ONNX) on
#                            configs/default.yaml, check it against PyTorch's
#                            output, and show how it was partitioned
#   ./run.sh test [PRESET]   build with PRESET (release, debug, asan, tsan;
#                            default release) and run the test suite with ctest
#   ./run.sh build [PRESET]  configure and build only
set -euo pipefail
cd "$(dirname "$0")"

PACKAGES=(
  build-essential cmake ninja-build ccache pkg-config python3
  libgtest-dev libgmock-dev libbenchmark-dev
  nlohmann-json3-dev libcli11-dev libyaml-cpp-dev
  libboost-dev libboost-filesystem-dev
  libonnx-dev libprotobuf-dev protobuf-compiler libonnx-testdata
  # CPU plugin: oneDNN, and OpenBLAS as the benchmarks' peer
  libdnnl-dev libopenblas-dev
  # OpenCL plugin: the ICD loader, headers, and PoCL (an OpenCL device on the CPU)
  ocl-icd-opencl-dev opencl-headers pocl-opencl-icd clinfo
  # Vulkan plugin: the loader, glslc, Mesa's lavapipe (a Vulkan device on the
  # CPU) and the Khronos validation layer for the plugin's validation run
  libvulkan-dev glslc spirv-tools mesa-vulkan-drivers vulkan-tools vulkan-validationlayers
  # switchyard serve: gRPC C++ (same protobuf as libonnx-dev); python3-venv for
  # the client tests' tritonclient venv; wrk for bench/serve_load.sh
  libgrpc++-dev protobuf-compiler-grpc python3-venv wrk
  # PyTorch frontend tests (frontends/torch): PyTorch and torchvision for /usr/bin/python3;
  # the onnx helpers for the ONNX frontend's Python tests and bench/.venv
  python3-torch python3-torchvision python3-onnx
  # libFuzzer targets (fuzz/run_fuzzers.sh): clang and its fuzzer/sanitizer runtimes
  clang libclang-rt-14-dev
)

install_deps() {
  local missing=()
  for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "run.sh: installing ${missing[*]}"
  local sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
}

build() {
  local preset="$1"
  shift
  cmake --preset "$preset" >/dev/null
  if [ $# -gt 0 ]; then
    cmake --build --preset "$preset" --target "$@" -- -j"$(nproc)"
  else
    cmake --build --preset "$preset" -- -j"$(nproc)"
  fi
}

build_dir() {
  case "$1" in
    release) echo build ;;
    *) echo "build-$1" ;;
  esac
}

cmd="${1:-main}"
preset="${2:-release}"
case "$preset" in
  release|debug|asan|tsan) ;;
  *) echo "run.sh: unknown preset '$preset' (release, debug, asan, tsan)" >&2; exit 2 ;;
esac

install_deps
case "$cmd" in
  main)
    build release
    m=examples/models/transformer
    echo "== switchyard run $m/model.onnx with configs/default.yaml, checked against PyTorch's output =="
    ./build/bin/switchyard run "$m/model.onnx" --config configs/default.yaml \
      --input x="$m/input_x.npy" --input mask="$m/input_mask.npy" \
      --expect y="$m/output_y.npy" --rtol 1e-4 --atol 1e-5
    echo "== switchyard plan $m/model.onnx =="
    ./build/bin/switchyard plan "$m/model.onnx" --config configs/default.yaml
    ;;
  build)
    build "$preset"
    ;;
  test)
    if [ "$preset" = tsan ]; then
      # ThreadSanitizer is for the concurrency tests: build just those (the
      # server's scheduler tests too, where the server is built: needs gRPC).
      targets=(concurrency_test runtime_test sy_test_plugins sy_plugin_cpu cpu_plugin_test cpu_threads_test
               cpu_rnn_test cpu_control_flow_test)
      cmake --preset tsan >/dev/null
      ninja -C build-tsan -t query server_test >/dev/null 2>&1 && targets+=(server_test)
      build tsan "${targets[@]}"
    else
      build "$preset"
    fi
    # intercept_tls_get_addr=0: with glibc 2.36, gcc 12's LeakSanitizer read a
    # garbage dynamic-TLS range of the main thread at exit and crashed its
    # tracer ("DTLS 6 at 0x5d0-...", after the test had passed) in the CPU
    # plugin's tests; leak checking itself stays on.
    export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:intercept_tls_get_addr=0}"
    export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
    export TSAN_OPTIONS="${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1}"
    filter=()
    # ThreadSanitizer is for the concurrency tests; the rest run under asan.
    [ "$preset" = tsan ] && filter=(-R 'Concurren|Thread|ModelVersion')
    dir="$(build_dir "$preset")"
    if ! ctest --test-dir "$dir" --output-on-failure -j"$(nproc)" "${filter[@]}"; then
      # LeakSanitizer's tracer sometimes crashes while it stops the threads at
      # exit, after the test passed ("Tracer caught signal 11 ... LeakSanitizer
      # has encountered a fatal error": a known sanitizer-runtime race,
      # google/sanitizers#1353). Only then, rerun the failed tests once; any
      # other failure fails again there.
      if [ "$preset" = asan ] && grep -q "LeakSanitizer has encountered a fatal error" \
           "$dir/Testing/Temporary/LastTest.log"; then
        echo "run.sh: LeakSanitizer's tracer crashed (sanitizer-runtime race); rerunning the failed tests once"
        ctest --test-dir "$dir" --output-on-failure --rerun-failed
      else
        exit 1
      fi
    fi
    ;;
  *)
    echo "usage: ./run.sh [main | test [PRESET] | build [PRESET]]" >&2
    exit 2
    ;;
esac
