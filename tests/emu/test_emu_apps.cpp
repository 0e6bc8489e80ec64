// The apps' CUDA paths end to end on the emulated device (tests/emu/README.md): each app runs the
// same small job with --device cuda (the kernels, uploads, stream syncs and stage hand-offs) and
// with --device cpu (the float64 reference), and the figures must agree within the tolerance
// written beside each; a second --device cuda run with the same seed must write byte-identical
// data files (wall time apart). Built only in the emulated tree (label `emu`).
//
// Why the tolerances are what they are: the device path computes in float with float or double
// accumulators, the reference in float64, so every figure carries float rounding (~1e-7 relative
// per operation) amplified by what the app does with it. Training (VAE, RBM) feeds the rounding
// back through every step; Bernoulli draws in the RBM flip when a probability lands within
// rounding of its uniform, which moves later updates by a finite step. The bounds below are those
// amplifications with a margin of >= 10x over what the emulated runs showed.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>

#include <nlohmann/json.hpp>

#include "app_test_util.h"

namespace latentkit::test {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// |a - b| <= rtol * max(|a|, |b|) + atol, with a message naming the figure.
::testing::AssertionResult close(const char* what, double a, double b, double rtol,
                                 double atol = 0.0) {
  if (!std::isfinite(a) || !std::isfinite(b))
    return ::testing::AssertionFailure() << what << ": non-finite (cuda " << a << ", cpu " << b << ")";
  const double bound = rtol * std::max(std::fabs(a), std::fabs(b)) + atol;
  if (std::fabs(a - b) <= bound) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << what << ": cuda " << a << " vs cpu " << b << ", |diff| "
                                       << std::fabs(a - b) << " > bound " << bound;
}

// AppTest (tests/app_test_util.h) gives the per-test directory and runs the binaries.
class EmuApps : public AppTest {
 protected:
  EmuApps() : AppTest("emu_apps") {}

  // Runs `app args --out dir_/out`, asserting exit 0 (stderr in the message).
  AppRun run_into(const std::string& app, const std::string& args, const std::string& out) {
    AppRun r = run(app, args + " --out " + (dir_ / out).string());
    EXPECT_EQ(r.exit_code, 0) << app << " " << args << "\nstderr: " << r.err;
    return r;
  }
  json load(const std::string& out, const std::string& file) {
    return json::parse(slurp(dir_ / out / file));
  }
  // Runs the job on both devices and once more on the emulated device; the reruns' `files` must
  // be byte-identical (same seed, same device).
  void run_both(const std::string& app, const std::string& args,
                std::initializer_list<const char*> files) {
    const AppRun cuda = run_into(app, "--device cuda " + args, "cuda");
    ASSERT_EQ(cuda.exit_code, 0);
    EXPECT_NE(cuda.err.find("emulated GPU"), std::string::npos)
        << "--device cuda did not run on the emulated device: " << cuda.err;
    ASSERT_EQ(run_into(app, "--device cpu " + args, "cpu").exit_code, 0);
    ASSERT_EQ(run_into(app, "--device cuda " + args, "cuda2").exit_code, 0);
    for (const char* f : files) {
      // Wall time ("seconds" in loss.csv and metrics.csv) is the one column allowed to differ.
      const std::string a = csv_without_column(dir_ / "cuda" / f, "seconds"),
                        b = csv_without_column(dir_ / "cuda2" / f, "seconds");
      EXPECT_FALSE(a.empty()) << f;
      EXPECT_TRUE(a == b) << f << " differs between two --device cuda runs with the same seed";
    }
  }
  fs::path write_gaussians(const std::string& name, int n, double shift, uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::normal_distribution<double> g(0.0, 1.0);
    std::ostringstream os;
    os << "x,y,z\n";
    for (int i = 0; i < n; ++i) {
      const int c = i % 3;  // three blobs, so that K > 1 is meaningful
      os << 4.0 * c + shift + g(rng) << "," << -3.0 * c + g(rng) << "," << g(rng) << "\n";
    }
    return write_file(name, os.str());
  }
};

TEST_F(EmuApps, VaeGmmAgreesWithTheCpu) {
  const std::string args =
      "--seed 11 --n 600 --epochs 3 --hidden 16,16 --n-generate 200 --tsne-iterations 100 "
      "--gmm-k-min 2 --gmm-k-max 3 --gmm-n-init 1 --kmeans-k-max 4 --mmd-permutations 10";
  run_both("vae_gmm", args, {"data.csv", "generated.csv", "latent.csv", "loss.csv",
                             "tsne_latent.csv", "tsne_generated.csv"});
  // The data are drawn on the host from Philox: identical bytes.
  EXPECT_EQ(slurp(dir_ / "cuda/data.csv"), slurp(dir_ / "cpu/data.csv"));
  const json c = load("cuda", "summary.json"), p = load("cpu", "summary.json");
  // 57 Adam steps in float against float64: rounding grows through the shared weights, but
  // Adam's normalised steps bound each parameter's drift to ~lr * steps * 1e-6 relative.
  for (const char* k : {"loss", "recon", "kl"})
    EXPECT_TRUE(close(k, c["results"]["train"]["final"][k].get<double>(),
                      p["results"]["train"]["final"][k].get<double>(), 1e-3));
  // GMM on the true data (identical input): float E-step vs float64, 5-30 EM iterations.
  const auto& gc = c["results"]["gmm_bic"]["data"];
  const auto& gp = p["results"]["gmm_bic"]["data"];
  for (size_t i = 0; i < gc["log_likelihood"].size(); ++i)
    EXPECT_TRUE(close("gmm_bic.data.log_likelihood", gc["log_likelihood"][i].get<double>(),
                      gp["log_likelihood"][i].get<double>(), 1e-4));
  EXPECT_EQ(gc["best_k_bic"], gp["best_k_bic"]);
  // Stages on the generated samples see samples that differ by the training drift above:
  // same count of modes, and figures close at that drift's scale.
  const auto& rc = c["results"];
  const auto& rp = p["results"];
  EXPECT_EQ(rc["kmeans"]["best_k_silhouette"], rp["kmeans"]["best_k_silhouette"]);
  EXPECT_TRUE(close("kmeans.best.inertia", rc["kmeans"]["best"]["inertia"].get<double>(),
                    rp["kmeans"]["best"]["inertia"].get<double>(), 2e-2));
  EXPECT_TRUE(
      close("mmd2", rc["mmd"]["mmd2"].get<double>(), rp["mmd"]["mmd2"].get<double>(), 5e-2, 1e-4));
}

TEST_F(EmuApps, GmmFitAgreesWithTheCpu) {
  const fs::path in = write_gaussians("blobs.csv", 900, 0.0, 3);
  run_both("gmm_fit", "--seed 2 --input " + in.string() + " --k-min 1 --k-max 4 --n-init 2",
           {"labels.csv"});
  const json c = load("cuda", "summary.json")["results"]["gmm"],
             p = load("cpu", "summary.json")["results"]["gmm"];
  EXPECT_EQ(c["best_k_bic"], p["best_k_bic"]);
  ASSERT_EQ(c["per_k"].size(), p["per_k"].size());
  for (size_t i = 0; i < c["per_k"].size(); ++i) {
    // Same initialisation (host KMeans labels), float E-step vs float64: the mean
    // log-likelihood agrees to float rounding times the iterations' contraction.
    EXPECT_TRUE(close("log_likelihood", c["per_k"][i]["log_likelihood"].get<double>(),
                      p["per_k"][i]["log_likelihood"].get<double>(), 1e-4));
    EXPECT_EQ(c["per_k"][i]["k"], p["per_k"][i]["k"]);
  }
}

TEST_F(EmuApps, KmeansAgreesWithTheCpu) {
  const fs::path in = write_gaussians("blobs.csv", 600, 0.0, 4);
  run_both("kmeans", "--seed 5 --input " + in.string() + " --k-min 2 --k-max 5 --n-init 3",
           {"labels.csv"});
  const json c = load("cuda", "summary.json")["results"]["kmeans"],
             p = load("cpu", "summary.json")["results"]["kmeans"];
  EXPECT_EQ(c["best_k_silhouette"], p["best_k_silhouette"]);
  for (size_t i = 0; i < c["per_k"].size(); ++i) {
    // Float distances vs float64: inertia (a sum of 600 squared distances) to ~1e-6 relative
    // when Lloyd's steps take the same path, which well-separated blobs make them do.
    EXPECT_TRUE(close("inertia", c["per_k"][i]["inertia"].get<double>(),
                      p["per_k"][i]["inertia"].get<double>(), 1e-4));
    EXPECT_TRUE(close("silhouette", c["per_k"][i]["silhouette"].get<double>(),
                      p["per_k"][i]["silhouette"].get<double>(), 1e-4, 1e-6));
  }
}

TEST_F(EmuApps, MmdAgreesWithTheCpu) {
  const fs::path x = write_gaussians("x.csv", 300, 0.0, 6), y = write_gaussians("y.csv", 250, 0.4, 7);
  run_both("mmd", "--seed 1 --x " + x.string() + " --y " + y.string() + " --permutations 50", {});
  const json c = load("cuda", "summary.json")["results"]["mmd"],
             p = load("cpu", "summary.json")["results"]["mmd"];
  // MMD^2 is a difference of kernel means (cancellation): the bound scales with the kernel
  // means themselves (<= 1 for RBF), float rounding over 550^2 terms ~1e-5.
  EXPECT_TRUE(close("mmd2", c["mmd2"].get<double>(), p["mmd2"].get<double>(), 0.0, 1e-5));
  EXPECT_TRUE(close("p_value", c["p_value"].get<double>(), p["p_value"].get<double>(), 0.0,
                    1.0 / 51 + 1e-12));  // one permutation may land on the other side
}

TEST_F(EmuApps, TsneAgreesWithTheCpu) {
  const fs::path in = write_gaussians("points.csv", 300, 0.0, 8);
  run_both("tsne", "--seed 3 --input " + in.string() + " --perplexity 10 --iterations 200",
           {"embedding.csv"});
  const json c = load("cuda", "summary.json")["results"]["tsne"],
             p = load("cpu", "summary.json")["results"]["tsne"];
  // The same start (PCA on the host); 200 gradient steps in float vs float64 diverge slowly in
  // the positions, but KL(P||Q) is flat near the optimum: a few percent at most.
  EXPECT_TRUE(close("kl", c["kl"].get<double>(), p["kl"].get<double>(), 5e-2));
}

TEST_F(EmuApps, RbmMnistAgreesWithTheCpu) {
  const char* data = "/usr/share/datasets/fashion-mnist";
  if (!fs::exists(data))
    GTEST_SKIP() << data << " is missing: install dataset-fashion-mnist (scripts/setup.sh)";
  run_both("rbm_mnist",
           "--seed 4 --data " + std::string(data) +
               " --limit 300 --test-limit 50 --eval-limit 300 --hidden 16 --epochs 2 --batch 16 "
               "--inpaint-rows 4 --inpaint-steps 5 --n-samples 9 --sample-steps 10",
           {"metrics.csv"});
  const json c = load("cuda", "summary.json")["results"]["train"],
             p = load("cpu", "summary.json")["results"]["train"];
  ASSERT_EQ(c["epochs"].size(), p["epochs"].size());
  for (size_t e = 0; e < c["epochs"].size(); ++e) {
    // Bernoulli draws flip where float and float64 probabilities straddle the uniform: each
    // flip moves one update by lr/batch; over 2 epochs the figures stay within 1%.
    EXPECT_TRUE(close("pseudo_likelihood", c["epochs"][e]["pseudo_likelihood"].get<double>(),
                      p["epochs"][e]["pseudo_likelihood"].get<double>(), 1e-2));
    EXPECT_TRUE(close("reconstruction_error",
                      c["epochs"][e]["reconstruction_error"].get<double>(),
                      p["epochs"][e]["reconstruction_error"].get<double>(), 2e-2));
  }
}

}  // namespace
}  // namespace latentkit::test
