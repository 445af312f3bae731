// .npy reading and writing. See npy.h for what is accepted and why.
#include "switchyard/npy.h"
#include "switchyard/file_io.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <optional>
#include <sstream>
#include <vector>

namespace sy {
namespace {

constexpr char kMagic[] = "\x93NUMPY";
constexpr size_t kMagicLen = 6;

struct NpyDType {
  const char* descr;
  DType dtype;
};
// What np.save writes for each Switchyard dtype (NumPy writes '|' for one-byte types).
constexpr NpyDType kDTypes[] = {
    {"<f4", DType::F32}, {"<f2", DType::F16}, {"|i1", DType::I8},  {"<i4", DType::I32}, {"<i8", DType::I64},
    {"|b1", DType::Bool}, {"|u1", DType::U8}, {"<i2", DType::I16}, {"<u2", DType::U16}, {"<u4", DType::U32},
    {"<u8", DType::U64},  {"<f8", DType::F64},
};

/// A refusal for a descr that is valid NumPy but has no Switchyard dtype.
std::string unsupportedDescr(const std::string& descr) {
  std::string why;
  if (descr.size() >= 2) {
    const char order = descr[0];
    const std::string kind = descr.substr(1);
    if (order == '>' && kind != "i1" && kind != "b1" && kind != "u1")
      return "big-endian dtype '" + descr + "' is not supported; save it as little-endian (arr.astype(arr.dtype.newbyteorder('<')))";
    if (kind[0] == 'c') why = "complex numbers are not supported";
    else if (kind[0] == 'O') why = "object arrays are not supported";
    else if (kind[0] == 'U' || kind[0] == 'S') why = "string arrays are not supported";
  }
  if (why.empty())
    why = "dtype '" + descr + "' is not supported (supported: <f4, <f8, <f2, |i1, <i2, <i4, <i8, |u1, <u2, <u4, <u8, |b1)";
  return why;
}

std::optional<DType> dtypeFromDescr(const std::string& descr) {
  for (const NpyDType& d : kDTypes) {
    if (descr == d.descr) return d.dtype;
  }
  // One-byte types carry no byte order; accept any order character for them.
  if (descr.size() == 3 && (descr[0] == '<' || descr[0] == '=' || descr[0] == '>' || descr[0] == '|')) {
    if (descr.substr(1) == "i1") return DType::I8;
    if (descr.substr(1) == "b1") return DType::Bool;
    if (descr.substr(1) == "u1") return DType::U8;
  }
  // '=' is native order, and Switchyard only runs on little-endian hosts.
  if (descr.size() == 3 && descr[0] == '=') {
    for (const NpyDType& d : kDTypes) {
      if (descr.substr(1) == std::string(d.descr).substr(1)) return d.dtype;
    }
  }
  return std::nullopt;
}

/// A tiny parser for the Python dict literal of a .npy header.
class HeaderParser {
 public:
  HeaderParser(std::string_view text, const std::string& origin) : s_(text), origin_(origin) {}

  Status parse(std::string& descr, bool& fortran, Shape& shape) {
    bool haveDescr = false, haveFortran = false, haveShape = false;
    skipSpace();
    SY_RETURN_IF_ERROR(expect('{'));
    while (true) {
      skipSpace();
      if (peek() == '}') {
        ++pos_;
        break;
      }
      std::string key;
      SY_RETURN_IF_ERROR(parseString(key));
      skipSpace();
      SY_RETURN_IF_ERROR(expect(':'));
      skipSpace();
      if (key == "descr") {
        if (haveDescr) return error("'descr' appears twice");
        haveDescr = true;
        if (peek() == '[') return error("structured arrays (a list as 'descr') are not supported");
        SY_RETURN_IF_ERROR(parseString(descr));
      } else if (key == "fortran_order") {
        if (haveFortran) return error("'fortran_order' appears twice");
        haveFortran = true;
        SY_RETURN_IF_ERROR(parseBool(fortran));
      } else if (key == "shape") {
        if (haveShape) return error("'shape' appears twice");
        haveShape = true;
        SY_RETURN_IF_ERROR(parseShape(shape));
      } else {
        return error("unexpected key '" + key + "' (a .npy header has 'descr', 'fortran_order' and 'shape')");
      }
      skipSpace();
      if (peek() == ',') {
        ++pos_;
        continue;
      }
      if (peek() == '}') {
        ++pos_;
        break;
      }
      return error("expected ',' or '}'");
    }
    while (pos_ < s_.size()) {
      const char c = s_[pos_];
      if (c != ' ' && c != '\n' && c != '\t' && c != '\r' && c != '\0')
        return error("unexpected text after the closing '}'");
      ++pos_;
    }
    if (!haveDescr) return error("no 'descr' key");
    if (!haveFortran) return error("no 'fortran_order' key");
    if (!haveShape) return error("no 'shape' key");
    return Status::OK();
  }

 private:
  char peek() const { return pos_ < s_.size() ? s_[pos_] : '\0'; }
  bool atEnd() const { return pos_ >= s_.size(); }
  void skipSpace() {
    while (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\n' || s_[pos_] == '\r')) ++pos_;
  }
  Status error(const std::string& what) const {
    return invalidArgument(origin_, ": malformed .npy header at byte ", pos_, " of the header: ", what);
  }
  Status expect(char c) {
    if (atEnd()) return error(std::string("expected '") + c + "', found the end of the header");
    if (s_[pos_] != c) return error(std::string("expected '") + c + "'");
    ++pos_;
    return Status::OK();
  }
  Status parseString(std::string& out) {
    const char q = peek();
    if (q != '\'' && q != '"') return error("expected a quoted string");
    ++pos_;
    out.clear();
    while (true) {
      if (atEnd()) return error("unterminated string");
      const char c = s_[pos_++];
      if (c == q) break;
      if (c == '\\') return error("escapes in strings are not supported");
      if (out.size() > 64) return error("string too long");
      out += c;
    }
    return Status::OK();
  }
  Status parseBool(bool& out) {
    if (s_.substr(pos_, 4) == "True") {
      out = true;
      pos_ += 4;
    } else if (s_.substr(pos_, 5) == "False") {
      out = false;
      pos_ += 5;
    } else {
      return error("'fortran_order' must be True or False");
    }
    return Status::OK();
  }
  Status parseShape(Shape& shape) {
    shape.clear();
    SY_RETURN_IF_ERROR(expect('('));
    while (true) {
      skipSpace();
      if (peek() == ')') {
        ++pos_;
        break;
      }
      if (peek() < '0' || peek() > '9') return error("expected a non-negative integer in 'shape'");
      int64_t v = 0;
      while (peek() >= '0' && peek() <= '9') {
        if (v > (int64_t{1} << 56)) return error("dimension too large in 'shape'");
        v = v * 10 + (s_[pos_++] - '0');
      }
      if (peek() == 'L') ++pos_;  // Python 2 long literal
      if (shape.size() >= 64) return error("more than 64 dimensions in 'shape'");
      shape.push_back(v);
      skipSpace();
      if (peek() == ',') {
        ++pos_;
        continue;
      }
      if (peek() == ')') {
        ++pos_;
        break;
      }
      return error("expected ',' or ')' in 'shape'");
    }
    return Status::OK();
  }

  std::string_view s_;
  const std::string& origin_;
  size_t pos_ = 0;
};

uint32_t readLE(std::string_view b, size_t pos, size_t n) {
  uint32_t v = 0;
  for (size_t i = 0; i < n; ++i) v |= static_cast<uint32_t>(static_cast<unsigned char>(b[pos + i])) << (8 * i);
  return v;
}

std::string shapeTuple(const Shape& shape) {
  std::string s = "(";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ", ";
    s += std::to_string(shape[i]);
  }
  if (shape.size() == 1) s += ",";
  s += ")";
  return s;
}

}  // namespace

Result<std::string> npyDescr(DType dtype) {
  for (const NpyDType& d : kDTypes) {
    if (d.dtype == dtype) return std::string(d.descr);
  }
  return invalidArgument("dtype ", dtypeName(dtype), " has no NumPy equivalent; convert it to f32 first");
}

Result<Tensor> parseNpy(std::string_view bytes, const std::string& origin) {
  const auto bad = [&](auto&&... what) {
    return invalidArgument(origin, ": not a valid .npy file: ", what...);
  };
  if (bytes.size() < kMagicLen || bytes.substr(0, kMagicLen) != std::string_view(kMagic, kMagicLen)) {
    if (bytes.size() < kMagicLen && bytes == std::string_view(kMagic, bytes.size()))
      return bad("truncated (", bytes.size(), " bytes, shorter than the magic string)");
    return bad("it does not start with the magic string \\x93NUMPY");
  }
  if (bytes.size() < kMagicLen + 2) return bad("truncated in the version bytes");
  const int major = static_cast<unsigned char>(bytes[6]);
  const int minor = static_cast<unsigned char>(bytes[7]);
  if (major < 1 || major > 3 || minor != 0)
    return bad("format version ", major, ".", minor, " is not supported (1.0, 2.0 and 3.0 are)");
  const size_t lenBytes = major == 1 ? 2 : 4;
  const size_t preamble = kMagicLen + 2 + lenBytes;
  if (bytes.size() < preamble) return bad("truncated in the header length");
  const uint64_t headerLen = readLE(bytes, kMagicLen + 2, lenBytes);
  if (headerLen > bytes.size() - preamble)
    return bad("truncated: the header length is ", headerLen, " bytes but only ", bytes.size() - preamble,
               " bytes follow");
  const std::string_view header = bytes.substr(preamble, headerLen);

  std::string descr;
  bool fortran = false;
  Shape shape;
  HeaderParser parser(header, origin);
  SY_RETURN_IF_ERROR(parser.parse(descr, fortran, shape));

  const std::optional<DType> dtype = dtypeFromDescr(descr);
  if (!dtype) return invalidArgument(origin, ": ", unsupportedDescr(descr));
  if (fortran)
    return invalidArgument(origin, ": Fortran-order arrays are not supported; save it in C order "
                                   "(np.save(path, np.ascontiguousarray(arr)))");
  auto numel = checkedNumel(shape);
  if (!numel.ok()) return invalidArgument(origin, ": bad 'shape' ", shapeTuple(shape), ": ", numel.status().message());
  const uint64_t elem = dtypeSize(*dtype);
  const uint64_t available = bytes.size() - preamble - headerLen;
  if (static_cast<uint64_t>(*numel) > available / elem || static_cast<uint64_t>(*numel) * elem != available) {
    const double need = static_cast<double>(*numel) * static_cast<double>(elem);
    if (static_cast<double>(available) < need)
      return bad("truncated: shape ", shapeTuple(shape), " of ", descr, " needs ", need, " data bytes, but only ",
                 available, " are present");
    return bad("shape ", shapeTuple(shape), " of ", descr, " needs ", need, " data bytes, but ", available,
               " follow the header");
  }
  auto tensor = Tensor::allocate(*dtype, shape);
  if (!tensor.ok()) return tensor.status().withContext(origin);
  const char* src = bytes.data() + preamble + headerLen;
  if (*dtype == DType::Bool) {
    auto* dst = tensor->mutableData<uint8_t>();
    for (int64_t i = 0; i < *numel; ++i) dst[i] = src[i] != 0 ? 1 : 0;
  } else if (available > 0) {
    std::memcpy(tensor->mutableData(), src, available);
  }
  return std::move(tensor).value();
}

Result<Tensor> readNpyFile(const std::string& path) {
  // Checked before reading: a folder, a FIFO or /dev/zero is refused at once.
  SY_ASSIGN_OR_RETURN(std::string bytes, readRegularFile(path, kMaxTensorBytes + (1u << 20), ".npy file"));
  return parseNpy(bytes, path);
}

Result<std::string> encodeNpy(const Tensor& tensor) {
  if (!tensor.valid()) return invalidArgument("cannot write an absent tensor as .npy");
  SY_ASSIGN_OR_RETURN(std::string descr, npyDescr(tensor.dtype()));
  std::string header = "{'descr': '" + descr + "', 'fortran_order': False, 'shape': " + shapeTuple(tensor.shape()) + ", }";
  // Pad with spaces so that the data starts on a 64-byte boundary; end with '\n'.
  size_t preamble = kMagicLen + 2 + 2;
  size_t total = preamble + header.size() + 1;
  int major = 1;
  if (((total + 63) / 64) * 64 - preamble > 0xFFFF) {
    major = 2;
    preamble = kMagicLen + 2 + 4;
    total = preamble + header.size() + 1;
  }
  header.append(((total + 63) / 64) * 64 - total, ' ');
  header += '\n';
  std::string out(kMagic, kMagicLen);
  out += static_cast<char>(major);
  out += '\0';
  const uint32_t len = static_cast<uint32_t>(header.size());
  for (size_t i = 0; i < (major == 1 ? 2u : 4u); ++i) out += static_cast<char>((len >> (8 * i)) & 0xFF);
  out += header;
  out.append(static_cast<const char*>(tensor.data()), tensor.nbytes());
  return out;
}

Status writeNpyFile(const Tensor& tensor, const std::string& path) {
  auto bytes = encodeNpy(tensor);
  if (!bytes.ok()) return bytes.status().withContext("writing " + path);
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) return invalidArgument("cannot write ", path, ": ", std::strerror(errno));
  out.write(bytes->data(), static_cast<std::streamsize>(bytes->size()));
  out.close();
  if (!out) return invalidArgument("cannot write ", path, ": ", std::strerror(errno));
  return Status::OK();
}

}  // namespace sy
