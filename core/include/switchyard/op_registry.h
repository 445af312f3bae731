// The op registry: one entry per op, holding its schema (inputs, outputs,
// attributes with defaults), its type/shape inference, and its reference kernel.
//
// Adding an op is one call to OpRegistry::add from one of the register*Ops
// functions (core/src/ops/). The registry is built once, on first use, and is
// immutable afterwards, so it may be read from any thread.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "switchyard/attribute.h"
#include "switchyard/status.h"
#include "switchyard/tensor.h"
#include "switchyard/type.h"

namespace sy {

class InferContext;
class KernelContext;

/// Declared attribute of an op.
struct AttrSpec {
  std::string name;
  AttrKind kind = AttrKind::Int;
  /// Used when the node does not set the attribute. Absent + !required means
  /// "not set" is meaningful to the op (e.g. gemm without an explicit shape).
  std::optional<Attribute> defaultValue;
  bool required = false;
  std::string doc;
};

using InferFn = std::function<Status(InferContext&)>;
using KernelFn = std::function<Status(KernelContext&)>;

/// Everything the core knows about one op.
struct OpSchema {
  std::string name;
  std::string category;  ///< "unary", "binary", "reduce", "nn", "shape", "control", ...
  std::string doc;       ///< one or two sentences: what it computes
  std::vector<std::string> inputNames;  ///< names of inputs, for docs and errors
  int minInputs = 0;
  int maxInputs = 0;                     ///< -1: variadic
  std::vector<std::string> outputNames;
  int minOutputs = 1;
  int maxOutputs = 1;                    ///< -1: variadic (count chosen by the node)
  int numBlocks = 0;                     ///< nested blocks (If: 2, Loop: 1)
  std::vector<AttrSpec> attrs;
  /// dtypes accepted for the first input (or the output for ops with no inputs);
  /// used by docs and by conformance case generation.
  std::vector<DType> dtypes;
  /// False for ops whose result is not a pure function of inputs and
  /// attributes (none today; reserved for random ops). Pure ops can be folded and CSE'd.
  bool pure = true;
  InferFn infer;
  /// The core's own kernel, for the few ops that are not kernels of the SDK's
  /// portable library (`constant`); empty for every other op: they run on
  /// the portable kernels (hasKernel), control flow on the interpreter.
  KernelFn kernel;

  const AttrSpec* findAttr(std::string_view attrName) const;
};

/// The global op table.
class OpRegistry {
 public:
  /// The registry with every built-in op.
  static const OpRegistry& global();

  /// The schema of `name`, or nullptr.
  const OpSchema* find(std::string_view name) const;
  /// All schemas, sorted by name.
  std::vector<const OpSchema*> all() const;

  /// Adds a schema; aborts on a duplicate name (a programming error caught by every test run).
  void add(OpSchema schema);

 private:
  std::unordered_map<std::string, std::unique_ptr<OpSchema>> ops_;
};

/// Attribute lookup with schema defaults resolved. Shared by InferContext and KernelContext.
class AttrReader {
 public:
  AttrReader(const OpSchema& schema, const AttrMap& attrs) : schema_(&schema), attrs_(&attrs) {}

  /// True when the node sets the attribute or the schema has a default.
  bool has(std::string_view name) const;
  /// The node's value or the schema default; nullptr when neither exists.
  const Attribute* get(std::string_view name) const;

  // Typed accessors. Calling one for an attribute the schema does not declare,
  // or with the wrong kind, is a programming error in the op (checked by the
  // verifier before any kernel runs), and returns a zero value.
  int64_t getInt(std::string_view name) const;
  double getFloat(std::string_view name) const;
  const std::string& getString(std::string_view name) const;
  const std::vector<int64_t>& getInts(std::string_view name) const;
  const std::vector<double>& getFloats(std::string_view name) const;
  const std::vector<std::string>& getStrings(std::string_view name) const;
  const Tensor* getTensor(std::string_view name) const;

  const OpSchema& schema() const { return *schema_; }
  const AttrMap& raw() const { return *attrs_; }

 private:
  const OpSchema* schema_;
  const AttrMap* attrs_;
};

/// What type/shape inference sees of one node.
class InferContext : public AttrReader {
 public:
  InferContext(const OpSchema& schema, const AttrMap& attrs, std::vector<Type> inputTypes,
               std::vector<const Tensor*> constantInputs, size_t numOutputs)
      : AttrReader(schema, attrs),
        inputTypes_(std::move(inputTypes)),
        constants_(std::move(constantInputs)),
        outputTypes_(numOutputs) {}

  size_t numInputs() const { return inputTypes_.size(); }
  const Type& inputType(size_t i) const { return inputTypes_[i]; }
  /// The value of input `i` when known at compile time (a constant or weight), else nullptr.
  const Tensor* constantInput(size_t i) const { return i < constants_.size() ? constants_[i] : nullptr; }

  size_t numOutputs() const { return outputTypes_.size(); }
  void setOutputType(size_t i, Type type) { outputTypes_[i] = std::move(type); }
  const std::vector<Type>& outputTypes() const { return outputTypes_; }

 private:
  std::vector<Type> inputTypes_;
  std::vector<const Tensor*> constants_;
  std::vector<Type> outputTypes_;
};

/// What a reference kernel sees of one node at run time.
class KernelContext : public AttrReader {
 public:
  KernelContext(const OpSchema& schema, const AttrMap& attrs, const std::vector<Tensor>& inputs,
                size_t numOutputs)
      : AttrReader(schema, attrs), inputs_(&inputs), outputs_(numOutputs) {}

  size_t numInputs() const { return inputs_->size(); }
  const Tensor& input(size_t i) const { return (*inputs_)[i]; }

  size_t numOutputs() const { return outputs_.size(); }
  /// Allocates output `i` (zero-filled) and returns it for writing.
  Result<Tensor> allocateOutput(size_t i, DType dtype, Shape shape) {
    auto t = Tensor::allocate(dtype, std::move(shape));
    if (t.ok()) outputs_[i] = *t;
    return t;
  }
  /// Sets output `i` to an existing tensor (e.g. a reshape that shares data).
  void setOutput(size_t i, Tensor t) { outputs_[i] = std::move(t); }
  std::vector<Tensor>& outputs() { return outputs_; }

 private:
  const std::vector<Tensor>* inputs_;
  std::vector<Tensor> outputs_;
};

/// Runtime type of a concrete tensor (rank-0 tensors are reported as tensors).
Type typeOf(const Tensor& t);

/// Checks a node's attributes against its schema: unknown names, wrong kinds,
/// missing required ones. Int values are accepted where a float is declared.
Status checkAttributes(const OpSchema& schema, const AttrMap& attrs);

/// Runs shape inference for one op on concrete input types.
Result<std::vector<Type>> inferOp(const OpSchema& schema, const AttrMap& attrs,
                                  const std::vector<Type>& inputTypes,
                                  const std::vector<const Tensor*>& constantInputs, size_t numOutputs);

/// True when evalOp can run `schema`'s op: a kernel of the SDK's portable
/// library or the core's own; false for control flow and `weight`.
bool hasKernel(const OpSchema& schema);

/// Evaluates one op on concrete tensors with its reference kernel (the SDK's
/// portable kernel, Note [one kernel library] in core/src/portable_kernels.cpp): checks the
/// arity and attributes, runs inference on the inputs' types (so shape errors
/// surface as errors), then the kernel. Used by the interpreter, constant
/// folding and the tests. `numOutputs` of -1 means the schema's minimum.
Result<std::vector<Tensor>> evalOp(std::string_view op, const std::vector<Tensor>& inputs,
                                   const AttrMap& attrs = {}, int numOutputs = -1);

/// The op reference in Markdown (one section per op, sorted by name), as
/// embedded in docs/ir.md; a test keeps the two in sync.
std::string opReferenceMarkdown();

// Registration hooks, one per op family (core/src/ops/*.cpp).
void registerElementwiseOps(OpRegistry& registry);
void registerReductionOps(OpRegistry& registry);
void registerNnOps(OpRegistry& registry);
void registerNormalizationOps(OpRegistry& registry);
void registerShapeOps(OpRegistry& registry);
void registerControlFlowOps(OpRegistry& registry);

}  // namespace sy
