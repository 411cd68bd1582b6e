// nequip_ops: operator schemas, argument checks and the CPU kernels (see tp_ops.h for the maths).
//
// Scatter-free parallelism: where the open slot is a node (convolution x / out, channel-wise x2),
// edges are grouped by their destination row with a counting sort and each thread owns whole
// rows, so results are deterministic and no atomics are needed; per-edge slots run over edges.
// at::parallel_for follows torch.set_num_threads.
#include "tp_ops.h"

#include <ATen/Parallel.h>
#include <torch/library.h>

#include <algorithm>
#include <vector>

namespace nequip_ops {

namespace {

void check_features(const at::Tensor& t, const char* name, int64_t rows, const at::Tensor& like) {
  TORCH_CHECK(t.dim() == 2, "nequip_ops: ", name, " must be 2-D [rows, features], got shape ", t.sizes());
  TORCH_CHECK(t.size(0) == rows, "nequip_ops: ", name, " has ", t.size(0), " rows, expected ", rows);
  TORCH_CHECK(t.scalar_type() == like.scalar_type(), "nequip_ops: ", name, " is ", t.scalar_type(),
              " but the other features are ", like.scalar_type(), "; cast all inputs to one dtype");
  TORCH_CHECK(t.device() == like.device(), "nequip_ops: ", name, " is on ", t.device(), " but the other inputs are on ",
              like.device());
}

void check_index(const at::Tensor& t, const char* name, int64_t length, const at::Tensor& like) {
  TORCH_CHECK(t.dim() == 1 && t.scalar_type() == at::kLong, "nequip_ops: ", name, " must be a 1-D int64 tensor");
  TORCH_CHECK(t.size(0) == length, "nequip_ops: ", name, " has ", t.size(0), " entries, expected ", length);
  TORCH_CHECK(t.device() == like.device(), "nequip_ops: ", name, " is on ", t.device(), " but the features are on ",
              like.device());
}

void check_paths(const at::Tensor& paths, const at::Tensor& cg_index, const at::Tensor& cg_value) {
  TORCH_CHECK(paths.dim() == 2 && paths.size(1) == PATH_COLUMNS && paths.scalar_type() == at::kLong,
              "nequip_ops: paths must be an int64 table [P, ", static_cast<int64_t>(PATH_COLUMNS), "]");
  TORCH_CHECK(cg_index.dim() == 2 && cg_index.size(1) == 3 && cg_index.scalar_type() == at::kLong,
              "nequip_ops: cg_index must be int64 [nnz, 3]");
  TORCH_CHECK(cg_value.dim() == 1 && cg_value.size(0) == cg_index.size(0),
              "nequip_ops: cg_value must be [nnz] beside cg_index");
}

}  // namespace

int64_t check_conv_args(const at::Tensor& x, const at::Tensor& sh, const at::Tensor& weight, const at::Tensor& y,
                        const at::Tensor& center, const at::Tensor& neighbor, const at::Tensor& paths,
                        const at::Tensor& cg_index, const at::Tensor& cg_value, int64_t open, int64_t rows) {
  TORCH_CHECK(open >= CONV_X && open <= CONV_OUT, "nequip_ops.conv_contract: open must be 0..3, got ", open);
  check_paths(paths, cg_index, cg_value);
  const int64_t num_edges = center.size(0);
  const int64_t num_nodes = open == CONV_X ? y.size(0) : x.size(0);
  const at::Tensor& like = open == CONV_SH ? weight : sh;
  TORCH_CHECK(like.is_floating_point(), "nequip_ops.conv_contract: features must be floating point, got ", like.scalar_type());
  if (open != CONV_X) check_features(x, "x", num_nodes, like);
  if (open != CONV_SH) check_features(sh, "sh", num_edges, like);
  if (open != CONV_WEIGHT) check_features(weight, "weight", num_edges, like);
  if (open != CONV_OUT) check_features(y, "y", num_nodes, like);
  check_index(center, "center", num_edges, like);
  check_index(neighbor, "neighbor", num_edges, like);
  const int64_t expected_rows = (open == CONV_X || open == CONV_OUT) ? num_nodes : num_edges;
  TORCH_CHECK(rows == expected_rows, "nequip_ops.conv_contract: rows = ", rows, " but the open slot has ",
              expected_rows);
  return num_nodes;
}

int64_t check_channelwise_args(const at::Tensor& x1, const at::Tensor& x2, const at::Tensor& y,
                               const at::Tensor& index, const at::Tensor& paths, const at::Tensor& cg_index,
                               const at::Tensor& cg_value, int64_t open, int64_t rows) {
  TORCH_CHECK(open >= CW_X1 && open <= CW_OUT, "nequip_ops.channelwise_contract: open must be 0..2, got ", open);
  check_paths(paths, cg_index, cg_value);
  const int64_t num_edges = index.size(0);
  const int64_t x2_rows = open == CW_X2 ? rows : x2.size(0);
  const at::Tensor& like = open == CW_X1 ? y : x1;
  TORCH_CHECK(like.is_floating_point(), "nequip_ops.channelwise_contract: features must be floating point");
  if (open != CW_X1) check_features(x1, "x1", num_edges, like);
  if (open != CW_X2) check_features(x2, "x2", x2_rows, like);
  if (open != CW_OUT) check_features(y, "y", num_edges, like);
  check_index(index, "index", num_edges, like);
  if (open != CW_X2)
    TORCH_CHECK(rows == num_edges, "nequip_ops.channelwise_contract: rows = ", rows, " but there are ", num_edges,
                " edges");
  return x2_rows;
}

namespace {

struct Path {
  int64_t mul, d1, d2, d3, in1, in2, out, weight, cg_begin, cg_end;
};

template <typename scalar_t>
struct Coefficient {
  int64_t i, j, k;
  scalar_t value;
};

template <typename scalar_t>
struct PathList {
  std::vector<Path> paths;
  std::vector<Coefficient<scalar_t>> cg;
  int64_t max_block = 1;  // largest (2 l1 + 1) (2 l_out + 1): scratch size per thread

  PathList(const at::Tensor& table, const at::Tensor& cg_index, const at::Tensor& cg_value) {
    const at::Tensor t = table.contiguous();
    const int64_t* p = t.data_ptr<int64_t>();
    for (int64_t r = 0; r < t.size(0); ++r, p += PATH_COLUMNS) {
      paths.push_back({p[MUL], 2 * p[L1] + 1, 2 * p[L2] + 1, 2 * p[L_OUT] + 1, p[IN1_START], p[IN2_START],
                       p[OUT_START], p[WEIGHT_START], p[CG_BEGIN], p[CG_END]});
      max_block = std::max(max_block, paths.back().d1 * paths.back().d3);
    }
    const at::Tensor idx = cg_index.contiguous();
    const at::Tensor val = cg_value.to(c10::CppTypeToScalarType<scalar_t>::value).contiguous();
    const int64_t* ijk = idx.data_ptr<int64_t>();
    const scalar_t* v = val.data_ptr<scalar_t>();
    for (int64_t n = 0; n < idx.size(0); ++n) cg.push_back({ijk[3 * n], ijk[3 * n + 1], ijk[3 * n + 2], v[n]});
  }
};

// Edges grouped by destination row (counting sort): row r owns edges[row_start[r] .. row_start[r+1]).
struct EdgesByRow {
  std::vector<int64_t> row_start, edges;

  EdgesByRow(const int64_t* destination, int64_t num_edges, int64_t rows, const char* name)
      : row_start(rows + 1, 0), edges(num_edges) {
    for (int64_t e = 0; e < num_edges; ++e) {
      const int64_t r = destination[e];
      TORCH_CHECK(r >= 0 && r < rows, "nequip_ops: ", name, "[", e, "] = ", r, " is outside [0, ", rows, ")");
      ++row_start[r + 1];
    }
    for (int64_t r = 0; r < rows; ++r) row_start[r + 1] += row_start[r];
    std::vector<int64_t> fill(row_start.begin(), row_start.end() - 1);
    for (int64_t e = 0; e < num_edges; ++e) edges[fill[destination[e]]++] = e;
  }
};

void check_range(const int64_t* index, int64_t length, int64_t rows, const char* name) {
  for (int64_t e = 0; e < length; ++e)
    TORCH_CHECK(index[e] >= 0 && index[e] < rows, "nequip_ops: ", name, "[", e, "] = ", index[e],
                " is outside [0, ", rows, ")");
}

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

// One path of one convolution edge: adds dT/d(open slot) of this (edge, path) to `out`, the open
// slot's row. M[i,k] = sum_j sh[j] C[i,j,k] is formed once; the channel loop is then a small dense
// product over contiguous blocks. D1, D3 > 0 fix the block sizes at compile time so the inner loops
// unroll (l <= 3); 0 reads them from the path.
template <typename scalar_t, int64_t OPEN, int D1, int D3>
void conv_path(const Path& p, const Coefficient<scalar_t>* cg, const scalar_t* x, const scalar_t* sh,
               const scalar_t* w, const scalar_t* y, scalar_t* out, scalar_t* scratch) {
  const int64_t d1 = D1 ? D1 : p.d1, d3 = D3 ? D3 : p.d3;
  scalar_t fixed[D1 * D3 > 0 ? D1 * D3 : 1];
  scalar_t* M = D1 * D3 > 0 ? fixed : scratch;
  std::fill(M, M + d1 * d3, scalar_t(0));
  const Coefficient<scalar_t>* begin = cg + p.cg_begin;
  const Coefficient<scalar_t>* end = cg + p.cg_end;
  if constexpr (OPEN == CONV_SH) {  // P[i,k] = sum_u w[u] x[u,i] y[u,k];  out[j] += sum_ik C[i,j,k] P[i,k]
    for (int64_t u = 0; u < p.mul; ++u) {
      const scalar_t* xu = x + p.in1 + u * d1;
      const scalar_t* yu = y + p.out + u * d3;
      for (int64_t i = 0; i < d1; ++i) {
        const scalar_t a = w[p.weight + u] * xu[i];
        for (int64_t k = 0; k < d3; ++k) M[i * d3 + k] += a * yu[k];
      }
    }
    for (const auto* c = begin; c != end; ++c) out[p.in2 + c->j] += c->value * M[c->i * d3 + c->k];
    return;
  }
  for (const auto* c = begin; c != end; ++c) M[c->i * d3 + c->k] += c->value * sh[p.in2 + c->j];
  for (int64_t u = 0; u < p.mul; ++u) {
    if constexpr (OPEN == CONV_OUT) {
      const scalar_t* xu = x + p.in1 + u * d1;
      scalar_t* ou = out + p.out + u * d3;
      for (int64_t i = 0; i < d1; ++i) {
        const scalar_t a = w[p.weight + u] * xu[i];
        for (int64_t k = 0; k < d3; ++k) ou[k] += a * M[i * d3 + k];
      }
    } else if constexpr (OPEN == CONV_X) {
      const scalar_t* yu = y + p.out + u * d3;
      scalar_t* ou = out + p.in1 + u * d1;
      for (int64_t i = 0; i < d1; ++i) {
        scalar_t s = 0;
        for (int64_t k = 0; k < d3; ++k) s += M[i * d3 + k] * yu[k];
        ou[i] += w[p.weight + u] * s;
      }
    } else {  // CONV_WEIGHT
      const scalar_t* xu = x + p.in1 + u * d1;
      const scalar_t* yu = y + p.out + u * d3;
      scalar_t s = 0;
      for (int64_t i = 0; i < d1; ++i)
        for (int64_t k = 0; k < d3; ++k) s += xu[i] * M[i * d3 + k] * yu[k];
      out[p.weight + u] += s;
    }
  }
}

template <typename scalar_t>
using ConvPathFn = void (*)(const Path&, const Coefficient<scalar_t>*, const scalar_t*, const scalar_t*,
                            const scalar_t*, const scalar_t*, scalar_t*, scalar_t*);

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
void conv_cpu(const at::Tensor& x, const at::Tensor& sh, const at::Tensor& weight, const at::Tensor& y,
              const at::Tensor& center, const at::Tensor& neighbor, const PathList<scalar_t>& list, int64_t open,
              int64_t num_nodes, at::Tensor& result) {
  const int64_t num_edges = center.size(0);
  const int64_t* c_idx = center.data_ptr<int64_t>();
  const int64_t* n_idx = neighbor.data_ptr<int64_t>();
  scalar_t* res = result.data_ptr<scalar_t>();
  const int64_t width = result.size(1);
  const auto kernels = conv_path_kernels(list, open);
  auto edge = [&](int64_t e, scalar_t* out, scalar_t* scratch) {
    const scalar_t *xe = row_of<scalar_t>(x, n_idx[e]), *she = row_of<scalar_t>(sh, e),
                   *we = row_of<scalar_t>(weight, e), *ye = row_of<scalar_t>(y, c_idx[e]);
    for (size_t p = 0; p < kernels.size(); ++p) kernels[p](list.paths[p], list.cg.data(), xe, she, we, ye, out, scratch);
  };
  if (open == CONV_X || open == CONV_OUT) {
    const bool to_center = open == CONV_OUT;
    const EdgesByRow groups(to_center ? c_idx : n_idx, num_edges, num_nodes, to_center ? "center" : "neighbor");
    check_range(to_center ? n_idx : c_idx, num_edges, num_nodes, to_center ? "neighbor" : "center");
    at::parallel_for(0, num_nodes, 16, [&](int64_t begin, int64_t end) {
      std::vector<scalar_t> scratch(list.max_block);
      for (int64_t r = begin; r < end; ++r) {
        scalar_t* out = zero_row(res, r, width);
        for (int64_t n = groups.row_start[r]; n < groups.row_start[r + 1]; ++n) edge(groups.edges[n], out, scratch.data());
      }
    });
  } else {
    check_range(c_idx, num_edges, num_nodes, "center");
    check_range(n_idx, num_edges, num_nodes, "neighbor");
    at::parallel_for(0, num_edges, 64, [&](int64_t begin, int64_t end) {
      std::vector<scalar_t> scratch(list.max_block);
      for (int64_t e = begin; e < end; ++e) edge(e, zero_row(res, e, width), scratch.data());
    });
  }
}

at::Tensor conv_contract_cpu(const at::Tensor& x_, const at::Tensor& sh_, const at::Tensor& weight_,
                             const at::Tensor& y_, const at::Tensor& center_, const at::Tensor& neighbor_,
                             const at::Tensor& paths, const at::Tensor& cg_index, const at::Tensor& cg_value,
                             int64_t open, int64_t rows, int64_t cols) {
  const int64_t num_nodes = check_conv_args(x_, sh_, weight_, y_, center_, neighbor_, paths, cg_index, cg_value, open, rows);
  // the open slot's tensor is a placeholder: drop it so kernels see null row pointers there
  auto operand = [&](const at::Tensor& t, int64_t slot) { return slot == open ? at::Tensor() : t.contiguous(); };
  const at::Tensor x = operand(x_, CONV_X), sh = operand(sh_, CONV_SH), weight = operand(weight_, CONV_WEIGHT),
                   y = operand(y_, CONV_OUT);
  const at::Tensor center = center_.contiguous(), neighbor = neighbor_.contiguous();
  const at::Tensor& like = open == CONV_SH ? weight : sh;
  at::Tensor result = at::empty({rows, cols}, like.options());  // each row zeroed by its thread (zero_row)
  AT_DISPATCH_FLOATING_TYPES(like.scalar_type(), "conv_contract_cpu", [&] {
    const PathList<scalar_t> list(paths, cg_index, cg_value);
    conv_cpu<scalar_t>(x, sh, weight, y, center, neighbor, list, open, num_nodes, result);
  });
  return result;
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

at::Tensor channelwise_contract_cpu(const at::Tensor& x1_, const at::Tensor& x2_, const at::Tensor& y_,
                                    const at::Tensor& index_, const at::Tensor& paths, const at::Tensor& cg_index,
                                    const at::Tensor& cg_value, int64_t open, int64_t rows, int64_t cols) {
  const int64_t x2_rows = check_channelwise_args(x1_, x2_, y_, index_, paths, cg_index, cg_value, open, rows);
  auto operand = [&](const at::Tensor& t, int64_t slot) { return slot == open ? at::Tensor() : t.contiguous(); };
  const at::Tensor x1 = operand(x1_, CW_X1), x2 = operand(x2_, CW_X2), y = operand(y_, CW_OUT);
  const at::Tensor index = index_.contiguous();
  const at::Tensor& like = open == CW_X1 ? y : x1;
  at::Tensor result = at::empty({rows, cols}, like.options());  // each row zeroed by its thread (zero_row)
  const int64_t num_edges = index.size(0);
  const int64_t* idx = index.data_ptr<int64_t>();
  AT_DISPATCH_FLOATING_TYPES(like.scalar_type(), "channelwise_contract_cpu", [&] {
    const PathList<scalar_t> list(paths, cg_index, cg_value);
    scalar_t* res = result.data_ptr<scalar_t>();
    auto edge = [&](int64_t e, scalar_t* out) {
      channelwise_edge<scalar_t>(open, list, row_of<scalar_t>(x1, e), row_of<scalar_t>(x2, idx[e]),
                                 row_of<scalar_t>(y, e), out);
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
  });
  return result;
}

}  // namespace
}  // namespace nequip_ops

TORCH_LIBRARY(nequip_ops, m) {
  m.def(
      "conv_contract(Tensor x, Tensor sh, Tensor weight, Tensor y, Tensor center, Tensor neighbor, Tensor paths, "
      "Tensor cg_index, Tensor cg_value, int open, SymInt rows, int cols) -> Tensor");
  m.def(
      "channelwise_contract(Tensor x1, Tensor x2, Tensor y, Tensor index, Tensor paths, Tensor cg_index, "
      "Tensor cg_value, int open, SymInt rows, int cols) -> Tensor");
}

TORCH_LIBRARY_IMPL(nequip_ops, CPU, m) {
  m.impl("conv_contract", &nequip_ops::conv_contract_cpu);
  m.impl("channelwise_contract", &nequip_ops::channelwise_contract_cpu);
}
