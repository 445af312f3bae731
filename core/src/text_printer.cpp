#include <charconv>
#include <cmath>
#include <sstream>

#include "switchyard/text.h"

namespace sy {

namespace {

bool isPlainName(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.')) return false;
  return true;
}

void printString(std::ostream& os, std::string_view s) {
  os << '"';
  for (char c : s) {
    switch (c) {
      case '"': os << "\\\""; break;
      case '\\': os << "\\\\"; break;
      case '\n': os << "\\n"; break;
      case '\t': os << "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
          static const char* hex = "0123456789abcdef";
          os << "\\x" << hex[(c >> 4) & 0xf] << hex[c & 0xf];
        } else {
          os << c;
        }
    }
  }
  os << '"';
}

void printName(std::ostream& os, char sigil, std::string_view name) {
  os << sigil;
  if (isPlainName(name)) os << name;
  else printString(os, name);
}

/// Shortest text that reads back as exactly `v`, always recognisable as a float.
template <typename F>
std::string floatText(F v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), v);
  std::string s(buf, end);
  if (s.find_first_of(".eE") == std::string::npos) s += ".0";
  return s;
}

void printTensorLiteral(std::ostream& os, const Tensor& t) {
  os << "tensor<" << t.typeString() << ">[";
  for (int64_t i = 0; i < t.numel(); ++i) {
    if (i) os << ", ";
    switch (t.dtype()) {
      case DType::F32:
      case DType::F16:
      case DType::BF16: os << floatText(static_cast<float>(t.getDouble(i))); break;
      case DType::F64: os << floatText(t.getDouble(i)); break;
      case DType::U64: os << static_cast<uint64_t>(t.getInt(i)); break;
      case DType::Bool: os << (t.getInt(i) ? "true" : "false"); break;
      default: os << t.getInt(i);
    }
  }
  os << "]";
}

void printAttr(std::ostream& os, const Attribute& a) {
  std::visit(
      [&](const auto& v) {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, int64_t>) {
          os << v;
        } else if constexpr (std::is_same_v<T, double>) {
          os << floatText(v);
        } else if constexpr (std::is_same_v<T, std::string>) {
          printString(os, v);
        } else if constexpr (std::is_same_v<T, Tensor>) {
          printTensorLiteral(os, v);
        } else {
          os << "[";
          for (size_t i = 0; i < v.size(); ++i) {
            if (i) os << ", ";
            if constexpr (std::is_same_v<T, std::vector<double>>) os << floatText(v[i]);
            else if constexpr (std::is_same_v<T, std::vector<std::string>>) printString(os, v[i]);
            else os << v[i];
          }
          os << "]";
        }
      },
      a);
}

class Printer {
 public:
  explicit Printer(std::ostream& os) : os_(os) {}

  void graph(const Graph& g) {
    os_ << "graph ";
    printName(os_, '@', g.name());
    os_ << "(";
    params(g.body()->params());
    os_ << ") {\n";
    blockBody(g.body(), 1, "return");
    os_ << "}\n";
  }

 private:
  void indent(int depth) {
    for (int i = 0; i < depth; ++i) os_ << "  ";
  }

  void params(const std::vector<Value*>& ps) {
    for (size_t i = 0; i < ps.size(); ++i) {
      if (i) os_ << ", ";
      printName(os_, '%', ps[i]->name());
      os_ << ": " << ps[i]->type().toString();
    }
  }

  void valueList(const std::vector<Value*>& vs) {
    for (size_t i = 0; i < vs.size(); ++i) {
      if (i) os_ << ", ";
      if (vs[i]) printName(os_, '%', vs[i]->name());
      else os_ << "%<null>";
    }
  }

  void blockBody(const Block* b, int depth, const char* terminator) {
    for (const Node* n : b->nodes()) node(n, depth);
    indent(depth);
    os_ << terminator;
    if (!b->returns().empty()) os_ << " ";
    valueList(b->returns());
    os_ << "\n";
  }

  void node(const Node* n, int depth) {
    indent(depth);
    if (n->numOutputs() > 0) {
      valueList(n->outputs());
      os_ << " = ";
    }
    os_ << n->op() << "(";
    valueList(n->inputs());
    os_ << ")";
    if (!n->attrs().empty()) {
      os_ << " {";
      bool first = true;
      for (const auto& [k, a] : n->attrs()) {
        if (!first) os_ << ", ";
        first = false;
        if (isPlainName(k)) os_ << k;
        else printString(os_, k);
        os_ << " = ";
        printAttr(os_, a);
      }
      os_ << "}";
    }
    if (n->numOutputs() > 0) {
      os_ << " : ";
      for (size_t i = 0; i < n->numOutputs(); ++i) {
        if (i) os_ << ", ";
        os_ << n->output(i)->type().toString();
      }
    }
    if (!n->name().empty()) {
      os_ << " ";
      printName(os_, '@', n->name());
    }
    if (n->numBlocks() > 0) {
      os_ << " {\n";
      for (const Block* b : n->blocks()) {
        indent(depth);
        printName(os_, '^', b->label());
        if (!b->params().empty()) {
          os_ << "(";
          params(b->params());
          os_ << ")";
        }
        os_ << ":\n";
        blockBody(b, depth + 1, "yield");
      }
      indent(depth);
      os_ << "}";
    }
    os_ << "\n";
  }

  std::ostream& os_;
};

}  // namespace

std::string printAttribute(const Attribute& attr) {
  std::ostringstream os;
  printAttr(os, attr);
  return os.str();
}

std::string printGraph(const Graph& graph) {
  std::ostringstream os;
  Printer(os).graph(graph);
  return os.str();
}

}  // namespace sy
