// nequip_ops: the CPU kernels, compiled once per instruction set (see tp_cpu_isa.h).
//
// No include guard and no includes: tp_ops.cpp includes this file several times, each time inside
// its own namespace and under its own `#pragma GCC target`, after the headers and the shared types
// (Path, Coefficient, PathList, EdgesByRow, check_range) it uses.
//
// Scatter-free parallelism: where the open slot is a node (convolution x / out, channel-wise x2),
// edges are grouped by their destination row with a counting sort and each thread owns whole
// rows, so results are deterministic and no atomics are needed; per-edge slots run over edges.
// at::parallel_for follows torch.set_num_threads.

// Row r of the result, zeroed by the thread that accumulates into it: one pass over the result while
// its rows are in cache, instead of a separate zero fill of the whole (often edge-sized) tensor.
template <typename scalar_t>
scalar_t* zero_row(scalar_t* result, int64_t row, int64_t width) {
  scalar_t* out = result + row * width;
  std::fill(out, out + width, scalar_t(0));
  return out;
}

// The row of an operand, or null for the open slot (whose tensor is only a placeholder).
template <typename T>
const T* row_of(const at::Tensor& t, int64_t row) {
  return t.defined() ? t.data_ptr<T>() + row * t.size(1) : nullptr;
}

// Convolution kernels work on channel-minor blocks: e3nn stores a block of `mul` channels of
// dimension d as [mul][d]; these kernels read and accumulate it as [d][mul], so that every inner
// loop runs over contiguous channels and vectorises (`omp simd`). Node operands are transposed
// once per call, accumulated node rows once per row (Block lists in PathList).
template <typename scalar_t>
void to_channel_minor(const scalar_t* src, scalar_t* dst, const std::vector<Block>& blocks) {
  for (const Block& b : blocks)
    for (int64_t u = 0; u < b.mul; ++u)
      for (int64_t i = 0; i < b.dim; ++i) dst[b.start + i * b.mul + u] = src[b.start + u * b.dim + i];
}

template <typename scalar_t>
void from_channel_minor(const scalar_t* src, scalar_t* dst, const std::vector<Block>& blocks) {
  for (const Block& b : blocks)
    for (int64_t u = 0; u < b.mul; ++u)
      for (int64_t i = 0; i < b.dim; ++i) dst[b.start + u * b.dim + i] = src[b.start + i * b.mul + u];
}

// A channel-minor copy of a node operand (columns outside the blocks are copied as they are).
template <typename scalar_t>
at::Tensor channel_minor(const at::Tensor& t, const std::vector<Block>& blocks) {
  if (!t.defined()) return t;
  at::Tensor out = at::empty_like(t);
  const int64_t width = t.size(1);
  const scalar_t* src = t.data_ptr<scalar_t>();
  scalar_t* dst = out.data_ptr<scalar_t>();
  at::parallel_for(0, t.size(0), 64, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      std::copy(src + r * width, src + (r + 1) * width, dst + r * width);
      to_channel_minor(src + r * width, dst + r * width, blocks);
    }
  });
  return out;
}

// dst[b,u] += sum_a coupling(a, b) w[u] src[a,u] over the `na` source and `nb` destination rows of a
// channel-minor block (the x and out slots of the convolution, which mirror each other); `t` holds
// w * src[a] for one a at a time, and zero couplings are skipped.
template <typename scalar_t, typename Coupling>
void couple_rows(const scalar_t* w, const scalar_t* src, int64_t na, scalar_t* dst, int64_t nb, int64_t mul, scalar_t* t,
                 Coupling coupling) {
  for (int64_t a = 0; a < na; ++a) {
    const scalar_t* sa = src + a * mul;
#pragma omp simd
    for (int64_t u = 0; u < mul; ++u) t[u] = w[u] * sa[u];
    for (int64_t b = 0; b < nb; ++b) {
      const scalar_t m = coupling(a, b);
      if (m == scalar_t(0)) continue;
      scalar_t* db = dst + b * mul;
#pragma omp simd
      for (int64_t u = 0; u < mul; ++u) db[u] += m * t[u];
    }
  }
}

// One path of one convolution edge: adds dT/d(open slot) of this (edge, path) to `out`, the open
// slot's row (channel-minor for x and out, as are the x and y rows read here). M[i,k] = sum_j sh[j]
// C[i,j,k] is formed once; then each nonzero M[i,k] is one pass over the channels. D1, D3 > 0 fix
// the block sizes at compile time (l <= 3); 0 reads them from the path. `scratch` holds max_mul
// values, then max_block.
template <typename scalar_t, int64_t OPEN, int D1, int D3>
void conv_path(const Path& p, const Coefficient<scalar_t>* cg, const scalar_t* x, const scalar_t* sh,
               const scalar_t* w, const scalar_t* y, scalar_t* out, scalar_t* scratch, int64_t max_mul) {
  const int64_t d1 = D1 ? D1 : p.d1, d3 = D3 ? D3 : p.d3, mul = p.mul;
  const Coefficient<scalar_t>* begin = cg + p.cg_begin;
  const Coefficient<scalar_t>* end = cg + p.cg_end;
  const scalar_t* wp = w + p.weight;
  if constexpr (OPEN == CONV_SH) {  // out[j] += sum_ik C[i,j,k] sum_u w[u] x[i,u] y[k,u]
    for (const auto* c = begin; c != end; ++c) {
      const scalar_t* xi = x + p.in1 + c->i * mul;
      const scalar_t* yk = y + p.out + c->k * mul;
      scalar_t s = 0;
#pragma omp simd reduction(+ : s)
      for (int64_t u = 0; u < mul; ++u) s += wp[u] * xi[u] * yk[u];
      out[p.in2 + c->j] += c->value * s;
    }
    return;
  }
  scalar_t fixed[D1 * D3 > 0 ? D1 * D3 : 1];
  scalar_t* M = D1 * D3 > 0 ? fixed : scratch + max_mul;
  std::fill(M, M + d1 * d3, scalar_t(0));
  for (const auto* c = begin; c != end; ++c) M[c->i * d3 + c->k] += c->value * sh[p.in2 + c->j];
  scalar_t* t = scratch;
  if constexpr (OPEN == CONV_OUT) {  // out[k,u] += M[i,k] w[u] x[i,u]
    couple_rows(wp, x + p.in1, d1, out + p.out, d3, mul, t, [&](int64_t i, int64_t k) { return M[i * d3 + k]; });
  } else if constexpr (OPEN == CONV_X) {  // out[i,u] += M[i,k] w[u] y[k,u]
    couple_rows(wp, y + p.out, d3, out + p.in1, d1, mul, t, [&](int64_t k, int64_t i) { return M[i * d3 + k]; });
  } else {  // CONV_WEIGHT: out[u] += sum_ik M[i,k] x[i,u] y[k,u]
    scalar_t* ow = out + p.weight;
    for (int64_t i = 0; i < d1; ++i) {
      const scalar_t* xi = x + p.in1 + i * mul;
      for (int64_t k = 0; k < d3; ++k) {
        const scalar_t m = M[i * d3 + k];
        if (m == scalar_t(0)) continue;
        const scalar_t* yk = y + p.out + k * mul;
#pragma omp simd
        for (int64_t u = 0; u < mul; ++u) ow[u] += m * xi[u] * yk[u];
      }
    }
  }
}

template <typename scalar_t>
using ConvPathFn = void (*)(const Path&, const Coefficient<scalar_t>*, const scalar_t*, const scalar_t*,
                            const scalar_t*, const scalar_t*, scalar_t*, scalar_t*, int64_t);

template <typename scalar_t, int64_t OPEN>
ConvPathFn<scalar_t> conv_path_for(int64_t d1, int64_t d3) {
#define NEQUIP_OPS_BLOCK(A, B) \
  if (d1 == A && d3 == B) return &conv_path<scalar_t, OPEN, A, B>;
#define NEQUIP_OPS_ROW(A) NEQUIP_OPS_BLOCK(A, 1) NEQUIP_OPS_BLOCK(A, 3) NEQUIP_OPS_BLOCK(A, 5) NEQUIP_OPS_BLOCK(A, 7)
  NEQUIP_OPS_ROW(1) NEQUIP_OPS_ROW(3) NEQUIP_OPS_ROW(5) NEQUIP_OPS_ROW(7)
#undef NEQUIP_OPS_ROW
#undef NEQUIP_OPS_BLOCK
  return &conv_path<scalar_t, OPEN, 0, 0>;
}

// The path kernels of one call, chosen once per path.
template <typename scalar_t>
std::vector<ConvPathFn<scalar_t>> conv_path_kernels(const PathList<scalar_t>& list, int64_t open) {
  std::vector<ConvPathFn<scalar_t>> kernels;
  for (const Path& p : list.paths) {
    switch (open) {
      case CONV_X: kernels.push_back(conv_path_for<scalar_t, CONV_X>(p.d1, p.d3)); break;
      case CONV_SH: kernels.push_back(conv_path_for<scalar_t, CONV_SH>(p.d1, p.d3)); break;
      case CONV_WEIGHT: kernels.push_back(conv_path_for<scalar_t, CONV_WEIGHT>(p.d1, p.d3)); break;
      default: kernels.push_back(conv_path_for<scalar_t, CONV_OUT>(p.d1, p.d3));
    }
  }
  return kernels;
}

template <typename scalar_t>
void conv_cpu(const at::Tensor& x_, const at::Tensor& sh, const at::Tensor& weight, const at::Tensor& y_,
              const at::Tensor& center, const at::Tensor& neighbor, const PathList<scalar_t>& list, int64_t open,
              int64_t num_nodes, at::Tensor& result) {
  const int64_t num_edges = center.size(0);
  const int64_t* c_idx = center.data_ptr<int64_t>();
  const int64_t* n_idx = neighbor.data_ptr<int64_t>();
  scalar_t* res = result.data_ptr<scalar_t>();
  const int64_t width = result.size(1);
  const auto kernels = conv_path_kernels(list, open);
  const at::Tensor x = channel_minor<scalar_t>(x_, list.in1_blocks), y = channel_minor<scalar_t>(y_, list.out_blocks);
  const int64_t scratch_size = list.max_mul + list.max_block;
  auto edge = [&](int64_t e, scalar_t* out, scalar_t* scratch) {
    const scalar_t *xe = row_of<scalar_t>(x, n_idx[e]), *she = row_of<scalar_t>(sh, e),
                   *we = row_of<scalar_t>(weight, e), *ye = row_of<scalar_t>(y, c_idx[e]);
    for (size_t p = 0; p < kernels.size(); ++p)
      kernels[p](list.paths[p], list.cg.data(), xe, she, we, ye, out, scratch, list.max_mul);
  };
  if (open == CONV_X || open == CONV_OUT) {
    const bool to_center = open == CONV_OUT;
    const std::vector<Block>& blocks = to_center ? list.out_blocks : list.in1_blocks;
    const EdgesByRow groups(to_center ? c_idx : n_idx, num_edges, num_nodes, to_center ? "center" : "neighbor");
    check_range(to_center ? n_idx : c_idx, num_edges, num_nodes, to_center ? "neighbor" : "center");
    at::parallel_for(0, num_nodes, 16, [&](int64_t begin, int64_t end) {
      std::vector<scalar_t> scratch(scratch_size), row(width);
      for (int64_t r = begin; r < end; ++r) {
        std::fill(row.begin(), row.end(), scalar_t(0));
        for (int64_t n = groups.row_start[r]; n < groups.row_start[r + 1]; ++n) edge(groups.edges[n], row.data(), scratch.data());
        from_channel_minor(row.data(), zero_row(res, r, width), blocks);
      }
    });
  } else {
    check_range(c_idx, num_edges, num_nodes, "center");
    check_range(n_idx, num_edges, num_nodes, "neighbor");
    at::parallel_for(0, num_edges, 64, [&](int64_t begin, int64_t end) {
      std::vector<scalar_t> scratch(scratch_size);
      for (int64_t e = begin; e < end; ++e) edge(e, zero_row(res, e, width), scratch.data());
    });
  }
}

// One edge of the channel-wise product: per path and channel u, a sparse contraction of three
// (2l+1)-vectors with the path's nonzero coefficients.
template <typename scalar_t>
void channelwise_edge(int64_t open, const PathList<scalar_t>& list, const scalar_t* x1, const scalar_t* x2,
                      const scalar_t* y, scalar_t* out) {
  for (const Path& p : list.paths) {
    const auto* begin = list.cg.data() + p.cg_begin;
    const auto* end = list.cg.data() + p.cg_end;
    for (int64_t u = 0; u < p.mul; ++u) {
      const int64_t a = p.in1 + u * p.d1, b = p.in2 + u * p.d2, g = p.out + u * p.d3;
      if (open == CW_OUT) {
        for (const auto* c = begin; c != end; ++c) out[g + c->k] += c->value * x1[a + c->i] * x2[b + c->j];
      } else if (open == CW_X1) {
        for (const auto* c = begin; c != end; ++c) out[a + c->i] += c->value * x2[b + c->j] * y[g + c->k];
      } else {
        for (const auto* c = begin; c != end; ++c) out[b + c->j] += c->value * x1[a + c->i] * y[g + c->k];
      }
    }
  }
}

template <typename scalar_t>
void channelwise_cpu(const at::Tensor& x1, const at::Tensor& x2, const at::Tensor& y, const at::Tensor& index,
                     const PathList<scalar_t>& list, int64_t open, int64_t x2_rows, at::Tensor& result) {
  const int64_t num_edges = index.size(0), cols = result.size(1);
  const int64_t* idx = index.data_ptr<int64_t>();
  scalar_t* res = result.data_ptr<scalar_t>();
  auto edge = [&](int64_t e, scalar_t* out) {
    channelwise_edge<scalar_t>(open, list, row_of<scalar_t>(x1, e), row_of<scalar_t>(x2, idx[e]), row_of<scalar_t>(y, e),
                               out);
  };
  if (open == CW_X2) {
    const EdgesByRow groups(idx, num_edges, x2_rows, "index");
    at::parallel_for(0, x2_rows, 16, [&](int64_t begin, int64_t end) {
      for (int64_t r = begin; r < end; ++r) {
        scalar_t* out = zero_row(res, r, cols);
        for (int64_t n = groups.row_start[r]; n < groups.row_start[r + 1]; ++n) edge(groups.edges[n], out);
      }
    });
  } else {
    check_range(idx, num_edges, x2_rows, "index");
    at::parallel_for(0, num_edges, 64, [&](int64_t begin, int64_t end) {
      for (int64_t e = begin; e < end; ++e) edge(e, zero_row(res, e, cols));
    });
  }
}
