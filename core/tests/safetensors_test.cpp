#include "switchyard/safetensors.h"

#include <gtest/gtest.h>
#include <chrono>
#include <sys/stat.h>
#include <unistd.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <dirent.h>
#include <fstream>
#include <initializer_list>
#include <limits>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr double kSanitizerSlowdown = 10;  // time bounds stretch under ASan/TSan builds
#else
constexpr double kSanitizerSlowdown = 1;
#endif

#include "test_util.h"

namespace sy {
namespace {

// ---------------------------------------------------------------- helpers

/// A fresh directory under the gtest temp dir, removed (with its files) at the end.
class TempDir {
 public:
  TempDir() {
    std::string base = ::testing::TempDir();
    if (base.empty() || base.back() != '/') base += '/';
    std::string tmpl = base + "sy_safetensors_XXXXXX";
    std::vector<char> buf(tmpl.begin(), tmpl.end());
    buf.push_back('\0');
    char* p = ::mkdtemp(buf.data());
    EXPECT_NE(p, nullptr) << "mkdtemp " << tmpl << ": " << std::strerror(errno);
    path_ = p ? p : base;
  }
  ~TempDir() {
    for (const std::string& f : files()) {
      const std::string p = path_ + "/" + f;
      if (::unlink(p.c_str()) != 0) ::rmdir(p.c_str());  // the tests make only empty subdirectories
    }
    ::rmdir(path_.c_str());
  }
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }
  std::vector<std::string> files() const {
    std::vector<std::string> out;
    if (DIR* d = ::opendir(path_.c_str())) {
      while (dirent* e = ::readdir(d)) {
        std::string n = e->d_name;
        if (n != "." && n != "..") out.push_back(n);
      }
      ::closedir(d);
    }
    return out;
  }

 private:
  std::string path_;
};

std::string readFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}
void writeFile(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

/// Parses a copy of `bytes` held in a heap block of exactly that size, so
/// that a sanitizer catches any read past the end.
Result<WeightSet> parseCopy(const std::string& bytes, const std::string& origin = "test.safetensors") {
  std::shared_ptr<char[]> buf(new char[bytes.empty() ? 1 : bytes.size()]);
  if (!bytes.empty()) std::memcpy(buf.get(), bytes.data(), bytes.size());
  std::shared_ptr<const void> keep(buf, buf.get());
  return parseSafetensors(buf.get(), bytes.size(), keep, origin);
}

/// A file image: little-endian length, header text, data.
std::string image(const std::string& header, const std::string& data = "", uint64_t lengthField = UINT64_MAX) {
  const uint64_t n = lengthField == UINT64_MAX ? header.size() : lengthField;
  std::string out;
  for (int i = 0; i < 8; ++i) out += static_cast<char>((n >> (8 * i)) & 0xFF);
  return out + header + data;
}

/// Reads every element of every tensor (so a sanitizer sees any bad view).
double touchAll(const WeightSet& w) {
  double sum = 0;
  for (const auto& [name, t] : w.tensors)
    for (int64_t i = 0; i < t.numel(); ++i) {
      const double v = t.getDouble(i);
      if (!std::isnan(v)) sum += v;
    }
  return sum;
}

::testing::AssertionResult isErrorWith(const Result<WeightSet>& r, std::initializer_list<std::string> parts) {
  if (r.ok()) return ::testing::AssertionFailure() << "parsed OK, expected an error";
  const std::string msg = r.status().message();
  for (const std::string& p : parts)
    if (msg.find(p) == std::string::npos)
      return ::testing::AssertionFailure() << "message lacks \"" << p << "\": " << r.status().toString();
  return ::testing::AssertionSuccess();
}

Tensor ints(DType d, Shape s, std::vector<int64_t> v) {
  auto r = Tensor::fromInts(d, std::move(s), v);
  EXPECT_TRUE(r.ok()) << r.status().toString();
  return r.ok() ? *r : Tensor();
}

/// One tensor of every dtype, plus rank-0 and empty ones, plus metadata.
WeightSet sampleWeights() {
  WeightSet w;
  w.tensors["f32"] = testing::T(DType::F32, {2, 3}, {1.5, -2, 0, 3e38, -1e-38, INFINITY});
  w.tensors["f16"] = testing::T(DType::F16, {3}, {0.5, -65504, NAN});
  w.tensors["bf16"] = testing::T(DType::BF16, {2, 1}, {1, -3e38});
  w.tensors["i8"] = ints(DType::I8, {5}, {-128, -1, 0, 1, 127});
  w.tensors["i32"] = ints(DType::I32, {2, 2}, {std::numeric_limits<int32_t>::min(), -7, 7, 2147483647});
  w.tensors["i64"] = ints(DType::I64, {3}, {std::numeric_limits<int64_t>::min(), 0, std::numeric_limits<int64_t>::max()});
  w.tensors["bool"] = ints(DType::Bool, {2, 2}, {1, 0, 0, 1});
  w.tensors["u8"] = ints(DType::U8, {3}, {0, 128, 255});
  w.tensors["i16"] = ints(DType::I16, {3}, {-32768, 1, 32767});
  w.tensors["u16"] = ints(DType::U16, {2}, {0, 65535});
  w.tensors["u32"] = ints(DType::U32, {2}, {0, 4294967295});
  w.tensors["u64"] = ints(DType::U64, {2}, {0, -1});  // -1: all bits set, 2^64 - 1
  w.tensors["f64"] = testing::T(DType::F64, {3}, {0.1, -1e300, 4.9e-324});
  w.tensors["scalar.f32"] = Tensor::scalarF32(42.25f);
  w.tensors["scalar.i64"] = Tensor::scalarI64(-9);
  w.tensors["scalar.bool"] = Tensor::scalarBool(true);
  w.tensors["empty.f32"] = Tensor::allocate(DType::F32, {0, 3}).value();
  w.tensors["empty.i8"] = Tensor::allocate(DType::I8, {4, 0}).value();
  w.tensors["odd.i8"] = ints(DType::I8, {3}, {9, 8, 7});  // odd byte count, before wider dtypes by name
  w.tensors["layer.0/weight \"quoted\" \xc3\xa9"] = testing::F({2}, {1, 2});  // needs JSON escaping, UTF-8
  w.metadata["format"] = "pt";
  w.metadata["note"] = "line\nbreak \"quotes\" \xe2\x82\xac";
  return w;
}

void expectSameWeights(const WeightSet& a, const WeightSet& b) {
  ASSERT_EQ(a.tensors.size(), b.tensors.size());
  for (const auto& [name, t] : a.tensors) {
    auto it = b.tensors.find(name);
    ASSERT_NE(it, b.tensors.end()) << name;
    EXPECT_TRUE(it->second.valid()) << name;
    EXPECT_EQ(it->second.dtype(), t.dtype()) << name;
    EXPECT_EQ(it->second.shape(), t.shape()) << name;
    EXPECT_TRUE(it->second.bitwiseEqual(t)) << name << ": " << it->second.toString() << " vs " << t.toString();
  }
  EXPECT_EQ(a.metadata, b.metadata);
}

uint64_t headerLength(const std::string& bytes) {
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<unsigned char>(bytes[static_cast<size_t>(i)]);
  return n;
}

// ---------------------------------------------------------------- round trips

TEST(Safetensors, RoundTripEveryDTypeThroughAFile) {
  TempDir dir;
  const WeightSet w = sampleWeights();
  const std::string path = dir.file("model.safetensors");
  ASSERT_TRUE(saveSafetensors(path, w).ok());
  auto loaded = loadSafetensors(path);
  ASSERT_TRUE(loaded.ok()) << loaded.status().toString();
  expectSameWeights(w, *loaded);
  EXPECT_EQ(loaded->tensors.at("scalar.f32").rank(), 0);
  EXPECT_EQ(loaded->tensors.at("scalar.f32").getDouble(0), 42.25);
  EXPECT_EQ(loaded->tensors.at("empty.f32").numel(), 0);
  EXPECT_EQ(loaded->tensors.at("empty.i8").shape(), (Shape{4, 0}));
  EXPECT_TRUE(std::isnan(loaded->tensors.at("f16").getDouble(2)));
  // Only the final file is left: no temporary.
  EXPECT_EQ(dir.files(), std::vector<std::string>{"model.safetensors"});
}

TEST(Safetensors, RoundTripInMemoryAndDeterministic) {
  const WeightSet w = sampleWeights();
  auto bytes = serializeSafetensors(w);
  ASSERT_TRUE(bytes.ok()) << bytes.status().toString();
  auto parsed = parseCopy(*bytes);
  ASSERT_TRUE(parsed.ok()) << parsed.status().toString();
  expectSameWeights(w, *parsed);
  auto again = serializeSafetensors(*parsed);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, *bytes);
}

TEST(Safetensors, EmptyWeightSetRoundTrips) {
  auto bytes = serializeSafetensors(WeightSet{});
  ASSERT_TRUE(bytes.ok());
  auto parsed = parseCopy(*bytes);
  ASSERT_TRUE(parsed.ok()) << parsed.status().toString();
  EXPECT_TRUE(parsed->tensors.empty());
  EXPECT_TRUE(parsed->metadata.empty());
  EXPECT_EQ(bytes->find("__metadata__"), std::string::npos);  // not written when empty
}

TEST(Safetensors, LayoutAlignedAndSorted) {
  const WeightSet w = sampleWeights();
  auto bytes = serializeSafetensors(w);
  ASSERT_TRUE(bytes.ok());
  const uint64_t n = headerLength(*bytes);
  EXPECT_EQ((8 + n) % 8, 0u) << "data must start 8-byte aligned";
  const std::string header = bytes->substr(8, n);
  EXPECT_EQ(header.back() == ' ' || header.back() == '}', true);
  EXPECT_NE(header.find("\"__metadata__\":{\"format\":\"pt\""), std::string::npos) << header;
  // Names appear in sorted order.
  size_t pBf16 = header.find("\"bf16\""), pBool = header.find("\"bool\""), pF16 = header.find("\"f16\""),
         pI8 = header.find("\"i8\"");
  EXPECT_LT(pBf16, pBool);
  EXPECT_LT(pBool, pF16);
  EXPECT_LT(pF16, pI8);
  // Data: contiguous, and every tensor aligned for its dtype (the mapping is
  // page-aligned, so pointer alignment reflects file-offset alignment).
  TempDir dir;
  ASSERT_TRUE(saveSafetensors(dir.file("a.safetensors"), w).ok());
  auto loaded = loadSafetensors(dir.file("a.safetensors"));
  ASSERT_TRUE(loaded.ok());
  size_t total = 0;
  for (const auto& [name, t] : loaded->tensors) {
    EXPECT_EQ(reinterpret_cast<uintptr_t>(t.data()) % dtypeSize(t.dtype()), 0u) << name;
    total += t.nbytes();
  }
  EXPECT_EQ(bytes->size(), 8 + n + total) << "data must be contiguous";
}

TEST(Safetensors, ReadsForeignHeaderStyle) {
  // As other writers produce it: metadata first, whitespace, keys unsorted.
  float vals[2] = {1.0f, -2.0f};
  std::string data(reinterpret_cast<const char*>(vals), sizeof vals);
  data += std::string("\x05\x00", 2);
  const std::string header =
      "{ \"__metadata__\": {\"format\": \"pt\"},\n \"w\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]},"
      " \"b\": {\"data_offsets\": [8, 10], \"shape\": [], \"dtype\": \"F16\", \"extra\": 1}}   ";
  auto r = parseCopy(image(header, data));
  ASSERT_TRUE(r.ok()) << r.status().toString();
  EXPECT_TENSOR(r->tensors.at("w"), DType::F32, Shape{2}, {1, -2});
  EXPECT_EQ(r->tensors.at("b").rank(), 0);
  EXPECT_EQ(r->metadata.at("format"), "pt");
}

TEST(Safetensors, UnalignedDataStillReadsCorrectly) {
  // Header of odd length: the data (and so the f32/i64 tensors) start at an
  // odd address. Element access goes through memcpy, so this is safe.
  std::string data(1, '\x01');  // one i8 first, to misalign what follows
  float f = 3.5f;
  int64_t i = -123456789012345;
  data.append(reinterpret_cast<const char*>(&f), 4);
  data.append(reinterpret_cast<const char*>(&i), 8);
  const std::string header =
      "{\"a\":{\"dtype\":\"I8\",\"shape\":[1],\"data_offsets\":[0,1]},"
      "\"f\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[1,5]},"
      "\"i\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[5,13]}}";
  std::string h = header;
  if ((8 + h.size()) % 2 != 0) h += ' ';  // data base even, so "f" is at an odd address
  auto r = parseCopy(image(h, data));
  ASSERT_TRUE(r.ok()) << r.status().toString();
  EXPECT_NE(reinterpret_cast<uintptr_t>(r->tensors.at("f").data()) % 4, 0u);
  EXPECT_EQ(r->tensors.at("f").getDouble(0), 3.5);
  EXPECT_EQ(r->tensors.at("i").getInt(0), -123456789012345);
}

// ---------------------------------------------------------------- borrowing

#ifdef __linux__
/// The path of the mapping in /proc/self/maps that contains `p`, or "".
std::string mappingOf(const void* p) {
  std::ifstream maps("/proc/self/maps");
  std::string line;
  const auto addr = reinterpret_cast<uintptr_t>(p);
  while (std::getline(maps, line)) {
    unsigned long lo = 0, hi = 0;
    if (std::sscanf(line.c_str(), "%lx-%lx", &lo, &hi) != 2) continue;
    if (addr >= lo && addr < hi) {
      const size_t slash = line.find('/');
      return slash == std::string::npos ? "" : line.substr(slash);
    }
  }
  return "";
}
bool anyMappingOf(const std::string& path) {
  std::ifstream maps("/proc/self/maps");
  std::string line;
  while (std::getline(maps, line))
    if (line.size() >= path.size() && line.compare(line.size() - path.size(), path.size(), path) == 0) return true;
  return false;
}
#endif

TEST(Safetensors, LoadedTensorsBorrowTheMappingAndOutliveTheWeightSet) {
  TempDir dir;
  const std::string path = dir.file("borrow.safetensors");
  WeightSet w;
  w.tensors["a"] = testing::F({4}, {1, 2, 3, 4});
  w.tensors["b"] = ints(DType::I32, {2}, {5, 6});
  ASSERT_TRUE(saveSafetensors(path, w).ok());
  const std::string bytes = readFile(path);
  const uint64_t n = headerLength(bytes);

  Tensor a;
  {
    auto loaded = loadSafetensors(path);
    ASSERT_TRUE(loaded.ok()) << loaded.status().toString();
    const Tensor& la = loaded->tensors.at("a");
    const Tensor& lb = loaded->tensors.at("b");
    // Both views point into one image of the file: the bytes before each
    // tensor's data are the file's own header.
    const auto* pa = static_cast<const char*>(la.data());
    const auto* pb = static_cast<const char*>(lb.data());
    // "a" (16 bytes) is laid out first, then "b".
    EXPECT_EQ(std::memcmp(pa - 8 - n, bytes.data(), 8 + n), 0) << "tensor data is not inside the file image";
    EXPECT_EQ(pb - pa, 16) << "tensors are not views of one contiguous image";
#ifdef __linux__
    EXPECT_EQ(mappingOf(la.data()), path) << "tensor data is not in the file's mapping";
#endif
    a = la;  // keep one tensor beyond the WeightSet
  }
  ASSERT_EQ(::unlink(path.c_str()), 0);  // and beyond the file's name
  EXPECT_TENSOR(a, DType::F32, Shape{4}, {1, 2, 3, 4});
#ifdef __linux__
  EXPECT_TRUE(anyMappingOf(path + " (deleted)") || anyMappingOf(path)) << "mapping released too early";
  a = Tensor();
  EXPECT_FALSE(anyMappingOf(path + " (deleted)") || anyMappingOf(path)) << "mapping not released";
#endif
}

TEST(Safetensors, ParseBorrowsTheBufferAndHoldsKeepalive) {
  auto bytes = serializeSafetensors(sampleWeights());
  ASSERT_TRUE(bytes.ok());
  auto buf = std::make_shared<std::string>(*bytes);
  std::weak_ptr<std::string> watch = buf;
  Tensor kept;
  {
    auto r = parseSafetensors(buf->data(), buf->size(), buf, "mem");
    ASSERT_TRUE(r.ok()) << r.status().toString();
    for (const auto& [name, t] : r->tensors) {
      const auto* p = static_cast<const char*>(t.data());
      EXPECT_GE(p, buf->data()) << name;
      EXPECT_LE(p + t.nbytes(), buf->data() + buf->size()) << name;
    }
    kept = r->tensors.at("i64");
  }
  buf.reset();
  EXPECT_FALSE(watch.expired()) << "the tensor must keep the buffer alive";
  EXPECT_EQ(kept.getInt(2), std::numeric_limits<int64_t>::max());
  kept = Tensor();
  EXPECT_TRUE(watch.expired());
}

// ---------------------------------------------------------------- load / save errors

TEST(Safetensors, LoadErrorsForMissingDirectoryEmptyAndShortFiles) {
  TempDir dir;
  auto missing = loadSafetensors(dir.file("nope.safetensors"));
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("nope.safetensors"), std::string::npos);
  EXPECT_NE(missing.status().message().find(std::strerror(ENOENT)), std::string::npos) << missing.status().message();

  auto isDir = loadSafetensors(dir.path());
  ASSERT_FALSE(isDir.ok());
  EXPECT_NE(isDir.status().message().find("directory"), std::string::npos) << isDir.status().message();
  EXPECT_NE(isDir.status().message().find(dir.path()), std::string::npos);

  writeFile(dir.file("empty.safetensors"), "");
  auto empty = loadSafetensors(dir.file("empty.safetensors"));
  ASSERT_FALSE(empty.ok());
  EXPECT_NE(empty.status().message().find("empty"), std::string::npos) << empty.status().message();
  EXPECT_NE(empty.status().message().find("empty.safetensors"), std::string::npos);

  writeFile(dir.file("short.safetensors"), "abc");
  auto shortFile = loadSafetensors(dir.file("short.safetensors"));
  ASSERT_FALSE(shortFile.ok());
  EXPECT_NE(shortFile.status().message().find("too short"), std::string::npos) << shortFile.status().message();
  EXPECT_NE(shortFile.status().message().find("short.safetensors"), std::string::npos);

  writeFile(dir.file("bad.safetensors"), image("{\"x\":1}"));
  auto bad = loadSafetensors(dir.file("bad.safetensors"));
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find(dir.file("bad.safetensors")), std::string::npos) << bad.status().message();
}

TEST(Safetensors, SaveRefusesBadInputAndLeavesNoTemporary) {
  TempDir dir;
  const std::string path = dir.file("out.safetensors");
  writeFile(path, "previous contents");

  WeightSet invalid;
  invalid.tensors["ok"] = testing::F({1}, {1});
  invalid.tensors["absent"] = Tensor();
  Status s = saveSafetensors(path, invalid);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("'absent'"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("invalid"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find(path), std::string::npos) << s.message();

  WeightSet reserved;
  reserved.tensors["__metadata__"] = testing::F({1}, {1});
  s = saveSafetensors(path, reserved);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("__metadata__"), std::string::npos) << s.message();

  WeightSet badUtf8;
  badUtf8.tensors["bad\xff"] = testing::F({1}, {1});
  s = saveSafetensors(path, badUtf8);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("UTF-8"), std::string::npos) << s.message();
  WeightSet badMeta;
  badMeta.metadata["k"] = "\xc3";
  s = saveSafetensors(path, badMeta);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("UTF-8"), std::string::npos) << s.message();

  EXPECT_EQ(readFile(path), "previous contents") << "a failed save must not touch the target";

  s = saveSafetensors(dir.file("no/such/dir/out.safetensors"), sampleWeights());
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("no/such/dir"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find(std::strerror(ENOENT)), std::string::npos) << s.message();

  // Saving over an existing file replaces it.
  ASSERT_TRUE(saveSafetensors(path, sampleWeights()).ok());
  auto loaded = loadSafetensors(path);
  ASSERT_TRUE(loaded.ok()) << loaded.status().toString();
  expectSameWeights(sampleWeights(), *loaded);
  EXPECT_EQ(dir.files(), std::vector<std::string>{"out.safetensors"});
}

TEST(Safetensors, SaveToADirectoryPathFailsAndCleansUp) {
  TempDir dir;
  ASSERT_EQ(::mkdir(dir.file("target").c_str(), 0755), 0);
  Status s = saveSafetensors(dir.file("target"), sampleWeights());
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("rename"), std::string::npos) << s.message();
  auto files = dir.files();
  EXPECT_EQ(files, std::vector<std::string>{"target"}) << "temporary file left behind";
}

// ---------------------------------------------------------------- bad input corpus

/// A small valid image: two f32 tensors and metadata.
std::string smallValid() {
  WeightSet w;
  w.tensors["a"] = testing::F({2}, {1, 2});
  w.tensors["b"] = ints(DType::I8, {3}, {1, 2, 3});
  w.metadata["m"] = "v";
  return serializeSafetensors(w).value();
}

TEST(Safetensors, EveryTruncationIsAnError) {
  const std::string full = smallValid();
  ASSERT_TRUE(parseCopy(full).ok());
  for (size_t len = 0; len < full.size(); ++len) {
    auto r = parseCopy(full.substr(0, len), "cut.safetensors");
    ASSERT_FALSE(r.ok()) << "prefix of " << len << " bytes parsed";
    EXPECT_NE(r.status().message().find("cut.safetensors"), std::string::npos) << r.status().message();
  }
}

TEST(Safetensors, HeaderLengthErrors) {
  auto tooLong = parseCopy(image("{}", "", 1000));
  EXPECT_TRUE(isErrorWith(tooLong, {"test.safetensors", "header length 1000", "larger than the 2 bytes"}));
  auto absurd = parseCopy(image("{}", "", uint64_t{1} << 40));
  EXPECT_TRUE(isErrorWith(absurd, {"header length 1099511627776", "absurd", "100000000"}));
  auto maxLen = parseCopy(image("{}", "", UINT64_MAX - 1));
  EXPECT_TRUE(isErrorWith(maxLen, {"absurd"}));
  auto zero = parseCopy(image("", "xxxx"));
  EXPECT_TRUE(isErrorWith(zero, {"not valid JSON"}));
}

struct BadCase {
  const char* what;
  std::string header;
  std::string data;
  std::vector<std::string> expect;
};

TEST(Safetensors, BadHeaderCorpus) {
  const std::string d16(16, '\0');
  auto entry = [](const std::string& name, const std::string& dtype, const std::string& shape, const std::string& offs) {
    return "\"" + name + "\":{\"dtype\":\"" + dtype + "\",\"shape\":" + shape + ",\"data_offsets\":" + offs + "}";
  };
  const std::vector<BadCase> cases = {
      {"invalid JSON", "{\"a\": {", d16, {"not valid JSON"}},
      {"garbage", "hello world", d16, {"not valid JSON"}},
      {"trailing garbage", "{} x", d16, {"not valid JSON"}},
      {"invalid UTF-8", "{\"a\xff\":1}", d16, {"not valid JSON"}},
      {"not an object", "[1, 2]", d16, {"must be a JSON object", "array"}},
      {"null header", "null", d16, {"must be a JSON object", "null"}},
      {"non-object entry", "{\"w\": 5}", d16, {"tensor 'w'", "must be a JSON object", "number"}},
      {"missing dtype", "{\"w\":{\"shape\":[1],\"data_offsets\":[0,4]}}", d16, {"tensor 'w'", "\"dtype\""}},
      {"missing shape", "{\"w\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", d16, {"tensor 'w'", "\"shape\""}},
      {"missing offsets", "{\"w\":{\"dtype\":\"F32\",\"shape\":[1]}}", d16, {"tensor 'w'", "\"data_offsets\""}},
      {"dtype not a string", "{\"w\":{\"dtype\":32,\"shape\":[1],\"data_offsets\":[0,4]}}", d16,
       {"tensor 'w'", "\"dtype\" must be a string", "number"}},
      {"unknown dtype", "{" + entry("w", "Q7", "[1]", "[0,4]") + "}", d16, {"tensor 'w'", "unknown dtype 'Q7'"}},
      {"unsupported dtype", "{" + entry("w", "C64", "[2]", "[0,16]") + "}", d16,
       {"tensor 'w'", "'C64'", "not supported by Switchyard"}},
      {"unsupported F8", "{" + entry("w", "F8_E4M3", "[2]", "[0,2]") + "}", d16, {"tensor 'w'", "'F8_E4M3'", "not supported"}},
      {"shape not an array", "{" + entry("w", "F32", "4", "[0,16]") + "}", d16, {"tensor 'w'", "\"shape\" must be an array"}},
      {"negative dim", "{" + entry("w", "F32", "[2,-2]", "[0,16]") + "}", d16, {"tensor 'w'", "shape[1] is -2", "negative"}},
      {"fractional dim", "{" + entry("w", "F32", "[2.5]", "[0,16]") + "}", d16, {"tensor 'w'", "shape[0] is 2.5", "not an integer"}},
      {"string dim", "{" + entry("w", "F32", "[\"4\"]", "[0,16]") + "}", d16, {"tensor 'w'", "shape[0]", "string"}},
      {"dim beyond int64", "{" + entry("w", "F32", "[18446744073709551615]", "[0,16]") + "}", d16,
       {"tensor 'w'", "shape[0] is 18446744073709551615", "largest int64"}},
      {"dims overflow", "{" + entry("w", "F32", "[4294967296,4294967296]", "[0,16]") + "}", d16,
       {"tensor 'w'", "[4294967296, 4294967296]", "more elements than fit in 64 bits"}},
      {"bytes overflow", "{" + entry("w", "I64", "[4611686018427387904]", "[0,16]") + "}", d16,
       {"tensor 'w'", "4611686018427387904", "more than fit in 64 bits"}},
      {"huge dims, bounded by the file", "{" + entry("w", "F32", "[1000000,1000000]", "[0,16]") + "}", d16,
       {"tensor 'w'", "hold 16 bytes", "needs 4000000000000"}},
      {"offsets not an array", "{" + entry("w", "F32", "[4]", "16") + "}", d16, {"tensor 'w'", "two integers", "16"}},
      {"three offsets", "{" + entry("w", "F32", "[4]", "[0,8,16]") + "}", d16, {"tensor 'w'", "two integers", "[0,8,16]"}},
      {"negative offset", "{" + entry("w", "F32", "[4]", "[-4,12]") + "}", d16, {"tensor 'w'", "data_offsets[0] is -4", "negative"}},
      {"fractional offset", "{" + entry("w", "F32", "[4]", "[0,16.0]") + "}", d16, {"tensor 'w'", "data_offsets[1]", "not an integer"}},
      {"offsets swapped", "{" + entry("w", "F32", "[2]", "[8,0]") + "}", d16, {"tensor 'w'", "[8, 0]", "begin 8 > end 0"}},
      {"offsets past the end", "{" + entry("w", "F32", "[8]", "[0,32]") + "}", d16,
       {"tensor 'w'", "[0, 32]", "16-byte data buffer", "by 16 bytes"}},
      {"huge end", "{" + entry("w", "F32", "[1]", "[0,18446744073709551615]") + "}", d16, {"tensor 'w'", "past the end of the 16-byte"}},
      {"size mismatch", "{" + entry("w", "F32", "[3]", "[0,16]") + "}", d16,
       {"tensor 'w'", "[0, 16] hold 16 bytes", "F32 shape [3] needs 12", "3 elements x 4 bytes"}},
      {"overlap", "{" + entry("a", "F32", "[3]", "[0,12]") + "," + entry("b", "F32", "[2]", "[8,16]") + "}", d16,
       {"'a'", "'b'", "[0, 12]", "[8, 16]", "overlap by 4 bytes"}},
      {"same range", "{" + entry("a", "I32", "[2]", "[0,8]") + "," + entry("b", "F32", "[2]", "[0,8]") + "}", d16,
       {"'a'", "'b'", "overlap by 8 bytes"}},
      {"nested inside", "{" + entry("a", "I8", "[16]", "[0,16]") + "," + entry("b", "I8", "[2]", "[4,6]") + "}", d16,
       {"'a'", "'b'", "overlap by 2 bytes"}},
      {"metadata not an object", "{\"__metadata__\": [1]}", d16, {"\"__metadata__\" must be an object", "array"}},
      {"metadata non-string value", "{\"__metadata__\": {\"k\": \"v\", \"n\": 3}}", d16,
       {"__metadata__", "key 'n'", "must be a string", "number"}},
      {"metadata null value", "{\"__metadata__\": {\"n\": null}}", d16, {"key 'n'", "null"}},
      {"duplicate tensor", "{" + entry("w", "F32", "[1]", "[0,4]") + "," + entry("w", "F32", "[1]", "[4,8]") + "}", d16,
       {"tensor 'w' appears twice"}},
      {"duplicate field", "{\"w\":{\"dtype\":\"F32\",\"dtype\":\"I32\",\"shape\":[1],\"data_offsets\":[0,4]}}", d16,
       {"tensor 'w'", "'dtype' twice"}},
      {"duplicate metadata", "{\"__metadata__\":{},\"__metadata__\":{}}", d16, {"two \"__metadata__\""}},
      {"duplicate metadata key", "{\"__metadata__\":{\"k\":\"1\",\"k\":\"2\"}}", d16, {"__metadata__", "'k' twice"}},
      {"too deep", "{\"w\":" + std::string(40, '[') + std::string(40, ']') + "}", d16, {"deeper than"}},
      {"control chars in name", "{\"a\\u0001\\nb\": 1}", d16, {"tensor 'a\\x01\\x0ab'"}},
  };
  for (const BadCase& c : cases) {
    auto r = parseCopy(image(c.header, c.data), "bad.safetensors");
    ASSERT_FALSE(r.ok()) << c.what << ": parsed OK";
    EXPECT_NE(r.status().message().find("bad.safetensors"), std::string::npos) << c.what << ": " << r.status().message();
    for (const std::string& e : c.expect)
      EXPECT_NE(r.status().message().find(e), std::string::npos)
          << c.what << ": message lacks \"" << e << "\": " << r.status().toString();
  }
}

TEST(Safetensors, ErrorCodes) {
  const std::string d(16, '\0');
  auto unsupported = parseCopy(image("{\"w\":{\"dtype\":\"C64\",\"shape\":[2],\"data_offsets\":[0,16]}}", d));
  ASSERT_FALSE(unsupported.ok());
  EXPECT_EQ(unsupported.status().code(), StatusCode::kUnimplemented);
  auto past = parseCopy(image("{\"w\":{\"dtype\":\"F32\",\"shape\":[8],\"data_offsets\":[0,32]}}", d));
  ASSERT_FALSE(past.ok());
  EXPECT_EQ(past.status().code(), StatusCode::kOutOfRange);
  auto json = parseCopy(image("{", d));
  ASSERT_FALSE(json.ok());
  EXPECT_EQ(json.status().code(), StatusCode::kInvalidArgument);
}

TEST(Safetensors, EdgeCasesThatAreValid) {
  // Empty tensors anywhere (even at the very end, or "inside" another tensor)
  // hold no bytes and overlap nothing; huge dims are fine when one is 0; gaps
  // between tensors are tolerated.
  const std::string d(16, '\x01');
  const std::string header =
      "{\"a\":{\"dtype\":\"I8\",\"shape\":[8],\"data_offsets\":[0,8]},"
      "\"e1\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[4,4]},"
      "\"e2\":{\"dtype\":\"I64\",\"shape\":[4611686018427387904,0],\"data_offsets\":[16,16]},"
      "\"b\":{\"dtype\":\"BOOL\",\"shape\":[2,2],\"data_offsets\":[12,16]}}";
  auto r = parseCopy(image(header, d));
  ASSERT_TRUE(r.ok()) << r.status().toString();
  EXPECT_EQ(r->tensors.size(), 4u);
  EXPECT_EQ(r->tensors.at("e2").numel(), 0);
  EXPECT_EQ(r->tensors.at("b").getInt(3), 1);
  EXPECT_EQ(touchAll(*r), 8 + 4);
}

// ---------------------------------------------------------------- fuzzing

TEST(Safetensors, RandomByteFlipsNeverCrash) {
  WeightSet w;
  w.tensors["a"] = testing::F({2, 2}, {1, 2, 3, 4});
  w.tensors["b"] = ints(DType::I8, {3}, {1, 2, 3});
  w.tensors["c"] = testing::T(DType::BF16, {}, {7});
  w.tensors["d"] = ints(DType::I64, {1}, {5});
  w.metadata["m"] = "v";
  const std::string valid = serializeSafetensors(w).value();
  const size_t headerEnd = 8 + static_cast<size_t>(headerLength(valid));
  std::mt19937 rng(20240607);
  int ok = 0, errors = 0;
  const char* kInteresting = "0123456789[]{},:\"-. eE";
  for (int iter = 0; iter < 4000; ++iter) {
    std::string m = valid;
    const int flips = 1 + static_cast<int>(rng() % 4);
    for (int f = 0; f < flips; ++f) {
      // Mostly hit the header (where the structure is); sometimes anywhere.
      const size_t pos = (rng() % 4 != 0) ? rng() % headerEnd : rng() % m.size();
      switch (rng() % 3) {
        case 0: m[pos] = static_cast<char>(m[pos] ^ (1u << (rng() % 8))); break;
        case 1: m[pos] = static_cast<char>(rng() & 0xFF); break;
        default: m[pos] = kInteresting[rng() % std::strlen(kInteresting)]; break;
      }
    }
    if (rng() % 8 == 0) m.resize(rng() % (m.size() + 1));  // sometimes also truncate
    auto r = parseCopy(m, "fuzz");
    if (r.ok()) {
      ++ok;
      touchAll(*r);
      for (const auto& [name, t] : r->tensors) ASSERT_TRUE(t.valid()) << name;
    } else {
      ++errors;
      EXPECT_FALSE(r.status().message().empty());
      EXPECT_EQ(r.status().message().rfind("fuzz", 0), 0u) << r.status().message();
    }
  }
  EXPECT_GT(errors, 0);
  EXPECT_GT(ok, 0);  // some flips (in the data, or harmless) must still parse
}


TEST(Safetensors, ManyHeaderEntriesParseInLinearTime) {
  // 40000 entries took 11 s: nlohmann's callback parser scanned the whole
  // top-level object at the end of every entry.
  auto parseN = [](int n) {
    std::string header = "{";
    std::string data;
    for (int i = 0; i < n; ++i) {
      if (i) header += ",";
      header += "\"t" + std::to_string(i) + "\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[" +
                std::to_string(4 * i) + "," + std::to_string(4 * i + 4) + "]}";
      data.append(4, '\0');
    }
    header += "}";
    const std::string bytes = image(header, data);
    const auto t0 = std::chrono::steady_clock::now();
    auto w = parseCopy(bytes);
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    EXPECT_TRUE(w.ok()) << w.status().toString();
    if (w.ok()) {
      EXPECT_EQ(w->tensors.size(), static_cast<size_t>(n));
    }
    return s;
  };
  const double small = parseN(5000);
  const double big = parseN(40000);
  EXPECT_LT(big, 3.0 * kSanitizerSlowdown) << "40000 entries took " << big << " s";
  EXPECT_LT(big, 32 * small + 1.0) << "5000 entries: " << small << " s, 40000: " << big << " s (not linear)";
  // Duplicates and depth are still caught by the checking pass.
  auto dup = parseCopy(image(R"({"a":{"dtype":"F32","shape":[0],"data_offsets":[0,0]},"a":{}})"));
  ASSERT_FALSE(dup.ok());
  EXPECT_NE(dup.status().message().find("tensor 'a' appears twice"), std::string::npos) << dup.status().message();
  auto deep = parseCopy(image(std::string(10000, '[') + std::string(10000, ']')));
  ASSERT_FALSE(deep.ok());
  EXPECT_NE(deep.status().message().find("nests deeper"), std::string::npos) << deep.status().message();
}

TEST(Safetensors, AFifoIsRefusedWithoutBlocking) {
  const std::string path = ::testing::TempDir() + "/sy_fifo_" + std::to_string(::getpid()) + ".safetensors";
  ::unlink(path.c_str());
  ASSERT_EQ(::mkfifo(path.c_str(), 0600), 0);
  auto w = loadSafetensors(path);  // used to block forever in open()
  ::unlink(path.c_str());
  ASSERT_FALSE(w.ok());
  EXPECT_NE(w.status().message().find("not a regular file"), std::string::npos) << w.status().message();
}

}  // namespace
}  // namespace sy
