# cmake -DINPUT=x.spv -DOUTPUT=x_spv.h -DNAME=x -P EmbedSpirv.cmake
# Writes the SPIR-V words of INPUT as `inline constexpr uint32_t sy_vulkan_shaders::<NAME>[]`.
file(READ ${INPUT} HEX HEX)
string(LENGTH "${HEX}" len)
math(EXPR rem "${len} % 8")
if(NOT rem EQUAL 0 OR len EQUAL 0)
  message(FATAL_ERROR "${INPUT} is not a whole number of 32-bit words")
endif()
# Little-endian bytes b0 b1 b2 b3 -> word 0xb3b2b1b0.
string(REGEX REPLACE "(..)(..)(..)(..)" "0x\\4\\3\\2\\1u," WORDS "${HEX}")
string(REGEX REPLACE "((0x........u,){8})" "\\1\n  " WORDS "${WORDS}")
file(WRITE ${OUTPUT}.tmp "// Generated from ${INPUT}; do not edit.\n#pragma once\n#include <cstdint>\nnamespace sy_vulkan_shaders {\ninline constexpr uint32_t ${NAME}[] = {\n  ${WORDS}\n};\n}\n")
file(RENAME ${OUTPUT}.tmp ${OUTPUT})
