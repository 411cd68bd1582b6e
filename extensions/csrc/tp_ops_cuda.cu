// nequip_ops: CUDA implementations of both operators: argument checks, then the shared host side of
// tp_launch.h with a real kernel launch; registration (CPU kernels in tp_ops.cpp).
#include "tp_launch.h"
#include "tp_ops.h"

#include <ATen/Context.h>
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/library.h>

namespace nequip_ops {
namespace {

struct CudaLaunch {
  cudaStream_t stream;

  template <typename... Params, typename... Args>
  void operator()(Grid grid, void (*kernel)(Params...), Args... args) const {
    kernel<<<static_cast<unsigned int>(grid.blocks), static_cast<unsigned int>(grid.threads),
             static_cast<size_t>(grid.shared_bytes), stream>>>(args...);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  }
};

// Deterministic kernels when torch.use_deterministic_algorithms(True) is set.
LaunchOptions options_for(const at::Tensor& like) {
  const cudaDeviceProp* props = at::cuda::getDeviceProperties(like.device().index());
  return {at::globalContext().deterministicAlgorithms(), props->major >= 6, props->maxGridSize[0], "cuda"};
}

at::Tensor conv_contract_cuda(const at::Tensor& x, const at::Tensor& sh, const at::Tensor& weight, const at::Tensor& y,
                              const at::Tensor& center, const at::Tensor& neighbor, const at::Tensor& paths,
                              const at::Tensor& cg_index, const at::Tensor& cg_value, int64_t open, int64_t rows,
                              int64_t cols) {
  check_conv_args(x, sh, weight, y, center, neighbor, paths, cg_index, cg_value, open, rows);
  const at::Tensor& like = open == CONV_SH ? weight : sh;
  const c10::cuda::CUDAGuard guard(like.device());
  return conv_launch(CudaLaunch{c10::cuda::getCurrentCUDAStream()}, options_for(like), x, sh, weight, y, center,
                     neighbor, paths, cg_index, cg_value, open, rows, cols);
}

at::Tensor channelwise_contract_cuda(const at::Tensor& x1, const at::Tensor& x2, const at::Tensor& y,
                                     const at::Tensor& index, const at::Tensor& paths, const at::Tensor& cg_index,
                                     const at::Tensor& cg_value, int64_t open, int64_t rows, int64_t cols) {
  check_channelwise_args(x1, x2, y, index, paths, cg_index, cg_value, open, rows);
  const at::Tensor& like = open == CW_X1 ? y : x1;
  const c10::cuda::CUDAGuard guard(like.device());
  return channelwise_launch(CudaLaunch{c10::cuda::getCurrentCUDAStream()}, options_for(like), x1, x2, y, index, paths,
                            cg_index, cg_value, open, rows, cols);
}

}  // namespace
}  // namespace nequip_ops

TORCH_LIBRARY_IMPL(nequip_ops, CUDA, m) {
  m.impl("conv_contract", &nequip_ops::conv_contract_cuda);
  m.impl("channelwise_contract", &nequip_ops::channelwise_contract_cuda);
}
