// End-to-end tests of apps/gmm_fit on the CPU: the table, summary.json and labels.csv for a known
// mixture (BIC finds its K, labels agree with the truth), reproducibility, and bad input (one
// clear line, nonzero exit, an existing output directory untouched).
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "app_test_util.h"
#include "latentkit/families/gmm.h"
#include "latentkit/io/data.h"
#include "latentkit/pipelines/gmm_fit.h"
#include "test_util.h"

namespace fs = std::filesystem;

namespace latentkit {
namespace {

using test::AppRun;
using test::slurp;

class GmmFitApp : public test::AppTest {
 protected:
  GmmFitApp() : AppTest("gmm_fit") {}

  // Three separated 2-D blobs (the truth's labels are returned), written as CSV with a header.
  fs::path blobs_csv(int n, uint64_t seed, std::vector<int32_t>* labels) {
    GmmModel m;
    m.k = 3;
    m.d = 2;
    m.covariance = GmmCovariance::Diag;
    m.weights = {0.3, 0.3, 0.4};
    m.means = {-10, 0, 10, 0, 0, 12};
    m.covariances = {1, 1, 0.5, 2, 1.5, 0.7};
    auto cpu = make_cpu_backend();
    const std::vector<float> x = gmm_sample(*cpu, m, n, seed, labels);
    std::ostringstream os;
    os << "a,b\n";
    char buf[64];
    for (int i = 0; i < n; ++i) {
      std::snprintf(buf, sizeof buf, "%.9g,%.9g\n", x[2 * i], x[2 * i + 1]);
      os << buf;
    }
    return write_file("blobs.csv", os.str());
  }
};

TEST_F(GmmFitApp, FitsTableJsonAndLabels) {
  LK_SEEDED_RNG(rng);
  const int n = 600;
  std::vector<int32_t> truth;
  const fs::path csv = blobs_csv(n, rng(), &truth);
  const fs::path out = dir_ / "out";
  const std::string args = "--device cpu --input " + csv.string() +
                           " --k-min 1 --k-max 5 --n-init 2 --out " + out.string();
  // A result.json of an older version in --out: the run removes it (summary.json replaces it).
  fs::create_directories(out);
  std::ofstream(out / "result.json") << "{}";
  const AppRun r = run(args);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("log-likelihood"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("chosen K (BIC): 3\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("wrote " + out.string() + "/summary.json"), std::string::npos) << r.out;
  EXPECT_FALSE(fs::exists(out / "result.json"));
  const nlohmann::json s = test::expect_schema1(out / "summary.json", "gmm_fit");
  EXPECT_EQ(s["results"].size(), 1u);
  EXPECT_EQ(s["outputs"], nlohmann::json({"labels.csv"}));
  EXPECT_EQ(s["config"]["k_max"], 5);
  EXPECT_EQ(s["config"]["seed"], s["seed"]);
  EXPECT_GE(s["timings_s"]["gmm"].get<double>(), 0.0);
  EXPECT_GE(s["timings_s"]["read"].get<double>(), 0.0);
  const nlohmann::json& j = s["results"]["gmm"];
  EXPECT_EQ(j["best_k_bic"], 3);
  ASSERT_EQ(j["per_k"].size(), 5u);
  const auto& k3 = j["per_k"][2];
  EXPECT_EQ(k3["k"], 3);
  EXPECT_EQ(k3["weights"].size(), 3u);
  EXPECT_EQ(k3["means"].size(), 3u);
  EXPECT_EQ(k3["covariances"][0].size(), 2u);  // [k][d][d]
  EXPECT_EQ(k3["covariances"][0][0].size(), 2u);
  for (const char* key : {"log_likelihood", "bic", "aic", "n_iter", "converged"})
    EXPECT_TRUE(k3.contains(key)) << key;
  EXPECT_TRUE(k3["converged"].get<bool>());
  // labels.csv: one row per input row; the fitted labels are a relabelling of the truth.
  const Dataset labels = read_csv_matrix((out / "labels.csv").string());
  ASSERT_EQ(labels.n, n);
  std::map<std::pair<int, int>, int> pairs;
  for (int i = 0; i < n; ++i) ++pairs[{truth[i], static_cast<int>(labels.x[i * labels.d])}];
  int agree = 0;
  for (int t = 0; t < 3; ++t) {
    int best = 0;
    for (auto& [key, count] : pairs)
      if (key.first == t) best = std::max(best, count);
    agree += best;
  }
  // Blobs >= 10 apart with spreads <= 1.5: fewer than 1% of points cross to another blob.
  EXPECT_GE(agree, n * 99 / 100);
  // Reproducible: the same flags write the same results (timings aside, in timings_s).
  const fs::path out2 = dir_ / "out2";
  ASSERT_EQ(run("--device cpu --input " + csv.string() + " --k-min 1 --k-max 5 --n-init 2 --out " +
                out2.string())
                .exit_code,
            0);
  const nlohmann::json s2 = nlohmann::json::parse(slurp(out2 / "summary.json"));
  EXPECT_EQ(s["results"], s2["results"]);
  EXPECT_EQ(s["config"], s2["config"]);
  EXPECT_EQ(slurp(out / "labels.csv"), slurp(out2 / "labels.csv"));
}

TEST_F(GmmFitApp, BadInputFailsCleanly) {
  const fs::path ok = write_file("ok.csv", "1,2\n3,4\n5,6\n");
  expect_clean_failure("--device cpu --input " + ok.string() + " --k-min 1 --k-max 4", 1,
                       "exceeds the number of samples");
  const fs::path nan = write_file("nan.csv", "1,2\n3,nan\n5,6\n");
  expect_clean_failure("--device cpu --input " + nan.string() + " --k-min 1 --k-max 2", 1,
                       "nan.csv");
  expect_clean_failure("--device cpu --input " + (dir_ / "missing.csv").string(), 1, "missing.csv");
  const fs::path empty = write_file("empty.csv", "");
  expect_clean_failure("--device cpu --input " + empty.string(), 1, "empty.csv");
  expect_clean_failure("--device cpu --input " + ok.string() + " --k-min 3 --k-max 2", 2,
                       "K range");
  expect_clean_failure("--device cpu --input " + ok.string() + " --covariance spherical", 2,
                       "full or diag");
  expect_clean_failure("--device cpu --input " + ok.string() + " --k-max x", 2, "--k-max");
  expect_clean_failure("--device cpu", 2, "--input");
  // A zero-variance column is not an error: reg_covar keeps the fit finite.
  const fs::path flat = write_file("flat.csv", "1,7\n2,7\n3,7\n4,7\n5,7\n6,7\n");
  const AppRun r = run("--device cpu --input " + flat.string() + " --k-min 1 --k-max 2 --out " +
                       (dir_ / "flat_out").string());
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out.find("nan"), std::string::npos) << r.out;
}

// Case 11 of issue 17: restarts beyond the limit are refused at once with the limit, not after
// memory has grown for a while.
TEST_F(GmmFitApp, UnboundedRestartsAreRefused) {
  std::string csv;
  for (int i = 0; i < 40; ++i) csv += std::to_string(i % 7) + "," + std::to_string(i % 5) + "\n";
  const std::string in = write_file("in.csv", csv).string();
  expect_clean_failure("--device cpu --input " + in + " --n-init 1000000000", 2, "65536");
  expect_clean_failure("--device cpu --input " + in + " --seed -1", 2, "--seed");
  expect_clean_failure("--input " + in + " --device tpu", 2, "--device");
}

// The pipeline in process (apps/gmm_fit/main.cpp only parses flags): the flag checks run before
// --out is touched and before a backend is asked for, and a run prints the table and writes the
// two files.
TEST_F(GmmFitApp, PipelineRunsInProcess) {
  GmmFitOptions bad;
  bad.k_min = 4;
  bad.k_max = 3;
  bad.out_dir = (dir_ / "never").string();
  bool asked = false;
  std::ostringstream out, log;
  EXPECT_THROW(run_gmm_fit(
                   bad,
                   [&] {
                     asked = true;
                     return make_cpu_backend();
                   },
                   out, log),
               FlagError);
  EXPECT_FALSE(asked);
  EXPECT_FALSE(fs::exists(dir_ / "never"));

  LK_SEEDED_RNG(rng);
  GmmFitOptions opt;
  opt.input = blobs_csv(300, rng(), nullptr).string();
  opt.out_dir = (dir_ / "in_process").string();
  opt.k_min = 2;
  opt.k_max = 4;
  run_gmm_fit(
      opt, [] { return make_cpu_backend(); }, out, log);
  EXPECT_NE(out.str().find("chosen K (BIC): 3"), std::string::npos) << out.str();
  EXPECT_TRUE(fs::exists(dir_ / "in_process" / "labels.csv"));
  const auto j = nlohmann::json::parse(slurp(dir_ / "in_process" / "summary.json"));
  EXPECT_EQ(j.at("results").at("gmm").at("best_k_bic"), 3);
}

}  // namespace
}  // namespace latentkit
