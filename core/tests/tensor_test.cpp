#include <gtest/gtest.h>

#include "switchyard/tensor.h"
#include "test_util.h"

namespace sy {
namespace {

TEST(DType, HalfRoundTrip) {
  for (float v : {0.0f, -0.0f, 1.0f, -2.5f, 65504.0f, 6.103515625e-05f, 5.960464477539063e-08f}) {
    EXPECT_EQ(halfToFloat(floatToHalf(v)), v) << v;
  }
  EXPECT_EQ(floatToHalf(65520.0f), 0x7C00);              // rounds up to +inf
  EXPECT_EQ(floatToHalf(1.0f + 1.0f / 2048), 0x3C00);    // ties to even: down
  EXPECT_EQ(floatToHalf(1.0f + 3.0f / 2048), 0x3C02);    // ties to even: up
  EXPECT_TRUE(std::isnan(halfToFloat(floatToHalf(NAN))));
}

TEST(DType, Bfloat16RoundTrip) {
  EXPECT_EQ(bfloat16ToFloat(floatToBfloat16(1.0f)), 1.0f);
  EXPECT_EQ(bfloat16ToFloat(floatToBfloat16(-3.0f)), -3.0f);
  EXPECT_EQ(floatToBfloat16(1.0f + 1.0f / 256), 0x3F80);  // tie to even: down
  EXPECT_TRUE(std::isnan(bfloat16ToFloat(floatToBfloat16(NAN))));
}

TEST(DType, Names) {
  for (DType d : kAllDTypes) EXPECT_EQ(parseDType(dtypeName(d)), d);
  EXPECT_FALSE(parseDType("f128").has_value());
  EXPECT_FALSE(parseDType("uint8").has_value());
  EXPECT_EQ(std::size(kAllDTypes), 13u);
  for (DType d : {DType::U8, DType::I16, DType::U16, DType::U32, DType::U64, DType::F64})
    EXPECT_EQ(static_cast<int>(d), static_cast<int>(kAllDTypes[static_cast<int>(d)])) << dtypeName(d);
  EXPECT_EQ(dtypeSize(DType::U8), 1u);
  EXPECT_EQ(dtypeSize(DType::I16), 2u);
  EXPECT_EQ(dtypeSize(DType::U32), 4u);
  EXPECT_EQ(dtypeSize(DType::F64), 8u);
}

TEST(Tensor, NewDTypesHoldTheirWholeRange) {
  Tensor u8 = Tensor::fromInts(DType::U8, {2}, {0, 255}).value();
  EXPECT_EQ(u8.getInt(1), 255);
  EXPECT_EQ(u8.getDouble(1), 255.0);
  Tensor i16 = Tensor::fromInts(DType::I16, {2}, {-32768, 32767}).value();
  EXPECT_EQ(i16.getInt(0), -32768);
  Tensor u32 = Tensor::fromInts(DType::U32, {1}, {4294967295}).value();
  EXPECT_EQ(u32.getInt(0), 4294967295);
  Tensor u64 = Tensor::allocate(DType::U64, {2}).value();
  u64.setDouble(0, 1.8e19);  // above INT64_MAX: not saturated to it
  EXPECT_EQ(u64.data<uint64_t>()[0], 18000000000000000000ull);
  u64.setInt(1, -1);
  EXPECT_EQ(u64.data<uint64_t>()[1], UINT64_MAX);
  Tensor f64 = Tensor::allocate(DType::F64, {1}).value();
  f64.setDouble(0, 0.1);
  EXPECT_EQ(f64.data<double>()[0], 0.1);  // no trip through f32
}

TEST(Tensor, AllocateRejectsAbsurdSizes) {
  auto huge = Tensor::allocate(DType::F32, {1 << 20, 1 << 20, 1 << 20});
  ASSERT_FALSE(huge.ok());
  EXPECT_EQ(huge.status().code(), StatusCode::kResourceExhausted);
  auto overflow = Tensor::allocate(DType::F32, {int64_t{1} << 40, int64_t{1} << 40});
  ASSERT_FALSE(overflow.ok());
  auto negative = Tensor::allocate(DType::F32, {2, -1});
  ASSERT_FALSE(negative.ok());
  EXPECT_NE(negative.status().message().find("negative"), std::string::npos);
}

TEST(Tensor, EmptyAndScalar) {
  auto e = Tensor::allocate(DType::F32, {0, 3});
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->numel(), 0);
  EXPECT_TRUE(e->valid());
  Tensor s = Tensor::scalarI64(-7);
  EXPECT_EQ(s.rank(), 0);
  EXPECT_EQ(s.numel(), 1);
  EXPECT_EQ(s.getInt(0), -7);
}

TEST(Tensor, Conversions) {
  Tensor t = testing::T(DType::I8, {3}, {1, -2, 3});
  EXPECT_EQ(t.getInt(1), -2);
  t.setInt(0, 300);  // wraps
  EXPECT_EQ(t.getInt(0), 44);
  Tensor f = testing::T(DType::F16, {2}, {0.1, 2.0});
  EXPECT_NEAR(f.getDouble(0), 0.1, 1e-4);
  Tensor b = testing::T(DType::Bool, {2}, {0.0, 5.0});
  EXPECT_EQ(b.getInt(1), 1);
  Tensor i = testing::T(DType::I32, {1}, {0});
  i.setDouble(0, NAN);
  EXPECT_EQ(i.getInt(0), 0);
}

TEST(Tensor, ReshapeSharesDataAndChecksCount) {
  Tensor t = testing::F({2, 3}, {1, 2, 3, 4, 5, 6});
  auto r = t.reshaped({3, 2});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->data(), t.data());
  EXPECT_FALSE(t.reshaped({4}).ok());
}

}  // namespace
}  // namespace sy
