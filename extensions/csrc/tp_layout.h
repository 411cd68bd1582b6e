// nequip_ops: the layout constants shared by the host code and the device kernels (no torch
// headers, so the kernels compile on their own; see tp_ops.h for the maths).
#pragma once

#include <cstdint>

namespace nequip_ops {

enum PathColumn : int64_t {
  MUL, L1, L2, L_OUT, IN1_START, IN2_START, OUT_START, WEIGHT_START, CG_BEGIN, CG_END, PATH_COLUMNS
};

enum ConvSlot : int64_t { CONV_X, CONV_SH, CONV_WEIGHT, CONV_OUT };
enum ChannelwiseSlot : int64_t { CW_X1, CW_X2, CW_OUT };

}  // namespace nequip_ops
