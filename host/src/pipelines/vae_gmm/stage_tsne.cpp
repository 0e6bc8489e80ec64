// The tsne stage of apps/vae_gmm (declared in latentkit/pipelines/vae_gmm_tsne.h): two t-SNE runs
// (latent means, generated samples) at the stage's perplexity, 2-D, PCA initialisation, seeded by
// the run's seed; method auto (exact up to 1000 points, FFT above: latentkit/families/tsne.h).
#include <chrono>
#include <cmath>
#include <limits>
#include <sstream>
#include <string>

#include "latentkit/core/check.h"
#include "latentkit/families/tsne.h"
#include "latentkit/io/io.h"
#include "latentkit/pipelines/vae_gmm_tsne.h"

namespace latentkit {
namespace {

// Nearest true component mean (Euclidean, data units) of each generated sample.
std::vector<int> nearest_component(const std::vector<float>& x, int n, int d,
                                   const MixtureTruth& truth) {
  const int k = static_cast<int>(truth.weights.size());
  std::vector<int> out(n, -1);
  for (int i = 0; i < n; ++i) {
    double best = std::numeric_limits<double>::infinity();
    for (int c = 0; c < k; ++c) {
      double r2 = 0;
      for (int a = 0; a < d; ++a) {
        const double diff =
            x[static_cast<size_t>(i) * d + a] - truth.means[static_cast<size_t>(c) * d + a];
        r2 += diff * diff;
      }
      if (r2 < best) {
        best = r2;
        out[i] = c;
      }
    }
  }
  return out;
}

// One embedding: its figures go to stage.result[part], its wall times to stage.parts ("<part>"
// for the whole run, "<part>.affinities" / ".init" / ".optimize" for its phases).
void embed(Backend& backend, const TsneOptions& topt, const std::vector<float>& x, int n, int d,
           const std::vector<int>& labels, const std::string& path, const char* what,
           std::ostream& log, const std::string& part, StageResult& stage) {
  TsneOptions o = topt;
  // The latent means may have fewer columns than the output (latent 1): PCA needs >= 2.
  if (d < o.dims) o.init = TsneInit::Random;
  const TsneResult r = run_tsne(backend, x, n, d, o);
  std::vector<std::vector<double>> cols(3, std::vector<double>(n));
  for (int i = 0; i < n; ++i) {
    cols[0][i] = r.embedding[static_cast<size_t>(i) * 2];
    cols[1][i] = r.embedding[static_cast<size_t>(i) * 2 + 1];
    cols[2][i] = labels.empty() ? -1 : labels[i];
  }
  write_csv(path, {"t1", "t2", "label"}, cols);
  log << "t-SNE of the " << what << ": " << n << " points, " << r.method << ", KL " << r.kl << ", "
      << r.seconds_total << " s\n";
  nlohmann::json j = tsne_result_json(r, o);
  j.erase("parameters");  // shared, recorded once by the stage
  stage.result[part] = j;
  stage.parts.emplace_back(part, r.seconds_total);
  stage.parts.emplace_back(part + ".affinities", r.seconds_affinities);
  stage.parts.emplace_back(part + ".init", r.seconds_init);
  stage.parts.emplace_back(part + ".optimize", r.seconds_optimize);
}

}  // namespace

void validate_tsne_stage(const TsneStageOptions& opt, int n_data, int n_generated) {
  LK_FLAG_CHECK(opt.iterations >= 0,
                "--tsne-iterations must be >= 0 (0 skips t-SNE), got " << opt.iterations);
  if (opt.iterations == 0) return;
  LK_FLAG_CHECK(std::isfinite(opt.perplexity) && opt.perplexity > 0,
                "--tsne-perplexity must be positive, got " << opt.perplexity);
  (void)n_data;  // too few rows for the perplexity skip that embedding (with a note), not the run
  (void)n_generated;
}

StageResult run_tsne_stage(Backend& backend, const TsneStageOptions& opt, uint64_t seed,
                           const std::vector<float>& latent_mu, int n, int latent,
                           const std::vector<int>& labels, const std::vector<float>& generated,
                           int n_gen, int d, const MixtureTruth* truth, const std::string& out_dir,
                           std::ostream& log) {
  if (opt.iterations == 0) return StageResult::skip("switched off by --tsne-iterations 0");
  StageResult stage;
  const auto t0 = std::chrono::steady_clock::now();
  TsneOptions topt;
  topt.dims = 2;
  topt.perplexity = opt.perplexity;
  topt.iterations = opt.iterations;
  topt.seed = seed;
  // t-SNE needs more points than the perplexity (scikit-learn's rule): fewer skip that embedding.
  auto too_few = [&](int count, const char* what, const char* part) {
    if (count > opt.perplexity) return false;
    std::ostringstream why;
    why << count << " " << what << ", not more than --tsne-perplexity " << opt.perplexity;
    log << "t-SNE of the " << what << " skipped: " << count
        << " points, not more than --tsne-perplexity " << opt.perplexity << "\n";
    stage.result[part] = skipped_json(why.str());
    return true;
  };
  if (!too_few(n, "latent means", "latent")) {
    embed(backend, topt, latent_mu, n, latent, labels, out_dir + "/tsne_latent.csv", "latent means",
          log, "latent", stage);
    stage.result["latent"]["labels"] = labels.empty() ? "none known: -1" : "true mixture component";
    stage.outputs.push_back("tsne_latent.csv");
  }
  if (n_gen == 0) {
    stage.result["generated"] = skipped_json("no generated samples (--n-generate 0)");
  } else if (!too_few(n_gen, "generated samples", "generated")) {
    const std::vector<int> gen_labels =
        truth ? nearest_component(generated, n_gen, d, *truth) : std::vector<int>();
    embed(backend, topt, generated, n_gen, d, gen_labels, out_dir + "/tsne_generated.csv",
          "generated samples", log, "generated", stage);
    stage.result["generated"]["labels"] =
        truth ? "nearest true component mean (data units)" : "no truth known: -1";
    stage.outputs.push_back("tsne_generated.csv");
  }
  stage.result["parameters"] = {{"perplexity", opt.perplexity},
                                {"iterations", opt.iterations},
                                {"dims", 2},
                                {"init", "pca"},
                                {"method", "auto"}};
  stage.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return stage;
}

}  // namespace latentkit
