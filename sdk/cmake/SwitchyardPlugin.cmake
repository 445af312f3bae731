# switchyard_add_plugin(<name> [NO_INSTALL] <sources>...)
#
# Builds a Switchyard backend plugin the way the host expects it
# (docs/plugin-author-guide.md, "Building out of tree"):
#   - a MODULE library named libsy_plugin_<name>.so (only ever dlopen'ed);
#     <name> ([a-z0-9_]+) must be the name the plugin's table reports;
#   - linked against Switchyard::sdk, built as C++17 at least;
#   - hidden visibility, and a linker version script (switchyard_plugin.map,
#     beside this file) so that it exports sy_plugin_get_api and nothing else:
#     -fvisibility=hidden alone still exports libstdc++'s template instances;
#   - -Wl,--no-undefined, so a missing symbol fails the link, not the load;
#   - installed (unless NO_INSTALL) into lib/switchyard/plugins of the install
#     prefix, the folder the installed `switchyard` searches.
# The target is sy_plugin_<name>: add your device's libraries with
# target_link_libraries(sy_plugin_<name> PRIVATE ...).
set(_SWITCHYARD_PLUGIN_MAP "${CMAKE_CURRENT_LIST_DIR}/switchyard_plugin.map")

function(switchyard_add_plugin name)
  cmake_parse_arguments(ARG "NO_INSTALL" "" "" ${ARGN})
  if(NOT name MATCHES "^[a-z0-9_]+$")
    message(FATAL_ERROR "switchyard_add_plugin: plugin name '${name}' must match [a-z0-9_]+ (the backend's name in configs)")
  endif()
  if(NOT ARG_UNPARSED_ARGUMENTS)
    message(FATAL_ERROR "switchyard_add_plugin(${name}): no source files given")
  endif()
  if(NOT TARGET Switchyard::sdk)
    message(FATAL_ERROR "switchyard_add_plugin: Switchyard::sdk is not defined (call find_package(Switchyard) first)")
  endif()
  set(target sy_plugin_${name})
  add_library(${target} MODULE ${ARG_UNPARSED_ARGUMENTS})
  target_link_libraries(${target} PRIVATE Switchyard::sdk)
  target_compile_features(${target} PRIVATE cxx_std_17)
  set_target_properties(${target} PROPERTIES
    PREFIX "lib"
    OUTPUT_NAME sy_plugin_${name}
    CXX_VISIBILITY_PRESET hidden
    C_VISIBILITY_PRESET hidden
    VISIBILITY_INLINES_HIDDEN ON)
  if(CMAKE_SYSTEM_NAME STREQUAL "Linux" OR CMAKE_SYSTEM_NAME MATCHES "BSD")
    target_link_options(${target} PRIVATE
      "LINKER:--version-script=${_SWITCHYARD_PLUGIN_MAP}" "LINKER:--no-undefined")
    set_property(TARGET ${target} APPEND PROPERTY LINK_DEPENDS "${_SWITCHYARD_PLUGIN_MAP}")
  endif()
  if(NOT ARG_NO_INSTALL)
    install(TARGETS ${target} LIBRARY DESTINATION lib/switchyard/plugins)
  endif()
endfunction()
