// apps/mmd and apps/kmeans pipelines (latentkit/pipelines/pairwise_tools.h).
#include "latentkit/pipelines/pairwise_tools.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <string>

#include "latentkit/core/check.h"
#include "latentkit/io/data.h"
#include "latentkit/io/io.h"
#include "latentkit/io/summary.h"
#include "latentkit/pipelines/app.h"

namespace latentkit {
namespace {

using Clock = std::chrono::steady_clock;

std::string fmt(double v, const char* f = "%.6g") {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

}  // namespace

void check_mmd_flags(const MmdToolOptions& opt) {
  LK_FLAG_CHECK(opt.permutations >= 0, "--permutations must be >= 0, got " << opt.permutations);
  LK_FLAG_CHECK(
      opt.perm_max_points >= -1,
      "--perm-max-points must be -1 (auto), 0 (all) or a point count, got " << opt.perm_max_points);
  LK_FLAG_CHECK(opt.permutations <= kMaxPermutations,
                "--permutations " << opt.permutations << " is more than the " << kMaxPermutations
                                  << " a p-value can use: lower --permutations");
  LK_FLAG_CHECK(
      !opt.bandwidths.empty() || (opt.n_bandwidths >= 1 && opt.n_bandwidths <= kMmdMaxParams),
      "--n-bandwidths must be in 1.." << kMmdMaxParams << ", got " << opt.n_bandwidths);
  LK_FLAG_CHECK(
      static_cast<int>(opt.bandwidths.size()) <= kMmdMaxParams,
      "--bandwidths takes at most " << kMmdMaxParams << " values, got " << opt.bandwidths.size());
  // (1e30: validate_mmd_kernel's bound, which the run would otherwise apply after reading the
  // data.)
  for (double h : opt.bandwidths)
    LK_FLAG_CHECK(std::isfinite(h) && h > 0 && h < 1e30,
                  "--bandwidths must be positive numbers below 1e30, got " << h);
}

nlohmann::json mmd_report(Backend& backend, const std::vector<float>& X, int n,
                          const std::vector<float>& Y, int m, int d, const MmdToolOptions& opt) {
  check_mmd_flags(opt);
  MmdKernelSpec spec;
  spec.kind = opt.kernel;
  // The test keeps every permuted statistic twice (float64): 16 bytes per permutation.
  check_memory(16.0 * opt.permutations, backend, std::to_string(opt.permutations) + " permutations",
               "lower --permutations");
  nlohmann::json j;
  if (opt.bandwidths.empty()) {
    int used = 0;
    const double h = median_heuristic(X, n, Y, m, d, opt.seed, kMedianMaxPoints, &used);
    spec.params = halving_list(h, opt.n_bandwidths);
    j["median_heuristic"] = {
        {"median_sq_distance", h}, {"points", used}, {"subsampled", used < n + m}};
  } else {
    spec.params = opt.bandwidths;
  }
  validate_mmd_kernel(spec);
  Array<float> xb = backend.upload(X), yb = backend.upload(Y);
  const double value = mmd2(backend, xb.data(), n, yb.data(), m, d, spec, opt.unbiased);
  j["mmd2"] = value;
  j["kernel"] = enum_name(spec.kind);
  j[spec.kind == MmdKernel::Rbf ? "bandwidths" : "scales"] = spec.params;
  j["estimator"] = opt.unbiased ? "unbiased" : "biased";
  j["n_x"] = n;
  j["n_y"] = m;
  j["d"] = d;
  j["permutations"] = opt.permutations;
  if (opt.permutations > 0) {
    const int max_points = opt.perm_max_points >= 0            ? opt.perm_max_points
                           : backend.kind() == DeviceKind::Cpu ? kCpuPermutationMaxPoints
                                                               : 0;
    const auto pt = mmd_permutation_test(backend, xb.data(), n, yb.data(), m, d, spec, opt.unbiased,
                                         opt.permutations, opt.seed, max_points, opt.progress);
    j["p_value"] = pt.p_value;
    j["permutation_test"] = {{"points_x", pt.points_x},     {"points_y", pt.points_y},
                             {"subsampled", pt.subsampled}, {"observed_mmd2", pt.observed},
                             {"max_points", max_points},    {"seed", opt.seed},
                             {"null_mean", pt.null_mean()}, {"null_std", pt.null_std()}};
  } else {
    j["p_value"] = nullptr;
  }
  return j;
}

nlohmann::json run_mmd_tool(const MmdToolOptions& opt, Backend& backend, std::ostream& out) {
  LK_FLAG_CHECK(!opt.out_dir.empty(), "--out is required");
  check_mmd_flags(opt);
  // result.json: what older versions wrote; a rerun into their --out removes it.
  OutputDir dir(opt.out_dir, {"summary.json", "result.json"});  // locked, writable before work
  RunSummary summary("mmd", backend, opt.seed);
  summary.config() = {{"x", opt.x_csv},
                      {"y", opt.y_csv},
                      {"kernel", enum_name(opt.kernel)},
                      {"bandwidths", opt.bandwidths},
                      {"n_bandwidths", opt.n_bandwidths},
                      {"unbiased", opt.unbiased},
                      {"permutations", opt.permutations},
                      {"perm_max_points", opt.perm_max_points}};
  auto t0 = Clock::now();
  const Dataset x = read_csv_matrix(opt.x_csv);
  const Dataset y = read_csv_matrix(opt.y_csv);
  LK_INPUT_CHECK(x.d == y.d, "'" << opt.x_csv << "' has " << x.d << " columns but '" << opt.y_csv
                                 << "' has " << y.d
                                 << ": both samples need the same number of columns");
  {
    std::vector<float> pooled = x.x;
    pooled.insert(pooled.end(), y.x.begin(), y.x.end());
    check_distance_scale(pooled, x.n + y.n, x.d, "'" + opt.x_csv + "' with '" + opt.y_csv + "'",
                         "rescale both samples the same way");
  }
  summary.time("read", seconds_since(t0));
  t0 = Clock::now();
  StageResult stage;
  stage.result = mmd_report(backend, x.x, x.n, y.x, y.n, x.d, opt);
  stage.seconds = seconds_since(t0);
  summary.add("mmd", stage);
  summary.write(dir.path("summary.json"));
  dir.commit();
  const nlohmann::json& j = stage.result;
  out << "mmd2 = " << fmt(j["mmd2"].get<double>()) << " (" << j["estimator"].get<std::string>()
      << ", " << j["kernel"].get<std::string>() << " kernel, "
      << (j.contains("bandwidths") ? j["bandwidths"].size() : j["scales"].size()) << " "
      << (j.contains("bandwidths") ? "bandwidths" : "scales") << ")";
  if (opt.permutations > 0) {
    const auto& pt = j["permutation_test"];
    out << ", p_value = " << fmt(j["p_value"].get<double>()) << " (" << opt.permutations
        << " permutations on " << pt["points_x"].get<int>() + pt["points_y"].get<int>()
        << " pooled points" << (pt["subsampled"].get<bool>() ? ", a subsample" : "") << ")";
  }
  out << "\nwrote " << opt.out_dir << "/summary.json\n";
  return summary.to_json();
}

nlohmann::json kmeans_report(const KMeansSweep& sweep, int d, int silhouette_sample) {
  nlohmann::json per_k = nlohmann::json::array();
  const KMeansSweepEntry* best = nullptr;
  for (const auto& e : sweep.per_k) {
    per_k.push_back({{"k", e.fit.k},
                     {"inertia", e.fit.inertia},
                     {"silhouette", e.silhouette.score},
                     {"n_iter", e.fit.n_iter},
                     {"best_init", e.fit.best_init},
                     {"empty_reseeds", e.fit.empty_reseeds}});
    if (e.fit.k == sweep.best_k_silhouette) best = &e;
  }
  nlohmann::json j;
  j["per_k"] = per_k;
  j["best_k_silhouette"] = sweep.best_k_silhouette;
  j["silhouette"] = {{"sample_size", silhouette_sample},
                     {"points", sweep.per_k.empty() ? 0 : sweep.per_k.front().silhouette.points},
                     {"exact", sweep.per_k.empty() || !sweep.per_k.front().silhouette.sampled}};
  if (best) {
    nlohmann::json centers = nlohmann::json::array();
    for (int c = 0; c < best->fit.k; ++c)
      centers.push_back(
          std::vector<float>(best->fit.centers.begin() + static_cast<size_t>(c) * d,
                             best->fit.centers.begin() + static_cast<size_t>(c + 1) * d));
    j["best"] = {{"k", best->fit.k},
                 {"inertia", best->fit.inertia},
                 {"silhouette", best->silhouette.score},
                 {"centers", centers}};
  }
  return j;
}

nlohmann::json run_kmeans_tool(const KMeansToolOptions& opt, Backend& backend, std::ostream& out) {
  LK_FLAG_CHECK(!opt.out_dir.empty(), "--out is required");
  LK_FLAG_CHECK(opt.silhouette_sample >= 0, "--silhouette-sample must be >= 0 (0: exact)");
  LK_FLAG_CHECK(opt.k_min >= 2 && opt.k_min <= opt.k_max,
                "--k-min " << opt.k_min << " / --k-max " << opt.k_max
                           << ": need 2 <= k_min <= k_max (the silhouette needs two clusters)");
  LK_FLAG_CHECK(opt.kmeans.n_init >= 1, "--n-init must be >= 1, got " << opt.kmeans.n_init);
  LK_FLAG_CHECK(opt.kmeans.max_iter >= 1, "--max-iter must be >= 1, got " << opt.kmeans.max_iter);
  LK_FLAG_CHECK(std::isfinite(opt.kmeans.tol) && opt.kmeans.tol >= 0,
                "--tol must be a finite number >= 0, got " << opt.kmeans.tol);
  // result.json: what older versions wrote; a rerun into their --out removes it.
  OutputDir dir(opt.out_dir, {"labels.csv", "summary.json", "result.json"});  // locked, writable
  RunSummary summary("kmeans", backend, opt.kmeans.seed);
  auto t0 = Clock::now();
  const Dataset data = read_csv_matrix(opt.input_csv);
  check_distance_scale(data.x, data.n, data.d, "'" + opt.input_csv + "'", "rescale the data");
  // The silhouette needs two clusters that are not the same point: k <= the distinct rows.
  const int distinct = count_distinct_rows(data.x, data.n, data.d, opt.k_max);
  LK_INPUT_CHECK(distinct >= 2, "all rows of '" << opt.input_csv << "' are identical: one "
                                                << "cluster, no silhouette; use other data");
  LK_INPUT_CHECK(distinct >= opt.k_max,
                 "'" << opt.input_csv << "' has only " << distinct << " distinct rows: --k-max "
                     << opt.k_max << " would split identical points (no silhouette); use --k-max "
                     << distinct << " or less");
  LK_INPUT_CHECK(opt.k_max < data.n, "'" << opt.input_csv << "' has " << data.n
                                         << " rows: --k-max must be below that (silhouette needs "
                                            "k <= n - 1), got "
                                         << opt.k_max);
  summary.time("read", seconds_since(t0));
  t0 = Clock::now();
  Array<float> xb = backend.upload(data.x);
  const KMeansSweep sweep = kmeans_sweep(backend, xb.data(), data.n, data.d, opt.k_min, opt.k_max,
                                         opt.kmeans, opt.silhouette_sample);
  StageResult stage;
  stage.result = kmeans_report(sweep, data.d, opt.silhouette_sample);
  stage.seconds = seconds_since(t0);
  summary.config() = {{"input", opt.input_csv},
                      {"n", data.n},
                      {"d", data.d},
                      {"k_min", opt.k_min},
                      {"k_max", opt.k_max},
                      {"n_init", opt.kmeans.n_init},
                      {"max_iter", opt.kmeans.max_iter},
                      {"tol", opt.kmeans.tol},
                      {"seed", opt.kmeans.seed},
                      {"silhouette_sample", opt.silhouette_sample},
                      {"init", "k-means++ (greedy, 2 + ln k candidates)"}};
  summary.add("kmeans", stage);
  summary.output("labels.csv");
  const KMeansSweepEntry* best = nullptr;
  for (const auto& e : sweep.per_k)
    if (e.fit.k == sweep.best_k_silhouette) best = &e;
  LK_CHECK(best, "kmeans: no best k");
  write_csv(dir.path("labels.csv"), {"label"},
            {std::vector<double>(best->fit.labels.begin(), best->fit.labels.end())});
  summary.write(dir.path("summary.json"));
  dir.commit();
  for (const auto& e : sweep.per_k)
    out << "k=" << e.fit.k << " inertia=" << fmt(e.fit.inertia)
        << " silhouette=" << fmt(e.silhouette.score, "%.4f") << " n_iter=" << e.fit.n_iter << "\n";
  out << "best_k_silhouette = " << sweep.best_k_silhouette << "\nwrote " << opt.out_dir
      << "/summary.json, " << opt.out_dir << "/labels.csv\n";
  return summary.to_json();
}

}  // namespace latentkit
