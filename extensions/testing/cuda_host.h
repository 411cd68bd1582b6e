// The few CUDA names tp_kernels.cuh uses, for compiling it as host C++ (extensions/testing): the
// qualifiers vanish, the built-in indices are per-thread host variables set by the emulated launch,
// and atomicAdd is a plain read-modify-write (the emulation runs one device thread at a time).
#pragma once

#define __global__
#define __device__
#define __host__

struct EmulatedDim3 {
  unsigned int x = 0, y = 0, z = 0;  // uint3 / dim3 on the device: 32-bit, as there
};

inline thread_local EmulatedDim3 blockIdx, threadIdx, blockDim, gridDim;

template <typename T>
T atomicAdd(T* address, T value) {
  const T old = *address;
  *address = old + value;
  return old;
}
