// Helpers shared by the pairwise family's GPU tests (tests/test_pairwise_gpu.cu,
// tests/test_mmd_gpu.cu, tests/test_kmeans_gpu.cu): parameterised test names and the CPU/CUDA
// backend pair of the host-API tests.
#pragma once
#include <initializer_list>
#include <memory>
#include <string>
#include <utility>

#include "latentkit/core/backend.h"

namespace latentkit::test {

// "n31_m33_d3" from {{"n", 31}, {"m", 33}, {"d", 3}}: names of parameterised test cases.
inline std::string shape_name(std::initializer_list<std::pair<const char*, int>> parts) {
  std::string name;
  for (const auto& [key, value] : parts)
    name += (name.empty() ? "" : "_") + std::string(key) + std::to_string(value);
  return name;
}

// The two backends a host-API test compares: the CPU reference and CUDA device 0.
struct CpuAndGpu {
  std::unique_ptr<Backend> cpu, gpu;
};
inline CpuAndGpu cpu_and_gpu() { return {make_cpu_backend(), make_cuda_backend(0)}; }

}  // namespace latentkit::test
