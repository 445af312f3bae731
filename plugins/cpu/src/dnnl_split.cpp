// Note [Split primitives]
// Debian's oneDNN 2.6 is the OpenMP build: a primitive run with a team of T
// threads splits its work statically over the team and ends at a barrier, so
// one team member whose core another process holds keeps the whole primitive
// waiting (a scheduler tick, ~1-4 ms, on a busy machine). oneDNN's threadpool
// runtime, which would take the plugin's pool instead, is not packaged. So
// every primitive is made and run with an OpenMP team of one (no OpenMP
// thread ever runs besides the pool's), and a step that wants T threads cuts
// its primitive into chunks along a dim whose slices are independent:
//  - convolution and pooling (batch 1): output rows, with the input rows
//    each chunk's windows read (pads only at the edges), weights and bias
//    whole; a residual sum post-op reads dst rows, already in place. oneDNN
//    2.6 keeps these activations channels-last (acdb, brgconv), where rows of
//    a batch of 1 are dense slices; channel blocks would not be (and column
//    chunks of a matmul's row-major dst are not dense: brgemm matmul wants
//    ld == N and falls back to the reference one);
//  - matmul/gemm: rows of a and dst, b (prepacked, e.g. BA16a64b) whole;
//    with one row (M = 1, a gemv: no rows to cut, memory-bound on b),
//    columns (splitColumns): a dst of one row is dense in any column
//    range, and a prepacked b with its N blocks outermost (BA16a32b for a
//    gemv, Note [Gemv weights in blocks of 32 columns] in dnnl_steps.cpp;
//    BA16a64b otherwise) is contiguous per block of columns, so chunks of
//    whole blocks keep brgemm; bias cut alike;
//  - per-channel binary, batch norm (batch 1): rows;
//  - softmax: rows (the dims before the axis);
//  - matmul_integer: rows; conv_integer: like the f32 conv;
//  - reorders of more than 2 MB: the destination's outermost dim, where both
//    layouts slice there;
//  - RNN steps: groups of sequences of a batch, or the two directions of a
//    bidirectional step of batch 1 (Note [Split recurrent steps] in
//    dnnl_steps.cpp).
// Not split (one thread): one direction of an RNN at batch 1, and the
// NaN-keeping variants of a fused relu on the calls that need them.
// Nor is anything in a run that the region runs on OpenMP teams instead
// (Note [Threads on shared cores] in region.cpp): there each primitive runs
// whole on a team, as oneDNN balances it itself.
// A chunk is the same primitive on smaller descriptors with the full
// tensors' strides (sliceMd), run with offset pointers; chunks are dense
// slices, so oneDNN picks the same jit kernels for them (a chunk that would
// get a reference implementation cancels the split). There are more chunks than
// threads (up to 4 per thread), and the pool hands them out dynamically
// (an atomic counter, the caller taking chunks too): a preempted thread holds
// up only the chunk it is in, the others take the rest. Each chunk computes
// its outputs with the same kernel and the same order of the sums over the
// reduced dims (K, input channels, the window) as the whole primitive, so
// the results are the same bits (cpu_threads_test compares them).
#include "dnnl_split.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <mutex>
#include <numeric>
#include <unordered_map>

namespace sy_cpu {

using dnnl::memory;
using Md = dnnl::memory::desc;

namespace {

uint64_t nextShapeId() {
  static std::atomic<uint64_t> next{1};
  return next.fetch_add(1, std::memory_order_relaxed);
}

bool isReference(const std::string& impl) { return impl.rfind("ref", 0) == 0; }

/// Bytes per element of the data types split primitives take (0: another).
size_t elementBytes(dnnl_data_type_t t) {
  switch (t) {
    case dnnl_f32:
    case dnnl_s32:
      return 4;
    case dnnl_s8:
    case dnnl_u8:
      return 1;
    default:
      return 0;
  }
}

}  // namespace

std::string implOf(const dnnl::primitive& p) {
  const char* s = nullptr;
  if (dnnl_primitive_desc_query(p.get_primitive_desc(), dnnl_query_impl_info_str, 0, &s) != dnnl_success ||
      s == nullptr)
    return "";
  return s;
}

int64_t blockOf(const Md& md, int dim) {
  const dnnl_memory_desc_t& d = md.data;
  if (d.format_kind != dnnl_blocked || elementBytes(d.data_type) == 0 || dim < 0 || dim >= d.ndims) return 0;
  if (d.extra.flags != 0) return 0;  // compensation etc.: not a plain slice
  int64_t b = 1;
  const dnnl_blocking_desc_t& blk = d.format_desc.blocking;
  for (int i = 0; i < blk.inner_nblks; ++i) {
    if (blk.inner_idxs[i] == dim) b *= blk.inner_blks[i];
  }
  return b;
}

std::optional<std::pair<Md, size_t>> sliceMd(const Md& md, int dim, int64_t begin, int64_t len) {
  const int64_t b = blockOf(md, dim);
  if (b <= 0 || begin % b != 0 || len <= 0 || begin + len > md.data.dims[dim]) return std::nullopt;
  dnnl_memory_desc_t d = md.data;
  for (int i = 0; i < d.ndims; ++i) {
    if (d.padded_offsets[i] != 0) return std::nullopt;
  }
  d.dims[dim] = len;
  d.padded_dims[dim] = (len + b - 1) / b * b;
  dnnl_dims_t& strides = d.format_desc.blocking.strides;
  const int64_t elems = (begin / b) * strides[dim] + d.offset0;
  d.offset0 = 0;
  // Dims outside the cut one that have a single (outer) index, like the
  // batch of 1 around nChw16c's channel blocks, get the slice's dense stride
  // (oneDNN's jit kernels check strides against the dense layout's).
  for (int i = 0; i < d.ndims; ++i) {
    if (i != dim && strides[i] > strides[dim] && d.padded_dims[i] / std::max<int64_t>(blockOf(md, i), 1) == 1)
      strides[i] = strides[dim] * (d.padded_dims[dim] / b);
  }
  return std::make_pair(Md(d), static_cast<size_t>(elems) * elementBytes(d.data_type));
}

std::shared_ptr<const SplitPrimitive> SplitPrimitive::make(const std::vector<SliceSpec>& specs, int64_t extent,
                                                           int threads, double work, double minWork,
                                                           const MakeChunk& makeChunk, const std::string& fullImpl,
                                                           const ChunkKey& chunkKey) {
  // A run on OpenMP teams runs its primitives whole (Note [Threads on
  // shared cores] in region.cpp).
  if (threads <= 1 || runTeam() || extent <= 1 || specs.empty()) return nullptr;
  int64_t block = 1;
  for (const SliceSpec& s : specs) {
    const int64_t b = blockOf(s.md, s.dim);
    if (b <= 0 || (!s.range && s.md.data.dims[s.dim] != extent)) return nullptr;
    if (!s.range) block = std::lcm(block, b);
  }
  const int64_t blocks = (extent + block - 1) / block;
  int64_t want = std::min<int64_t>(blocks, int64_t{4} * threads);
  want = std::min<int64_t>(want, static_cast<int64_t>(work / std::max(minWork, 1.0)));
  if (want < 2) return nullptr;
  const int64_t perChunk = (blocks + want - 1) / want * block;
  const int64_t n = (extent + perChunk - 1) / perChunk;
  if (n < 2) return nullptr;
  auto split = std::make_shared<SplitPrimitive>();
  for (const SliceSpec& s : specs) split->args_.push_back(s.arg);
  try {
    for (int64_t c = 0; c < n; ++c) {
      const int64_t begin = c * perChunk, len = std::min(perChunk, extent - begin);
      Chunk chunk;
      std::vector<Md> mds;
      for (const SliceSpec& s : specs) {
        const auto [b, l] = s.range ? s.range(begin, len) : std::make_pair(begin, len);
        auto sl = sliceMd(s.md, s.dim, b, l);
        if (!sl) return nullptr;
        mds.push_back(sl->first);
        chunk.offsets.push_back(sl->second);
      }
      // Chunks of one length share descriptors (only offsets differ).
      std::vector<int64_t> key = chunkKey ? chunkKey(begin, len) : std::vector<int64_t>{};
      size_t shape = split->shapes_.size();
      for (size_t i = 0; i < split->shapes_.size(); ++i) {
        if (split->shapes_[i].mds == mds && split->shapes_[i].key == key) shape = i;
      }
      if (shape == split->shapes_.size()) {
        Shape sh;
        sh.prim = makeChunk(mds, begin, len);
        sh.key = std::move(key);
        const std::string impl = implOf(sh.prim);
        if (splitDebug()) std::fprintf(stderr, "split: chunk %s, whole %s\n", impl.c_str(), fullImpl.c_str());
        if (isReference(impl) && !isReference(fullImpl)) return nullptr;
        const dnnl_memory_desc_t* smd =
            dnnl_primitive_desc_query_md(sh.prim.get_primitive_desc(), dnnl_query_scratchpad_md, 0);
        sh.scratchpad = smd != nullptr && smd->ndims > 0 ? Md(*smd).get_size() : 0;
        sh.mds = std::move(mds);
        sh.id = nextShapeId();
        split->shapes_.push_back(std::move(sh));
      }
      chunk.shape = shape;
      split->chunks_.push_back(std::move(chunk));
    }
  } catch (const dnnl::error& e) {
    if (splitDebug()) std::fprintf(stderr, "split: %s\n", e.what());
    return nullptr;
  }
  return split;
}

void SplitPrimitive::execute(const std::vector<std::pair<int, memory>>& args, int threads) const {
  // Base pointers of the cut arguments, and the others as they are.
  std::vector<std::byte*> base(args_.size(), nullptr);
  std::vector<dnnl_exec_arg_t> whole;
  for (const auto& [key, mem] : args) {
    const auto it = std::find(args_.begin(), args_.end(), key);
    if (it == args_.end()) {
      whole.push_back({key, mem.get()});
    } else {
      base[static_cast<size_t>(it - args_.begin())] = static_cast<std::byte*>(mem.get_data_handle());
    }
  }
  for (std::byte* p : base) SY_CPU_REQUIRE(p != nullptr, SY_ERROR_INTERNAL, "a split argument is missing");
  std::mutex errorMutex;
  std::exception_ptr error;
  auto runChunk = [&](int64_t c) {
    const Chunk& chunk = chunks_[static_cast<size_t>(c)];
    const Shape& shape = shapes_[chunk.shape];
    thread_local std::unordered_map<uint64_t, memory> mems;
    thread_local AlignedBlock pad;
    thread_local std::unique_ptr<dnnl::stream> stream;
    if (!stream) stream = std::make_unique<dnnl::stream>(dnnlEngine());
    if (mems.size() > 4096) mems.clear();
    std::vector<dnnl_exec_arg_t> a = whole;
    for (size_t i = 0; i < args_.size(); ++i) {
      void* p = base[i] + chunk.offsets[i];
      const uint64_t key = shape.id * 32 + i;
      auto it = mems.find(key);
      if (it == mems.end()) {
        it = mems.emplace(key, memory(shape.mds[i], dnnlEngine(), p)).first;
      } else {
        it->second.set_data_handle(p);
      }
      a.push_back({args_[i], it->second.get()});
    }
    if (shape.scratchpad > 0) {
      if (pad.size() < shape.scratchpad) pad = AlignedBlock(shape.scratchpad);
      const uint64_t key = shape.id * 32 + 31;
      const Md smd(*dnnl_primitive_desc_query_md(shape.prim.get_primitive_desc(), dnnl_query_scratchpad_md, 0));
      auto it = mems.find(key);
      if (it == mems.end()) {
        it = mems.emplace(key, memory(smd, dnnlEngine(), pad.data())).first;
      } else {
        it->second.set_data_handle(pad.data());
      }
      a.push_back({DNNL_ARG_SCRATCHPAD, it->second.get()});
    }
    setOmpThreads(1);
    dnnl::error::wrap_c_api(
        dnnl_primitive_execute(shape.prim.get(), stream->get(), static_cast<int>(a.size()), a.data()),
        "could not execute a primitive chunk");
    stream->wait();
  };
  const std::function<void(int64_t, int64_t)> body = [&](int64_t begin, int64_t end) {
    for (int64_t c = begin; c < end; ++c) {
      try {
        runChunk(c);
      } catch (...) {
        std::lock_guard<std::mutex> lock(errorMutex);
        if (!error) error = std::current_exception();
      }
    }
  };
  ThreadPool::instance().parallelFor(static_cast<int64_t>(chunks_.size()), 1, body, threads);
  if (error) std::rethrow_exception(error);
}

RowWindow rowWindow(int64_t h0, int64_t n, int64_t ih, int64_t s, int64_t dk, int64_t pt) {
  const int64_t lo = h0 * s - pt, hi = (h0 + n - 1) * s - pt + dk;
  const int64_t b = std::max<int64_t>(0, lo), e = std::min(ih, hi);
  return {b, e - b, b - lo, hi - e};
}

std::shared_ptr<const SplitPrimitive> splitRows(
    const Md& src, const Md& dst, int64_t s, int64_t dk, int64_t pt, int threads, double work, double minWork,
    const std::string& impl,
    const std::function<dnnl::primitive(const Md& src, const Md& dst, int64_t padT, int64_t padB)>& make) {
  const int64_t ih = src.data.dims[2];
  auto window = [=](int64_t h0, int64_t n) { return rowWindow(h0, n, ih, s, dk, pt); };
  return SplitPrimitive::make(
      {{DNNL_ARG_DST, dst, 2},
       {DNNL_ARG_SRC, src, 2,
        [=](int64_t h0, int64_t n) {
          const RowWindow w = window(h0, n);
          return std::make_pair(w.begin, w.len);
        }}},
      dst.data.dims[2], threads, work, minWork,
      [&](const std::vector<Md>& sl, int64_t h0, int64_t n) {
        const RowWindow w = window(h0, n);
        return make(sl[1], sl[0], w.padT, w.padB);
      },
      impl,
      [=](int64_t h0, int64_t n) {
        const RowWindow w = window(h0, n);
        return std::vector<int64_t>{w.padT, w.padB};
      });
}

namespace {

/// Whether `md`'s slices along `dim` are contiguous: plain or blocked, the
/// dim's outer stride the largest, and no padding or gap between its blocks.
bool outermostDense(const Md& md, int dim) {
  const dnnl_memory_desc_t& d = md.data;
  const int64_t b = blockOf(md, dim);
  if (b <= 0) return false;
  const dnnl_dims_t& st = d.format_desc.blocking.strides;
  int64_t inner = 1;  // elements in one block of `dim` (all other dims whole)
  for (int i = 0; i < d.ndims; ++i) inner *= i == dim ? b : d.padded_dims[i];
  if (d.padded_dims[dim] / b > 1 && st[dim] != inner) return false;
  for (int i = 0; i < d.ndims; ++i) {
    if (i != dim && d.padded_dims[i] / std::max<int64_t>(blockOf(md, i), 1) > 1 && st[i] >= inner) return false;
  }
  return true;
}

}  // namespace

std::shared_ptr<const SplitPrimitive> splitColumns(
    const Md& weights, const Md& bias, const Md& dst, int threads, double work, double minWork,
    const std::string& impl, const std::function<dnnl::primitive(const Md& w, const Md& b, const Md& d)>& make) {
  const int rank = dst.data.ndims;
  if (rank < 2 || weights.data.ndims != rank) return nullptr;
  const int n = rank - 1;
  const bool hasBias = bias.data.ndims != 0;
  for (int i = 0; i < n; ++i) {
    if (dst.data.dims[i] != 1 || (hasBias && bias.data.dims[i] != 1)) return nullptr;
  }
  for (int i = 0; i + 2 < rank; ++i) {
    if (weights.data.dims[i] != 1) return nullptr;
  }
  if (!outermostDense(dst, n) || blockOf(dst, n) != 1 || !outermostDense(weights, n)) return nullptr;
  if (hasBias && (!outermostDense(bias, n) || blockOf(bias, n) != 1 || bias.data.dims[n] != dst.data.dims[n]))
    return nullptr;
  std::vector<SliceSpec> specs{{DNNL_ARG_WEIGHTS, weights, n}, {DNNL_ARG_DST, dst, n}};
  if (hasBias) specs.push_back({DNNL_ARG_BIAS, bias, n});
  auto split = SplitPrimitive::make(
      specs, dst.data.dims[n], threads, work, minWork,
      [&](const std::vector<Md>& sl, int64_t, int64_t) { return make(sl[0], hasBias ? sl[2] : Md(), sl[1]); },
      impl);
  if (splitDebug())
    std::fprintf(stderr, "split: %lld columns into %zu chunks\n", static_cast<long long>(dst.data.dims[n]),
                 split ? split->numChunks() : size_t{0});
  return split;
}

}  // namespace sy_cpu
