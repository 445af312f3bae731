// Comparison with the reference under per-dtype tolerances, deterministic
// inputs, declarations files and globs.
#include <fnmatch.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "internal.h"

namespace sy::conformance {

// Note [Tolerances]
// An element passes when |got - expected| <= atol * max(1, max|expected|) +
// rtol * |expected| (NaN must meet NaN, an infinity the same infinity), and
// an output passes when every element does and its normalised mean squared
// error sum((got - expected)^2) / max(sum(expected^2), n * 1e-12) is at most
// `nmse`. The reference computes in double and rounds once to the dtype;
// a backend computing in the dtype itself loses a few units in the last place
// per operation, hence tolerances of a few hundred ulps for f32 and a few
// ulps for the 16-bit formats. Integer and bool outputs must be exact.
Tolerance toleranceFor(DType dtype) {
  switch (dtype) {
    case DType::F32: return {1e-4, 1e-5, 1e-7};
    case DType::F16: return {5e-3, 1e-3, 1e-5};
    case DType::BF16: return {3e-2, 1e-2, 1e-3};
    default: return {0, 0, 0};
  }
}

namespace {

std::string indexString(const Shape& shape, int64_t flat) {
  std::vector<int64_t> idx(shape.size());
  for (size_t d = shape.size(); d-- > 0;) {
    if (shape[d] > 0) {
      idx[d] = flat % shape[d];
      flat /= shape[d];
    }
  }
  std::string s = "[";
  for (size_t d = 0; d < idx.size(); ++d) s += (d ? ", " : "") + std::to_string(idx[d]);
  return s + "]";
}

std::string num(double v) {
  std::ostringstream os;
  os.precision(9);
  os << v;
  return os.str();
}

}  // namespace

void compareOutputs(const std::vector<Tensor>& got, const std::vector<Tensor>& expected,
                    const std::vector<std::string>& names, CaseResult& result, double toleranceScale) {
  result.outcome = Outcome::Passed;
  double worstRatio = -1;
  std::string failure;
  for (size_t i = 0; i < expected.size(); ++i) {
    const std::string name = i < names.size() && !names[i].empty() ? names[i] : "output " + std::to_string(i);
    if (i >= got.size()) {
      failure = name + " is missing";
      break;
    }
    const Tensor& g = got[i];
    const Tensor& x = expected[i];
    if (g.dtype() != x.dtype() || g.shape() != x.shape()) {
      failure = name + " is " + g.typeString() + ", expected " + x.typeString();
      break;
    }
    Tolerance tol = toleranceFor(x.dtype());
    const bool exact = tol.rtol == 0 && tol.atol == 0;
    double maxRef = 0, sumErr2 = 0, sumRef2 = 0;
    if (!exact)
      for (int64_t k = 0; k < x.numel(); ++k) {
        const double v = x.getDouble(k);
        if (std::isfinite(v)) maxRef = std::max(maxRef, std::fabs(v));
      }
    const double atol = tol.atol * toleranceScale * std::max(1.0, maxRef);
    const double rtol = tol.rtol * toleranceScale;
    double outWorstRatio = -1;
    WorstElement w;
    for (int64_t k = 0; k < x.numel(); ++k) {
      double a, b, err, allowed;
      if (exact) {
        const int64_t ai = g.getInt(k), bi = x.getInt(k);
        a = static_cast<double>(ai);
        b = static_cast<double>(bi);
        err = ai == bi ? 0 : std::fabs(a - b);
        if (ai != bi && err == 0) err = 1;
        allowed = 0;
      } else {
        a = g.getDouble(k);
        b = x.getDouble(k);
        if (std::isnan(a) && std::isnan(b)) err = 0;
        else if (std::isnan(a) || std::isnan(b)) err = INFINITY;
        else if (std::isinf(a) || std::isinf(b)) err = a == b ? 0 : INFINITY;
        else err = std::fabs(a - b);
        allowed = atol + rtol * (std::isfinite(b) ? std::fabs(b) : 0);
        if (std::isfinite(err)) {
          sumErr2 += err * err;
          if (std::isfinite(b)) sumRef2 += b * b;
        }
      }
      const double ratio = err == 0 ? 0 : (allowed == 0 ? INFINITY : err / allowed);
      if (ratio > outWorstRatio) {
        outWorstRatio = ratio;
        w = WorstElement{name, indexString(x.shape(), k), a, b, err, allowed};
      }
    }
    const double nmse = exact || x.numel() == 0 ? 0 : sumErr2 / std::max(sumRef2, static_cast<double>(x.numel()) * 1e-12);
    const bool elementsOk = outWorstRatio <= 1.0;
    const bool nmseOk = exact || nmse <= tol.nmse * toleranceScale;
    const bool ok = elementsOk && nmseOk;
    if (x.numel() > 0 && (!ok || outWorstRatio > worstRatio)) {
      worstRatio = outWorstRatio;
      result.hasWorst = true;
      result.worst = w;
      result.nmse = nmse;
    }
    if (!ok) {
      failure = name + w.index + ": got " + num(w.got) + ", expected " + num(w.expected) + " (|err| " +
                num(w.absError) + (exact ? ", must be exact" : " > tol " + num(w.tolerance)) + ")";
      if (!exact) failure += "; nmse " + num(nmse) + (nmseOk ? "" : " > " + num(tol.nmse * toleranceScale));
      break;
    }
  }
  if (got.size() > expected.size() && failure.empty())
    failure = "the plugin returned " + std::to_string(got.size()) + " outputs, expected " + std::to_string(expected.size());
  if (!failure.empty()) {
    result.outcome = Outcome::Failed;
    result.message = failure;
  }
}

uint64_t hashString(const std::string& s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

Result<std::vector<Tensor>> makeGraphInputs(const Graph& graph, uint64_t seed, int64_t symbolSize) {
  std::mt19937_64 rng(seed);
  auto unit = [&] { return static_cast<double>(rng() >> 11) * 0x1.0p-53; };
  std::vector<Tensor> out;
  for (const Value* v : graph.inputs()) {
    const Type& t = v->type();
    Shape shape;
    if (t.rankKnown())
      for (const Dim& d : t.dims()) shape.push_back(d.isStatic() ? d.value() : symbolSize);
    SY_ASSIGN_OR_RETURN(Tensor x, Tensor::allocate(t.dtype(), shape));
    for (int64_t k = 0; k < x.numel(); ++k) {
      if (isFloat(t.dtype())) x.setDouble(k, unit() * 2 - 1);
      else if (isBool(t.dtype())) x.setInt(k, x.numel() == 1 ? 1 : (rng() & 1));
      else x.setInt(k, static_cast<int64_t>(rng() % 4));
    }
    out.push_back(x);
  }
  return out;
}

// ---------------------------------------------------------------------------

bool globMatch(const std::string& pattern, const std::string& text) {
  return fnmatch(pattern.c_str(), text.c_str(), 0) == 0;
}

std::string suiteDataDir(const std::string& compiledIn, const char* installedName) {
  std::error_code ec;
  const std::filesystem::path exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    const std::filesystem::path installed = exe.parent_path().parent_path() / "share" / "switchyard" / installedName;
    if (exe.parent_path().filename() == "bin" && std::filesystem::is_directory(installed, ec)) return installed.string();
  }
  return compiledIn;
}

Result<std::vector<Declaration>> loadDeclarations(const std::string& path) {
  std::ifstream in(path);
  if (!in) return notFound("cannot open declarations file '", path, "'");
  std::vector<Declaration> out;
  std::string line;
  int lineNo = 0;
  while (std::getline(in, line)) {
    ++lineNo;
    const size_t hash = line.find('#');
    if (hash != std::string::npos) line.resize(hash);
    std::istringstream ls(line);
    std::string kind, pattern;
    if (!(ls >> kind)) continue;
    if (!(ls >> pattern))
      return invalidArgument(path, ":", lineNo, ": expected '<kind> <pattern> <reason>', got only '", kind, "'");
    std::string reason;
    std::getline(ls, reason);
    const size_t b = reason.find_first_not_of(" \t");
    reason = b == std::string::npos ? "" : reason.substr(b);
    while (!reason.empty() && (reason.back() == ' ' || reason.back() == '\t' || reason.back() == '\r')) reason.pop_back();
    Declaration d;
    if (kind == "unsupported") d.kind = Declaration::Kind::Unsupported;
    else if (kind == "xfail") d.kind = Declaration::Kind::ExpectedFailure;
    else return invalidArgument(path, ":", lineNo, ": unknown kind '", kind, "' (expected 'unsupported' or 'xfail')");
    if (reason.empty()) return invalidArgument(path, ":", lineNo, ": '", pattern, "' needs a reason");
    d.pattern = pattern;
    d.reason = reason;
    d.line = lineNo;
    out.push_back(std::move(d));
  }
  return out;
}

const Declaration* findDeclaration(const std::vector<Declaration>& decls, const std::string& id) {
  for (const Declaration& d : decls)
    if (globMatch(d.pattern, id)) return &d;
  return nullptr;
}

}  // namespace sy::conformance
