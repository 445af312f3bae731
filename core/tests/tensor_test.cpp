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
  EXPECT_FALSE(parseDType("f64").has_value());
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
