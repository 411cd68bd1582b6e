// nequip_ops: the CUDA kernels of both operators (see tp_ops.h for the maths), free of torch headers;
// tp_launch.h launches them (from tp_ops_cuda.cu on a GPU, and from extensions/testing/ on the host,
// where the same source runs under an emulated launch in the tests).
//
// Two kernels per operator, both one thread per work item:
// - scatter kernels (conv_kernel, channelwise_kernel): one item per (edge, path, channel). A thread
//   accumulates its (2l+1)-vector in registers and adds it to the open slot's row with atomics, so
//   the convolution's scatter onto atoms is fused into the product and no [edges, features] message
//   tensor is written. Scattered slots are summed in a nondeterministic order; double-precision
//   atomicAdd needs compute capability 6.0 or newer.
// - owner kernels (conv_owner_kernel, channelwise_owner_kernel): one item per (row of the open slot,
//   unit), a unit being a block of the row that only this thread writes. Edges are grouped by their
//   destination row on the host (as the CPU kernels do), and a thread sums its row's edges in that
//   fixed order and writes its block once: deterministic, no atomics.
// - the staged convolution kernel (conv_staged_kernel, node slots x and out): the owner kernel's
//   work, one thread block per (destination atom, chunk of units), with the per-edge coupling
//   M_p[i,k] = sum_j C_p[i,j,k] sh[e,j] formed once per edge by the whole block in shared memory
//   (instead of every thread walking its path's Clebsch-Gordan nonzeros); phases separated by
//   __syncthreads. Deterministic, no atomics.
#pragma once

#include <cstdint>

#include "tp_layout.h"

namespace nequip_ops {

constexpr int kMaxDim = 15;  // 2 l + 1 for l <= 7: the per-thread register vectors
constexpr int kThreads = 256;
constexpr int kStagedThreads = 128;  // staged kernel: threads per block (units of one chunk)
constexpr int64_t kMaxSharedBytes = 48 * 1024;  // without the opt-in attribute, on every GPU since sm_30
constexpr int64_t kMaxGridBlocks = 2147483647;  // gridDim.x (compute capability >= 3.0)

// Columns of a unit table (owner kernels): the units of a row are numbered 0 .. per_row; group g owns
// units [START, START + COUNT) and the paths group_paths[PATH_BEGIN .. PATH_END), which all write the
// same block of the open slot. Unit r of a group is channel r of its paths, or, when SUMMED (the open
// slot has no channels: the convolution's sh), the group's only unit, summing all channels.
enum UnitColumn : int64_t { UNIT_START, UNIT_COUNT, UNIT_SUMMED, UNIT_PATH_BEGIN, UNIT_PATH_END, UNIT_COLUMNS };

struct Grid {
  int64_t blocks, threads, shared_bytes = 0;
  bool synchronizes = false;  // the kernel calls __syncthreads (the host emulation runs a block's threads together)
};

// The launch shape for `items` work items, one thread each: the one grid computation of the CUDA
// launcher and of the host emulation, so the grid the tests run is the grid a GPU runs.
inline Grid item_grid(int64_t items) { return {(items + kThreads - 1) / kThreads, kThreads}; }

// The staged kernel's launch shape: one block per (row, chunk of kStagedThreads units), M in shared memory.
inline Grid staged_grid(int64_t rows, int64_t per_row, int64_t shared_bytes) {
  return {rows * ((per_row + kStagedThreads - 1) / kStagedThreads), kStagedThreads, shared_bytes, true};
}

// The largest r in [0, rows) with table[r, column] <= q, for a table sorted on that column whose first
// entry is 0 (binary search: path tables of high-l models have hundreds of rows).
__host__ __device__ inline int64_t find_row(const int64_t* table, int64_t columns, int64_t column, int64_t rows,
                                            int64_t q) {
  int64_t lo = 0, hi = rows;  // answer in [lo, hi)
  while (hi - lo > 1) {
    const int64_t mid = lo + (hi - lo) / 2;
    if (table[mid * columns + column] <= q) lo = mid;
    else hi = mid;
  }
  return lo;
}

struct Item {
  int64_t edge, path, channel;
};

// Scatter kernels number their items edge-major; within an edge, WEIGHT_START enumerates
// (path, channel) pairs.
__host__ __device__ inline Item locate(int64_t item, int64_t per_edge, const int64_t* paths, int64_t num_paths) {
  const int64_t edge = item / per_edge, q = item % per_edge;
  const int64_t p = find_row(paths, PATH_COLUMNS, WEIGHT_START, num_paths, q);
  return {edge, p, q - paths[p * PATH_COLUMNS + WEIGHT_START]};
}

__device__ inline int64_t thread_item() { return blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; }

// Where the open slot's block of one (path, channel) lies in its row: columns [column, column + size).
struct Block {
  int64_t column, size;
};

// ---- convolution ----

template <typename scalar_t>
struct ConvArgs {
  const scalar_t *x, *sh, *w, *y;  // the open slot's pointer is null
  const int64_t *center, *neighbor, *paths, *cg_index;
  const scalar_t* cg_value;
  int64_t x_cols, sh_cols, w_cols, y_cols, open;
};

__host__ __device__ inline Block conv_block(int64_t open, const int64_t* p, int64_t u) {
  switch (open) {
    case CONV_OUT: return {p[OUT_START] + u * (2 * p[L_OUT] + 1), 2 * p[L_OUT] + 1};
    case CONV_X: return {p[IN1_START] + u * (2 * p[L1] + 1), 2 * p[L1] + 1};
    case CONV_SH: return {p[IN2_START], 2 * p[L2] + 1};
    default: return {p[WEIGHT_START] + u, 1};
  }
}

// The row of the open slot that edge e adds to.
template <typename scalar_t>
__device__ inline int64_t conv_row(const ConvArgs<scalar_t>& a, int64_t e) {
  return a.open == CONV_OUT ? a.center[e] : a.open == CONV_X ? a.neighbor[e] : e;
}

// dT/d(open slot) of one (edge e, path p, channel u), added to acc (the block of conv_block).
template <typename scalar_t>
__device__ inline void conv_term(const ConvArgs<scalar_t>& a, const int64_t* p, int64_t e, int64_t u, scalar_t* acc) {
  const int64_t d1 = 2 * p[L1] + 1, d3 = 2 * p[L_OUT] + 1, c = a.center[e], n = a.neighbor[e];
  const scalar_t* xu = a.x ? a.x + n * a.x_cols + p[IN1_START] + u * d1 : nullptr;
  const scalar_t* she = a.sh ? a.sh + e * a.sh_cols + p[IN2_START] : nullptr;
  const scalar_t wu = a.w ? a.w[e * a.w_cols + p[WEIGHT_START] + u] : scalar_t(0);
  const scalar_t* yu = a.y ? a.y + c * a.y_cols + p[OUT_START] + u * d3 : nullptr;
  scalar_t part[kMaxDim] = {};
  scalar_t total = 0;
  for (int64_t z = p[CG_BEGIN]; z < p[CG_END]; ++z) {
    const int64_t i = a.cg_index[3 * z], j = a.cg_index[3 * z + 1], k = a.cg_index[3 * z + 2];
    const scalar_t v = a.cg_value[z];
    switch (a.open) {
      case CONV_OUT: part[k] += v * xu[i] * she[j]; break;
      case CONV_X: part[i] += v * she[j] * yu[k]; break;
      case CONV_SH: part[j] += v * xu[i] * yu[k]; break;
      default: total += v * xu[i] * she[j] * yu[k];
    }
  }
  if (a.open == CONV_WEIGHT) {
    acc[0] += total;
    return;
  }
  for (int64_t k = 0; k < conv_block(a.open, p, u).size; ++k) acc[k] += wu * part[k];
}

template <typename scalar_t>
__global__ void conv_kernel(ConvArgs<scalar_t> a, int64_t num_paths, int64_t per_edge, int64_t num_items,
                            scalar_t* result, int64_t result_cols) {
  const int64_t item = thread_item();
  if (item >= num_items) return;
  const Item it = locate(item, per_edge, a.paths, num_paths);
  const int64_t* p = a.paths + it.path * PATH_COLUMNS;
  scalar_t acc[kMaxDim] = {};
  conv_term(a, p, it.edge, it.channel, acc);
  const Block b = conv_block(a.open, p, it.channel);
  scalar_t* out = result + conv_row(a, it.edge) * result_cols + b.column;
  if (a.open == CONV_WEIGHT) {  // one (edge, path, channel) owns one weight
    out[0] = acc[0];
    return;
  }
  for (int64_t k = 0; k < b.size; ++k) atomicAdd(out + k, acc[k]);
}

// Edges of the owner kernels' row `row`: row_edges[row_start[row] .. row_start[row + 1]) when the open
// slot is a node (row_start given), else the edge `row` itself.
struct RowEdges {
  const int64_t *row_start, *row_edges;

  __device__ int64_t begin(int64_t row) const { return row_start ? row_start[row] : row; }
  __device__ int64_t end(int64_t row) const { return row_start ? row_start[row + 1] : row + 1; }
  __device__ int64_t edge(int64_t n) const { return row_start ? row_edges[n] : n; }
};

struct Units {
  const int64_t *table, *group_paths;
  int64_t groups, per_row;
};

template <typename scalar_t>
__global__ void conv_owner_kernel(ConvArgs<scalar_t> a, RowEdges rows, Units units, int64_t num_items,
                                  scalar_t* result, int64_t result_cols) {
  const int64_t item = thread_item();
  if (item >= num_items) return;
  const int64_t row = item / units.per_row, q = item % units.per_row;
  const int64_t* g = units.table + find_row(units.table, UNIT_COLUMNS, UNIT_START, units.groups, q) * UNIT_COLUMNS;
  const int64_t r = q - g[UNIT_START];
  scalar_t acc[kMaxDim] = {};
  for (int64_t n = rows.begin(row); n < rows.end(row); ++n) {
    const int64_t e = rows.edge(n);
    for (int64_t gp = g[UNIT_PATH_BEGIN]; gp < g[UNIT_PATH_END]; ++gp) {
      const int64_t* p = a.paths + units.group_paths[gp] * PATH_COLUMNS;
      for (int64_t u = g[UNIT_SUMMED] ? 0 : r; u < (g[UNIT_SUMMED] ? p[MUL] : r + 1); ++u) conv_term(a, p, e, u, acc);
    }
  }
  // the block's place in the row does not depend on the edge
  const Block b = conv_block(a.open, a.paths + units.group_paths[g[UNIT_PATH_BEGIN]] * PATH_COLUMNS, g[UNIT_SUMMED] ? 0 : r);
  for (int64_t k = 0; k < b.size; ++k) result[row * result_cols + b.column + k] = acc[k];
}

// Shared memory of a block (dynamic size, given at launch); extensions/testing/cuda_host.h provides the
// host version.
#ifdef __CUDACC__
template <typename T>
__device__ inline T* shared_memory() {
  extern __shared__ __align__(16) unsigned char shared_bytes[];
  return reinterpret_cast<T*>(shared_bytes);
}
#endif

// Where the M_p (d1 x d3 each) lie in shared memory: M_p at m_start[p]; its rows (p, i) are numbered
// from row_start[p] (both [P + 1], the last entry the total); the nonzeros of row r (those with index
// i) are [row_nonzeros[2 r], row_nonzeros[2 r + 1]). The units of chunk c use only the M rows
// [chunk_rows[2 c], chunk_rows[2 c + 1]), the only ones its block forms.
struct Staging {
  const int64_t *m_start, *row_start, *row_nonzeros, *chunk_rows;
  int64_t num_paths;
};

// Owner-kernel units of the x or out slot; block b serves row b / chunks and units
// [chunk * blockDim, (chunk + 1) * blockDim) of it. Every thread reaches every __syncthreads: the
// loops' bounds are block-uniform and threads without a unit only skip the work.
template <typename scalar_t>
__global__ void conv_staged_kernel(ConvArgs<scalar_t> a, RowEdges rows, Units units, Staging staging,
                                   scalar_t* result, int64_t result_cols) {
  scalar_t* M = shared_memory<scalar_t>();
  const int64_t chunks = (units.per_row + blockDim.x - 1) / blockDim.x, chunk = blockIdx.x % chunks;
  const int64_t row = blockIdx.x / chunks, q = chunk * blockDim.x + threadIdx.x;
  const bool active = q < units.per_row;
  const int64_t* g = active ? units.table + find_row(units.table, UNIT_COLUMNS, UNIT_START, units.groups, q) * UNIT_COLUMNS
                            : nullptr;
  const int64_t u = active ? q - g[UNIT_START] : 0;
  scalar_t acc[kMaxDim] = {};
  for (int64_t n = rows.begin(row); n < rows.end(row); ++n) {
    const int64_t e = rows.edge(n);
    // phase 1: thread r forms rows (p, i) r, r + blockDim, ... of the M_p: M_p[i, :] = sum_j C_p[i,j,:] sh[e,j]
    for (int64_t r = staging.chunk_rows[2 * chunk] + threadIdx.x; r < staging.chunk_rows[2 * chunk + 1]; r += blockDim.x) {
      const int64_t p = find_row(staging.row_start, 1, 0, staging.num_paths, r);
      const int64_t* path = a.paths + p * PATH_COLUMNS;
      const int64_t i = r - staging.row_start[p], d3 = 2 * path[L_OUT] + 1;
      scalar_t* Mi = M + staging.m_start[p] + i * d3;
      for (int64_t k = 0; k < d3; ++k) Mi[k] = 0;
      const scalar_t* she = a.sh + e * a.sh_cols + path[IN2_START];
      for (int64_t z = staging.row_nonzeros[2 * r]; z < staging.row_nonzeros[2 * r + 1]; ++z)
        Mi[a.cg_index[3 * z + 2]] += a.cg_value[z] * she[a.cg_index[3 * z + 1]];
    }
    __syncthreads();
    // phase 2: each unit's (path, channel) blocks through M_p
    if (active) {
      for (int64_t gp = g[UNIT_PATH_BEGIN]; gp < g[UNIT_PATH_END]; ++gp) {
        const int64_t p = units.group_paths[gp];
        const int64_t* path = a.paths + p * PATH_COLUMNS;
        const int64_t d1 = 2 * path[L1] + 1, d3 = 2 * path[L_OUT] + 1;
        const scalar_t* Mp = M + staging.m_start[p];
        const scalar_t wu = a.w[e * a.w_cols + path[WEIGHT_START] + u];
        if (a.open == CONV_OUT) {
          const scalar_t* xu = a.x + a.neighbor[e] * a.x_cols + path[IN1_START] + u * d1;
          for (int64_t i = 0; i < d1; ++i)
            for (int64_t k = 0; k < d3; ++k) acc[k] += wu * xu[i] * Mp[i * d3 + k];
        } else {  // CONV_X
          const scalar_t* yu = a.y + a.center[e] * a.y_cols + path[OUT_START] + u * d3;
          for (int64_t i = 0; i < d1; ++i)
            for (int64_t k = 0; k < d3; ++k) acc[i] += wu * Mp[i * d3 + k] * yu[k];
        }
      }
    }
    __syncthreads();  // M is rewritten for the next edge
  }
  if (!active) return;
  const Block b = conv_block(a.open, a.paths + units.group_paths[g[UNIT_PATH_BEGIN]] * PATH_COLUMNS, u);
  for (int64_t k = 0; k < b.size; ++k) result[row * result_cols + b.column + k] = acc[k];
}

// ---- channel-wise product ----

template <typename scalar_t>
struct ChannelwiseArgs {
  const scalar_t *x1, *x2, *y;  // the open slot's pointer is null
  const int64_t *index, *paths, *cg_index;
  const scalar_t* cg_value;
  int64_t x1_cols, x2_cols, y_cols, open;
};

__host__ __device__ inline Block channelwise_block(int64_t open, const int64_t* p, int64_t u) {
  switch (open) {
    case CW_OUT: return {p[OUT_START] + u * (2 * p[L_OUT] + 1), 2 * p[L_OUT] + 1};
    case CW_X1: return {p[IN1_START] + u * (2 * p[L1] + 1), 2 * p[L1] + 1};
    default: return {p[IN2_START] + u * (2 * p[L2] + 1), 2 * p[L2] + 1};
  }
}

template <typename scalar_t>
__device__ inline void channelwise_term(const ChannelwiseArgs<scalar_t>& a, const int64_t* p, int64_t e, int64_t u,
                                        scalar_t* acc) {
  const int64_t d1 = 2 * p[L1] + 1, d2 = 2 * p[L2] + 1, d3 = 2 * p[L_OUT] + 1, m = a.index[e];
  const scalar_t* x1u = a.x1 ? a.x1 + e * a.x1_cols + p[IN1_START] + u * d1 : nullptr;
  const scalar_t* x2u = a.x2 ? a.x2 + m * a.x2_cols + p[IN2_START] + u * d2 : nullptr;
  const scalar_t* yu = a.y ? a.y + e * a.y_cols + p[OUT_START] + u * d3 : nullptr;
  for (int64_t z = p[CG_BEGIN]; z < p[CG_END]; ++z) {
    const int64_t i = a.cg_index[3 * z], j = a.cg_index[3 * z + 1], k = a.cg_index[3 * z + 2];
    const scalar_t v = a.cg_value[z];
    switch (a.open) {
      case CW_OUT: acc[k] += v * x1u[i] * x2u[j]; break;
      case CW_X1: acc[i] += v * x2u[j] * yu[k]; break;
      default: acc[j] += v * x1u[i] * yu[k];
    }
  }
}

template <typename scalar_t>
__global__ void channelwise_kernel(ChannelwiseArgs<scalar_t> a, int64_t num_paths, int64_t per_edge, int64_t num_items,
                                   scalar_t* result, int64_t result_cols) {
  const int64_t item = thread_item();
  if (item >= num_items) return;
  const Item it = locate(item, per_edge, a.paths, num_paths);
  const int64_t* p = a.paths + it.path * PATH_COLUMNS;
  scalar_t acc[kMaxDim] = {};
  channelwise_term(a, p, it.edge, it.channel, acc);
  const Block b = channelwise_block(a.open, p, it.channel);
  scalar_t* out = result + (a.open == CW_X2 ? a.index[it.edge] : it.edge) * result_cols + b.column;
  if (a.open == CW_OUT) {  // one (edge, path, channel) owns its output block
    for (int64_t k = 0; k < b.size; ++k) out[k] = acc[k];
    return;
  }
  for (int64_t k = 0; k < b.size; ++k) atomicAdd(out + k, acc[k]);  // paths that share an input block add to it
}

template <typename scalar_t>
__global__ void channelwise_owner_kernel(ChannelwiseArgs<scalar_t> a, RowEdges rows, Units units, int64_t num_items,
                                         scalar_t* result, int64_t result_cols) {
  const int64_t item = thread_item();
  if (item >= num_items) return;
  const int64_t row = item / units.per_row, q = item % units.per_row;
  const int64_t* g = units.table + find_row(units.table, UNIT_COLUMNS, UNIT_START, units.groups, q) * UNIT_COLUMNS;
  const int64_t r = q - g[UNIT_START];
  scalar_t acc[kMaxDim] = {};
  for (int64_t n = rows.begin(row); n < rows.end(row); ++n) {
    const int64_t e = rows.edge(n);
    for (int64_t gp = g[UNIT_PATH_BEGIN]; gp < g[UNIT_PATH_END]; ++gp) {
      const int64_t* p = a.paths + units.group_paths[gp] * PATH_COLUMNS;
      for (int64_t u = g[UNIT_SUMMED] ? 0 : r; u < (g[UNIT_SUMMED] ? p[MUL] : r + 1); ++u) channelwise_term(a, p, e, u, acc);
    }
  }
  const Block b = channelwise_block(a.open, a.paths + units.group_paths[g[UNIT_PATH_BEGIN]] * PATH_COLUMNS, g[UNIT_SUMMED] ? 0 : r);
  for (int64_t k = 0; k < b.size; ++k) result[row * result_cols + b.column + k] = acc[k];
}

}  // namespace nequip_ops
