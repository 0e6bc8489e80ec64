// Emulated-GPU build: Thrust runs on its CPP backend (THRUST_DEVICE_SYSTEM=CPP, Debian's
// libthrust-dev). `thrust::cuda::par.on(stream)` first runs the work queued on `stream` (the
// Thrust call then runs at once on the host, in stream order), then hands Thrust the CPP policy.
#pragma once
#include <thrust/system/cpp/execution_policy.h>

#include "lkemu/runtime.h"

namespace thrust::cuda {
struct lkemu_par_t {
  auto on(cudaStream_t stream) const {
    ::lkemu::flush_stream(stream);
    return thrust::cpp::par;
  }
};
inline constexpr lkemu_par_t par{};
}  // namespace thrust::cuda
