// oneDNN primitives split into chunks that run on the plugin's pool (Note
// [Split primitives] in dnnl_split.cpp).
#pragma once

#include <dnnl.hpp>

#include <cstdint>
#include <cstdlib>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "steps.h"

namespace sy_cpu {

/// SY_CPU_SPLIT_DEBUG is set: each split made prints on stderr how it was
/// cut. Read at every call (a split is made once per shape, not per run),
/// so that tests can set it around one compile.
inline bool splitDebug() { return std::getenv("SY_CPU_SPLIT_DEBUG") != nullptr; }

/// An argument of a split primitive that is cut along one of its dims (the
/// others are passed whole to every chunk).
struct SliceSpec {
  int arg = 0;              ///< DNNL_ARG_*
  dnnl::memory::desc md;    ///< the full primitive's descriptor for it
  int dim = 0;              ///< the dim cut
  /// This argument's range of `dim` for a chunk's range [begin, begin + len)
  /// of the cut extent (a convolution's input rows with the window's halo);
  /// null: the same range.
  std::function<std::pair<int64_t, int64_t>(int64_t begin, int64_t len)> range = nullptr;
};

/// The block size of `dim` in `md` (1 when the dim is not blocked); 0 when
/// `md` is not a plain or blocked f32, s32, s8 or u8 descriptor.
int64_t blockOf(const dnnl::memory::desc& md, int dim);

/// The part [begin, begin + len) of `dim` of `md`: the same layout and
/// strides with the smaller dim, and the byte offset of its first element.
/// Null when `md` is not blocked or `begin` is not at a block boundary.
std::optional<std::pair<dnnl::memory::desc, size_t>> sliceMd(const dnnl::memory::desc& md, int dim, int64_t begin,
                                                             int64_t len);

/// A primitive cut into chunks along one dim: one primitive per chunk shape
/// (the regular chunk and the tail), each chunk's argument offsets.
class SplitPrimitive {
 public:
  /// Makes the chunk primitive for the sliced descriptors (in `specs`'
  /// order); throws (dnnl::error) when oneDNN has no implementation.
  using MakeChunk =
      std::function<dnnl::primitive(const std::vector<dnnl::memory::desc>& sliced, int64_t begin, int64_t len)>;
  /// What else tells chunk primitives apart besides their descriptors (a
  /// convolution's pads at the edges); chunks with equal descriptors and keys
  /// share one primitive.
  using ChunkKey = std::function<std::vector<int64_t>(int64_t begin, int64_t len)>;

  /// A split of `extent` (the cut dim's size, the same index in every spec)
  /// into chunks for `threads` threads, each doing at least `minWork` of the
  /// `work` (flops or bytes); null when it does not pay (fewer than two
  /// chunks) or oneDNN cannot make the chunks, or makes them with a
  /// reference implementation where `fullImpl` is not one. Call with the
  /// calling thread's OpenMP team at 1.
  static std::shared_ptr<const SplitPrimitive> make(const std::vector<SliceSpec>& specs, int64_t extent, int threads,
                                                    double work, double minWork, const MakeChunk& make,
                                                    const std::string& fullImpl, const ChunkKey& key = nullptr);

  /// Runs every chunk on the plugin pool with at most `threads` threads (the
  /// caller included), with `args` the full primitive's arguments (no
  /// scratchpad: each thread brings its own).
  void execute(const std::vector<std::pair<int, dnnl::memory>>& args, int threads) const;

  size_t numChunks() const { return chunks_.size(); }

 private:
  struct Shape {
    dnnl::primitive prim;
    std::vector<dnnl::memory::desc> mds;  // per spec
    std::vector<int64_t> key;
    size_t scratchpad = 0;
    uint64_t id = 0;
  };
  struct Chunk {
    size_t shape = 0;
    std::vector<size_t> offsets;  // bytes, per spec
  };
  std::vector<int> args_;  // per spec
  std::vector<Shape> shapes_;
  std::vector<Chunk> chunks_;
};

/// A chunk of output rows [h0, h0 + n) of a window op (convolution,
/// pooling) along its first spatial dim: the input rows it reads and its own
/// pads (the op's pads at the edges, none inside). Input size ih, stride s,
/// dilated window dk, leading pad pt.
struct RowWindow {
  int64_t begin = 0, len = 0, padT = 0, padB = 0;
};
RowWindow rowWindow(int64_t h0, int64_t n, int64_t ih, int64_t s, int64_t dk, int64_t pt);

/// The split of a window op at batch 1 over output rows (dim 2): dst rows and
/// the src rows they read; `make` gets the chunk's src and dst descriptors
/// and its pads along that dim. Null as SplitPrimitive::make.
std::shared_ptr<const SplitPrimitive> splitRows(
    const dnnl::memory::desc& src, const dnnl::memory::desc& dst, int64_t s, int64_t dk, int64_t pt, int threads,
    double work, double minWork, const std::string& impl,
    const std::function<dnnl::primitive(const dnnl::memory::desc& src, const dnnl::memory::desc& dst, int64_t padT,
                                        int64_t padB)>& make);

/// The split of a product with one row (M = 1: a classifier's gemv) along
/// its columns N, the last dim: dst, the prepacked `weights` and `bias` (may
/// be empty) cut, `a` whole. Only where every chunk's slices are contiguous:
/// dst (and bias) plain with every dim but the last 1, `weights` blocked
/// with N outermost (e.g. BA16a64b, chunks at its N blocks). `make` gets the
/// chunk's weights, bias (empty when `bias` is) and dst descriptors. Null as
/// SplitPrimitive::make.
std::shared_ptr<const SplitPrimitive> splitColumns(
    const dnnl::memory::desc& weights, const dnnl::memory::desc& bias, const dnnl::memory::desc& dst, int threads,
    double work, double minWork, const std::string& impl,
    const std::function<dnnl::primitive(const dnnl::memory::desc& weights, const dnnl::memory::desc& bias,
                                        const dnnl::memory::desc& dst)>& make);

/// The primitive's implementation name ("brg:avx512_core", "ref:any", ...).
std::string implOf(const dnnl::primitive& p);

}  // namespace sy_cpu
