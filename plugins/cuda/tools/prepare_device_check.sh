#!/usr/bin/env bash
# Prepares the folder that device_check.sh runs from on a GPU machine that has
# an NVIDIA driver, the CUDA runtime libraries and Python with PyTorch, but
# none of our Debian packages and no network:
#   plugins/cuda/tools/prepare_device_check.sh [BUILD_DIR] [OUT_DIR]
# (defaults: build, build-device-check). OUT_DIR gets
#   bin/       switchyard, switchyard-conformance
#   plugins/   libsy_plugin_{cuda,opencl,vulkan}.so (those that were built)
#   lib/       every shared library they need that is not glibc (ldd)
#   examples/  the example models with their PyTorch inputs and outputs,
#              and the .sy examples for the conformance models scope
#   conformance/declarations, device_check.sh, torch_bench.py
# and must stay under 60 MiB (checked here). Nothing of CUDA itself is copied:
# the plugin links the CUDA runtime statically and opens cuBLASLt, cuDNN and
# NVRTC from the GPU machine (README "Checking on a GPU").
set -euo pipefail
root="$(cd "$(dirname "$0")/../../.." && pwd)"
build="${1:-$root/build}"
out="${2:-$root/build-device-check}"
limit_mib=60

for f in "$build/bin/switchyard" "$build/bin/switchyard-conformance" "$build/plugins/libsy_plugin_cuda.so"; do
  [ -f "$f" ] || { echo "prepare_device_check: $f is missing (build it first: cmake --build $build --target switchyard switchyard-conformance sy_plugin_cuda)" >&2; exit 1; }
done

rm -rf "$out"
mkdir -p "$out/bin" "$out/plugins" "$out/lib" "$out/examples" "$out/conformance"
cp "$build/bin/switchyard" "$build/bin/switchyard-conformance" "$out/bin/"
for p in cuda opencl vulkan; do
  [ -f "$build/plugins/libsy_plugin_$p.so" ] && cp "$build/plugins/libsy_plugin_$p.so" "$out/plugins/"
done

# Shared libraries: everything ldd resolves except glibc's own (the GPU
# machine's loader and libc must be used) and the GPU drivers.
skip='^(linux-vdso|ld-linux|libc\.so|libm\.so|libdl\.so|libpthread\.so|librt\.so|libresolv\.so|libcuda\.so|libnvidia)'
for f in "$out"/bin/* "$out"/plugins/*.so; do
  ldd "$f" | awk '/=> \// {print $1, $3}' | while read -r name path; do
    [[ "$name" =~ $skip ]] && continue
    [ -f "$out/lib/$name" ] || cp -L "$path" "$out/lib/$name"
  done
done
# Strip debug symbols from the copies (not from the build tree).
strip --strip-unneeded "$out"/bin/* "$out"/plugins/*.so "$out"/lib/* 2>/dev/null || true

cp -r "$root/examples/models" "$out/examples/models"
cp "$root"/examples/*.sy "$root"/examples/*.safetensors "$out/examples/" 2>/dev/null || true
cp -r "$root/conformance/declarations" "$out/conformance/declarations"
cp "$root/plugins/cuda/tools/device_check.sh" "$root/plugins/cuda/tools/torch_bench.py" "$out/"
cp "$root/examples/make_models.py" "$out/examples/"
chmod +x "$out/device_check.sh"

size_kib=$(du -sk "$out" | cut -f1)
echo "prepare_device_check: $out: $(( size_kib / 1024 )) MiB ($(ls "$out/lib" | wc -l) libraries; plugins: $(ls "$out/plugins" | tr '\n' ' '))"
if [ "$size_kib" -gt $(( limit_mib * 1024 )) ]; then
  echo "prepare_device_check: $out is over $limit_mib MiB" >&2
  du -sk "$out"/* "$out"/lib/* | sort -n | tail -n 8 >&2
  exit 1
fi
