// Shared helpers of the portable kernels (see common.h).
#include "common.h"

namespace sy::kernels::detail {

std::vector<int64_t> readInts(const Tensor& t) {
  const int64_t n = t.numElements();
  std::vector<int64_t> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    switch (t.dtype) {
      case SY_DTYPE_I64: v[i] = t.as<const int64_t>()[i]; break;
      case SY_DTYPE_I32: v[i] = t.as<const int32_t>()[i]; break;
      case SY_DTYPE_I8: v[i] = t.as<const int8_t>()[i]; break;
      case SY_DTYPE_BOOL: v[i] = t.as<const uint8_t>()[i] != 0; break;
      case SY_DTYPE_U8: v[i] = t.as<const uint8_t>()[i]; break;
      case SY_DTYPE_I16: v[i] = t.as<const int16_t>()[i]; break;
      case SY_DTYPE_U16: v[i] = t.as<const uint16_t>()[i]; break;
      case SY_DTYPE_U32: v[i] = t.as<const uint32_t>()[i]; break;
      case SY_DTYPE_U64: v[i] = static_cast<int64_t>(std::min<uint64_t>(t.as<const uint64_t>()[i], INT64_MAX)); break;
      default: {
        const double x = readDouble(t, i);
        v[i] = std::isnan(x) ? 0 : x >= 9.2233720368547758e18 ? std::numeric_limits<int64_t>::max()
                                : x <= -9.2233720368547758e18 ? std::numeric_limits<int64_t>::min()
                                                              : static_cast<int64_t>(x);
      }
    }
  }
  return v;
}

double readDouble(const Tensor& t, int64_t i) {
  switch (t.dtype) {
    case SY_DTYPE_F32: return t.as<const float>()[i];
    case SY_DTYPE_F16: return halfToFloat(t.as<const uint16_t>()[i]);
    case SY_DTYPE_BF16: return bf16ToFloat(t.as<const uint16_t>()[i]);
    case SY_DTYPE_I8: return t.as<const int8_t>()[i];
    case SY_DTYPE_I32: return t.as<const int32_t>()[i];
    case SY_DTYPE_I64: return static_cast<double>(t.as<const int64_t>()[i]);
    case SY_DTYPE_BOOL: return t.as<const uint8_t>()[i] != 0 ? 1.0 : 0.0;
    case SY_DTYPE_U8: return t.as<const uint8_t>()[i];
    case SY_DTYPE_I16: return t.as<const int16_t>()[i];
    case SY_DTYPE_U16: return t.as<const uint16_t>()[i];
    case SY_DTYPE_U32: return t.as<const uint32_t>()[i];
    case SY_DTYPE_U64: return static_cast<double>(t.as<const uint64_t>()[i]);
    case SY_DTYPE_F64: return t.as<const double>()[i];
    default: return 0;
  }
}

Dims broadcast(const Dims& a, const Dims& b, const std::string& who) {
  Dims out;
  out.rank = std::max(a.rank, b.rank);
  for (int i = 0; i < out.rank; ++i) {
    const int ia = i - (out.rank - a.rank), ib = i - (out.rank - b.rank);
    const int64_t da = ia < 0 ? 1 : a.d[ia];
    const int64_t db = ib < 0 ? 1 : b.d[ib];
    if (da == db || db == 1) out.d[i] = da;
    else if (da == 1) out.d[i] = db;
    else failArg(who, "shapes ", dimsStr(a), " and ", dimsStr(b), " cannot be broadcast (dimension ", i, ": ", da,
                 " vs ", db, ")");
  }
  return out;
}

float halfToFloat(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t exp = (h >> 10) & 0x1Fu;
  uint32_t mant = h & 0x3FFu;
  uint32_t bits;
  if (exp == 0) {
    if (mant == 0) {
      bits = sign;
    } else {
      int e = -1;
      do {
        ++e;
        mant <<= 1;
      } while ((mant & 0x400u) == 0);
      bits = sign | (static_cast<uint32_t>(127 - 15 - e) << 23) | ((mant & 0x3FFu) << 13);
    }
  } else if (exp == 0x1F) {
    bits = sign | 0x7F800000u | (mant << 13);
  } else {
    bits = sign | ((exp + 127 - 15) << 23) | (mant << 13);
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

uint16_t floatToHalf(float value) {
  uint32_t x;
  std::memcpy(&x, &value, 4);
  const uint16_t sign = static_cast<uint16_t>((x >> 16) & 0x8000u);
  const uint32_t absx = x & 0x7FFFFFFFu;
  if (absx >= 0x7F800000u) return static_cast<uint16_t>(sign | 0x7C00u | (absx > 0x7F800000u ? 0x200u : 0u));
  if (absx >= 0x477FF000u) return static_cast<uint16_t>(sign | 0x7C00u);
  if (absx < 0x38800000u) {
    float f;
    std::memcpy(&f, &absx, 4);
    const auto m = static_cast<uint32_t>(std::nearbyint(f * 16777216.0f));
    return static_cast<uint16_t>(sign | m);
  }
  uint32_t rebias = absx - (static_cast<uint32_t>(127 - 15) << 23);
  const uint32_t lsb = (rebias >> 13) & 1u;
  rebias += 0xFFFu + lsb;
  return static_cast<uint16_t>(sign | (rebias >> 13));
}

namespace {

// Four f16 <-> f32 conversions at a time, with the same results as the scalar
// functions above (exact widening; narrowing rounds to nearest even, NaN ->
// quiet NaN, overflow -> inf), after F. Giesen's branch-free formulations.

inline V4f halfToFloat4(V4i h) {
  const V4i shiftedExp = V4i{0x7C00, 0x7C00, 0x7C00, 0x7C00} << 13;
  V4i o = (h & 0x7FFF) << 13;
  const V4i exp = o & shiftedExp;
  o += (127 - 15) << 23;
  o = (exp == shiftedExp) ? o + ((128 - 16) << 23) : o;  // Inf / NaN
  // Zero / subnormal: renormalise through a float subtraction.
  // Unsigned: for Inf/NaN lanes (discarded below) the signed sum would overflow.
  typedef uint32_t V4u __attribute__((vector_size(16)));
  const V4u biased = reinterpret_cast<V4u>(o) + (1u << 23);
  const V4f sub = reinterpret_cast<V4f>(biased) - reinterpret_cast<V4f>(V4i{113 << 23, 113 << 23, 113 << 23, 113 << 23});
  o = (exp == 0) ? reinterpret_cast<V4i>(sub) : o;
  o |= (h & 0x8000) << 16;
  return reinterpret_cast<V4f>(o);
}

inline V4i floatToHalf4(V4f fv) {
  V4i f = reinterpret_cast<V4i>(fv);
  const V4i sign = f & static_cast<int32_t>(0x80000000u);
  f ^= sign;
  const int32_t f32infty = 255 << 23, f16max = (127 + 16) << 23, denormMagic = ((127 - 15) + (23 - 10) + 1) << 23;
  // Subnormal results: the magic addition rounds to nearest even in the FPU.
  const V4f dm = reinterpret_cast<V4f>(V4i{denormMagic, denormMagic, denormMagic, denormMagic});
  const V4i sub = reinterpret_cast<V4i>(reinterpret_cast<V4f>(f) + dm) - denormMagic;
  // Normal results: round the mantissa from 23 to 10 bits, nearest even.
  const V4i mantOdd = (f >> 13) & 1;
  const V4i norm = ((f + (((15 - 127) << 23) + 0xFFF)) + mantOdd) >> 13;
  V4i o = (f < (113 << 23)) ? sub : norm;
  o = (f >= f16max) ? ((f > f32infty) ? V4i{0x7E00, 0x7E00, 0x7E00, 0x7E00} : V4i{0x7C00, 0x7C00, 0x7C00, 0x7C00}) : o;
  return o | ((sign >> 16) & 0x8000);
}

}  // namespace

void toF32(int32_t dtype, const void* src, float* dst, int64_t n) {
  const auto* s = static_cast<const uint16_t*>(src);
  if (dtype == SY_DTYPE_BF16) {
    for (int64_t i = 0; i < n; ++i) dst[i] = bf16ToFloat(s[i]);
    return;
  }
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) vstore(dst + i, halfToFloat4(V4i{s[i], s[i + 1], s[i + 2], s[i + 3]}));
  for (; i < n; ++i) dst[i] = halfToFloat(s[i]);
}

void fromF32(int32_t dtype, const float* src, void* dst, int64_t n) {
  auto* d = static_cast<uint16_t*>(dst);
  if (dtype == SY_DTYPE_BF16) {
    for (int64_t i = 0; i < n; ++i) d[i] = floatToBf16(src[i]);
    return;
  }
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) {
    const V4i h = floatToHalf4(vload(src + i));
    for (int k = 0; k < 4; ++k) d[i + k] = static_cast<uint16_t>(h[k]);
  }
  for (; i < n; ++i) d[i] = floatToHalf(src[i]);
}

namespace {

template <class T>
void copyRow(T* d, int64_t ds, const T* s, int64_t ss, int64_t n) {
  if (ds != 1) {
    for (int64_t i = 0; i < n; ++i) d[i * ds] = s[i * ss];
  } else if (ss == 1) {
    std::memcpy(d, s, static_cast<size_t>(n) * sizeof(T));
  } else if (ss == 0) {
    const T v = *s;
    for (int64_t i = 0; i < n; ++i) d[i] = v;
  } else {
    for (int64_t i = 0; i < n; ++i) d[i] = s[i * ss];
  }
}

/// Transposes a [rows, cols] tile set: d[i * dsRow + j] = s[j * ssCol + i]... (see caller).
/// d[0..3][0..3] (rows dRow apart) = transpose of s[0..3][0..3] (rows sCol apart), 4-byte elements.
inline void transpose4x4(uint32_t* d, int64_t dRow, const uint32_t* s, int64_t sCol) {
  V4i a, b, c, e;
  std::memcpy(&a, s, 16);
  std::memcpy(&b, s + sCol, 16);
  std::memcpy(&c, s + 2 * sCol, 16);
  std::memcpy(&e, s + 3 * sCol, 16);
  const V4i t0 = __builtin_shufflevector(a, b, 0, 4, 1, 5), t1 = __builtin_shufflevector(a, b, 2, 6, 3, 7);
  const V4i t2 = __builtin_shufflevector(c, e, 0, 4, 1, 5), t3 = __builtin_shufflevector(c, e, 2, 6, 3, 7);
  const V4i r0 = __builtin_shufflevector(t0, t2, 0, 1, 4, 5), r1 = __builtin_shufflevector(t0, t2, 2, 3, 6, 7);
  const V4i r2 = __builtin_shufflevector(t1, t3, 0, 1, 4, 5), r3 = __builtin_shufflevector(t1, t3, 2, 3, 6, 7);
  std::memcpy(d, &r0, 16);
  std::memcpy(d + dRow, &r1, 16);
  std::memcpy(d + 2 * dRow, &r2, 16);
  std::memcpy(d + 3 * dRow, &r3, 16);
}

template <class T>
void copyBlocked2D(T* d, const T* s, int64_t R, int64_t C, int64_t dRow, int64_t sRow, int64_t sCol) {
  // d[r * dRow + c] = s[r * sRow + c * sCol], with sRow == 1 (the source is contiguous along r),
  // in 32 x 32 tiles so that both sides stay in cache; 4-byte elements move as 4 x 4 register transposes.
  constexpr int64_t B = 32;
  for (int64_t r0 = 0; r0 < R; r0 += B) {
    const int64_t r1 = std::min(R, r0 + B);
    for (int64_t c0 = 0; c0 < C; c0 += B) {
      const int64_t c1 = std::min(C, c0 + B);
      int64_t r = r0;
      if constexpr (sizeof(T) == 4) {
        if (sRow == 1) {
          for (; r + 4 <= r1; r += 4) {
            int64_t c = c0;
            for (; c + 4 <= c1; c += 4)
              transpose4x4(reinterpret_cast<uint32_t*>(d + r * dRow + c), dRow,
                           reinterpret_cast<const uint32_t*>(s + r + c * sCol), sCol);
            for (; c < c1; ++c)
              for (int64_t k = r; k < r + 4; ++k) d[k * dRow + c] = s[k + c * sCol];
          }
        }
      }
      for (; r < r1; ++r)
        for (int64_t c = c0; c < c1; ++c) d[r * dRow + c] = s[r * sRow + c * sCol];
    }
  }
}

template <class T>
void stridedCopyT(const LoopPlan<2>& p, T* dst, const T* src, const Exec& exec) {
  // Blocked 2-D transpose when the two innermost dims swap contiguity:
  // dst inner stride 1, src inner stride != 1 and src stride 1 on the dim just outside.
  if (p.rank >= 2 && p.strides[1][p.rank - 1] != 1 && p.strides[1][p.rank - 2] == 1 &&
      p.strides[0][p.rank - 1] == 1 && p.dims[p.rank - 1] >= 8 && p.dims[p.rank - 2] >= 8) {
    const int64_t R = p.dims[p.rank - 2], C = p.dims[p.rank - 1];
    const int64_t dRow = p.strides[0][p.rank - 2], sCol = p.strides[1][p.rank - 1];
    LoopPlan<2> outer;
    for (int i = 0; i < p.rank - 2; ++i) {
      const int64_t s[2] = {p.strides[0][i], p.strides[1][i]};
      outer.push(p.dims[i], s);
    }
    const int64_t one[2] = {0, 0};
    outer.push(1, one);  // the per-matrix "row" of the outer loop
    const int64_t grain = std::max<int64_t>(1, 16384 / std::max<int64_t>(R * C, 1));
    int64_t mats = 1;
    for (int i = 0; i < p.rank - 2; ++i) mats *= p.dims[i];
    if (mats == 1) {
      // One matrix: split its rows across the pool in blocks of 32.
      const int64_t blocks = (R + 31) / 32;
      parallelFor(exec, blocks, std::max<int64_t>(1, 16384 / std::max<int64_t>(32 * C, 1)),
                       [&](int64_t b0, int64_t b1) {
                         const int64_t r0 = b0 * 32, r1 = std::min(R, b1 * 32);
                         copyBlocked2D(dst + r0 * dRow, src + r0, r1 - r0, C, dRow, 1, sCol);
                       });
      return;
    }
    (void)grain;
    forEachRow<2>(
        outer, exec,
        [&](const int64_t* off, int64_t) { copyBlocked2D(dst + off[0], src + off[1], R, C, dRow, 1, sCol); },
        16384 / std::max<int64_t>(R * C, 1) + 1);
    return;
  }
  forEachRow<2>(p, exec, [&](const int64_t* off, int64_t n) {
    copyRow(dst + off[0], p.strides[0][p.rank - 1], src + off[1], p.strides[1][p.rank - 1], n);
  });
}

}  // namespace

void stridedCopy(const LoopPlan<2>& p, char* dst, const char* src, size_t esize, const Exec& exec) {
  if (p.count() == 0) return;
  switch (esize) {
    case 1: stridedCopyT(p, reinterpret_cast<uint8_t*>(dst), reinterpret_cast<const uint8_t*>(src), exec); return;
    case 2: stridedCopyT(p, reinterpret_cast<uint16_t*>(dst), reinterpret_cast<const uint16_t*>(src), exec); return;
    case 4: stridedCopyT(p, reinterpret_cast<uint32_t*>(dst), reinterpret_cast<const uint32_t*>(src), exec); return;
    case 8: stridedCopyT(p, reinterpret_cast<uint64_t*>(dst), reinterpret_cast<const uint64_t*>(src), exec); return;
    default: break;
  }
  forEachRow<2>(p, exec, [&](const int64_t* off, int64_t n) {
    const int64_t ds = p.strides[0][p.rank - 1], ss = p.strides[1][p.rank - 1];
    const auto es = static_cast<int64_t>(esize);
    for (int64_t i = 0; i < n; ++i) std::memcpy(dst + (off[0] + i * ds) * es, src + (off[1] + i * ss) * es, esize);
  });
}

void parallelCopy(void* dst, const void* src, size_t bytes, const Exec& exec) {
  if (bytes == 0 || dst == src) return;
  constexpr size_t kChunk = 1 << 18;
  if (bytes <= kChunk) {
    std::memcpy(dst, src, bytes);
    return;
  }
  const int64_t chunks = static_cast<int64_t>((bytes + kChunk - 1) / kChunk);
  parallelFor(exec, chunks, 1, [&](int64_t b, int64_t e) {
    const size_t from = static_cast<size_t>(b) * kChunk;
    const size_t to = std::min(bytes, static_cast<size_t>(e) * kChunk);
    std::memcpy(static_cast<char*>(dst) + from, static_cast<const char*>(src) + from, to - from);
  });
}

}  // namespace sy::kernels::detail
