# cmake -DINPUT=x.cl -DOUTPUT=x_cl.h -DNAME=x -P EmbedKernel.cmake
# Writes `inline constexpr const char kernel_source_<NAME>[] = R"..."` into OUTPUT.
file(READ ${INPUT} SOURCE)
file(WRITE ${OUTPUT}.tmp "// Generated from ${INPUT}; do not edit.\n#pragma once\nnamespace sy_opencl_kernels {\ninline constexpr const char ${NAME}[] = R\"SYCL(${SOURCE})SYCL\";\n}\n")
file(RENAME ${OUTPUT}.tmp ${OUTPUT})
