// summary.json, the one output schema of the apps (see latentkit/io/summary.h).
#include "latentkit/io/summary.h"

#include <cuda_runtime.h>

#include <algorithm>
#include <ostream>

#include "latentkit/io/io.h"

namespace latentkit {

nlohmann::json versions_json() {
  int runtime = 0, driver = 0;
  cudaRuntimeGetVersion(&runtime);
  if (cudaDriverGetVersion(&driver) != cudaSuccess) driver = 0;
  cudaGetLastError();  // a failed query must not leave a sticky error for the next CUDA call
  const auto dotted = [](int v) {  // CUDA encodes 13.0 as 13000
    return std::to_string(v / 1000) + "." + std::to_string((v % 1000) / 10);
  };
  return {{"latentkit", LATENTKIT_VERSION},
          {"cuda_runtime", dotted(runtime)},
          {"cuda_driver", driver ? dotted(driver) : "none"},
          {"compiler", __VERSION__}};
}

nlohmann::json skipped_json(const std::string& reason) {
  return {{"skipped", true}, {"reason", reason}};
}

StageResult StageResult::skip(std::string reason) {
  StageResult r;
  r.skipped = std::move(reason);
  return r;
}

nlohmann::json StageResult::to_json() const { return skipped ? skipped_json(*skipped) : result; }

RunSummary::RunSummary(std::string app, const Backend& backend, uint64_t seed)
    : app_(std::move(app)),
      device_(backend.description()),
      seed_(seed),
      start_(std::chrono::steady_clock::now()) {}

void RunSummary::add(const std::string& name, const StageResult& r) {
  results_[name] = r.to_json();
  timings_[name] = r.seconds;
  for (const auto& [part, seconds] : r.parts) timings_[name + "." + part] = seconds;
  for (const auto& f : r.outputs) output(f);
}

void RunSummary::time(const std::string& step, double seconds) { timings_[step] = seconds; }

void RunSummary::output(const std::string& file) {
  if (std::find(outputs_.begin(), outputs_.end(), file) == outputs_.end()) outputs_.push_back(file);
}

nlohmann::ordered_json RunSummary::to_json() const {
  nlohmann::ordered_json timings = nlohmann::ordered_json::object();
  timings["total"] =
      timings_.contains("total")
          ? timings_.at("total").get<double>()
          : std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  for (const auto& [k, v] : timings_.items())
    if (k != "total") timings[k] = v;
  nlohmann::ordered_json j;
  j["schema"] = kSummarySchema;
  j["app"] = app_;
  j["config"] = config_;
  j["device"] = device_;
  j["versions"] = versions_json();
  j["seed"] = seed_;
  j["timings_s"] = timings;
  j["results"] = results_;
  j["outputs"] = outputs_;
  return j;
}

void RunSummary::write(const std::string& path) const {
  const nlohmann::ordered_json j = to_json();
  write_file_atomic(path, [&](std::ostream& os) { os << j.dump(2) << "\n"; });
}

}  // namespace latentkit
