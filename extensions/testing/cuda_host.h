// The few CUDA names tp_kernels.cuh uses, for compiling it as host C++ (extensions/testing): the
// qualifiers vanish, the built-in indices are per-thread host variables set by the emulated launch,
// and atomicAdd is a plain read-modify-write (the emulation runs one device thread at a time, except
// for kernels that synchronise, whose blocks run as one host thread per device thread, meeting at a
// std::barrier for __syncthreads and sharing one buffer as shared memory).
#pragma once

#include <barrier>

#define __global__
#define __device__
#define __host__

struct EmulatedDim3 {
  unsigned int x = 0, y = 0, z = 0;  // uint3 / dim3 on the device: 32-bit, as there
};

inline thread_local EmulatedDim3 blockIdx, threadIdx, blockDim, gridDim;
inline thread_local std::barrier<>* emulated_block_barrier = nullptr;
inline unsigned char* emulated_shared_memory = nullptr;  // of the block being run

template <typename T>
T atomicAdd(T* address, T value) {
  const T old = *address;
  *address = old + value;
  return old;
}

inline void __syncthreads() { emulated_block_barrier->arrive_and_wait(); }

namespace nequip_ops {
template <typename T>
T* shared_memory() {
  return reinterpret_cast<T*>(emulated_shared_memory);
}
}  // namespace nequip_ops
