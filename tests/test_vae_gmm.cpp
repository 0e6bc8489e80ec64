// End-to-end tests of apps/vae_gmm on the CPU: outputs, reproducibility, checkpoint/resume,
// --load, and every kind of bad input (one clear line, nonzero exit, nothing half-written).
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "app_test_util.h"
#include "latentkit/io/data.h"
#include "latentkit/io/io.h"
#include "test_util.h"

namespace fs = std::filesystem;

namespace latentkit {
namespace {

// vae_gmm writes progress, the device and errors to stderr, the analysis stages' reports to
// stdout.
using RunResult = test::AppRun;
using test::slurp;

class VaeGmmApp : public test::AppTest {
 protected:
  VaeGmmApp() : AppTest("vae_gmm") {}

  // A small, fast configuration: seconds on the CPU.
  std::string small(const std::string& out) const {
    // (--tsne-iterations 0: the tsne stage has its own tests at the end of this file.)
    return "--device cpu --n 600 --epochs 3 --hidden 16,16 --n-generate 50 --tsne-iterations 0 "
           "--out " +
           (dir_ / out).string();
  }
};

TEST_F(VaeGmmApp, HelpDocumentsFlagsAndTheCollapseWarning) {
  const fs::path out = dir_ / "help.txt";
  const int status = std::system((std::string(LATENTKIT_BIN_DIR) + "/vae_gmm --help > " +
                                  out.string() + " 2>&1").c_str());
  ASSERT_EQ(WEXITSTATUS(status), 0);
  const std::string help = slurp(out);
  for (const char* flag : {"--device", "--seed", "--out", "--k", "--d", "--n", "--input", "--scale",
                           "--hidden", "--latent", "--epochs", "--batch", "--lr", "--beta",
                           "--n-generate", "--load", "--checkpoint-every", "--resume"})
    EXPECT_NE(help.find(flag), std::string::npos) << flag;
  EXPECT_NE(help.find("collapses"), std::string::npos);
}

TEST_F(VaeGmmApp, WritesEveryOutput) {
  const RunResult r = run(small("out"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const fs::path out = dir_ / "out";
  const Dataset data = read_csv_matrix((out / "data.csv").string());
  EXPECT_EQ(data.n, 600);
  EXPECT_EQ(data.d, 4);  // x1..x3 + label
  EXPECT_EQ(read_csv_matrix((out / "generated.csv").string()).n, 50);
  const Dataset latent = read_csv_matrix((out / "latent.csv").string());
  EXPECT_EQ(latent.n, 600);
  EXPECT_EQ(latent.d, 5);  // mu1 mu2 logvar1 logvar2 label
  const Dataset loss = read_csv_matrix((out / "loss.csv").string());
  EXPECT_EQ(loss.n, 3);
  const ModelFile model = read_model_file((out / "model.lkm").string());
  EXPECT_EQ(model.header.at("model").at("hidden"), nlohmann::json({16, 16}));
  const auto summary = test::expect_schema1(out / "summary.json", "vae_gmm");
  EXPECT_EQ(summary.at("device"), "cpu (reference, float64 accumulation)");
  // Every stage is recorded, run or skipped.
  for (const char* stage :
       {"train", "generate", "kmeans", "mmd", "gmm_bic", "mode_coverage", "tsne"}) {
    EXPECT_TRUE(summary.at("results").contains(stage)) << stage;
    EXPECT_TRUE(summary.at("timings_s").contains(stage)) << stage;
  }
  EXPECT_EQ(summary.at("results").size(), 7u);
  EXPECT_EQ(summary.at("results").at("train").at("final").at("epoch"), 3);
  EXPECT_EQ(summary.at("results").at("train").at("steps"), 3 * ((600 + 31) / 32));
  EXPECT_EQ(summary.at("results").at("generate").at("n"), 50);
  EXPECT_EQ(summary.at("results").at("tsne"),
            nlohmann::json({{"skipped", true}, {"reason", "switched off by --tsne-iterations 0"}}));
  for (const char* step : {"total", "data", "train", "encode", "generate", "write"})
    EXPECT_GE(summary.at("timings_s").at(step).get<double>(), 0.0) << step;
  EXPECT_GT(summary.at("timings_s").at("train_samples_per_s").get<double>(), 0.0);
  EXPECT_EQ(summary.at("outputs"),
            nlohmann::json({"data.csv", "generated.csv", "latent.csv", "loss.csv", "model.lkm"}));
  for (auto& e : fs::directory_iterator(out))
    EXPECT_EQ(e.path().string().find(".tmp"), std::string::npos) << "leftover " << e.path();
  EXPECT_NE(r.err.find("device: cpu (requested)"), std::string::npos) << r.err;
}

TEST_F(VaeGmmApp, SameSeedSameResultsOtherSeedOtherResults) {
  ASSERT_EQ(run(small("a") + " --seed 7").exit_code, 0);
  ASSERT_EQ(run(small("b") + " --seed 7").exit_code, 0);
  ASSERT_EQ(run(small("c") + " --seed 8").exit_code, 0);
  EXPECT_EQ(slurp(dir_ / "a/generated.csv"), slurp(dir_ / "b/generated.csv"));
  EXPECT_EQ(slurp(dir_ / "a/model.lkm"), slurp(dir_ / "b/model.lkm"));
  EXPECT_NE(slurp(dir_ / "a/generated.csv"), slurp(dir_ / "c/generated.csv"));
}

TEST_F(VaeGmmApp, ResumedRunEqualsUninterruptedRun) {
  const std::string base = "--device cpu --n 600 --hidden 16,16 --n-generate 50 --seed 3";
  ASSERT_EQ(run(base + " --epochs 4 --out " + (dir_ / "full").string()).exit_code, 0);
  // "Interrupted" after 2 epochs with a checkpoint, then resumed to 4.
  ASSERT_EQ(run(base + " --epochs 2 --checkpoint-every 1 --out " + (dir_ / "part").string())
                .exit_code, 0);
  ASSERT_TRUE(fs::exists(dir_ / "part/checkpoint.lkm"));
  const RunResult r = run(base + " --epochs 4 --resume --out " + (dir_ / "part").string());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("resumed from"), std::string::npos);
  const auto full = read_model_file((dir_ / "full/model.lkm").string()).section("params");
  const auto resumed = read_model_file((dir_ / "part/model.lkm").string()).section("params");
  ASSERT_EQ(full.size(), resumed.size());
  EXPECT_EQ(0, std::memcmp(full.data(), resumed.data(), full.size() * sizeof(float)))
      << "resumed parameters differ from the uninterrupted run";
  EXPECT_EQ(slurp(dir_ / "full/generated.csv"), slurp(dir_ / "part/generated.csv"));
  // The loss curves, wall time apart (a missing file would read as "": checked non-empty).
  const std::string full_loss = test::csv_without_column(dir_ / "full/loss.csv", "seconds");
  EXPECT_NE(full_loss.find("epoch,loss,recon,kl,\n"), std::string::npos) << full_loss;
  EXPECT_EQ(full_loss, test::csv_without_column(dir_ / "part/loss.csv", "seconds"));
}

TEST_F(VaeGmmApp, ResumeWithOtherSettingsIsRefused) {
  const std::string base = "--device cpu --n 600 --hidden 16,16 --n-generate 50";
  ASSERT_EQ(run(base + " --epochs 1 --checkpoint-every 1 --out " + (dir_ / "ck").string())
                .exit_code, 0);
  const RunResult r = run(base + " --epochs 2 --lr 0.01 --resume --out " + (dir_ / "ck").string());
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find("other settings"), std::string::npos) << r.err;
  const RunResult none = run(base + " --resume --out " + (dir_ / "empty").string());
  EXPECT_EQ(none.exit_code, 1);
  EXPECT_NE(none.err.find("no checkpoint"), std::string::npos) << none.err;
}

TEST_F(VaeGmmApp, LoadSkipsTrainingAndReproducesGeneration) {
  ASSERT_EQ(run(small("trained") + " --seed 5").exit_code, 0);
  const RunResult r = run("--device cpu --n 600 --n-generate 50 --seed 5 --load " +
                          (dir_ / "trained/model.lkm").string() + " --out " +
                          (dir_ / "loaded").string());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("training skipped"), std::string::npos);
  EXPECT_EQ(slurp(dir_ / "trained/generated.csv"), slurp(dir_ / "loaded/generated.csv"));
  EXPECT_EQ(slurp(dir_ / "trained/latent.csv"), slurp(dir_ / "loaded/latent.csv"));
  EXPECT_EQ(slurp(dir_ / "loaded/loss.csv"), "epoch,loss,recon,kl,seconds\n");  // no training
  const std::string model = (dir_ / "trained/model.lkm").string();
  EXPECT_EQ(nlohmann::json::parse(slurp(dir_ / "loaded/summary.json")).at("results").at("train"),
            nlohmann::json({{"skipped", true}, {"reason", "replaced by --load '" + model + "'"}}));
}

TEST_F(VaeGmmApp, CsvInputIsUsed) {
  std::string csv = "a,b\n";
  for (int i = 0; i < 64; ++i) csv += std::to_string(i % 7) + "," + std::to_string(i % 5) + "\n";
  const fs::path in = write_file("in.csv", csv);
  const RunResult r = run("--device cpu --epochs 1 --hidden 8 --n-generate 10 --input " +
                          in.string() + " --out " + (dir_ / "csv").string());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const Dataset gen = read_csv_matrix((dir_ / "csv/generated.csv").string());
  EXPECT_EQ(gen.d, 2);
  EXPECT_EQ(read_csv_matrix((dir_ / "csv/data.csv").string()).d, 2);  // no label column
}

TEST_F(VaeGmmApp, CudaWithoutGpuIsExit2) {
  if (test::gpu_available()) GTEST_SKIP() << "a GPU is present: this checks the no-GPU error path";
  expect_clean_failure("--device cuda --n 600 --epochs 1", 2, "no usable CUDA GPU");
}

TEST_F(VaeGmmApp, MalformedCsvIsRejected) {
  expect_clean_failure("--device cpu --input " + write_file("r.csv", "1,2,3\n4,5\n").string(), 1,
                       "ragged");
  expect_clean_failure("--device cpu --input " + write_file("t.csv", "1,2\n3,abc\n").string(), 1,
                       "not a number");
  expect_clean_failure("--device cpu --input " + write_file("n.csv", "1,2\nnan,3\n").string(), 1,
                       "NaN and Inf");
  expect_clean_failure("--device cpu --input " + write_file("i.csv", "1,2\n-inf,3\n").string(), 1,
                       "NaN and Inf");
  expect_clean_failure("--device cpu --input " + write_file("e.csv", "").string(), 1,
                       "no data rows");
  expect_clean_failure("--device cpu --input " + (dir_ / "missing.csv").string(), 1,
                       "cannot open");
}

// Issue 17 case 11: a batch larger than the data is clamped to the data (one step per epoch), said
// on stderr, and recorded as the batch used.
TEST_F(VaeGmmApp, BatchLargerThanTheDataIsClampedToIt) {
  std::string csv;
  for (int i = 0; i < 10; ++i) csv += std::to_string(i) + "," + std::to_string(i * i) + "\n";
  const RunResult r =
      run("--device cpu --batch 32 --epochs 2 --hidden 4 --n-generate 20 "
          "--tsne-iterations 0 --no-gmm --skip-kmeans --skip-mmd --input " +
          write_file("s.csv", csv).string() + " --out " + (dir_ / "b").string());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("note: --batch 32 is more than the 10 rows"), std::string::npos) << r.err;
  const auto summary = nlohmann::json::parse(slurp(dir_ / "b/summary.json"));
  EXPECT_EQ(summary.at("config").at("batch").get<int>(), 10);
}

TEST_F(VaeGmmApp, ZeroVarianceColumnUnderStandardScalingIsRejected) {
  std::string csv;
  for (int i = 0; i < 64; ++i) csv += std::to_string(i) + ",5\n";
  expect_clean_failure(
      "--device cpu --scale standard --input " + write_file("z.csv", csv).string(), 1,
      "zero variance");
}

TEST_F(VaeGmmApp, ImpossibleFlagsAreRejected) {
  expect_clean_failure("--device cpu --epochs -1", 2, "--epochs");
  expect_clean_failure("--device cpu --batch 0", 2, "--batch");
  expect_clean_failure("--device cpu --latent 0", 2, "--latent");
  expect_clean_failure("--device cpu --hidden 12,x", 2, "--hidden");
  expect_clean_failure("--device cpu --hidden 0", 2, "--hidden");
  expect_clean_failure("--device cpu --lr 0", 2, "--lr");
  expect_clean_failure("--device cpu --k 0", 2, "--k");
  expect_clean_failure("--device cpu --k 50 --n 20", 2, "--k");
  expect_clean_failure("--device cpu --n-generate -5", 2, "--n-generate");
  expect_clean_failure("--device cpu --scale weird", 2, "--scale");
  expect_clean_failure("--device quantum", 2, "--device");
  expect_clean_failure("--device cpu --epochs many", 2, "--epochs");
  expect_clean_failure("--device cpu --no-such-flag", 2, "no-such-flag");
  expect_clean_failure("--device cpu --load " + write_file("bad.lkm", "garbage").string(), 1,
                       "not a valid latentkit model file");
}

// ---- stages gmm_bic and mode_coverage (issue 3) ----

TEST_F(VaeGmmApp, GmmBicAndModeCoverageStages) {
  // small() with 200 generated samples instead of 50.
  const RunResult r = run("--device cpu --n 600 --epochs 3 --hidden 16,16 --n-generate 200 "
                          "--gmm-k-min 2 --gmm-k-max 4 --gmm-n-init 2 --gmm-max-iter 50 --out " +
                          (dir_ / "out").string());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto summary = nlohmann::json::parse(slurp(dir_ / "out/summary.json"));
  const auto& bic = summary["results"]["gmm_bic"];
  // The fits' wall times are in timings_s, not among the figures.
  EXPECT_FALSE(bic["generated"].contains("fit_seconds"));
  EXPECT_FALSE(bic.contains("seconds"));
  for (const char* t : {"gmm_bic", "gmm_bic.generated", "gmm_bic.data", "mode_coverage"})
    EXPECT_GE(summary["timings_s"][t].get<double>(), 0.0) << t;
  for (const char* set : {"generated", "data"}) {
    SCOPED_TRACE(set);
    const auto& curve = bic[set];
    ASSERT_EQ(curve["k"], nlohmann::json({2, 3, 4}));
    ASSERT_EQ(curve["bic"].size(), 3u);
    for (const auto& v : curve["bic"]) EXPECT_TRUE(std::isfinite(v.get<double>()));
    const int best = curve["best_k_bic"];
    EXPECT_GE(best, 2);
    EXPECT_LE(best, 4);
    // The chosen K is the argmin of the curve, flagged "at least" at the upper edge.
    const auto& b = curve["bic"];
    for (const auto& v : b) EXPECT_LE(b[best - 2].get<double>(), v.get<double>());
    EXPECT_EQ(curve["best_k_at_upper_edge"].get<bool>(), best == 4);
    EXPECT_EQ(curve["chosen_k"], (best == 4 ? "at least " : "") + std::to_string(best));
  }
  // The true data has 10 separated components: with K <= 4 BIC wants the largest K.
  EXPECT_EQ(bic["data"]["best_k_bic"], 4);
  const auto& cov = summary["results"]["mode_coverage"];
  ASSERT_EQ(cov["components"].size(), 10u);
  const double off = cov["off_manifold_fraction"];
  EXPECT_GE(off, 0.0);
  EXPECT_LE(off, 1.0);
  double shares = off;
  int covered = 0;
  for (const auto& c : cov["components"]) {
    shares += c["share_within"].get<double>();
    covered += c["covered"].get<bool>();
    EXPECT_EQ(c["covered"].get<bool>(),
              c["share_within"].get<double>() >= 0.5 * c["weight"].get<double>());
  }
  EXPECT_NEAR(shares, 1.0, 1e-9);  // every sample is within some component or off-manifold
  EXPECT_EQ(cov["components_covered"], covered);
  EXPECT_NE(r.out.find("mode_coverage"), std::string::npos);
  EXPECT_NE(r.out.find("chosen K"), std::string::npos);
}

TEST_F(VaeGmmApp, GmmStagesCanBeSwitchedOffAndSkipWithoutTruth) {
  RunResult r = run(small("off") + " --no-gmm");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto summary = nlohmann::json::parse(slurp(dir_ / "off/summary.json"));
  const auto off = nlohmann::json({{"skipped", true}, {"reason", "switched off by --no-gmm"}});
  EXPECT_EQ(summary["results"]["gmm_bic"], off);
  EXPECT_EQ(summary["results"]["mode_coverage"], off);
  r = run(small("k0") + " --gmm-k-max 0");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  summary = nlohmann::json::parse(slurp(dir_ / "k0/summary.json"));
  const auto k0 = nlohmann::json({{"skipped", true}, {"reason", "switched off by --gmm-k-max 0"}});
  EXPECT_EQ(summary["results"]["gmm_bic"], k0);
  EXPECT_EQ(summary["results"]["mode_coverage"], k0);
  // CSV input: no true mixture, so mode_coverage records why it was skipped.
  std::string csv = "a,b\n";
  for (int i = 0; i < 64; ++i) csv += std::to_string(i % 7) + "," + std::to_string(i % 5) + "\n";
  r = run("--device cpu --epochs 1 --hidden 8 --n-generate 20 --gmm-k-min 1 --gmm-k-max 3 "
          "--gmm-n-init 1 --input " + write_file("in.csv", csv).string() + " --out " +
          (dir_ / "csv").string());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  summary = nlohmann::json::parse(slurp(dir_ / "csv/summary.json"));
  EXPECT_EQ(summary["results"]["gmm_bic"]["data"]["k"].size(), 3u);
  EXPECT_EQ(summary["results"]["mode_coverage"],
            nlohmann::json(
                {{"skipped", true}, {"reason", "--input CSV: no true mixture to compare with"}}));
}

TEST_F(VaeGmmApp, ImpossibleGmmFlagsAreRejected) {
  expect_clean_failure("--device cpu --gmm-k-min 0", 2, "--gmm-k-min");
  expect_clean_failure("--device cpu --gmm-k-min 9 --gmm-k-max 4", 2, "--gmm-k-max");
  expect_clean_failure("--device cpu --gmm-n-init 0", 2, "--gmm-n-init");
  expect_clean_failure("--device cpu --gmm-max-iter 0", 2, "--gmm-max-iter");
}

}  // namespace
}  // namespace latentkit

// ---- the kmeans and mmd stages (host/src/pipelines/vae_gmm/stage_kmeans_mmd.cpp) ----
namespace latentkit {
namespace {

TEST_F(VaeGmmApp, KMeansAndMmdStagesAreRecorded) {
  const RunResult r = run("--device cpu --n 600 --epochs 3 --hidden 16,16 --n-generate 120 "
                          "--kmeans-k-max 6 --mmd-permutations 49 --out " +
                          (dir_ / "st").string());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto summary = nlohmann::json::parse(slurp(dir_ / "st/summary.json"));
  const auto& km = summary.at("results").at("kmeans");
  EXPECT_FALSE(km.contains("seconds"));
  ASSERT_EQ(km.at("per_k").size(), 5u);  // k = 2..6
  const int best = km.at("best_k_silhouette").get<int>();
  EXPECT_GE(best, 2);
  EXPECT_LE(best, 6);
  for (const auto& e : km.at("per_k")) {
    EXPECT_GE(e.at("silhouette").get<double>(), -1.0);
    EXPECT_LE(e.at("silhouette").get<double>(), 1.0);
  }
  EXPECT_TRUE(km.at("silhouette").at("exact").get<bool>());  // 120 points < the CPU sample
  const auto& mmd = summary.at("results").at("mmd");
  EXPECT_FALSE(mmd.contains("seconds"));
  EXPECT_GE(summary.at("timings_s").at("kmeans").get<double>(), 0.0);
  EXPECT_GE(summary.at("timings_s").at("mmd").get<double>(), 0.0);
  EXPECT_GE(mmd.at("mmd2").get<double>(), 0.0);  // biased estimator
  const double p = mmd.at("p_value").get<double>();
  EXPECT_GE(p, 1.0 / 50);
  EXPECT_LE(p, 1.0);
  EXPECT_EQ(mmd.at("bandwidths").size(), 7u);
  EXPECT_EQ(mmd.at("n_x"), 600);
  EXPECT_EQ(mmd.at("n_y"), 120);
  EXPECT_FALSE(mmd.at("permutation_test").at("subsampled").get<bool>());  // 720 < 2000 points
  EXPECT_NE(r.out.find("best k by silhouette"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("mmd2(data, generated)"), std::string::npos) << r.out;
}

TEST_F(VaeGmmApp, PairwiseStagesCanBeSkippedAndShrink) {
  const RunResult r = run(small("sk") + " --skip-kmeans --skip-mmd");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto s = nlohmann::json::parse(slurp(dir_ / "sk/summary.json"));
  EXPECT_EQ(s.at("results").at("kmeans"),
            nlohmann::json({{"skipped", true}, {"reason", "switched off by --skip-kmeans"}}));
  EXPECT_EQ(s.at("results").at("mmd"),
            nlohmann::json({{"skipped", true}, {"reason", "switched off by --skip-mmd"}}));
  // Fewer generated samples than k_max + 1: the sweep stops at n - 1 and says so.
  ASSERT_EQ(run("--device cpu --n 600 --epochs 3 --hidden 16,16 --n-generate 8 "
                "--mmd-permutations 0 --out " + (dir_ / "few").string())
                .exit_code,
            0);
  const auto f = nlohmann::json::parse(slurp(dir_ / "few/summary.json"));
  EXPECT_EQ(f.at("results").at("kmeans").at("k_max_used"), 7);
  EXPECT_TRUE(f.at("results").at("mmd").at("p_value").is_null());
  // Too few for k >= 2, and none at all: skipped with the reason.
  ASSERT_EQ(run("--device cpu --n 600 --epochs 1 --hidden 8 --n-generate 2 --no-gmm "
                "--tsne-iterations 0 --mmd-permutations 0 --out " +
                (dir_ / "two").string())
                .exit_code,
            0);
  EXPECT_EQ(nlohmann::json::parse(slurp(dir_ / "two/summary.json")).at("results").at("kmeans"),
            nlohmann::json({{"skipped", true},
                            {"reason",
                             "2 generated samples are too few for k >= 2 "
                             "(--kmeans-k-min; k <= n - 1)"}}));
  ASSERT_EQ(run("--device cpu --n 600 --epochs 1 --hidden 8 --n-generate 0 --no-gmm "
                "--tsne-iterations 0 --out " +
                (dir_ / "none").string())
                .exit_code,
            0);
  const auto none = nlohmann::json::parse(slurp(dir_ / "none/summary.json")).at("results");
  const auto no_samples =
      nlohmann::json({{"skipped", true}, {"reason", "no generated samples (--n-generate 0)"}});
  EXPECT_EQ(none.at("kmeans"), no_samples);
  EXPECT_EQ(none.at("mmd"), no_samples);
  EXPECT_EQ(none.at("generate"),
            nlohmann::json({{"skipped", true}, {"reason", "switched off by --n-generate 0"}}));
}

TEST_F(VaeGmmApp, BadPairwiseStageFlagsAreRejected) {
  expect_clean_failure("--device cpu --kmeans-k-min 1", 2, "--kmeans-k-min");
  expect_clean_failure("--device cpu --kmeans-k-min 9 --kmeans-k-max 4", 2, "--kmeans-k-max");
  expect_clean_failure("--device cpu --kmeans-n-init 0", 2, "--kmeans-n-init");
  expect_clean_failure("--device cpu --mmd-permutations -3", 2, "--mmd-permutations");
  expect_clean_failure("--device cpu --silhouette-sample -7", 2, "--silhouette-sample");
}

// ---- the tsne stage (host/src/pipelines/vae_gmm/stage_tsne.cpp) ----

TEST_F(VaeGmmApp, TsneStageWritesLabelledEmbeddingsAndKl) {
  // 600 data points (exact method) and 1200 generated samples (FFT method), 300 iterations.
  const RunResult r = run("--device cpu --n 600 --epochs 3 --hidden 16,16 --n-generate 1200 "
                          "--tsne-iterations 300 --tsne-perplexity 20 --out " +
                          (dir_ / "out").string());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto summary = nlohmann::json::parse(slurp(dir_ / "out" / "summary.json"));
  const auto& st = summary.at("results").at("tsne");
  EXPECT_EQ(st.at("latent").at("method"), "exact");
  EXPECT_EQ(st.at("generated").at("method"), "fft");
  for (const char* part : {"latent", "generated"}) {
    EXPECT_TRUE(std::isfinite(st.at(part).at("kl").get<double>())) << part;
    EXPECT_GT(st.at(part).at("kl").get<double>(), 0.0) << part;
    EXPECT_EQ(st.at(part).at("kl_history").size(), 6u) << part;  // every 50 of 300 iterations
  }
  // Wall times in timings_s only: the stage, each embedding and its phases.
  EXPECT_GT(summary.at("timings_s").at("tsne").get<double>(), 0.0);
  for (const char* t : {"tsne.latent", "tsne.latent.affinities", "tsne.latent.init",
                        "tsne.latent.optimize", "tsne.generated", "tsne.generated.optimize"})
    EXPECT_GE(summary.at("timings_s").at(t).get<double>(), 0.0) << t;
  for (const char* part : {"latent", "generated"}) {
    EXPECT_FALSE(st.at(part).contains("seconds")) << part;
    EXPECT_FALSE(st.at(part).contains("timings_s")) << part;
  }
  EXPECT_FALSE(st.contains("seconds"));
  EXPECT_FALSE(st.contains("outputs"));
  EXPECT_EQ(st.at("parameters").at("perplexity"), 20.0);
  const auto outputs = summary.at("outputs").dump();
  EXPECT_NE(outputs.find("tsne_latent.csv"), std::string::npos);
  EXPECT_NE(outputs.find("tsne_generated.csv"), std::string::npos);

  const Dataset lat = read_csv_matrix((dir_ / "out" / "tsne_latent.csv").string());
  ASSERT_EQ(lat.n, 600);
  ASSERT_EQ(lat.d, 3);  // t1, t2, label
  const Dataset data = read_csv_matrix((dir_ / "out" / "data.csv").string());
  for (int i = 0; i < lat.n; ++i) {
    EXPECT_EQ(lat.x[i * 3 + 2], data.x[i * data.d + data.d - 1]) << "row " << i << ": true label";
    EXPECT_TRUE(std::isfinite(lat.x[i * 3]) && std::isfinite(lat.x[i * 3 + 1]));
  }
  const Dataset gen = read_csv_matrix((dir_ / "out" / "tsne_generated.csv").string());
  ASSERT_EQ(gen.n, 1200);
  for (int i = 0; i < gen.n; ++i) {
    const float label = gen.x[i * 3 + 2];
    EXPECT_TRUE(label >= 0 && label < 10 && label == std::floor(label)) << "row " << i;
  }
}

TEST_F(VaeGmmApp, TsneStageSkipsAndRejectsBadFlags) {
  const RunResult r = run(small("skip"));  // small() has --tsne-iterations 0
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_FALSE(fs::exists(dir_ / "skip" / "tsne_latent.csv"));
  const auto summary = nlohmann::json::parse(slurp(dir_ / "skip" / "summary.json"));
  EXPECT_EQ(summary.at("results").at("tsne"),
            nlohmann::json({{"skipped", true}, {"reason", "switched off by --tsne-iterations 0"}}));
  expect_clean_failure("--device cpu --tsne-iterations -1", 2, "--tsne-iterations");
  expect_clean_failure("--device cpu --tsne-perplexity 0", 2, "--tsne-perplexity");
  // Fewer generated samples than the perplexity: that embedding is skipped, the run succeeds.
  const RunResult few = run("--device cpu --n 200 --epochs 1 --hidden 8 --n-generate 20 "
                            "--tsne-iterations 60 --out " + (dir_ / "few").string());
  ASSERT_EQ(few.exit_code, 0) << few.err;
  EXPECT_TRUE(fs::exists(dir_ / "few" / "tsne_latent.csv"));
  EXPECT_FALSE(fs::exists(dir_ / "few" / "tsne_generated.csv"));
  const auto s2 = nlohmann::json::parse(slurp(dir_ / "few" / "summary.json"));
  EXPECT_EQ(
      s2.at("results").at("tsne").at("generated"),
      nlohmann::json({{"skipped", true},
                      {"reason", "20 generated samples, not more than --tsne-perplexity 30"}}));
  EXPECT_EQ(s2.at("outputs").back(), "tsne_latent.csv");
}

// ---- issue 17: nothing lost, nothing mixed, nothing wasted -----------------------------------

// Case 1: a write that fails half-way (a full disk, here a file-size limit) leaves the earlier
// run's output set exactly as it was: no file of the failed run, none of the old ones replaced.
TEST_F(VaeGmmApp, FailedWriteLeavesTheEarlierOutputSetWhole) {
  ASSERT_EQ(run(small("set") + " --seed 0").exit_code, 0);
  const auto before = test::snapshot(dir_ / "set");
  ASSERT_TRUE(before.count("summary.json"));
  // ulimit -f 16: files above 16 KiB fail to write (EFBIG, SIGXFSZ ignored): data.csv of 600 rows
  // is about 25 KiB, so the run fails in its output stage, after all the work.
  const test::AppRun r =
      run_in_shell("ulimit -f 16; trap '' XFSZ", "vae_gmm", small("set") + " --seed 7");
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find("disk full?"), std::string::npos) << r.err;
  EXPECT_EQ(test::snapshot(dir_ / "set"), before) << "the failed run changed the output set";
}

// Case 2: a second run on an --out in use fails at once with one line, leaving it alone.
TEST_F(VaeGmmApp, SecondRunOnALockedOutIsRefused) {
  const fs::path out = dir_ / "out_fail";
  fs::create_directories(out);
  const int fd = ::open(out.c_str(), O_RDONLY | O_DIRECTORY);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::flock(fd, LOCK_EX | LOCK_NB), 0);  // as a running vae_gmm holds it
  expect_clean_failure("--device cpu --n 600 --epochs 1", 1, "in use by another run");
  ::close(fd);
}

// Case 3: a rerun that skips a stage, or loads a model, leaves no file of an earlier run; files
// that are not vae_gmm's (the user's notes) are kept.
TEST_F(VaeGmmApp, RerunLeavesNoStaleFiles) {
  const std::string with_tsne =
      "--device cpu --n 600 --epochs 2 --hidden 16,16 --n-generate 60 --tsne-iterations 60 "
      "--seed 4 --out " +
      (dir_ / "o").string();
  ASSERT_EQ(run(with_tsne).exit_code, 0);
  ASSERT_TRUE(fs::exists(dir_ / "o/tsne_latent.csv"));
  std::ofstream(dir_ / "o/notes.txt") << "mine";
  ASSERT_EQ(run(small("o") + " --seed 4").exit_code, 0);  // --tsne-iterations 0
  EXPECT_FALSE(fs::exists(dir_ / "o/tsne_latent.csv"));
  EXPECT_FALSE(fs::exists(dir_ / "o/tsne_generated.csv"));
  EXPECT_EQ(slurp(dir_ / "o/notes.txt"), "mine");
  // --load: model.lkm is the loaded model (the one these outputs came from), not a stale one.
  ASSERT_EQ(run(small("other") + " --seed 9").exit_code, 0);
  const test::AppRun r =
      run("--device cpu --n 600 --n-generate 50 --tsne-iterations 0 --load " +
          (dir_ / "other/model.lkm").string() + " --out " + (dir_ / "o").string());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(read_model_file((dir_ / "o/model.lkm").string()).section("params"),
            read_model_file((dir_ / "other/model.lkm").string()).section("params"));
  for (const auto& e : fs::directory_iterator(dir_ / "o"))
    EXPECT_NE(e.path().filename().string().rfind(".partial-", 0), 0u) << e.path();
}

// Case 4: an --out that cannot be written is found before any work.
TEST_F(VaeGmmApp, UnwritableOutIsFoundFirst) {
  write_file("file.txt", "a file, not a directory");
  for (const std::string out : {"file.txt", "file.txt/sub"}) {
    const auto t0 = std::chrono::steady_clock::now();
    const test::AppRun r = run("--device cpu --n 600 --epochs 1000 --out " + (dir_ / out).string());
    EXPECT_EQ(r.exit_code, 1) << r.err;
    EXPECT_NE(r.err.find("--out"), std::string::npos) << r.err;
    EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), 20)
        << "failed only after training";
  }
}

// Case 5: stage limits and memory are checked before training, naming the flag that avoids them.
TEST_F(VaeGmmApp, StageLimitsAreCheckedBeforeTraining) {
  std::string wide;
  for (int i = 0; i < 40; ++i) {
    for (int j = 0; j < 33; ++j) wide += (j ? "," : "") + std::to_string((i * 7 + j * 3) % 11);
    wide += "\n";
  }
  const std::string epochs = "--device cpu --epochs 1000 --batch 8 --n-generate 20 ";
  expect_clean_failure(epochs + "--input " + write_file("w.csv", wide).string(), 1, "--no-gmm");
  expect_clean_failure(epochs + "--d 33 --n 100", 2, "--no-gmm");
  std::string same;
  for (int i = 0; i < 40; ++i) same += "1.5,2,3\n";
  expect_clean_failure(epochs + "--input " + write_file("same.csv", same).string(), 1,
                       "--tsne-iterations 0");
  expect_clean_failure("--device cpu --latent 1000000 --n 100000", 1, "--latent");
  expect_clean_failure("--device cpu --latent 1000000 --n 100000", 1, "GiB");
}

// Case 6: data whose distances overflow the kernels says so (not "bandwidths ... got 3.96e+61").
TEST_F(VaeGmmApp, HugeValuesAreRefusedBeforeTraining) {
  std::string huge;
  for (int i = 0; i < 40; ++i)
    huge += std::to_string(i % 7) + "e30," + std::to_string(i % 5) + "e30," +
            std::to_string(i % 4) + "e30\n";
  const std::string in = write_file("huge.csv", huge).string();
  expect_clean_failure("--device cpu --epochs 1000 --batch 8 --scale standard --input " + in, 1,
                       "rescale the data");
  expect_clean_failure("--device cpu --epochs 1000 --batch 8 --scale standard --input " + in, 1,
                       "--skip-mmd");
}

// Case 8: a directory where a file is expected says so.
TEST_F(VaeGmmApp, DirectoryWhereAFileIsExpected) {
  fs::create_directories(dir_ / "adir");
  expect_clean_failure("--device cpu --input " + (dir_ / "adir").string(), 1, "is a directory");
  expect_clean_failure("--device cpu --load " + (dir_ / "adir").string(), 1, "is a directory");
  fs::create_directories(dir_ / "ck/checkpoint.lkm");
  const test::AppRun r =
      run("--device cpu --n 600 --epochs 2 --resume --out " + (dir_ / "ck").string());
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find("is a directory"), std::string::npos) << r.err;
}

// Case 12: a checkpoint continues only the same experiment: the data (generator settings, a
// CSV's contents) and every setting that changes the result are fingerprinted.
TEST_F(VaeGmmApp, ResumeFingerprintsTheDataAndSettings) {
  const std::string base = "--device cpu --n 600 --hidden 16,16 --n-generate 50 ";
  ASSERT_EQ(
      run(base + "--epochs 1 --checkpoint-every 1 --k 10 --out " + (dir_ / "k").string()).exit_code,
      0);
  const test::AppRun k5 = run(base + "--epochs 2 --k 5 --resume --out " + (dir_ / "k").string());
  EXPECT_EQ(k5.exit_code, 1) << k5.err;
  EXPECT_NE(k5.err.find("other settings"), std::string::npos) << k5.err;
  std::string csv;
  for (int i = 0; i < 64; ++i) csv += std::to_string(i % 9) + "," + std::to_string(i % 4) + "\n";
  const std::string in = write_file("in.csv", csv).string();
  const std::string csv_base = "--device cpu --batch 8 --hidden 8 --n-generate 20 --input " + in;
  ASSERT_EQ(
      run(csv_base + " --epochs 1 --checkpoint-every 1 --out " + (dir_ / "c").string()).exit_code,
      0);
  write_file("in.csv", "8" + csv.substr(1));  // same path and shape, other contents
  const test::AppRun changed =
      run(csv_base + " --epochs 2 --resume --out " + (dir_ / "c").string());
  EXPECT_EQ(changed.exit_code, 1) << changed.err;
  EXPECT_NE(changed.err.find("other settings"), std::string::npos) << changed.err;
}

// Case 12: out-of-range and conflicting flags are refused, not wrapped or ignored.
TEST_F(VaeGmmApp, OutOfRangeAndConflictingFlagsAreRefused) {
  expect_clean_failure("--device cpu --seed -1", 2, "--seed");
  expect_clean_failure("--device cpu --seed 18446744073709551616", 2, "--seed");
  expect_clean_failure("--device cpu --mmd-perm-max-points -7", 2, "--mmd-perm-max-points");
  expect_clean_failure("--device cpu --mmd-permutations 2000000000", 2, "--mmd-permutations");
  const std::string model = write_file("m.lkm", "not read: the flags are refused first").string();
  for (const char* flag : {"--hidden 8", "--latent 3", "--scale minmax", "--epochs 5"})
    expect_clean_failure(std::string("--device cpu --load ") + model + " " + flag, 2,
                         std::string(flag).substr(0, std::string(flag).find(' ')));
}

// kill -9 in the middle of training, then --resume: the same outputs as an uninterrupted run,
// and nothing of the killed run left behind (its staging directory is removed).
TEST_F(VaeGmmApp, KilledRunResumesBitIdentical) {
  const std::string base =
      "--device cpu --n 2000 --hidden 16,16 --n-generate 50 --epochs 30 "
      "--tsne-iterations 0 --seed 2 ";
  ASSERT_EQ(run(base + "--out " + (dir_ / "full").string()).exit_code, 0);
  const fs::path part = dir_ / "part";
  // Started in the background, killed once the first checkpoint exists (or after it finished).
  const test::AppRun killed = run_in_shell("", "vae_gmm",
                                           base + "--checkpoint-every 1 --out " + part.string() +
                                               " & pid=$!; for i in $(seq 600); "
                                               "do [ -f " +
                                               (part / "checkpoint.lkm").string() +
                                               " ] && break; sleep 0.05; done; "
                                               "kill -9 $pid; wait $pid; exit 0");
  ASSERT_EQ(killed.exit_code, 0) << killed.err;
  ASSERT_TRUE(fs::exists(part / "checkpoint.lkm"));
  const test::AppRun r = run(base + "--checkpoint-every 1 --resume --out " + part.string());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(slurp(dir_ / "full/generated.csv"), slurp(part / "generated.csv"));
  EXPECT_EQ(slurp(dir_ / "full/latent.csv"), slurp(part / "latent.csv"));
  EXPECT_EQ(read_model_file((dir_ / "full/model.lkm").string()).section("params"),
            read_model_file((part / "model.lkm").string()).section("params"));
  for (const auto& e : fs::directory_iterator(part))
    EXPECT_NE(e.path().filename().string().rfind(".partial-", 0), 0u) << e.path();
}

}  // namespace
}  // namespace latentkit
