// Recursive-descent parser for the text format. Grammar (docs/ir.md):
//
//   graph     := 'graph' '@' name '(' params? ')' '{' node* 'return' values? '}'
//   params    := param (',' param)*          param := '%' name ':' type
//   node      := (values '=')? op '(' values? ')' attrs? (':' types)? ('@' name)? regions?
//   regions   := '{' ('^' name ('(' params? ')')? ':' node* 'yield' values?)+ '}'
//   attrs     := '{' name '=' attr (',' name '=' attr)* '}'
//   attr      := int | float | string | '[' (attr (',' attr)*)? ']' | tensor
//   tensor    := 'tensor' '<' type '>' '[' (literal (',' literal)*)? ']'
//   type      := dtype ('[' ('*' | (dim (',' dim)*)?) ']')?    dim := int | symbol | '?'
//   name      := [A-Za-z0-9_.]+ | string
#include <charconv>
#include <cmath>
#include <limits>
#include <unordered_map>

#include "switchyard/op_registry.h"
#include "switchyard/text.h"

namespace sy {

namespace {

enum class Tok { End, Ident, Int, Float, String, Percent, At, Caret, Punct };

struct Token {
  Tok kind = Tok::End;
  std::string text;  // identifier, name, string contents, number text, or the punctuation char
  int line = 1, col = 1;
};

std::string describe(const Token& t) {
  switch (t.kind) {
    case Tok::End: return "end of input";
    case Tok::Ident: return "'" + t.text + "'";
    case Tok::Int:
    case Tok::Float: return "number " + t.text;
    case Tok::String: return "string \"" + t.text + "\"";
    case Tok::Percent: return "value %" + t.text;
    case Tok::At: return "name @" + t.text;
    case Tok::Caret: return "label ^" + t.text;
    case Tok::Punct: return "'" + t.text + "'";
  }
  return "?";
}

class Lexer {
 public:
  Lexer(std::string_view src, std::string filename) : src_(src), file_(std::move(filename)) {}

  Status next(Token& out) {
    skipSpace();
    out = Token{};
    out.line = line_;
    out.col = col_;
    if (pos_ >= src_.size()) return Status::OK();
    const char c = src_[pos_];
    if (c == '%' || c == '@' || c == '^') {
      advance();
      out.kind = c == '%' ? Tok::Percent : c == '@' ? Tok::At : Tok::Caret;
      if (pos_ < src_.size() && src_[pos_] == '"') {
        SY_RETURN_IF_ERROR(readString(out.text, out));
        if (out.text.empty() && c == '%') return error(out, "expected a value name after '%', got an empty string");
        return Status::OK();
      }
      const size_t start = pos_;
      while (pos_ < src_.size() && isNameChar(src_[pos_])) advance();
      if (pos_ == start) return error(out, std::string("expected a name after '") + c + "'");
      out.text = std::string(src_.substr(start, pos_ - start));
      return Status::OK();
    }
    if (c == '"') {
      out.kind = Tok::String;
      return readString(out.text, out);
    }
    if (std::isdigit(static_cast<unsigned char>(c)) ||
        ((c == '-' || c == '+') && pos_ + 1 < src_.size() &&
         (std::isdigit(static_cast<unsigned char>(src_[pos_ + 1])) || src_[pos_ + 1] == 'i' ||
          src_[pos_ + 1] == 'n'))) {
      return readNumber(out);
    }
    if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
      const size_t start = pos_;
      while (pos_ < src_.size() &&
             (std::isalnum(static_cast<unsigned char>(src_[pos_])) || src_[pos_] == '_'))
        advance();
      out.kind = Tok::Ident;
      out.text = std::string(src_.substr(start, pos_ - start));
      if (out.text == "inf" || out.text == "nan") out.kind = Tok::Float;
      return Status::OK();
    }
    if (std::string_view("()[]{},:=<>*?").find(c) != std::string_view::npos) {
      advance();
      out.kind = Tok::Punct;
      out.text = std::string(1, c);
      return Status::OK();
    }
    std::string shown(1, c);
    if (!std::isprint(static_cast<unsigned char>(c))) {
      static const char* hex = "0123456789abcdef";
      const auto u = static_cast<unsigned char>(c);
      shown = std::string("\\x") + hex[u >> 4] + hex[u & 0xf];
    }
    return error(out, "unexpected character '" + shown + "'");
  }

  /// Characters not yet read.
  size_t remaining() const { return src_.size() - pos_; }

  Status error(const Token& at, const std::string& msg) const {
    return invalidArgument(file_, ":", at.line, ":", at.col, ": ", msg);
  }

 private:
  static bool isNameChar(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.'; }

  void advance() {
    if (src_[pos_] == '\n') {
      ++line_;
      col_ = 1;
    } else {
      ++col_;
    }
    ++pos_;
  }

  void skipSpace() {
    while (pos_ < src_.size()) {
      const char c = src_[pos_];
      if (c == '#') {
        while (pos_ < src_.size() && src_[pos_] != '\n') advance();
      } else if (std::isspace(static_cast<unsigned char>(c))) {
        advance();
      } else {
        break;
      }
    }
  }

  Status readString(std::string& text, Token& tok) {
    advance();  // opening quote
    text.clear();
    while (true) {
      if (pos_ >= src_.size() || src_[pos_] == '\n') return error(tok, "unterminated string");
      const char c = src_[pos_];
      if (c == '"') {
        advance();
        return Status::OK();
      }
      if (c == '\\') {
        advance();
        if (pos_ >= src_.size()) return error(tok, "unterminated string");
        const char e = src_[pos_];
        advance();
        switch (e) {
          case 'n': text += '\n'; break;
          case 't': text += '\t'; break;
          case '"': text += '"'; break;
          case '\\': text += '\\'; break;
          case 'x': {
            if (pos_ + 2 > src_.size() || !std::isxdigit(static_cast<unsigned char>(src_[pos_])) ||
                !std::isxdigit(static_cast<unsigned char>(src_[pos_ + 1])))
              return error(tok, "bad \\x escape in string");
            text += static_cast<char>(std::stoi(std::string(src_.substr(pos_, 2)), nullptr, 16));
            advance();
            advance();
            break;
          }
          default: return error(tok, std::string("unknown escape '\\") + e + "' in string");
        }
        continue;
      }
      text += c;
      advance();
    }
  }

  Status readNumber(Token& out) {
    const size_t start = pos_;
    if (src_[pos_] == '-' || src_[pos_] == '+') advance();
    if (pos_ < src_.size() && std::isalpha(static_cast<unsigned char>(src_[pos_]))) {  // -inf, -nan
      const size_t wordStart = pos_;
      while (pos_ < src_.size() && std::isalpha(static_cast<unsigned char>(src_[pos_]))) advance();
      const std::string_view word = src_.substr(wordStart, pos_ - wordStart);
      if (word != "inf" && word != "nan") return error(out, "expected a number");
      out.kind = Tok::Float;
      out.text = std::string(src_.substr(start, pos_ - start));
      return Status::OK();
    }
    bool isFloat = false;
    while (pos_ < src_.size()) {
      const char c = src_[pos_];
      if (std::isdigit(static_cast<unsigned char>(c))) {
        advance();
      } else if (c == '.' || c == 'e' || c == 'E') {
        isFloat = true;
        advance();
        if ((c == 'e' || c == 'E') && pos_ < src_.size() && (src_[pos_] == '-' || src_[pos_] == '+')) advance();
      } else {
        break;
      }
    }
    out.kind = isFloat ? Tok::Float : Tok::Int;
    out.text = std::string(src_.substr(start, pos_ - start));
    return Status::OK();
  }

  std::string_view src_;
  std::string file_;
  size_t pos_ = 0;
  int line_ = 1, col_ = 1;
};

class Parser {
 public:
  Parser(std::string_view src, std::string filename) : lex_(src, std::move(filename)) {}

  Result<std::unique_ptr<Graph>> parse() {
    SY_RETURN_IF_ERROR(advance());
    SY_RETURN_IF_ERROR(expectIdent("graph"));
    if (tok_.kind != Tok::At) return expected("'@' and the graph name");
    graph_ = std::make_unique<Graph>(tok_.text);
    SY_RETURN_IF_ERROR(advance());
    SY_RETURN_IF_ERROR(expectPunct("("));
    SY_RETURN_IF_ERROR(parseParams(graph_->body()));
    SY_RETURN_IF_ERROR(expectPunct(")"));
    SY_RETURN_IF_ERROR(expectPunct("{"));
    SY_RETURN_IF_ERROR(parseBlockBody(graph_->body(), "return"));
    SY_RETURN_IF_ERROR(expectPunct("}"));
    if (tok_.kind != Tok::End) return expected("end of input after the graph");
    return std::move(graph_);
  }

 private:
  Status advance() { return lex_.next(tok_); }
  /// True when the token after the current one is a block label.
  bool nextIsCaret() const {
    Lexer copy = lex_;
    Token t;
    return copy.next(t).ok() && t.kind == Tok::Caret;
  }
  bool isPunct(const char* p) const { return tok_.kind == Tok::Punct && tok_.text == p; }
  bool isIdent(const char* w) const { return tok_.kind == Tok::Ident && tok_.text == w; }
  Status expected(const std::string& what) const { return lex_.error(tok_, "expected " + what + ", got " + describe(tok_)); }
  Status expectPunct(const char* p) {
    if (!isPunct(p)) return expected(std::string("'") + p + "'");
    return advance();
  }
  Status expectIdent(const char* w) {
    if (!isIdent(w)) return expected(std::string("'") + w + "'");
    return advance();
  }

  Status define(Value* v, const std::string& name, const Token& at) {
    auto [it, inserted] = names_.emplace(name, DefSite{v, at.line, at.col});
    if (!inserted)
      return lex_.error(at, "value %" + name + " is already defined at line " + std::to_string(it->second.line) +
                                ":" + std::to_string(it->second.col));
    return Status::OK();
  }

  Status parseParams(Block* b) {
    if (isPunct(")")) return Status::OK();
    while (true) {
      if (tok_.kind != Tok::Percent) return expected("a parameter '%name: type'");
      const Token nameTok = tok_;
      SY_RETURN_IF_ERROR(advance());
      SY_RETURN_IF_ERROR(expectPunct(":"));
      Type t;
      SY_RETURN_IF_ERROR(parseType(t));
      Value* v = b->addParam(std::move(t), nameTok.text);
      if (v->name() != nameTok.text) graph_->renameValue(v, nameTok.text);
      SY_RETURN_IF_ERROR(define(v, nameTok.text, nameTok));
      if (!isPunct(",")) return Status::OK();
      SY_RETURN_IF_ERROR(advance());
    }
  }

  Status parseType(Type& out) {
    if (tok_.kind != Tok::Ident) return expected("a type such as f32[2, N]");
    auto dtype = parseDType(tok_.text);
    if (!dtype) return lex_.error(tok_, "unknown dtype '" + tok_.text + "' (expected f32, f16, bf16, i8, i32, i64 or bool)");
    SY_RETURN_IF_ERROR(advance());
    if (!isPunct("[")) {
      out = Type::scalar(*dtype);
      return Status::OK();
    }
    SY_RETURN_IF_ERROR(advance());
    if (isPunct("*")) {
      SY_RETURN_IF_ERROR(advance());
      SY_RETURN_IF_ERROR(expectPunct("]"));
      out = Type::tensorUnranked(*dtype);
      return Status::OK();
    }
    std::vector<Dim> dims;
    if (!isPunct("]")) {
      while (true) {
        if (tok_.kind == Tok::Int) {
          const Token dimTok = tok_;
          int64_t v;
          SY_RETURN_IF_ERROR(parseInt(v));
          if (v < 0) return lex_.error(dimTok, "negative dimension " + std::to_string(v));
          dims.emplace_back(v);
        } else if (tok_.kind == Tok::Ident) {
          dims.push_back(Dim::symbol(tok_.text));
          SY_RETURN_IF_ERROR(advance());
        } else if (isPunct("?")) {
          dims.push_back(Dim::unknown());
          SY_RETURN_IF_ERROR(advance());
        } else {
          return expected("a dimension (number, symbol or '?')");
        }
        if (!isPunct(",")) break;
        SY_RETURN_IF_ERROR(advance());
      }
    }
    SY_RETURN_IF_ERROR(expectPunct("]"));
    out = Type::tensor(*dtype, std::move(dims));
    return Status::OK();
  }

  /// Parses an integer token and advances.
  Status parseInt(int64_t& out) {
    const std::string& s = tok_.text;
    const char* b = s.data() + (s[0] == '+' ? 1 : 0);
    auto [p, ec] = std::from_chars(b, s.data() + s.size(), out);
    if (ec != std::errc() || p != s.data() + s.size()) return lex_.error(tok_, "integer " + s + " is out of range");
    return advance();
  }

  Status parseFloat(double& out) {
    const std::string& s = tok_.text;
    if (s == "inf" || s == "+inf") out = std::numeric_limits<double>::infinity();
    else if (s == "-inf") out = -std::numeric_limits<double>::infinity();
    else if (s == "nan" || s == "+nan" || s == "-nan") out = std::numeric_limits<double>::quiet_NaN();
    else {
      const char* b = s.data() + (s[0] == '+' ? 1 : 0);
      auto [p, ec] = std::from_chars(b, s.data() + s.size(), out);
      if (ec == std::errc::result_out_of_range) return lex_.error(tok_, "number " + s + " is out of range");
      if (ec != std::errc() || p != s.data() + s.size()) return lex_.error(tok_, "malformed number " + s);
    }
    return advance();
  }

  Status parseValueRef(Value*& out) {
    if (tok_.kind != Tok::Percent) return expected("a value '%name'");
    auto it = names_.find(tok_.text);
    if (it == names_.end()) return lex_.error(tok_, "use of undefined value %" + tok_.text);
    out = it->second.value;
    return advance();
  }

  Status parseValueList(std::vector<Value*>& out) {
    while (tok_.kind == Tok::Percent) {
      Value* v;
      SY_RETURN_IF_ERROR(parseValueRef(v));
      out.push_back(v);
      if (!isPunct(",")) break;
      SY_RETURN_IF_ERROR(advance());
      if (tok_.kind != Tok::Percent) return expected("a value '%name' after ','");
    }
    return Status::OK();
  }

  Status parseBlockBody(Block* b, const char* terminator) {
    while (!isIdent(terminator)) {
      if (tok_.kind == Tok::End || isPunct("}") || isIdent("return") || isIdent("yield"))
        return expected(std::string("'") + terminator + "'");
      SY_RETURN_IF_ERROR(parseNode(b));
    }
    SY_RETURN_IF_ERROR(advance());
    std::vector<Value*> rets;
    SY_RETURN_IF_ERROR(parseValueList(rets));
    for (Value* v : rets) b->addReturn(v);
    return Status::OK();
  }

  Status parseNode(Block* b) {
    std::vector<Token> outNames;
    if (tok_.kind == Tok::Percent) {
      while (true) {
        if (tok_.kind != Tok::Percent) return expected("an output '%name'");
        outNames.push_back(tok_);
        SY_RETURN_IF_ERROR(advance());
        if (!isPunct(",")) break;
        SY_RETURN_IF_ERROR(advance());
      }
      SY_RETURN_IF_ERROR(expectPunct("="));
    }
    if (tok_.kind != Tok::Ident) return expected("an op name");
    const Token opTok = tok_;
    const OpSchema* schema = OpRegistry::global().find(opTok.text);
    if (!schema) return lex_.error(opTok, "unknown op '" + opTok.text + "'");
    SY_RETURN_IF_ERROR(advance());
    SY_RETURN_IF_ERROR(expectPunct("("));
    std::vector<Value*> inputs;
    SY_RETURN_IF_ERROR(parseValueList(inputs));
    SY_RETURN_IF_ERROR(expectPunct(")"));
    Node* n = graph_->createNode(opTok.text, inputs);
    b->appendNode(n);
    // '{' starts the attributes, unless a '^' follows: then it opens the blocks of a
    // node without attributes or outputs (`if(%c) {^then: ...}`).
    if (isPunct("{") && !nextIsCaret()) SY_RETURN_IF_ERROR(parseAttrs(n, *schema));
    std::vector<Type> types;
    if (isPunct(":")) {
      SY_RETURN_IF_ERROR(advance());
      while (true) {
        Type t;
        SY_RETURN_IF_ERROR(parseType(t));
        types.push_back(std::move(t));
        if (!isPunct(",")) break;
        SY_RETURN_IF_ERROR(advance());
      }
    }
    if (types.size() != outNames.size())
      return lex_.error(opTok, "'" + opTok.text + "' defines " + std::to_string(outNames.size()) +
                                   " values but lists " + std::to_string(types.size()) + " types");
    for (size_t i = 0; i < outNames.size(); ++i) {
      Value* v = n->addOutput(types[i], outNames[i].text);
      if (v->name() != outNames[i].text) {
        auto it = names_.find(outNames[i].text);
        const std::string where = it == names_.end() ? std::string("earlier")
                                                     : "at line " + std::to_string(it->second.line) + ":" +
                                                           std::to_string(it->second.col);
        return lex_.error(outNames[i], "value %" + outNames[i].text + " is already defined " + where);
      }
    }
    if (tok_.kind == Tok::At) {
      n->setName(tok_.text);
      SY_RETURN_IF_ERROR(advance());
    }
    if (isPunct("{")) {
      if (depth_ >= kMaxDepth)
        return lex_.error(tok_, "blocks are nested more than " + std::to_string(kMaxDepth) + " deep");
      ++depth_;
      SY_RETURN_IF_ERROR(advance());
      while (tok_.kind == Tok::Caret) {
        Block* nb = n->addBlock(tok_.text);
        SY_RETURN_IF_ERROR(advance());
        if (isPunct("(")) {
          SY_RETURN_IF_ERROR(advance());
          SY_RETURN_IF_ERROR(parseParams(nb));
          SY_RETURN_IF_ERROR(expectPunct(")"));
        }
        SY_RETURN_IF_ERROR(expectPunct(":"));
        SY_RETURN_IF_ERROR(parseBlockBody(nb, "yield"));
      }
      if (n->numBlocks() == 0) return expected("a block label '^name:'");
      SY_RETURN_IF_ERROR(expectPunct("}"));
      --depth_;
    }
    // Outputs become visible after the node (and its blocks): a block cannot use its node's outputs.
    for (size_t i = 0; i < outNames.size(); ++i) SY_RETURN_IF_ERROR(define(n->output(i), outNames[i].text, outNames[i]));
    return Status::OK();
  }

  Status parseAttrs(Node* n, const OpSchema& schema) {
    SY_RETURN_IF_ERROR(advance());  // '{'
    while (!isPunct("}")) {
      if (tok_.kind != Tok::Ident && tok_.kind != Tok::String) return expected("an attribute name");
      const Token nameTok = tok_;
      SY_RETURN_IF_ERROR(advance());
      SY_RETURN_IF_ERROR(expectPunct("="));
      const AttrSpec* spec = schema.findAttr(nameTok.text);
      if (!spec) {
        std::string known;
        for (const AttrSpec& a : schema.attrs) known += (known.empty() ? "" : ", ") + a.name;
        return lex_.error(nameTok, "op '" + schema.name + "' has no attribute '" + nameTok.text +
                                       "' (it takes: " + (known.empty() ? "none" : known) + ")");
      }
      if (n->attr(nameTok.text)) return lex_.error(nameTok, "attribute '" + nameTok.text + "' is given twice");
      Attribute a;
      SY_RETURN_IF_ERROR(parseAttrValue(a, spec->kind));
      n->setAttr(nameTok.text, std::move(a));
      if (!isPunct(",")) break;
      SY_RETURN_IF_ERROR(advance());
    }
    return expectPunct("}");
  }

  /// Parses one attribute value, shaped by the kind the schema declares.
  Status parseAttrValue(Attribute& out, AttrKind kind) {
    const Token at = tok_;
    auto mismatch = [&](const char* got) {
      return lex_.error(at, std::string("expected ") + attrKindName(kind) + " value, got " + got);
    };
    switch (kind) {
      case AttrKind::Int: {
        if (tok_.kind != Tok::Int) return mismatch(describe(tok_).c_str());
        int64_t v;
        SY_RETURN_IF_ERROR(parseInt(v));
        out = v;
        return Status::OK();
      }
      case AttrKind::Float: {
        if (tok_.kind != Tok::Int && tok_.kind != Tok::Float) return mismatch(describe(tok_).c_str());
        double v;
        SY_RETURN_IF_ERROR(parseFloat(v));
        out = v;
        return Status::OK();
      }
      case AttrKind::String: {
        if (tok_.kind != Tok::String) return mismatch(describe(tok_).c_str());
        out = tok_.text;
        return advance();
      }
      case AttrKind::Tensor: {
        Tensor t;
        SY_RETURN_IF_ERROR(parseTensorLiteral(t));
        out = std::move(t);
        return Status::OK();
      }
      case AttrKind::Ints:
      case AttrKind::Floats:
      case AttrKind::Strings: {
        if (!isPunct("[")) return mismatch(describe(tok_).c_str());
        SY_RETURN_IF_ERROR(advance());
        std::vector<int64_t> ints;
        std::vector<double> floats;
        std::vector<std::string> strings;
        while (!isPunct("]")) {
          if (kind == AttrKind::Ints) {
            if (tok_.kind != Tok::Int) return expected("an integer");
            int64_t v;
            SY_RETURN_IF_ERROR(parseInt(v));
            ints.push_back(v);
          } else if (kind == AttrKind::Floats) {
            if (tok_.kind != Tok::Int && tok_.kind != Tok::Float) return expected("a number");
            double v;
            SY_RETURN_IF_ERROR(parseFloat(v));
            floats.push_back(v);
          } else {
            if (tok_.kind != Tok::String) return expected("a string");
            strings.push_back(tok_.text);
            SY_RETURN_IF_ERROR(advance());
          }
          if (!isPunct(",")) break;
          SY_RETURN_IF_ERROR(advance());
        }
        SY_RETURN_IF_ERROR(expectPunct("]"));
        if (kind == AttrKind::Ints) out = std::move(ints);
        else if (kind == AttrKind::Floats) out = std::move(floats);
        else out = std::move(strings);
        return Status::OK();
      }
    }
    return internalError("unhandled attribute kind");
  }

  Status parseTensorLiteral(Tensor& out) {
    SY_RETURN_IF_ERROR(expectIdent("tensor"));
    SY_RETURN_IF_ERROR(expectPunct("<"));
    const Token typeTok = tok_;
    Type t;
    SY_RETURN_IF_ERROR(parseType(t));
    SY_RETURN_IF_ERROR(expectPunct(">"));
    if (!t.isStaticShape()) return lex_.error(typeTok, "a tensor literal needs a static shape, got " + t.toString());
    const auto shape = *t.staticShape();
    auto numel = checkedNumel(shape);
    if (!numel.ok()) return lex_.error(typeTok, numel.status().message());
    // Every element takes at least one character of the rest of the text: refuse
    // literals that cannot possibly be complete before allocating anything.
    if (static_cast<uint64_t>(*numel) > lex_.remaining())
      return lex_.error(typeTok, "tensor literal of type " + t.toString() + " has " + std::to_string(*numel) +
                                     " elements, more than the rest of the text can hold");
    auto alloc = Tensor::allocate(t.dtype(), shape);
    if (!alloc.ok()) return lex_.error(typeTok, alloc.status().message());
    Tensor tensor = *alloc;
    SY_RETURN_IF_ERROR(expectPunct("["));
    int64_t i = 0;
    while (!isPunct("]")) {
      if (i >= tensor.numel())
        return lex_.error(tok_, "tensor literal has more than the " + std::to_string(tensor.numel()) +
                                    " values its type " + t.toString() + " holds");
      if (tok_.kind == Tok::Ident && (tok_.text == "true" || tok_.text == "false")) {
        if (t.dtype() != DType::Bool) return expected("a number for a " + t.toString() + " tensor");
        tensor.setInt(i, tok_.text == "true" ? 1 : 0);
        SY_RETURN_IF_ERROR(advance());
      } else if (tok_.kind == Tok::Int && !isFloat(t.dtype())) {
        const Token elemTok = tok_;
        int64_t v;
        if (t.dtype() == DType::U64 && tok_.text[0] != '-') {
          // The whole u64 range: read unsigned, keep the bits.
          uint64_t u;
          const std::string& s = tok_.text;
          const char* b = s.data() + (s[0] == '+' ? 1 : 0);
          auto [p, ec] = std::from_chars(b, s.data() + s.size(), u);
          if (ec != std::errc() || p != s.data() + s.size())
            return lex_.error(tok_, "value " + s + " does not fit in u64");
          tensor.setInt(i, static_cast<int64_t>(u));
          SY_RETURN_IF_ERROR(advance());
          ++i;
          if (!isPunct(",")) break;
          SY_RETURN_IF_ERROR(advance());
          continue;
        }
        SY_RETURN_IF_ERROR(parseInt(v));
        const auto [lo, hi] = intRange(t.dtype());
        if (v < lo || v > hi)
          return lex_.error(elemTok, "value " + std::to_string(v) + " does not fit in " +
                                         std::string(dtypeName(t.dtype())));
        tensor.setInt(i, v);
      } else if (tok_.kind == Tok::Float && !isFloat(t.dtype())) {
        return expected(std::string(t.dtype() == DType::Bool ? "true or false" : "an integer") + " for a " +
                        t.toString() + " tensor");
      } else if (tok_.kind == Tok::Int || tok_.kind == Tok::Float) {
        double v;
        SY_RETURN_IF_ERROR(parseFloat(v));
        tensor.setDouble(i, v);
      } else {
        return expected("a tensor element");
      }
      ++i;
      if (!isPunct(",")) break;
      SY_RETURN_IF_ERROR(advance());
    }
    if (i != tensor.numel())
      return lex_.error(tok_, "tensor literal of type " + t.toString() + " needs " + std::to_string(tensor.numel()) +
                                  " values, got " + std::to_string(i));
    SY_RETURN_IF_ERROR(expectPunct("]"));
    if (t.isScalar()) {
      // `tensor<f32>[...]` is a rank-0 tensor.
    }
    out = std::move(tensor);
    return Status::OK();
  }

  static std::pair<int64_t, int64_t> intRange(DType d) {
    switch (d) {
      case DType::I8: return {-128, 127};
      case DType::U8: return {0, 255};
      case DType::I16: return {std::numeric_limits<int16_t>::min(), std::numeric_limits<int16_t>::max()};
      case DType::U16: return {0, std::numeric_limits<uint16_t>::max()};
      case DType::U32: return {0, std::numeric_limits<uint32_t>::max()};
      case DType::U64: return {0, std::numeric_limits<int64_t>::max()};
      case DType::I32: return {std::numeric_limits<int32_t>::min(), std::numeric_limits<int32_t>::max()};
      case DType::Bool: return {0, 1};
      default: return {std::numeric_limits<int64_t>::min(), std::numeric_limits<int64_t>::max()};
    }
  }

  struct DefSite {
    Value* value;
    int line, col;
  };

  // Nested blocks deeper than this are refused, so hostile input cannot exhaust the stack.
  static constexpr int kMaxDepth = 100;

  Lexer lex_;
  Token tok_;
  int depth_ = 0;
  std::unique_ptr<Graph> graph_;
  std::unordered_map<std::string, DefSite> names_;
};

}  // namespace

Result<std::unique_ptr<Graph>> parseGraph(std::string_view text, std::string_view filename) {
  return Parser(text, std::string(filename)).parse();
}

}  // namespace sy
