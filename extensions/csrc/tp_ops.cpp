// nequip_ops: operator schemas, argument checks and the CPU entry points (see tp_ops.h for the
// maths, tp_cpu_kernels.h for the kernels and tp_cpu_isa.h for the choice of instruction set).
#include "tp_ops.h"
#include "tp_cpu_isa.h"

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

// A feature block of `mul` channels of dimension `dim` from column `start`.
struct Block {
  int64_t start, mul, dim;
};

// Adds a path's block to `blocks` unless a block starts at the same column (paths share input blocks).
void add_block(std::vector<Block>& blocks, const Block& block) {
  for (const Block& b : blocks)
    if (b.start == block.start) {
      TORCH_CHECK(b.mul == block.mul && b.dim == block.dim, "nequip_ops: two paths read the block at column ",
                  block.start, " with different shapes");
      return;
    }
  blocks.push_back(block);
}

template <typename scalar_t>
struct PathList {
  std::vector<Path> paths;
  std::vector<Coefficient<scalar_t>> cg;
  std::vector<Block> in1_blocks, out_blocks;  // the distinct blocks of input 1 and of the output
  int64_t max_block = 1;                      // largest (2 l1 + 1) (2 l_out + 1)
  int64_t max_mul = 1;                        // largest multiplicity

  PathList(const at::Tensor& table, const at::Tensor& cg_index, const at::Tensor& cg_value) {
    const at::Tensor t = table.contiguous();
    const int64_t* p = t.data_ptr<int64_t>();
    for (int64_t r = 0; r < t.size(0); ++r, p += PATH_COLUMNS) {
      paths.push_back({p[MUL], 2 * p[L1] + 1, 2 * p[L2] + 1, 2 * p[L_OUT] + 1, p[IN1_START], p[IN2_START],
                       p[OUT_START], p[WEIGHT_START], p[CG_BEGIN], p[CG_END]});
      const Path& path = paths.back();
      max_block = std::max(max_block, path.d1 * path.d3);
      max_mul = std::max(max_mul, path.mul);
      add_block(in1_blocks, {path.in1, path.mul, path.d1});
      add_block(out_blocks, {path.out, path.mul, path.d3});
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

}  // namespace

// The kernels of tp_cpu_kernels.h, once per instruction set; each call runs the best one this CPU
// has (tp_cpu_isa.h), so one cached library serves every node of a heterogeneous cluster.
namespace cpu_baseline {
namespace {
#include "tp_cpu_kernels.h"
}  // namespace
}  // namespace cpu_baseline
#if NEQUIP_OPS_X86_ISAS
#pragma GCC push_options
#pragma GCC target("avx2,fma")
namespace cpu_avx2 {
namespace {
#include "tp_cpu_kernels.h"
}  // namespace
}  // namespace cpu_avx2
#pragma GCC pop_options
#pragma GCC push_options
#pragma GCC target("avx512f,avx512vl,avx512bw,avx512dq,avx2,fma")
namespace cpu_avx512 {
namespace {
#include "tp_cpu_kernels.h"
}  // namespace
}  // namespace cpu_avx512
#pragma GCC pop_options
// KERNEL(args) in the namespace of the instruction set chosen for this call
#define NEQUIP_OPS_CPU_KERNEL(KERNEL, ...)                                  \
  switch (cpu_isa()) {                                                      \
    case CpuIsa::avx512: cpu_avx512::KERNEL(__VA_ARGS__); break;           \
    case CpuIsa::avx2: cpu_avx2::KERNEL(__VA_ARGS__); break;               \
    default: cpu_baseline::KERNEL(__VA_ARGS__);                             \
  }
#else
#define NEQUIP_OPS_CPU_KERNEL(KERNEL, ...) cpu_baseline::KERNEL(__VA_ARGS__)
#endif

namespace {

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
    NEQUIP_OPS_CPU_KERNEL(conv_cpu<scalar_t>, x, sh, weight, y, center, neighbor, list, open, num_nodes, result);
  });
  return result;
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
  AT_DISPATCH_FLOATING_TYPES(like.scalar_type(), "channelwise_contract_cpu", [&] {
    const PathList<scalar_t> list(paths, cg_index, cg_value);
    NEQUIP_OPS_CPU_KERNEL(channelwise_cpu<scalar_t>, x1, x2, y, index, list, open, x2_rows, result);
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
