// End-to-end tests of apps/mmd and apps/kmeans on the CPU: outputs (summary.json, labels.csv),
// the values against the library, reproducibility, and bad input (mismatched columns, NaN, empty
// or missing files, impossible flags): one clear line, nonzero exit, nothing half-written.
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
#include <string>

#include "app_test_util.h"
#include "latentkit/io/data.h"
#include "test_util.h"

namespace fs = std::filesystem;

namespace latentkit {
namespace {

using test::AppRun;
using test::slurp;

// Runs both apps: every run() and expect_clean_failure() names the app.
class PairwiseApps : public test::AppTest {
 protected:
  PairwiseApps() : AppTest("mmd") {}

  // n x d normal points shifted by `shift`, as CSV (with a header when asked).
  fs::path normal_csv(const std::string& name, int n, int d, double shift, uint64_t seed,
                      bool header = false) {
    std::mt19937_64 rng(seed);
    std::normal_distribution<double> g(0.0, 1.0);
    std::ostringstream os;
    if (header) {
      for (int j = 0; j < d; ++j) os << (j ? "," : "") << "c" << j;
      os << "\n";
    }
    for (int i = 0; i < n; ++i) {
      for (int j = 0; j < d; ++j) os << (j ? "," : "") << g(rng) + shift;
      os << "\n";
    }
    return write_file(name, os.str());
  }
};

TEST_F(PairwiseApps, MmdWritesResultAndSeparatesDistributions) {
  const auto a = normal_csv("a.csv", 300, 3, 0.0, 1, true);
  const auto b = normal_csv("b.csv", 250, 3, 0.0, 2);
  const auto c = normal_csv("c.csv", 250, 3, 1.0, 3);
  const AppRun same =
      run("mmd", "--device cpu --x " + a.string() + " --y " + b.string() +
                     " --permutations 99 --unbiased --out " + (dir_ / "same").string());
  ASSERT_EQ(same.exit_code, 0) << same.err;
  const AppRun diff =
      run("mmd", "--device cpu --x " + a.string() + " --y " + c.string() +
                     " --permutations 99 --unbiased --out " + (dir_ / "diff").string());
  ASSERT_EQ(diff.exit_code, 0) << diff.err;
  const auto js = nlohmann::json::parse(slurp(dir_ / "same/summary.json")).at("results").at("mmd");
  const auto sd = test::expect_schema1(dir_ / "diff/summary.json", "mmd");
  EXPECT_EQ(sd["results"].size(), 1u);
  EXPECT_EQ(sd["outputs"], nlohmann::json::array());
  EXPECT_EQ(sd["config"]["y"], c.string());
  EXPECT_EQ(sd["config"]["permutations"], 99);
  EXPECT_GE(sd["timings_s"]["mmd"].get<double>(), 0.0);
  const auto jd = sd["results"]["mmd"];
  for (const char* key : {"mmd2", "p_value", "kernel", "bandwidths", "estimator"})
    EXPECT_TRUE(jd.contains(key)) << key;
  EXPECT_EQ(jd["kernel"], "rbf");
  EXPECT_EQ(jd["bandwidths"].size(), 7u);  // median heuristic: h, h/2, ..., h/64
  EXPECT_DOUBLE_EQ(jd["bandwidths"][1].get<double>(), jd["bandwidths"][0].get<double>() / 2);
  EXPECT_GT(jd["mmd2"].get<double>(), 10 * std::fabs(js["mmd2"].get<double>()));
  EXPECT_DOUBLE_EQ(jd["p_value"].get<double>(), 0.01);  // (1 + 0) / (1 + 99)
  EXPECT_GT(js["p_value"].get<double>(), 0.001);
  EXPECT_NE(diff.out.find("mmd2 = "), std::string::npos) << diff.out;
  EXPECT_NE(diff.out.find("p_value = "), std::string::npos) << diff.out;
  EXPECT_NE(diff.out.find("wrote " + (dir_ / "diff").string() + "/summary.json"), std::string::npos)
      << diff.out;
  // Reproducible: same flags, same results (wall times apart, in timings_s).
  ASSERT_EQ(run("mmd", "--device cpu --x " + a.string() + " --y " + c.string() +
                           " --permutations 99 --unbiased --out " + (dir_ / "again").string())
                .exit_code,
            0);
  const auto j2 = nlohmann::json::parse(slurp(dir_ / "again/summary.json")).at("results");
  EXPECT_EQ(sd["results"], j2);
}

TEST_F(PairwiseApps, MmdExplicitBandwidthsAndImq) {
  const auto a = normal_csv("a.csv", 40, 2, 0.0, 1);
  const auto b = normal_csv("b.csv", 30, 2, 0.5, 2);
  const AppRun r = run("mmd", "--device cpu --x " + a.string() + " --y " + b.string() +
                                  " --kernel imq --bandwidths 0.5,2 --permutations 0 --out " +
                                  (dir_ / "imq").string());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(slurp(dir_ / "imq/summary.json")).at("results").at("mmd");
  EXPECT_EQ(j["kernel"], "imq");
  EXPECT_EQ(j["scales"], nlohmann::json({0.5, 2.0}));
  EXPECT_TRUE(j["p_value"].is_null());
  EXPECT_GE(j["mmd2"].get<double>(), 0.0);  // biased by default
}

TEST_F(PairwiseApps, MmdBadInput) {
  const auto a = normal_csv("a.csv", 20, 3, 0.0, 1);
  const auto b2 = normal_csv("b2.csv", 20, 2, 0.0, 2);
  const std::string xa = "--device cpu --x " + a.string();
  expect_clean_failure("mmd", xa + " --y " + b2.string(), 1, "same number of columns");
  expect_clean_failure("mmd", xa + " --y " + write_file("n.csv", "1,2,3\nnan,1,2\n").string(), 1,
                       "NaN");
  expect_clean_failure("mmd", xa + " --y " + write_file("e.csv", "").string(), 1, "no data rows");
  expect_clean_failure("mmd", xa + " --y " + (dir_ / "missing.csv").string(), 1, "cannot open");
  expect_clean_failure("mmd", xa + " --y " + a.string() + " --kernel gauss", 2, "rbf or imq");
  expect_clean_failure("mmd", xa + " --y " + a.string() + " --bandwidths 1,-2", 2, "positive");
  expect_clean_failure("mmd", xa + " --y " + a.string() + " --bandwidths 1 --median", 2, "exclude");
  expect_clean_failure("mmd", xa + " --y " + a.string() + " --permutations x", 2, "--permutations");
  expect_clean_failure("mmd",
                       xa + " --y " + write_file("one.csv", "1,2,3\n").string() + " --unbiased", 1,
                       "at least 2 rows");
  // Identical points everywhere: the median heuristic has nothing to measure.
  const auto flat = write_file("flat.csv", "1,1,1\n1,1,1\n1,1,1\n");
  expect_clean_failure("mmd", "--device cpu --x " + flat.string() + " --y " + flat.string(), 1,
                       "--bandwidths");
}

TEST_F(PairwiseApps, KMeansWritesResultAndLabels) {
  // Three blobs of 70 points in 2-D.
  std::mt19937_64 rng(5);
  std::normal_distribution<double> g(0.0, 0.5);
  std::ostringstream os;
  os << "x,y\n";
  const double cx[3] = {0, 10, 0}, cy[3] = {0, 0, 10};
  for (int c = 0; c < 3; ++c)
    for (int i = 0; i < 70; ++i) os << cx[c] + g(rng) << "," << cy[c] + g(rng) << "\n";
  const auto in = write_file("blobs.csv", os.str());
  const AppRun r =
      run("kmeans", "--device cpu --input " + in.string() +
                        " --k-min 2 --k-max 6 --n-init 3 --out " + (dir_ / "km").string());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto s = test::expect_schema1(dir_ / "km/summary.json", "kmeans");
  EXPECT_EQ(s["results"].size(), 1u);
  EXPECT_EQ(s["outputs"], nlohmann::json({"labels.csv"}));
  EXPECT_EQ(s["config"]["n"], 210);
  EXPECT_EQ(s["config"]["k_max"], 6);
  EXPECT_GE(s["timings_s"]["kmeans"].get<double>(), 0.0);
  EXPECT_NE(r.out.find("wrote " + (dir_ / "km").string() + "/summary.json"), std::string::npos)
      << r.out;
  const auto& j = s["results"]["kmeans"];
  ASSERT_EQ(j["per_k"].size(), 5u);
  for (const auto& e : j["per_k"]) {
    EXPECT_TRUE(e.contains("inertia") && e.contains("silhouette") && e.contains("n_iter"));
    EXPECT_GE(e["n_iter"].get<int>(), 1);
  }
  EXPECT_EQ(j["best_k_silhouette"], 3);
  EXPECT_EQ(j["best"]["centers"].size(), 3u);
  const Dataset labels = read_csv_matrix((dir_ / "km/labels.csv").string());
  EXPECT_EQ(labels.n, 210);
  EXPECT_EQ(labels.d, 1);
  // Points of one blob share a label, and the blobs differ.
  EXPECT_EQ(labels.x[0], labels.x[69]);
  EXPECT_NE(labels.x[0], labels.x[70]);
  EXPECT_NE(labels.x[70], labels.x[140]);
  EXPECT_NE(r.out.find("best_k_silhouette = 3"), std::string::npos) << r.out;
  for (auto& e : fs::directory_iterator(dir_ / "km"))
    EXPECT_EQ(e.path().string().find(".tmp"), std::string::npos) << "leftover " << e.path();
}

TEST_F(PairwiseApps, KMeansBadInput) {
  const auto small = normal_csv("s.csv", 10, 2, 0.0, 1);
  const std::string base = "--device cpu --input ";
  expect_clean_failure("kmeans", base + small.string() + " --k-max 15", 1, "--k-max");
  expect_clean_failure("kmeans", base + small.string() + " --k-min 1 --k-max 3", 2, "k_min");
  expect_clean_failure("kmeans", base + small.string() + " --k-max 3 --n-init 0", 2, "--n-init");
  expect_clean_failure("kmeans", base + write_file("n.csv", "1,2\ninf,1\n").string(), 1, "NaN");
  expect_clean_failure("kmeans", base + write_file("e.csv", "").string(), 1, "no data rows");
  expect_clean_failure("kmeans", base + write_file("r.csv", "1,2\n3\n").string(), 1, "ragged");
  // All points identical: one cluster only, so no silhouette.
  expect_clean_failure(
      "kmeans", base + write_file("flat.csv", "1,1\n1,1\n1,1\n1,1\n1,1\n").string() + " --k-max 3",
      1, "silhouette");
  expect_clean_failure("kmeans", base + small.string() + " --k-max three", 2, "--k-max");
  if (!test::gpu_available())
    expect_clean_failure("kmeans", "--device cuda --input " + small.string() + " --k-max 3", 2,
                         "no usable CUDA GPU");
}

// ---- issue 17 ---------------------------------------------------------------------------------

// Case 6: values whose distances overflow the kernels say so and what to do (not "bandwidths must
// be positive finite numbers, got 3.96e+61" for bandwidths the user never gave).
TEST_F(PairwiseApps, HugeValuesSayRescale) {
  std::string huge;
  for (int i = 0; i < 30; ++i)
    huge += std::to_string(i % 7) + "e30," + std::to_string(i % 3) + "\n";
  const std::string h = write_file("huge.csv", huge).string();
  expect_clean_failure("mmd", "--device cpu --x " + h + " --y " + h, 1, "rescale");
  expect_clean_failure("kmeans", "--device cpu --k-max 3 --input " + h, 1, "rescale");
}

// Case 9: every kmeans flag error names its flag; duplicate rows say what to do; a byte-order
// mark before the first number is not part of it.
TEST_F(PairwiseApps, KMeansFlagsAndDataNameTheFix) {
  const auto small = normal_csv("s.csv", 30, 2, 0.0, 1);
  const std::string base = "--device cpu --k-max 3 --input " + small.string();
  expect_clean_failure("kmeans", base + " --tol nan", 2, "--tol");
  expect_clean_failure("kmeans", base + " --max-iter 0", 2, "--max-iter");
  expect_clean_failure("kmeans", base + " --n-init 0", 2, "--n-init");
  std::string dup;
  for (int i = 0; i < 20; ++i) dup += i % 2 ? "1,2\n" : "3,4\n";
  expect_clean_failure("kmeans",
                       "--device cpu --k-max 3 --input " + write_file("dup.csv", dup).string(), 1,
                       "--k-max 2 or less");
  std::string bom = "\xEF\xBB\xBF";
  for (int i = 0; i < 20; ++i) bom += std::to_string(i % 5) + "," + std::to_string(i % 3) + "\n";
  const AppRun r =
      run("kmeans", "--device cpu --k-max 3 --input " + write_file("bom.csv", bom).string() +
                        " --out " + (dir_ / "bom").string());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(read_csv_matrix((dir_ / "bom/labels.csv").string()).n, 20);
}

// Case 10: across apps, a command line wrong by itself exits 2, whether the parser refuses it
// (unknown flag, not a number, --seed out of range) or the app does (a value out of range, an
// unknown choice); bad data exits 1, as the README says.
TEST_F(PairwiseApps, FlagErrorsExitWithTheDocumentedCodes) {
  const auto a = normal_csv("a.csv", 30, 2, 0.0, 1);
  const std::string mmd = "--device cpu --x " + a.string() + " --y " + a.string();
  const std::string km = "--device cpu --k-max 3 --input " + a.string();
  expect_clean_failure("mmd", mmd + " --no-such-flag", 2, "--no-such-flag");
  expect_clean_failure("kmeans", km + " --no-such-flag", 2, "--no-such-flag");
  expect_clean_failure("mmd", mmd + " --seed -1", 2, "--seed");
  expect_clean_failure("kmeans", km + " --seed 18446744073709551616", 2, "--seed");
  expect_clean_failure("mmd", mmd.substr(12) + " --device tpu", 2, "--device");
  expect_clean_failure("kmeans", km.substr(12) + " --device tpu", 2, "--device");
}

// Cases 11 and 12: unbounded or out-of-range permutation settings are refused with the limit.
TEST_F(PairwiseApps, MmdPermutationLimits) {
  const auto a = normal_csv("a.csv", 30, 2, 0.0, 1);
  const std::string mmd = "--device cpu --x " + a.string() + " --y " + a.string();
  expect_clean_failure("mmd", mmd + " --permutations 2000000000", 2, "10000000");
  expect_clean_failure("mmd", mmd + " --perm-max-points -7", 2, "--perm-max-points");
}

// Case 1: kmeans failing to write labels.csv (a full disk: here a file-size limit) keeps the
// earlier run's labels.csv and summary.json together, not a new labels.csv beside an old summary.
TEST_F(PairwiseApps, KMeansFailedWriteKeepsTheEarlierSet) {
  const auto data = normal_csv("d.csv", 3000, 2, 0.0, 4);
  const std::string args = "--device cpu --k-max 3 --n-init 1 --silhouette-sample 200 --input " +
                           data.string() + " --out " + (dir_ / "km").string();
  ASSERT_EQ(run("kmeans", args + " --seed 1").exit_code, 0);
  const auto before = test::snapshot(dir_ / "km");
  // ulimit -f 4: files above 4 KiB fail; labels.csv of 3000 rows is about 6 KiB.
  const AppRun r = run_in_shell("ulimit -f 4; trap '' XFSZ", "kmeans", args + " --seed 2");
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find("disk full?"), std::string::npos) << r.err;
  EXPECT_EQ(test::snapshot(dir_ / "km"), before);
}

}  // namespace
}  // namespace latentkit
