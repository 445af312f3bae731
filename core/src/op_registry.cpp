#include "switchyard/op_registry.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <sstream>

#include "portable_kernels.h"

namespace sy {

// core/src/ops/dynamic.cpp (declared here, not in op_registry.h, to keep that header unchanged).
void registerDataDependentOps(OpRegistry& registry);

const AttrSpec* OpSchema::findAttr(std::string_view attrName) const {
  for (const AttrSpec& a : attrs)
    if (a.name == attrName) return &a;
  return nullptr;
}

const OpRegistry& OpRegistry::global() {
  static const OpRegistry* registry = [] {
    auto* r = new OpRegistry();
    registerElementwiseOps(*r);
    registerReductionOps(*r);
    registerNnOps(*r);
    registerNormalizationOps(*r);
    registerShapeOps(*r);
    registerControlFlowOps(*r);
    registerDataDependentOps(*r);
    return r;
  }();
  return *registry;
}

const OpSchema* OpRegistry::find(std::string_view name) const {
  auto it = ops_.find(std::string(name));
  return it == ops_.end() ? nullptr : it->second.get();
}

std::vector<const OpSchema*> OpRegistry::all() const {
  std::vector<const OpSchema*> v;
  v.reserve(ops_.size());
  for (const auto& [name, schema] : ops_) v.push_back(schema.get());
  std::sort(v.begin(), v.end(), [](const OpSchema* a, const OpSchema* b) { return a->name < b->name; });
  return v;
}

void OpRegistry::add(OpSchema schema) {
  if (ops_.count(schema.name)) {
    std::fprintf(stderr, "switchyard: op '%s' registered twice\n", schema.name.c_str());
    std::abort();
  }
  std::string name = schema.name;
  ops_.emplace(std::move(name), std::make_unique<OpSchema>(std::move(schema)));
}

// ---------------------------------------------------------------------------
// AttrReader

bool AttrReader::has(std::string_view name) const { return get(name) != nullptr; }

const Attribute* AttrReader::get(std::string_view name) const {
  auto it = attrs_->find(name);
  if (it != attrs_->end()) return &it->second;
  const AttrSpec* spec = schema_->findAttr(name);
  if (spec && spec->defaultValue) return &*spec->defaultValue;
  return nullptr;
}

namespace {
template <typename T>
const T& zeroValue() {
  static const T v{};
  return v;
}
}  // namespace

int64_t AttrReader::getInt(std::string_view name) const {
  const Attribute* a = get(name);
  if (!a) return 0;
  if (const auto* v = std::get_if<int64_t>(a)) return *v;
  if (const auto* v = std::get_if<double>(a)) return static_cast<int64_t>(*v);
  return 0;
}

double AttrReader::getFloat(std::string_view name) const {
  const Attribute* a = get(name);
  if (!a) return 0;
  if (const auto* v = std::get_if<double>(a)) return *v;
  if (const auto* v = std::get_if<int64_t>(a)) return static_cast<double>(*v);
  return 0;
}

const std::string& AttrReader::getString(std::string_view name) const {
  const Attribute* a = get(name);
  if (a)
    if (const auto* v = std::get_if<std::string>(a)) return *v;
  return zeroValue<std::string>();
}

const std::vector<int64_t>& AttrReader::getInts(std::string_view name) const {
  const Attribute* a = get(name);
  if (a)
    if (const auto* v = std::get_if<std::vector<int64_t>>(a)) return *v;
  return zeroValue<std::vector<int64_t>>();
}

const std::vector<double>& AttrReader::getFloats(std::string_view name) const {
  const Attribute* a = get(name);
  if (a)
    if (const auto* v = std::get_if<std::vector<double>>(a)) return *v;
  return zeroValue<std::vector<double>>();
}

const std::vector<std::string>& AttrReader::getStrings(std::string_view name) const {
  const Attribute* a = get(name);
  if (a)
    if (const auto* v = std::get_if<std::vector<std::string>>(a)) return *v;
  return zeroValue<std::vector<std::string>>();
}

const Tensor* AttrReader::getTensor(std::string_view name) const {
  const Attribute* a = get(name);
  return a ? std::get_if<Tensor>(a) : nullptr;
}

// ---------------------------------------------------------------------------

Type typeOf(const Tensor& t) {
  std::vector<Dim> dims;
  dims.reserve(t.shape().size());
  for (int64_t d : t.shape()) dims.emplace_back(d);
  return Type::tensor(t.dtype(), std::move(dims));
}

Status checkAttributes(const OpSchema& schema, const AttrMap& attrs) {
  for (const auto& [name, value] : attrs) {
    const AttrSpec* spec = schema.findAttr(name);
    if (!spec) {
      std::string known;
      for (const AttrSpec& a : schema.attrs) known += (known.empty() ? "" : ", ") + a.name;
      return invalidArgument("op '", schema.name, "' has no attribute '", name, "' (it takes: ",
                             known.empty() ? "none" : known, ")");
    }
    const AttrKind got = attrKind(value);
    const bool intAsFloat = spec->kind == AttrKind::Float && got == AttrKind::Int;
    const bool emptyListOk = (spec->kind == AttrKind::Ints || spec->kind == AttrKind::Floats ||
                              spec->kind == AttrKind::Strings) &&
                             (got == AttrKind::Ints || got == AttrKind::Floats || got == AttrKind::Strings) &&
                             std::visit(
                                 [](const auto& v) {
                                   using T = std::decay_t<decltype(v)>;
                                   if constexpr (std::is_same_v<T, std::vector<int64_t>> ||
                                                 std::is_same_v<T, std::vector<double>> ||
                                                 std::is_same_v<T, std::vector<std::string>>)
                                     return v.empty();
                                   else
                                     return false;
                                 },
                                 value);
    const bool intsAsFloats = spec->kind == AttrKind::Floats && got == AttrKind::Ints;
    if (got != spec->kind && !intAsFloat && !emptyListOk && !intsAsFloats)
      return invalidArgument("attribute '", name, "' of op '", schema.name, "' must be ",
                             attrKindName(spec->kind), ", got ", attrKindName(got));
  }
  for (const AttrSpec& spec : schema.attrs)
    if (spec.required && !attrs.count(spec.name))
      return invalidArgument("op '", schema.name, "' requires attribute '", spec.name, "'");
  return Status::OK();
}

/// Normalises attribute kinds to the schema's (int -> float, [] -> typed list),
/// so that kernels may read them with the typed accessors.
static AttrMap normaliseAttributes(const OpSchema& schema, const AttrMap& attrs) {
  AttrMap out = attrs;
  for (auto& [name, value] : out) {
    const AttrSpec* spec = schema.findAttr(name);
    if (!spec) continue;
    const AttrKind got = attrKind(value);
    if (got == spec->kind) continue;
    if (spec->kind == AttrKind::Float && got == AttrKind::Int) {
      value = static_cast<double>(std::get<int64_t>(value));
    } else if (spec->kind == AttrKind::Floats && got == AttrKind::Ints) {
      const auto& iv = std::get<std::vector<int64_t>>(value);
      value = std::vector<double>(iv.begin(), iv.end());
    } else if (spec->kind == AttrKind::Ints) {
      value = std::vector<int64_t>{};
    } else if (spec->kind == AttrKind::Floats) {
      value = std::vector<double>{};
    } else if (spec->kind == AttrKind::Strings) {
      value = std::vector<std::string>{};
    }
  }
  return out;
}

static Status checkArity(const OpSchema& schema, size_t numInputs, size_t numOutputs) {
  if (static_cast<int>(numInputs) < schema.minInputs ||
      (schema.maxInputs >= 0 && static_cast<int>(numInputs) > schema.maxInputs)) {
    if (schema.maxInputs < 0)
      return invalidArgument("op '", schema.name, "' takes at least ", schema.minInputs, " inputs, got ",
                             numInputs);
    if (schema.minInputs == schema.maxInputs)
      return invalidArgument("op '", schema.name, "' takes ", schema.minInputs, " inputs, got ", numInputs);
    return invalidArgument("op '", schema.name, "' takes ", schema.minInputs, " to ", schema.maxInputs,
                           " inputs, got ", numInputs);
  }
  if (static_cast<int>(numOutputs) < schema.minOutputs ||
      (schema.maxOutputs >= 0 && static_cast<int>(numOutputs) > schema.maxOutputs)) {
    if (schema.minOutputs == schema.maxOutputs)
      return invalidArgument("op '", schema.name, "' has ", schema.minOutputs, " outputs, got ", numOutputs);
    return invalidArgument("op '", schema.name, "' has ", schema.minOutputs, " to ",
                           schema.maxOutputs < 0 ? std::string("any number of")
                                                 : std::to_string(schema.maxOutputs),
                           " outputs, got ", numOutputs);
  }
  return Status::OK();
}

Result<std::vector<Type>> inferOp(const OpSchema& schema, const AttrMap& attrs,
                                  const std::vector<Type>& inputTypes,
                                  const std::vector<const Tensor*>& constantInputs, size_t numOutputs) {
  SY_RETURN_IF_ERROR(checkArity(schema, inputTypes.size(), numOutputs));
  SY_RETURN_IF_ERROR(checkAttributes(schema, attrs));
  if (!schema.infer) return unimplemented("op '", schema.name, "' has no shape inference");
  const AttrMap normalised = normaliseAttributes(schema, attrs);
  InferContext ctx(schema, normalised, inputTypes, constantInputs, numOutputs);
  SY_RETURN_IF_ERROR(ctx.AttrReader::schema().infer(ctx));
  return ctx.outputTypes();
}

bool hasKernel(const OpSchema& schema) {
  if (schema.kernel) return true;
  return schema.numBlocks == 0 && schema.category != "control" && schema.name != "weight";
}

Result<std::vector<Tensor>> evalOp(std::string_view op, const std::vector<Tensor>& inputs, const AttrMap& attrs,
                                   int numOutputs) {
  const OpSchema* schema = OpRegistry::global().find(op);
  if (!schema) return notFound("unknown op '", op, "'");
  if (!hasKernel(*schema))
    return unimplemented("op '", op, "' has no reference kernel (it is run by the interpreter)");
  const size_t nOut = numOutputs < 0 ? static_cast<size_t>(schema->minOutputs) : static_cast<size_t>(numOutputs);
  std::vector<Type> types;
  std::vector<const Tensor*> constants;
  types.reserve(inputs.size());
  for (const Tensor& t : inputs) {
    if (!t.valid()) return invalidArgument("op '", op, "': input ", types.size(), " is absent");
    types.push_back(typeOf(t));
    constants.push_back(&t);
  }
  SY_ASSIGN_OR_RETURN(std::vector<Type> outTypes, inferOp(*schema, attrs, types, constants, nOut));
  // The portable kernel when the library implements this combination (Note
  // [one kernel library] in portable_kernels.cpp), else the core's kernel.
  std::string whyNot;
  std::optional<Result<std::vector<Tensor>>> portable = evalPortable(op, inputs, attrs, outTypes, whyNot);
  std::vector<Tensor> portableOuts;
  const AttrMap normalised = normaliseAttributes(*schema, attrs);
  KernelContext ctx(*schema, normalised, inputs, nOut);
  if (portable) {
    SY_ASSIGN_OR_RETURN(portableOuts, std::move(*portable));
  } else {
    if (!schema->kernel) return unimplemented(whyNot);
    SY_RETURN_IF_ERROR(schema->kernel(ctx));
  }
  std::vector<Tensor>& outs = portable ? portableOuts : ctx.outputs();
  for (size_t i = 0; i < outs.size(); ++i) {
    if (!outs[i].valid()) return internalError("op '", op, "': kernel did not produce output ", i);
    if (!typesCompatible(outTypes[i], typeOf(outs[i])))
      return internalError("op '", op, "': kernel produced ", outs[i].typeString(), " for output ", i,
                           " but inference said ", outTypes[i].toString());
  }
  return std::move(outs);
}

std::string opReferenceMarkdown() {
  // Local printer for default values, to keep this file free of the text module.
  auto attrText = [](const Attribute& a) -> std::string {
    std::ostringstream os;
    std::visit(
        [&](const auto& v) {
          using T = std::decay_t<decltype(v)>;
          if constexpr (std::is_same_v<T, int64_t> || std::is_same_v<T, double>) {
            os << v;
          } else if constexpr (std::is_same_v<T, std::string>) {
            os << '"' << v << '"';
          } else if constexpr (std::is_same_v<T, Tensor>) {
            os << v.toString(4);
          } else {
            os << "[";
            for (size_t i = 0; i < v.size(); ++i) os << (i ? ", " : "") << v[i];
            os << "]";
          }
        },
        a);
    return os.str();
  };
  std::ostringstream md;
  for (const OpSchema* s : OpRegistry::global().all()) {
    md << "### `" << s->name << "`\n\n" << s->doc << "\n\n";
    md << "- category: " << s->category << "\n";
    std::string ins;
    for (const auto& n : s->inputNames) ins += (ins.empty() ? "" : ", ") + n;
    md << "- inputs: " << (ins.empty() ? std::string("none") : ins);
    if (s->maxInputs < 0) md << " (" << s->minInputs << " or more)";
    else if (s->maxInputs != s->minInputs) md << " (" << s->minInputs << " to " << s->maxInputs << ")";
    md << "\n";
    std::string outs;
    for (const auto& n : s->outputNames) outs += (outs.empty() ? "" : ", ") + n;
    md << "- outputs: " << (outs.empty() ? std::string("none") : outs);
    if (s->maxOutputs < 0) md << " (" << s->minOutputs << " or more)";
    else if (s->maxOutputs != s->minOutputs) md << " (" << s->minOutputs << " to " << s->maxOutputs << ")";
    md << "\n";
    if (s->numBlocks) md << "- blocks: " << s->numBlocks << "\n";
    std::string dts;
    for (DType d : s->dtypes) dts += (dts.empty() ? "" : ", ") + std::string(dtypeName(d));
    if (!dts.empty()) md << "- dtypes: " << dts << "\n";
    for (const AttrSpec& a : s->attrs) {
      md << "- attribute `" << a.name << "` (" << attrKindName(a.kind) << ", ";
      if (a.required) md << "required";
      else if (a.defaultValue) md << "default `" << attrText(*a.defaultValue) << "`";
      else md << "optional";
      md << ")" << (a.doc.empty() ? std::string() : ": " + a.doc) << "\n";
    }
    md << "\n";
  }
  return md.str();
}

}  // namespace sy
