#!/usr/bin/env bash
# Builds the hello_backend example plugin out of tree, the way a plugin author
# would: install Switchyard, then configure the example against the install.
#
#   SY_BUILD_DIR=build sdk/examples/build_example.sh PREFIX BUILD_DIR
#
#   SY_BUILD_DIR  the configured (and built) main Switchyard build tree to
#                 install from; default: build/ at the repository root
#   PREFIX        where to install Switchyard (cmake --install --prefix)
#   BUILD_DIR     the example's own build folder
#
# Prints the absolute path of the built plugin (libsy_plugin_hello.so) on
# stdout, and nothing else; progress goes to stderr.
set -euo pipefail

if [ $# -ne 2 ]; then
  echo "usage: SY_BUILD_DIR=<main build> $0 PREFIX BUILD_DIR" >&2
  exit 2
fi

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
main_build="${SY_BUILD_DIR:-$repo/build}"
prefix="$1"
build_dir="$2"

if [ ! -f "$main_build/CMakeCache.txt" ]; then
  echo "build_example.sh: '$main_build' is not a configured Switchyard build (set SY_BUILD_DIR)" >&2
  exit 1
fi

mkdir -p "$prefix"
prefix="$(cd "$prefix" && pwd)"

echo "build_example.sh: installing $main_build into $prefix" >&2
cmake --install "$main_build" --prefix "$prefix" >&2

generator=()
if command -v ninja >/dev/null 2>&1; then generator=(-G Ninja); fi
# A build folder configured with another generator cannot be reused.
if [ -f "$build_dir/CMakeCache.txt" ] && ! grep -q "CMAKE_HOME_DIRECTORY:INTERNAL=$here/hello_backend\$" "$build_dir/CMakeCache.txt"; then
  echo "build_example.sh: '$build_dir' holds another project's build" >&2
  exit 1
fi

echo "build_example.sh: building hello_backend in $build_dir" >&2
cmake -S "$here/hello_backend" -B "$build_dir" "${generator[@]}" \
  -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$prefix" >&2
cmake --build "$build_dir" >&2

plugin="$(cd "$build_dir" && pwd)/libsy_plugin_hello.so"
if [ ! -f "$plugin" ]; then
  echo "build_example.sh: the build did not produce $plugin" >&2
  exit 1
fi
echo "$plugin"
