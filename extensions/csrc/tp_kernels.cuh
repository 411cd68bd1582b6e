// nequip_ops: the CUDA kernels of both operators (see tp_ops.h for the maths), free of torch headers;
// tp_ops_cuda.cu launches them.
//
// One thread per (edge, path, channel). A thread accumulates its (2l+1)-vector in registers and adds
// it to the open slot's row with atomics, so the convolution's scatter onto atoms is fused into the
// product and no [edges, features] message tensor is written. Results of the scattered slots are
// summed in a nondeterministic order (float rounding may differ between runs). Double-precision
// atomicAdd needs compute capability 6.0 or newer.
#pragma once

#include <cstdint>

#include "tp_layout.h"

namespace nequip_ops {

constexpr int kMaxDim = 15;  // 2 l + 1 for l <= 7
constexpr int kThreads = 256;

struct Item {
  int64_t edge, path, channel;
};

// Items are numbered edge-major; within an edge, WEIGHT_START enumerates (path, channel) pairs.
__device__ inline Item locate(int64_t item, int64_t per_edge, const int64_t* paths, int64_t num_paths) {
  const int64_t edge = item / per_edge, q = item % per_edge;
  int64_t p = 0;
  while (p + 1 < num_paths && paths[(p + 1) * PATH_COLUMNS + WEIGHT_START] <= q) ++p;
  return {edge, p, q - paths[p * PATH_COLUMNS + WEIGHT_START]};
}

template <typename scalar_t>
__global__ void conv_kernel(const scalar_t* x, const scalar_t* sh, const scalar_t* w, const scalar_t* y,
                            const int64_t* center, const int64_t* neighbor, const int64_t* paths, int64_t num_paths,
                            const int64_t* cg_index, const scalar_t* cg_value, int64_t per_edge, int64_t num_items,
                            int64_t x_cols, int64_t sh_cols, int64_t w_cols, int64_t y_cols, int64_t open,
                            scalar_t* result, int64_t result_cols) {
  const int64_t item = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (item >= num_items) return;
  const Item it = locate(item, per_edge, paths, num_paths);
  const int64_t* p = paths + it.path * PATH_COLUMNS;
  const int64_t d1 = 2 * p[L1] + 1, d3 = 2 * p[L_OUT] + 1, u = it.channel, e = it.edge;
  const int64_t c = center[e], n = neighbor[e];
  const scalar_t* xu = x ? x + n * x_cols + p[IN1_START] + u * d1 : nullptr;
  const scalar_t* she = sh ? sh + e * sh_cols + p[IN2_START] : nullptr;
  const scalar_t wu = w ? w[e * w_cols + p[WEIGHT_START] + u] : scalar_t(0);
  const scalar_t* yu = y ? y + c * y_cols + p[OUT_START] + u * d3 : nullptr;
  scalar_t acc[kMaxDim] = {};
  scalar_t total = 0;
  for (int64_t z = p[CG_BEGIN]; z < p[CG_END]; ++z) {
    const int64_t i = cg_index[3 * z], j = cg_index[3 * z + 1], k = cg_index[3 * z + 2];
    const scalar_t v = cg_value[z];
    switch (open) {
      case CONV_OUT: acc[k] += v * xu[i] * she[j]; break;
      case CONV_X: acc[i] += v * she[j] * yu[k]; break;
      case CONV_SH: acc[j] += v * xu[i] * yu[k]; break;
      default: total += v * xu[i] * she[j] * yu[k];
    }
  }
  switch (open) {
    case CONV_OUT:
      for (int64_t k = 0; k < d3; ++k) atomicAdd(result + c * result_cols + p[OUT_START] + u * d3 + k, wu * acc[k]);
      break;
    case CONV_X:
      for (int64_t i = 0; i < d1; ++i) atomicAdd(result + n * result_cols + p[IN1_START] + u * d1 + i, wu * acc[i]);
      break;
    case CONV_SH:
      for (int64_t j = 0; j < 2 * p[L2] + 1; ++j) atomicAdd(result + e * result_cols + p[IN2_START] + j, wu * acc[j]);
      break;
    default:  // one (edge, path, channel) owns one weight
      result[e * result_cols + p[WEIGHT_START] + u] = total;
  }
}

template <typename scalar_t>
__global__ void channelwise_kernel(const scalar_t* x1, const scalar_t* x2, const scalar_t* y, const int64_t* index,
                                   const int64_t* paths, int64_t num_paths, const int64_t* cg_index,
                                   const scalar_t* cg_value, int64_t per_edge, int64_t num_items, int64_t x1_cols,
                                   int64_t x2_cols, int64_t y_cols, int64_t open, scalar_t* result,
                                   int64_t result_cols) {
  const int64_t item = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (item >= num_items) return;
  const Item it = locate(item, per_edge, paths, num_paths);
  const int64_t* p = paths + it.path * PATH_COLUMNS;
  const int64_t d1 = 2 * p[L1] + 1, d2 = 2 * p[L2] + 1, d3 = 2 * p[L_OUT] + 1, u = it.channel, e = it.edge;
  const int64_t m = index[e];
  const scalar_t* a = x1 ? x1 + e * x1_cols + p[IN1_START] + u * d1 : nullptr;
  const scalar_t* b = x2 ? x2 + m * x2_cols + p[IN2_START] + u * d2 : nullptr;
  const scalar_t* g = y ? y + e * y_cols + p[OUT_START] + u * d3 : nullptr;
  scalar_t acc[kMaxDim] = {};
  for (int64_t z = p[CG_BEGIN]; z < p[CG_END]; ++z) {
    const int64_t i = cg_index[3 * z], j = cg_index[3 * z + 1], k = cg_index[3 * z + 2];
    const scalar_t v = cg_value[z];
    switch (open) {
      case CW_OUT: acc[k] += v * a[i] * b[j]; break;
      case CW_X1: acc[i] += v * b[j] * g[k]; break;
      default: acc[j] += v * a[i] * g[k];
    }
  }
  switch (open) {
    case CW_OUT:  // one (edge, path, channel) owns its output block
      for (int64_t k = 0; k < d3; ++k) result[e * result_cols + p[OUT_START] + u * d3 + k] = acc[k];
      break;
    case CW_X1:  // paths that share an input block add to it
      for (int64_t i = 0; i < d1; ++i) atomicAdd(result + e * result_cols + p[IN1_START] + u * d1 + i, acc[i]);
      break;
    default:
      for (int64_t j = 0; j < d2; ++j) atomicAdd(result + m * result_cols + p[IN2_START] + u * d2 + j, acc[j]);
  }
}

}  // namespace nequip_ops
