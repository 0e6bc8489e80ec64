// vae_gmm: train a dense VAE on a 3-D Gaussian mixture (seed report 002) and write what it learned.
// Thin: parses flags, picks the device, runs latentkit::run_vae_gmm (host/src/pipelines/vae_gmm/vae_gmm.cpp).
// Exit codes: 0 ok; 1 bad input data or files; 2 bad flags or --device cuda without a GPU;
// 3 a runtime failure (CUDA error, out of memory).
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <iostream>
#include <sstream>

#include "latentkit/pipelines/app.h"
#include "latentkit/core/check.h"
#include "latentkit/pipelines/vae_gmm.h"

int main(int argc, char** argv) {
  using namespace latentkit;
  VaeGmmOptions opt;
  DeviceFlag device;
  std::string hidden = "128,128";
  CLI::App app{
      "vae_gmm: train a dense VAE on a synthetic 3-D Gaussian mixture (or a CSV) and write the\n"
      "data, its latent codes, 10000 samples generated from the prior, the loss curve, the model\n"
      "and summary.json to --out. Defaults reproduce seed report 002: K=10 components in D=3,\n"
      "means U[-10,10], variances U[0.5,2], Dirichlet weights, N=10000; encoder 3-128-128-(2,2),\n"
      "decoder 2-128-128-3, ReLU, loss = sum of squared errors + beta*KL, Adam 1e-3, batch 32,\n"
      "100 epochs."};
  app.get_formatter()->column_width(34);
  device.add_to(app);
  add_seed_option(app, opt.train.seed, "seed of everything random (data, weights, noise)");
  app.add_option("--out", opt.out_dir, "output directory")->capture_default_str();
  app.add_option("--k", opt.mixture.k, "mixture components of the synthetic data")
      ->capture_default_str();
  app.add_option("--d", opt.mixture.d, "dimensions of the synthetic data")->capture_default_str();
  app.add_option("--n", opt.mixture.n, "samples of the synthetic data")->capture_default_str();
  app.add_option("--input", opt.input_csv,
                 "CSV of N x D numbers (optional header) to use instead of the synthetic data");
  add_enum_option(
      app, "--scale", opt.scale,
      "input scaling none | standard | minmax. Beware: with the identity-covariance\n"
      "Gaussian likelihood, standardised data makes reconstruction cheap relative to\n"
      "KL and the VAE collapses (a PyTorch port covered 1 of 10 modes); the seed\n"
      "report 002 used none, report 000 minmax. Samples are mapped back to data units.");
  app.add_option("--hidden", hidden, "hidden layer widths, comma separated (decoder mirrors them)")
      ->capture_default_str();
  add_enum_option(app, "--activation", opt.model.hidden_act,
                  "hidden activation: relu | leaky_relu | tanh | sigmoid");
  app.add_option("--latent", opt.model.latent, "latent dimension")->capture_default_str();
  app.add_option("--epochs", opt.train.epochs, "training epochs")->capture_default_str();
  app.add_option("--batch", opt.train.batch, "minibatch size")->capture_default_str();
  app.add_option("--lr", opt.train.adam.lr, "Adam learning rate")->capture_default_str();
  app.add_option("--beta", opt.model.beta, "KL weight")->capture_default_str();
  app.add_option("--n-generate", opt.n_generate, "samples to generate from the prior")
      ->capture_default_str();
  app.add_option("--load", opt.load_model, "model file (model.lkm) to use instead of training");
  app.add_option("--checkpoint-every", opt.checkpoint_every,
                 "write <out>/checkpoint.lkm every N epochs (0: never)")
      ->capture_default_str();
  app.add_option("--tsne-perplexity", opt.tsne.perplexity,
                 "perplexity of the t-SNE of the latent means and of the generated samples")
      ->capture_default_str();
  app.add_option("--tsne-iterations", opt.tsne.iterations,
                 "t-SNE iterations (0: skip t-SNE; it writes tsne_latent.csv, tsne_generated.csv)")
      ->capture_default_str();
  app.add_flag("--resume", opt.resume,
               "continue from <out>/checkpoint.lkm (same flags; --epochs may grow)");
  bool skip_kmeans = false, skip_mmd = false;
  app.add_flag("--skip-kmeans", skip_kmeans, "skip the KMeans k-sweep on the generated samples");
  app.add_option("--kmeans-k-min", opt.kmeans_stage.k_min, "smallest k of the KMeans sweep")
      ->capture_default_str();
  app.add_option("--kmeans-k-max", opt.kmeans_stage.k_max, "largest k of the KMeans sweep")
      ->capture_default_str();
  app.add_option("--kmeans-n-init", opt.kmeans_stage.n_init, "KMeans restarts per k")
      ->capture_default_str();
  app.add_option("--silhouette-sample", opt.kmeans_stage.silhouette_sample,
                 "silhouette on this many sampled points (0: exact; -1: exact on the GPU,\n"
                 "4000 on the CPU)")
      ->capture_default_str();
  app.add_flag("--skip-mmd", skip_mmd, "skip MMD^2(data, generated) and its permutation test");
  app.add_option("--mmd-permutations", opt.mmd_stage.permutations,
                 "permutations for the MMD p-value (0: no p-value)")
      ->capture_default_str();
  app.add_option("--mmd-perm-max-points", opt.mmd_stage.perm_max_points,
                 "pooled points of the permutation test (0: all; -1: all on the GPU, a 2000-point\n"
                 "Philox subsample on the CPU)")
      ->capture_default_str();
  bool no_gmm = false;
  app.add_option("--gmm-k-min", opt.gmm.k_min, "stage gmm_bic: smallest K fitted")
      ->capture_default_str();
  app.add_option("--gmm-k-max", opt.gmm.k_max,
                 "stage gmm_bic: largest K fitted (0: skip gmm_bic and mode_coverage)")
      ->capture_default_str();
  app.add_option("--gmm-n-init", opt.gmm.n_init, "stage gmm_bic: restarts per K")
      ->capture_default_str();
  app.add_option("--gmm-max-iter", opt.gmm.max_iter, "stage gmm_bic: EM iterations at most")
      ->capture_default_str();
  app.add_flag("--no-gmm", no_gmm, "skip stages gmm_bic and mode_coverage");

  return run_app("vae_gmm", app, argc, argv, [&] {
    // --load replaces the model and its training: a flag that would shape them is an error, not
    // something to ignore silently.
    if (!opt.load_model.empty())
      for (const char* flag : {"--hidden", "--latent", "--activation", "--scale", "--beta",
                               "--epochs", "--lr", "--batch", "--checkpoint-every"})
        LK_FLAG_CHECK(app.count(flag) == 0, flag << " shapes the model or its training, which "
                                                 << "--load replaces: drop " << flag
                                                 << " or --load");
    opt.model.hidden.clear();
    std::stringstream ss(hidden);
    for (std::string w; std::getline(ss, w, ',');) {
      try {
        size_t used = 0;
        const int width = std::stoi(w, &used);
        if (used != w.size()) throw std::invalid_argument(w);
        opt.model.hidden.push_back(width);
      } catch (const std::exception&) {
        throw FlagError("--hidden '" + hidden + "' is not a list of widths like 128,128");
      }
    }
    opt.kmeans_stage.enabled = !skip_kmeans;
    opt.mmd_stage.enabled = !skip_mmd;
    opt.progress_tty = ::isatty(STDERR_FILENO);
    if (no_gmm || opt.gmm.k_max == 0) opt.gmm.enabled = false;
    if (!no_gmm) opt.gmm.switched_off_by = "--gmm-k-max 0";  // (used only when switched off)
    auto backend = device.select(std::cerr);
    run_vae_gmm(opt, *backend, std::cerr, std::cout);
  });
}
