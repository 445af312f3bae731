// Switchyard's portable kernels: one reference implementation of every op of
// the core registry (shape, dtype and broadcasting rules included), written
// only against the SDK's views (switchyard/plugin.hpp), never against core
// types. One library, several users: the reference interpreter runs its ops
// through it, the cpu plugin's generic path is it, and any plugin may run the
// ops it does not accelerate with it inside its own regions instead of
// splitting them. Link the static library `Switchyard::kernels` (CMake
// package `Switchyard`); it needs nothing but the C++ standard library.
//
// A Kernel is made once per node (attributes parsed and checked, constants
// read, anything precomputable precomputed) and is then immutable: run() is
// const and may be called from several threads at once on the same object,
// each call with its own tensors. Inner loops are vectorisable and type-
// specialised (no per-element dispatch); parallelism comes only from the
// caller's Exec (SerialExec runs everything on the calling thread).
#pragma once

#include <switchyard/plugin.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace sy::kernels {

namespace sdk = sy::sdk;

/// A shape: rank and extents (rank <= SY_MAX_RANK). Rank 0 is a scalar.
struct Dims {
  int32_t rank = 0;
  int64_t d[SY_MAX_RANK] = {};

  int64_t numElements() const {
    int64_t n = 1;
    for (int32_t i = 0; i < rank; ++i) n *= d[i];
    return n;
  }
  sdk::ArrayRef<int64_t> ref() const { return {d, static_cast<size_t>(rank)}; }
  static Dims of(sdk::ArrayRef<int64_t> dims) {
    sdk::require(dims.size() <= SY_MAX_RANK, SY_ERROR_INVALID_ARGUMENT, "rank ", dims.size(), " > SY_MAX_RANK");
    Dims out;
    out.rank = static_cast<int32_t>(dims.size());
    for (size_t i = 0; i < dims.size(); ++i) out.d[i] = dims[i];
    return out;
  }
  friend bool operator==(const Dims& a, const Dims& b) {
    if (a.rank != b.rank) return false;
    for (int32_t i = 0; i < a.rank; ++i) {
      if (a.d[i] != b.d[i]) return false;
    }
    return true;
  }
  friend bool operator!=(const Dims& a, const Dims& b) { return !(a == b); }
};

/// A dense row-major tensor in host memory. Inputs are never written.
struct Tensor {
  void* data = nullptr;  ///< may be nullptr only when numElements() == 0
  int32_t dtype = -1;    ///< sy_dtype
  Dims dims;

  int64_t numElements() const { return dims.numElements(); }
  template <class T>
  T* as() const {
    return static_cast<T*>(data);
  }
};

/// What a kernel may use while it runs: the caller's thread pool (or none:
/// SerialExec).
class Exec {
 public:
  virtual ~Exec() = default;
  /// Calls fn(begin, end) on disjoint chunks covering [0, n), each at least
  /// `grain` items (except possibly the last), on the plugin's shared pool;
  /// returns when all are done. Runs inline when n <= grain or the pool has
  /// one thread. fn must not throw (report errors before or after).
  virtual void parallelFor(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn) const = 0;
  /// Threads parallelFor may use for this call (>= 1).
  virtual int threads() const = 0;
};

/// An Exec without threads: parallelFor runs fn(0, n) on the calling thread.
/// For callers with no pool of their own (and for tests).
class SerialExec final : public Exec {
 public:
  void parallelFor(int64_t n, int64_t /*grain*/, const std::function<void(int64_t, int64_t)>& fn) const override {
    if (n > 0) fn(0, n);
  }
  int threads() const override { return 1; }
};

/// One node's compiled kernel.
class Kernel {
 public:
  virtual ~Kernel() = default;
  /// The output shapes for these inputs (input data is readable: shape-
  /// computing inputs such as reshape's shape or slice's starts are read
  /// here). Throws sdk::Error(SY_ERROR_INVALID_ARGUMENT, ...) naming the node
  /// for inputs that do not fit (e.g. broadcasting fails at run time).
  virtual void outputShapes(const Tensor* inputs, size_t numInputs, Dims* outputs, size_t numOutputs) const = 0;
  /// Computes the outputs (memory already allocated with outputShapes' dims
  /// and the node's output dtypes; outputs never alias inputs).
  virtual void run(const Tensor* inputs, size_t numInputs, Tensor* outputs, size_t numOutputs,
                   const Exec& exec) const = 0;
};

/// A kernel for `node` (an op of the core registry), or nullptr with
/// `whyNot` set to a one-line reason when this dtype/attribute combination is
/// not implemented (e.g. "reduce_prod: only f32, i32 and i64 are implemented,
/// input 0 is f16"). Throws sdk::Error for a malformed node. Control flow
/// (`if`, `loop`) is never taken here. `constant` and `weight` nodes are
/// handled by the caller (a plugin's region compiler, the interpreter), not
/// here.
std::unique_ptr<Kernel> makeKernel(const sdk::NodeView& node, std::string& whyNot);

}  // namespace sy::kernels
