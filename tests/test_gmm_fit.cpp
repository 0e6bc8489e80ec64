// End-to-end tests of apps/gmm_fit on the CPU: the table, result.json and labels.csv for a known
// mixture (BIC finds its K, labels agree with the truth), reproducibility, and bad input (one
// clear line, nonzero exit, no output written).
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "latentkit/data.h"
#include "latentkit/gmm.h"
#include "test_util.h"

namespace fs = std::filesystem;

namespace latentkit {
namespace {

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class GmmFitApp : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::path(::testing::TempDir()) /
           ("gmm_fit_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override {
    if (!HasFailure()) fs::remove_all(dir_);
  }

  struct Run {
    int code = -1;
    std::string out, err;
  };
  Run run(const std::string& args) {
    const std::string cmd = std::string(LATENTKIT_BIN_DIR) + "/gmm_fit " + args + " > " +
                            (dir_ / "stdout.txt").string() + " 2> " +
                            (dir_ / "stderr.txt").string() + " < /dev/null";
    const int status = std::system(cmd.c_str());
    Run r;
    r.code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    r.out = slurp(dir_ / "stdout.txt");
    r.err = slurp(dir_ / "stderr.txt");
    return r;
  }

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
    return write("blobs.csv", os.str());
  }
  fs::path write(const std::string& name, const std::string& text) {
    std::ofstream(dir_ / name) << text;
    return dir_ / name;
  }

  void expect_clean_failure(const std::string& args, int code, const std::string& words) {
    const fs::path out = dir_ / "fail_out";
    const Run r = run(args + " --out " + out.string());
    EXPECT_EQ(r.code, code) << args << "\n" << r.err;
    size_t lines = 0;
    std::istringstream in(r.err);
    for (std::string line; std::getline(in, line);) {
      if (line.rfind("device: ", 0) == 0) continue;
      ++lines;
      EXPECT_EQ(line.rfind("gmm_fit: ", 0), 0u) << line;
    }
    EXPECT_EQ(lines, 1u) << r.err;
    EXPECT_NE(r.err.find(words), std::string::npos) << "stderr lacks '" << words << "': " << r.err;
    EXPECT_FALSE(fs::exists(out)) << "output written on failure";
  }

  fs::path dir_;
};

TEST_F(GmmFitApp, FitsTableJsonAndLabels) {
  LK_SEEDED_RNG(rng);
  const int n = 600;
  std::vector<int32_t> truth;
  const fs::path csv = blobs_csv(n, rng(), &truth);
  const fs::path out = dir_ / "out";
  const std::string args = "--device cpu --input " + csv.string() +
                           " --k-min 1 --k-max 5 --n-init 2 --out " + out.string();
  const Run r = run(args);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("log-likelihood"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("chosen K (BIC): 3\n"), std::string::npos) << r.out;
  const nlohmann::json j = nlohmann::json::parse(slurp(out / "result.json"));
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
  // Reproducible: the same flags write the same result.json (timings aside).
  const fs::path out2 = dir_ / "out2";
  ASSERT_EQ(run("--device cpu --input " + csv.string() + " --k-min 1 --k-max 5 --n-init 2 --out " +
                out2.string())
                .code,
            0);
  nlohmann::json a = j, b = nlohmann::json::parse(slurp(out2 / "result.json"));
  a.erase("fit_seconds");
  b.erase("fit_seconds");
  EXPECT_EQ(a, b);
  EXPECT_EQ(slurp(out / "labels.csv"), slurp(out2 / "labels.csv"));
}

TEST_F(GmmFitApp, BadInputFailsCleanly) {
  const fs::path ok = write("ok.csv", "1,2\n3,4\n5,6\n");
  expect_clean_failure("--device cpu --input " + ok.string() + " --k-min 1 --k-max 4", 1,
                       "exceeds the number of samples");
  const fs::path nan = write("nan.csv", "1,2\n3,nan\n5,6\n");
  expect_clean_failure("--device cpu --input " + nan.string() + " --k-min 1 --k-max 2", 1,
                       "nan.csv");
  expect_clean_failure("--device cpu --input " + (dir_ / "missing.csv").string(), 1, "missing.csv");
  const fs::path empty = write("empty.csv", "");
  expect_clean_failure("--device cpu --input " + empty.string(), 1, "empty.csv");
  expect_clean_failure("--device cpu --input " + ok.string() + " --k-min 3 --k-max 2", 1,
                       "K range");
  expect_clean_failure("--device cpu --input " + ok.string() + " --covariance spherical", 1,
                       "full or diag");
  expect_clean_failure("--device cpu --input " + ok.string() + " --k-max x", 2, "--k-max");
  expect_clean_failure("--device cpu", 2, "--input");
  // A zero-variance column is not an error: reg_covar keeps the fit finite.
  const fs::path flat = write("flat.csv", "1,7\n2,7\n3,7\n4,7\n5,7\n6,7\n");
  const Run r = run("--device cpu --input " + flat.string() + " --k-min 1 --k-max 2 --out " +
                    (dir_ / "flat_out").string());
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out.find("nan"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace latentkit
