// safetensors reading and writing. See switchyard/safetensors.h.
//
// Reading trusts nothing in the file: the header length, the JSON, every
// dtype, shape and offset are validated (with overflow-checked arithmetic)
// before a single data byte is looked at, and no exception escapes (nlohmann
// throws; everything is caught and turned into a Status).
#include "switchyard/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <exception>
#include <limits>
#include <nlohmann/json.hpp>
#include <unordered_set>
#include <optional>
#include <set>
#include <string_view>
#include <vector>

namespace sy {
namespace {

static_assert(std::endian::native == std::endian::little,
              "safetensors data is little-endian; a big-endian host would need byte swapping");

using json = nlohmann::json;

/// Largest JSON header accepted. The reference implementation uses the same limit.
constexpr uint64_t kMaxHeaderBytes = 100'000'000;
/// Deepest JSON nesting accepted. A valid header nests 3 deep (root, entry,
/// shape); the limit only bounds the memory a hostile header can make us use.
constexpr int kMaxJsonDepth = 16;
constexpr const char* kMetadataKey = "__metadata__";

/// A name quoted for an error message: control and non-ASCII bytes escaped,
/// long names cut, so a hostile name cannot garble or flood the message.
std::string quote(std::string_view s) {
  constexpr size_t kMax = 120;
  std::string out = "'";
  for (size_t i = 0; i < s.size() && i < kMax; ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c < 0x7F && c != '\\' && c != '\'') {
      out += static_cast<char>(c);
    } else {
      static const char* kHex = "0123456789abcdef";
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  if (s.size() > kMax) out += "...";
  return out + "'";
}

/// The text of a JSON value for an error message (short, never throws).
std::string jsonText(const json& j) {
  try {
    std::string s = j.dump(-1, ' ', true, json::error_handler_t::replace);
    if (s.size() > 80) s = s.substr(0, 77) + "...";
    return s;
  } catch (const std::exception&) {
    return std::string("<") + j.type_name() + ">";
  }
}

struct DTypeName {
  const char* name;
  DType dtype;
};
constexpr DTypeName kSupported[] = {{"F32", DType::F32}, {"F16", DType::F16}, {"BF16", DType::BF16},
                                    {"I8", DType::I8},   {"I32", DType::I32}, {"I64", DType::I64},
                                    {"BOOL", DType::Bool}, {"U8", DType::U8},  {"I16", DType::I16},
                                    {"U16", DType::U16},  {"U32", DType::U32}, {"U64", DType::U64},
                                    {"F64", DType::F64}};
// Dtypes of the safetensors spec that Switchyard has no element type for.
constexpr const char* kKnownUnsupported[] = {"F8_E4M3", "F8_E5M2", "F8_E8M0", "F6_E2M3",
                                             "F6_E3M2", "F4",      "C64",     "C128"};

const char* safetensorsDTypeName(DType d) {
  for (const auto& e : kSupported)
    if (e.dtype == d) return e.name;
  return "?";
}

/// Checks the header JSON before it is parsed into a DOM: nesting depth, and
/// duplicate keys (nlohmann keeps the last value of a duplicated key
/// silently). A SAX pass: nlohmann's callback parser, used before, scans the
/// parent object at every nested object's end (quadratic in the entries).
struct HeaderChecker : nlohmann::json_sax<json> {
  struct Frame {
    std::unordered_set<std::string> keys;
    std::string lastKey;
  };
  std::vector<Frame> frames;
  int depth = 0;  // containers open around the current position
  bool tooDeep = false;
  std::optional<std::string> duplicate;  // the error message for the first duplicate
  std::optional<std::string> syntaxError;

  bool null() override { return true; }
  bool boolean(bool) override { return true; }
  bool number_integer(number_integer_t) override { return true; }
  bool number_unsigned(number_unsigned_t) override { return true; }
  bool number_float(number_float_t, const string_t&) override { return true; }
  bool string(string_t&) override { return true; }
  bool binary(binary_t&) override { return true; }
  bool start_object(std::size_t) override {
    if (!open()) return false;
    frames.emplace_back();
    return true;
  }
  bool end_object() override {
    if (!frames.empty()) frames.pop_back();
    --depth;
    return true;
  }
  bool start_array(std::size_t) override { return open(); }
  bool end_array() override {
    --depth;
    return true;
  }
  bool key(string_t& key) override {
    if (frames.empty()) return true;
    Frame& top = frames.back();
    if (!top.keys.insert(key).second && !duplicate) {
      if (frames.size() == 1) {
        duplicate = key == kMetadataKey ? std::string("the header has two \"__metadata__\" entries")
                                        : "tensor " + quote(key) + " appears twice in the header";
      } else if (frames.size() == 2) {
        const std::string& parent = frames[0].lastKey;
        duplicate = (parent == kMetadataKey ? std::string("__metadata__") : "tensor " + quote(parent)) +
                    " has the key " + quote(key) + " twice";
      } else {
        duplicate = "the key " + quote(key) + " appears twice in one object";
      }
    }
    top.lastKey = key;
    return true;
  }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception& ex) override {
    syntaxError = ex.what();
    return false;
  }

 private:
  bool open() {
    if (depth >= kMaxJsonDepth) {
      tooDeep = true;
      return false;
    }
    ++depth;
    return true;
  }
};

/// A validated header entry.
struct Entry {
  std::string name;
  DType dtype;
  Shape shape;
  uint64_t begin;
  uint64_t end;
};

/// Reads a non-negative JSON integer; nullopt (with `why` set) otherwise.
std::optional<uint64_t> asU64(const json& j, std::string* why) {
  if (j.is_number_unsigned()) return j.get<uint64_t>();
  if (j.is_number_integer()) {
    const auto v = j.get<int64_t>();
    if (v >= 0) return static_cast<uint64_t>(v);
    *why = "negative";
    return std::nullopt;
  }
  if (j.is_number_float()) {
    *why = "not an integer";
    return std::nullopt;
  }
  *why = std::string("a ") + j.type_name() + ", not an integer";
  return std::nullopt;
}

Result<Entry> parseEntry(const std::string& origin, const std::string& name, const json& j, uint64_t dataSize) {
  const std::string where = origin + ": tensor " + quote(name);
  if (!j.is_object())
    return invalidArgument(where, ": header entry must be a JSON object, not a ", j.type_name(), " (",
                           jsonText(j), ")");
  for (const char* field : {"dtype", "shape", "data_offsets"})
    if (!j.contains(field)) return invalidArgument(where, ": header entry lacks the field \"", field, "\"");
  Entry e;
  e.name = name;

  // dtype
  const json& jd = j["dtype"];
  if (!jd.is_string())
    return invalidArgument(where, ": \"dtype\" must be a string, not a ", jd.type_name(), " (", jsonText(jd), ")");
  const auto& ds = jd.get_ref<const std::string&>();
  bool found = false;
  for (const auto& s : kSupported)
    if (ds == s.name) {
      e.dtype = s.dtype;
      found = true;
    }
  if (!found) {
    for (const char* u : kKnownUnsupported)
      if (ds == u)
        return unimplemented(where, ": dtype ", quote(ds),
                             " is not supported by Switchyard (supported: F32, F64, F16, BF16, I8, I16, I32, I64, U8, U16, U32, U64, BOOL)");
    return invalidArgument(where, ": unknown dtype ", quote(ds),
                           " (supported: F32, F64, F16, BF16, I8, I16, I32, I64, U8, U16, U32, U64, BOOL)");
  }

  // shape
  const json& js = j["shape"];
  if (!js.is_array())
    return invalidArgument(where, ": \"shape\" must be an array of integers, not a ", js.type_name(), " (",
                           jsonText(js), ")");
  e.shape.reserve(js.size());
  for (size_t i = 0; i < js.size(); ++i) {
    std::string why;
    auto d = asU64(js[i], &why);
    if (!d) return invalidArgument(where, ": shape[", i, "] is ", jsonText(js[i]), ", ", why, " (shape ",
                                   jsonText(js), ")");
    if (*d > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
      return invalidArgument(where, ": shape[", i, "] is ", *d, ", larger than the largest int64");
    e.shape.push_back(static_cast<int64_t>(*d));
  }
  // The same element count (and overflow rule) as Tensor uses.
  auto n = checkedNumel(e.shape);
  if (!n.ok())
    return invalidArgument(where, ": shape ", shapeToString(e.shape), " has more elements than fit in 64 bits");
  const auto numel = static_cast<uint64_t>(*n);
  const uint64_t elem = dtypeSize(e.dtype);
  if (numel > std::numeric_limits<uint64_t>::max() / elem)
    return invalidArgument(where, ": shape ", shapeToString(e.shape), " of ", ds, " needs ", numel, " x ", elem,
                           " bytes, more than fit in 64 bits");
  const uint64_t nbytes = numel * elem;

  // data_offsets
  const json& jo = j["data_offsets"];
  if (!jo.is_array() || jo.size() != 2)
    return invalidArgument(where, ": \"data_offsets\" must be an array of two integers [begin, end], not ",
                           jsonText(jo));
  for (size_t i = 0; i < 2; ++i) {
    std::string why;
    auto v = asU64(jo[i], &why);
    if (!v) return invalidArgument(where, ": data_offsets[", i, "] is ", jsonText(jo[i]), ", ", why);
    (i == 0 ? e.begin : e.end) = *v;
  }
  if (e.begin > e.end)
    return invalidArgument(where, ": data_offsets [", e.begin, ", ", e.end, "] decrease (begin ", e.begin,
                           " > end ", e.end, ")");
  if (e.end > dataSize)
    return outOfRange(where, ": data_offsets [", e.begin, ", ", e.end, "] reach past the end of the ", dataSize,
                      "-byte data buffer (by ", e.end - dataSize, " bytes)");
  if (e.end - e.begin != nbytes)
    return invalidArgument(where, ": data_offsets [", e.begin, ", ", e.end, "] hold ", e.end - e.begin,
                           " bytes, but ", ds, " shape ", shapeToString(e.shape), " needs ", nbytes, " (", numel,
                           " elements x ", elem, " bytes)");
  return e;
}

Status parseMetadata(const std::string& origin, const json& j, std::map<std::string, std::string>* out) {
  if (!j.is_object())
    return invalidArgument(origin, ": \"__metadata__\" must be an object of string values, not a ", j.type_name(),
                           " (", jsonText(j), ")");
  for (const auto& [k, v] : j.items()) {
    if (!v.is_string())
      return invalidArgument(origin, ": \"__metadata__\" value for key ", quote(k), " must be a string, not a ",
                             v.type_name(), " (", jsonText(v), ")");
    (*out)[k] = v.get<std::string>();
  }
  return Status::OK();
}

Result<WeightSet> parseImpl(const void* data, size_t size, const std::shared_ptr<const void>& keepalive,
                            const std::string& origin) {
  if (size < 8)
    return invalidArgument(origin, ": ", size,
                           " bytes is too short for a safetensors file (it needs at least the 8-byte header length)");
  if (data == nullptr) return invalidArgument(origin, ": null data pointer for ", size, " bytes");
  const auto* bytes = static_cast<const unsigned char*>(data);
  uint64_t headerLen = 0;
  for (int i = 7; i >= 0; --i) headerLen = (headerLen << 8) | bytes[i];
  const uint64_t afterLen = static_cast<uint64_t>(size) - 8;
  if (headerLen > kMaxHeaderBytes)
    return invalidArgument(origin, ": header length ", headerLen, " is absurd (the limit is ", kMaxHeaderBytes,
                           " bytes; the file has ", afterLen, " bytes after the length field)");
  if (headerLen > afterLen)
    return invalidArgument(origin, ": header length ", headerLen, " is larger than the ", afterLen,
                           " bytes after the length field (file truncated?)");
  const char* headerBegin = reinterpret_cast<const char*>(bytes + 8);
  const std::string_view headerText(headerBegin, static_cast<size_t>(headerLen));
  const unsigned char* dataBase = bytes + 8 + headerLen;
  const uint64_t dataSize = afterLen - headerLen;

  json header;
  HeaderChecker checker;
  try {
    json::sax_parse(headerText.begin(), headerText.end(), &checker, json::input_format_t::json, /*strict=*/true,
                    /*ignore_comments=*/false);
    if (checker.tooDeep) return invalidArgument(origin, ": header JSON nests deeper than ", kMaxJsonDepth, " levels");
    if (checker.syntaxError)
      return invalidArgument(origin, ": header (", headerLen, " bytes) is not valid JSON: ", *checker.syntaxError);
    if (checker.duplicate) return invalidArgument(origin, ": ", *checker.duplicate);
    header = json::parse(headerText.begin(), headerText.end(), nullptr, /*allow_exceptions=*/true,
                         /*ignore_comments=*/false);
  } catch (const json::exception& ex) {
    return invalidArgument(origin, ": header (", headerLen, " bytes) is not valid JSON: ", ex.what());
  } catch (const std::bad_alloc&) {
    return resourceExhausted(origin, ": out of memory parsing the ", headerLen, "-byte header");
  } catch (const std::exception& ex) {
    return invalidArgument(origin, ": cannot parse the header: ", ex.what());
  }
  if (!header.is_object())
    return invalidArgument(origin, ": header must be a JSON object, not a ", header.type_name(), " (",
                           jsonText(header), ")");

  WeightSet out;
  std::vector<Entry> entries;
  entries.reserve(header.size());
  for (const auto& [name, value] : header.items()) {
    if (name == kMetadataKey) {
      SY_RETURN_IF_ERROR(parseMetadata(origin, value, &out.metadata));
      continue;
    }
    SY_ASSIGN_OR_RETURN(Entry e, parseEntry(origin, name, value, dataSize));
    entries.push_back(std::move(e));
  }

  // No two tensors may share a byte. Empty tensors hold no bytes, so they
  // overlap nothing. Gaps between tensors are allowed (the reference
  // implementation rejects them; being lenient here costs nothing).
  std::vector<const Entry*> order;
  for (const Entry& e : entries)
    if (e.end > e.begin) order.push_back(&e);
  std::sort(order.begin(), order.end(),
            [](const Entry* a, const Entry* b) { return a->begin != b->begin ? a->begin < b->begin : a->end < b->end; });
  for (size_t i = 1; i < order.size(); ++i) {
    const Entry& a = *order[i - 1];
    const Entry& b = *order[i];
    if (b.begin < a.end)
      return invalidArgument(origin, ": tensors ", quote(a.name), " (data_offsets [", a.begin, ", ", a.end,
                             "]) and ", quote(b.name), " (data_offsets [", b.begin, ", ", b.end, "]) overlap by ",
                             std::min(a.end, b.end) - b.begin, " bytes");
  }

  // Every tensor borrows the image. A tensor's data need not be aligned for
  // its dtype (the spec does not promise alignment, and a file may come from
  // any writer); that is safe because Tensor's element accessors read through
  // memcpy. Kernels that want aligned pointers must check or copy.
  for (Entry& e : entries) {
    out.tensors.emplace(e.name, Tensor::borrow(e.dtype, std::move(e.shape),
                                               dataBase + static_cast<size_t>(e.begin), keepalive));
  }
  return out;
}

std::string errnoText(int err) { return std::string(std::strerror(err)); }

/// write(2) all of `data`, retrying short writes and EINTR.
bool writeAll(int fd, const char* data, size_t size) {
  while (size > 0) {
    const ssize_t n = ::write(fd, data, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    data += n;
    size -= static_cast<size_t>(n);
  }
  return true;
}

}  // namespace

Result<WeightSet> parseSafetensors(const void* data, size_t size, std::shared_ptr<const void> keepalive,
                                   const std::string& origin) {
  try {
    return parseImpl(data, size, keepalive, origin);
  } catch (const std::bad_alloc&) {
    return resourceExhausted(origin, ": out of memory reading the safetensors header");
  } catch (const std::exception& ex) {
    return internalError(origin, ": unexpected error reading safetensors: ", ex.what());
  }
}

Result<WeightSet> loadSafetensors(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) {
    const int err = errno;
    if (err == ENOENT) return notFound(path, ": cannot open: ", errnoText(err));
    return invalidArgument(path, ": cannot open: ", errnoText(err));
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    return invalidArgument(path, ": cannot stat: ", errnoText(err));
  }
  if (S_ISDIR(st.st_mode)) {
    ::close(fd);
    return invalidArgument(path, ": is a directory, not a safetensors file (", errnoText(EISDIR), ")");
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return invalidArgument(path, ": not a regular file, cannot memory-map it");
  }
  if (st.st_size == 0) {
    ::close(fd);
    return invalidArgument(path, ": file is empty (0 bytes), not a safetensors file");
  }
  const auto size = static_cast<size_t>(st.st_size);
  void* addr = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  const int mmapErr = errno;
  ::close(fd);  // the mapping stays valid without the descriptor
  if (addr == MAP_FAILED) return invalidArgument(path, ": cannot mmap ", size, " bytes: ", errnoText(mmapErr));
  // The mapping lives as long as the last tensor borrowing from it. (If another
  // process truncates the file while it is mapped, reads past the new end fault
  // with SIGBUS; nothing in-process can prevent that.)
  std::shared_ptr<const void> mapping(addr, [size](const void* p) { ::munmap(const_cast<void*>(p), size); });
  return parseSafetensors(addr, size, std::move(mapping), path);
}

Result<std::string> serializeSafetensors(const WeightSet& weights) {
  try {
    struct Item {
      const std::string* name;
      const Tensor* tensor;
      uint64_t begin = 0, end = 0;
    };
    std::vector<Item> items;
    items.reserve(weights.tensors.size());
    for (const auto& [name, t] : weights.tensors) {
      if (name == kMetadataKey)
        return invalidArgument("cannot save a tensor named \"__metadata__\": the name is reserved by the format");
      if (!t.valid()) return invalidArgument("cannot save tensor ", quote(name), ": it is invalid (absent)");
      auto n = checkedNumel(t.shape());
      if (!n.ok()) return n.status().withContext("cannot save tensor " + quote(name));
      if (*n != t.numel()) return internalError("tensor ", quote(name), ": numel does not match its shape");
      if (t.nbytes() > 0 && t.data() == nullptr)
        return invalidArgument("cannot save tensor ", quote(name), ": it has no data");
      items.push_back({&name, &t});
    }
    // Data layout: larger element sizes first, then by name. Every block's size
    // is a multiple of its element size and sizes are powers of two, so each
    // tensor starts aligned for its dtype (relative to the 8-aligned data
    // start), with no padding between tensors (the reference loader requires
    // the buffer to be covered contiguously). The header lists names sorted.
    std::vector<Item*> layout;
    for (Item& it : items) layout.push_back(&it);
    std::stable_sort(layout.begin(), layout.end(), [](const Item* a, const Item* b) {
      return dtypeSize(a->tensor->dtype()) > dtypeSize(b->tensor->dtype());
    });
    uint64_t offset = 0;
    for (Item* it : layout) {
      it->begin = offset;
      offset += it->tensor->nbytes();
      it->end = offset;
    }
    const uint64_t dataSize = offset;

    auto str = [](const std::string& s, const char* what) -> Result<std::string> {
      try {
        return json(s).dump();  // strict UTF-8 check; throws on invalid bytes
      } catch (const json::exception&) {
        return invalidArgument("cannot save: ", what, " ", quote(s), " is not valid UTF-8");
      }
    };
    std::string header = "{";
    bool first = true;
    if (!weights.metadata.empty()) {
      header += "\"__metadata__\":{";
      bool firstMeta = true;
      for (const auto& [k, v] : weights.metadata) {
        SY_ASSIGN_OR_RETURN(std::string ks, str(k, "metadata key"));
        SY_ASSIGN_OR_RETURN(std::string vs, str(v, ("metadata value for key " + quote(k) + ",").c_str()));
        if (!firstMeta) header += ",";
        firstMeta = false;
        header += ks + ":" + vs;
      }
      header += "}";
      first = false;
    }
    for (const Item& it : items) {  // sorted by name (std::map order)
      SY_ASSIGN_OR_RETURN(std::string ns, str(*it.name, "tensor name"));
      if (!first) header += ",";
      first = false;
      header += ns + ":{\"dtype\":\"" + safetensorsDTypeName(it.tensor->dtype()) + "\",\"shape\":[";
      for (size_t i = 0; i < it.tensor->shape().size(); ++i) {
        if (i) header += ",";
        header += std::to_string(it.tensor->shape()[i]);
      }
      header += "],\"data_offsets\":[" + std::to_string(it.begin) + "," + std::to_string(it.end) + "]}";
    }
    header += "}";
    // Pad with spaces (allowed trailing JSON whitespace) so the data starts at
    // a multiple of 8 bytes from the start of the file.
    while ((8 + header.size()) % 8 != 0) header += ' ';
    if (header.size() > kMaxHeaderBytes)
      return resourceExhausted("cannot save: the header would be ", header.size(), " bytes, over the limit of ",
                               kMaxHeaderBytes);

    std::string outBytes;
    outBytes.reserve(8 + header.size() + static_cast<size_t>(dataSize));
    uint64_t hl = header.size();
    for (int i = 0; i < 8; ++i) outBytes += static_cast<char>((hl >> (8 * i)) & 0xFF);
    outBytes += header;
    for (const Item* it : layout)
      outBytes.append(static_cast<const char*>(it->tensor->data()), it->tensor->nbytes());
    return outBytes;
  } catch (const std::bad_alloc&) {
    return resourceExhausted("out of memory serialising safetensors");
  } catch (const std::exception& ex) {
    return internalError("unexpected error serialising safetensors: ", ex.what());
  }
}

Status saveSafetensors(const std::string& path, const WeightSet& weights) {
  auto bytes = serializeSafetensors(weights);
  if (!bytes.ok()) return bytes.status().withContext(path);
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return invalidArgument(path, ": cannot create temporary file ", tmp, ": ", errnoText(errno));
  auto fail = [&](const char* what, int err, bool open) -> Status {
    if (open) ::close(fd);
    ::unlink(tmp.c_str());
    return invalidArgument(path, ": cannot ", what, " temporary file ", tmp, ": ", errnoText(err));
  };
  if (!writeAll(fd, bytes->data(), bytes->size())) return fail("write", errno, true);
  if (::fsync(fd) != 0) return fail("sync", errno, true);
  if (::close(fd) != 0) return fail("close", errno, false);
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    return invalidArgument(path, ": cannot rename ", tmp, " over it: ", errnoText(err));
  }
  return Status::OK();
}

}  // namespace sy
