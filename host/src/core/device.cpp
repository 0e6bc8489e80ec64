// Device discovery and --device selection. Uses only the CUDA runtime's query calls, which fail
// cleanly (no throw, no abort) on machines without a driver or GPU.
#include "latentkit/core/device.h"

#include <cuda_runtime.h>

#include <cstdio>
#include <cstdlib>

namespace latentkit {

int cuda_device_count() {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess) {
    cudaGetLastError();  // clear the sticky error so later queries start clean
    return 0;
  }
  return count;
}

std::string no_gpu_reason() {
  int count = 0;
  const cudaError_t err = cudaGetDeviceCount(&count);
  cudaGetLastError();
  if (err != cudaSuccess) {
    int driver = 0;
    if (cudaDriverGetVersion(&driver) == cudaSuccess && driver == 0)
      return "no NVIDIA driver is installed";  // CUDA itself says "driver version is insufficient"
    cudaGetLastError();
    return std::string("CUDA reports: ") + cudaGetErrorString(err);
  }
  if (count == 0) return "CUDA reports no devices";
  return "a CUDA device is present";
}

bool gpu_required() {
  const char* v = std::getenv("LATENTKIT_REQUIRE_GPU");
  return v != nullptr && *v != '\0' && std::string(v) != "0";
}

std::string GpuInfo::describe() const {
  char buf[256];
  std::snprintf(buf, sizeof buf, "cuda:%d %s (sm_%d%d, %.1f GiB, %d SMs)", index, name.c_str(),
                cc_major, cc_minor, static_cast<double>(total_bytes) / (1024.0 * 1024.0 * 1024.0),
                sm_count);
  return buf;
}

std::optional<GpuInfo> gpu_info(int index) {
  cudaDeviceProp prop{};
  if (cudaGetDeviceProperties(&prop, index) != cudaSuccess) {
    cudaGetLastError();
    return std::nullopt;
  }
  GpuInfo info;
  info.index = index;
  info.name = prop.name;
  info.cc_major = prop.major;
  info.cc_minor = prop.minor;
  info.total_bytes = prop.totalGlobalMem;
  info.sm_count = prop.multiProcessorCount;
  return info;
}

std::unique_ptr<Backend> select_backend(DeviceChoice choice, std::ostream& log) {
  if (choice == DeviceChoice::Cpu) {
    log << "device: cpu (requested)\n";
    return make_cpu_backend();
  }
  const int count = cuda_device_count();
  if (count == 0) {
    if (choice == DeviceChoice::Cuda)
      throw NoDeviceError("--device cuda: no usable CUDA GPU (" + no_gpu_reason() +
                          "); use --device cpu or --device auto");
    log << "device: cpu (auto: no CUDA GPU, " << no_gpu_reason() << ")\n";
    return make_cpu_backend();
  }
  auto info = gpu_info(0);
  auto backend = make_cuda_backend(0);
  log << "device: " << (info ? info->describe() : backend->description())
      << (choice == DeviceChoice::Auto ? " (auto: GPU found)" : " (requested)") << "\n";
  return backend;
}

}  // namespace latentkit
