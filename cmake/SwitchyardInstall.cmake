# `cmake --install <build> --prefix P` (issue #13 item 3): besides the SDK's
# headers and CMake package (sdk/CMakeLists.txt), the tools and the in-tree
# plugins, in the layout the installed tools search:
#
#   P/bin/switchyard, switchyard-conformance, switchyard-difffuzz,
#         switchyard-plugin-host (the isolation helper, found next to switchyard)
#   P/lib/switchyard/plugins/libsy_plugin_<name>.so   the built backend plugins
#   P/include/switchyard/, P/lib/cmake/Switchyard/     the SDK (find_package)
#
# The tools find the plugin folder from their own location
# (<exe>/../lib/switchyard/plugins, defaultPluginSearchPaths), so the prefix
# may be moved after installing. Always bin/ and lib/, whatever GNUInstallDirs
# says, because that relative path is what the tools look for.
# Included from the top-level CMakeLists.txt after every target is defined.
set(_sy_installed_tools)
foreach(_sy_tool switchyard switchyard-conformance switchyard-difffuzz switchyard-plugin-host)
  if(TARGET ${_sy_tool})
    list(APPEND _sy_installed_tools ${_sy_tool})
  endif()
endforeach()
if(_sy_installed_tools)
  # Everything Switchyard links is static today; the RPATH keeps a later
  # shared libswitchyard in P/lib found wherever P is.
  set_target_properties(${_sy_installed_tools} PROPERTIES INSTALL_RPATH "$ORIGIN/../lib")
  install(TARGETS ${_sy_installed_tools} RUNTIME DESTINATION bin)
endif()

# The conformance suite's data, found by the installed runner beside itself
# (suiteDataDir in conformance/src): the example programs and models of the
# models and engine scopes, and the per-plugin declarations files.
if(TARGET switchyard-conformance)
  install(DIRECTORY ${CMAKE_SOURCE_DIR}/examples/ DESTINATION share/switchyard/examples
    FILES_MATCHING PATTERN "*.sy" PATTERN "*.safetensors" PATTERN "*.onnx" PATTERN "*.npy" PATTERN "*.md")
  install(DIRECTORY ${CMAKE_SOURCE_DIR}/conformance/declarations/ DESTINATION share/switchyard/conformance/declarations
    FILES_MATCHING PATTERN "*.txt")
endif()

foreach(_sy_plugin cpu opencl vulkan cuda)
  if(TARGET sy_plugin_${_sy_plugin})
    install(TARGETS sy_plugin_${_sy_plugin} LIBRARY DESTINATION lib/switchyard/plugins)
  endif()
endforeach()
