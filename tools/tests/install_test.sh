#!/usr/bin/env bash
# The installed prefix (issue #13 item 3): `cmake --install` puts the tools,
# the in-tree plugins, the headers and the CMake package in PREFIX; the
# installed `switchyard` finds PREFIX/lib/switchyard/plugins by itself, even
# after the prefix is moved; a plugin built out of tree with
# switchyard_add_plugin() exports only sy_plugin_get_api and, installed into
# the prefix, is found by the installed switchyard and switchyard-conformance.
#
#   install_test.sh BUILD_DIR SOURCE_DIR "PLUGINS BUILT (cpu opencl ...)"
set -uo pipefail
build="$1" src="$2" plugins="$3"
fail() { echo "FAIL: $*" >&2; exit 1; }
# Nothing from the environment may point the tools at the build tree.
unset SWITCHYARD_PLUGIN_PATH SWITCHYARD_BACKENDS

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
cmake --install "$build" --prefix "$tmp/prefix" >"$tmp/install.log" 2>&1 \
  || { cat "$tmp/install.log"; fail "cmake --install $build failed"; }

for f in bin/switchyard bin/switchyard-conformance include/switchyard/plugin.h include/switchyard/plugin.hpp \
         lib/cmake/Switchyard/SwitchyardConfig.cmake lib/cmake/Switchyard/SwitchyardPlugin.cmake \
         lib/cmake/Switchyard/switchyard_plugin.map share/switchyard/examples/mlp.sy \
         share/switchyard/conformance/declarations/memdev.txt; do
  [ -e "$tmp/prefix/$f" ] || fail "the install has no $f"
done
for p in $plugins; do
  [ -f "$tmp/prefix/lib/switchyard/plugins/libsy_plugin_$p.so" ] || fail "the install has no plugin $p"
done
echo "installed: $(cd "$tmp/prefix" && find bin lib/switchyard -type f | sort | tr '\n' ' ')"

# The prefix may move: everything is found relative to the executables.
mv "$tmp/prefix" "$tmp/moved"
P="$tmp/moved"
cd "$tmp"  # never the source or build tree

devices="$("$P/bin/switchyard" devices 2>&1)" || fail "installed switchyard devices failed: $devices"
echo "$devices"
grep -qF "searched: $P/lib/switchyard/plugins)" <<<"$devices" \
  || fail "the installed switchyard does not search (only) $P/lib/switchyard/plugins"
for p in $plugins; do
  grep -qF "$P/lib/switchyard/plugins/libsy_plugin_$p.so" <<<"$devices" || fail "devices does not list the installed $p"
done

if [[ " $plugins " == *" cpu "* ]]; then
  plan="$("$P/bin/switchyard" plan "$src/examples/elementwise.sy" --backends cpu --strict 2>&1)" \
    || fail "installed switchyard plan --backends cpu failed: $plan"
  grep -q "cpu" <<<"$plan" || fail "the plan does not use cpu: $plan"
fi

# A backend listed but not installed is an error naming it and the folder searched.
missing="$("$P/bin/switchyard" plan "$src/examples/elementwise.sy" --backends ghost 2>&1)" \
  && fail "--backends ghost exited 0: $missing"
grep -qF "backend 'ghost' cannot be used: no plugin file libsy_plugin_ghost.so in $P/lib/switchyard/plugins" \
  <<<"$missing" || fail "unexpected error for a missing backend: $missing"

# An out-of-tree plugin with switchyard_add_plugin, against the moved prefix.
generator=()
if command -v ninja >/dev/null 2>&1; then generator=(-G Ninja); fi
cmake -S "$src/tools/tests/installed_plugin" -B "$tmp/plugin-build" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_PREFIX_PATH="$P" -DSY_MEMDEV_DIR="$src/tests/plugins" >"$tmp/plugin.log" 2>&1 \
  && cmake --build "$tmp/plugin-build" >>"$tmp/plugin.log" 2>&1 \
  || { cat "$tmp/plugin.log"; fail "building a plugin with switchyard_add_plugin failed"; }
so="$tmp/plugin-build/libsy_plugin_memdev.so"
[ -f "$so" ] || fail "switchyard_add_plugin did not produce libsy_plugin_memdev.so"
exported="$(nm -D --defined-only "$so" | awk '{print $3}' | sort | tr '\n' ' ')"
[ "$exported" = "sy_plugin_get_api " ] || fail "the plugin exports more than sy_plugin_get_api: $exported"
echo "switchyard_add_plugin: $so exports: $exported"
cmake --install "$tmp/plugin-build" --prefix "$P" >>"$tmp/plugin.log" 2>&1 || fail "installing the plugin failed"
[ -f "$P/lib/switchyard/plugins/libsy_plugin_memdev.so" ] || fail "the plugin was not installed into the plugin folder"

devices="$("$P/bin/switchyard" devices 2>&1)" || fail "devices failed: $devices"
grep -qE "^  memdev .*$P/lib/switchyard/plugins/libsy_plugin_memdev.so" <<<"$devices" \
  || fail "the installed switchyard does not find the dropped-in plugin: $devices"
plan="$("$P/bin/switchyard" plan "$src/examples/elementwise.sy" --backends memdev --strict 2>&1)" \
  || fail "plan --backends memdev failed: $plan"
grep -q "memdev" <<<"$plan" || fail "the plan does not use memdev: $plan"
conf="$("$P/bin/switchyard-conformance" --plugin "$P/lib/switchyard/plugins/libsy_plugin_memdev.so" --scope api,models 2>&1)" \
  || fail "installed switchyard-conformance failed: $(tail -n 5 <<<"$conf")"
grep -qF "Declarations $P/share/switchyard/conformance/declarations/memdev.txt" <<<"$conf" \
  || fail "the installed runner does not use the installed declarations: $(head -n 5 <<<"$conf")"
last="$(tail -n 1 <<<"$conf")"
grep -qE "^[1-9][0-9]* passed, 0 failed" <<<"$last" || fail "conformance api on the installed plugin: $last"
echo "installed switchyard-conformance: $last"
echo "PASS: installed prefix works after a move, and finds a plugin dropped into it"
