// .npy reading and writing: round trips for every supported dtype, every
// malformed case we know of, and a fuzz over prefixes and bit flips.
#include "switchyard/npy.h"

#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <random>
#include <string>

namespace sy {
namespace {

std::string npyBytes(int major, const std::string& header, const std::string& data, bool pad = true) {
  std::string h = header;
  const size_t preamble = major == 1 ? 10 : 12;
  if (pad) {
    size_t total = preamble + h.size() + 1;
    h.append(((total + 63) / 64) * 64 - total, ' ');
    h += '\n';
  }
  std::string out = "\x93NUMPY";
  out += static_cast<char>(major);
  out += '\0';
  const uint32_t len = static_cast<uint32_t>(h.size());
  for (size_t i = 0; i < (major == 1 ? 2u : 4u); ++i) out += static_cast<char>((len >> (8 * i)) & 0xFF);
  return out + h + data;
}

std::string withByte(std::string s, size_t pos, char c) {
  s[pos] = c;
  return s;
}

std::string floats(std::initializer_list<float> v) {
  return std::string(reinterpret_cast<const char*>(std::data(v)), v.size() * sizeof(float));
}

Tensor sample(DType dt, Shape shape) {
  Tensor t = Tensor::allocate(dt, shape).value();
  for (int64_t i = 0; i < t.numel(); ++i) {
    if (dt == DType::Bool) t.setInt(i, i % 3 == 0);
    else if (isFloat(dt)) t.setDouble(i, 0.25 * static_cast<double>(i) - 3.0);
    else t.setInt(i, i * 7 - 20);
  }
  return t;
}

TEST(Npy, RoundTripEverySupportedDType) {
  for (DType dt : kAllDTypes) {
    if (dt == DType::BF16) continue;
    for (const Shape& shape : {Shape{}, Shape{0}, Shape{5}, Shape{2, 3}, Shape{2, 0, 4}, Shape{1, 2, 3, 4}}) {
      Tensor t = sample(dt, shape);
      auto bytes = encodeNpy(t);
      ASSERT_TRUE(bytes.ok()) << bytes.status().message();
      EXPECT_EQ(bytes->size() % 64, t.nbytes() % 64) << "data must start on a 64-byte boundary";
      auto back = parseNpy(*bytes, "mem.npy");
      ASSERT_TRUE(back.ok()) << dtypeName(dt) << shapeToString(shape) << ": " << back.status().message();
      EXPECT_TRUE(back->bitwiseEqual(t)) << dtypeName(dt) << shapeToString(shape);
    }
  }
}

TEST(Npy, HeaderLooksLikeNumpys) {
  auto bytes = encodeNpy(sample(DType::F32, {2, 3}));
  ASSERT_TRUE(bytes.ok());
  EXPECT_EQ(bytes->substr(0, 8), std::string("\x93NUMPY\x01\x00", 8));
  EXPECT_NE(bytes->find("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }"), std::string::npos);
  auto one = encodeNpy(sample(DType::I64, {7}));
  ASSERT_TRUE(one.ok());
  EXPECT_NE(one->find("'shape': (7,)"), std::string::npos);
  auto scalar = encodeNpy(sample(DType::Bool, {}));
  ASSERT_TRUE(scalar.ok());
  EXPECT_NE(scalar->find("'descr': '|b1'"), std::string::npos);
  EXPECT_NE(scalar->find("'shape': ()"), std::string::npos);
}

TEST(Npy, FileRoundTrip) {
  const std::string path = (std::filesystem::temp_directory_path() / "sy_npy_test_roundtrip.npy").string();
  Tensor t = sample(DType::F16, {3, 2});
  ASSERT_TRUE(writeNpyFile(t, path).ok());
  auto back = readNpyFile(path);
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_TRUE(back->bitwiseEqual(t));
  std::filesystem::remove(path);
}

TEST(Npy, MissingFileNamesIt) {
  auto r = readNpyFile("/nonexistent/dir/x.npy");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("/nonexistent/dir/x.npy"), std::string::npos);
}

TEST(Npy, Bf16IsRefusedOnWrite) {
  Tensor t = Tensor::allocate(DType::BF16, {2}).value();
  auto r = encodeNpy(t);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("bf16"), std::string::npos);
  const std::string path = (std::filesystem::temp_directory_path() / "sy_npy_test_bf16.npy").string();
  Status st = writeNpyFile(t, path);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find(path), std::string::npos);
}

TEST(Npy, Versions2And3AndPython2Longs) {
  const std::string data = floats({1, 2, 3, 4});
  for (int major : {2, 3}) {
    auto r = parseNpy(npyBytes(major, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }", data), "v.npy");
    ASSERT_TRUE(r.ok()) << r.status().message();
    EXPECT_EQ(r->shape(), (Shape{2, 2}));
    EXPECT_EQ(r->getDouble(3), 4.0);
  }
  auto r = parseNpy(npyBytes(1, "{'shape': (4L,), 'fortran_order': False, 'descr': '<f4'}", data), "v.npy");
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->shape(), (Shape{4}));
  // Double quotes and no padding are fine too.
  r = parseNpy(npyBytes(1, "{\"descr\": \"<f4\", \"fortran_order\": False, \"shape\": (4,)}", data, false), "v.npy");
  ASSERT_TRUE(r.ok()) << r.status().message();
}

TEST(Npy, OneByteTypesAcceptAnyOrderMark) {
  for (const char* d : {"|i1", "<i1", "=i1"}) {
    auto r = parseNpy(npyBytes(1, std::string("{'descr': '") + d + "', 'fortran_order': False, 'shape': (2,), }",
                               std::string("\x01\xff", 2)),
                      "i8.npy");
    ASSERT_TRUE(r.ok()) << d << ": " << r.status().message();
    EXPECT_EQ(r->dtype(), DType::I8);
    EXPECT_EQ(r->getInt(1), -1);
  }
  auto b = parseNpy(npyBytes(1, "{'descr': '|b1', 'fortran_order': False, 'shape': (3,), }", std::string("\x00\x01\x07", 3)),
                    "b.npy");
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->data<uint8_t>()[2], 1) << "bools are normalised to 0/1";
}

struct BadCase {
  const char* name;
  std::string bytes;
  const char* expect;  // a piece of the message
};

TEST(Npy, MalformedFilesAreErrorsThatSayWhat) {
  const std::string d4 = floats({1, 2, 3, 4});
  const std::string good = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }";
  std::vector<BadCase> cases = {
      {"empty", "", "truncated"},
      {"bad magic", "\x93NUMPZ\x01\x00", "magic"},
      {"not npy", "PK\x03\x04 this is a zip", "magic"},
      {"short magic", std::string("\x93NUM"), "truncated"},
      {"no version", std::string("\x93NUMPY"), "version"},
      {"version 4", withByte(npyBytes(1, good, d4), 6, 4), "version 4.0"},
      {"version 1.1", withByte(npyBytes(1, good, d4), 7, 1), "version 1.1"},
      {"no header length", std::string("\x93NUMPY\x01\x00\x10", 9), "header length"},
      {"header longer than file", std::string("\x93NUMPY\x01\x00\xff\x00{'descr'", 17), "truncated"},
      {"fortran order", npyBytes(1, "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }", d4), "Fortran"},
      {"fortran order 1-d", npyBytes(1, "{'descr': '<f4', 'fortran_order': True, 'shape': (4,), }", d4), "Fortran"},
      {"big endian", npyBytes(1, "{'descr': '>f4', 'fortran_order': False, 'shape': (2, 2), }", d4), "big-endian"},
      {"float128", npyBytes(1, "{'descr': '<f16', 'fortran_order': False, 'shape': (1,), }", d4), "not supported"},
      {"float64 short", npyBytes(1, "{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }", d4), "truncated"},
      {"complex", npyBytes(1, "{'descr': '<c8', 'fortran_order': False, 'shape': (2,), }", d4), "complex"},
      {"object", npyBytes(1, "{'descr': '|O', 'fortran_order': False, 'shape': (2,), }", d4), "object"},
      {"odd descr", npyBytes(1, "{'descr': 'zz', 'fortran_order': False, 'shape': (2,), }", d4), "not supported"},
      {"structured", npyBytes(1, "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (4,), }", d4), "structured"},
      {"truncated data", npyBytes(1, good, d4.substr(0, 15)), "truncated"},
      {"trailing data", npyBytes(1, good, d4 + "xx"), "follow the header"},
      {"too big shape", npyBytes(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (100000000, 100000000), }", d4),
       "truncated"},
      {"overflowing shape",
       npyBytes(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (72057594037927936, 72057594037927936, 72057594037927936), }", d4),
       "shape"},
      {"huge dim", npyBytes(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999999,), }", d4),
       "too large"},
      {"negative dim", npyBytes(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (-1,), }", d4), "non-negative"},
      {"missing shape", npyBytes(1, "{'descr': '<f4', 'fortran_order': False, }", d4), "'shape'"},
      {"missing descr", npyBytes(1, "{'fortran_order': False, 'shape': (4,), }", d4), "'descr'"},
      {"missing fortran", npyBytes(1, "{'descr': '<f4', 'shape': (4,), }", d4), "'fortran_order'"},
      {"duplicate key", npyBytes(1, "{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (4,), }", d4),
       "twice"},
      {"unknown key", npyBytes(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (4,), 'x': 1}", d4), "'x'"},
      {"no brace", npyBytes(1, "'descr': '<f4', 'fortran_order': False, 'shape': (4,)", d4), "'{'"},
      {"unclosed dict", npyBytes(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (4,)", d4), "expected"},
      {"unterminated string", npyBytes(1, "{'descr: '<f4', 'fortran_order': False, 'shape': (4,), }", d4), "expected"},
      {"bad bool", npyBytes(1, "{'descr': '<f4', 'fortran_order': 0, 'shape': (4,), }", d4), "True or False"},
      {"bad shape", npyBytes(1, "{'descr': '<f4', 'fortran_order': False, 'shape': [4], }", d4), "'('"},
      {"bad shape sep", npyBytes(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2; 2), }", d4), "in 'shape'"},
      {"junk after dict", npyBytes(1, good + " junk", d4), "after the closing"},
  };
  for (const BadCase& c : cases) {
    auto r = parseNpy(c.bytes, "bad.npy");
    ASSERT_FALSE(r.ok()) << c.name;
    EXPECT_NE(r.status().message().find("bad.npy"), std::string::npos) << c.name << ": " << r.status().message();
    EXPECT_NE(r.status().message().find(c.expect), std::string::npos) << c.name << ": " << r.status().message();
  }
}

TEST(Npy, EveryPrefixIsAnErrorNeverACrash) {
  auto bytes = encodeNpy(sample(DType::I32, {3, 5}));
  ASSERT_TRUE(bytes.ok());
  for (size_t n = 0; n < bytes->size(); ++n) {
    auto r = parseNpy(std::string_view(*bytes).substr(0, n), "prefix.npy");
    EXPECT_FALSE(r.ok()) << "prefix of " << n << " bytes";
    if (!r.ok()) {
      EXPECT_NE(r.status().message().find("prefix.npy"), std::string::npos);
    }
  }
  EXPECT_TRUE(parseNpy(*bytes, "full.npy").ok());
}

TEST(Npy, RandomFlipsNeverCrash) {
  std::mt19937 rng(1234);
  for (DType dt : {DType::F32, DType::Bool, DType::I64}) {
    auto bytes = encodeNpy(sample(dt, {4, 3}));
    ASSERT_TRUE(bytes.ok());
    for (int iter = 0; iter < 3000; ++iter) {
      std::string b = *bytes;
      const int flips = 1 + static_cast<int>(rng() % 4);
      for (int f = 0; f < flips; ++f) {
        // Mostly in the preamble and header, where the parsing happens.
        const size_t pos = rng() % 4 ? rng() % std::min<size_t>(b.size(), 128) : rng() % b.size();
        b[pos] = static_cast<char>(rng() % 3 ? b[pos] ^ (1 << (rng() % 8)) : rng());
      }
      if (rng() % 4 == 0) b.resize(rng() % b.size());
      auto r = parseNpy(b, "fuzz.npy");
      if (r.ok()) {
        EXPECT_EQ(static_cast<size_t>(r->nbytes()) <= b.size(), true);
      } else {
        EXPECT_NE(r.status().message().find("fuzz.npy"), std::string::npos) << r.status().message();
      }
    }
  }
}


TEST(Npy, NonRegularFilesAreRefusedBeforeReading) {
  // /dev/zero used to be read until memory ran out; a folder was reported as
  // "truncated (0 bytes)"; a FIFO blocked forever.
  auto zero = readNpyFile("/dev/zero");
  ASSERT_FALSE(zero.ok());
  EXPECT_NE(zero.status().message().find(".npy file /dev/zero: is a character device, not a regular file"),
            std::string::npos)
      << zero.status().message();
  const auto dir = std::filesystem::temp_directory_path() / ("sy_npy_dir_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  auto folder = readNpyFile(dir.string());
  ASSERT_FALSE(folder.ok());
  EXPECT_NE(folder.status().message().find("is a directory, not a regular file"), std::string::npos)
      << folder.status().message();
  const auto fifo = dir / "pipe.npy";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  auto pipe = readNpyFile(fifo.string());
  ASSERT_FALSE(pipe.ok());
  EXPECT_NE(pipe.status().message().find("is a FIFO (named pipe)"), std::string::npos) << pipe.status().message();
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace sy
