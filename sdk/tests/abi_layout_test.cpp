// Pins the plugin ABI: the size and field offsets of every struct in
// switchyard/plugin.h, the enum values and the constants. A change here is an
// ABI change: append fields only (and bump SY_ABI_VERSION_MINOR), never move
// one. The static_asserts fail the build; the tests say which field moved.
// Values are for LP64 targets (x86_64, aarch64).
#include <gtest/gtest.h>

#include <cstddef>

#include "switchyard/plugin.h"

#if !defined(__LP64__)
#error "abi_layout_test pins LP64 layouts (x86_64, aarch64)"
#endif

namespace {

// X(struct, size)
#define SY_ABI_SIZES(X)        \
  X(sy_option, 24)             \
  X(sy_device_info, 40)        \
  X(sy_host_info, 24)          \
  X(sy_value_info, 56)         \
  X(sy_tensor_literal, 40)     \
  X(sy_attr, 88)               \
  X(sy_block_view, 64)         \
  X(sy_node_view, 88)          \
  X(sy_graph_view, 104)        \
  X(sy_node_support, 280)      \
  X(sy_tensor, 160)            \
  X(sy_compiled_info, 16)      \
  X(sy_profile_event, 40)      \
  X(sy_profile_sink, 24)       \
  X(sy_plugin_api, 216)

// X(struct, field, offset)
#define SY_ABI_FIELDS(X)                          \
  X(sy_option, struct_size, 0)                    \
  X(sy_option, key, 8)                            \
  X(sy_option, value, 16)                         \
  X(sy_device_info, struct_size, 0)               \
  X(sy_device_info, name, 8)                      \
  X(sy_device_info, type, 16)                     \
  X(sy_device_info, memory_bytes, 24)             \
  X(sy_device_info, score, 32)                    \
  X(sy_device_info, host_visible_memory, 36)      \
  X(sy_host_info, struct_size, 0)                 \
  X(sy_host_info, abi_major, 8)                   \
  X(sy_host_info, abi_minor, 12)                  \
  X(sy_host_info, host_version, 16)               \
  X(sy_value_info, struct_size, 0)                \
  X(sy_value_info, name, 8)                       \
  X(sy_value_info, dtype, 16)                     \
  X(sy_value_info, rank, 20)                      \
  X(sy_value_info, dims, 24)                      \
  X(sy_value_info, dim_symbols, 32)               \
  X(sy_value_info, constant_data, 40)             \
  X(sy_value_info, constant_bytes, 48)            \
  X(sy_tensor_literal, struct_size, 0)            \
  X(sy_tensor_literal, dtype, 8)                  \
  X(sy_tensor_literal, rank, 12)                  \
  X(sy_tensor_literal, dims, 16)                  \
  X(sy_tensor_literal, data, 24)                  \
  X(sy_tensor_literal, bytes, 32)                 \
  X(sy_attr, struct_size, 0)                      \
  X(sy_attr, name, 8)                             \
  X(sy_attr, kind, 16)                            \
  X(sy_attr, i, 24)                               \
  X(sy_attr, f, 32)                               \
  X(sy_attr, s, 40)                               \
  X(sy_attr, count, 48)                           \
  X(sy_attr, ints, 56)                            \
  X(sy_attr, floats, 64)                          \
  X(sy_attr, strings, 72)                         \
  X(sy_attr, tensor, 80)                          \
  X(sy_block_view, struct_size, 0)                \
  X(sy_block_view, label, 8)                      \
  X(sy_block_view, num_params, 16)                \
  X(sy_block_view, params, 24)                    \
  X(sy_block_view, num_nodes, 32)                 \
  X(sy_block_view, nodes, 40)                     \
  X(sy_block_view, num_returns, 48)               \
  X(sy_block_view, returns, 56)                   \
  X(sy_node_view, struct_size, 0)                 \
  X(sy_node_view, op, 8)                          \
  X(sy_node_view, name, 16)                       \
  X(sy_node_view, num_inputs, 24)                 \
  X(sy_node_view, inputs, 32)                     \
  X(sy_node_view, num_outputs, 40)                \
  X(sy_node_view, outputs, 48)                    \
  X(sy_node_view, num_attrs, 56)                  \
  X(sy_node_view, attrs, 64)                      \
  X(sy_node_view, num_blocks, 72)                 \
  X(sy_node_view, blocks, 80)                     \
  X(sy_graph_view, struct_size, 0)                \
  X(sy_graph_view, num_values, 8)                 \
  X(sy_graph_view, values, 16)                    \
  X(sy_graph_view, num_nodes, 24)                 \
  X(sy_graph_view, nodes, 32)                     \
  X(sy_graph_view, body, 40)                      \
  X(sy_node_support, struct_size, 0)              \
  X(sy_node_support, supported, 8)                \
  X(sy_node_support, cost, 16)                    \
  X(sy_node_support, reason, 24)                  \
  X(sy_tensor, struct_size, 0)                    \
  X(sy_tensor, buffer, 8)                         \
  X(sy_tensor, offset, 16)                        \
  X(sy_tensor, dtype, 24)                         \
  X(sy_tensor, rank, 28)                          \
  X(sy_tensor, dims, 32)                          \
  X(sy_compiled_info, struct_size, 0)             \
  X(sy_compiled_info, concurrent_execute, 8)      \
  X(sy_plugin_api, struct_size, 0)                \
  X(sy_plugin_api, abi_major, 8)                  \
  X(sy_plugin_api, abi_minor, 12)                 \
  X(sy_plugin_api, name, 16)                      \
  X(sy_plugin_api, version, 24)                   \
  X(sy_plugin_api, vendor, 32)                    \
  X(sy_plugin_api, error_message, 40)             \
  X(sy_plugin_api, error_code, 48)                \
  X(sy_plugin_api, error_destroy, 56)             \
  X(sy_plugin_api, init, 64)                      \
  X(sy_plugin_api, shutdown, 72)                  \
  X(sy_plugin_api, device_count, 80)              \
  X(sy_plugin_api, device_info, 88)               \
  X(sy_plugin_api, backend_create, 96)            \
  X(sy_plugin_api, backend_destroy, 104)          \
  X(sy_plugin_api, query_support, 112)            \
  X(sy_plugin_api, compile, 120)                  \
  X(sy_plugin_api, compiled_destroy, 128)         \
  X(sy_plugin_api, compiled_info, 136)            \
  X(sy_plugin_api, execute, 144)                  \
  X(sy_plugin_api, buffer_alloc, 152)             \
  X(sy_plugin_api, buffer_free, 160)              \
  X(sy_plugin_api, buffer_size, 168)              \
  X(sy_plugin_api, buffer_write, 176)             \
  X(sy_plugin_api, buffer_read, 184)              \
  X(sy_plugin_api, buffer_host_pointer, 192)      \
  X(sy_plugin_api, buffer_wrap_host, 200)        \
  X(sy_plugin_api, execute_profiled, 208)        \
  X(sy_profile_event, struct_size, 0)            \
  X(sy_profile_event, name, 8)                   \
  X(sy_profile_event, detail, 16)                \
  X(sy_profile_event, start_us, 24)              \
  X(sy_profile_event, duration_us, 32)           \
  X(sy_profile_sink, struct_size, 0)             \
  X(sy_profile_sink, user, 8)                    \
  X(sy_profile_sink, record, 16)

// X(enumerator, value)
#define SY_ABI_ENUMS(X)                \
  X(SY_ERROR_UNKNOWN, 1)               \
  X(SY_ERROR_INVALID_ARGUMENT, 2)      \
  X(SY_ERROR_UNIMPLEMENTED, 3)         \
  X(SY_ERROR_OUT_OF_MEMORY, 4)         \
  X(SY_ERROR_DEVICE, 5)                \
  X(SY_ERROR_INTERNAL, 6)              \
  X(SY_DTYPE_F32, 0)                   \
  X(SY_DTYPE_F16, 1)                   \
  X(SY_DTYPE_BF16, 2)                  \
  X(SY_DTYPE_I8, 3)                    \
  X(SY_DTYPE_I32, 4)                   \
  X(SY_DTYPE_I64, 5)                   \
  X(SY_DTYPE_BOOL, 6)                  \
  X(SY_DTYPE_U8, 7)                    \
  X(SY_DTYPE_I16, 8)                   \
  X(SY_DTYPE_U16, 9)                   \
  X(SY_DTYPE_U32, 10)                  \
  X(SY_DTYPE_U64, 11)                  \
  X(SY_DTYPE_F64, 12)                  \
  X(SY_DEVICE_CPU, 0)                  \
  X(SY_DEVICE_GPU, 1)                  \
  X(SY_DEVICE_ACCELERATOR, 2)          \
  X(SY_ATTR_INT, 0)                    \
  X(SY_ATTR_FLOAT, 1)                  \
  X(SY_ATTR_STRING, 2)                 \
  X(SY_ATTR_INTS, 3)                   \
  X(SY_ATTR_FLOATS, 4)                 \
  X(SY_ATTR_STRINGS, 5)                \
  X(SY_ATTR_TENSOR, 6)

#define SY_STATIC_SIZE(T, size) static_assert(sizeof(T) == (size), #T " changed size: the plugin ABI changed");
#define SY_STATIC_FIELD(T, field, offset) \
  static_assert(offsetof(T, field) == (offset), #T "." #field " moved: the plugin ABI changed");
#define SY_STATIC_ENUM(name, value) static_assert((name) == (value), #name " changed value: the plugin ABI changed");
SY_ABI_SIZES(SY_STATIC_SIZE)
SY_ABI_FIELDS(SY_STATIC_FIELD)
SY_ABI_ENUMS(SY_STATIC_ENUM)

// Every struct that crosses the boundary starts with struct_size.
#define SY_STATIC_FIRST(T, size) static_assert(offsetof(T, struct_size) == 0 && sizeof(((T*)nullptr)->struct_size) == 8);
SY_ABI_SIZES(SY_STATIC_FIRST)

static_assert(SY_ABI_VERSION_MAJOR == 1, "a new ABI major: update the pinned layouts deliberately");
// Minor 1 appended no field: it changed what a view holds (constants are
// values, never nodes; see sy_graph_view), and the host gives minor-0 plugins
// the old view. Minor 2 appended dtypes 7..12 (pinned above) and no field; the
// host declines, for a plugin of an older minor, every node touching one.
static_assert(SY_ABI_VERSION_MINOR == 2, "a new ABI minor: pin the appended fields");
static_assert(SY_MAX_RANK == 16);
static_assert(SY_REASON_SIZE == 256);

TEST(AbiLayout, StructSizes) {
#define SY_EXPECT_SIZE(T, size) EXPECT_EQ(sizeof(T), size_t{size}) << #T;
  SY_ABI_SIZES(SY_EXPECT_SIZE)
}

TEST(AbiLayout, FieldOffsets) {
#define SY_EXPECT_FIELD(T, field, offset) EXPECT_EQ(offsetof(T, field), size_t{offset}) << #T "." #field;
  SY_ABI_FIELDS(SY_EXPECT_FIELD)
}

TEST(AbiLayout, EnumValues) {
#define SY_EXPECT_ENUM(name, value) EXPECT_EQ(static_cast<int>(name), value) << #name;
  SY_ABI_ENUMS(SY_EXPECT_ENUM)
}

// The last function-table entry ends the table: a new entry must be appended.
TEST(AbiLayout, FunctionTableEndsWithItsLastEntry) {
  EXPECT_EQ(offsetof(sy_plugin_api, execute_profiled) + sizeof(void*), sizeof(sy_plugin_api));
}

TEST(AbiLayout, StructHasReadsOnlyWhatFits) {
  sy_device_info info{};
  info.struct_size = offsetof(sy_device_info, score) + sizeof(int32_t);
  EXPECT_TRUE(SY_STRUCT_HAS(sy_device_info, &info, score));
  EXPECT_FALSE(SY_STRUCT_HAS(sy_device_info, &info, host_visible_memory));
  info.struct_size = sizeof(sy_device_info);
  EXPECT_TRUE(SY_STRUCT_HAS(sy_device_info, &info, host_visible_memory));
}

TEST(AbiLayout, EntrySymbolName) { EXPECT_STREQ(SY_PLUGIN_ENTRY_SYMBOL, "sy_plugin_get_api"); }

}  // namespace
