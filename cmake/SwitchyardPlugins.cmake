# Decides which backend plugins to build. Each option defaults to ON when the
# toolkit it needs is present and OFF otherwise, and configure prints one line
# saying which and why.

function(sy_plugin_option name description found reason_missing)
  string(TOLOWER "${name}" dir)
  if(NOT EXISTS "${CMAKE_SOURCE_DIR}/plugins/${dir}/CMakeLists.txt")
    set(found_note "toolkit found; the plugin's sources are not in this tree yet")
  else()
    set(found_note "toolkit found")
  endif()
  if(found)
    option(SY_PLUGIN_${name} "${description}" ON)
    message(STATUS "Switchyard plugin ${name}: ${SY_PLUGIN_${name}} (${found_note})")
  else()
    option(SY_PLUGIN_${name} "${description}" OFF)
    message(STATUS "Switchyard plugin ${name}: ${SY_PLUGIN_${name}} (${reason_missing})")
  endif()
endfunction()

find_package(OpenCL QUIET)
sy_plugin_option(OPENCL "OpenCL backend plugin" "${OpenCL_FOUND}"
                 "OpenCL ICD loader not found: apt-get install ocl-icd-opencl-dev opencl-headers")

find_package(Vulkan QUIET)
find_program(SY_GLSLC glslc)
if(Vulkan_FOUND AND SY_GLSLC)
  set(_sy_vk_found TRUE)
else()
  set(_sy_vk_found FALSE)
endif()
sy_plugin_option(VULKAN "Vulkan backend plugin" "${_sy_vk_found}"
                 "Vulkan loader or glslc not found: apt-get install libvulkan-dev glslc")

include(CheckLanguage)
check_language(CUDA)
if(CMAKE_CUDA_COMPILER)
  set(_sy_cuda_found TRUE)
else()
  set(_sy_cuda_found FALSE)
endif()
sy_plugin_option(CUDA "CUDA backend plugin" "${_sy_cuda_found}" "no CUDA compiler (nvcc) found")

find_package(dnnl QUIET)
sy_plugin_option(CPU "CPU backend plugin (oneDNN)" "${dnnl_FOUND}"
                 "oneDNN not found: apt-get install libdnnl-dev")
