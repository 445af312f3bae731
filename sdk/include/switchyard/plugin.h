/*
 * Switchyard plugin ABI.
 *
 * A backend plugin is a shared library that exports one C symbol,
 * `sy_plugin_get_api`, which returns a table of function pointers. The host
 * (Switchyard) loads the library, checks the table's ABI version, and talks to
 * the plugin only through this table. Nothing here is C++; a plugin may be
 * written in any language that can export a C function. `plugin.hpp` is a
 * header-only C++ helper that fills the table from a class.
 *
 * Rules that hold for every entry (taken from PJRT, ggml-backend and IREE):
 *  - Every struct that crosses the boundary starts with `size_t struct_size`,
 *    set by whoever fills the struct to sizeof(the struct it knows). Fields
 *    are only ever appended. A receiver accepts any struct_size at least as
 *    large as the size of the first version of that struct, and reads only the
 *    fields that fit inside struct_size (the others take their documented
 *    defaults). SY_STRUCT_HAS(T, ptr, field) tests that.
 *  - Versions: SY_ABI_VERSION_MAJOR changes only with incompatible changes; the
 *    host refuses a plugin of another major. Minor versions may differ in both
 *    directions: new entries are appended to sy_plugin_api, and an entry beyond
 *    the plugin's struct_size (or NULL) counts as absent.
 *  - Errors: every fallible entry returns `sy_error*`, NULL on success. A
 *    non-NULL error is owned by the caller (the host), who reads it with
 *    `error_message`/`error_code` and releases it with `error_destroy`. Every
 *    error carries a human-readable message. Nothing throws or aborts across
 *    the boundary.
 *  - Arrays of structs (values, nodes, attrs, blocks, options, out_support,
 *    execute's tensors) are laid out by whoever allocates them, with elements
 *    of that party's sizeof; every element of one array has the same
 *    struct_size, and a reader steps through the array by the first element's
 *    struct_size, never by its own sizeof.
 *  - For output structs the caller sets struct_size (the host does, for
 *    sy_device_info, sy_node_support, sy_compiled_info and execute's outputs).
 *  - Output parameters are named `out_*`; the callee sets them (to NULL / 0)
 *    first, so they are defined even on failure.
 *  - Tensors are dense, row-major, little-endian.
 *  - Strings passed in are UTF-8 and NUL-terminated; they are only valid for
 *    the duration of the call unless stated otherwise.
 *  - Thread safety is stated per entry. "Any thread" means the host may call
 *    the entry from several threads at once on different or the same objects.
 */
#ifndef SWITCHYARD_PLUGIN_H_
#define SWITCHYARD_PLUGIN_H_

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SY_ABI_VERSION_MAJOR 1
/* Minor 1: constants are values, never nodes (see sy_graph_view). A plugin
 * built against minor 0 is still given views with constant/weight nodes.
 * Minor 2: dtypes u8, i16, u16, u32, u64 and f64 (sy_dtype 7..12). The host
 * never puts a value of a dtype newer than a plugin's own minor into a
 * region that plugin compiles or a tensor it executes: every node that reads
 * or writes one counts as declined for a plugin built against minor < 2,
 * whatever it answers in query_support (where such values may appear and
 * must be declined, as any dtype a plugin does not know). Also in minor 2:
 * the optional entry execute_profiled (per-step timings for profiles). */
#define SY_ABI_VERSION_MINOR 2

/* Largest tensor rank that crosses the ABI. */
#define SY_MAX_RANK 16
/* Size of the reason buffer in sy_node_support (including the NUL). */
#define SY_REASON_SIZE 256

#if defined(_WIN32)
#define SY_PLUGIN_EXPORT __declspec(dllexport)
#else
#define SY_PLUGIN_EXPORT __attribute__((visibility("default")))
#endif

/* True when the struct at `ptr` (of type T) is large enough to hold `field`. */
#define SY_STRUCT_HAS(T, ptr, field) \
  ((ptr)->struct_size >= offsetof(T, field) + sizeof(((T*)0)->field))

/* ------------------------------------------------------------------------ */
/* Opaque handles, each owned by the plugin and released through the table. */

typedef struct sy_error sy_error;       /* an error: code + message */
typedef struct sy_backend sy_backend;   /* a backend instance on one device */
typedef struct sy_buffer sy_buffer;     /* memory on a backend's device */
typedef struct sy_compiled sy_compiled; /* a compiled region */

/* ------------------------------------------------------------------------ */
/* Enumerations (fixed-width integers on the wire). */

typedef enum sy_error_code {
  SY_ERROR_UNKNOWN = 1,
  SY_ERROR_INVALID_ARGUMENT = 2,
  SY_ERROR_UNIMPLEMENTED = 3,
  SY_ERROR_OUT_OF_MEMORY = 4,
  SY_ERROR_DEVICE = 5,     /* the device or its driver failed */
  SY_ERROR_INTERNAL = 6
} sy_error_code;

typedef enum sy_dtype {
  SY_DTYPE_F32 = 0,
  SY_DTYPE_F16 = 1,
  SY_DTYPE_BF16 = 2,
  SY_DTYPE_I8 = 3,
  SY_DTYPE_I32 = 4,
  SY_DTYPE_I64 = 5,
  SY_DTYPE_BOOL = 6,
  /* Since ABI minor 2 (never handed to a plugin built against an older minor). */
  SY_DTYPE_U8 = 7,
  SY_DTYPE_I16 = 8,
  SY_DTYPE_U16 = 9,
  SY_DTYPE_U32 = 10,
  SY_DTYPE_U64 = 11,
  SY_DTYPE_F64 = 12
} sy_dtype;

typedef enum sy_device_type {
  SY_DEVICE_CPU = 0,
  SY_DEVICE_GPU = 1,
  SY_DEVICE_ACCELERATOR = 2
} sy_device_type;

typedef enum sy_attr_kind {
  SY_ATTR_INT = 0,
  SY_ATTR_FLOAT = 1,
  SY_ATTR_STRING = 2,
  SY_ATTR_INTS = 3,
  SY_ATTR_FLOATS = 4,
  SY_ATTR_STRINGS = 5,
  SY_ATTR_TENSOR = 6
} sy_attr_kind;

/* ------------------------------------------------------------------------ */
/* Plain data. */

/* A key/value option (backend options from the config: "threads" -> "4"). */
typedef struct sy_option {
  size_t struct_size;
  const char* key;
  const char* value;
} sy_option;

/* Describes one device. Strings are owned by the plugin and live as long as
 * the plugin is loaded. */
typedef struct sy_device_info {
  size_t struct_size;
  const char* name;            /* e.g. "NVIDIA H100", "pthread-x86_64 (PoCL)" */
  int32_t type;                /* sy_device_type */
  uint64_t memory_bytes;       /* device memory; 0 if unknown */
  int32_t score;               /* higher = preferred when several devices match */
  int32_t host_visible_memory; /* 1: sy_buffer memory is host memory (see buffer_host_pointer) */
} sy_device_info;

/* Host-side information given to `init`. */
typedef struct sy_host_info {
  size_t struct_size;
  uint32_t abi_major;
  uint32_t abi_minor;
  const char* host_version;    /* Switchyard's version, e.g. "0.1.0" */
} sy_host_info;

/* A tensor value's static type in a graph view. */
typedef struct sy_value_info {
  size_t struct_size;
  const char* name;            /* unique within the view */
  int32_t dtype;               /* sy_dtype */
  int32_t rank;                /* -1: unknown rank */
  const int64_t* dims;         /* `rank` entries; -1 = not a static number */
  const char* const* dim_symbols; /* `rank` entries, each NULL or the symbol's name (e.g. "N") */
  /* When the value is a compile-time constant (a weight or a literal): its
   * dense row-major little-endian bytes, in host memory, else NULL. The memory
   * stays valid and unchanged until every sy_compiled made from this view is
   * destroyed, so a plugin may keep pointing at it instead of copying. Since
   * ABI 1.1 such a value is neither a block parameter nor a node output (see
   * sy_graph_view): it is simply there, with its data, and execute never
   * receives it. constant_data may be NULL only when constant_bytes is 0. */
  const void* constant_data;
  size_t constant_bytes;
} sy_value_info;

/* A tensor attribute value (dense, row-major). */
typedef struct sy_tensor_literal {
  size_t struct_size;
  int32_t dtype;
  int32_t rank;
  const int64_t* dims;
  const void* data;
  size_t bytes;
} sy_tensor_literal;

typedef struct sy_attr {
  size_t struct_size;
  const char* name;
  int32_t kind;                /* sy_attr_kind */
  int64_t i;                   /* SY_ATTR_INT */
  double f;                    /* SY_ATTR_FLOAT */
  const char* s;               /* SY_ATTR_STRING */
  size_t count;                /* list kinds: number of elements */
  const int64_t* ints;         /* SY_ATTR_INTS */
  const double* floats;        /* SY_ATTR_FLOATS */
  const char* const* strings;  /* SY_ATTR_STRINGS */
  const sy_tensor_literal* tensor; /* SY_ATTR_TENSOR */
} sy_attr;

/* A block: parameters, nodes (indices into sy_graph_view.nodes, in
 * execution order) and returned values. Values are indices into
 * sy_graph_view.values. */
typedef struct sy_block_view {
  size_t struct_size;
  const char* label;           /* "body", "then", "else" */
  size_t num_params;
  const int32_t* params;
  size_t num_nodes;
  const int32_t* nodes;
  size_t num_returns;
  const int32_t* returns;
} sy_block_view;

/* One node. Op names and attribute semantics are those of Switchyard's op
 * registry (docs/ir.md). */
typedef struct sy_node_view {
  size_t struct_size;
  const char* op;              /* "add", "conv", "if", ... */
  const char* name;            /* node name, "" if none */
  size_t num_inputs;
  const int32_t* inputs;       /* value indices */
  size_t num_outputs;
  const int32_t* outputs;      /* value indices */
  size_t num_attrs;
  const sy_attr* attrs;        /* sorted by name */
  size_t num_blocks;
  const sy_block_view* blocks; /* nested blocks (if: then, else; loop: body) */
} sy_node_view;

/* A read-only view of a graph or of one region of it. The view and
 * everything it points to is owned by the host and valid only during the call
 * that receives it (constant_data excepted, see sy_value_info).
 *
 * Constants (ABI 1.1): a view holds no `constant` or `weight` node, neither in
 * the capability query nor in a region to compile. Each constant the graph or
 * region uses is a value with constant_data/constant_bytes set that no node
 * produces and that is no block's parameter; any node, nested ones included,
 * may use it. A plugin therefore never claims or declines a constant: it reads
 * the data at compile (and may upload or pack it there, once), and execute's
 * inputs are only the body's params. A plugin whose table says abi_minor 0 is
 * given the 1.0 view instead, where constants are produced by constant/weight
 * nodes (their outputs carry constant_data as well). */
typedef struct sy_graph_view {
  size_t struct_size;
  size_t num_values;
  const sy_value_info* values;
  size_t num_nodes;
  const sy_node_view* nodes;   /* every node, nested ones included, in pre-order */
  sy_block_view body;          /* params = graph/region inputs, returns = outputs */
} sy_graph_view;

/* The answer for one node of a capability query. */
typedef struct sy_node_support {
  size_t struct_size;
  int32_t supported;           /* 1 if the backend can run this node */
  double cost;                 /* estimated seconds for one run (only compared with other estimates) */
  char reason[SY_REASON_SIZE]; /* when not supported: why (NUL-terminated, may be truncated) */
} sy_node_support;

/* A tensor argument of execute: a buffer plus its dtype and shape. */
typedef struct sy_tensor {
  size_t struct_size;
  sy_buffer* buffer;           /* input: the data; output: set by the plugin */
  size_t offset;               /* byte offset of the data inside the buffer */
  int32_t dtype;
  int32_t rank;
  int64_t dims[SY_MAX_RANK];
} sy_tensor;

/* Properties of a compiled region. */
typedef struct sy_compiled_info {
  size_t struct_size;
  int32_t concurrent_execute;  /* 1: execute may be called from several threads at once on this sy_compiled */
} sy_compiled_info;

/* Per-step timings (ABI 1.2; see execute_profiled). One step of a compiled
 * region: what the plugin runs as one kernel or one fused group of nodes. */
typedef struct sy_profile_event {
  size_t struct_size;
  const char* name;            /* the step's op(s), e.g. "conv + relu"; never NULL */
  const char* detail;          /* its shapes, e.g. "f32[1,64,56,56] -> f32[1,64,56,56]"; NULL if none */
  double start_us;             /* microseconds from the start of the execute_profiled call */
  double duration_us;
} sy_profile_event;

/* Where a plugin reports its steps: filled by the host, valid during the
 * execute_profiled call it is given to. */
typedef struct sy_profile_sink {
  size_t struct_size;
  void* user;                  /* passed back to record */
  /* Called on the thread that called execute_profiled, before it returns,
   * once per step run, in any order. The event and its strings are only
   * read during the call (the host copies them). Never fails. */
  void (*record)(void* user, const sy_profile_event* event);
} sy_profile_sink;

/* ------------------------------------------------------------------------ */
/* The function table. */

typedef struct sy_plugin_api {
  size_t struct_size;          /* sizeof(sy_plugin_api) as the plugin was built */
  uint32_t abi_major;          /* SY_ABI_VERSION_MAJOR the plugin was built with */
  uint32_t abi_minor;          /* SY_ABI_VERSION_MINOR the plugin was built with */
  const char* name;            /* backend name used in configs: [a-z0-9_]+, e.g. "cpu" */
  const char* version;         /* the plugin's own version, e.g. "1.2.0" */
  const char* vendor;          /* who ships it */

  /* --- errors (required; any thread) --- */
  const char* (*error_message)(const sy_error* error); /* valid until error_destroy */
  int32_t (*error_code)(const sy_error* error);        /* sy_error_code */
  void (*error_destroy)(sy_error* error);              /* NULL is a no-op */

  /* --- lifetime --- */
  /* Optional (NULL: nothing to do). Called after loading, before any other
   * entry except the error ones. Fails when the plugin cannot work here (e.g.
   * its device library is missing); the host then unloads it. A library that
   * one process loads twice sees nested init/shutdown pairs: count them. */
  sy_error* (*init)(const sy_host_info* host);
  /* Optional. Called once before unloading, after every object is destroyed. */
  void (*shutdown)(void);

  /* --- devices (required; any thread after init) --- */
  sy_error* (*device_count)(size_t* out_count);
  /* Fills *out_info (the host sets out_info->struct_size). */
  sy_error* (*device_info)(size_t device, sy_device_info* out_info);

  /* --- backends (required) --- */
  /* Creates a backend on `device` with options from the config. Unknown
   * option keys are an error naming the key. Any thread. */
  sy_error* (*backend_create)(size_t device, const sy_option* options, size_t num_options,
                              sy_backend** out_backend);
  /* Destroys a backend after all its buffers and compiled regions. */
  void (*backend_destroy)(sy_backend* backend);

  /* Capability query: for each of graph->num_nodes nodes, fills
   * out_support[i] (the host sets struct_size of each). Must answer every
   * node, giving a reason for each it declines. A node counts as supported
   * only if the plugin can run it with the given input types and attributes;
   * for if/loop, "supported" means it runs the whole node with its blocks.
   * Any thread. */
  sy_error* (*query_support)(sy_backend* backend, const sy_graph_view* graph,
                             sy_node_support* out_support, size_t num_nodes);

  /* Compiles a region (its body's params are the region inputs, its returns
   * the outputs). Fails if it contains a node the plugin declined. Weights
   * and literals reach the plugin as values with constant_data (never as
   * nodes, see sy_graph_view) and may be uploaded here, once. Any thread. */
  sy_error* (*compile)(sy_backend* backend, const sy_graph_view* region, sy_compiled** out_compiled);
  void (*compiled_destroy)(sy_compiled* compiled);
  /* Fills *out_info (the host sets struct_size). */
  sy_error* (*compiled_info)(const sy_compiled* compiled, sy_compiled_info* out_info);

  /* Runs a compiled region. inputs[i] are in the region's input order and
   * live on this backend's device (buffers from buffer_alloc or
   * buffer_wrap_host of the same backend). The plugin allocates each output (buffer_alloc) and sets
   * outputs[i].buffer, offset, dtype, rank and dims; the host owns them
   * afterwards and frees them with buffer_free. Inputs are never modified.
   * On failure no output is left allocated. Thread safety: see
   * sy_compiled_info.concurrent_execute; without it the host serialises
   * calls on one sy_compiled. */
  sy_error* (*execute)(sy_compiled* compiled, const sy_tensor* inputs, size_t num_inputs,
                       sy_tensor* outputs, size_t num_outputs);

  /* --- buffers (required; any thread, distinct buffers) --- */
  /* Allocates `bytes` (0 is valid) of device memory. */
  sy_error* (*buffer_alloc)(sy_backend* backend, size_t bytes, sy_buffer** out_buffer);
  void (*buffer_free)(sy_buffer* buffer); /* NULL is a no-op */
  size_t (*buffer_size)(const sy_buffer* buffer);
  /* Copies host memory into the buffer at `offset`; offset + bytes must fit. */
  sy_error* (*buffer_write)(sy_buffer* buffer, size_t offset, const void* src, size_t bytes);
  /* Copies from the buffer at `offset` into host memory. */
  sy_error* (*buffer_read)(const sy_buffer* buffer, size_t offset, void* dst, size_t bytes);
  /* Optional (NULL: no buffer is host visible). The host address of the
   * buffer's memory when the device's memory is host visible, else NULL. The
   * host may read it directly, and may write it only for a buffer it
   * allocated and has not yet passed to execute. */
  void* (*buffer_host_pointer)(sy_buffer* buffer);
  /* Optional (NULL: the host copies with buffer_alloc + buffer_write). For a
   * backend whose device memory is host memory: wraps `bytes` of host memory
   * at `data` as a buffer without copying. The host keeps the memory valid and
   * unchanged until buffer_free; the plugin must not write to it. */
  sy_error* (*buffer_wrap_host)(sy_backend* backend, const void* data, size_t bytes, sy_buffer** out_buffer);

  /* --- profiling (ABI 1.2) --- */
  /* Optional (NULL, or beyond the plugin's struct_size: the host times
   * regions as a whole). Same as execute, with the same thread safety, and
   * also reports each step the plugin runs (a kernel, a fused group of nodes)
   * through sink->record with its time, so that profiles show where the time
   * goes inside a region (`switchyard bench --profile`). The host calls it
   * only when asked to profile; timing the steps may cost a little. */
  sy_error* (*execute_profiled)(sy_compiled* compiled, const sy_tensor* inputs, size_t num_inputs,
                                sy_tensor* outputs, size_t num_outputs, const sy_profile_sink* sink);
} sy_plugin_api;

/* The one symbol a plugin exports. Returns a table with static storage
 * duration; never NULL, never fails (failures belong in `init`). */
typedef const sy_plugin_api* (*sy_plugin_get_api_fn)(void);
#define SY_PLUGIN_ENTRY_SYMBOL "sy_plugin_get_api"

#ifdef __cplusplus
}  /* extern "C" */
#endif

#endif /* SWITCHYARD_PLUGIN_H_ */
