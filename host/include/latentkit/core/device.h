// Device discovery and selection for --device auto|cpu|cuda. Never throws just because no GPU or
// no driver exists: cuda_device_count() is 0 then.
#pragma once
#include <cstddef>
#include <memory>
#include <optional>
#include <ostream>
#include <string>

#include "latentkit/core/backend.h"
#include "latentkit/core/check.h"
#include "latentkit/core/enum_names.h"

namespace latentkit {

struct GpuInfo {
  int index = 0;
  std::string name;
  int cc_major = 0, cc_minor = 0;
  size_t total_bytes = 0;
  int sm_count = 0;
  std::string describe() const;  // "cuda:0 NVIDIA H100 ... (sm_90, 79.1 GiB, 132 SMs)"
};

int cuda_device_count();  // 0 without a driver or device; never throws
std::optional<GpuInfo> gpu_info(int index);
// Why no GPU is usable, for skip messages and errors (e.g. the CUDA error string).
std::string no_gpu_reason();
// True when the environment variable LATENTKIT_REQUIRE_GPU is set to anything but "" or "0": GPU
// tests (LK_REQUIRE_GPU in tests/test_util.h) and benchmarks (bench/harness.cu) then fail instead
// of skipping when no device is usable, so a GPU machine whose driver is too old for our CUDA
// cannot pass by skipping everything (scripts/gpu_bundle/run.sh sets it).
bool gpu_required();

enum class DeviceChoice { Auto, Cpu, Cuda };
template <>
struct EnumNames<DeviceChoice> {
  static constexpr const char* flag = "--device";
  static constexpr EnumName<DeviceChoice> table[] = {{DeviceChoice::Auto, "auto"},
                                                     {DeviceChoice::Cpu, "cpu"},
                                                     {DeviceChoice::Cuda, "cuda"},
                                                     {DeviceChoice::Cuda, "gpu"}};
};

// Thrown for --device cuda on a machine without a usable GPU (apps exit 2 on it).
class NoDeviceError : public Error {
 public:
  explicit NoDeviceError(const std::string& what) : Error(what) {}
};

// Auto: GPU 0 if one exists, else CPU; logs the choice (name, compute capability, memory) to `log`.
std::unique_ptr<Backend> select_backend(DeviceChoice choice, std::ostream& log);

}  // namespace latentkit
