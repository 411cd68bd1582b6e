// nequip_ops: which instruction set the CPU kernels run with, chosen per call from what this CPU
// supports. The library is built once and cached, possibly on a shared file system, so it cannot be
// built for the build host's CPU (-march=native): it holds a baseline x86-64 copy of the kernels,
// an AVX2+FMA copy and an AVX-512 copy (tp_ops.cpp), and runs the best one the CPU has.
//
// NEQUIP_OPS_CPU_ISA=baseline|avx2|avx512 asks for a lower one (the tests compare all of them); a
// copy the CPU lacks is never run. Other compilers and architectures build the baseline only.
#pragma once

#include <c10/util/Exception.h>

#include <cstdlib>
#include <cstring>

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define NEQUIP_OPS_X86_ISAS 1
#else
#define NEQUIP_OPS_X86_ISAS 0
#endif

namespace nequip_ops {

enum class CpuIsa { baseline, avx2, avx512 };

inline CpuIsa best_cpu_isa() {
#if NEQUIP_OPS_X86_ISAS
  static const CpuIsa best = [] {
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512dq"))
      return CpuIsa::avx512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return CpuIsa::avx2;
    return CpuIsa::baseline;
  }();
  return best;
#else
  return CpuIsa::baseline;
#endif
}

// Read per call (a few ns beside a kernel of microseconds), so that a test can switch it.
inline CpuIsa cpu_isa() {
  const CpuIsa best = best_cpu_isa();
  const char* asked = std::getenv("NEQUIP_OPS_CPU_ISA");
  if (asked == nullptr || *asked == '\0') return best;
  CpuIsa wanted;
  if (std::strcmp(asked, "baseline") == 0) {
    wanted = CpuIsa::baseline;
  } else if (std::strcmp(asked, "avx2") == 0) {
    wanted = CpuIsa::avx2;
  } else if (std::strcmp(asked, "avx512") == 0) {
    wanted = CpuIsa::avx512;
  } else {
    TORCH_CHECK(false, "nequip_ops: NEQUIP_OPS_CPU_ISA='", asked,
                "' is not one of baseline, avx2, avx512; unset it to run the best copy this CPU has");
  }
  return wanted < best ? wanted : best;
}

}  // namespace nequip_ops
