// End-to-end tests of apps/rbm_mnist on the CPU, on tiny MNIST-format data written by the test
// (12 x 12 bar images): outputs, summary.json, reproducibility, checkpoint/resume, CD, both file
// naming schemes, and bad input (one clear line, nonzero exit, nothing written).
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "app_test_util.h"
#include "latentkit/io/data.h"
#include "latentkit/io/idx.h"
#include "latentkit/io/io.h"
#include "test_util.h"

namespace fs = std::filesystem;

namespace latentkit {
namespace {

constexpr int kSide = 12;  // image side of the generated data
constexpr int kTrain = 96, kTest = 20;

using RunResult = test::AppRun;
using test::slurp;

// Images with one bright horizontal or vertical bar (3 pixels wide) on a dark background, a few
// grey levels: a distribution an RBM with a handful of hidden units learns in a few epochs.
std::vector<uint8_t> bar_images(int n, uint32_t salt) {
  std::vector<uint8_t> px(static_cast<size_t>(n) * kSide * kSide, 0);
  for (int i = 0; i < n; ++i) {
    const uint32_t h = (i + 1) * 2654435761u ^ salt;
    const bool vertical = h & 1;
    const int at = static_cast<int>((h >> 1) % (kSide - 2));
    const uint8_t level = static_cast<uint8_t>(180 + (h >> 8) % 76);
    for (int y = 0; y < kSide; ++y)
      for (int x = 0; x < kSide; ++x) {
        const int coord = vertical ? x : y;
        if (coord >= at && coord < at + 3)
          px[static_cast<size_t>(i) * kSide * kSide + y * kSide + x] = level;
      }
  }
  return px;
}

class RbmMnistApp : public test::AppTest {
 protected:
  RbmMnistApp() : AppTest("rbm_mnist") {}
  void SetUp() override {
    AppTest::SetUp();
    fs::create_directories(dir_ / "data");
    write_idx_images((dir_ / "data/train-images-idx3-ubyte.gz").string(), kTrain, kSide, kSide,
                     bar_images(kTrain, 1), true);
    write_idx_images((dir_ / "data/t10k-images-idx3-ubyte").string(), kTest, kSide, kSide,
                     bar_images(kTest, 2), false);
  }
  // A fast configuration: well under a second on the CPU.
  std::string small(const std::string& out, const std::string& data = "data") const {
    return "--device cpu --data " + (dir_ / data).string() +
           " --hidden 16 --epochs 3 --batch 16 --lr 0.05 --inpaint-rows 4 --inpaint-steps 5 "
           "--n-samples 9 --sample-steps 10 --out " +
           (dir_ / out).string();
  }

  nlohmann::json summary(const std::string& out) {
    return nlohmann::json::parse(slurp(dir_ / out / "summary.json"));
  }
};

TEST_F(RbmMnistApp, HelpDocumentsTheFlags) {
  const fs::path out = dir_ / "help.txt";
  const int status = std::system(
      (std::string(LATENTKIT_BIN_DIR) + "/rbm_mnist --help > " + out.string() + " 2>&1").c_str());
  ASSERT_EQ(WEXITSTATUS(status), 0);
  const std::string help = slurp(out);
  for (const char* flag :
       {"--hidden",   "--lr",           "--batch",       "--epochs",           "--k",
        "--pcd",      "--cd",           "--momentum",    "--weight-decay",     "--seed",
        "--limit",    "--data",         "--out",         "--device",           "--test-limit",
        "--binarize", "--inpaint-rows", "--sample-init", "--checkpoint-every", "--resume"})
    EXPECT_NE(help.find(flag), std::string::npos) << flag;
}

TEST_F(RbmMnistApp, WritesEveryOutputAndLearns) {
  const RunResult r = run(small("out") + " --checkpoint-every 1");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const fs::path out = dir_ / "out";
  const auto s = test::expect_schema1(out / "summary.json", "rbm_mnist");
  EXPECT_EQ(s.at("device"), "cpu (reference, float64 accumulation)");
  EXPECT_EQ(s.at("config").at("n_train"), kTrain);
  EXPECT_EQ(s.at("config").at("method"), "pcd");
  EXPECT_EQ(s.at("results").size(), 2u);
  EXPECT_EQ(s.at("outputs"),
            nlohmann::json({"metrics.csv", "filters.png", "model.lkm", "samples_step1.png",
                            "samples_step10.png", "inpaint_top.png", "inpaint_bottom.png",
                            "inpaint_left.png", "inpaint_right.png"}));
  for (const char* t : {"total", "data", "train", "sample", "inpainting", "write"})
    EXPECT_GE(s.at("timings_s").at(t).get<double>(), 0.0) << t;
  const auto& train = s.at("results").at("train");
  ASSERT_EQ(train.at("epochs").size(), 3u);
  EXPECT_EQ(train.at("epochs")[2].at("epoch"), 3);
  EXPECT_EQ(train.at("epochs")[2].at("pseudo_likelihood"), train.at("pseudo_likelihood")[2]);
  const auto& pl = train.at("pseudo_likelihood");
  const auto& re = train.at("reconstruction_error");
  ASSERT_EQ(pl.size(), 3u);
  ASSERT_EQ(re.size(), 3u);
  for (int e = 0; e < 3; ++e) {
    EXPECT_TRUE(std::isfinite(pl[e].get<double>()));
    EXPECT_LT(pl[e].get<double>(), 0.0) << "a log-likelihood";
    EXPECT_GE(re[e].get<double>(), 0.0);
  }
  for (const char* side : {"top", "bottom", "left", "right"}) {
    const auto& in = s.at("results").at("inpainting").at(side);
    EXPECT_TRUE(std::isfinite(in.at("error").get<double>())) << side;
    EXPECT_GT(in.at("baseline_error").get<double>(), 0.0) << side;
    EXPECT_EQ(in.at("images"), kTest);
    EXPECT_TRUE(fs::exists(out / (std::string("inpaint_") + side + ".png"))) << side;
  }
  // --sample-steps 10: grids after 1 and 10 steps only.
  EXPECT_TRUE(fs::exists(out / "samples_step1.png"));
  EXPECT_TRUE(fs::exists(out / "samples_step10.png"));
  EXPECT_FALSE(fs::exists(out / "samples_step100.png"));
  const std::string png = slurp(out / "filters.png");
  EXPECT_EQ(png.substr(1, 3), "PNG");
  const Dataset metrics = read_csv_matrix((out / "metrics.csv").string());
  EXPECT_EQ(metrics.n, 3);
  const ModelFile model = read_model_file((out / "model.lkm").string());
  EXPECT_EQ(model.section("W").size(), static_cast<size_t>(kSide * kSide * 16));
  EXPECT_TRUE(fs::exists(out / "checkpoint.lkm"));
  for (auto& e : fs::directory_iterator(out))
    EXPECT_EQ(e.path().string().find(".tmp"), std::string::npos) << "leftover " << e.path();
}

TEST_F(RbmMnistApp, TrainingImprovesThePseudoLikelihood) {
  // 30 epochs on the bar images (CD-1, momentum): the pseudo-likelihood rises well above its
  // first-epoch value and reconstructions improve, i.e. the sampler and update learn.
  const RunResult r = run(small("out") + " --epochs 30 --cd --momentum 0.5");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto s = summary("out");
  const auto& pl = s.at("results").at("train").at("pseudo_likelihood");
  const auto& re = s.at("results").at("train").at("reconstruction_error");
  EXPECT_GT(pl.back().get<double>(), pl.front().get<double>() + 5.0) << pl.dump();
  EXPECT_LT(re.back().get<double>(), re.front().get<double>()) << re.dump();
  EXPECT_EQ(s.at("config").at("method"), "cd");
}

TEST_F(RbmMnistApp, SameSeedSameResultsAndResumeContinuesExactly) {
  ASSERT_EQ(run(small("a") + " --seed 7").exit_code, 0);
  ASSERT_EQ(run(small("b") + " --seed 7").exit_code, 0);
  ASSERT_EQ(run(small("c") + " --seed 8").exit_code, 0);
  EXPECT_EQ(summary("a").at("results"), summary("b").at("results"));
  EXPECT_EQ(slurp(dir_ / "a/model.lkm"), slurp(dir_ / "b/model.lkm"));
  EXPECT_NE(summary("a").at("results").at("train").at("pseudo_likelihood"),
            summary("c").at("results").at("train").at("pseudo_likelihood"));
  // 1 epoch with a checkpoint, then resume to 3: identical to the straight 3-epoch run.
  ASSERT_EQ(run(small("r") + " --seed 7 --epochs 1 --checkpoint-every 1").exit_code, 0);
  const RunResult resumed = run(small("r") + " --seed 7 --resume");
  ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
  EXPECT_NE(resumed.err.find("resumed from"), std::string::npos);
  EXPECT_EQ(summary("r").at("results").at("train"), summary("a").at("results").at("train"));
  EXPECT_EQ(slurp(dir_ / "r/model.lkm"), slurp(dir_ / "a/model.lkm"));
}

TEST_F(RbmMnistApp, ReadsTheOtherNamingSchemeAndBinarises) {
  fs::create_directories(dir_ / "mnist");
  write_idx_images((dir_ / "mnist/train-images.idx3-ubyte").string(), kTrain, kSide, kSide,
                   bar_images(kTrain, 3), false);
  write_idx_images((dir_ / "mnist/t10k-images.idx3-ubyte").string(), kTest, kSide, kSide,
                   bar_images(kTest, 4), false);
  const RunResult r =
      run(small("out", "mnist") + " --binarize threshold --limit 50 --epochs 1 --sample-init data");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto s = summary("out");
  EXPECT_EQ(s.at("config").at("n_train"), 50);
  EXPECT_EQ(s.at("config").at("binarize"), "threshold");
  EXPECT_EQ(s.at("config").at("sample_init"), "data");
  EXPECT_TRUE(fs::exists(dir_ / "out/samples_step10.png"));
}

TEST_F(RbmMnistApp, BadInputFailsCleanly) {
  const std::string data = " --device cpu --inpaint-rows 4 --data " + (dir_ / "data").string();
  expect_clean_failure("--device cpu --data " + (dir_ / "nowhere").string(), 1,
                       "dataset-fashion-mnist");
  fs::create_directories(dir_ / "empty");
  expect_clean_failure("--device cpu --data " + (dir_ / "empty").string(), 1, "--data DIR");
  expect_clean_failure(data + " --inpaint-rows 12", 1, "--inpaint-rows");
  expect_clean_failure(data + " --inpaint-rows 0", 2, "--inpaint-rows");
  expect_clean_failure(data + " --binarize maybe", 2, "--binarize");
  expect_clean_failure(data + " --sample-init zeros", 2, "--sample-init");
  expect_clean_failure(data + " --lr -1", 2, "--lr");
  expect_clean_failure(data + " --momentum 1", 2, "--momentum");
  expect_clean_failure(data + " --k 0", 2, "--k");
  expect_clean_failure(data + " --hidden 0", 2, "--hidden");
  expect_clean_failure(data + " --resume", 1, "no checkpoint");
  expect_clean_failure(data + " --batch abc", 2, "batch");
  // A truncated training file.
  fs::create_directories(dir_ / "cut");
  const std::string full = slurp(dir_ / "data/t10k-images-idx3-ubyte");
  std::ofstream(dir_ / "cut/train-images-idx3-ubyte", std::ios::binary)
      << full.substr(0, full.size() - 7);
  fs::copy(dir_ / "data/t10k-images-idx3-ubyte", dir_ / "cut/t10k-images-idx3-ubyte");
  expect_clean_failure("--device cpu --inpaint-rows 4 --data " + (dir_ / "cut").string(), 1,
                       "truncated");
}

TEST_F(RbmMnistApp, ResumeRefusesOtherSettings) {
  ASSERT_EQ(run(small("r") + " --epochs 1 --checkpoint-every 1").exit_code, 0);
  const RunResult r = run(small("r") + " --hidden 8 --resume");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("other settings"), std::string::npos) << r.err;
}

// ---- issue 17 ---------------------------------------------------------------------------------

// Case 3: a rerun with shorter sample chains leaves no sample grid of an earlier run.
TEST_F(RbmMnistApp, RerunLeavesNoStaleSampleGrids) {
  ASSERT_EQ(run(small("o") + " --epochs 1 --sample-steps 100").exit_code, 0);
  ASSERT_TRUE(fs::exists(dir_ / "o/samples_step100.png"));
  ASSERT_EQ(run(small("o") + " --epochs 1").exit_code, 0);  // --sample-steps 10
  EXPECT_TRUE(fs::exists(dir_ / "o/samples_step10.png"));
  EXPECT_FALSE(fs::exists(dir_ / "o/samples_step100.png"));
}

// Case 11: a minibatch larger than the data is clamped to the data, said on stderr, recorded as the
// batch used, and nothing is allocated for the rows that do not exist.
TEST_F(RbmMnistApp, BatchLargerThanTheDataIsClampedToIt) {
  const RunResult r = run(small("b") + " --epochs 1 --batch 100000");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("note: --batch 100000 is more than the 96 training images"),
            std::string::npos)
      << r.err;
  EXPECT_EQ(summary("b").at("config").at("batch").get<int>(), 96);
}

// Case 12: --resume with other training images (same count and shape) is refused.
TEST_F(RbmMnistApp, ResumeFingerprintsTheImages) {
  ASSERT_EQ(run(small("r") + " --epochs 1 --checkpoint-every 1").exit_code, 0);
  fs::create_directories(dir_ / "other");
  write_idx_images((dir_ / "other/train-images-idx3-ubyte.gz").string(), kTrain, kSide, kSide,
                   bar_images(kTrain, 5), true);
  fs::copy(dir_ / "data/t10k-images-idx3-ubyte", dir_ / "other/t10k-images-idx3-ubyte");
  const RunResult r = run(small("r", "other") + " --resume");
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find("other settings"), std::string::npos) << r.err;
}

// Case 10: the exit codes every app documents (see TsneApp.FlagErrorsExitWithTheDocumentedCodes).
TEST_F(RbmMnistApp, FlagErrorsExitWithTheDocumentedCodes) {
  const std::string data = " --inpaint-rows 4 --data " + (dir_ / "data").string();
  expect_clean_failure("--device cpu" + data + " --seed 18446744073709551616", 2, "--seed");
  expect_clean_failure("--device cpu" + data + " --no-such-flag", 2, "--no-such-flag");
  expect_clean_failure("--device tpu" + data, 2, "--device");
}

}  // namespace
}  // namespace latentkit
