// nequip_ops: shared declarations of the tensor-product operators (CPU in tp_ops.cpp, CUDA in
// tp_ops_cuda.cu).
//
// Both operators are multilinear forms; each call returns the partial derivative of the form with
// respect to one of its arguments, the "open" slot, given the others. The forward product is one
// such derivative, and every gradient of every order is another (the derivative of a multilinear
// form is the same form with one more slot filled), so one kernel per operator serves forward,
// backward and double backward.
//
//   convolution  T(x, sh, w, y) = sum_e sum_p sum_u w[e,p,u] sum_ijk C_p[i,j,k]
//                                   x[neighbor[e], u, i] sh[e, j] y[center[e], u, k]
//                open = OUT gives NequIP's message passing: the tensor product of neighbor
//                features with edge spherical harmonics, weighted per edge, path and channel,
//                summed onto the center atom.
//   channelwise  T(x1, x2, y) = sum_e sum_p sum_u sum_ijk C_p[i,j,k]
//                                 x1[e, u, i] x2[index[e], u, j] y[e, u, k]
//                open = OUT gives Allegro's channel-wise product of pair features with an
//                environment embedding.
//
// Paths arrive as an int64 table [P, PATH_COLUMNS] and the Clebsch-Gordan coefficients as their
// nonzeros: cg_index int64 [nnz, 3] (i, j, k) and cg_value [nnz]; path p owns nonzeros
// [CG_BEGIN, CG_END). Feature blocks are e3nn's multiplicity-major layout: channel u of path p in
// input 1 sits at columns IN1_START + u * (2 L1 + 1) ... (see nequip/ops/paths.py).
#pragma once

#include <ATen/ATen.h>

#include "tp_layout.h"

namespace nequip_ops {

// Checks shapes, dtypes and devices (messages name the argument) and returns the number of nodes
// of a convolution call.
int64_t check_conv_args(const at::Tensor& x, const at::Tensor& sh, const at::Tensor& weight, const at::Tensor& y,
                        const at::Tensor& center, const at::Tensor& neighbor, const at::Tensor& paths,
                        const at::Tensor& cg_index, const at::Tensor& cg_value, int64_t open, int64_t rows);

// Same for a channel-wise call; returns the number of rows of x2.
int64_t check_channelwise_args(const at::Tensor& x1, const at::Tensor& x2, const at::Tensor& y,
                               const at::Tensor& index, const at::Tensor& paths, const at::Tensor& cg_index,
                               const at::Tensor& cg_value, int64_t open, int64_t rows);

}  // namespace nequip_ops
