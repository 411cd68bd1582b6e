// nequip_ops: the host side of the device kernels (tp_kernels.cuh): operands, limit checks, the
// choice of kernel, the grid, the launch. Written against ATen only and parameterised on how a kernel
// is launched, so that the CUDA implementation (tp_ops_cuda.cu: a real launch) and the host emulation
// of the tests (extensions/testing/: every thread of the same grid run on the CPU) share all of it.
//
// A launcher is called as launch(Grid, kernel, arguments...), with kernel a pointer to one of the
// __global__ functions of tp_kernels.cuh.
#pragma once

#include <ATen/ATen.h>

#include <algorithm>
#include <map>
#include <vector>

#include "tp_kernels.cuh"

namespace nequip_ops {

// What the device allows and what the caller asks for.
struct LaunchOptions {
  bool deterministic;    // owner kernels (no floating-point atomics, same bits on every run)
  bool fp64_atomics;     // atomicAdd(double*) exists: compute capability >= 6.0
  int64_t max_grid_blocks = kMaxGridBlocks;
  const char* device = "cuda";  // for messages
};

namespace launch_detail {

inline void check_grid(const Grid& grid, const LaunchOptions& options, const char* op) {
  TORCH_CHECK(grid.blocks <= options.max_grid_blocks, "nequip_ops.", op, ": ", grid.blocks, " blocks of ", grid.threads,
              " threads exceed the ", options.device, " grid limit of ", options.max_grid_blocks,
              " blocks; split the batch (fewer edges per call)");
}

// The path table on the host (a small copy when it lives on the device), after checking that every
// block fits the kernels' per-thread registers.
inline at::Tensor host_paths(const at::Tensor& paths, const char* op) {
  at::Tensor host = paths.to(at::kCPU).contiguous();
  const int64_t* p = host.data_ptr<int64_t>();
  for (int64_t r = 0; r < host.size(0); ++r, p += PATH_COLUMNS) {
    const int64_t l = std::max({p[L1], p[L2], p[L_OUT]});
    TORCH_CHECK(2 * l + 1 <= kMaxDim, "nequip_ops.", op, ": path ", r, " has l = ", l, " but the GPU kernels hold at most ",
                kMaxDim, " components (l <= ", (kMaxDim - 1) / 2, "); lower the model's l_max or run on the CPU");
  }
  return host;
}

inline void check_atomics(const at::Tensor& like, const LaunchOptions& options, const char* op) {
  TORCH_CHECK(options.deterministic || like.scalar_type() != at::kDouble || options.fp64_atomics, "nequip_ops.", op,
              ": float64 on this GPU needs compute capability 6.0 for atomicAdd(double); use float32, or "
              "torch.use_deterministic_algorithms(True) (kernels without atomics)");
}

// Entries of an index tensor must name rows of [0, rows): checked on the host before a kernel reads
// through them (one small copy), since an out-of-range index is an illegal address on the device.
inline void check_range(const at::Tensor& index, int64_t rows, const char* name, const char* op) {
  if (index.numel() == 0) return;
  const auto bounds = at::stack({index.min(), index.max()}).to(at::kCPU);
  const int64_t lo = bounds[0].item<int64_t>(), hi = bounds[1].item<int64_t>();
  TORCH_CHECK(lo >= 0 && hi < rows, "nequip_ops.", op, ": ", name, " has entries in [", lo, ", ", hi,
              "], outside [0, ", rows, ")");
}

// Edges grouped by destination row (a stable sort, the device's counterpart of the CPU kernels'
// counting sort): row r owns edges order[row_start[r] .. row_start[r + 1]).
struct Grouped {
  at::Tensor row_start, order;
};

inline Grouped group_by_row(const at::Tensor& destination, int64_t rows) {
  const at::Tensor order = std::get<1>(destination.sort(std::optional<bool>(true), /*dim=*/0));
  const at::Tensor sorted = destination.index_select(0, order);
  const at::Tensor bounds = at::arange(rows + 1, destination.options());
  return {at::searchsorted(sorted, bounds).contiguous(), order.contiguous()};
}

// The unit table of the owner kernels (UnitColumn) on `device`: paths grouped by the block of the open
// slot they write (`block_of(path row, channel)`), in order of first appearance.
struct UnitTable {
  at::Tensor table, group_paths;
  int64_t per_row;
  std::vector<int64_t> host_table, host_group_paths;

  Units args() const { return {table.data_ptr<int64_t>(), group_paths.data_ptr<int64_t>(), table.size(0), per_row}; }
};

template <typename BlockOf>
UnitTable unit_table(const at::Tensor& host_paths, bool summed, BlockOf block_of,
                                             const at::Device& device) {
  const int64_t* p = host_paths.data_ptr<int64_t>();
  std::map<int64_t, int64_t> group_of_column;
  std::vector<std::vector<int64_t>> members;
  for (int64_t r = 0; r < host_paths.size(0); ++r) {
    const int64_t column = block_of(p + r * PATH_COLUMNS, 0).column;
    const auto found = group_of_column.emplace(column, static_cast<int64_t>(members.size()));
    if (found.second) members.emplace_back();
    members[found.first->second].push_back(r);
  }
  std::vector<int64_t> table, group_paths;
  int64_t start = 0;
  for (const auto& group : members) {
    const int64_t count = summed ? 1 : p[group.front() * PATH_COLUMNS + MUL];
    table.insert(table.end(), {start, count, summed ? 1 : 0, static_cast<int64_t>(group_paths.size()),
                               static_cast<int64_t>(group_paths.size() + group.size())});
    group_paths.insert(group_paths.end(), group.begin(), group.end());
    start += count;
  }
  auto to_tensor = [&](const std::vector<int64_t>& v, int64_t columns) {
    return at::tensor(v, at::kLong).reshape({-1, columns}).to(device);
  };
  return {to_tensor(table, UNIT_COLUMNS), to_tensor(group_paths, 1), start, table, group_paths};
}

// Work items per edge of the scatter kernels: one per (path, channel), numbered by WEIGHT_START.
inline int64_t items_per_edge(const at::Tensor& host_paths) {
  if (host_paths.size(0) == 0) return 0;
  const int64_t* last = host_paths.data_ptr<int64_t>() + (host_paths.size(0) - 1) * PATH_COLUMNS;
  return last[WEIGHT_START] + last[MUL];
}

// The staged kernel's layout of the M_p in shared memory (Staging) on `device`, and its size in
// scalars; `usable` is false when some path's nonzeros are not grouped by their first index i (the
// order path_tables gives, row-major), which the kernel's per-row ranges need.
struct StagingTables {
  at::Tensor m_start, row_start, row_nonzeros, chunk_rows;
  int64_t scalars;
  bool usable;

  Staging args() const {
    return {m_start.data_ptr<int64_t>(), row_start.data_ptr<int64_t>(), row_nonzeros.data_ptr<int64_t>(),
            chunk_rows.data_ptr<int64_t>(), m_start.size(0) - 1};
  }
};

// `units` on the host: chunk c of kStagedThreads units needs the M rows of the paths of its groups.
inline StagingTables staging_tables(const at::Tensor& host_paths, const at::Tensor& cg_index,
                                    const std::vector<int64_t>& units, const std::vector<int64_t>& group_paths,
                                    int64_t per_row, const at::Device& device) {
  const at::Tensor host_cg = cg_index.to(at::kCPU).contiguous();
  const int64_t* cg = host_cg.data_ptr<int64_t>();
  const int64_t* p = host_paths.data_ptr<int64_t>();
  std::vector<int64_t> m_start{0}, row_start{0}, row_nonzeros;
  bool usable = true;
  for (int64_t r = 0; r < host_paths.size(0); ++r, p += PATH_COLUMNS) {
    const int64_t d1 = 2 * p[L1] + 1;
    m_start.push_back(m_start.back() + d1 * (2 * p[L_OUT] + 1));
    row_start.push_back(row_start.back() + d1);
    int64_t z = p[CG_BEGIN];
    for (int64_t i = 0; i < d1; ++i) {
      row_nonzeros.push_back(z);
      while (z < p[CG_END] && cg[3 * z] == i) ++z;
      row_nonzeros.push_back(z);
    }
    usable = usable && z == p[CG_END];
  }
  std::vector<int64_t> chunk_rows;
  for (int64_t first = 0; first < per_row; first += kStagedThreads) {
    int64_t lo = row_start.back(), hi = 0;
    for (size_t g = 0; g < units.size() / UNIT_COLUMNS; ++g) {
      const int64_t* unit = units.data() + g * UNIT_COLUMNS;
      if (unit[UNIT_START] >= first + kStagedThreads || unit[UNIT_START] + unit[UNIT_COUNT] <= first) continue;
      for (int64_t gp = unit[UNIT_PATH_BEGIN]; gp < unit[UNIT_PATH_END]; ++gp) {
        lo = std::min(lo, row_start[group_paths[gp]]);
        hi = std::max(hi, row_start[group_paths[gp] + 1]);
      }
    }
    chunk_rows.insert(chunk_rows.end(), {lo, std::max(lo, hi)});
  }
  if (chunk_rows.empty()) chunk_rows = {0, 0};
  auto to_device = [&](const std::vector<int64_t>& v) { return at::tensor(v, at::kLong).to(device); };
  return {to_device(m_start), to_device(row_start), to_device(row_nonzeros), to_device(chunk_rows), m_start.back(),
          usable};
}

inline int64_t cols_of(const at::Tensor& t) { return t.defined() ? t.size(1) : int64_t(0); }

template <typename scalar_t>
const scalar_t* pointer_or_null(const at::Tensor& t) {
  return t.defined() ? t.data_ptr<scalar_t>() : nullptr;
}

}  // namespace launch_detail

// conv_contract on the device of its features, argument shapes, dtypes and devices already checked
// (check_conv_args). The scatter kernel; when options.deterministic, the staged kernel for the node
// slots (x, out) where its M_p fit in shared memory (and the nonzeros come row-major, as
// path_tables makes them), else the owner kernel.
template <typename Launch>
at::Tensor conv_launch(const Launch& launch, const LaunchOptions& options, const at::Tensor& x_,
                       const at::Tensor& sh_, const at::Tensor& weight_, const at::Tensor& y_,
                       const at::Tensor& center_, const at::Tensor& neighbor_, const at::Tensor& paths_,
                       const at::Tensor& cg_index_, const at::Tensor& cg_value, int64_t open, int64_t rows,
                       int64_t cols) {
  using namespace launch_detail;
  const char* op = "conv_contract";
  auto operand = [&](const at::Tensor& t, int64_t slot) { return slot == open ? at::Tensor() : t.contiguous(); };
  const at::Tensor x = operand(x_, CONV_X), sh = operand(sh_, CONV_SH), w = operand(weight_, CONV_WEIGHT),
                   y = operand(y_, CONV_OUT);
  const at::Tensor& like = open == CONV_SH ? w : sh;
  const at::Tensor host = host_paths(paths_, op);
  check_atomics(like, options, op);
  const at::Tensor center = center_.contiguous(), neighbor = neighbor_.contiguous();
  const int64_t num_nodes = open == CONV_X ? y.size(0) : x.size(0), num_edges = center.size(0);
  check_range(center, num_nodes, "center", op);
  check_range(neighbor, num_nodes, "neighbor", op);
  const at::Tensor paths = host.to(like.device()), cg_index = cg_index_.to(like.device()).contiguous();
  at::Tensor result = at::zeros({rows, cols}, like.options());
  const int64_t per_edge = items_per_edge(host);
  AT_DISPATCH_FLOATING_TYPES(like.scalar_type(), "nequip_ops", [&] {
    const at::Tensor values = cg_value.to(like.options()).contiguous();
    const ConvArgs<scalar_t> args{pointer_or_null<scalar_t>(x), pointer_or_null<scalar_t>(sh),
                                  pointer_or_null<scalar_t>(w), pointer_or_null<scalar_t>(y),
                                  center.data_ptr<int64_t>(), neighbor.data_ptr<int64_t>(),
                                  paths.data_ptr<int64_t>(), cg_index.data_ptr<int64_t>(),
                                  values.data_ptr<scalar_t>(), cols_of(x), cols_of(sh), cols_of(w), cols_of(y), open};
    if (!options.deterministic) {
      const int64_t items = num_edges * per_edge;
      check_grid(item_grid(items), options, op);
      if (items > 0)
        launch(item_grid(items), &conv_kernel<scalar_t>, args, host.size(0), per_edge, items,
               result.data_ptr<scalar_t>(), cols);
      return;
    }
    const auto units = unit_table(host, open == CONV_SH, [&](const int64_t* p, int64_t u) { return conv_block(open, p, u); },
                                  like.device());
    const bool node_rows = open == CONV_OUT || open == CONV_X;
    const Grouped grouped = node_rows ? group_by_row(open == CONV_OUT ? center : neighbor, rows) : Grouped{};
    const RowEdges row_edges{node_rows ? grouped.row_start.data_ptr<int64_t>() : nullptr,
                             node_rows ? grouped.order.data_ptr<int64_t>() : nullptr};
    if (node_rows) {
      const StagingTables staging =
          staging_tables(host, cg_index_, units.host_table, units.host_group_paths, units.per_row, like.device());
      const Grid grid = staged_grid(rows, units.per_row, staging.scalars * static_cast<int64_t>(sizeof(scalar_t)));
      if (staging.usable && grid.shared_bytes <= kMaxSharedBytes) {
        check_grid(grid, options, op);
        if (grid.blocks > 0)
          launch(grid, &conv_staged_kernel<scalar_t>, args, row_edges, units.args(), staging.args(),
                 result.data_ptr<scalar_t>(), cols);
        return;
      }
    }
    const int64_t items = rows * units.per_row;
    check_grid(item_grid(items), options, op);
    if (items > 0)
      launch(item_grid(items), &conv_owner_kernel<scalar_t>, args, row_edges, units.args(), items,
             result.data_ptr<scalar_t>(), cols);
  });
  return result;
}

// channelwise_contract on the device of its features (arguments checked by check_channelwise_args).
template <typename Launch>
at::Tensor channelwise_launch(const Launch& launch, const LaunchOptions& options, const at::Tensor& x1_,
                              const at::Tensor& x2_, const at::Tensor& y_, const at::Tensor& index_,
                              const at::Tensor& paths_, const at::Tensor& cg_index_, const at::Tensor& cg_value,
                              int64_t open, int64_t rows, int64_t cols) {
  using namespace launch_detail;
  const char* op = "channelwise_contract";
  auto operand = [&](const at::Tensor& t, int64_t slot) { return slot == open ? at::Tensor() : t.contiguous(); };
  const at::Tensor x1 = operand(x1_, CW_X1), x2 = operand(x2_, CW_X2), y = operand(y_, CW_OUT);
  const at::Tensor& like = open == CW_X1 ? y : x1;
  const at::Tensor host = host_paths(paths_, op);
  check_atomics(like, options, op);
  const at::Tensor index = index_.contiguous();
  const int64_t num_edges = index.size(0);
  check_range(index, open == CW_X2 ? rows : x2.size(0), "index", op);
  const at::Tensor paths = host.to(like.device()), cg_index = cg_index_.to(like.device()).contiguous();
  at::Tensor result = at::zeros({rows, cols}, like.options());
  const int64_t per_edge = items_per_edge(host);
  AT_DISPATCH_FLOATING_TYPES(like.scalar_type(), "nequip_ops", [&] {
    const at::Tensor values = cg_value.to(like.options()).contiguous();
    const ChannelwiseArgs<scalar_t> args{pointer_or_null<scalar_t>(x1), pointer_or_null<scalar_t>(x2),
                                         pointer_or_null<scalar_t>(y), index.data_ptr<int64_t>(),
                                         paths.data_ptr<int64_t>(), cg_index.data_ptr<int64_t>(),
                                         values.data_ptr<scalar_t>(), cols_of(x1), cols_of(x2), cols_of(y), open};
    if (!options.deterministic) {
      const int64_t items = num_edges * per_edge;
      check_grid(item_grid(items), options, op);
      if (items > 0)
        launch(item_grid(items), &channelwise_kernel<scalar_t>, args, host.size(0), per_edge, items,
               result.data_ptr<scalar_t>(), cols);
      return;
    }
    const auto units = unit_table(host, false, [&](const int64_t* p, int64_t u) { return channelwise_block(open, p, u); },
                                  like.device());
    const Grouped grouped = open == CW_X2 ? group_by_row(index, rows) : Grouped{};
    const RowEdges row_edges{open == CW_X2 ? grouped.row_start.data_ptr<int64_t>() : nullptr,
                             open == CW_X2 ? grouped.order.data_ptr<int64_t>() : nullptr};
    const int64_t items = rows * units.per_row;
    check_grid(item_grid(items), options, op);
    if (items > 0)
      launch(item_grid(items), &channelwise_owner_kernel<scalar_t>, args, row_edges, units.args(), items,
             result.data_ptr<scalar_t>(), cols);
  });
  return result;
}

}  // namespace nequip_ops
