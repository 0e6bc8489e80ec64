// summary.json: the one output schema of every latentkit app (issue 12), and the one way a
// pipeline stage reports its result or why it was skipped.
//
// Schema 1, keys in this order:
//   {"schema": 1,
//    "app": "<name>",
//    "config": {...},                    the run's settings (flags, the data read)
//    "device": "<backend description>",
//    "versions": {"latentkit", "cuda_runtime", "cuda_driver", "compiler"},
//    "seed": <uint64>,
//    "timings_s": {"total": s, "<step>": s, "<stage>": s, "<stage>.<part>": s, ...},
//    "results": {"<stage>": {...figures...} | {"skipped": true, "reason": "..."}, ...},
//    "outputs": ["<file>", ...]}          the files the run wrote beside summary.json
// timings_s holds every wall time of the run (and the rates derived from them, "<x>_per_s"), and
// nothing else; results hold figures only, never a wall time, so two runs with the same seed
// give the same results. A stage that did not run is {"skipped": true, "reason": "<why, naming
// the flag or the input that switched it off>"}, and so is a part of a stage (vae_gmm's
// tsne.latent, gmm_bic.generated).
// Results per app: vae_gmm: train, generate, kmeans, mmd, gmm_bic, mode_coverage, tsne (every one
// present); gmm_fit: gmm; kmeans: kmeans; mmd: mmd; tsne: tsne; rbm_mnist: train, inpainting.
// Tests: tests/test_summary.cpp, and every app's end-to-end tests.
#pragma once
#include <chrono>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "latentkit/core/backend.h"

namespace latentkit {

constexpr int kSummarySchema = 1;  // summary.json's "schema"

// {"latentkit", "cuda_runtime", "cuda_driver" ("none" without a driver), "compiler"}: the
// "versions" entry of every summary.json.
nlohmann::json versions_json();

// What one stage of a pipeline produced: its figures, or the reason it did not run.
struct StageResult {
  nlohmann::json result = nlohmann::json::object();  // figures only: no wall time inside
  std::optional<std::string> skipped;                // the reason (set: the stage did not run)
  double seconds = 0;                                // wall time of the stage
  // Wall times of the stage's parts: timings_s["<stage>.<part>"] (e.g. tsne.latent).
  std::vector<std::pair<std::string, double>> parts;
  // Files the stage wrote: appended to summary.json's "outputs".
  std::vector<std::string> outputs;

  static StageResult skip(std::string reason);
  // `result`, or {"skipped": true, "reason": reason} for a skipped stage.
  nlohmann::json to_json() const;
};

// The {"skipped": true, "reason": reason} of a skipped stage or of a skipped part of a stage.
nlohmann::json skipped_json(const std::string& reason);

// summary.json of one run, built as the run goes (see the top of this file for the schema).
//   RunSummary s("kmeans", backend, seed);
//   s.config() = {{"k_min", 2}, ...};
//   s.time("read", read_s);
//   s.add("kmeans", stage);  // results.kmeans and timings_s.kmeans
//   s.output("labels.csv");
//   s.write(out.path("summary.json"));
class RunSummary {
 public:
  // Starts the clock of timings_s.total (time("total", s) overrides it).
  RunSummary(std::string app, const Backend& backend, uint64_t seed);

  nlohmann::json& config() { return config_; }
  // results[name] = r.to_json(); timings_s[name] = r.seconds and timings_s["name.part"] for each
  // of r.parts; r.outputs appended to outputs.
  void add(const std::string& name, const StageResult& r);
  // timings_s[step] = seconds ("total": the whole run; without it, the time since construction).
  void time(const std::string& step, double seconds);
  // Appends a file to outputs (once).
  void output(const std::string& file);

  const nlohmann::ordered_json& results() const { return results_; }
  const nlohmann::ordered_json& timings() const { return timings_; }

  // The schema-1 object, keys in the schema's order (hence ordered_json: nlohmann::json would
  // sort them).
  nlohmann::ordered_json to_json() const;
  // to_json().dump(2) to `path`, atomically (write_file_atomic: a temporary file renamed).
  void write(const std::string& path) const;

 private:
  std::string app_, device_;
  uint64_t seed_;
  std::chrono::steady_clock::time_point start_;
  nlohmann::json config_ = nlohmann::json::object();
  nlohmann::ordered_json timings_ = nlohmann::ordered_json::object();
  nlohmann::ordered_json results_ = nlohmann::ordered_json::object();
  std::vector<std::string> outputs_;
};

}  // namespace latentkit
