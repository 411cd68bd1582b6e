// nequip_ops: CUDA implementations of both operators: argument checks, launches of the kernels of
// tp_kernels.cuh, registration (CPU kernels in tp_ops.cpp).
#include "tp_kernels.cuh"
#include "tp_ops.h"

#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/library.h>

namespace nequip_ops {
namespace {

// Items per edge: the sum of the paths' multiplicities, read from the end of the table (a small
// device-to-host copy when the table lives on the GPU; the convolution reads it off a shape instead).
int64_t items_per_edge(const at::Tensor& paths) {
  if (paths.size(0) == 0) return 0;
  const at::Tensor last = paths[paths.size(0) - 1].cpu();
  return last[WEIGHT_START].item<int64_t>() + last[MUL].item<int64_t>();
}

template <typename scalar_t>
const scalar_t* pointer_or_null(const at::Tensor& t) {
  return t.defined() ? t.data_ptr<scalar_t>() : nullptr;
}

at::Tensor conv_contract_cuda(const at::Tensor& x_, const at::Tensor& sh_, const at::Tensor& weight_,
                              const at::Tensor& y_, const at::Tensor& center_, const at::Tensor& neighbor_,
                              const at::Tensor& paths_, const at::Tensor& cg_index_, const at::Tensor& cg_value,
                              int64_t open, int64_t rows, int64_t cols) {
  check_conv_args(x_, sh_, weight_, y_, center_, neighbor_, paths_, cg_index_, cg_value, open, rows);
  auto operand = [&](const at::Tensor& t, int64_t slot) { return slot == open ? at::Tensor() : t.contiguous(); };
  const at::Tensor x = operand(x_, CONV_X), sh = operand(sh_, CONV_SH), w = operand(weight_, CONV_WEIGHT),
                   y = operand(y_, CONV_OUT);
  const at::Tensor& like = open == CONV_SH ? w : sh;
  const c10::cuda::CUDAGuard guard(like.device());
  const at::Tensor center = center_.contiguous(), neighbor = neighbor_.contiguous();
  const at::Tensor paths = paths_.to(like.device()).contiguous(), cg_index = cg_index_.to(like.device()).contiguous();
  at::Tensor result = at::zeros({rows, cols}, like.options());
  // every (path, channel) has one weight
  const int64_t per_edge = open == CONV_WEIGHT ? cols : w.size(1), num_items = center.size(0) * per_edge;
  if (num_items == 0) return result;
  const int64_t blocks = (num_items + kThreads - 1) / kThreads;
  auto cols_of = [](const at::Tensor& t) { return t.defined() ? t.size(1) : int64_t(0); };
  AT_DISPATCH_FLOATING_TYPES(like.scalar_type(), "conv_contract_cuda", [&] {
    const at::Tensor values = cg_value.to(like.options()).contiguous();
    conv_kernel<scalar_t><<<blocks, kThreads, 0, c10::cuda::getCurrentCUDAStream()>>>(
        pointer_or_null<scalar_t>(x), pointer_or_null<scalar_t>(sh), pointer_or_null<scalar_t>(w),
        pointer_or_null<scalar_t>(y), center.data_ptr<int64_t>(), neighbor.data_ptr<int64_t>(),
        paths.data_ptr<int64_t>(), paths.size(0), cg_index.data_ptr<int64_t>(), values.data_ptr<scalar_t>(), per_edge,
        num_items, cols_of(x), cols_of(sh), cols_of(w), cols_of(y), open, result.data_ptr<scalar_t>(), cols);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  });
  return result;
}

at::Tensor channelwise_contract_cuda(const at::Tensor& x1_, const at::Tensor& x2_, const at::Tensor& y_,
                                     const at::Tensor& index_, const at::Tensor& paths_, const at::Tensor& cg_index_,
                                     const at::Tensor& cg_value, int64_t open, int64_t rows, int64_t cols) {
  check_channelwise_args(x1_, x2_, y_, index_, paths_, cg_index_, cg_value, open, rows);
  auto operand = [&](const at::Tensor& t, int64_t slot) { return slot == open ? at::Tensor() : t.contiguous(); };
  const at::Tensor x1 = operand(x1_, CW_X1), x2 = operand(x2_, CW_X2), y = operand(y_, CW_OUT);
  const at::Tensor& like = open == CW_X1 ? y : x1;
  const c10::cuda::CUDAGuard guard(like.device());
  const at::Tensor index = index_.contiguous();
  const at::Tensor paths = paths_.to(like.device()).contiguous(), cg_index = cg_index_.to(like.device()).contiguous();
  at::Tensor result = at::zeros({rows, cols}, like.options());
  const int64_t per_edge = items_per_edge(paths_), num_items = index.size(0) * per_edge;
  if (num_items == 0) return result;
  const int64_t blocks = (num_items + kThreads - 1) / kThreads;
  auto cols_of = [](const at::Tensor& t) { return t.defined() ? t.size(1) : int64_t(0); };
  AT_DISPATCH_FLOATING_TYPES(like.scalar_type(), "channelwise_contract_cuda", [&] {
    const at::Tensor values = cg_value.to(like.options()).contiguous();
    channelwise_kernel<scalar_t><<<blocks, kThreads, 0, c10::cuda::getCurrentCUDAStream()>>>(
        pointer_or_null<scalar_t>(x1), pointer_or_null<scalar_t>(x2), pointer_or_null<scalar_t>(y),
        index.data_ptr<int64_t>(), paths.data_ptr<int64_t>(), paths.size(0), cg_index.data_ptr<int64_t>(),
        values.data_ptr<scalar_t>(), per_edge, num_items, cols_of(x1), cols_of(x2), cols_of(y), open,
        result.data_ptr<scalar_t>(), cols);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  });
  return result;
}

}  // namespace
}  // namespace nequip_ops

TORCH_LIBRARY_IMPL(nequip_ops, CUDA, m) {
  m.impl("conv_contract", &nequip_ops::conv_contract_cuda);
  m.impl("channelwise_contract", &nequip_ops::channelwise_contract_cuda);
}
