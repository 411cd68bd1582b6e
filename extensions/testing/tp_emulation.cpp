// nequip_ops_emulated: the device code of extensions/csrc run on the CPU, for the tests
// (tests/ops/test_device_kernels.py builds it). tp_kernels.cuh and tp_launch.h are compiled as they are,
// with cuda_host.h standing in for the CUDA built-ins, and launched by EmulatedLaunch: every thread of
// the grid the CUDA launcher would use, one at a time, in an order shuffled from a seed, so the
// order of the atomics changes with the seed and a thread that skips, repeats or misplaces its work
// changes the result. Kernels that synchronise run block by block (blocks in shuffled order), each
// block as one host thread per device thread meeting at a barrier, with shared memory filled with
// NaN bytes first so that a read before a write shows.
#include "cuda_host.h"
// clang-format off: the shim must come first
#include "tp_launch.h"
// clang-format on

#include <torch/library.h>

#include <algorithm>
#include <cstring>
#include <random>
#include <thread>
#include <vector>

namespace nequip_ops {
namespace {

struct EmulatedLaunch {
  uint64_t seed;

  template <typename... Params, typename... Args>
  void operator()(Grid grid, void (*kernel)(Params...), Args... args) const {
    TORCH_CHECK(grid.blocks * grid.threads <= (int64_t(1) << 28), "emulated launch: grid too large for the host");
    if (grid.synchronizes) return run_blocks(grid, kernel, args...);
    std::vector<int64_t> threads(grid.blocks * grid.threads);
    for (size_t t = 0; t < threads.size(); ++t) threads[t] = static_cast<int64_t>(t);
    std::mt19937_64 random(seed);
    std::shuffle(threads.begin(), threads.end(), random);
    gridDim.x = static_cast<unsigned int>(grid.blocks);
    blockDim.x = static_cast<unsigned int>(grid.threads);
    for (const int64_t t : threads) {
      blockIdx.x = static_cast<unsigned int>(t / grid.threads);
      threadIdx.x = static_cast<unsigned int>(t % grid.threads);
      kernel(args...);
    }
  }

  template <typename... Params, typename... Args>
  void run_blocks(Grid grid, void (*kernel)(Params...), Args... args) const {
    std::vector<int64_t> blocks(grid.blocks);
    for (size_t b = 0; b < blocks.size(); ++b) blocks[b] = static_cast<int64_t>(b);
    std::mt19937_64 random(seed);
    std::shuffle(blocks.begin(), blocks.end(), random);
    std::vector<unsigned char> shared(std::max<int64_t>(grid.shared_bytes, 1));
    for (const int64_t b : blocks) {
      std::memset(shared.data(), 0xff, shared.size());  // NaN in float32 and float64
      emulated_shared_memory = shared.data();
      std::barrier<> barrier(grid.threads);
      std::vector<std::thread> threads;
      for (int64_t t = 0; t < grid.threads; ++t) {
        threads.emplace_back([&, t] {
          gridDim.x = static_cast<unsigned int>(grid.blocks);
          blockDim.x = static_cast<unsigned int>(grid.threads);
          blockIdx.x = static_cast<unsigned int>(b);
          threadIdx.x = static_cast<unsigned int>(t);
          emulated_block_barrier = &barrier;
          kernel(args...);
          barrier.arrive_and_drop();  // an exited thread no longer holds the others at a barrier
        });
      }
      for (auto& thread : threads) thread.join();
    }
  }
};

LaunchOptions options(bool deterministic, int64_t compute_capability, int64_t max_grid_blocks) {
  return {deterministic, compute_capability >= 60, max_grid_blocks, "emulated"};
}

at::Tensor conv_contract(const at::Tensor& x, const at::Tensor& sh, const at::Tensor& weight, const at::Tensor& y,
                         const at::Tensor& center, const at::Tensor& neighbor, const at::Tensor& paths,
                         const at::Tensor& cg_index, const at::Tensor& cg_value, int64_t open, int64_t rows,
                         int64_t cols, int64_t seed, bool deterministic, int64_t compute_capability,
                         int64_t max_grid_blocks) {
  return conv_launch(EmulatedLaunch{static_cast<uint64_t>(seed)},
                     options(deterministic, compute_capability, max_grid_blocks), x, sh, weight, y, center, neighbor,
                     paths, cg_index, cg_value, open, rows, cols);
}

at::Tensor channelwise_contract(const at::Tensor& x1, const at::Tensor& x2, const at::Tensor& y,
                                const at::Tensor& index, const at::Tensor& paths, const at::Tensor& cg_index,
                                const at::Tensor& cg_value, int64_t open, int64_t rows, int64_t cols, int64_t seed,
                                bool deterministic, int64_t compute_capability, int64_t max_grid_blocks) {
  return channelwise_launch(EmulatedLaunch{static_cast<uint64_t>(seed)},
                            options(deterministic, compute_capability, max_grid_blocks), x1, x2, y, index, paths,
                            cg_index, cg_value, open, rows, cols);
}

// The index arithmetic of the kernels, callable with values no test tensor could reach.
std::vector<int64_t> locate_item(int64_t item, int64_t per_edge, const at::Tensor& paths) {
  const at::Tensor table = paths.contiguous();
  const Item it = locate(item, per_edge, table.data_ptr<int64_t>(), table.size(0));
  return {it.edge, it.path, it.channel};
}

int64_t find_table_row(const at::Tensor& table, int64_t column, int64_t q) {
  const at::Tensor t = table.contiguous();
  return find_row(t.data_ptr<int64_t>(), t.size(1), column, t.size(0), q);
}

std::vector<int64_t> grid_of(int64_t items) {
  const Grid grid = item_grid(items);
  return {grid.blocks, grid.threads};
}

}  // namespace
}  // namespace nequip_ops

TORCH_LIBRARY(nequip_ops_emulated, m) {
  m.def(
      "conv_contract(Tensor x, Tensor sh, Tensor weight, Tensor y, Tensor center, Tensor neighbor, Tensor paths, "
      "Tensor cg_index, Tensor cg_value, int open, int rows, int cols, int seed, bool deterministic, "
      "int compute_capability=90, int max_grid_blocks=2147483647) -> Tensor",
      &nequip_ops::conv_contract);
  m.def(
      "channelwise_contract(Tensor x1, Tensor x2, Tensor y, Tensor index, Tensor paths, Tensor cg_index, "
      "Tensor cg_value, int open, int rows, int cols, int seed, bool deterministic, int compute_capability=90, "
      "int max_grid_blocks=2147483647) -> Tensor",
      &nequip_ops::channelwise_contract);
  m.def("locate(int item, int per_edge, Tensor paths) -> int[]", &nequip_ops::locate_item);
  m.def("find_row(Tensor table, int column, int q) -> int", &nequip_ops::find_table_row);
  m.def("item_grid(int items) -> int[]", &nequip_ops::grid_of);
}
